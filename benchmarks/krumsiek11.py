"""What moves the network accuracy on krumsiek11: ``tl.fit_dynamics``'s defaults and one change at a time.

Every variant starts from DPT pseudotime rooted at the progenitors (not the simulation's time) and
the four lineages from the cell types, and is scored against the true network (26 directed edges
without self-loops) over several seeds. Run from the repository root::

    python -m benchmarks.krumsiek11 --seeds 0 1 2 --output krumsiek11.csv

Columns of the CSV: ``variant, seed, auprc, auroc, epr, feature_sparsity, seconds``; a markdown table
of means and standard deviations goes to standard output.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence

import pandas as pd

from benchmarks.settings import read_only
from benchmarks.tables import mean_std_table, report

COLUMNS = ("variant", "seed", "auprc", "auroc", "epr", "feature_sparsity", "seconds")
LINEAGES = read_only({fate: ["progenitor", fate] for fate in ("Mo", "Ery", "Mk", "Neu")})

# name -> (restrict shared cells by fate probabilities, options of tl.fit_dynamics); read-only
VARIANTS: Mapping[str, tuple[bool, Mapping]] = read_only(
    {
        "defaults": (True, {}),
        "without lineages (one trajectory from the root)": (True, {"lineage_key": None}),
        "collocation on bin means only (previous default)": (True, {"objective": "collocation"}),
        "Jacobian readout instead of ablation": (True, {"readout": "jacobian"}),
        "previous defaults (collocation, Jacobian readout)": (
            True,
            {"objective": "collocation", "readout": "jacobian"},
        ),
        "learned decay instead of 3": (True, {"decay": True}),
        "decay 1 instead of 3": (True, {"decay": 1.0}),
        "decay 10 instead of 3": (True, {"decay": 10.0}),
        "cell-type lineages (no fate restriction)": (False, {}),
        "pseudotime instead of rank time": (True, {"time_scale": "pseudotime"}),
        "multiple shooting instead of the cells objective": (True, {"objective": "shooting"}),
        "no per-target normalisation": (True, {"normalize": False}),
        "one seed instead of five": (True, {"n_seeds": 1}),
        "20 bins instead of 40": (True, {"n_bins": 20}),
        "lambda 3 instead of 10": (True, {"lambda_": 3.0}),
        "lambda 30 instead of 10": (True, {"lambda_": 30.0}),
        "every edge some member has (consensus 0)": (True, {"consensus": 0.0}),
        "no weight decay": (True, {"training": {"weight_decay": 0.0}}),
        "refit from the warm-up weights (rewind)": (True, {"training": {"rewind": True}}),
        "method none (no sparsity)": (True, {"method": "none"}),
        "method cnode": (True, {"method": "cnode", "lambda_": 1e-3}),
        "method l0": (True, {"method": "l0"}),
        "method grouplasso": (True, {"method": "grouplasso"}),
    }
)


def prepare(fate: bool):
    """krumsiek11 with pseudotime and lineages (fate-restricted or not)."""
    import pathreg

    adata = pathreg.datasets.krumsiek11()
    pathreg.pp.pseudotime(adata, root_key="cell_type", root="progenitor")
    pathreg.pp.lineages(adata, LINEAGES, cell_type_key="cell_type")
    if fate:
        pathreg.pp.fate_lineages(adata)
    return adata


def run(variants: Sequence[str], seeds: Sequence[int]) -> pd.DataFrame:
    """Fit and score every variant with every seed."""
    import pathreg
    from pathreg.metrics import score_network

    truth = pathreg.datasets.krumsiek11_network()
    prepared = {fate: prepare(fate) for fate in {VARIANTS[name][0] for name in variants}}
    rows = []
    for name in variants:
        fate, options = VARIANTS[name]
        options = {"lineage_key": "lineages", **options}
        for seed in seeds:
            adata = prepared[fate].copy()
            start = time.perf_counter()
            pathreg.tl.fit_dynamics(adata, seed=seed, progress=False, **options)
            seconds = time.perf_counter() - start
            scores = score_network(adata.varp["pathreg_adjacency"], truth, genes=adata.var_names)
            rows.append(
                {
                    "variant": name,
                    "seed": seed,
                    "auprc": scores["auprc"],
                    "auroc": scores["auroc"],
                    "epr": scores["epr"],
                    "feature_sparsity": adata.uns["pathreg"]["metrics"]["feature_sparsity"],
                    "seconds": seconds,
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def summary_table(results: pd.DataFrame) -> str:
    """Markdown table of mean ± standard deviation per variant (mean only for seconds)."""

    def cell(metric: str, mean: float, std: float) -> str:
        return f"{mean:.1f}" if metric == "seconds" else f"{mean:.3f} ± {std:.3f}"

    return mean_std_table(results, "variant", ["auprc", "auroc", "epr", "feature_sparsity", "seconds"], cell)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.krumsiek11", description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--output", default=None, help="CSV file for the per-seed results")
    args = parser.parse_args(argv)
    results = run(args.variants, args.seeds)
    return report(results, summary_table(results), args.output)


if __name__ == "__main__":
    raise SystemExit(main())
