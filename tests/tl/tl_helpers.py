"""Settings and comparison helpers shared by the tl tests (a module of its own: ``conftest`` names clash)."""

import numpy as np

LINEAGES = {"Mo": ["progenitor", "Mo"], "Ery": ["progenitor", "Ery"]}
QUICK = {"n_bins": 8, "hidden": (8,), "training": {"n_epochs": 40}, "progress": False}


def snapshot(adata):
    """Everything a failed call must leave unchanged."""
    return {
        "X": np.array(adata.X, copy=True),
        "obs": adata.obs.copy(),
        "var": adata.var.copy(),
        "uns": sorted(adata.uns.keys()),
        "varp": sorted(adata.varp.keys()),
        "layers": sorted(adata.layers.keys()),
        "obsm": sorted(adata.obsm.keys()),
    }


def assert_unchanged(adata, before):
    after = snapshot(adata)
    np.testing.assert_array_equal(after["X"], before["X"])
    assert after["obs"].equals(before["obs"])
    assert after["var"].equals(before["var"])
    for key in ("uns", "varp", "layers", "obsm"):
        assert after[key] == before[key], key
