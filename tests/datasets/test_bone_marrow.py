from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import pathreg.datasets._bone_marrow as bone_marrow_module
from pathreg.datasets._bone_marrow import bone_marrow

_GRN = "tf_targets_baseGRN_human_matrix.csv.gz"


def _shared_data() -> Path:
    base = os.environ.get("PATHREG_SHARED_DATA")
    root = Path(base) if base else Path(__file__).parents[3] / "shared" / "data"
    return root / "bone-marrow-trajectories"


@pytest.fixture(scope="module")
def data_dir() -> Path:
    path = _shared_data()
    if not (path / "trajectories").is_dir():
        pytest.skip(f"the bone marrow trajectories are not available at {path}")
    return path


@pytest.fixture(scope="module")
def adata(data_dir) -> ad.AnnData:
    return bone_marrow(data_dir)


@pytest.fixture
def small_copy(data_dir, tmp_path) -> Path:
    """A copy with two short trajectory files (the header and 5 cells each) and the real base GRN."""
    (tmp_path / "trajectories").mkdir()
    (tmp_path / "tf-targets").mkdir()
    for name in ("B_12_norm.csv", "mono_36_norm.csv"):
        lines = (data_dir / "trajectories" / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (tmp_path / "trajectories" / name).write_text("".join(lines[:6]), encoding="utf-8")
    shutil.copy(data_dir / "tf-targets" / _GRN, tmp_path / "tf-targets" / _GRN)
    return tmp_path


def _rewrite_line(file: Path, number: int, edit) -> None:
    lines = file.read_text(encoding="utf-8").split("\n")
    lines[number - 1] = edit(lines[number - 1])
    file.write_text("\n".join(lines), encoding="utf-8")


def test_bone_marrow_layout(adata):
    assert adata.n_vars == 529
    assert adata.X.dtype == np.float32
    assert adata.obs_names.is_unique
    assert adata.var_names.is_unique
    assert isinstance(adata.obs["batch"].dtype, pd.CategoricalDtype)
    assert isinstance(adata.obs["lineage"].dtype, pd.CategoricalDtype)
    assert set(adata.obs["batch"].cat.categories) == {"s1d2", "s2d1", "s2d4", "s3d6"}
    assert adata.obs["lineage"].cat.categories.tolist() == ["B", "eryth", "mono"]
    counts = adata.obs.groupby(["lineage", "batch"], observed=False).size()
    assert counts[("eryth", "s2d4")] == 0
    others = counts.drop(("eryth", "s2d4"))
    assert (others > 0).all()
    assert counts[("B", "s1d2")] == 198
    assert adata.n_obs == 6973
    assert adata.obs_names[0] == "B_s1d2_0"
    assert adata.uns["bone_marrow"]["batch_codes"] == {"12": "s1d2", "21": "s2d1", "24": "s2d4", "36": "s3d6"}
    assert "PathReg" in adata.uns["bone_marrow"]["source"]


def test_bone_marrow_values_match_file(adata, data_dir):
    table = pd.read_csv(data_dir / "trajectories" / "mono_21_norm.csv", sep="\t")
    assert adata.var_names.tolist() == table.columns[1:].tolist()
    cells = adata[(adata.obs["lineage"] == "mono") & (adata.obs["batch"] == "s2d1")]
    np.testing.assert_allclose(cells.X, table.iloc[:, 1:].to_numpy(), rtol=1e-6)
    np.testing.assert_array_equal(cells.obs["dpt_pseudotime"], table["dpt_pseudotime"])


def test_bone_marrow_pseudotime(adata):
    pseudotime = adata.obs["dpt_pseudotime"]
    assert pseudotime.dtype == np.float64
    assert np.isfinite(pseudotime).all()
    for _, group in adata.obs.groupby(["lineage", "batch"], observed=True):
        ordered = np.sort(group["dpt_pseudotime"].to_numpy())
        assert np.all(np.diff(ordered) >= 0)
        assert ordered[0] == pytest.approx(0.0, abs=1e-6)


def test_bone_marrow_base_grn(adata, data_dir):
    grn = pd.read_csv(data_dir / "tf-targets" / _GRN, index_col=0)
    tfs_in_genes = adata.var_names.isin(grn.index)
    is_tf = adata.var["is_tf"].to_numpy()
    assert is_tf.dtype == bool
    assert is_tf.sum() > 0
    np.testing.assert_array_equal(is_tf, tfs_in_genes)

    prior = adata.varp["base_grn"]
    assert prior.shape == (adata.n_vars, adata.n_vars)
    assert prior.dtype == bool
    assert prior.any()
    assert not prior[:, ~is_tf].any()  # columns (regulators) only at TFs
    genes = adata.var_names
    targets_in = genes.isin(grn.columns)
    expected = np.zeros_like(prior)
    sub = grn.loc[genes[is_tf], genes[targets_in]].to_numpy() != 0  # TFs x targets
    expected[np.ix_(targets_in, is_tf)] = sub.T
    np.testing.assert_array_equal(prior, expected)


def test_bone_marrow_h5ad_round_trip(adata, tmp_path):
    file = tmp_path / "bone_marrow.h5ad"
    adata.write_h5ad(file)
    back = ad.read_h5ad(file)
    assert back.shape == adata.shape
    np.testing.assert_array_equal(back.X, adata.X)
    pd.testing.assert_frame_equal(back.obs, adata.obs)
    np.testing.assert_array_equal(back.var["is_tf"], adata.var["is_tf"])
    np.testing.assert_array_equal(back.varp["base_grn"], adata.varp["base_grn"])
    assert back.uns["bone_marrow"]["batch_codes"] == adata.uns["bone_marrow"]["batch_codes"]


def test_bone_marrow_small_copy(small_copy):
    adata = bone_marrow(small_copy)
    assert adata.shape == (10, 529)
    assert adata.obs["batch"].cat.categories.tolist() == ["s1d2", "s3d6"]
    assert adata.obs_names.tolist()[:2] == ["B_s1d2_0", "B_s1d2_1"]
    # the trajectory folder itself also works, finding the tf-targets beside it
    assert bone_marrow(small_copy / "trajectories").shape == (10, 529)


def test_bone_marrow_unknown_code_kept(small_copy):
    (small_copy / "trajectories" / "mono_36_norm.csv").rename(small_copy / "trajectories" / "mono_99_norm.csv")
    adata = bone_marrow(small_copy)
    assert adata.obs["batch"].cat.categories.tolist() == ["s1d2", "99"]
    assert adata.uns["bone_marrow"]["batch_codes"]["99"] == "99"


@pytest.mark.parametrize(
    ("line", "edit", "message"),
    [
        (4, lambda line: line + "\t1.0", r"line 4: expected 530 tab-separated fields, got 531"),
        (3, lambda line: "\t".join(line.split("\t")[:100]), r"line 3: expected 530 tab-separated fields, got 100"),
        (5, lambda line: line.replace("\t", "\tabc\t", 1).rsplit("\t", 1)[0], r"line 5, column 2: 'abc'"),
        (2, lambda line: "\t" + line.split("\t", 1)[1], r"line 2, column 1: missing value"),
        (6, lambda line: "", r"line 6: expected 530 tab-separated fields, got 1"),
    ],
)
def test_bone_marrow_malformed_line(small_copy, line, edit, message):
    file = small_copy / "trajectories" / "mono_36_norm.csv"
    _rewrite_line(file, line, edit)
    with pytest.raises(ValueError, match=message) as info:
        bone_marrow(small_copy)
    assert str(file) in str(info.value)


def test_bone_marrow_malformed_header(small_copy):
    file = small_copy / "trajectories" / "B_12_norm.csv"
    _rewrite_line(file, 1, lambda line: line.replace("dpt_pseudotime", "time", 1))
    with pytest.raises(ValueError, match=r"B_12_norm\.csv, line 1: expected the header"):
        bone_marrow(small_copy)


def test_bone_marrow_empty_file(small_copy):
    file = small_copy / "trajectories" / "B_12_norm.csv"
    file.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match=r"B_12_norm\.csv, line 1: the file is empty"):
        bone_marrow(small_copy)


def test_bone_marrow_gene_mismatch(small_copy):
    file = small_copy / "trajectories" / "mono_36_norm.csv"
    _rewrite_line(file, 1, lambda line: line.replace("\tABCB6\t", "\tXYZ\t", 1))
    with pytest.raises(ValueError, match=r"mono_36_norm\.csv: its genes differ.*column 2 is 'XYZ'"):
        bone_marrow(small_copy)


def test_bone_marrow_missing_grn(small_copy):
    (small_copy / "tf-targets" / _GRN).unlink()
    with pytest.raises(FileNotFoundError, match="base GRN"):
        bone_marrow(small_copy)


def test_bone_marrow_malformed_grn(small_copy):
    file = small_copy / "tf-targets" / _GRN
    with gzip.open(file, "rt", encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    column = lines[0].split(",").index("ABCB6")  # one of the 529 genes, so it is read
    fields = lines[1].split(",")
    fields[column] = "x"
    lines[1] = ",".join(fields)
    with gzip.open(file, "wt", encoding="utf-8", compresslevel=1) as handle:
        handle.write("\n".join(lines))
    with pytest.raises(ValueError, match=_GRN.replace(".", r"\.")):
        bone_marrow(small_copy)


def test_bone_marrow_empty_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No trajectory files"):
        bone_marrow(tmp_path)
    (tmp_path / "trajectories").mkdir()
    (tmp_path / "trajectories" / "README.md").write_text("nothing here", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"No trajectory files"):
        bone_marrow(tmp_path)


def test_bone_marrow_missing_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        bone_marrow(tmp_path / "absent")


def test_bone_marrow_path_none_uses_cache_without_download(small_copy, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    shutil.copytree(small_copy, cache / "bone_marrow", ignore=shutil.ignore_patterns("cache"))
    monkeypatch.setenv("PATHREG_CACHE", str(cache))
    calls = []
    monkeypatch.setattr(bone_marrow_module, "_download", lambda root: calls.append(root))
    adata = bone_marrow()
    assert calls == [cache / "bone_marrow"]
    assert adata.shape == (10, 529)


def test_bone_marrow_path_given_never_downloads(small_copy, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("downloaded although a path was given")

    monkeypatch.setattr(bone_marrow_module, "_download", fail)
    monkeypatch.setattr(bone_marrow_module.urllib.request, "urlopen", fail)
    assert bone_marrow(small_copy).n_obs == 10


def test_bone_marrow_download_failure_message(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(bone_marrow_module.urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match=r"path="):
        bone_marrow_module._download(tmp_path)
    assert not list(tmp_path.rglob("*.part"))
