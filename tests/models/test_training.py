from __future__ import annotations

import numpy as np
import pytest
import torch

from pathreg.datasets import simulate
from pathreg.models import (
    METHODS,
    GatedLinear,
    History,
    MLPVectorField,
    NeuralODE,
    SecondOrderNeuralODE,
    Trajectories,
    fit,
    get_regularizer,
    masked_mse,
)

FAST = {"solver": "rk4", "step_size": 0.25}
QUICK = {"lr": 0.05, "lr_schedule": "constant", "early_stopping": False, "device": "cpu", "progress": False}


@pytest.fixture(scope="module")
def decay_data() -> Trajectories:
    """Two trajectories of dx/dt = A x with A lower triangular (x0 drives x1), on different grids."""
    matrix = torch.tensor([[-1.0, 0.0], [0.8, -0.5]], dtype=torch.float64)

    def rhs(t, x):
        return x @ matrix.T

    first_times = torch.linspace(0.0, 2.0, 9, dtype=torch.float64)
    second_times = torch.linspace(0.0, 2.0, 5, dtype=torch.float64)
    first = simulate(rhs, torch.tensor([1.0, 0.0]), first_times)
    second = simulate(rhs, torch.tensor([0.5, 1.0]), second_times)
    return Trajectories.from_arrays([first_times, second_times], [first, second])


def _model(method: str = "pathreg", seed: int = 0, **options) -> NeuralODE:
    torch.manual_seed(seed)
    regularizer = get_regularizer(method)
    field = regularizer.build_vector_field(2, 2, hidden=(4,), activation="elu", **options)
    return NeuralODE(field, **FAST)


def test_fit_reduces_the_loss_and_records_history(decay_data):
    model = _model()
    history = fit(model, decay_data, regularizer="pathreg", n_epochs=40, **QUICK)
    assert isinstance(history, History)
    assert len(history) == 40
    for values in (
        history.fit_loss,
        history.penalty,
        history.feature_sparsity,
        history.lambda_scale,
        history.learning_rate,
    ):
        assert len(values) == 40
    assert np.mean(history.loss[-5:]) < 0.5 * np.mean(history.loss[:5])
    np.testing.assert_allclose(history.loss, np.add(history.fit_loss, history.penalty), rtol=1e-6)
    assert history.lambda_scale == [1.0] * 40
    assert history.learning_rate == [0.05] * 40
    assert history.best_epoch == int(np.argmin(history.loss))
    assert not history.stopped_early
    assert set(history.to_dict()) >= {"loss", "fit_loss", "penalty", "best_epoch", "stopped_early"}


def test_fit_leaves_the_model_in_eval_mode(decay_data):
    model = _model()
    fit(model, decay_data, regularizer="pathreg", n_epochs=3, **QUICK)
    assert not model.training
    assert all(not module.training for module in model.modules())
    gated = [module for module in model.modules() if isinstance(module, GatedLinear)]
    assert gated
    # eval mode: deterministic gates, so two predictions agree exactly
    with torch.no_grad():
        assert torch.equal(model.predict(decay_data), model.predict(decay_data))


def test_fit_is_reproducible_with_a_seed(decay_data):
    adjacencies = []
    for _ in range(2):
        model = _model(seed=3)
        fit(model, decay_data, regularizer="pathreg", n_epochs=15, seed=5, **QUICK)
        adjacencies.append(model.adjacency().detach())
    assert torch.equal(adjacencies[0], adjacencies[1])
    other = _model(seed=3)
    fit(other, decay_data, regularizer="pathreg", n_epochs=15, seed=6, **QUICK)
    assert not torch.equal(other.adjacency().detach(), adjacencies[0])


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains(method, decay_data):
    model = _model(method)
    history = fit(model, decay_data, regularizer=method, n_epochs=5, **QUICK)
    assert len(history) == 5
    assert np.isfinite(history.loss).all()
    assert history.loss[-1] < history.loss[0]
    if method == "none":
        assert history.penalty == [0.0] * 5


def test_restores_the_best_epoch(decay_data):
    model = _model("none")
    history = fit(model, decay_data, regularizer="none", n_epochs=20, **QUICK)
    with torch.no_grad():
        restored = float(masked_mse(model.predict(decay_data), decay_data))
    # no penalty and no gates: the restored parameters reproduce the best epoch's recorded loss
    assert restored == pytest.approx(history.loss[history.best_epoch], rel=1e-5)


def test_early_stopping(decay_data):
    model = _model("none")
    options = {**QUICK, "lr": 1e-12, "early_stopping": True}
    history = fit(model, decay_data, regularizer="none", n_epochs=50, patience=3, **options)
    assert len(history) == 4
    assert history.stopped_early


def test_iterative_regime_and_curriculum(decay_data):
    model = _model("cnode")
    history = fit(
        model,
        decay_data,
        regularizer="cnode",
        n_epochs=8,
        regime="iterative",
        sparsification_scales=(0.5, 1.0),
        curriculum=(0.5,),
        curriculum_epochs=3,
        **QUICK,
    )
    # a curriculum stage without penalty, then 8 // 3 epochs for each penalty scale
    assert history.lambda_scale == [0.0] * 3 + [0.0] * 2 + [0.5] * 2 + [1.0] * 2
    assert len(history) == 9
    assert history.best_epoch >= 7


def test_progress_bar_only_when_asked(decay_data, capsys):
    fit(_model("none"), decay_data, regularizer="none", n_epochs=2, **QUICK)
    assert "fit none" not in capsys.readouterr().err
    history = fit(_model("none"), decay_data, regularizer="none", n_epochs=2, **{**QUICK, "progress": True})
    assert len(history) == 2
    assert "fit none" in capsys.readouterr().err


def test_fit_keeps_float64_models(decay_data):
    model = _model("none").double()
    fit(model, decay_data, regularizer="none", n_epochs=2, **QUICK)
    assert all(p.dtype == torch.float64 for p in model.parameters())


def test_second_order_fit_on_the_synthetic_system(synthetic_system):
    torch.manual_seed(0)
    system = synthetic_system
    data = Trajectories.from_arrays([system.times], [system.positions])
    field = get_regularizer("pathreg").build_vector_field(6, 3, hidden=(8,), activation=None)
    model = SecondOrderNeuralODE(field, solver="rk4", step_size=0.5)
    history = fit(model, data, regularizer="pathreg", n_epochs=25, **QUICK)
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert model.adjacency().shape == (3, 6)


def test_fit_rejects_unknown_names(decay_data):
    model = _model()
    with pytest.raises(ValueError, match="Unknown method") as error:
        fit(model, decay_data, regularizer="l1", n_epochs=1, progress=False)
    assert "pathreg" in str(error.value)
    assert "grouplasso" in str(error.value)
    with pytest.raises(ValueError, match="cpu"):
        fit(model, decay_data, n_epochs=1, device="tpu", progress=False)
    with pytest.raises(ValueError, match="plateau"):
        fit(model, decay_data, n_epochs=1, lr_schedule="linear", device="cpu", progress=False)
    with pytest.raises(ValueError, match="iterative"):
        fit(model, decay_data, n_epochs=1, regime="dense", device="cpu", progress=False)
    with pytest.raises(ValueError, match="n_epochs"):
        fit(model, decay_data, n_epochs=0, progress=False)
    with pytest.raises(ValueError, match="lr"):
        fit(model, decay_data, n_epochs=1, lr=0.0, progress=False)
    with pytest.raises(ValueError, match="curriculum"):
        fit(model, decay_data, n_epochs=1, curriculum=(1.5,), device="cpu", progress=False)
    with pytest.raises(ValueError, match="rk4"):
        NeuralODE(MLPVectorField(2, 2), solver="rk5")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_fit_on_cuda_without_cuda_raises(decay_data):
    with pytest.raises(RuntimeError, match="CUDA"):
        fit(_model(), decay_data, n_epochs=1, device="cuda", progress=False)
