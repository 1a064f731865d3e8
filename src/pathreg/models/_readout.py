"""Reading a fitted first-order model's regulation: structural support and signed Jacobian strengths."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import torch
from torch import nn
from torch.autograd import forward_ad

from ._metrics import EPS


def _production_inputs(model: nn.Module, states: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The vector field's inputs at ``states`` and a zero time, in the model's dtype and on its device."""
    parameter = next(model.parameters())
    state = torch.as_tensor(states, dtype=parameter.dtype, device=parameter.device)
    return model.select_inputs(state), torch.zeros((), dtype=parameter.dtype, device=parameter.device)


@torch.no_grad()
def structural_support(model: nn.Module) -> np.ndarray:
    """``(n_state, n_inputs)`` boolean: where at least one path of non-zero (gated) weights exists."""
    return (model.adjacency().abs() >= EPS).cpu().numpy()


def signed_strength(model: nn.Module, states: np.ndarray) -> np.ndarray:
    r"""Signed regulatory strength: mean absolute Jacobian of production, with the sign of the mean Jacobian.

    .. math::
        S_{ij} = \operatorname{sign}\big(\overline{\partial f_i / \partial x_j}\big)\,
                 \overline{|\partial f_i / \partial x_j|}

    averaged over the given ``states`` (``(n_points, n_state)``), and zero where :func:`structural_support`
    has no path. The decay term of a :class:`~pathreg.models.NeuralODE` is excluded (it is not regulation).

    Returns
    -------
    ``(n_state, n_inputs)`` float32.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from pathreg.models import MLPVectorField, NeuralODE
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = NeuralODE(MLPVectorField(2, 2, hidden=(4,)), solver="rk4")
    >>> signed_strength(model, np.zeros((3, 2), dtype=np.float32)).shape
    (2, 2)
    """
    mean, mean_absolute = _jacobian_means(model, states)
    strength = np.sign(mean) * mean_absolute
    strength[~structural_support(model)] = 0.0
    return strength.astype(np.float32)


def _jacobian_means(model: nn.Module, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean Jacobian of production over ``states`` and its mean absolute value, each ``(n_state, n_inputs)``.

    Reverse mode (one backward pass per output) where there are at least as many inputs as outputs, forward mode
    (one pass with dual numbers per input) where there are fewer, e.g. 1,600 regulators of 20,000 genes: the
    same derivatives up to rounding, at the cost of the smaller dimension.
    """
    inputs, zero_time = _production_inputs(model, states)
    n_outputs = model.vector_field.n_outputs
    if inputs.shape[1] < n_outputs:
        mean = torch.empty(n_outputs, inputs.shape[1], dtype=inputs.dtype, device=inputs.device)
        mean_absolute = torch.empty_like(mean)
        with torch.no_grad(), forward_ad.dual_level():
            for regulator in range(inputs.shape[1]):
                tangent = torch.zeros_like(inputs)
                tangent[:, regulator] = 1.0
                production = model.production(zero_time, forward_ad.make_dual(inputs, tangent))
                column = forward_ad.unpack_dual(production).tangent  # (n_points, n_outputs)
                mean[:, regulator] = column.mean(0)
                mean_absolute[:, regulator] = column.abs().mean(0)
        return mean.cpu().numpy(), mean_absolute.cpu().numpy()
    inputs = inputs.detach().requires_grad_(True)

    def summed_production(x: torch.Tensor) -> torch.Tensor:
        return model.production(zero_time, x).sum(0)  # rows are independent: d(sum)/dx_b = J(x_b)

    jacobian = torch.autograd.functional.jacobian(summed_production, inputs)  # (n_state, batch, n_inputs)
    jacobian = jacobian.detach().cpu().numpy()
    return jacobian.mean(axis=1), np.abs(jacobian).mean(axis=1)


@torch.no_grad()
def ablation_strength(model: nn.Module, states: np.ndarray) -> np.ndarray:
    r"""Signed regulatory strength by ablation: how much production changes when one regulator is held at its mean.

    .. math::
        S_{ij} = \operatorname{sign}\big(\overline{\partial f_i / \partial x_j}\big)\,
                 \overline{\big(f_i(x) - f_i(x_{j \leftarrow \bar x_j})\big)^2}

    averaged over the given ``states`` (``(n_points, n_state)``), where :math:`x_{j \leftarrow \bar x_j}` is
    the state with regulator ``j`` replaced by its mean over ``states``. This is the part of target ``i``'s
    modelled production that regulator ``j``'s variation explains, in the spirit of a random forest's
    importance (the error a regressor loses without the input); unlike the mean absolute Jacobian it is not
    dominated by steep slopes in regions with few states. Exactly zero where :func:`structural_support` has
    no path (production then does not depend on ``x_j``). The decay term is excluded.

    Returns
    -------
    ``(n_state, n_inputs)`` float32.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from pathreg.models import MLPVectorField, NeuralODE
    >>> _ = torch.manual_seed(0)
    >>> model = NeuralODE(MLPVectorField(2, 2, hidden=(4,)), solver="rk4")
    >>> ablation_strength(model, np.random.default_rng(0).normal(size=(5, 2))).shape
    (2, 2)
    """
    inputs, zero_time = _production_inputs(model, states)
    production = model.production(zero_time, inputs)
    means = inputs.mean(0)
    change = torch.empty(production.shape[1], inputs.shape[1], dtype=inputs.dtype, device=inputs.device)
    for regulator in range(inputs.shape[1]):
        ablated = inputs.clone()
        ablated[:, regulator] = means[regulator]
        change[:, regulator] = ((model.production(zero_time, ablated) - production) ** 2).mean(0)
    strength = change.cpu().numpy()
    with torch.enable_grad():
        sign = np.sign(signed_strength(model, states))
    return (sign * strength).astype(np.float32) * structural_support(model)


READOUTS = MappingProxyType({"jacobian": signed_strength, "ablation": ablation_strength})
"""The signed readouts of a fitted model's regulation by name (``readout=`` of :meth:`Ensemble.signed_adjacency`)."""


def normalize_targets(strength: np.ndarray, self_loops: np.ndarray) -> np.ndarray:
    """Scale every target's row so that its absolute strengths from regulators other than itself sum to one.

    Targets differ in their rates and ranges, so raw Jacobians rank edges mostly by target; per
    target, the shares of the regulators are comparable across targets (as GENIE3's importances,
    normalised per target). Self-regulation (``self_loops``, boolean like ``strength``) is kept, on the
    same scale, but does not enter the sum.

    Examples
    --------
    >>> normalize_targets(np.array([[2.0, -2.0], [1.0, 3.0]]), np.array([[False, False], [False, True]]))
    array([[ 0.5, -0.5],
           [ 1. ,  3. ]], dtype=float32)
    """
    strength = np.asarray(strength, dtype=np.float64).copy()
    total = np.where(self_loops, 0.0, np.abs(strength)).sum(axis=1, keepdims=True)
    return np.divide(strength, total, out=np.zeros_like(strength), where=total > 0).astype(np.float32)


def self_loop_mask(model: nn.Module) -> np.ndarray:
    """``(n_state, n_inputs)`` boolean: where input ``j`` is state variable ``i`` itself."""
    n_state, n_inputs = model.vector_field.n_outputs, model.vector_field.n_inputs
    index = np.arange(n_inputs) if model.input_index is None else model.input_index.cpu().numpy()
    return np.arange(n_state)[:, None] == index[None, :]
