import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.linalg import expm
from tl_helpers import assert_unchanged, snapshot

import pathreg

GENERATOR = np.array([[-1.0, 0.0, 0.0, 0.0], [2.0, -1.0, 0.0, 0.0], [0.0, -1.5, -1.0, 0.0], [0.0, 0.0, 1.0, -1.0]])
TINY = {
    "time_key": "t",
    "time_scale": "pseudotime",
    "n_bins": 6,
    "hidden": (4,),
    "n_seeds": 1,
    "training": {"n_epochs": 150},
}
GRID = {"methods": ("none", "pathreg"), "lambdas": (None, 20.0), "seeds": (0, 1)}
METRICS = ["lineage_mse_all", "mean_lineage_mse", "feature_sparsity", "weight_sparsity"]


@pytest.fixture(scope="module")
def tiny():
    """120 cells of a 4-gene linear system along one lineage (one fit takes ~0.1 s)."""
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0, 2, 120))
    values = np.stack([expm(GENERATOR * t) @ np.array([1.0, 0.2, 0.5, 0.1]) for t in times])
    values += 0.01 * rng.normal(size=values.shape)
    obs = pd.DataFrame({"t": times}, index=[f"c{i}" for i in range(len(times))])
    adata = ad.AnnData(values.astype(np.float32), obs=obs)
    adata.var_names = ["g0", "g1", "g2", "g3"]
    adata.uns["keep"] = {"a": 1}
    return adata


@pytest.fixture(scope="module")
def local_sweep(tiny):
    """The grid fitted with the local backend: (adata, table)."""
    adata = tiny.copy()
    table = pathreg.tl.sweep(adata, **GRID, progress=False, fit_kwargs=TINY)
    return adata, table


def test_local_grid_rows_and_columns(local_sweep):
    adata, table = local_sweep
    # "none" ignores lambdas: once per seed; pathreg: 2 lambdas x 2 seeds
    assert len(table) == 2 + 4
    assert list(table.columns) == ["method", "lambda", "seed", *METRICS, "n_edges", "seconds", "device"]
    assert table["method"].tolist() == ["none"] * 2 + ["pathreg"] * 4
    assert table["seed"].tolist() == [0, 1, 0, 1, 0, 1]
    assert table["lambda"].isna().tolist() == [True, True, True, True, False, False]
    assert (table.loc[table["lambda"].notna(), "lambda"] == 20.0).all()
    assert (table["device"] == "cpu").all()
    assert (table["seconds"] > 0).all()
    adjacency = adata.uns["sweep"]["adjacency"]
    assert adjacency.shape == (6, 4, 4)
    assert adjacency.dtype == np.float32
    np.testing.assert_array_equal(table["n_edges"], np.count_nonzero(adjacency, axis=(1, 2)))
    assert table["n_edges"].iloc[-1] < table["n_edges"].iloc[0]  # a strong penalty prunes edges
    assert list(adata.uns["sweep"]["regulators"]) == list(adata.var_names)
    assert list(adata.uns["sweep"]["targets"]) == list(adata.var_names)


def test_fits_do_not_modify_the_input(tiny):
    adata = tiny.copy()
    before = snapshot(adata)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        pathreg.tl.sweep(adata, methods="none", seeds=0, progress=False, store_adjacency=False, fit_kwargs=TINY)
        assert torch.get_num_threads() == 2  # the fits' thread count is restored
    finally:
        torch.set_num_threads(threads)
    assert "adjacency" not in adata.uns["sweep"]
    del adata.uns["sweep"]
    assert_unchanged(adata, before)
    assert adata.uns["keep"] == {"a": 1}


def test_table_survives_h5ad(local_sweep, tmp_path):
    adata, table = local_sweep
    path = tmp_path / "sweep.h5ad"
    adata.write_h5ad(path)
    record = ad.read_h5ad(path).uns["sweep"]
    restored = pd.DataFrame({column: np.asarray(values) for column, values in record["table"].items()})
    pd.testing.assert_frame_equal(restored[table.columns], table, check_dtype=False)
    np.testing.assert_array_equal(record["adjacency"], adata.uns["sweep"]["adjacency"])


def test_same_seed_gives_the_same_fit(tiny):
    adata = tiny.copy()
    table = pathreg.tl.sweep(adata, methods=("pathreg",), seeds=(3, 3), progress=False, fit_kwargs=TINY)
    adjacency = adata.uns["sweep"]["adjacency"]
    np.testing.assert_array_equal(adjacency[0], adjacency[1])
    assert table.loc[0, METRICS].tolist() == table.loc[1, METRICS].tolist()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"methods": ("pathreg", "bogus")}, "valid names"),
        ({"backend": "dask"}, "valid names"),
        ({"lambdas": (-1.0,)}, "non-negative"),
        ({"device": "gpu"}, "Unknown device"),
        ({"fit_kwargs": {**TINY, "time_key": "missing"}}, "no column"),  # fails before the first fit
    ],
)
def test_errors_leave_adata_unchanged(tiny, arguments, message):
    adata = tiny.copy()
    before = snapshot(adata)
    with pytest.raises(ValueError, match=message):
        pathreg.tl.sweep(adata, progress=False, **{"fit_kwargs": TINY, **arguments})
    assert_unchanged(adata, before)


def test_reserved_fit_option(tiny):
    with pytest.raises(TypeError, match="seed"):
        pathreg.tl.sweep(tiny.copy(), progress=False, fit_kwargs={**TINY, "seed": 1})


def test_missing_ray_names_the_extra(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    adata = tiny.copy()
    before = snapshot(adata)
    with pytest.raises(ImportError, match=r'pip install "pathreg\[distributed\]"'):
        pathreg.tl.sweep(adata, backend="ray", progress=False, fit_kwargs=TINY)
    assert_unchanged(adata, before)


def test_ray_matches_local(local_sweep, tiny):
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()
    adata = tiny.copy()
    try:
        # every fit runs with one torch thread on both backends, so the results are bit-identical
        table = pathreg.tl.sweep(adata, **GRID, backend="ray", num_cpus=2, progress=False, fit_kwargs=TINY)
        assert not ray.is_initialized()  # this call started Ray, so it stopped it
    finally:
        if ray.is_initialized():
            ray.shutdown()
    local_adata, local_table = local_sweep
    columns = ["method", "lambda", "seed", *METRICS, "n_edges", "device"]
    pd.testing.assert_frame_equal(table[columns], local_table[columns])
    np.testing.assert_array_equal(adata.uns["sweep"]["adjacency"], local_adata.uns["sweep"]["adjacency"])


def test_ray_connection_of_the_caller_is_kept(tiny):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False)
    adata = tiny.copy()
    before = snapshot(adata)
    try:
        with pytest.raises(ValueError, match="no column"):  # a failing task fails the sweep
            pathreg.tl.sweep(adata, backend="ray", progress=False, fit_kwargs={**TINY, "time_key": "missing"})
        assert_unchanged(adata, before)
        table = pathreg.tl.sweep(adata, methods="none", backend="ray", progress=False, fit_kwargs=TINY)
        assert len(table) == 1
        assert ray.is_initialized()  # started by the caller: left running
    finally:
        ray.shutdown()


def test_fit_settings_refuse_an_option_the_caller_sets():
    with pytest.raises(TypeError, match=r"\['seed'\] are set by the caller"):
        pathreg.tl.FitSettings.from_options({"seed": 3, "n_seeds": 1}, seed=0)
    assert pathreg.tl.FitSettings.from_options({"n_seeds": 1}, seed=4).seed == 4
