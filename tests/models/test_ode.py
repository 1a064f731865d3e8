from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call

from pathreg.models import (
    SOLVERS,
    LassoNetVectorField,
    MLPVectorField,
    NeuralODE,
    SecondOrderNeuralODE,
    Trajectories,
    masked_mse,
)

TIGHT = {"solver": "dopri5", "rtol": 1e-10, "atol": 1e-12}


def _linear_field(matrix: torch.Tensor) -> MLPVectorField:
    n_outputs, n_inputs = matrix.shape
    field = MLPVectorField(n_inputs, n_outputs, hidden=(), activation=None).double()
    with torch.no_grad():
        field.layers[0].weight.copy_(matrix)
    return field


def _stable_matrix(n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, n, generator=generator, dtype=torch.float64) / math.sqrt(n) - 0.5 * torch.eye(
        n, dtype=torch.float64
    )


def _expm_solution(matrix: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x(t) = expm(A t) x0 for every t, shape ``(len(t), batch, n)``."""
    return torch.stack([x0 @ torch.linalg.matrix_exp(matrix * time).T for time in t])


def test_linear_ode_matches_matrix_exponential():
    matrix = _stable_matrix(4)
    model = NeuralODE(_linear_field(matrix), **TIGHT)
    x0 = torch.randn(3, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t = torch.linspace(0.0, 2.0, 7, dtype=torch.float64)
    solution = model(x0, t)
    assert solution.shape == (7, 3, 4)
    torch.testing.assert_close(solution, _expm_solution(matrix, x0, t), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("solver", ["rk4", "midpoint", "euler"])
def test_fixed_grid_solvers_converge_to_the_matrix_exponential(solver):
    matrix = _stable_matrix(3, seed=2)
    x0 = torch.ones(1, 3, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    exact = _expm_solution(matrix, x0, t)[-1]
    with torch.no_grad():
        errors = [
            float((NeuralODE(_linear_field(matrix), solver=solver, step_size=h)(x0, t)[-1] - exact).abs().max())
            for h in (0.1, 0.05)
        ]
    order = {"euler": 1, "midpoint": 2, "rk4": 4}[solver]
    # halving the step divides the error by about 2**order
    assert errors[0] / errors[1] == pytest.approx(2**order, rel=0.25)


def test_input_index_feeds_a_subset_of_the_state():
    # dx/dt = B x[[0, 2]]: the state variable 1 influences nothing
    b = torch.tensor([[-1.0, 0.5], [0.3, -0.2], [0.0, -0.7]], dtype=torch.float64)
    model = NeuralODE(_linear_field(b), input_index=[0, 2], **TIGHT)
    full = torch.zeros(3, 3, dtype=torch.float64)
    full[:, [0, 2]] = b
    x0 = torch.tensor([[1.0, 2.0, -1.0]], dtype=torch.float64)
    t = torch.linspace(0.0, 1.5, 4, dtype=torch.float64)
    torch.testing.assert_close(model(x0, t), _expm_solution(full, x0, t), rtol=1e-8, atol=1e-9)
    assert model.state_dim == 3


def test_neural_ode_argument_checks():
    with pytest.raises(ValueError, match="input_index"):
        NeuralODE(MLPVectorField(2, 3))
    with pytest.raises(ValueError, match="input_index"):
        NeuralODE(MLPVectorField(2, 3), input_index=[0, 3])
    with pytest.raises(ValueError, match="input_index"):
        NeuralODE(MLPVectorField(2, 3), input_index=[0])
    with pytest.raises(ValueError, match="dopri5") as error:
        NeuralODE(MLPVectorField(2, 2), solver="runge")
    assert "rk4" in str(error.value)
    with pytest.raises(ValueError, match="step_size"):
        NeuralODE(MLPVectorField(2, 2), solver="rk4", step_size=0.0)
    assert "dopri5" in SOLVERS
    assert "rk4" in SOLVERS


def test_second_order_linear_system_matches_simulation(synthetic_system):
    system = synthetic_system
    field = _linear_field(system.coefficients)
    model = SecondOrderNeuralODE(field, initial_velocity="zero", **TIGHT)
    x0 = system.positions[:1]
    v0 = system.initial_velocity.unsqueeze(0)
    positions = model(x0, system.times, v0)
    assert positions.shape == (len(system.times), 1, 3)
    torch.testing.assert_close(positions[:, 0], system.positions, rtol=1e-6, atol=1e-8)
    # and against the matrix exponential of the first-order system on [x, v]
    block = torch.zeros(6, 6, dtype=torch.float64)
    block[:3, 3:] = torch.eye(3, dtype=torch.float64)
    block[3:] = system.coefficients
    state = model(x0, system.times, v0, return_velocity=True)
    assert state.shape == (len(system.times), 1, 6)
    exact = _expm_solution(block, torch.cat([x0, v0], dim=-1), system.times)
    torch.testing.assert_close(state, exact, rtol=1e-7, atol=1e-8)


def test_second_order_initial_velocity():
    torch.manual_seed(0)
    x0 = torch.randn(4, 2)
    zero = SecondOrderNeuralODE(MLPVectorField(4, 2, hidden=(3,)), initial_velocity="zero")
    assert torch.equal(zero.velocity_at_start(x0), torch.zeros(4, 2))
    learned = SecondOrderNeuralODE(MLPVectorField(4, 2, hidden=(3,)), initial_velocity="learned", velocity_hidden=5)
    assert learned.velocity_at_start(x0).shape == (4, 2)
    torch.testing.assert_close(learned.velocity_at_start(x0), learned.velocity_network(x0))
    t = torch.linspace(0, 1, 3)
    state = learned(x0, t, return_velocity=True)
    torch.testing.assert_close(state[0], torch.cat([x0, learned.velocity_network(x0)], dim=-1))
    with pytest.raises(ValueError, match="learned"):
        SecondOrderNeuralODE(MLPVectorField(4, 2), initial_velocity="random")
    with pytest.raises(ValueError, match="2 \\* 2"):
        SecondOrderNeuralODE(MLPVectorField(3, 2))


def test_lassonet_outer_adds_the_skip_to_the_solution():
    torch.manual_seed(0)
    field = LassoNetVectorField(3, 3, hidden=(4,), placement="outer").double()
    with torch.no_grad():
        field.network.layers[-1].weight.zero_()  # g = 0: the ODE solution stays at x0
    model = NeuralODE(field, **TIGHT)
    x0 = torch.randn(2, 3, dtype=torch.float64)
    t = torch.linspace(0, 1, 4, dtype=torch.float64)
    expected = (x0 + x0 @ field.skip.weight.T).expand(4, 2, 3)
    torch.testing.assert_close(model(x0, t), expected)
    inner = NeuralODE(LassoNetVectorField(3, 3, hidden=(4,), placement="inner").double(), **TIGHT)
    assert torch.equal(inner(x0, t)[0], x0)


def _two_trajectories(dtype: torch.dtype = torch.float64) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    nan = float("nan")
    times = [torch.tensor([0.0, 0.5, 1.0, 2.0]), torch.tensor([1.0, 1.25, 2.0])]
    values = [
        torch.tensor([[1.0, 2.0], [0.5, nan], [0.3, 0.4], [0.1, 0.2]]),
        torch.tensor([[-1.0, 0.5], [nan, nan], [-0.5, 0.1]]),
    ]
    return times, values


def test_trajectories_union_grid_mask_and_padding():
    times, values = _two_trajectories()
    data = Trajectories.from_arrays(times, values, dtype=torch.float64)
    assert data.n_trajectories == 2
    assert data.n_dims == 2
    torch.testing.assert_close(data.union_times, torch.tensor([0.0, 0.25, 0.5, 1.0, 2.0], dtype=torch.float64))
    assert data.time_index.tolist() == [[0, 2, 3, 4], [0, 1, 3, 3]]
    # the padded entry repeats the last time and is masked out
    assert data.times[1].tolist() == [1.0, 1.25, 2.0, 2.0]
    expected_mask = torch.tensor([[[1, 1], [1, 0], [1, 1], [1, 1]], [[1, 1], [0, 0], [1, 1], [0, 0]]], dtype=torch.bool)
    assert torch.equal(data.mask, expected_mask)
    assert torch.isfinite(data.values).all()
    assert torch.equal(data.values[~data.mask], torch.zeros(int((~data.mask).sum()), dtype=torch.float64))
    torch.testing.assert_close(data.initial_state, torch.tensor([[1.0, 2.0], [-1.0, 0.5]], dtype=torch.float64))


def test_gather_equals_solving_every_trajectory_separately():
    times, values = _two_trajectories()
    data = Trajectories.from_arrays(times, values, dtype=torch.float64)
    model = NeuralODE(_linear_field(_stable_matrix(2, seed=3)), **TIGHT)
    prediction = model.predict(data)
    assert prediction.shape == (2, 4, 2)
    for index, t in enumerate(times):
        t = t.double()
        alone = model(data.initial_state[index : index + 1], t - t[0])[:, 0]
        torch.testing.assert_close(prediction[index, : len(t)], alone, rtol=1e-8, atol=1e-10)


def test_masked_mse_ignores_masked_entries():
    times, values = _two_trajectories()
    data = Trajectories.from_arrays(times, values, dtype=torch.float64)
    prediction = torch.randn(2, 4, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    observed = data.mask
    expected = ((prediction - data.values)[observed] ** 2).mean()
    torch.testing.assert_close(masked_mse(prediction, data), expected)
    changed = prediction.clone()
    changed[~observed] = 1e6
    torch.testing.assert_close(masked_mse(changed, data), expected)
    assert float(masked_mse(data.values.clone(), data)) == 0.0


def test_truncate_masks_late_observations_and_cuts_the_grid():
    times, values = _two_trajectories()
    data = Trajectories.from_arrays(times, values, dtype=torch.float64)
    assert data.truncate(1.0) is data
    half = data.truncate(0.5)  # horizon 1.0 of the relative span 2.0
    torch.testing.assert_close(half.union_times, torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64))
    relative = data.times - data.times[:, :1]
    assert torch.equal(half.mask, data.mask & (relative <= 1.0).unsqueeze(-1))
    assert int(half.time_index.max()) < len(half.union_times)
    # gathering from a solution on the shorter grid gives the same values at the kept points
    model = NeuralODE(_linear_field(_stable_matrix(2, seed=4)), **TIGHT)
    full_prediction = model.predict(data)
    short_prediction = model.predict(half)
    torch.testing.assert_close(short_prediction[half.mask], full_prediction[half.mask], rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="fraction"):
        data.truncate(0.0)
    with pytest.raises(ValueError, match="fraction"):
        data.truncate(1.5)


def test_trajectories_from_arrays_checks_inputs():
    with pytest.raises(ValueError, match="strictly increasing"):
        Trajectories.from_arrays([torch.tensor([0.0, 0.0, 1.0])], [torch.zeros(3, 2)])
    with pytest.raises(ValueError, match="at least 2"):
        Trajectories.from_arrays([torch.tensor([0.0])], [torch.zeros(1, 2)])
    with pytest.raises(ValueError, match="shape"):
        Trajectories.from_arrays([torch.tensor([0.0, 1.0])], [torch.zeros(3, 2)])
    with pytest.raises(ValueError, match="same, non-zero number"):
        Trajectories.from_arrays([torch.tensor([0.0, 1.0])], [])
    incomplete = torch.tensor([[float("nan"), 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="initial_state"):
        Trajectories.from_arrays([torch.tensor([0.0, 1.0])], [incomplete])
    data = Trajectories.from_arrays([torch.tensor([0.0, 1.0])], [incomplete], initial_state=torch.ones(1, 2))
    assert torch.equal(data.initial_state, torch.ones(1, 2))


def test_trajectories_from_stacked_arrays_and_to():
    times = torch.linspace(0, 1, 5).expand(3, 5)
    values = torch.randn(3, 5, 2)
    data = Trajectories.from_arrays(times, values)
    assert data.values.dtype == torch.float32
    assert data.mask.all()
    assert len(data.union_times) == 5
    as_double = data.to(dtype=torch.float64)
    assert as_double.values.dtype == torch.float64
    assert as_double.mask.dtype == torch.bool
    assert as_double.time_index.dtype == torch.long


def _tiny_gated_model() -> NeuralODE:
    torch.manual_seed(0)
    field = MLPVectorField(3, 3, hidden=(4,), activation="tanh", gated=True, log_alpha_init=1.0).double()
    return NeuralODE(field, solver="rk4", step_size=0.1)


def test_gradcheck_wrt_initial_state_eval_mode():
    model = _tiny_gated_model().eval()
    t = torch.linspace(0, 0.5, 3, dtype=torch.float64)
    x0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: model(x, t), (x0,))


def test_gradcheck_wrt_weights_and_log_alpha_eval_mode():
    model = _tiny_gated_model().eval()
    t = torch.linspace(0, 0.5, 3, dtype=torch.float64)
    x0 = torch.randn(2, 3, dtype=torch.float64)
    names = ["vector_field.layers.0.weight", "vector_field.layers.1.log_alpha"]
    parameters = dict(model.named_parameters())
    inputs = tuple(parameters[name].detach().clone().requires_grad_(True) for name in names)

    def solve(*tensors):
        return functional_call(model, dict(zip(names, tensors, strict=True)), (x0, t))

    assert torch.autograd.gradcheck(solve, inputs)


def test_gradcheck_wrt_initial_state_with_a_fixed_gate_sample():
    model = _tiny_gated_model().train()
    for layer in model.vector_field.layers:
        layer.resample(torch.Generator().manual_seed(0))
    t = torch.linspace(0, 0.5, 3, dtype=torch.float64)
    x0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: model(x, t), (x0,))


def test_decay_alone_is_exponential():
    from pathreg.models import MLPVectorField, NeuralODE

    field = MLPVectorField(3, 3, hidden=(4,))
    torch.nn.init.zeros_(field.layers[-1].weight)  # no production
    model = NeuralODE(field, solver="dopri5", rtol=1e-8, atol=1e-9, decay=True)
    with torch.no_grad():
        model.log_decay.copy_(torch.log(torch.tensor([0.5, 1.0, 2.0])))
    x0 = torch.tensor([[1.0, 2.0, 3.0]])
    t = torch.linspace(0, 2, 5)
    expected = x0 * torch.exp(-t[:, None, None] * torch.tensor([0.5, 1.0, 2.0]))
    torch.testing.assert_close(model(x0, t).detach(), expected, rtol=1e-5, atol=1e-6)
    assert model.adjacency().shape == (3, 3)  # decay is not part of the dependency matrix


def test_a_fixed_decay_rate_is_a_buffer_that_training_and_saving_keep(tmp_path):
    from pathreg.models import MLPVectorField, NeuralODE, fit_collocation, load_model, save_model

    torch.manual_seed(0)
    model = NeuralODE(MLPVectorField(3, 3, hidden=(4,), bias=False), solver="rk4", decay=3.0)
    assert "log_decay" not in dict(model.named_parameters())
    states, rates = torch.randn(20, 3), torch.randn(20, 3)
    fit_collocation(model, states, rates, n_epochs=5, progress=False)
    torch.testing.assert_close(model.log_decay.exp(), torch.full((3,), 3.0))
    with torch.no_grad():  # the rate acts as decay: zero production leaves -3 x
        model.vector_field.layers[-1].weight.zero_()
        torch.testing.assert_close(model.rhs(torch.zeros(()), states), -3.0 * states)
    save_model(model, tmp_path / "model.pt")
    loaded, _ = load_model(tmp_path / "model.pt")
    assert "log_decay" not in dict(loaded.named_parameters())
    torch.testing.assert_close(loaded.log_decay, model.log_decay)


@pytest.mark.parametrize("decay", [0, -1.0, math.inf, math.nan, "3"])
def test_a_decay_that_is_not_a_positive_rate_is_an_error(decay):
    from pathreg.models import MLPVectorField, NeuralODE

    with pytest.raises(ValueError, match="positive finite rate"):
        NeuralODE(MLPVectorField(3, 3, hidden=(4,)), decay=decay)


def test_dependency_mask_removes_forbidden_inputs_exactly():
    from pathreg.models import MLPVectorField, NeuralODE

    torch.manual_seed(0)
    mask = torch.tensor([[True, False, False], [True, True, False], [False, False, True]])
    model = NeuralODE(MLPVectorField(3, 3, hidden=(6,), bias=True), solver="rk4", dependency_mask=mask)
    x = torch.randn(5, 3, requires_grad=True)
    rates = model.rhs(torch.zeros(()), x)
    for output in range(3):
        (gradient,) = torch.autograd.grad(rates[:, output].sum(), x, retain_graph=True)
        assert torch.all(gradient[:, ~mask[output]] == 0)
        assert torch.all(gradient[:, mask[output]].abs().sum(0) > 0)
    assert torch.all(model.adjacency()[~mask] == 0)
    with pytest.raises(ValueError, match="dependency_mask"):
        NeuralODE(MLPVectorField(3, 3), dependency_mask=torch.ones(2, 3, dtype=torch.bool))


@pytest.mark.parametrize("solver", ["rk4", "midpoint", "euler"])
def test_per_trajectory_steps_equal_torchdiffeq_on_each_grid(solver):
    from pathreg.models import MLPVectorField, NeuralODE, Trajectories

    torch.manual_seed(0)
    model = NeuralODE(MLPVectorField(2, 2, hidden=(5,), activation="tanh"), solver=solver, decay=True)
    grids = [torch.tensor([0.0, 0.13, 0.2, 0.5]), torch.tensor([0.1, 0.4, 0.45])]
    values = [torch.randn(len(g), 2) for g in grids]
    data = Trajectories.from_arrays(grids, values)
    with torch.no_grad():
        batched = model.predict(data)
        for index, grid in enumerate(grids):
            alone = model(data.initial_state[index : index + 1], grid - grid[0])[:, 0]
            torch.testing.assert_close(batched[index, : len(grid)], alone, rtol=1e-5, atol=1e-6)


def test_per_trajectory_rk4_matches_the_matrix_exponential():
    from pathreg.models import MLPVectorField, NeuralODE, Trajectories

    field = MLPVectorField(2, 2, hidden=(), activation=None)
    generator = torch.tensor([[-0.5, 1.0], [-1.0, -0.5]])
    with torch.no_grad():
        field.layers[0].weight.copy_(generator)
    model = NeuralODE(field, solver="rk4")
    times = [torch.linspace(0, 1, 21), torch.linspace(0.3, 1.1, 17) ** 1.1]
    x0 = torch.tensor([[1.0, 0.0], [0.5, 2.0]])
    data = Trajectories.from_arrays(times, [torch.zeros(len(t), 2) for t in times], initial_state=x0)
    with torch.no_grad():
        predicted = model.predict(data)
    for index, t in enumerate(times):
        exact = torch.stack([torch.linalg.matrix_exp(generator * (s - t[0])) @ x0[index] for s in t])
        # fourth order: the global error at h = 0.05 is of order h^4 ~ 6e-6
        torch.testing.assert_close(predicted[index, : len(t)], exact, rtol=0, atol=2e-5)


def test_public_solve_select_inputs_and_outer_skip():
    b = torch.tensor([[-1.0, 0.5], [0.3, -0.2], [0.0, -0.7]], dtype=torch.float64)
    model = NeuralODE(_linear_field(b), input_index=[0, 2], **TIGHT)
    state = torch.tensor([[1.0, 2.0, -1.0]], dtype=torch.float64)
    assert torch.equal(model.select_inputs(state), state[:, [0, 2]])
    t = torch.linspace(0.0, 1.0, 3, dtype=torch.float64)
    assert torch.equal(model.solve(model.rhs, state, t), model(state, t))  # no skip: the solve is the prediction
    assert model.outer_skip(model.select_inputs(state)) is None
    outer = NeuralODE(LassoNetVectorField(3, 3, hidden=(4,), placement="outer").double(), **TIGHT)
    x0 = torch.randn(2, 3, dtype=torch.float64)
    skip = outer.outer_skip(outer.select_inputs(x0))
    assert torch.equal(outer(x0, t), outer.solve(outer.rhs, x0, t) + skip)
    # models are saved with pathreg.models.save_model, not a method that would import the file format
    assert not hasattr(NeuralODE, "save")
    assert not hasattr(SecondOrderNeuralODE, "save")


def test_restoring_term_is_a_learned_spring_and_damper_on_each_coordinate(tmp_path):
    from pathreg.models import MLPVectorField, SecondOrderNeuralODE, load_model, save_model
    from pathreg.models._ode import RESTORING_INIT

    field = MLPVectorField(4, 2, hidden=(3,))
    plain = SecondOrderNeuralODE(field, initial_velocity="zero", solver="rk4")
    model = SecondOrderNeuralODE(field, initial_velocity="zero", solver="rk4", restoring=True)
    with torch.no_grad():
        model.restoring_stiffness.copy_(torch.tensor([0.5, 2.0]).expm1().log())  # softplus^-1 of k = 0.5, 2
    state = torch.randn(7, 4)
    zero = torch.zeros(())
    stiffness, damping = model.restoring_rates()
    torch.testing.assert_close(stiffness, torch.tensor([0.5, 2.0]))
    torch.testing.assert_close(damping, torch.full((2,), RESTORING_INIT))
    expected = plain.rhs(zero, state)[:, 2:] - stiffness * state[:, :2] - damping * state[:, 2:]
    torch.testing.assert_close(model.rhs(zero, state)[:, 2:], expected)
    torch.testing.assert_close(model.rhs(zero, state)[:, :2], state[:, 2:])
    adjacency = model.adjacency().detach()
    diagonals = torch.cat([torch.diag(stiffness), torch.diag(damping)], dim=-1).detach()
    torch.testing.assert_close(adjacency, plain.adjacency().detach() + diagonals)
    with pytest.raises(TypeError, match="restoring=True"):
        plain.restoring_rates()
    save_model(model, tmp_path / "restoring.pt")
    loaded, _ = load_model(tmp_path / "restoring.pt")
    torch.testing.assert_close(loaded.rhs(zero, state), model.rhs(zero, state))


def test_restoring_term_relaxes_a_prediction_toward_the_origin():
    from pathreg.models import MLPVectorField, SecondOrderNeuralODE

    field = MLPVectorField(2, 1, hidden=(), activation=None)
    torch.nn.init.zeros_(field.layers[0].weight)  # no learned acceleration: only the spring and damper act
    model = SecondOrderNeuralODE(field, initial_velocity="zero", solver="rk4", step_size=0.05, restoring=True)
    with torch.no_grad():
        model.restoring_stiffness.fill_(math.log(math.expm1(1.0)))
        model.restoring_damping.fill_(math.log(math.expm1(2.0)))  # critically damped: k = 1, c = 2
        path = model(torch.tensor([[3.0]]), torch.linspace(0, 20, 401))[:, 0, 0]
    assert abs(float(path[-1])) < 1e-5  # to the origin
    assert float(path.min()) >= -1e-6  # without overshoot
    expected = 3.0 * (1 + torch.linspace(0, 20, 401)) * torch.exp(-torch.linspace(0, 20, 401))  # (1 + t) e^-t
    torch.testing.assert_close(path, expected, atol=1e-4, rtol=0)
