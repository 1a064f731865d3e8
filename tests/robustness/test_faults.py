"""Faults during training: divergence, solver failures, interruption, checkpoints; nothing half-written."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from robustness_helpers import QUICK, assert_unchanged, make_adata

import pathreg
import pathreg.tl._objectives as objectives
from pathreg.models import NeuralODE, Trajectories, fit, fit_collocation, get_regularizer
from pathreg.models._faults import MAX_RECOVERIES

SHOOTING = {**QUICK, "lineage_key": "lineages", "objective": "shooting", "window": None}


def _data() -> Trajectories:
    t = torch.linspace(0, 1, 10)
    values = torch.stack([torch.exp(-t), 0.5 * torch.exp(-2 * t), 0.2 + 0.1 * t], dim=1)
    return Trajectories.from_arrays([t], [values])


def _model(seed: int = 0) -> NeuralODE:
    torch.manual_seed(seed)
    field = get_regularizer("pathreg").build_vector_field(3, 3, hidden=(8,), activation="tanh", bias=True)
    return NeuralODE(field, solver="rk4", decay=True)


def _poison(model: NeuralODE) -> None:
    with torch.no_grad():
        model.vector_field.layers[0].weight.fill_(float("nan"))


def _finite(model: NeuralODE) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def test_divergence_restores_the_last_good_parameters_and_lowers_the_learning_rate(caplog):
    model = _model()

    def poison_once(epoch, history, fitted):
        if epoch == 12:
            _poison(fitted)

    with caplog.at_level(logging.WARNING, logger="pathreg"):
        history = fit(
            model,
            _data(),
            regularizer="pathreg",
            n_epochs=40,
            lr_schedule="constant",
            device="cpu",
            progress=False,
            callback=poison_once,
        )
    assert _finite(model)
    assert "restored the last good parameters" in caplog.text
    assert len(history) == 39  # the diverged epoch is not recorded; training went on
    assert history.learning_rate[-1] == pytest.approx(0.5 * history.learning_rate[0])
    assert np.isfinite(history.loss).all()


def test_divergence_that_persists_raises_with_advice_and_finite_parameters():
    model = _model()

    def poison_always(epoch, history, fitted):
        _poison(fitted)

    with pytest.raises(FloatingPointError, match=f"(?i)after {MAX_RECOVERIES} recoveries.*lower lr"):
        fit(model, _data(), regularizer="pathreg", n_epochs=40, device="cpu", progress=False, callback=poison_always)
    assert _finite(model)


def test_a_later_stage_that_keeps_diverging_ends_with_the_last_good_parameters(caplog):
    model = _model()

    def poison_second_stage(epoch, history, fitted):
        if epoch >= 12:
            _poison(fitted)

    with caplog.at_level(logging.WARNING, logger="pathreg"):
        history = fit(
            model,
            _data(),
            regularizer="pathreg",
            curriculum=(0.5,),
            curriculum_epochs=10,
            n_epochs=30,
            device="cpu",
            progress=False,
            callback=poison_second_stage,
        )
    assert "kept diverging; it ends at epoch" in caplog.text
    assert _finite(model)
    assert 12 < len(history) < 40


def test_solver_step_size_underflow_counts_as_divergence(monkeypatch, caplog):
    model = _model()
    original = NeuralODE.predict
    calls = {"n": 0}

    def failing_predict(self, trajectories):
        calls["n"] += 1
        if calls["n"] == 5:
            raise AssertionError("underflow in dt 1e-20")
        return original(self, trajectories)

    monkeypatch.setattr(NeuralODE, "predict", failing_predict)
    with caplog.at_level(logging.WARNING, logger="pathreg"):
        history = fit(model, _data(), regularizer="pathreg", n_epochs=20, device="cpu", progress=False)
    assert "recovery 1 of" in caplog.text
    assert len(history) == 19
    assert _finite(model)


def test_other_errors_are_not_swallowed(monkeypatch):
    def broken(self, trajectories):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(NeuralODE, "predict", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        fit(_model(), _data(), regularizer="pathreg", n_epochs=5, device="cpu", progress=False)


def test_collocation_divergence_recovers(monkeypatch):
    model = _model()
    states = torch.rand(20, 3)
    derivatives = -states
    original = NeuralODE.rhs
    calls = {"n": 0}

    def nan_once(self, t, state):
        calls["n"] += 1
        result = original(self, t, state)
        return result * float("nan") if calls["n"] == 7 else result

    monkeypatch.setattr(NeuralODE, "rhs", nan_once)
    history = fit_collocation(
        model, states, derivatives, regularizer="pathreg", n_epochs=30, device="cpu", progress=False
    )
    assert len(history) == 29
    assert _finite(model)


def test_keyboard_interrupt_keeps_the_best_parameters():
    model = _model()

    def interrupt(epoch, history, fitted):
        if epoch == 7:
            raise KeyboardInterrupt

    history = fit(model, _data(), regularizer="pathreg", n_epochs=50, device="cpu", progress=False, callback=interrupt)
    assert history.interrupted
    assert len(history) == 8
    assert not model.training
    assert _finite(model)


def test_keyboard_interrupt_in_collocation_keeps_the_finished_epochs(monkeypatch):
    model = _model()
    original = NeuralODE.rhs
    calls = {"n": 0}

    def interrupt(self, t, state):
        calls["n"] += 1
        if calls["n"] == 11:
            raise KeyboardInterrupt
        return original(self, t, state)

    monkeypatch.setattr(NeuralODE, "rhs", interrupt)
    states = torch.rand(20, 3)
    history = fit_collocation(model, states, -states, regularizer="pathreg", n_epochs=30, device="cpu", progress=False)
    assert history.interrupted
    assert len(history) == 10
    assert _finite(model)


def test_interrupted_fit_dynamics_writes_a_complete_result_marked_interrupted(caplog, monkeypatch):
    adata = make_adata()
    seen = {"epochs": 0}

    def interrupt_second_member(epoch, history, fitted):
        seen["epochs"] += 1
        if seen["epochs"] == QUICK["training"]["n_epochs"] + 3:  # early in the second member
            raise KeyboardInterrupt

    original = objectives.fit

    def fit_with_callback(*args, **kwargs):
        return original(*args, callback=interrupt_second_member, **kwargs)

    monkeypatch.setattr(objectives, "fit", fit_with_callback)
    with caplog.at_level(logging.WARNING, logger="pathreg"):
        model = pathreg.tl.fit_dynamics(adata, **{**SHOOTING, "n_seeds": 3})
    record = adata.uns["pathreg"]
    assert record["params"]["interrupted"] is True
    assert record["params"]["n_models"] == 2
    assert len(model) == 2
    assert np.isfinite(adata.varp["pathreg_adjacency"]).all()
    assert "Interrupted while fitting ensemble member 2 of 3" in caplog.text


def test_uninterrupted_fit_is_marked_so():
    adata = make_adata()
    pathreg.tl.fit_dynamics(adata, lineage_key="lineages", **QUICK)
    assert adata.uns["pathreg"]["params"]["interrupted"] is False


def test_interruption_while_writing_leaves_no_half_written_keys(monkeypatch):
    adata = make_adata()
    before = adata.copy()
    layers_type = type(adata.layers)
    original = layers_type.__setitem__

    def interrupted(self, key, value):
        if key == "pathreg_prediction":
            raise KeyboardInterrupt
        return original(self, key, value)

    monkeypatch.setattr(layers_type, "__setitem__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pathreg.tl.fit_dynamics(adata, lineage_key="lineages", **QUICK)
    monkeypatch.undo()
    assert "pathreg_adjacency" not in adata.varp
    assert_unchanged(before, adata)


def test_non_finite_results_are_never_written(monkeypatch):
    adata = make_adata()
    before = adata.copy()
    original = pathreg.models.Ensemble.signed_adjacency

    def poisoned(*args, **kwargs):
        strength = original(*args, **kwargs)
        strength[0, 0] = np.nan
        return strength

    monkeypatch.setattr(pathreg.models.Ensemble, "signed_adjacency", poisoned)
    with pytest.raises(FloatingPointError, match="nothing was written"):
        pathreg.tl.fit_dynamics(adata, lineage_key="lineages", **QUICK)
    assert_unchanged(before, adata)


def test_resume_after_a_crash_once_the_members_trained_together_gives_the_uninterrupted_result(tmp_path, monkeypatch):
    options = {**QUICK, "lineage_key": "lineages", "objective": "collocation", "n_seeds": 3}
    reference = make_adata()
    pathreg.tl.fit_dynamics(reference, **options)

    def crash(*args, **kwargs):
        raise RuntimeError("the machine went down")

    monkeypatch.setattr(pathreg.tl._ensemble_fit, "_read_out", crash)
    first = make_adata()
    with pytest.raises(RuntimeError, match="went down"):
        pathreg.tl.fit_dynamics(first, checkpoint_dir=tmp_path, **options)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.glob("member_*.pt")) == ["member_0.pt", "member_1.pt", "member_2.pt"]
    assert "pathreg" not in first.uns
    calls = {"n": 0}
    original = type(pathreg.tl.OBJECTIVES["collocation"]).train_members

    def counted(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(type(pathreg.tl.OBJECTIVES["collocation"]), "train_members", counted)
    resumed = make_adata()
    pathreg.tl.fit_dynamics(resumed, checkpoint_dir=tmp_path, resume=True, **options)
    assert calls["n"] == 0  # every member came from its checkpoint
    np.testing.assert_array_equal(resumed.varp["pathreg_adjacency"], reference.varp["pathreg_adjacency"])
    np.testing.assert_array_equal(resumed.layers["pathreg_prediction"], reference.layers["pathreg_prediction"])
    np.testing.assert_array_equal(
        resumed.uns["pathreg"]["history"]["loss"], reference.uns["pathreg"]["history"]["loss"]
    )


def test_resume_gives_the_result_of_an_uninterrupted_run(tmp_path, monkeypatch):
    objective = "shooting"  # members fitted one after another, each checkpointed as it finishes
    options = {**QUICK, "lineage_key": "lineages", "objective": objective, "n_seeds": 3, "window": None}
    reference = make_adata()
    pathreg.tl.fit_dynamics(reference, **options)

    first = make_adata()
    calls = {"n": 0}
    spec = pathreg.tl.OBJECTIVES[objective]
    original = type(spec).train

    def crash_on_third_member(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the machine went down")
        return original(*args, **kwargs)

    monkeypatch.setattr(type(spec), "train", crash_on_third_member)
    with pytest.raises(RuntimeError, match="went down"):
        pathreg.tl.fit_dynamics(first, checkpoint_dir=tmp_path, **options)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.glob("member_*.pt")) == ["member_0.pt", "member_1.pt"]
    assert "pathreg" not in first.uns

    with pytest.raises(ValueError, match="resume=True"):
        pathreg.tl.fit_dynamics(first, checkpoint_dir=tmp_path, **options)
    resumed = make_adata()
    pathreg.tl.fit_dynamics(resumed, checkpoint_dir=tmp_path, resume=True, **options)
    np.testing.assert_array_equal(resumed.varp["pathreg_adjacency"], reference.varp["pathreg_adjacency"])
    np.testing.assert_array_equal(resumed.layers["pathreg_prediction"], reference.layers["pathreg_prediction"])
    np.testing.assert_array_equal(
        resumed.uns["pathreg"]["history"]["loss"], reference.uns["pathreg"]["history"]["loss"]
    )


def test_resume_refuses_another_fit(tmp_path):
    options = {**QUICK, "lineage_key": "lineages", "n_seeds": 1}
    pathreg.tl.fit_dynamics(make_adata(), checkpoint_dir=tmp_path, **options)
    other = make_adata()
    before = other.copy()
    with pytest.raises(ValueError, match="another fit"):
        pathreg.tl.fit_dynamics(other, checkpoint_dir=tmp_path, resume=True, **{**options, "hidden": (5,)})
    assert_unchanged(before, other)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        pathreg.tl.fit_dynamics(other, resume=True, **options)
