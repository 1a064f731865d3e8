from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from pathreg.models import MLPVectorField, NeuralODE, edge_scores, feature_sparsity, weight_sparsity


def _brute_force_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a random true edge > score of a random false edge), ties counting one half."""
    positives, negatives = scores[labels], scores[~labels]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(positives, negatives))
    return wins / (len(positives) * len(negatives))


def test_feature_sparsity_on_hand_made_matrices():
    matrix = np.array([[0.0, 1e-6, 1.0], [2.0, -1e-7, 1e-4]])
    assert feature_sparsity(matrix) == pytest.approx(0.5)
    assert feature_sparsity(torch.tensor(matrix)) == pytest.approx(0.5)
    assert feature_sparsity(matrix, eps=1e-3) == pytest.approx(4 / 6)
    assert feature_sparsity(np.zeros((3, 3))) == 1.0
    assert feature_sparsity(np.ones((2, 2))) == 0.0
    assert feature_sparsity(np.zeros((0, 3))) == 0.0


def test_weight_sparsity_counts_gated_and_zero_weights():
    field = MLPVectorField(2, 2, hidden=(3,), gated=True)
    with torch.no_grad():
        for layer in field.layers:
            layer.weight.fill_(1.0)
            layer.log_alpha.fill_(10.0)
        field.layers[0].weight[0, 0] = 0.0  # a zero weight
        field.layers[0].log_alpha[1, :] = -10.0  # two closed gates
        field.layers[1].log_alpha[0, 2] = -10.0  # one more
    # 6 + 6 weights, 4 of them zero
    assert weight_sparsity(field) == pytest.approx(4 / 12)
    assert weight_sparsity(NeuralODE(field)) == pytest.approx(4 / 12)
    assert weight_sparsity(field, eps=2.0) == 1.0


def test_weight_sparsity_of_an_ungated_field():
    field = MLPVectorField(3, 3, hidden=(), activation=None)
    with torch.no_grad():
        field.layers[0].weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1e-6, 0.0, 3.0]]))
    assert weight_sparsity(field) == pytest.approx(6 / 9)


def test_edge_scores_on_a_hand_computed_example():
    scores = np.array([[0.9, 0.1, 0.0], [0.4, 0.8, 0.3]])
    truth = np.array([[1, 0, 0], [0, 1, 1]])
    result = edge_scores(scores, truth)
    # ranked: 0.9 T, 0.8 T, 0.4 F, 0.3 T, 0.1 F, 0.0 F
    assert result["n_true"] == 3
    assert result["n_predicted"] == 5
    assert result["precision"] == pytest.approx(3 / 5)
    assert result["recall"] == pytest.approx(1.0)
    assert result["auroc"] == pytest.approx(8 / 9)
    # trapezoids through (0, 1), (1/3, 1), (2/3, 1), (2/3, 2/3), (1, 3/4), (1, 3/5), (1, 1/2)
    assert result["auprc"] == pytest.approx(2 / 3 + (1 / 3) * (2 / 3 + 3 / 4) / 2)
    # the top 3 edges hold 2 true ones, the density is 3 / 6
    assert result["epr"] == pytest.approx((2 / 3) / (3 / 6))
    # signs do not matter, and tensors work as well as arrays
    assert edge_scores(torch.tensor(-scores), torch.tensor(truth)) == result


def test_auroc_matches_brute_force_with_ties():
    generator = np.random.default_rng(0)
    for _ in range(5):
        scores = np.round(generator.random((6, 5)), 1)
        truth = generator.random((6, 5)) < 0.4
        result = edge_scores(scores, truth)
        assert result["auroc"] == pytest.approx(_brute_force_auroc(scores.ravel(), truth.ravel()))


def test_perfect_and_inverted_rankings():
    truth = np.array([[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]])
    perfect = truth * 2.0 + 0.5
    result = edge_scores(perfect, truth)
    assert result["auroc"] == pytest.approx(1.0)
    assert result["auprc"] == pytest.approx(1.0)
    assert result["epr"] == pytest.approx(12 / 4)
    inverted = edge_scores(1.0 - truth * 0.9, truth)
    assert inverted["auroc"] == pytest.approx(0.0)
    assert inverted["epr"] == pytest.approx(0.0)


def test_self_loops_are_excluded_for_square_matrices():
    scores = np.array([[5.0, 0.2, 0.7], [0.9, 5.0, 0.1], [0.3, 0.8, 5.0]])
    truth = np.array([[1, 0, 1], [1, 1, 0], [0, 0, 1]])
    result = edge_scores(scores, truth)
    off_diagonal = ~np.eye(3, dtype=bool)
    assert result == edge_scores(scores[off_diagonal], truth[off_diagonal])
    assert result["n_true"] == 2
    assert result["auroc"] == pytest.approx(_brute_force_auroc(scores[off_diagonal], truth[off_diagonal] != 0))
    with_loops = edge_scores(scores, truth, exclude_self_loops=False)
    assert with_loops["n_true"] == 5
    assert with_loops["n_predicted"] == 9


def test_edge_scores_degenerate_inputs():
    with pytest.raises(ValueError, match="same shape"):
        edge_scores(np.ones((2, 3)), np.ones((3, 2)))
    empty = edge_scores(np.ones((2, 3)), np.zeros((2, 3)))
    assert empty["n_true"] == 0
    assert np.isnan(empty["auroc"])
    assert np.isnan(empty["auprc"])
    full = edge_scores(np.ones((2, 3)), np.ones((2, 3)))
    assert np.isnan(full["epr"])
    assert full["precision"] == 1.0


def test_early_precision_includes_ties_at_the_kth_score():
    scores = np.array([[0.9, 0.5, 0.5, 0.1]])
    truth = np.array([[1, 0, 1, 0]])
    # k = 2 true edges; the 2nd score ties with the 3rd, so the top set holds 3 edges, 2 of them true
    assert edge_scores(scores, truth)["epr"] == pytest.approx((2 / 3) / (2 / 4))
