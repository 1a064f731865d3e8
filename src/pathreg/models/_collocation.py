"""Collocation training: fit the vector field to estimated derivatives, without solving the ODE."""

from __future__ import annotations

import contextlib
import math
import operator

import torch
from tqdm.auto import tqdm

from .._settings import logger
from ._device import resolve_device
from ._faults import GOOD_STATE_EVERY, DivergenceGuard
from ._metrics import EPS
from ._ode import NeuralODE
from ._regularizers import Regularizer, get_regularizer
from ._settings import CollocationSettings, with_options
from ._stacking import can_stack, resample_member_gates, stack_members, unstack_members
from ._stages import History, adam_optimizer, after_step, fixed_support, set_gate_mode
from ._vector_fields import CACHE_SIZED_ELEMENTS, resample_gates


def fit_collocation(
    model: NeuralODE,
    states: torch.Tensor,
    derivatives: torch.Tensor,
    *,
    cells: tuple[torch.Tensor, torch.Tensor] | None = None,
    regularizer: str | Regularizer = "none",
    settings: CollocationSettings | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    **options,
) -> History:
    r"""Fit the right-hand side of a first-order ODE to estimated derivatives (collocation).

    .. math::
        \mathcal{L} = \frac{\mathrm{mean}\big(\lVert \mathrm{rhs}(x_k) - \dot x_k \rVert^2\big)}
                            {\mathrm{mean}\big(\lVert p_k - \bar p \rVert^2\big)} + \mathrm{penalty},
        \qquad p_k = \dot x_k + d \odot x_k

    over observed states :math:`x_k` with derivative estimates :math:`\dot x_k` (e.g. finite differences
    along a trajectory). The error is relative to the variance of the production :math:`p_k` that the
    learned part of the rates must match (:math:`d` the model's decay rates at the start of the fit, 0
    without decay), so that the penalty's ``lambda_`` means the same whatever the units of time and
    expression and whatever the decay (1 = the error of predicting the mean production; without decay,
    the mean derivative). With a fixed decay most of a gene's production near a steady state is its
    decay times its level, which the derivatives' variance alone would not count. Needs no ODE solve, so
    an epoch costs one evaluation of the vector field; the classic way to fit (and to initialise) ODE
    models to dense, smooth trajectories (Varah 1982; Roesch et al. 2021).

    With ``cells = (cell_states, cell_derivatives)`` a single-cell term is added, weighted by
    ``settings.cell_weight``:

    .. math::
        \mathcal{L}_{\mathrm{cells}} = \frac{\mathrm{mean}_c \sum_i w_i (\mathrm{rhs}_i(x_c) - \dot x_{c,i})^2}
                                              {\mathrm{mean}_c \sum_i w_i (p_{c,i} - \bar p_i)^2},
        \qquad w_i \propto 1 / \mathrm{Var}_c(x_{c,i})

    over a random minibatch of ``settings.batch_size`` cells per step. The per-gene weights make an error
    count relative to each gene's own range, so lowly expressed genes count as much as the others. Near a
    steady state (:math:`\dot x \approx 0`) the term is a regression of every gene's decay on its
    regulators across cells, the covariation that bin means average away.

    Each epoch is one Adam step with one gate sample and the regularizer's
    proximal step, as in :func:`~pathreg.models.fit`: a warm-up without penalty, the penalised phase,
    then a refit of the selected structure (:class:`CollocationSettings`). The model is left in
    evaluation mode.

    Parameters
    ----------
    model
        A :class:`NeuralODE` (any vector field the regularizer built).
    states
        ``(n_points, state_dim)`` observed states.
    derivatives
        ``(n_points, state_dim)`` derivative estimates at those states.
    regularizer, device, seed, progress
        As in :func:`~pathreg.models.fit`.
    settings
        The training settings (``None``: the defaults of :class:`CollocationSettings`).
    **options
        Fields of :class:`CollocationSettings` that override those of ``settings``, e.g.
        ``fit_collocation(model, states, derivatives, n_epochs=500, warmup_fraction=0.4)``.

    Returns
    -------
    The per-epoch :class:`History` (``fit_loss`` is the relative derivative error). Interrupted
    (``KeyboardInterrupt``), training stops with the parameters of the last finished epoch and
    ``history.interrupted = True``; before the first epoch finished, the history is empty and the
    parameters are the initial ones.

    Raises
    ------
    ValueError
        For an unknown regularizer, device or option (close matches and the valid names listed), an
        invalid setting, or states and derivatives of different shapes.
    FloatingPointError
        If the training diverges and the recoveries are used up.
    """
    settings = with_options(settings, CollocationSettings, options)
    regularizer = get_regularizer(regularizer)
    _check_points(states, derivatives)
    return _fit([model], states, derivatives, cells, regularizer, settings, device, [seed], progress)[0]


def fit_collocation_ensemble(
    models: list[NeuralODE],
    states: torch.Tensor,
    derivatives: torch.Tensor,
    *,
    cells: tuple[torch.Tensor, torch.Tensor] | None = None,
    regularizer: str | Regularizer = "none",
    settings: CollocationSettings | None = None,
    device: str | torch.device = "auto",
    seeds: list[int] | None = None,
    progress: bool = True,
    **options,
) -> list[History]:
    """:func:`fit_collocation` for several models at once: an ensemble trained as one stacked model.

    Where the models and the regularizer allow it (:func:`~pathreg.models.can_stack`: an
    :class:`MLPVectorField` with Base, L0, PathReg or C-NODE), the members' parameters are stacked along a
    leading axis (:func:`~pathreg.models.stack_members`) and every epoch is one batched step for all of them,
    so the ensemble costs little more than one member. Member ``m`` draws its gate noise and its minibatches of
    cells from a generator seeded with ``seeds[m]`` in the order :func:`fit_collocation` does, and the loss is
    the sum of the members' losses, so it follows the updates of ``fit_collocation(models[m], ...,
    seed=seeds[m])`` up to floating-point rounding of the batched products. On the CPU the members are stacked
    only while a step's largest tensors (every output's copy of the hidden layer, of all members together) have
    at most 4 M elements, e.g. five members of 11 genes but not of 529: beyond that they no longer fit the
    caches and one member after another is faster. On a GPU they are always stacked. Two things are shared: a
    non-finite loss of any member restores the last good parameters of all members and lowers the learning
    rate of all, and an interruption stops all members at the same epoch. Other models are trained one after
    another with :func:`fit_collocation`.

    Parameters
    ----------
    models
        The members, trained in place and left in evaluation mode.
    seeds
        One integer seed per member (``None``: ``0, 1, ...``).
    states, derivatives, cells, regularizer, settings, device, progress, **options
        As in :func:`fit_collocation`.

    Returns
    -------
    One :class:`History` per member; trained one after another and interrupted, one per member trained so far
    (the last one marked ``interrupted``).

    Raises
    ------
    ValueError
        As :func:`fit_collocation`, and when ``seeds`` does not have one seed per model.
    TypeError
        For a seed that is not an integer.
    FloatingPointError
        If the training diverges and the recoveries are used up.
    """
    settings = with_options(settings, CollocationSettings, options)
    regularizer = get_regularizer(regularizer)
    _check_points(states, derivatives)
    seeds = list(range(len(models))) if seeds is None else [operator.index(seed) for seed in seeds]
    if len(seeds) != len(models) or not models:
        raise ValueError(f"give one seed per model: got {len(seeds)} seeds for {len(models)} models.")
    if not can_stack(models, regularizer) or not _stacking_pays(models, len(states), cells, settings, device):
        histories = []
        for model, seed in zip(models, seeds, strict=True):
            histories.append(
                _fit([model], states, derivatives, cells, regularizer, settings, device, [seed], progress)[0]
            )
            if histories[-1].interrupted:  # Ctrl-C stops the ensemble, not just this member
                break
        return histories
    return _fit(models, states, derivatives, cells, regularizer, settings, device, seeds, progress)


def _stacking_pays(models, n_points: int, cells, settings: CollocationSettings, device) -> bool:
    """Whether stacking is faster: on a GPU always; on the CPU while the stacked hidden copies are cache-sized.

    A step's largest tensors are the per-output copies of the first hidden layer (or of the inputs, under a
    dependency mask), ``n_points x n_copies x width`` per member (:data:`CACHE_SIZED_ELEMENTS`): one copy for
    every output that excludes its own input (:meth:`MLPVectorField.forward_excluding`), for every output under
    a dependency mask or without exclusion.
    """
    if resolve_device(device).type == "cuda":
        return True
    field = models[0].vector_field
    if cells is not None and settings.cell_weight > 0:
        n_cells = len(cells[0])
        n_points += n_cells if settings.batch_size is None else min(settings.batch_size, n_cells)
    width = field.hidden[0] if field.hidden else 1
    copies = field.n_outputs
    excluded = getattr(models[0], "excluded_inputs", None)  # per output its own input, -1: none
    if models[0].dependency_mask is not None:
        width = max(width, field.n_inputs)
    elif excluded is not None:
        copies = int((excluded >= 0).sum())
    return len(models) * n_points * copies * width <= CACHE_SIZED_ELEMENTS


def _check_points(states: torch.Tensor, derivatives: torch.Tensor) -> None:
    if states.ndim != 2 or derivatives.ndim != 2 or states.shape[0] != derivatives.shape[0]:
        raise ValueError(
            f"states and derivatives must be (n_points, n_states) and (n_points, n_rates); got "
            f"{tuple(states.shape)} and {tuple(derivatives.shape)}."
        )


def _fit(models, states, derivatives, cells, regularizer, settings, device, seeds, progress) -> list[History]:
    """The training loop of :func:`fit_collocation`: one model as it is, several as one stacked model."""
    device = resolve_device(device)
    for member in models:
        member.to(device)
    stacked = len(models) > 1
    model = stack_members(models) if stacked else models[0]
    dtype = next(model.parameters()).dtype
    states = states.to(device, dtype)
    derivatives = derivatives.to(device, dtype)
    generators = [torch.Generator(device=device) for _ in seeds]
    for generator, seed in zip(generators, seeds, strict=True):
        generator.manual_seed(seed)
    optimizer = adam_optimizer(model, settings.lr, settings.gate_lr, settings.weight_decay)
    zero_time = torch.zeros((), device=device, dtype=dtype)
    decay = _initial_decay(model, device, dtype)
    scale = _member_means(lambda d: _centred_square(derivatives + d * states), decay).clamp_min(torch.finfo(dtype).tiny)
    cell_term = (
        None if cells is None or settings.cell_weight == 0 else CellTerm(*cells, settings, device, dtype, decay=decay)
    )
    if stacked:
        states = states.expand(len(models), *states.shape)
    histories = [History() for _ in models]
    n_epochs, warmup_epochs, refit_epochs = settings.n_epochs, settings.warmup_epochs, settings.refit_epochs
    model.train()
    records = []  # per epoch: (3, n_members) fit loss, penalty and feature sparsity, kept on the device
    schedule = []  # per epoch: penalty scale and learning rate, shared by the members
    warm = None
    guard = DivergenceGuard(model)
    support = contextlib.ExitStack()
    name = regularizer.name + (f", {len(models)} members" if stacked else "")
    try:
        for epoch in tqdm(range(n_epochs), disable=not progress, desc=f"collocation {name}"):
            refitting = epoch >= n_epochs - refit_epochs
            penalised = warmup_epochs <= epoch and not refitting
            if epoch == warmup_epochs and settings.rewind:
                warm = _weights(model)
            if epoch == n_epochs - refit_epochs:
                if warm is not None:
                    _rewind(model, warm, optimizer)
                support.enter_context(fixed_support(model.vector_field, enabled=True))
            set_gate_mode(model, deterministic=not penalised, frozen=not penalised)
            if stacked:
                resample_member_gates(model, generators)
            else:
                resample_gates(model, generators[0])
            optimizer.zero_grad(set_to_none=True)
            if cell_term is None:
                fit_loss = _mean_square(model.rhs(zero_time, states) - derivatives) / scale
            else:  # one evaluation for the trajectory's states and the minibatch of cells
                cell_states, cell_derivatives = cell_term.sample_members(generators, stacked)
                rates = model.rhs(zero_time, torch.cat([states, cell_states], dim=-2))
                n_points = states.shape[-2]
                fit_loss = _mean_square(rates[..., :n_points, :] - derivatives) / scale
                cell_loss = cell_term.error(rates[..., n_points:, :], cell_derivatives)
                fit_loss = fit_loss + settings.cell_weight * cell_loss
            penalty = regularizer.penalty(model.vector_field) * (1.0 if penalised else 0.0)
            loss = (fit_loss + penalty if regularizer.smooth else fit_loss).sum()  # each member's gradient is its own
            if not torch.isfinite(loss):  # restore the last good parameters, lower the learning rate, go on
                guard.recover(optimizer, None, float(loss.detach()), epoch)
                continue
            loss.backward()
            optimizer.step()
            after_step(model, regularizer, optimizer.param_groups[0]["lr"], 1.0 if penalised else 0.0)
            with torch.no_grad():  # kept on the device: one transfer after the loop
                pruned = (model.vector_field.adjacency().abs() < EPS).float().mean(dim=(-2, -1))
                terms = torch.broadcast_tensors(fit_loss.detach(), penalty.detach(), pruned)
                records.append(torch.stack(terms).reshape(3, -1))
            schedule.append((1.0 if penalised else 0.0, optimizer.param_groups[0]["lr"]))
            if epoch % GOOD_STATE_EVERY == 0:
                guard.remember()
    except KeyboardInterrupt:
        for history in histories:
            history.interrupted = True
        logger.warning("Training interrupted at epoch %d; keeping the parameters of the last finished epoch.", epoch)
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            model.load_state_dict(guard.state)
    finally:
        support.close()
    for history in histories:
        history.lambda_scale.extend(scale for scale, _ in schedule)
        history.learning_rate.extend(rate for _, rate in schedule)
    _finish(model, histories, records, guard, optimizer)
    if stacked:
        unstack_members(model, models)
        for member in models:
            set_gate_mode(member, deterministic=False, frozen=False)
            member.eval()
    return histories


class CellTerm:
    """The single-cell term of :func:`fit_collocation`: per-gene weighted, relative error on a minibatch."""

    def __init__(self, states, derivatives, settings: CollocationSettings, device, dtype, *, decay=0.0) -> None:
        if states.ndim != 2 or states.shape != derivatives.shape:
            raise ValueError(
                f"cell states and derivatives must both be (n_cells, n_states); got {tuple(states.shape)} and "
                f"{tuple(derivatives.shape)}."
            )
        self.states = states.to(device, dtype)
        self.derivatives = derivatives.to(device, dtype)
        tiny = torch.finfo(dtype).tiny
        spread = self.states.var(0, correction=0)
        weights = torch.where(spread > 0, 1.0 / spread.clamp_min(tiny), torch.zeros_like(spread))
        self.weights = weights / weights.mean().clamp_min(tiny)
        self.scale = _member_means(
            lambda d: _centred_square(self.derivatives + d * self.states) * self.weights, decay
        ).clamp_min(tiny)
        self.batch_size = settings.batch_size

    def sample(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A new minibatch of states and derivatives (all cells when there are no more than ``batch_size``)."""
        states, derivatives = self.states, self.derivatives
        if self.batch_size is not None and self.batch_size < len(states):
            batch = torch.randint(len(states), (self.batch_size,), generator=generator, device=states.device)
            states, derivatives = states[batch], derivatives[batch]
        return states, derivatives

    def sample_members(self, generators: list[torch.Generator], stacked: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`sample` from each generator; stacked ``(n_members, batch, n_states)`` for a stacked model."""
        if not stacked:
            return self.sample(generators[0])
        states, derivatives = zip(*(self.sample(generator) for generator in generators), strict=True)
        return torch.stack(states), torch.stack(derivatives)

    def error(self, rates: torch.Tensor, derivatives: torch.Tensor) -> torch.Tensor:
        """The term's relative, per-gene weighted error of ``rates`` against ``derivatives`` (one per member)."""
        return (((rates - derivatives) ** 2) * self.weights).mean(dim=(-2, -1)) / self.scale

    def loss(self, model: NeuralODE, zero_time: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The term on a new minibatch (:meth:`sample`)."""
        states, derivatives = self.sample(generator)
        return self.error(model.rhs(zero_time, states), derivatives)


def _weights(model: NeuralODE) -> dict[str, torch.Tensor]:
    """A copy of every parameter of ``model`` except the gates' ``log_alpha``."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if not name.endswith("log_alpha")}


@torch.no_grad()
def _rewind(model: NeuralODE, weights: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer) -> None:
    """Reset the weights (not the gates) to ``weights`` and forget their Adam moments (the refit starts afresh).

    Weights that are exactly zero now (pruned by a proximal step) stay zero, so the selected structure is kept.
    """
    for name, parameter in model.named_parameters():
        if name in weights:
            parameter.copy_(torch.where(parameter == 0, torch.zeros_like(parameter), weights[name]))
            optimizer.state.pop(parameter, None)


def _initial_decay(model: NeuralODE, device, dtype) -> torch.Tensor | float:
    """The model's decay rates at the start of the fit (0 without decay; one row per member when stacked)."""
    if model.log_decay is None:
        return 0.0
    return model.log_decay.detach().exp().to(device, dtype)


def _member_means(values, decay: torch.Tensor | float) -> torch.Tensor:
    """The mean of ``values(d)`` for the decay rates ``d``: one mean per member for stacked rates (row by row)."""
    if isinstance(decay, torch.Tensor) and decay.ndim > 1:
        return torch.stack([values(rates).mean() for rates in decay])
    return values(decay).mean()


def _mean_square(values: torch.Tensor) -> torch.Tensor:
    """The mean square over the last two axes (points x states): one per member for stacked values."""
    return (values**2).mean(dim=(-2, -1))


def _centred_square(values: torch.Tensor) -> torch.Tensor:
    return (values - values.mean(0)) ** 2


def _finish(model: NeuralODE, histories: list[History], records: list[torch.Tensor], guard: DivergenceGuard, optimizer):
    """Move the per-epoch records into the members' histories; leave the model in evaluation mode, finite.

    Each record is ``(3, n_members)``: fit loss, penalty and feature sparsity of every member.

    An interrupted training without a finished epoch leaves the histories empty and the initial parameters.

    Raises
    ------
    FloatingPointError
        If no epoch finished without an interruption, or the parameters are not finite and the recoveries are
        used up.
    """
    if not records and histories[0].interrupted:  # Ctrl-C during the first epoch: nothing to record
        set_gate_mode(model, deterministic=False, frozen=False)
        model.eval()
        return
    if not records:
        raise FloatingPointError("Training was stopped before its first epoch finished.")
    for history, member in zip(histories, torch.stack(records).double().cpu().permute(2, 1, 0).tolist(), strict=True):
        fit_losses, penalties, sparsities = member
        history.fit_loss.extend(fit_losses)
        history.penalty.extend(penalties)
        history.loss.extend(f + p for f, p in zip(fit_losses, penalties, strict=True))
        history.feature_sparsity.extend(sparsities)
        history.best_epoch = len(history) - 1
    set_gate_mode(model, deterministic=False, frozen=False)
    model.eval()
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        model.load_state_dict(guard.state)
        guard.recover(optimizer, None, math.nan, len(histories[0]))  # raises once the recoveries are used up
