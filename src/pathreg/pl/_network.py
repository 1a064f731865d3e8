"""The strongest inferred edges drawn as a directed graph."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pathreg._utils import close_matches, resolve_modality
from pathreg.tl import to_networkx

from ._utils import finish

ACTIVATION_COLOR = "#d62728"
REPRESSION_COLOR = "#1f77b4"
REGULATOR_COLOR = "#ffb000"
TARGET_COLOR = "#e0e0e0"
LAYOUTS = ("spring", "circular", "kamada_kawai", "shell")


def _highlighted(adata, graph, key: str, regulators_highlight) -> set[str]:
    if regulators_highlight is None:
        fit_regulators = {str(gene) for gene in adata.uns.get(key, {}).get("regulators", [])}
        if fit_regulators and len(fit_regulators) < adata.n_vars:
            return fit_regulators
        return {node for node, is_regulator in graph.nodes(data="is_regulator") if is_regulator}
    if isinstance(regulators_highlight, str):
        if regulators_highlight not in adata.var:
            raise ValueError(
                f"regulators_highlight={regulators_highlight!r} is not a column of adata.var."
                f"{close_matches(regulators_highlight, adata.var.columns)} Pass a boolean var column or gene names."
            )
        column = adata.var[regulators_highlight]
        if column.dtype != bool:
            raise ValueError(f"adata.var[{regulators_highlight!r}] must be boolean, got dtype {column.dtype}.")
        return set(adata.var_names[column.to_numpy(dtype=bool)])
    return {str(gene) for gene in regulators_highlight}


def network(
    adata,
    *,
    key: str = "pathreg",
    lineage: str | None = None,
    top_k: int = 50,
    regulators_highlight: str | Sequence[str] | None = None,
    layout: Literal["spring", "circular", "kamada_kawai", "shell"] = "spring",
    seed: int = 0,
    mod: str | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
) -> Axes | None:
    """The ``top_k`` strongest inferred regulator -> target edges as a directed graph.

    Built with :func:`pathreg.tl.to_networkx`. Edges are red for activation and blue for repression
    (the sign of the adjacency), their width grows with the absolute strength; highlighted regulators
    are drawn in a different colour than the other genes; every node is labelled.

    Parameters
    ----------
    adata
        AnnData (or MuData with ``mod``) on which :func:`pathreg.tl.fit_dynamics` ran.
    key
        The ``key_added`` of the fit.
    lineage
        Draw this lineage's network instead of the whole fit's (fits of several lineages; see
        :func:`pathreg.tl.grn`). The title names it.
    top_k
        Number of strongest edges drawn (fewer when fewer are non-zero).
    regulators_highlight
        Genes to highlight: a boolean ``adata.var`` column name (e.g. ``"is_tf"``) or gene names. ``None``:
        the fit's regulators when they are a subset of the genes, otherwise the genes with an outgoing edge.
    layout
        ``"spring"``, ``"circular"``, ``"kamada_kawai"`` or ``"shell"`` (networkx layouts).
    seed
        Seed of the spring layout.
    mod
        Modality of a MuData.
    ax
        Axes to draw into.
    show
        Show the figure (``None``: when matplotlib is interactive); nothing is returned then.

    Returns
    -------
    The Axes when not shown.

    Examples
    --------
    >>> pathreg.pl.network(adata, top_k=20, regulators_highlight="is_tf")  # doctest: +SKIP
    >>> pathreg.pl.network(adata, lineage="Ery", top_k=20)  # doctest: +SKIP
    """
    import networkx as nx

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}, got {layout!r}.")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}.")
    adata = resolve_modality(adata, mod)
    graph = to_networkx(adata, key=key, lineage=lineage, top_k=top_k)
    highlighted = _highlighted(adata, graph, key, regulators_highlight)
    created = ax is None
    if created:
        _, ax = plt.subplots(figsize=(7.5, 6))
    if graph.number_of_edges() == 0:
        ax.text(0.5, 0.5, "no non-zero edges", ha="center", va="center", transform=ax.transAxes)
    else:
        if layout == "spring":
            # wider spacing than networkx's default (k = 1 / sqrt(n)) keeps labels of linked genes apart
            positions = nx.spring_layout(graph, seed=seed, k=2.5 / np.sqrt(graph.number_of_nodes()))
        elif layout == "kamada_kawai":
            positions = nx.kamada_kawai_layout(graph)
        else:
            positions = getattr(nx, f"{layout}_layout")(graph)
        nodes = list(graph.nodes)
        edges = list(graph.edges(data=True))
        weights = np.array([data["weight"] for _, _, data in edges])
        widths = 0.5 + 3.5 * weights / weights.max()
        colors = [ACTIVATION_COLOR if data["sign"] > 0 else REPRESSION_COLOR for _, _, data in edges]
        nx.draw_networkx_nodes(
            graph,
            positions,
            nodelist=nodes,
            node_color=[REGULATOR_COLOR if node in highlighted else TARGET_COLOR for node in nodes],
            node_size=500,
            edgecolors="#404040",
            linewidths=0.5,
            ax=ax,
        )
        nx.draw_networkx_edges(
            graph,
            positions,
            edgelist=[(source, target) for source, target, _ in edges],
            edge_color=colors,
            width=widths,
            arrows=True,
            arrowstyle="-|>",
            arrowsize=12,
            node_size=500,
            connectionstyle="arc3,rad=0.1",
            ax=ax,
        )
        nx.draw_networkx_labels(graph, positions, font_size=8, ax=ax)
    ax.legend(
        handles=[
            Line2D([], [], color=ACTIVATION_COLOR, lw=2, label="activation"),
            Line2D([], [], color=REPRESSION_COLOR, lw=2, label="repression"),
            Patch(facecolor=REGULATOR_COLOR, edgecolor="#404040", label="regulator"),
            Patch(facecolor=TARGET_COLOR, edgecolor="#404040", label="other gene"),
        ],
        fontsize="small",
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
    )
    where = key if lineage is None else f"{key}, lineage {lineage}"
    ax.set_title(f"{where}: top {graph.number_of_edges()} edges")
    ax.set_axis_off()
    if created:  # make room for the legend right of the graph, so that a plain savefig keeps it
        ax.figure.tight_layout()
    return finish(ax, show)
