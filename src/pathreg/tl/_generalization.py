"""``tl.evaluate_generalization``: fit on some batches (donors, sequencing runs), predict the others."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pathreg.models import METHODS

from .._settings import logger
from ._fit import fit_dynamics
from ._inputs import close_matches, lineage_table, resolve_modality
from ._predict import predict

COLUMNS = (
    "method",
    "batch",
    "split",
    "lineage",
    "mse",
    "feature_sparsity",
    "weight_sparsity",
    "spurious_feature_sparsity",
)


def _spurious_sparsity(adjacency: np.ndarray, regulator_columns: np.ndarray, spurious: np.ndarray) -> float:
    """Fraction of (target, spurious input) dependencies that are exactly zero; NaN without spurious inputs."""
    columns = regulator_columns & spurious
    if not columns.any():
        return float("nan")
    return float(np.mean(adjacency[:, columns] == 0))


def _evaluation_bins(cells, lineage_key: str | None, model) -> int:
    """The fit's bin count, fewer where a batch's smallest lineage has fewer than two cells per bin."""
    counts = lineage_table(cells, lineage_key).to_numpy().sum(axis=0)
    smallest = int(counts[counts > 0].min()) if (counts > 0).any() else 0
    return max(2, min(int(model.metadata["n_bins"]), smallest // 2))


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
    **fit_options,
) -> pd.DataFrame:
    """Fit on the training batches and predict every batch from its own initial states.

    For every method, :func:`fit_dynamics` is fitted on the cells of ``train_batches`` (together); then
    every lineage of every batch (training and test) is integrated from that batch's own first bin
    with :func:`predict` and compared with its bin means (the fit's number of bins, fewer where a batch's
    smallest lineage has fewer than two cells per bin). A model that learned the dynamics rather
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
    **fit_options
        Passed to :func:`fit_dynamics` (e.g. ``time_key``, ``regulators``, ``n_epochs``, ``seed``).

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
    unknown_methods = [method for method in methods if method not in METHODS]
    if unknown_methods:
        raise ValueError(f"Unknown methods {unknown_methods}; valid names are {list(METHODS)}.")
    spurious = None
    if spurious_key is not None:
        if spurious_key not in data.var:
            raise ValueError(
                f"adata.var has no column {spurious_key!r}.{close_matches(spurious_key, data.var.columns)}"
            )
        spurious = data.var[spurious_key].to_numpy(dtype=bool)
    train = data[batches.isin(train_batches).to_numpy()].copy()
    rows = []
    for method in methods:
        logger.info("Generalization: fitting %s on %s.", method, train_batches)
        model = fit_dynamics(train, method=method, lineage_key=lineage_key, key_added="_fit", **fit_options)
        adjacency = np.asarray(train.varp["_fit_adjacency"])
        metrics = train.uns["_fit"]["metrics"]
        regulator_columns = train.var_names.isin(list(train.uns["_fit"]["regulators"]))
        spurious_sparsity = (
            float("nan") if spurious is None else _spurious_sparsity(adjacency, regulator_columns, spurious)
        )
        for batch in train_batches + test_batches:
            cells = data[(batches == batch).to_numpy()].copy()
            errors = predict(
                cells,
                model,
                lineage_key=lineage_key,
                n_bins=_evaluation_bins(cells, lineage_key, model),
                key_added="_predict",
            )
            for lineage, mse in errors.items():
                rows.append(
                    {
                        "method": method,
                        "batch": batch,
                        "split": "train" if batch in train_batches else "test",
                        "lineage": str(lineage),
                        "mse": float(mse),
                        "feature_sparsity": float(metrics["feature_sparsity"]),
                        "weight_sparsity": float(metrics["weight_sparsity"]),
                        "spurious_feature_sparsity": spurious_sparsity,
                    }
                )
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    data.uns[key_added] = {
        "table": {column: table[column].to_numpy() for column in COLUMNS},
        "params": {"batch_key": batch_key, "train_batches": train_batches, "test_batches": test_batches},
    }
    return table
