"""Proximal operators: LassoNet's hier-prox and the group-lasso soft threshold."""

from __future__ import annotations

import torch


def soft_threshold(x: torch.Tensor, threshold: float | torch.Tensor) -> torch.Tensor:
    """``sign(x) * max(|x| - threshold, 0)``."""
    return torch.sign(x) * torch.clamp(x.abs() - threshold, min=0.0)


def group_soft_threshold(groups: torch.Tensor, threshold: float, dim: int) -> torch.Tensor:
    r"""Shrink every group (a slice along ``dim``) towards zero by ``threshold`` in L2 norm.

    .. math::
        w \leftarrow \frac{w}{\|w\|_2} \max(\|w\|_2 - \lambda\eta, 0)
    """
    norms = torch.linalg.vector_norm(groups, dim=dim, keepdim=True)
    scale = torch.clamp(norms - threshold, min=0.0) / norms.clamp_min(torch.finfo(groups.dtype).tiny)
    return groups * scale


def hier_prox(
    skip: torch.Tensor, first_weight: torch.Tensor, threshold: float, hierarchy: float
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""LassoNet's hierarchical proximal operator (Lemhadri et al. 2021, Algorithm 2), for all inputs at once.

    For every input ``k`` with skip weights :math:`\theta_k` (one per output) and first-layer
    weights :math:`W_k` (one per hidden unit), with :math:`|W_{(1)}| \ge \dots \ge |W_{(K)}|` sorted:

    .. math::
        w_m = \frac{M}{1 + m M^2}\, S_{\lambda}\Big(\|\theta_k\|_2 + M \sum_{i \le m} |W_{(i)}|\Big),
        \quad m = 0, \dots, K

    Take the first :math:`\tilde m` with :math:`|W_{(\tilde m + 1)}| \le w_{\tilde m} \le |W_{(\tilde m)}|`
    (:math:`|W_{(0)}| = \infty`, :math:`|W_{(K+1)}| = 0`); then
    :math:`\tilde\theta_k = \frac{1}{M} w_{\tilde m} \theta_k / \|\theta_k\|_2` and
    :math:`\tilde W_k = \mathrm{sign}(W_k) \min(w_{\tilde m}, |W_k|)`. Afterwards
    :math:`\|\tilde W_k\|_\infty \le M \|\tilde\theta_k\|_2`.

    Parameters
    ----------
    skip
        ``(n_outputs, n_inputs)`` skip weights; column ``k`` is :math:`\theta_k`.
    first_weight
        ``(n_hidden, n_inputs)`` first-layer weights; column ``k`` is :math:`W_k`.
    threshold
        :math:`\lambda` times the learning rate.
    hierarchy
        :math:`M`.

    Returns
    -------
    The new skip and first-layer weights.
    """
    n_hidden = first_weight.shape[0]
    theta_norm = torch.linalg.vector_norm(skip, dim=0)  # (n_inputs,)
    sorted_abs = first_weight.abs().sort(dim=0, descending=True).values  # (K, n_inputs)
    zeros = torch.zeros_like(theta_norm).unsqueeze(0)
    cumulative = torch.cat([zeros, sorted_abs.cumsum(dim=0)], dim=0)  # (K + 1, n_inputs)
    m = torch.arange(n_hidden + 1, device=skip.device, dtype=skip.dtype).unsqueeze(1)
    w = hierarchy / (1.0 + m * hierarchy**2) * torch.clamp(theta_norm + hierarchy * cumulative - threshold, min=0.0)
    inf = torch.full_like(zeros, float("inf"))
    upper = torch.cat([inf, sorted_abs], dim=0)  # |W_(m)|, m = 0..K
    lower = torch.cat([sorted_abs, zeros], dim=0)  # |W_(m+1)|, m = 0..K
    valid = (lower <= w) & (w <= upper)
    first_valid = valid.to(torch.int8).argmax(dim=0)  # the first m satisfying the condition
    w_chosen = w.gather(0, first_valid.unsqueeze(0)).squeeze(0)  # (n_inputs,)
    direction = skip / theta_norm.clamp_min(torch.finfo(skip.dtype).tiny)
    new_skip = direction * (w_chosen / hierarchy)
    new_first = torch.sign(first_weight) * torch.minimum(first_weight.abs(), w_chosen.unsqueeze(0))
    return new_skip, new_first
