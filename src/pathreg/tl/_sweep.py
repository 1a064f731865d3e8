"""``tl.sweep``: a grid of independent :func:`fit_dynamics` fits, in this process or as Ray tasks."""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from pathreg.models import METHODS, resolve_device

from .._settings import logger
from .._utils import resolve_modality
from ._ensemble_fit import fit_ensemble
from ._problem import DynamicsProblem
from ._settings import FitSettings, split_fit_options

BACKENDS = ("local", "ray")
"""Backends of :func:`sweep`."""

RAY_INSTALL = 'pip install "pathreg[distributed]"'

_RESERVED = ("method", "lambda_", "seed", "device", "progress")
"""Fit options that :func:`sweep` sets itself."""

_FIXED_COLUMNS = ("method", "lambda", "seed")
_TRAILING_COLUMNS = ("n_edges", "seconds", "device")


@dataclass(frozen=True)
class _FitSpec:
    """One point of the grid."""

    method: str
    lambda_: float | None
    seed: int


def _as_tuple(values, scalar_types: tuple[type, ...]) -> tuple:
    """``values`` as a tuple; a single scalar (e.g. ``methods="pathreg"``) becomes a one-element tuple."""
    if values is None or isinstance(values, scalar_types):
        return (values,)
    return tuple(values)


def _validate(
    methods: Sequence[str], lambdas: Sequence[float | None], seeds: Sequence[int], backend: str, fit_kwargs: dict
) -> None:
    """Raise for anything that would otherwise fail only after some fits ran."""
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; valid names are {list(BACKENDS)}.")
    unknown = [method for method in methods if method not in METHODS]
    if unknown or not methods:
        raise ValueError(f"Unknown or no methods {unknown or list(methods)}; valid names are {list(METHODS)}.")
    bad_lambdas = [lam for lam in lambdas if lam is not None and not (isinstance(lam, numbers.Real) and lam >= 0)]
    if bad_lambdas or not lambdas:
        raise ValueError(f"lambdas must be non-negative numbers or None, got {list(lambdas)}.")
    if not seeds or not all(isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) for seed in seeds):
        raise ValueError(f"seeds must be integers, got {list(seeds)}.")
    reserved = sorted(set(fit_kwargs) & set(_RESERVED))
    if reserved:
        raise TypeError(f"sweep sets {reserved} itself; use methods=, lambdas=, seeds=, device= and progress=.")
    split_fit_options(fit_kwargs)  # unknown names fail here, before any fit


def _grid(methods: Sequence[str], lambdas: Sequence[float | None], seeds: Sequence[int]) -> list[_FitSpec]:
    """Methods x lambdas x seeds in that order; ``"none"`` has no penalty and is fitted once per seed."""
    specs = []
    for method in methods:
        method_lambdas = (None,) if method == "none" else lambdas
        for lambda_ in method_lambdas:
            for seed in seeds:
                specs.append(_FitSpec(method, None if lambda_ is None else float(lambda_), int(seed)))
    return specs


@contextmanager
def _torch_threads(n_threads: int) -> Iterator[None]:
    """Run the block with ``n_threads`` intra-op threads, then restore the previous number."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _flatten(metrics: dict, prefix: str = "") -> dict[str, float]:
    """Nested metrics as flat float columns: ``{"lineage_mse": {"Mo": x}}`` -> ``{"lineage_mse_Mo": x}``."""
    flat = {}
    for name, value in metrics.items():
        column = f"{prefix}{name}".replace("/", "_")
        if isinstance(value, dict):
            flat.update(_flatten(value, prefix=f"{column}_"))
        else:
            flat[column] = float(value)
    return flat


def _run_fit(
    problem: DynamicsProblem, spec: _FitSpec, settings: dict, device: str | torch.device, n_threads: int
) -> dict:
    """One fit of :func:`fit_ensemble`; returns only what the table needs."""
    fit_settings = FitSettings.from_options(settings, method=spec.method, lambda_=spec.lambda_, seed=spec.seed)
    with _torch_threads(n_threads):
        start = time.perf_counter()
        result = fit_ensemble(problem, fit_settings, device=device, progress=False)
        seconds = time.perf_counter() - start
    adjacency = result.target_adjacency.astype(np.float32)
    return {
        "metrics": _flatten(result.metrics()),
        "adjacency": adjacency,
        "n_edges": int(np.count_nonzero(adjacency)),
        "seconds": float(seconds),
        "device": str(result.device),
        "regulators": list(problem.regulator_genes),
        "targets": list(problem.target_genes),
    }


def _sweep_local(
    problem: DynamicsProblem, specs: list[_FitSpec], options: dict, device, n_threads: int, progress: bool
) -> list[dict]:
    results = []
    for spec in tqdm(specs, disable=not progress, desc="sweep"):
        logger.info("Sweep: fitting %s (lambda=%s, seed=%d).", spec.method, spec.lambda_, spec.seed)
        results.append(_run_fit(problem, spec, options, device, n_threads))
    return results


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise ImportError(f'backend="ray" needs Ray, which is not installed: {RAY_INSTALL}') from error
    return ray


def _wants_cuda(device: str | torch.device) -> bool:
    """Whether fits on ``device`` need a GPU (``"auto"``: when this process sees one)."""
    if isinstance(device, torch.device):
        return device.type == "cuda"
    if device == "auto":
        return torch.cuda.is_available()
    return str(device).startswith("cuda")


def _check_device(device: str | torch.device, backend: str) -> None:
    """Fail before any fit for an unknown device (with Ray, a CUDA device need not be visible here)."""
    if backend == "local" or not _wants_cuda(device):
        resolve_device(device)


def _task_device(device: str | torch.device) -> str | torch.device:
    """In a Ray task, a CUDA device is the GPU Ray assigned to it, always ``"cuda"`` there."""
    return "cuda" if not isinstance(device, torch.device) and str(device).startswith("cuda") else device


def _ray_fit(problem: DynamicsProblem, spec: _FitSpec, options: dict, device: str | torch.device) -> dict:
    """The body of a Ray task: the fit with as many torch threads as CPUs the task holds."""
    import ray

    n_threads = max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
    return _run_fit(problem, spec, options, _task_device(device), n_threads)


def _connect(ray, address: str | None, num_cpus: int | None) -> bool:
    """Connect to ``address`` or start a local instance; ``True`` if this call started (and must stop) Ray."""
    if ray.is_initialized():
        logger.info("Sweep: using the Ray instance this process is already connected to.")
        return False
    if address is not None:
        ray.init(address=address)
        return False
    ray.init(num_cpus=num_cpus, include_dashboard=False)
    return True


def _sweep_ray(
    problem: DynamicsProblem,
    specs: list[_FitSpec],
    options: dict,
    device: str | torch.device,
    *,
    ray,
    address: str | None,
    num_cpus: int | None,
    cpus_per_fit: int,
    gpus_per_fit: float,
    progress: bool,
) -> list[dict]:
    started = _connect(ray, address, num_cpus)
    try:
        task = ray.remote(num_cpus=cpus_per_fit, num_gpus=gpus_per_fit)(_ray_fit)
        problem_ref = ray.put(problem)  # once; every task reads it from the object store
        refs = [task.remote(problem_ref, spec, options, device) for spec in specs]
        return _gather(ray, refs, progress)
    finally:
        if started:
            ray.shutdown()


def _gather(ray, refs: list, progress: bool) -> list[dict]:
    """Results in the order of ``refs``, as they finish; on an error the unfinished tasks are cancelled."""
    position = {ref: index for index, ref in enumerate(refs)}
    results: list[dict | None] = [None] * len(refs)
    pending = list(refs)
    try:
        with tqdm(total=len(refs), disable=not progress, desc="sweep") as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    results[position[ref]] = ray.get(ref)
                    bar.update()
    except BaseException:
        for ref in pending:
            ray.cancel(ref)
        raise
    return results


def _table(specs: list[_FitSpec], results: list[dict]) -> pd.DataFrame:
    """One row per fit: the grid point, every metric, the number of edges, the time and the device."""
    metric_names = list(dict.fromkeys(name for result in results for name in result["metrics"]))
    rows = [
        {
            "method": spec.method,
            "lambda": math.nan if spec.lambda_ is None else spec.lambda_,
            "seed": spec.seed,
            **{name: result["metrics"].get(name, math.nan) for name in metric_names},
            "n_edges": result["n_edges"],
            "seconds": result["seconds"],
            "device": result["device"],
        }
        for spec, result in zip(specs, results, strict=True)
    ]
    table = pd.DataFrame(rows, columns=[*_FIXED_COLUMNS, *metric_names, *_TRAILING_COLUMNS])
    return table.astype({"method": object, "lambda": np.float64, "seed": np.int64, "n_edges": np.int64})


def _record(table: pd.DataFrame, results: list[dict], params: dict, store_adjacency: bool) -> dict:
    """The ``uns`` entry (h5ad-writable): the table as columns, the settings and optionally the networks."""
    record: dict[str, Any] = {
        "table": {column: _column(table[column]) for column in table.columns},
        "params": params,
    }
    if store_adjacency:
        regulators, targets = results[0]["regulators"], results[0]["targets"]
        if any(result["regulators"] != regulators or result["targets"] != targets for result in results):
            raise RuntimeError("The fits of the sweep have different regulators or targets; cannot stack them.")
        record["adjacency"] = np.stack([result["adjacency"] for result in results]).astype(np.float32)
        record["regulators"] = np.asarray(regulators, dtype=object)
        record["targets"] = np.asarray(targets, dtype=object)
    return record


def _column(values: pd.Series) -> np.ndarray:
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        return np.asarray(values.astype(str).to_numpy(), dtype=object)
    return values.to_numpy()


def _params(
    methods: Sequence[str],
    lambdas: Sequence[float | None],
    seeds: Sequence[int],
    backend: str,
    device: str | torch.device,
    fit_kwargs: dict,
) -> dict:
    return {
        "methods": np.asarray(list(methods), dtype=object),
        "lambdas": np.asarray([math.nan if lam is None else float(lam) for lam in lambdas], dtype=np.float64),
        "seeds": np.asarray(list(seeds), dtype=np.int64),
        "backend": backend,
        "device": str(device),
        "fit_kwargs": {k: v for k, v in fit_kwargs.items() if isinstance(v, (int, float, str, bool))},
    }


def sweep(
    adata,
    *,
    methods: Sequence[str] = ("pathreg",),
    lambdas: Sequence[float | None] = (None,),
    seeds: Sequence[int] = (0,),
    backend: Literal["local", "ray"] = "local",
    address: str | None = None,
    num_cpus: int | None = None,
    num_cpus_per_fit: int = 1,
    num_gpus_per_fit: float | None = None,
    device: str | torch.device = "auto",
    key_added: str = "sweep",
    store_adjacency: bool = True,
    progress: bool = True,
    mod: str | None = None,
    fit_kwargs: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Fit :func:`fit_dynamics` for every method, penalty and seed of a grid, locally or as Ray tasks.

    The data are read and validated once (:meth:`DynamicsProblem.from_anndata`); every fit is an independent
    :func:`fit_ensemble` on them (``adata`` is not modified by the fits); the results are written to
    ``adata`` only after all fits finished, so a failed sweep leaves it unchanged.
    Method ``"none"`` has no penalty: it ignores ``lambdas`` and is fitted once per seed, not once per penalty.

    Each fit runs with ``num_cpus_per_fit`` torch intra-op threads with both backends, so that a fit gives the
    same result locally and on Ray (results on the CPU can depend on the number of threads).

    Parameters
    ----------
    adata
        AnnData, or MuData with ``mod``, prepared as for :func:`fit_dynamics`.
    methods
        Names of :data:`pathreg.models.METHODS`; all are validated before any fit starts.
    lambdas
        Penalty strengths; ``None`` is the method's default (see ``lambda_`` of :func:`fit_dynamics`).
    seeds
        Seeds of the fits (each fit's ensemble uses ``seed, seed + 1, ...`` for ``n_seeds > 1``).
    backend
        ``"local"``: the fits one after another in this process. ``"ray"``: every fit is a Ray task
        (install with ``pip install "pathreg[distributed]"``).
    address
        Ray only: address of a running cluster (``"auto"``, ``"ray://host:10001"``). ``None`` starts a local
        Ray instance for this call and shuts it down afterwards (a Ray connection this process already holds
        is used as it is and left open). The workers of a cluster need pathreg installed.
    num_cpus
        Ray only: CPUs of the local Ray instance this call starts (``None``: all).
    num_cpus_per_fit
        CPUs a Ray task holds and torch threads of every fit (with both backends).
    num_gpus_per_fit
        Ray only: GPUs a task holds (fractions share a GPU); ``None``: 1 for a CUDA ``device``, else 0.
        In a Ray task, a CUDA device is the GPU Ray assigned to that task.
    device
        Device of the fits (``"auto"``: CUDA when available, ``"cpu"``, ``"cuda"``).
    key_added
        The results are stored in ``adata.uns[key_added]``.
    store_adjacency
        Also store every fit's network.
    progress
        Show a progress bar over the fits (the fits themselves show none).
    mod
        Modality of a MuData.
    fit_kwargs
        Arguments of :func:`fit_dynamics` for every fit (e.g. ``{"time_key": ..., "lineage_key": ...,
        "regulators": ..., "n_seeds": 2, "training": {"n_epochs": 500}}``), except those the grid sets.

    Returns
    -------
    One row per fit with the columns ``method``, ``lambda`` (NaN for the default), ``seed``, every entry of the
    fit's ``uns[...]["metrics"]`` (per-lineage errors as ``lineage_mse_<lineage>``), ``n_edges`` (non-zero
    entries of the adjacency), ``seconds`` (of the fit) and ``device``. Writes ``adata.uns[key_added]`` with

    ``table``
        The table as a dict of numpy columns.
    ``params``
        The grid, backend, device and the scalar entries of ``fit_kwargs``.
    ``adjacency``, ``regulators``, ``targets``
        With ``store_adjacency``: float32 fits x targets x regulators, every fit's
        network restricted to targets (rows) and regulators (columns), in the table's order.

    Examples
    --------
    >>> table = pathreg.tl.sweep(adata, methods=("none", "pathreg"), lambdas=(1.0, 3.0), seeds=(0, 1))  # doctest: +SKIP
    >>> table.groupby(["method", "lambda"])["n_edges"].mean()  # doctest: +SKIP
    """
    methods = _as_tuple(methods, (str,))
    lambdas = _as_tuple(lambdas, (numbers.Real,))
    seeds = _as_tuple(seeds, (int, np.integer))
    fit_kwargs = dict(fit_kwargs or {})
    _validate(methods, lambdas, seeds, backend, fit_kwargs)
    _check_device(device, backend)
    if num_cpus_per_fit < 1:
        raise ValueError(f"num_cpus_per_fit must be at least 1, got {num_cpus_per_fit}.")
    ray = _import_ray() if backend == "ray" else None
    data = resolve_modality(adata, mod)
    problem_options, settings_options, _ = split_fit_options(fit_kwargs)
    problem = DynamicsProblem.from_anndata(data, **problem_options)
    FitSettings.from_options(settings_options)  # invalid settings fail before any fit
    specs = _grid(methods, lambdas, seeds)
    logger.info("Sweep: %d fits with the %s backend.", len(specs), backend)
    if backend == "local":
        results = _sweep_local(problem, specs, settings_options, device, num_cpus_per_fit, progress)
    else:
        results = _sweep_ray(
            problem,
            specs,
            settings_options,
            device,
            ray=ray,
            address=address,
            num_cpus=num_cpus,
            cpus_per_fit=num_cpus_per_fit,
            gpus_per_fit=(1 if _wants_cuda(device) else 0) if num_gpus_per_fit is None else num_gpus_per_fit,
            progress=progress,
        )
    table = _table(specs, results)
    params = _params(methods, lambdas, seeds, backend, device, fit_kwargs)
    data.uns[key_added] = _record(table, results, params, store_adjacency)
    return table
