"""Grouped bars of the prediction error per batch and method, from ``tl.evaluate_generalization``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib.axes import Axes

from pathreg._utils import GENERALIZATION_COLUMNS as COLUMNS
from pathreg._utils import close_matches, resolve_modality, uns_record

from ._utils import finish

SPARSITY_COLUMNS = ("feature_sparsity", "weight_sparsity", "spurious_feature_sparsity")
"""Per-method columns drawn in the sparsity panel (those that are not all NaN)."""


def generalization_frame(results, *, key: str = "generalization", mod: str | None = None) -> pd.DataFrame:
    """The table of :func:`pathreg.tl.evaluate_generalization`: ``results`` itself or ``adata.uns[key]["table"]``."""
    if isinstance(results, pd.DataFrame):
        table = results
    elif isinstance(results, AnnData) or hasattr(results, "mod"):
        data = resolve_modality(results, mod)
        record = uns_record(
            data,
            key,
            field="table",
            what="generalization results",
            hint="Run pathreg.tl.evaluate_generalization(adata, ...) first, or pass key= its key_added.",
        )
        table = pd.DataFrame({column: np.asarray(values) for column, values in record["table"].items()})
    else:
        raise TypeError(
            "results must be the DataFrame returned by pathreg.tl.evaluate_generalization or an AnnData "
            f"holding it, got {type(results).__name__}."
        )
    missing = [column for column in ("method", "batch", "split", "lineage") if column not in table.columns]
    if missing:
        raise ValueError(
            f"results lacks the columns {missing}; expected those of evaluate_generalization: {list(COLUMNS)}."
        )
    return table


def generalization(
    results,
    *,
    key: str = "generalization",
    metric: str = "mse",
    split: Literal["test", "train", "all"] = "test",
    aggregate: Literal["mean", "sum"] = "mean",
    sparsity: bool = True,
    log: bool = False,
    mod: str | None = None,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
):
    """Prediction error of every method on every batch, from :func:`pathreg.tl.evaluate_generalization`.

    Left: grouped bars, one group per batch and one bar per method, of ``metric`` over the batch's
    lineages (their mean, or sum). Right (``sparsity=True``): the sparsity of every method's fit
    (``feature_sparsity``, ``weight_sparsity`` and, where computed, ``spurious_feature_sparsity``: the
    fraction of dependencies on spurious inputs pruned), one group per method; the legend of the left
    panel repeats each method's feature sparsity.

    Parameters
    ----------
    results
        The DataFrame returned by :func:`pathreg.tl.evaluate_generalization`, or the AnnData (MuData with
        ``mod``) it stored its table in.
    key
        Its ``key_added`` (when ``results`` is an AnnData).
    metric
        Numeric column to draw per batch.
    split
        ``"test"`` (the held-out batches), ``"train"`` or ``"all"`` (training batches labelled ``(train)``).
    aggregate
        How a batch's lineages combine: ``"mean"`` or ``"sum"``.
    sparsity
        Draw the sparsity panel (needs two Axes when ``ax`` is given).
    log
        Logarithmic axis for the metric.
    mod
        Modality of a MuData.
    ax
        One Axes (the metric only, or with ``sparsity=False``) or two (metric, sparsity).
    show
        Show the figure (``None``: when matplotlib is interactive); nothing is returned then.

    Returns
    -------
    The Axes with one panel, the Figure with two, when not shown.

    Examples
    --------
    >>> table = pathreg.tl.evaluate_generalization(adata, batch_key="donor", train_batches=["d1"])  # doctest: +SKIP
    >>> pathreg.pl.generalization(table, metric="mse")  # doctest: +SKIP
    """
    table = generalization_frame(results, key=key, mod=mod)
    if metric not in table.columns:
        raise ValueError(f"results has no column {metric!r}.{close_matches(metric, table.columns)}")
    if not pd.api.types.is_numeric_dtype(table[metric]):
        raise ValueError(f"metric {metric!r} is not a numeric column.")
    if split not in ("test", "train", "all"):
        raise ValueError(f"split must be 'test', 'train' or 'all', got {split!r}.")
    if aggregate not in ("mean", "sum"):
        raise ValueError(f"aggregate must be 'mean' or 'sum', got {aggregate!r}.")
    rows = table if split == "all" else table[table["split"].astype(str) == split]
    if rows.empty:
        raise ValueError(f"results has no rows with split {split!r}; its splits are {sorted(set(table['split']))}.")
    methods = list(pd.unique(table["method"].astype(str)))
    sparsity_columns = [
        column
        for column in SPARSITY_COLUMNS
        if column in table.columns and np.isfinite(table[column].to_numpy(dtype=np.float64)).any()
    ]
    n_panels = 2 if sparsity and sparsity_columns else 1
    if ax is None:
        width = 1.2 + 0.5 * rows["batch"].nunique() * len(methods)
        figure, grid = plt.subplots(1, n_panels, figsize=(max(width, 4.0) + 3.5 * (n_panels - 1), 3.6), squeeze=False)
        panels = list(grid.ravel())
    else:
        panels = [ax] if isinstance(ax, Axes) else list(ax)
        if len(panels) < n_panels:
            n_panels = 1
        figure = panels[0].figure

    grouped = rows.assign(method=rows["method"].astype(str), batch=rows["batch"].astype(str))
    values = grouped.groupby(["batch", "method"], sort=False)[metric].agg(aggregate).unstack("method")
    values = values.reindex(columns=methods)
    splits = grouped.groupby("batch", sort=False)["split"].first()
    labels = [f"{batch} (train)" if split == "all" and splits[batch] == "train" else batch for batch in values.index]
    per_method = table.assign(method=table["method"].astype(str)).groupby("method", sort=False)
    colors = plt.get_cmap("tab10").colors
    bar_width = 0.8 / len(methods)
    panel = panels[0]
    positions = np.arange(len(values.index))
    for number, method in enumerate(methods):
        label = method
        if "feature_sparsity" in sparsity_columns:
            label = f"{method} (feature sparsity {per_method['feature_sparsity'].mean()[method]:.2f})"
        panel.bar(
            positions + (number - (len(methods) - 1) / 2) * bar_width,
            values[method].to_numpy(dtype=np.float64),
            width=bar_width,
            color=colors[number % len(colors)],
            label=label,
        )
    panel.set_xticks(positions)
    panel.set_xticklabels(labels)
    panel.set_xlabel("batch" if split == "all" else f"{split} batch")
    panel.set_ylabel(f"{metric} ({aggregate} over lineages)")
    if log:
        panel.set_yscale("log")
    panel.legend(fontsize="x-small", frameon=False)
    panel.set_title(f"{metric} per batch")

    if n_panels == 2:
        right = panels[1]
        sparsities = per_method[sparsity_columns].mean().reindex(methods)
        column_width = 0.8 / len(sparsity_columns)
        shades = plt.get_cmap("Greys")(np.linspace(0.4, 0.85, len(sparsity_columns)))
        method_positions = np.arange(len(methods))
        for number, column in enumerate(sparsity_columns):
            right.bar(
                method_positions + (number - (len(sparsity_columns) - 1) / 2) * column_width,
                sparsities[column].to_numpy(dtype=np.float64),
                width=column_width,
                color=shades[number],
                label=column.replace("_", " "),
            )
        right.set_xticks(method_positions)
        right.set_xticklabels(methods)
        right.set_ylim(0.0, 1.0)
        right.set_ylabel("fraction exactly zero")
        right.set_title("sparsity of the fit")
        right.legend(fontsize="x-small", frameon=False)
    if ax is None:
        figure.tight_layout()
    return finish(panel if n_panels == 1 else figure, show)
