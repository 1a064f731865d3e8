import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

import pathreg


@pytest.fixture(scope="module")
def fitted_adata():
    adata = pathreg.datasets.krumsiek11()
    pathreg.pp.pseudotime(adata, root_key="cell_type", root="progenitor")
    pathreg.tl.fit_dynamics(adata, n_bins=8, hidden=(8,), training={"n_epochs": 10}, progress=False)
    return adata


def test_adjacency_heatmap(fitted_adata):
    ax = pathreg.pl.adjacency(fitted_adata, show=False)
    assert ax.get_xlabel() == "regulator"
    assert len(ax.get_xticklabels()) == fitted_adata.n_vars
    plt.close(ax.figure)


def test_adjacency_subset_unsigned_and_clustered(fitted_adata):
    ax = pathreg.pl.adjacency(fitted_adata, regulators=["Gata1", "Pu.1"], signed=False, show=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Gata1", "Pu.1"]
    plt.close(ax.figure)
    figure = pathreg.pl.adjacency(fitted_adata, cluster=True, show=False)
    assert isinstance(figure, plt.Figure)
    plt.close(figure)
