"""The solver registry, and fixed-grid stepping agreeing with an adaptive solver on a smooth problem."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pathreg.models import SOLVERS, MLPVectorField, NeuralODE, Solver, Trajectories, check_solver
from pathreg.models._ode import ADAPTIVE_SOLVERS, FIXED_GRID_SOLVERS


def test_observation_grid_rk4_matches_dopri5():
    torch.manual_seed(0)
    field = MLPVectorField(5, 5, hidden=(16,), activation="tanh", bias=True).double()
    t = torch.linspace(0, 1, 41, dtype=torch.float64)
    x0 = torch.randn(3, 5, dtype=torch.float64)
    data = Trajectories.from_arrays([t] * 3, [x0[i].expand(41, 5) for i in range(3)]).to("cpu", torch.float64)
    grid = NeuralODE(field, solver="rk4", decay=True).double()
    adaptive = NeuralODE(field, solver="dopri5", rtol=1e-10, atol=1e-12, decay=True).double()
    with torch.no_grad():
        on_grid = grid.predict(data)
        reference = adaptive.predict(data)
    error = (on_grid - reference).abs().max()
    assert error < 1e-7, f"rk4 on 40 intervals deviates by {error:.2e} from dopri5"
    # and the error shrinks like h^4: half the grid, 16 times the error (within a factor 2)
    coarse = Trajectories.from_arrays([t[::2]] * 3, [x0[i].expand(21, 5) for i in range(3)]).to("cpu", torch.float64)
    with torch.no_grad():
        coarse_error = (grid.predict(coarse) - adaptive.predict(coarse)).abs().max()
    assert 8 < coarse_error / error < 32


def test_solver_registry():
    assert SOLVERS["rk4"].step is not None
    assert not SOLVERS["rk4"].adaptive
    assert SOLVERS["dopri5"].adaptive
    assert SOLVERS["dopri5"].step is None
    assert isinstance(SOLVERS["euler"], Solver)
    assert all(name == solver.name for name, solver in SOLVERS.items())
    assert {name for name, solver in SOLVERS.items() if solver.step is not None} == {"euler", "midpoint", "rk4"}
    # adaptive solvers first, as the names are listed in errors
    assert list(SOLVERS) == [*ADAPTIVE_SOLVERS, *FIXED_GRID_SOLVERS]
    assert "implicit_adams" in FIXED_GRID_SOLVERS
    assert "bosh3" in ADAPTIVE_SOLVERS
    with pytest.raises(TypeError):
        SOLVERS["rk5"] = Solver("rk5", adaptive=False)  # read-only
    with pytest.raises(dataclasses.FrozenInstanceError):
        SOLVERS["rk4"].adaptive = True


def test_check_solver_names_the_valid_values():
    check_solver("rk4", 0.1)
    check_solver("dopri5", None)
    with pytest.raises(ValueError, match="Unknown solver 'rk5'") as error:
        check_solver("rk5", None)
    assert str(list(SOLVERS)) in str(error.value)
    with pytest.raises(ValueError, match="step_size must be positive"):
        check_solver("rk4", -0.1)
