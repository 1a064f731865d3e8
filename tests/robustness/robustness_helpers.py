"""Small synthetic data and the comparison helpers shared by the robustness tests."""

from __future__ import annotations

from collections.abc import Mapping

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

GENES = [f"g{i}" for i in range(6)]
TFS = ["g0", "g2", "g4"]
QUICK = {"n_bins": 5, "hidden": (4,), "training": {"n_epochs": 15}, "n_seeds": 1, "progress": False}
"""Settings of a tiny fit (well under a second on one CPU core)."""


def make_adata(n_cells: int = 120, seed: int = 0) -> ad.AnnData:
    """Six genes along a time in ``[0, 1]``, two lineages ``A``/``B`` sharing their earliest cells.

    ``obs``: ``dpt_pseudotime``, ``branch`` (categorical A/B), ``batch`` (categorical b0/b1);
    ``obsm["lineages"]`` (boolean cells x lineages); ``var["is_tf"]``; ``layers["smooth"]``;
    ``varp["base_grn"]`` (boolean target x regulator prior); ``uns["note"]``.
    """
    rng = np.random.default_rng(seed)
    time = np.sort(rng.uniform(0, 1, n_cells))
    branch = np.where(np.arange(n_cells) % 2 == 0, "A", "B")
    x = np.zeros((n_cells, len(GENES)))
    x[:, 0] = 1 - np.exp(-3 * time)
    x[:, 1] = np.where(branch == "A", x[:, 0] ** 2, 0.2 * x[:, 0])
    x[:, 2] = np.exp(-2 * time)
    x[:, 3] = 0.5 * x[:, 0] * x[:, 2]
    x[:, 4] = np.sin(2 * time) / 2 + 0.5
    x[:, 5] = 0.3 + 0.1 * time
    x += 0.01 * rng.normal(size=x.shape)
    obs = pd.DataFrame(
        {
            "dpt_pseudotime": time,
            "branch": pd.Categorical(branch),
            "batch": pd.Categorical(np.where(np.arange(n_cells) % 4 < 2, "b0", "b1")),
        },
        index=[f"c{i}" for i in range(n_cells)],
    )
    adata = ad.AnnData(x.astype(np.float32), obs=obs, var=pd.DataFrame(index=GENES))
    shared = time < 0.1
    adata.obsm["lineages"] = pd.DataFrame(
        {"A": (branch == "A") | shared, "B": (branch == "B") | shared}, index=adata.obs_names
    )
    adata.var["is_tf"] = adata.var_names.isin(TFS)
    adata.layers["smooth"] = adata.X.copy()
    prior = np.zeros((len(GENES), len(GENES)), dtype=bool)
    prior[:, [0, 2, 4]] = True
    adata.varp["base_grn"] = prior
    adata.uns["note"] = {"source": "synthetic", "values": np.arange(3)}
    return adata


def _dense(matrix) -> np.ndarray:
    if hasattr(matrix, "to_memory"):
        matrix = matrix.to_memory()
    return matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)


def values_equal(first, second) -> bool:
    """Recursive equality of ``uns``-like values (mappings, arrays, lists, frames, scalars); NaN equals NaN.

    Lists and arrays compare by their values (h5ad writes lists as arrays), mappings by keys and values.
    """
    if isinstance(first, Mapping) or isinstance(second, Mapping):
        if not (isinstance(first, Mapping) and isinstance(second, Mapping)) or set(first) != set(second):
            return False
        return all(values_equal(first[key], second[key]) for key in first)
    if isinstance(first, pd.DataFrame) or isinstance(second, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(first, second, check_dtype=False, check_categorical=False)
        except (AssertionError, TypeError):
            return False
        return True
    if sparse.issparse(first) or sparse.issparse(second):
        first, second = _dense(first), _dense(second)
    left, right = np.asarray(first), np.asarray(second)
    if left.shape != right.shape:
        return False
    if left.dtype.kind in "fc" and right.dtype.kind in "fciub":
        return bool(np.array_equal(left, right, equal_nan=True))
    if left.dtype.kind == "O" or right.dtype.kind == "O" or left.dtype.kind in "US":
        return bool(np.all(left.astype(str) == right.astype(str)))
    return bool(np.array_equal(left, right))


def assert_unchanged(before_copy: ad.AnnData, after: ad.AnnData) -> None:
    """``after`` holds exactly what ``before_copy`` (an ``adata.copy()`` taken before the call) held.

    Compares ``X``, ``obs``, ``var``, ``uns``, ``varp``, ``layers`` and ``obsm``: the same keys and equal values.
    """
    assert after.shape == before_copy.shape
    np.testing.assert_array_equal(_dense(after.X), _dense(before_copy.X))
    pd.testing.assert_frame_equal(after.obs, before_copy.obs)
    pd.testing.assert_frame_equal(after.var, before_copy.var)
    assert values_equal(dict(after.uns), dict(before_copy.uns)), "uns changed"
    for name in ("varp", "layers", "obsm"):
        now, then = getattr(after, name), getattr(before_copy, name)
        assert sorted(now.keys()) == sorted(then.keys()), f"{name} keys changed"
        for key in then:
            assert values_equal(now[key], then[key]), f"{name}[{key!r}] changed"
