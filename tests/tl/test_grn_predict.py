import numpy as np
import pandas as pd
import pytest
from tl_helpers import QUICK

import pathreg


def test_grn_lists_the_nonzero_edges_strongest_first(fitted):
    adata, _ = fitted
    edges = pathreg.tl.grn(adata)
    assert list(edges.columns) == ["regulator", "target", "weight", "sign"]
    assert len(edges) == np.count_nonzero(adata.varp["pathreg_adjacency"])
    assert edges["weight"].is_monotonic_decreasing
    assert (edges["weight"] > 0).all()
    top = edges.iloc[0]
    index = list(adata.var_names)
    value = adata.varp["pathreg_adjacency"][index.index(top.target), index.index(top.regulator)]
    assert top.weight == pytest.approx(abs(value))
    assert top.sign == np.sign(value)
    assert len(pathreg.tl.grn(adata, top_k=3)) == 3
    threshold = float(edges["weight"].median())
    assert (pathreg.tl.grn(adata, min_weight=threshold)["weight"] > threshold).all()


def test_to_networkx(fitted):
    adata, _ = fitted
    graph = pathreg.tl.to_networkx(adata, top_k=5)
    edges = pathreg.tl.grn(adata, top_k=5)
    assert graph.number_of_edges() == 5
    first = edges.iloc[0]
    assert graph[first.regulator][first.target]["weight"] == pytest.approx(first.weight)


def test_grn_without_a_fit_is_a_clear_error(adata):
    with pytest.raises(ValueError, match="fit_dynamics"):
        pathreg.tl.grn(adata, key="nothing")


@pytest.fixture(scope="module")
def second_simulation(tmp_path_factory, krumsiek_prepared):
    """A new simulation of the same network (scanpy writes its files to ./write)."""
    import os

    import scanpy as sc

    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("sim"))
    try:
        other = sc.tl.sim("krumsiek11", seed=7)
    finally:
        os.chdir(cwd)
    other.var_names = krumsiek_prepared.var_names
    other.obs_names = [f"sim-{i}" for i in range(other.n_obs)]
    other.obs["realization"] = pd.Categorical([str(i // 160) for i in range(other.n_obs)])
    pathreg.pp.pseudotime(other, root=0)
    return other


def test_predict_on_a_second_simulation(krumsiek_prepared, second_simulation):
    train = krumsiek_prepared.copy()
    train.obs["realization"] = pd.Categorical([str(i // 160) for i in range(train.n_obs)])
    options = {**QUICK, "training": {"n_epochs": 150}}
    trained = pathreg.tl.fit_dynamics(train, lineage_key="realization", **options)
    untrained = pathreg.tl.fit_dynamics(
        train.copy(), lineage_key="realization", **{**options, "training": {"n_epochs": 1}}
    )
    other = second_simulation.copy()
    errors = pathreg.tl.predict(other, trained, lineage_key="realization")
    baseline = pathreg.tl.predict(other.copy(), untrained, lineage_key="realization")
    assert list(errors.index) == ["0", "1", "2", "3"]
    assert np.isfinite(errors).all()
    assert errors.mean() < baseline.mean()
    assert other.layers["pathreg_prediction"].shape == other.shape
    assert set(other.uns["pathreg"]["test_metrics"]["lineage_mse"]) == {"0", "1", "2", "3"}


def test_predict_needs_the_model_genes(fitted, second_simulation):
    _, model = fitted
    other = second_simulation[:, :5].copy()
    with pytest.raises(ValueError, match="not in var_names"):
        pathreg.tl.predict(other, model)


def test_large_fits_store_their_networks_sparse_with_the_same_entries(adata, tmp_path, monkeypatch):
    # above SPARSE_ADJACENCY_GENES genes the networks are CSR; lowered here so that krumsiek11 counts as large
    import anndata as ad
    from scipy import sparse

    import pathreg.tl._ensemble_fit as ensemble_fit

    dense = adata.copy()
    pathreg.tl.fit_dynamics(dense, lineage_key="lineages", regulators="is_tf", seed=0, **QUICK)
    monkeypatch.setattr(ensemble_fit, "SPARSE_ADJACENCY_GENES", 5)
    pathreg.tl.fit_dynamics(adata, lineage_key="lineages", regulators="is_tf", seed=0, **QUICK)
    lineage_keys = [str(key) for key in adata.uns["pathreg"]["lineage_adjacency"]["varp_keys"]]
    assert lineage_keys
    for key in ["pathreg_adjacency", *lineage_keys]:
        stored = adata.varp[key]
        assert sparse.issparse(stored)
        assert stored.format == "csr"
        assert stored.dtype == np.float32
        np.testing.assert_array_equal(stored.toarray(), dense.varp[key])
        assert stored.nnz == np.count_nonzero(dense.varp[key])  # no explicit zeros stored
    pd.testing.assert_frame_equal(pathreg.tl.grn(adata), pathreg.tl.grn(dense))
    path = tmp_path / "sparse.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert sparse.issparse(back.varp["pathreg_adjacency"])
    pd.testing.assert_frame_equal(pathreg.tl.grn(back), pathreg.tl.grn(dense))


def test_prediction_false_writes_no_layer_and_removes_an_earlier_one(adata):
    import matplotlib

    matplotlib.use("Agg")
    pathreg.tl.fit_dynamics(adata, lineage_key="lineages", seed=0, **QUICK)
    assert "pathreg_prediction" in adata.layers
    network = adata.varp["pathreg_adjacency"].copy()
    ensemble = pathreg.tl.fit_dynamics(adata, lineage_key="lineages", seed=0, prediction=False, **QUICK)
    assert "pathreg_prediction" not in adata.layers  # not a stale layer of the earlier fit
    assert adata.uns["pathreg"]["params"]["prediction"] is False
    np.testing.assert_array_equal(adata.varp["pathreg_adjacency"], network)  # the same fit otherwise
    with pytest.raises(ValueError, match="prediction=False"):
        pathreg.pl.trajectories(adata, "Gata1", show=False)
    pathreg.tl.predict(adata, ensemble, lineage_key="lineages")
    assert "pathreg_prediction" in adata.layers
    pathreg.pl.trajectories(adata, "Gata1", show=False)


@pytest.mark.parametrize("prediction", ["no", float("nan"), None, 0])
def test_prediction_must_be_a_bool_and_nothing_is_fitted_otherwise(adata, prediction):
    before = set(adata.layers) | set(adata.varp) | set(adata.uns)
    with pytest.raises(TypeError, match="prediction must be True or False"):
        pathreg.tl.fit_dynamics(adata, lineage_key="lineages", prediction=prediction, **QUICK)
    assert set(adata.layers) | set(adata.varp) | set(adata.uns) == before
