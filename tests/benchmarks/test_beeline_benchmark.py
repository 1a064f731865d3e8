from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import beeline
from pathreg.datasets import read_beeline, read_beeline_ranked_edges, write_beeline_ranked_edges

_SHARED = Path(os.environ.get("PATHREG_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
_BEELINE = _SHARED / "beeline"
_HSC0 = Path("Simulated") / "HSC" / "HSC_2000_0"
needs_shared = pytest.mark.skipif(not (_BEELINE / _HSC0).is_dir(), reason="shared BEELINE data not available")

_NETWORK = pd.DataFrame({"Gene1": ["g1", "g2", "g1"], "Gene2": ["g2", "g3", "g1"], "Type": ["+", "-", "+"]})


def _write_dataset(directory: Path, seed: int = 0, n_cells: int = 80) -> Path:
    """A tiny BEELINE-format dataset: 3 genes, two lineages sharing their first cells."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    cells = [f"c{k}" for k in range(n_cells)]
    t = np.linspace(0.0, 1.0, n_cells)
    g1 = 1.0 / (1.0 + np.exp(-10 * (t - 0.3)))
    g2 = 1.0 / (1.0 + np.exp(-10 * (t - 0.5)))
    g3 = 1.0 - 1.0 / (1.0 + np.exp(-10 * (t - 0.7)))
    values = np.stack([g1, g2, g3]) + 0.02 * rng.standard_normal((3, n_cells))
    pd.DataFrame(values, index=["g1", "g2", "g3"], columns=cells).to_csv(directory / "ExpressionData.csv")
    first, second = np.full(n_cells, np.nan), np.full(n_cells, np.nan)
    half = n_cells // 2
    first[: half + 10] = t[: half + 10]
    second[half - 10 :] = t[half - 10 :]
    second[:10] = t[:10]  # the root is shared
    pd.DataFrame({"PseudoTime1": first, "PseudoTime2": second}, index=cells).to_csv(
        directory / "PseudoTime.csv", na_rep="NA"
    )
    _NETWORK.to_csv(directory / "refNetwork.csv", index=False)
    return directory


def _write_ranking(path: Path, rows: list[tuple[str, str, float]]) -> Path:
    write_beeline_ranked_edges(pd.DataFrame(rows, columns=["Gene1", "Gene2", "EdgeWeight"]), path)
    return path


def test_find_datasets(tmp_path):
    root = tmp_path / "inputs"
    for name in ("HSC/HSC_2000_1", "HSC/HSC_2000_0", "GSD/GSD_2000_0"):
        _write_dataset(root / "Simulated" / name)
    incomplete = root / "Simulated" / "VSC" / "VSC_2000_0"
    incomplete.mkdir(parents=True)
    (incomplete / "ExpressionData.csv").write_text(",c1\ng1,1\n")
    _write_ranking(root / "peer-outputs" / "Simulated" / "HSC" / "HSC_2000_0" / "GENIE3" / "rankedEdges.csv", [])
    found = beeline.find_datasets(root)
    assert found == [
        Path("Simulated/GSD/GSD_2000_0"),
        Path("Simulated/HSC/HSC_2000_0"),
        Path("Simulated/HSC/HSC_2000_1"),
    ]
    assert beeline.network_name(root, found[1]) == "HSC"
    assert beeline.find_datasets(root / "Simulated" / "HSC" / "HSC_2000_0") == [Path(".")]
    assert beeline.find_datasets(root / "Simulated" / "VSC") == []
    with pytest.raises(FileNotFoundError):
        beeline.find_datasets(tmp_path / "missing")


def test_find_peer_outputs_direct_and_nested(tmp_path):
    folder = tmp_path / "peer-outputs" / "Simulated" / "HSC" / "HSC_2000_0"
    genie3 = _write_ranking(folder / "GENIE3" / "rankedEdges.csv", [("g1", "g2", 1.0)])
    grisli = _write_ranking(folder / "GRISLI" / "rankedEdges.csv", [("g1", "g2", 1.0)])
    _write_ranking(folder / "GRISLI" / "0" / "rankedEdges.csv", [("g2", "g1", 1.0)])
    nested = [_write_ranking(folder / "SCODE" / str(k) / "rankedEdges.csv", [("g1", "g2", 1.0)]) for k in (1, 0)]
    _write_ranking(folder / "SCODE" / "0" / "deeper" / "rankedEdges.csv", [("g1", "g2", 1.0)])
    (folder / "EMPTY").mkdir()
    expected = {"GENIE3": [genie3], "GRISLI": [grisli], "SCODE": sorted(nested)}
    relpath = Path("Simulated/HSC/HSC_2000_0")
    assert beeline.find_peer_outputs(tmp_path / "peer-outputs", relpath) == expected
    # the peer folder may start lower (peer-outputs/Simulated) or higher (input folder Simulated) in the tree
    assert beeline.find_peer_outputs(tmp_path / "peer-outputs" / "Simulated", relpath) == expected
    assert beeline.find_peer_outputs(tmp_path / "peer-outputs", Path("HSC/HSC_2000_0")) == expected
    assert beeline.find_peer_outputs(tmp_path / "peer-outputs", Path("Simulated/HSC/HSC_2000_9")) == {}


def test_read_peer_edges_combines_lineages_by_largest_weight(tmp_path):
    first = _write_ranking(tmp_path / "0" / "rankedEdges.csv", [("a", "b", 3.0), ("b", "a", -1.0)])
    second = _write_ranking(tmp_path / "1" / "rankedEdges.csv", [("b", "a", -5.0), ("a", "c", 0.5)])
    edges = beeline.read_peer_edges([first, second]).set_index(["regulator", "target"])["weight"]
    assert edges.to_dict() == {("a", "b"): 3.0, ("b", "a"): 5.0, ("a", "c"): 0.5}


def test_score_edges_matches_beeline_definitions():
    truth = pd.DataFrame({"regulator": ["a", "b"], "target": ["b", "c"]})
    genes = ["a", "b", "c"]
    perfect = pd.DataFrame({"regulator": ["a", "b", "c"], "target": ["b", "c", "a"], "weight": [2.0, -1.5, 0.1]})
    scores = beeline.score_edges(perfect, truth, genes)
    assert scores["auprc"] == pytest.approx(1.0)
    assert scores["auroc"] == pytest.approx(1.0)
    assert scores["random_auprc"] == pytest.approx(2 / 6)
    # self-loops do not count; unknown genes are ignored
    noisy = pd.DataFrame({"regulator": ["a", "a", "x"], "target": ["a", "b", "b"], "weight": [9.0, 1.0, 5.0]})
    assert beeline.score_edges(noisy, truth, genes)["n_true"] == 2
    # pruned: pairs of distinct genes without an edge (a -> b only of the 6; the self-loop does not count)
    assert beeline.score_edges(noisy, truth, genes)["pruned"] == pytest.approx(5 / 6)
    assert beeline.score_edges(perfect, truth, genes)["pruned"] == pytest.approx(3 / 6)


def _scores() -> pd.DataFrame:
    rows = []
    values = {
        # network -> method -> per-dataset AUPRC (medians: pathreg 0.5 / 0.2, A 0.4 / 0.6, B 0.3 / 0.7)
        "HSC": {"pathreg": [0.5, 0.9, 0.1], "A": [0.4, 0.35, 0.8], "B": [0.3, 0.3, 0.3]},
        "mCAD": {"pathreg": [0.2, 0.2, 0.6], "A": [0.6, 0.6, 0.6], "B": [0.7, 0.1, 0.9]},
    }
    for network, methods in values.items():
        for method, per_dataset in methods.items():
            for k, value in enumerate(per_dataset):
                rows.append(
                    {
                        "network": network,
                        "dataset": f"{network}_2000_{k}",
                        "method": method,
                        "auprc": value,
                        "auroc": 1 - value,
                        "epr": 2 * value,
                        "random_auprc": 0.25 if network == "HSC" else 0.7,
                        "pruned": 0.0,
                        "seconds": 1.0 if method == "pathreg" else np.nan,
                    }
                )
    return pd.DataFrame(rows, columns=list(beeline.COLUMNS))


def test_summary_medians_known_answer():
    scores = _scores()
    medians = beeline.median_scores(scores)
    assert medians.index.tolist() == ["pathreg", "A", "B"]
    assert medians.columns.tolist() == ["HSC", "mCAD"]
    np.testing.assert_allclose(medians.to_numpy(), [[0.5, 0.2], [0.4, 0.6], [0.3, 0.7]])
    assert beeline.best_peers(scores).to_dict() == {"HSC": "A", "mCAD": "B"}
    assert beeline.best_peers(scores, "auroc").to_dict() == {"HSC": "B", "mCAD": "A"}
    table = beeline.summary_table(scores)
    lines = table.splitlines()
    assert lines[0] == "Median AUPRC"
    assert lines[2] == "| method | HSC | mCAD |"
    assert lines[4] == "| **pathreg** | 0.500 | 0.200 |"
    assert lines[5] == "| A | **0.400** | 0.600 |"
    assert lines[6] == "| B | 0.300 | **0.700** |"
    assert lines[7] == "| random | 0.250 | 0.700 |"
    assert "Median AUROC" in table
    assert "Median EPR" in table
    assert "| A | 0.600 | **0.400** |" in table  # AUROC: 1 - AUPRC, so B is best on HSC, A on mCAD
    # a tie between peers marks both
    tied = scores.copy()
    tied.loc[(tied.method == "B") & (tied.network == "HSC"), "auprc"] = 0.4
    lines = beeline.summary_table(tied, ["auprc"]).splitlines()
    assert lines[5] == "| A | **0.400** | 0.600 |"
    assert lines[6] == "| B | **0.400** | **0.700** |"


def test_run_end_to_end_on_a_tiny_dataset(tmp_path):
    inputs = tmp_path / "inputs"
    relpath = Path("Simulated") / "toy" / "toy_2000_0"
    _write_dataset(inputs / relpath)
    peers = tmp_path / "peers"
    _write_ranking(peers / relpath / "TRUTH" / "rankedEdges.csv", [("g1", "g2", 1.0), ("g2", "g3", 1.0)])
    output = tmp_path / "out"
    scores = beeline.run(inputs, peer_dir=peers, output=output, n_bins=5, training={"n_epochs": 50}, n_seeds=1)
    assert list(scores.columns) == list(beeline.COLUMNS)
    assert scores["method"].tolist() == ["pathreg", "TRUTH"]
    assert scores["network"].tolist() == ["toy", "toy"]
    assert scores["dataset"].tolist() == ["toy_2000_0", "toy_2000_0"]
    ranked = output / relpath / "pathreg" / "rankedEdges.csv"
    assert ranked.is_file()
    edges = read_beeline_ranked_edges(ranked)
    assert set(edges["regulator"]) | set(edges["target"]) <= {"g1", "g2", "g3"}
    assert (np.diff(edges["weight"].abs().to_numpy()) <= 0).all()
    pathreg_row, truth_row = scores.iloc[0], scores.iloc[1]
    # the row scores the ranking that was written (g1 -> g2 and g2 -> g3 true; the self-loop g1 -> g1 excluded)
    true_edges = pd.DataFrame({"regulator": ["g1", "g2"], "target": ["g2", "g3"]})
    written = beeline.score_edges(edges, true_edges, ["g1", "g2", "g3"])
    assert pathreg_row.auprc == pytest.approx(written["auprc"])
    assert pathreg_row.auroc == pytest.approx(written["auroc"])
    assert pathreg_row.seconds > 0
    assert truth_row.auprc == pytest.approx(1.0)
    assert np.isnan(truth_row.seconds)
    assert pathreg_row.random_auprc == pytest.approx(2 / 6)
    assert pathreg_row.pruned == pytest.approx(written["pruned"])
    # rescoring reads the written ranking back: the same scores, no fit
    rescored = beeline.run(inputs, peer_dir=peers, output=output, rescore=True)
    pd.testing.assert_frame_equal(rescored.drop(columns="seconds"), scores.drop(columns="seconds"))
    assert rescored["seconds"].isna().all()
    with pytest.raises(ValueError, match="give output"):
        beeline.run(inputs, output=None, rescore=True)


def test_main_writes_rankings_scores_and_table(tmp_path, capsys):
    inputs = tmp_path / "inputs"
    relpath = Path("Simulated") / "toy" / "toy_2000_0"
    _write_dataset(inputs / relpath)
    _write_ranking(inputs / "peer-outputs" / relpath / "PEER" / "rankedEdges.csv", [("g3", "g1", 1.0)])
    output = tmp_path / "out"
    argv = [str(inputs), "--methods", "none", "--output", str(output), "--n-epochs", "20", "--n-seeds", "1"]
    with pytest.raises(ValueError, match="n_bins"):  # 80 cells cannot give 40 bins per lineage
        beeline.main(argv)
    assert beeline.main([*argv, "--n-bins", "5"]) == 0
    assert (output / relpath / "pathreg-none" / "rankedEdges.csv").is_file()
    # the default n_bins needs at least 80 cells per lineage
    _write_dataset(inputs / relpath, n_cells=200)
    assert beeline.main(argv) == 0
    assert (output / relpath / "pathreg-none" / "rankedEdges.csv").is_file()
    scores = pd.read_csv(output / "scores.csv")
    assert scores["method"].tolist() == ["pathreg-none", "PEER"]  # peers default to DIRECTORY/peer-outputs
    printed = capsys.readouterr().out
    assert "| **pathreg-none** |" in printed
    assert "| PEER | **" in printed


def test_run_rejects_fixed_options_and_empty_folders(tmp_path):
    with pytest.raises(ValueError, match="time_key"):
        beeline.run(tmp_path, time_key="t")
    with pytest.raises(ValueError, match="no BEELINE dataset"):
        beeline.run(tmp_path)


@needs_shared
def test_shared_hsc_peers_are_found_and_scored():
    scores = beeline.run(_BEELINE / _HSC0, methods=(), peer_dir=_BEELINE / "peer-outputs" / _HSC0, output=None)
    assert len(scores) == 12
    assert "GRISLI" in set(scores["method"])
    assert set(scores["network"]) == {"HSC"}
    genie3 = scores.set_index("method").loc["GENIE3"]
    assert genie3.auprc == pytest.approx(0.4619, abs=1e-3)
    assert genie3.random_auprc == pytest.approx(26 / 110)


@needs_shared
@pytest.mark.slow
def test_shared_hsc_end_to_end(tmp_path):
    # only HSC_2000_0, copied into the same layout
    copy = tmp_path / "inputs" / _HSC0
    copy.mkdir(parents=True)
    for name in beeline.INPUT_FILES:
        shutil.copyfile(_BEELINE / _HSC0 / name, copy / name)
    scores = beeline.run(tmp_path / "inputs", peer_dir=_BEELINE / "peer-outputs", output=tmp_path / "out")
    assert (tmp_path / "out" / _HSC0 / "pathreg" / "rankedEdges.csv").is_file()
    assert len(scores) == 13
    ours = scores.set_index("method").loc["pathreg"]
    assert ours.network == "HSC"
    # the row scores the ranking that was written, against the dataset's true network
    true_edges = read_beeline(copy).uns["true_network"]
    genes = read_beeline(copy).var_names.tolist()
    edges = read_beeline_ranked_edges(tmp_path / "out" / _HSC0 / "pathreg" / "rankedEdges.csv")
    written = beeline.score_edges(edges, true_edges, genes)
    assert ours.auprc == pytest.approx(written["auprc"])
    assert ours.epr == pytest.approx(written["epr"])


def test_decay_option_reaches_the_fit(monkeypatch, tmp_path):
    seen = {}

    def fake_run(directory, **options):
        seen.update(options)
        return pd.DataFrame(columns=["network", "dataset", "method", "auprc", "auroc", "epr"])

    monkeypatch.setattr(beeline, "run", fake_run)
    monkeypatch.setattr(beeline, "summary_table", lambda scores: "")
    monkeypatch.setattr(beeline, "pruned_table", lambda scores: "")
    for text, expected in (("learned", True), ("10", 10.0)):
        assert beeline.main([str(tmp_path), "--decay", text, "--output", str(tmp_path / "out")]) == 0
        assert seen["decay"] == expected
    with pytest.raises(SystemExit):
        beeline.main([str(tmp_path), "--decay", "fast"])
