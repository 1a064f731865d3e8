import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
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


@pytest.fixture(scope="module")
def lineage_adata():
    adata = pathreg.datasets.krumsiek11()
    pathreg.pp.pseudotime(adata, root_key="cell_type", root="progenitor")
    pathreg.pp.lineages(adata, {"Mo": ["progenitor", "Mo"], "Ery": ["progenitor", "Ery"]}, cell_type_key="cell_type")
    pathreg.tl.fit_dynamics(
        adata, lineage_key="lineages", n_bins=8, hidden=(8,), training={"n_epochs": 10}, n_seeds=1, progress=False
    )
    return adata


def _heatmap_values(ax):
    mesh = ax.collections[0]
    return np.asarray(mesh.get_array()).reshape(len(ax.get_yticklabels()), len(ax.get_xticklabels()))


def test_adjacency_of_a_lineage(lineage_adata):
    ax = pathreg.pl.adjacency(lineage_adata, lineage="Ery", show=False)
    assert "lineage Ery" in ax.get_title()
    genes = list(lineage_adata.var_names)
    assert [t.get_text() for t in ax.get_yticklabels()] == genes
    np.testing.assert_allclose(_heatmap_values(ax), lineage_adata.varp["pathreg_adjacency_Ery"], rtol=1e-6)
    plt.close(ax.figure)
    whole = pathreg.pl.adjacency(lineage_adata, show=False)
    assert "lineage" not in whole.get_title()
    np.testing.assert_allclose(_heatmap_values(whole), lineage_adata.varp["pathreg_adjacency"], rtol=1e-6)
    plt.close(whole.figure)
    figure = pathreg.pl.adjacency(lineage_adata, lineage="Mo", cluster=True, show=False)
    assert "lineage Mo" in figure.texts[0].get_text()
    plt.close(figure)


def test_adjacency_of_an_unknown_or_absent_lineage(lineage_adata, fitted_adata):
    with pytest.raises(ValueError, match=r"its lineages are \['Mo', 'Ery'\]"):
        pathreg.pl.adjacency(lineage_adata, lineage="Neu", show=False)
    with pytest.raises(ValueError, match="has one lineage"):
        pathreg.pl.adjacency(fitted_adata, lineage="Ery", show=False)
