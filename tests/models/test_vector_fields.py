from __future__ import annotations

import pytest
import torch
from torch import nn

from pathreg.models import (
    ACTIVATIONS,
    GatedLinear,
    GroupLassoVectorField,
    LassoNetVectorField,
    MLPVectorField,
    gate_probabilities,
    path_adjacency,
    resample_gates,
)

T0 = torch.tensor(0.0)


def _jacobian(field: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return torch.autograd.functional.jacobian(lambda state: field(T0, state), x)


def _blocked_network() -> tuple[MLPVectorField, torch.Tensor]:
    """3 inputs -> 2 hidden -> 2 outputs with positive weights and some paths blocked.

    First layer (hidden x input), after gates:  h0 = [0, 2, 3],  h1 = [0, 0, 5]
    (input 0 is cut twice: a closed gate on h0 and a zero weight on h1; input 1 -> h1 has a closed gate).
    Last layer (output x hidden):               o0 = [7, 11],    o1 = [0, 13] (closed gate on o1 <- h0).
    """
    field = MLPVectorField(3, 2, hidden=(2,), activation="elu", gated=True).double()
    first, last = field.layers
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [0.0, 4.0, 5.0]]))
        first.log_alpha.copy_(torch.tensor([[-10.0, 10.0, 10.0], [10.0, -10.0, 10.0]]))
        last.weight.copy_(torch.tensor([[7.0, 11.0], [17.0, 13.0]]))
        last.log_alpha.copy_(torch.tensor([[10.0, 10.0], [-10.0, 10.0]]))
    first_effective = torch.tensor([[0.0, 2.0, 3.0], [0.0, 0.0, 5.0]], dtype=torch.float64)
    last_effective = torch.tensor([[7.0, 11.0], [0.0, 13.0]], dtype=torch.float64)
    return field, last_effective @ first_effective


def test_mlp_shapes_and_leading_dimensions():
    field = MLPVectorField(4, 3, hidden=(5, 6))
    x = torch.randn(2, 7, 4)
    assert field(T0, x).shape == (2, 7, 3)
    assert [layer.weight.shape for layer in field.layers] == [(5, 4), (6, 5), (3, 6)]


def test_linear_mlp_is_the_matrix_product():
    field = MLPVectorField(3, 2, hidden=(), activation=None)
    x = torch.randn(4, 3)
    torch.testing.assert_close(field(T0, x), x @ field.layers[0].weight.T)
    torch.testing.assert_close(field.adjacency(), field.layers[0].weight.abs())


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match="elu"):
        MLPVectorField(2, 2, activation="swishy")
    assert "tanh" in ACTIVATIONS


def test_adjacency_of_hand_built_network():
    field, expected = _blocked_network()
    field.eval()
    adjacency = field.adjacency()
    # expected = [[0, 14, 76], [0, 0, 65]]
    assert torch.equal(adjacency, expected)
    assert torch.equal(adjacency == 0, torch.tensor([[True, False, False], [True, True, False]]))
    assert torch.equal(path_adjacency(field.layer_weights()), expected)


def test_adjacency_zeros_match_jacobian_zeros():
    field, expected = _blocked_network()
    field.eval()
    for seed in range(3):
        x = torch.randn(3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        jacobian = _jacobian(field, x)
        # positive weights and a strictly increasing activation: no cancellation, so the patterns agree
        assert torch.equal(jacobian == 0, expected == 0)


def test_path_adjacency_uses_absolute_values():
    w1 = torch.tensor([[1.0, -1.0], [1.0, 1.0]])
    w2 = torch.tensor([[1.0, 1.0]])
    # the signed product cancels for input 1 ([2, 0]); the path readout does not
    assert torch.equal(w2 @ w1, torch.tensor([[2.0, 0.0]]))
    assert torch.equal(path_adjacency([w1, w2]), torch.tensor([[2.0, 2.0]]))
    assert torch.equal(path_adjacency([w1]), w1.abs())


def test_ungated_adjacency_has_exact_zeros_where_weights_vanish():
    field = MLPVectorField(3, 3, hidden=(4,), activation="tanh")
    with torch.no_grad():
        field.layers[0].weight[:, 1] = 0.0
        field.layers[1].weight[2, :] = 0.0
    adjacency = field.adjacency()
    assert torch.equal(adjacency[:, 1], torch.zeros(3))
    assert torch.equal(adjacency[2], torch.zeros(3))
    assert torch.all(adjacency[:2][:, [0, 2]] > 0)


def test_gated_field_probabilities_and_expected_paths():
    field = MLPVectorField(3, 2, hidden=(4,), gated=True, log_alpha_init=0.5)
    probabilities = field.gate_probability_matrices()
    assert [p.shape for p in probabilities] == [(4, 3), (2, 4)]
    p = float(gate_probabilities(torch.tensor(0.5)))
    # every pair has 4 paths, each active with probability p^2
    torch.testing.assert_close(field.expected_active_paths(), torch.full((2, 3), 4 * p**2))
    with pytest.raises(TypeError, match="gated=True"):
        MLPVectorField(3, 2).gate_probability_matrices()


def test_gated_field_uses_samples_in_training_and_deterministic_gates_in_eval():
    torch.manual_seed(0)
    field = MLPVectorField(3, 3, hidden=(4,), gated=True, log_alpha_init=0.0)
    x = torch.randn(5, 3)
    field.eval()
    first, last = (layer.deterministic_weight() for layer in field.layers)
    expected = torch.nn.functional.elu(x @ first.T) @ last.T
    torch.testing.assert_close(field(T0, x), expected)
    field.train()
    resample_gates(field, torch.Generator().manual_seed(0))
    sampled = field(T0, x)
    assert not torch.allclose(sampled, expected)
    gates = [layer.gates().clone() for layer in field.layers]
    resample_gates(field, torch.Generator().manual_seed(1))
    assert all(not torch.equal(layer.gates(), g) for layer, g in zip(field.layers, gates, strict=True))


def test_layers_are_gated_linear_only_when_asked():
    assert all(isinstance(layer, GatedLinear) for layer in MLPVectorField(2, 2, gated=True).layers)
    assert all(type(layer) is nn.Linear for layer in MLPVectorField(2, 2).layers)
    input_gated = MLPVectorField(2, 2, hidden=(3,), gated=True, gate="input")
    assert [layer.log_alpha.shape for layer in input_gated.layers] == [(1, 2), (1, 3)]


def test_lassonet_inner_and_outer_placements():
    torch.manual_seed(0)
    inner = LassoNetVectorField(3, 3, hidden=(4,), placement="inner")
    outer = LassoNetVectorField(3, 3, hidden=(4,), placement="outer")
    outer.load_state_dict(inner.state_dict())
    x = torch.randn(2, 3)
    network = inner.network(T0, x)
    torch.testing.assert_close(inner(T0, x), network + x @ inner.skip.weight.T)
    torch.testing.assert_close(outer(T0, x), network)
    torch.testing.assert_close(inner.adjacency(), inner.skip.weight.abs() + inner.network.adjacency())
    assert len(inner.sparsifiable_weights()) == 3
    with pytest.raises(ValueError, match="inner"):
        LassoNetVectorField(3, 3, placement="middle")


def _separate_networks(field: GroupLassoVectorField, activation: nn.Module) -> list[nn.Sequential]:
    networks = []
    n_layers = len(field.weights)
    for output in range(field.n_outputs):
        modules = []
        for index, weight in enumerate(field.weights):
            fan_out, fan_in = weight.shape[1:]
            linear = nn.Linear(fan_in, fan_out, bias=field.biases is not None).double()
            with torch.no_grad():
                linear.weight.copy_(weight[output])
                if field.biases is not None:
                    linear.bias.copy_(field.biases[index][output])
            modules.append(linear)
            if index < n_layers - 1:
                modules.append(activation)
        networks.append(nn.Sequential(*modules))
    return networks


@pytest.mark.parametrize("hidden", [(), (4,), (3, 5)])
@pytest.mark.parametrize("bias", [False, True])
def test_group_lasso_equals_separate_networks(hidden, bias):
    torch.manual_seed(0)
    field = GroupLassoVectorField(5, 4, hidden=hidden, activation="elu", bias=bias).double()
    x = torch.randn(2, 6, 5, dtype=torch.float64)
    out = field(T0, x)
    assert out.shape == (2, 6, 4)
    for output, network in enumerate(_separate_networks(field, nn.ELU())):
        torch.testing.assert_close(out[..., output], network(x).squeeze(-1))


def test_group_lasso_groups_and_pruning():
    torch.manual_seed(0)
    field = GroupLassoVectorField(4, 3, hidden=(6,)).double()
    norms = field.group_norms()
    assert norms.shape == (3, 4)
    torch.testing.assert_close(norms, field.first_weight.norm(dim=1))
    assert torch.equal(field.adjacency(), norms)
    with torch.no_grad():
        field.first_weight[1, :, 2] = 0.0
    assert field.adjacency()[1, 2].item() == 0.0
    jacobian = _jacobian(field, torch.randn(4, dtype=torch.float64))
    assert float(jacobian[1, 2]) == 0.0
    assert torch.all(jacobian[[0, 2]][:, 2] != 0)


def test_group_lasso_scales_to_many_outputs():
    torch.manual_seed(0)
    field = GroupLassoVectorField(500, 500, hidden=(4,))
    out = field(T0, torch.randn(3, 500))
    assert out.shape == (3, 500)
    assert torch.isfinite(out).all()
    assert field.adjacency().shape == (500, 500)


@pytest.mark.parametrize("hidden", [(8,), (8, 5)])
def test_forward_excluding_computes_own_copies_only_for_outputs_that_exclude_an_input(hidden):
    torch.manual_seed(0)
    field = MLPVectorField(4, 7, hidden=hidden, activation="tanh", bias=True)
    x = torch.randn(5, 4)
    excluded = torch.tensor([-1, 0, -1, 1, 2, -1, 3])
    expected = torch.empty(5, 7)
    for output, column in enumerate(excluded.tolist()):
        without = x.clone()
        if column >= 0:
            without[:, column] = 0.0
        expected[:, output] = field(torch.zeros(()), without)[:, output]
    torch.testing.assert_close(field.forward_excluding(torch.zeros(()), x, excluded), expected)
    nothing = torch.full((7,), -1)  # no output excludes anything: exactly the plain forward
    assert torch.equal(field.forward_excluding(torch.zeros(()), x, nothing), field(torch.zeros(()), x))


@pytest.mark.parametrize("kind", ["mlp", "group_lasso", "lassonet"])
def test_jacobian_means_by_forward_mode_match_the_full_jacobian(kind):
    # fewer regulators than state variables: the readout differentiates in forward mode, one input at a time
    import numpy as np

    from pathreg.models import NeuralODE
    from pathreg.models._readout import _jacobian_means

    torch.manual_seed(0)
    fields = {
        "mlp": lambda: MLPVectorField(3, 6, hidden=(8,), activation="tanh", bias=True, gated=True),
        "group_lasso": lambda: GroupLassoVectorField(3, 6, hidden=(4,), bias=True),
        "lassonet": lambda: LassoNetVectorField(3, 6, hidden=(8,)),
    }
    field = fields[kind]().eval()
    model = NeuralODE(field, input_index=[0, 2, 5], exclude_self=kind != "lassonet", decay=3.0, solver="rk4")
    states = np.random.default_rng(0).normal(size=(9, 6)).astype(np.float32)
    inputs = model.select_inputs(torch.as_tensor(states))
    jacobian = torch.autograd.functional.jacobian(lambda x: model.production(T0, x).sum(0), inputs)  # (6, 9, 3)
    mean, mean_absolute = _jacobian_means(model, states)
    np.testing.assert_allclose(mean, jacobian.mean(1).numpy(), atol=1e-6)
    np.testing.assert_allclose(mean_absolute, jacobian.abs().mean(1).numpy(), atol=1e-6)
