"""The fit's result is an Ensemble: predict, perturb and save/load use all of its members."""

import numpy as np
import pandas as pd
import pytest
import torch
from tl_helpers import QUICK

import pathreg
from pathreg.models import ENSEMBLE_FORMAT_VERSION, Ensemble, save_model

FATES = {
    "Mo": ["progenitor", "Mo"],
    "Ery": ["progenitor", "Ery"],
    "Mk": ["progenitor", "Mk"],
    "Neu": ["progenitor", "Neu"],
}


@pytest.fixture(scope="module")
def fate_fit():
    """krumsiek11 with its four fate lineages and a three-member ensemble: (adata, ensemble)."""
    adata = pathreg.datasets.krumsiek11()
    pathreg.pp.pseudotime(adata, root_key="cell_type", root="progenitor")
    pathreg.pp.lineages(adata, FATES, cell_type_key="cell_type")
    pathreg.pp.fate_lineages(adata)
    ensemble = pathreg.tl.fit_dynamics(adata, lineage_key="lineages", n_seeds=3, seed=0, **QUICK)
    return adata, ensemble


def test_fit_returns_an_ensemble_of_all_members(fate_fit):
    adata, ensemble = fate_fit
    assert isinstance(ensemble, Ensemble)
    assert len(ensemble) == 3 == adata.uns["pathreg"]["params"]["n_models"]
    assert ensemble.state_genes == sorted(adata.var_names)
    assert ensemble.metadata["params"]["n_seeds"] == 3
    first, second = (next(member.vector_field.parameters()) for member in list(ensemble)[:2])
    assert not torch.equal(first, second)  # members from different seeds


def test_predict_reproduces_the_layer_the_fit_wrote(fate_fit):
    adata, ensemble = fate_fit
    written = np.asarray(adata.layers["pathreg_prediction"]).copy()
    other = adata.copy()
    errors = pathreg.tl.predict(other, ensemble, lineage_key="lineages", key_added="again")
    np.testing.assert_array_equal(np.asarray(other.layers["again_prediction"]), written)
    expected = adata.uns["pathreg"]["metrics"]["lineage_mse"]
    assert errors.to_dict() == pytest.approx({name: float(value) for name, value in expected.items()}, rel=1e-6)


def test_predict_is_the_mean_of_the_members(fate_fit):
    adata, ensemble = fate_fit
    single = [Ensemble([member], ensemble.metadata) for member in ensemble]
    layers = []
    for model in single:
        copy = adata.copy()
        pathreg.tl.predict(copy, model, lineage_key="lineages", key_added="one")
        layers.append(np.asarray(copy.layers["one_prediction"], dtype=np.float64))
    mean = np.nanmean(layers, axis=0)
    written = np.asarray(adata.layers["pathreg_prediction"], dtype=np.float64)
    np.testing.assert_allclose(written, mean, rtol=1e-5, atol=1e-6)
    assert np.nanmax(np.abs(layers[0] - written)) > 1e-4  # one member alone is not the ensemble


def test_save_load_keeps_every_member(fate_fit, tmp_path):
    adata, ensemble = fate_fit
    path = tmp_path / "fit.pt"
    ensemble.save(path)
    loaded = pathreg.models.load(path)
    assert isinstance(loaded, Ensemble)
    assert len(loaded) == len(ensemble)
    assert loaded.metadata == ensemble.metadata
    assert torch.load(path, weights_only=True)["format_version"] == ENSEMBLE_FORMAT_VERSION
    before, after = adata.copy(), adata.copy()
    errors_before = pathreg.tl.predict(before, ensemble, lineage_key="lineages")
    errors_after = pathreg.tl.predict(after, loaded, lineage_key="lineages")
    pd.testing.assert_series_equal(errors_before, errors_after)
    np.testing.assert_array_equal(before.layers["pathreg_prediction"], after.layers["pathreg_prediction"])
    table_before = pathreg.tl.perturb(adata.copy(), {"Gata1": 0.0}, model=ensemble)
    table_after = pathreg.tl.perturb(adata.copy(), {"Gata1": 0.0}, model=loaded)
    pd.testing.assert_frame_equal(table_before, table_after)


def test_perturb_averages_all_members(fate_fit):
    adata, ensemble = fate_fit
    whole = pathreg.tl.perturb(adata.copy(), {"Gata1": 0.0}, model=ensemble)
    parts = [
        pathreg.tl.perturb(adata.copy(), {"Gata1": 0.0}, model=Ensemble([member], ensemble.metadata))
        for member in ensemble
    ]
    mean = np.mean([part["delta_final"].to_numpy() for part in parts], axis=0)
    np.testing.assert_allclose(whole["delta_final"].to_numpy(), mean, rtol=1e-5, atol=1e-7)
    assert not np.allclose(parts[0]["delta_final"], whole["delta_final"])


def test_single_model_file_loads_as_an_ensemble_of_one(fate_fit, tmp_path):
    _, ensemble = fate_fit
    path = tmp_path / "member.pt"
    save_model(ensemble[0], path, metadata=ensemble.metadata)
    loaded = pathreg.models.load(path)
    assert len(loaded) == 1
    assert loaded.metadata == ensemble.metadata
    for (name, value), (_, original) in zip(
        loaded[0].state_dict().items(), ensemble[0].state_dict().items(), strict=True
    ):
        assert torch.equal(value, original), name


def test_ensemble_file_of_a_newer_format_is_refused(fate_fit, tmp_path):
    _, ensemble = fate_fit
    path = tmp_path / "fit.pt"
    ensemble.save(path)
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = ENSEMBLE_FORMAT_VERSION + 1
    torch.save(payload, path)
    with pytest.raises(ValueError, match="upgrade pathreg"):
        pathreg.models.load(path)


def test_predict_and_perturb_refuse_a_bare_model(fate_fit):
    adata, ensemble = fate_fit
    with pytest.raises(TypeError, match="Ensemble"):
        pathreg.tl.predict(adata.copy(), ensemble[0])
    with pytest.raises(TypeError, match="Ensemble"):
        pathreg.tl.perturb(adata.copy(), {"Gata1": 0.0}, model=ensemble[0])


def test_the_written_network_keeps_the_edges_enough_members_agree_on():
    adata = pathreg.datasets.krumsiek11()
    pathreg.pp.pseudotime(adata, root_key="cell_type", root="progenitor")
    options = {**QUICK, "training": {"n_epochs": 150}, "lambda_": 3.0, "n_seeds": 3, "seed": 0}
    networks, ensembles = {}, {}
    for consensus in (0.0, 1.0):
        fitted = adata.copy()
        ensembles[consensus] = pathreg.tl.fit_dynamics(fitted, consensus=consensus, **options)
        networks[consensus] = np.asarray(fitted.varp["pathreg_adjacency"])
        assert fitted.uns["pathreg"]["params"]["consensus"] == consensus
    agreement = ensembles[1.0].agreement()
    genes = ensembles[1.0].state_genes
    unanimous = pd.DataFrame(agreement == 1.0, index=genes, columns=ensembles[1.0].regulators)
    unanimous = unanimous.reindex(index=adata.var_names, columns=adata.var_names).to_numpy()
    assert np.any((agreement > 0) & (agreement < 1))  # the members disagree: the test can tell the rules apart
    np.testing.assert_array_equal(networks[1.0], np.where(unanimous, networks[0.0], 0.0))
    assert (networks[1.0] == 0).sum() > (networks[0.0] == 0).sum()
