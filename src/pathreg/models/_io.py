"""Model files: one fitted ODE model with its constructor configuration, and the checks on reading one."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from torch import nn

from ._ode import NeuralODE, SecondOrderNeuralODE
from ._vector_fields import GroupLassoVectorField, LassoNetVectorField, MLPVectorField

FORMAT_VERSION = 1
"""Version of the single-model files written by :func:`save_model`; :func:`load_model` reads exactly this one."""
MODEL_FIELDS = ("model_class", "model_config", "vector_field_class", "vector_field_config", "state_dict")
"""What a saved model holds besides its metadata."""
MODEL_CLASSES = {cls.__name__: cls for cls in (NeuralODE, SecondOrderNeuralODE)}
VECTOR_FIELD_CLASSES = {cls.__name__: cls for cls in (MLPVectorField, GroupLassoVectorField, LassoNetVectorField)}


def pathreg_version() -> str:
    """The installed pathreg's version (``"unknown"`` in an uninstalled source checkout)."""
    try:
        return version("pathreg")
    except PackageNotFoundError:  # pragma: no cover - source checkout without installation
        return "unknown"


def model_payload(model: nn.Module) -> dict:
    """A model as plain data: its classes, the configurations to rebuild it, and its state dict (on the CPU)."""
    model_class = type(model).__name__
    field_class = type(getattr(model, "vector_field", None)).__name__
    if model_class not in MODEL_CLASSES or field_class not in VECTOR_FIELD_CLASSES:
        raise TypeError(f"Cannot save a {model_class} with a {field_class}; only pathreg's ODE models are supported.")
    return {
        "model_class": model_class,
        "model_config": model.config,
        "vector_field_class": field_class,
        "vector_field_config": model.vector_field.config,
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
    }


def build_model(payload: dict, source: str | Path) -> nn.Module:
    """The model described by :func:`model_payload`'s ``payload``, in evaluation mode.

    Raises
    ------
    ValueError
        Naming ``source`` (the file it came from), when fields are missing, a class is unknown, or the
        weights do not match the configuration.
    """
    absent = [key for key in MODEL_FIELDS if key not in payload]
    if absent:
        raise ValueError(f"{source} is an incomplete pathreg model file: it lacks {absent}.")
    model_class, field_class = payload["model_class"], payload["vector_field_class"]
    if model_class not in MODEL_CLASSES or field_class not in VECTOR_FIELD_CLASSES:
        raise ValueError(
            f"{source} holds a {model_class} with a {field_class}; this pathreg knows the models "
            f"{sorted(MODEL_CLASSES)} and the vector fields {sorted(VECTOR_FIELD_CLASSES)}."
        )
    try:
        vector_field = VECTOR_FIELD_CLASSES[field_class](**payload["vector_field_config"])
        model = MODEL_CLASSES[model_class](vector_field, **payload["model_config"])
        model.load_state_dict(payload["state_dict"])
    except (TypeError, RuntimeError) as error:
        raise ValueError(f"{source}: the saved weights do not match the saved configuration ({error}).") from error
    model.eval()
    return model


def read_model_file(path: str | Path, *, map_location: str | torch.device, versions: Sequence[int]) -> dict:
    """The content of a pathreg model file whose format version is one of ``versions``.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If torch cannot read it, it is not a pathreg model file (:func:`not_a_model_file`: a short reason, and
        which files can be read), or its format version is not in ``versions`` (the message names the version,
        the pathreg that wrote it, and what to do).
    PermissionError
        If the file cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No pathreg model file at {path}.")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError:
        raise
    except Exception as error:  # torch raises anything on a file it did not write (KeyError on text, ...)
        # from None: torch's messages advise weights_only=False, which would run the file's code
        raise ValueError(not_a_model_file(path, unreadable_reason(path, error))) from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise ValueError(not_a_model_file(path, "no format_version"))
    found = payload["format_version"]
    is_integer = isinstance(found, int) and not isinstance(found, bool)
    if not is_integer or found not in versions:
        written_by = f" (written by pathreg {payload['pathreg_version']})" if "pathreg_version" in payload else ""
        newer = is_integer and found > max(versions)
        advice = "upgrade pathreg to load it" if newer else "it is not a version this pathreg knows"
        readable = " or ".join(map(str, versions))
        raise ValueError(
            f"{path} has model format version {found!r}{written_by}, but this pathreg ({pathreg_version()}) reads "
            f"format version {readable} only; {advice}."
        )
    return payload


def not_a_model_file(path: str | Path, reason: str) -> str:
    """The message for a file that is not a pathreg model file, with a short ``reason``."""
    return (
        f"{path} is not a pathreg model file ({reason}); pathreg.models.load reads the .pt files written by "
        "pathreg.models.save_model / Ensemble.save."
    )


def unreadable_reason(path: Path, error: Exception) -> str:
    """A short reason why ``torch.load`` failed on ``path``, from the file's first bytes and the ``error``."""
    try:
        with path.open("rb") as file:
            head = file.read(8)
    except OSError:
        head = b""
    if not head:
        return "the file is empty"
    if head.startswith(b"\x89HDF"):
        return "it is an HDF5 file, e.g. an .h5ad: read those with anndata.read_h5ad"
    if head.startswith(b"PK"):
        if isinstance(error, pickle.UnpicklingError):
            return "it holds Python objects other than tensors and plain data"
        return "a truncated or corrupt archive"
    return "not a file written by torch.save"


def save_model(model: nn.Module, path: str | Path, *, metadata: dict | None = None) -> None:
    """Save one ODE model: its state dict, the configuration to rebuild it, and a format version.

    The file records :data:`FORMAT_VERSION` and the pathreg version that wrote it; :func:`load_model`
    refuses other format versions with a message naming both. A fit's whole ensemble is saved with
    :meth:`Ensemble.save` instead.

    Parameters
    ----------
    model
        A :class:`NeuralODE` or :class:`SecondOrderNeuralODE`.
    path
        Destination file (conventionally ``.pt``).
    metadata
        Plain data (str, numbers, lists, dicts) to store alongside, e.g. gene names.
    """
    payload = {
        "format_version": FORMAT_VERSION,
        "pathreg_version": pathreg_version(),
        **model_payload(model),
        "metadata": metadata or {},
    }
    torch.save(payload, Path(path))


def load_model(path: str | Path, *, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Load one model written by :func:`save_model` (a fit's ensemble: :func:`load`).

    Returns
    -------
    The model in evaluation mode, and the metadata saved with it.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is not a pathreg model file, or has another format version than :data:`FORMAT_VERSION`
        (the message names both), or its content does not match its configuration.

    Examples
    --------
    >>> import tempfile
    >>> from pathreg.models import MLPVectorField, NeuralODE, load_model, save_model
    >>> model = NeuralODE(MLPVectorField(2, 2, hidden=(4,)), solver="rk4")
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     save_model(model, f"{directory}/model.pt", metadata={"genes": ["a", "b"]})
    ...     load_model(f"{directory}/model.pt")[1]["genes"]
    ['a', 'b']
    """
    payload = read_model_file(path, map_location=map_location, versions=(FORMAT_VERSION,))
    return build_model(payload, path), payload.get("metadata") or {}
