from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from pathreg.datasets import read_ode2vae_mat


def _splits(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "Xtr": rng.normal(size=(4, 7, 5)),
        "Xval": rng.normal(size=(2, 7, 5)).astype(np.float32),
        "Xtest": rng.normal(size=(3, 9, 5)),
    }


@pytest.mark.parametrize("keys", [("Xtr", "Xval", "Xtest"), ("Xtr", "Xval"), ("Xtest",)])
def test_read_splits(tmp_path, keys):
    splits = _splits()
    path = tmp_path / "mocap.mat"
    scipy.io.savemat(path, {"notes": "ignored", "Xmean": np.zeros(5), **{key: splits[key] for key in keys}})
    read = read_ode2vae_mat(path)
    assert list(read) == list(keys)
    for key in keys:
        assert read[key].dtype == np.float64
        assert read[key].flags.c_contiguous
        np.testing.assert_array_equal(read[key], splits[key].astype(np.float64))


def test_single_sequence_stays_3d(tmp_path):
    path = tmp_path / "one.mat"
    scipy.io.savemat(path, {"Xtr": np.arange(12.0).reshape(1, 4, 3)})
    assert read_ode2vae_mat(path)["Xtr"].shape == (1, 4, 3)


def test_not_a_matlab_file(tmp_path):
    path = tmp_path / "text.mat"
    path.write_text("Xtr = [1, 2, 3]\n" * 20)
    with pytest.raises(ValueError, match=r"text\.mat: not a MATLAB \.mat file"):
        read_ode2vae_mat(path)
    empty = tmp_path / "empty.mat"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.mat: not a MATLAB \.mat file"):
        read_ode2vae_mat(empty)


def test_matlab_v73_is_named(tmp_path):
    path = tmp_path / "hdf5.mat"
    # the header of a MATLAB v7.3 file: 116 bytes of text, 8 of subsystem offset, version 0x0200, endian "IM"
    path.write_bytes(b"MATLAB 7.3 MAT-file".ljust(116) + bytes(8) + b"\x00\x02IM" + bytes(64))
    with pytest.raises(ValueError, match=r"hdf5\.mat: a MATLAB v7\.3 \(HDF5\) file"):
        read_ode2vae_mat(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_ode2vae_mat(tmp_path / "absent.mat")


def test_no_split_lists_the_variables(tmp_path):
    path = tmp_path / "other.mat"
    scipy.io.savemat(path, {"train": np.zeros((2, 3, 4)), "Y": np.zeros(3)})
    with pytest.raises(ValueError, match=r"other\.mat: none of Xtr, Xval, Xtest in the file; it holds Y, train$"):
        read_ode2vae_mat(path)


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        ({"Xtr": np.zeros((4, 7))}, r"Xtr has shape \(4, 7\), expected 3 dimensions"),
        ({"Xtr": np.zeros((4, 7, 5)), "Xval": np.zeros((2, 7, 5, 1))}, r"Xval has shape \(2, 7, 5, 1\)"),
        ({"Xtr": "walking"}, r"Xtr must be a real numeric array, got <U7"),
        ({"Xtr": np.zeros((4, 7, 5), dtype=complex)}, r"Xtr must be a real numeric array, got complex128"),
        (
            {"Xtr": np.zeros((4, 7, 5)), "Xtest": np.zeros((2, 7, 6))},
            r"the splits have different numbers of features \(the last dimension\): Xtr \(4, 7, 5\), Xtest \(2, 7, 6\)",
        ),
    ],
)
def test_malformed_names_the_file(tmp_path, contents, message):
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, contents)
    with pytest.raises(ValueError, match=rf"bad\.mat: {message}"):
        read_ode2vae_mat(path)


def test_real_ode2vae_mocap35(shared_data):
    path = shared_data / "mocap" / "cmu-subject35-walk-ode2vae" / "mocap35_train_val.mat"
    if not path.is_file():
        pytest.skip(f"no ODE2VAE data at {path}")
    splits = read_ode2vae_mat(path)
    assert list(splits) == ["Xtr", "Xval"]
    assert splits["Xtr"].shape == (16, 300, 50)
    assert splits["Xval"].shape == (3, 300, 50)
    for value in splits.values():
        assert value.dtype == np.float64
        assert np.isfinite(value).all()
    # centred joint-angle channels, standard deviation about 5.8
    assert np.abs(splits["Xtr"].mean(axis=(0, 1))).max() < 1.0
    assert 4 < splits["Xtr"].std() < 8
