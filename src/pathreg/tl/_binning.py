"""From cells ordered by (pseudo)time to the trajectories a neural ODE is fitted to.

Construction (per lineage): the lineage's cells are sorted by time and cut into ``n_bins`` bins of
(nearly) equal numbers of cells; a bin's observation is the mean expression of its cells at
their mean time. Time is scaled to ``[0, 1]`` over all cells used (``(t - t_min) / (t_max -
t_min)``), so one unit of model time is the whole process. Bin means average out the noise of
single cells and give every lineage the same weight whatever its number of cells.

The model is fitted by *multiple shooting*: every bin starts a short trajectory over the next
``window`` bins from its own observed mean. Lineages that share their first cells (the root
belongs to every lineage) then need no common initial state from which one deterministic ODE
could not branch, and errors do not accumulate over the whole time span. Predictions for the
whole lineage are integrated from its first bin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from pathreg.models import Trajectories


@dataclass
class LineageBins:
    """Binned observations of one lineage.

    Attributes
    ----------
    name
        Lineage name.
    times
        Scaled mean time of every bin, ``(n_bins,)``, strictly increasing.
    means
        Mean expression per bin, ``(n_bins, n_genes)``.
    counts
        Cells per bin.
    cells
        Integer positions (in the AnnData) of the lineage's cells, in time order.
    cell_times
        Model time of every cell of ``cells`` (``None``: the scaled input time).
    """

    name: str
    times: np.ndarray
    means: np.ndarray
    counts: np.ndarray
    cells: np.ndarray
    cell_times: np.ndarray | None = None


def scale_time(time: np.ndarray, used: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Scale ``time`` to ``[0, 1]`` over the ``used`` cells; returns scaled times, offset and span."""
    t_min, t_max = float(time[used].min()), float(time[used].max())
    span = t_max - t_min
    if not span > 0:
        raise ValueError(
            f"The time of all {int(np.count_nonzero(used))} cells used is the same ({t_min}); a dynamical model "
            "needs time to vary. Check the time column (e.g. recompute pathreg.pp.pseudotime)."
        )
    return (time - t_min) / span, t_min, span


def bin_lineages(
    time: np.ndarray, expression: np.ndarray, lineages: pd.DataFrame, *, n_bins: int, time_scale: str
) -> list[LineageBins]:
    """Bin every lineage's cells along time into ``n_bins`` bins of equal cell counts.

    ``time_scale="pseudotime"``: a bin's time is the mean (scaled) time of its cells.
    ``time_scale="rank"``: the model time of a cell is its rank along the lineage's (pseudo)time,
    scaled to ``[0, 1]``; bins of equal cell counts are then equally spaced. This assumes cells are
    sampled at a constant rate along the process, so that the density of cells along pseudotime
    measures the time spent there (pseudotime itself measures change of expression, not time:
    dwelling in a steady state and fast transitions look alike).

    Raises
    ------
    ValueError
        For a lineage with fewer than ``2 * n_bins`` cells, NaN or infinite times among its cells, or a
        constant time (each with the number of cells).
    """
    result = []
    for name in lineages.columns:
        cells = np.flatnonzero(lineages[name].to_numpy())
        lineage_time = time[cells]
        if not np.isfinite(lineage_time).all():
            raise ValueError(
                f"{int((~np.isfinite(lineage_time)).sum())} of the {len(cells)} cells of lineage {name!r} have no "
                "finite time (NaN or infinite); remove them from the lineage or recompute the pseudotime."
            )
        constant = ValueError(
            f"All {len(cells)} cells of lineage {name!r} have the same time ({lineage_time[0]}); "
            "a dynamical model needs time to vary."
        )
        if lineage_time.min() == lineage_time.max():
            raise constant
        if len(cells) < 2 * n_bins:
            raise ValueError(
                f"Lineage {name!r} has {len(cells)} cells; binning into n_bins={n_bins} needs at least "
                f"{2 * n_bins}. Lower n_bins or add cells."
            )
        order = np.argsort(lineage_time, kind="stable")
        cells = cells[order]
        chunks = np.array_split(np.arange(len(cells)), n_bins)
        times = np.array([time[cells[chunk]].mean() for chunk in chunks])
        # ties in time: merge bins with equal mean times (equal up to the rounding of the means)
        tied = np.diff(times) <= 1e-12 * max(1.0, float(np.abs(times).max()))
        if tied.any():
            chunks = _merge_tied(chunks, np.concatenate([[True], ~tied]))
            times = np.array([time[cells[chunk]].mean() for chunk in chunks])
        if len(chunks) < 2:
            raise constant
        cell_times = None
        if time_scale == "rank":
            cell_times = (np.arange(len(cells)) + 0.5) / len(cells)
            times = np.array([cell_times[chunk].mean() for chunk in chunks])
        elif time_scale != "pseudotime":
            raise ValueError(f"time_scale must be 'pseudotime' or 'rank', got {time_scale!r}.")
        means = np.stack([expression[cells[chunk]].mean(axis=0) for chunk in chunks])
        counts = np.array([len(chunk) for chunk in chunks])
        result.append(LineageBins(str(name), times, means.astype(np.float32), counts, cells, cell_times))
    return result


def _merge_tied(chunks: list[np.ndarray], keep: np.ndarray) -> list[np.ndarray]:
    merged: list[np.ndarray] = []
    for chunk, new in zip(chunks, keep, strict=True):
        if new or not merged:
            merged.append(chunk)
        else:
            merged[-1] = np.concatenate([merged[-1], chunk])
    return merged


def shooting_windows(bins: list[LineageBins], window: int | None) -> Trajectories:
    """Training trajectories: from every bin over the next ``window`` bins (``None``: whole lineages)."""
    times, values = [], []
    for lineage in bins:
        if window is None:
            starts, length = [0], len(lineage.times)
        else:
            starts, length = range(len(lineage.times) - 1), window + 1
        for start in starts:
            times.append(torch.as_tensor(lineage.times[start : start + length], dtype=torch.float32))
            values.append(torch.as_tensor(lineage.means[start : start + length]))
    return Trajectories.from_arrays(times, values)


def whole_lineages(bins: list[LineageBins]) -> Trajectories:
    """Every lineage as one trajectory from its first bin."""
    return shooting_windows(bins, None)


def derivative_estimates(bins: list[LineageBins]) -> tuple[torch.Tensor, torch.Tensor]:
    """Bin means and their time derivatives by second-order finite differences along each lineage.

    Returns
    -------
    ``(states, derivatives)``, each ``(total number of bins, n_genes)``.
    """
    states, derivatives = [], []
    for lineage in bins:
        states.append(lineage.means)
        derivatives.append(
            np.gradient(lineage.means, lineage.times, axis=0, edge_order=2 if len(lineage.times) > 2 else 1)
        )
    return (
        torch.as_tensor(np.concatenate(states), dtype=torch.float32),
        torch.as_tensor(np.concatenate(derivatives).astype(np.float32)),
    )
