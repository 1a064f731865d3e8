"""The single-cell objective: derivative estimates, self-exclusion, minibatches and RNA velocity."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.linalg import expm

import pathreg
from pathreg.models import GroupLassoVectorField, MLPVectorField, NeuralODE, fit_collocation
from pathreg.tl import DynamicsProblem

GENES = ["g0", "g1", "g2", "g3"]
# a stable linear system: negative diagonal (decay), four off-diagonal edges
SYSTEM = np.array(
    [
        [-1.0, 0.0, 0.8, 0.0],
        [0.9, -1.2, 0.0, 0.0],
        [0.0, -0.7, -0.9, 0.0],
        [0.0, 0.0, 0.6, -1.1],
    ]
)


def trajectory_adata(values, time, lineage=None):
    adata = ad.AnnData(np.asarray(values, dtype=np.float32), var=pd.DataFrame(index=GENES[: values.shape[1]]))
    adata.obs_names = [f"c{i}" for i in range(adata.n_obs)]
    adata.obs["time"] = time
    if lineage is not None:
        adata.obs["lineage"] = pd.Categorical(lineage)
    return adata


def linear_system_cells(n_per_lineage=150, seed=0):
    """Cells along four trajectories of SYSTEM (one lineage each), their states and exact derivatives."""
    rng = np.random.default_rng(seed)
    values, times, lineages = [], [], []
    for lineage in range(4):
        x0 = rng.normal(size=4) * 2
        t = np.sort(rng.uniform(0, 3, n_per_lineage))
        values.append(np.stack([expm(SYSTEM * s) @ x0 for s in t]))
        times.append(t)
        lineages += [f"L{lineage}"] * n_per_lineage
    values = np.concatenate(values)
    return values, np.concatenate(times), lineages, values @ SYSTEM.T


def test_neighbourhood_derivatives_match_an_analytic_trajectory():
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 1, 2000))
    values = np.stack([np.sin(2 * np.pi * t), t**2, np.exp(-2 * t)], axis=1)
    exact = np.stack([2 * np.pi * np.cos(2 * np.pi * t), 2 * t, -2 * np.exp(-2 * t)], axis=1)
    adata = trajectory_adata(values, t)
    problem = DynamicsProblem.from_anndata(adata, time_key="time", n_bins=10, time_scale="pseudotime")
    states, derivatives = problem.cell_derivatives()
    order = problem.bins[0].cells
    np.testing.assert_allclose(states.numpy(), values[order], rtol=1e-6)
    interior = (t[order] > 0.05) & (t[order] < 0.95)  # neighbourhoods at the ends are one-sided
    error = np.abs(derivatives.numpy() - exact[order])[interior]
    assert error.max() < 0.05 * np.abs(exact).max()
    assert np.median(error) < 0.01 * np.abs(exact).max()


def test_neighbourhood_derivatives_are_exact_for_linear_expression():
    t = np.linspace(0, 1, 300)
    values = np.stack([3 * t + 1, -2 * t], axis=1)
    problem = DynamicsProblem.from_anndata(
        trajectory_adata(values, t), time_key="time", n_bins=10, time_scale="pseudotime"
    )
    _, derivatives = problem.cell_derivatives()
    np.testing.assert_allclose(derivatives.numpy(), np.tile([3.0, -2.0], (300, 1)), atol=1e-4)


@pytest.mark.parametrize("hidden", [(), (8,), (8, 5)])
@pytest.mark.parametrize("gated", [False, True])
def test_excluded_self_matches_the_masked_network_and_is_structurally_zero(hidden, gated):
    torch.manual_seed(0)
    field = MLPVectorField(4, 6, hidden=hidden, activation="tanh", bias=True, gated=gated)
    field.eval()
    model = NeuralODE(field, input_index=[0, 2, 3, 5], decay=True, exclude_self=True, solver="rk4")
    inputs = model.select_inputs(torch.randn(7, 6)).requires_grad_(True)
    fast = model.production(torch.zeros(()), inputs)
    allowed = model.allowed_dependencies()
    masked = field(torch.zeros(()), inputs.unsqueeze(-2) * allowed.float()).diagonal(dim1=-2, dim2=-1)
    torch.testing.assert_close(fast, masked)
    own = [(0, 0), (2, 1), (3, 2), (5, 3)]  # (state variable, its input position)
    for row, column in own:
        assert not allowed[row, column]
        assert model.adjacency()[row, column] == 0
        (gradient,) = torch.autograd.grad(fast[:, row].sum(), inputs, retain_graph=True)
        # the first layer subtracts the own input's contribution: independent up to float32 rounding
        assert gradient[:, column].abs().max() <= 1e-6 * gradient.abs().max()
    states = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    for readout in pathreg.models.READOUTS.values():  # the readouts are exactly zero there
        strength = readout(model, states)
        assert all(strength[row, column] == 0 for row, column in own)


def test_group_lasso_excludes_self_too():
    torch.manual_seed(0)
    model = NeuralODE(GroupLassoVectorField(3, 3, hidden=(4,), bias=True), exclude_self=True)
    x = torch.randn(5, 3, requires_grad=True)
    production = model.production(torch.zeros(()), x)
    for gene in range(3):
        (gradient,) = torch.autograd.grad(production[:, gene].sum(), x, retain_graph=True)
        assert torch.all(gradient[:, gene] == 0)
    assert torch.all(model.adjacency().diagonal() == 0)


def test_fit_dynamics_cells_objective_keeps_a_targets_own_level_out_of_its_production(krumsiek_prepared):
    adata = krumsiek_prepared.copy()
    ensemble = pathreg.tl.fit_dynamics(
        adata, lineage_key="lineages", objective="cells", n_bins=8, hidden=(8,), n_seeds=2,
        training={"n_epochs": 40}, progress=False,
    )  # fmt: skip
    for member in ensemble:
        index = member.input_index.numpy()
        assert np.all(member.adjacency().detach().numpy()[index, np.arange(len(index))] == 0)
    adjacency = adata.varp["pathreg_adjacency"]
    assert np.all(np.diag(adjacency) == 0)
    assert adata.uns["pathreg"]["params"]["objective"] == "cells"


def test_feature_sparsity_does_not_count_the_structurally_excluded_self_entries(krumsiek_prepared):
    adata = krumsiek_prepared.copy()
    pathreg.tl.fit_dynamics(
        adata, lineage_key="lineages", objective="cells", method="none", n_bins=8, hidden=(8,), n_seeds=1,
        training={"n_epochs": 20}, progress=False,
    )  # fmt: skip
    off_diagonal = ~np.eye(adata.n_vars, dtype=bool)
    assert np.all(adata.varp["pathreg_adjacency"][off_diagonal] != 0)  # the unpenalised model uses every input
    assert adata.uns["pathreg"]["metrics"]["feature_sparsity"] == 0.0


def _linear_fit(batch_size, seed):
    values, _, _, derivatives = linear_system_cells()
    noise = np.random.default_rng(1).normal(scale=0.1, size=derivatives.shape)
    states = torch.as_tensor(values, dtype=torch.float32)
    rates = torch.as_tensor(derivatives + noise, dtype=torch.float32)
    torch.manual_seed(seed)
    model = NeuralODE(MLPVectorField(4, 4, hidden=(), activation=None, bias=False))
    fit_collocation(
        model, states, rates, cells=(states, rates), n_epochs=1000, lr=0.05, batch_size=batch_size, seed=seed,
        progress=False,
    )  # fmt: skip
    return model.vector_field.layers[0].weight.detach().numpy()


def test_minibatch_and_full_batch_agree_on_a_linear_system():
    full = _linear_fit(None, seed=0)
    minibatches = np.mean([_linear_fit(32, seed=seed) for seed in range(3)], axis=0)
    np.testing.assert_allclose(full, SYSTEM, atol=0.05)
    np.testing.assert_allclose(minibatches, full, atol=0.03)


def test_minibatch_loss_is_an_unbiased_estimate_of_the_full_loss():
    from pathreg.models import CollocationSettings
    from pathreg.models._collocation import CellTerm

    values, _, _, derivatives = linear_system_cells()
    states = torch.as_tensor(values, dtype=torch.float32)
    rates = torch.as_tensor(derivatives, dtype=torch.float32) + 0.3  # a model that is not exact
    model = NeuralODE(MLPVectorField(4, 4, hidden=(), activation=None, bias=False), decay=False)
    zero = torch.zeros(())
    generator = torch.Generator().manual_seed(0)
    full_term = CellTerm(states, rates, CollocationSettings(batch_size=None), "cpu", torch.float32)
    term = CellTerm(states, rates, CollocationSettings(batch_size=16), "cpu", torch.float32)
    with torch.no_grad():
        full = full_term.loss(model, zero, generator)
        estimates = torch.stack([term.loss(model, zero, generator) for _ in range(3000)])
    assert abs(float(estimates.mean()) - float(full)) < 0.03 * float(full)


def test_velocity_layer_recovers_a_linear_systems_matrix():
    values, time, lineages, derivatives = linear_system_cells()
    adata = trajectory_adata(values, time / time.max(), lineages)
    adata.layers["velocity"] = derivatives.astype(np.float32)
    pathreg.tl.fit_dynamics(
        adata, method="none", time_key="time", lineage_key="lineage", objective="cells", velocity_key="velocity",
        time_scale="pseudotime", hidden=(), activation=None, n_seeds=1, normalize=False, n_bins=10, readout="jacobian",
        decay=True,  # the system's decays differ per gene: learn them (exact velocities carry them)
        training={"n_epochs": 1500, "cell_weight": 20.0, "weight_decay": 0.0, "warmup_fraction": 0.0,
                  "refit_fraction": 0.0, "lr": 0.02},
        progress=False,
    )  # fmt: skip
    learned = adata.varp["pathreg_adjacency"]
    off_diagonal = ~np.eye(4, dtype=bool)
    truth = SYSTEM[off_diagonal]
    estimate = learned[off_diagonal]
    scale = float(truth @ estimate / (truth @ truth))  # the velocity is rescaled to the model's time
    assert scale > 0
    np.testing.assert_allclose(estimate / scale, truth, atol=0.1)


def test_velocity_key_errors_are_clear_and_leave_adata_unchanged():
    values, time, lineages, _ = linear_system_cells(n_per_lineage=40)
    adata = trajectory_adata(values, time, lineages)
    with pytest.raises(ValueError, match="scvelo.tl.velocity"):
        pathreg.tl.fit_dynamics(
            adata, time_key="time", objective="cells", velocity_key="velocty", n_bins=5, progress=False
        )
    adata.layers["velocity"] = np.ones(adata.shape, dtype=np.float32)
    with pytest.raises(ValueError, match="objective='cells' only"):
        pathreg.tl.fit_dynamics(
            adata, time_key="time", objective="collocation", velocity_key="velocity", n_bins=5, progress=False
        )
    problem = DynamicsProblem.from_anndata(adata, time_key="time", velocity_key="velocity", n_bins=5)
    with pytest.raises(ValueError, match="objective='cells' only"):  # sweep's and generalization's path too
        pathreg.tl.fit_ensemble(problem, pathreg.tl.FitSettings(objective="shooting"), progress=False)
    adata.layers["velocity"] = np.full(adata.shape, np.nan, dtype=np.float32)
    with pytest.raises(ValueError, match="NaN"):
        pathreg.tl.fit_dynamics(
            adata, time_key="time", objective="cells", velocity_key="velocity", n_bins=5, progress=False
        )
    assert "pathreg" not in adata.uns
    assert "pathreg_adjacency" not in adata.varp


def test_ablation_readout_is_zero_without_a_path_and_signed():
    torch.manual_seed(0)
    field = MLPVectorField(2, 2, hidden=(), activation=None, bias=False)
    with torch.no_grad():
        field.layers[0].weight.copy_(torch.tensor([[0.0, 2.0], [-1.0, 0.0]]))
    model = NeuralODE(field)
    states = np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32)
    strength = pathreg.models.ablation_strength(model, states)
    assert strength[0, 0] == 0
    assert strength[1, 1] == 0
    assert strength[0, 1] > 0
    assert strength[1, 0] < 0
    variance = states.var(axis=0)
    np.testing.assert_allclose([strength[0, 1], -strength[1, 0]], [4 * variance[1], variance[0]], rtol=1e-4)


def test_the_cells_objective_fixes_the_decay_and_the_others_learn_it():
    from pathreg.tl import FitSettings

    assert FitSettings().decay_in_force() == 3.0
    assert FitSettings(objective="collocation").decay_in_force() is True
    assert FitSettings(objective="shooting").decay_in_force() is True
    assert FitSettings(decay=True).decay_in_force() is True
    assert FitSettings(objective="collocation", decay=0.5).decay_in_force() == 0.5
    for bad in (0, -2.0, float("inf"), "fast"):
        with pytest.raises(ValueError, match="decay must be None"):
            FitSettings(decay=bad)


def test_fit_dynamics_records_the_fixed_decay_and_keeps_it(krumsiek_prepared):
    adata = krumsiek_prepared.copy()
    ensemble = pathreg.tl.fit_dynamics(
        adata, lineage_key="lineages", n_bins=8, hidden=(8,), n_seeds=1, training={"n_epochs": 20}, progress=False
    )
    assert adata.uns["pathreg"]["params"]["decay"] == 3.0
    for member in ensemble:
        torch.testing.assert_close(member.log_decay.exp(), torch.full_like(member.log_decay, 3.0))
    learned = adata.copy()
    pathreg.tl.fit_dynamics(
        learned, lineage_key="lineages", n_bins=8, hidden=(8,), n_seeds=1, decay=True, training={"n_epochs": 20},
        progress=False,
    )  # fmt: skip
    assert learned.uns["pathreg"]["params"]["decay"] == "learned"


@pytest.mark.parametrize("decay", [False, 3.0])
def test_cell_term_is_relative_to_the_variance_of_the_production_it_fits(decay):
    """A model predicting the mean production (derivative + decay * level) everywhere has relative error 1."""
    from pathreg.models import CollocationSettings
    from pathreg.models._collocation import CellTerm, _initial_decay

    values, _, _, derivatives = linear_system_cells()
    states = torch.as_tensor(values, dtype=torch.float32)
    rates = torch.as_tensor(derivatives, dtype=torch.float32)
    model = NeuralODE(MLPVectorField(4, 4, hidden=(), activation=None, bias=False), decay=decay)
    rate = _initial_decay(model, "cpu", torch.float32)
    term = CellTerm(states, rates, CollocationSettings(batch_size=None), "cpu", torch.float32, decay=rate)
    production = rates + rate * states
    mean_production_rates = production.mean(0) - rate * states  # rhs = f - decay * x with f the mean production
    error = float(term.error(mean_production_rates, rates))
    assert error == pytest.approx(1.0, rel=1e-4)
    assert float(term.error(rates, rates)) == 0.0


def test_neighbourhood_derivatives_in_principal_components_are_exact_for_linear_expression():
    # more genes than NEIGHBOUR_COMPONENTS: neighbours are found in the principal components
    from pathreg.tl._cells import NEIGHBOUR_COMPONENTS, neighbourhood_derivatives

    rng = np.random.default_rng(0)
    n_genes = NEIGHBOUR_COMPONENTS + 10
    t = np.sort(rng.uniform(0, 1, 400))
    slopes = rng.normal(size=n_genes)
    values = 1.0 + t[:, None] * slopes[None, :]
    adata = ad.AnnData(values.astype(np.float32), var=pd.DataFrame(index=[f"g{i:03d}" for i in range(n_genes)]))
    adata.obs["time"] = t
    problem = DynamicsProblem.from_anndata(adata, time_key="time", n_bins=10, time_scale="pseudotime")
    _, derivatives = problem.cell_derivatives()
    # model time is the time scaled to [0, 1] over the cells
    np.testing.assert_allclose(derivatives.numpy(), np.tile(slopes * np.ptp(t), (400, 1)), atol=1e-3)
    again = neighbourhood_derivatives(problem.values, problem.bins, problem.scaled_time)[1]
    np.testing.assert_array_equal(again, derivatives.numpy())  # the randomized PCA is seeded


def test_neighbourhood_slopes_in_blocks_of_cells_are_those_of_all_cells_at_once(monkeypatch):
    import pathreg.tl._cells as cells_module

    values, time, lineages, _ = linear_system_cells(n_per_lineage=120)
    problem = DynamicsProblem.from_anndata(
        trajectory_adata(values, time, lineages), time_key="time", lineage_key="lineage"
    )
    whole = cells_module.neighbourhood_derivatives(problem.values, problem.bins, problem.scaled_time)
    monkeypatch.setattr(cells_module, "SLOPE_BLOCK_ELEMENTS", 7 * 15 * 4)  # blocks of 7 cells
    blocked = cells_module.neighbourhood_derivatives(problem.values, problem.bins, problem.scaled_time)
    for part, expected in zip(blocked, whole, strict=True):
        np.testing.assert_array_equal(part, expected)
