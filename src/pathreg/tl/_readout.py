"""Reading a fitted model back into gene space: signed adjacency, predictions, per-lineage errors."""

from __future__ import annotations

import numpy as np
import torch

from pathreg.models import EPS, NeuralODE

from ._trajectories import LineageBins, whole_lineages


@torch.no_grad()
def structural_support(model: NeuralODE) -> np.ndarray:
    """``(n_state, n_regulators)`` boolean: where at least one path of non-zero (gated) weights exists."""
    return (model.adjacency().abs() >= EPS).cpu().numpy()


def signed_strength(model: NeuralODE, states: np.ndarray) -> np.ndarray:
    r"""Signed regulatory strength: mean absolute Jacobian of production, with the sign of the mean Jacobian.

    .. math::
        S_{ij} = \operatorname{sign}\big(\overline{\partial f_i / \partial x_j}\big)\,
                 \overline{|\partial f_i / \partial x_j|}

    averaged over the observed (bin mean) ``states``, and zero where :func:`structural_support` has
    no path. The decay term is excluded (it is not regulation).

    Returns
    -------
    ``(n_state, n_regulators)`` float32.
    """
    parameter = next(model.parameters())
    state = torch.as_tensor(states, dtype=parameter.dtype, device=parameter.device)
    inputs = model._inputs(state).detach().requires_grad_(True)
    zero_time = torch.zeros((), dtype=parameter.dtype, device=parameter.device)

    def summed_production(x: torch.Tensor) -> torch.Tensor:
        return model.production(zero_time, x).sum(0)  # rows are independent: d(sum)/dx_b = J(x_b)

    jacobian = torch.autograd.functional.jacobian(summed_production, inputs)  # (n_state, batch, n_regulators)
    jacobian = jacobian.detach().cpu().numpy()
    strength = np.sign(jacobian.mean(axis=1)) * np.abs(jacobian).mean(axis=1)
    strength[~structural_support(model)] = 0.0
    return strength.astype(np.float32)


def normalize_targets(strength: np.ndarray, state_genes: list[str], regulator_genes: list[str]) -> np.ndarray:
    """Scale every target's row so that its absolute strengths from regulators other than itself sum to one.

    Targets differ in their rates and ranges, so raw Jacobians rank edges mostly by target; per
    target, the shares of the regulators are comparable across targets (as GENIE3's importances,
    normalised per target). Self-regulation is kept, on the same scale, but does not enter the sum.
    """
    strength = np.asarray(strength, dtype=np.float64).copy()
    is_self = np.asarray(state_genes)[:, None] == np.asarray(regulator_genes)[None, :]
    total = np.where(is_self, 0.0, np.abs(strength)).sum(axis=1, keepdims=True)
    return np.divide(strength, total, out=np.zeros_like(strength), where=total > 0).astype(np.float32)


@torch.no_grad()
def predict_lineages(model: NeuralODE, bins: list[LineageBins]) -> list[np.ndarray]:
    """Integrate every lineage from its first bin; the prediction at each bin time, ``(n_bins, n_state)`` each."""
    parameter = next(model.parameters())
    trajectories = whole_lineages(bins).to(parameter.device, parameter.dtype)
    predicted = model.predict(trajectories).cpu().numpy()
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
