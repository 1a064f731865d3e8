"""One resolver for the ``device`` argument used throughout pathreg."""

from __future__ import annotations

import torch

VALID_DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N" | torch.device`` into a :class:`torch.device`.

    Parameters
    ----------
    device
        ``"auto"`` picks the first CUDA device when one is visible and the CPU otherwise.

    Returns
    -------
    The resolved device.

    Raises
    ------
    ValueError
        If the name is not a device name.
    RuntimeError
        If a CUDA device is asked for but none is visible.
    """
    if isinstance(device, torch.device):
        resolved = device
    elif isinstance(device, str):
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if device != "cpu" and not device.startswith("cuda"):
            raise ValueError(f"Unknown device {device!r}; use one of {VALID_DEVICES} or 'cuda:N'.")
        try:
            resolved = torch.device(device)
        except RuntimeError as error:
            raise ValueError(f"Unknown device {device!r}; use one of {VALID_DEVICES} or 'cuda:N'.") from error
    else:
        raise ValueError(f"device must be a string or torch.device, got {type(device).__name__}.")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"Unknown device {device!r}; use one of {VALID_DEVICES} or 'cuda:N'.")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device={device!r} was requested but no CUDA device is visible to torch (torch "
                f"{torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); use device='cpu' or 'auto'."
            )
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise RuntimeError(
                f"device={device!r} was requested but only {count} CUDA device(s) are visible "
                f"(cuda:0 to cuda:{count - 1}); check CUDA_VISIBLE_DEVICES."
            )
    return resolved
