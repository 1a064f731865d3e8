"""A fitted first-order ODE with some state variables held at fixed values (in silico perturbations)."""

from __future__ import annotations

import torch
from torch import nn

from ._ode import NeuralODE


class ClampedODE(nn.Module):
    r"""A fitted :class:`~pathreg.models.NeuralODE` with some state variables held at fixed values.

    The right-hand side is the model's own, with the derivative of every clamped variable set to
    zero,

    .. math::
        \frac{dx_i}{dt} = \begin{cases} 0 & i \text{ clamped} \\ \mathrm{rhs}(x)_i & \text{otherwise,} \end{cases}
        \qquad x_i(t_0) = v_i \ \text{for clamped } i,

    so a clamped variable stays exactly at its value ``v_i`` and acts on the others through the model's
    regulation (a knockout with ``v_i = 0``, overexpression with a high value). The solve uses the model's
    own solver settings (method, tolerances, step size, gates frozen per solve).

    Parameters
    ----------
    model
        A fitted first-order model.
    mask
        Boolean ``(state_dim,)``: which variables are clamped.
    values
        ``(state_dim,)`` values of the clamped variables (other entries are ignored).

    Examples
    --------
    >>> import torch
    >>> from pathreg.models import ClampedODE, MLPVectorField, NeuralODE
    >>> model = NeuralODE(MLPVectorField(2, 2, hidden=(4,)), solver="rk4")
    >>> clamped = ClampedODE(model, torch.tensor([True, False]), torch.tensor([0.0, 0.0]))
    >>> clamped(torch.ones(1, 2), torch.linspace(0, 1, 3))[:, 0, 0].tolist()
    [0.0, 0.0, 0.0]
    """

    def __init__(self, model: NeuralODE, mask: torch.Tensor, values: torch.Tensor) -> None:
        super().__init__()
        if not isinstance(model, NeuralODE):
            raise TypeError(f"Clamping needs a first-order pathreg.models.NeuralODE, got {type(model).__name__}.")
        mask = torch.as_tensor(mask, dtype=torch.bool).reshape(-1)
        values = torch.as_tensor(values).reshape(-1)
        if mask.numel() != model.state_dim or values.numel() != model.state_dim:
            raise ValueError(f"mask and values must have {model.state_dim} entries (the model's state dimension).")
        self.model = model
        self.register_buffer("mask", mask)
        self.register_buffer("values", values)

    def clamp(self, state: torch.Tensor) -> torch.Tensor:
        """``state`` with the clamped variables set to their values."""
        return torch.where(self.mask, self.values.to(state.dtype), state)

    def rhs(self, t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """The model's right-hand side with the derivatives of clamped variables set to zero."""
        rates = self.model.rhs(t, state)
        return torch.where(self.mask, torch.zeros_like(rates), rates)

    def forward(self, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Solve from ``x0`` (``(batch, state_dim)``; clamped entries replaced) over times ``t``.

        Returns
        -------
        ``(len(t), batch, state_dim)``, the clamped variables exactly at their values.
        """
        start = self.clamp(x0)
        solution = self.model.solve(self.rhs, start, t)
        skip = self.model.outer_skip(self.model.select_inputs(start))
        if skip is not None:  # LassoNet's outer skip adds a constant to the solution
            solution = solution + skip
        return self.clamp(solution)
