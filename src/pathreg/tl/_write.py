"""Writing a :class:`FitResult` into an AnnData: all keys at once, or none."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from anndata import AnnData

from pathreg.models import History

from .._utils import Key
from ._ensemble_fit import FitResult

_ABSENT = object()
_DELETE = object()
"""The value of a slot in :func:`assign_all` that removes the entry."""


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


def write_fit(adata: AnnData, result: FitResult, *, key_added: str = Key.DEFAULT, prediction: bool = True) -> None:
    """Write a fit's network, predictions and record into ``adata`` (the one it was read from).

    Writes ``adata.varp[Key.adjacency(key_added)]``, ``adata.layers[Key.prediction(key_added)]`` (unless
    ``prediction=False``; a prediction layer of an earlier fit under the same key is then removed, so that no
    layer belongs to another fit) and ``adata.uns[key_added]`` as documented in :func:`fit_dynamics`. Every
    result is computed before the first assignment; an interruption while assigning restores the previous
    entries.

    A fit of several lineages also writes every lineage's network (:attr:`FitResult.lineage_strength`) as
    ``adata.varp[f"{key_added}_adjacency_{lineage}"]`` (float32 ``n_vars x n_vars``, the layout of the whole
    network: row target, column regulator, AnnData gene order; a ``/`` in a lineage name becomes ``_``), and
    ``adata.uns[key_added]["lineage_adjacency"]`` with the ``lineages`` and their ``varp_keys`` (two string
    arrays, in the fit's lineage order). They are in ``varp``, not ``uns``, because ``varp`` is what AnnData
    keeps aligned with the genes: ``adata[:, genes]`` subsets them together with the whole network, whereas
    matrices in ``uns`` would silently keep the old genes. Read them with
    ``pathreg.tl.grn(adata, lineage=...)``. Lineage networks of an earlier fit under the same key are removed.

    Raises
    ------
    ValueError
        If ``adata`` does not have the shape of the data the problem was read from.
    TypeError
        If ``prediction`` is not a bool (:func:`check_prediction`).
    """
    check_prediction(prediction)
    problem = result.problem
    if adata.shape != (problem.n_obs, problem.n_vars):
        raise ValueError(
            f"The fit was read from data of shape {(problem.n_obs, problem.n_vars)}, but adata has shape "
            f"{adata.shape}; write a fit into the AnnData it was fitted on."
        )
    layer = _DELETE
    if prediction:
        layer = np.full((adata.n_obs, adata.n_vars), np.nan, dtype=np.float32)
        layer[:, problem.state_columns] = result.cells
    uns = {
        "params": {**result.params(), "prediction": bool(prediction)},
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
    lineage_slots = lineage_network_slots(adata, result, key_added)
    if result.lineage_strength:
        uns[Key.LINEAGE_INDEX] = {
            "lineages": np.asarray(list(result.lineage_strength), dtype=object),
            "varp_keys": np.asarray(lineage_varp_keys(key_added, list(result.lineage_strength)), dtype=object),
        }
    assign_all(
        (
            (adata.varp, Key.adjacency(key_added), result.full_adjacency()),
            *lineage_slots,
            (adata.layers, Key.prediction(key_added), layer),
            (adata.uns, Key.uns(key_added), uns),
        )
    )


def check_prediction(prediction) -> None:
    """Raise a TypeError unless ``prediction`` is a bool (a string or a NaN would otherwise count as ``True``)."""
    if not isinstance(prediction, bool | np.bool_):
        raise TypeError(f"prediction must be True or False, got {prediction!r} ({type(prediction).__name__}).")


def lineage_varp_keys(key_added: str, lineages: Sequence[str]) -> list[str]:
    """The ``adata.varp`` names of the lineage networks: ``f"{key_added}_adjacency_{lineage}"``, h5ad-safe.

    A ``/`` (a group separator in HDF5) becomes ``_``; names that then coincide get a suffix ``_2``, ``_3``, ...

    Examples
    --------
    >>> lineage_varp_keys("pathreg", ["Ery", "Mo/Neu", "Mo_Neu"])
    ['pathreg_adjacency_Ery', 'pathreg_adjacency_Mo_Neu', 'pathreg_adjacency_Mo_Neu_2']
    """
    keys: list[str] = []
    for lineage in lineages:
        base = f"{Key.adjacency(key_added)}_{str(lineage).replace('/', '_')}"
        name, suffix = base, 2
        while name in keys:
            name, suffix = f"{base}_{suffix}", suffix + 1
        keys.append(name)
    return keys


def lineage_network_slots(adata: AnnData, result: FitResult, key_added: str) -> list[tuple]:
    """The :func:`assign_all` slots of the lineage networks, and removals of an earlier fit's stale ones."""
    networks = result.lineage_adjacency()
    names = lineage_varp_keys(key_added, list(networks))
    slots = [(adata.varp, name, matrix) for name, matrix in zip(names, networks.values(), strict=True)]
    stale = [name for name in previous_lineage_keys(adata, key_added) if name not in names and name in adata.varp]
    return slots + [(adata.varp, name, _DELETE) for name in stale]


def previous_lineage_keys(adata: AnnData, key_added: str) -> list[str]:
    """The varp names of the lineage networks recorded by an earlier fit under ``key_added`` (``[]``: none)."""
    record = adata.uns.get(Key.uns(key_added))
    index = record.get(Key.LINEAGE_INDEX) if isinstance(record, Mapping) else None
    if not isinstance(index, Mapping) or "varp_keys" not in index:
        return []
    return [str(name) for name in np.asarray(index["varp_keys"]).ravel()]


def assign_all(slots) -> None:
    """``slot[name] = value`` for every ``(slot, name, value)``; on any interruption, the previous values back.

    A value ``_DELETE`` removes ``slot[name]``.
    """
    previous = [(slot, name, slot.get(name, _ABSENT)) for slot, name, _ in slots]
    try:
        for slot, name, value in slots:
            if value is _DELETE:
                slot.pop(name, None)
            else:
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
