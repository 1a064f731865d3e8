"""Training steps captured as CUDA graphs.

A neural ODE on a few hundred genes is microseconds of arithmetic per vector-field evaluation; an
eager training step is thousands of small kernel launches, each costing more host time than the GPU
spends on it. A CUDA graph records the whole step (forward solve, backward, optimizer update) once and
replays it with a single launch. What a replay needs to change between steps lives in tensors the
graph reads: the gate noise (written in place by :meth:`~pathreg.models.GatedLinear.resample`) and the
learning rates (tensors updated in place by the schedulers).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ._ode import SOLVERS, NeuralODE

GraphMode = bool | str
"""``cuda_graph`` of :func:`~pathreg.models.fit`: ``"auto"``, ``True`` or ``False``."""
WARMUP_STEPS = 3
"""Eager steps of a stage before its step is captured (they initialise the optimizer's state)."""


def graph_eligible(model: nn.Module, device: torch.device) -> bool:
    """Whether :func:`~pathreg.models.fit` can capture ``model``'s Adam steps as a CUDA graph on ``device``.

    Needs a CUDA device and a solve without host synchronisation: a :class:`NeuralODE` whose solver has a fused
    step (:attr:`Solver.step`: ``"euler"``, ``"midpoint"``, ``"rk4"``) stepping on the observation grid (no
    ``step_size``).
    torchdiffeq's solvers check their inputs on the host and adaptive solvers choose steps on the host.
    """
    return (
        device.type == "cuda"
        and isinstance(model, NeuralODE)
        and SOLVERS[model.solver].step is not None
        and model.step_size is None
    )


def resolve_graph_mode(mode: GraphMode, model: nn.Module, device: torch.device) -> bool:
    """``"auto"``: capture when eligible; ``True``: capture or raise; ``False``: eager steps."""
    if mode == "auto":
        return graph_eligible(model, device)
    if mode is True:
        if not graph_eligible(model, device):
            fused = [name for name, solver in SOLVERS.items() if solver.step is not None]
            raise ValueError(
                f"cuda_graph=True needs a CUDA device and a NeuralODE with a solver in {fused} "
                f"and step_size=None (got device {device}, {type(model).__name__}, solver "
                f"{getattr(model, 'solver', None)!r}, step_size {getattr(model, 'step_size', None)}); "
                "use cuda_graph='auto' to fall back to eager steps."
            )
        return True
    check_graph_mode(mode)
    return False


def check_graph_mode(mode: GraphMode) -> None:
    """Raise a ValueError unless ``mode`` is ``"auto"``, ``True`` or ``False``."""
    if not (mode is True or mode is False or (isinstance(mode, str) and mode == "auto")):
        raise ValueError(f"cuda_graph must be 'auto', True or False, got {mode!r}.")


class CapturedStep:
    """One training step recorded as a CUDA graph: snapshot of the parameters, loss, backward, update.

    Parameters
    ----------
    compute_terms
        Returns ``(loss to differentiate, fit loss, penalty)`` from the current parameters and gate noise.
    optimizer
        An optimizer whose step is capturable (Adam with ``capturable=True``), already stepped at least
        once so that its state exists.
    parameters
        The trainable parameters, in the order of ``snapshot``.
    clip_grad_norm
        Optional gradient-norm clipping inside the step.
    capture
        Record a CUDA graph (``False``: :meth:`replay` runs the same step eagerly, for checks on the CPU).

    Attributes
    ----------
    snapshot
        Copies of ``parameters`` taken at the start of the last replayed step (the parameters its loss
        belongs to).
    """

    def __init__(
        self,
        compute_terms: Callable[[], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
        optimizer: torch.optim.Optimizer,
        parameters: list[torch.Tensor],
        *,
        clip_grad_norm: float | None = None,
        capture: bool = True,
    ) -> None:
        self.parameters = parameters
        self.optimizer = optimizer
        self.snapshot = [p.detach().clone() for p in parameters]

        def step() -> torch.Tensor:
            for copy, parameter in zip(self.snapshot, parameters, strict=True):
                copy.copy_(parameter.detach())
            loss, fit_loss, penalty = compute_terms()
            loss.backward()
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(parameters, clip_grad_norm)
            optimizer.step()
            return torch.stack([fit_loss.detach(), penalty.detach()])

        self._step = step
        self.graph: torch.cuda.CUDAGraph | None = None
        if capture:
            self.graph = torch.cuda.CUDAGraph()
            optimizer.zero_grad(set_to_none=True)  # gradients are allocated inside the graph's memory pool
            with torch.cuda.graph(self.graph):
                self.terms = step()

    def replay(self) -> tuple[float, float]:
        """Run the step; return the fit loss and the penalty before the update (one host synchronisation)."""
        if self.graph is None:
            self.optimizer.zero_grad(set_to_none=True)
            self.terms = self._step()
        else:
            self.graph.replay()
        fit_loss, penalty = self.terms.tolist()
        return fit_loss, penalty
