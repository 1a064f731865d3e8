"""Recovery from divergence during training.

A step whose loss is not finite (an exploding solve, an adaptive solver's step-size underflow) must not
end a long fit, nor leave non-finite parameters behind. :class:`DivergenceGuard` keeps the last good
parameters; on a non-finite step it restores them, halves the learning rates, resets the optimizer's
moments and lets training go on, up to :data:`MAX_RECOVERIES` times; then it raises. (:func:`~pathreg.models.fit`
ends the stage instead when progress was made, keeping the last good parameters, and goes on with the next.)
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .._settings import logger

MAX_RECOVERIES = 3
"""Recoveries per fit before a :class:`FloatingPointError` is raised."""
GOOD_STATE_EVERY = 10
"""Epochs between two copies of the last good parameters."""
GOOD_LOSS_FACTOR = 2.0
"""Parameters count as good only where their loss is within this factor of the stage's best so far."""
LR_FACTOR = 0.5
"""Learning-rate factor after each recovery."""

SOLVER_FAILURES = ("underflow in dt", "max_num_steps")
"""Messages of solver errors that count as divergence (torchdiffeq's adaptive step-size underflow)."""


def is_solver_failure(error: BaseException) -> bool:
    """Whether ``error`` is an ODE solver giving up (treated like a non-finite loss)."""
    return isinstance(error, (AssertionError, RuntimeError)) and any(text in str(error) for text in SOLVER_FAILURES)


def _finite_state(state: dict) -> bool:
    return all(bool(torch.isfinite(value).all()) for value in state.values() if value.is_floating_point())


def scale_learning_rates(optimizer: torch.optim.Optimizer, scheduler, factor: float) -> None:
    """Multiply every group's learning rate (and a scheduler's base rates) by ``factor``, in place."""
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].mul_(factor)
        else:
            group["lr"] = group["lr"] * factor
    if scheduler is not None and hasattr(scheduler, "base_lrs"):
        scheduler.base_lrs = [rate * factor for rate in scheduler.base_lrs]


class DivergenceGuard:
    """The last good parameters of ``model`` and the recoveries used so far.

    Parameters
    ----------
    model
        The model being trained.
    max_recoveries
        Recoveries allowed before :meth:`recover` raises.
    """

    def __init__(self, model: nn.Module, max_recoveries: int = MAX_RECOVERIES) -> None:
        self.model = model
        self.max_recoveries = max_recoveries
        self.recoveries = 0
        self.state = copy.deepcopy(model.state_dict())
        if not _finite_state(self.state):
            raise FloatingPointError("The model's parameters are not finite before training; re-initialise it.")

    def remember(self, state: dict | None = None) -> None:
        """Keep ``state`` (default: the current parameters) as the last good one, if it is finite."""
        state = copy.deepcopy(self.model.state_dict()) if state is None else state
        if _finite_state(state):
            self.state = state

    def recover(self, optimizer: torch.optim.Optimizer, scheduler, loss: float, epoch: int) -> None:
        """Restore the last good parameters, lower the learning rates and reset the optimizer's moments.

        Raises
        ------
        FloatingPointError
            When the recoveries are used up (the last good parameters are restored first).
        """
        self.model.load_state_dict(self.state)
        self.recoveries += 1
        if self.recoveries > self.max_recoveries:
            raise FloatingPointError(
                f"The loss became {loss} at epoch {epoch}, after {self.max_recoveries} recoveries (each restored the "
                f"last good parameters and halved the learning rate). Lower lr, set clip_grad_norm, use a tighter "
                "solver (smaller step_size, or rtol/atol), or rescale the data."
            )
        optimizer.state.clear()
        scale_learning_rates(optimizer, scheduler, LR_FACTOR)
        logger.warning(
            "The loss became %s at epoch %d; restored the last good parameters and lowered the learning rate to %.3g "
            "(recovery %d of %d).",
            loss,
            epoch,
            float(optimizer.param_groups[0]["lr"]),
            self.recoveries,
            self.max_recoveries,
        )
