from __future__ import annotations

import torch

from pathreg.datasets import simulate
from pathreg.models import (
    MLPVectorField,
    NeuralODE,
    SecondOrderNeuralODE,
    Trajectories,
    fit,
    load_model,
    prune_dependencies,
    save_model,
    solver_error,
)

# dx/dt = A x with 5 of 9 entries non-zero (the diagonal and x0 -> x1, x1 -> x2)
SPARSE_MATRIX = torch.tensor([[-0.5, 0.0, 0.0], [1.0, -0.4, 0.0], [0.0, -0.8, -0.3]], dtype=torch.float64)


def _linear_data(noise: float = 0.01) -> Trajectories:
    times = torch.linspace(0.0, 6.0, 31, dtype=torch.float64)
    starts = [torch.tensor([1.0, 0.5, -0.5]), torch.tensor([-0.4, 1.0, 0.8])]
    generator = torch.Generator().manual_seed(0)
    paths = [simulate(lambda t, x: x @ SPARSE_MATRIX.T, start, times) for start in starts]
    # noise on every observation but the initial states, which the model starts from
    noisy = [path + noise * torch.randn(path.shape, generator=generator, dtype=path.dtype) for path in paths]
    for path, clean in zip(noisy, paths, strict=True):
        path[0] = clean[0]
    return Trajectories.from_arrays([times, times], noisy)


def _fitted_dense_model() -> tuple[NeuralODE, Trajectories]:
    torch.manual_seed(0)
    data = _linear_data()
    model = NeuralODE(MLPVectorField(3, 3, hidden=(), activation=None), solver="rk4").double()
    fit(
        model,
        data,
        n_epochs=60,
        polish="lbfgs",
        regime="iterative",
        sparsification_scales=(),
        device="cpu",
        progress=False,
    )
    return model, data


def test_pruning_recovers_the_sparse_linear_system_from_a_dense_fit():
    model, data = _fitted_dense_model()
    assert int((model.adjacency().abs() > 1e-5).sum()) == 9  # an unpenalised fit to noisy data uses every entry
    steps = prune_dependencies(model, data, device="cpu", progress=False)
    support = model.adjacency().abs() > 1e-5
    assert torch.equal(support, SPARSE_MATRIX != 0)
    assert sum(step.removed for step in steps) == 4
    weights = model.vector_field.layers[0].weight.detach()
    assert torch.allclose(weights * support, SPARSE_MATRIX, atol=0.05)


def test_a_masked_dependency_is_absent_from_the_dynamics_and_survives_saving(tmp_path):
    torch.manual_seed(0)
    field = MLPVectorField(4, 2, hidden=(8,), activation="tanh")
    model = SecondOrderNeuralODE(field, solver="rk4")
    mask = torch.ones(2, 4, dtype=torch.bool)
    mask[0, 3] = False  # acceleration 0 does not see velocity 1
    model.restrict_dependencies(mask)
    state = torch.randn(5, 4)
    moved = state.clone()
    moved[:, 3] += 1.0
    rates, moved_rates = model.rhs(torch.zeros(()), state), model.rhs(torch.zeros(()), moved)
    assert torch.equal(rates[:, 2], moved_rates[:, 2])  # acceleration 0 unchanged
    assert not torch.allclose(rates[:, 3], moved_rates[:, 3])
    assert model.adjacency()[0, 3] == 0
    save_model(model, tmp_path / "model.pt")
    loaded, _ = load_model(tmp_path / "model.pt")
    assert torch.equal(loaded.dependency_mask, mask)
    assert torch.equal(loaded.rhs(torch.zeros(()), state), rates)


def test_solver_error_shrinks_with_the_step_and_is_zero_for_exact_steps():
    times = torch.linspace(0.0, 4.0, 9, dtype=torch.float64)
    data = Trajectories.from_arrays([times], [torch.exp(-times).unsqueeze(-1)])
    field = MLPVectorField(1, 1, hidden=(), activation=None).double()
    with torch.no_grad():
        field.layers[0].weight.fill_(-1.0)
    coarse = solver_error(NeuralODE(field, solver="euler"), data)
    fine = solver_error(NeuralODE(field, solver="rk4"), data)
    assert 0 < fine < coarse
    with torch.no_grad():
        field.layers[0].weight.zero_()  # dx/dt = 0: every solver is exact
    assert solver_error(NeuralODE(field, solver="rk4"), data) == 0
