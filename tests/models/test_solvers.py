"""Fixed-grid stepping agrees with an adaptive solver on a smooth problem."""

from __future__ import annotations

import torch

from pathreg.models import MLPVectorField, NeuralODE, Trajectories


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
