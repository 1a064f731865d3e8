"""Collocation training: fit the vector field to estimated derivatives, without solving the ODE."""

from __future__ import annotations

import contextlib
import math

import torch
from tqdm.auto import tqdm

from .._settings import logger
from ._device import resolve_device
from ._faults import GOOD_STATE_EVERY, DivergenceGuard
from ._metrics import EPS
from ._ode import NeuralODE
from ._regularizers import Regularizer, get_regularizer
from ._training import History, _after_step, _fixed_support, _parameter_groups, _set_gate_mode
from ._vector_fields import resample_gates


def fit_collocation(
    model: NeuralODE,
    states: torch.Tensor,
    derivatives: torch.Tensor,
    *,
    regularizer: str | Regularizer = "none",
    n_epochs: int = 2000,
    lr: float = 1e-2,
    gate_lr: float | None = None,
    weight_decay: float = 0.0,
    warmup_epochs: int = 0,
    refit_epochs: int = 0,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
) -> History:
    r"""Fit the right-hand side of a first-order ODE to estimated derivatives (collocation).

    .. math::
        \mathcal{L} = \frac{\mathrm{mean}\big(\lVert \mathrm{rhs}(x_k) - \dot x_k \rVert^2\big)}
                            {\mathrm{mean}\big(\lVert \dot x_k - \bar{\dot x} \rVert^2\big)} + \mathrm{penalty}

    over observed states :math:`x_k` with derivative estimates :math:`\dot x_k` (e.g. finite differences
    along a trajectory). The error is relative to the derivatives' variance, so that the penalty's
    ``lambda_`` means the same whatever the units of time and expression (1 = the error of predicting
    the mean derivative). Needs no ODE solve, so an epoch costs one evaluation of the vector field;
    the classic way to fit (and to initialise) ODE models to dense, smooth trajectories (Varah 1982;
    Roesch et al. 2021). Each epoch is one Adam step with one gate sample and the regularizer's
    proximal step, as in :func:`fit`. The model is left in evaluation mode.

    Parameters
    ----------
    model
        A :class:`NeuralODE` (any vector field the regularizer built).
    states
        ``(n_points, state_dim)`` observed states.
    derivatives
        ``(n_points, state_dim)`` derivative estimates at those states.
    regularizer, lr, gate_lr, weight_decay, device, seed, progress
        As in :func:`fit`.
    n_epochs
        Number of Adam steps.
    warmup_epochs
        The first ``warmup_epochs`` steps fit without penalty and with deterministic gates (the
        unpenalised start of iterative sparsification): the fit finds the dependencies the data
        support before gate noise and the penalty start to prune.
    refit_epochs
        The last ``refit_epochs`` steps refit the selected structure: deterministic gates, frozen
        ``log_alpha``, exact zeros kept, no penalty ("prune and refit", as ``finetune_epochs`` of :func:`fit`).

    Returns
    -------
    The per-epoch :class:`History` (``fit_loss`` is the relative derivative error).
    """
    regularizer = get_regularizer(regularizer)
    if states.ndim != 2 or derivatives.ndim != 2 or states.shape[0] != derivatives.shape[0]:
        raise ValueError(
            f"states and derivatives must be (n_points, n_states) and (n_points, n_rates); got "
            f"{tuple(states.shape)} and {tuple(derivatives.shape)}."
        )
    if n_epochs < 1:
        raise ValueError(f"n_epochs must be at least 1, got {n_epochs}.")
    device = resolve_device(device)
    dtype = next(model.parameters()).dtype
    model.to(device)
    states = states.to(device, dtype)
    derivatives = derivatives.to(device, dtype)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    optimizer = torch.optim.Adam(_parameter_groups(model, lr, gate_lr, weight_decay), lr=lr)
    zero_time = torch.zeros((), device=device, dtype=dtype)
    scale = ((derivatives - derivatives.mean(0)) ** 2).mean().clamp_min(torch.finfo(dtype).tiny)
    history = History()
    if warmup_epochs < 0 or refit_epochs < 0 or warmup_epochs + refit_epochs > n_epochs:
        raise ValueError(
            f"warmup_epochs ({warmup_epochs}) and refit_epochs ({refit_epochs}) must be non-negative and together "
            f"at most n_epochs ({n_epochs})."
        )
    model.train()
    records = []
    guard = DivergenceGuard(model)
    support = contextlib.ExitStack()
    try:
        for epoch in tqdm(range(n_epochs), disable=not progress, desc=f"collocation {regularizer.name}"):
            refitting = epoch >= n_epochs - refit_epochs
            penalised = warmup_epochs <= epoch and not refitting
            if epoch == n_epochs - refit_epochs:
                support.enter_context(_fixed_support(model.vector_field, enabled=True))
            _set_gate_mode(model, deterministic=not penalised, frozen=not penalised)
            resample_gates(model, generator)
            optimizer.zero_grad(set_to_none=True)
            fit_loss = ((model.rhs(zero_time, states) - derivatives) ** 2).mean() / scale
            penalty = regularizer.penalty(model.vector_field) * (1.0 if penalised else 0.0)
            loss = fit_loss + penalty if regularizer.smooth else fit_loss
            if not torch.isfinite(loss):  # restore the last good parameters, lower the learning rate, go on
                guard.recover(optimizer, None, float(loss), epoch)
                continue
            loss.backward()
            optimizer.step()
            _after_step(model, regularizer, optimizer.param_groups[0]["lr"], 1.0 if penalised else 0.0)
            with torch.no_grad():  # kept on the device: one transfer after the loop
                pruned = (model.vector_field.adjacency().abs() < EPS).float().mean()
                records.append(torch.stack([fit_loss.detach(), penalty.detach(), pruned]))
            history.lambda_scale.append(1.0 if penalised else 0.0)
            history.learning_rate.append(optimizer.param_groups[0]["lr"])
            if epoch % GOOD_STATE_EVERY == 0:
                guard.remember()
    except KeyboardInterrupt:
        history.interrupted = True
        logger.warning("Training interrupted at epoch %d; keeping the parameters of the last finished epoch.", epoch)
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            model.load_state_dict(guard.state)
    finally:
        support.close()
    if not records:
        raise FloatingPointError("Training was stopped before its first epoch finished.")
    fit_losses, penalties, sparsities = torch.stack(records).double().cpu().T.tolist()
    history.fit_loss.extend(fit_losses)
    history.penalty.extend(penalties)
    history.loss.extend(f + p for f, p in zip(fit_losses, penalties, strict=True))
    history.feature_sparsity.extend(sparsities)
    _set_gate_mode(model, deterministic=False, frozen=False)
    model.eval()
    history.best_epoch = len(history) - 1
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        model.load_state_dict(guard.state)
        guard.recover(optimizer, None, math.nan, len(history))  # raises once the recoveries are used up
    return history
