from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import pathreg.datasets._krumsiek11 as krumsiek11_module
from pathreg.datasets import krumsiek11, krumsiek11_network


@pytest.fixture(scope="module")
def adata() -> ad.AnnData:
    return krumsiek11()


def test_krumsiek11_layout(adata):
    assert adata.shape == (640, 11)
    assert adata.obs_names.is_unique
    assert adata.obs_names[:2].tolist() == ["0-0", "0-1"]
    assert adata.obs_names[-1] == "3-159"
    assert "highlights" not in adata.uns
    assert adata.uns["iroot"] == 0
    assert adata.obs["time_step"].dtype == np.int64
    np.testing.assert_array_equal(adata.obs["time_step"], np.tile(np.arange(160), 4))
    assert isinstance(adata.obs["realization"].dtype, pd.CategoricalDtype)
    np.testing.assert_array_equal(adata.obs["realization"].astype(int), np.arange(640) // 160)
    assert adata.obs["realization"].value_counts().to_dict() == {"0": 160, "1": 160, "2": 160, "3": 160}
    counts = adata.obs["cell_type"].value_counts().to_dict()
    assert counts == {"progenitor": 320, "Mo": 80, "Ery": 80, "Mk": 80, "Neu": 80}
    # each realization: 80 progenitor steps, then 80 steps of one fate
    fates = adata.obs.groupby("realization", observed=True)["cell_type"].agg(lambda types: types.iloc[-1]).tolist()
    assert fates == ["Mo", "Ery", "Mk", "Neu"]
    assert (adata.obs["cell_type"][adata.obs["time_step"] < 80] == "progenitor").all()


def test_krumsiek11_h5ad_round_trip(adata, tmp_path):
    path = tmp_path / "krumsiek11.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.X, adata.X)
    pd.testing.assert_frame_equal(back.obs, adata.obs)
    assert back.var_names.equals(adata.var_names)
    assert back.uns["iroot"] == 0


def test_krumsiek11_network():
    network = krumsiek11_network()
    assert network.columns.tolist() == ["regulator", "target", "weight", "sign", "self_loop"]
    assert len(network) == 30
    assert int((~network["self_loop"]).sum()) == 26
    assert sorted(network.loc[network["self_loop"], "regulator"]) == ["Cebpa", "Gata1", "Gata2", "Pu.1"]
    edge = network[(network["regulator"] == "Pu.1") & (network["target"] == "Gata2")]
    assert len(edge) == 1
    assert edge["weight"].item() == pytest.approx(-1.15)
    assert edge["sign"].item() == -1
    np.testing.assert_array_equal(network["sign"], np.sign(network["weight"]))
    assert not network.duplicated(["regulator", "target"]).any()
    genes = set(krumsiek11().var_names)
    assert set(network["regulator"]) | set(network["target"]) == genes


def test_krumsiek11_network_missing_file(monkeypatch, tmp_path):
    monkeypatch.setattr(krumsiek11_module, "_scanpy_sim_model_path", lambda: tmp_path / "krumsiek11.txt")
    with pytest.raises(FileNotFoundError, match="model file is missing"):
        krumsiek11_network()
    (tmp_path / "krumsiek11.txt").write_text("Gata2 = Gata2\n")
    with pytest.raises(ValueError, match="no line '# coupling list:'"):
        krumsiek11_network()
    (tmp_path / "krumsiek11.txt").write_text("# coupling list:\nGata2 Pu.1\n")
    with pytest.raises(ValueError, match="line 2: expected 'target regulator weight'"):
        krumsiek11_network()
