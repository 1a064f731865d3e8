from __future__ import annotations

import pytest
import torch

from pathreg.models import (
    METHODS,
    REGULARIZERS,
    GroupLassoVectorField,
    LassoNetVectorField,
    MLPVectorField,
    PathRegRegularizer,
    Regularizer,
    gate_probabilities,
    get_regularizer,
    group_soft_threshold,
    hier_prox,
    soft_threshold,
)

PENALISED = [name for name in REGULARIZERS if name != "none"]


def _build(name: str, **options) -> tuple[Regularizer, torch.nn.Module]:
    torch.manual_seed(0)
    regularizer = get_regularizer(name, lambda_=1.0, **options)
    field = regularizer.build_vector_field(4, 3, hidden=(5,), activation="elu").double()
    return regularizer, field


def _penalty(regularizer: Regularizer, field: torch.nn.Module) -> float:
    return float(regularizer.penalty(field).detach())


def test_registry_names():
    assert tuple(REGULARIZERS) == tuple(METHODS)
    assert set(REGULARIZERS) == {"none", "l0", "cnode", "pathreg", "lassonet_inner", "lassonet_outer", "grouplasso"}
    for name, cls in REGULARIZERS.items():
        assert cls.name == name
        assert get_regularizer(name).hyperparameters()["method"] == name


def test_get_regularizer_rejects_unknown_names_and_lists_valid_ones():
    with pytest.raises(ValueError, match="Unknown method") as error:
        get_regularizer("lasso")
    for name in REGULARIZERS:
        assert name in str(error.value)


def test_get_regularizer_instances_and_options():
    instance = PathRegRegularizer(0.5, lambda_1=0.2)
    assert get_regularizer(instance) is instance
    with pytest.raises(ValueError, match="method name"):
        get_regularizer(instance, lambda_=1.0)
    assert get_regularizer("pathreg").lambda_ == PathRegRegularizer.default_lambda
    assert get_regularizer("l0", lambda_=0.3).lambda_ == 0.3
    with pytest.raises(ValueError, match="lambda_"):
        get_regularizer("cnode", lambda_=-1.0)
    with pytest.raises(ValueError, match="lambda_"):
        get_regularizer("cnode", lambda_=float("inf"))
    with pytest.raises(ValueError, match="lambda_1"):
        PathRegRegularizer(lambda_1=-0.1)
    with pytest.raises(ValueError, match="hierarchy"):
        get_regularizer("lassonet_inner", hierarchy=0.0)
    assert "lambda_1=0.2" in repr(instance)


def test_vector_fields_built_by_each_method():
    assert type(_build("none")[1]) is MLPVectorField
    assert not _build("cnode")[1].gated
    assert _build("l0")[1].gated
    assert _build("pathreg")[1].gated
    assert _build("l0", gate="input")[1].layers[0].log_alpha.shape == (1, 4)
    assert _build("lassonet_inner")[1].placement == "inner"
    assert _build("lassonet_outer")[1].placement == "outer"
    assert isinstance(_build("grouplasso")[1], GroupLassoVectorField)
    # gate options are dropped for the fields that have no gates
    regularizer = get_regularizer("grouplasso")
    field = regularizer.build_vector_field(3, 3, hidden=(2,), gated=True, gate="weight", log_alpha_init=1.0)
    assert isinstance(field, GroupLassoVectorField)
    assert isinstance(get_regularizer("lassonet_inner").build_vector_field(3, 3, gated=True), LassoNetVectorField)


def test_no_penalty_for_base_method():
    regularizer, field = _build("none")
    assert _penalty(regularizer, field) == 0.0


def test_l0_penalty_closed_form():
    regularizer, field = _build("l0")
    for layer in field.layers:
        torch.nn.init.constant_(layer.log_alpha, 0.7)
    expected = float(gate_probabilities(torch.tensor(0.7, dtype=torch.float64)))
    assert _penalty(regularizer, field) == pytest.approx(expected)


def test_pathreg_penalty_closed_form():
    regularizer, field = _build("pathreg", lambda_1=0.5)
    for layer in field.layers:
        torch.nn.init.constant_(layer.log_alpha, -0.4)
    p = float(gate_probabilities(torch.tensor(-0.4, dtype=torch.float64)))
    # 5 paths per pair, each active with probability p^2; normalised by the 5 paths per pair
    path_term = p**2
    w1, w2 = (layer.weight.detach() for layer in field.layers)
    gated_term = float(((w2.abs() * p) @ (w1.abs() * p)).mean())
    assert _penalty(regularizer, field) == pytest.approx(path_term + 0.5 * gated_term)


def test_cnode_penalty_is_mean_path_product():
    regularizer, field = _build("cnode")
    w1, w2 = (layer.weight.detach() for layer in field.layers)
    assert _penalty(regularizer, field) == pytest.approx(float((w2.abs() @ w1.abs()).mean()))


def test_proximal_penalties():
    regularizer, field = _build("grouplasso")
    assert _penalty(regularizer, field) == pytest.approx(float(field.group_norms().detach().mean()))
    regularizer, field = _build("lassonet_inner")
    assert _penalty(regularizer, field) == pytest.approx(float(field.skip.weight.detach().norm(dim=0).mean()))
    assert not regularizer.smooth


@pytest.mark.parametrize("name", PENALISED)
def test_penalty_decreases_under_adam(name):
    regularizer, field = _build(name)
    # gate parameters are O(1) logits, the weights are small: a learning rate for each
    optimizer = torch.optim.Adam(field.parameters(), lr=0.1 if name in ("l0", "pathreg") else 0.01)
    values = []
    for _ in range(30):
        optimizer.zero_grad()
        penalty = regularizer.penalty(field)
        values.append(float(penalty.detach()))
        penalty.backward()
        optimizer.step()
    assert values[-1] < 0.7 * values[0]
    # Adam oscillates around the kink of norm penalties later on; the first steps all descend
    assert all(later < earlier for earlier, later in zip(values[:5], values[1:6], strict=True))


@pytest.mark.parametrize("name", ["lassonet_inner", "lassonet_outer", "grouplasso"])
def test_proximal_steps_shrink_the_penalty_to_zero(name):
    regularizer, field = _build(name)
    values = [_penalty(regularizer, field)]
    for _ in range(200):
        regularizer.proximal_step(field, learning_rate=1.0)
        values.append(_penalty(regularizer, field))
    assert all(later <= earlier + 1e-12 for earlier, later in zip(values[:-1], values[1:], strict=True))
    assert values[1] < values[0]
    assert values[-1] == 0.0
    # nothing of the pruned inputs remains in the dependency matrix
    if name == "grouplasso":
        assert torch.equal(field.adjacency(), torch.zeros(3, 4, dtype=torch.float64))
    else:
        assert torch.equal(field.network.layers[0].weight, torch.zeros(5, 4, dtype=torch.float64))
        assert torch.equal(field.adjacency().detach(), torch.zeros(3, 4, dtype=torch.float64))


def test_proximal_step_scale_zero_is_a_no_op():
    regularizer, field = _build("grouplasso")
    before = field.first_weight.detach().clone()
    regularizer.proximal_step(field, learning_rate=0.1, scale=0.0)
    assert torch.equal(field.first_weight, before)


def test_group_lasso_proximal_step_threshold():
    regularizer, field = _build("grouplasso")
    norms = field.group_norms().detach().clone()
    learning_rate = 0.6
    threshold = regularizer.lambda_ * learning_rate / (3 * 4)
    regularizer.proximal_step(field, learning_rate=learning_rate)
    torch.testing.assert_close(field.group_norms().detach(), (norms - threshold).clamp_min(0))


def test_soft_threshold():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5])
    assert torch.equal(soft_threshold(x, 0.5), torch.tensor([-1.5, 0.0, 0.0, 0.0, 1.0]))


def test_group_soft_threshold_shrinks_norms_and_keeps_directions():
    groups = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    groups[1, :, 2] = 0.0
    norms = groups.norm(dim=1, keepdim=True)
    threshold = float(norms.median())
    shrunk = group_soft_threshold(groups, threshold, dim=1)
    assert torch.isfinite(shrunk).all()
    new_norms = shrunk.norm(dim=1, keepdim=True)
    torch.testing.assert_close(new_norms, (norms - threshold).clamp_min(0))
    kept = (new_norms > 0).expand_as(groups)
    torch.testing.assert_close((shrunk / new_norms)[kept], (groups / norms)[kept])
    assert torch.equal(shrunk[1, :, 2], torch.zeros(4, dtype=torch.float64))


def _objective(skip, first, skip_0, first_0, threshold):
    """The problem hier-prox solves: 1/2 ||theta - theta_0||^2 + 1/2 ||W - W_0||^2 + lambda ||theta||_2 per input."""
    return 0.5 * ((skip - skip_0) ** 2).sum(0) + 0.5 * ((first - first_0) ** 2).sum(0) + threshold * skip.norm(dim=0)


def _random_problem(seed: int, n_outputs: int = 3, n_hidden: int = 6, n_inputs: int = 8):
    generator = torch.Generator().manual_seed(seed)
    skip = torch.randn(n_outputs, n_inputs, generator=generator, dtype=torch.float64)
    first = 2 * torch.randn(n_hidden, n_inputs, generator=generator, dtype=torch.float64)
    return skip, first


@pytest.mark.parametrize("hierarchy", [0.3, 1.0, 10.0])
@pytest.mark.parametrize("threshold", [0.0, 0.2, 1.5])
def test_hier_prox_satisfies_the_hierarchy(hierarchy, threshold):
    for seed in range(5):
        skip, first = _random_problem(seed)
        new_skip, new_first = hier_prox(skip, first, threshold, hierarchy)
        assert new_skip.shape == skip.shape
        assert new_first.shape == first.shape
        bound = hierarchy * new_skip.norm(dim=0)
        assert torch.all(new_first.abs().amax(dim=0) <= bound + 1e-10)
        # weights are only shrunk, never grown or flipped
        assert torch.all(new_first.abs() <= first.abs() + 1e-12)
        assert torch.all(new_first * first >= 0)


@pytest.mark.parametrize("hierarchy", [0.3, 1.0, 10.0])
@pytest.mark.parametrize("threshold", [0.0, 0.2, 1.5])
def test_hier_prox_minimises_its_objective(hierarchy, threshold):
    skip, first = _random_problem(11)
    new_skip, new_first = hier_prox(skip, first, threshold, hierarchy)
    best = _objective(new_skip, new_first, skip, first, threshold)
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        # a random feasible point near the solution: perturb, then clip W to the hierarchy bound
        candidate_skip = new_skip + 0.1 * torch.randn(skip.shape, generator=generator, dtype=torch.float64)
        candidate_first = new_first + 0.1 * torch.randn(first.shape, generator=generator, dtype=torch.float64)
        bound = hierarchy * candidate_skip.norm(dim=0)
        candidate_first = torch.maximum(torch.minimum(candidate_first, bound), -bound)
        value = _objective(candidate_skip, candidate_first, skip, first, threshold)
        assert torch.all(best <= value + 1e-10)


def test_hier_prox_is_the_identity_on_feasible_points_without_threshold():
    hierarchy = 2.0
    skip, first = _random_problem(3)
    bound = hierarchy * skip.norm(dim=0)
    first = first / first.abs().amax(dim=0) * bound * torch.linspace(0.2, 1.0, skip.shape[1], dtype=torch.float64)
    assert torch.all(first.abs().amax(dim=0) <= bound)
    new_skip, new_first = hier_prox(skip, first, 0.0, hierarchy)
    torch.testing.assert_close(new_skip, skip)
    torch.testing.assert_close(new_first, first)


def test_hier_prox_is_idempotent_without_threshold():
    skip, first = _random_problem(4)
    once = hier_prox(skip, first, 0.3, 1.5)
    twice = hier_prox(*once, 0.0, 1.5)
    torch.testing.assert_close(twice[0], once[0])
    torch.testing.assert_close(twice[1], once[1])


def test_hier_prox_zeroes_whole_inputs():
    skip, first = _random_problem(5)
    skip[:, 2] *= 1e-3
    first[:, 2] *= 1e-3
    skip[:, 5] *= 100
    new_skip, new_first = hier_prox(skip, first, 0.5, 1.0)
    assert torch.equal(new_skip[:, 2], torch.zeros(3, dtype=torch.float64))
    assert torch.equal(new_first[:, 2], torch.zeros(6, dtype=torch.float64))
    assert torch.all(new_skip[:, 5] != 0)
    # wherever theta vanished, W vanished with it
    dead = new_skip.norm(dim=0) == 0
    assert torch.equal(new_first[:, dead], torch.zeros(6, int(dead.sum()), dtype=torch.float64))


def test_hier_prox_large_threshold_zeroes_everything():
    skip, first = _random_problem(6)
    threshold = float(skip.norm(dim=0).max() + first.abs().sum(0).max()) + 1.0
    new_skip, new_first = hier_prox(skip, first, threshold, 1.0)
    assert torch.equal(new_skip, torch.zeros_like(skip))
    assert torch.equal(new_first, torch.zeros_like(first))
