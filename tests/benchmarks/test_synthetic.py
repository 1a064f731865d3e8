from __future__ import annotations

import pandas as pd
import pytest

from benchmarks import synthetic


def test_summary_table_reports_mean_and_std_per_method():
    rows = [
        {
            "method": "pathreg",
            "seed": 0,
            "train_mse": 1e-4,
            "extrapolation_mse": 2e-4,
            "feature_sparsity": 0.5,
            "weight_sparsity": 0.2,
            "edge_precision": 1.0,
            "edge_recall": 1.0,
            "seconds": 10.0,
        },
        {
            "method": "pathreg",
            "seed": 1,
            "train_mse": 3e-4,
            "extrapolation_mse": 4e-4,
            "feature_sparsity": 0.7,
            "weight_sparsity": 0.4,
            "edge_precision": 0.5,
            "edge_recall": 1.0,
            "seconds": 20.0,
        },
        {
            "method": "none",
            "seed": 0,
            "train_mse": 1e-5,
            "extrapolation_mse": 1e-5,
            "feature_sparsity": 0.0,
            "weight_sparsity": 0.0,
            "edge_precision": 0.4,
            "edge_recall": 1.0,
            "seconds": 1.0,
        },
    ]
    table = synthetic.summary_table(pd.DataFrame(rows, columns=list(synthetic.COLUMNS)))
    lines = table.splitlines()
    assert lines[0].startswith("| method | train_mse | extrapolation_mse |")
    assert lines[2].startswith("| pathreg | 2.00e-04 ± 1.0e-04 | 3.00e-04 ± 1.0e-04 | 0.600 ± 0.100 |")
    assert lines[3].startswith("| none |")
    assert "0.750 ± 0.250" in lines[2]  # edge precision


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="Unknown methods"):
        synthetic.run(["pathreg", "magic"], [0])


def test_every_registered_method_has_settings():
    from pathreg.models import METHODS

    assert set(synthetic.METHOD_SETTINGS) == set(METHODS)


def test_settings_are_read_only_and_run_takes_a_modified_copy(monkeypatch):
    none = synthetic.METHOD_SETTINGS["none"]
    with pytest.raises(TypeError):
        none["training"]["prune"] = True
    with pytest.raises(TypeError):
        synthetic.TRAINING["n_epochs"] = 1
    pruned = {**none, "training": {**none["training"], "prune": True}}
    seen = []

    def run_one(method, seed, device, settings):
        seen.append((method, seed, settings))
        return {**dict.fromkeys(synthetic.COLUMNS, 0.0), "method": method, "seed": seed, "adjacency": []}

    monkeypatch.setattr(synthetic, "run_one", run_one)
    results = synthetic.run(["none", "pathreg"], [3], settings={"none": pruned})
    assert list(results["method"]) == ["none", "pathreg"]
    (method, seed, settings), (other, _, default) = seen
    assert (method, seed, other, default) == ("none", 3, "pathreg", None)  # pathreg keeps its settings
    assert type(settings) is dict  # a plain copy: it travels to worker processes
    assert settings["training"] == {**none["training"], "prune": True}
    assert "prune" not in synthetic.METHOD_SETTINGS["none"]["training"]
    with pytest.raises(ValueError, match="do not run"):
        synthetic.run(["none"], [0], settings={"pathreg": pruned})


@pytest.mark.slow
def test_base_method_runs_end_to_end(tmp_path):
    output = tmp_path / "synthetic.csv"
    assert synthetic.main(["--methods", "none", "--seeds", "0", "--jobs", "1", "--output", str(output)]) == 0
    results = pd.read_csv(output)
    assert list(results.columns) == list(synthetic.COLUMNS)
    row = results.iloc[0]
    assert row["method"] == "none"
    assert row["train_mse"] < 1e-4  # the linear system is fitted precisely
    assert row["edge_recall"] == 1.0


@pytest.mark.slow
def test_run_returns_the_fitted_dependency_matrices():
    results, adjacency = synthetic.run(["none"], [0], return_adjacency=True)
    matrix = adjacency[("none", 0)]
    assert len(matrix) == 3
    assert all(len(row) == 6 for row in matrix)
    assert results.loc[0, "feature_sparsity"] == pytest.approx(sum(abs(v) < 1e-5 for row in matrix for v in row) / 18)


@pytest.mark.slow
def test_pathreg_recovers_exactly_the_true_dependencies():
    row = synthetic.run_one("pathreg", 0)
    assert row["edge_precision"] == 1.0
    assert row["edge_recall"] == 1.0
    assert row["extrapolation_mse"] < 1e-3
