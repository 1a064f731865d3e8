"""Reading a fitted ensemble back into gene space: lineage predictions, per-cell predictions, per-lineage errors."""

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
    total = np.zeros((n_obs, n_state), dtype=np.float64)
    count = np.zeros(n_obs, dtype=np.int64)
    for lineage, predicted in zip(bins, predictions, strict=True):
        own_time = scaled_time[lineage.cells] if lineage.cell_times is None else lineage.cell_times
        cell_time = np.clip(own_time, lineage.times[0], lineage.times[-1])
        for gene in range(n_state):
            total[lineage.cells, gene] += np.interp(cell_time, lineage.times, predicted[:, gene])
        count[lineage.cells] += 1
    result = np.full((n_obs, n_state), np.nan, dtype=np.float32)
    covered = count > 0
    result[covered] = (total[covered] / count[covered, None]).astype(np.float32)
    return result


def lineage_errors(bins: list[LineageBins], predictions: list[np.ndarray]) -> dict[str, float]:
    """Mean squared error of every lineage's whole-trajectory prediction against its bin means."""
    return {
        lineage.name: float(np.mean((predicted - lineage.means) ** 2))
        for lineage, predicted in zip(bins, predictions, strict=True)
    }
