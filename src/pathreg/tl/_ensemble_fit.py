"""Fitting an ensemble on a :class:`DynamicsProblem` and reading it out, without AnnData."""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import sparse

from pathreg.models import Ensemble, History, NeuralODE, resolve_device, weight_sparsity

from .._settings import logger
from ._checkpoint import CheckpointFolder, fingerprint
from ._objectives import OBJECTIVES
from ._problem import DynamicsProblem
from ._readout import cell_predictions, lineage_errors, lineage_strengths, predict_lineages
from ._settings import FitSettings

SPARSE_ADJACENCY_GENES = 4096
"""Above this many genes the networks written to ``adata.varp`` are scipy CSR matrices (64 MB dense each here)."""


@dataclass(frozen=True, eq=False)
class FitResult:
    """A fitted ensemble with its problem and settings, and everything read out of it (no AnnData).

    Attributes
    ----------
    ensemble
        The fitted :class:`~pathreg.models.Ensemble` (its metadata records the genes and time scaling).
    problem, settings
        What it was fitted on and with.
    histories
        One training :class:`~pathreg.models.History` per member.
    device
        Where it was fitted.
    strength
        ``(n_state, n_regulators)`` float32: the ensemble's signed network (zero rows for non-targets).
    lineage_predictions
        Per lineage, the ensemble mean integrated from its first bin, ``(n_bins, n_state)``.
    cells
        ``(n_obs, n_state)`` float32: the predictions interpolated at every cell's time (NaN outside lineages);
        computed when first read (4 GB for 20,000 genes x 50,000 cells).
    lineage_mse
        Whole-lineage prediction error per lineage, against the bin means.
    lineage_strength
        Per lineage, ``(n_state, n_regulators)`` float32: the network read out like :attr:`strength` (same
        readout, normalisation and target rows) over that lineage's bin means only. Empty for a fit of one
        lineage (its network is :attr:`strength`).
    """

    ensemble: Ensemble
    problem: DynamicsProblem
    settings: FitSettings
    histories: list[History]
    device: torch.device
    strength: np.ndarray = field(repr=False)
    lineage_predictions: list[np.ndarray] = field(repr=False)
    lineage_mse: dict[str, float]
    lineage_strength: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @functools.cached_property
    def cells(self) -> np.ndarray:  # noqa: D102 (documented with the attributes)
        problem = self.problem
        return cell_predictions(problem.bins, self.lineage_predictions, problem.scaled_time, problem.n_obs)

    @property
    def interrupted(self) -> bool:
        """Whether the fit was interrupted: a member's training was, or fewer than ``n_seeds`` members were fitted."""
        return any(history.interrupted for history in self.histories) or len(self.ensemble) < self.settings.n_seeds

    @property
    def target_adjacency(self) -> np.ndarray:
        """``(n_targets, n_regulators)`` float32: :attr:`strength` restricted to the targets' rows."""
        return self.strength[self.problem.is_target]

    def metrics(self) -> dict:
        """The fit's metrics, as written to ``adata.uns[key]["metrics"]``.

        ``lineage_mse`` (per lineage), ``mean_lineage_mse``, ``feature_sparsity`` and ``weight_sparsity``
        (mean over members). ``feature_sparsity`` is the fraction of the target x regulator dependencies the
        model was allowed to have (by the prior, and without a gene's own level where the objective excludes
        it) that are exactly zero: structurally excluded entries are not counted as pruned.
        """
        return {
            "lineage_mse": {name: float(value) for name, value in self.lineage_mse.items()},
            "mean_lineage_mse": float(np.mean(list(self.lineage_mse.values()))),
            "feature_sparsity": self.feature_sparsity(),
            "weight_sparsity": float(np.mean([weight_sparsity(member) for member in self.ensemble])),
        }

    def feature_sparsity(self) -> float:
        """Fraction of the allowed target x regulator dependencies that are exactly zero (see :meth:`metrics`)."""
        mask = self.ensemble.members[0].allowed_dependencies()
        allowed = np.ones(self.strength.shape, dtype=bool) if mask is None else mask.detach().cpu().numpy()
        allowed = allowed[self.problem.is_target]
        if not allowed.any():
            return 0.0
        return float((self.target_adjacency[allowed] == 0).mean())

    def full_adjacency(self, strength: np.ndarray | None = None) -> np.ndarray | sparse.csr_matrix:
        """``(n_vars, n_vars)`` float32 in the AnnData's gene order: row target, column regulator.

        Dense for up to :data:`SPARSE_ADJACENCY_GENES` genes; above, a scipy CSR matrix of the non-zero entries
        (only targets x regulators can be non-zero: 20,000 genes would take 1.6 GB dense per network, h5ad
        stores CSR as it is).

        Parameters
        ----------
        strength
            A ``(n_state, n_regulators)`` network of this fit (e.g. one of :attr:`lineage_strength`);
            ``None``: :attr:`strength`.
        """
        problem = self.problem
        strength = self.strength if strength is None else strength
        regulator_columns = problem.state_columns[problem.input_index]
        shape = (problem.n_vars, problem.n_vars)
        if problem.n_vars > SPARSE_ADJACENCY_GENES:
            rows, columns = np.nonzero(strength)
            entries = (strength[rows, columns], (problem.state_columns[rows], regulator_columns[columns]))
            return sparse.csr_matrix(entries, shape=shape, dtype=np.float32)
        adjacency = np.zeros(shape, dtype=np.float32)
        adjacency[np.ix_(problem.state_columns, regulator_columns)] = strength
        return adjacency

    def lineage_adjacency(self) -> dict[str, np.ndarray | sparse.csr_matrix]:
        """Every lineage's network (:attr:`lineage_strength`) in the layout of :meth:`full_adjacency`."""
        return {name: self.full_adjacency(strength) for name, strength in self.lineage_strength.items()}

    def params(self) -> dict:
        """The fit's settings as written to ``adata.uns[key]["params"]`` (h5ad-writable)."""
        problem, settings = self.problem, self.settings
        return {
            "method": settings.method,
            "time_key": problem.time_key,
            "lineage_key": "none" if problem.lineage_key is None else problem.lineage_key,
            "layer": "X" if problem.layer is None else problem.layer,
            "n_bins": problem.n_bins,
            "time_scale": problem.time_scale,
            "normalize": bool(settings.normalize),
            "readout": settings.readout,
            "consensus": float(settings.consensus),
            "velocity_key": "none" if problem.velocity_key is None else problem.velocity_key,
            "window": 0 if settings.window is None else int(settings.window),
            "objective": settings.objective,
            "n_seeds": int(settings.n_seeds),
            "hidden": list(settings.hidden),
            "activation": "none" if settings.activation is None else settings.activation,
            "decay": _decay_record(settings.decay_in_force()),
            "solver": settings.solver,
            "regularizer": {k: v for k, v in settings.regularizer().hyperparameters().items() if v is not None},
            "training": settings.training_record(),
            "prior": problem.prior_label,
            "seed": int(settings.seed),
            "n_models": len(self.ensemble),
            "interrupted": bool(self.interrupted),
            "device": str(self.device),
            "time_offset": problem.time_offset,
            "time_span": problem.time_span,
        }


def _decay_record(decay: bool | float) -> str | float:
    """The decay as written to ``uns``: ``"learned"``, ``"none"`` or the fixed rate."""
    if isinstance(decay, bool):
        return "learned" if decay else "none"
    return float(decay)


def build_member(problem: DynamicsProblem, settings: FitSettings, *, seed: int) -> NeuralODE:
    """One untrained ensemble member, initialised from ``seed`` (the global random state is left as it was)."""
    regularizer = settings.regularizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vector_field = regularizer.build_vector_field(
            len(problem.input_index),
            len(problem.state_genes),
            hidden=settings.hidden,
            activation=settings.activation,
            bias=True,
        )
        return NeuralODE(
            vector_field,
            input_index=problem.input_index,
            solver=settings.solver,
            decay=settings.decay_in_force(),
            dependency_mask=None if problem.allowed is None else torch.as_tensor(problem.allowed),
            exclude_self=settings.objective_spec.exclude_self,
        )


def fit_ensemble(
    problem: DynamicsProblem,
    settings: FitSettings | None = None,
    *,
    device: str | torch.device = "auto",
    progress: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
) -> FitResult:
    """Fit ``settings.n_seeds`` members (seeds ``seed, seed + 1, ...``) on ``problem`` and read them out.

    The engine part of :func:`fit_dynamics` (see there for the model, objectives and readout): no AnnData is
    read or written. ``checkpoint_dir`` and ``resume`` as in :func:`fit_dynamics`.

    Returns
    -------
    The :class:`FitResult`; its members are on the CPU, in evaluation mode.

    Raises
    ------
    ValueError
        For a problem read with ``velocity_key`` and an objective that does not fit cells.
    FloatingPointError
        When the fitted ensemble gives a non-finite network or prediction.
    KeyboardInterrupt
        When interrupted before any member has finished an epoch (later, the members so far are kept).
    """
    settings = FitSettings() if settings is None else settings
    if problem.velocity_key is not None and not settings.objective_spec.uses_cells:
        cells = [name for name, objective in OBJECTIVES.items() if objective.uses_cells]
        raise ValueError(
            f"velocity_key is used by objective={cells[0]!r} only; got objective={settings.objective!r}. "
            "Drop velocity_key or use that objective."
        )
    device = resolve_device(device)
    folder = _checkpoints(problem, settings, checkpoint_dir, resume)
    logger.info(
        "Fitting %s (%s, %d seed(s)) on %d lineages x %d bins (%d regulators, %d targets).",
        settings.method,
        settings.objective,
        settings.n_seeds,
        len(problem.bins),
        problem.n_bins,
        len(problem.regulator_genes),
        len(problem.target_genes),
    )
    if settings.objective_spec.trains_together:
        members, histories = _fit_together(problem, settings, device, progress, folder)
    else:
        members, histories = _fit_one_by_one(problem, settings, device, progress, folder)
    metadata = {**problem.ensemble_metadata(), "method": settings.method}
    ensemble = Ensemble(members, metadata)
    result = _read_out(ensemble, problem, settings, histories, device)
    ensemble.metadata["params"] = result.params()
    ensemble.cpu()
    return result


def _fit_one_by_one(problem, settings: FitSettings, device, progress, folder):
    """The members fitted one after another; an interruption keeps the members finished so far."""
    members, histories = [], []
    for member in range(settings.n_seeds):
        fitted = _fit_member_or_stop(problem, settings, member, device, progress, folder, n_finished=len(members))
        if fitted is None:
            break
        model, history = fitted
        members.append(model)
        histories.append(history)
        if history.interrupted:
            logger.warning(
                "Interrupted while fitting ensemble member %d of %d: keeping the result of the %d member(s) so far "
                '(params["interrupted"] = True).',
                member + 1,
                settings.n_seeds,
                len(members),
            )
            break
    return members, histories


def _fit_together(problem, settings: FitSettings, device, progress, folder):
    """The members not in the checkpoint folder fitted together (:meth:`Objective.train_members`).

    An interruption keeps the members that finished an epoch (those trained together at their last finished
    epoch, those trained one after another up to the interrupted one) and the members loaded from checkpoints;
    when there are none it raises.
    """
    loaded = {}
    for member in range(settings.n_seeds):
        found = folder.load(member) if folder is not None else None
        if found is not None:
            logger.info("Loaded ensemble member %d from %s.", member, folder.path)
            loaded[member] = found
    pending = [member for member in range(settings.n_seeds) if member not in loaded]
    fitted = {}
    if pending:
        seeds = [settings.seed + member for member in pending]
        models, histories = [], None
        try:
            models = [build_member(problem, settings, seed=seed) for seed in seeds]
            histories = settings.objective_spec.train_members(
                models,
                problem,
                settings.regularizer(),
                settings.training,
                window=settings.window,
                device=device,
                seeds=seeds,
                progress=progress,
            )
        except KeyboardInterrupt:  # outside the training loop (e.g. while building the members or their data)
            histories = None
        for member, model, history in zip(pending, models, histories or [], strict=False):
            if history.interrupted and len(history) == 0:  # stopped before this member finished an epoch
                break
            model.eval()
            if folder is not None and not history.interrupted:
                folder.save(member, model, history)
            fitted[member] = (model, history)
        if not fitted and not loaded:
            raise KeyboardInterrupt("fit interrupted before any ensemble member finished; nothing was written")
        if histories is None or any(history.interrupted for history in histories):
            logger.warning(
                "Interrupted while fitting the ensemble's members: keeping %d of %d (%s), those trained together at "
                'their last finished epoch (params["interrupted"] = True).',
                len(fitted) + len(loaded),
                settings.n_seeds,
                f"{len(loaded)} loaded from checkpoints" if loaded else "none loaded",
            )
    done = {**loaded, **fitted}
    return [done[member][0] for member in sorted(done)], [done[member][1] for member in sorted(done)]


def _checkpoints(problem: DynamicsProblem, settings: FitSettings, checkpoint_dir, resume: bool):
    if checkpoint_dir is None:
        if resume:
            raise ValueError("resume=True needs the checkpoint_dir of the run to resume.")
        return None
    record = settings.fingerprint_record(problem)
    record["prior"] = None if problem.allowed is None else hashlib.sha256(problem.allowed.tobytes()).hexdigest()
    return CheckpointFolder(checkpoint_dir, fingerprint(record, problem.state_genes, problem.bins), resume=resume)


def _fit_member_or_stop(problem, settings: FitSettings, member: int, device, progress, folder, *, n_finished: int):
    """:func:`_fit_member`, or ``None`` when it was interrupted before finishing an epoch and members are kept.

    Raises
    ------
    KeyboardInterrupt
        When interrupted so before any member (``n_finished == 0``): there is nothing to keep.
    """
    try:
        model, history = _fit_member(problem, settings, member, device, progress, folder)
    except KeyboardInterrupt:  # outside the training loop (e.g. while building the member or its data)
        history = None
    if history is not None and not (history.interrupted and len(history) == 0):
        return model, history
    if n_finished == 0:
        raise KeyboardInterrupt("fit interrupted before any ensemble member finished; nothing was written") from None
    logger.warning(
        "Interrupted before ensemble member %d of %d finished an epoch: keeping the %d member(s) so far "
        '(params["interrupted"] = True).',
        member + 1,
        settings.n_seeds,
        n_finished,
    )
    return None


def _fit_member(problem, settings: FitSettings, member: int, device, progress: bool, folder):
    loaded = folder.load(member) if folder is not None else None
    if loaded is not None:
        logger.info("Loaded ensemble member %d from %s.", member, folder.path)
        return loaded
    seed = settings.seed + member
    model = build_member(problem, settings, seed=seed)
    history = settings.objective_spec.train(
        model,
        problem,
        settings.regularizer(),
        settings.training,
        window=settings.window,
        device=device,
        seed=seed,
        progress=progress,
    )
    model.eval()
    if folder is not None and not history.interrupted:
        folder.save(member, model, history)
    return model, history


def _read_out(ensemble: Ensemble, problem: DynamicsProblem, settings: FitSettings, histories, device) -> FitResult:
    options = {
        "normalize": settings.normalize,
        "rows": problem.is_target,
        "readout": settings.readout,
        "consensus": settings.consensus,
    }
    strength = ensemble.signed_adjacency(problem.bin_means, **options)
    per_lineage = lineage_strengths(ensemble, problem.bins, **options)
    predictions = predict_lineages(ensemble, problem.bins)
    bad = (
        (["strength"] if not np.isfinite(strength).all() else [])
        + (["lineage networks"] if any(not np.isfinite(s).all() for s in per_lineage.values()) else [])
        + (["predictions"] if any(not np.isfinite(p).all() for p in predictions) else [])
    )
    if bad:
        raise FloatingPointError(
            f"The fitted model gives non-finite {' and '.join(bad)}; nothing was written. Lower lr, use a tighter "
            "solver or check the data for extreme values."
        )
    return FitResult(
        ensemble=ensemble,
        problem=problem,
        settings=settings,
        histories=histories,
        device=device,
        strength=strength,
        lineage_predictions=predictions,
        lineage_mse=lineage_errors(problem.bins, predictions),
        lineage_strength=per_lineage,
    )
