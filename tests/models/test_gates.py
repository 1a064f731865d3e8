from __future__ import annotations

import math

import pytest
import torch

from pathreg.models import (
    BETA,
    GAMMA,
    ZETA,
    GatedLinear,
    deterministic_gates,
    gate_probabilities,
    sample_gates,
)

LOG_ALPHAS = (-3.0, -1.0, 0.0, 1.5, 4.0)
N_SAMPLES = 200_000


def _draw(log_alpha: float, n: int = N_SAMPLES, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return sample_gates(torch.full((n,), log_alpha, dtype=torch.float64), generator)


def _closed_form_mean(log_alpha: float) -> float:
    r"""E[z] = \int_0^1 P(z > t) dt with P(z > t) = sigmoid(log_alpha - beta * logit((t - gamma) / (zeta - gamma)))."""
    t = torch.linspace(0.0, 1.0, 200_001, dtype=torch.float64)
    c = (t - GAMMA) / (ZETA - GAMMA)
    survival = torch.sigmoid(log_alpha - BETA * torch.log(c / (1 - c)))
    return float(torch.trapezoid(survival, t))


def test_constants_are_the_hard_concrete_defaults():
    assert pytest.approx((2 / 3, -0.1, 1.1)) == (BETA, GAMMA, ZETA)


@pytest.mark.parametrize("log_alpha", LOG_ALPHAS)
def test_probability_of_nonzero_gate_matches_sampling(log_alpha):
    z = _draw(log_alpha)
    p = float(gate_probabilities(torch.tensor(log_alpha, dtype=torch.float64)))
    tolerance = 5 * math.sqrt(p * (1 - p) / N_SAMPLES) + 1e-4
    assert float((z != 0).double().mean()) == pytest.approx(p, abs=tolerance)
    assert float((z == 0).double().mean()) == pytest.approx(1 - p, abs=tolerance)


@pytest.mark.parametrize("log_alpha", LOG_ALPHAS)
def test_probability_of_fully_open_gate_matches_sampling(log_alpha):
    # z == 1 exactly when s (zeta - gamma) + gamma >= 1:
    # P(z = 1) = sigmoid(log_alpha - beta log((1 - gamma) / (zeta - 1)))
    p = 1 / (1 + math.exp(-(log_alpha - BETA * math.log((1 - GAMMA) / (ZETA - 1)))))
    z = _draw(log_alpha, seed=1)
    tolerance = 5 * math.sqrt(p * (1 - p) / N_SAMPLES) + 1e-4
    assert float((z == 1).double().mean()) == pytest.approx(p, abs=tolerance)


@pytest.mark.parametrize("log_alpha", LOG_ALPHAS)
def test_mean_gate_matches_integrated_closed_form(log_alpha):
    z = _draw(log_alpha, seed=2)
    expected = _closed_form_mean(log_alpha)
    standard_error = float(z.std()) / math.sqrt(N_SAMPLES)
    assert float(z.mean()) == pytest.approx(expected, abs=5 * standard_error + 1e-4)
    # the mean lies between P(z = 1) and P(z != 0)
    fully_open = float((z == 1).double().mean())
    assert fully_open - 0.01 <= expected <= float(gate_probabilities(torch.tensor(log_alpha))) + 0.01


def test_probabilities_are_monotone_and_in_unit_interval():
    log_alpha = torch.linspace(-10, 10, 101)
    p = gate_probabilities(log_alpha)
    assert torch.all((p > 0) & (p < 1))
    assert torch.all(p[1:] > p[:-1])


def test_samples_lie_in_unit_interval_and_depend_on_generator_seed():
    log_alpha = torch.zeros(1000)
    a = sample_gates(log_alpha, torch.Generator().manual_seed(3))
    b = sample_gates(log_alpha, torch.Generator().manual_seed(3))
    c = sample_gates(log_alpha, torch.Generator().manual_seed(4))
    assert torch.all((a >= 0) & (a <= 1))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_samples_carry_gradient_to_log_alpha():
    log_alpha = torch.zeros(500, requires_grad=True)
    sample_gates(log_alpha, torch.Generator().manual_seed(0)).sum().backward()
    assert log_alpha.grad is not None
    # the gates strictly inside (0, 1) have a positive derivative
    assert torch.all(log_alpha.grad >= 0)
    assert (log_alpha.grad > 0).any()


def test_deterministic_gates_exact_zeros_and_ones():
    closed_threshold = math.log(-GAMMA / ZETA)  # below: sigmoid(log_alpha) (zeta - gamma) + gamma <= 0
    open_threshold = math.log((1 - GAMMA) / (ZETA - 1))  # above: the gate saturates at 1
    closed = torch.tensor([-20.0, -5.0, closed_threshold - 1e-3])
    opened = torch.tensor([open_threshold + 1e-3, 5.0, 20.0])
    assert torch.equal(deterministic_gates(closed), torch.zeros(3))
    assert torch.equal(deterministic_gates(opened), torch.ones(3))
    middle = torch.tensor([0.0])
    assert float(deterministic_gates(middle)) == pytest.approx(0.5 * (ZETA - GAMMA) + GAMMA)


def _set_log_alpha(layer: GatedLinear, values: torch.Tensor) -> None:
    with torch.no_grad():
        layer.log_alpha.copy_(values)


def test_gated_linear_eval_has_exact_zeros_and_is_deterministic():
    torch.manual_seed(0)
    layer = GatedLinear(4, 3)
    log_alpha = torch.full((3, 4), 10.0)
    log_alpha[0, 1] = -10.0
    log_alpha[2, :] = -10.0
    _set_log_alpha(layer, log_alpha)
    layer.eval()
    weight = layer.effective_weight()
    assert torch.equal(weight == 0, log_alpha < 0)
    assert torch.equal(weight[log_alpha > 0], layer.weight[log_alpha > 0])
    x = torch.randn(5, 4)
    out = layer(x)
    assert torch.equal(out, layer(x))
    assert torch.equal(out[:, 2], torch.zeros(5))
    # output 0 does not depend on input 1
    x_changed = x.clone()
    x_changed[:, 1] += 100.0
    assert torch.equal(layer(x_changed)[:, 0], out[:, 0])
    torch.testing.assert_close(out, x @ weight.T)


def test_gated_linear_reuses_one_sample_until_resampled():
    torch.manual_seed(0)
    layer = GatedLinear(6, 5, log_alpha_init=0.0)
    layer.train()
    x = torch.randn(3, 6)
    first = layer(x)
    gates = layer.gates().clone()
    assert torch.equal(layer(x), first)
    assert torch.equal(layer.gates(), gates)
    torch.testing.assert_close(layer.effective_weight(), layer.weight * gates)
    layer.resample(torch.Generator().manual_seed(1))
    assert not torch.equal(layer.gates(), gates)
    assert not torch.equal(layer(x), first)


def test_gated_linear_resample_with_generator_is_reproducible():
    layer = GatedLinear(6, 5, log_alpha_init=0.0)
    layer.train()
    layer.resample(torch.Generator().manual_seed(7))
    a = layer.gates().clone()
    layer.resample(torch.Generator().manual_seed(7))
    assert torch.equal(layer.gates(), a)


def test_gated_linear_redraws_after_optimizer_step():
    torch.manual_seed(0)
    layer = GatedLinear(6, 5, log_alpha_init=0.0)
    layer.train()
    optimizer = torch.optim.SGD(layer.parameters(), lr=1e-3)
    x = torch.randn(3, 6)
    layer(x).pow(2).sum().backward()
    before = layer.gates().clone()
    optimizer.step()
    after = layer.gates().clone()
    assert not torch.equal(before, after)
    # and the new sample is used consistently afterwards, with the updated weights
    assert torch.equal(layer.gates(), after)
    torch.testing.assert_close(layer.effective_weight(), layer.weight * after)


def test_gated_linear_shared_sample_supports_gradient_accumulation():
    # Two forward/backward passes before one optimizer step use the same sample (one sample per step).
    torch.manual_seed(0)
    layer = GatedLinear(4, 3)
    layer.train()
    layer.resample(torch.Generator().manual_seed(0))
    x = torch.randn(2, 4)
    layer(x).sum().backward()
    single = layer.weight.grad.clone()
    layer(x).sum().backward()
    torch.testing.assert_close(layer.weight.grad, 2 * single)


def test_gated_linear_forward_without_grad_does_not_detach_later_training():
    torch.manual_seed(0)
    layer = GatedLinear(4, 3)
    layer.train()
    x = torch.randn(2, 4)
    with torch.no_grad():
        layer(x)  # e.g. a monitoring pass in training mode
    layer(x).sum().backward()
    assert layer.weight.grad is not None
    assert layer.log_alpha.grad is not None


def test_gated_linear_follows_dtype_conversion_in_training_mode():
    torch.manual_seed(0)
    layer = GatedLinear(4, 3)
    layer.train()
    layer(torch.randn(2, 4))
    layer.double()
    out = layer(torch.randn(2, 4, dtype=torch.float64))
    assert out.dtype == torch.float64


def test_gated_linear_input_gates_are_shared_across_a_column():
    torch.manual_seed(0)
    layer = GatedLinear(5, 4, gate="input", log_alpha_init=0.0)
    assert layer.log_alpha.shape == (1, 5)
    layer.train()
    layer.resample(torch.Generator().manual_seed(0))
    gates = layer.gates()
    assert gates.shape == (1, 5)
    torch.testing.assert_close(layer.effective_weight(), layer.weight * gates.expand(4, 5))
    probabilities = layer.gate_probabilities()
    assert probabilities.shape == (4, 5)
    assert torch.equal(probabilities, probabilities[:1].expand(4, 5))
    # closing the gate of input 2 removes the whole column at evaluation
    _set_log_alpha(layer, torch.tensor([[10.0, 10.0, -10.0, 10.0, 10.0]]))
    layer.eval()
    weight = layer.effective_weight()
    assert torch.equal(weight[:, 2], torch.zeros(4))
    assert torch.all(weight[:, [0, 1, 3, 4]] != 0)


def test_gated_linear_bias_is_ungated():
    layer = GatedLinear(3, 2, bias=True)
    _set_log_alpha(layer, torch.full((2, 3), -10.0))
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([1.5, -2.0]))
    layer.eval()
    out = layer(torch.randn(4, 3))
    assert torch.equal(out, torch.tensor([1.5, -2.0]).expand(4, 2))


def test_gated_linear_rejects_unknown_gate():
    with pytest.raises(ValueError, match="weight"):
        GatedLinear(3, 2, gate="unit")
