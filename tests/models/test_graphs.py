"""Training steps captured as CUDA graphs: the same arithmetic as eager steps."""

from __future__ import annotations

import pytest
import torch

from pathreg.models import NeuralODE, Trajectories, fit, get_regularizer
from pathreg.models._graphs import graph_eligible, resolve_graph_mode


def _problem(n_genes: int = 6, n_lineages: int = 3, n_times: int = 12, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, n_times)
    times, values = [], []
    for _ in range(n_lineages):
        rates = torch.rand(n_genes, generator=generator) + 0.5
        start = torch.rand(n_genes, generator=generator)
        times.append(t)
        values.append(start * torch.exp(-rates * t[:, None]) + 0.1 * torch.sin(3 * t[:, None]))
    return Trajectories.from_arrays(times, values)


def _model(method: str, n_genes: int = 6, solver: str = "rk4", seed: int = 0) -> NeuralODE:
    torch.manual_seed(seed)
    field = get_regularizer(method).build_vector_field(n_genes, n_genes, hidden=(16,), activation="tanh", bias=True)
    return NeuralODE(field, solver=solver, decay=True)


def test_graph_mode_resolution_on_cpu():
    model = _model("pathreg")
    cpu = torch.device("cpu")
    assert not graph_eligible(model, cpu)
    assert resolve_graph_mode("auto", model, cpu) is False
    assert resolve_graph_mode(False, model, cpu) is False
    with pytest.raises(ValueError, match="CUDA device"):
        resolve_graph_mode(True, model, cpu)
    with pytest.raises(ValueError, match="'auto', True or False"):
        resolve_graph_mode("always", model, cpu)


def test_adaptive_solver_is_not_eligible():
    assert not graph_eligible(_model("pathreg", solver="dopri5"), torch.device("cuda"))
    assert graph_eligible(_model("pathreg", solver="rk4"), torch.device("cuda"))


def test_callback_stops_training():
    data = _problem()
    model = _model("pathreg")
    seen = []

    def stop_after_five(epoch, history, fitted):
        seen.append(epoch)
        return epoch >= 4

    history = fit(
        model, data, regularizer="pathreg", n_epochs=50, device="cpu", progress=False, callback=stop_after_five
    )
    assert seen == [0, 1, 2, 3, 4]
    assert len(history) == 5
    assert not model.training


@pytest.mark.parametrize("method", ["pathreg", "grouplasso"])
def test_replayed_step_bookkeeping_matches_eager_on_cpu(method, monkeypatch):
    """The graph path's step (snapshot, best state, history) run uncaptured on the CPU equals the eager path."""
    import pathreg.models._training as training

    data = _problem()
    options = {"regularizer": method, "n_epochs": 30, "device": "cpu", "progress": False, "seed": 1}
    eager_model, replay_model = _model(method), _model(method)
    eager = fit(eager_model, data, **options)
    monkeypatch.setattr(training, "resolve_graph_mode", lambda mode, model, device: True)
    replayed = fit(replay_model, data, **options)
    assert replayed.loss == eager.loss
    assert replayed.best_epoch == eager.best_epoch
    for eager_parameter, replay_parameter in zip(eager_model.parameters(), replay_model.parameters(), strict=True):
        assert torch.equal(eager_parameter, replay_parameter)


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["pathreg", "none", "l0"])
def test_graph_step_matches_eager_step(method):
    data = _problem()
    options = {"regularizer": method, "n_epochs": 40, "device": "cuda", "progress": False, "seed": 3}
    eager_model, graph_model = _model(method), _model(method)
    eager = fit(eager_model, data, cuda_graph=False, **options)
    graphed = fit(graph_model, data, cuda_graph=True, **options)
    torch.testing.assert_close(torch.tensor(graphed.loss), torch.tensor(eager.loss), rtol=1e-4, atol=1e-6)
    for eager_parameter, graph_parameter in zip(eager_model.parameters(), graph_model.parameters(), strict=True):
        torch.testing.assert_close(graph_parameter, eager_parameter, rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
def test_graph_step_with_cosine_schedule_and_clipping():
    data = _problem()
    options = {
        "regularizer": "pathreg",
        "n_epochs": 30,
        "device": "cuda",
        "progress": False,
        "lr_schedule": "cosine",
        "clip_grad_norm": 1.0,
    }
    eager = fit(_model("pathreg"), data, cuda_graph=False, **options)
    graphed = fit(_model("pathreg"), data, cuda_graph=True, **options)
    torch.testing.assert_close(torch.tensor(graphed.learning_rate), torch.tensor(eager.learning_rate))
    torch.testing.assert_close(torch.tensor(graphed.loss), torch.tensor(eager.loss), rtol=1e-4, atol=1e-6)
