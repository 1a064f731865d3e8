"""Diffusion pseudotime from a root cell, a cell name, or a root cell type."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._settings import logger
from .._utils import check_obs_key, close_matches

if TYPE_CHECKING:
    from anndata import AnnData

_STATIONARY_EIGENVALUE = 0.9994
"""Diffusion eigenvalues at or above this count as stationary (the threshold of scanpy's DPT distances)."""


def _is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _check_positive_int(value: object, name: str, minimum: int) -> None:
    if not _is_integer(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def _root_from_index(adata: AnnData, root: int, source: str) -> int:
    if not 0 <= root < adata.n_obs:
        raise ValueError(
            f"{source}={root} is not a cell index; adata has {adata.n_obs} cells (0 to {adata.n_obs - 1})."
        )
    return int(root)


def _root_from_name(adata: AnnData, root: str) -> int:
    positions = np.flatnonzero(adata.obs_names == root)
    if positions.size == 0:
        hint = close_matches(root, list(adata.obs_names[:100_000].astype(str)))
        raise ValueError(
            f"root={root!r} is not in adata.obs_names.{hint} Pass a cell name, an integer cell index, "
            "or a cell type with root_key=."
        )
    if positions.size > 1:
        raise ValueError(
            f"root={root!r} names {positions.size} cells (obs_names are duplicated, at positions "
            f"{positions[:5].tolist()}{'...' if positions.size > 5 else ''}); pass the integer index of the root "
            "cell instead, e.g. root=" + str(int(positions[0])) + ", or call adata.obs_names_make_unique()."
        )
    return int(positions[0])


def _category_mask(adata: AnnData, root: object, root_key: str) -> np.ndarray:
    check_obs_key(adata, root_key, "root_key")
    if root is None:
        raise ValueError(
            f"root_key={root_key!r} needs root= naming one of its categories, "
            f"e.g. root={str(adata.obs[root_key].astype('category').cat.categories[0])!r}."
        )
    values = adata.obs[root_key].astype("category")
    by_name = {str(category): category for category in values.cat.categories}
    if not isinstance(root, str) or root not in by_name:
        hint = close_matches(root, list(by_name)) if isinstance(root, str) else ""
        raise ValueError(
            f"root={root!r} is not a category of adata.obs[{root_key!r}].{hint} The categories are {list(by_name)}."
        )
    mask = np.asarray(values == by_name[root], dtype=bool)
    if not mask.any():
        raise ValueError(f"No cell has adata.obs[{root_key!r}] == {root!r} (an unused category); pick another root.")
    return mask


def _dpt_embedding(diffmap: np.ndarray, eigenvalues: np.ndarray) -> np.ndarray:
    """Coordinates whose Euclidean distances are scanpy's DPT distances (Haghverdi et al. 2016, supp. eq. 15)."""
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    stationary = eigenvalues >= _STATIONARY_EIGENVALUE
    scale = np.where(stationary, 1.0, eigenvalues / np.where(stationary, 1.0, 1.0 - eigenvalues))
    return np.asarray(diffmap, dtype=np.float64) * scale


def _most_stem_like(embedding: np.ndarray, mask: np.ndarray) -> int:
    """Index of the cell of ``mask`` farthest, in DPT distance, from the centroid of the other cells."""
    reference = embedding[~mask].mean(axis=0) if (~mask).any() else embedding[mask].mean(axis=0)
    candidates = np.flatnonzero(mask)
    distances = np.linalg.norm(embedding[candidates] - reference, axis=1)
    return int(candidates[np.argmax(distances)])


def _resolve_root(adata: AnnData, root: object, root_key: str | None) -> tuple[int | None, np.ndarray | None]:
    """``(root index, None)``, or ``(None, mask of the root category)`` when ``root_key`` is given."""
    if root_key is not None:
        return None, _category_mask(adata, root, root_key)
    if root is not None:
        if _is_integer(root):
            return _root_from_index(adata, root, "root"), None
        if isinstance(root, str):
            return _root_from_name(adata, root), None
        raise ValueError(f"root must be an integer cell index or a cell name, got {type(root).__name__}.")
    if "iroot" in adata.uns:
        iroot = adata.uns["iroot"]
        if not _is_integer(iroot):
            raise ValueError(f"adata.uns['iroot'] must be an integer cell index, got {iroot!r}; pass root= instead.")
        return _root_from_index(adata, iroot, "adata.uns['iroot']"), None
    raise ValueError(
        "Nothing to root: pass root= (a cell index or name), root= with root_key= (a category, e.g. "
        "root='HSC', root_key='cell_type'), or set adata.uns['iroot']."
    )


def _check_neighbors_args(adata: AnnData, n_neighbors: object, use_rep: str | None) -> None:
    """Raise if the neighbors graph cannot be computed with ``n_neighbors`` and ``use_rep``."""
    _check_positive_int(n_neighbors, "n_neighbors", 2)
    if n_neighbors > adata.n_obs:
        raise ValueError(f"n_neighbors={n_neighbors} exceeds the number of cells ({adata.n_obs}).")
    if use_rep is not None and use_rep != "X" and use_rep not in adata.obsm:
        raise ValueError(
            f"use_rep={use_rep!r} is not in adata.obsm (keys {list(adata.obsm)}); compute it first, "
            "or pass use_rep='X' or None."
        )


def _existing_graph_keys(adata: AnnData, neighbors: object) -> dict[str, str]:
    """The ``adata.obsp`` keys of the existing neighbors graph ``neighbors``, raising if it is incomplete."""
    if not isinstance(neighbors, Mapping):
        raise ValueError("adata.uns['neighbors'] is not a dict; delete it to let pseudotime compute the graph.")
    graph_keys = {
        "connectivities": neighbors.get("connectivities_key", "connectivities"),
        "distances": neighbors.get("distances_key", "distances"),
    }
    missing = [key for key in graph_keys.values() if key not in adata.obsp]
    if missing:
        raise ValueError(
            f"adata.uns['neighbors'] exists but adata.obsp lacks {missing}; run scanpy.pp.neighbors again, "
            "or delete adata.uns['neighbors'] to let pseudotime compute the graph."
        )
    logger.info(
        "pseudotime: reusing the neighbors graph in adata.uns['neighbors'] (n_neighbors and use_rep are ignored)."
    )
    return graph_keys


def _reusable_diffmap(adata: AnnData, n_dcs: int) -> tuple[Any, Any] | None:
    """``(X_diffmap, diffmap_evals)`` of ``adata`` if they have at least ``n_dcs`` components, else ``None``."""
    diffmap = adata.obsm.get("X_diffmap")
    eigenvalues = adata.uns.get("diffmap_evals") if diffmap is not None else None
    if (
        diffmap is None
        or eigenvalues is None
        or np.ndim(diffmap) != 2
        or diffmap.shape[1] < n_dcs
        or np.size(eigenvalues) != diffmap.shape[1]
    ):
        return None
    return diffmap, eigenvalues


def _diffusion_map(
    adata: AnnData,
    *,
    neighbors: Mapping | None,
    graph_keys: dict[str, str] | None,
    reused_diffmap: tuple[Any, Any] | None,
    n_neighbors: int,
    n_dcs: int,
    use_rep: str | None,
) -> AnnData:
    """A lightweight AnnData sharing ``adata``'s arrays, with the graph and diffusion map computed or reused."""
    import scanpy as sc
    from anndata import AnnData

    compute_neighbors = neighbors is None
    representations = [key for key in dict.fromkeys([use_rep, "X_pca"]) if compute_neighbors and key in adata.obsm]
    work = AnnData(
        X=adata.X,
        obs=pd.DataFrame(index=pd.Index(np.arange(adata.n_obs).astype(str))),
        var=pd.DataFrame(index=pd.Index(np.arange(adata.n_vars).astype(str))),
        obsm={key: adata.obsm[key] for key in representations},
    )
    if compute_neighbors:
        sc.pp.neighbors(work, n_neighbors=n_neighbors, use_rep=use_rep, random_state=0)
    else:
        work.uns["neighbors"] = dict(neighbors)
        for key in graph_keys.values():
            work.obsp[key] = adata.obsp[key]
    if reused_diffmap is None:
        sc.tl.diffmap(work, n_comps=max(n_dcs, 3), random_state=0)
    else:
        diffmap, eigenvalues = reused_diffmap
        work.obsm["X_diffmap"] = diffmap
        work.uns["diffmap_evals"] = np.asarray(eigenvalues)
    return work


def _params(
    adata: AnnData,
    *,
    root_index: int,
    root: object,
    root_key: str | None,
    n_neighbors: int,
    n_dcs: int,
    use_rep: str | None,
    compute_neighbors: bool,
    compute_diffmap: bool,
) -> dict[str, Any]:
    """The ``adata.uns[key_added]["params"]`` of :func:`pseudotime`."""
    params: dict[str, Any] = {
        "root_index": int(root_index),
        "root_name": str(adata.obs_names[root_index]),
        "n_dcs": int(n_dcs),
        "neighbors_computed": bool(compute_neighbors),
        "diffmap_computed": bool(compute_diffmap),
    }
    if root_key is not None:
        params["root_key"] = str(root_key)
        params["root_category"] = str(root)
    if compute_neighbors:
        params["n_neighbors"] = int(n_neighbors)
        params["use_rep"] = "default" if use_rep is None else str(use_rep)
    return params


def _write_graph_and_diffmap(adata: AnnData, work: AnnData, *, compute_neighbors: bool, compute_diffmap: bool) -> None:
    """Copy the graph and the diffusion map computed on ``work`` (not those reused) to ``adata``."""
    if compute_neighbors:
        adata.uns["neighbors"] = work.uns["neighbors"]
        for key in ("distances", "connectivities"):
            adata.obsp[key] = work.obsp[key]
    if compute_diffmap:
        adata.obsm["X_diffmap"] = work.obsm["X_diffmap"]
        adata.uns["diffmap_evals"] = work.uns["diffmap_evals"]


def pseudotime(
    adata: AnnData,
    *,
    root: int | str | None = None,
    root_key: str | None = None,
    n_neighbors: int = 15,
    n_dcs: int = 10,
    use_rep: str | None = None,
    key_added: str = "dpt_pseudotime",
    copy: bool = False,
) -> AnnData | None:
    r"""Diffusion pseudotime (:func:`scanpy.tl.dpt`) from a root cell.

    Runs :func:`scanpy.pp.neighbors` unless ``adata.uns["neighbors"]`` exists (an existing graph is reused
    as is: ``n_neighbors`` and ``use_rep`` then have no effect), :func:`scanpy.tl.diffmap` unless
    ``adata.obsm["X_diffmap"]`` already has at least ``n_dcs`` components from that graph, then
    :func:`scanpy.tl.dpt` with ``n_dcs``. Nothing is written to ``adata`` until all of it has succeeded.

    The root is, in order of precedence:

    - ``root`` and ``root_key``: the most stem-like cell of the category ``root`` of ``adata.obs[root_key]``,
      defined as the cell of that category farthest, in DPT distance, from the centroid of all other cells:

      .. math::
          i_\text{root} = \arg\max_{i \in C} \lVert m_i - \bar m_{\bar C} \rVert, \qquad
          m_{ik} = \frac{\lambda_k}{1 - \lambda_k} \psi_{ik},

      with :math:`\psi_k, \lambda_k` the diffusion components and eigenvalues (scale 1 for the stationary
      ones, :math:`\lambda_k \geq 0.9994`, as in scanpy), :math:`C` the category and :math:`\bar C` the
      other cells (the category's own centroid if it holds every cell). Differentiated cells lie downstream
      of the root, so the root end of the root category is the end farthest from them, the tip-finding idea of
      Haghverdi et al. (2016). Taking the extreme of the first diffusion component instead fails on branching
      data: on :func:`pathreg.datasets.krumsiek11` it picks the branching point of the progenitors, whereas
      this rule picks a cell of the first time step. Cells in other connected components of the graph are
      not excluded.
    - ``root`` alone: an integer cell index, or a cell name of ``adata.obs_names`` (which must be unique).
    - neither: ``adata.uns["iroot"]`` if set.

    Parameters
    ----------
    adata
        Annotated data matrix.
    root
        Root cell index or name or, with ``root_key``, the root category.
    root_key
        Column of ``adata.obs`` (e.g. cell types) in which ``root`` is a category.
    n_neighbors
        Number of neighbors for :func:`scanpy.pp.neighbors`, if the graph is computed.
    n_dcs
        Number of diffusion components for :func:`scanpy.tl.dpt` (at least 2).
    use_rep
        Representation for :func:`scanpy.pp.neighbors` (a key of ``adata.obsm`` or ``"X"``); ``None`` is
        scanpy's default (``X`` with up to 50 genes, else ``X_pca``).
    key_added
        Name of the ``adata.obs`` column for the pseudotime (scanpy's ``"dpt_pseudotime"`` is renamed to it).
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None``, or a modified copy of ``adata`` if ``copy=True``. Sets

    ``adata.obs[key_added]``
        ``float``, pseudotime in [0, 1], 0 at the root (``inf`` in other connected components).
    ``adata.uns["iroot"]``
        ``int``, index of the root cell.
    ``adata.uns[key_added]["params"]``
        ``{"root_index": int, "root_name": str, "root_key": str, "root_category": str, "n_neighbors": int,
        "n_dcs": int, "use_rep": str, "neighbors_computed": bool, "diffmap_computed": bool}``;
        ``root_key``/``root_category`` only when the root was chosen by category, ``n_neighbors``/``use_rep``
        only when the graph was computed.
    ``adata.uns["neighbors"]``, ``adata.obsp["distances"]``, ``adata.obsp["connectivities"]``
        When the graph was computed.
    ``adata.obsm["X_diffmap"]``, ``adata.uns["diffmap_evals"]``
        When the diffusion map was computed.

    Raises
    ------
    ValueError
        If there is nothing to root, the root is not a cell index, cell name or category, the cell name is
        duplicated, ``root_key`` or ``use_rep`` do not exist, an existing graph is incomplete, or a number is
        out of range. ``adata`` is left unchanged.

    Notes
    -----
    scanpy's DPT leaves diffusion components with eigenvalue :math:`\geq 0.9994` unscaled, as if stationary.
    On small, smooth data with few neighbors the first informative component can fall above that threshold
    and the pseudotime stops following the trajectory; a larger ``n_neighbors`` (e.g. 30) avoids it.

    Examples
    --------
    >>> import pathreg as pr
    >>> adata = pr.datasets.krumsiek11()
    >>> pr.pp.pseudotime(adata, root="progenitor", root_key="cell_type")
    >>> float(adata.obs["dpt_pseudotime"].iloc[adata.uns["iroot"]])
    0.0
    """
    import scanpy as sc

    # --- validate everything before touching adata
    if not isinstance(key_added, str) or not key_added or "/" in key_added:
        raise ValueError(f"key_added must be a non-empty string without '/', got {key_added!r}.")
    _check_positive_int(n_dcs, "n_dcs", 2)
    if n_dcs >= adata.n_obs:
        raise ValueError(f"n_dcs={n_dcs} must be smaller than the number of cells ({adata.n_obs}).")
    root_index, category_mask = _resolve_root(adata, root, root_key)
    neighbors = adata.uns.get("neighbors")
    compute_neighbors = neighbors is None
    if compute_neighbors:
        _check_neighbors_args(adata, n_neighbors, use_rep)
        graph_keys = None
    else:
        graph_keys = _existing_graph_keys(adata, neighbors)
    reused_diffmap = None if compute_neighbors else _reusable_diffmap(adata, n_dcs)
    compute_diffmap = reused_diffmap is None

    # --- compute on a lightweight AnnData that shares arrays with adata, then write back
    work = _diffusion_map(
        adata,
        neighbors=neighbors,
        graph_keys=graph_keys,
        reused_diffmap=reused_diffmap,
        n_neighbors=n_neighbors,
        n_dcs=n_dcs,
        use_rep=use_rep,
    )
    if category_mask is not None:
        embedding = _dpt_embedding(work.obsm["X_diffmap"][:, :n_dcs], work.uns["diffmap_evals"][:n_dcs])
        root_index = _most_stem_like(embedding, category_mask)
    work.uns["iroot"] = root_index
    sc.tl.dpt(work, n_dcs=n_dcs)
    values = np.asarray(work.obs["dpt_pseudotime"], dtype=np.float64)
    params = _params(
        adata,
        root_index=root_index,
        root=root,
        root_key=root_key,
        n_neighbors=n_neighbors,
        n_dcs=n_dcs,
        use_rep=use_rep,
        compute_neighbors=compute_neighbors,
        compute_diffmap=compute_diffmap,
    )

    if copy:
        adata = adata.copy()
    _write_graph_and_diffmap(adata, work, compute_neighbors=compute_neighbors, compute_diffmap=compute_diffmap)
    adata.uns["iroot"] = int(root_index)
    adata.obs[key_added] = values
    adata.uns[key_added] = {"params": params}
    logger.info(
        "pseudotime: root cell %d (%r)%s; adata.obs[%r].",
        root_index,
        params["root_name"],
        f", the most stem-like of {root_key}={root!r}" if category_mask is not None else "",
        key_added,
    )
    return adata if copy else None
