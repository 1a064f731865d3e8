"""Checkpoints of :func:`pathreg.tl.fit_dynamics`: every fitted ensemble member saved as it finishes.

A checkpoint folder holds ``manifest.json`` (a fingerprint of the fit: settings, genes and the binned data)
and, per finished member ``k``, ``member_k.pt`` (the model, :func:`pathreg.models.save_model`) and
``member_k_history.json``. With ``resume=True`` finished members are loaded instead of refitted; each member
is fitted from its own seed, so the result equals that of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import fields
from pathlib import Path

import numpy as np

from pathreg.models import History, NeuralODE, load_model, save_model

MANIFEST = "manifest.json"


def fingerprint(settings: dict, state_genes: list[str], bins) -> str:
    """SHA-256 of the settings, the genes and the binned observations (times and means) of a fit."""
    digest = hashlib.sha256()
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update("\n".join(state_genes).encode())
    for lineage in bins:
        digest.update(str(lineage.name).encode())
        digest.update(np.ascontiguousarray(lineage.times, dtype=np.float64).tobytes())
        digest.update(np.ascontiguousarray(lineage.means, dtype=np.float64).tobytes())
    return digest.hexdigest()


class CheckpointFolder:
    """The checkpoints of one fit.

    Parameters
    ----------
    path
        Folder (created if missing).
    fingerprint
        Of the fit (:func:`fingerprint`).
    resume
        Load the finished members of an earlier run of the same fit. Without it, an existing checkpoint of a
        fit is an error (rather than silently overwritten); with it, a checkpoint of another fit is.
    """

    def __init__(self, path: str | os.PathLike, fingerprint: str, *, resume: bool) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        manifest = self.path / MANIFEST
        if manifest.is_file():
            stored = json.loads(manifest.read_text()).get("fingerprint")
            if stored != fingerprint:
                raise ValueError(
                    f"{self.path} holds checkpoints of another fit (other settings, genes or data). Use another "
                    "checkpoint_dir, or delete it to start over."
                )
            if not resume:
                raise ValueError(
                    f"{self.path} already holds checkpoints of this fit. Pass resume=True to continue it, or use "
                    "an empty checkpoint_dir."
                )
        elif resume and self.path.is_dir() and any(self.path.iterdir()):
            raise ValueError(f"{self.path} is not a pathreg checkpoint folder (no {MANIFEST}).")
        self.path.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(manifest, json.dumps({"fingerprint": fingerprint}))

    def _files(self, member: int) -> tuple[Path, Path]:
        return self.path / f"member_{member}.pt", self.path / f"member_{member}_history.json"

    def load(self, member: int) -> tuple[NeuralODE, History] | None:
        """The finished ``member``, or ``None`` if it was not saved."""
        model_file, history_file = self._files(member)
        if not (model_file.is_file() and history_file.is_file()):
            return None
        model, _ = load_model(model_file)
        record = json.loads(history_file.read_text())
        names = {f.name for f in fields(History)}
        return model, History(**{key: value for key, value in record.items() if key in names})

    def save(self, member: int, model: NeuralODE, history: History) -> None:
        """Save a finished member (model first, then its history: a member counts once both exist)."""
        model_file, history_file = self._files(member)
        temporary = model_file.with_suffix(".pt.part")
        save_model(model, temporary)
        os.replace(temporary, model_file)
        _atomic_write_text(history_file, json.dumps(history.to_dict(), default=_plain))


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")


def _atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".part")
    temporary.write_text(text)
    os.replace(temporary, path)
