"""Vector fields ``f(t, x)`` of neural ODEs, and the dependency matrices they imply.

Every vector field maps a batch of inputs ``(..., n_inputs)`` to rates ``(..., n_outputs)``,
ignores ``t`` (autonomous systems) and exposes

- :meth:`adjacency`: the ``(n_outputs, n_inputs)`` dependency matrix; entry ``[i, j]`` is the
  dependence of output ``i`` on input ``j`` and is exactly zero where no path connects them;
- :meth:`sparsifiable_weights`: the weights (with deterministic gates) counted by weight sparsity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from ._gates import GatedLinear, GateGranularity

ACTIVATIONS = {
    "none": None,
    "linear": None,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
}


def capture_config(arguments: dict) -> dict:
    """The constructor arguments of a module, for saving and rebuilding it (drops ``self``)."""
    return {
        key: (list(value) if isinstance(value, tuple) else value)
        for key, value in arguments.items()
        if key not in ("self", "__class__")
    }


def make_activation(activation: str | None) -> nn.Module:
    """Build an activation module from its name (``None`` and ``"none"`` give the identity)."""
    name = "none" if activation is None else str(activation).lower()
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {activation!r}; valid names are {sorted(ACTIVATIONS)}.")
    cls = ACTIVATIONS[name]
    return nn.Identity() if cls is None else cls()


CACHE_SIZED_ELEMENTS = 2**22
"""Tensors up to this many elements count as cache-sized: an ensemble is stacked for training on the CPU, and
:meth:`MLPVectorField.forward_excluding` contracts its per-output hidden copies in one ``einsum``, only below it.
Measured on a 2-core CPU: 11 genes x 32 hidden units x 416 points (0.15 M elements), stacking five members
trains 2.3x faster and the contraction is a quarter faster; 529 genes (6.4 M elements), stacking is 2x slower
and the contraction 1.5x slower than a product and a sum."""


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ weight.T + bias``, for one weight ``(out, in)`` or a stack of them ``(n_members, out, in)``.

    A stacked weight (an ensemble trained as one model, :func:`~pathreg.models.stack_members`) maps member ``m``'s
    inputs ``x[m]`` of shape ``(n_members, ..., in)``; its bias is ``(n_members, out)``.
    """
    if weight.ndim == 2:
        return nn.functional.linear(x, weight, bias)
    shape = x.shape
    flat = x.reshape(weight.shape[0], -1, shape[-1])
    if bias is None:
        out = torch.bmm(flat, weight.transpose(1, 2))
    else:
        out = torch.baddbmm(bias.unsqueeze(1), flat, weight.transpose(1, 2))
    return out.reshape(*shape[:-1], weight.shape[1])


def path_adjacency(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    r"""Products of absolute weights along all input-output paths.

    .. math::
        A = |W^{L+1}| \cdots |W^{1}|

    Parameters
    ----------
    weights
        Weight matrices from the first layer to the last, each of shape ``(out, in)`` (or stacks of them,
        ``(n_members, out, in)``).

    Returns
    -------
    ``(n_outputs, n_inputs)`` matrix (one per member for stacks); ``A[i, j] = 0`` exactly when no path from
    input ``j`` to output ``i`` has only non-zero weights.
    """
    result = weights[0].abs()
    for weight in weights[1:]:
        result = weight.abs() @ result
    return result


def path_adjacency_mean(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    r"""The mean entry of :func:`path_adjacency`, without forming the matrix.

    The sum of all entries of :math:`|W^{L+1}| \cdots |W^{1}|` is :math:`\mathbf 1^\top |W^{L+1}| \cdots
    |W^{1}| \mathbf 1`: a chain of matrix-vector products, linear in the number of weights instead of
    ``n_outputs x n_inputs`` memory and a matrix product per layer. Used by the path penalties. For stacked
    weights ``(n_members, out, in)``, one mean per member.
    """
    totals = weights[0].abs().sum(dim=-1)
    for weight in weights[1:]:
        totals = (weight.abs() @ totals.unsqueeze(-1)).squeeze(-1)
    return totals.sum(dim=-1) / (weights[-1].shape[-2] * weights[0].shape[-1])


class MLPVectorField(nn.Module):
    """A multilayer perceptron vector field, optionally with hard-concrete gates on every weight.

    Parameters
    ----------
    n_inputs
        Number of inputs (e.g. regulators, or ``[x, v]`` of a second-order system).
    n_outputs
        Number of outputs (rates).
    hidden
        Hidden layer widths; ``()`` gives a single linear map.
    activation
        Nonlinearity between layers (not after the last); ``None`` or ``"none"`` makes the field linear.
    bias
        Whether layers have biases.
    gated
        Use :class:`~pathreg.models.GatedLinear` layers (L0 and PathReg).
    gate
        ``"weight"`` (one gate per weight) or ``"input"`` (one per input unit).
    log_alpha_init
        Initial gate ``log_alpha``.
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        *,
        hidden: Sequence[int] = (20, 20),
        activation: str | None = "elu",
        bias: bool = False,
        gated: bool = False,
        gate: GateGranularity = "weight",
        log_alpha_init: float = 2.0,
    ) -> None:
        super().__init__()
        self.config = capture_config(locals())
        self.n_inputs = int(n_inputs)
        self.n_outputs = int(n_outputs)
        self.hidden = tuple(int(h) for h in hidden)
        self.gated = gated
        sizes = (self.n_inputs, *self.hidden, self.n_outputs)
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            if gated:
                layers.append(GatedLinear(fan_in, fan_out, bias=bias, gate=gate, log_alpha_init=log_alpha_init))
            else:
                layers.append(nn.Linear(fan_in, fan_out, bias=bias))
        self.layers = nn.ModuleList(layers)
        self.activation = make_activation(activation)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Rates at states ``x`` of shape ``(..., n_inputs)``."""
        h = x
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            h = linear(h, _current_weight(layer), layer.bias)
            if index < last:
                h = self.activation(h)
        return h

    def forward_excluding(self, t: torch.Tensor, x: torch.Tensor, excluded: torch.Tensor) -> torch.Tensor:
        """Rates at ``x`` where output ``i`` does not see input ``excluded[i]`` (``-1``: it sees every input).

        :meth:`forward` of ``x`` with that input set to zero, for every output at once: the first layer's
        pre-activation loses the excluded input's contribution (subtracted, so independent of it up to
        rounding), which costs one hidden vector per state for each output that excludes an input, instead of
        an evaluation of the whole network. Outputs that exclude nothing (targets that are not regulators) share
        :meth:`forward`'s hidden layer, so a fit of 20,000 genes with 1,600 regulators keeps 1,600 hidden copies
        per state, not 20,000. :meth:`NeuralODE.adjacency` and the readouts are exactly zero at the excluded
        inputs. With stacked parameters (:func:`~pathreg.models.stack_members`), ``x`` is
        ``(n_members, ..., n_inputs)``.
        """
        weights = [_current_weight(layer) for layer in self.layers]
        biases = [layer.bias for layer in self.layers]
        if len(self.layers) == 1:  # a linear map: drop one weight per output
            valid = excluded >= 0
            column = excluded.clamp_min(0)
            dropped = x.index_select(-1, column) * valid.to(x.dtype)
            own = weights[0][..., torch.arange(self.n_outputs, device=x.device), column]
            return linear(x, weights[0], biases[0]) - dropped * own.unsqueeze(-2)
        rows = self._excluding_rows(excluded)
        if rows is None:  # every output excludes one of the inputs
            return self._rates_excluding(x, weights, biases, excluded)
        shared = self.forward(t, x)
        if rows.numel() == 0:
            return shared
        last = weights[-1].index_select(-2, rows)
        last_bias = None if biases[-1] is None else biases[-1].index_select(-1, rows)
        own = self._rates_excluding(x, [*weights[:-1], last], [*biases[:-1], last_bias], excluded.index_select(0, rows))
        return shared.index_copy(-1, rows, own)

    def _excluding_rows(self, excluded: torch.Tensor) -> torch.Tensor | None:
        """Indices of the outputs that exclude an input; ``None`` when all do. Cached per ``excluded`` tensor."""
        cached = getattr(self, "_rows_cache", None)
        if cached is None or cached[0] is not excluded:
            valid = excluded >= 0
            rows = None if bool(valid.all()) else torch.nonzero(valid).flatten()
            self._rows_cache = cached = (excluded, rows)
        return cached[1]

    def _rates_excluding(self, x: torch.Tensor, weights: list, biases: list, column: torch.Tensor) -> torch.Tensor:
        """Outputs of the last layer's rows ``weights[-1]``, output ``i`` without input ``column[i]`` (all valid)."""
        dropped = x.index_select(-1, column)  # (..., n_rows): each output's excluded value
        first = linear(x, weights[0], biases[0])
        own = weights[0].transpose(-1, -2).index_select(-2, column).unsqueeze(-3)  # (1, n_rows, h1) per member
        h = torch.addcmul(first.unsqueeze(-2), dropped.unsqueeze(-1), own, value=-1)  # (..., n_rows, h1)
        for weight, bias in zip(weights[1:-1], biases[1:-1], strict=True):
            h = linear(self.activation(h), weight, bias)
        hidden = self.activation(h)
        last = weights[-1].unsqueeze(-3)
        if hidden.numel() <= CACHE_SIZED_ELEMENTS:  # output i reads its own copy of the last hidden layer
            rates = torch.einsum("...ih,...ih->...i", hidden, last)  # one contraction: faster while it fits a cache
        else:
            rates = (hidden * last).sum(-1)  # no permuted copy of a large tensor
        return rates if biases[-1] is None else rates + biases[-1].unsqueeze(-2)

    def layer_weights(self) -> list[torch.Tensor]:
        """Weights of every layer, first to last, with deterministic gates where gated."""
        if self.gated:
            return [layer.deterministic_weight() for layer in self.layers]
        return [layer.weight for layer in self.layers]

    def gate_probability_matrices(self) -> list[torch.Tensor]:
        """``G^l_ij = P(z^l_ij != 0)`` for every layer (gated fields only)."""
        if not self.gated:
            raise TypeError("This vector field has no gates; build it with gated=True.")
        return [layer.gate_probabilities() for layer in self.layers]

    def expected_active_paths(self) -> torch.Tensor:
        r"""Expected number of active paths per output-input pair, :math:`A_z = G^{L+1} \cdots G^1`."""
        return path_adjacency(self.gate_probability_matrices())

    def adjacency(self) -> torch.Tensor:
        r"""Dependency matrix (paper Eq. 13): :math:`(|W^{L+1}| \odot G^{L+1}) \cdots (|W^1| \odot G^1)`.

        Gates are the deterministic evaluation gates; without gates this is :math:`|W^{L+1}|\cdots|W^1|`.
        """
        return path_adjacency(self.layer_weights())

    def sparsifiable_weights(self) -> list[torch.Tensor]:
        """The weights that weight sparsity counts (deterministic gates applied)."""
        return self.layer_weights()


class GroupLassoVectorField(nn.Module):
    """One small network per output, computed as one batched network (Bellot et al. 2022).

    Output ``i`` owns its hidden units; layer ``l`` holds a weight of shape
    ``(n_outputs, width_l, width_{l-1})`` and all outputs are computed with one ``einsum`` per
    layer. The first-layer weights of output ``i`` from input ``k``,
    ``first_weight[i, :, k]``, form the group that the group lasso prunes.

    Parameters
    ----------
    n_inputs, n_outputs
        Sizes.
    hidden
        Hidden widths of each output's network.
    activation
        Nonlinearity between layers.
    bias
        Whether layers have biases.
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        *,
        hidden: Sequence[int] = (10,),
        activation: str | None = "elu",
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.config = capture_config(locals())
        self.n_inputs = int(n_inputs)
        self.n_outputs = int(n_outputs)
        self.hidden = tuple(int(h) for h in hidden)
        sizes = (self.n_inputs, *self.hidden, 1)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList() if bias else None
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(self.n_outputs, fan_out, fan_in).uniform_(-bound, bound)))
            if bias:
                self.biases.append(nn.Parameter(torch.empty(self.n_outputs, fan_out).uniform_(-bound, bound)))
        self.activation = make_activation(activation)

    @property
    def first_weight(self) -> torch.Tensor:
        """First-layer weights, shape ``(n_outputs, width_1, n_inputs)``."""
        return self.weights[0]

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Rates at states ``x`` of shape ``(..., n_inputs)``."""
        return self._rates(x, self.weights[0])

    def forward_excluding(self, t: torch.Tensor, x: torch.Tensor, excluded: torch.Tensor) -> torch.Tensor:
        """Rates at ``x`` where output ``i`` does not see input ``excluded[i]`` (``-1``: it sees every input)."""
        keep = torch.ones(self.n_outputs, self.n_inputs, dtype=x.dtype, device=x.device)
        rows = torch.nonzero(excluded >= 0).flatten()
        keep[rows, excluded[rows]] = 0.0
        return self._rates(x, self.weights[0] * keep.unsqueeze(1))

    def _rates(self, x: torch.Tensor, first_weight: torch.Tensor) -> torch.Tensor:
        """The batched per-output networks with ``first_weight`` as their first layer."""
        h = torch.einsum("...k,imk->...im", x, first_weight)
        for index in range(len(self.weights)):
            if index > 0:
                h = torch.einsum("...ik,imk->...im", self.activation(h), self.weights[index])
            if self.biases is not None:
                h = h + self.biases[index]
        return h.squeeze(-1)

    def group_norms(self) -> torch.Tensor:
        """L2 norm of every group, shape ``(n_outputs, n_inputs)``."""
        return torch.linalg.vector_norm(self.first_weight, dim=1)

    def adjacency(self) -> torch.Tensor:
        """Dependency matrix: the group norms (zero exactly where a group is pruned)."""
        return self.group_norms()

    def sparsifiable_weights(self) -> list[torch.Tensor]:
        """All weight tensors."""
        return list(self.weights)


class LassoNetVectorField(nn.Module):
    r"""A linear skip connection plus an MLP, with LassoNet's hierarchy (Lemhadri et al. 2021).

    *Inner* placement: :math:`f(x) = S x + g(x)` inside the ODE. *Outer* placement: the ODE
    integrates :math:`g` alone and the skip is added to the solution,
    :math:`\hat x(t) = S x(0) + \mathrm{ODESolve}(g, x(0), t)`; the ODE model applies it.

    The hierarchy :math:`\|W^1_{\cdot,k}\|_\infty \le M \|S_{\cdot,k}\|_2` is enforced by the
    hier-prox step of :class:`~pathreg.models.LassoNetRegularizer`.
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        *,
        hidden: Sequence[int] = (20, 20),
        activation: str | None = "elu",
        bias: bool = False,
        placement: Literal["inner", "outer"] = "inner",
    ) -> None:
        super().__init__()
        self.config = capture_config(locals())
        if placement not in ("inner", "outer"):
            raise ValueError(f"placement must be 'inner' or 'outer', got {placement!r}.")
        self.n_inputs = int(n_inputs)
        self.n_outputs = int(n_outputs)
        self.placement = placement
        self.skip = nn.Linear(self.n_inputs, self.n_outputs, bias=False)
        self.network = MLPVectorField(n_inputs, n_outputs, hidden=hidden, activation=activation, bias=bias)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Rates at states ``x``; the skip is included only in the inner placement."""
        rates = self.network(t, x)
        if self.placement == "inner":
            rates = rates + self.skip(x)
        return rates

    def adjacency(self) -> torch.Tensor:
        r"""Dependency matrix: :math:`|S| + |W^{L+1}|\cdots|W^1|` (zero where the hierarchy prunes input k)."""
        return self.skip.weight.abs() + self.network.adjacency()

    def sparsifiable_weights(self) -> list[torch.Tensor]:
        """The skip weights and the network's weights."""
        return [self.skip.weight, *self.network.layer_weights()]


def _current_weight(layer: nn.Module) -> torch.Tensor:
    """The weight a layer's forward uses now: the gated sample (or the frozen one) of a gated layer."""
    if isinstance(layer, GatedLinear):
        return layer.current_weight()
    return layer.weight


def resample_gates(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """Draw one new gate sample for every :class:`GatedLinear` inside ``module``."""
    for submodule in module.modules():
        if isinstance(submodule, GatedLinear):
            submodule.resample(generator)
