"""Lineage-specific networks (written by fit_dynamics, read by tl.grn) and the decoupler-ready export."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from tl_helpers import QUICK, assert_unchanged, snapshot

import pathreg

LINEAGE_NAMES = ["Mo", "Ery"]


def _lineage_keys(adata, key="pathreg"):
    return [name for name in adata.varp if name.startswith(f"{key}_adjacency_")]


# --- what fit_dynamics writes -----------------------------------------------------------------------------------


def test_a_fit_of_several_lineages_writes_one_network_per_lineage(fitted):
    adata, _ = fitted
    index = adata.uns["pathreg"]["lineage_adjacency"]
    assert list(index["lineages"]) == LINEAGE_NAMES
    assert list(index["varp_keys"]) == ["pathreg_adjacency_Mo", "pathreg_adjacency_Ery"]
    whole = adata.varp["pathreg_adjacency"]
    for name in index["varp_keys"]:
        network = adata.varp[name]
        assert network.dtype == np.float32
        assert network.shape == (adata.n_vars, adata.n_vars)
        assert np.isfinite(network).all()
        # the same model: an edge pruned in every member is absent from every lineage's network too
        assert not network[whole == 0].any()
    assert not np.array_equal(adata.varp["pathreg_adjacency_Mo"], adata.varp["pathreg_adjacency_Ery"])


def test_a_lineage_network_is_the_readout_over_that_lineages_bins(fitted):
    adata, model = fitted
    problem = pathreg.tl.DynamicsProblem.from_anndata(adata, lineage_key="lineages", n_bins=QUICK["n_bins"])
    params = adata.uns["pathreg"]["params"]
    columns = problem.state_columns[problem.input_index]
    for lineage in problem.bins:
        strength = model.signed_adjacency(
            lineage.means, normalize=params["normalize"], rows=problem.is_target, readout=params["readout"]
        )
        expected = np.zeros((adata.n_vars, adata.n_vars), dtype=np.float32)
        expected[np.ix_(problem.state_columns, columns)] = strength
        np.testing.assert_allclose(adata.varp[f"pathreg_adjacency_{lineage.name}"], expected, rtol=1e-6, atol=1e-7)


def test_a_single_lineage_fit_writes_no_lineage_networks_and_says_so(adata):
    pathreg.tl.fit_dynamics(adata, seed=0, **{**QUICK, "n_seeds": 1})
    assert _lineage_keys(adata) == []
    assert "lineage_adjacency" not in adata.uns["pathreg"]
    with pytest.raises(ValueError, match=r"has one lineage \('all'\).*leave lineage=None.*lineage_key="):
        pathreg.tl.grn(adata, lineage="Ery")


def test_a_refit_under_the_same_key_removes_the_previous_lineage_networks(fitted):
    adata = fitted[0].copy()
    adata.varp["pathreg_adjacency_other"] = np.ones((adata.n_vars, adata.n_vars))  # not the fit's: kept
    pathreg.tl.fit_dynamics(adata, seed=0, **{**QUICK, "n_seeds": 1})
    assert _lineage_keys(adata) == ["pathreg_adjacency_other"]
    pathreg.tl.fit_dynamics(adata, lineage_key="lineages", key_added="second", seed=0, **{**QUICK, "n_seeds": 1})
    assert _lineage_keys(adata, "second") == ["second_adjacency_Mo", "second_adjacency_Ery"]


def test_an_interruption_while_writing_a_lineage_network_writes_nothing(adata, monkeypatch):
    before = snapshot(adata)
    varp_type = type(adata.varp)
    original = varp_type.__setitem__

    def interrupted(self, key, value):
        if key == "pathreg_adjacency_Ery":
            raise KeyboardInterrupt
        return original(self, key, value)

    monkeypatch.setattr(varp_type, "__setitem__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pathreg.tl.fit_dynamics(adata, lineage_key="lineages", seed=0, **{**QUICK, "n_seeds": 1})
    monkeypatch.undo()
    assert_unchanged(adata, before)


def test_lineage_names_are_made_h5ad_safe(adata, tmp_path):
    adata.obsm["paths"] = adata.obsm["lineages"].rename(columns={"Mo": "Mo/Neu"})
    pathreg.tl.fit_dynamics(adata, lineage_key="paths", seed=0, **{**QUICK, "n_seeds": 1})
    assert list(adata.uns["pathreg"]["lineage_adjacency"]["varp_keys"]) == [
        "pathreg_adjacency_Mo_Neu",
        "pathreg_adjacency_Ery",
    ]
    path = tmp_path / "slash.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(pathreg.tl.grn(back, lineage="Mo/Neu"), pathreg.tl.grn(adata, lineage="Mo/Neu"))


# --- tl.grn(lineage=...) ------------------------------------------------------------------------------------------


def test_grn_of_a_lineage_reads_that_lineages_network(fitted):
    adata, _ = fitted
    edges = pathreg.tl.grn(adata, lineage="Ery")
    whole = pathreg.tl.grn(adata)
    assert list(edges.columns) == list(whole.columns)
    network = adata.varp["pathreg_adjacency_Ery"]
    assert len(edges) == np.count_nonzero(network)
    assert edges["weight"].is_monotonic_decreasing
    genes = list(adata.var_names)
    for row in edges.head(5).itertuples():
        value = network[genes.index(row.target), genes.index(row.regulator)]
        assert row.weight == pytest.approx(abs(value))
        assert row.sign == np.sign(value)
    assert len(pathreg.tl.grn(adata, lineage="Ery", top_k=4)) == 4
    graph = pathreg.tl.to_networkx(adata, lineage="Mo", top_k=3)
    first = pathreg.tl.grn(adata, lineage="Mo").iloc[0]
    assert graph[first.regulator][first.target]["weight"] == pytest.approx(first.weight)


def test_an_unknown_lineage_lists_the_fits_lineages(fitted):
    adata, _ = fitted
    before = snapshot(adata)
    with pytest.raises(ValueError, match=r"no lineage 'Eryth'; its lineages are \['Mo', 'Ery'\]\. Close matches"):
        pathreg.tl.grn(adata, lineage="Eryth")
    with pytest.raises(ValueError, match=r"its lineages are \['Mo', 'Ery'\]\.$"):
        pathreg.tl.grn(adata, lineage="Neu")
    assert_unchanged(adata, before)


def test_a_removed_lineage_network_is_a_clear_error(fitted):
    adata = fitted[0].copy()
    del adata.varp["pathreg_adjacency_Mo"]
    with pytest.raises(ValueError, match=r"adata.varp has no 'pathreg_adjacency_Mo'.*Refit"):
        pathreg.tl.grn(adata, lineage="Mo")
    with pytest.raises(ValueError, match="fit_dynamics"):
        pathreg.tl.grn(adata, key="nothing", lineage="Mo")


def test_lineage_networks_survive_h5ad(fitted, tmp_path):
    adata, _ = fitted
    path = tmp_path / "lineages.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    for lineage in LINEAGE_NAMES:
        name = f"pathreg_adjacency_{lineage}"
        assert back.varp[name].dtype == np.float32
        np.testing.assert_array_equal(back.varp[name], adata.varp[name])
        pd.testing.assert_frame_equal(pathreg.tl.grn(back, lineage=lineage), pathreg.tl.grn(adata, lineage=lineage))
        pd.testing.assert_frame_equal(
            pathreg.tl.grn(back, lineage=lineage, format="decoupler"),
            pathreg.tl.grn(adata, lineage=lineage, format="decoupler"),
        )


def test_lineage_networks_follow_a_gene_subset(fitted):
    adata, _ = fitted
    genes = ["Gata1", "Pu.1", "Fli1", "EKLF", "Cebpa"]
    subset = adata[:, genes].copy()
    expected = pathreg.tl.grn(adata, lineage="Ery")
    expected = expected[expected["regulator"].isin(genes) & expected["target"].isin(genes)].reset_index(drop=True)
    pd.testing.assert_frame_equal(pathreg.tl.grn(subset, lineage="Ery"), expected)


# --- the decoupler-ready export -----------------------------------------------------------------------------------


def test_decoupler_format_is_a_signed_source_target_weight_table(fitted):
    adata, _ = fitted
    net = pathreg.tl.grn(adata, format="decoupler")
    assert list(net.columns) == ["source", "target", "weight"]
    assert net["weight"].dtype == np.float64
    assert (net["weight"] != 0).all()
    assert (net["source"] != net["target"]).all()
    assert net["weight"].abs().is_monotonic_decreasing
    assert set(net["source"]) <= set(adata.uns["pathreg"]["regulators"])
    assert list(net.index) == list(range(len(net)))
    # the same edges as the pathreg table without its self-loops, with the sign folded into the weight
    edges = pathreg.tl.grn(adata)
    edges = edges[edges["regulator"] != edges["target"]]
    expected = pd.DataFrame(
        {
            "source": edges["regulator"].to_numpy(),
            "target": edges["target"].to_numpy(),
            "weight": (edges["weight"] * edges["sign"]).to_numpy(),
        }
    )
    pd.testing.assert_frame_equal(net, expected)
    assert net.duplicated(["source", "target"]).sum() == 0


def test_decoupler_format_with_min_weight_top_k_and_lineage(fitted):
    adata, _ = fitted
    net = pathreg.tl.grn(adata, format="decoupler")
    threshold = float(net["weight"].abs().median())
    strong = pathreg.tl.grn(adata, format="decoupler", min_weight=threshold)
    assert (strong["weight"].abs() > threshold).all()
    pd.testing.assert_frame_equal(pathreg.tl.grn(adata, format="decoupler", top_k=5), net.head(5))
    lineage = pathreg.tl.grn(adata, format="decoupler", lineage="Mo")
    network = adata.varp["pathreg_adjacency_Mo"].copy()
    np.fill_diagonal(network, 0)
    assert len(lineage) == np.count_nonzero(network)


def test_an_unknown_format_is_a_clear_error(fitted):
    adata, _ = fitted
    with pytest.raises(ValueError, match=r"Unknown format 'decoupller'.*\['pathreg', 'decoupler'\].*Close matches"):
        pathreg.tl.grn(adata, format="decoupller")


def test_the_export_does_not_import_decoupler(fitted, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "decoupler", None)  # any import of decoupler now fails
    adata, _ = fitted
    assert len(pathreg.tl.grn(adata, format="decoupler")) > 0


def test_decoupler_ulm_scores_tf_activities_from_the_export(fitted):
    dc = pytest.importorskip("decoupler")
    adata = fitted[0].copy()
    net = pathreg.tl.grn(adata, format="decoupler", lineage="Ery")
    if hasattr(dc, "mt"):  # decoupler 2.x
        dc.mt.ulm(data=adata, net=net, tmin=1)
    else:  # decoupler 1.x
        dc.run_ulm(mat=adata, net=net, source="source", target="target", weight="weight", min_n=1, use_raw=False)
    scores = adata.obsm["score_ulm"]
    assert scores.shape[0] == adata.n_obs
    assert set(scores.columns) <= set(net["source"])
    assert len(scores.columns) > 0
    assert np.isfinite(np.asarray(scores, dtype=float)).all()
