"""The scale benchmark: its data, the regulator rule, and a quick run of the whole command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from benchmarks import scale


@pytest.mark.parametrize(("genes", "expected"), [(2, 1), (529, 79), (2000, 300), (20000, 1600), (50000, 1600)])
def test_regulators_are_fifteen_percent_of_the_genes_at_most_1600(genes, expected):
    assert scale.n_regulators(genes) == expected


def test_synthetic_adata_is_sparse_and_marks_the_regulators():
    adata = scale.synthetic_adata(50, 700, 8, chunk=300)  # several blocks
    assert adata.shape == (700, 50)
    assert sparse.issparse(adata.X)
    assert adata.X.format == "csr"
    assert adata.X.dtype == np.float32
    assert 0.3 < 1 - adata.X.nnz / np.prod(adata.shape) < 0.95  # mostly zeros, like log-normalised counts
    assert adata.var["is_tf"].sum() == 8
    assert adata.var["is_tf"].to_numpy()[:8].all()
    assert adata.obs["dpt_pseudotime"].between(0, 1).all()
    assert len(adata.obs["lineage"].cat.categories) == scale.N_LINEAGES
    again = scale.synthetic_adata(50, 700, 8, chunk=700)  # the same data whatever the block size
    assert (adata.X != again.X).nnz == 0


def test_quick_run_writes_one_row_per_size(tmp_path, capsys):
    output, figure = tmp_path / "scale.csv", tmp_path / "scale.png"
    assert scale.main(["--quick", "--n-seeds", "2", "--output", str(output), "--plot", str(figure)]) == 0
    table = pd.read_csv(output)
    assert list(table.columns) == list(scale.COLUMNS)
    assert [tuple(size) for size in table[["genes", "cells"]].to_numpy()] == list(scale.QUICK_SIZES)
    assert (table["fit_seconds"] > 0).all()
    assert (table["peak_rss_gb"] > 0).all()
    assert (table["h5ad_mb"] > 0).all()
    assert (table["n_epochs"] == scale.QUICK_EPOCHS).all()
    assert (table["n_seeds"] == 2).all()
    assert table["forest_seconds_estimated"].isna().all()  # not asked for
    assert table["prediction"].all()
    assert figure.stat().st_size > 0
    assert "| genes | cells |" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [["--genes", "1"], ["--sizes", "2000x"], ["--sizes", "20000-50000"], ["--sizes", "5x5"]]
)
def test_invalid_sizes_are_rejected(argv, capsys):
    with pytest.raises(SystemExit):
        scale.main(argv)
    assert "size" in capsys.readouterr().err


def test_without_the_prediction_layer_the_h5ad_is_smaller(tmp_path):
    sizes = {
        prediction: scale.measure(200, 1500, n_seeds=1, n_epochs=5, prediction=prediction)["h5ad_mb"]
        for prediction in (True, False)
    }
    assert sizes[False] < 0.7 * sizes[True]  # the dense layer is most of the file


def test_forest_estimate_is_the_time_per_target_times_the_genes():
    row = scale.measure(30, 400, n_seeds=1, n_epochs=2, forest_targets=2)
    assert row["forest_seconds_estimated"] > 0
    assert np.isfinite(row["forest_seconds_estimated"])
