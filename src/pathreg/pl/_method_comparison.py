"""Methods x metrics chart of benchmark results, one circle per method and metric."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap

from pathreg._utils import close_matches

from ._utils import finish

LOWER_IS_BETTER_WORDS = ("mse", "seconds")


def _lower_is_better(metric: str) -> bool:
    return any(word in metric.lower() for word in LOWER_IS_BETTER_WORDS)


def method_comparison(
    results: pd.DataFrame,
    *,
    method_key: str = "method",
    metrics: Sequence[str] | None = None,
    higher_is_better: Mapping[str, bool] | None = None,
    annotate: bool = True,
    cmap: str = "Blues",
    ax: Axes | None = None,
    show: bool | None = None,
) -> Axes | None:
    r"""Methods x metrics chart of benchmark results, as in the PathReg paper's Figures 3 and 6.

    Rows of ``results`` are averaged per method (e.g. over seeds). Every (method, metric) pair gets a
    circle whose area grows with the metric scaled to ``[0, 1]`` within the metric, the best method
    largest and the worst smallest,

    .. math::
        s = \frac{v - v_{\min}}{v_{\max} - v_{\min}} \quad\text{or}\quad
        s = \frac{v_{\max} - v}{v_{\max} - v_{\min}} \ \text{(lower is better)},

    (all 1 when every method ties), and whose shade is the method's rank within the metric (darkest =
    rank 1 = best; ties share the better rank). Missing (NaN) means are marked ``n/a`` without a circle.

    Parameters
    ----------
    results
        One row per run, e.g. the CSV of ``python -m benchmarks.synthetic`` (``method_key="method"``)
        or of ``python -m benchmarks.krumsiek11`` (``method_key="variant"``).
    method_key
        Column naming the method of each row.
    metrics
        Metric columns, in order; default: every numeric column except ``method_key`` and ``"seed"``.
    higher_is_better
        Direction per metric; metrics not listed: lower is better when the name contains ``"mse"`` or
        ``"seconds"``, higher otherwise. Lower-is-better metrics are labelled with a down arrow.
    annotate
        Write each mean under its circle.
    cmap
        Sequential colour map of the ranks.
    ax
        Axes to draw into.
    show
        Show the figure (``None``: when matplotlib is interactive); nothing is returned then.

    Returns
    -------
    The Axes when not shown.

    Examples
    --------
    >>> results = pd.read_csv("synthetic.csv")  # doctest: +SKIP
    >>> pathreg.pl.method_comparison(results, higher_is_better={"weight_sparsity": True})  # doctest: +SKIP
    """
    if not isinstance(results, pd.DataFrame):
        raise TypeError(f"results must be a pandas DataFrame, got {type(results).__name__}.")
    if method_key not in results.columns:
        raise ValueError(
            f"results has no column {method_key!r}.{close_matches(method_key, results.columns)} "
            "Pass method_key= the column naming the methods (e.g. 'variant' for the krumsiek11 benchmark)."
        )
    if metrics is None:
        metrics = [
            column
            for column in results.columns
            if column not in (method_key, "seed") and pd.api.types.is_numeric_dtype(results[column])
        ]
        if not metrics:
            raise ValueError("results has no numeric metric columns besides method_key and 'seed'.")
    else:
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        missing = [metric for metric in metrics if metric not in results.columns]
        if missing:
            hints = "".join(close_matches(metric, results.columns) for metric in missing)
            raise ValueError(f"Metrics {missing} are not columns of results.{hints}")
        if not metrics:
            raise ValueError("metrics is empty.")
        not_numeric = [metric for metric in metrics if not pd.api.types.is_numeric_dtype(results[metric])]
        if not_numeric:
            raise ValueError(f"Metrics {not_numeric} are not numeric columns.")
    directions = dict(higher_is_better or {})
    unknown = sorted(set(directions) - set(metrics))
    if unknown:
        raise ValueError(f"higher_is_better names {unknown}, which are not among the metrics {metrics}.")
    higher = {metric: bool(directions.get(metric, not _lower_is_better(metric))) for metric in metrics}

    grouped = results.groupby(method_key, sort=False)[metrics]
    means = grouped.mean()
    n_runs = grouped.size()
    methods = [str(method) for method in means.index]
    n_methods = len(methods)

    xs, ys, sizes, ranks = [], [], [], []
    missing_cells = []
    for column, metric in enumerate(metrics):
        values = means[metric].to_numpy(dtype=np.float64)
        finite = np.isfinite(values)
        if not finite.any():
            missing_cells.extend((column, row) for row in range(n_methods))
            continue
        low, high = values[finite].min(), values[finite].max()
        scaled = (values - low) / (high - low) if high > low else np.ones_like(values)
        if not higher[metric] and high > low:
            scaled = 1.0 - scaled
        rank = pd.Series(values).rank(ascending=not higher[metric], method="min").to_numpy()
        for row in range(n_methods):
            if finite[row]:
                xs.append(column)
                ys.append(row)
                sizes.append(scaled[row])
                ranks.append(rank[row])
            else:
                missing_cells.append((column, row))

    if ax is None:
        _, ax = plt.subplots(figsize=(1.3 * len(metrics) + 3.0, 0.55 * n_methods + 1.6))
    colors = ListedColormap(plt.get_cmap(cmap)(np.linspace(0.95, 0.3, n_methods)))
    norm = BoundaryNorm(np.arange(0.5, n_methods + 1.5), colors.N)
    circles = ax.scatter(
        xs,
        ys,
        s=40 + 560 * np.asarray(sizes, dtype=np.float64),
        c=ranks,
        cmap=colors,
        norm=norm,
        edgecolors="#404040",
        linewidths=0.5,
    )
    if annotate:
        for column, row in zip(xs, ys, strict=True):
            value = means.iloc[row, column]
            ax.annotate(
                f"{value:.3g}",
                (column, row),
                xytext=(0, -15),
                textcoords="offset points",
                ha="center",
                va="top",
                fontsize="x-small",
            )
    for column, row in missing_cells:
        ax.text(column, row, "n/a", ha="center", va="center", fontsize="x-small", color="#808080")
    colorbar = ax.figure.colorbar(circles, ax=ax, ticks=np.arange(1, n_methods + 1), shrink=0.8)
    colorbar.set_label("rank (1 = best)")
    colorbar.ax.invert_yaxis()
    ax.set_xticks(range(len(metrics)))
    ax.set_xticklabels([f"{metric} {'↑' if higher[metric] else '↓'}" for metric in metrics], rotation=30, ha="right")
    ax.set_yticks(range(n_methods))
    ax.set_yticklabels(methods)
    ax.set_xlim(-0.6, len(metrics) - 0.4)
    ax.set_ylim(n_methods - 0.4, -0.6)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if n_runs.max() > 1:
        ax.set_title(f"mean over {n_runs.iloc[0]} runs" if n_runs.nunique() == 1 else "mean over runs")
    return finish(ax, show)
