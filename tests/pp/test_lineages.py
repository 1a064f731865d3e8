from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from pathreg.datasets import krumsiek11
from pathreg.pp import lineages

FATES = ["Mo", "Ery", "Mk", "Neu"]
PATHS = {fate: ["progenitor", fate] for fate in FATES}


@pytest.fixture
def adata() -> ad.AnnData:
    return krumsiek11()


def _snapshot(adata: ad.AnnData) -> tuple:
    return list(adata.obs.columns), list(adata.uns), list(adata.obsm)


def test_lineages_krumsiek11(adata):
    assert lineages(adata, PATHS, cell_type_key="cell_type") is None
    membership = adata.obsm["lineages"]
    assert isinstance(membership, pd.DataFrame)
    assert membership.columns.tolist() == FATES
    assert membership.index.equals(adata.obs_names)
    assert all(dtype == np.dtype(bool) for dtype in membership.dtypes)
    assert membership.sum().tolist() == [400, 400, 400, 400]
    cell_type = adata.obs["cell_type"]
    progenitor = (cell_type == "progenitor").to_numpy()
    assert membership[progenitor].all(axis=None)  # the shared root is in every lineage
    assert (membership[~progenitor].sum(axis=1) == 1).all()  # a fate cell in exactly its own lineage
    for fate in FATES:
        np.testing.assert_array_equal(membership[fate], progenitor | (cell_type == fate).to_numpy())
    assert adata.uns["lineages"] == {"paths": PATHS, "cell_type_key": "cell_type"}


def test_lineages_h5ad_round_trip(adata, tmp_path):
    lineages(adata, PATHS, cell_type_key="cell_type", key_added="fates")
    path = tmp_path / "lineages.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(back.obsm["fates"], adata.obsm["fates"])
    assert back.uns["fates"]["cell_type_key"] == "cell_type"
    paths = back.uns["fates"]["paths"]
    assert sorted(paths) == sorted(FATES)  # h5ad sorts dict keys; the lineage order is that of the obsm columns
    assert back.obsm["fates"].columns.tolist() == FATES
    assert {name: list(path) for name, path in paths.items()} == PATHS


def test_lineages_overlapping_paths_and_slashes_in_cell_types(tmp_path):
    types = ["HSC", "MK/E prog", "Proerythroblast", "Megakaryocyte", "Monocyte", "HSC"]
    adata = ad.AnnData(np.zeros((6, 1)), obs=pd.DataFrame({"type": types}, index=[f"c{i}" for i in range(6)]))
    paths = {
        "Ery": ["HSC", "MK/E prog", "Proerythroblast"],
        "Mk": ["HSC", "MK/E prog", "Megakaryocyte"],
        "Mono": ["HSC", "Monocyte"],
    }
    lineages(adata, paths, cell_type_key="type")
    membership = adata.obsm["lineages"]
    assert membership["Ery"].tolist() == [True, True, True, False, False, True]
    assert membership["Mk"].tolist() == [True, True, False, True, False, True]
    assert membership["Mono"].tolist() == [True, False, False, False, True, True]
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    assert list(back.uns["lineages"]["paths"]["Mk"]) == ["HSC", "MK/E prog", "Megakaryocyte"]
    pd.testing.assert_frame_equal(back.obsm["lineages"], membership)


def test_lineages_integer_cell_types():
    adata = ad.AnnData(np.zeros((4, 1)), obs=pd.DataFrame({"cluster": [0, 1, 2, 1]}, index=list("abcd")))
    lineages(adata, {"A": ["0", "1"]}, cell_type_key="cluster")
    assert adata.obsm["lineages"]["A"].tolist() == [True, True, False, True]


def test_lineages_copy(adata):
    before = _snapshot(adata)
    result = lineages(adata, PATHS, cell_type_key="cell_type", copy=True)
    assert _snapshot(adata) == before
    assert result.obsm["lineages"].sum().tolist() == [400, 400, 400, 400]


@pytest.mark.parametrize(
    ("paths", "kwargs", "match"),
    [
        (
            {"Ery": ["progenitor", "Eryth"], "Mk": ["progenitor", "MK"]},
            {},
            r"Unknown cell types in paths: 'Eryth' \(in 'Ery'\) Close matches: \['Ery'\]\.; "
            r"'MK' \(in 'Mk'\) Close matches: \['Mk'.*categories of adata.obs\['cell_type'\] are \['Ery', 'Mk'",
        ),
        ({"Ery": []}, {}, "Lineage 'Ery' is empty"),
        ({}, {}, "paths must be a non-empty mapping"),
        ({"Ery": "Ery"}, {}, r"must be a list of cell types, got 'Ery'; e.g. \['Ery'\]"),
        ({"Ery": ["progenitor", "Ery", "progenitor"]}, {}, "lists \\['progenitor'\\] more than once"),
        ({"MK/E": ["progenitor"]}, {}, "contains '/'.*'MK-E'"),
        (
            PATHS,
            {"cell_type_key": "celltype"},
            r"cell_type_key='celltype' is not a column.*Close matches: \['cell_type'\]",
        ),
    ],
)
def test_lineages_errors_leave_adata_unchanged(adata, paths, kwargs, match):
    before = _snapshot(adata)
    with pytest.raises(ValueError, match=match):
        lineages(adata, paths, **{"cell_type_key": "cell_type", **kwargs})
    assert _snapshot(adata) == before


def test_lineages_without_cells(adata):
    adata.obs["cell_type"] = adata.obs["cell_type"].cat.add_categories(["Baso"])
    with pytest.raises(ValueError, match="Lineage 'Baso' has no cells"):
        lineages(adata, {"Baso": ["Baso"]}, cell_type_key="cell_type")
    assert "lineages" not in adata.obsm
