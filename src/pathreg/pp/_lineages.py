"""Assign cells to lineages given as ordered paths of cell types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._settings import logger
from .._utils import check_obs_key, close_matches

if TYPE_CHECKING:
    from anndata import AnnData


def _validate_paths(paths: object) -> dict[str, list[str]]:
    """Check the structure of ``paths`` (not the cell types) and return it as a ``dict`` of lists."""
    if not isinstance(paths, Mapping) or not paths:
        raise ValueError(
            "paths must be a non-empty mapping from lineage name to an ordered list of cell types, "
            f"e.g. {{'Ery': ['HSC', 'MK/E prog', 'Proerythroblast']}}; got {paths!r}."
        )
    checked: dict[str, list[str]] = {}
    for name, path in paths.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"Lineage names must be non-empty strings; got {name!r}.")
        if "/" in name:
            raise ValueError(
                f"Lineage name {name!r} contains '/', which h5ad files read as a group separator; "
                f"rename the lineage, e.g. {name.replace('/', '-')!r}."
            )
        if isinstance(path, str) or not isinstance(path, Sequence):
            raise ValueError(
                f"The path of lineage {name!r} must be a list of cell types, got {path!r}; e.g. [{path!r}]."
                if isinstance(path, str)
                else f"The path of lineage {name!r} must be a list of cell types, got {type(path).__name__}."
            )
        if len(path) == 0:
            raise ValueError(f"Lineage {name!r} is empty; give it at least one cell type or leave it out.")
        not_strings = [cell_type for cell_type in path if not isinstance(cell_type, str)]
        if not_strings:
            raise ValueError(f"Cell types must be strings; lineage {name!r} has {not_strings!r}.")
        duplicated = sorted({cell_type for cell_type in path if path.count(cell_type) > 1})
        if duplicated:
            raise ValueError(
                f"Lineage {name!r} lists {duplicated} more than once; a path must list each cell type once, in order."
            )
        checked[name] = list(path)
    return checked


def lineages(
    adata: AnnData,
    paths: Mapping[str, Sequence[str]],
    *,
    cell_type_key: str,
    key_added: str = "lineages",
    copy: bool = False,
) -> AnnData | None:
    """Assign cells to lineages, each given as the ordered cell types it passes through.

    A cell belongs to a lineage when its cell type is on the lineage's path. A cell can belong to several
    lineages: the cells of a shared root type (the first type of several paths) belong to all of them.

    Parameters
    ----------
    adata
        Annotated data matrix.
    paths
        Lineage name -> cell types in developmental order, root first, e.g.
        ``{"Ery": ["HSC", "MK/E prog", "Proerythroblast"], "Mk": ["HSC", "MK/E prog", "Megakaryocyte"]}``.
        The cell types are categories of ``adata.obs[cell_type_key]`` (compared as strings). Lineage names
        may not contain ``"/"``.
    cell_type_key
        Column of ``adata.obs`` with the cell types.
    key_added
        Where the membership is written: ``adata.obsm[key_added]`` and ``adata.uns[key_added]``.
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None``, or a modified copy of ``adata`` if ``copy=True``. Sets

    ``adata.obsm[key_added]``
        Boolean :class:`pandas.DataFrame`, cells x lineages (index ``adata.obs_names``, columns the lineage
        names in the order of ``paths``): whether the cell belongs to the lineage.
    ``adata.uns[key_added]``
        ``{"paths": {lineage: [cell types in order]}, "cell_type_key": cell_type_key}``. After an h5ad round
        trip the lists come back as numpy string arrays and the lineages in alphabetical order; the order of
        ``paths`` is kept by the columns of ``adata.obsm[key_added]``.

    Both round-trip through :meth:`anndata.AnnData.write_h5ad`.

    Raises
    ------
    ValueError
        If ``cell_type_key`` is not an obs column, ``paths`` is empty or malformed (a lineage without cell
        types, a cell type listed twice, a ``"/"`` in a lineage name), a cell type is not a category of
        ``adata.obs[cell_type_key]`` (the message lists close matches and the available categories), or a
        lineage has no cells. ``adata`` is left unchanged.

    Examples
    --------
    >>> import pathreg as pr
    >>> adata = pr.datasets.krumsiek11()
    >>> fates = ("Mo", "Ery", "Mk", "Neu")
    >>> pr.pp.lineages(adata, {fate: ["progenitor", fate] for fate in fates}, cell_type_key="cell_type")
    >>> adata.obsm["lineages"].sum().tolist()
    [400, 400, 400, 400]
    """
    if not isinstance(key_added, str) or not key_added or "/" in key_added:
        raise ValueError(f"key_added must be a non-empty string without '/', got {key_added!r}.")
    check_obs_key(adata, cell_type_key, "cell_type_key")
    checked = _validate_paths(paths)

    cell_types = adata.obs[cell_type_key].astype("category")
    by_name = {str(category): category for category in cell_types.cat.categories}
    available = list(by_name)
    unknown = {
        cell_type: [name for name, path in checked.items() if cell_type in path]
        for path in checked.values()
        for cell_type in path
        if cell_type not in by_name
    }
    if unknown:
        details = "; ".join(
            f"{cell_type!r} (in {', '.join(repr(name) for name in names)}){close_matches(cell_type, available)}"
            for cell_type, names in unknown.items()
        )
        raise ValueError(
            f"Unknown cell types in paths: {details}. The categories of adata.obs[{cell_type_key!r}] are {available}."
        )

    counts = cell_types.value_counts()
    membership = {}
    for name, path in checked.items():
        empty = [cell_type for cell_type in path if counts[by_name[cell_type]] == 0]
        if len(empty) == len(path):
            raise ValueError(
                f"Lineage {name!r} has no cells: none of {path} occurs in adata.obs[{cell_type_key!r}] "
                "(unused categories). Remove the lineage or fix its cell types."
            )
        if empty:
            logger.warning("lineages: cell types %s of lineage %r have no cells.", empty, name)
        membership[name] = np.asarray(cell_types.isin([by_name[cell_type] for cell_type in path]), dtype=bool)

    if copy:
        adata = adata.copy()
    adata.obsm[key_added] = pd.DataFrame(membership, index=adata.obs_names.copy())
    adata.uns[key_added] = {"paths": checked, "cell_type_key": cell_type_key}
    logger.info(
        "lineages: %s (adata.obsm[%r], adata.uns[%r]).",
        ", ".join(f"{name}: {int(member.sum())} cells" for name, member in membership.items()),
        key_added,
        key_added,
    )
    return adata if copy else None
