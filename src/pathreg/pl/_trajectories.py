"""Observed expression and fitted trajectories over (pseudo)time, one panel per gene."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import sparse

from pathreg._utils import Key, close_matches, lineage_table, time_values

from ._utils import finish

SHARED_COLOR = "#9e9e9e"


def _fit_record(adata, key: str) -> dict:
    layer = Key.prediction(key)
    record = adata.uns.get(key)
    if (
        isinstance(record, Mapping)
        and layer not in adata.layers
        and not record.get("params", {}).get("prediction", True)
    ):
        raise ValueError(
            f"The fit {key!r} was run with prediction=False, so adata.layers has no {layer!r}. Write it with "
            f"pathreg.tl.predict(adata, ensemble, lineage_key=..., key_added={key!r}), or refit with prediction=True."
        )
    if key not in adata.uns or layer not in adata.layers:
        raise ValueError(
            f"No fit {key!r} found (needs adata.uns[{key!r}] and adata.layers[{layer!r}])."
            f"{close_matches(key, adata.uns.keys())} Run pathreg.tl.fit_dynamics(adata, key_added=...) first."
        )
    return adata.uns[key]


def _columns(matrix, index: np.ndarray) -> np.ndarray:
    block = matrix[:, index]
    block = block.toarray() if sparse.issparse(block) else np.asarray(block)
    return block.astype(np.float64)


def trajectories(
    adata,
    genes: str | Sequence[str],
    *,
    key: str = "pathreg",
    time_key: str | None = None,
    lineage_key: str | None = None,
    ncols: int = 4,
    point_size: float = 4.0,
    axes: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
) -> Figure | None:
    """Observed expression and the fitted trajectories of :func:`pathreg.tl.fit_dynamics` over time.

    One panel per gene: every cell's observed expression (the fit's layer, ``adata.X`` by default) as a
    small point at its time, coloured by lineage, and the fitted prediction ``adata.layers[Key.prediction(key)]``
    as one line per lineage through the lineage's cells sorted by time. A cell in several lineages (e.g. the
    shared progenitors) is drawn once, in grey ("shared"); its prediction is the mean over its lineages (as
    written by the fit), so every lineage's line passes through that mean on the shared stretch. Cells in no
    lineage are not drawn; genes the fit did not model (prediction all NaN) get no line.

    Parameters
    ----------
    adata
        AnnData on which :func:`pathreg.tl.fit_dynamics` ran.
    genes
        A gene name or a list of gene names (``var_names``).
    key
        The ``key_added`` of the fit.
    time_key
        Column of ``adata.obs`` with the time; default: the fit's ``params["time_key"]``.
    lineage_key
        Lineage membership (``adata.obsm`` table or categorical ``adata.obs`` column); default: the fit's
        ``params["lineage_key"]`` (``"none"``: all cells form one lineage).
    ncols
        Panels per row.
    point_size
        Marker size of the cells.
    axes
        Axes to draw into, one per gene (at least ``len(genes)``); default: a new figure.
    show
        Show the figure (``None``: when matplotlib is interactive); nothing is returned then.

    Returns
    -------
    The Figure when not shown.

    Examples
    --------
    >>> pathreg.pl.trajectories(adata, ["Gata1", "Pu.1"])  # doctest: +SKIP
    """
    record = _fit_record(adata, key)
    params = record.get("params", {})
    genes = [genes] if isinstance(genes, str) else [str(gene) for gene in genes]
    if not genes:
        raise ValueError("genes is empty; pass at least one gene name.")
    unknown = [gene for gene in genes if gene not in adata.var_names]
    if unknown:
        hints = "".join(close_matches(gene, adata.var_names) for gene in unknown)
        raise ValueError(f"Genes {unknown} are not in var_names.{hints}")
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}.")

    time_key = time_key if time_key is not None else params.get("time_key", "dpt_pseudotime")
    time = time_values(adata, time_key)
    if lineage_key is None:
        lineage_key = params.get("lineage_key", "none")
    lineages = lineage_table(adata, None if lineage_key == "none" else lineage_key)
    membership = lineages.to_numpy(dtype=bool)
    names = [str(name) for name in lineages.columns]

    index = adata.var_names.get_indexer(genes)
    layer = params.get("layer", "X")
    if layer != "X" and layer not in adata.layers:
        raise ValueError(f"The fit used adata.layers[{layer!r}], which is missing.")
    observed = _columns(adata.X if layer == "X" else adata.layers[layer], index)
    predicted = _columns(adata.layers[Key.prediction(key)], index)

    if axes is None:
        ncols = min(ncols, len(genes))
        nrows = math.ceil(len(genes) / ncols)
        figure, grid = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
        panels = list(grid.ravel())
        for unused in panels[len(genes) :]:
            unused.set_axis_off()
    else:
        panels = [axes] if isinstance(axes, Axes) else list(axes)
        if len(panels) < len(genes):
            raise ValueError(f"axes has {len(panels)} Axes for {len(genes)} genes.")
        figure = panels[0].figure

    colors = plt.get_cmap("tab10").colors
    shared = membership.sum(axis=1) > 1
    for column, (gene, panel) in enumerate(zip(genes, panels, strict=False)):
        if shared.any():
            panel.scatter(
                time[shared], observed[shared, column], s=point_size, c=SHARED_COLOR, alpha=0.5, lw=0, label="shared"
            )
        for number, name in enumerate(names):
            color = colors[number % len(colors)]
            own = membership[:, number] & ~shared
            panel.scatter(time[own], observed[own, column], s=point_size, color=color, alpha=0.5, lw=0, label=name)
            cells = np.flatnonzero(membership[:, number] & np.isfinite(time) & np.isfinite(predicted[:, column]))
            if cells.size:
                order = cells[np.argsort(time[cells], kind="stable")]
                panel.plot(time[order], predicted[order, column], color=color, lw=2, label=f"{name} (fit)")
        panel.set_title(gene)
        panel.set_xlabel(time_key)
        panel.set_ylabel("expression")
    panels[0].legend(fontsize="x-small", markerscale=2, frameon=False)
    if axes is None:
        figure.tight_layout()
    return finish(figure, show)
