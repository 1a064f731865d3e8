"""tl.perturb: the clamp, its bookkeeping and an analytically solvable knockout."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

import pathreg
from pathreg._utils import PERTURBATION_COLUMNS as COLUMNS
from pathreg.models import ClampedODE, Ensemble, MLPVectorField, NeuralODE, SecondOrderNeuralODE

N_CELLS, N_BINS = 100, 10  # rank time: bin k at (10 k + 5) / 100, so the lineage runs from 0.05 to 0.95
T0, T1 = 0.05, 0.95


def _linear_model(a_to_b: float = 1.0, solver: str = "rk4") -> Ensemble:
    """x0' = 0, x1' = a_to_b * x0 - x1 (no decay term: the -x1 is in the linear field)."""
    field = MLPVectorField(2, 2, hidden=(), activation=None)
    with torch.no_grad():
        for module in field.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.copy_(torch.tensor([[0.0, 0.0], [a_to_b, -1.0]]))
                if module.bias is not None:
                    module.bias.zero_()
    model = NeuralODE(field, solver=solver).eval()
    metadata = {
        "state_genes": ["x0", "x1"],
        "regulators": ["x0", "x1"],
        "targets": ["x0", "x1"],
        "time_key": "t",
        "time_offset": 0.0,
        "time_span": 1.0,
        "n_bins": N_BINS,
        "time_scale": "rank",
        "method": "none",
    }
    return Ensemble([model], metadata)


def _adata(x0: float = 2.0, x1: float = 0.5, lineage_key: str = "none") -> ad.AnnData:
    """Constant expression (x0, x1, 1) so that every bin mean, the initial state included, is exact."""
    values = np.tile(np.array([[x0, x1, 1.0]], dtype=np.float32), (N_CELLS, 1))
    obs = pd.DataFrame({"t": np.linspace(0.0, 1.0, N_CELLS)}, index=[f"c{i}" for i in range(N_CELLS)])
    obs["branch"] = pd.Categorical(np.where(np.arange(N_CELLS) % 2 == 0, "A", "B"))
    adata = ad.AnnData(values, obs=obs)
    adata.var_names = ["x0", "x1", "other"]
    adata.uns["pathreg"] = {
        "params": {"time_key": "t", "lineage_key": lineage_key, "layer": "X", "n_bins": N_BINS, "time_scale": "rank"}
    }
    return adata


def test_knockout_of_a_linear_input_matches_the_analytic_solution():
    # control: x1(t) = a + (b - a) e^{-(t - t0)};  knockout x0 = 0: x1(t) = b e^{-(t - t0)}
    # delta = -a (1 - e^{-s}) at s = t - t0, whose time average over [0, T] is -a (1 - (1 - e^{-T}) / T)
    a, b, span = 2.0, 0.5, T1 - T0
    adata = _adata(a, b)
    table = pathreg.tl.perturb(adata, {"x0": 0.0}, model=_linear_model(), n_steps=201)
    assert list(table.columns) == list(COLUMNS)
    row = table.set_index("gene").loc["x1"]
    np.testing.assert_allclose(row["control_final"], a + (b - a) * np.exp(-span), rtol=1e-6)
    np.testing.assert_allclose(row["perturbed_final"], b * np.exp(-span), rtol=1e-6)
    np.testing.assert_allclose(row["delta_final"], -a * (1 - np.exp(-span)), rtol=1e-6)
    np.testing.assert_allclose(row["delta_mean"], -a * (1 - (1 - np.exp(-span)) / span), rtol=1e-4)
    clamped = table.set_index("gene").loc["x0"]
    assert clamped["perturbed"]
    assert not row["perturbed"]
    assert clamped["perturbed_final"] == 0.0
    assert clamped["delta_final"] == -a
    np.testing.assert_allclose(clamped["delta_mean"], -a, rtol=1e-12)


def test_overexpression_scales_linearly_and_ensembles_average():
    adata = _adata(2.0, 0.5)
    single = pathreg.tl.perturb(adata, {"x0": 5.0}, model=_linear_model(1.0)).set_index("gene")
    double = pathreg.tl.perturb(adata, {"x0": 5.0}, model=_linear_model(2.0)).set_index("gene")
    both = pathreg.tl.perturb(
        adata, {"x0": 5.0}, model=Ensemble([_linear_model(1.0)[0], _linear_model(2.0)[0]], _linear_model().metadata)
    ).set_index("gene")
    # the effect on x1 is linear in the coupling: doubling it doubles the delta; the ensemble averages
    np.testing.assert_allclose(double.loc["x1", "delta_final"], 2 * single.loc["x1", "delta_final"], rtol=1e-5)
    np.testing.assert_allclose(
        both.loc["x1", "delta_final"],
        (single.loc["x1", "delta_final"] + double.loc["x1", "delta_final"]) / 2,
        rtol=1e-5,
    )
    assert single.loc["x1", "delta_final"] > 0
    assert adata.uns["pathreg_perturbation"]["params"]["n_models"] == 2


@pytest.mark.parametrize("solver", ["rk4", "dopri5"])
def test_clamped_gene_stays_exactly_at_its_value(solver):
    torch.manual_seed(0)
    model = NeuralODE(MLPVectorField(4, 4, hidden=(8,)), solver=solver, decay=True).eval()
    mask = torch.tensor([False, True, False, True])
    values = torch.tensor([0.0, 0.0, 0.0, 3.0])
    x0 = torch.randn(3, 4)
    times = torch.linspace(0.0, 2.0, 7)
    with torch.no_grad():
        solution = ClampedODE(model, mask, values)(x0, times)
        free = model(x0, times)
    assert solution.shape == (7, 3, 4)
    assert torch.all(solution[..., 1] == 0.0)
    assert torch.all(solution[..., 3] == 3.0)
    assert not torch.allclose(solution[-1, :, 0], free[-1, :, 0])  # the clamped genes act on the others
    with torch.no_grad():  # nothing clamped: exactly the model's own solution
        assert torch.equal(ClampedODE(model, torch.zeros(4, dtype=torch.bool), torch.zeros(4))(x0, times), free)


def test_no_perturbation_gives_exactly_zero_and_control_matches_the_fit_prediction():
    adata = _adata(2.0, 0.5)
    model = _linear_model()
    table = pathreg.tl.perturb(adata, {}, model=model)
    assert (table["delta_final"] == 0).all()
    assert (table["delta_mean"] == 0).all()
    assert not table["perturbed"].any()
    # the control is the model's prediction from the first bin: equal to tl.predict's at the last bin
    pathreg.tl.predict(adata, model, key_added="check")
    last = int(np.argmax(adata.obs["t"].to_numpy()))
    predicted = adata.layers["check_prediction"][last, :2]
    np.testing.assert_allclose(table.set_index("gene")["control_final"].to_numpy(), predicted, rtol=1e-5)


def test_lineages_storage_copy_and_h5ad(tmp_path):
    adata = _adata(2.0, 0.5, lineage_key="branch")
    model = _linear_model()
    table, result = pathreg.tl.perturb(adata, {"x0": 0.0}, model=model, lineage="B", key_added="ko", copy=True)
    assert "ko" not in adata.uns
    assert "ko" in result.uns
    assert set(table["lineage"]) == {"B"}
    assert len(table) == 2
    both = pathreg.tl.perturb(adata, {"x0": 0.0}, model=model)
    assert list(pd.unique(both["lineage"])) == ["A", "B"]
    adata.write_h5ad(tmp_path / "perturbed.h5ad")
    record = ad.read_h5ad(tmp_path / "perturbed.h5ad").uns["pathreg_perturbation"]
    restored = pd.DataFrame({column: np.asarray(values) for column, values in record["table"].items()})
    pd.testing.assert_frame_equal(restored[list(COLUMNS)], both, check_dtype=False)
    assert list(record["params"]["genes"]) == ["x0"]
    assert list(record["params"]["values"]) == [0.0]


@pytest.mark.parametrize(
    ("perturbations", "options", "match"),
    [
        ({"x00": 0.0}, {}, "Close matches"),
        ({"other": 0.0}, {}, "not in the model's state"),
        ({"x0": float("nan")}, {}, "finite"),
        ({"x0": 0.0}, {"lineage": "C"}, "Unknown or no lineages"),
        ({"x0": 0.0}, {"n_steps": 1}, "n_steps"),
        ({"x0": 0.0}, {"key": "missing"}, "No fit 'missing'"),
        ({"x0": 0.0}, {"model": None}, "needs the fitted model"),
    ],
)
def test_invalid_inputs_raise_and_leave_adata_untouched(perturbations, options, match):
    adata = _adata(lineage_key="branch")
    before = {key: dict(adata.uns[key]) if isinstance(adata.uns[key], dict) else None for key in adata.uns}
    options = {"model": _linear_model(), **options}
    with pytest.raises(ValueError, match=match):
        pathreg.tl.perturb(adata, perturbations, **options)
    assert {key: dict(adata.uns[key]) if isinstance(adata.uns[key], dict) else None for key in adata.uns} == before
    assert list(adata.layers) == []


def test_model_must_be_an_ensemble_of_first_order_nodes():
    with pytest.raises(TypeError, match="Ensemble"):
        pathreg.tl.perturb(_adata(), {"x0": 0.0}, model=torch.nn.Linear(2, 2))
    second_order = SecondOrderNeuralODE(MLPVectorField(4, 2, hidden=(4,)), solver="rk4")
    with pytest.raises(TypeError, match="first-order pathreg.models.NeuralODE"):
        pathreg.tl.perturb(_adata(), {"x0": 0.0}, model=Ensemble([second_order], _linear_model().metadata))


def test_model_returned_by_fit_dynamics():
    # x1 relaxes towards x0 (constant per batch of initial states): a real fit, then its control matches the fit's
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0, 1, 160))
    x1 = 1.0 - 0.8 * np.exp(-3 * times)
    values = np.stack([np.ones_like(times), x1], axis=1) + 0.01 * rng.normal(size=(160, 2))
    adata = ad.AnnData(values.astype(np.float32), obs=pd.DataFrame({"t": times}, index=[f"c{i}" for i in range(160)]))
    adata.var_names = ["x0", "x1"]
    model = pathreg.tl.fit_dynamics(
        adata,
        method="none",
        time_key="t",
        time_scale="pseudotime",
        n_bins=8,
        hidden=(),
        activation=None,
        n_seeds=1,
        training={"n_epochs": 30},
        progress=False,
    )
    table = pathreg.tl.perturb(adata, {"x0": 0.0}, model=model)
    assert table.shape == (2, len(COLUMNS))
    assert set(table["lineage"]) == {"all"}
    last = int(np.argmax(times))
    np.testing.assert_allclose(
        table["control_final"].to_numpy(), adata.layers["pathreg_prediction"][last], rtol=1e-4, atol=1e-5
    )
    assert table.set_index("gene").loc["x0", "perturbed_final"] == 0.0


# krumsiek11: knockouts against the true Hill-kinetics model behind the data


@pytest.mark.slow
def test_krumsiek11_knockout_signs_agree_with_the_true_model():
    # Gata1 and Pu.1 knocked out in the fitted model and in the Hill model from each lineage's first bin;
    # sign agreement of the time-averaged change of their direct targets where the true change exceeds 0.05.
    # Chance is 0.5; always predicting the majority sign gives 0.67. The change of the final expression
    # agrees far less reliably and is not asserted (see benchmarks/knockouts.py for all methods).
    knockouts = pytest.importorskip("benchmarks.knockouts")  # the repository's benchmarks/ folder
    prepare, sign_agreement = knockouts.prepare, knockouts.sign_agreement

    adata = prepare(fate=True)
    model = pathreg.tl.fit_dynamics(adata, lineage_key="lineages", n_seeds=1, seed=0, progress=False)
    direct = next(record for record in sign_agreement(adata, model) if record["genes"] == "direct")
    assert direct["n_mean"] >= 16
    assert direct["agreement_mean"] >= 0.65, direct
