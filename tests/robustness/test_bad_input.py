"""Every bad input gets a clear error and leaves the user's data untouched; odd but valid inputs work.

Complements tests/tl/test_fit_dynamics.py (which checks the basic messages on krumsiek11): here the messages
are checked in full (the key, close matches, the function that creates the key, counts and examples) on a
small synthetic AnnData, and every failed call is checked to leave ``adata`` exactly as it was.
"""

from __future__ import annotations

import logging
import re
import traceback
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from robustness_helpers import GENES, QUICK, TFS, assert_unchanged, make_adata
from scipy import sparse

import pathreg
import pathreg.tl._fit as fit_module
from pathreg._utils import prior_mask
from pathreg.datasets import bone_marrow, read_amc, read_asf, read_asf_amc, read_beeline
from pathreg.models import NeuralODE

FIT = {**QUICK, "lineage_key": "lineages"}


def _fails(adata, error, pattern, function=pathreg.tl.fit_dynamics, **options):
    """Call ``function(adata, **FIT, **options)``, expect ``error`` matching ``pattern``, check nothing changed."""
    before = adata.copy()
    with pytest.raises(error, match=pattern) as info:
        function(adata, **{**FIT, **options})
    assert_unchanged(before, adata)
    return str(info.value)


# --- missing keys: named, close matches, the function that creates them -----------------------------------------


@pytest.mark.parametrize(
    ("options", "patterns"),
    [
        (
            {"time_key": "dpt_pseudotme"},
            ["'dpt_pseudotme'", r"Close matches: \['dpt_pseudotime'\]", r"pathreg\.pp\.pseudotime"],
        ),
        ({"layer": "smoth"}, ["'smoth'", r"Close matches: \['smooth'\]", r"layer=None uses adata\.X"]),
        ({"lineage_key": "lineage"}, ["'lineage'", r"Close matches: \['lineages'\]", r"pathreg\.pp\.lineages"]),
        ({"regulators": "is_tfs"}, ["'is_tfs'", r"Close matches: \['is_tf'\]", r"pathreg\.pp\.annotate_tfs"]),
        ({"regulators": "tf"}, ["'tf'", r"pathreg\.pp\.annotate_tfs"]),
        ({"prior": "base_gr"}, ["'base_gr'", r"Close matches: \['base_grn'\]", r"adata\.varp\[key\] = mask"]),
    ],
)
def test_missing_key_is_named_with_close_matches_and_its_creator(adata, options, patterns):
    message = _fails(adata, ValueError, patterns[0], **options)
    for pattern in patterns[1:]:
        assert re.search(pattern, message), (pattern, message)


# --- NaN / inf ------------------------------------------------------------------------------------------------------


def test_nan_and_inf_in_the_expression_used_are_counted_with_cells_and_genes(adata):
    adata.X[3, 1] = np.nan
    adata.X[10, 3] = np.inf
    message = _fails(adata, ValueError, r"adata\.X has 2 NaN or infinite values \(1 NaN, 1 infinite\)")
    assert "in 2 of the 120 cells used, in 2 genes" in message
    assert "'g1'" in message
    assert "'g3'" in message


def test_nan_in_a_layer_names_the_layer(adata):
    adata.layers["smooth"][5, 0] = -np.inf
    _fails(
        adata,
        ValueError,
        r"adata\.layers\['smooth'\] has 1 NaN or infinite values \(0 NaN, 1 infinite\)",
        layer="smooth",
    )


def test_nan_outside_the_genes_and_cells_used_is_ignored(adata):
    adata.obsm["lineages"].iloc[-1] = False  # the last cell belongs to no lineage
    adata.X[-1, 0] = np.nan  # not a cell used
    adata.X[4, 5] = np.nan  # g5 is neither a regulator nor a target
    pathreg.tl.fit_dynamics(adata, regulators="is_tf", targets=["g1", "g3"], **FIT)
    assert np.isfinite(adata.varp["pathreg_adjacency"]).all()


@pytest.mark.parametrize(("value", "kind"), [(np.nan, r"\(2 NaN, 0 infinite\)"), (np.inf, r"\(0 NaN, 2 infinite\)")])
def test_nan_or_inf_in_the_time_column_is_counted(adata, value, kind):
    adata.obs.loc[["c3", "c7"], "dpt_pseudotime"] = value
    message = _fails(adata, ValueError, rf"adata\.obs\['dpt_pseudotime'\] has 2 NaN or infinite values {kind}")
    assert "among the 120 cells used" in message


def test_non_numeric_time_column_is_an_error(adata):
    adata.obs["stage"] = pd.Categorical(np.where(adata.obs["dpt_pseudotime"] < 0.5, "early", "late"))
    _fails(adata, ValueError, r"adata\.obs\['stage'\] must be numeric; 120 of its 120 values", time_key="stage")


# --- names and gene lists --------------------------------------------------------------------------------------------


def test_duplicated_var_names_suggest_var_names_make_unique(adata):
    adata.var_names = ["g0", "g1", "g1", "g3", "g4", "g4"]
    message = _fails(adata, ValueError, r"adata\.var_names_make_unique\(\)")
    assert "['g1', 'g4']" in message


@pytest.mark.parametrize("names", [["GATA1", "SPI1", "CEBPA"], ["G0", "G2"]])
def test_regulators_without_overlap_show_the_count_and_examples_of_both(adata, names):
    message = _fails(adata, ValueError, rf"overlap 0 of {len(names)}", regulators=names)
    assert str(names[:5]) in message
    assert str(GENES[:5]) in message


def test_regulator_column_selecting_nothing_is_an_error(adata):
    adata.var["is_tf"] = False
    _fails(adata, ValueError, r"adata\.var\['is_tf'\] is False for all 6 genes.*overlap 0", regulators="is_tf")


def test_partial_overlap_fits_the_genes_present(adata):
    pathreg.tl.fit_dynamics(adata, regulators=["g0", "g2", "NOTAGENE"], **FIT)
    assert list(adata.uns["pathreg"]["regulators"]) == ["g0", "g2"]


# --- lineages and time too poor for the trajectories ----------------------------------------------------------------


def test_lineage_with_too_few_cells_gives_the_counts(adata):
    adata.obsm["lineages"]["B"] = adata.obs_names.isin(adata.obs_names[1:20:2])  # 10 cells
    _fails(adata, ValueError, r"Lineage 'B' has 10 cells; binning into n_bins=8 needs at least 16", n_bins=8)


def test_lineage_without_cells_is_named(adata):
    adata.obsm["lineages"]["C"] = False
    _fails(adata, ValueError, r"Lineages \['C'\] contain no cells")


def test_constant_time_gives_the_count(adata):
    adata.obs["dpt_pseudotime"] = 0.25
    _fails(adata, ValueError, r"The time of all 120 cells used is the same \(0\.25\)")


def test_constant_time_in_one_lineage_gives_the_count(adata):
    in_b = adata.obsm["lineages"]["B"].to_numpy() & ~adata.obsm["lineages"]["A"].to_numpy()
    adata.obsm["lineages"]["B"] = in_b
    adata.obs.loc[in_b, "dpt_pseudotime"] = 0.5
    _fails(adata, ValueError, rf"All {int(in_b.sum())} cells of lineage 'B' have the same time \(")


# --- priors: NaN is no edge, labels must be genes -------------------------------------------------------------------


def _one_edge_prior(fill=np.nan) -> pd.DataFrame:
    """A 6 x 6 prior of ``fill`` with one edge, g0 -> g1 (as ``DataFrame.pivot`` gives NaN where there is none)."""
    prior = pd.DataFrame(fill, index=GENES, columns=GENES)
    prior.loc["g1", "g0"] = 1.0
    return prior


def test_nan_in_a_prior_dataframe_means_no_edge(adata):
    prior = _one_edge_prior()
    assert prior_mask(adata, prior, GENES, GENES).sum() == 1  # not 36: NaN is no edge
    pathreg.tl.fit_dynamics(adata, prior=prior, **FIT)
    adjacency = adata.varp["pathreg_adjacency"]
    allowed = prior.notna().to_numpy()
    assert np.all(adjacency[~allowed] == 0)


def test_nan_in_a_varp_prior_means_no_edge(adata):
    adata.varp["weighted"] = _one_edge_prior().to_numpy()
    assert prior_mask(adata, "weighted", GENES, GENES).sum() == 1
    pathreg.tl.fit_dynamics(adata, prior="weighted", **FIT)
    assert np.count_nonzero(adata.varp["pathreg_adjacency"][adata.var_names != "g1"]) == 0


@pytest.mark.parametrize("where", ["DataFrame", "varp"])
def test_prior_entries_that_are_not_numbers_are_an_error(adata, where):
    prior = _one_edge_prior().astype(object)
    prior.loc["g3", "g2"] = "activation"
    if where == "varp":
        adata.varp["modes"] = prior.to_numpy()
        prior = "modes"
    message = _fails(adata, ValueError, r"must hold booleans or numbers \(True or non-zero: allowed edge", prior=prior)
    assert "1 of its entries is neither, e.g. 'activation'" in message
    assert "prior.notna()" in message


@pytest.mark.parametrize("axis", ["index", "columns"])
def test_prior_labels_that_are_not_genes_are_listed_with_close_matches(adata, axis):
    prior = pd.DataFrame(True, index=GENES, columns=GENES)
    setattr(prior, axis, ["G0", "g1", "G2", "g3", "G4", "g5"])
    kind = {"index": r"row labels \(targets\)", "columns": r"column labels \(regulators\)"}[axis]
    message = _fails(
        adata, ValueError, rf"3 of the 6 {kind} of the prior are not in var_names: \['G0', 'G2', 'G4'\]", prior=prior
    )
    assert "Close matches of 'G0': ['g0'" in message
    assert f"prior.rename({axis}=" in message
    assert "prior.loc[prior.index.isin(adata.var_names), prior.columns.isin(adata.var_names)]" in message


@pytest.mark.parametrize("axis", ["index", "columns"])
def test_prior_with_duplicated_labels_names_them(adata, axis):
    prior = pd.DataFrame(True, index=GENES, columns=GENES)
    setattr(prior, axis, ["g0", "g1", "g1", "g3", "g4", "g4"])
    _fails(adata, ValueError, rf"The prior's {axis} \(\w+\) has duplicated labels \['g1', 'g4'\]", prior=prior)


def test_prior_of_some_genes_only_gives_no_edges_to_the_others(adata):
    prior = pd.DataFrame(True, index=["g1", "g3"], columns=["g0", "g2"])
    pathreg.tl.fit_dynamics(adata, prior=prior, **FIT)
    allowed = np.zeros((6, 6), dtype=bool)
    allowed[np.ix_([1, 3], [0, 2])] = True
    assert np.all(adata.varp["pathreg_adjacency"][~allowed] == 0)


# --- lineage tables: NaN is not a member, other values are an error ------------------------------------------------


@pytest.mark.parametrize("storage", ["DataFrame", "array"])
def test_float_lineage_table_with_nan_for_non_members(adata, storage):
    membership = adata.obsm["lineages"]
    table = membership.astype(float).where(membership)  # 1.0 for members, NaN otherwise
    adata.obsm["scores"] = table if storage == "DataFrame" else table.to_numpy()
    pathreg.tl.fit_dynamics(adata, **{**FIT, "lineage_key": "scores"})
    np.testing.assert_array_equal(adata.uns["pathreg"]["lineages"]["n_cells"], membership.sum().to_numpy())


@pytest.mark.parametrize(("value", "shown"), [(0.5, "0.5"), (2, "2.0"), ("yes", "'yes'")])
@pytest.mark.parametrize("storage", ["DataFrame", "array"])
def test_lineage_table_of_other_values_is_an_error(adata, value, shown, storage):
    table = adata.obsm["lineages"].astype(object if isinstance(value, str) else float)
    table[adata.obsm["lineages"].to_numpy()] = value
    adata.obsm["scores"] = table if storage == "DataFrame" else table.to_numpy()
    message = _fails(
        adata,
        ValueError,
        r"adata\.obsm\['scores'\] must mark the cells of each lineage with booleans, or with 0 and 1 \(NaN: not a",
        lineage_key="scores",
    )
    assert f"e.g. {shown}" in message
    assert "Fate probabilities are not memberships" in message


# --- constant genes: no edges from them, a warning; all constant is an error ------------------------------------------


def test_constant_regulator_gets_no_edges_and_a_warning(adata, caplog):
    adata.X[:, 2] = 2.0  # g2 is 2.0 in every cell
    with caplog.at_level(logging.WARNING, logger="pathreg"):
        pathreg.tl.fit_dynamics(adata, readout="jacobian", **FIT)
    adjacency = adata.varp["pathreg_adjacency"]
    assert np.all(adjacency[:, 2] == 0)
    assert np.count_nonzero(adjacency) > 0
    assert "g2" not in list(adata.uns["pathreg"]["regulators"])
    assert re.search(r"1 gene\(s\) are constant over the 120 cells used .*\['g2'\]", caplog.text)
    assert "The 1 constant regulator(s) get no edges" in caplog.text


def test_all_constant_genes_are_an_error(adata):
    adata.X[:] = 1.0
    _fails(adata, ValueError, r"All 6 regulators and targets are constant over the 120 cells used")


def test_all_constant_regulators_are_an_error(adata):
    adata.X[:, [GENES.index(tf) for tf in TFS]] = 0.5
    message = _fails(adata, ValueError, r"All 3 regulators are constant over the 120 cells used", regulators="is_tf")
    assert str(TFS) in message


@pytest.mark.parametrize("n_bins", ["8", 2.5])
def test_n_bins_that_is_not_an_integer(adata, n_bins):
    _fails(adata, ValueError, rf"n_bins must be an integer of at least 2, got {re.escape(repr(n_bins))}", n_bins=n_bins)


# --- names of methods, devices, solvers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "valid"),
    [
        ({"method": "lasso"}, "'pathreg'"),
        ({"solver": "rk45"}, "'dopri5'"),
        ({"objective": "shootin"}, "'shooting'"),
        ({"time_scale": "ranks"}, "'rank'"),
        ({"activation": "gelu"}, "'tanh'"),
        ({"device": "tpu"}, "'cpu'"),
        ({"device": "gpu"}, "'cuda'"),
    ],
)
def test_unknown_names_list_the_valid_ones(adata, options, valid):
    name = next(iter(options.values()))
    message = _fails(adata, ValueError, rf"[Uu]nknown \w+ '{name}'", **options)
    assert valid in message


@pytest.mark.parametrize(
    ("options", "pattern"), [({"hidden": (0,)}, "positive layer widths"), ({"n_seeds": 0}, "n_seeds")]
)
def test_invalid_sizes(adata, options, pattern):
    _fails(adata, ValueError, pattern, **options)


def test_unknown_training_option_lists_the_valid_ones(adata):
    message = _fails(
        adata, ValueError, r"Unknown training option 'n_epoch'.*Close matches: \['n_epochs'", training={"n_epoch": 3}
    )
    assert "'warmup_fraction'" in message
    _fails(
        adata,
        ValueError,
        r"'warmup_fraction'.*objective='shooting'.*'lr_schedule'",
        objective="shooting",
        training={"warmup_fraction": 0.1},
    )


def test_training_settings_of_another_objective_are_refused(adata):
    _fails(
        adata,
        TypeError,
        r"ShootingSettings for objective='shooting'",
        objective="shooting",
        training=pathreg.models.CollocationSettings(),
    )


def test_old_keyword_training_options_are_refused(adata):
    with pytest.raises(TypeError, match="n_epochs"):
        pathreg.tl.fit_dynamics(adata, **FIT, n_epochs=3)


def test_diverging_training_raises_and_writes_nothing(adata):
    # learned decay rates overflow at this learning rate (a fixed decay keeps tanh units merely saturated)
    _fails(adata, FloatingPointError, "(?i)lower lr", decay=True, training={"lr": 1e6})


def test_cuda_without_a_visible_device(adata, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _fails(adata, RuntimeError, r"device='cuda' was requested but no CUDA device is visible", device="cuda")
    _fails(adata, RuntimeError, r"no CUDA device is visible", device=torch.device("cuda:0"))


def test_cuda_index_beyond_the_visible_devices(adata, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    _fails(adata, RuntimeError, r"device='cuda:3' was requested but only 1 CUDA device", device="cuda:3")


# --- raw counts: a warning, and the fit goes on -----------------------------------------------------------------------


def test_raw_counts_warn_and_the_fit_continues(adata):
    adata.X = np.round(adata.X * 50).astype(np.float32)
    with pytest.warns(UserWarning, match=r"raw counts.*sc\.pp\.normalize_total\(adata\) and sc\.pp\.log1p\(adata\)"):
        pathreg.tl.fit_dynamics(adata, **FIT)
    assert np.isfinite(adata.varp["pathreg_adjacency"]).all()


def test_normalised_data_do_not_warn(adata):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        pathreg.tl.fit_dynamics(adata, **FIT)


# --- storage: sparse, dtypes, backed, views --------------------------------------------------------------------------

_FORMATS = {"dense": np.asarray, "csr": sparse.csr_matrix, "csc": sparse.csc_matrix}
_COMBINATIONS = [
    (dtype, storage)
    for dtype in (np.float16, np.float32, np.float64)
    for storage in _FORMATS
    if dtype is not np.float16 or storage == "dense"  # scipy.sparse has no float16
]


@settings(max_examples=8, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    combination=st.sampled_from(_COMBINATIONS),
    n_cells=st.integers(min_value=60, max_value=160),
    data_seed=st.integers(min_value=0, max_value=3),
)
def test_any_dtype_and_storage_fits_like_dense_float32(combination, n_cells, data_seed):
    # the expression is read as float32: a matrix of any dtype and storage gives the fit of its float32 values
    dtype, storage = combination
    adata = make_adata(n_cells=n_cells, seed=data_seed)
    values = adata.X.astype(dtype)
    reference = adata.copy()
    reference.X = values.astype(np.float32)
    adata.X = _FORMATS[storage](values)
    pathreg.tl.fit_dynamics(adata, seed=2, **FIT)
    pathreg.tl.fit_dynamics(reference, seed=2, **FIT)
    adjacency = adata.varp["pathreg_adjacency"]
    assert adjacency.dtype == np.float32
    assert np.isfinite(adjacency).all()
    np.testing.assert_array_equal(adjacency, reference.varp["pathreg_adjacency"])


@pytest.mark.parametrize("storage", ["dense", "csr"])
def test_backed_anndata_is_read_into_memory(tmp_path, storage):
    adata = make_adata()
    adata.X = _FORMATS[storage](adata.X)
    path = tmp_path / "backed.h5ad"
    adata.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    pathreg.tl.fit_dynamics(backed, seed=1, **FIT)
    reference = make_adata()
    pathreg.tl.fit_dynamics(reference, seed=1, **FIT)
    np.testing.assert_array_equal(backed.varp["pathreg_adjacency"], reference.varp["pathreg_adjacency"])
    backed.file.close()
    assert_unchanged(adata, ad.read_h5ad(path))  # the file itself is not written to


def test_view_works_without_implicit_modification_warning(adata):
    parent = adata.copy()
    view = adata[:100]
    assert view.is_view
    with warnings.catch_warnings():
        warnings.simplefilter("error", ad.ImplicitModificationWarning)
        model = pathreg.tl.fit_dynamics(view, **FIT)
        assert not view.is_view
        assert view.varp["pathreg_adjacency"].shape == (6, 6)
        other = adata[20:]
        pathreg.tl.predict(other, model, lineage_key="lineages")
        assert other.layers["pathreg_prediction"].shape == other.shape
    assert_unchanged(parent, adata)  # the parent of the views is untouched


def test_failed_fit_on_a_view_leaves_it_a_view(adata):
    view = adata[:100]
    with pytest.raises(ValueError, match="dpt_pseudotme"):
        pathreg.tl.fit_dynamics(view, time_key="dpt_pseudotme", **FIT)
    assert view.is_view


def _fail_in_training(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the fit broke")

    monkeypatch.setattr(type(pathreg.tl.OBJECTIVES["cells"]), "train_members", broken)


def _fail_after_writing(monkeypatch):
    original = fit_module.write_fit

    def write_then_fail(*args, **kwargs):
        original(*args, **kwargs)  # everything written into the (now actual) view, then a failure
        raise RuntimeError("the fit broke")

    monkeypatch.setattr(fit_module, "write_fit", write_then_fail)


@pytest.mark.parametrize("fault", [_fail_in_training, _fail_after_writing])
@pytest.mark.parametrize("subset", ["cells", "all"])
def test_fit_failing_after_validation_leaves_a_view_a_view(adata, monkeypatch, fault, subset):
    parent = adata.copy()
    view = adata[:100] if subset == "cells" else adata[:, :]
    before = view.copy()
    fault(monkeypatch)
    with pytest.raises(RuntimeError, match="the fit broke"):
        pathreg.tl.fit_dynamics(view, **FIT)
    assert view.is_view
    assert_unchanged(before, view)
    assert_unchanged(parent, adata)


# --- interruption before anything was fitted -------------------------------------------------------------------------


def _interrupted(self, *args):
    raise KeyboardInterrupt


@pytest.mark.parametrize(("objective", "step"), [("cells", "rhs"), ("shooting", "predict")])
def test_interrupt_during_the_first_epoch_raises_keyboard_interrupt_and_writes_nothing(
    adata, monkeypatch, objective, step
):
    monkeypatch.setattr(NeuralODE, step, _interrupted)  # Ctrl-C on the first training step
    _fails(
        adata,
        KeyboardInterrupt,
        "fit interrupted before any ensemble member finished; nothing was written",
        objective=objective,
        window=None,
    )


def test_interrupt_during_the_first_epoch_of_a_later_member_keeps_the_members_so_far(adata, monkeypatch, caplog):
    spec_type = type(pathreg.tl.OBJECTIVES["shooting"])  # members fitted one after another
    original = spec_type.train
    calls = {"n": 0}

    def interrupt_second(self, model, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # Ctrl-C on the first training step of the second member
            with monkeypatch.context() as patch:
                patch.setattr(NeuralODE, "predict", _interrupted)
                return original(self, model, *args, **kwargs)
        return original(self, model, *args, **kwargs)

    monkeypatch.setattr(spec_type, "train", interrupt_second)
    with caplog.at_level(logging.WARNING, logger="pathreg"):
        model = pathreg.tl.fit_dynamics(adata, **{**FIT, "objective": "shooting", "window": None, "n_seeds": 3})
    assert len(model) == 1
    assert adata.uns["pathreg"]["params"]["n_models"] == 1
    assert adata.uns["pathreg"]["params"]["interrupted"] is True
    assert "Interrupted before ensemble member 2 of 3 finished an epoch" in caplog.text


def test_interrupt_while_the_members_train_together_keeps_all_of_them_marked(adata, monkeypatch, caplog):
    original = NeuralODE.rhs
    calls = {"n": 0}

    def interrupt_at_the_fourth_step(self, t, state):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(self, t, state)

    monkeypatch.setattr(NeuralODE, "rhs", interrupt_at_the_fourth_step)
    with caplog.at_level(logging.WARNING, logger="pathreg"):
        model = pathreg.tl.fit_dynamics(adata, **{**FIT, "n_seeds": 3})
    assert len(model) == 3
    assert adata.uns["pathreg"]["params"]["n_models"] == 3
    assert adata.uns["pathreg"]["params"]["interrupted"] is True
    assert "keeping 3 of 3 (none loaded), those trained together at their last finished epoch" in caplog.text
    assert np.isfinite(adata.varp["pathreg_adjacency"]).all()


# --- MuData ----------------------------------------------------------------------------------------------------------


def test_mudata_without_the_modality_lists_the_modalities(adata):
    mudata = pytest.importorskip("mudata")
    atac = make_adata(seed=1)
    atac.var_names = [f"peak{i}" for i in range(atac.n_vars)]
    mdata = mudata.MuData({"rna": adata, "atac": atac})
    before = mdata["rna"].copy()
    for mod in ("prot", None):
        with pytest.raises(ValueError, match=r"modalit.*\['rna', 'atac'\]|modalit.*\['atac', 'rna'\]"):
            pathreg.tl.fit_dynamics(mdata, mod=mod, **FIT)
    assert_unchanged(before, mdata["rna"])
    with pytest.raises(ValueError, match="not a MuData"):
        pathreg.tl.fit_dynamics(adata, mod="rna", **FIT)


# --- predict: same checks ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    return pathreg.tl.fit_dynamics(make_adata(), seed=0, **FIT)


@pytest.mark.parametrize(
    ("edit", "options", "pattern"),
    [
        (lambda a: a.obs.rename(columns={"dpt_pseudotime": "t"}, inplace=True), {}, r"pathreg\.pp\.pseudotime"),
        (lambda a: a.X.__setitem__((0, 0), np.nan), {}, r"1 NaN or infinite values"),
        (lambda a: a.obs.__setitem__("dpt_pseudotime", np.inf), {}, r"120 NaN or infinite values \(0 NaN, 120 inf"),
        (lambda a: None, {"lineage_key": "lineage"}, r"pathreg\.pp\.lineages"),
        (lambda a: None, {"n_bins": 100}, r"needs at least 200"),
        (lambda a: None, {"n_bins": 1}, r"n_bins must be an integer of at least 2"),
        (lambda a: setattr(a, "var_names", ["g0", "g1", "g2", "g3", "g4", "g0"]), {}, "var_names_make_unique"),
    ],
)
def test_predict_bad_inputs_leave_adata_unchanged(model, edit, options, pattern):
    adata = make_adata(seed=3)
    edit(adata)
    before = adata.copy()
    with pytest.raises(ValueError, match=pattern):
        pathreg.tl.predict(adata, model, **{"lineage_key": "lineages", **options})
    assert_unchanged(before, adata)


# --- model files that are not model files ----------------------------------------------------------------------------


def _truncated_model_file(path):
    whole = path.with_name("whole.pt")
    pathreg.tl.fit_dynamics(make_adata(), **FIT).save(whole)
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])


@pytest.mark.parametrize(
    ("name", "write", "reason"),
    [
        ("notes.txt", lambda path: path.write_text("hello, not a model\n"), "not a file written by torch.save"),
        ("cells.h5ad", lambda path: make_adata().write_h5ad(path), "it is an HDF5 file, e.g. an .h5ad"),
        ("truncated.pt", _truncated_model_file, "a truncated or corrupt archive"),
    ],
)
def test_loading_a_file_that_is_not_a_model_file(tmp_path, name, write, reason):
    path = tmp_path / name
    write(path)
    with pytest.raises(ValueError, match=re.escape(f"{path} is not a pathreg model file ({reason}")) as info:
        pathreg.models.load(path)
    message = str(info.value)
    assert message.endswith(
        "); pathreg.models.load reads the .pt files written by pathreg.models.save_model / Ensemble.save."
    )
    assert "weights_only" not in "".join(traceback.format_exception(info.value))  # nor in a chained error


# --- loaders: the file and the line -----------------------------------------------------------------------------------

_ASF = """:version 1.10
:name tiny
:units
  length 1.0
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name bone1
     direction 1 0 0
     length 2
     axis 0 0 0 XYZ
    dof rx rz
  end
:hierarchy
  begin
    root bone1
  end
"""
_AMC = """:FULLY-SPECIFIED
:DEGREES
1
root 0 0 0 0 0 0
bone1 0 0
2
root 0 0 0 0 0 0
bone1 0 90
"""


@pytest.fixture
def mocap(tmp_path):
    (tmp_path / "tiny.asf").write_text(_ASF)
    (tmp_path / "tiny.amc").write_text(_AMC)
    return tmp_path


def test_mocap_fixture_reads(mocap):
    positions, _, _ = read_asf_amc(mocap / "tiny.asf", mocap / "tiny.amc")
    assert positions.shape == (2, 6)


@pytest.mark.parametrize("missing", ["tiny.asf", "tiny.amc"])
def test_mocap_missing_file_is_named(mocap, missing):
    (mocap / missing).unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        read_asf_amc(mocap / "tiny.asf", mocap / "tiny.amc")


@pytest.mark.parametrize(
    ("name", "cut_after", "pattern"),
    [
        ("tiny.amc", "2\nroot 0 0 0 0 0 0\nbone1 0", r"tiny\.amc, line 8: expected 2 numbers, got 1"),
        ("tiny.amc", "2\nroot 0 0", r"tiny\.amc, line 7: expected 6 numbers, got 2"),
        ("tiny.asf", "dof rx rz\n", r"tiny\.asf, line 18: bone block not closed at the end of the file"),
        ("tiny.asf", ":hierarchy\n  begin\n    root bo", r"tiny\.asf, line 22: unknown bone 'bo' in hierarchy"),
    ],
)
def test_truncated_mocap_files_name_the_file_and_line(mocap, name, cut_after, pattern):
    text = (mocap / name).read_text()
    (mocap / name).write_text(text[: text.index(cut_after) + len(cut_after)])
    with pytest.raises(ValueError, match=pattern):
        read_asf_amc(mocap / "tiny.asf", mocap / "tiny.amc")


def test_empty_asf_is_named(mocap):
    (mocap / "tiny.asf").write_text("# nothing here\n")
    with pytest.raises(ValueError, match=r"tiny\.asf: empty file"):
        read_asf(mocap / "tiny.asf")


def test_amc_of_another_skeleton_names_the_line(mocap):
    skeleton = read_asf(mocap / "tiny.asf")
    (mocap / "other.amc").write_text(_AMC.replace("bone1 0 90", "lhumerus 0 90"))
    with pytest.raises(ValueError, match=r"other\.amc, line 8: unknown bone 'lhumerus'"):
        read_amc(mocap / "other.amc", skeleton)


_EXPRESSION = ",c1,c2,c3\ng1,0.1,0.2,0.3\ng2,1,2,3\n"
_PSEUDOTIME = ",PseudoTime\nc1,0.0\nc2,0.5\nc3,1.0\n"
_NETWORK = "Gene1,Gene2,Type\ng1,g2,+\n"


def _beeline(directory, expression=_EXPRESSION, pseudotime=_PSEUDOTIME, network=_NETWORK):
    directory.mkdir()
    for name, text in (("ExpressionData.csv", expression), ("PseudoTime.csv", pseudotime), ("refNetwork.csv", network)):
        (directory / name).write_text(text)
    return directory


def test_beeline_fixture_reads(tmp_path):
    assert read_beeline(_beeline(tmp_path / "d")).shape == (3, 2)


@pytest.mark.parametrize(
    ("name", "text", "pattern"),
    [
        ("ExpressionData.csv", _EXPRESSION[:-4], r"ExpressionData\.csv, line 3: 3 fields, expected 4"),  # truncated
        ("ExpressionData.csv", _EXPRESSION.replace("g2,1", 'g2,"1'), r"ExpressionData\.csv, line \d: malformed CSV"),
        ("ExpressionData.csv", "", r"ExpressionData\.csv: empty file"),
        ("PseudoTime.csv", _PSEUDOTIME.replace("c2,0.5", "c2,0.5,0.7"), r"PseudoTime\.csv, line 3: 3 fields"),
        ("refNetwork.csv", "regulator,target\ng1,g2\n", r"refNetwork\.csv, line 1: header .* 'Gene1', 'Gene2'"),
    ],
)
def test_beeline_truncated_or_wrong_columns_name_the_file_and_line(tmp_path, name, text, pattern):
    texts = {"expression": _EXPRESSION, "pseudotime": _PSEUDOTIME, "network": _NETWORK}
    texts[{"ExpressionData.csv": "expression", "PseudoTime.csv": "pseudotime", "refNetwork.csv": "network"}[name]] = (
        text
    )
    with pytest.raises(ValueError, match=pattern):
        read_beeline(_beeline(tmp_path / "d", **texts))


_TRAJECTORY = "dpt_pseudotime\tGATA1\tSPI1\n0.1\t1.0\t2.0\n0.2\t1.5\t2.5\n0.3\t2.0\t3.0\n"


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (_TRAJECTORY[:-6], r"B_12_norm\.csv, line 4: expected 3 tab-separated fields, got 2"),  # truncated
        (_TRAJECTORY.replace("dpt_pseudotime", "pseudotime"), r"B_12_norm\.csv, line 1: expected the header"),
        (_TRAJECTORY.replace("1.5", "1.5x"), r"B_12_norm\.csv, line 3, column 2: '1\.5x' is not a number"),
    ],
)
def test_bone_marrow_truncated_or_wrong_columns_name_the_file_and_line(tmp_path, text, pattern):
    (tmp_path / "trajectories").mkdir()
    (tmp_path / "trajectories" / "B_12_norm.csv").write_text(text)
    with pytest.raises(ValueError, match=pattern):
        bone_marrow(tmp_path)


def test_bone_marrow_missing_base_grn_is_named(tmp_path):
    (tmp_path / "trajectories").mkdir()
    (tmp_path / "trajectories" / "B_12_norm.csv").write_text(_TRAJECTORY)
    with pytest.raises(FileNotFoundError, match="tf_targets_baseGRN_human_matrix"):
        bone_marrow(tmp_path)
