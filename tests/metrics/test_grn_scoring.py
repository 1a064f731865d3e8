import numpy as np
import pandas as pd
import pytest

from pathreg.metrics import pearson_network, random_forest_network, score_network, truth_matrix

GENES = ["a", "b", "c", "d"]
EDGES = pd.DataFrame({"regulator": ["a", "b", "c", "a"], "target": ["b", "c", "d", "a"]})


def test_truth_matrix_is_target_by_regulator():
    truth = truth_matrix(EDGES, GENES)
    assert truth[1, 0]
    assert truth[2, 1]
    assert truth[3, 2]
    assert truth[0, 0]
    assert truth.sum() == 4


def test_perfect_and_reversed_rankings():
    truth = truth_matrix(EDGES, GENES).astype(float)
    perfect = score_network(truth + 0.01 * np.eye(4), EDGES, genes=GENES)
    assert perfect["auprc"] == pytest.approx(1.0)
    assert perfect["auroc"] == pytest.approx(1.0)
    assert perfect["n_true"] == 3  # the self-loop a -> a is excluded
    assert perfect["random_auprc"] == pytest.approx(3 / 12)
    reversed_ = score_network(1 - truth, EDGES, genes=GENES)
    assert reversed_["auroc"] == pytest.approx(0.0)


def test_all_tied_scores_earn_chance():
    scores = score_network(np.zeros((4, 4)), EDGES, genes=GENES)
    assert scores["auroc"] == pytest.approx(0.5)
    assert scores["auprc"] < 0.35  # about the edge density 0.25, not the optimistic straight line (0.625)


def test_dataframe_input_and_errors():
    frame = pd.DataFrame(np.ones((4, 4)), index=GENES, columns=GENES)
    assert score_network(frame, EDGES)["n_true"] == 3
    with pytest.raises(ValueError, match="genes="):
        score_network(np.ones((4, 4)), EDGES)
    with pytest.raises(ValueError, match="regulator"):
        score_network(frame, EDGES.rename(columns={"regulator": "source"}))


def test_baselines_find_a_planted_dependency():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    x[:, 1] = 2 * x[:, 0] + 0.1 * rng.normal(size=300)
    correlation = pearson_network(x)
    assert correlation[1, 0] > 0.9
    assert correlation[2, 3] < 0.3
    forest = random_forest_network(x, n_trees=50)
    assert forest[1].argmax() == 0
    assert forest[1, 1] == 0


def test_spurious_feature_sparsity_is_the_same_for_sparse_and_dense_networks():
    from scipy import sparse

    from pathreg.metrics import spurious_feature_sparsity

    rng = np.random.default_rng(0)
    adjacency = rng.normal(size=(30, 30)) * (rng.random((30, 30)) < 0.3)
    regulators, spurious = rng.random(30) < 0.6, rng.random(30) < 0.5
    columns = np.flatnonzero(regulators & spurious)
    stored = sparse.csr_matrix(adjacency)
    row = int(np.flatnonzero(adjacency[:, columns[0]])[0])
    stored[row, columns[0]] = 0.0  # an explicit stored zero still counts as zero
    adjacency[row, columns[0]] = 0.0
    assert stored.nnz == np.count_nonzero(adjacency) + 1
    expected = spurious_feature_sparsity(adjacency, regulators, spurious)
    assert 0 < expected < 1
    assert spurious_feature_sparsity(stored, regulators, spurious) == pytest.approx(expected)


def test_random_forest_network_of_some_targets_has_their_rows_of_the_whole_network():
    expression = np.random.default_rng(0).normal(size=(60, 5))
    whole = random_forest_network(expression, n_trees=10)
    some = random_forest_network(expression, n_trees=10, targets=[1, 3])
    np.testing.assert_array_equal(some[[1, 3]], whole[[1, 3]])
    assert not some[[0, 2, 4]].any()
