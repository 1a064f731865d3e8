from __future__ import annotations

import numpy as np
import pytest

import pathreg

FATES = ["Mo", "Ery", "Mk", "Neu"]  # realizations 0, 1, 2, 3 of krumsiek11


@pytest.fixture(scope="module")
def prepared():
    adata = pathreg.datasets.krumsiek11()
    pathreg.pp.pseudotime(adata, root_key="cell_type", root="progenitor")
    pathreg.pp.lineages(adata, {fate: ["progenitor", fate] for fate in FATES}, cell_type_key="cell_type")
    return adata


def test_committed_progenitors_follow_their_realization(prepared):
    adata = pathreg.pp.fate_lineages(prepared, copy=True)
    membership = adata.obsm["lineages"]
    realization = adata.obs["realization"].astype(int).to_numpy()
    progenitor = (adata.obs["cell_type"] == "progenitor").to_numpy()
    late = progenitor & (adata.obs["time_step"].to_numpy() >= 60)
    for index, fate in enumerate(FATES):
        kept = membership[fate].to_numpy() & late
        assert kept.any()
        # vs 0.25 without fate restriction; Ery and Mk share the megakaryocyte-erythroid branch
        assert np.mean(realization[kept] == index) > 0.5
    early = progenitor & (adata.obs["time_step"].to_numpy() < 5)
    lineages_per_cell = membership.to_numpy().sum(axis=1)
    assert lineages_per_cell[early].mean() >= 2.5  # uncommitted cells stay shared (4 lineages at most)
    assert lineages_per_cell[late].mean() < 1.75  # committed ones mostly in one
    fate_cells = ~progenitor
    np.testing.assert_array_equal(membership[fate_cells].to_numpy(), prepared.obsm["lineages"][fate_cells].to_numpy())
    probabilities = adata.obsm["fate_probabilities"].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert adata.uns["lineages"]["fate_params"]["ratio"] == 0.5


def test_copy_and_errors_leave_input_unchanged(prepared):
    before = prepared.obsm["lineages"].copy()
    pathreg.pp.fate_lineages(prepared, copy=True)
    assert prepared.obsm["lineages"].equals(before)
    assert "fate_probabilities" not in prepared.obsm
    with pytest.raises(ValueError, match="pathreg.pp.lineages"):
        pathreg.pp.fate_lineages(prepared, key="nothing")
    with pytest.raises(ValueError, match="ratio"):
        pathreg.pp.fate_lineages(prepared, ratio=0)
    assert prepared.obsm["lineages"].equals(before)


def test_h5ad_round_trip(prepared, tmp_path):
    adata = pathreg.pp.fate_lineages(prepared, copy=True)
    adata.write_h5ad(tmp_path / "fates.h5ad")
    import anndata as ad

    back = ad.read_h5ad(tmp_path / "fates.h5ad")
    assert back.obsm["lineages"].equals(adata.obsm["lineages"])
