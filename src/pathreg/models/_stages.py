"""Training stages: the per-epoch history, one stage's loop, and the optimizers and gate modes stages use.

:func:`~pathreg.models.fit` runs a schedule of :class:`Stage` objects with :func:`run_stage`;
:func:`~pathreg.models.prune_dependencies` runs one refit stage per tested removal, and
:func:`~pathreg.models.fit_collocation` shares the optimizer, gate-mode and support helpers.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .._settings import logger
from ._faults import GOOD_LOSS_FACTOR, GOOD_STATE_EVERY, DivergenceGuard, is_solver_failure
from ._gates import GatedLinear
from ._graphs import WARMUP_STEPS, CapturedStep
from ._metrics import feature_sparsity
from ._regularizers import Regularizer
from ._settings import LRSchedule
from ._trajectories import Trajectories, masked_mse
from ._vector_fields import resample_gates

LBFGS_ITERATIONS_PER_EPOCH = 20
"""L-BFGS iterations in one epoch of a polished stage."""
LBFGS_PATIENCE = 3
"""L-BFGS decreases the loss monotonically: three epochs without progress mean convergence."""
SPARSITY_EVERY_LARGE = 10
"""Dependency matrices with more than :data:`LARGE_ADJACENCY` entries have their feature sparsity recorded every
this many epochs (carried forward in between): forming them costs a matrix product per epoch."""
LARGE_ADJACENCY = 1_000_000

Callback = Callable[[int, "History", nn.Module], bool | None]
"""``callback(epoch, history, model)`` after every epoch; returning ``True`` stops training."""


class StopTraining(Exception):
    """Raised by :func:`run_stage` when the callback asks to stop."""


@dataclass
class History:
    """What happened in every epoch of :func:`~pathreg.models.fit` (or :func:`~pathreg.models.fit_collocation`).

    One epoch is one Adam step over all trajectories, or up to 20 L-BFGS iterations in the polished stages.

    Attributes
    ----------
    loss, fit_loss, penalty
        Total loss, masked MSE and weighted penalty (with the sampled gates of that epoch).
    feature_sparsity
        Fraction of zero entries of the dependency matrix after the epoch.
    lambda_scale
        Factor on the penalty in force (1 throughout for sparse training).
    learning_rate
        Learning rate used.
    best_epoch
        Epoch whose parameters were restored (the last epoch of the selected refit with ``select="bic"``).
    stopped_early
        Whether early stopping ended training.
    path
        One record per refit of a selected structure (``refit_epochs > 0``): ``epoch``,
        ``lambda_scale``, ``fit_loss`` (deterministic gates), ``n_dependencies`` (non-zero entries of
        the dependency matrix), ``n_weights`` (non-zero weights) and ``bic``.
    selected
        Index into ``path`` of the structure that was kept (``-1``: the last stage's best epoch).
    pruning
        With ``prune=True``: one record per tested removal of :func:`~pathreg.models.prune_dependencies`
        (``output``, ``input``, ``strength``, ``fit_loss``, ``bic``, ``reference_bic``, ``removed``).
    interrupted
        Whether training was interrupted (``KeyboardInterrupt``); the best parameters so far were kept.
    """

    loss: list[float] = field(default_factory=list)
    fit_loss: list[float] = field(default_factory=list)
    penalty: list[float] = field(default_factory=list)
    feature_sparsity: list[float] = field(default_factory=list)
    lambda_scale: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False
    path: list[dict] = field(default_factory=list)
    selected: int = -1
    pruning: list[dict] = field(default_factory=list)
    interrupted: bool = False

    def to_dict(self) -> dict:
        """A plain dict of lists and scalars."""
        return asdict(self)

    def __len__(self) -> int:
        return len(self.loss)


@dataclass
class Stage:
    """One phase of training: a penalty scale on a time horizon.

    Attributes
    ----------
    scale
        Factor on the penalty.
    horizon
        Fraction of the time span fitted (1: the whole trajectories).
    epochs
        Maximum number of epochs.
    deterministic
        Gates at their deterministic evaluation values (no sampling noise), used when no penalty is in force.
    frozen_support
        Gates fixed and exactly-zero weights kept at zero (the refit of the selected structure).
    last
        Whether this is the final stage, whose best epoch :func:`run_stage` keeps.
    scale_before_refit
        For refit stages: the penalty scale of the stage that selected the structure.
    """

    scale: float
    horizon: float
    epochs: int
    deterministic: bool = False
    frozen_support: bool = False
    last: bool = False
    scale_before_refit: float = 0.0


def lbfgs_optimizer(model: nn.Module) -> torch.optim.LBFGS:
    """L-BFGS over the trainable parameters, with a strong-Wolfe line search.

    Its absolute stopping tolerances are off (the defaults, 1e-7 on the gradient and 1e-9 on the loss,
    stop a precise fit long before convergence when the loss itself is that small); the epochs of
    :func:`~pathreg.models.fit` stop on relative progress instead.
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.LBFGS(
        trainable,
        lr=1.0,
        max_iter=LBFGS_ITERATIONS_PER_EPOCH,
        history_size=50,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )


def parameter_groups(model: nn.Module, lr: float, gate_lr: float | None, weight_decay: float) -> list[dict]:
    """Optimizer parameter groups: the weights (with ``weight_decay``), then the gates' ``log_alpha`` at ``gate_lr``."""
    gates = [p for name, p in model.named_parameters() if name.endswith("log_alpha")]
    others = [p for name, p in model.named_parameters() if not name.endswith("log_alpha")]
    groups = [{"params": others, "lr": lr, "weight_decay": weight_decay}]
    if gates:
        groups.append({"params": gates, "lr": lr if gate_lr is None else gate_lr, "weight_decay": 0.0})
    return groups


def adam_optimizer(
    model: nn.Module,
    lr: float,
    gate_lr: float | None,
    weight_decay: float,
    *,
    capturable: bool = False,
    device: torch.device | None = None,
) -> torch.optim.Adam:
    """Adam over :func:`parameter_groups`; capturable (learning rates as tensors on ``device``) for CUDA graphs."""
    groups = parameter_groups(model, lr, gate_lr, weight_decay)
    if not capturable:
        return torch.optim.Adam(groups, lr=lr)
    for group in groups:
        group["lr"] = torch.tensor(float(group["lr"]), device=device)
    return torch.optim.Adam(groups, lr=torch.tensor(float(lr), device=device), capturable=True, foreach=True)


def make_scheduler(optimizer: torch.optim.Optimizer, schedule: LRSchedule, n_epochs: int, patience: int):
    """The learning-rate scheduler of ``schedule`` over ``n_epochs`` (``None`` for ``"constant"``).

    A cosine schedule anneals each stage from the optimizer's initial learning rates: a stage after
    another cosine stage starts again from them, not from the previous stage's final (zero) rate.
    """
    if schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=patience)
    if schedule == "cosine":
        _restore_initial_learning_rates(optimizer)
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, n_epochs))
    if schedule == "constant":
        return None
    raise ValueError(f"lr_schedule must be 'plateau', 'cosine' or 'constant', got {schedule!r}.")


def _restore_initial_learning_rates(optimizer: torch.optim.Optimizer) -> None:
    """Set every parameter group's rate back to the ``initial_lr`` a previous scheduler recorded (if any)."""
    for group in optimizer.param_groups:
        if "initial_lr" not in group:
            continue
        if isinstance(group["lr"], torch.Tensor):  # capturable Adam (CUDA graphs): keep the same tensor
            group["lr"].fill_(float(group["initial_lr"]))
        else:
            group["lr"] = group["initial_lr"]


def set_gate_mode(model: nn.Module, *, deterministic: bool, frozen: bool) -> None:
    """Put every gate of ``model`` in deterministic (evaluation) or sampling mode; freeze or free ``log_alpha``."""
    for module in model.modules():
        if isinstance(module, GatedLinear):
            module.train(not deterministic)
            module.log_alpha.requires_grad_(not frozen)


@torch.no_grad()
def after_step(model: nn.Module, regularizer: Regularizer, learning_rate: float, scale: float) -> None:
    """Proximal step (where the penalty is in force) and gate constraints after an optimizer step."""
    if scale > 0:
        regularizer.proximal_step(model.vector_field, learning_rate, scale)
    for module in model.modules():
        if isinstance(module, GatedLinear):
            module.constrain_parameters()


@contextmanager
def fixed_support(vector_field: nn.Module, *, enabled: bool):
    """Within this context, the vector field's exactly-zero parameters receive zero gradient."""
    handles = []
    if enabled:
        for parameter in vector_field.parameters():
            if parameter.requires_grad:
                nonzero = (parameter != 0).to(parameter.dtype)
                handles.append(parameter.register_hook(lambda grad, nonzero=nonzero: grad * nonzero))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def run_stage(
    model: nn.Module,
    stage: Stage,
    data: Trajectories,
    regularizer: Regularizer,
    optimizer: torch.optim.Optimizer,
    scheduler,
    generator: torch.Generator,
    history: History,
    best: dict,
    bar,
    *,
    clip_grad_norm: float | None,
    early_stopping: bool,
    patience: int,
    min_delta: float,
    graph: bool = False,
    callback: Callback | None = None,
    guard: DivergenceGuard | None = None,
    end_when_exhausted: bool = False,
) -> None:
    """Train one stage; append to ``history`` and keep the best state of the last stage in ``best``.

    With ``graph``, the step is captured as a CUDA graph after :data:`WARMUP_STEPS` eager steps and replayed.
    A non-finite step is recovered by ``guard``; once its recoveries are used up the stage ends with the last
    good parameters if progress was made (``end_when_exhausted``: an earlier stage finished; or this stage ran
    at least :data:`GOOD_STATE_EVERY` finite epochs), else the error is raised.

    Raises
    ------
    StopTraining
        When ``callback`` returns ``True``.
    """
    vector_field = model.vector_field
    stage_best = math.inf
    since_improvement = 0
    guard = DivergenceGuard(model) if guard is None else guard
    n_entries = vector_field.n_outputs * vector_field.n_inputs
    sparsity_every = SPARSITY_EVERY_LARGE if n_entries > LARGE_ADJACENCY else 1
    sparsity = math.nan

    def compute_terms() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        fit_loss = masked_mse(model.predict(data), data)
        penalty = regularizer.penalty(vector_field) * stage.scale
        return (fit_loss + penalty if regularizer.smooth else fit_loss), fit_loss, penalty

    captured: CapturedStep | None = None
    vector_field_on_cuda = next(vector_field.parameters()).is_cuda
    eager_steps = 0  # since the optimizer state was last (re)initialised
    finite_epochs = 0

    def progress() -> bool:  # worth keeping when the recoveries are used up: an earlier stage, or this one
        return end_when_exhausted or finite_epochs >= GOOD_STATE_EVERY

    def keep_state(total: float) -> bool:  # the parameters before the step: a new best, or the next good state
        return (stage.last and total < best["loss"]) or remember_now(total)

    def remember_now(total: float) -> bool:
        return epoch % GOOD_STATE_EVERY == 0 and math.isfinite(total) and total <= GOOD_LOSS_FACTOR * stage_best

    for epoch in range(stage.epochs):
        resample_gates(model, generator)
        if graph and captured is None and eager_steps >= WARMUP_STEPS:
            captured = _capture(compute_terms, optimizer, model, clip_grad_norm, capture=vector_field_on_cuda)
            graph = captured is not None
        learning_rate = float(optimizer.param_groups[0]["lr"])
        terms = _guarded_step(
            model, compute_terms, optimizer, captured, graph, vector_field_on_cuda, clip_grad_norm, keep_state
        )
        total = terms["total"]
        if not math.isfinite(total):
            if not _recover(guard, optimizer, scheduler, total, len(history), stage, progress()):
                return
            captured, eager_steps = None, 0
            continue
        eager_steps += captured is None
        finite_epochs += 1
        _keep_states(terms, stage.last and total < best["loss"], remember_now(total), best, history, guard)
        after_step(model, regularizer, learning_rate, stage.scale)
        if epoch % sparsity_every == 0 or epoch == stage.epochs - 1 or math.isnan(sparsity):
            with torch.no_grad():
                sparsity = feature_sparsity(vector_field.adjacency())
        _record_epoch(history, terms, sparsity, stage.scale, learning_rate)
        _step_scheduler(scheduler, total)
        if total < stage_best * (1 - min_delta):
            stage_best = total
            since_improvement = 0
        else:
            since_improvement += 1
        bar.update(1)
        if len(history) % 50 == 0:
            bar.set_postfix(loss=f"{total:.3g}", sparsity=f"{sparsity:.2f}")
        if callback is not None and callback(len(history) - 1, history, model):
            raise StopTraining
        if early_stopping and since_improvement >= patience:
            history.stopped_early = stage.last
            logger.info("Stage with penalty scale %s converged at epoch %d.", stage.scale, len(history))
            break
    with torch.no_grad():  # the last step may have left non-finite parameters behind
        final = masked_mse(model.predict(data), data)
    if not torch.isfinite(final):  # the last good parameters
        _recover(guard, optimizer, scheduler, float(final), len(history), stage, progress())


def _keep_states(terms: dict, new_best: bool, good: bool, best: dict, history: History, guard) -> None:
    """Keep the parameters the step's loss belongs to: as the stage's best, and/or as the last good ones."""
    if not (new_best or good):
        return
    state = terms.pop("state")
    state = state() if callable(state) else state
    if new_best:
        best.update(loss=terms["total"], state=state)
        history.best_epoch = len(history)
    if good:  # parameters whose loss is finite and close to the stage's best
        guard.remember(state)


def _record_epoch(history: History, terms: dict, sparsity: float, scale: float, learning_rate: float) -> None:
    history.loss.append(terms["total"])
    history.fit_loss.append(terms["fit"])
    history.penalty.append(terms["penalty"])
    history.feature_sparsity.append(sparsity)
    history.lambda_scale.append(scale)
    history.learning_rate.append(learning_rate)


def _step_scheduler(scheduler, total: float) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(total)
    elif scheduler is not None:
        scheduler.step()


def _recover(guard, optimizer, scheduler, loss: float, epoch: int, stage: Stage, progress: bool) -> bool:
    """Recover from a non-finite loss; ``False`` when the stage must end (recoveries used up, progress made).

    The last good parameters are restored either way; without progress to keep, the error is raised.
    """
    try:
        guard.recover(optimizer, scheduler, loss, epoch)
    except FloatingPointError:
        if not progress:
            raise
        logger.warning(
            "The stage with penalty scale %s kept diverging; it ends at epoch %d with the last good parameters.",
            stage.scale,
            epoch,
        )
        guard.recoveries = 0
        return False
    return True


def _guarded_step(model, compute_terms, optimizer, captured, graph: bool, on_cuda: bool, clip_grad_norm, keep) -> dict:
    """:func:`_step`, with a solver giving up counted as a non-finite loss."""
    try:
        return _step(model, compute_terms, optimizer, captured, graph, on_cuda, clip_grad_norm, keep)
    except (AssertionError, RuntimeError) as error:
        if not is_solver_failure(error):
            raise
        return {"fit": math.nan, "penalty": math.nan, "total": math.nan}


def _step(model, compute_terms, optimizer, captured, graph: bool, on_cuda: bool, clip_grad_norm, keep) -> dict:
    """One optimizer step: ``fit``, ``penalty`` and ``total`` before the update.

    Where ``keep(total)`` is true, also ``state``: the parameters the loss belongs to (or a function returning them).
    """
    if captured is not None:
        fit_value, penalty_value = captured.replay()
        return {
            "fit": fit_value,
            "penalty": penalty_value,
            "total": fit_value + penalty_value,
            "state": lambda: _snapshot_state(model, captured),
        }
    terms: dict = {}
    # eager steps before a capture run on a side stream, as CUDA graph capture requires
    stream = torch.cuda.Stream() if graph and on_cuda else None
    if stream is not None:
        stream.wait_stream(torch.cuda.current_stream())

    def closure():
        optimizer.zero_grad(set_to_none=True)
        loss, fit_loss, penalty = compute_terms()
        loss.backward()
        if clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
        if "total" not in terms:  # the first evaluation: the parameters before the step
            fit_value, penalty_value = float(fit_loss.detach()), float(penalty.detach())
            terms.update(fit=fit_value, penalty=penalty_value, total=fit_value + penalty_value)
            if keep(terms["total"]):
                terms["state"] = copy.deepcopy(model.state_dict())
        return loss

    with torch.cuda.stream(stream) if stream is not None else nullcontext():
        optimizer.step(closure)
    if stream is not None:
        torch.cuda.current_stream().wait_stream(stream)
    return terms


def _capture(
    compute_terms, optimizer: torch.optim.Optimizer, model: nn.Module, clip_grad_norm, *, capture: bool = True
) -> CapturedStep | None:
    """Capture the stage's step as a CUDA graph; ``None`` (eager steps from then on) if capture fails."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    try:
        return CapturedStep(compute_terms, optimizer, parameters, clip_grad_norm=clip_grad_norm, capture=capture)
    except RuntimeError as error:  # e.g. an operation that synchronises with the host
        logger.warning("Capturing the training step as a CUDA graph failed (%s); continuing with eager steps.", error)
        optimizer.zero_grad(set_to_none=True)
        return None


def _snapshot_state(model: nn.Module, captured: CapturedStep) -> dict:
    """The model's state dict with the parameters the last replayed step started from."""
    state = {name: value.detach().clone() for name, value in model.state_dict().items()}
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    for name, value in zip(names, captured.snapshot, strict=True):
        state[name] = value.clone()
    return state
