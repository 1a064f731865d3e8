"""First- and second-order neural ODEs solved with torchdiffeq."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import nn
from torchdiffeq import odeint

from .._utils import check_choice
from ._gates import GatedLinear
from ._trajectories import Trajectories
from ._vector_fields import LassoNetVectorField, capture_config

ExplicitStep = Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor, torch.Tensor], torch.Tensor]
"""``step(rates, state, h)``: one explicit step of size ``h`` (per row) from ``state`` with the rates function."""


def _euler_step(rates, state: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    return state + h * rates(state)


def _midpoint_step(rates, state: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    return state + h * rates(state + 0.5 * h * rates(state))


def _rk4_step(rates, state: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """One step of the 3/8-rule Runge-Kutta method (torchdiffeq's ``"rk4"``) with per-row step ``h``."""
    # fused multiply-adds: fewer kernels per step on a GPU, where small solves are launch-bound
    k1 = rates(state)
    k2 = rates(torch.addcmul(state, h, k1, value=1 / 3))
    k3 = rates(torch.addcmul(state, h, torch.add(k2, k1, alpha=-1 / 3)))
    k4 = rates(torch.addcmul(state, h, k1 - k2 + k3))
    return torch.addcmul(state, h, torch.add(k1, k2 + k3, alpha=3) + k4, value=0.125)


@dataclass(frozen=True)
class Solver:
    """A torchdiffeq method accepted by the ODE models.

    Attributes
    ----------
    name
        The torchdiffeq method name (``method=`` of :func:`torchdiffeq.odeint`).
    adaptive
        Whether it chooses its steps from ``rtol`` / ``atol``; fixed-grid solvers step on ``step_size``
        (or on the output grid).
    step
        The fused explicit step ``step(rates, state, h)`` (``h`` per row) with which :meth:`NeuralODE.predict`
        steps on the observation grids and :func:`~pathreg.models.fit` captures CUDA graphs; ``None`` where
        torchdiffeq solves.
    """

    name: str
    adaptive: bool
    step: ExplicitStep | None = None


_ADAPTIVE_NAMES = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")
_FIXED_GRID_NAMES = ("euler", "midpoint", "heun2", "heun3", "rk4", "explicit_adams", "implicit_adams")
_FUSED_STEPS: dict[str, ExplicitStep] = {"euler": _euler_step, "midpoint": _midpoint_step, "rk4": _rk4_step}

SOLVERS: Mapping[str, Solver] = MappingProxyType(
    {
        **{name: Solver(name, adaptive=True) for name in _ADAPTIVE_NAMES},
        **{name: Solver(name, adaptive=False, step=_FUSED_STEPS.get(name)) for name in _FIXED_GRID_NAMES},
    }
)
"""The solvers by name (read-only): adaptive ones first, then fixed-grid ones."""
ADAPTIVE_SOLVERS = tuple(name for name, solver in SOLVERS.items() if solver.adaptive)
"""Names of the adaptive solvers."""
FIXED_GRID_SOLVERS = tuple(name for name, solver in SOLVERS.items() if not solver.adaptive)
"""Names of the fixed-grid solvers."""


def check_solver(name: str, step_size: float | None) -> None:
    """Raise a ValueError for a name not in :data:`SOLVERS` (naming the valid ones) or a non-positive step.

    Parameters
    ----------
    name
        A solver name.
    step_size
        The step of a fixed-grid solver, or ``None``.
    """
    if name not in SOLVERS:
        check_choice(name, SOLVERS, "solver")
    if step_size is not None and not step_size > 0:
        raise ValueError(f"step_size must be positive, got {step_size}.")


class _ODEModel(nn.Module):
    """Shared solver settings and trajectory prediction of the ODE models."""

    vector_field: nn.Module

    def _init_solver(self, solver: str, rtol: float, atol: float, step_size: float | None) -> None:
        check_solver(solver, step_size)
        self.solver = solver
        self.rtol = float(rtol)
        self.atol = float(atol)
        self.step_size = None if step_size is None else float(step_size)

    def solve(self, func, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Solve ``dy/dt = func(t, y)`` from ``y0`` over times ``t`` with the model's solver, gates frozen per solve."""
        with ExitStack() as stack:  # one gated weight per layer for the whole solve
            for module in self.vector_field.modules():
                if isinstance(module, GatedLinear):
                    stack.enter_context(module.frozen())
            if not SOLVERS[self.solver].adaptive:
                options = {} if self.step_size is None else {"step_size": self.step_size}
                return odeint(func, y0, t, method=self.solver, options=options)
            return odeint(func, y0, t, method=self.solver, rtol=self.rtol, atol=self.atol)

    def _register_dependency_mask(self, dependency_mask) -> None:
        if dependency_mask is not None:
            field = self.vector_field
            dependency_mask = torch.as_tensor(dependency_mask, dtype=torch.bool)
            if dependency_mask.shape != (field.n_outputs, field.n_inputs):
                raise ValueError(
                    f"dependency_mask must have shape {(field.n_outputs, field.n_inputs)} (outputs x inputs), "
                    f"got {tuple(dependency_mask.shape)}."
                )
        if "dependency_mask" in self._buffers:
            self._buffers["dependency_mask"] = (
                None if dependency_mask is None else dependency_mask.to(self._device_of_parameters())
            )
        else:
            self.register_buffer("dependency_mask", dependency_mask)

    def _device_of_parameters(self) -> torch.device:
        return next(self.parameters()).device

    def restrict_dependencies(self, dependency_mask: torch.Tensor | None) -> None:
        r"""Set the mask of allowed dependencies (``(n_outputs, n_inputs)``, ``None`` removes it).

        Output ``i`` is then computed from its allowed inputs only, :math:`f(x \odot M_i)_i`, so masked
        dependencies are exactly absent from the dynamics and from :meth:`adjacency`. The mask is part of
        the model's configuration and is saved with it.
        """
        self._register_dependency_mask(dependency_mask)
        mask = self.dependency_mask
        self.config["dependency_mask"] = None if mask is None else mask.cpu().tolist()

    def _excluded(self) -> torch.Tensor | None:
        """Per output, the input it must not see (its own state variable; ``-1``: none), or ``None``."""
        return self._buffers.get("excluded_inputs")

    def allowed_dependencies(self) -> torch.Tensor | None:
        """``(n_outputs, n_inputs)`` boolean: the dependency mask without self-dependencies, or ``None``."""
        mask, excluded = self.dependency_mask, self._excluded()
        if excluded is None:
            return mask
        field = self.vector_field
        own = torch.zeros(field.n_outputs, field.n_inputs, dtype=torch.bool, device=excluded.device)
        rows = torch.nonzero(excluded >= 0).flatten()
        own[rows, excluded[rows]] = True
        return ~own if mask is None else mask & ~own

    def _field(self, t: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """The vector field at ``inputs``, each output seeing only its allowed inputs."""
        field, excluded = self.vector_field, self._excluded()
        if excluded is not None and self.dependency_mask is None and hasattr(field, "forward_excluding"):
            return field.forward_excluding(t, inputs, excluded)
        mask = self.allowed_dependencies()
        if mask is None:
            return field(t, inputs)
        # output i sees only its allowed inputs: the diagonal of f over the masked copies
        masked = inputs.unsqueeze(-2) * mask.to(inputs.dtype)
        return field(t, masked).diagonal(dim1=-2, dim2=-1)

    def outer_skip(self, model_input: torch.Tensor) -> torch.Tensor | None:
        """The outer skip connection of a LassoNet vector field at ``model_input`` (else ``None``)."""
        field = self.vector_field
        if isinstance(field, LassoNetVectorField) and field.placement == "outer":
            return field.skip(model_input)
        return None

    def adjacency(self) -> torch.Tensor:
        """The vector field's ``(n_outputs, n_inputs)`` dependency matrix, zero outside the dependency mask."""
        adjacency = self.vector_field.adjacency()
        mask = self.allowed_dependencies()
        return adjacency if mask is None else adjacency * mask

    def predict(self, trajectories: Trajectories) -> torch.Tensor:
        """Predict every trajectory from its initial state at its own time points.

        All trajectories are integrated in one batched solve over ``trajectories.union_times``.

        Returns
        -------
        ``(n_trajectories, n_times, n_dims)``.
        """
        solution = self(trajectories.initial_state, trajectories.union_times)
        return trajectories.gather(solution)


class NeuralODE(_ODEModel):
    r"""A first-order neural ODE :math:`dx/dt = f(x_{\mathrm{inputs}})`, optionally with linear decay.

    With ``decay=True``:

    .. math::
        \frac{dx}{dt} = f(x_{\mathrm{inputs}}) - e^{\delta} \odot x

    with one learned rate :math:`e^{\delta_i} > 0` per state variable (initially 1), or with ``decay`` a positive
    number one fixed rate for all (not trained). This is the form of
    gene-regulatory models (production by regulators, first-order degradation): :math:`f` then only has
    to explain production, and the self-dependency it would otherwise spend on degradation is not
    mistaken for regulation. The decay is a self-loop and not part of :meth:`adjacency`.

    Parameters
    ----------
    vector_field
        Maps ``(..., n_inputs)`` to ``(..., n_outputs)``; ``n_outputs`` is the state dimension.
    input_index
        Indices of the state variables fed to the vector field (e.g. the regulators among all
        genes). ``None`` feeds the whole state, which then needs ``n_inputs == n_outputs``.
    solver
        A torchdiffeq method: one of :data:`SOLVERS`.
    rtol, atol
        Tolerances of adaptive solvers.
    step_size
        Step of fixed-grid solvers. ``None`` steps on the output grid; with a step, torchdiffeq
        interpolates the outputs linearly between grid points, an error a fit will learn to compensate.
    decay
        ``True``: add the first-order decay term with learned rates; a positive number: with that rate for every
        state variable, fixed (a buffer, not a parameter); ``False``: no decay.
    dependency_mask
        Optional boolean ``(n_outputs, n_inputs)`` mask of allowed dependencies (a prior network). Output
        ``i`` is computed from its allowed inputs only, :math:`f(x \odot M_i)_i`, so forbidden dependencies
        are exactly absent from the dynamics and from :meth:`adjacency`. Costs ``n_outputs`` evaluations
        of the vector field per step, batched.
    exclude_self
        Production of state variable ``i`` does not depend on ``x_i`` itself (needs ``input_index``): only
        the decay acts on a gene's own level. Without it a fit of rates near a steady state is trivially
        ``f_i(x) = e^{\delta_i} x_i``. Self-dependencies are exactly absent from the dynamics and from
        :meth:`adjacency`; MLP and group-lasso vector fields compute it at the cost of ``n_outputs`` hidden
        vectors per state (:meth:`MLPVectorField.forward_excluding`).

    Examples
    --------
    >>> import torch
    >>> from pathreg.models import MLPVectorField, NeuralODE
    >>> model = NeuralODE(MLPVectorField(3, 3, hidden=(8,)), solver="rk4", step_size=0.1)
    >>> model(torch.zeros(2, 3), torch.linspace(0, 1, 5)).shape
    torch.Size([5, 2, 3])
    """

    def __init__(
        self,
        vector_field: nn.Module,
        *,
        input_index: Sequence[int] | torch.Tensor | None = None,
        solver: str = "dopri5",
        rtol: float = 1e-3,
        atol: float = 1e-4,
        step_size: float | None = None,
        decay: bool | float = False,
        dependency_mask: torch.Tensor | None = None,
        exclude_self: bool = False,
    ) -> None:
        super().__init__()
        self.vector_field = vector_field
        n_inputs, n_outputs = vector_field.n_inputs, vector_field.n_outputs
        if exclude_self and input_index is None and n_inputs != n_outputs:
            raise ValueError("exclude_self needs input_index to know which input is each output's own variable.")
        self._init_decay(decay, n_outputs)
        if input_index is None:
            if n_inputs != n_outputs:
                raise ValueError(
                    f"The vector field has {n_inputs} inputs and {n_outputs} outputs; pass input_index to say "
                    "which state variables are its inputs."
                )
            self.register_buffer("input_index", None)
        else:
            index = torch.as_tensor(input_index, dtype=torch.long).reshape(-1)
            if index.numel() != n_inputs or (index.numel() and (index.min() < 0 or index.max() >= n_outputs)):
                raise ValueError(f"input_index must hold {n_inputs} indices into the {n_outputs} state variables.")
            self.register_buffer("input_index", index)
        self.register_buffer("excluded_inputs", self._own_inputs(n_outputs) if exclude_self else None)
        self._register_dependency_mask(dependency_mask)
        self._init_solver(solver, rtol, atol, step_size)
        self.config = capture_config(
            {
                "solver": solver,
                "rtol": rtol,
                "atol": atol,
                "step_size": step_size,
                "input_index": None if input_index is None else self.input_index.tolist(),
                "decay": decay if decay is None or isinstance(decay, bool) else float(decay),
                "dependency_mask": None if self.dependency_mask is None else self.dependency_mask.tolist(),
                "exclude_self": bool(exclude_self),
            }
        )

    def _init_decay(self, decay: bool | float, n_outputs: int) -> None:
        """``log_decay``: a learned parameter (``decay=True``), a fixed buffer (a rate), or ``None``."""
        if decay is None or isinstance(decay, bool):
            self.log_decay = nn.Parameter(torch.zeros(n_outputs)) if decay else None
            return
        if not isinstance(decay, numbers.Real) or not 0 < float(decay) < math.inf:
            raise ValueError(f"decay must be True, False or a positive finite rate, got {decay!r}.")
        self.register_buffer("log_decay", torch.full((n_outputs,), math.log(float(decay))))

    def _own_inputs(self, n_outputs: int) -> torch.Tensor:
        """Per state variable, its position among the inputs, ``-1`` where it is not an input."""
        own = torch.full((n_outputs,), -1, dtype=torch.long)
        index = torch.arange(n_outputs) if self.input_index is None else self.input_index
        own[index] = torch.arange(index.numel())
        return own

    @property
    def state_dim(self) -> int:
        """Dimension of the state."""
        return self.vector_field.n_outputs

    def select_inputs(self, state: torch.Tensor) -> torch.Tensor:
        """The state variables fed to the vector field (``input_index``), last axis of ``state``."""
        if self.input_index is None or self._identity_inputs:
            return state
        return state.index_select(-1, self.input_index)

    @property
    def _identity_inputs(self) -> bool:
        """Whether the inputs are the whole state in order (no selection needed)."""
        cached = getattr(self, "_identity_cache", None)
        index = self.input_index
        if cached is None or cached[0] is not index:
            identity = index.numel() == self.state_dim and bool(torch.equal(index.cpu(), torch.arange(self.state_dim)))
            self._identity_cache = cached = (index, identity)
        return cached[1]

    def production(self, t: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """The learned part :math:`f` of the rates at the vector field's ``inputs`` (without decay)."""
        return self._field(t, inputs)

    def rhs(self, t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Right-hand side ``dx/dt`` at ``state``."""
        production = self.production(t, self.select_inputs(state))
        if self.log_decay is None:
            return production
        decay = self.log_decay.exp()
        if decay.ndim > 1:  # stacked members (stack_members): one row of rates per member
            decay = decay.unsqueeze(-2)
        return production - decay * state

    def predict(self, trajectories: Trajectories) -> torch.Tensor:
        """Predict every trajectory from its initial state at its own time points.

        With ``"euler"``, ``"midpoint"`` or ``"rk4"`` and no ``step_size``, each trajectory steps
        from one of its own observation times to the next (one step per interval, all trajectories
        batched), so trajectories with irregular, different time points cost as many steps as the
        longest has intervals instead of one step per point of their union. The vector field must
        then be autonomous (pathreg's are). Other solvers integrate the batch over the union of times.

        Returns
        -------
        ``(n_trajectories, n_times, n_dims)``.
        """
        if SOLVERS[self.solver].step is not None and self.step_size is None:
            return self._step_observation_grids(trajectories)
        return super().predict(trajectories)

    def _step_observation_grids(self, trajectories: Trajectories) -> torch.Tensor:
        step = SOLVERS[self.solver].step
        intervals = trajectories.times.diff(dim=1).unsqueeze(-1)  # (batch, n_times - 1, 1); padding gives 0
        state = trajectories.initial_state
        zero_time = torch.zeros((), dtype=state.dtype, device=state.device)
        decay = None if self.log_decay is None else self.log_decay.exp()  # once per solve, not per evaluation

        def rates(x: torch.Tensor) -> torch.Tensor:
            production = self.production(zero_time, self.select_inputs(x))
            return production if decay is None else torch.addcmul(production, decay, x, value=-1.0)

        states = [state]
        with ExitStack() as stack:
            for module in self.vector_field.modules():
                if isinstance(module, GatedLinear):
                    stack.enter_context(module.frozen())
            for index in range(intervals.shape[1]):
                state = step(rates, state, intervals[:, index])
                states.append(state)
        solution = torch.stack(states, dim=1)
        skip = self.outer_skip(self.select_inputs(trajectories.initial_state))
        return solution if skip is None else solution + skip.unsqueeze(1)

    def forward(self, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Solve from ``x0`` (``(batch, state_dim)``) over times ``t`` (1-d, starting at the initial time).

        Returns
        -------
        ``(len(t), batch, state_dim)``.
        """
        solution = self.solve(self.rhs, x0, t)
        skip = self.outer_skip(self.select_inputs(x0))
        return solution if skip is None else solution + skip


RESTORING_INIT = 0.1
"""Initial spring constant and damping rate of :class:`SecondOrderNeuralODE`'s restoring term (per unit time)."""


class SecondOrderNeuralODE(_ODEModel):
    r"""A second-order neural ODE on the state :math:`[x, v]`: :math:`dx/dt = v`, :math:`dv/dt = f([x, v])`.

    Parameters
    ----------
    vector_field
        Maps ``(..., 2 * dim)`` to accelerations ``(..., dim)``.
    initial_velocity
        ``"learned"``: a small network predicts :math:`v(0)` from :math:`x(0)`; ``"zero"``: :math:`v(0) = 0`.
        A velocity passed to :meth:`forward` always takes precedence.
    velocity_hidden
        Hidden width of the initial-velocity network.
    solver, rtol, atol, step_size, dependency_mask
        As in :class:`NeuralODE` (the mask is accelerations x ``[x, v]``).
    restoring
        Add a learned spring and damper per coordinate toward the origin,
        :math:`dv/dt = f([x, v]) - k \odot x - c \odot v` with :math:`k, c \ge 0` (softplus of parameters,
        starting at :data:`RESTORING_INIT`). With data centred on its mean, a prediction past the observed
        frames then relaxes toward the mean instead of drifting away where the network never saw data. Each
        coordinate's spring acts on itself only: :meth:`adjacency` has :math:`k_i` and :math:`c_i` on the
        diagonals of its position and velocity blocks. A dependency mask (and so
        :func:`~pathreg.models.prune_dependencies`) acts on the network only: the diagonals stay.
    """

    def __init__(
        self,
        vector_field: nn.Module,
        *,
        initial_velocity: str = "learned",
        velocity_hidden: int = 16,
        solver: str = "dopri5",
        rtol: float = 1e-3,
        atol: float = 1e-4,
        step_size: float | None = None,
        dependency_mask: torch.Tensor | None = None,
        restoring: bool = False,
    ) -> None:
        super().__init__()
        dim = vector_field.n_outputs
        if vector_field.n_inputs != 2 * dim:
            raise ValueError(
                f"A second-order vector field maps [x, v] (2 * {dim} inputs) to {dim} accelerations; "
                f"got {vector_field.n_inputs} inputs."
            )
        if initial_velocity not in ("learned", "zero"):
            raise ValueError(f"initial_velocity must be 'learned' or 'zero', got {initial_velocity!r}.")
        self.vector_field = vector_field
        self.dim = dim
        self.initial_velocity = initial_velocity
        self.velocity_network = (
            nn.Sequential(nn.Linear(dim, velocity_hidden), nn.Tanh(), nn.Linear(velocity_hidden, dim))
            if initial_velocity == "learned"
            else None
        )
        self._register_dependency_mask(dependency_mask)
        self._init_solver(solver, rtol, atol, step_size)
        start = math.log(math.expm1(RESTORING_INIT))  # softplus(start) = RESTORING_INIT
        self.restoring_stiffness = nn.Parameter(torch.full((dim,), start)) if restoring else None
        self.restoring_damping = nn.Parameter(torch.full((dim,), start)) if restoring else None
        self.config = capture_config(
            {
                "initial_velocity": initial_velocity,
                "velocity_hidden": velocity_hidden,
                "restoring": bool(restoring),
                "solver": solver,
                "rtol": rtol,
                "atol": atol,
                "step_size": step_size,
                "dependency_mask": None if self.dependency_mask is None else self.dependency_mask.tolist(),
            }
        )

    def rhs(self, t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Right-hand side of the first-order system on ``[x, v]``."""
        velocity = state[..., self.dim :]
        acceleration = self._field(t, state)
        if self.restoring_stiffness is not None:
            stiffness, damping = self.restoring_rates()
            acceleration = acceleration - stiffness * state[..., : self.dim] - damping * velocity
        return torch.cat([velocity, acceleration], dim=-1)

    def restoring_rates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The spring constants :math:`k` and damping rates :math:`c` per coordinate (``restoring=True``)."""
        if self.restoring_stiffness is None:
            raise TypeError("This model has no restoring term; build it with restoring=True.")
        softplus = nn.functional.softplus
        return softplus(self.restoring_stiffness), softplus(self.restoring_damping)

    def adjacency(self) -> torch.Tensor:
        """The ``(dim, 2 dim)`` dependency matrix of the accelerations on ``[x, v]`` (with the restoring diagonals)."""
        adjacency = super().adjacency()
        if self.restoring_stiffness is None:
            return adjacency
        stiffness, damping = self.restoring_rates()
        return adjacency + torch.cat([torch.diag(stiffness), torch.diag(damping)], dim=-1)

    def velocity_at_start(self, x0: torch.Tensor) -> torch.Tensor:
        """The initial velocity the model uses for positions ``x0``."""
        if self.velocity_network is None:
            return torch.zeros_like(x0)
        return self.velocity_network(x0)

    def forward(
        self, x0: torch.Tensor, t: torch.Tensor, v0: torch.Tensor | None = None, *, return_velocity: bool = False
    ) -> torch.Tensor:
        """Solve from positions ``x0`` (``(batch, dim)``) over times ``t``.

        Returns
        -------
        Positions ``(len(t), batch, dim)``, or the full state ``(len(t), batch, 2 * dim)`` with
        ``return_velocity=True``.
        """
        if v0 is None:
            v0 = self.velocity_at_start(x0)
        state0 = torch.cat([x0, v0], dim=-1)
        solution = self.solve(self.rhs, state0, t)
        if not return_velocity:
            solution = solution[..., : self.dim]
        skip = self.outer_skip(state0)
        if skip is not None:
            solution = solution + torch.nn.functional.pad(skip, (0, solution.shape[-1] - self.dim))
        return solution
