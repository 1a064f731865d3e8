"""An ensemble trained as one stacked model gives what its members give trained one by one."""

import pytest
import torch

from pathreg.models import (
    CollocationSettings,
    NeuralODE,
    can_stack,
    fit_collocation,
    fit_collocation_ensemble,
    get_regularizer,
    stack_members,
    unstack_members,
)
from pathreg.models._stacking import resample_member_gates
from pathreg.models._vector_fields import resample_gates

SETTINGS = CollocationSettings(n_epochs=40, lr=1e-2, gate_lr=0.1, weight_decay=1e-3, warmup_fraction=0.25)


def _members(method, n=3, *, hidden=(8,), decay=3.0, exclude_self=True, mask=None, n_genes=4):
    regularizer = get_regularizer(method, lambda_=1.0)
    members = []
    for seed in range(n):
        torch.manual_seed(seed)
        field = regularizer.build_vector_field(n_genes, n_genes, hidden=hidden, activation="tanh", bias=True)
        members.append(NeuralODE(field, decay=decay, exclude_self=exclude_self, dependency_mask=mask, solver="rk4"))
    return regularizer, members


def _data(n_genes=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    states = torch.rand(30, n_genes, generator=generator)
    cells = torch.rand(120, n_genes, generator=generator)
    matrix = torch.randn(n_genes, n_genes, generator=generator)
    return states, states @ matrix.T, (cells, cells @ matrix.T)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"hidden": ()},
        {"hidden": (6, 5)},
        {"decay": True, "exclude_self": False},
        {"mask": torch.tensor([[1, 1, 0, 1], [0, 1, 1, 1], [1, 0, 1, 1], [1, 1, 1, 0]], dtype=torch.bool)},
    ],
    ids=["one-hidden-layer", "linear", "two-hidden-layers", "learned-decay", "prior-mask"],
)
@pytest.mark.parametrize("method", ["pathreg", "l0", "none", "cnode"])
def test_stacked_rates_penalties_and_networks_are_the_members(method, options):
    regularizer, members = _members(method, **options)
    stacked = stack_members(members)
    generators = [torch.Generator().manual_seed(seed) for seed in range(3)]
    resample_member_gates(stacked, generators)
    for member, seed in zip(members, range(3), strict=True):
        resample_gates(member, torch.Generator().manual_seed(seed))  # the same draws, member by member
    x = torch.rand(3, 7, 4)
    zero = torch.zeros(())
    rates = stacked.rhs(zero, x)
    penalties = regularizer.penalty(stacked.vector_field)
    adjacency = stacked.adjacency()
    assert rates.shape == (3, 7, 4)
    assert adjacency.shape == (3, 4, 4)
    for index, member in enumerate(members):
        torch.testing.assert_close(rates[index], member.rhs(zero, x[index]), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(adjacency[index], member.adjacency(), rtol=1e-5, atol=1e-7)
        expected = regularizer.penalty(member.vector_field)
        torch.testing.assert_close(penalties.reshape(-1)[index if penalties.ndim else 0], expected.reshape(()))


@pytest.mark.parametrize("method", ["pathreg", "l0", "none", "cnode"])
@pytest.mark.parametrize("with_cells", [True, False])
def test_members_trained_together_follow_their_separate_fits(method, with_cells):
    states, derivatives, cells = _data()
    cells = cells if with_cells else None
    regularizer, together = _members(method)
    _, alone = _members(method)
    settings = SETTINGS.replace(batch_size=16)
    histories = fit_collocation_ensemble(
        together,
        states,
        derivatives,
        cells=cells,
        regularizer=regularizer,
        settings=settings,
        seeds=[0, 1, 2],
        progress=False,
    )
    for seed, (member, history) in enumerate(zip(together, histories, strict=True)):
        reference = fit_collocation(
            alone[seed],
            states,
            derivatives,
            cells=cells,
            regularizer=regularizer,
            settings=settings,
            seed=seed,
            progress=False,
        )
        assert len(history) == len(reference) == settings.n_epochs
        torch.testing.assert_close(
            torch.tensor(history.fit_loss), torch.tensor(reference.fit_loss), rtol=1e-4, atol=1e-6
        )
        assert history.feature_sparsity == reference.feature_sparsity
        for (name, trained), expected in zip(member.named_parameters(), alone[seed].parameters(), strict=True):
            torch.testing.assert_close(trained, expected, rtol=1e-4, atol=1e-5, msg=name)
        assert not member.training
    distinct = [torch.cat([p.detach().flatten() for p in member.parameters()]) for member in together]
    assert not torch.equal(distinct[0], distinct[1])  # each member kept its own parameters


def test_members_of_other_methods_are_trained_one_by_one_exactly():
    states, derivatives, cells = _data()
    for method in ("grouplasso", "lassonet_inner"):
        regularizer = get_regularizer(method, lambda_=0.01)
        pairs = []
        for _ in range(2):
            models = []
            for seed in range(2):
                torch.manual_seed(seed)
                models.append(NeuralODE(regularizer.build_vector_field(4, 4, hidden=(5,)), solver="rk4"))
            pairs.append(models)
        assert not can_stack(pairs[0], regularizer)
        fit_collocation_ensemble(
            pairs[0], states, derivatives, regularizer=regularizer, settings=SETTINGS, seeds=[3, 4], progress=False
        )
        for seed, model in zip([3, 4], pairs[1], strict=True):
            fit_collocation(
                model, states, derivatives, regularizer=regularizer, settings=SETTINGS, seed=seed, progress=False
            )
        for trained, expected in zip(pairs[0], pairs[1], strict=True):
            for a, b in zip(trained.parameters(), expected.parameters(), strict=True):
                assert torch.equal(a, b)


def test_models_of_different_shapes_or_inputs_are_not_stacked():
    regularizer, members = _members("pathreg", 2)
    _, wider = _members("pathreg", 1, hidden=(9,))
    _, masked = _members("pathreg", 1, mask=torch.ones(4, 4, dtype=torch.bool))
    assert can_stack(members, regularizer)
    assert not can_stack([members[0], wider[0]], regularizer)
    assert not can_stack([members[0], masked[0]], regularizer)


def test_unstacking_writes_every_member_its_own_slice():
    _, members = _members("pathreg")
    stacked = stack_members(members)
    with torch.no_grad():
        for parameter in stacked.parameters():
            parameter.copy_(torch.arange(3, dtype=parameter.dtype).reshape(3, *[1] * (parameter.ndim - 1)))
    unstack_members(stacked, members)
    for index, member in enumerate(members):
        assert all(bool((parameter == index).all()) for parameter in member.parameters())


def test_one_seed_per_model_is_required():
    states, derivatives, _ = _data()
    regularizer, members = _members("pathreg", 2)
    with pytest.raises(ValueError, match="one seed per model"):
        fit_collocation_ensemble(members, states, derivatives, regularizer=regularizer, seeds=[0], progress=False)
    with pytest.raises(TypeError):
        fit_collocation_ensemble(members, states, derivatives, regularizer=regularizer, seeds=[0, 1.5], progress=False)


def test_an_interruption_stops_every_member_at_the_same_epoch(monkeypatch):
    states, derivatives, cells = _data()
    regularizer, members = _members("pathreg")
    original = NeuralODE.rhs
    calls = {"n": 0}

    def interrupt(self, t, state):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return original(self, t, state)

    monkeypatch.setattr(NeuralODE, "rhs", interrupt)
    histories = fit_collocation_ensemble(
        members,
        states,
        derivatives,
        cells=cells,
        regularizer=regularizer,
        settings=SETTINGS,
        seeds=[0, 1, 2],
        progress=False,
    )
    assert [len(history) for history in histories] == [5, 5, 5]
    assert all(history.interrupted for history in histories)
    assert all(torch.isfinite(p).all() for member in members for p in member.parameters())


def test_members_too_large_for_the_caches_are_trained_one_by_one_exactly(monkeypatch):
    from pathreg.models import _collocation

    states, derivatives, cells = _data()
    regularizer, together = _members("pathreg")
    _, alone = _members("pathreg")
    monkeypatch.setattr(_collocation, "CACHE_SIZED_ELEMENTS", 100)  # these members count as large now
    fit_collocation_ensemble(
        together,
        states,
        derivatives,
        cells=cells,
        regularizer=regularizer,
        settings=SETTINGS,
        seeds=[0, 1, 2],
        progress=False,
    )
    for seed, model in enumerate(alone):
        fit_collocation(
            model,
            states,
            derivatives,
            cells=cells,
            regularizer=regularizer,
            settings=SETTINGS,
            seed=seed,
            progress=False,
        )
    for trained, expected in zip(together, alone, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(trained.parameters(), expected.parameters(), strict=True))


def test_an_interruption_of_members_trained_one_by_one_stops_the_ensemble(monkeypatch):

    states, derivatives, _ = _data()
    regularizer, members = _members("grouplasso")
    original = NeuralODE.rhs
    calls = {"n": 0}

    def interrupt(self, t, state):
        calls["n"] += 1
        if calls["n"] == SETTINGS.n_epochs + 5:  # early in the second member
            raise KeyboardInterrupt
        return original(self, t, state)

    monkeypatch.setattr(NeuralODE, "rhs", interrupt)
    histories = fit_collocation_ensemble(
        members, states, derivatives, regularizer=regularizer, settings=SETTINGS, seeds=[0, 1, 2], progress=False
    )
    assert [len(history) for history in histories] == [SETTINGS.n_epochs, 4]
    assert [history.interrupted for history in histories] == [False, True]
    assert calls["n"] == SETTINGS.n_epochs + 5  # the third member was never started
