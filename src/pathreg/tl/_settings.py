"""The settings of a fit of :func:`pathreg.tl.fit_dynamics` besides its data: one immutable, validated object."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pathreg.models import (
    ACTIVATIONS,
    METHODS,
    READOUTS,
    SOLVERS,
    CollocationSettings,
    Regularizer,
    ShootingSettings,
    check_consensus,
    get_regularizer,
)

from .._utils import check_choice, close_matches
from ._objectives import OBJECTIVES
from ._problem import DynamicsProblem

RUNTIME_OPTIONS = ("device", "progress")
"""Options of a fit that do not change its result's definition (they are not part of :class:`FitSettings`)."""


@dataclass(frozen=True)
class FitSettings:
    """Everything that defines a fit besides its data (:class:`DynamicsProblem`); validated on creation.

    The fields are the arguments of :func:`fit_dynamics` of the same names; see there. ``training`` is
    turned into the objective's settings object (:class:`~pathreg.models.CollocationSettings` or
    :class:`~pathreg.models.ShootingSettings`: its defaults, :attr:`Objective.defaults`, with the given
    entries); ``hidden`` into a tuple.

    Raises
    ------
    ValueError
        For an unknown method, objective, solver, activation or training option (the valid names listed),
        invalid layer widths, ``n_seeds < 1`` or a negative ``window``.

    Examples
    --------
    >>> settings = FitSettings(method="pathreg", training={"n_epochs": 50})
    >>> settings.training.n_epochs, settings.lambda_for_method()
    (50, 10.0)
    """

    method: str = "pathreg"
    objective: str = "cells"
    n_seeds: int = 5
    hidden: tuple[int, ...] = (32,)
    activation: str | None = "tanh"
    decay: bool | float | None = None
    solver: str = "rk4"
    lambda_: float | None = None
    regularizer_options: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] | CollocationSettings | ShootingSettings | None = None
    window: int | None = 2
    normalize: bool = True
    readout: str = "ablation"
    consensus: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice(self.readout, READOUTS, "readout")
        check_consensus(self.consensus)
        check_choice(self.method, METHODS, "method")
        check_choice(self.objective, OBJECTIVES, "objective")
        check_choice(self.solver, SOLVERS, "solver")
        if self.activation is not None:
            check_choice(str(self.activation).lower(), sorted(ACTIVATIONS), "activation")
        hidden = self.hidden
        if isinstance(hidden, (int, str)) or not all(_positive_integer(width) for width in hidden):
            raise ValueError(f"hidden must be a sequence of positive layer widths, e.g. (32,), got {hidden!r}.")
        if not _positive_integer(self.n_seeds):
            raise ValueError(f"n_seeds must be an integer of at least 1, got {self.n_seeds!r}.")
        if not (self.decay is None or isinstance(self.decay, bool)) and not _positive_rate(self.decay):
            raise ValueError(
                f"decay must be None (the objective's default), True (learned), False or a positive rate, "
                f"got {self.decay!r}."
            )
        if self.window is not None and not _positive_integer(self.window):
            raise ValueError(f"window must be a positive number of bins or None (whole lineages), got {self.window!r}.")
        object.__setattr__(self, "hidden", tuple(int(width) for width in hidden))
        object.__setattr__(self, "regularizer_options", dict(self.regularizer_options or {}))
        object.__setattr__(self, "training", OBJECTIVES[self.objective].settings(self.training))

    @classmethod
    def from_options(cls, options: Mapping[str, Any], **fixed) -> FitSettings:
        """Settings from a dict of :func:`fit_dynamics` arguments and the ``fixed`` ones the caller sets itself.

        Raises
        ------
        ValueError
            For a name that is not a field (close matches listed).
        TypeError
            For a name in both ``options`` and ``fixed`` (it would be silently overridden).
        """
        valid = [f.name for f in dataclasses.fields(cls)]
        for name in options:
            if name not in valid:
                raise ValueError(f"Unknown fit setting {name!r}.{close_matches(name, valid)} Valid names are {valid}.")
        both = sorted(set(options) & set(fixed))
        if both:
            raise TypeError(f"{both} are set by the caller here; remove them from the fit options.")
        return cls(**{**options, **fixed})

    def replace(self, **changes) -> FitSettings:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def objective_spec(self):
        """The :class:`Objective` of :attr:`objective`."""
        return OBJECTIVES[self.objective]

    def decay_in_force(self) -> bool | float:
        """The members' decay: :attr:`decay`, else the objective's :attr:`~Objective.default_decay`."""
        return self.objective_spec.default_decay if self.decay is None else self.decay

    def lambda_for_method(self) -> float | None:
        """The penalty strength in force: ``lambda_``, else the objective's default for the method (or ``None``)."""
        return self.lambda_ if self.lambda_ is not None else self.objective_spec.default_lambdas.get(self.method)

    def regularizer(self) -> Regularizer:
        """A new regularizer of the method with the options and the penalty strength in force."""
        options = dict(self.regularizer_options)
        strength = self.lambda_for_method()
        if strength is not None:
            options["lambda_"] = strength
        return get_regularizer(self.method, **options)

    def training_record(self) -> dict:
        """The training settings' scalar entries (as written to ``adata.uns``)."""
        return {k: v for k, v in dataclasses.asdict(self.training).items() if isinstance(v, (int, float, str, bool))}

    def fingerprint_record(self, problem: DynamicsProblem) -> dict:
        """What identifies the fit for checkpoints (with the problem's genes and bins)."""
        regularizer = self.regularizer()
        return {
            "method": self.method,
            "regularizer": regularizer.hyperparameters(),
            "objective": self.objective,
            "window": self.window,
            "hidden": list(self.hidden),
            "activation": self.activation,
            "decay": self.decay_in_force(),
            "solver": self.solver,
            "velocity_key": problem.velocity_key,
            "n_bins": problem.n_bins,
            "time_scale": problem.time_scale,
            "seed": self.seed,
            "training": {key: repr(value) for key, value in dataclasses.asdict(self.training).items()},
        }


PROBLEM_OPTIONS = (
    "time_key",
    "lineage_key",
    "regulators",
    "targets",
    "prior",
    "layer",
    "n_bins",
    "time_scale",
    "velocity_key",
)
"""Arguments of :meth:`DynamicsProblem.from_anndata`."""


def split_fit_options(options: Mapping[str, Any] | None) -> tuple[dict, dict, dict]:
    """``fit_kwargs`` of :func:`sweep` / :func:`evaluate_generalization` split into data, settings and runtime.

    Raises
    ------
    ValueError
        For a name that is none of them (close matches listed).
    """
    options = dict(options or {})
    settings_names = [f.name for f in dataclasses.fields(FitSettings)]
    groups = (PROBLEM_OPTIONS, settings_names, RUNTIME_OPTIONS)
    valid = [name for names in groups for name in names]
    for name in options:
        if name not in valid:
            raise ValueError(
                f"Unknown fit option {name!r}.{close_matches(name, valid)} Valid names are {sorted(valid)}."
            )
    return tuple({name: options[name] for name in names if name in options} for names in groups)


def _positive_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def _positive_rate(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 < float(value) < math.inf
