from __future__ import annotations

import os
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from pathreg.datasets._beeline import read_beeline, read_beeline_ranked_edges, write_beeline_ranked_edges

_SHARED = Path(os.environ.get("PATHREG_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
_BEELINE = _SHARED / "beeline"
_REAL = _BEELINE / "Simulated" / "HSC" / "HSC_2000_3"
_PEER = _BEELINE / "peer-outputs" / "Simulated" / "HSC" / "HSC_2000_3" / "PPCOR" / "rankedEdges.csv"

_EXPRESSION = """\
,c1,c2,c3,c4,c5,c6
g1,0.1,0.2,0.3,0.4,0.5,0.6
g2,1,2,3,4,5,6
g3,1e-3,0,0,0,0,7.5
"""
# R's write.csv header: no name for the row-name column; cells in another order than ExpressionData.csv
_PSEUDOTIME = """\
PseudoTime1,PseudoTime2
c6,NA,0.9
c1,0.0,0.0
c2,0.2,NA
c3,0.5,NA
c4,NA,0.4
c5,NA,NA
"""
_NETWORK = """\
Gene1,Gene2,Type
g1,g2,+
g2,g3,-
g3,g3,+
"""


def _write(directory: Path, expression: str = _EXPRESSION, pseudotime: str = _PSEUDOTIME, network: str = _NETWORK):
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (("ExpressionData.csv", expression), ("PseudoTime.csv", pseudotime), ("refNetwork.csv", network)):
        if text is not None:
            (directory / name).write_text(text)
    return directory


@pytest.fixture
def dataset(tmp_path) -> Path:
    return _write(tmp_path / "toy_2000_0")


def test_read_beeline_layout(dataset):
    adata = read_beeline(dataset)
    assert adata.shape == (6, 3)
    assert adata.X.dtype == np.float32
    assert adata.obs_names.tolist() == ["c1", "c2", "c3", "c4", "c5", "c6"]
    assert adata.var_names.tolist() == ["g1", "g2", "g3"]
    np.testing.assert_allclose(adata.X[:, 1], [1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(adata.X[5], [0.6, 6, 7.5], rtol=1e-6)
    assert adata.uns["beeline"] == {"directory": "toy_2000_0"}


def test_read_beeline_pseudotime_and_lineages(dataset):
    adata = read_beeline(dataset)
    assert list(adata.obs.columns) == ["PseudoTime1", "PseudoTime2", "pseudotime"]
    # reordered to ExpressionData's cells, NA -> NaN
    np.testing.assert_array_equal(adata.obs["PseudoTime1"], [0.0, 0.2, 0.5, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(adata.obs["PseudoTime2"], [0.0, np.nan, np.nan, 0.4, np.nan, 0.9])
    np.testing.assert_array_equal(adata.obs["pseudotime"], [0.0, 0.2, 0.5, 0.4, np.nan, 0.9])
    lineages = adata.obsm["lineages"]
    assert isinstance(lineages, pd.DataFrame)
    assert lineages.columns.tolist() == ["PseudoTime1", "PseudoTime2"]
    assert lineages.index.equals(adata.obs_names)
    assert all(pd.api.types.is_bool_dtype(dtype) for dtype in lineages.dtypes)
    np.testing.assert_array_equal(
        lineages.to_numpy(), [[True, True], [True, False], [True, False], [False, True], [False, False], [False, True]]
    )


def test_read_beeline_mean_pseudotime_of_shared_cells(tmp_path):
    pseudotime = _PSEUDOTIME.replace("c1,0.0,0.0", "c1,1.0,3.0")
    adata = read_beeline(_write(tmp_path / "d", pseudotime=pseudotime))
    assert adata.obs.loc["c1", "pseudotime"] == 2.0


def test_read_beeline_pseudotime_header_with_index_field(tmp_path):
    pseudotime = "," + _PSEUDOTIME.replace("NA", "")
    adata = read_beeline(_write(tmp_path / "d", pseudotime=pseudotime))
    np.testing.assert_array_equal(adata.obs["PseudoTime2"], [0.0, np.nan, np.nan, 0.4, np.nan, 0.9])


def test_read_beeline_true_network(dataset):
    network = read_beeline(dataset).uns["true_network"]
    assert network.columns.tolist() == ["regulator", "target", "sign"]
    assert network["regulator"].tolist() == ["g1", "g2", "g3"]
    assert network["target"].tolist() == ["g2", "g3", "g3"]
    assert network["sign"].tolist() == [1, -1, 1]


def test_read_beeline_network_without_type(tmp_path):
    network = "Gene1,Gene2\ng1,g2\n"
    adata = read_beeline(_write(tmp_path / "d", network=network))
    assert adata.uns["true_network"]["sign"].tolist() == [0]


def test_read_beeline_h5ad_round_trip(dataset, tmp_path):
    adata = read_beeline(dataset)
    path = tmp_path / "toy.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.X, adata.X)
    pd.testing.assert_frame_equal(back.obs, adata.obs)
    pd.testing.assert_frame_equal(back.obsm["lineages"], adata.obsm["lineages"])
    network = back.uns["true_network"]
    assert isinstance(network, pd.DataFrame)
    assert network["regulator"].tolist() == ["g1", "g2", "g3"]
    assert network["target"].tolist() == ["g2", "g3", "g3"]
    assert network["sign"].tolist() == [1, -1, 1]
    assert back.uns["beeline"] == {"directory": "toy_2000_0"}


@pytest.mark.parametrize("missing", ["ExpressionData.csv", "PseudoTime.csv", "refNetwork.csv"])
def test_read_beeline_missing_file(dataset, missing):
    (dataset / missing).unlink()
    with pytest.raises(FileNotFoundError, match=missing):
        read_beeline(dataset)


def test_read_beeline_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_beeline(tmp_path / "nowhere")


def test_read_beeline_mismatched_cells(tmp_path):
    pseudotime = _PSEUDOTIME.replace("c5,", "c7,")
    with pytest.raises(ValueError, match=r"do not match.*\['c5'\].*\['c7'\]"):
        read_beeline(_write(tmp_path / "d", pseudotime=pseudotime))


@pytest.mark.parametrize(
    ("name", "text", "line", "what"),
    [
        ("ExpressionData.csv", _EXPRESSION.replace("1,2,3,4,5,6", "1,2,x,4,5,6"), 3, "not a number"),
        ("ExpressionData.csv", _EXPRESSION.replace("0,0,0,0,7.5", "0,0,0,7.5"), 4, "fields"),
        ("PseudoTime.csv", _PSEUDOTIME.replace("c3,0.5,NA", "c3,0.5"), 5, "fields"),
        ("PseudoTime.csv", _PSEUDOTIME.replace("c4,NA,0.4", "c4,NA,early"), 6, "not a number"),
        ("refNetwork.csv", _NETWORK.replace("Gene1,Gene2", "Source,Target"), 1, "header"),
        ("refNetwork.csv", _NETWORK.replace("g2,g3,-", "g2,g3"), 3, "fields"),
    ],
)
def test_read_beeline_malformed(tmp_path, name, text, line, what):
    texts = {"ExpressionData.csv": _EXPRESSION, "PseudoTime.csv": _PSEUDOTIME, "refNetwork.csv": _NETWORK}
    texts[name] = text
    directory = _write(
        tmp_path / "d",
        expression=texts["ExpressionData.csv"],
        pseudotime=texts["PseudoTime.csv"],
        network=texts["refNetwork.csv"],
    )
    with pytest.raises(ValueError, match=rf"{name}, line {line}: .*{what}"):
        read_beeline(directory)


def test_ranked_edges_round_trip_and_order(tmp_path):
    edges = pd.DataFrame(
        {
            "regulator": ["g1", "g2", "g3", "g1"],
            "target": ["g2", "g3", "g1", "g3"],
            "weight": [0.1, -0.7, 0.3, 0.7],
            "sign": [1, -1, 1, 1],
        }
    )
    path = tmp_path / "out" / "PATHREG" / "rankedEdges.csv"
    write_beeline_ranked_edges(edges, path)
    lines = path.read_text().splitlines()
    assert lines[0] == "Gene1\tGene2\tEdgeWeight"
    # decreasing |weight|, ties in input order
    assert lines[1:] == ["g2\tg3\t-0.7", "g1\tg3\t0.7", "g3\tg1\t0.3", "g1\tg2\t0.1"]
    back = read_beeline_ranked_edges(path)
    assert back.columns.tolist() == ["regulator", "target", "weight"]
    assert back["weight"].dtype == np.float64
    expected = edges.iloc[[1, 3, 2, 0]][["regulator", "target", "weight"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected)


def test_ranked_edges_beeline_columns(tmp_path):
    edges = pd.DataFrame({"Gene1": ["a", "b"], "Gene2": ["b", "a"], "EdgeWeight": [1 / 3, 2.0]})
    path = tmp_path / "rankedEdges.csv"
    write_beeline_ranked_edges(edges, path)
    back = read_beeline_ranked_edges(path)
    assert back["regulator"].tolist() == ["b", "a"]
    assert back["weight"].tolist() == [2.0, 1 / 3]  # full precision


def test_ranked_edges_errors(tmp_path):
    with pytest.raises(ValueError, match="columns"):
        write_beeline_ranked_edges(pd.DataFrame({"a": [1]}), tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError, match="rankedEdges.csv"):
        read_beeline_ranked_edges(tmp_path / "rankedEdges.csv")
    path = tmp_path / "bad.csv"
    path.write_text("Gene1\tGene2\tEdgeWeight\na\tb\t1.0\na\tc\thigh\n")
    with pytest.raises(ValueError, match=r"bad.csv, line 3: .*not a number"):
        read_beeline_ranked_edges(path)
    path.write_text("Gene1\tGene2\tEdgeWeight\na\tb\n")
    with pytest.raises(ValueError, match=r"line 2: 2 fields"):
        read_beeline_ranked_edges(path)
    path.write_text("source\ttarget\tweight\n")
    with pytest.raises(ValueError, match=r"line 1: header"):
        read_beeline_ranked_edges(path)


def test_ranked_edges_header_only(tmp_path):
    path = tmp_path / "rankedEdges.csv"
    path.write_text("Gene1\tGene2\tEdgeWeight\n")
    back = read_beeline_ranked_edges(path)
    assert back.shape == (0, 3)
    assert back.columns.tolist() == ["regulator", "target", "weight"]


@pytest.mark.skipif(not _REAL.is_dir(), reason="shared BEELINE data not available")
def test_read_beeline_real_hsc(tmp_path):
    adata = read_beeline(_REAL)
    assert adata.shape == (2000, 11)
    assert adata.uns["beeline"] == {"directory": "HSC_2000_3"}
    assert adata.obsm["lineages"].columns.tolist() == ["PseudoTime1", "PseudoTime2", "PseudoTime3", "PseudoTime4"]
    assert adata.obsm["lineages"].any(axis=1).all()
    assert np.isfinite(adata.obs["pseudotime"]).all()
    network = adata.uns["true_network"]
    assert len(network) == 30
    assert set(network["sign"]) == {-1, 1}
    assert set(network["regulator"]) | set(network["target"]) <= set(adata.var_names)
    path = tmp_path / "hsc.h5ad"
    adata.write_h5ad(path)
    pd.testing.assert_frame_equal(ad.read_h5ad(path).uns["true_network"], network)


@pytest.mark.skipif(not _PEER.is_file(), reason="shared BEELINE peer outputs not available")
def test_read_beeline_ranked_edges_real_peer(tmp_path):
    edges = read_beeline_ranked_edges(_PEER)
    assert len(edges) > 0
    assert edges.columns.tolist() == ["regulator", "target", "weight"]
    assert (edges["weight"] < 0).any()  # PPCOR's partial correlations are signed
    genes = set(read_beeline(_REAL).var_names) if _REAL.is_dir() else None
    if genes is not None:
        assert set(edges["regulator"]) | set(edges["target"]) <= genes
    path = tmp_path / "rankedEdges.csv"
    write_beeline_ranked_edges(edges, path)
    back = read_beeline_ranked_edges(path)
    assert len(back) == len(edges)
    assert np.all(np.diff(np.abs(back["weight"].to_numpy())) <= 0)
