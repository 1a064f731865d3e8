"""``tl.evaluate_generalization``: fit on some batches (donors, sequencing runs), predict the others."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pathreg.metrics import spurious_feature_sparsity
from pathreg.models import METHODS

from .._settings import logger
from .._utils import GENERALIZATION_COLUMNS, check_choice, close_matches, lineage_table, resolve_modality
from ._ensemble_fit import fit_ensemble
from ._predict import predict
from ._problem import DynamicsProblem
from ._settings import FitSettings, split_fit_options

COLUMNS = GENERALIZATION_COLUMNS


def _evaluation_bins(cells, lineage_key: str | None, n_bins: int) -> int:
    """The fit's bin count, fewer where a batch's smallest lineage has fewer than two cells per bin."""
    counts = lineage_table(cells, lineage_key).to_numpy().sum(axis=0)
    smallest = int(counts[counts > 0].min()) if (counts > 0).any() else 0
    return max(2, min(int(n_bins), smallest // 2))


def evaluate_generalization(
    adata,
    *,
    batch_key: str,
    train_batches: Sequence[str],
    test_batches: Sequence[str] | None = None,
    methods: Sequence[str] = ("pathreg",),
    lineage_key: str | None = None,
    spurious_key: str | None = None,
    key_added: str = "generalization",
    mod: str | None = None,
    fit_kwargs: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Fit on the training batches and predict every batch from its own initial states.

    For every method, :func:`fit_dynamics` is fitted on the cells of ``train_batches`` (together); then
    every lineage of every batch (training and test) is integrated from that batch's own first bin
    with :func:`predict` (the mean over the ensemble's members) and compared with its bin means (the fit's
    number of bins, fewer where a batch's smallest lineage has fewer than two cells per bin). A model that
    learned the dynamics rather
    than the training batches' trajectories keeps its error on the test batches.

    Parameters
    ----------
    adata
        AnnData (or MuData with ``mod``) with a batch column, time and (optionally) lineages.
    batch_key
        Column of ``adata.obs`` with the batch (donor, sample, sequencing run) of every cell.
    train_batches
        Batches to fit on.
    test_batches
        Batches to evaluate (default: all others).
    methods
        Names of :data:`pathreg.models.METHODS` to compare.
    lineage_key
        Lineages as in :func:`fit_dynamics` (an obsm table or a categorical obs column); ``None``: one per batch.
    spurious_key
        Optional boolean ``adata.var`` column marking inputs that should not regulate anything (e.g. genes
        that are not TFs of a base network): reported as ``spurious_feature_sparsity``, the fraction of
        dependencies on them that were pruned.
    key_added
        The table is stored in ``adata.uns[key_added]`` (as a dict of columns).
    mod
        Modality of a MuData.
    fit_kwargs
        Arguments of :func:`fit_dynamics` for the fits (e.g. ``{"time_key": ..., "regulators": ..., "seed": 0,
        "training": {"n_epochs": 500}, "device": "cpu", "progress": False}``), except ``method`` and
        ``lineage_key``, which are set here.

    Returns
    -------
    One row per method, batch and lineage with the columns ``method``, ``batch``, ``split`` (``"train"`` or
    ``"test"``), ``lineage``, ``mse``, ``feature_sparsity``, ``weight_sparsity`` and ``spurious_feature_sparsity``.
    """
    data = resolve_modality(adata, mod)
    if batch_key not in data.obs:
        raise ValueError(
            f"adata.obs has no column {batch_key!r}.{close_matches(batch_key, data.obs.columns)} Pass batch_key=."
        )
    batches = data.obs[batch_key].astype(str)
    available = sorted(batches.unique())
    train_batches = [str(batch) for batch in train_batches]
    test_batches = (
        [b for b in available if b not in train_batches] if test_batches is None else list(map(str, test_batches))
    )
    unknown = sorted(set(train_batches + test_batches) - set(available))
    if unknown or not train_batches:
        raise ValueError(f"Unknown or no training batches {unknown or train_batches}; the batches are {available}.")
    for method in methods:
        check_choice(method, METHODS, "method")
    problem_options, settings_options, runtime = split_fit_options(fit_kwargs)
    reserved = sorted({"method", "lineage_key"} & {*problem_options, *settings_options})
    if reserved:
        raise TypeError(f"evaluate_generalization sets {reserved} itself; use methods= and lineage_key=.")
    spurious = None
    if spurious_key is not None:
        if spurious_key not in data.var:
            raise ValueError(
                f"adata.var has no column {spurious_key!r}.{close_matches(spurious_key, data.var.columns)}"
            )
        spurious = data.var[spurious_key].to_numpy(dtype=bool)
    train = data[batches.isin(train_batches).to_numpy()].copy()
    problem = DynamicsProblem.from_anndata(train, lineage_key=lineage_key, **problem_options)
    settings = [FitSettings.from_options(settings_options, method=method) for method in methods]
    rows = []
    for method_settings in settings:
        logger.info("Generalization: fitting %s on %s.", method_settings.method, train_batches)
        result = fit_ensemble(problem, method_settings, **runtime)
        rows += _rows(data, batches, result, train_batches, test_batches, lineage_key, spurious)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    data.uns[key_added] = {
        "table": {column: table[column].to_numpy() for column in COLUMNS},
        "params": {"batch_key": batch_key, "train_batches": train_batches, "test_batches": test_batches},
    }
    return table


def _rows(data, batches, result, train_batches, test_batches, lineage_key, spurious) -> list[dict]:
    """The table's rows of one fitted method: every lineage of every batch predicted from its own start."""
    metrics = result.metrics()
    regulator_columns = np.zeros(data.n_vars, dtype=bool)
    regulator_columns[result.problem.state_columns[result.problem.input_index]] = True
    adjacency = result.full_adjacency()
    spurious_sparsity = (
        float("nan") if spurious is None else spurious_feature_sparsity(adjacency, regulator_columns, spurious)
    )
    rows = []
    for batch in train_batches + test_batches:
        cells = data[(batches == batch).to_numpy()].copy()
        errors = predict(
            cells,
            result.ensemble,
            lineage_key=lineage_key,
            n_bins=_evaluation_bins(cells, lineage_key, result.problem.n_bins),
            key_added="prediction",
        )
        for lineage, mse in errors.items():
            rows.append(
                {
                    "method": result.settings.method,
                    "batch": batch,
                    "split": "train" if batch in train_batches else "test",
                    "lineage": str(lineage),
                    "mse": float(mse),
                    "feature_sparsity": float(metrics["feature_sparsity"]),
                    "weight_sparsity": float(metrics["weight_sparsity"]),
                    "spurious_feature_sparsity": spurious_sparsity,
                }
            )
    return rows
