import pytest
import torch

from pathreg.models import CollocationSettings, MLPVectorField, NeuralODE, fit_collocation, get_regularizer


def _linear_system(seed=0):
    """States and exact derivatives of dx/dt = A x with a sparse A (x1 <- x0, x2 <- x1)."""
    generator = torch.Generator().manual_seed(seed)
    matrix = torch.tensor([[-1.0, 0.0, 0.0], [0.8, -1.0, 0.0], [0.0, -0.6, -1.0]])
    states = torch.randn(200, 3, generator=generator)
    return matrix, states, states @ matrix.T


def test_collocation_recovers_a_linear_field():
    matrix, states, derivatives = _linear_system()
    model = NeuralODE(MLPVectorField(3, 3, hidden=(), activation=None), solver="rk4")
    history = fit_collocation(model, states, derivatives, n_epochs=1500, lr=0.05, progress=False)
    torch.testing.assert_close(model.vector_field.layers[0].weight.detach(), matrix, atol=1e-3, rtol=0)
    assert history.fit_loss[-1] < 1e-5
    assert len(history.loss) == 1500


def test_pathreg_collocation_prunes_absent_dependencies_exactly():
    matrix, states, derivatives = _linear_system()
    regularizer = get_regularizer("pathreg", lambda_=1.0, log_alpha_init=3.0)
    torch.manual_seed(0)
    field = regularizer.build_vector_field(3, 3, hidden=(8,), activation=None)
    model = NeuralODE(field, solver="rk4")
    fit_collocation(
        model,
        states,
        derivatives,
        regularizer=regularizer,
        n_epochs=3000,
        lr=0.02,
        gate_lr=0.1,
        warmup_fraction=1 / 6,
        refit_fraction=1 / 6,
        progress=False,
    )
    adjacency = model.adjacency().detach()
    assert torch.all(adjacency[matrix == 0] == 0)  # every absent dependency cut exactly
    # linear paths: the readout sums |weights| along surviving paths, here one sign-consistent path per entry
    torch.testing.assert_close(adjacency[matrix != 0], matrix[matrix != 0].abs(), atol=1e-3, rtol=0)
    assert not model.training


def test_decay_is_learned_and_errors():
    _, states, derivatives = _linear_system()
    model = NeuralODE(MLPVectorField(3, 3, hidden=(), activation=None), solver="rk4", decay=True)
    with pytest.raises(ValueError, match="warmup_fraction"):
        fit_collocation(
            model, states, derivatives, n_epochs=10, warmup_fraction=0.8, refit_fraction=0.5, progress=False
        )
    with pytest.raises(ValueError, match="n_points"):
        fit_collocation(model, states, derivatives[:5], progress=False)


def test_warmup_and_refit_fractions_of_the_epochs():
    _, states, derivatives = _linear_system()
    regularizer = get_regularizer("pathreg", lambda_=0.1)
    torch.manual_seed(0)
    model = NeuralODE(regularizer.build_vector_field(3, 3, hidden=(4,), activation=None), solver="rk4")
    history = fit_collocation(
        model,
        states,
        derivatives,
        regularizer=regularizer,
        n_epochs=50,
        warmup_fraction=0.4,
        refit_fraction=0.2,
        progress=False,
    )
    assert history.lambda_scale == [0.0] * 20 + [1.0] * 20 + [0.0] * 10


def test_collocation_with_settings_equals_collocation_with_options():
    _, states, derivatives = _linear_system()
    results = []
    for keywords in (
        {"settings": CollocationSettings(n_epochs=30, warmup_fraction=0.2, refit_fraction=0.3)},
        {"n_epochs": 30, "warmup_fraction": 0.2, "refit_fraction": 0.3},
    ):
        regularizer = get_regularizer("pathreg")
        torch.manual_seed(0)
        model = NeuralODE(regularizer.build_vector_field(3, 3, hidden=(4,), activation=None), solver="rk4")
        history = fit_collocation(model, states, derivatives, regularizer=regularizer, progress=False, **keywords)
        results.append((history.to_dict(), model.state_dict()))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(value, results[1][1][name]) for name, value in results[0][1].items())


def _gated_fit(n_epochs, **options):
    matrix, states, derivatives = _linear_system()
    regularizer = get_regularizer("pathreg", lambda_=1.0, log_alpha_init=3.0)
    torch.manual_seed(0)
    model = NeuralODE(regularizer.build_vector_field(3, 3, hidden=(8,), activation=None), solver="rk4")
    fit_collocation(
        model,
        states,
        derivatives,
        regularizer=regularizer,
        n_epochs=n_epochs,
        lr=0.02,
        gate_lr=0.1,
        progress=False,
        **options,
    )
    return model, matrix


def test_rewind_refits_the_selected_structure_from_the_warm_up_weights(monkeypatch):
    import pathreg.models._collocation as collocation

    warm_only, _ = _gated_fit(500, warmup_fraction=1.0)  # the same first 500 steps, then nothing
    seen = {}
    original = collocation._rewind

    def recording(model, weights, optimizer):
        seen["weights"] = {name: value.clone() for name, value in weights.items()}
        seen["support"] = model.adjacency().detach() != 0
        original(model, weights, optimizer)
        seen["rewound"] = {name: p.detach().clone() for name, p in model.named_parameters()}

    monkeypatch.setattr(collocation, "_rewind", recording)
    model, matrix = _gated_fit(3000, warmup_fraction=1 / 6, refit_fraction=1 / 6, rewind=True)
    for name, parameter in warm_only.named_parameters():
        if not name.endswith("log_alpha"):
            torch.testing.assert_close(seen["weights"][name], parameter.detach(), rtol=0, atol=0)
            torch.testing.assert_close(seen["rewound"][name], parameter.detach(), rtol=0, atol=0)
    adjacency = model.adjacency().detach()
    assert torch.equal(adjacency != 0, seen["support"])  # the penalised phase's structure is kept
    assert torch.all(adjacency[matrix == 0] == 0)
    torch.testing.assert_close(adjacency[matrix != 0], matrix[matrix != 0].abs(), atol=1e-3, rtol=0)


def test_without_rewind_the_refit_continues_from_the_penalised_weights(monkeypatch):
    import pathreg.models._collocation as collocation

    def failing(*args):
        raise AssertionError("rewound without rewind=True")

    monkeypatch.setattr(collocation, "_rewind", failing)
    _gated_fit(600, warmup_fraction=1 / 6, refit_fraction=1 / 6)


def test_rewind_without_refit_epochs_is_an_error():
    with pytest.raises(ValueError, match="rewind=True .* refit_fraction > 0"):
        CollocationSettings(n_epochs=100, refit_fraction=0.0, rewind=True)
