from __future__ import annotations

import pytest
import torch

from pathreg.models import (
    FORMAT_VERSION,
    GroupLassoVectorField,
    LassoNetVectorField,
    MLPVectorField,
    NeuralODE,
    SecondOrderNeuralODE,
    load_model,
    save_model,
)

T = torch.linspace(0.0, 1.0, 4)


def _models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    gated = MLPVectorField(2, 3, hidden=(4,), gated=True, log_alpha_init=0.5)
    with torch.no_grad():
        gated.layers[0].log_alpha[:, 1] = -8.0  # input 1 reaches no output
    return {
        "gated_with_input_index": NeuralODE(gated, input_index=[2, 0], solver="rk4", step_size=0.1),
        "second_order": SecondOrderNeuralODE(
            MLPVectorField(6, 3, hidden=(5,), activation="tanh", bias=True), velocity_hidden=7, rtol=1e-5
        ),
        "lassonet_outer": NeuralODE(LassoNetVectorField(3, 3, hidden=(4, 4), placement="outer")),
        "grouplasso": NeuralODE(GroupLassoVectorField(3, 3, hidden=(2,), bias=True), solver="midpoint"),
    }


@pytest.mark.parametrize("name", list(_models()))
def test_round_trip_gives_identical_predictions(name, tmp_path):
    model = _models()[name].eval()
    x0 = torch.randn(2, 3)
    with torch.no_grad():
        expected = model(x0, T)
    path = tmp_path / "model.pt"
    save_model(model, path, metadata={"genes": ["a", "b", "c"], "lambda": 0.1})
    loaded, metadata = load_model(path)
    assert type(loaded) is type(model)
    assert type(loaded.vector_field) is type(model.vector_field)
    assert not loaded.training
    assert metadata == {"genes": ["a", "b", "c"], "lambda": 0.1}
    assert loaded.config == model.config
    assert loaded.vector_field.config == model.vector_field.config
    with torch.no_grad():
        assert torch.equal(loaded(x0, T), expected)
        assert torch.equal(loaded.adjacency(), model.adjacency())
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_round_trip_keeps_exact_zeros_of_the_gates(tmp_path):
    model = _models()["gated_with_input_index"].eval()
    save_model(model, tmp_path / "m.pt")
    loaded, metadata = load_model(tmp_path / "m.pt")
    assert metadata == {}
    adjacency = loaded.adjacency().detach()
    assert torch.equal(adjacency[:, 1], torch.zeros(3))
    assert torch.all(adjacency[:, 0] > 0)
    assert loaded.input_index.tolist() == [2, 0]


def test_other_format_versions_are_refused(tmp_path):
    model = _models()["grouplasso"]
    path = tmp_path / "model.pt"
    save_model(model, path)
    payload = torch.load(path, weights_only=True)
    assert payload["format_version"] == FORMAT_VERSION
    payload["format_version"] = FORMAT_VERSION + 41
    torch.save(payload, path)
    with pytest.raises(ValueError, match=f"version {FORMAT_VERSION + 41}"):
        load_model(path)


def test_files_that_are_not_models_are_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.ones(2)}, path)
    with pytest.raises(ValueError, match="format_version"):
        load_model(path)


def test_only_pathreg_models_can_be_saved(tmp_path):
    with pytest.raises(TypeError, match="Cannot save"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "linear.pt")
