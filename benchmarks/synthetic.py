"""System identification on the synthetic second-order system (the PathReg paper's Table 1).

Every method fits a second-order neural ODE with a linear 6 -> 20 -> 3 vector field (no bias)
to the positions on t in [0, 10] (50 points) and is then extrapolated to (10, 20].

Run from the repository root::

    python -m benchmarks.synthetic --seeds 0 1 2 --output synthetic.csv

The CSV has one row per method and seed with the columns of :data:`COLUMNS`; a markdown table of
means and standard deviations is written to standard output. The settings tables (:data:`TRAINING`,
:data:`METHOD_SETTINGS`, ...) are read-only; :func:`run` takes modified copies of a method's settings
(``settings=``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

import pandas as pd
import torch

from benchmarks.second_order import fit_second_order, run_tasks
from benchmarks.settings import check_methods, plain, read_only
from benchmarks.tables import mean_std_table, report
from pathreg.datasets import synthetic_second_order
from pathreg.models import (
    METHODS,
    Trajectories,
    edge_scores,
    feature_sparsity,
    weight_sparsity,
)

COLUMNS = (
    "method",
    "seed",
    "train_mse",
    "extrapolation_mse",
    "feature_sparsity",
    "weight_sparsity",
    "edge_precision",
    "edge_recall",
    "seconds",
)

ARCHITECTURE = read_only({"hidden": (20,), "activation": None, "bias": False})
# rk4 on the observation grid (no step_size: torchdiffeq would interpolate linearly between grid points).
SOLVER = read_only({"solver": "rk4"})

# The penalty scales of iterative sparsification: every stage is followed by a refit of the
# structure it selected, and the refit with the lowest BIC along this path is kept.
SPARSIFICATION_PATH = (0.1, 0.3, 0.7, 1.4, 2.0, 2.8)

# Training shared by all methods: a time-horizon curriculum with Adam, an L-BFGS fit on the full
# horizon (at most 60 epochs of 20 iterations), then the penalised stages (Adam) with L-BFGS refits
# (at most 4 epochs) in between.
TRAINING = read_only(
    {
        "lr": 3e-2,
        "lr_schedule": "constant",
        "curriculum": (0.2, 0.4, 0.7),
        "curriculum_epochs": 250,
        "regime": "iterative",
        "sparsification_scales": SPARSIFICATION_PATH,
        "n_epochs": 600,
        "polish_epochs": 60,
        "refit_epochs": 4,
        "select": "bic",
        "early_stopping": True,
        "patience": 1000,
    }
)

# Per-method regularizer settings and training overrides (read-only; see run(settings=...)).
METHOD_SETTINGS: Mapping[str, Mapping] = read_only(
    {
        "none": {"regularizer": {}, "training": {"sparsification_scales": (), "n_epochs": 200, "select": "last"}},
        "l0": {"regularizer": {"lambda_": 0.1, "log_alpha_init": 4.0}, "training": {"gate_lr": 0.15}},
        "cnode": {"regularizer": {"lambda_": 0.01}, "training": {}},
        # lr 0.01: at 0.03 the penalised stages (one gate sample per step) diverge and are undone.
        # prune: backward elimination by refit and BIC removes what the path penalty leaves behind
        # (cancelling pairs of paths, paths of tiny weights).
        "pathreg": {
            "regularizer": {"lambda_": 0.1, "lambda_1": 0.01, "log_alpha_init": 4.0},
            "training": {"lr": 0.01, "gate_lr": 0.15, "n_epochs": 1000, "prune": True},
        },
        "lassonet_inner": {"regularizer": {"lambda_": 1.0}, "training": {}},
        "lassonet_outer": {"regularizer": {"lambda_": 1.0}, "training": {}},
        "grouplasso": {"regularizer": {"lambda_": 10.0}, "training": {"n_epochs": 700}},
    }
)


def run_one(method: str, seed: int, device: str = "cpu", settings: Mapping | None = None) -> dict:
    """Fit one method with one seed and score it.

    ``settings`` replaces the method's entry of :data:`METHOD_SETTINGS` (``{"regularizer": ...,
    "training": ...}``, optionally ``"architecture"``); ``None``: that entry.

    Returns
    -------
    One row with the keys of :data:`COLUMNS`, plus ``adjacency``: the fitted 3 x 6 dependency matrix
    (accelerations x ``[x, v]``) as a nested list.
    """
    settings = METHOD_SETTINGS[method] if settings is None else settings
    system = synthetic_second_order()
    data = Trajectories.from_arrays([system.times], [system.positions])
    model, seconds = fit_second_order(
        method, settings, data, architecture=ARCHITECTURE, solver=SOLVER, training=TRAINING, seed=seed, device=device
    )
    with torch.no_grad():
        train_mse = float(((model.predict(data) - data.values) ** 2).mean())
        all_times = torch.cat([system.times, system.extrapolation_times]).float()
        predicted = model(data.initial_state, all_times)[len(system.times) :, 0]
        extrapolation_mse = float(((predicted - system.extrapolation_positions.float()) ** 2).mean())
        adjacency = model.adjacency()
    scores = edge_scores(adjacency, system.dependencies, exclude_self_loops=False)
    return {
        "method": method,
        "seed": seed,
        "train_mse": train_mse,
        "extrapolation_mse": extrapolation_mse,
        "feature_sparsity": feature_sparsity(adjacency),
        "weight_sparsity": weight_sparsity(model),
        "edge_precision": scores["precision"],
        "edge_recall": scores["recall"],
        "seconds": seconds,
        "adjacency": adjacency.tolist(),
    }


def run(
    methods: Sequence[str],
    seeds: Sequence[int],
    *,
    device: str = "cpu",
    jobs: int = 1,
    return_adjacency: bool = False,
    settings: Mapping[str, Mapping] | None = None,
) -> pd.DataFrame | tuple[pd.DataFrame, dict[tuple[str, int], list]]:
    """Run every method with every seed; ``jobs`` worker processes on the CPU.

    ``settings`` maps a method to the settings that replace its entry of :data:`METHOD_SETTINGS` (a
    modified copy, e.g. ``{**METHOD_SETTINGS["none"], "training": {...}}``); other methods keep theirs.

    Returns
    -------
    One row per method and seed, columns :data:`COLUMNS`; with ``return_adjacency`` also the fitted
    dependency matrices by ``(method, seed)``.
    """
    check_methods(methods, settings, METHOD_SETTINGS, METHODS)
    settings = settings or {}
    # plain dicts: the tasks go to worker processes, and read-only mappings cannot be pickled
    tasks = [(method, seed, device, plain(settings.get(method))) for method in methods for seed in seeds]
    rows = run_tasks(run_one, tasks, jobs=jobs, device=device)
    results = pd.DataFrame(rows, columns=list(COLUMNS))
    if return_adjacency:
        return results, {(row["method"], row["seed"]): row["adjacency"] for row in rows}
    return results


def summary_table(results: pd.DataFrame) -> str:
    """Markdown table of mean ± standard deviation per method, in the order the methods ran."""
    metrics = [c for c in COLUMNS if c not in ("method", "seed")]

    def cell(metric: str, mean: float, std: float) -> str:
        return f"{mean:.2e} ± {std:.1e}" if metric.endswith("mse") else f"{mean:.3f} ± {std:.3f}"

    return mean_std_table(results, "method", metrics, cell)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHOD_SETTINGS), choices=list(METHOD_SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes on the CPU (default 2)")
    parser.add_argument("--output", default=None, help="CSV file for the per-seed results")
    args = parser.parse_args(argv)
    results = run(args.methods, args.seeds, device=args.device, jobs=args.jobs)
    return report(results, summary_table(results), args.output)


if __name__ == "__main__":
    raise SystemExit(main())
