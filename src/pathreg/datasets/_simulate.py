"""Simulate known dynamical systems, for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torchdiffeq import odeint


def simulate(
    vector_field: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    t: torch.Tensor,
    *,
    noise: float = 0.0,
    seed: int = 0,
    solver: str = "dopri5",
    rtol: float = 1e-9,
    atol: float = 1e-10,
) -> torch.Tensor:
    """Integrate ``dx/dt = vector_field(t, x)`` accurately (float64) and optionally add Gaussian noise.

    Parameters
    ----------
    vector_field
        Callable ``(t, x) -> dx/dt``.
    x0
        Initial state, ``(n_state,)`` or ``(batch, n_state)``.
    t
        1-d increasing times, starting at the initial time.
    noise
        Standard deviation of additive Gaussian observation noise.
    seed
        Seed of the noise.
    solver, rtol, atol
        torchdiffeq solver settings.

    Returns
    -------
    ``(len(t), *x0.shape)`` in float64.
    """
    x0 = torch.as_tensor(x0, dtype=torch.float64)
    t = torch.as_tensor(t, dtype=torch.float64)
    with torch.no_grad():
        trajectory = odeint(vector_field, x0, t, method=solver, rtol=rtol, atol=atol)
    if noise > 0:
        generator = torch.Generator().manual_seed(seed)
        trajectory = trajectory + noise * torch.randn(trajectory.shape, generator=generator, dtype=torch.float64)
    return trajectory


@dataclass(frozen=True)
class SecondOrderSystem:
    """A simulated second-order system and its true dependency pattern.

    Attributes
    ----------
    times
        ``(n_points,)`` observation times of the training window.
    positions
        ``(n_points, dim)`` positions at ``times``.
    extrapolation_times, extrapolation_positions
        The window after training, for extrapolation.
    initial_velocity
        ``(dim,)`` true velocity at time 0.
    dependencies
        ``(dim, 2 * dim)`` boolean: acceleration ``i`` depends on input ``j`` of ``[x, v]``.
    coefficients
        ``(dim, 2 * dim)`` the linear system's matrix: ``x'' = coefficients @ [x, v]``.
    """

    times: torch.Tensor
    positions: torch.Tensor
    extrapolation_times: torch.Tensor
    extrapolation_positions: torch.Tensor
    initial_velocity: torch.Tensor
    dependencies: torch.Tensor
    coefficients: torch.Tensor


# x'' = C [x, v]:  x0'' = -1.5 x0 - 0.5 x0';  x1'' = -2.7 x1 - x1';  x2'' = -2 x2 - x0' - x1' - 0.1 x2'
_COEFFICIENTS = (
    (-1.5, 0.0, 0.0, -0.5, 0.0, 0.0),
    (0.0, -2.7, 0.0, 0.0, -1.0, 0.0),
    (0.0, 0.0, -2.0, -1.0, -1.0, -0.1),
)


def synthetic_second_order(
    *,
    n_points: int = 50,
    t_max: float = 10.0,
    extrapolate_to: float = 20.0,
    noise: float = 0.0,
    seed: int = 0,
) -> SecondOrderSystem:
    r"""The 3-variable damped, coupled second-order system of the PathReg paper's Table 1.

    .. math::
        x_0'' = -1.5 x_0 - 0.5 x_0', \quad x_1'' = -2.7 x_1 - x_1', \quad
        x_2'' = -2 x_2 - x_0' - x_1' - 0.1 x_2'

    with :math:`x(0) = (0.4, 0.7, 1.8)`, :math:`x'(0) = (0.3, 0.5, 1.0)`. The accelerations depend
    on 8 of the 18 entries of :math:`[x, v]`.

    Parameters
    ----------
    n_points
        Equispaced observations in ``[0, t_max]``.
    t_max
        End of the training window.
    extrapolate_to
        End of the extrapolation window ``(t_max, extrapolate_to]``, observed with the same spacing.
    noise
        Standard deviation of Gaussian noise added to the training positions.
    seed
        Seed of the noise.

    Returns
    -------
    The simulated :class:`SecondOrderSystem` (float64).
    """
    coefficients = torch.tensor(_COEFFICIENTS, dtype=torch.float64)
    dim = coefficients.shape[0]

    def rhs(t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return torch.cat([state[..., dim:], state @ coefficients.T], dim=-1)

    spacing = t_max / (n_points - 1)
    n_extra = round((extrapolate_to - t_max) / spacing)
    all_times = torch.arange(n_points + n_extra, dtype=torch.float64) * spacing
    x0 = torch.tensor([0.4, 0.7, 1.8], dtype=torch.float64)
    v0 = torch.tensor([0.3, 0.5, 1.0], dtype=torch.float64)
    states = simulate(rhs, torch.cat([x0, v0]), all_times)
    positions = states[:, :dim]
    train = positions[:n_points]
    if noise > 0:
        generator = torch.Generator().manual_seed(seed)
        train = train + noise * torch.randn(train.shape, generator=generator, dtype=torch.float64)
    return SecondOrderSystem(
        times=all_times[:n_points],
        positions=train,
        extrapolation_times=all_times[n_points:],
        extrapolation_positions=positions[n_points:],
        initial_velocity=v0,
        dependencies=coefficients != 0,
        coefficients=coefficients,
    )
