from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks import mocap, mocap_ode2vae
from benchmarks.mocap import _recordings
from pathreg.datasets import Motion
from pathreg.models import EPS

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
        assert row["joint_sparsity"] == pytest.approx(np.mean(joints < EPS))


def test_load_motion_needs_both_files_or_a_cmu_trial(tmp_path, monkeypatch, capsys):
    with pytest.raises(ValueError, match="both"):
        mocap.load_motion(asf="skeleton.asf")
    with pytest.raises(FileNotFoundError, match="no such file"):
        mocap.load_motion(tmp_path / "missing.asf", tmp_path / "missing.amc")

    def offline(subject: int, trial: int) -> Motion:
        raise OSError("no network")

    monkeypatch.setattr(_recordings, "cmu_mocap", offline)  # where load_motion looks it up
    with pytest.raises(FileNotFoundError, match="--asf and --amc"):
        mocap.load_motion()
    with pytest.raises(SystemExit) as exit_info:
        mocap.main(["--methods", "none", "--seeds", "0"])
    assert exit_info.value.code == 2
    assert "--asf and --amc" in capsys.readouterr().err


def test_main_on_the_shared_recording(tmp_path, monkeypatch, capsys, shared_data):
    folder = shared_data / "mocap" / "cmu-subject01-playground"
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


# --- movement protocols -------------------------------------------------------------------------------

TINY_ARCHITECTURE = {"hidden": (4,), "activation": "tanh", "bias": True}


def _moving(n_frames: int, *, still: int = 0, phase: float = 0.0, n_joints: int = 3) -> Motion:
    """Joints circling a drifting root at 120 fps, after ``still`` frames of the first pose."""
    t = np.maximum(np.arange(n_frames) - still, 0) / 120.0
    joints = np.zeros((n_frames, n_joints, 3))
    joints[:, 0, 0] = 0.5 * np.arange(n_frames) / 120.0  # the root drifts, still or not
    for j in range(1, n_joints):
        joints[:, j, 0] = joints[:, 0, 0] + np.cos(2 * np.pi * t + phase + j)
        joints[:, j, 1] = 1.0 + 0.5 * j * np.sin(2 * np.pi * t + phase + j)
        joints[:, j, 2] = 0.2 * j * np.sin(4 * np.pi * t + phase)
    names = ["root", *(f"joint{j}" for j in range(1, n_joints))]
    return Motion(joints.reshape(n_frames, -1), names, None, np.arange(1, n_frames + 1))


def _bvh_text(n_frames: int, phase: float) -> str:
    """A hip with a two-bone leg and an arm: root translation and rotation, joint rotations, 120 fps."""
    lines = [
        "HIERARCHY",
        "ROOT hip",
        "{",
        " OFFSET 0 0 0",
        " CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation",
        " JOINT knee",
        " {",
        "  OFFSET 0 -1 0",
        "  CHANNELS 3 Zrotation Xrotation Yrotation",
        "  JOINT foot",
        "  {",
        "   OFFSET 0 -1 0",
        "   CHANNELS 3 Zrotation Xrotation Yrotation",
        "   End Site",
        "   {",
        "    OFFSET 0 0 0.2",
        "   }",
        "  }",
        " }",
        " JOINT hand",
        " {",
        "  OFFSET 1 0.5 0",
        "  CHANNELS 3 Zrotation Xrotation Yrotation",
        "  End Site",
        "  {",
        "   OFFSET 0.5 0 0",
        "  }",
        " }",
        "}",
        "MOTION",
        f"Frames: {n_frames}",
        f"Frame Time: {1 / 120:.8f}",
    ]
    for frame in range(n_frames):
        s = 2 * np.pi * frame / 120.0 + phase
        values = [0.01 * frame, 1.0, 0.0, 0.0, 0.0, 10 * np.sin(s)]  # root
        values += [30 * np.sin(s), 5 * np.cos(s), 0.0, 20 * np.sin(s + 1), 0.0, 0.0, 0.0, 15 * np.cos(s), 0.0]
        lines.append(" ".join(f"{value:.6f}" for value in values))
    return "\n".join(lines) + "\n"


def _write_movement(folder: Path, phases: list[float], n_frames: int = 50) -> Path:
    folder.mkdir(parents=True)
    for index, phase in enumerate(phases):
        (folder / f"t_{index + 1:02d}.bvh").write_text(_bvh_text(n_frames, phase))
    return folder


def test_movement_onset_finds_the_start_of_the_movement():
    assert mocap.movement_onset(_moving(300)) == 0
    onset = mocap.movement_onset(_moving(300, still=120))
    assert 120 - 12 <= onset <= 122
    still = _moving(50, still=50)  # the root drifts but the body does not move
    assert mocap.movement_onset(still) == 0


def test_choose_frames_takes_the_largest_step_that_fits_every_trial():
    motions = {"a": _moving(900), "b": _moving(650, still=100)}
    step, starts = mocap.choose_frames(motions, n_frames=200, max_step=4)
    assert step == 2  # a alone would take 4; 200 frames every 3 need 598 after b's onset (about 95)
    assert starts["a"] == 0
    assert 88 <= starts["b"] <= 102
    # capped at max_step
    step, _ = mocap.choose_frames({"a": _moving(5000)}, n_frames=200, max_step=4)
    assert step == 4
    # a late onset is moved earlier so that the frames still fit
    step, starts = mocap.choose_frames({"a": _moving(250, still=200)}, n_frames=200)
    assert (step, starts["a"]) == (1, 50)
    # a fixed step, and a trial that is too short
    assert mocap.choose_frames(motions, n_frames=200, step=1)[0] == 1
    with pytest.raises(ValueError, match="trial c has 150 frames"):
        mocap.choose_frames({**motions, "c": _moving(150)}, n_frames=200)


def test_prepare_trials_cuts_every_trial_with_the_same_step_relative_to_the_root():
    motions = {"a": _moving(80, phase=0.0), "b": _moving(90, still=30, phase=1.0)}
    trials = mocap.prepare_trials(motions, n_train=12, n_extrapolation=8, max_step=4)
    assert trials.names == ("a", "b")
    assert trials.positions.shape == (2, 20, 9)
    assert trials.step == 3  # (80 - 1) // 19 = 4 for a, (90 - onset(b) - 1) // 19 = 3 for b
    np.testing.assert_allclose(trials.times, np.arange(20) * 3 / 120.0)
    for index, name in enumerate(trials.names):
        start = trials.starts[index]
        frames = slice(start, start + 19 * 3 + 1, 3)
        raw = motions[name].positions[frames].reshape(20, 3, 3)
        np.testing.assert_allclose(trials.positions[index], (raw - raw[:, :1]).reshape(20, 9))
        np.testing.assert_array_equal(trials.frames[index], motions[name].frames[frames])
    np.testing.assert_array_equal(trials.positions[:, :, :3], 0.0)
    other = Motion(motions["a"].positions[:, :6], ["root", "x"], None, motions["a"].frames)
    with pytest.raises(ValueError, match="other joints"):
        mocap.prepare_trials({"a": motions["a"], "b": other}, n_train=12, n_extrapolation=8)


def _trials(n_trials: int = 3) -> mocap.TrialSet:
    motions = {f"t{i}": _moving(40, phase=0.7 * i) for i in range(n_trials)}
    return mocap.prepare_trials(motions, n_train=10, n_extrapolation=10, step=2)


def test_extrapolate_fits_the_first_frames_and_scores_the_next_ones():
    trials = _trials()
    (split,) = mocap.protocol_splits(trials, "walking", ["extrapolate"])
    assert (split.protocol, split.trial, split.train) == ("extrapolate", "t0", ("t0",))
    assert [s.trial for s in mocap.protocol_splits(trials, "walking", ["extrapolate"], extrapolate="all")] == [
        "t0",
        "t1",
        "t2",
    ]
    data = mocap.split_data(trials, split)
    assert data.train.shape == (1, 10, 9)
    np.testing.assert_allclose(data.scaling.to_file(data.train[0]), trials.positions[0, :10], atol=1e-12)
    np.testing.assert_allclose(data.scaling.to_file(data.test), trials.positions[0], atol=1e-12)
    assert data.dt == pytest.approx(2 / 120.0 / mocap.TIME_UNIT)
    # the scaling: the training frames' mean per coordinate and their common RMS
    centred = trials.positions[0, :10] - trials.positions[0, :10].mean(axis=0)
    assert data.scaling.scale == pytest.approx(np.sqrt(np.mean(centred**2)))
    # frames after the fitted ones change neither the fitted data nor the scaling
    changed = trials.positions.copy()
    changed[:, 10:] += 100.0
    other = mocap.split_data(dataclasses.replace(trials, positions=changed), split)
    np.testing.assert_array_equal(other.train, data.train)
    assert other.scaling.scale == data.scaling.scale
    # scores: frames 3..9 and 10..19
    truth = np.zeros((20, 9))
    prediction = np.zeros((20, 9))
    prediction[:3] = 1e6  # conditioned frames are not scored
    prediction[3:10] = 1.0
    prediction[10:] = 2.0
    assert mocap.split_scores(prediction, truth, 10) == {"fit_range_mse": 1.0, "extrapolation_mse": 4.0}


def test_an_ensemble_row_scores_the_members_averaged_prediction():
    trials = _trials()
    (split,) = mocap.protocol_splits(trials, "walking", ["extrapolate"])
    data = mocap.split_data(trials, split)
    members = []
    for sign, pruned in ((1.0, [0, 1]), (-1.0, [1, 2])):  # input 1 pruned by both members
        prediction, train_prediction = data.test.copy(), data.train.copy()
        prediction[3:] += sign  # each member is off by 1 on every scored frame: MSE 1, their mean is exact
        train_prediction[:, 3:] += sign
        adjacency = np.ones((9, 18))
        adjacency[:, pruned] = 0.0
        members.append(
            {
                "movement": "walking",
                "protocol": "extrapolate",
                "trial": "t0",
                "method": "none",
                **mocap.split_scores(prediction, data.test, data.n_train),
                "weight_sparsity": 0.25 if sign > 0 else 0.75,
                "seconds": 3.0,
                "adjacency": adjacency,
                "prediction": prediction,
                "train_prediction": train_prediction,
            }
        )
    row = mocap.ensemble_row(members, 4, data)
    assert (row["method"], row["seed"], row["members"]) == ("none", 4, 2)
    assert row["fit_range_mse"] == pytest.approx(0.0)
    assert row["extrapolation_mse"] == pytest.approx(0.0)
    assert row["member_extrapolation_mse"] == pytest.approx(1.0)
    assert row["train_mse"] == pytest.approx(0.0)
    assert row["feature_sparsity"] == pytest.approx(1 / 18)
    assert row["weight_sparsity"] == pytest.approx(0.5)
    assert row["seconds"] == 6.0
    np.testing.assert_allclose(row["prediction"], data.test)
    # one member: its own row
    single = mocap.ensemble_row(members[:1], 0, data)
    assert single["extrapolation_mse"] == pytest.approx(members[0]["extrapolation_mse"])
    assert single["member_extrapolation_mse"] == pytest.approx(members[0]["extrapolation_mse"])


def test_unseen_trial_leaves_one_trial_out_and_scales_with_the_training_trials_only():
    trials = _trials()
    splits = mocap.protocol_splits(trials, "golf", ["unseen_trial"])
    assert [s.trial for s in splits] == ["t0", "t1", "t2"]
    for split in splits:
        assert split.protocol == "unseen_trial"
        assert split.trial not in split.train
        assert sorted([*split.train, split.trial]) == sorted(trials.names)
        data = mocap.split_data(trials, split)
        train = trials.positions[[trials.index(t) for t in split.train], :10]
        expected = mocap_ode2vae.fit_scaling(train)
        np.testing.assert_allclose(data.scaling.mean, expected.mean)
        assert data.scaling.scale == pytest.approx(expected.scale)
        np.testing.assert_allclose(data.scaling.to_file(data.train), train, atol=1e-12)
        np.testing.assert_allclose(
            data.scaling.to_file(data.test), trials.positions[trials.index(split.trial)], atol=1e-12
        )
        # the held-out trial does not touch the scaling
        changed = trials.positions.copy()
        changed[trials.index(split.trial)] *= 50.0
        other = mocap.split_data(dataclasses.replace(trials, positions=changed), split)
        np.testing.assert_array_equal(other.scaling.mean, data.scaling.mean)
        assert other.scaling.scale == data.scaling.scale
    # a single trial has no unseen-trial split
    single = _trials(1)
    assert [s.protocol for s in mocap.protocol_splits(single, "waving")] == ["extrapolate"]
    with pytest.raises(ValueError, match="protocols"):
        mocap.protocol_splits(trials, "walking", ["interpolate"])


def test_baselines_predict_the_training_mean_and_hold_the_last_observed_frame():
    trial = np.arange(20 * 2, dtype=float).reshape(20, 2)
    mean = mocap.baseline_prediction("train_mean", trial, 10, "extrapolate")
    np.testing.assert_array_equal(mean[3:], 0.0)
    np.testing.assert_array_equal(mean[:3], trial[:3])
    last = mocap.baseline_prediction("last_frame", trial, 10, "extrapolate")
    np.testing.assert_array_equal(last[3:10], np.broadcast_to(trial[2], (7, 2)))
    np.testing.assert_array_equal(last[10:], np.broadcast_to(trial[9], (10, 2)))
    unseen = mocap.baseline_prediction("last_frame", trial, 10, "unseen_trial")
    np.testing.assert_array_equal(unseen[3:], np.broadcast_to(trial[2], (17, 2)))
    with pytest.raises(ValueError, match="Unknown baseline"):
        mocap.baseline_prediction("oracle", trial, 10, "extrapolate")
    # their rows: scores in the units of the fit (the training mean is zero there)
    trials = _trials()
    split = mocap.protocol_splits(trials, "walking", ["unseen_trial"])[1]
    data = mocap.split_data(trials, split)
    rows = {row["method"]: row for row in mocap.baseline_rows(split, data)}
    assert list(rows) == list(mocap.BASELINES)
    assert rows["train_mean"]["fit_range_mse"] == pytest.approx(np.mean(data.test[3:10] ** 2))
    assert rows["train_mean"]["extrapolation_mse"] == pytest.approx(np.mean(data.test[10:] ** 2))
    assert rows["last_frame"]["extrapolation_mse"] == pytest.approx(np.mean((data.test[10:] - data.test[2]) ** 2))
    assert rows["train_mean"]["train_mse"] == pytest.approx(np.mean(data.train[:, 3:] ** 2))
    assert pd.isna(rows["train_mean"]["seed"])


def test_find_trials_and_skeletons(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        mocap.find_trials(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no .amc or .bvh"):
        mocap.find_trials(tmp_path)
    for name in ("07_09.amc", "07_01.amc", "x.bvh", "notes.txt"):
        (tmp_path / name).write_text("")
    assert list(mocap.find_trials(tmp_path)) == ["07_01", "07_09", "x"]
    skeletons = [tmp_path / "07.asf", tmp_path / "08.asf"]
    assert _recordings._skeleton_for(tmp_path / "07_01.amc", skeletons) == skeletons[0]
    assert _recordings._skeleton_for(tmp_path / "09_01.amc", skeletons[1:]) == skeletons[1]
    with pytest.raises(ValueError, match="cannot tell its skeleton"):
        _recordings._skeleton_for(tmp_path / "09_01.amc", skeletons)


def test_movement_protocols_end_to_end_on_tiny_recordings(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mocap, "TRAINING", TINY_TRAINING)
    monkeypatch.setattr(mocap, "ARCHITECTURE", TINY_ARCHITECTURE)
    data = tmp_path / "mocap"
    _write_movement(data / mocap.MOVEMENTS["walking"]["folder"], [0.0, 1.0, 2.0])
    _write_movement(data / mocap.MOVEMENTS["waving"]["folder"], [0.5])
    output = tmp_path / "results"
    argv = ["--movement", "walking", "waving", "--data", str(data), "--n-train", "12", "--n-extrapolation", "12"]
    argv += ["--methods", "none", "pathreg", "--seeds", "0", "--jobs", "1", "--epochs", "2", "--output", str(output)]
    assert mocap.main([*argv, "--members", "2"]) == 0
    results = pd.read_csv(output / "mocap_movements.csv")
    assert list(results.columns) == list(mocap.PROTOCOL_COLUMNS)
    fitted = results[~results["method"].isin(mocap.BASELINES)]
    assert (fitted["members"] == 2).all()
    assert results.loc[results["method"].isin(mocap.BASELINES), "members"].isna().all()
    walking = results[results["movement"] == "walking"]
    cases = walking[["protocol", "trial"]].drop_duplicates().to_records(index=False).tolist()
    assert cases == [
        ("extrapolate", "t_01"),
        ("unseen_trial", "t_01"),
        ("unseen_trial", "t_02"),
        ("unseen_trial", "t_03"),
    ]
    for _, case in walking.groupby(["protocol", "trial"], sort=False):
        assert list(case["method"]) == [*mocap.BASELINES, "none", "pathreg"]
    waving = results[results["movement"] == "waving"]
    assert set(waving["protocol"]) == {"extrapolate"}
    assert len(waving) == 4
    assert results.loc[results["method"].isin(mocap.BASELINES), "seed"].isna().all()
    assert (results.loc[~results["method"].isin(mocap.BASELINES), "seed"] == 0).all()
    assert np.isfinite(results[["fit_range_mse", "extrapolation_mse", "train_mse"]].to_numpy()).all()
    # extrapolating: the training frames are the scored trial's first frames
    extrapolated = walking[walking["protocol"] == "extrapolate"].set_index("method")
    assert extrapolated.loc["none", "fit_range_mse"] == pytest.approx(extrapolated.loc["none", "train_mse"])
    for movement in ("walking", "waving"):
        assert (output / f"mocap_{movement}_trajectories.png").stat().st_size > 0
        assert (output / f"mocap_{movement}_joint_dependencies.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert printed.startswith("| movement | protocol | method | runs | fit_range_mse | extrapolation_mse |")
    assert "| walking | unseen_trial | none | 3 |" in printed
    assert "| walking | t_01 | t_02 | t_03 | mean |" in printed
    assert "walking: 3 trials (t_01 from 0" in printed


def test_movement_protocols_from_files_and_cli_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mocap, "TRAINING", TINY_TRAINING)
    monkeypatch.setattr(mocap, "ARCHITECTURE", TINY_ARCHITECTURE)
    folder = _write_movement(tmp_path / "golf", [0.0, 1.5])
    files = [str(folder / "t_01.bvh"), str(folder / "t_02.bvh")]
    common = ["--n-train", "12", "--n-extrapolation", "12", "--methods", "none", "--seeds", "0", "--jobs", "1"]
    common += ["--members", "1"]
    assert mocap.main(["--movement", "golf", "--bvh", *files, "--protocols", "unseen_trial", *common]) == 0
    printed = capsys.readouterr().out
    assert "| golf | unseen_trial | none | 2 |" in printed
    assert "extrapolate" not in printed.split("\n\n")[0]
    for argv, message in [
        (["--movement", "golf"], "--data"),
        (["--movement", "golf", "--bvh", *files, "--start", "3"], "--start"),
        (["--bvh", *files], "several recordings need --movement"),
        (["--movement", "golf", "waving", "--bvh", *files], "one --movement"),
        (["--movement", "golf", "--bvh", files[0], "--n-train", "40"], "frames"),
        (["--movement", "golf", "--bvh", *files, "--members", "0"], "--members must be at least 1"),
        (["--bvh", files[0], "--members", "2"], "--members is for the movement protocols"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            mocap.main(argv + ["--methods", "none"])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    # a single BVH recording runs the single-recording benchmark
    single = ["--bvh", files[0], "--start", "0", "--step", "2", "--n-train", "10", "--n-extrapolation", "10"]
    assert mocap.main([*single, "--methods", "none", "--seeds", "0", "--jobs", "1"]) == 0
    assert capsys.readouterr().out.startswith("| method | train_mse |")


def test_run_protocols_rejects_unknown_methods():
    with pytest.raises(ValueError, match="Unknown methods"):
        mocap.run_protocols(["magic"], [0], {"walking": _trials()})


# --- the package ---------------------------------------------------------------------------------------

SUBMODULES = ("_recordings", "_segment", "_plots", "_trials", "_protocol", "_cli")


def test_the_package_offers_every_name_of_its_all():
    namespace = {}
    exec("from benchmarks.mocap import *", namespace)
    assert set(mocap.__all__) <= set(namespace)
    assert len(set(mocap.__all__)) == len(mocap.__all__)
    assert set(mocap.__all__) <= set(dir(mocap))
    with pytest.raises(AttributeError, match="no_such_name"):
        mocap.no_such_name  # noqa: B018


def test_the_submodules_read_the_settings_through_the_package():
    # a setting in a function body is mocap.NAME, so that a patch of benchmarks.mocap.NAME reaches every use
    from benchmarks.mocap import _settings

    settings = {name for name in vars(_settings) if name.isupper()}
    assert {"TRAINING", "ARCHITECTURE", "METHOD_SETTINGS", "RESTORING", "FIGURE_LABELS"} <= settings
    offences = []
    for name in SUBMODULES:
        tree = ast.parse(inspect.getsource(importlib.import_module(f"benchmarks.mocap.{name}")))
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef):
                for statement in function.body:
                    offences += [
                        f"{name}:{node.lineno}: {node.id}"
                        for node in ast.walk(statement)
                        if isinstance(node, ast.Name) and node.id in settings
                    ]
    assert offences == []


def test_a_setting_patched_on_the_package_reaches_the_submodules(monkeypatch, capsys):
    trials = _trials()
    (split,) = mocap.protocol_splits(trials, "walking", ["extrapolate"])
    monkeypatch.setattr(mocap, "TIME_UNIT", 1.0)
    assert mocap.split_data(trials, split).dt == pytest.approx(2 / 120.0)
    monkeypatch.setattr(mocap, "METHOD_SETTINGS", {"none": mocap.METHOD_SETTINGS["none"]})
    with pytest.raises(ValueError, match="Unknown methods"):
        mocap.run_protocols(["pathreg"], [0], {"walking": trials})
    with pytest.raises(SystemExit):
        mocap.main(["--methods", "pathreg"])
    assert "invalid choice: 'pathreg'" in capsys.readouterr().err


def test_mocap_ode2vae_imports_first_and_the_command_line_runs():
    repo = Path(__file__).resolve().parents[2]
    first = "import benchmarks.mocap_ode2vae as o, benchmarks.mocap as m; assert m.prepare_trials and o.METHOD_SETTINGS"
    subprocess.run([sys.executable, "-c", first], cwd=repo, check=True)
    shown = subprocess.run(
        [sys.executable, "-m", "benchmarks.mocap", "--help"], cwd=repo, check=True, capture_output=True, text=True
    )
    assert shown.stdout.startswith("usage: python -m benchmarks.mocap")
    assert "--movement" in shown.stdout
