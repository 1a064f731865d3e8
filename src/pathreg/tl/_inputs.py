"""Validation and extraction of what the tools read from an AnnData (nothing here writes to it)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from .._settings import logger

GeneSpec = str | Sequence[str] | None


def close_matches(name: str, candidates) -> str:
    """A ``" Close matches: ..."`` suffix for error messages (empty when there are none)."""
    matches = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=3, cutoff=0.5)
    return f" Close matches: {matches}." if matches else ""


def uns_record(adata: AnnData, key: str, *, field: str, what: str, hint: str) -> Mapping:
    """``adata.uns[key]``, a mapping with ``field``; otherwise a ValueError naming ``what`` and ``hint``."""
    record = adata.uns.get(key)
    if not isinstance(record, Mapping) or field not in record:
        raise ValueError(f"No {what} {key!r} in adata.uns.{close_matches(key, adata.uns.keys())} {hint}")
    return record


def resolve_modality(data, mod: str | None) -> AnnData:
    """The AnnData to work on: ``data`` itself, or the modality ``mod`` of a MuData."""
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


def time_values(adata: AnnData, time_key: str) -> np.ndarray:
    """The time of every cell from ``adata.obs[time_key]`` as float64."""
    if time_key not in adata.obs:
        raise ValueError(
            f"adata.obs has no column {time_key!r}.{close_matches(time_key, adata.obs.columns)} "
            "Compute a pseudotime with pathreg.pp.pseudotime(adata, root=...) or pass time_key=."
        )
    values = pd.to_numeric(adata.obs[time_key], errors="coerce").to_numpy(dtype=np.float64)
    return values


def expression(adata: AnnData, layer: str | None) -> np.ndarray:
    """Dense float32 expression (``adata.X`` or ``adata.layers[layer]``), validated finite."""
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
        raise ValueError(f"{where} is empty.")
    if hasattr(matrix, "to_memory"):  # backed datasets
        matrix = matrix.to_memory()
    matrix = matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)
    matrix = matrix.astype(np.float32, copy=True)
    bad = ~np.isfinite(matrix)
    if bad.any():
        rows, cols = np.nonzero(bad)
        genes = pd.unique(adata.var_names[cols])[:5].tolist()
        raise ValueError(
            f"{where} has {int(bad.sum())} NaN or infinite values in {len(np.unique(rows))} cells "
            f"(genes such as {genes}); impute or remove them first."
        )
    if matrix.size and matrix.max() > 20 and np.all(matrix == np.round(matrix)):
        logger.warning(
            "%s looks like raw counts (all integers, max %d); normalise and log-transform first "
            "(sc.pp.normalize_total, sc.pp.log1p).",
            where,
            int(matrix.max()),
        )
    return matrix


def gene_mask(adata: AnnData, spec: GeneSpec, *, argument: str) -> np.ndarray:
    """Boolean mask over ``var_names`` for ``regulators``/``targets``: None (all), a bool var column, or names."""
    n_vars = adata.n_vars
    if spec is None:
        return np.ones(n_vars, dtype=bool)
    if isinstance(spec, str):
        if spec not in adata.var:
            hint = " pathreg.pp.annotate_tfs(adata) creates 'is_tf'." if spec == "is_tf" else ""
            raise ValueError(
                f"{argument}={spec!r} is not a column of adata.var.{close_matches(spec, adata.var.columns)}{hint} "
                "Pass a boolean var column name or a list of gene names."
            )
        column = adata.var[spec]
        if column.dtype != bool:
            raise ValueError(f"adata.var[{spec!r}] must be boolean to select {argument}, got dtype {column.dtype}.")
        mask = column.to_numpy(dtype=bool)
    else:
        names = [str(name) for name in spec]
        present = adata.var_names.isin(names)
        missing = sorted(set(names) - set(adata.var_names))
        if missing:
            logger.warning(
                "%d of the %d %s are not in var_names, e.g. %s.", len(missing), len(names), argument, missing[:5]
            )
        mask = np.asarray(present, dtype=bool)
    if not mask.any():
        examples = list(spec)[:5] if not isinstance(spec, str) else []
        raise ValueError(
            f"No gene of var_names is selected as {argument} (overlap 0"
            + (f"; e.g. {examples} are not in var_names" if examples else "")
            + "). Check the gene names or the column."
        )
    return mask


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
                "Pass the key of a boolean target x regulator matrix in varp, or a DataFrame."
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
