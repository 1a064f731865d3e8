from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks import mocap
from pathreg.datasets import Motion

TINY_TRAINING = {
    "lr": 1e-2,
    "lr_schedule": "constant",
    "curriculum": (),
    "regime": "sparse",
    "n_epochs": 3,
    "refit_epochs": 1,
    "select": "last",
    "early_stopping": False,
}


def _shared_mocap() -> Path:
    root = os.environ.get("PATHREG_SHARED_DATA")
    base = Path(root) if root else Path(__file__).parents[3] / "shared" / "data"
    return base / "mocap" / "cmu-subject01-playground"


def _tiny_motion(n_frames: int = 40, n_joints: int = 3) -> Motion:
    """A root moving along x and joints circling it, at a 120 fps frame rate."""
    t = np.arange(n_frames) / 120.0
    joints = np.zeros((n_frames, n_joints, 3))
    joints[:, 0, 0] = 5.0 * t + 1.0  # root translation
    for j in range(1, n_joints):
        joints[:, j, 0] = joints[:, 0, 0] + np.cos(2 * np.pi * j * t)
        joints[:, j, 1] = 2.0 + np.sin(2 * np.pi * j * t)
        joints[:, j, 2] = 0.1 * j
    names = ["root", *(f"joint{j}" for j in range(1, n_joints))]
    return Motion(
        positions=joints.reshape(n_frames, -1),
        joint_names=names,
        skeleton=None,
        frames=np.arange(1, n_frames + 1),
    )


def test_joint_dependencies_takes_the_largest_entry_per_joint_pair():
    n_joints = 2
    adjacency = np.zeros((3 * n_joints, 6 * n_joints))
    adjacency[0, 4] = 0.5  # joint 0's x from joint 1's position y
    adjacency[2, 6 + 3] = -2.0  # joint 0's z from joint 1's velocity x (sign ignored)
    adjacency[4, 0] = 0.25  # joint 1's y from joint 0's position x
    adjacency[3, 6 + 5] = 1.5  # joint 1's x from its own velocity z
    adjacency[5, 2] = 0.1  # joint 1's z from joint 0's position z (smaller than 0.25)
    expected = np.array([[0.0, 2.0], [0.25, 1.5]])
    np.testing.assert_array_equal(mocap.joint_dependencies(adjacency, n_joints), expected)
    np.testing.assert_array_equal(mocap.joint_dependencies(torch.as_tensor(adjacency), n_joints), expected)
    with pytest.raises(ValueError, match="expected a"):
        mocap.joint_dependencies(adjacency[:, :6], n_joints)


def test_prepare_segment_subsamples_centres_and_standardises():
    motion = _tiny_motion()
    segment = mocap.prepare_segment(motion, start=2, step=3, n_train=6, n_extrapolation=4)
    assert segment.positions.shape == (10, 9)
    np.testing.assert_allclose(segment.times, np.arange(10) * 3 / 120.0)
    np.testing.assert_array_equal(segment.frames, motion.frames[2:30:3])
    assert segment.n_joints == 3
    assert segment.joint_names == motion.joint_names
    # the root is removed: its columns are zero with unit scale
    np.testing.assert_array_equal(segment.positions[:, :3], 0.0)
    np.testing.assert_array_equal(segment.scale[:3], 1.0)
    # the constant z of the other joints, too
    np.testing.assert_array_equal(segment.scale[[5, 8]], 1.0)
    # standardised over the training frames; undoing it gives the root-relative positions
    train = segment.positions[:6, [3, 4, 6, 7]]
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(train.std(axis=0), 1.0)
    raw = motion.positions[2:30:3].reshape(10, 3, 3)
    relative = (raw - raw[:, :1]).reshape(10, 9)
    np.testing.assert_allclose(segment.positions * segment.scale + segment.mean, relative, atol=1e-12)

    absolute = mocap.prepare_segment(motion, start=2, step=3, n_train=6, n_extrapolation=4, root_relative=False)
    assert absolute.scale[0] > 0.01
    assert absolute.positions[:, 0].std() > 0


def test_prepare_segment_rejects_a_too_short_motion():
    with pytest.raises(ValueError, match="frames"):
        mocap.prepare_segment(_tiny_motion(40), start=0, step=4, n_train=8, n_extrapolation=3)


def test_every_registered_method_has_settings():
    from pathreg.models import METHODS

    assert set(mocap.METHOD_SETTINGS) == set(METHODS)


def test_settings_are_read_only():
    with pytest.raises(TypeError):
        mocap.METHOD_SETTINGS["pathreg"]["regularizer"]["lambda_"] = 1.0
    with pytest.raises(TypeError):
        mocap.TRAINING["n_epochs"] = 1


def test_unknown_method_is_rejected():
    segment = mocap.prepare_segment(_tiny_motion(), start=0, step=1, n_train=5, n_extrapolation=5)
    with pytest.raises(ValueError, match="Unknown methods"):
        mocap.run(["pathreg", "magic"], [0], segment)


def test_summary_table_reports_mean_and_std_per_method():
    rows = [
        {"method": "pathreg", "seed": 0, "train_mse": 0.1, "extrapolation_mse": 2.0, "feature_sparsity": 0.5},
        {"method": "pathreg", "seed": 1, "train_mse": 0.3, "extrapolation_mse": 4.0, "feature_sparsity": 0.7},
        {"method": "none", "seed": 0, "train_mse": 0.2, "extrapolation_mse": 1.0, "feature_sparsity": 0.0},
    ]
    for row in rows:
        row.update(weight_sparsity=0.0, joint_sparsity=0.0, seconds=1.0)
    lines = mocap.summary_table(pd.DataFrame(rows, columns=list(mocap.COLUMNS))).splitlines()
    assert lines[0] == "| method | " + " | ".join(mocap.COLUMNS[2:]) + " |"
    assert lines[2].startswith("| pathreg | 0.2 ± 0.1 | 3 ± 1 | 0.600 ± 0.100 |")
    assert lines[3].startswith("| none |")


def test_run_on_a_tiny_motion(monkeypatch):
    monkeypatch.setattr(mocap, "TRAINING", TINY_TRAINING)
    monkeypatch.setattr(mocap, "ARCHITECTURE", {"hidden": (4,), "activation": "tanh", "bias": True})
    segment = mocap.prepare_segment(_tiny_motion(), start=0, step=2, n_train=10, n_extrapolation=10)
    results, fitted = mocap.run(["none", "pathreg", "grouplasso"], [0], segment)
    assert list(results.columns) == list(mocap.COLUMNS)
    assert list(results["method"]) == ["none", "pathreg", "grouplasso"]
    assert np.isfinite(results[["train_mse", "extrapolation_mse"]].to_numpy()).all()
    for (method, seed), arrays in fitted.items():
        assert seed == 0
        assert arrays["adjacency"].shape == (9, 18)
        assert arrays["prediction"].shape == (20, 9)
        row = results[results["method"] == method].iloc[0]
        joints = mocap.joint_dependencies(arrays["adjacency"], 3)
        assert row["joint_sparsity"] == pytest.approx(np.mean(joints < mocap.EPS))


def test_load_motion_needs_both_files_or_a_cmu_trial(tmp_path, monkeypatch, capsys):
    with pytest.raises(ValueError, match="both"):
        mocap.load_motion(asf="skeleton.asf")
    with pytest.raises(FileNotFoundError, match="no such file"):
        mocap.load_motion(tmp_path / "missing.asf", tmp_path / "missing.amc")

    def offline(subject: int, trial: int) -> Motion:
        raise OSError("no network")

    monkeypatch.setattr(mocap, "cmu_mocap", offline)
    with pytest.raises(FileNotFoundError, match="--asf and --amc"):
        mocap.load_motion()
    with pytest.raises(SystemExit) as exit_info:
        mocap.main(["--methods", "none", "--seeds", "0"])
    assert exit_info.value.code == 2
    assert "--asf and --amc" in capsys.readouterr().err


def test_main_on_the_shared_recording(tmp_path, monkeypatch, capsys):
    folder = _shared_mocap()
    if not (folder / "skeleton.asf").is_file() or not (folder / "motion.amc").is_file():
        pytest.skip(f"no CMU recording in {folder}")
    monkeypatch.setattr(mocap, "TRAINING", TINY_TRAINING)
    monkeypatch.setattr(mocap, "ARCHITECTURE", {"hidden": (8,), "activation": "tanh", "bias": True})
    output = tmp_path / "results"
    argv = ["--asf", str(folder / "skeleton.asf"), "--amc", str(folder / "motion.amc")]
    argv += ["--methods", "none", "pathreg", "--seeds", "0", "--jobs", "1", "--output", str(output)]
    assert mocap.main(argv) == 0
    results = pd.read_csv(output / "mocap.csv")
    assert list(results.columns) == list(mocap.COLUMNS)
    assert list(results["method"]) == ["none", "pathreg"]
    assert (output / "mocap_joint_dependencies.png").stat().st_size > 0
    assert (output / "mocap_trajectories.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert printed.startswith("| method | train_mse |")
    assert "predicting the training mean" in printed
