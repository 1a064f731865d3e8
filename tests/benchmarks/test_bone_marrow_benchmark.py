from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from benchmarks import bone_marrow as benchmark


def _files_adata(sizes: dict[tuple[str, str], int], n_genes: int = 3, seed: int = 0) -> ad.AnnData:
    """Cells of several (batch, lineage) files in shuffled order, expression rising with time."""
    rng = np.random.default_rng(seed)
    blocks, obs = [], []
    for (batch, lineage), n in sizes.items():
        time = rng.permutation(np.linspace(0.0, 5.0, n))
        genes = np.stack([np.sin(time + g) * (g + 1) + 2 * g for g in range(n_genes)], axis=1)
        blocks.append(genes + 0.01 * rng.normal(size=genes.shape))
        obs += [{"batch": batch, "lineage": lineage, "dpt_pseudotime": t} for t in time]
    frame = pd.DataFrame(obs, index=[f"c{i}" for i in range(len(obs))])
    adata = ad.AnnData(np.concatenate(blocks).astype(np.float32), obs=frame)
    adata.var_names = [f"g{i}" for i in range(n_genes)]
    return adata


def test_preprocess_drops_ends_and_scales_each_file():
    adata = _files_adata({("b1", "A"): 50, ("b1", "B"): 40, ("b2", "A"): 31})
    adata.X[:, 2] = 7.0  # a constant gene becomes 0
    result = benchmark.preprocess(adata)
    sizes = result.obs.groupby(["batch", "lineage"], observed=True).size().to_dict()
    # 50 - 30 and 40 - 30 cells remain; b2/A keeps a single cell, which cannot be scaled: the file is dropped
    assert sizes == {("b1", "A"): 20, ("b1", "B"): 10}
    original = adata.obs["dpt_pseudotime"]
    for (batch, lineage), group in result.obs.groupby(["batch", "lineage"], observed=True):
        times = original[(adata.obs["batch"] == batch) & (adata.obs["lineage"] == lineage)].sort_values()
        kept = original[group.index].sort_values()
        assert kept.index.tolist() == times.index[10:-20].tolist()
        cells = result[group.index]
        assert np.allclose(cells.X[:, :2].min(axis=0), 0.0)
        assert np.allclose(cells.X[:, :2].max(axis=0), 1.0)
        assert group["time"].min() == 0.0
        assert group["time"].max() == 1.0
        assert np.all(np.diff(group["time"].to_numpy()) >= 0)  # in time order
    assert np.all(result.X[:, 2] == 0.0)
    assert adata.X.max() > 1.0  # input untouched


def test_summary_table_sums_lineages_per_batch():
    rows = []
    for method, scale in (("pathreg", 1.0), ("none", 2.0)):
        for batch, lineages in (("s1d2", ("B", "eryth", "mono")), ("s2d4", ("B", "mono"))):
            for index, lineage in enumerate(lineages):
                rows.append(
                    {
                        "method": method,
                        "prior": False,
                        "seed": 0,
                        "batch": batch,
                        "split": "train" if batch == "s1d2" else "test",
                        "lineage": lineage,
                        "mse": scale * 0.01 * (index + 1),
                        "bin_mse": 0.0,
                        "feature_sparsity": 0.9,
                        "spurious_feature_sparsity": 0.95 if method == "pathreg" else 0.0,
                        "seconds": 3.0,
                    }
                )
    table = benchmark.summary_table(pd.DataFrame(rows, columns=list(benchmark.COLUMNS)))
    lines = table.splitlines()
    assert lines[0] == "| batch | split | lineages | pathreg | none | reference |"
    assert lines[2] == "| s1d2 | train | 3 | 0.0600 | 0.1200 | 0.0353 |"
    assert lines[3].startswith("| s2d4 | test | 2 | 0.0300 | 0.0600 | 0.0273 (0.0211 without eryth) |")
    assert lines[4] == "| spurious-feature sparsity | | | 95.0% | 0.0% | 12.5% |"


def test_run_end_to_end_on_two_synthetic_batches():
    adata = benchmark.preprocess(_files_adata({("s1d2", "A"): 70, ("s1d2", "B"): 70, ("s2d1", "A"): 60}, n_genes=4))
    adata.var["is_tf"] = [True, True, False, False]
    grn = np.zeros((4, 4), dtype=bool)
    grn[:, 0] = True
    adata.varp["base_grn"] = grn
    models: dict = {}
    results = benchmark.run(
        adata,
        methods=["pathreg", "none"],
        test_batches=["s2d1", "s3d6"],  # s3d6 absent: skipped
        fit_kwargs={"training": {"n_epochs": 5}, "n_bins": 8},
        models=models,
    )
    assert set(results["batch"]) == {"s1d2", "s2d1"}
    assert len(results) == 2 * 3  # (2 lineages + 1) per method
    assert np.isfinite(results["mse"]).all()
    # spurious-feature sparsity, by hand: the zero share of the fitted adjacency's columns g2, g3 (not TFs)
    for method in ("pathreg", "none"):
        _, fitted = models[(method, 0)]
        regulators = fitted.var_names.isin(list(fitted.uns["pathreg"]["regulators"]))
        columns = regulators & ~fitted.var["is_tf"].to_numpy(dtype=bool)
        expected = float(np.mean(np.asarray(fitted.varp["pathreg_adjacency"])[:, columns] == 0))
        rows = results[results["method"] == method]
        assert rows["spurious_feature_sparsity"].to_numpy() == pytest.approx(expected)
    assert "| s2d1 | test | 1 |" in benchmark.summary_table(results)
    prior = benchmark.run(
        adata,
        methods=["pathreg"],
        prior=True,
        test_batches=["s2d1"],
        fit_kwargs={"training": {"n_epochs": 5}, "n_bins": 8},
    )
    assert (prior["spurious_feature_sparsity"] == 1.0).all()  # no edge outside the prior
    model, fitted = models[("pathreg", 0)]
    frame = benchmark.lineage_adjacency(model, fitted, "A")
    assert frame.shape == (4, 2)
    assert list(frame.columns) == ["g0", "g1"]
    axes = benchmark.plot_adjacency(frame, known=["g0"])
    assert axes is not None


def test_evaluate_scores_the_per_cell_prediction_against_each_cell(monkeypatch):
    import pathreg

    adata = benchmark.preprocess(_files_adata({("s1d2", "A"): 50, ("s1d2", "B"): 40, ("s2d1", "A"): 40}))
    model = SimpleNamespace(metadata={"n_bins": 40, "state_genes": ["g2", "g0"]})
    calls = {}

    def predict(cells, fitted, *, lineage_key, n_bins, key_added):
        calls.update(n_obs=cells.n_obs, n_bins=n_bins)
        cells.layers[f"{key_added}_prediction"] = np.full(cells.shape, 0.25, dtype=np.float32)
        return pd.Series({"A": 0.5, "B": 0.75})

    monkeypatch.setattr(pathreg.tl, "predict", predict)
    errors = benchmark.evaluate(model, adata, "s1d2").set_index("lineage")
    # 20 and 10 cells in s1d2 after preprocessing; the bins are capped at half the smallest lineage
    assert calls == {"n_obs": 30, "n_bins": 5}
    cells = adata[(adata.obs["batch"] == "s1d2").to_numpy()]
    for lineage in ("A", "B"):
        observed = np.asarray(cells[(cells.obs["lineage"] == lineage).to_numpy()].X)[:, [2, 0]]
        assert errors.loc[lineage, "mse"] == pytest.approx(np.mean((0.25 - observed) ** 2))
    assert errors["bin_mse"].to_dict() == {"A": 0.5, "B": 0.75}


def _shared_data() -> Path:
    base = os.environ.get("PATHREG_SHARED_DATA")
    root = Path(base) if base else Path(__file__).parents[3] / "shared" / "data"
    return root / "bone-marrow-trajectories"


@pytest.mark.slow
def test_shared_data_protocol_sizes():
    path = _shared_data()
    if not (path / "trajectories").is_dir():
        pytest.skip(f"the bone marrow trajectories are not available at {path}")
    import pathreg

    raw = pathreg.datasets.bone_marrow(path)
    adata = benchmark.preprocess(raw)
    before = raw.obs.groupby(["batch", "lineage"], observed=True).size()
    after = adata.obs.groupby(["batch", "lineage"], observed=True).size()
    assert (after == before - 30).all()
    assert adata.X.min() >= 0.0
    assert adata.X.max() <= 1.0


def test_method_options_merge_the_training_settings():
    options = benchmark.method_options(
        "grouplasso", {"training": {"n_epochs": 7}, "n_bins": 8}, benchmark.SHOOTING_OPTIONS
    )
    assert options["training"] == {"gate_lr": 0.1, "n_epochs": 7}
    assert options["hidden"] == (8,)
    assert options["n_bins"] == 8
    assert options["objective"] == "shooting"
    assert dict(benchmark.SHOOTING_OPTIONS["training"]) == {"gate_lr": 0.1}  # the table itself is unchanged
    defaults = benchmark.method_options("pathreg", {"training": {"n_epochs": 7}})
    assert defaults == {"time_key": benchmark.TIME_KEY, "training": {"n_epochs": 7}}  # fit_dynamics' defaults
