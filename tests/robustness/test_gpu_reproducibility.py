"""Same seed, same inputs, same GPU: the same result within a stated tolerance."""

from __future__ import annotations

import numpy as np
import pytest
from robustness_helpers import QUICK, make_adata

import pathreg

pytestmark = pytest.mark.gpu

GPU_ATOL = 1e-5
"""Absolute tolerance on adjacencies of order 0.1-1: CUDA kernels may sum in another order from run to run."""


@pytest.mark.parametrize("objective", ["collocation", "shooting"])
def test_same_seed_same_result_on_the_gpu(objective):
    options = {**QUICK, "lineage_key": "lineages", "objective": objective, "n_seeds": 2, "device": "cuda"}
    first, second = make_adata(), make_adata()
    pathreg.tl.fit_dynamics(first, seed=0, **options)
    pathreg.tl.fit_dynamics(second, seed=0, **options)
    difference = np.abs(first.varp["pathreg_adjacency"] - second.varp["pathreg_adjacency"]).max()
    assert difference <= GPU_ATOL, f"{objective}: adjacencies of two runs differ by {difference:.3g}"
    np.testing.assert_allclose(
        first.layers["pathreg_prediction"], second.layers["pathreg_prediction"], atol=GPU_ATOL, equal_nan=True
    )
