"""``tl.fit_dynamics``: from an AnnData to a TF -> target network stored in it."""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from anndata import AnnData

from pathreg.models import (
    ACTIVATIONS,
    METHODS,
    SOLVERS,
    NeuralODE,
    Regularizer,
    fit,
    fit_collocation,
    get_regularizer,
    resolve_device,
    weight_sparsity,
)

from .._settings import logger
from ._checkpoint import CheckpointFolder, fingerprint
from ._inputs import (
    GeneSpec,
    check_finite_time,
    check_unique_var_names,
    close_matches,
    ensure_actual,
    expression,
    gene_mask,
    lineage_table,
    prior_mask,
    resolve_modality,
    time_values,
)
from ._readout import cell_predictions, lineage_errors, normalize_targets, predict_lineages, signed_strength
from ._trajectories import LineageBins, bin_lineages, derivative_estimates, scale_time, shooting_windows

DEFAULT_TRAINING: dict[str, dict[str, Any]] = {
    "collocation": {
        "n_epochs": 2000,
        "lr": 1e-2,
        "gate_lr": 0.1,
        "weight_decay": 1e-3,
        "warmup_fraction": 0.4,
        "refit_fraction": 0.2,
    },
    "shooting": {"n_epochs": 600, "lr": 1e-2, "lr_schedule": "cosine", "early_stopping": False},
}
"""Training settings of :func:`fit_dynamics` per objective unless overridden by its keyword arguments."""

COLLOCATION_LAMBDA = {"pathreg": 3.0, "l0": 3.0}
"""Default penalty of the gated methods with the collocation objective, whose error is relative to the
derivatives' variance (1 = the error of predicting the mean derivative)."""


@dataclass
class _Problem:
    """Everything validated and extracted from the AnnData before anything is fitted or written."""

    state_genes: list[str]
    regulator_genes: list[str]
    target_genes: list[str]
    input_index: np.ndarray
    state_columns: np.ndarray
    scaled_time: np.ndarray
    time_offset: float
    time_span: float
    bins: list[LineageBins]
    allowed: np.ndarray | None


def _prepare(
    adata: AnnData,
    *,
    time_key: str,
    lineage_key: str | None,
    regulators: GeneSpec,
    targets: GeneSpec,
    prior,
    layer: str | None,
    n_bins: int,
    time_scale: str = "pseudotime",
) -> _Problem:
    check_unique_var_names(adata)
    time = time_values(adata, time_key)
    lineages = lineage_table(adata, lineage_key)
    regulator_mask = gene_mask(adata, regulators, argument="regulators")
    target_mask = gene_mask(adata, targets, argument="targets")
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2, got {n_bins}.")
    state_mask = regulator_mask | target_mask
    state_columns = np.flatnonzero(state_mask)
    # genes in a canonical order (sorted by name): initial weights and gate noise are drawn by position, so
    # the fit, and its result up to the same permutation, do not depend on the order of adata's genes
    state_columns = state_columns[np.argsort(adata.var_names[state_columns].to_numpy(dtype=str), kind="stable")]
    state_genes = adata.var_names[state_columns].tolist()
    input_index = np.flatnonzero(regulator_mask[state_columns])
    regulator_genes = [state_genes[i] for i in input_index]
    target_genes = [gene for gene, column in zip(state_genes, state_columns, strict=True) if target_mask[column]]
    used = lineages.to_numpy().any(axis=1)
    check_finite_time(time, used, time_key)
    values = expression(adata, layer, columns=state_columns, cells=used, stacklevel=4)
    scaled_time, offset, span = scale_time(time, used)
    bins = bin_lineages(scaled_time, values, lineages, n_bins=n_bins, time_scale=time_scale)
    allowed = None
    if prior is not None:
        target_rows = prior_mask(adata, prior, state_genes, regulator_genes)
        # state genes that are not targets keep unrestricted dynamics
        target_rows[~np.isin(state_genes, target_genes)] = True
        allowed = target_rows
    return _Problem(
        state_genes,
        regulator_genes,
        target_genes,
        input_index,
        state_columns,
        scaled_time,
        offset,
        span,
        bins,
        allowed,
    )


def _check_options(
    *,
    method: str,
    objective: str,
    time_scale: str,
    n_bins: int,
    n_seeds: int,
    hidden: Sequence[int],
    activation: str | None,
    solver: str,
) -> None:
    """Raise for an invalid setting of :func:`fit_dynamics`, naming the valid ones, before anything is read."""
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; valid names are {list(METHODS)}.")
    if objective not in DEFAULT_TRAINING:
        raise ValueError(f"Unknown objective {objective!r}; valid names are {list(DEFAULT_TRAINING)}.")
    if time_scale not in ("rank", "pseudotime"):
        raise ValueError(f"Unknown time_scale {time_scale!r}; valid names are ['rank', 'pseudotime'].")
    if solver not in SOLVERS:
        raise ValueError(f"Unknown solver {solver!r}; valid names are {list(SOLVERS)}.")
    if activation is not None and str(activation).lower() not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {activation!r}; valid names are {sorted(ACTIVATIONS)}.")
    if isinstance(hidden, int) or any(int(width) < 1 for width in hidden):
        raise ValueError(f"hidden must be a sequence of positive layer widths, e.g. (32,), got {hidden!r}.")
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2, got {n_bins}.")
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be at least 1, got {n_seeds}.")


_SET_BY_FIT_DYNAMICS = {"model", "data", "states", "derivatives", "regularizer", "device", "seed", "progress"}


def _check_training_options(objective: str, training_options: dict) -> None:
    """Raise for a keyword of ``**training_options`` that the objective's training function does not take."""
    function = fit_collocation if objective == "collocation" else fit
    parameters = inspect.signature(function).parameters
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()):
        return
    valid = [name for name in parameters if name not in _SET_BY_FIT_DYNAMICS]
    if objective == "collocation":
        valid += ["warmup_fraction", "refit_fraction"]
    for name in training_options:
        if name in _SET_BY_FIT_DYNAMICS:
            raise ValueError(f"{name!r} is set by fit_dynamics itself and cannot be passed as a training option.")
        if name not in valid:
            raise ValueError(
                f"Unknown training option {name!r} for objective={objective!r}.{close_matches(name, valid)} "
                f"Valid names are {sorted(valid)}."
            )


def fit_dynamics(
    adata,
    *,
    method: str = "pathreg",
    time_key: str = "dpt_pseudotime",
    lineage_key: str | None = None,
    regulators: GeneSpec = None,
    targets: GeneSpec = None,
    prior: str | pd.DataFrame | None = None,
    layer: str | None = None,
    mod: str | None = None,
    n_bins: int = 40,
    time_scale: Literal["rank", "pseudotime"] = "rank",
    objective: Literal["collocation", "shooting"] = "collocation",
    n_seeds: int = 5,
    normalize: bool = True,
    window: int | None = 2,
    hidden: Sequence[int] = (32,),
    activation: str | None = "tanh",
    decay: bool = True,
    lambda_: float | None = None,
    regularizer_options: dict | None = None,
    solver: str = "rk4",
    key_added: str = "pathreg",
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    copy: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    **training_options,
) -> NeuralODE | tuple[NeuralODE, Any]:
    r"""Fit a sparse neural ODE to expression along (pseudo)time and store the inferred network.

    The dynamics of the state genes (regulators and targets) are

    .. math::
        \frac{dx}{dt} = f_\theta(x_{\mathrm{regulators}}) - e^{\delta} \odot x

    with :math:`f_\theta` a (gated) MLP trained with the chosen sparsity method and a learned
    per-gene decay (``decay=True``).

    Trajectories: each lineage's cells are sorted by time and cut into ``n_bins`` bins of equal
    cell counts; bin means are the observations. With ``time_scale="rank"`` (default) a cell's model
    time is its rank along its lineage in ``[0, 1]`` (cells are assumed to be sampled at a steady
    rate along the process, so cell density measures time spent; DPT pseudotime measures change of
    expression instead, and makes a steady state and a fast transition look alike); with
    ``"pseudotime"`` it is the pseudotime scaled to ``[0, 1]`` over the cells used.

    Objective: ``"collocation"`` (default) fits :math:`f_\theta - e^{\delta} x` to the derivatives of
    the bin means (second-order finite differences along each lineage), relative to their variance:
    a warm-up without penalty, the penalised phase (one gate sample per step), then a refit of the
    selected structure with exact zeros kept (``warmup_fraction``, ``refit_fraction``). It needs no
    ODE solve. ``"shooting"`` integrates the ODE from every bin over the next ``window`` bins
    (multiple shooting; ``window=None``: whole lineages from their first bin) with
    :func:`pathreg.models.fit`. ``n_seeds`` models (seeds ``seed``, ``seed + 1``, ...) are fitted and
    their networks and predictions averaged, which stabilises the ranking of edges.

    Readout: for every model, the mean absolute Jacobian :math:`|\partial f_i / \partial x_j|` over
    the bin means with the sign of the mean Jacobian, exactly zero where no path of non-zero gated
    weights joins regulator ``j`` to target ``i``; with ``normalize=True`` each target's row is
    divided by the sum of its absolute strengths from the other regulators (so that targets with
    fast and slow dynamics compare, as GENIE3's per-target importances); then averaged over models.

    Parameters
    ----------
    adata
        AnnData, or MuData with ``mod``. Expression should be normalised and log-transformed.
    method
        A sparsity method of :data:`pathreg.models.METHODS` (``"none"`` is the unpenalised Base).
    time_key
        Column of ``adata.obs`` with each cell's time (see :func:`pathreg.pp.pseudotime`).
    lineage_key
        Lineage membership: a boolean cells x lineages table in ``adata.obsm`` (see
        :func:`pathreg.pp.lineages`) or a categorical ``adata.obs`` column. ``None``: all cells form one lineage.
    regulators, targets
        ``None`` (all genes), a boolean ``adata.var`` column name (e.g. ``"is_tf"``) or a list of gene names.
    prior
        Optional allowed edges, target x regulator: a key of ``adata.varp`` (non-zero = allowed) or a
        DataFrame indexed by targets with regulator columns. Edges outside it are exactly absent.
    layer
        Expression layer; ``None`` uses ``adata.X``.
    mod
        Modality of a MuData.
    n_bins
        Bins per lineage (each lineage needs at least ``2 * n_bins`` cells).
    objective
        ``"collocation"`` or ``"shooting"`` (see above).
    n_seeds
        Number of models in the ensemble.
    time_scale
        ``"rank"``: model time of a cell = its rank along the lineage's pseudotime, in ``[0, 1]`` (cells
        assumed sampled at a constant rate, so that cell density measures time spent; bins equally spaced).
        ``"pseudotime"``: the scaled pseudotime itself (measures change of expression, not time).
    normalize
        Scale every target's row of the adjacency so that its absolute strengths from the other
        regulators sum to one (comparable across targets, as GENIE3's per-target importances).
    window
        Multiple-shooting window in bins, or ``None`` for whole lineages.
    hidden, activation
        Hidden layer widths and nonlinearity of :math:`f_\theta`.
    decay
        Learn a first-order decay per gene (recommended for expression data).
    lambda_
        Penalty strength. ``None``: :data:`COLLOCATION_LAMBDA` for the gated methods with the collocation
        objective (3.0: relative to the derivatives' variance), the regularizer's default otherwise.
    regularizer_options
        Further options of the method's regularizer (e.g. ``{"lambda_1": 0.01}`` for PathReg).
    solver
        A torchdiffeq solver name (fixed-grid solvers step on the bin grid).
    key_added
        Prefix of the keys written.
    device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or a :class:`torch.device`.
    seed
        Seeds the initialisation and the gate samples.
    progress
        Show a progress bar.
    copy
        Work on and return a copy instead of modifying ``adata``.
    checkpoint_dir
        Save every ensemble member into this folder as soon as it is fitted (the model file, its training
        history and a fingerprint of the fit), so that an interrupted or crashed fit loses at most one member.
    resume
        Load the members already saved in ``checkpoint_dir`` by an earlier run of the same fit (same data,
        genes and settings; checked) and fit only the others. Each member is fitted from its own seed, so
        the result equals that of an uninterrupted run.
    **training_options
        Passed to :func:`pathreg.models.fit_collocation` (``n_epochs``, ``lr``, ``gate_lr``, ``weight_decay``,
        ``warmup_fraction``, ``refit_fraction``) or :func:`pathreg.models.fit` (shooting: e.g. ``n_epochs``,
        ``lr``, ``regime``); defaults in :data:`DEFAULT_TRAINING`.

    Returns
    -------
    The fitted :class:`~pathreg.models.NeuralODE` (in evaluation mode; gene names and time scaling in
    ``model.metadata``, all ``n_seeds`` members of the ensemble in ``model.ensemble``), or
    ``(model, adata_copy)`` with ``copy=True``. Writes, with ``key = key_added``:

    ``adata.varp[f"{key}_adjacency"]``
        float32 ``n_vars x n_vars``; entry ``[i, j]`` is the signed strength of regulator ``j``'s effect on
        target ``i`` (the readout above), exactly zero where ``j`` is not a regulator, ``i`` not a target,
        or every path from ``j`` to ``i`` is pruned in every model. Rows are targets, columns regulators.
    ``adata.layers[f"{key}_prediction"]``
        float32 ``n_obs x n_vars``: each lineage integrated from its first bin (ensemble mean) and
        interpolated at every cell's time (a cell in several lineages gets the mean over them); NaN for
        cells in no lineage and for genes outside regulators and targets.
    ``adata.uns[key]``
        ``params`` (settings), ``history`` (per-epoch ``loss``, ``fit_loss``, ``penalty``,
        ``feature_sparsity``), ``metrics`` (``lineage_mse`` per lineage, ``feature_sparsity`` and
        ``weight_sparsity``), ``regulators``, ``targets``, ``lineages`` (names and cell counts).

    Raises
    ------
    ValueError
        For invalid inputs, before anything is fitted and with ``adata`` unchanged: unknown names (the
        valid ones listed), missing keys (with close matches and the function that creates them), NaN or
        infinite values among the cells and genes used, duplicated ``var_names``, no overlap of
        ``regulators`` with ``var_names``, too few cells or a constant time in a lineage. See
        :doc:`/troubleshooting`.
    RuntimeError
        For ``device="cuda"`` when no CUDA device is visible.
    FloatingPointError
        When the training diverges (lower ``lr``); nothing is written.

    Warns
    -----
    UserWarning
        When the expression looks like raw counts (normalise and log-transform it first).

    Examples
    --------
    >>> import pathreg
    >>> adata = pathreg.datasets.krumsiek11()
    >>> pathreg.pp.pseudotime(adata, root_key="cell_type", root="progenitor")  # doctest: +SKIP
    >>> model = pathreg.tl.fit_dynamics(adata, n_epochs=50, progress=False)  # doctest: +SKIP
    """
    _check_options(
        method=method,
        objective=objective,
        time_scale=time_scale,
        n_bins=n_bins,
        n_seeds=n_seeds,
        hidden=hidden,
        activation=activation,
        solver=solver,
    )
    _check_training_options(objective, training_options)
    torch_device = resolve_device(device)
    resolve_modality(adata, mod)  # a missing modality fails before any copy
    target_object = data_copy = adata.copy() if copy else adata
    adata = resolve_modality(target_object, mod)
    problem = _prepare(
        adata,
        time_key=time_key,
        lineage_key=lineage_key,
        regulators=regulators,
        targets=targets,
        prior=prior,
        layer=layer,
        n_bins=n_bins,
        time_scale=time_scale,
    )
    ensure_actual(adata)  # a view becomes an actual AnnData now, without ImplicitModificationWarning at the writes
    regularizer_options = dict(regularizer_options or {})
    if lambda_ is None and objective == "collocation":
        lambda_ = COLLOCATION_LAMBDA.get(method)
    if lambda_ is not None:
        regularizer_options["lambda_"] = lambda_
    regularizer = get_regularizer(method, **regularizer_options)
    training = {**DEFAULT_TRAINING[objective], **training_options}
    logger.info(
        "Fitting %s (%s, %d seed(s)) on %d lineages x %d bins (%d regulators, %d targets).",
        method,
        objective,
        n_seeds,
        len(problem.bins),
        n_bins,
        len(problem.regulator_genes),
        len(problem.target_genes),
    )
    folder = None
    if checkpoint_dir is not None:
        settings = {
            "method": method,
            "regularizer": regularizer.hyperparameters(),
            "objective": objective,
            "window": window,
            "hidden": list(map(int, hidden)),
            "activation": activation,
            "decay": decay,
            "solver": solver,
            "n_bins": n_bins,
            "time_scale": time_scale,
            "seed": seed,
            "training": {key: repr(value) for key, value in training.items() if key != "callback"},
            "prior": None if problem.allowed is None else hashlib.sha256(problem.allowed.tobytes()).hexdigest(),
        }
        folder = CheckpointFolder(
            checkpoint_dir, fingerprint(settings, problem.state_genes, problem.bins), resume=resume
        )
    elif resume:
        raise ValueError("resume=True needs the checkpoint_dir of the run to resume.")
    models, histories = [], []
    for member in range(n_seeds):
        loaded = folder.load(member) if folder is not None else None
        if loaded is not None:
            model, history = loaded
            logger.info("Loaded ensemble member %d from %s.", member, checkpoint_dir)
        else:
            model = _build_model(problem, regularizer, seed + member, hidden, activation, solver, decay)
            history = _train(
                model, problem, regularizer, objective, window, torch_device, seed + member, progress, training
            )
            if folder is not None and not history.interrupted:
                folder.save(member, model, history)
        models.append(model)
        histories.append(history)
        if history.interrupted:
            logger.warning(
                "Interrupted while fitting ensemble member %d of %d: writing the result of the %d member(s) so far "
                '(params["interrupted"] = True).',
                member + 1,
                n_seeds,
                len(models),
            )
            break
    interrupted = any(history.interrupted for history in histories)
    model, history = models[0], histories[0]
    results = _results(models, problem, adata.n_obs, normalize=normalize)
    _check_finite_results(results)
    params = {
        "method": method,
        "time_key": time_key,
        "lineage_key": "none" if lineage_key is None else lineage_key,
        "layer": "X" if layer is None else layer,
        "n_bins": int(n_bins),
        "time_scale": time_scale,
        "normalize": bool(normalize),
        "window": 0 if window is None else int(window),
        "objective": objective,
        "n_seeds": int(n_seeds),
        "hidden": list(map(int, hidden)),
        "activation": "none" if activation is None else activation,
        "decay": bool(decay),
        "solver": solver,
        "regularizer": {k: v for k, v in regularizer.hyperparameters().items() if v is not None},
        "training": {k: v for k, v in training.items() if isinstance(v, (int, float, str, bool))},
        "prior": "none" if prior is None else (prior if isinstance(prior, str) else "DataFrame"),
        "seed": int(seed),
        "n_models": len(models),
        "interrupted": bool(interrupted),
        "device": str(torch_device),
        "time_offset": problem.time_offset,
        "time_span": problem.time_span,
    }
    model.ensemble = models  # all members, for averaged simulations (tl.perturb)
    model.metadata = {
        "state_genes": problem.state_genes,
        "regulators": problem.regulator_genes,
        "targets": problem.target_genes,
        "time_key": time_key,
        "time_offset": problem.time_offset,
        "time_span": problem.time_span,
        "n_bins": int(n_bins),
        "time_scale": time_scale,
        "method": method,
    }
    history_record = history.to_dict()
    pruning = history_record.pop("pruning")
    if pruning:  # records of fit(..., prune=True) as columns, writable to h5ad
        history_record["pruning"] = {name: np.asarray([step[name] for step in pruning]) for name in pruning[0]}
    if history.path:
        history_record["sparsification_path"] = {
            name: np.asarray([record[name] for record in history.path], dtype=np.float64)
            for name in ("lambda_scale", "fit_loss", "n_dependencies", "n_weights", "bic")
        }
        history_record["sparsification_path"]["selected"] = int(history.selected)
    _write(adata, key_added, problem, results, params, history_record)
    for member in models:
        member.cpu()
    return (model, data_copy) if copy else model


def _build_model(
    problem: _Problem,
    regularizer: Regularizer,
    seed: int,
    hidden: Sequence[int],
    activation: str | None,
    solver: str,
    decay: bool,
) -> NeuralODE:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vector_field = regularizer.build_vector_field(
            len(problem.input_index), len(problem.state_genes), hidden=tuple(hidden), activation=activation, bias=True
        )
        return NeuralODE(
            vector_field,
            input_index=problem.input_index,
            solver=solver,
            decay=decay,
            dependency_mask=None if problem.allowed is None else torch.as_tensor(problem.allowed),
        )


def _train(model, problem, regularizer, objective, window, device, seed, progress, training):
    if objective == "collocation":
        training = dict(training)
        n_epochs = int(training.get("n_epochs", 2000))
        for phase in ("warmup", "refit"):
            fraction = training.pop(f"{phase}_fraction", 0.0)
            training.setdefault(f"{phase}_epochs", int(round(fraction * n_epochs)))
        states, derivatives = derivative_estimates(problem.bins)
        history = fit_collocation(
            model, states, derivatives, regularizer=regularizer, device=device, seed=seed, progress=progress, **training
        )
    else:
        history = fit(
            model,
            shooting_windows(problem.bins, window),
            regularizer=regularizer,
            device=device,
            seed=seed,
            progress=progress,
            **training,
        )
    model.eval()
    return history


def _results(models: list[NeuralODE], problem: _Problem, n_obs: int, normalize: bool = False) -> dict:
    """Compute everything to be written (no AnnData involved): ensemble means over ``models``."""
    states = np.concatenate([lineage.means for lineage in problem.bins])
    is_target = np.isin(problem.state_genes, problem.target_genes)
    strengths, lineage_predictions = [], []
    for model in models:
        strength = signed_strength(model, states)  # (n_state, n_regulators)
        strength[~is_target] = 0.0
        if normalize:
            strength = normalize_targets(strength, problem.state_genes, problem.regulator_genes)
        strengths.append(strength)
        lineage_predictions.append(predict_lineages(model, problem.bins))
    strength = np.mean(strengths, axis=0).astype(np.float32)
    predictions = [np.mean(per_lineage, axis=0) for per_lineage in zip(*lineage_predictions, strict=True)]
    block = np.abs(strength[is_target]) > 0
    return {
        "strength": strength,
        "predictions": predictions,
        "cells": cell_predictions(problem.bins, predictions, problem.scaled_time, n_obs),
        "lineage_mse": lineage_errors(problem.bins, predictions),
        "feature_sparsity": float(1.0 - block.mean()),
        "weight_sparsity": float(np.mean([weight_sparsity(model) for model in models])),
    }


def _check_finite_results(results: dict) -> None:
    """Refuse to write a non-finite network or prediction."""
    bad = [name for name in ("strength",) if not np.isfinite(results[name]).all()]
    bad += ["predictions"] if any(not np.isfinite(p).all() for p in results["predictions"]) else []
    if bad:
        raise FloatingPointError(
            f"The fitted model gives non-finite {' and '.join(bad)}; nothing was written. Lower lr, use a tighter "
            "solver or check the data for extreme values."
        )


def _write(adata: AnnData, key: str, problem: _Problem, results: dict, params: dict, history: dict) -> None:
    """Assign every result at once, after all were computed; an interruption while assigning restores the old keys."""
    n_vars = adata.n_vars
    columns = problem.state_columns
    regulator_columns = columns[problem.input_index]
    adjacency = np.zeros((n_vars, n_vars), dtype=np.float32)
    adjacency[np.ix_(columns, regulator_columns)] = results["strength"]
    prediction = np.full((adata.n_obs, n_vars), np.nan, dtype=np.float32)
    prediction[:, columns] = results["cells"]
    uns = {
        "params": params,
        "history": {name: np.asarray(values, dtype=np.float64) for name, values in history.items() if _numeric(values)},
        **({"sparsification_path": history["sparsification_path"]} if "sparsification_path" in history else {}),
        "metrics": {
            "lineage_mse": {name: float(value) for name, value in results["lineage_mse"].items()},
            "mean_lineage_mse": float(np.mean(list(results["lineage_mse"].values()))),
            "feature_sparsity": results["feature_sparsity"],
            "weight_sparsity": float(results["weight_sparsity"]),
        },
        "regulators": np.asarray(problem.regulator_genes, dtype=object),
        "targets": np.asarray(problem.target_genes, dtype=object),
        "lineages": {
            "names": np.asarray([lineage.name for lineage in problem.bins], dtype=object),
            "n_cells": np.asarray([len(lineage.cells) for lineage in problem.bins], dtype=np.int64),
            "n_bins": np.asarray([len(lineage.times) for lineage in problem.bins], dtype=np.int64),
        },
    }
    slots = (
        (adata.varp, f"{key}_adjacency", adjacency),
        (adata.layers, f"{key}_prediction", prediction),
        (adata.uns, key, uns),
    )
    previous = [(slot, name, slot.get(name, _ABSENT)) for slot, name, _ in slots]
    try:
        for slot, name, value in slots:
            slot[name] = value
    except BaseException:  # e.g. KeyboardInterrupt between two assignments: no half-written set of keys
        for slot, name, value in previous:
            if value is _ABSENT:
                slot.pop(name, None)
            else:
                slot[name] = value
        raise


_ABSENT = object()


def _numeric(values) -> bool:
    return isinstance(values, list) and len(values) > 0 and all(isinstance(v, (int, float)) for v in values)
