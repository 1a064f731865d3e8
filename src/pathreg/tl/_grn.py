"""The inferred network as an edge list or a networkx graph, for the whole fit or one lineage."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from .._utils import check_choice, resolve_modality, stored_adjacency

FORMATS = ("pathreg", "decoupler")
"""Layouts of :func:`grn`'s table: pathreg's own, and the ``net`` of decoupler's methods."""


def grn(
    adata,
    *,
    key: str = "pathreg",
    lineage: str | None = None,
    min_weight: float = 0.0,
    top_k: int | None = None,
    format: Literal["pathreg", "decoupler"] = "pathreg",
    mod: str | None = None,
) -> pd.DataFrame:
    """The inferred regulator -> target edges, strongest first.

    Parameters
    ----------
    adata
        AnnData (or MuData with ``mod``) on which :func:`fit_dynamics` ran.
    key
        The ``key_added`` of that run.
    lineage
        ``None``: the network of the whole fit (``adata.varp[key + "_adjacency"]``). A lineage name: that
        lineage's network, the fit's readout over that lineage's bin means only (written by
        :func:`fit_dynamics` for fits of several lineages, see :func:`write_fit`); the names are in
        ``adata.uns[key]["lineage_adjacency"]["lineages"]``.
    min_weight
        Keep edges whose absolute strength exceeds this (exact zeros, the pruned edges, are always dropped).
    top_k
        Keep at most this many edges (after dropping self-loops with ``format="decoupler"``).
    format
        ``"pathreg"``: columns ``regulator``, ``target``, ``weight`` (absolute strength) and ``sign`` (+1
        activation, -1 repression). ``"decoupler"``: the ``net`` that decoupler's enrichment methods take
        (e.g. ``decoupler.mt.ulm(data=adata, net=net)``): columns ``source`` (regulator), ``target`` and
        ``weight`` (the signed strength), without self-loops. decoupler itself is not needed for the table.
    mod
        Modality of a MuData.

    Returns
    -------
    One row per non-zero edge, sorted by decreasing absolute strength (ties by regulator, then target), in the
    columns of ``format``.

    Raises
    ------
    ValueError
        When ``adata`` holds no fit under ``key``, for an unknown ``format``, and for a ``lineage`` the fit
        does not have (its lineages listed) or a ``lineage`` of a fit of one lineage.

    Examples
    --------
    >>> pathreg.tl.grn(adata, lineage="Ery", top_k=10)  # doctest: +SKIP
    >>> net = pathreg.tl.grn(adata, format="decoupler")  # doctest: +SKIP
    >>> decoupler.mt.ulm(data=adata, net=net, tmin=1)  # doctest: +SKIP
    """
    check_choice(format, FORMATS, "format")
    adata = resolve_modality(adata, mod)
    adjacency = stored_adjacency(adata, key, lineage=lineage)
    if format == "decoupler":
        edges = decoupler_edges(adjacency, adata.var_names, min_weight)
    else:
        edges = pathreg_edges(adjacency, adata.var_names, min_weight)
    if top_k is not None:
        edges = edges.head(int(top_k))
    return edges.reset_index(drop=True)


def pathreg_edges(adjacency: np.ndarray, genes: pd.Index, min_weight: float) -> pd.DataFrame:
    """The non-zero entries of ``adjacency`` above ``min_weight`` as ``regulator, target, weight, sign`` rows."""
    targets, regulators = np.nonzero((np.abs(adjacency) > min_weight) & (adjacency != 0))
    values = adjacency[targets, regulators]
    edges = pd.DataFrame(
        {
            "regulator": genes[regulators].to_numpy(),
            "target": genes[targets].to_numpy(),
            "weight": np.abs(values).astype(np.float64),
            "sign": np.sign(values).astype(np.int64),
        }
    )
    return edges.sort_values(["weight", "regulator", "target"], ascending=[False, True, True], kind="stable")


def decoupler_edges(adjacency: np.ndarray, genes: pd.Index, min_weight: float) -> pd.DataFrame:
    """The non-zero entries of ``adjacency`` above ``min_weight``, self-loops left out, as decoupler's ``net``.

    Columns ``source`` (regulator), ``target`` and ``weight`` (signed strength), by decreasing ``|weight|``.
    """
    keep = (np.abs(adjacency) > min_weight) & (adjacency != 0)
    np.fill_diagonal(keep, False)  # rows and columns are both var_names: the diagonal is self-regulation
    targets, regulators = np.nonzero(keep)
    values = adjacency[targets, regulators].astype(np.float64)
    edges = pd.DataFrame(
        {"source": genes[regulators].to_numpy(), "target": genes[targets].to_numpy(), "weight": values}
    )
    order = edges.assign(strength=np.abs(values)).sort_values(
        ["strength", "source", "target"], ascending=[False, True, True], kind="stable"
    )
    return edges.loc[order.index]


def to_networkx(
    adata,
    *,
    key: str = "pathreg",
    lineage: str | None = None,
    min_weight: float = 0.0,
    top_k: int | None = None,
    mod: str | None = None,
):
    """The inferred network as a :class:`networkx.DiGraph` (edges regulator -> target with ``weight`` and ``sign``).

    Nodes carry ``is_regulator``. Write it for Cytoscape with ``networkx.write_graphml``. The arguments are
    those of :func:`grn` (``lineage``: one lineage's network).
    """
    import networkx as nx

    edges = grn(adata, key=key, lineage=lineage, min_weight=min_weight, top_k=top_k, mod=mod)
    graph = nx.DiGraph()
    regulators = set(edges["regulator"])
    for gene in pd.unique(pd.concat([edges["regulator"], edges["target"]])):
        graph.add_node(gene, is_regulator=gene in regulators)
    for row in edges.itertuples(index=False):
        graph.add_edge(row.regulator, row.target, weight=float(row.weight), sign=int(row.sign))
    return graph
