import pytest
from tl_helpers import LINEAGES, QUICK

import pathreg


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
