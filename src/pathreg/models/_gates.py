"""Hard-concrete gates (Louizos et al. 2018) and a linear layer with one gate per weight."""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Literal

import torch
from torch import nn

BETA = 2.0 / 3.0
GAMMA = -0.1
ZETA = 1.1
_LOG_RATIO = math.log(-GAMMA / ZETA)
LOG_ALPHA_LIMIT = math.log(100.0)
"""``log_alpha`` is kept in ``[-LOG_ALPHA_LIMIT, LOG_ALPHA_LIMIT]`` during training (as Louizos et al.'s code)."""

GateGranularity = Literal["weight", "input"]


def gate_probabilities(log_alpha: torch.Tensor) -> torch.Tensor:
    r"""Probability that a hard-concrete gate is non-zero.

    .. math::
        P(z \neq 0) = \sigma(\log\alpha - \beta \log(-\gamma / \zeta))

    Parameters
    ----------
    log_alpha
        Location parameters of the gates.

    Returns
    -------
    Tensor of the same shape with values in (0, 1).
    """
    return torch.sigmoid(log_alpha - BETA * _LOG_RATIO)


def deterministic_gates(log_alpha: torch.Tensor) -> torch.Tensor:
    r"""The gates used at evaluation: :math:`\mathrm{clamp}(\sigma(\log\alpha)(\zeta-\gamma)+\gamma, 0, 1)`.

    They are exactly zero where :math:`\log\alpha \le \log(-\gamma/\zeta)`.
    """
    return torch.clamp(torch.sigmoid(log_alpha) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)


def logistic_noise(log_alpha: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``log u - log(1 - u)`` with ``u ~ U(0, 1)``, shaped like ``log_alpha`` (no gradient)."""
    u = torch.rand(log_alpha.shape, generator=generator, device=log_alpha.device, dtype=log_alpha.dtype)
    u = u.clamp(1e-6, 1.0 - 1e-6)
    return torch.log(u) - torch.log1p(-u)


def stretched_gates(noise: torch.Tensor, log_alpha: torch.Tensor) -> torch.Tensor:
    """Hard-concrete gates from logistic noise.

    ``clamp(sigmoid((noise + log_alpha) / beta) (zeta - gamma) + gamma, 0, 1)``; gradients flow to ``log_alpha``.
    """
    s = torch.sigmoid((noise + log_alpha) / BETA)
    return torch.clamp(s * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)


def sample_gates(log_alpha: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Draw one reparameterised sample of the hard-concrete gates.

    .. math::
        u \sim U(0, 1),\quad s = \sigma\big((\log u - \log(1-u) + \log\alpha)/\beta\big),\quad
        z = \mathrm{clamp}(s(\zeta-\gamma)+\gamma, 0, 1)

    Gradients flow to ``log_alpha``.
    """
    return stretched_gates(logistic_noise(log_alpha, generator), log_alpha)


class GatedLinear(nn.Module):
    """A linear layer whose weights are multiplied by hard-concrete gates.

    In training mode the gates are a random sample, drawn by :meth:`resample` and shared by
    every forward call until the next draw (one sample per optimizer step, so an adaptive solver
    sees one fixed vector field). In evaluation mode the deterministic gates are used, which
    are exactly zero for closed gates.

    Parameters
    ----------
    in_features, out_features
        Layer sizes.
    bias
        Whether to add an (ungated) bias.
    gate
        ``"weight"``: one gate per weight (the PathReg default). ``"input"``: one gate per input
        unit, shared by all weights leaving it (the original L0 variant).
    log_alpha_init
        Initial value of every gate's ``log_alpha``; larger means gates start more open
        (2.0 gives P(z != 0) = 0.973 and a deterministic gate of 0.957; ``log 11`` and above a
        deterministic gate of 1).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = False,
        gate: GateGranularity = "weight",
        log_alpha_init: float = 2.0,
    ) -> None:
        super().__init__()
        if gate not in ("weight", "input"):
            raise ValueError(f"gate must be 'weight' or 'input', got {gate!r}.")
        self.in_features = in_features
        self.out_features = out_features
        self.gate = gate
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        gate_shape = (out_features, in_features) if gate == "weight" else (1, in_features)
        self.log_alpha = nn.Parameter(torch.full(gate_shape, float(log_alpha_init)))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self._noise: torch.Tensor | None = None
        self._frozen_weight: torch.Tensor | None = None

    def resample(self, generator: torch.Generator | None = None) -> None:
        """Draw new gate noise; the following forward calls in training mode share this sample.

        The noise is written into the same tensor from draw to draw (a captured CUDA graph reads it there).
        """
        self.set_noise(logistic_noise(self.log_alpha, generator))

    def set_noise(self, noise: torch.Tensor | None) -> None:
        """Use ``noise`` (logistic, shaped like ``log_alpha``) as the gate sample; ``None`` forgets the sample.

        Written into the tensor of the previous sample where the shapes match (a captured CUDA graph reads it
        there).
        """
        if noise is None:
            self._noise = None
        elif self._noise is not None and self._noise.shape == noise.shape and self._noise.device == noise.device:
            self._noise.copy_(noise)
        else:
            self._noise = noise

    def gates(self) -> torch.Tensor:
        """The gates in force: the current sample in training mode, deterministic gates otherwise."""
        if not self.training:
            return deterministic_gates(self.log_alpha)
        noise = self._noise
        if noise is None or noise.shape != self.log_alpha.shape or noise.device != self.log_alpha.device:
            self.resample()
        return stretched_gates(self._noise.to(self.log_alpha.dtype), self.log_alpha)

    def constrain_parameters(self) -> None:
        """Clamp ``log_alpha`` to ``[-LOG_ALPHA_LIMIT, LOG_ALPHA_LIMIT]`` so gates stay revisable."""
        with torch.no_grad():
            self.log_alpha.clamp_(-LOG_ALPHA_LIMIT, LOG_ALPHA_LIMIT)

    def gate_probabilities(self) -> torch.Tensor:
        """P(z != 0) per weight, shape ``(out_features, in_features)`` (one per member for stacked gates)."""
        probabilities = gate_probabilities(self.log_alpha)
        return probabilities.expand(*probabilities.shape[:-2], self.out_features, self.in_features)

    def effective_weight(self) -> torch.Tensor:
        """The weight multiplied by the gates in force."""
        return self.weight * self.gates()

    def deterministic_weight(self) -> torch.Tensor:
        """The weight multiplied by the deterministic gates, whatever the mode."""
        return self.weight * deterministic_gates(self.log_alpha)

    def current_weight(self) -> torch.Tensor:
        """The gated weight :meth:`forward` uses now (the frozen one inside :meth:`frozen`)."""
        return self._frozen_weight if self._frozen_weight is not None else self.effective_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the gated linear map to ``x`` of shape ``(..., in_features)``."""
        return nn.functional.linear(x, self.current_weight(), self.bias)

    @contextmanager
    def frozen(self):
        """Within this context, forward calls reuse one gated weight computed on entry.

        An ODE solve evaluates the vector field many times with one gate sample; computing the
        gated weight once per solve keeps the autograd graph small.
        """
        self._frozen_weight = self.effective_weight()
        try:
            yield self
        finally:
            self._frozen_weight = None

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, gate={self.gate!r}"
        )
