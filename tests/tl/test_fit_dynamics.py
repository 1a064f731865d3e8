import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from tl_helpers import QUICK, assert_unchanged, snapshot

import pathreg


def test_contract_of_written_results(fitted):
    adata, model = fitted
    adjacency = adata.varp["pathreg_adjacency"]
    assert adjacency.dtype == np.float32
    assert adjacency.shape == (adata.n_vars, adata.n_vars)
    assert np.isfinite(adjacency).all()
    assert np.abs(adjacency).sum() > 0
    prediction = adata.layers["pathreg_prediction"]
    assert prediction.dtype == np.float32
    assert prediction.shape == adata.shape
    in_lineage = adata.obsm["lineages"].to_numpy().any(axis=1)
    assert np.isfinite(prediction[in_lineage]).all()
    assert np.isnan(prediction[~in_lineage]).all()  # Mk and Neu cells belong to no fitted lineage
    record = adata.uns["pathreg"]
    assert set(record) >= {"params", "history", "metrics", "regulators", "targets", "lineages"}
    assert set(record["metrics"]["lineage_mse"]) == {"Mo", "Ery"}
    assert len(record["history"]["loss"]) == QUICK["training"]["n_epochs"]
    rows = adata.var_names.get_indexer(list(record["targets"]))
    columns = adata.var_names.get_indexer(list(record["regulators"]))
    block = np.asarray(adjacency)[np.ix_(rows, columns)]
    distinct = adata.var_names[rows].to_numpy()[:, None] != adata.var_names[columns].to_numpy()[None, :]
    assert np.all(block[~distinct] == 0)  # a gene's own level is kept out of its production
    assert record["metrics"]["feature_sparsity"] == pytest.approx(float(np.mean(block[distinct] == 0)))
    assert record["params"]["method"] == "pathreg"
    assert model.metadata["state_genes"] == sorted(adata.var_names)  # fitted in name order


def test_adjacency_is_zero_exactly_where_paths_are_pruned(fitted):
    adata, model = fitted
    support = model.support()  # state genes x regulators: a path in some member
    assert support.shape == (11, 11)
    rows = adata.var_names.get_indexer(model.state_genes)
    columns = adata.var_names.get_indexer(model.regulators)
    adjacency = adata.varp["pathreg_adjacency"][np.ix_(rows, columns)]
    assert np.all(adjacency[~support] == 0)
    assert np.all(adjacency[support] != 0)


def test_prediction_starts_from_the_first_bin(fitted):
    adata, _ = fitted
    lineage = adata.obsm["lineages"]["Mo"].to_numpy()
    time = adata.obs["dpt_pseudotime"].to_numpy()
    cells = np.flatnonzero(lineage)[np.argsort(time[lineage], kind="stable")]
    first_bin = cells[: len(cells) // QUICK["n_bins"]]
    earliest = cells[0]  # before the first bin's mean time: the prediction is clipped to the initial state
    np.testing.assert_allclose(
        adata.layers["pathreg_prediction"][earliest], adata.X[first_bin].mean(axis=0), rtol=1e-4, atol=1e-5
    )


def test_h5ad_round_trip(fitted, tmp_path):
    adata, _ = fitted
    path = tmp_path / "fit.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.varp["pathreg_adjacency"], adata.varp["pathreg_adjacency"])
    np.testing.assert_array_equal(back.layers["pathreg_prediction"], adata.layers["pathreg_prediction"])
    np.testing.assert_allclose(back.uns["pathreg"]["history"]["loss"], adata.uns["pathreg"]["history"]["loss"])
    assert back.uns["pathreg"]["params"]["method"] == "pathreg"
    assert list(back.uns["pathreg"]["regulators"]) == list(adata.uns["pathreg"]["regulators"])


def test_same_seed_same_result(adata):
    first = adata.copy()
    pathreg.tl.fit_dynamics(first, lineage_key="lineages", seed=3, **QUICK)
    pathreg.tl.fit_dynamics(adata, lineage_key="lineages", seed=3, **QUICK)
    np.testing.assert_array_equal(first.varp["pathreg_adjacency"], adata.varp["pathreg_adjacency"])


def test_copy_leaves_input_unchanged(adata):
    before = snapshot(adata)
    model, result = pathreg.tl.fit_dynamics(adata, lineage_key="lineages", copy=True, **QUICK)
    assert_unchanged(adata, before)
    assert "pathreg_adjacency" in result.varp
    assert "pathreg_adjacency" not in adata.varp
    assert isinstance(model, pathreg.models.Ensemble)


def test_sparse_expression_gives_the_dense_result(adata):
    dense = adata.copy()
    adata.X = sparse.csr_matrix(adata.X)
    pathreg.tl.fit_dynamics(adata, lineage_key="lineages", seed=1, **QUICK)
    pathreg.tl.fit_dynamics(dense, lineage_key="lineages", seed=1, **QUICK)
    np.testing.assert_allclose(adata.varp["pathreg_adjacency"], dense.varp["pathreg_adjacency"], rtol=1e-5, atol=1e-6)


def test_regulators_column_zeroes_other_columns(adata):
    pathreg.tl.fit_dynamics(adata, lineage_key="lineages", regulators="is_tf", **QUICK)
    adjacency = adata.varp["pathreg_adjacency"]
    non_regulators = ~adata.var["is_tf"].to_numpy()
    assert np.all(adjacency[:, non_regulators] == 0)
    assert np.abs(adjacency[:, ~non_regulators]).sum() > 0
    assert list(adata.uns["pathreg"]["regulators"]) == sorted(adata.var_names[~non_regulators])


def test_targets_restrict_rows(adata):
    targets = ["Gata1", "Fog1", "EKLF"]
    pathreg.tl.fit_dynamics(adata, lineage_key="lineages", regulators="is_tf", targets=targets, **QUICK)
    adjacency = adata.varp["pathreg_adjacency"]
    other_rows = ~adata.var_names.isin(targets)
    assert np.all(adjacency[other_rows] == 0)
    prediction = adata.layers["pathreg_prediction"]
    modelled = adata.var_names.isin(targets) | adata.var["is_tf"].to_numpy()
    assert np.isnan(prediction[:, ~modelled]).all()


def test_prior_forbids_edges(adata):
    genes = adata.var_names
    allowed = pd.DataFrame(False, index=genes, columns=genes)
    allowed.loc["Gata1", ["Gata2", "Fli1", "Pu.1"]] = True
    allowed.loc["Pu.1", ["Cebpa", "Gata1"]] = True
    allowed.loc["Fog1", "Gata1"] = True
    pathreg.tl.fit_dynamics(adata, lineage_key="lineages", prior=allowed, **QUICK)
    adjacency = adata.varp["pathreg_adjacency"]
    assert np.all(adjacency[~allowed.to_numpy()] == 0)
    assert np.count_nonzero(adjacency) > 0


def test_prior_from_varp_key(adata):
    mask = np.zeros((adata.n_vars, adata.n_vars), dtype=bool)
    mask[1, [0, 4]] = True
    adata.varp["prior"] = mask
    pathreg.tl.fit_dynamics(adata, lineage_key="lineages", prior="prior", **QUICK)
    assert np.all(adata.varp["pathreg_adjacency"][~mask] == 0)


def test_every_method_writes_a_network(adata):
    for method in pathreg.models.METHODS:
        pathreg.tl.fit_dynamics(
            adata, method=method, lineage_key="lineages", key_added=method, **{**QUICK, "training": {"n_epochs": 5}}
        )
        assert np.isfinite(adata.varp[f"{method}_adjacency"]).all()
        assert adata.uns[method]["params"]["method"] == method


def test_missing_time_key_is_a_clear_error_and_changes_nothing(adata):
    before = snapshot(adata)
    with pytest.raises(ValueError, match=r"pseudotim.*pathreg\.pp\.pseudotime"):
        pathreg.tl.fit_dynamics(adata, time_key="pseudotim", **QUICK)
    assert_unchanged(adata, before)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "lasso"}, "valid names"),
        ({"lineage_key": "lineage"}, "pathreg.pp.lineages"),
        ({"regulators": "is_tfs"}, "is_tf"),
        ({"regulators": ["NOTAGENE"]}, "overlap 0"),
        ({"layer": "counts"}, "layers"),
        ({"prior": "missing_prior"}, "varp"),
        ({"n_bins": 500}, "needs at least"),
        ({"device": "tpu"}, "tpu"),
    ],
)
def test_bad_input_errors_leave_adata_unchanged(adata, options, message):
    before = snapshot(adata)
    with pytest.raises(ValueError, match=message):
        pathreg.tl.fit_dynamics(adata, **{**QUICK, "lineage_key": "lineages", **options})
    assert_unchanged(adata, before)


def test_nan_expression_is_reported(adata):
    adata.X[3, 2] = np.nan
    with pytest.raises(ValueError, match="1 NaN"):
        pathreg.tl.fit_dynamics(adata, lineage_key="lineages", **QUICK)


def test_mudata_round_trip(krumsiek_prepared, tmp_path):
    mudata = pytest.importorskip("mudata")
    mdata = mudata.MuData({"rna": krumsiek_prepared.copy()})
    pathreg.tl.fit_dynamics(mdata, mod="rna", lineage_key="lineages", **QUICK)
    path = tmp_path / "fit.h5mu"
    mdata.write_h5mu(path)
    back = mudata.read_h5mu(path)
    np.testing.assert_array_equal(back["rna"].varp["pathreg_adjacency"], mdata["rna"].varp["pathreg_adjacency"])
    with pytest.raises(ValueError, match="modalities"):
        pathreg.tl.fit_dynamics(mdata, mod="atac", **QUICK)


def test_model_save_load_predicts_the_same(fitted, tmp_path):
    adata, model = fitted
    path = tmp_path / "model.pt"
    model.save(path)
    loaded = pathreg.models.load(path)
    assert loaded.metadata == model.metadata
    x0 = adata.X[0]
    times = np.linspace(0, 1, 5)
    np.testing.assert_array_equal(loaded.simulate(x0, times), model.simulate(x0, times))
