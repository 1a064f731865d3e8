"""Restrict shared (root) cells to the lineages they are headed for, by fate probabilities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from .._settings import logger

if TYPE_CHECKING:
    from anndata import AnnData


def fate_probabilities(
    adata: AnnData, terminal: Mapping[str, np.ndarray], *, time_key: str = "dpt_pseudotime"
) -> pd.DataFrame:
    """Probabilities that a forward-in-time random walk on the neighbors graph ends in each fate.

    The walk moves along ``adata.obsp["connectivities"]`` only to neighbours with a time at least
    the cell's own (as Palantir's directed walk) and is absorbed by the ``terminal`` cells of every
    fate; the absorption probabilities solve :math:`(I - Q) B = R` (transient-to-transient steps
    :math:`Q`, transient-to-terminal steps :math:`R`). Cells from which no terminal cell is reachable
    get equal probabilities.

    Parameters
    ----------
    adata
        AnnData with a neighbors graph (:func:`pathreg.pp.pseudotime` computes one) and ``obs[time_key]``.
    terminal
        Fate name -> boolean mask over cells of that fate's terminal cells.
    time_key
        The time that orients the walk.

    Returns
    -------
    Cells x fates, rows summing to one.
    """
    if "connectivities" not in adata.obsp:
        raise ValueError("adata.obsp has no 'connectivities'; run pathreg.pp.pseudotime (or sc.pp.neighbors) first.")
    if time_key not in adata.obs:
        raise ValueError(f"adata.obs has no {time_key!r}; run pathreg.pp.pseudotime first or pass time_key=.")
    names = list(terminal)
    ends = np.column_stack([np.asarray(terminal[name], dtype=bool) for name in names])
    empty = [name for name, column in zip(names, ends.T, strict=True) if not column.any()]
    if empty:
        raise ValueError(f"Fates {empty} have no terminal cells.")
    time = adata.obs[time_key].to_numpy(dtype=float)
    graph = sp.coo_matrix(adata.obsp["connectivities"], dtype=float)
    forward = time[graph.col] >= time[graph.row]
    graph = sp.csr_matrix((graph.data[forward], (graph.row[forward], graph.col[forward])), shape=graph.shape)
    absorbing = ends.any(axis=1)
    transient = np.flatnonzero(~absorbing)
    degree = np.asarray(graph.sum(axis=1)).ravel()
    step = sp.diags(1.0 / np.maximum(degree, 1e-12)) @ graph
    q = step[transient][:, transient]
    r = step[transient][:, np.flatnonzero(absorbing)] @ ends[absorbing].astype(float)
    system = (sp.identity(len(transient), format="csc") - q.tocsc()).tocsc()
    absorbed = np.asarray(spl.spsolve(system, r)).reshape(len(transient), -1)
    fates = np.zeros((adata.n_obs, len(names)))
    fates[absorbing] = ends[absorbing] / ends[absorbing].sum(axis=1, keepdims=True)
    fates[transient] = np.nan_to_num(absorbed)
    totals = fates.sum(axis=1, keepdims=True)
    fates = np.where(totals > 0, fates / np.maximum(totals, 1e-12), 1.0 / len(names))
    return pd.DataFrame(fates, index=adata.obs_names, columns=names)


def fate_lineages(
    adata: AnnData,
    *,
    key: str = "lineages",
    time_key: str = "dpt_pseudotime",
    ratio: float = 0.5,
    copy: bool = False,
) -> AnnData | None:
    """Keep every shared cell only in the lineages it is headed for.

    After :func:`pathreg.pp.lineages`, every cell of a shared type (the root) belongs to every
    lineage, although many are already committed to one fate, so the lineages' early parts mix
    cells on their way to other fates. Here the fate probabilities of :func:`fate_probabilities`
    (absorbed by each lineage's last cell type) are divided by their mean over the non-terminal
    cells, so that a fate reached through a narrow part of the graph is not drowned by its
    neighbours; a cell stays in a lineage when its balanced probability is at least ``ratio`` times
    its largest one. Uncommitted cells thus stay in all their lineages; committed ones only in theirs.

    Parameters
    ----------
    adata
        AnnData with lineages from :func:`pathreg.pp.lineages` and a neighbors graph.
    key
        The lineages' key (``adata.obsm[key]`` and ``adata.uns[key]``).
    time_key
        Time that orients the random walk.
    ratio
        In ``(0, 1]``: how close to the most likely fate a fate must be to keep the cell.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` (or the copy). Updates ``adata.obsm[key]``, writes ``adata.obsm["fate_probabilities"]``
    (cells x lineages) and records the settings in ``adata.uns[key]["fate_params"]``.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must lie in (0, 1], got {ratio}.")
    if key not in adata.obsm or key not in adata.uns or "paths" not in adata.uns[key]:
        raise ValueError(f"No lineages under {key!r}; run pathreg.pp.lineages(adata, paths, cell_type_key=...) first.")
    membership = adata.obsm[key]
    record = adata.uns[key]
    paths = {name: list(path) for name, path in record["paths"].items()}
    cell_types = adata.obs[record["cell_type_key"]].astype(str).to_numpy()
    names = list(membership.columns)
    terminal = {name: cell_types == str(paths[name][-1]) for name in names}
    fates = fate_probabilities(adata, terminal, time_key=time_key)
    values = fates.to_numpy()
    not_terminal = ~np.column_stack(list(terminal.values())).any(axis=1)
    balanced = values / np.maximum(values[not_terminal].mean(axis=0), 1e-12) * membership.to_numpy()
    keep = balanced >= ratio * balanced.max(axis=1, keepdims=True)
    new_membership = pd.DataFrame(membership.to_numpy() & keep, index=adata.obs_names, columns=names)
    target = adata.copy() if copy else adata
    target.obsm[key] = new_membership
    target.obsm["fate_probabilities"] = fates
    target.uns[key] = {**dict(record), "fate_params": {"time_key": time_key, "ratio": float(ratio)}}
    logger.info(
        "Lineage sizes after fate restriction: %s.",
        ", ".join(f"{name} {int(new_membership[name].sum())}" for name in names),
    )
    return target if copy else None
