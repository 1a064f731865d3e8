"""Scale: the whole :func:`pathreg.tl.fit_dynamics`, time and peak memory over genes x cells.

Run from the repository root::

    python -m benchmarks.scale --genes 529 2000 --cells 5000 20000 --output scale.csv --plot scale.png
    python -m benchmarks.scale --sizes 2000x20000 20000x50000 --device cuda
    python -m benchmarks.scale --quick     # two small sizes, a few epochs (CI)

Every size runs in a fresh worker process (spawned), so that its peak resident memory is its own: the data are
built there (:func:`synthetic_adata`), fitted with the defaults of ``fit_dynamics`` (the five-member ensemble
unless ``--n-seeds``; ``--epochs`` shortens training; ``--no-prediction`` leaves out the per-cell prediction
layer), and the fitted AnnData is written to h5ad, whose size is reported. The regulators are
:func:`n_regulators` of the genes (15 %, at most 1,600: about the number of human transcription factors),
marked in ``var["is_tf"]``; every gene is a target.

The GENIE3-style forest of the repository (:func:`pathreg.metrics.random_forest_network`: 500 trees per target
on all other genes) takes hours at these sizes on a 2-core CPU, so ``--forest-targets K`` times the forests of
``K`` targets on the same data and reports ``forest_seconds_estimated``: their mean times the number of genes
(the forests of different targets cost the same up to their data).

CSV columns: :data:`COLUMNS`. ``peak_rss_gb`` is the worker's peak resident memory (data, fit and h5ad write
together), ``peak_device_gb`` the peak of allocated CUDA memory (NaN on a CPU).
"""

from __future__ import annotations

import argparse
import logging
import math
import resource
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from benchmarks.tables import report

logger = logging.getLogger("benchmarks.scale")

COLUMNS = (
    "genes",
    "cells",
    "regulators",
    "device",
    "n_seeds",
    "n_epochs",
    "prediction",
    "fit_seconds",
    "peak_rss_gb",
    "peak_device_gb",
    "h5ad_mb",
    "forest_seconds_estimated",
)
REGULATOR_FRACTION = 0.15
N_REGULATORS_MAX = 1600
N_LINEAGES = 3
QUICK_SIZES = ((60, 400), (120, 800))
QUICK_EPOCHS = 20


def n_regulators(n_genes: int) -> int:
    """The benchmark's number of regulators for ``n_genes`` genes: 15 %, at least 1, at most 1,600."""
    return int(min(N_REGULATORS_MAX, max(1, round(REGULATOR_FRACTION * n_genes))))


def synthetic_adata(n_genes: int, n_cells: int, regulators: int, *, seed: int = 0, chunk: int = 5000):
    """Sparse single-cell data along three lineages: switch-like genes in time, noise, zeros below a threshold.

    Each gene switches on or off along the lineage's time at its own point and speed (logistic), with a
    lineage-specific shift, Gaussian noise of 0.1 and every value below 0.3 set to zero (about two thirds of
    the entries: the sparsity of log-normalised counts). Built in blocks of ``chunk`` cells, so the dense
    matrix never exists.

    Returns
    -------
    An AnnData with CSR float32 ``X``, ``obs["dpt_pseudotime"]`` in ``[0, 1]``, categorical
    ``obs["lineage"]`` and boolean ``var["is_tf"]`` (the first ``regulators`` genes).
    """
    import anndata as ad

    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.1, 0.9, size=n_genes).astype(np.float32)
    widths = rng.uniform(0.05, 0.3, size=n_genes).astype(np.float32)
    lineage = rng.integers(N_LINEAGES, size=n_cells)
    time_values = rng.uniform(0, 1, size=n_cells).astype(np.float32)
    directions = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(N_LINEAGES, n_genes))
    shifts = rng.normal(0, 0.1, size=(N_LINEAGES, n_genes)).astype(np.float32)
    blocks = []
    for start in range(0, n_cells, chunk):
        cells = slice(start, min(start + chunk, n_cells))
        which, t = lineage[cells], time_values[cells, None]
        signal = 1 / (1 + np.exp(-directions[which] * (t - centres - shifts[which]) / widths))
        values = (signal + rng.normal(0, 0.1, size=signal.shape)).astype(np.float32)
        values[values < 0.3] = 0.0
        blocks.append(sparse.csr_matrix(values))
    adata = ad.AnnData(sparse.vstack(blocks, format="csr"))
    adata.var_names = [f"gene{i}" for i in range(n_genes)]
    adata.obs_names = [f"cell{i}" for i in range(n_cells)]
    adata.obs["dpt_pseudotime"] = time_values
    adata.obs["lineage"] = pd.Categorical([f"lineage{i}" for i in lineage])
    adata.var["is_tf"] = np.arange(n_genes) < regulators
    return adata


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def measure(
    genes: int,
    cells: int,
    *,
    device: str = "cpu",
    n_seeds: int = 5,
    n_epochs: int | None = None,
    forest_targets: int = 0,
    prediction: bool = True,
    seed: int = 0,
) -> dict:
    """Build one size's data, fit it with ``fit_dynamics``'s defaults, write it to h5ad; one row of :data:`COLUMNS`."""
    import torch

    import pathreg

    regulators = n_regulators(genes)
    adata = synthetic_adata(genes, cells, regulators, seed=seed)
    on_cuda = device.startswith("cuda")
    if on_cuda:
        torch.cuda.reset_peak_memory_stats()
    training = None if n_epochs is None else {"n_epochs": n_epochs}
    start = time.perf_counter()
    pathreg.tl.fit_dynamics(
        adata,
        regulators="is_tf",
        lineage_key="lineage",
        n_seeds=n_seeds,
        training=training,
        prediction=prediction,
        device=device,
        seed=seed,
        progress=False,
    )
    fit_seconds = time.perf_counter() - start
    peak_device = torch.cuda.max_memory_allocated() / 2**30 if on_cuda else math.nan
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fit.h5ad"
        adata.write_h5ad(path)
        h5ad_mb = path.stat().st_size / 2**20
    peak_rss = _peak_rss_gb()  # before the forest's dense copy of the expression
    forest = math.nan
    if forest_targets > 0:
        forest = _forest_seconds(adata, forest_targets, seed) * genes
    return {
        "genes": genes,
        "cells": cells,
        "regulators": regulators,
        "device": device,
        "n_seeds": n_seeds,
        "n_epochs": -1 if n_epochs is None else n_epochs,
        "prediction": bool(prediction),
        "fit_seconds": fit_seconds,
        "peak_rss_gb": peak_rss,
        "peak_device_gb": peak_device,
        "h5ad_mb": h5ad_mb,
        "forest_seconds_estimated": forest,
    }


def _forest_seconds(adata, n_targets: int, seed: int) -> float:
    """Mean seconds per target of :func:`pathreg.metrics.random_forest_network` (dense expression, as it takes it)."""
    from pathreg.metrics import random_forest_network

    targets = range(min(n_targets, adata.n_vars))
    start = time.perf_counter()
    random_forest_network(adata.X.toarray(), seed=seed, targets=targets)
    return (time.perf_counter() - start) / len(targets)


def _measure_task(arguments: tuple) -> dict:
    genes, cells, options = arguments
    return measure(genes, cells, **options)


def run(sizes: Sequence[tuple[int, int]], **options) -> pd.DataFrame:
    """:func:`measure` for every ``(genes, cells)`` of ``sizes``, each in a fresh spawned process, in turn."""
    rows = []
    for genes, cells in sizes:
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            rows.append(pool.submit(_measure_task, (genes, cells, options)).result())
        logger.info(
            "%d genes x %d cells: %.1f s, %.2f GB peak RSS",
            genes,
            cells,
            rows[-1]["fit_seconds"],
            rows[-1]["peak_rss_gb"],
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def plot(results: pd.DataFrame, path: str | Path) -> None:
    """Log-log plot of the whole fit's seconds against the genes, one line per device and number of cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for (device, cells), group in results.sort_values("genes").groupby(["device", "cells"], sort=False):
        ax.plot(group["genes"], group["fit_seconds"], "o-", label=f"pathreg, {cells:,} cells ({device})")
        forest = group.dropna(subset=["forest_seconds_estimated"])
        if len(forest):
            ax.plot(forest["genes"], forest["forest_seconds_estimated"], "s--", label=f"forest, {cells:,} cells (est.)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("genes (15 % regulators, at most 1,600)")
    ax.set_ylabel("seconds, whole fit")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def summary_table(results: pd.DataFrame) -> str:
    """Markdown table of the rows, one per size (numbers to three significant digits)."""

    def cell(value) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(results.columns) + " |", "| " + " | ".join("---" for _ in results.columns) + " |"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in results.itertuples(index=False)]
    return "\n".join(lines)


def _size(parser: argparse.ArgumentParser, text: str) -> tuple[int, int]:
    genes, _, cells = text.lower().partition("x")
    if not (genes.isdigit() and cells.isdigit()):
        parser.error(f"--sizes takes GENESxCELLS such as 2000x20000, got {text!r}.")
    return int(genes), int(cells)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the sizes, write the CSV and the plot, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--genes", type=int, nargs="+", default=[529, 2000])
    parser.add_argument("--cells", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument(
        "--sizes", nargs="+", default=None, metavar="GENESxCELLS", help="sizes instead of the --genes x --cells grid"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (as fit_dynamics)")
    parser.add_argument("--n-seeds", type=int, default=5, help="ensemble members (fit_dynamics' n_seeds)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: fit_dynamics')")
    parser.add_argument(
        "--no-prediction", action="store_true", help="fit_dynamics(prediction=False): no per-cell prediction layer"
    )
    parser.add_argument("--forest-targets", type=int, default=0, help="time the forest on this many targets")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, {QUICK_EPOCHS} epochs")
    parser.add_argument("--output", default=None, help="CSV path")
    parser.add_argument("--plot", default=None, help="PNG path of the log-log plot")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sizes = [(genes, cells) for genes in args.genes for cells in args.cells]
    if args.sizes:
        sizes = [_size(parser, text) for text in args.sizes]
    if min(genes for genes, _ in sizes) < 2 or min(cells for _, cells in sizes) < 10:
        parser.error("every size needs at least 2 genes and 10 cells.")
    sizes = QUICK_SIZES if args.quick else sizes
    epochs = QUICK_EPOCHS if args.quick else args.epochs
    results = run(
        sizes,
        device=args.device,
        n_seeds=args.n_seeds,
        n_epochs=epochs,
        forest_targets=args.forest_targets,
        prediction=not args.no_prediction,
    )
    if args.plot:
        plot(results, args.plot)
    return report(results, summary_table(results), args.output)


if __name__ == "__main__":
    raise SystemExit(main())
