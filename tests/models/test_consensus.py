"""The ensemble's network keeps an edge only where enough members have a path for it (``consensus``)."""

import numpy as np
import pytest
import torch

from pathreg.models import READOUTS, Ensemble, MLPVectorField, NeuralODE
from pathreg.models import _ensemble as ensemble_module


def gated_member(seed: int, closed: list[tuple[int, int]]) -> NeuralODE:
    """A gated 3 -> 3 member, one hidden unit per edge ``(i, j)``; the gates of the ``closed`` edges closed."""
    torch.manual_seed(seed)
    member = NeuralODE(MLPVectorField(3, 3, hidden=(9,), gated=True), solver="rk4")
    first, second = member.vector_field.layers[0], member.vector_field.layers[1]
    with torch.no_grad():
        first.log_alpha.fill_(-20.0)
        second.log_alpha.fill_(-20.0)
        for output in range(3):
            for regulator in range(3):
                if (output, regulator) not in closed:
                    unit = 3 * output + regulator
                    first.log_alpha[unit, regulator] = 20.0
                    second.log_alpha[output, unit] = 20.0
    return member.eval()


@pytest.fixture
def ensemble():
    """Four members: edge (0, 1) closed in all but one, edge (2, 0) closed in two, edge (1, 2) in one."""
    closures = [[(0, 1), (2, 0), (1, 2)], [(0, 1), (2, 0)], [(0, 1)], []]
    return Ensemble([gated_member(seed, closed) for seed, closed in enumerate(closures)])


def test_agreement_is_the_fraction_of_members_with_a_path(ensemble):
    agreement = ensemble.agreement()
    np.testing.assert_array_equal([agreement[0, 1], agreement[2, 0], agreement[1, 2]], [0.25, 0.5, 0.75])
    assert agreement[0, 0] == agreement[1, 1] == 1.0


@pytest.mark.parametrize(
    ("consensus", "zero"),
    [(0.0, []), (0.5, [(0, 1)]), (0.75, [(0, 1), (2, 0)]), (1.0, [(0, 1), (2, 0), (1, 2)])],
)
def test_consensus_zeroes_exactly_the_edges_too_few_members_have(ensemble, consensus, zero):
    states = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    everything = ensemble.signed_adjacency(states)
    kept = ensemble.signed_adjacency(states, consensus=consensus)
    is_zero = np.zeros((3, 3), dtype=bool)
    for edge in zero:
        is_zero[edge] = True
    assert np.all(kept[is_zero] == 0)
    np.testing.assert_array_equal(kept[~is_zero], everything[~is_zero])  # the others keep the members' mean
    assert np.all(everything[~is_zero] != 0)
    np.testing.assert_array_equal(ensemble.support(consensus), ~is_zero)


def test_an_unpenalised_ensemble_keeps_every_edge_whatever_the_consensus():
    torch.manual_seed(0)
    members = [NeuralODE(MLPVectorField(3, 3, hidden=(4,)), solver="rk4") for _ in range(3)]
    states = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    ensemble = Ensemble(members)
    np.testing.assert_array_equal(ensemble.signed_adjacency(states, consensus=1.0), ensemble.signed_adjacency(states))


@pytest.mark.parametrize("consensus", [-0.1, 1.5, True, "majority", float("nan")])
def test_consensus_outside_zero_to_one_is_an_error(ensemble, consensus):
    with pytest.raises(ValueError, match="consensus must be a fraction"):
        ensemble.signed_adjacency(np.zeros((2, 3), dtype=np.float32), consensus=consensus)


def test_members_are_combined_as_mean_magnitude_with_the_sign_of_the_mean(monkeypatch):
    torch.manual_seed(0)
    members = [NeuralODE(MLPVectorField(2, 2, hidden=(3,)), solver="rk4") for _ in range(3)]
    readouts = iter(
        [np.array([[1.0, -2.0], [0.5, 0.0]]), np.array([[-3.0, -2.0], [0.5, 0.0]]), np.array([[1.0, 4.0], [-2.0, 0.0]])]
    )
    monkeypatch.setattr(ensemble_module, "READOUTS", {**READOUTS, "jacobian": lambda member, states: next(readouts)})
    network = Ensemble(members).signed_adjacency(np.zeros((2, 2), dtype=np.float32))
    # magnitudes 5/3, 8/3, 1, 0; signs of the means -1/3, 0, -1/3, 0
    np.testing.assert_allclose(network, [[-5 / 3, 0.0], [-1.0, 0.0]], rtol=1e-6)
