import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.linalg import expm

import pathreg

GENERATOR = np.array(
    [[-1.0, 0.0, 0.0, 0.0], [2.0, -1.0, 0.0, 0.0], [0.0, -1.5, -1.0, 0.0], [0.0, 0.0, 1.0, -1.0]]
)  # gene 3 regulates nothing: a spurious input


def _batch(name, x0, generator, rng, n_cells=240):
    times = np.sort(rng.uniform(0, 2, n_cells))
    values = np.stack([expm(generator * t) @ x0 for t in times]) + 0.01 * rng.normal(size=(n_cells, 4))
    obs = pd.DataFrame({"t": times, "batch": name}, index=[f"{name}-{i}" for i in range(n_cells)])
    return ad.AnnData(values.astype(np.float32), obs=obs)


LINEAR_FIT = {
    "time_key": "t",
    "time_scale": "pseudotime",
    "n_bins": 12,
    "hidden": (),
    "activation": None,
    "n_seeds": 1,
    "progress": False,
}
"""A linear vector field fitted with one model: the true dynamics are linear."""


@pytest.fixture(scope="module")
def batches():
    """Batches a and b share the dynamics (different initial states); c follows other dynamics."""
    rng = np.random.default_rng(0)
    other = GENERATOR.copy()
    other[1, 0] = -2.0
    parts = [
        _batch("a", np.array([1.0, 0.2, 0.5, 0.1]), GENERATOR, rng),
        _batch("b", np.array([0.8, 0.4, 0.3, 0.3]), GENERATOR, rng),
        _batch("c", np.array([0.8, 0.4, 0.3, 0.3]), other, rng),
    ]
    adata = ad.concat(parts)
    adata.var_names = ["g0", "g1", "g2", "g3"]
    adata.var["spurious"] = [False, False, False, True]
    return adata


def test_same_dynamics_generalize_and_other_dynamics_do_not(batches):
    adata = batches.copy()
    table = pathreg.tl.evaluate_generalization(
        adata,
        batch_key="batch",
        train_batches=["a"],
        spurious_key="spurious",
        methods=("none",),
        fit_kwargs=LINEAR_FIT,
    )
    assert list(table.columns) == list(pathreg._utils.GENERALIZATION_COLUMNS)
    mse = table.set_index("batch")["mse"]
    assert set(table["split"]) == {"train", "test"}
    # one training trajectory does not pin down every direction of the dynamics, so b's error exceeds a's,
    # but a batch with the same dynamics stays predictable while one with other dynamics does not
    assert mse["a"] < 1e-3
    assert mse["b"] < 1e-2
    assert mse["c"] > 30 * mse["b"]
    # the same fit through fit_dynamics: the share of exact zeros in the spurious input's column
    train = adata[(adata.obs["batch"] == "a").to_numpy()].copy()
    pathreg.tl.fit_dynamics(train, method="none", **LINEAR_FIT)
    adjacency = np.asarray(train.varp["pathreg_adjacency"])
    expected = pathreg.metrics.spurious_feature_sparsity(adjacency, np.ones(4, dtype=bool), train.var["spurious"])
    assert table["spurious_feature_sparsity"].iloc[0] == pytest.approx(expected)
    stored = adata.uns["generalization"]["table"]
    assert list(stored["batch"]) == list(table["batch"])


def test_bad_batches_and_methods(batches):
    with pytest.raises(ValueError, match="batches are"):
        pathreg.tl.evaluate_generalization(
            batches, batch_key="batch", train_batches=["z"], fit_kwargs={"time_key": "t"}
        )
    with pytest.raises(ValueError, match="valid names"):
        pathreg.tl.evaluate_generalization(batches, batch_key="batch", train_batches=["a"], methods=("x",))
    with pytest.raises(ValueError, match="batch_key"):
        pathreg.tl.evaluate_generalization(batches, batch_key="donor", train_batches=["a"])


def test_a_small_test_batch_is_evaluated_with_fewer_bins(batches):
    rng = np.random.default_rng(1)
    small = _batch("d", np.array([1.0, 0.2, 0.5, 0.1]), GENERATOR, rng, n_cells=10)  # 5 bins of 2 cells
    small.var_names = batches.var_names
    adata = ad.concat([batches, small])
    table = pathreg.tl.evaluate_generalization(
        adata,
        batch_key="batch",
        train_batches=["a"],
        test_batches=["d"],
        methods=("none",),
        fit_kwargs=LINEAR_FIT,
    )
    mse = table.set_index("batch")["mse"]
    assert np.isfinite(mse["d"])
    assert mse["d"] < 1e-2
