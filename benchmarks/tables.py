"""Markdown summaries shared by the benchmarks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd


def mean_std_table(
    results: pd.DataFrame, group_key: str, metrics: Sequence[str], format_cell: Callable[[str, float, float], str]
) -> str:
    """Markdown table of one row per ``group_key`` value (in order of appearance), cells from ``format_cell``.

    ``format_cell(metric, mean, std)`` formats the mean and (population) standard deviation over the group's rows.
    """
    grouped = results.groupby(group_key, sort=False)[list(metrics)]
    means, stds = grouped.mean(), grouped.std(ddof=0)
    lines = [f"| {group_key} | " + " | ".join(metrics) + " |", "|" + " --- |" * (len(metrics) + 1)]
    for name in means.index:
        cells = [format_cell(metric, means.loc[name, metric], stds.loc[name, metric]) for metric in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(results: pd.DataFrame, table: str, output: str | None) -> int:
    """The end of a benchmark's ``main``: the per-run rows to the CSV ``output`` (if given), ``table`` to stdout."""
    import sys

    if output:
        results.to_csv(output, index=False)
    sys.stdout.write(table + "\n")
    return 0
