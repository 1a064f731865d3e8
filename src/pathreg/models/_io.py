"""Saving and loading fitted ODE models with their constructor configuration."""

from __future__ import annotations

import pickle
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from torch import nn

from ._ode import NeuralODE, SecondOrderNeuralODE
from ._vector_fields import GroupLassoVectorField, LassoNetVectorField, MLPVectorField

FORMAT_VERSION = 1
"""Version of the model file format written by :func:`save_model`; :func:`load_model` reads exactly this one."""
_REQUIRED = ("model_class", "model_config", "vector_field_class", "vector_field_config", "state_dict")
_MODELS = {cls.__name__: cls for cls in (NeuralODE, SecondOrderNeuralODE)}
_VECTOR_FIELDS = {cls.__name__: cls for cls in (MLPVectorField, GroupLassoVectorField, LassoNetVectorField)}


def save_model(model: nn.Module, path: str | Path, *, metadata: dict | None = None) -> None:
    """Save an ODE model: its state dict, the configuration to rebuild it, and a format version.

    The file records :data:`FORMAT_VERSION` and the pathreg version that wrote it; :func:`load_model`
    refuses other format versions with a message naming both.

    Parameters
    ----------
    model
        A :class:`NeuralODE` or :class:`SecondOrderNeuralODE`.
    path
        Destination file (conventionally ``.pt``).
    metadata
        Any extra picklable-free data (str, numbers, lists, dicts) to store alongside, e.g. gene names.
    """
    model_class = type(model).__name__
    field_class = type(getattr(model, "vector_field", None)).__name__
    if model_class not in _MODELS or field_class not in _VECTOR_FIELDS:
        raise TypeError(f"Cannot save a {model_class} with a {field_class}; only pathreg's ODE models are supported.")
    payload = {
        "format_version": FORMAT_VERSION,
        "pathreg_version": _pathreg_version(),
        "model_class": model_class,
        "model_config": model.config,
        "vector_field_class": field_class,
        "vector_field_config": model.vector_field.config,
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        "metadata": metadata or {},
    }
    torch.save(payload, Path(path))


def load_model(path: str | Path, *, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Load a model written by :func:`save_model`.

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
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No pathreg model file at {path}.")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as error:
        raise ValueError(
            f"{path} is not a pathreg model file that torch can read ({type(error).__name__}: {error})."
        ) from error
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise ValueError(f"{path} is not a pathreg model file (no format_version).")
    version = payload["format_version"]
    written_by = f" (written by pathreg {payload['pathreg_version']})" if "pathreg_version" in payload else ""
    if not isinstance(version, int) or isinstance(version, bool) or version != FORMAT_VERSION:
        advice = (
            "upgrade pathreg to load it"
            if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION
            else "it is not a version this pathreg knows"
        )
        raise ValueError(
            f"{path} has model format version {version!r}{written_by}, but this pathreg ({_pathreg_version()}) reads "
            f"format version {FORMAT_VERSION} only; {advice}."
        )
    absent = [key for key in _REQUIRED if key not in payload]
    if absent:
        raise ValueError(f"{path} is an incomplete pathreg model file: it lacks {absent}.")
    model_class, field_class = payload["model_class"], payload["vector_field_class"]
    if model_class not in _MODELS or field_class not in _VECTOR_FIELDS:
        raise ValueError(
            f"{path} holds a {model_class} with a {field_class}; this pathreg knows the models {sorted(_MODELS)} "
            f"and the vector fields {sorted(_VECTOR_FIELDS)}."
        )
    try:
        vector_field = _VECTOR_FIELDS[field_class](**payload["vector_field_config"])
        model = _MODELS[model_class](vector_field, **payload["model_config"])
        model.load_state_dict(payload["state_dict"])
    except (TypeError, RuntimeError) as error:
        raise ValueError(f"{path}: the saved weights do not match the saved configuration ({error}).") from error
    model.eval()
    return model, payload.get("metadata") or {}


def _pathreg_version() -> str:
    try:
        return version("pathreg")
    except PackageNotFoundError:  # pragma: no cover - source checkout without installation
        return "unknown"


def load(path: str | Path, *, map_location: str | torch.device = "cpu") -> nn.Module:
    """Load a model saved with ``model.save(path)``; its metadata is on ``model.metadata``.

    Examples
    --------
    >>> import tempfile, torch
    >>> from pathreg.models import MLPVectorField, NeuralODE, load
    >>> model = NeuralODE(MLPVectorField(2, 2, hidden=(4,)), solver="rk4")
    >>> model.metadata = {"genes": ["a", "b"]}
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     model.save(f"{directory}/model.pt")
    ...     load(f"{directory}/model.pt").metadata["genes"]
    ['a', 'b']
    """
    model, metadata = load_model(path, map_location=map_location)
    model.metadata = metadata
    return model
