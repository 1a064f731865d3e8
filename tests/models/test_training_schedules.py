"""Deterministic polishing, fixed-support refits and selection along the sparsification path."""

from __future__ import annotations

import math

import pytest
import torch

from pathreg.datasets import simulate
from pathreg.models import NeuralODE, Trajectories, fit, get_regularizer, masked_mse

QUICK = {"lr": 0.05, "lr_schedule": "constant", "device": "cpu", "progress": False}


@pytest.fixture(scope="module")
def cascade() -> Trajectories:
    """dx/dt = A x with x0 -> x1 -> x2 (a lower bidiagonal A), one trajectory on 21 points."""
    matrix = torch.tensor([[-0.5, 0.0, 0.0], [1.0, -0.8, 0.0], [0.0, 0.9, -0.3]], dtype=torch.float64)
    times = torch.linspace(0.0, 4.0, 21, dtype=torch.float64)
    values = simulate(lambda t, x: x @ matrix.T, torch.tensor([1.0, 0.2, -0.5]), times)
    return Trajectories.from_arrays([times], [values])


def _model(method: str, seed: int = 0, **regularizer_options) -> tuple[NeuralODE, object]:
    regularizer = get_regularizer(method, **regularizer_options)
    torch.manual_seed(seed)
    field = regularizer.build_vector_field(3, 3, hidden=(6,), activation=None)
    return NeuralODE(field, solver="rk4"), regularizer


def test_lbfgs_polish_fits_a_linear_system_far_better_than_adam_alone(cascade):
    adam_only, _ = _model("none")
    fit(adam_only, cascade, regularizer="none", n_epochs=150, regime="sparse", **QUICK)
    polished, _ = _model("none")
    history = fit(
        polished, cascade, regularizer="none", n_epochs=150, regime="iterative", sparsification_scales=(), **QUICK
    )
    with torch.no_grad():
        adam_mse = float(masked_mse(adam_only.predict(cascade), cascade))
        polished_mse = float(masked_mse(polished.predict(cascade), cascade))
    assert polished_mse < 1e-7
    assert polished_mse < 1e-3 * adam_mse
    assert history.learning_rate[-1] == 1.0  # the L-BFGS stage ran last
    assert len(history) < 150  # and stopped once it converged


def test_polish_epochs_caps_the_lbfgs_stage(cascade):
    model, _ = _model("none")
    options = {**QUICK, "early_stopping": False}
    history = fit(
        model,
        cascade,
        regularizer="none",
        n_epochs=150,
        regime="iterative",
        sparsification_scales=(),
        polish_epochs=3,
        **options,
    )
    assert len(history) == 3
    assert history.learning_rate == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="polish_epochs"):
        fit(model, cascade, regularizer="none", polish_epochs=0, **QUICK)


def test_fit_with_prune_records_every_tested_removal(cascade):
    model, regularizer = _model("pathreg", lambda_=1.0, log_alpha_init=0.0)
    history = fit(model, cascade, regularizer=regularizer, n_epochs=60, refit_epochs=2, prune=True, **QUICK)
    assert history.pruning
    assert {"output", "input", "bic", "removed"} <= set(history.pruning[0])
    removed = {(step["output"], step["input"]) for step in history.pruning if step["removed"]}
    adjacency = model.adjacency().detach()
    assert all(adjacency[output, input_] == 0 for output, input_ in removed)
    assert model.dependency_mask is not None


def test_refits_keep_the_selected_structure(cascade):
    model, regularizer = _model("pathreg", lambda_=1.0, log_alpha_init=0.0)
    history = fit(model, cascade, regularizer=regularizer, n_epochs=60, refit_epochs=5, **QUICK)
    # the refit after the penalised stage is the last record of the path and the final state
    assert len(history.path) == 1
    record = history.path[0]
    adjacency = model.adjacency().detach()
    assert int((adjacency.abs() >= 1e-5).sum()) == record["n_dependencies"]
    # the recorded weight count is that of the final parameters
    weights = model.vector_field.sparsifiable_weights()
    assert sum(int((w.abs() >= 1e-5).sum()) for w in weights) == record["n_weights"]
    assert record["n_weights"] < sum(w.numel() for w in weights)


def test_select_bic_keeps_the_refit_with_the_lowest_bic(cascade):
    model, regularizer = _model("pathreg", lambda_=0.5, log_alpha_init=3.0)
    history = fit(
        model,
        cascade,
        regularizer=regularizer,
        n_epochs=90,
        regime="iterative",
        sparsification_scales=(0.3, 1.0, 3.0),
        refit_epochs=3,
        select="bic",
        **QUICK,
    )
    assert [record["lambda_scale"] for record in history.path] == [0.3, 1.0, 3.0]
    bics = [record["bic"] for record in history.path]
    assert history.selected == bics.index(min(bics))
    chosen = history.path[history.selected]
    n_observed = int(cascade.mask.sum())
    expected_bic = n_observed * math.log(chosen["fit_loss"]) + chosen["n_weights"] * math.log(n_observed)
    assert chosen["bic"] == pytest.approx(expected_bic)
    with torch.no_grad():
        assert float(masked_mse(model.predict(cascade), cascade)) == pytest.approx(chosen["fit_loss"], rel=1e-5)
    assert int((model.adjacency().abs() >= 1e-5).sum()) == chosen["n_dependencies"]


def test_select_bic_needs_refits(cascade):
    model, regularizer = _model("pathreg")
    with pytest.raises(ValueError, match="refit_epochs"):
        fit(model, cascade, regularizer=regularizer, n_epochs=2, select="bic", **QUICK)
    with pytest.raises(ValueError, match="Unknown select 'best'; valid names are"):
        fit(model, cascade, regularizer=regularizer, n_epochs=2, select="best", **QUICK)


def test_fixed_support_keeps_exact_zeros_under_optimisation():
    from pathreg.models import GroupLassoVectorField
    from pathreg.models._stages import fixed_support

    torch.manual_seed(0)
    field = GroupLassoVectorField(4, 3, hidden=(5,))
    with torch.no_grad():
        field.first_weight[1, :, 2] = 0.0
        field.first_weight[0, :, 0] = 0.0
    zeros = field.first_weight == 0
    before = field.first_weight.detach().clone()
    optimizer = torch.optim.Adam(field.parameters(), lr=0.1)
    x = torch.randn(16, 4)
    with fixed_support(field, enabled=True):
        for _ in range(5):
            optimizer.zero_grad()
            field(torch.zeros(()), x).pow(2).sum().backward()
            optimizer.step()
    assert (field.first_weight[zeros] == 0).all()
    assert not torch.equal(field.first_weight[~zeros].detach(), before[~zeros])  # the rest was trained
    # outside the context the zeros receive gradient again
    optimizer.zero_grad()
    field(torch.zeros(()), x).pow(2).sum().backward()
    assert field.first_weight.grad[zeros].abs().sum() > 0


def test_cosine_schedule_restarts_from_the_initial_rate_in_every_stage(cascade):
    """A curriculum stage, the full horizon and a refit each anneal from ``lr`` (not from the previous end, 0)."""
    model, regularizer = _model("pathreg")
    history = fit(
        model, cascade, regularizer=regularizer, n_epochs=20, curriculum=(0.5,), curriculum_epochs=10, refit_epochs=10,
        polish="adam", lr=0.05, lr_schedule="cosine", early_stopping=False, device="cpu", progress=False,
    )  # fmt: skip
    rates = history.learning_rate
    assert len(rates) == 40
    starts = [rates[0], rates[10], rates[30]]  # the first epoch of each stage
    assert starts == pytest.approx([0.05, 0.05, 0.05])
    assert min(rates[25:30]) < 0.01  # each stage anneals towards zero
