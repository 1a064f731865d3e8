"""tl.perturb: the clamp, its bookkeeping and an analytically solvable knockout."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

import pathreg
from pathreg.models import MLPVectorField, NeuralODE
from pathreg.tl._perturb import COLUMNS, ClampedODE

N_CELLS, N_BINS = 100, 10  # rank time: bin k at (10 k + 5) / 100, so the lineage runs from 0.05 to 0.95
T0, T1 = 0.05, 0.95


def _linear_model(a_to_b: float = 1.0, solver: str = "rk4") -> NeuralODE:
    """x0' = 0, x1' = a_to_b * x0 - x1 (no decay term: the -x1 is in the linear field)."""
    field = MLPVectorField(2, 2, hidden=(), activation=None)
    with torch.no_grad():
        for module in field.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.copy_(torch.tensor([[0.0, 0.0], [a_to_b, -1.0]]))
                if module.bias is not None:
                    module.bias.zero_()
    model = NeuralODE(field, solver=solver)
    model.metadata = {
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
    return model.eval()


def _adata(x0: float = 2.0, x1: float = 0.5, lineage_key: str = "none") -> ad.AnnData:
    """Constant expression (x0, x1, 1) so that every bin mean, the initial state included, is exact."""
    values = np.tile(np.array([[x0, x1, 1.0]], dtype=np.float32), (N_CELLS, 1))
    obs = pd.DataFrame({"t": np.linspace(0.0, 1.0, N_CELLS)}, index=[f"c{i}" for i in range(N_CELLS)])
    obs["branch"] = pd.Categorical(np.where(np.arange(N_CELLS) % 2 == 0, "A", "B"))
    adata = ad.AnnData(values, obs=obs)
    adata.var_names = ["x0", "x1", "other"]
    adata.uns["pathreg"] = {"params": {"time_key": "t", "lineage_key": lineage_key, "layer": "X", "n_bins": N_BINS}}
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
    both = pathreg.tl.perturb(adata, {"x0": 5.0}, model=[_linear_model(1.0), _linear_model(2.0)]).set_index("gene")
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
        ({"x0": 0.0}, {"model": []}, "needs the fitted model"),
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


def test_model_must_be_a_first_order_node():
    with pytest.raises(TypeError, match="NeuralODE"):
        pathreg.tl.perturb(_adata(), {"x0": 0.0}, model=torch.nn.Linear(2, 2))


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
        n_epochs=30,
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


def _hill_model():
    """scanpy's krumsiek11 simulator (sim_models/krumsiek11.txt, ``modelType = hill``) as rates of a state vector.

    dx_i/step = invTimeStep * (sum over the parent configurations where gene i's boolean rule is true of
    prod_j h_j(x_j) - x_i), h = x^2 / (x^2 + k^2) for a parent that is on, k^2 / (x^2 + k^2) for one that is
    off, k = 0.1 / |coupling|: scanpy.tools._sim.GRNsim.Xdiff_hill.
    """
    import itertools
    import re

    from pathreg.datasets._krumsiek11 import _scanpy_sim_model_path

    rules, inverse_step = {}, None
    for line in _scanpy_sim_model_path().read_text(encoding="utf-8").splitlines():
        if line.startswith("# coupling list:"):
            break
        if "invTimeStep =" in line:
            inverse_step = float(line.split("=")[1])
        if line.strip() and not line.startswith("#"):
            name, rule = (part.strip() for part in line.split("=", 1))
            rules[name] = rule
    genes = list(rules)
    coupling = np.zeros((len(genes), len(genes)))
    for regulator, target, weight in pathreg.datasets.krumsiek11_network()[["regulator", "target", "weight"]].values:
        coupling[genes.index(target), genes.index(regulator)] = weight
    terms = []
    for child, rule in rules.items():
        parents = list(dict.fromkeys(t for t in re.sub(r"[()]", " ", rule).split() if t not in ("and", "or", "not")))
        expression = rule
        for number, parent in sorted(enumerate(parents), key=lambda item: -len(item[1])):
            expression = re.sub(rf"(?<![\w.]){re.escape(parent)}(?![\w.])", f"v{number}", expression)
        on = [
            states
            for states in itertools.product([False, True], repeat=len(parents))
            if eval(expression, {}, {f"v{i}": s for i, s in enumerate(states)})  # noqa: S307 (the model's rules)
        ]
        index = [genes.index(parent) for parent in parents]
        squared_thresholds = (0.1 / np.abs(coupling[genes.index(child), index])) ** 2
        terms.append((np.asarray(index), squared_thresholds, np.asarray(on, dtype=bool).reshape(-1, len(parents))))

    def rates(x):
        result = np.empty_like(x)
        for child, (index, thresholds, on) in enumerate(terms):
            squared = x[index] ** 2
            active, inactive = squared / (squared + thresholds), thresholds / (squared + thresholds)
            result[child] = inverse_step * (np.where(on, active, inactive).prod(axis=1).sum() - x[child])
        return result

    return genes, rates


def _hill_knockout(rates, genes, x0, knockout, n_steps=800):
    """Euler steps of the true model (scanpy: 800 steps per realization) with ``knockout`` clamped to 0."""
    x = np.array(x0, dtype=np.float64)
    clamped = np.array([gene == knockout for gene in genes])
    x[clamped] = 0.0
    path = [x.copy()]
    for _ in range(n_steps - 1):
        step = rates(x)
        step[clamped] = 0.0
        x = x + step
        path.append(x.copy())
    return np.asarray(path)


@pytest.mark.slow
def test_krumsiek11_knockout_signs_agree_with_the_true_model():
    # Gata1 and Pu.1 knocked out in the fitted model and in the Hill model from each lineage's first bin;
    # sign agreement of the time-averaged change of their direct targets where the true change exceeds 0.05.
    # Seeds 0-14: 0.71 to 1.00 (chance 0.5; always predicting the majority sign: 0.67). The change of the
    # final expression agrees far less reliably (0.25 to 1.00 over those seeds) and is not asserted.
    from pathreg.tl._inputs import lineage_table
    from pathreg.tl._trajectories import bin_lineages

    adata = pathreg.datasets.krumsiek11()
    pathreg.pp.pseudotime(adata, root_key="cell_type", root="progenitor")
    pathreg.pp.lineages(
        adata, {fate: ["progenitor", fate] for fate in ("Mo", "Ery", "Mk", "Neu")}, cell_type_key="cell_type"
    )
    pathreg.pp.fate_lineages(adata)
    model = pathreg.tl.fit_dynamics(adata, lineage_key="lineages", n_seeds=1, seed=0, progress=False)
    genes, rates = _hill_model()
    assert model.metadata["state_genes"] == genes
    metadata = model.metadata
    scaled = (adata.obs["dpt_pseudotime"].to_numpy() - metadata["time_offset"]) / metadata["time_span"]
    bins = bin_lineages(
        scaled, np.asarray(adata.X), lineage_table(adata, "lineages"), n_bins=metadata["n_bins"], time_scale="rank"
    )
    network = pathreg.datasets.krumsiek11_network()
    controls = {lineage.name: _hill_knockout(rates, genes, lineage.means[0], knockout=None) for lineage in bins}
    agree = total = 0
    for knockout in ("Gata1", "Pu.1"):
        table = pathreg.tl.perturb(adata, {knockout: 0.0}, model=model).set_index(["lineage", "gene"])
        targets = network.query("regulator == @knockout and not self_loop")["target"].tolist()
        for lineage in bins:
            knocked = _hill_knockout(rates, genes, lineage.means[0], knockout=knockout)
            true_mean = (knocked - controls[lineage.name]).mean(axis=0)
            for target in targets:
                truth = true_mean[genes.index(target)]
                if abs(truth) > 0.05:
                    total += 1
                    agree += int(np.sign(truth) == np.sign(table.loc[(lineage.name, target), "delta_mean"]))
    assert total >= 16
    assert agree / total >= 0.65, f"{agree} of {total} signs agree"
