"""Reading a fitted ensemble back into gene space: lineage predictions and networks, per-cell predictions, errors."""

from __future__ import annotations

import numpy as np

from pathreg.models import Ensemble

from ._binning import LineageBins, whole_lineages


def predict_lineages(ensemble: Ensemble, bins: list[LineageBins]) -> list[np.ndarray]:
    """Integrate every lineage from its first bin (ensemble mean); the prediction at each bin time.

    Returns
    -------
    One ``(n_bins, n_state)`` array per lineage.
    """
    predicted = ensemble.predict(whole_lineages(bins)).cpu().numpy()
    return [predicted[index, : len(lineage.times)] for index, lineage in enumerate(bins)]


def cell_predictions(
    bins: list[LineageBins], predictions: list[np.ndarray], scaled_time: np.ndarray, n_obs: int
) -> np.ndarray:
    """Per-cell predictions: each lineage's prediction interpolated at the cell's time.

    A cell in several lineages (e.g. the root) gets the mean over its lineages; cells in no lineage are NaN.

    Returns
    -------
    ``(n_obs, n_state)`` float32.
    """
    n_state = predictions[0].shape[1]
    count = np.zeros(n_obs, dtype=np.int64)
    cell_times = []
    for lineage in bins:
        own_time = scaled_time[lineage.cells] if lineage.cell_times is None else lineage.cell_times
        cell_times.append(np.clip(own_time, lineage.times[0], lineage.times[-1]))
        count[lineage.cells] += 1
    covered = count > 0
    result = np.full((n_obs, n_state), np.nan, dtype=np.float32)
    total = np.zeros(n_obs, dtype=np.float64)  # one gene at a time: no n_obs x n_state float64 copy
    for gene in range(n_state):
        total[:] = 0.0
        for lineage, predicted, cell_time in zip(bins, predictions, cell_times, strict=True):
            total[lineage.cells] += np.interp(cell_time, lineage.times, predicted[:, gene])
        result[covered, gene] = (total[covered] / count[covered]).astype(np.float32)
    return result


def lineage_errors(bins: list[LineageBins], predictions: list[np.ndarray]) -> dict[str, float]:
    """Mean squared error of every lineage's whole-trajectory prediction against its bin means."""
    return {
        lineage.name: float(np.mean((predicted - lineage.means) ** 2))
        for lineage, predicted in zip(bins, predictions, strict=True)
    }


def lineage_strengths(
    ensemble: Ensemble,
    bins: list[LineageBins],
    *,
    normalize: bool,
    rows: np.ndarray,
    readout: str,
    consensus: float = 0.0,
) -> dict[str, np.ndarray]:
    """Every lineage's network: the readout over that lineage's bin means only (empty for a single lineage).

    Parameters
    ----------
    ensemble
        The fitted ensemble.
    bins
        The fit's lineages.
    normalize, rows, readout, consensus
        As for the whole network (:meth:`~pathreg.models.Ensemble.signed_adjacency`), which is read out over
        the bin means of all lineages together.

    Returns
    -------
    Lineage name -> ``(n_state, n_inputs)`` float32; ``{}`` when there are fewer than two lineages (the one
    lineage's network is then the whole network).
    """
    if len(bins) < 2:
        return {}
    return {
        lineage.name: ensemble.signed_adjacency(
            lineage.means, normalize=normalize, rows=rows, readout=readout, consensus=consensus
        )
        for lineage in bins
    }
