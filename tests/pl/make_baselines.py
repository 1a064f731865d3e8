"""Figures compared as images by ``test_plots.py``, and the script that (re)writes their baselines.

Run from the repository root after an intended change of these plots, then inspect and commit the PNGs::

    python tests/pl/make_baselines.py

The figures are built from fixed inputs (no training), under matplotlib's default style, with a fixed
size, and saved at 40 dpi into ``tests/pl/baseline/``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from anndata import AnnData  # noqa: E402

import pathreg  # noqa: E402

BASELINE_DIR = Path(__file__).parent / "baseline"
DPI = 40


def comparison_results() -> pd.DataFrame:
    """Three methods, two seeds each, four metrics (two lower-is-better)."""
    return pd.DataFrame(
        {
            "method": ["none", "none", "l1", "l1", "pathreg", "pathreg"],
            "seed": [0, 1, 0, 1, 0, 1],
            "train_mse": [0.10, 0.12, 0.20, 0.22, 0.15, 0.13],
            "edge_precision": [0.40, 0.50, 0.60, 0.70, 0.90, 0.80],
            "feature_sparsity": [0.0, 0.0, 0.3, 0.5, 0.7, 0.7],
            "seconds": [10.0, 12.0, 30.0, 34.0, 20.0, 22.0],
        }
    )


def sparsity_adata() -> AnnData:
    """Ten genes with a fixed adjacency: 30 exact zeros, the rest log-uniform over five decades, signed."""
    rng = np.random.default_rng(0)
    values = 10.0 ** rng.uniform(-4, 1, size=(10, 10)) * rng.choice([-1.0, 1.0], size=(10, 10))
    values.ravel()[rng.permutation(100)[:30]] = 0.0
    adata = AnnData(np.zeros((4, 10), dtype=np.float32))
    adata.var_names = [f"g{i}" for i in range(10)]
    adata.varp["pathreg_adjacency"] = values.astype(np.float32)
    return adata


def method_comparison_figure() -> plt.Figure:
    with plt.style.context("default"):
        figure, ax = plt.subplots(figsize=(7, 3.5), dpi=DPI, layout="constrained")
        pathreg.pl.method_comparison(comparison_results(), ax=ax, show=False)
    return figure


def sparsity_figure() -> plt.Figure:
    with plt.style.context("default"):
        figure, ax = plt.subplots(figsize=(5, 3.5), dpi=DPI, layout="constrained")
        pathreg.pl.sparsity(sparsity_adata(), ax=ax, show=False)
    return figure


FIGURES = {"method_comparison.png": method_comparison_figure, "sparsity.png": sparsity_figure}


def save(figure: plt.Figure, path: Path) -> None:
    with plt.style.context("default"):
        figure.savefig(path, dpi=DPI)
    plt.close(figure)


def main() -> None:
    BASELINE_DIR.mkdir(exist_ok=True)
    for name, build in FIGURES.items():
        save(build(), BASELINE_DIR / name)


if __name__ == "__main__":
    main()
