from __future__ import annotations

import pytest
import torch

from pathreg.datasets import SecondOrderSystem, simulate, synthetic_second_order


def test_simulate_exponential_decay():
    rates = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    t = torch.linspace(0.0, 3.0, 11, dtype=torch.float64)
    x0 = torch.tensor([[1.0, 2.0, -1.0], [0.5, 0.5, 0.5]])
    solution = simulate(lambda time, x: -rates * x, x0, t)
    assert solution.shape == (11, 2, 3)
    assert solution.dtype == torch.float64
    expected = x0.double() * torch.exp(-rates * t[:, None, None])
    torch.testing.assert_close(solution, expected, rtol=1e-8, atol=1e-10)


def test_simulate_noise_is_seeded():
    t = torch.linspace(0.0, 1.0, 2001)
    clean = simulate(lambda time, x: torch.zeros_like(x), torch.zeros(3), t)
    assert torch.equal(clean, torch.zeros(2001, 3, dtype=torch.float64))
    noisy = simulate(lambda time, x: torch.zeros_like(x), torch.zeros(3), t, noise=0.2, seed=1)
    assert torch.equal(noisy, simulate(lambda time, x: torch.zeros_like(x), torch.zeros(3), t, noise=0.2, seed=1))
    assert not torch.equal(noisy, simulate(lambda time, x: torch.zeros_like(x), torch.zeros(3), t, noise=0.2, seed=2))
    assert float(noisy.std()) == pytest.approx(0.2, rel=0.05)


def test_synthetic_system_layout(synthetic_system):
    system = synthetic_system
    assert isinstance(system, SecondOrderSystem)
    assert system.times.shape == (50,)
    assert system.positions.shape == (50, 3)
    torch.testing.assert_close(system.times, torch.linspace(0.0, 10.0, 50, dtype=torch.float64))
    spacing = 10.0 / 49
    assert float(system.extrapolation_times[0]) == pytest.approx(10.0 + spacing)
    assert float(system.extrapolation_times[-1]) == pytest.approx(20.0)
    torch.testing.assert_close(torch.diff(system.extrapolation_times), torch.full((48,), spacing, dtype=torch.float64))
    assert system.extrapolation_positions.shape == (len(system.extrapolation_times), 3)
    torch.testing.assert_close(system.positions[0], torch.tensor([0.4, 0.7, 1.8], dtype=torch.float64))
    torch.testing.assert_close(system.initial_velocity, torch.tensor([0.3, 0.5, 1.0], dtype=torch.float64))
    assert system.dependencies.shape == (3, 6)
    assert int(system.dependencies.sum()) == 8
    expected = torch.tensor([[1, 0, 0, 1, 0, 0], [0, 1, 0, 0, 1, 0], [0, 0, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(system.dependencies, expected)


def test_synthetic_system_solves_its_equations(synthetic_system):
    system = synthetic_system
    block = torch.zeros(6, 6, dtype=torch.float64)
    block[:3, 3:] = torch.eye(3, dtype=torch.float64)
    block[3:] = system.coefficients
    state0 = torch.cat([system.positions[0], system.initial_velocity])
    times = torch.cat([system.times, system.extrapolation_times])
    exact = torch.stack([torch.linalg.matrix_exp(block * t) @ state0 for t in times])[:, :3]
    torch.testing.assert_close(system.positions, exact[:50], rtol=1e-7, atol=1e-8)
    torch.testing.assert_close(system.extrapolation_positions, exact[50:], rtol=1e-7, atol=1e-8)
    # x2'' = -2 x2 - x0' - x1' - 0.1 x2'
    assert system.coefficients[2].tolist() == [0.0, 0.0, -2.0, -1.0, -1.0, -0.1]


def test_synthetic_system_noise_touches_only_the_training_window(synthetic_system):
    noisy = synthetic_second_order(noise=0.05, seed=3)
    assert not torch.equal(noisy.positions, synthetic_system.positions)
    assert torch.equal(noisy.extrapolation_positions, synthetic_system.extrapolation_positions)
    assert torch.equal(noisy.positions, synthetic_second_order(noise=0.05, seed=3).positions)
    assert not torch.equal(noisy.positions, synthetic_second_order(noise=0.05, seed=4).positions)
    assert float((noisy.positions - synthetic_system.positions).std()) == pytest.approx(0.05, rel=0.3)


def test_synthetic_system_grid_options():
    system = synthetic_second_order(n_points=11, t_max=5.0, extrapolate_to=7.0)
    torch.testing.assert_close(system.times, torch.linspace(0.0, 5.0, 11, dtype=torch.float64))
    assert len(system.extrapolation_times) == 4
    assert float(system.extrapolation_times[-1]) == pytest.approx(7.0)
