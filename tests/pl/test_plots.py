import importlib.util
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.testing.compare import compare_images

import pathreg
from pathreg.models import MLPVectorField
from pathreg.pl._network import ACTIVATION_COLOR, REGULATOR_COLOR, REPRESSION_COLOR, TARGET_COLOR
from pathreg.pl._sparsity import ZEROS_GID

HERE = Path(__file__).parent


def _load_baselines():
    spec = importlib.util.spec_from_file_location("pathreg_pl_make_baselines", HERE / "make_baselines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


baselines = _load_baselines()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fitted():
    adata = pathreg.datasets.krumsiek11()
    pathreg.pp.pseudotime(adata, root_key="cell_type", root="progenitor")
    pathreg.pp.lineages(adata, {"Mo": ["progenitor", "Mo"], "Ery": ["progenitor", "Ery"]}, cell_type_key="cell_type")
    model = pathreg.tl.fit_dynamics(
        adata, lineage_key="lineages", n_bins=8, hidden=(8,), training={"n_epochs": 40}, n_seeds=1, progress=False
    )
    return adata, model


def _zero_counts(figure):
    texts = [text.get_text() for ax in figure.axes for text in ax.texts if text.get_gid() == ZEROS_GID]
    return [tuple(map(int, re.match(r"exact zeros: (\d+) of (\d+)", text).groups())) for text in texts]


# trajectories


def test_trajectories_panels_points_and_lines(fitted):
    adata, _ = fitted
    genes = ["Gata1", "Pu.1", "Fli1", "cJun", "Gfi1"]
    figure = pathreg.pl.trajectories(adata, genes, ncols=2, show=False)
    panels = [ax for ax in figure.axes if ax.get_visible() and ax.axison]
    assert [ax.get_title() for ax in panels] == genes
    assert len(figure.axes) == 6  # 3 x 2 grid, the last one switched off
    membership = adata.obsm["lineages"].to_numpy()
    n_drawn = sum(len(collection.get_offsets()) for collection in panels[0].collections)
    assert n_drawn == int(membership.any(axis=1).sum())  # every cell of a lineage once, shared ones in grey
    lines = {line.get_label(): line for line in panels[1].get_lines()}
    assert set(lines) == {"Mo (fit)", "Ery (fit)"}
    cells = np.flatnonzero(membership[:, list(adata.obsm["lineages"].columns).index("Ery")])
    time = adata.obs["dpt_pseudotime"].to_numpy()
    order = cells[np.argsort(time[cells], kind="stable")]
    column = adata.var_names.get_loc("Pu.1")
    np.testing.assert_allclose(lines["Ery (fit)"].get_xdata(), time[order])
    np.testing.assert_allclose(lines["Ery (fit)"].get_ydata(), adata.layers["pathreg_prediction"][order, column])


def test_trajectories_single_lineage_and_own_axes(fitted):
    adata, _ = fitted
    figure, axes = plt.subplots(1, 2)
    result = pathreg.pl.trajectories(adata, ["Gata1", "SCL"], lineage_key="none", axes=axes, show=False)
    assert result is figure
    assert [len(ax.get_lines()) for ax in axes] == [1, 1]
    assert len(axes[0].collections) == 1  # one lineage: no shared cells


def test_trajectories_errors(fitted):
    adata, _ = fitted
    with pytest.raises(ValueError, match=r"Gata1"):
        pathreg.pl.trajectories(adata, ["Gata"], show=False)
    with pytest.raises(ValueError, match="No fit 'other'"):
        pathreg.pl.trajectories(adata, "Gata1", key="other", show=False)
    with pytest.raises(ValueError, match="axes has 1 Axes for 2 genes"):
        pathreg.pl.trajectories(adata, ["Gata1", "SCL"], axes=plt.subplots()[1], show=False)


# network


def test_network_edges_colors_and_highlight(fitted):
    adata, _ = fitted
    edges = pathreg.tl.grn(adata, top_k=12)
    ax = pathreg.pl.network(adata, top_k=12, regulators_highlight=["Gata1", "Pu.1"], show=False)
    assert len(ax.patches) == len(edges) == 12
    expected = {ACTIVATION_COLOR if sign > 0 else REPRESSION_COLOR for sign in edges["sign"]}
    drawn = {matplotlib.colors.to_hex(patch.get_edgecolor()) for patch in ax.patches}
    assert drawn == expected
    graph = pathreg.tl.to_networkx(adata, top_k=12)
    face = ax.collections[0].get_facecolors()
    for node, color in zip(graph.nodes, face, strict=True):
        wanted = REGULATOR_COLOR if node in ("Gata1", "Pu.1") else TARGET_COLOR
        assert matplotlib.colors.to_hex(color) == wanted
    labels = {text.get_text() for text in ax.texts}
    assert labels == set(graph.nodes)


def test_network_top_k_above_edge_count_and_var_column(fitted):
    adata, _ = fitted
    adata = adata.copy()
    adata.var["is_tf"] = adata.var_names.isin(["Gata1"])
    n_nonzero = int(np.count_nonzero(adata.varp["pathreg_adjacency"]))
    ax = pathreg.pl.network(adata, top_k=10_000, regulators_highlight="is_tf", layout="circular", show=False)
    assert len(ax.patches) == n_nonzero
    n_highlighted = sum(
        matplotlib.colors.to_hex(color) == REGULATOR_COLOR for color in ax.collections[0].get_facecolors()
    )
    assert n_highlighted == 1


def test_network_of_a_lineage(fitted):
    adata, _ = fitted
    edges = pathreg.tl.grn(adata, lineage="Ery", top_k=8)
    ax = pathreg.pl.network(adata, lineage="Ery", top_k=8, show=False)
    assert ax.get_title() == "pathreg, lineage Ery: top 8 edges"
    assert len(ax.patches) == len(edges) == 8
    expected = {ACTIVATION_COLOR if sign > 0 else REPRESSION_COLOR for sign in edges["sign"]}
    assert {matplotlib.colors.to_hex(patch.get_edgecolor()) for patch in ax.patches} == expected
    assert {text.get_text() for text in ax.texts} == set(edges["regulator"]) | set(edges["target"])
    assert pathreg.pl.network(adata, top_k=8, show=False).get_title() == "pathreg: top 8 edges"
    with pytest.raises(ValueError, match=r"no lineage 'ery'.*Close matches: \['Ery'\]"):
        pathreg.pl.network(adata, lineage="ery", show=False)


def test_network_errors(fitted):
    adata, _ = fitted
    with pytest.raises(ValueError, match="layout must be one of"):
        pathreg.pl.network(adata, layout="force", show=False)
    with pytest.raises(ValueError, match="not a column of adata.var"):
        pathreg.pl.network(adata, regulators_highlight="is_tf", show=False)
    with pytest.raises(ValueError, match="pathreg_adjacency"):
        pathreg.pl.network(adata, key="missing", show=False)


# sparsity


def test_sparsity_model_counts_true_zeros(fitted):
    _, model = fitted
    figure = pathreg.pl.sparsity(model, show=False)
    assert len(figure.axes) == 2
    weights = torch.cat([w.detach().flatten() for member in model for w in member.vector_field.layer_weights()])
    paths = torch.cat([member.adjacency().detach().flatten() for member in model])
    assert _zero_counts(figure) == [
        (int((weights == 0).sum()), weights.numel()),
        (int((paths == 0).sum()), paths.numel()),
    ]
    assert all(ax.get_xscale() == "log" for ax in figure.axes)


def test_sparsity_pruned_vector_field():
    torch.manual_seed(0)
    field = MLPVectorField(3, 3, hidden=(4,), activation="tanh")
    with torch.no_grad():
        field.layers[0].weight[0, :] = 0.0  # hidden unit 0 gets no input
        field.layers[0].weight[:, 1] = 0.0  # input 1 reaches nothing: its 3 paths are exact zeros
    figure = pathreg.pl.sparsity(field, show=False)
    assert _zero_counts(figure) == [(6, 24), (3, 9)]
    heights = sum(patch.get_height() for patch in figure.axes[0].patches)
    assert heights == 24 - 6  # only the non-zero weights are in the histogram


def test_sparsity_adata_counts_block_zeros():
    adata = baselines.sparsity_adata()
    ax = pathreg.pl.sparsity(adata, show=False)
    assert _zero_counts(ax.figure) == [(30, 100)]
    assert sum(patch.get_height() for patch in ax.patches) == 70
    with pytest.raises(ValueError, match="eps must be positive"):
        pathreg.pl.sparsity(adata, eps=0, show=False)
    with pytest.raises(ValueError, match="pathreg_adjacency"):
        pathreg.pl.sparsity(adata, key="missing", show=False)
    with pytest.raises(TypeError, match="fitted model"):
        pathreg.pl.sparsity(np.zeros(3), show=False)


# training


def test_training_lines(fitted):
    adata, _ = fitted
    ax = pathreg.pl.training(adata, show=False)
    history = adata.uns["pathreg"]["history"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"loss", "fit loss", "penalty"}
    assert ax.get_yscale() == "log"
    np.testing.assert_allclose(lines["fit loss"].get_ydata(), history["fit_loss"])
    (twin,) = [other for other in ax.figure.axes if other is not ax]
    (sparsity_line,) = twin.get_lines()
    np.testing.assert_allclose(sparsity_line.get_ydata(), history["feature_sparsity"])
    assert len(ax.get_legend().get_texts()) == 6  # 3 losses, warm-up, refit, feature sparsity


def test_training_missing_fit(fitted):
    adata, _ = fitted
    with pytest.raises(ValueError, match="no fit 'pathre'.*'pathreg'"):
        pathreg.pl.training(adata, key="pathre", show=False)


# method_comparison


def test_method_comparison_circles_sizes_and_means():
    results = baselines.comparison_results()
    ax = pathreg.pl.method_comparison(results, show=False)
    circles = ax.collections[0]
    assert len(circles.get_offsets()) == 3 * 4  # methods x metrics (seed excluded)
    sizes = circles.get_sizes().reshape(4, 3)  # metric-major
    # best per metric: train_mse (lower) -> none; edge_precision -> pathreg; feature_sparsity -> pathreg;
    # seconds (lower) -> none
    assert list(sizes.argmax(axis=1)) == [0, 2, 2, 0]
    assert list(sizes.argmin(axis=1)) == [1, 0, 0, 1]
    ranks = circles.get_array().reshape(4, 3)
    np.testing.assert_array_equal(ranks[0], [1, 3, 2])
    texts = [text.get_text() for text in ax.texts]
    assert "0.11" in texts  # mean train_mse of "none" over its two seeds
    assert [label.get_text() for label in ax.get_yticklabels()] == ["none", "l1", "pathreg"]


def test_method_comparison_krumsiek_columns_and_directions():
    results = pd.DataFrame(
        {
            "variant": ["a", "b", "a", "b"],
            "seed": [0, 0, 1, 1],
            "auprc": [0.5, 0.3, 0.7, 0.3],
            "seconds": [1.0, 2.0, 1.0, 2.0],
        }
    )
    ax = pathreg.pl.method_comparison(
        results, method_key="variant", metrics=["seconds", "auprc"], higher_is_better={"seconds": True}, show=False
    )
    ranks = ax.collections[0].get_array().reshape(2, 2)
    np.testing.assert_array_equal(ranks, [[2, 1], [1, 2]])  # seconds now higher-is-better: b wins
    assert [label.get_text() for label in ax.get_xticklabels()] == ["seconds ↑", "auprc ↑"]


def test_method_comparison_errors():
    results = baselines.comparison_results()
    with pytest.raises(ValueError, match="no column 'methods'.*'method'"):
        pathreg.pl.method_comparison(results, method_key="methods", show=False)
    with pytest.raises(ValueError, match="not columns of results"):
        pathreg.pl.method_comparison(results, metrics=["auprc"], show=False)
    with pytest.raises(ValueError, match="higher_is_better names"):
        pathreg.pl.method_comparison(results, higher_is_better={"auprc": True}, show=False)


# image comparisons (baselines: python tests/pl/make_baselines.py)


@pytest.mark.parametrize("name", sorted(baselines.FIGURES))
def test_image_matches_baseline(name, tmp_path):
    expected = baselines.BASELINE_DIR / name
    assert expected.exists(), f"Baseline {expected} is missing; create it with `python tests/pl/make_baselines.py`."
    actual = tmp_path / name
    baselines.save(baselines.FIGURES[name](), actual)
    result = compare_images(str(expected), str(actual), tol=3)
    assert result is None, result
