"""pl.perturbation and pl.generalization: what is drawn, from tables of known content."""

import anndata as ad
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

import pathreg
from pathreg._utils import GENERALIZATION_COLUMNS, PERTURBATION_COLUMNS
from pathreg.pl._perturbation import DOWN_COLOR, UP_COLOR, ZERO_COLOR


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _bars(ax):
    return list(ax.patches)


# perturbation

DELTAS = {"A": [0.5, -0.2, 0.0, 1.5, -0.9, 0.1], "B": [-0.1, 0.3, 0.2, -0.4, 0.05, 0.0]}
GENES = ["g0", "g1", "g2", "g3", "g4", "ko"]  # "ko" is the clamped gene


def _perturbed_adata():
    rows = []
    for lineage, deltas in DELTAS.items():
        for gene, delta in zip(GENES, deltas, strict=True):
            rows.append(
                {
                    "gene": gene,
                    "lineage": lineage,
                    "control_final": 1.0,
                    "perturbed_final": 1.0 + delta,
                    "delta_final": delta,
                    "delta_mean": delta / 2,
                    "perturbed": gene == "ko",
                }
            )
    table = pd.DataFrame(rows, columns=list(PERTURBATION_COLUMNS))
    adata = ad.AnnData(np.zeros((3, len(GENES)), dtype=np.float32))
    adata.var_names = GENES
    adata.uns["pathreg_perturbation"] = {
        "table": {column: table[column].to_numpy() for column in PERTURBATION_COLUMNS},
        "params": {"key": "pathreg", "genes": np.asarray(["ko"], dtype=object), "values": np.array([0.0])},
    }
    return adata


def test_perturbation_bars_sorted_and_coloured_by_sign(tmp_path):
    adata = _perturbed_adata()
    adata.write_h5ad(tmp_path / "p.h5ad")  # the stored table survives h5ad and is what is drawn
    adata = ad.read_h5ad(tmp_path / "p.h5ad")
    ax = pathreg.pl.perturbation(adata, lineage="A", top=4, show=False)
    bars = _bars(ax)
    assert len(bars) == 4  # the 4 largest |delta| among the 5 unclamped genes; "ko" is left out
    widths = [bar.get_width() for bar in bars]
    assert widths == [-0.9, -0.2, 0.5, 1.5]  # bottom to top: largest decrease first, largest increase on top
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert labels == ["g4", "g1", "g0", "g3"]
    colors = [to_hex(bar.get_facecolor()) for bar in bars]
    assert colors == [DOWN_COLOR, DOWN_COLOR, UP_COLOR, UP_COLOR]
    assert "ko = 0" in ax.get_title()
    assert "A" in ax.get_title()


def test_perturbation_all_genes_zero_colour_perturbed_and_mean():
    adata = _perturbed_adata()
    ax = pathreg.pl.perturbation(adata, lineage="A", top=None, include_perturbed=True, value="delta_mean", show=False)
    bars = _bars(ax)
    assert len(bars) == 6
    by_gene = dict(zip([label.get_text() for label in ax.get_yticklabels()], bars, strict=True))
    assert by_gene["ko"].get_width() == pytest.approx(0.05)  # the clamped gene, drawn on request
    assert to_hex(by_gene["g2"].get_facecolor()) == ZERO_COLOR


def test_perturbation_one_panel_per_lineage_and_own_axes():
    adata = _perturbed_adata()
    figure = pathreg.pl.perturbation(adata, top=3, show=False)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 2
    assert [len(_bars(ax)) for ax in figure.axes] == [3, 3]
    assert [label.get_text() for label in figure.axes[1].get_yticklabels()] == ["g3", "g2", "g1"]
    _, axes = plt.subplots(1, 2)
    assert pathreg.pl.perturbation(adata, ax=axes, show=False) is axes[0].figure
    with pytest.raises(ValueError, match="one per lineage"):
        pathreg.pl.perturbation(adata, ax=axes[0], show=False)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"lineage": "C"}, "Unknown or no lineages"),
        ({"key": "missing"}, "No perturbation 'missing'"),
        ({"value": "delta"}, "delta_final"),
        ({"top": 0}, "top"),
    ],
)
def test_perturbation_errors(options, match):
    with pytest.raises(ValueError, match=match):
        pathreg.pl.perturbation(_perturbed_adata(), show=False, **options)


# generalization


def _results():
    rows = []
    sparsity = {"pathreg": (0.6, 0.8, 1.0), "none": (0.0, 0.0, 0.0)}
    for method, (feature, weight, spurious) in sparsity.items():
        for batch, split in (("a", "train"), ("b", "test"), ("c", "test")):
            for number, lineage in enumerate(("L1", "L2")):
                mse = {"a": 0.01, "b": 0.02, "c": 0.5}[batch] * (1 if method == "pathreg" else 3) * (number + 1)
                rows.append((method, batch, split, lineage, mse, feature, weight, spurious))
    return pd.DataFrame(rows, columns=list(GENERALIZATION_COLUMNS))


def test_generalization_grouped_bars_and_sparsity_panel():
    results = _results()
    figure = pathreg.pl.generalization(results, show=False)
    left, right = figure.axes
    bars = _bars(left)
    assert len(bars) == 2 * 2  # 2 test batches x 2 methods
    labels = [container.get_label() for container in left.containers]
    assert labels == ["pathreg (feature sparsity 0.60)", "none (feature sparsity 0.00)"]
    assert [tick.get_text() for tick in left.get_xticklabels()] == ["b", "c"]
    expected = results.query("split == 'test'").groupby(["batch", "method"])["mse"].mean()
    for container, method in zip(left.containers, ("pathreg", "none"), strict=True):
        np.testing.assert_allclose([bar.get_height() for bar in container], expected.xs(method, level="method"))
    assert len(_bars(right)) == 2 * 3  # 2 methods x 3 sparsity columns
    assert [container.get_label() for container in right.containers] == [
        "feature sparsity",
        "weight sparsity",
        "spurious feature sparsity",
    ]
    np.testing.assert_allclose([bar.get_height() for bar in right.containers[1]], [0.8, 0.0])


def test_generalization_from_adata_sum_all_splits_single_axes(tmp_path):
    results = _results()
    results["spurious_feature_sparsity"] = np.nan  # not computed: no such bars
    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    adata.uns["generalization"] = {"table": {column: results[column].to_numpy() for column in GENERALIZATION_COLUMNS}}
    adata.write_h5ad(tmp_path / "g.h5ad")
    adata = ad.read_h5ad(tmp_path / "g.h5ad")
    figure = pathreg.pl.generalization(adata, split="all", aggregate="sum", show=False)
    left, right = figure.axes
    assert [tick.get_text() for tick in left.get_xticklabels()] == ["a (train)", "b", "c"]
    np.testing.assert_allclose([bar.get_height() for bar in left.containers[1]], [0.09, 0.18, 4.5])
    assert len(right.containers) == 2
    _, ax = plt.subplots()
    assert pathreg.pl.generalization(results, ax=ax, log=True, show=False) is ax
    assert ax.get_yscale() == "log"
    assert len(_bars(ax)) == 4


@pytest.mark.parametrize(
    ("results", "options", "match"),
    [
        (None, {"metric": "mes"}, "Close matches"),
        (None, {"metric": "lineage"}, "not a numeric"),
        (None, {"split": "validation"}, "split must be"),
        (pd.DataFrame({"method": ["x"]}), {}, "lacks the columns"),
        (ad.AnnData(np.zeros((1, 1), dtype=np.float32)), {}, "No generalization results"),
    ],
)
def test_generalization_errors(results, options, match):
    with pytest.raises(ValueError, match=match):
        pathreg.pl.generalization(_results() if results is None else results, show=False, **options)
