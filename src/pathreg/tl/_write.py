"""Writing a :class:`FitResult` into an AnnData: all keys at once, or none."""

from __future__ import annotations

import numpy as np
from anndata import AnnData

from pathreg.models import History

from .._utils import Key
from ._ensemble_fit import FitResult

_ABSENT = object()


def history_record(history: History) -> dict:
    """A training history as h5ad-writable columns (pruning records and the sparsification path as tables)."""
    record = history.to_dict()
    pruning = record.pop("pruning")
    columns = {name: np.asarray(values, dtype=np.float64) for name, values in record.items() if _numeric(values)}
    if pruning:  # records of fit(..., prune=True) as columns
        columns["pruning"] = {name: np.asarray([step[name] for step in pruning]) for name in pruning[0]}
    return columns


def sparsification_path(history: History) -> dict | None:
    """The refits along the sparsification path (``select="bic"``) as columns, or ``None``."""
    if not history.path:
        return None
    path = {
        name: np.asarray([record[name] for record in history.path], dtype=np.float64)
        for name in ("lambda_scale", "fit_loss", "n_dependencies", "n_weights", "bic")
    }
    path["selected"] = int(history.selected)
    return path


def write_fit(adata: AnnData, result: FitResult, *, key_added: str = Key.DEFAULT) -> None:
    """Write a fit's network, predictions and record into ``adata`` (the one it was read from).

    Writes ``adata.varp[Key.adjacency(key_added)]``, ``adata.layers[Key.prediction(key_added)]`` and
    ``adata.uns[key_added]`` as documented in :func:`fit_dynamics`. Every result is computed before the first
    assignment; an interruption while assigning restores the previous entries.

    Raises
    ------
    ValueError
        If ``adata`` does not have the shape of the data the problem was read from.
    """
    problem = result.problem
    if adata.shape != (problem.n_obs, problem.n_vars):
        raise ValueError(
            f"The fit was read from data of shape {(problem.n_obs, problem.n_vars)}, but adata has shape "
            f"{adata.shape}; write a fit into the AnnData it was fitted on."
        )
    prediction = np.full((adata.n_obs, adata.n_vars), np.nan, dtype=np.float32)
    prediction[:, problem.state_columns] = result.cells
    uns = {
        "params": result.params(),
        "history": history_record(result.histories[0]),
        "metrics": result.metrics(),
        "regulators": np.asarray(problem.regulator_genes, dtype=object),
        "targets": np.asarray(problem.target_genes, dtype=object),
        "lineages": {
            "names": np.asarray([lineage.name for lineage in problem.bins], dtype=object),
            "n_cells": np.asarray([len(lineage.cells) for lineage in problem.bins], dtype=np.int64),
            "n_bins": np.asarray([len(lineage.times) for lineage in problem.bins], dtype=np.int64),
        },
    }
    path = sparsification_path(result.histories[0])
    if path is not None:
        uns["sparsification_path"] = path
    assign_all(
        (
            (adata.varp, Key.adjacency(key_added), result.full_adjacency()),
            (adata.layers, Key.prediction(key_added), prediction),
            (adata.uns, Key.uns(key_added), uns),
        )
    )


def assign_all(slots) -> None:
    """``slot[name] = value`` for every ``(slot, name, value)``; on any interruption, the previous values back."""
    previous = [(slot, name, slot.get(name, _ABSENT)) for slot, name, _ in slots]
    try:
        for slot, name, value in slots:
            slot[name] = value
    except BaseException:  # e.g. KeyboardInterrupt between two assignments: no half-written set of keys
        for slot, name, value in previous:
            if value is _ABSENT:
                slot.pop(name, None)
            else:
                slot[name] = value
        raise


def _numeric(values) -> bool:
    return isinstance(values, list) and len(values) > 0 and all(isinstance(v, (int, float)) for v in values)
