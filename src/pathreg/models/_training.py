"""Training of neural ODEs on observed trajectories (multiple shooting) with a sparsity regularizer."""

from __future__ import annotations

import copy
import math
from contextlib import contextmanager

import torch
from torch import nn
from tqdm.auto import tqdm

from .._settings import logger
from ._device import resolve_device
from ._faults import DivergenceGuard
from ._graphs import resolve_graph_mode
from ._metrics import EPS
from ._pruning import prune_dependencies
from ._regularizers import Regularizer, get_regularizer
from ._settings import ShootingSettings, with_options
from ._stages import (
    LBFGS_PATIENCE,
    Callback,
    History,
    Stage,
    StopTraining,
    adam_optimizer,
    fixed_support,
    lbfgs_optimizer,
    make_scheduler,
    run_stage,
    set_gate_mode,
)
from ._trajectories import Trajectories, masked_mse

PRUNING_REFIT_EPOCHS = 10
"""L-BFGS epochs per refit of ``prune=True`` when the fit has no refits (``refit_epochs=0``)."""


def _stage_schedule(settings: ShootingSettings) -> list[Stage]:
    """Training stages: the horizon curriculum, the sparsification schedule on the full horizon, the refits."""
    scales = [1.0] if settings.regime == "sparse" else [0.0, *settings.sparsification_scales]
    per_stage = max(1, settings.n_epochs // len(scales))
    stages = [
        Stage(scales[0], float(fraction), settings.curriculum_epochs, scales[0] == 0)
        for fraction in sorted(settings.curriculum)
    ]
    for scale in scales:
        stages.append(Stage(float(scale), 1.0, per_stage, deterministic=scale == 0))
        if settings.refit_epochs and scale > 0:  # refit the selected structure before the penalty rises (or at the end)
            stages.append(
                Stage(
                    0.0,
                    1.0,
                    settings.refit_epochs,
                    deterministic=True,
                    frozen_support=True,
                    scale_before_refit=scale,
                )
            )
    stages[-1].last = True
    return stages


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


def fit(
    model: nn.Module,
    data: Trajectories,
    *,
    regularizer: str | Regularizer = "none",
    settings: ShootingSettings | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    callback: Callback | None = None,
    **options,
) -> History:
    r"""Fit a neural ODE to observed trajectories with a sparsity penalty.

    Every epoch is one optimizer step on the whole batch of trajectories, solved together:

    .. math::
        \mathcal{L} = \mathrm{MSE}_{\mathrm{observed}}(\hat X, X) + s \cdot \mathrm{penalty}

    with one gate sample per step, then the regularizer's proximal step. The stages (horizon curriculum,
    sparsification schedule, refits of the selected structure, polishing, selection and pruning) are set by
    :class:`ShootingSettings`. After training the parameters of the epoch with the lowest loss (in the final
    stage) are restored and the model is left in evaluation mode (deterministic gates, exact zeros).

    Parameters
    ----------
    model
        A :class:`NeuralODE` or :class:`SecondOrderNeuralODE` whose vector field the regularizer built.
    data
        The observed trajectories.
    regularizer
        A method name from :data:`REGULARIZERS` or a :class:`Regularizer` instance.
    settings
        The training settings (``None``: the defaults of :class:`ShootingSettings`).
    device
        ``"auto"``, ``"cpu"``, ``"cuda"`` or a :class:`torch.device`.
    seed
        Seed of the gate samples drawn during training.
    progress
        Show a tqdm progress bar.
    callback
        Called after every epoch as ``callback(epoch, history, model)``; returning ``True`` stops training
        (the best parameters so far are restored as after a normal end). To score the model with
        deterministic gates, wrap the evaluation in ``with evaluation_mode(model):``.
    **options
        Fields of :class:`ShootingSettings` that override those of ``settings``, e.g.
        ``fit(model, data, n_epochs=500, lr=0.03)``.

    Returns
    -------
    The per-epoch :class:`History`.

    Raises
    ------
    ValueError
        For an unknown regularizer, device or option (close matches and the valid names listed) or an
        invalid setting.
    """
    settings = with_options(settings, ShootingSettings, options)
    regularizer = get_regularizer(regularizer)
    device = resolve_device(device)
    dtype = next(model.parameters()).dtype
    model.to(device)
    data = data.to(device, dtype)
    graph = resolve_graph_mode(settings.cuda_graph, model, device)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    adam = adam_optimizer(
        model,
        settings.lr,
        settings.gate_lr,
        settings.weight_decay,
        capturable=graph and device.type == "cuda",
        device=device,
    )
    stages = _stage_schedule(settings)
    history = History()
    best = {"loss": math.inf, "state": None}
    refits: list[dict] = []
    model.train()
    guard = DivergenceGuard(model)
    bar = tqdm(total=sum(stage.epochs for stage in stages), disable=not progress, desc=f"fit {regularizer.name}")
    try:
        for index, stage in enumerate(stages):
            _train_stage(
                model,
                stage,
                data,
                regularizer,
                adam,
                generator,
                history,
                best,
                bar,
                guard,
                settings,
                graph=graph,
                callback=callback,
                end_when_exhausted=index > 0,
            )
            if stage.frozen_support:
                refits.append(_record_refit(model, data, stage, history))
    except StopTraining:
        logger.info("Training stopped by the callback at epoch %d.", len(history))
    except KeyboardInterrupt:
        history.interrupted = True
        logger.warning("Training interrupted at epoch %d; keeping the best parameters so far.", len(history))
        if best["state"] is None:  # not yet in the last stage: the last good parameters
            best["state"] = guard.state
    finally:
        bar.close()
        set_gate_mode(model, deterministic=False, frozen=False)
    _restore_selected(model, history, refits, best, settings)
    if settings.prune and not history.interrupted:
        steps = prune_dependencies(
            model,
            data,
            refit_epochs=settings.refit_epochs or PRUNING_REFIT_EPOCHS,
            min_delta=settings.min_delta,
            device=device,
            progress=progress,
        )
        history.pruning = [step.to_dict() for step in steps]
    model.eval()
    return history


def _train_stage(
    model: nn.Module,
    stage: Stage,
    data: Trajectories,
    regularizer: Regularizer,
    adam: torch.optim.Adam,
    generator: torch.Generator,
    history: History,
    best: dict,
    bar,
    guard: DivergenceGuard,
    settings: ShootingSettings,
    *,
    graph: bool,
    callback: Callback | None,
    end_when_exhausted: bool,
) -> None:
    """Set the gates and the optimizer of one stage (L-BFGS for polished stages, else ``adam``) and run it."""
    set_gate_mode(model, deterministic=stage.deterministic, frozen=stage.frozen_support)
    stage_data = data.truncate(stage.horizon)
    use_lbfgs = settings.polish == "lbfgs" and stage.deterministic and stage.horizon == 1.0
    if use_lbfgs and settings.polish_epochs is not None and not stage.frozen_support:
        stage.epochs = min(stage.epochs, settings.polish_epochs)
    with fixed_support(model.vector_field, enabled=stage.frozen_support):
        if use_lbfgs:
            optimizer = lbfgs_optimizer(model)
            scheduler = None
        else:
            optimizer = adam
            scheduler = make_scheduler(adam, settings.lr_schedule, stage.epochs, settings.lr_patience)
        run_stage(
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
            clip_grad_norm=settings.clip_grad_norm,
            early_stopping=settings.early_stopping or use_lbfgs,  # L-BFGS stages always end once converged
            patience=min(settings.patience, LBFGS_PATIENCE) if use_lbfgs else settings.patience,
            min_delta=settings.min_delta,
            graph=graph and not use_lbfgs,
            callback=callback,
            guard=guard,
            end_when_exhausted=end_when_exhausted,
        )


def _restore_selected(
    model: nn.Module, history: History, refits: list[dict], best: dict, settings: ShootingSettings
) -> None:
    """Load the kept parameters: the refit of lowest BIC (``select="bic"``), else the best epoch of the last stage."""
    if settings.select == "bic" and refits:
        history.selected = min(range(len(refits)), key=lambda index: history.path[index]["bic"])
        model.load_state_dict(refits[history.selected]["state"])
        history.best_epoch = history.path[history.selected]["epoch"]
    elif best["state"] is not None:
        model.load_state_dict(best["state"])


@torch.no_grad()
def _record_refit(model: nn.Module, data: Trajectories, stage: Stage, history: History) -> dict:
    """Score the structure just refitted (deterministic gates) and keep its parameters."""
    set_gate_mode(model, deterministic=True, frozen=True)
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
