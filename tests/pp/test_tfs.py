from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from pathreg.datasets import krumsiek11
from pathreg.pp import annotate_tfs, tf_list

MOUSE_TFS_IN_KRUMSIEK11 = ["Gata2", "Gata1", "Fli1", "Cebpa", "Gfi1"]


@pytest.fixture
def adata() -> ad.AnnData:
    return krumsiek11()


def _snapshot(adata: ad.AnnData) -> tuple:
    return list(adata.var.columns), list(adata.uns), list(adata.obs.columns)


def test_tf_list():
    human = tf_list("human")
    assert len(human) == 1639
    assert len(set(human)) == 1639
    assert {"GATA1", "GATA2", "GFI1", "SPI1", "CEBPA", "ZZZ3"} <= set(human)
    mouse = tf_list("mouse")
    assert len(mouse) == len(set(mouse)) == 1860
    assert {"Gata1", "Gata2", "Gfi1", "Spi1", "Cebpa", "Klf1", "Tal1"} <= set(mouse)
    for symbols in (human, mouse):
        assert all(symbol and symbol == symbol.strip() and not symbol.startswith("#") for symbol in symbols)
    human.append("not a TF")  # a new list each call
    assert len(tf_list("human")) == 1639


def test_tf_list_unknown_species():
    with pytest.raises(ValueError, match=r"Unknown species 'zebrafish'.*\['human', 'mouse'\]"):
        tf_list("zebrafish")


def test_annotate_tfs_mouse(adata, caplog):
    with caplog.at_level(logging.INFO, logger="pathreg"):
        assert annotate_tfs(adata, species="mouse") is None
    assert adata.var["is_tf"].dtype == bool
    assert adata.var_names[adata.var["is_tf"]].tolist() == MOUSE_TFS_IN_KRUMSIEK11
    # aliases are not matched: Fog1 = Zfpm1, EKLF = Klf1, SCL = Tal1, Pu.1 = Spi1, cJun = Jun
    assert not adata.var.loc[["Fog1", "EKLF", "SCL", "Pu.1", "cJun", "EgrNab"], "is_tf"].any()
    assert adata.uns["is_tf"]["params"] == {"source": "mouse", "n_listed": 1860, "n_matched": 5}
    assert "5 of 11 genes" in caplog.text


def test_annotate_tfs_is_case_insensitive(adata):
    annotate_tfs(adata, species="human")  # human symbols are upper case, krumsiek11's are not
    assert adata.var_names[adata.var["is_tf"]].tolist() == MOUSE_TFS_IN_KRUMSIEK11
    upper = ad.AnnData(np.zeros((2, 3)), var=pd.DataFrame(index=["GATA1", "gfi1", "Actb"]))
    annotate_tfs(upper, species="mouse")
    assert upper.var["is_tf"].tolist() == [True, True, False]


def test_annotate_tfs_user_list(adata):
    annotate_tfs(adata, tfs=["pu.1", "EKLF", "NotAGene"], key_added="regulator")
    assert adata.var_names[adata.var["regulator"]].tolist() == ["EKLF", "Pu.1"]
    assert "is_tf" not in adata.var
    assert adata.uns["regulator"]["params"] == {"source": "user", "n_listed": 3, "n_matched": 2}


def test_annotate_tfs_no_match_warns(caplog):
    adata = ad.AnnData(np.zeros((2, 2)), var=pd.DataFrame(index=["ENSG00000102145", "ENSG00000179348"]))
    with caplog.at_level(logging.WARNING, logger="pathreg"):
        annotate_tfs(adata)
    assert not adata.var["is_tf"].any()
    assert "0 of 2 genes" in caplog.text


def test_annotate_tfs_copy(adata):
    before = _snapshot(adata)
    result = annotate_tfs(adata, species="mouse", copy=True)
    assert _snapshot(adata) == before
    assert result is not adata
    assert result.var["is_tf"].sum() == 5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"species": "fly"}, r"Unknown species 'fly'.*\['human', 'mouse'\].*tfs="),
        ({"tfs": "Gata1"}, r"not a single string; use tfs=\['Gata1'\]"),
        ({"tfs": []}, "tfs is empty"),
        ({"tfs": ["Gata1", 3]}, "must contain gene symbols"),
        ({"key_added": ""}, "key_added must be a non-empty string"),
    ],
)
def test_annotate_tfs_errors_leave_adata_unchanged(adata, kwargs, match):
    before = _snapshot(adata)
    with pytest.raises(ValueError, match=match):
        annotate_tfs(adata, **kwargs)
    assert _snapshot(adata) == before
