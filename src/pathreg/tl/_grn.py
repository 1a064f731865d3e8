"""The inferred network as an edge list or a networkx graph."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._utils import resolve_modality, stored_adjacency


def grn(
    adata, *, key: str = "pathreg", min_weight: float = 0.0, top_k: int | None = None, mod: str | None = None
) -> pd.DataFrame:
    """The inferred regulator -> target edges, strongest first.

    Parameters
    ----------
    adata
        AnnData (or MuData with ``mod``) on which :func:`fit_dynamics` ran.
    key
        The ``key_added`` of that run.
    min_weight
        Keep edges whose absolute strength exceeds this (exact zeros, the pruned edges, are always dropped).
    top_k
        Keep at most this many edges.
    mod
        Modality of a MuData.

    Returns
    -------
    Columns ``regulator``, ``target``, ``weight`` (absolute strength) and ``sign`` (+1 activation,
    -1 repression), sorted by decreasing weight.
    """
    adata = resolve_modality(adata, mod)
    adjacency = stored_adjacency(adata, key)
    targets, regulators = np.nonzero((np.abs(adjacency) > min_weight) & (adjacency != 0))
    values = adjacency[targets, regulators]
    edges = pd.DataFrame(
        {
            "regulator": adata.var_names[regulators].to_numpy(),
            "target": adata.var_names[targets].to_numpy(),
            "weight": np.abs(values).astype(np.float64),
            "sign": np.sign(values).astype(np.int64),
        }
    )
    edges = edges.sort_values(["weight", "regulator", "target"], ascending=[False, True, True], kind="stable")
    if top_k is not None:
        edges = edges.head(int(top_k))
    return edges.reset_index(drop=True)


def to_networkx(
    adata, *, key: str = "pathreg", min_weight: float = 0.0, top_k: int | None = None, mod: str | None = None
):
    """The inferred network as a :class:`networkx.DiGraph` (edges regulator -> target with ``weight`` and ``sign``).

    Nodes carry ``is_regulator``. Write it for Cytoscape with ``networkx.write_graphml``.
    """
    import networkx as nx

    edges = grn(adata, key=key, min_weight=min_weight, top_k=top_k, mod=mod)
    graph = nx.DiGraph()
    regulators = set(edges["regulator"])
    for gene in pd.unique(pd.concat([edges["regulator"], edges["target"]])):
        graph.add_node(gene, is_regulator=gene in regulators)
    for row in edges.itertuples(index=False):
        graph.add_edge(row.regulator, row.target, weight=float(row.weight), sign=int(row.sign))
    return graph
