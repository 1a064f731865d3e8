"""A re-implementation of the reference PathReg implementation's single-cell training step, for timing.

Written from the published description of the reference protocol (theislab/PathReg, the bone marrow
notebook), not from its code:

- vector field: a 529 -> 100 -> 100 -> 529 MLP (ELU after the first layer, biases), every layer's
  *input units* gated by hard-concrete gates (one gate per input unit, so the gate pattern of the
  dependency matrix is rank one), a fresh gate sample at every function evaluation, stochastic gates
  at evaluation as well;
- every lineage integrated separately with dopri5 (``rtol = atol = 1e-3``, no adjoint) from the mean
  of its first five cells (entries more than 3 standard deviations from that mean dropped) over all its
  cells' times;
- loss: the sum over lineages of the per-cell MSE, plus ``lam`` times the mean of the gated path
  product ``||A||`` and ``0.1 lam`` times the mean of the gate-probability path product ``||A_z||``
  (both formed as 529 x 529 matrices), ``lam = 0.01``;
- Adam (lr 0.01) with ``ReduceLROnPlateau(factor 0.5, patience 20)`` stepped on the loss every iteration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torchdiffeq import odeint

from pathreg.models import BETA, GAMMA, ZETA, gate_probabilities, path_adjacency

HIDDEN = (100, 100)
LAMBDA = 0.01
RTOL = ATOL = 1e-3


class UnitGatedLinear(nn.Module):
    """A linear layer whose input units are multiplied by hard-concrete gates sampled at every call."""

    def __init__(self, n_inputs: int, n_outputs: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_inputs, n_outputs)
        self.log_alpha = nn.Parameter(torch.empty(n_inputs).normal_(0.0, 0.01))

    def gates(self) -> torch.Tensor:
        """One stochastic sample of the input gates."""
        uniform = torch.rand_like(self.log_alpha).clamp(1e-6, 1 - 1e-6)
        s = torch.sigmoid((torch.log(uniform) - torch.log1p(-uniform) + self.log_alpha) / BETA)
        return (s * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate the inputs, then the linear map."""
        return self.linear(x * self.gates())


class ReferenceVectorField(nn.Module):
    """The reference's per-unit gated MLP; counts its evaluations in ``nfe``."""

    def __init__(self, n_genes: int, hidden: Sequence[int] = HIDDEN) -> None:
        super().__init__()
        sizes = (n_genes, *hidden, n_genes)
        self.layers = nn.ModuleList(UnitGatedLinear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.activation = nn.ELU()
        self.nfe = 0

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Rates at ``x``."""
        self.nfe += 1
        h = self.layers[0](x)
        h = self.activation(h)  # ELU after the first layer only
        for layer in self.layers[1:]:
            h = layer(h)
        return h

    def penalty(self) -> torch.Tensor:
        """``lam * mean(||A||) + 0.1 * lam * mean(||A_z||)`` with per-unit gate probabilities."""
        probabilities = [gate_probabilities(layer.log_alpha).expand_as(layer.linear.weight) for layer in self.layers]
        gated = [layer.linear.weight.abs() * p for layer, p in zip(self.layers, probabilities, strict=True)]
        return LAMBDA * path_adjacency(gated).mean() + 0.1 * LAMBDA * path_adjacency(probabilities).mean()


def initial_state(cells: np.ndarray, n_first: int = 5, z_max: float = 3.0) -> np.ndarray:
    """Mean of the first ``n_first`` cells per gene, ignoring entries ``z_max`` standard deviations from it."""
    first = cells[:n_first]
    mean, std = first.mean(axis=0), first.std(axis=0)
    keep = np.abs(first - mean) < z_max * np.where(std > 0, std, np.inf)
    counts = keep.sum(axis=0)
    return np.where(counts > 0, (first * keep).sum(axis=0) / np.maximum(counts, 1), mean)


class ReferenceTrainer:
    """The reference training loop on lineages given as ``(times, cells)`` pairs sorted by time.

    Parameters
    ----------
    lineages
        Per lineage: the cells' times ``(n_cells,)`` in ``[0, 1]`` and expression ``(n_cells, n_genes)``.
    device
        Torch device.
    seed
        Seed of the initialisation and the gate samples.
    """

    def __init__(self, lineages: Sequence[tuple[np.ndarray, np.ndarray]], device: torch.device, seed: int = 0) -> None:
        torch.manual_seed(seed)
        n_genes = lineages[0][1].shape[1]
        self.device = device
        self.field = ReferenceVectorField(n_genes).to(device)
        self.optimizer = torch.optim.Adam(self.field.parameters(), lr=0.01)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, factor=0.5, patience=20)
        self.lineages = []
        for times, cells in lineages:
            # the solver needs increasing times: cells sharing a time share the prediction
            unique, inverse = np.unique(times, return_inverse=True)
            self.lineages.append(
                (
                    torch.as_tensor(initial_state(cells), dtype=torch.float32, device=device)[None],
                    torch.as_tensor(unique, dtype=torch.float32, device=device),
                    torch.as_tensor(inverse, dtype=torch.long, device=device),
                    torch.as_tensor(cells, dtype=torch.float32, device=device),
                )
            )

    def fit_loss(self) -> torch.Tensor:
        """Sum over lineages of the per-cell MSE of the separately solved lineages."""
        total = torch.zeros((), device=self.device)
        for x0, times, inverse, cells in self.lineages:
            solution = odeint(self.field, x0, times, method="dopri5", rtol=RTOL, atol=ATOL)[:, 0]
            total = total + torch.mean((solution[inverse] - cells) ** 2)
        return total

    def step(self) -> tuple[float, int]:
        """One training iteration; returns the fit loss (before the update) and the function evaluations."""
        self.field.nfe = 0
        self.optimizer.zero_grad()
        fit_loss = self.fit_loss()
        loss = fit_loss + self.field.penalty()
        loss.backward()
        self.optimizer.step()
        value = float(loss.item())
        self.scheduler.step(value)
        if not math.isfinite(value):
            raise FloatingPointError("the reference replica diverged")
        return float(fit_loss.detach()), self.field.nfe
