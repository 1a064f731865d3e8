"""Read the preprocessed motion-capture data sets of ODE2VAE (Yildiz et al., NeurIPS 2019)."""

from __future__ import annotations

import os

import numpy as np
import scipy.io

#: The splits of an ODE2VAE ``.mat`` file, in the order they are returned.
_SPLITS = ("Xtr", "Xval", "Xtest")


def _load(path: str | os.PathLike) -> dict:
    """The variables of a MATLAB file, or a ValueError naming the file when it is not one scipy can read."""
    with open(path, "rb") as file:  # opened here: scipy turns a missing file into an OSError naming no file
        try:
            return scipy.io.loadmat(file)
        except NotImplementedError as exc:  # scipy's answer to a MATLAB v7.3 (HDF5) file
            raise ValueError(
                f"{path}: a MATLAB v7.3 (HDF5) file, which scipy.io.loadmat cannot read; save it with -v7 ({exc})"
            ) from exc
        except (ValueError, TypeError, scipy.io.matlab.MatReadError) as exc:
            raise ValueError(f"{path}: not a MATLAB .mat file (scipy.io.loadmat: {exc})") from exc


def _split(path: str | os.PathLike, key: str, value: object) -> np.ndarray:
    """One split as a float64 ``(sequences, frames, features)`` array."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf":
        kind = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
        raise ValueError(f"{path}: {key} must be a real numeric array, got {kind}")
    if value.ndim != 3:
        raise ValueError(
            f"{path}: {key} has shape {value.shape}, expected 3 dimensions (sequences x frames x features)"
        )
    return np.ascontiguousarray(value, dtype=np.float64)


def read_ode2vae_mat(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read the ``Xtr``, ``Xval`` and ``Xtest`` splits of an ODE2VAE motion-capture ``.mat`` file.

    ODE2VAE (Yildiz, Heinonen and Lähdesmäki, NeurIPS 2019) distributes its preprocessed CMU walking data
    (``mocap35.mat``, subject 35) as a MATLAB v5 file of up to three arrays, each sequences x frames x features:
    ``Xtr`` (training), ``Xval`` (validation) and ``Xtest`` (test); the features are joint-angle channels (50 for
    subject 35). Other variables of the file are ignored.

    Parameters
    ----------
    path
        The ``.mat`` file (MATLAB v4 to v7.2, as :func:`scipy.io.loadmat` reads; not v7.3).

    Returns
    -------
    The splits present, in the order ``Xtr``, ``Xval``, ``Xtest``, each a C-contiguous float64 array
    ``(n_sequences, n_frames, n_features)`` (converted from whatever numeric type the file holds). All splits
    have the same number of features; their numbers of sequences and frames may differ.

    Raises
    ------
    ValueError
        Naming the file: when it is not a MATLAB file, holds none of the three splits (the message lists the
        variables it holds), or a split is not a real 3-D array or has another number of features than the others.
    FileNotFoundError
        When there is no such file.

    Examples
    --------
    >>> import scipy.io
    >>> scipy.io.savemat("walk.mat", {"Xtr": np.zeros((4, 30, 5)), "Xval": np.ones((2, 30, 5), dtype=np.float32)})
    >>> splits = pathreg.datasets.read_ode2vae_mat("walk.mat")
    >>> {key: (value.shape, value.dtype.name) for key, value in splits.items()}
    {'Xtr': ((4, 30, 5), 'float64'), 'Xval': ((2, 30, 5), 'float64')}
    """
    contents = _load(path)
    variables = sorted(key for key in contents if not key.startswith("__"))
    present = [key for key in _SPLITS if key in contents]
    if not present:
        held = ", ".join(variables) if variables else "no variables"
        raise ValueError(f"{path}: none of {', '.join(_SPLITS)} in the file; it holds {held}")
    splits = {key: _split(path, key, contents[key]) for key in present}
    features = {key: value.shape[2] for key, value in splits.items()}
    if len(set(features.values())) > 1:
        shapes = ", ".join(f"{key} {value.shape}" for key, value in splits.items())
        raise ValueError(f"{path}: the splits have different numbers of features (the last dimension): {shapes}")
    return splits
