"""Objectives of :func:`pathreg.tl.fit_dynamics`: how an ensemble member is trained on a :class:`DynamicsProblem`.

Each objective is one pluggable piece: its settings class and defaults, its default penalties, and a
``train`` method. :data:`OBJECTIVES` is the registry (as :data:`pathreg.models.REGULARIZERS`).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType

import torch

from pathreg.models import (
    CollocationSettings,
    History,
    NeuralODE,
    Regularizer,
    ShootingSettings,
    fit,
    fit_collocation_ensemble,
)

from .._utils import close_matches
from ._problem import DynamicsProblem


class Objective(ABC):
    """How :func:`fit_ensemble` trains one member; subclasses set the class attributes and :meth:`train`.

    Attributes
    ----------
    name
        The name in :data:`OBJECTIVES` (``objective=`` of :func:`fit_dynamics`).
    defaults
        The training settings :func:`fit_dynamics` uses unless ``training=`` overrides them.
    default_lambdas
        Penalty strength per method when ``lambda_=None`` (methods not listed: the regularizer's default).
    default_decay
        The members' decay when ``decay=None``: ``True`` (learned per gene) or a fixed rate (see
        :class:`~pathreg.models.NeuralODE`).
    """

    name: str
    defaults: CollocationSettings | ShootingSettings
    default_lambdas: Mapping[str, float] = MappingProxyType({})
    default_decay: bool | float = True
    exclude_self: bool = False
    """Whether a target's own expression is kept out of its production (:class:`~pathreg.models.NeuralODE`)."""
    uses_cells: bool = False
    """Whether the objective fits single cells (and reads ``velocity_key``)."""

    def settings(self, training: Mapping | CollocationSettings | ShootingSettings | None):
        """The training settings: :attr:`defaults` with ``training``'s entries, or ``training`` itself.

        Raises
        ------
        ValueError
            For an option the objective's settings do not have (close matches and valid names listed).
        TypeError
            For a settings object of another objective, or anything else that is not a mapping.
        """
        settings_class = type(self.defaults)
        if training is None:
            return self.defaults
        if isinstance(training, settings_class):
            return training
        if not isinstance(training, Mapping):
            raise TypeError(
                f"training must be a dict of options or a {settings_class.__name__} for objective={self.name!r}, "
                f"got {type(training).__name__}."
            )
        valid = sorted(f.name for f in dataclasses.fields(settings_class))
        for name in training:
            if name not in valid:
                raise ValueError(
                    f"Unknown training option {name!r} for objective={self.name!r}.{close_matches(name, valid)} "
                    f"Valid names are {valid}."
                )
        return self.defaults.replace(**dict(training))

    @abstractmethod
    def train(
        self,
        model: NeuralODE,
        problem: DynamicsProblem,
        regularizer: Regularizer,
        settings: CollocationSettings | ShootingSettings,
        *,
        window: int | None,
        device: torch.device,
        seed: int,
        progress: bool,
    ) -> History:
        """Train ``model`` on ``problem`` (left in evaluation mode); returns its history."""

    trains_together: bool = False
    """Whether :meth:`train_members` trains the members together (then :func:`fit_ensemble` calls it once)."""

    def train_members(
        self,
        models: list[NeuralODE],
        problem: DynamicsProblem,
        regularizer: Regularizer,
        settings: CollocationSettings | ShootingSettings,
        *,
        window: int | None,
        device: torch.device,
        seeds: list[int],
        progress: bool,
    ) -> list[History]:
        """Train every model (member ``m`` with ``seeds[m]``); one history each. By default one after another."""
        options = {"window": window, "device": device, "progress": progress}
        return [
            self.train(model, problem, regularizer, settings, seed=seed, **options)
            for model, seed in zip(models, seeds, strict=True)
        ]


class Collocation(Objective):
    """Fit the vector field to the derivatives of the bin means (:func:`pathreg.models.fit_collocation`).

    The error is relative to the variance of the production it asks for (derivative plus decay times
    level, at the initial decay), so the gated methods' default penalty (3.0) means the
    same on any data. Defaults: 2000 Adam steps, 40 % warm-up without penalty, 20 % refit of the selected
    structure, gate learning rate 0.1, weight decay 1e-3.
    """

    name = "collocation"
    defaults = CollocationSettings(
        n_epochs=2000, lr=1e-2, gate_lr=0.1, weight_decay=1e-3, warmup_fraction=0.4, refit_fraction=0.2
    )
    default_lambdas = MappingProxyType({"pathreg": 3.0, "l0": 3.0})
    trains_together = True

    def train(self, model, problem, regularizer, settings, *, window, device, seed, progress) -> History:  # noqa: D102
        return self.train_members(
            [model], problem, regularizer, settings, window=window, device=device, seeds=[seed], progress=progress
        )[0]

    def train_members(self, models, problem, regularizer, settings, *, window, device, seeds, progress):
        """All members as one stacked model (:func:`pathreg.models.fit_collocation_ensemble`)."""
        states, derivatives = problem.derivative_estimates()
        return fit_collocation_ensemble(
            models,
            states,
            derivatives,
            cells=problem.cell_derivatives() if self.uses_cells else None,
            regularizer=regularizer,
            settings=settings,
            device=device,
            seeds=seeds,
            progress=progress,
        )


class Cells(Collocation):
    """Collocation on the bin means plus a single-cell term: the vector field fitted at every cell.

    Every lineage cell contributes its state and derivative: RNA velocity when ``velocity_key`` is given,
    otherwise the local-linear estimate over its nearest neighbours in the lineage (:mod:`pathreg.tl._cells`).
    The term's error is per gene relative to the gene's variance, over a random minibatch of cells per step
    (``batch_size``), weighted ``cell_weight`` against the bin-mean term (the trajectory's order), with
    :func:`pathreg.models.fit_collocation`. A gene's own level is kept out of its production
    (``exclude_self``): near a steady state the cell term is then a regression of every gene on its
    regulators across cells, the signal of GENIE3-like methods, inside the ODE. Defaults as
    :class:`Collocation`, with ``batch_size=256`` and ``cell_weight=1``, and the decay fixed at 3 per unit of
    model time (a gene relaxes in a third of the lineage's span) rather than learned: at every cell the
    production is fitted to ``derivative + decay * level``, so the decay weighs a cell's level against its
    estimated derivative, and a learned rate shrinks well below 1 where the production cannot explain all of a
    (noisy) level, which discards the levels' signal (see ``docs/method.md``). PathReg's default penalty is 10
    (L0's 3): with the ensemble's majority vote on edges (``consensus=0.5`` of :func:`~pathreg.tl.fit_dynamics`)
    it prunes a quarter to two thirds of the dependencies on BEELINE and a third on krumsiek11, and ranks edges
    better than 3 summed over BEELINE's ten networks (median AUPRC 5.83 against 5.68), though not on krumsiek11
    (0.485 against 0.506; both measured with the members' signed mean, :doc:`/benchmarks`).
    """

    name = "cells"
    defaults = Collocation.defaults.replace(batch_size=256, cell_weight=1.0)
    default_lambdas = MappingProxyType({"pathreg": 10.0, "l0": 3.0})
    default_decay = 3.0
    exclude_self = True
    uses_cells = True


class Shooting(Objective):
    """Multiple shooting: integrate from every bin over the next ``window`` bins (:func:`pathreg.models.fit`).

    Defaults: 600 Adam steps with a cosine learning-rate schedule and no early stopping.
    """

    name = "shooting"
    defaults = ShootingSettings(n_epochs=600, lr=1e-2, lr_schedule="cosine", early_stopping=False)

    def train(self, model, problem, regularizer, settings, *, window, device, seed, progress) -> History:  # noqa: D102
        data = problem.shooting_windows(window)
        return fit(model, data, regularizer=regularizer, settings=settings, device=device, seed=seed, progress=progress)


OBJECTIVES: Mapping[str, Objective] = MappingProxyType(
    {"collocation": Collocation(), "cells": Cells(), "shooting": Shooting()}
)
"""The objectives of :func:`fit_dynamics` by name."""
