"""Validation and extraction of what the tools read from an AnnData.

Nothing here writes to it, except :func:`ensure_actual`, which turns a view into an actual AnnData.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from .._settings import logger
from ._keys import Key
from ._names import close_matches

if TYPE_CHECKING:
    from anndata import AnnData

GeneSpec = str | Sequence[str] | None


def uns_record(adata: AnnData, key: str, *, field: str, what: str, hint: str) -> Mapping:
    """``adata.uns[key]``, a mapping with ``field``; otherwise a ValueError naming ``what`` and ``hint``."""
    record = adata.uns.get(key)
    if not isinstance(record, Mapping) or field not in record:
        raise ValueError(f"No {what} {key!r} in adata.uns.{close_matches(key, adata.uns.keys())} {hint}")
    return record


def resolve_modality(data, mod: str | None) -> AnnData:
    """The AnnData to work on: ``data`` itself, or the modality ``mod`` of a MuData."""
    from anndata import AnnData  # here, so that the engine can use the name helpers without AnnData

    if isinstance(data, AnnData):
        if mod is not None:
            raise ValueError(f"mod={mod!r} was given, but the data is an AnnData, not a MuData; leave mod=None.")
        return data
    modalities = getattr(data, "mod", None)
    if isinstance(modalities, dict) or hasattr(modalities, "keys"):
        if mod is None:
            raise ValueError(f"The data is a MuData; pass mod= one of its modalities {list(modalities.keys())}.")
        if mod not in modalities:
            raise ValueError(f"The MuData has no modality {mod!r}; its modalities are {list(modalities.keys())}.")
        return modalities[mod]
    raise TypeError(f"Expected an AnnData or a MuData, got {type(data).__name__}.")


def check_unique_var_names(adata: AnnData) -> None:
    """Raise for duplicated gene names (they make the adjacency ambiguous)."""
    if not adata.var_names.is_unique:
        duplicated = adata.var_names[adata.var_names.duplicated()].unique().tolist()[:5]
        raise ValueError(f"var_names are not unique (e.g. {duplicated}); call adata.var_names_make_unique() first.")


def ensure_actual(adata: AnnData) -> None:
    """Turn a view into an actual AnnData in place, quietly, before results are written into it.

    Writing into a view makes AnnData copy the data and warn (``ImplicitModificationWarning``); doing it
    once up front gives the same object without the warning. The view's parent is not modified.
    """
    if adata.is_view and hasattr(adata, "_init_as_actual"):  # what AnnData does itself on a first write
        adata._init_as_actual(adata.copy())


def time_values(adata: AnnData, time_key: str) -> np.ndarray:
    """The time of every cell from ``adata.obs[time_key]`` as float64 (NaN where missing).

    Raises
    ------
    ValueError
        If the column does not exist, or holds values that are not numbers.
    """
    if time_key not in adata.obs:
        raise ValueError(
            f"adata.obs has no column {time_key!r}.{close_matches(time_key, adata.obs.columns)} "
            "Compute a pseudotime with pathreg.pp.pseudotime(adata, root=...) or pass time_key=."
        )
    column = adata.obs[time_key]
    numeric = pd.to_numeric(
        column.astype(object) if isinstance(column.dtype, pd.CategoricalDtype) else column, errors="coerce"
    )
    not_numbers = numeric.isna().to_numpy() & column.notna().to_numpy()
    if not_numbers.any():
        examples = pd.unique(column[not_numbers].astype(str))[:3].tolist()
        raise ValueError(
            f"adata.obs[{time_key!r}] must be numeric; {int(not_numbers.sum())} of its {adata.n_obs} values are not "
            f"numbers (e.g. {examples})."
        )
    return numeric.to_numpy(dtype=np.float64)


def check_finite_time(time: np.ndarray, used: np.ndarray, time_key: str) -> None:
    """Raise for NaN or infinite times among the ``used`` cells, with their number."""
    bad = used & ~np.isfinite(time)
    if bad.any():
        n_nan = int(np.isnan(time[bad]).sum())
        raise ValueError(
            f"adata.obs[{time_key!r}] has {int(bad.sum())} NaN or infinite values ({n_nan} NaN, "
            f"{int(bad.sum()) - n_nan} infinite) among the {int(used.sum())} cells used; recompute the pseudotime "
            "or exclude those cells from the lineages."
        )


def expression(
    adata: AnnData,
    layer: str | None,
    *,
    columns: np.ndarray | None = None,
    cells: np.ndarray | None = None,
    stacklevel: int = 3,
) -> np.ndarray:
    """Dense float32 expression (``adata.X`` or ``adata.layers[layer]``), validated finite.

    Parameters
    ----------
    adata
        The data.
    layer
        Layer name; ``None`` for ``adata.X``.
    columns
        Integer positions of the genes to return (default: all), selected before densifying.
    cells
        Boolean mask of the cells whose values are used (default: all): only they must be finite.
    stacklevel
        Of the raw-counts warning, so that it points at the caller's code.

    Returns
    -------
    ``(n_obs, len(columns))`` float32, a copy.

    Raises
    ------
    ValueError
        For a missing layer, or NaN or infinite values among the used cells and genes (with their number,
        the number of cells concerned and some of the genes).

    Warns
    -----
    UserWarning
        When the values look like raw counts (all integers, some above 1): expression should be normalised
        and log-transformed.
    """
    if layer is None:
        matrix = adata.X
        where = "adata.X"
    else:
        if layer not in adata.layers:
            raise ValueError(
                f"adata.layers has no layer {layer!r}.{close_matches(layer, adata.layers.keys())} "
                f"Available layers: {list(adata.layers.keys())}; layer=None uses adata.X."
            )
        matrix = adata.layers[layer]
        where = f"adata.layers[{layer!r}]"
    if matrix is None:
        raise ValueError(f"{where} is empty; store the expression there or pass layer=.")
    if hasattr(matrix, "to_memory"):  # backed sparse datasets
        matrix = matrix.to_memory()
    if columns is None:
        columns = np.arange(adata.n_vars)
    matrix = matrix[:, columns] if sparse.issparse(matrix) else np.asarray(matrix)[:, columns]
    matrix = matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)
    matrix = matrix.astype(np.float32, copy=True)
    used = matrix if cells is None else matrix[np.asarray(cells, dtype=bool)]
    bad = ~np.isfinite(used)
    if bad.any():
        rows, cols = np.nonzero(bad)
        genes = pd.unique(adata.var_names[np.asarray(columns)[cols]])[:5].tolist()
        n_nan = int(np.isnan(used[bad]).sum())
        raise ValueError(
            f"{where} has {int(bad.sum())} NaN or infinite values ({n_nan} NaN, {int(bad.sum()) - n_nan} infinite) "
            f"in {len(np.unique(rows))} of the {used.shape[0]} cells used, in {len(np.unique(cols))} genes "
            f"(e.g. {genes}); impute or remove them first."
        )
    if used.size and used.max() > 1 and np.array_equal(used, np.round(used)):
        warnings.warn(
            f"{where} looks like raw counts (all values are integers, maximum {int(used.max())}); pathreg expects "
            "normalised, log-transformed expression: run sc.pp.normalize_total(adata) and sc.pp.log1p(adata) first.",
            UserWarning,
            stacklevel=stacklevel,
        )
    return matrix


def gene_mask(adata: AnnData, spec: GeneSpec, *, argument: str) -> np.ndarray:
    """Boolean mask over ``var_names`` for ``regulators``/``targets``: None (all), a bool var column, or names."""
    n_vars = adata.n_vars
    if spec is None:
        return np.ones(n_vars, dtype=bool)
    if isinstance(spec, str):
        if spec not in adata.var:
            hint = (
                " pathreg.pp.annotate_tfs(adata) creates the boolean column 'is_tf' (transcription factors)."
                if argument == "regulators" or spec == "is_tf"
                else ""
            )
            raise ValueError(
                f"{argument}={spec!r} is not a column of adata.var.{close_matches(spec, adata.var.columns)}{hint} "
                "Pass a boolean var column name or a list of gene names."
            )
        column = adata.var[spec]
        if column.dtype != bool:
            raise ValueError(f"adata.var[{spec!r}] must be boolean to select {argument}, got dtype {column.dtype}.")
        mask = column.to_numpy(dtype=bool)
        if not mask.any():
            raise ValueError(
                f"adata.var[{spec!r}] is False for all {n_vars} genes, so no gene is selected as {argument} "
                "(overlap 0). With pathreg.pp.annotate_tfs, check the species and the gene symbols."
            )
        return mask
    names = [str(name) for name in spec]
    present = adata.var_names.isin(names)
    missing = list(dict.fromkeys(name for name in names if name not in set(adata.var_names)))
    if not present.any():
        raise ValueError(
            f"None of the {len(names)} {argument} given is in var_names (overlap 0 of {len(names)}): "
            f"e.g. {names[:5]} were given, while var_names are e.g. {adata.var_names[:5].tolist()}. "
            "Check the gene identifiers (symbols or Ensembl IDs) and their case."
        )
    if missing:
        logger.warning(
            "%d of the %d %s are not in var_names (overlap %d), e.g. %s.",
            len(missing),
            len(names),
            argument,
            len(names) - len(missing),
            missing[:5],
        )
    return np.asarray(present, dtype=bool)


def lineage_table(adata: AnnData, lineage_key: str | None) -> pd.DataFrame:
    """Boolean cells x lineages membership from ``obsm[lineage_key]`` or a categorical ``obs[lineage_key]``."""
    if lineage_key is None:
        return pd.DataFrame({"all": np.ones(adata.n_obs, dtype=bool)}, index=adata.obs_names)
    if lineage_key in adata.obsm:
        table = adata.obsm[lineage_key]
        if isinstance(table, pd.DataFrame):
            table = table.astype(bool)
        else:
            table = np.asarray(table)
            if table.ndim != 2:
                raise ValueError(f"adata.obsm[{lineage_key!r}] must be a cells x lineages table.")
            table = pd.DataFrame(
                table.astype(bool), index=adata.obs_names, columns=[str(i) for i in range(table.shape[1])]
            )
        table.index = adata.obs_names
    elif lineage_key in adata.obs:
        column = adata.obs[lineage_key].astype("category")
        table = pd.DataFrame(
            {str(category): (column == category).to_numpy() for category in column.cat.categories},
            index=adata.obs_names,
        )
    else:
        raise ValueError(
            f"No lineages under {lineage_key!r} in adata.obsm or adata.obs."
            f"{close_matches(lineage_key, [*adata.obsm.keys(), *adata.obs.columns])} "
            "pathreg.pp.lineages(adata, paths, cell_type_key=...) creates them; lineage_key=None fits all cells as one."
        )
    empty = [name for name in table.columns if not table[name].any()]
    if empty:
        raise ValueError(f"Lineages {empty} contain no cells.")
    return table


def prior_mask(adata: AnnData, prior, target_names: Sequence[str], regulator_names: Sequence[str]) -> np.ndarray | None:
    """Boolean targets x regulators mask of allowed edges from a varp key or a DataFrame (target rows)."""
    if prior is None:
        return None
    if isinstance(prior, str):
        if prior not in adata.varp:
            raise ValueError(
                f"adata.varp has no prior {prior!r}.{close_matches(prior, adata.varp.keys())} "
                "Store a boolean target x regulator matrix there first (adata.varp[key] = mask; "
                "pathreg.datasets.bone_marrow provides 'base_grn'), or pass a DataFrame."
            )
        matrix = adata.varp[prior]
        matrix = matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)
        frame = pd.DataFrame(matrix != 0, index=adata.var_names, columns=adata.var_names)
    elif isinstance(prior, pd.DataFrame):
        frame = prior.astype(bool)
        frame = frame.reindex(index=adata.var_names, columns=adata.var_names, fill_value=False)
    else:
        raise TypeError(
            f"prior must be a varp key or a pandas DataFrame (targets x regulators), got {type(prior).__name__}."
        )
    mask = frame.loc[list(target_names), list(regulator_names)].to_numpy(dtype=bool)
    if not mask.any():
        raise ValueError("The prior allows no edge between the selected regulators and targets.")
    return mask


def stored_adjacency(adata: AnnData, key: str) -> np.ndarray:
    """The network of the fit ``key`` (``adata.varp[Key.adjacency(key)]``) as a dense array."""
    name = Key.adjacency(key)
    if name not in adata.varp:
        raise ValueError(
            f"adata.varp has no {name!r}.{close_matches(name, adata.varp.keys())} "
            "Run pathreg.tl.fit_dynamics(adata, key_added=...) first."
        )
    matrix = adata.varp[name]
    return matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)


def check_obs_key(adata: AnnData, key: object, argument: str) -> None:
    """Raise a ValueError, with close matches, when ``key`` is not a column of ``adata.obs``."""
    if not isinstance(key, str) or key not in adata.obs.columns:
        columns = [str(column) for column in adata.obs.columns]
        hint = close_matches(key, columns) if isinstance(key, str) else ""
        raise ValueError(
            f"{argument}={key!r} is not a column of adata.obs.{hint} Pass one of the obs columns {columns}."
        )
