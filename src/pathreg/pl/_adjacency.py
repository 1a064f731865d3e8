"""Heatmap of the inferred target x regulator adjacency."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from pathreg._utils import gene_mask, resolve_modality, stored_adjacency

from ._utils import finish


def adjacency_frame(
    adata, *, key: str = "pathreg", lineage: str | None = None, regulators=None, targets=None, mod: str | None = None
) -> pd.DataFrame:
    """The stored adjacency (of ``lineage``, if given) as a target x regulator DataFrame.

    Restricted to the fit's regulators and targets, intersected with ``regulators`` and ``targets``.
    """
    adata = resolve_modality(adata, mod)
    matrix = stored_adjacency(adata, key, lineage=lineage)
    record = adata.uns.get(key, {})
    default_regulators = list(record.get("regulators", adata.var_names))
    default_targets = list(record.get("targets", adata.var_names))
    regulator_mask = adata.var_names.isin(default_regulators) & gene_mask(adata, regulators, argument="regulators")
    target_mask = adata.var_names.isin(default_targets) & gene_mask(adata, targets, argument="targets")
    return pd.DataFrame(
        matrix[np.ix_(target_mask, regulator_mask)],
        index=adata.var_names[target_mask],
        columns=adata.var_names[regulator_mask],
    )


def adjacency(
    adata,
    *,
    key: str = "pathreg",
    lineage: str | None = None,
    regulators: str | Sequence[str] | None = None,
    targets: str | Sequence[str] | None = None,
    signed: bool = True,
    cluster: bool = False,
    mod: str | None = None,
    cmap: str | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
):
    """Heatmap of the target x regulator adjacency written by :func:`pathreg.tl.fit_dynamics`.

    Parameters
    ----------
    adata
        AnnData (or MuData with ``mod``).
    key
        The ``key_added`` of the fit.
    lineage
        Draw this lineage's network instead of the whole fit's (fits of several lineages; see
        :func:`pathreg.tl.grn`). The title names it.
    regulators, targets
        Restrict the columns / rows (a boolean var column name or gene names); default: the fit's.
    signed
        Diverging colours around zero for signed strengths; otherwise absolute strengths.
    cluster
        Order rows and columns by hierarchical clustering (seaborn ``clustermap``; returns its figure).
    mod
        Modality of a MuData.
    cmap
        Colour map (default ``"RdBu_r"`` signed, ``"viridis"`` otherwise). The colour range is set by the
        entries off the diagonal (self-regulation beyond it is drawn at the end of the scale).
    ax
        Axes to draw into (not with ``cluster=True``).
    show
        Show the figure (``None``: when matplotlib is interactive); nothing is returned then.

    Returns
    -------
    The Axes (or the Figure with ``cluster=True``) when not shown.
    """
    import seaborn as sns

    frame = adjacency_frame(adata, key=key, lineage=lineage, regulators=regulators, targets=targets, mod=mod)
    title = f"{key}: target x regulator" if lineage is None else f"{key}, lineage {lineage}: target x regulator"
    values = frame if signed else frame.abs()
    # the colour range follows regulation of other genes: strong self-regulation would wash out the rest
    is_self = frame.index.to_numpy()[:, None] == frame.columns.to_numpy()[None, :]
    magnitudes = np.abs(values.to_numpy())
    limit = float((magnitudes[~is_self] if (~is_self).any() else magnitudes).max()) or 1.0
    options = {
        "cmap": cmap or ("RdBu_r" if signed else "viridis"),
        "vmin": -limit if signed else 0.0,
        "vmax": limit,
        "xticklabels": frame.shape[1] <= 60,
        "yticklabels": frame.shape[0] <= 80,
        "cbar_kws": {"label": "strength" if signed else "|strength|"},
    }
    if cluster:
        if ax is not None:
            raise ValueError("cluster=True draws its own figure; leave ax=None.")
        grid = sns.clustermap(values, **options)
        grid.ax_heatmap.set_xlabel("regulator")
        grid.ax_heatmap.set_ylabel("target")
        if lineage is not None:  # which network it is; the whole fit's clustermap keeps its untitled look
            grid.figure.suptitle(title, y=1.02)
        result = grid.figure
    else:
        if ax is None:
            size = (min(2 + 0.3 * frame.shape[1], 16), min(1.5 + 0.3 * frame.shape[0], 16))
            _, ax = plt.subplots(figsize=size)
        sns.heatmap(values, ax=ax, square=frame.shape[0] <= 40 and frame.shape[1] <= 40, **options)
        ax.set_xlabel("regulator")
        ax.set_ylabel("target")
        ax.set_title(title)
        result = ax
    return finish(result, show)
