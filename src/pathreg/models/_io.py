"""Saving and loading fitted ODE models with their constructor configuration."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ._ode import NeuralODE, SecondOrderNeuralODE
from ._vector_fields import GroupLassoVectorField, LassoNetVectorField, MLPVectorField

FORMAT_VERSION = 1
_MODELS = {cls.__name__: cls for cls in (NeuralODE, SecondOrderNeuralODE)}
_VECTOR_FIELDS = {cls.__name__: cls for cls in (MLPVectorField, GroupLassoVectorField, LassoNetVectorField)}


def save_model(model: nn.Module, path: str | Path, *, metadata: dict | None = None) -> None:
    """Save an ODE model: its state dict, the configuration to rebuild it, and a format version.

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
    ValueError
        If the file is not a pathreg model or was written by a newer, unknown format.
    """
    payload = torch.load(Path(path), map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise ValueError(f"{path} is not a pathreg model file (no format_version).")
    version = payload["format_version"]
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{path} has model format version {version}, but this pathreg reads version {FORMAT_VERSION}; "
            "upgrade pathreg to load it."
        )
    vector_field = _VECTOR_FIELDS[payload["vector_field_class"]](**payload["vector_field_config"])
    model = _MODELS[payload["model_class"]](vector_field, **payload["model_config"])
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, payload["metadata"]


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
