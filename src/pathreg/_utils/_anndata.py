"""Validation and extraction of what the tools read from an AnnData.

Nothing here writes to it, except :func:`ensure_actual` and :func:`writing_into`, which turn a view into an
actual AnnData.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from .._settings import logger
from ._keys import Key
from ._names import close_matches, similar_names

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


@contextlib.contextmanager
def writing_into(adata: AnnData) -> Iterator[None]:
    """Make a view actual (:func:`ensure_actual`) for the writes of the block; if the block fails, the same view again.

    So that a call that raises leaves a view a view (``adata.is_view`` stays True), with its parent unmodified.
    An actual AnnData is left as it is.
    """
    restorable = adata.is_view and hasattr(adata, "_init_as_actual") and hasattr(adata, "_init_as_view")
    if not restorable:
        yield
        return
    parent, obs_index, var_index = adata._adata_ref, adata._oidx, adata._vidx
    ensure_actual(adata)
    try:
        yield
    except BaseException:  # also KeyboardInterrupt: the writes are undone by dropping the actual copy
        adata._init_as_view(parent, obs_index, var_index)
        raise


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
    """Boolean cells x lineages membership from ``obsm[lineage_key]`` or a categorical ``obs[lineage_key]``.

    A table in ``obsm`` (a DataFrame or an array) holds booleans, or the numbers 0 and 1; NaN (or another missing
    value) means "not a member". A categorical ``obs`` column makes one lineage per category.

    Raises
    ------
    ValueError
        For a missing key (with close matches), a table of other values (e.g. fate probabilities), or a lineage
        without cells.
    """
    if lineage_key is None:
        return pd.DataFrame({"all": np.ones(adata.n_obs, dtype=bool)}, index=adata.obs_names)
    if lineage_key in adata.obsm:
        table = adata.obsm[lineage_key]
        if isinstance(table, pd.DataFrame):
            names = [str(name) for name in table.columns]
            values = table.to_numpy()
        else:
            values = table.toarray() if sparse.issparse(table) else np.asarray(table)
            if values.ndim != 2:
                raise ValueError(f"adata.obsm[{lineage_key!r}] must be a cells x lineages table.")
            names = [str(i) for i in range(values.shape[1])]
        membership = _membership(values, f"adata.obsm[{lineage_key!r}]", names)
        table = pd.DataFrame(membership, index=adata.obs_names.copy(), columns=names)
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


def _membership(values: np.ndarray, where: str, names: Sequence[str]) -> np.ndarray:
    """Boolean membership from booleans or 0/1 (missing values: not a member); a ValueError for anything else."""
    if values.dtype.kind == "b":
        return values.astype(bool, copy=True)
    missing = np.asarray(pd.isna(values), dtype=bool)
    if values.dtype.kind in "iuf":
        valid = missing | (values == 0) | (values == 1)
    else:
        valid = missing | np.vectorize(_is_zero_or_one, otypes=[bool])(values)
    if not valid.all():
        columns = [names[i] for i in np.flatnonzero(~valid.all(axis=0))]
        raise ValueError(
            f"{where} must mark the cells of each lineage with booleans, or with 0 and 1 (NaN: not a member); "
            f"{int((~valid).sum())} of its values are neither, in lineages {columns[:5]}: "
            f"e.g. {_examples(values[~valid])}. "
            "Fate probabilities are not memberships: threshold them (e.g. adata.obsm[key] = probabilities > 0.5), "
            "or build the lineages with pathreg.pp.lineages / pathreg.pp.fate_lineages."
        )
    member = np.zeros(values.shape, dtype=bool)
    present = ~missing
    member[present] = values[present].astype(np.float64) == 1
    return member


def _is_zero_or_one(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return True
    return _is_real_number(value) and value in (0, 1)


def _is_real_number(value) -> bool:
    return isinstance(value, (bool, np.bool_, int, float, np.integer, np.floating))


def _examples(values: np.ndarray, n: int = 3) -> str:
    """The first ``n`` distinct values, as the user would type them."""
    return ", ".join(list(dict.fromkeys(repr(value) for value in np.asarray(values, dtype=object).tolist()))[:n])


def prior_mask(adata: AnnData, prior, target_names: Sequence[str], regulator_names: Sequence[str]) -> np.ndarray | None:
    """Boolean targets x regulators mask of allowed edges from a varp key or a DataFrame (target rows).

    Entries are booleans or numbers: True or non-zero allows the edge; False, 0 and NaN (or another missing value,
    e.g. where a table built with ``DataFrame.pivot`` has no edge) mean no edge. A DataFrame may leave out genes
    (they get no edges), but each of its row and column labels must be one of ``var_names``, once.

    Raises
    ------
    ValueError
        For a missing varp key (with close matches), entries that are neither booleans nor numbers (e.g. strings),
        DataFrame labels that are duplicated or not in ``var_names`` (listed, with close matches), or a prior that
        allows no edge between the regulators and targets.
    TypeError
        For a prior that is neither a varp key nor a DataFrame.
    """
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
        allowed = _edges(matrix, f"adata.varp[{prior!r}]")
        frame = pd.DataFrame(allowed, index=adata.var_names, columns=adata.var_names)
    elif isinstance(prior, pd.DataFrame):
        _check_prior_labels(prior, adata.var_names)
        frame = pd.DataFrame(_edges(prior.to_numpy(), "The prior DataFrame"), index=prior.index, columns=prior.columns)
        frame = frame.reindex(index=adata.var_names, columns=adata.var_names, fill_value=False)
    else:
        raise TypeError(
            f"prior must be a varp key or a pandas DataFrame (targets x regulators), got {type(prior).__name__}."
        )
    mask = frame.loc[list(target_names), list(regulator_names)].to_numpy(dtype=bool)
    if not mask.any():
        raise ValueError("The prior allows no edge between the selected regulators and targets.")
    return mask


def _edges(values: np.ndarray, where: str) -> np.ndarray:
    """Allowed edges: True or non-zero; False, 0 and missing values (NaN) are no edge; a ValueError for the rest."""
    if values.dtype.kind == "b":
        return values.astype(bool, copy=True)
    missing = np.asarray(pd.isna(values), dtype=bool)
    if values.dtype.kind in "iuf":
        numbers = ~missing
    else:
        numbers = ~missing & np.vectorize(_is_real_number, otypes=[bool])(values)
    bad = ~missing & ~numbers
    if bad.any():
        raise ValueError(
            f"{where} must hold booleans or numbers (True or non-zero: allowed edge; False, 0 or NaN: no edge), "
            f"but {int(bad.sum())} of its entries {'is' if bad.sum() == 1 else 'are'} neither, e.g. "
            f"{_examples(values[bad])}. For a table whose "
            "non-missing entries mark the edges (e.g. a mode of regulation from DataFrame.pivot), pass prior.notna()."
        )
    allowed = np.zeros(values.shape, dtype=bool)
    allowed[numbers] = values[numbers].astype(np.float64) != 0
    return allowed


def _check_prior_labels(prior: pd.DataFrame, var_names: pd.Index) -> None:
    """Raise for duplicated labels of a prior DataFrame, or labels that are not ``var_names`` (with close matches)."""
    axes = (
        ("index", "row", "targets", "prior.groupby(level=0).max()"),
        ("columns", "column", "regulators", "prior.T.groupby(level=0).max().T"),
    )
    for axis, kind, role, merge in axes:
        labels = getattr(prior, axis)
        if not labels.is_unique:
            duplicated = labels[labels.duplicated()].unique().tolist()
            raise ValueError(
                f"The prior's {axis} ({role}) has duplicated labels {duplicated[:5]}"
                f"{f' ({len(duplicated)} in all)' if len(duplicated) > 5 else ''}; each gene must be one {kind}: "
                f"merge them first, e.g. prior = {merge}."
            )
    for axis, kind, role, _ in axes:
        labels = getattr(prior, axis)
        unknown = labels[~labels.isin(var_names)].tolist()
        if unknown:
            hints = "".join(
                f" Close matches of {label!r}: {similar_names(str(label), var_names)}."
                for label in unknown[:3]
                if similar_names(str(label), var_names)
            )
            raise ValueError(
                f"{len(unknown)} of the {len(labels)} {kind} labels ({role}) of the prior are not in var_names: "
                f"{unknown[:5]}{' ...' if len(unknown) > 5 else ''}, so their edges would be lost.{hints} Rename them "
                f"to var_names (prior.rename({axis}={{...}})), or drop the genes that are not in the data: "
                "prior.loc[prior.index.isin(adata.var_names), prior.columns.isin(adata.var_names)]."
            )


def stored_adjacency(adata: AnnData, key: str, *, lineage: str | None = None) -> np.ndarray:
    """The network of the fit ``key`` as a dense array.

    The whole one (``adata.varp[Key.adjacency(key)]``), or that of ``lineage`` (:func:`lineage_varp_key`).
    """
    name = Key.adjacency(key)
    if name not in adata.varp:
        raise ValueError(
            f"adata.varp has no {name!r}.{close_matches(name, adata.varp.keys())} "
            "Run pathreg.tl.fit_dynamics(adata, key_added=...) first."
        )
    if lineage is not None:
        name = lineage_varp_key(adata, key, lineage)
    matrix = adata.varp[name]
    return matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)


def lineage_varp_key(adata, key: str, lineage: str) -> str:
    """The ``adata.varp`` name of ``lineage``'s network of the fit ``key``; a ValueError saying why there is none."""
    record = adata.uns.get(key)
    record = record if isinstance(record, Mapping) else {}
    index = record.get(Key.LINEAGE_INDEX)
    if not isinstance(index, Mapping):
        lineages = record.get("lineages", {})
        names = [str(name) for name in np.asarray(lineages.get("names", [])).ravel()]
        if len(names) == 1:
            raise ValueError(
                f"lineage={lineage!r} was given, but the fit {key!r} has one lineage ({names[0]!r}): lineage "
                "networks are written for fits of several lineages only, and this fit's network is the whole one "
                "(leave lineage=None). Fit with lineage_key= (see pathreg.pp.lineages) for per-lineage networks."
            )
        raise ValueError(
            f"The fit {key!r} has no lineage networks (no adata.uns[{key!r}][{Key.LINEAGE_INDEX!r}]; fitted with an "
            "earlier pathreg?). Refit with pathreg.tl.fit_dynamics(adata, lineage_key=...)."
        )
    lineages = [str(name) for name in np.asarray(index["lineages"]).ravel()]
    varp_keys = [str(name) for name in np.asarray(index["varp_keys"]).ravel()]
    if lineage not in lineages:
        hint = close_matches(lineage, lineages) if isinstance(lineage, str) else ""
        raise ValueError(f"The fit {key!r} has no lineage {lineage!r}; its lineages are {lineages}.{hint}")
    name = varp_keys[lineages.index(lineage)]
    if name not in adata.varp:
        raise ValueError(
            f"adata.varp has no {name!r}, the network of lineage {lineage!r} of the fit {key!r} (removed since?). "
            "Refit with pathreg.tl.fit_dynamics to write it again."
        )
    return name


def check_obs_key(adata: AnnData, key: object, argument: str) -> None:
    """Raise a ValueError, with close matches, when ``key`` is not a column of ``adata.obs``."""
    if not isinstance(key, str) or key not in adata.obs.columns:
        columns = [str(column) for column in adata.obs.columns]
        hint = close_matches(key, columns) if isinstance(key, str) else ""
        raise ValueError(
            f"{argument}={key!r} is not a column of adata.obs.{hint} Pass one of the obs columns {columns}."
        )
