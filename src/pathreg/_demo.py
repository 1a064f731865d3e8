"""``pathreg demo``: krumsiek11 from pseudotime to a scored gene regulatory network.

Loads scanpy's bundled krumsiek11 simulation (11 genes of the myeloid network of Krumsiek et al.
2011), computes a diffusion pseudotime from the progenitors (not the simulation's own time),
builds the four lineages from the cell types (progenitors kept in the lineages they are headed for,
by fate probabilities), fits PathReg with :func:`pathreg.tl.fit_dynamics`,
and scores the network against the true one next to two baselines computed in the same run:
absolute Pearson correlation and a GENIE3-style random forest. Writes ``pathreg_demo.h5ad`` and
``pathreg_demo_adjacency.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

LINEAGES = {
    "Mo": ["progenitor", "Mo"],
    "Ery": ["progenitor", "Ery"],
    "Mk": ["progenitor", "Mk"],
    "Neu": ["progenitor", "Neu"],
}


def run(output_dir: str | Path = ".", *, seed: int = 0, progress: bool = True) -> dict:
    """Run the demo; returns the scores table (a DataFrame), the AnnData and the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    import pathreg
    from pathreg._utils import Key, stored_adjacency
    from pathreg.metrics import pearson_network, random_forest_network, score_network

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    adata = pathreg.datasets.krumsiek11()
    truth = pathreg.datasets.krumsiek11_network()
    pathreg.pp.pseudotime(adata, root_key="cell_type", root="progenitor")
    pathreg.pp.lineages(adata, LINEAGES, cell_type_key="cell_type")
    pathreg.pp.fate_lineages(adata)
    start = time.perf_counter()
    pathreg.tl.fit_dynamics(adata, lineage_key="lineages", seed=seed, progress=progress)
    fit_seconds = time.perf_counter() - start
    genes = list(adata.var_names)
    expression = adata.X
    rows = []
    networks = {
        "pathreg": (stored_adjacency(adata, Key.DEFAULT), fit_seconds),
        "|pearson|": (pearson_network(expression), None),
    }
    start = time.perf_counter()
    forest = random_forest_network(expression, seed=seed)
    networks["random forest (GENIE3-style)"] = (forest, time.perf_counter() - start)
    for name, (matrix, seconds) in networks.items():
        scores = score_network(matrix, truth, genes=genes)
        rows.append(
            {
                "method": name,
                "auprc": scores["auprc"],
                "auroc": scores["auroc"],
                "epr": scores["epr"],
                "random_auprc": scores["random_auprc"],
                "seconds": seconds,
            }
        )
    table = pd.DataFrame(rows)
    h5ad_path = output_dir / "pathreg_demo.h5ad"
    png_path = output_dir / "pathreg_demo_adjacency.png"
    adata.uns["pathreg_demo_scores"] = table.drop(columns="seconds").set_index("method").T.to_dict()
    adata.write_h5ad(h5ad_path)
    ax = pathreg.pl.adjacency(adata, show=False)
    ax.figure.savefig(png_path, dpi=150, bbox_inches="tight")
    plt.close(ax.figure)
    return {"table": table, "adata": adata, "h5ad": h5ad_path, "png": png_path}


def format_table(table) -> str:
    """Markdown table of the demo's scores."""
    lines = ["| method | AUPRC | AUROC | EPR | seconds |", "| --- | --- | --- | --- | --- |"]
    for row in table.itertuples(index=False):
        seconds = "" if row.seconds is None or row.seconds != row.seconds else f"{row.seconds:.1f}"
        lines.append(f"| {row.method} | {row.auprc:.3f} | {row.auroc:.3f} | {row.epr:.2f} | {seconds} |")
    lines.append(f"\nrandom AUPRC (edge density): {table['random_auprc'].iloc[0]:.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``pathreg demo``."""
    parser = argparse.ArgumentParser(prog="pathreg demo", description=__doc__.split("\n")[0])
    parser.add_argument("--output-dir", default=".", help="where to write pathreg_demo.h5ad and the PNG")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    output_dir = Path(args.output_dir)
    try:  # before the fit, so that a bad --output-dir fails at once, not after the demo
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = "a file of that name exists" if output_dir.is_file() else error.strerror or type(error).__name__
        parser.exit(2, f"{parser.prog}: error: --output-dir {args.output_dir}: cannot create the folder ({reason}).\n")
    start = time.perf_counter()
    result = run(args.output_dir, seed=args.seed, progress=not args.no_progress)
    sys.stdout.write("krumsiek11, DPT pseudotime, 4 lineages; directed edges without self-loops\n\n")
    sys.stdout.write(format_table(result["table"]) + "\n")
    sys.stdout.write(f"\nwrote {result['h5ad']} and {result['png']} in {time.perf_counter() - start:.0f} s\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
