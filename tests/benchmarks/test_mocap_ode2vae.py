from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
import torch

from benchmarks import mocap_ode2vae as ode2vae
from pathreg.models import METHODS, MLPVectorField

TINY_TRAINING = {
    "lr": 1e-2,
    "lr_schedule": "constant",
    "curriculum": (0.5,),
    "curriculum_epochs": 2,
    "regime": "sparse",
    "n_epochs": 3,
    "refit_epochs": 1,
    "polish": "adam",
    "select": "last",
    "early_stopping": False,
}


def _walks(n_sequences: int, n_frames: int = 24, n_channels: int = 4, offset: float = 0.0) -> np.ndarray:
    """Sinusoidal 'walks' of different phases and amplitudes, around a per-channel mean of 0.1 * channel."""
    t = np.arange(n_frames)[None, :, None]
    phase = offset + np.arange(n_sequences)[:, None, None]
    amplitude = 1.0 + np.arange(n_channels)[None, None, :]
    return amplitude * np.sin(0.3 * t + phase + 0.5 * np.arange(n_channels)) + 0.1 * np.arange(n_channels)


def _write_mat(path: Path, *, test: bool) -> Path:
    arrays = {"Xtr": _walks(4), "Xval": _walks(2, offset=0.25)}
    if test:
        arrays["Xtest"] = _walks(3, offset=0.7)
    scipy.io.savemat(path, arrays)
    return path


@pytest.fixture
def tiny(monkeypatch):
    """Tiny settings: a few epochs, short windows, narrow networks."""
    monkeypatch.setattr(ode2vae, "TRAINING", TINY_TRAINING)
    monkeypatch.setattr(ode2vae, "WINDOWS", {"length": 10, "stride": 6})
    monkeypatch.setattr(ode2vae, "ARCHITECTURE", {"hidden": (4,), "activation": "tanh", "bias": True})
    monkeypatch.setattr(ode2vae, "VALIDATE_EVERY", 1)


def test_initial_state_is_exact_on_a_quadratic():
    dt = 0.05
    t = np.arange(5)[:, None] * dt
    b, c = np.array([1.0, -2.0, 0.5]), np.array([3.0, 0.25, -4.0])
    frames = 0.7 + b * t + c * t**2  # (frames, channels)
    position, velocity = ode2vae.initial_state(frames, dt)
    np.testing.assert_allclose(position, frames[1])
    np.testing.assert_allclose(velocity, b + 2 * c * t[1], rtol=1e-12)
    # batched, and in torch
    position, velocity = ode2vae.initial_state(torch.as_tensor(np.stack([frames, 2 * frames])), dt)
    np.testing.assert_allclose(velocity.numpy(), np.stack([b + 2 * c * dt, 2 * (b + 2 * c * dt)]), rtol=1e-12)
    with pytest.raises(ValueError, match="at least 3 frames"):
        ode2vae.initial_state(frames[:2], dt)


def test_conditioning_uses_frames_0_1_2_and_scoring_frames_3_to_the_end():
    sequences = _walks(2, n_frames=12)
    np.testing.assert_array_equal(ode2vae.conditioning(sequences), sequences[:, :3].reshape(2, -1))
    assert ode2vae.scored_frames(12) == slice(3, 12)
    with pytest.raises(ValueError, match="more than 3 frames"):
        ode2vae.scored_frames(3)
    # a model whose accelerations vanish moves with the central-difference velocity from frame 1 on
    field = MLPVectorField(2 * 4, 4, hidden=(3,))
    with torch.no_grad():
        for parameter in field.parameters():
            parameter.zero_()
    model = ode2vae.ThreeFrameSecondOrderODE(field, frame_dt=0.1, solver="rk4").double()
    prediction = ode2vae.predict(model, sequences)
    np.testing.assert_array_equal(prediction[:, :3], sequences[:, :3])
    velocity_per_frame = (sequences[:, 2] - sequences[:, 0]) / 2
    expected = sequences[:, 1, None] + velocity_per_frame[:, None] * (np.arange(12) - 1)[None, :, None]
    np.testing.assert_allclose(prediction[:, 3:], expected[:, 3:], rtol=1e-10, atol=1e-12)
    # nothing after frame 2 is seen
    changed = sequences.copy()
    changed[:, 3:] += 100.0
    np.testing.assert_array_equal(
        ode2vae.predict(model, changed), np.where(np.arange(12)[None, :, None] < 3, changed, prediction)
    )


def test_score_is_the_mse_of_the_predicted_frames_in_file_units():
    truth = _walks(3, n_frames=10) * 7.0 + 2.0
    prediction = truth + 2.0
    prediction[:, :3] = 1e6  # the conditioned frames are not scored
    assert ode2vae.score(prediction, truth) == pytest.approx(4.0)
    # scaling for the fit is undone exactly
    scaling = ode2vae.fit_scaling(truth)
    assert scaling.scale == pytest.approx(np.sqrt(np.mean((truth - truth.mean(axis=(0, 1))) ** 2)))
    np.testing.assert_allclose(scaling.to_file(scaling.to_model(truth)), truth)
    # the baselines
    train = _walks(4, n_frames=10)
    zeros = ode2vae.score(ode2vae.baseline_prediction("zeros", truth, train), truth)
    assert zeros == pytest.approx(np.mean(truth[:, 3:] ** 2))
    mean = ode2vae.baseline_prediction("train_mean", truth, train)
    np.testing.assert_allclose(mean[:, 3:], np.broadcast_to(train.mean(axis=(0, 1)), mean[:, 3:].shape))
    last = ode2vae.baseline_prediction("last_frame", truth, train)
    np.testing.assert_array_equal(last[:, 5], truth[:, 2])
    with pytest.raises(ValueError, match="Unknown baseline"):
        ode2vae.baseline_prediction("oracle", truth, train)


def test_training_windows_start_from_their_own_three_frames():
    sequences = _walks(2, n_frames=20)
    data = ode2vae.training_windows(sequences, length=8, stride=5, dt=0.1)
    starts = [0, 5, 10, 12]  # every 5 frames, and the last window ending at the last frame
    assert data.n_trajectories == 2 * len(starts)
    windows = [sequences[s, start : start + 8] for start in starts for s in range(2)]
    for index, window in enumerate(windows):
        np.testing.assert_allclose(data.initial_state[index].numpy(), window[:3].reshape(-1), rtol=1e-6)
        np.testing.assert_allclose(data.values[index].numpy(), window[1:], rtol=1e-6)  # frames 1..7 observed
    np.testing.assert_allclose(data.union_times.numpy(), np.arange(7) * 0.1, rtol=1e-6)
    with pytest.raises(ValueError, match="more than 3 frames"):
        ode2vae.training_windows(sequences, length=3, stride=1)


def test_every_registered_method_has_settings_and_they_are_read_only():
    assert set(ode2vae.METHOD_SETTINGS) == set(METHODS)
    with pytest.raises(TypeError):
        ode2vae.METHOD_SETTINGS["pathreg"]["regularizer"]["lambda_"] = 1.0
    with pytest.raises(TypeError):
        ode2vae.TRAINING["n_epochs"] = 1


def test_method_settings_are_the_movement_protocols_with_rescaled_lassonet_and_grouplasso_strengths():
    from benchmarks import mocap
    from benchmarks.settings import plain

    expected = plain(mocap.METHOD_SETTINGS)
    for method, lambda_ in {"lassonet_inner": 1.1e4, "lassonet_outer": 1.1e4, "grouplasso": 2.3e3}.items():
        expected[method]["regularizer"]["lambda_"] = lambda_
    assert plain(ode2vae.METHOD_SETTINGS) == expected
    assert list(ode2vae.METHOD_SETTINGS) == list(mocap.METHOD_SETTINGS)
    assert ode2vae.METHOD_SETTINGS["grouplasso"]["architecture"] == {"hidden": (8,)}
    with pytest.raises(TypeError):
        ode2vae.METHOD_SETTINGS["grouplasso"]["regularizer"]["lambda_"] = 1.0


def test_run_rejects_unknown_methods_and_files_without_xval(tmp_path, capsys):
    splits = {"Xtr": _walks(4), "Xval": _walks(2)}
    with pytest.raises(ValueError, match="Unknown methods"):
        ode2vae.run(["pathreg", "magic"], [0], splits)
    with pytest.raises(ValueError, match="no Xval"):
        ode2vae.run(["none"], [0], {"Xtr": _walks(4)})
    path = tmp_path / "train_only.mat"
    scipy.io.savemat(path, {"Xtr": _walks(4)})
    with pytest.raises(SystemExit) as exit_info:
        ode2vae.main(["--mat", str(path)])
    assert exit_info.value.code == 2
    assert "no Xval" in capsys.readouterr().err


@pytest.mark.parametrize("with_test", [False, True])
def test_main_end_to_end_on_a_tiny_file(tmp_path, capsys, tiny, with_test):
    mat = _write_mat(tmp_path / "walks.mat", test=with_test)
    output = tmp_path / "results.csv"
    methods = ["none", "pathreg"] if with_test else list(METHODS)
    members = ["--members", "2"] if with_test else ["--members", "1"]
    command = ["--mat", str(mat), "--output", str(output), "--methods", *methods, "--seeds", "0", *members]
    assert ode2vae.main(command) == 0
    results = pd.read_csv(output)
    assert list(results.columns[:4]) == ["method", "seed", "split", "mse"]
    assert list(results.columns) == list(ode2vae.COLUMNS)
    splits = ["validation", "test"] if with_test else ["validation"]
    assert set(results["split"]) == set(splits)
    assert list(results["method"].unique()) == [*ode2vae.BASELINES, *methods]
    assert len(results) == (len(ode2vae.BASELINES) + len(methods)) * len(splits)
    assert results.loc[results["method"].isin(ode2vae.BASELINES), "seed"].isna().all()
    fitted = results[results["method"].isin(methods)]
    assert (fitted["seed"] == 0).all()
    assert (fitted["members"] == (2 if with_test else 1)).all()
    assert np.isfinite(results["mse"]).all()
    if not with_test:  # one member: the ensemble is that model
        assert np.allclose(fitted["mse"], fitted["member_mse"])
    # the baselines' scores, recomputed by hand in file units
    truth = _walks(2, offset=0.25)
    zeros = results[(results["method"] == "zeros") & (results["split"] == "validation")]["mse"].item()
    assert zeros == pytest.approx(np.mean(truth[:, 3:] ** 2))
    printed = capsys.readouterr().out
    header = "| method | validation_mse | validation_member_mse | " + ("test_mse |" if with_test else "train_mse |")
    assert printed.startswith(header)
    assert "| zeros |" in printed
    assert "| last_frame |" in printed
    assert "Published test MSEs" in printed
    assert "NeuralODE 22.49" in printed


def test_epochs_option_sets_the_full_window_epochs(tmp_path, tiny, monkeypatch):
    seen = []
    original = ode2vae.fit_conditioned

    def spy(method, settings, *args, **kwargs):
        seen.append(settings["training"]["n_epochs"])
        return original(method, settings, *args, **kwargs)

    monkeypatch.setattr(ode2vae, "fit_conditioned", spy)
    mat = _write_mat(tmp_path / "walks.mat", test=False)
    assert ode2vae.main(["--mat", str(mat), "--methods", "none", "--seeds", "0", "--epochs", "2"]) == 0
    assert seen == [2] * ode2vae.MEMBERS


def test_main_on_the_shared_file(tmp_path, capsys, tiny, shared_data):
    mat = shared_data / "mocap" / "cmu-subject35-walk-ode2vae" / "mocap35_train_val.mat"
    if not mat.is_file():
        pytest.skip(f"no ODE2VAE file at {mat}")
    output = tmp_path / "results.csv"
    command = ["--mat", str(mat), "--output", str(output), "--methods", "none", "--seeds", "0", "--members", "1"]
    assert ode2vae.main(command) == 0
    results = pd.read_csv(output).set_index("method")
    # predicting zeros on the 3 validation walks (frames 3..299), in the file's units
    assert results.loc["zeros", "mse"] == pytest.approx(31.863, abs=1e-3)
    assert np.isfinite(results.loc["none", "mse"])
    assert "| none |" in capsys.readouterr().out


def test_member_seeds_do_not_overlap_between_ensembles():
    assert ode2vae.member_seeds(0, 5) == [0, 1, 2, 3, 4]
    assert ode2vae.member_seeds(2, 5) == [10, 11, 12, 13, 14]
    assert ode2vae.member_seeds(3, 1) == [3]
    with pytest.raises(ValueError, match="at least one member"):
        ode2vae.member_seeds(0, 0)


def test_an_ensemble_is_scored_on_its_members_averaged_prediction():
    truth = _walks(2, n_frames=8)
    splits = {"Xtr": truth, "Xval": truth}
    frames = ode2vae.scored_frames(8)
    # two members off by +1 and -1 on the scored frames: each has MSE 1, their mean is exact
    fits = []
    for sign, pruned in ((1.0, [0, 1]), (-1.0, [1, 2])):
        prediction = truth.copy()
        prediction[:, frames] += sign
        adjacency = np.ones((4, 8))
        adjacency[:, pruned] = 0.0  # input 1 is pruned in both members, inputs 0 and 2 in one
        fits.append(
            {
                "predictions": {"Xtr": prediction, "Xval": prediction},
                "adjacency": adjacency,
                "seconds": 2.0,
                "selected_epoch": 10 if sign > 0 else 30,
            }
        )
    (row,) = ode2vae.ensemble_rows("none", 1, fits, splits)
    assert row["split"] == "validation"
    assert row["mse"] == pytest.approx(0.0)
    assert row["member_mse"] == pytest.approx(1.0)
    assert row["train_mse"] == pytest.approx(0.0)
    assert row["feature_sparsity"] == pytest.approx(1 / 8)
    assert row["seconds"] == 4.0
    assert row["selected_epoch"] == 20
    assert row["members"] == 2
