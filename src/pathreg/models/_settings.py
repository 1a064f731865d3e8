"""Training settings: immutable objects, validated on creation, that say how a model is trained.

Every option that defines how a model is trained (not where or how verbosely) lives in one frozen dataclass,
validated on creation: :class:`ShootingSettings` for :func:`~pathreg.models.fit`, :class:`CollocationSettings`
for :func:`~pathreg.models.fit_collocation`. :meth:`~ShootingSettings.replace` derives changed copies and
:meth:`~ShootingSettings.to_dict` gives plain data to store with a fit.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Literal, Self

from .._utils import check_choice, close_matches
from ._graphs import GraphMode, check_graph_mode

Regime = Literal["sparse", "iterative"]
REGIMES = ("sparse", "iterative")
LRSchedule = Literal["plateau", "cosine", "constant"]
LR_SCHEDULES = ("plateau", "cosine", "constant")
Polish = Literal["lbfgs", "adam"]
POLISH_OPTIMIZERS = ("lbfgs", "adam")
Selection = Literal["last", "bic"]
SELECTIONS = ("last", "bic")


class _TrainingSettings:
    """What both settings classes share: :meth:`replace` with named errors, and :meth:`to_dict`."""

    _former_names: ClassVar[Mapping[str, str]] = MappingProxyType({})
    """Current names of options of earlier pathreg versions, given in the error for an old name."""

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (validated like a new object).

        Raises
        ------
        ValueError
            For a name that is not a setting (close matches and the valid names listed), or an invalid value.
        """
        valid = sorted(field.name for field in dataclasses.fields(self))
        for name in changes:
            if name not in valid:
                hint = self._former_names.get(name)
                advice = f" It is now {hint}." if hint else close_matches(name, valid)
                raise ValueError(f"Unknown {type(self).__name__} option {name!r}.{advice} Valid names are {valid}.")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain scalars and lists, writable to h5ad.

        Entries that are ``None`` are left out (h5ad cannot store ``None``; it is their default), so
        ``type(settings)(**settings.to_dict()) == settings``.
        """
        plain = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                plain[field.name] = list(value) if isinstance(value, tuple) else value
        return plain


def with_options(settings: _TrainingSettings | None, settings_class: type, options: dict[str, Any]):
    """``settings`` (``None``: ``settings_class()``) with ``options`` applied by :meth:`~ShootingSettings.replace`.

    Raises
    ------
    TypeError
        If ``settings`` is not a ``settings_class``.
    ValueError
        For an unknown option or an invalid value.
    """
    if settings is None:
        settings = settings_class()
    elif not isinstance(settings, settings_class):
        raise TypeError(f"settings must be a {settings_class.__name__} or None, got {type(settings).__name__}.")
    return settings.replace(**options) if options else settings


def _check_at_least(value: Any, minimum: int, name: str, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        none = " or None" if optional else ""
        raise ValueError(f"{name} must be an integer of at least {minimum}{none}, got {value!r}.")


def _check_positive(value: Any, name: str, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not value > 0:
        raise ValueError(f"{name} must be positive{' or None' if optional else ''}, got {value!r}.")


@dataclass(frozen=True)
class ShootingSettings(_TrainingSettings):
    r"""How :func:`~pathreg.models.fit` trains a neural ODE on trajectories (multiple shooting).

    Immutable and validated on creation; derive changed copies with :meth:`replace`.

    Attributes
    ----------
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
    refit_epochs
        After every penalised stage, refit the selected structure for this many epochs:
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
        ``n_epochs``). Refits run at most ``refit_epochs``.
    select
        Which structure to keep. ``"last"``: the best epoch of the last stage. ``"bic"``: among the
        refits along the sparsification path, the one with the lowest Bayesian information criterion
        :math:`n \log(\mathrm{MSE}) + k \log n` (``n`` observed values, ``k`` non-zero weights), so a
        penalty raised too far cannot cost the fit. Needs ``refit_epochs > 0``.
    prune
        Finally remove the dependencies the fit does not need, one at a time with an L-BFGS refit each,
        while BIC improves (:func:`~pathreg.models.prune_dependencies`; for :class:`~pathreg.models.NeuralODE`
        and :class:`~pathreg.models.SecondOrderNeuralODE`). Cleans up what a penalty leaves behind (cancelling
        pairs of paths, paths of tiny weights); costs one refit (at most ``refit_epochs`` L-BFGS epochs, 10
        without refits) per remaining dependency.
    cuda_graph
        Capture every Adam stage's step as a CUDA graph after a few eager steps and replay it (one launch
        per step instead of thousands; see :mod:`pathreg.models._graphs`). ``"auto"``: on a CUDA device
        with a :class:`~pathreg.models.NeuralODE` stepping on the observation grid (a solver with a fused
        :attr:`~pathreg.models.Solver.step`, no ``step_size``), else eager; ``True``: require it; ``False``:
        eager. Same arithmetic as the eager step; a capture that fails falls back to eager steps with a warning.

    Raises
    ------
    ValueError
        For an invalid value, naming the valid ones.

    Examples
    --------
    >>> settings = ShootingSettings(n_epochs=500, regime="iterative", refit_epochs=10, select="bic")
    >>> settings.replace(lr=0.03).lr
    0.03
    """

    _former_names: ClassVar[Mapping[str, str]] = MappingProxyType({"finetune_epochs": "'refit_epochs'"})

    n_epochs: int = 1000
    lr: float = 1e-2
    gate_lr: float | None = None
    weight_decay: float = 0.0
    lr_schedule: LRSchedule = "plateau"
    lr_patience: int = 50
    early_stopping: bool = True
    patience: int = 200
    min_delta: float = 1e-4
    clip_grad_norm: float | None = None
    regime: Regime = "sparse"
    sparsification_scales: tuple[float, ...] = (0.1, 0.3, 1.0)
    curriculum: tuple[float, ...] = ()
    curriculum_epochs: int = 300
    refit_epochs: int = 0
    polish: Polish = "lbfgs"
    polish_epochs: int | None = None
    select: Selection = "last"
    prune: bool = False
    cuda_graph: GraphMode = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "sparsification_scales", tuple(float(scale) for scale in self.sparsification_scales))
        object.__setattr__(self, "curriculum", tuple(float(fraction) for fraction in self.curriculum))
        self._check_optimizer()
        self._check_schedule()

    def _check_optimizer(self) -> None:
        _check_at_least(self.n_epochs, 1, "n_epochs")
        _check_positive(self.lr, "lr")
        _check_positive(self.gate_lr, "gate_lr", optional=True)
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be non-negative, got {self.weight_decay!r}.")
        check_choice(self.lr_schedule, LR_SCHEDULES, "lr_schedule")
        _check_at_least(self.lr_patience, 0, "lr_patience")
        _check_at_least(self.patience, 1, "patience")
        if not self.min_delta >= 0:
            raise ValueError(f"min_delta must be non-negative, got {self.min_delta!r}.")
        _check_positive(self.clip_grad_norm, "clip_grad_norm", optional=True)
        check_choice(self.polish, POLISH_OPTIMIZERS, "polish")
        _check_at_least(self.polish_epochs, 1, "polish_epochs", optional=True)
        check_graph_mode(self.cuda_graph)

    def _check_schedule(self) -> None:
        check_choice(self.regime, REGIMES, "regime")
        if any(not 0 < fraction < 1 for fraction in self.curriculum):
            raise ValueError(f"curriculum fractions must lie in (0, 1), got {list(self.curriculum)}.")
        _check_at_least(self.curriculum_epochs, 0, "curriculum_epochs")
        _check_at_least(self.refit_epochs, 0, "refit_epochs")
        check_choice(self.select, SELECTIONS, "select")
        if self.select == "bic" and not self.refit_epochs:
            raise ValueError("select='bic' chooses among refits of the sparsification path; set refit_epochs > 0.")


@dataclass(frozen=True)
class CollocationSettings(_TrainingSettings):
    """How :func:`~pathreg.models.fit_collocation` fits a vector field to derivative estimates.

    Immutable and validated on creation; derive changed copies with :meth:`replace`. Every epoch is one
    Adam step: first the warm-up, then the penalised phase, then the refit.

    Attributes
    ----------
    n_epochs
        Number of Adam steps.
    lr
        Adam's learning rate.
    gate_lr
        Learning rate of the gates' ``log_alpha`` (``None``: ``lr``), as in :class:`ShootingSettings`.
    weight_decay
        L2 penalty on the weights (not on the gates), as Adam's ``weight_decay``.
    warmup_fraction
        Fraction of ``n_epochs`` that fits without penalty and with deterministic gates first (the
        unpenalised start of iterative sparsification): the fit finds the dependencies the data support
        before gate noise and the penalty start to prune. :attr:`warmup_epochs` steps.
    refit_fraction
        Fraction of ``n_epochs`` at the end that refits the selected structure: deterministic gates, frozen
        ``log_alpha``, exact zeros kept, no penalty ("prune and refit", as ``refit_epochs`` of
        :class:`ShootingSettings`). :attr:`refit_epochs` steps.
    cell_weight
        Weight of the single-cell term of :func:`~pathreg.models.fit_collocation` (when it is given cells)
        relative to the trajectory term.
    batch_size
        Cells per step of the single-cell term (a new random minibatch every step; ``None``: all cells), so
        that a step costs the same whatever the number of cells.
    rewind
        Start the refit from the weights at the end of the warm-up (the unpenalised fit) instead of those at
        the end of the penalised phase, with the gates the penalised phase selected ("rewinding", as in the
        lottery-ticket procedure of Frankle et al. 2019): the refit then fits the selected structure without
        the shrinkage that the gate noise and the penalty left in the weights. Needs at least one refit epoch
        (a ``ValueError`` otherwise).

    Raises
    ------
    ValueError
        For an invalid value (``n_epochs < 1``, ``lr <= 0``, fractions outside ``[0, 1]`` or summing to more
        than 1, a negative ``cell_weight``, ``batch_size < 1``).

    Examples
    --------
    >>> settings = CollocationSettings(n_epochs=50, warmup_fraction=0.4, refit_fraction=0.2)
    >>> settings.warmup_epochs, settings.refit_epochs
    (20, 10)
    """

    _former_names: ClassVar[Mapping[str, str]] = MappingProxyType(
        {
            "warmup_epochs": "'warmup_fraction' (a fraction of n_epochs)",
            "refit_epochs": "'refit_fraction' (a fraction of n_epochs)",
        }
    )

    n_epochs: int = 2000
    lr: float = 1e-2
    gate_lr: float | None = None
    weight_decay: float = 0.0
    warmup_fraction: float = 0.0
    refit_fraction: float = 0.0
    cell_weight: float = 1.0
    batch_size: int | None = 256
    rewind: bool = False

    def __post_init__(self) -> None:
        _check_at_least(self.n_epochs, 1, "n_epochs")
        if self.batch_size is not None:
            _check_at_least(self.batch_size, 1, "batch_size")
        if not self.cell_weight >= 0:
            raise ValueError(f"cell_weight must be non-negative, got {self.cell_weight!r}.")
        _check_positive(self.lr, "lr")
        _check_positive(self.gate_lr, "gate_lr", optional=True)
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be non-negative, got {self.weight_decay!r}.")
        for name in ("warmup_fraction", "refit_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)!r}.")
        if self.warmup_fraction + self.refit_fraction > 1 or self.warmup_epochs + self.refit_epochs > self.n_epochs:
            raise ValueError(
                f"warmup_fraction ({self.warmup_fraction}) and refit_fraction ({self.refit_fraction}) must sum to at "
                f"most 1 (got {self.warmup_epochs} warm-up and {self.refit_epochs} refit epochs of {self.n_epochs})."
            )
        if self.rewind and self.refit_epochs == 0:
            raise ValueError(
                "rewind=True restarts the refit from the warm-up's weights, so it needs refit epochs; set "
                f"refit_fraction > 0 (got {self.refit_fraction} of {self.n_epochs} epochs: no refit epoch)."
            )

    @property
    def warmup_epochs(self) -> int:
        """Number of warm-up epochs: ``warmup_fraction * n_epochs``, rounded."""
        return int(round(self.warmup_fraction * self.n_epochs))

    @property
    def refit_epochs(self) -> int:
        """Number of refit epochs: ``refit_fraction * n_epochs``, rounded."""
        return int(round(self.refit_fraction * self.n_epochs))
