"""Fitting second-order neural ODEs method by method, shared by the system-identification benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context

import torch

from pathreg.models import Regularizer, SecondOrderNeuralODE, Trajectories, fit, get_regularizer


def build_second_order(
    method: str,
    settings: Mapping,
    dim: int,
    *,
    architecture: Mapping,
    seed: int,
    model_class: type[SecondOrderNeuralODE] = SecondOrderNeuralODE,
    **model_options,
) -> tuple[SecondOrderNeuralODE, Regularizer]:
    """``method``'s regularizer and a ``model_class`` on its vector field (``2 dim -> dim``), initialised with ``seed``.

    ``settings`` and ``architecture`` as in :func:`fit_second_order`; ``model_options`` go to ``model_class``
    (e.g. the solver options). The global random state is left as it was.
    """
    regularizer = get_regularizer(method, **settings["regularizer"])
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        vector_field = regularizer.build_vector_field(
            2 * dim, dim, **{**architecture, **settings.get("architecture", {})}
        )
        model = model_class(vector_field, **model_options)
    return model, regularizer


def fit_second_order(
    method: str,
    settings: Mapping,
    data: Trajectories,
    *,
    architecture: Mapping,
    solver: Mapping,
    training: Mapping,
    seed: int,
    device: str = "cpu",
) -> tuple[SecondOrderNeuralODE, float]:
    """Build ``method``'s vector field (initialised with ``seed``) and fit a second-order neural ODE to ``data``.

    Parameters
    ----------
    method
        A sparsity method of :data:`pathreg.models.METHODS`.
    settings
        The method's ``{"regularizer": ..., "training": ..., "architecture": ...}`` (the last optional),
        overriding ``architecture`` and ``training``.
    data
        Observed positions.
    architecture, solver, training
        Vector-field options, :class:`~pathreg.models.SecondOrderNeuralODE` solver options and
        :func:`~pathreg.models.fit` options shared by all methods.
    seed, device
        Seed of the initialisation and gate samples; device of the fit.

    Returns
    -------
    The fitted model (on the CPU, in evaluation mode) and the seconds the fit took.
    """
    model, regularizer = build_second_order(
        method, settings, data.values.shape[-1], architecture=architecture, seed=seed, **solver
    )
    start = time.perf_counter()
    fit(
        model,
        data,
        regularizer=regularizer,
        device=device,
        seed=seed,
        progress=False,
        **{**training, **settings["training"]},
    )
    return model.cpu(), time.perf_counter() - start


def _single_threaded(function: Callable[..., dict], arguments: tuple) -> dict:
    torch.set_num_threads(1)
    return function(*arguments)


def run_tasks(function: Callable[..., dict], tasks: Sequence[tuple], *, jobs: int, device: str) -> list[dict]:
    """``function(*task)`` for every task: in ``jobs`` single-threaded worker processes on the CPU, else in turn.

    ``function`` must be a module-level function (the workers are spawned and import it).
    """
    if jobs > 1 and device == "cpu":
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            return list(pool.map(partial(_single_threaded, function), tasks))
    return [function(*task) for task in tasks]
