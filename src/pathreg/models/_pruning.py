"""Backward elimination of dependencies: remove one, refit, keep the removal if BIC improves."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from ._device import resolve_device
from ._metrics import EPS
from ._ode import SOLVERS
from ._regularizers import get_regularizer
from ._stages import LBFGS_PATIENCE, History, Stage, fixed_support, lbfgs_optimizer, run_stage, set_gate_mode
from ._trajectories import Trajectories, masked_mse


@dataclass
class PruningStep:
    """One tested removal of :func:`prune_dependencies`.

    Attributes
    ----------
    output, input
        The dependency tested (row and column of the dependency matrix).
    strength
        Its entry in the dependency matrix before the test.
    fit_loss
        Masked MSE of the refit without it.
    bic
        BIC of the refit without it.
    reference_bic
        BIC of the structure it was compared with.
    removed
        Whether the removal was kept.
    """

    output: int
    input: int
    strength: float
    fit_loss: float
    bic: float
    reference_bic: float
    removed: bool

    def to_dict(self) -> dict:
        """A plain dict."""
        return asdict(self)


REFINEMENT = 4
"""Factor by which :func:`solver_error` refines the solver (step divided, tolerances divided by its 4th power)."""


@contextmanager
def _refined_solver(model: nn.Module, data: Trajectories) -> Iterator[None]:
    saved = (model.step_size, model.rtol, model.atol)
    if not SOLVERS[model.solver].adaptive:
        if model.step_size is None:
            spacings = data.union_times.diff()
            model.step_size = float(spacings[spacings > 0].min()) / REFINEMENT
        else:
            model.step_size = model.step_size / REFINEMENT
    else:
        model.rtol, model.atol = model.rtol / REFINEMENT**4, model.atol / REFINEMENT**4
    try:
        yield
    finally:
        model.step_size, model.rtol, model.atol = saved


@torch.no_grad()
def solver_error(model: nn.Module, data: Trajectories) -> float:
    """Mean squared difference between the model's predictions and those of a refined solver.

    Fixed-grid solvers step ``4`` times finer (observation grid: a quarter of the smallest spacing);
    adaptive solvers run with tolerances ``4**4`` times tighter. The difference estimates the
    discretisation error of the predictions: fits that differ by less are numerically the same fit.
    """
    parameter = next(model.parameters())
    data = data.to(parameter.device, parameter.dtype)
    prediction = model.predict(data)
    with _refined_solver(model, data):
        refined = model.predict(data)
    mask = data.mask.to(prediction.dtype)
    return float(((prediction - refined) ** 2 * mask).sum() / mask.sum().clamp_min(1.0))


def _bic(fit_loss: float, floor: float, n_dependencies: int, n_observed: int) -> float:
    variance = max(fit_loss + floor, torch.finfo(torch.float64).tiny)
    return n_observed * math.log(variance) + n_dependencies * math.log(n_observed)


def _refit(model: nn.Module, data: Trajectories, epochs: int, min_delta: float) -> float:
    """L-BFGS refit of the current structure (deterministic gates, exact zeros kept); returns the fit loss."""
    set_gate_mode(model, deterministic=True, frozen=True)
    optimizer = lbfgs_optimizer(model)
    stage = Stage(0.0, 1.0, epochs, deterministic=True, frozen_support=True, last=True)
    best = {"loss": math.inf, "state": None}
    generator = torch.Generator(device=data.values.device)
    with fixed_support(model.vector_field, enabled=True):
        run_stage(
            model,
            stage,
            data,
            get_regularizer("none"),
            optimizer,
            None,
            generator,
            History(),
            best,
            tqdm(disable=True),
            clip_grad_norm=None,
            early_stopping=True,
            patience=LBFGS_PATIENCE,
            min_delta=min_delta,
        )
    with torch.no_grad():
        final = float(masked_mse(model.predict(data), data))
    if best["state"] is not None and best["loss"] < final:
        model.load_state_dict(best["state"])
        final = best["loss"]
    return final if math.isfinite(final) else math.inf


def prune_dependencies(
    model: nn.Module,
    data: Trajectories,
    *,
    refit_epochs: int = 10,
    max_passes: int = 2,
    min_delta: float = 1e-6,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> list[PruningStep]:
    r"""Remove dependencies the data do not need, one at a time, by refit and BIC (backward elimination).

    Sparsity penalties can leave dependencies alive that do not change the fit: pairs of paths whose
    effects cancel, or paths of tiny weights. Starting from the model's current structure (refitted
    first), every dependency in turn, weakest first, is masked out (:meth:`restrict_dependencies`: the
    output no longer sees that input), the model refitted with L-BFGS on the trajectories (exact zeros
    kept, deterministic gates), and the removal kept when the Bayesian information criterion

    .. math::
        \mathrm{BIC} = n \log(\mathrm{MSE} + \epsilon) + k \log n

    does not increase (``n`` observed values, ``k`` dependencies: one coefficient each, as in a linear
    system; :math:`\epsilon` the solver's discretisation error, :func:`solver_error` of the starting fit:
    on noise-free data, extra dependencies can lower the error further only by compensating the
    solver's own error, which is no evidence for them).
    Passes over the remaining dependencies repeat until every one has been tested (and kept) since the
    last removal, or ``max_passes``.
    The model keeps the final mask and parameters and is left in evaluation mode.

    Parameters
    ----------
    model
        A fitted :class:`NeuralODE` or :class:`SecondOrderNeuralODE`.
    data
        The trajectories it was fitted to.
    refit_epochs
        L-BFGS epochs (up to 20 iterations each) per refit; a refit stops earlier once converged.
    max_passes
        Maximum passes over the remaining dependencies.
    min_delta
        Relative improvement below which a refit counts as converged.
    device, progress
        As in :func:`~pathreg.models.fit`.

    Returns
    -------
    One :class:`PruningStep` per tested removal, in order.
    """
    if refit_epochs < 1 or max_passes < 1:
        raise ValueError("refit_epochs and max_passes must be at least 1.")
    if not hasattr(model, "restrict_dependencies"):
        raise TypeError(f"{type(model).__name__} has no dependency mask; use NeuralODE or SecondOrderNeuralODE.")
    device = resolve_device(device)
    dtype = next(model.parameters()).dtype
    model.to(device)
    data = data.to(device, dtype)
    n_observed = int(data.mask.sum())
    with torch.no_grad():
        strength = model.adjacency().detach()
    support = strength.abs() >= EPS
    if model.dependency_mask is not None:
        support &= model.dependency_mask
    model.restrict_dependencies(support)
    fit_loss = _refit(model, data, refit_epochs, min_delta)
    floor = solver_error(model, data)
    reference = _bic(fit_loss, floor, int(support.sum()), n_observed)
    state = copy.deepcopy(model.state_dict())
    steps: list[PruningStep] = []
    bar = tqdm(disable=not progress, desc="prune dependencies")
    try:
        # weakest first; a rejected candidate is retested only if a removal happened since its test
        queue = sorted(
            (tuple(index) for index in support.nonzero().tolist()), key=lambda index: float(strength[index].abs())
        )
        rejected_since_removal: set[tuple[int, int]] = set()
        passes = 0
        while passes < max_passes:
            passes += 1
            for output, input_ in list(queue):
                if (output, input_) in rejected_since_removal:
                    continue
                trial = support.clone()
                trial[output, input_] = False
                model.restrict_dependencies(trial)
                trial_loss = _refit(model, data, refit_epochs, min_delta)
                trial_bic = _bic(trial_loss, floor, int(trial.sum()), n_observed)
                removed = trial_bic <= reference
                steps.append(
                    PruningStep(
                        output, input_, float(strength[output, input_]), trial_loss, trial_bic, reference, removed
                    )
                )
                bar.update(1)
                if removed:
                    support, reference = trial, trial_bic
                    state = copy.deepcopy(model.state_dict())
                    queue.remove((output, input_))
                    rejected_since_removal.clear()
                else:
                    rejected_since_removal.add((output, input_))
                    model.restrict_dependencies(support)
                    model.load_state_dict(state)
            if rejected_since_removal.issuperset(queue):
                break
    finally:
        bar.close()
        set_gate_mode(model, deterministic=False, frozen=False)
    model.restrict_dependencies(support)
    model.load_state_dict(state)
    model.eval()
    return steps
