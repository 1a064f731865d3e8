"""Training of neural ODEs with a sparsity regularizer."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from .._settings import logger
from ._device import resolve_device
from ._faults import GOOD_LOSS_FACTOR, GOOD_STATE_EVERY, DivergenceGuard, is_solver_failure
from ._gates import GatedLinear
from ._graphs import WARMUP_STEPS, CapturedStep, GraphMode, resolve_graph_mode
from ._metrics import EPS, feature_sparsity
from ._regularizers import Regularizer, get_regularizer
from ._trajectories import Trajectories, masked_mse
from ._vector_fields import resample_gates

Regime = Literal["sparse", "iterative"]
LBFGS_ITERATIONS_PER_EPOCH = 20
LBFGS_PATIENCE = 3  # L-BFGS decreases the loss monotonically: three epochs without progress mean convergence
LRSchedule = Literal["plateau", "cosine", "constant"]
Callback = Callable[[int, "History", nn.Module], bool | None]
SPARSITY_EVERY_LARGE = 10
"""Dependency matrices with more than :data:`LARGE_ADJACENCY` entries have their feature sparsity recorded every
this many epochs (carried forward in between): forming them costs a matrix product per epoch."""
LARGE_ADJACENCY = 1_000_000


class _StopTraining(Exception):
    """Raised inside :func:`fit` when the callback asks to stop."""


@dataclass
class History:
    """What happened in every epoch of :func:`fit`.

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
        One record per refit of a selected structure (``finetune_epochs > 0``): ``epoch``,
        ``lambda_scale``, ``fit_loss`` (deterministic gates), ``n_dependencies`` (non-zero entries of
        the dependency matrix), ``n_weights`` (non-zero weights) and ``bic``.
    selected
        Index into ``path`` of the structure that was kept (``-1``: the last stage's best epoch).
    pruning
        With ``prune=True``: one record per tested removal of :func:`prune_dependencies` (``output``,
        ``input``, ``strength``, ``fit_loss``, ``bic``, ``reference_bic``, ``removed``).
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
class _Stage:
    """One phase of training: a penalty scale on a time horizon.

    ``deterministic``: gates are their deterministic evaluation values (no sampling noise), used
    when no penalty is in force. ``frozen_support``: gates are fixed and weights that are exactly
    zero stay zero (fine-tuning of the selected structure).
    """

    scale: float
    horizon: float
    epochs: int
    deterministic: bool = False
    frozen_support: bool = False
    last: bool = False
    scale_before_refit: float = 0.0  # for refit stages: the penalty scale of the stage that selected the structure


def _stages(
    regime: Regime,
    n_epochs: int,
    sparsification_scales: Sequence[float],
    curriculum: Sequence[float],
    curriculum_epochs: int,
    finetune_epochs: int,
) -> list[_Stage]:
    """Training stages: the horizon curriculum, the sparsification schedule on the full horizon, fine-tuning."""
    if regime not in ("sparse", "iterative"):
        raise ValueError(f"regime must be 'sparse' or 'iterative', got {regime!r}.")
    if any(not 0 < fraction < 1 for fraction in curriculum):
        raise ValueError(f"curriculum fractions must lie in (0, 1), got {list(curriculum)}.")
    if finetune_epochs < 0 or curriculum_epochs < 0:
        raise ValueError("finetune_epochs and curriculum_epochs must be non-negative.")
    scales = [1.0] if regime == "sparse" else [0.0, *sparsification_scales]
    per_stage = max(1, n_epochs // len(scales))
    stages = [_Stage(scales[0], float(fraction), curriculum_epochs, scales[0] == 0) for fraction in sorted(curriculum)]
    for scale in scales:
        stages.append(_Stage(float(scale), 1.0, per_stage, deterministic=scale == 0))
        if finetune_epochs and scale > 0:  # refit the selected structure before the penalty rises (or at the end)
            stages.append(
                _Stage(0.0, 1.0, finetune_epochs, deterministic=True, frozen_support=True, scale_before_refit=scale)
            )
    stages[-1].last = True
    return stages


def lbfgs_optimizer(model: nn.Module) -> torch.optim.LBFGS:
    """L-BFGS over the trainable parameters, with a strong-Wolfe line search.

    Its absolute stopping tolerances are off (the defaults, 1e-7 on the gradient and 1e-9 on the loss,
    stop a precise fit long before convergence when the loss itself is that small); the epochs of
    :func:`fit` stop on relative progress instead.
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


def _set_gate_mode(model: nn.Module, *, deterministic: bool, frozen: bool) -> None:
    for module in model.modules():
        if isinstance(module, GatedLinear):
            module.train(not deterministic)
            module.log_alpha.requires_grad_(not frozen)


def _make_scheduler(optimizer: torch.optim.Optimizer, schedule: LRSchedule, n_epochs: int, patience: int):
    if schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=patience)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, n_epochs))
    if schedule == "constant":
        return None
    raise ValueError(f"lr_schedule must be 'plateau', 'cosine' or 'constant', got {schedule!r}.")


@torch.no_grad()
def _after_step(model: nn.Module, regularizer: Regularizer, learning_rate: float, scale: float) -> None:
    """Proximal step and gate constraints after an optimizer step."""
    if scale > 0:
        regularizer.proximal_step(model.vector_field, learning_rate, scale)
    for module in model.modules():
        if isinstance(module, GatedLinear):
            module.constrain_parameters()


@contextmanager
def _fixed_support(vector_field: nn.Module, *, enabled: bool):
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


@contextmanager
def evaluation_mode(model: nn.Module):
    """Within this context ``model`` is in evaluation mode (deterministic gates); every module's mode is restored after.

    For callbacks of :func:`fit` that score the model during training.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.train(training)


def _parameter_groups(model: nn.Module, lr: float, gate_lr: float | None, weight_decay: float) -> list[dict]:
    gates = [p for name, p in model.named_parameters() if name.endswith("log_alpha")]
    others = [p for name, p in model.named_parameters() if not name.endswith("log_alpha")]
    groups = [{"params": others, "lr": lr, "weight_decay": weight_decay}]
    if gates:
        groups.append({"params": gates, "lr": lr if gate_lr is None else gate_lr, "weight_decay": 0.0})
    return groups


def _adam(model: nn.Module, lr: float, gate_lr: float | None, weight_decay: float, *, capturable: bool, device):
    """Adam over the parameter groups; capturable (learning rates as device tensors) for CUDA graphs."""
    groups = _parameter_groups(model, lr, gate_lr, weight_decay)
    if not capturable:
        return torch.optim.Adam(groups, lr=lr)
    for group in groups:
        group["lr"] = torch.tensor(float(group["lr"]), device=device)
    return torch.optim.Adam(groups, lr=torch.tensor(float(lr), device=device), capturable=True, foreach=True)


def fit(
    model: nn.Module,
    data: Trajectories,
    *,
    regularizer: str | Regularizer = "none",
    n_epochs: int = 1000,
    lr: float = 1e-2,
    gate_lr: float | None = None,
    weight_decay: float = 0.0,
    lr_schedule: LRSchedule = "plateau",
    lr_patience: int = 50,
    early_stopping: bool = True,
    patience: int = 200,
    min_delta: float = 1e-4,
    clip_grad_norm: float | None = None,
    regime: Regime = "sparse",
    sparsification_scales: Sequence[float] = (0.1, 0.3, 1.0),
    curriculum: Sequence[float] = (),
    curriculum_epochs: int = 300,
    finetune_epochs: int = 0,
    polish: Literal["lbfgs", "adam"] = "lbfgs",
    polish_epochs: int | None = None,
    select: Literal["last", "bic"] = "last",
    prune: bool = False,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    cuda_graph: GraphMode = "auto",
    callback: Callback | None = None,
) -> History:
    r"""Fit a neural ODE to observed trajectories with a sparsity penalty.

    Every epoch is one optimizer step on the whole batch of trajectories, solved together:

    .. math::
        \mathcal{L} = \mathrm{MSE}_{\mathrm{observed}}(\hat X, X) + s \cdot \mathrm{penalty}

    with one gate sample per step, then the regularizer's proximal step. After training the
    parameters of the epoch with the lowest loss (in the final stage) are restored and the model
    is left in evaluation mode (deterministic gates, exact zeros).

    Parameters
    ----------
    model
        A :class:`NeuralODE` or :class:`SecondOrderNeuralODE` whose vector field the regularizer built.
    data
        The observed trajectories.
    regularizer
        A method name from :data:`REGULARIZERS` or a :class:`Regularizer` instance.
    n_epochs
        Maximum number of epochs on the full time horizon (all sparsification stages together).
    lr
        Adam's learning rate.
    gate_lr
        Learning rate of the gates' ``log_alpha`` (``None``: ``lr``). Gates live on a logit scale and
        must travel several units to open or close, so a larger rate than the weights' speeds up
        the search for the sparse structure.
    weight_decay
        L2 penalty on the weights (not on the gates), as Adam's ``weight_decay``.
    lr_schedule
        ``"plateau"`` (halve after ``lr_patience`` epochs without improvement), ``"cosine"`` or ``"constant"``.
    lr_patience
        Patience of the plateau schedule.
    early_stopping
        Stop a stage when the loss has not improved by ``min_delta`` (relative) for ``patience`` epochs.
    patience, min_delta
        Early stopping settings.
    clip_grad_norm
        Clip the gradient norm to this value (``None``: no clipping).
    regime
        ``"sparse"``: the penalty from the start. ``"iterative"``: first fit without penalty, then
        raise the penalty's scale through ``sparsification_scales`` after each stage converges.
    sparsification_scales
        Penalty scales of the iterative regime's stages after the unpenalised one.
    curriculum
        Time-horizon curriculum: fractions of the time span, each fitted for ``curriculum_epochs``
        epochs (shortest first) before the full horizon. Long oscillating trajectories are hard to
        fit from scratch; growing the horizon avoids the poor local minima of a full-length start.
    curriculum_epochs
        Epochs of every curriculum stage.
    finetune_epochs
        After every penalised stage, fit this many epochs with the selected structure fixed:
        deterministic gates, frozen ``log_alpha``, exact zeros kept, no penalty. Removes the
        bias that gate noise and shrinkage leave in the weights, so that the next, stronger
        penalty of the iterative regime starts from a precise fit ("prune and refit").
    polish
        Optimizer of the deterministic stages on the full horizon (the unpenalised stage of the
        iterative regime and the refits; curriculum stages always use Adam, which finds better basins
        from a random start): ``"lbfgs"`` (L-BFGS with a strong-Wolfe line search, up to
        20 iterations per epoch, stopped when three epochs bring no relative improvement of
        ``min_delta``; fits deterministic ODEs far more precisely than Adam) or ``"adam"``.
    polish_epochs
        Maximum epochs of the unpenalised L-BFGS stage on the full horizon (``None``: the stage's share of
        ``n_epochs``). Refits run at most ``finetune_epochs``.
    select
        Which structure to keep. ``"last"``: the best epoch of the last stage. ``"bic"``: among the
        refits along the sparsification path, the one with the lowest Bayesian information criterion
        :math:`n \log(\mathrm{MSE}) + k \log n` (``n`` observed values, ``k`` non-zero weights), so a
        penalty raised too far cannot cost the fit. Needs ``finetune_epochs > 0``.
    prune
        Finally remove the dependencies the fit does not need, one at a time with an L-BFGS refit each,
        while BIC improves (:func:`prune_dependencies`; for :class:`NeuralODE` and
        :class:`SecondOrderNeuralODE`). Cleans up what a penalty leaves behind (cancelling pairs of
        paths, paths of tiny weights); costs one refit (at most ``finetune_epochs`` L-BFGS epochs, 10
        without refits) per remaining dependency.
    device
        ``"auto"``, ``"cpu"``, ``"cuda"`` or a :class:`torch.device`.
    seed
        Seed of the gate samples drawn during training.
    progress
        Show a tqdm progress bar.
    cuda_graph
        Capture every Adam stage's step as a CUDA graph after a few eager steps and replay it (one launch
        per step instead of thousands; see :mod:`pathreg.models._graphs`). ``"auto"``: on a CUDA device
        with a :class:`NeuralODE` stepping on the observation grid (``"euler"``, ``"midpoint"``, ``"rk4"``,
        no ``step_size``), else eager; ``True``: require it; ``False``: eager. Same arithmetic as the eager
        step; a capture that fails falls back to eager steps with a warning.
    callback
        Called after every epoch as ``callback(epoch, history, model)``; returning ``True`` stops training
        (the best parameters so far are restored as after a normal end). To score the model with
        deterministic gates, wrap the evaluation in ``with evaluation_mode(model):``.

    Returns
    -------
    The per-epoch :class:`History`.
    """
    regularizer = get_regularizer(regularizer)
    if n_epochs < 1:
        raise ValueError(f"n_epochs must be at least 1, got {n_epochs}.")
    if polish_epochs is not None and polish_epochs < 1:
        raise ValueError(f"polish_epochs must be at least 1 or None, got {polish_epochs}.")
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}.")
    if select not in ("last", "bic"):
        raise ValueError(f"select must be 'last' or 'bic', got {select!r}.")
    if select == "bic" and not finetune_epochs:
        raise ValueError("select='bic' chooses among refits of the sparsification path; set finetune_epochs > 0.")
    if polish not in ("lbfgs", "adam"):
        raise ValueError(f"polish must be 'lbfgs' or 'adam', got {polish!r}.")
    device = resolve_device(device)
    dtype = next(model.parameters()).dtype
    model.to(device)
    data = data.to(device, dtype)
    graph = resolve_graph_mode(cuda_graph, model, device)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    vector_field = model.vector_field
    adam = _adam(model, lr, gate_lr, weight_decay, capturable=graph and device.type == "cuda", device=device)
    stages = _stages(regime, n_epochs, sparsification_scales, curriculum, curriculum_epochs, finetune_epochs)
    history = History()
    best = {"loss": math.inf, "state": None}
    refits: list[dict] = []
    model.train()
    guard = DivergenceGuard(model)
    bar = tqdm(total=sum(stage.epochs for stage in stages), disable=not progress, desc=f"fit {regularizer.name}")
    try:
        for index, stage in enumerate(stages):
            _set_gate_mode(model, deterministic=stage.deterministic, frozen=stage.frozen_support)
            stage_data = data.truncate(stage.horizon)
            use_lbfgs = polish == "lbfgs" and stage.deterministic and stage.horizon == 1.0
            if use_lbfgs and polish_epochs is not None and not stage.frozen_support:
                stage.epochs = min(stage.epochs, polish_epochs)
            with _fixed_support(vector_field, enabled=stage.frozen_support):
                if use_lbfgs:
                    optimizer = lbfgs_optimizer(model)
                    scheduler = None
                else:
                    optimizer = adam
                    scheduler = _make_scheduler(adam, lr_schedule, stage.epochs, lr_patience)
                _run_stage(
                    model,
                    stage,
                    stage_data,
                    regularizer,
                    optimizer,
                    scheduler,
                    generator,
                    history,
                    best,
                    bar,
                    clip_grad_norm=clip_grad_norm,
                    early_stopping=early_stopping or use_lbfgs,  # L-BFGS stages always end once converged
                    patience=min(patience, LBFGS_PATIENCE) if use_lbfgs else patience,
                    min_delta=min_delta,
                    graph=graph and not use_lbfgs,
                    callback=callback,
                    guard=guard,
                    end_when_exhausted=index > 0,
                )
            if stage.frozen_support:
                refits.append(_record_refit(model, data, stage, history))
    except _StopTraining:
        logger.info("Training stopped by the callback at epoch %d.", len(history))
    except KeyboardInterrupt:
        history.interrupted = True
        logger.warning("Training interrupted at epoch %d; keeping the best parameters so far.", len(history))
        if best["state"] is None:  # not yet in the last stage: the last good parameters
            best["state"] = guard.state
    finally:
        bar.close()
        _set_gate_mode(model, deterministic=False, frozen=False)
    if select == "bic" and refits:
        history.selected = min(range(len(refits)), key=lambda index: history.path[index]["bic"])
        model.load_state_dict(refits[history.selected]["state"])
        history.best_epoch = history.path[history.selected]["epoch"]
    elif best["state"] is not None:
        model.load_state_dict(best["state"])
    if prune and not history.interrupted:
        from ._pruning import prune_dependencies

        steps = prune_dependencies(
            model, data, refit_epochs=finetune_epochs or 10, min_delta=min_delta, device=device, progress=progress
        )
        history.pruning = [step.to_dict() for step in steps]
    model.eval()
    return history


@torch.no_grad()
def _record_refit(model: nn.Module, data: Trajectories, stage: _Stage, history: History) -> dict:
    """Score the structure just refitted (deterministic gates) and keep its parameters."""
    _set_gate_mode(model, deterministic=True, frozen=True)
    fit_loss = float(masked_mse(model.predict(data), data))
    vector_field = model.vector_field
    n_dependencies = int((vector_field.adjacency().abs() >= EPS).sum())
    n_weights = sum(int((w.abs() >= EPS).sum()) for w in vector_field.sparsifiable_weights())
    n_observed = int(data.mask.sum())
    bic = n_observed * math.log(max(fit_loss, torch.finfo(torch.float64).tiny)) + n_weights * math.log(n_observed)
    history.path.append(
        {
            "epoch": len(history) - 1,
            "lambda_scale": stage.scale_before_refit,
            "fit_loss": fit_loss,
            "n_dependencies": n_dependencies,
            "n_weights": n_weights,
            "bic": bic,
        }
    )
    return {"state": copy.deepcopy(model.state_dict())}


def _run_stage(
    model: nn.Module,
    stage: _Stage,
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
        try:
            terms = _step(
                model, compute_terms, optimizer, captured, graph, vector_field_on_cuda, clip_grad_norm, keep_state
            )
        except (AssertionError, RuntimeError) as error:
            if not is_solver_failure(error):
                raise
            terms = {"fit": math.nan, "penalty": math.nan, "total": math.nan}
        total = terms["total"]
        if not math.isfinite(total):
            if not _recover(guard, optimizer, scheduler, total, len(history), stage, progress()):
                return
            captured, eager_steps = None, 0
            continue
        eager_steps += captured is None
        finite_epochs += 1
        new_best, good = stage.last and total < best["loss"], remember_now(total)
        if new_best or good:
            state = terms.pop("state")
            state = state() if callable(state) else state
            if new_best:
                best.update(loss=total, state=state)
                history.best_epoch = len(history)
            if good:  # parameters whose loss is finite and close to the stage's best
                guard.remember(state)
        _after_step(model, regularizer, learning_rate, stage.scale)
        if epoch % sparsity_every == 0 or epoch == stage.epochs - 1 or math.isnan(sparsity):
            with torch.no_grad():
                sparsity = feature_sparsity(vector_field.adjacency())
        history.loss.append(total)
        history.fit_loss.append(terms["fit"])
        history.penalty.append(terms["penalty"])
        history.feature_sparsity.append(sparsity)
        history.lambda_scale.append(stage.scale)
        history.learning_rate.append(learning_rate)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(total)
        elif scheduler is not None:
            scheduler.step()
        if total < stage_best * (1 - min_delta):
            stage_best = total
            since_improvement = 0
        else:
            since_improvement += 1
        bar.update(1)
        if len(history) % 50 == 0:
            bar.set_postfix(loss=f"{total:.3g}", sparsity=f"{sparsity:.2f}")
        if callback is not None and callback(len(history) - 1, history, model):
            raise _StopTraining
        if early_stopping and since_improvement >= patience:
            history.stopped_early = stage.last
            logger.info("Stage with penalty scale %s converged at epoch %d.", stage.scale, len(history))
            break
    with torch.no_grad():  # the last step may have left non-finite parameters behind
        final = masked_mse(model.predict(data), data)
    if not torch.isfinite(final):  # the last good parameters
        _recover(guard, optimizer, scheduler, float(final), len(history), stage, progress())


def _recover(guard, optimizer, scheduler, loss: float, epoch: int, stage: _Stage, progress: bool) -> bool:
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
