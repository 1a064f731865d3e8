import numpy as np
import pytest

import pathreg

LINEAGES = {"Mo": ["progenitor", "Mo"], "Ery": ["progenitor", "Ery"]}
QUICK = {"n_bins": 8, "hidden": (8,), "n_epochs": 40, "progress": False}


@pytest.fixture(scope="session")
def krumsiek_prepared():
    """krumsiek11 with pseudotime, two lineages and TF annotation (computed once)."""
    adata = pathreg.datasets.krumsiek11()
    pathreg.pp.pseudotime(adata, root_key="cell_type", root="progenitor")
    pathreg.pp.lineages(adata, LINEAGES, cell_type_key="cell_type")
    adata.var["is_tf"] = adata.var_names.isin(["Gata2", "Gata1", "Pu.1", "Cebpa", "Fli1"])
    return adata


@pytest.fixture
def adata(krumsiek_prepared):
    return krumsiek_prepared.copy()


@pytest.fixture(scope="session")
def fitted(krumsiek_prepared):
    """One quick fit shared by the contract tests: (adata, model)."""
    adata = krumsiek_prepared.copy()
    model = pathreg.tl.fit_dynamics(adata, lineage_key="lineages", seed=0, **QUICK)
    return adata, model


def snapshot(adata):
    """Everything a failed call must leave unchanged."""
    return {
        "X": np.array(adata.X, copy=True),
        "obs": adata.obs.copy(),
        "var": adata.var.copy(),
        "uns": sorted(adata.uns.keys()),
        "varp": sorted(adata.varp.keys()),
        "layers": sorted(adata.layers.keys()),
        "obsm": sorted(adata.obsm.keys()),
    }


def assert_unchanged(adata, before):
    after = snapshot(adata)
    np.testing.assert_array_equal(after["X"], before["X"])
    assert after["obs"].equals(before["obs"])
    assert after["var"].equals(before["var"])
    for key in ("uns", "varp", "layers", "obsm"):
        assert after[key] == before[key], key
