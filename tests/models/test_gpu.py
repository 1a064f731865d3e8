"""Device checks; they run only where a CUDA device is visible."""

from __future__ import annotations

import pytest
import torch

from pathreg.models import GatedLinear, MLPVectorField, NeuralODE, Trajectories, fit, get_regularizer, resolve_device

pytestmark = pytest.mark.gpu


def test_resolve_device_picks_cuda():
    assert resolve_device("auto").type == "cuda"
    assert resolve_device("cuda").type == "cuda"


def test_gated_linear_on_cuda():
    torch.manual_seed(0)
    layer = GatedLinear(4, 3).cuda()
    with torch.no_grad():
        layer.log_alpha[:, 1] = -10.0
    layer.train()
    layer.resample(torch.Generator(device="cuda").manual_seed(0))
    assert layer.gates().device.type == "cuda"
    x = torch.randn(5, 4, device="cuda")
    assert torch.equal(layer(x), layer(x))
    layer.eval()
    assert torch.equal(layer.effective_weight()[:, 1].cpu(), torch.zeros(3))


def test_ode_solve_on_cuda_matches_cpu():
    torch.manual_seed(0)
    model = NeuralODE(MLPVectorField(3, 3, hidden=(8,), activation="tanh"), rtol=1e-7, atol=1e-9).double()
    x0 = torch.randn(4, 3, dtype=torch.float64)
    t = torch.linspace(0, 2, 6, dtype=torch.float64)
    with torch.no_grad():
        on_cpu = model(x0, t)
        on_cuda = model.cuda()(x0.cuda(), t.cuda())
    assert on_cuda.device.type == "cuda"
    torch.testing.assert_close(on_cuda.cpu(), on_cpu, rtol=1e-6, atol=1e-8)


def test_fit_on_cuda():
    t = torch.linspace(0, 1, 6)
    values = torch.exp(-t)[:, None] * torch.tensor([1.0, 0.5])
    data = Trajectories.from_arrays([t], [values])
    torch.manual_seed(0)
    field = get_regularizer("pathreg").build_vector_field(2, 2, hidden=(4,))
    model = NeuralODE(field, solver="rk4", step_size=0.2)
    history = fit(model, data, regularizer="pathreg", n_epochs=10, lr=0.05, device="cuda", progress=False)
    assert len(history) == 10
    assert next(model.parameters()).device.type == "cuda"
    assert history.loss[-1] < history.loss[0]
    assert not model.training
