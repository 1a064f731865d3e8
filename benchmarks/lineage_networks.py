"""Lineage-specific networks on krumsiek11: every lineage's network next to the whole fit's, against the truth.

The demo setting (DPT pseudotime rooted at the progenitors, the four lineages from the cell types restricted
by fate probabilities, :func:`pathreg.tl.fit_dynamics` with its defaults) is fitted once per seed; the
whole network (``adata.varp["pathreg_adjacency"]``, read out over the bin means of all lineages) and each
lineage's network (the same readout over that lineage's bin means only) are scored against the same true
network (26 directed edges without self-loops). Run from the repository root::

    python -m benchmarks.lineage_networks --seeds 0 1 2 --output lineage_networks.csv

Columns of the CSV: ``network, seed, auprc, auroc, epr, n_cells, seconds`` (``seconds``: the fit, the same
for all networks of a seed); a markdown table of means and standard deviations goes to standard output.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from benchmarks.krumsiek11 import prepare
from benchmarks.tables import mean_std_table, report

COLUMNS = ("network", "seed", "auprc", "auroc", "epr", "n_cells", "seconds")
WHOLE = "whole fit (all lineages)"
KEY = "pathreg"


def lineage_networks(adata, key: str = KEY) -> dict[str, np.ndarray]:
    """The whole network and every lineage's network of the fit ``key``, by name, as written into ``adata``."""
    networks = {WHOLE: np.asarray(adata.varp[f"{key}_adjacency"])}
    index = adata.uns[key]["lineage_adjacency"]
    for lineage, varp_key in zip(index["lineages"], index["varp_keys"], strict=True):
        networks[f"lineage {lineage}"] = np.asarray(adata.varp[str(varp_key)])
    return networks


def run(seeds: Sequence[int], options: Mapping | None = None) -> pd.DataFrame:
    """Fit the demo setting with every seed and score the whole and the lineage networks.

    ``options``: further arguments of :func:`pathreg.tl.fit_dynamics` (default: none, the defaults).
    """
    import pathreg
    from pathreg.metrics import score_network

    truth = pathreg.datasets.krumsiek11_network()
    prepared = prepare(True)
    rows = []
    for seed in seeds:
        adata = prepared.copy()
        start = time.perf_counter()
        pathreg.tl.fit_dynamics(adata, lineage_key="lineages", seed=seed, progress=False, **dict(options or {}))
        seconds = time.perf_counter() - start
        lineages = adata.uns[KEY]["lineages"]
        cells = {f"lineage {name}": int(n) for name, n in zip(lineages["names"], lineages["n_cells"], strict=True)}
        cells[WHOLE] = int(adata.obsm["lineages"].to_numpy().any(axis=1).sum())
        for name, matrix in lineage_networks(adata).items():
            scores = score_network(matrix, truth, genes=adata.var_names)
            rows.append(
                {
                    "network": name,
                    "seed": seed,
                    "auprc": scores["auprc"],
                    "auroc": scores["auroc"],
                    "epr": scores["epr"],
                    "n_cells": cells[name],
                    "seconds": seconds,
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def summary_table(results: pd.DataFrame) -> str:
    """Markdown table of mean ± standard deviation per network (mean only for cells and seconds)."""

    def cell(metric: str, mean: float, std: float) -> str:
        if metric == "n_cells":
            return f"{mean:.0f}"
        return f"{mean:.1f}" if metric == "seconds" else f"{mean:.3f} ± {std:.3f}"

    return mean_std_table(results, "network", ["auprc", "auroc", "epr", "n_cells", "seconds"], cell)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lineage_networks", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--output", default=None, help="CSV file for the per-seed results")
    args = parser.parse_args(argv)
    results = run(args.seeds)
    return report(results, summary_table(results), args.output)


if __name__ == "__main__":
    raise SystemExit(main())
