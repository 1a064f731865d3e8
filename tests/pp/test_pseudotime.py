from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from scipy.stats import spearmanr

from pathreg.datasets import krumsiek11
from pathreg.pp import pseudotime


@pytest.fixture(scope="module")
def fitted() -> ad.AnnData:
    """krumsiek11 with a neighbors graph, diffusion map and pseudotime from cell 0 (do not modify; copy it)."""
    adata = krumsiek11()
    pseudotime(adata, root=0)
    return adata


def _snapshot(adata: ad.AnnData) -> tuple:
    return (
        list(adata.obs.columns),
        list(adata.uns),
        adata.uns.get("iroot"),
        list(adata.obsm),
        list(adata.obsp),
    )


def _per_realization_spearman(adata: ad.AnnData, key: str = "dpt_pseudotime") -> list[float]:
    return [
        spearmanr(group[key], group["time_step"])[0] for _, group in adata.obs.groupby("realization", observed=True)
    ]


def test_pseudotime_follows_simulation_time(fitted):
    values = fitted.obs["dpt_pseudotime"].to_numpy()
    assert values.dtype == np.float64
    assert values[0] == 0.0
    assert values.min() == 0.0
    assert values.max() == pytest.approx(1.0)
    assert fitted.uns["iroot"] == 0
    correlations = _per_realization_spearman(fitted)
    assert len(correlations) == 4
    assert min(correlations) > 0.8, correlations
    params = fitted.uns["dpt_pseudotime"]["params"]
    assert params == {
        "root_index": 0,
        "root_name": "0-0",
        "n_dcs": 10,
        "neighbors_computed": True,
        "diffmap_computed": True,
        "n_neighbors": 15,
        "use_rep": "default",
    }
    assert fitted.uns["neighbors"]["params"]["n_neighbors"] == 15
    assert fitted.obsm["X_diffmap"].shape == (640, 10)
    assert {"distances", "connectivities"} <= set(fitted.obsp)


def test_root_by_name_and_index_agree(fitted):
    by_name = pseudotime(fitted, root="2-0", copy=True)
    by_index = pseudotime(fitted, root=320, copy=True)
    assert by_name.uns["iroot"] == by_index.uns["iroot"] == 320
    assert by_name.obs["dpt_pseudotime"].iloc[320] == 0.0
    np.testing.assert_array_equal(by_name.obs["dpt_pseudotime"], by_index.obs["dpt_pseudotime"])
    assert by_name.uns["dpt_pseudotime"]["params"]["root_name"] == "2-0"


def test_root_by_category_picks_an_initial_cell(fitted):
    adata = fitted.copy()
    pseudotime(adata, root="progenitor", root_key="cell_type")
    iroot = adata.uns["iroot"]
    assert adata.obs["cell_type"].iloc[iroot] == "progenitor"
    assert adata.obs["time_step"].iloc[iroot] == 0
    assert adata.obs["dpt_pseudotime"].iloc[iroot] == 0.0
    assert min(_per_realization_spearman(adata)) > 0.8
    params = adata.uns["dpt_pseudotime"]["params"]
    assert params["root_key"] == "cell_type"
    assert params["root_category"] == "progenitor"
    assert params["root_index"] == iroot


def test_root_by_category_on_a_curve():
    rng = np.random.default_rng(0)
    t = rng.uniform(0.0, 1.0, 300)
    x = np.c_[np.cos(np.pi * t), np.sin(np.pi * t), t] + rng.normal(0.0, 0.01, (300, 3))
    stage = np.where(t < 1 / 3, "early", np.where(t < 2 / 3, "mid", "late"))
    obs = pd.DataFrame({"stage": stage, "t": t}, index=[f"cell{i}" for i in range(300)])
    adata = ad.AnnData(x.astype(np.float32), obs=obs)
    pseudotime(adata, root="early", root_key="stage", n_neighbors=30)
    iroot = adata.uns["iroot"]
    assert (t < t[iroot]).sum() <= 5  # among the earliest cells
    assert spearmanr(adata.obs["dpt_pseudotime"], t)[0] > 0.95
    pseudotime(adata, root="late", root_key="stage")  # the late end of the curve, by the same rule
    assert (t > t[adata.uns["iroot"]]).sum() <= 5
    assert spearmanr(adata.obs["dpt_pseudotime"], t)[0] < -0.95


def test_reuses_existing_graph(fitted):
    adata = fitted.copy()
    adata.uns["neighbors"]["params"]["sentinel"] = "kept"
    connectivities = adata.obsp["connectivities"].copy()
    pseudotime(adata, root=5, n_neighbors=30)
    assert adata.uns["neighbors"]["params"]["sentinel"] == "kept"
    assert adata.uns["neighbors"]["params"]["n_neighbors"] == 15
    assert (adata.obsp["connectivities"] != connectivities).nnz == 0
    params = adata.uns["dpt_pseudotime"]["params"]
    assert params["neighbors_computed"] is False
    assert params["diffmap_computed"] is False
    assert "n_neighbors" not in params
    assert adata.obs["dpt_pseudotime"].iloc[5] == 0.0


def test_diffmap_recomputed_only_when_needed(fitted):
    adata = fitted.copy()
    diffmap = adata.obsm["X_diffmap"].copy()
    pseudotime(adata, root=0, n_dcs=8)  # 10 components are enough for n_dcs=8
    np.testing.assert_array_equal(adata.obsm["X_diffmap"], diffmap)
    assert adata.uns["dpt_pseudotime"]["params"]["diffmap_computed"] is False
    pseudotime(adata, root=0, n_dcs=12)  # too few: recomputed on the existing graph
    assert adata.obsm["X_diffmap"].shape == (640, 12)
    assert adata.uns["diffmap_evals"].shape == (12,)
    assert adata.uns["dpt_pseudotime"]["params"]["diffmap_computed"] is True
    assert adata.uns["dpt_pseudotime"]["params"]["neighbors_computed"] is False


def test_stale_diffmap_without_graph_is_recomputed():
    adata = krumsiek11()
    adata.obsm["X_diffmap"] = np.zeros((640, 12))
    adata.uns["diffmap_evals"] = np.ones(12)
    pseudotime(adata, root=0)
    assert adata.obsm["X_diffmap"].shape == (640, 10)
    assert np.abs(adata.obsm["X_diffmap"]).sum() > 0
    assert min(_per_realization_spearman(adata)) > 0.8


def test_root_from_uns_iroot(fitted):
    adata = fitted.copy()
    adata.uns["iroot"] = 7
    pseudotime(adata)
    assert adata.obs["dpt_pseudotime"].iloc[7] == 0.0
    assert adata.uns["dpt_pseudotime"]["params"]["root_index"] == 7


def test_key_added(fitted):
    adata = fitted.copy()
    del adata.obs["dpt_pseudotime"]
    del adata.uns["dpt_pseudotime"]
    pseudotime(adata, root=0, key_added="pt")
    assert "dpt_pseudotime" not in adata.obs
    assert "dpt_pseudotime" not in adata.uns
    np.testing.assert_array_equal(adata.obs["pt"], fitted.obs["dpt_pseudotime"])
    assert adata.uns["pt"]["params"]["root_index"] == 0


def test_copy_leaves_input_unchanged():
    adata = krumsiek11()
    before = _snapshot(adata)
    result = pseudotime(adata, root=3, copy=True)
    assert _snapshot(adata) == before
    assert "neighbors" not in adata.uns
    assert result is not adata
    assert result.uns["iroot"] == 3
    assert result.obs["dpt_pseudotime"].iloc[3] == 0.0


def test_h5ad_round_trip(fitted, tmp_path):
    adata = pseudotime(fitted, root="progenitor", root_key="cell_type", copy=True)
    adata.write_h5ad(tmp_path / "pt.h5ad")
    back = ad.read_h5ad(tmp_path / "pt.h5ad")
    np.testing.assert_array_equal(back.obs["dpt_pseudotime"], adata.obs["dpt_pseudotime"])
    assert back.uns["dpt_pseudotime"]["params"] == adata.uns["dpt_pseudotime"]["params"]
    assert back.uns["iroot"] == adata.uns["iroot"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"root": 640}, r"root=640 is not a cell index; adata has 640 cells"),
        ({"root": -1}, "root=-1 is not a cell index"),
        ({"root": "0-160"}, r"root='0-160' is not in adata.obs_names\. Close matches: \["),
        ({"root": 1.5}, "root must be an integer cell index or a cell name, got float"),
        ({"root": True}, "root must be an integer cell index or a cell name, got bool"),
        ({"root": "progenitor", "root_key": "celltype"}, r"root_key='celltype' is not a column.*'cell_type'"),
        ({"root_key": "cell_type"}, r"root_key='cell_type' needs root= naming one of its categories"),
        ({"root": "Stem", "root_key": "cell_type"}, r"'Stem' is not a category.*\['Ery', 'Mk', 'Mo', 'Neu', 'prog"),
        ({"root": "progenitors", "root_key": "cell_type"}, r"Close matches: \['progenitor'\]"),
        ({"root": 0, "n_dcs": 1}, "n_dcs must be an integer >= 2"),
        ({"root": 0, "n_neighbors": 1}, "n_neighbors must be an integer >= 2"),
        ({"root": 0, "n_neighbors": 1000}, r"n_neighbors=1000 exceeds the number of cells \(640\)"),
        ({"root": 0, "use_rep": "X_pca"}, r"use_rep='X_pca' is not in adata.obsm"),
        ({"root": 0, "key_added": ""}, "key_added must be a non-empty string"),
        ({"drop_iroot": True}, "Nothing to root: pass root="),
    ],
)
def test_errors_leave_adata_unchanged(kwargs, match):
    adata = krumsiek11()
    if kwargs.pop("drop_iroot", False):
        del adata.uns["iroot"]
    before = _snapshot(adata)
    with pytest.raises(ValueError, match=match):
        pseudotime(adata, **kwargs)
    assert _snapshot(adata) == before


def test_duplicated_cell_name_asks_for_an_index():
    adata = krumsiek11()
    adata.obs_names = adata.obs["time_step"].astype(str).to_numpy()  # as scanpy ships it
    with pytest.raises(ValueError, match=r"root='0' names 4 cells .*pass the integer index.*root=0"):
        pseudotime(adata, root="0")
    assert "neighbors" not in adata.uns


def test_incomplete_graph(fitted):
    adata = fitted.copy()
    del adata.obsp["connectivities"]
    before = _snapshot(adata)
    with pytest.raises(ValueError, match=r"adata.obsp lacks \['connectivities'\]"):
        pseudotime(adata, root=0)
    assert _snapshot(adata) == before


def test_failure_inside_scanpy_leaves_adata_unchanged(monkeypatch):
    def broken_dpt(*args, **kwargs):
        raise RuntimeError("dpt failed")

    monkeypatch.setattr(sc.tl, "dpt", broken_dpt)
    adata = krumsiek11()
    before = _snapshot(adata)
    with pytest.raises(RuntimeError, match="dpt failed"):
        pseudotime(adata, root=0)
    assert _snapshot(adata) == before
