"""Distributions of weight magnitudes and path strengths on a log axis, with the exact zeros counted."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._adjacency import adjacency_frame
from ._utils import finish

ZEROS_GID = "exact-zeros"


def _magnitudes(model) -> tuple[np.ndarray, np.ndarray]:
    from pathreg.models import Ensemble

    if isinstance(model, Ensemble):  # every member's weights and paths
        weights, paths = zip(*(_magnitudes(member) for member in model), strict=True)
        return np.concatenate(weights), np.concatenate(paths)
    import torch

    vector_field = getattr(model, "vector_field", model)
    if not hasattr(vector_field, "adjacency"):
        raise TypeError(
            f"Expected a fitted model (e.g. pathreg.models.NeuralODE) or an AnnData, got {type(model).__name__}."
        )
    with torch.no_grad():
        if hasattr(vector_field, "layer_weights"):
            layers = vector_field.layer_weights()
        else:
            layers = vector_field.sparsifiable_weights()
        weights = np.concatenate([layer.detach().abs().cpu().double().numpy().ravel() for layer in layers])
        paths = (model.adjacency() if hasattr(model, "adjacency") else vector_field.adjacency()).detach()
        paths = paths.abs().cpu().double().numpy().ravel()
    return weights, paths


def _histogram(ax: Axes, values: np.ndarray, *, eps: float, title: str, color: str) -> None:
    values = np.abs(np.asarray(values, dtype=np.float64).ravel())
    zeros = int(np.count_nonzero(values == 0))
    below = int(np.count_nonzero(values < eps))
    positive = values[values > 0]
    if positive.size:
        low, high = positive.min(), positive.max()
        if high <= low * 1.01:
            low, high = low / 2, high * 2
        ax.hist(positive, bins=np.geomspace(low, high, 31), color=color, edgecolor="white", linewidth=0.3)
    else:
        ax.set_xlim(eps / 10, eps * 10)
    ax.set_xscale("log")
    ax.axvline(eps, color="#404040", ls="--", lw=1, label=f"eps = {eps:g}")
    ax.text(
        0.03,
        0.97,
        f"exact zeros: {zeros} of {values.size}\nbelow eps: {below}",
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize="small",
        gid=ZEROS_GID,
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#bdbdbd"},
    )
    ax.set_title(title)
    ax.set_ylabel("count")
    ax.legend(fontsize="small", frameon=False, loc="upper right")


def sparsity(
    model_or_adata,
    *,
    key: str = "pathreg",
    eps: float = 1e-5,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
) -> Figure | Axes | None:
    r"""Histograms of weight magnitudes and path strengths on a log axis (PathReg paper, Figure 2).

    For a fitted model: :math:`|W^l_{ij}|` of every layer of its vector field with deterministic gates
    (``layer_weights()``; ``sparsifiable_weights()`` for fields without layers), and the entries of the
    dependency matrix ``model.adjacency()``, the products of absolute weights along all paths (for an
    :class:`~pathreg.models.Ensemble`, those of all its members together). For an
    AnnData: the absolute entries of ``adata.varp[key + "_adjacency"]`` within the fit's targets x
    regulators (the weights are not stored, so their panel is omitted).

    Exact zeros, the pruned weights and paths, cannot be drawn on a log axis: their count is written
    in the panel (``"exact zeros: n of total"``), with the count below ``eps`` (the threshold of
    :func:`pathreg.models.weight_sparsity`), which a dashed line marks.

    Parameters
    ----------
    model_or_adata
        The :class:`~pathreg.models.Ensemble` returned by :func:`pathreg.tl.fit_dynamics`, a fitted
        :class:`~pathreg.models.NeuralODE` (or a vector field), or an AnnData on which
        :func:`pathreg.tl.fit_dynamics` ran.
    key
        The ``key_added`` of the fit (AnnData only).
    eps
        Magnitude counted as zero by weight sparsity (marked, counted, not used to drop values).
    ax
        For a model: two Axes (weights, paths); for an AnnData: one Axes. Default: a new figure.
    show
        Show the figure (``None``: when matplotlib is interactive); nothing is returned then.

    Returns
    -------
    For a model the Figure (two panels), for an AnnData the Axes, when not shown.

    Examples
    --------
    >>> model = pathreg.tl.fit_dynamics(adata)  # doctest: +SKIP
    >>> pathreg.pl.sparsity(model)  # doctest: +SKIP
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}.")
    if isinstance(model_or_adata, AnnData):
        frame = adjacency_frame(model_or_adata, key=key)
        if ax is not None and not isinstance(ax, Axes):
            raise ValueError("An AnnData gives one panel; pass a single Axes as ax.")
        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 3.5))
        _histogram(ax, frame.to_numpy(), eps=eps, title=f"{key}: path strengths", color="#55a868")
        ax.set_xlabel("|adjacency entry|")
        result = ax
    else:
        weights, paths = _magnitudes(model_or_adata)
        if ax is None:
            figure, panels = plt.subplots(1, 2, figsize=(9, 3.5))
        else:
            panels = [ax] if isinstance(ax, Axes) else list(ax)
            if len(panels) != 2:
                raise ValueError(f"A model gives two panels (weights, paths); ax has {len(panels)} Axes.")
            figure = panels[0].figure
        _histogram(panels[0], weights, eps=eps, title="weights (deterministic gates)", color="#4c72b0")
        panels[0].set_xlabel("|weight|")
        _histogram(panels[1], paths, eps=eps, title="path strengths", color="#55a868")
        panels[1].set_xlabel("|path product|")
        if ax is None:
            figure.tight_layout()
        result = figure
    return finish(result, show)
