"""Bone marrow: a network fitted on one batch predicts the dynamics of other donors and sites.

The batch-generalization experiment of the PathReg paper (Aliee et al. 2022) on the curated human bone
marrow trajectories (:func:`pathreg.datasets.bone_marrow`): fit on batch ``s1d2`` (three lineages: B,
eryth, mono), predict the lineages of ``s2d1``, ``s3d6`` and ``s2d4`` from their own initial states.
Run from the repository root::

    python -m benchmarks.bone_marrow --path BONE_MARROW_DIR --output results/
    python -m benchmarks.bone_marrow --prior --output results/          # base GRN as prior mask
    python -m benchmarks.bone_marrow --methods all --output results/    # all seven methods

Protocol (as the reference implementation), per file (lineage x batch): cells sorted by pseudotime, the
first 10 and last 20 dropped, every gene min-max scaled to ``[0, 1]`` and time min-max scaled to
``[0, 1]`` (:func:`preprocess`). Fit: :func:`pathreg.tl.fit_dynamics` on all 529 genes (inputs and
targets) with its defaults (:data:`FIT_OPTIONS`); ``--shooting`` runs the earlier setting instead, whole
lineages on the scaled pseudotime integrated from their first bin (:data:`SHOOTING_OPTIONS`). Evaluation: every
lineage of every batch is integrated from its own first bin with :func:`pathreg.tl.predict`, the
prediction interpolated at each cell's time; ``mse`` is the mean over cells x genes of the squared error
against the cell's scaled expression (the reference's per-cell MSE), ``bin_mse`` predict's error
against the bin means. The summary sums the lineages' ``mse`` per batch, next to the reference numbers.
Spurious-feature sparsity: the fraction of (target, input) dependencies on the 416 genes that are not
TFs of the base GRN that are exactly zero.

Writes to ``--output``: ``bone_marrow.csv`` (one row per method, prior, seed, batch and lineage),
``bone_marrow.md`` (the summary table) and ``bone_marrow_eryth_adjacency[_prior].png`` (the erythroid
lineage's TF -> target adjacency of the PathReg fit, known erythroid regulators marked).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.settings import plain, read_only

COLUMNS = (
    "method",
    "prior",
    "seed",
    "batch",
    "split",
    "lineage",
    "mse",
    "bin_mse",
    "feature_sparsity",
    "spurious_feature_sparsity",
    "seconds",
)
TRAIN_BATCHES: tuple[str, ...] = ("s1d2",)
TEST_BATCHES: tuple[str, ...] = ("s2d1", "s3d6", "s2d4")
ALL_METHODS: tuple[str, ...] = ("none", "l0", "cnode", "pathreg", "lassonet_inner", "lassonet_outer", "grouplasso")
DEFAULT_METHODS: tuple[str, ...] = ("none", "pathreg")
"""Run by default (about a minute per fit on a 2-core CPU); ``--methods all`` runs :data:`ALL_METHODS`."""

REFERENCE: Mapping[str, float] = read_only({"s1d2": 0.0353, "s2d1": 0.0384, "s3d6": 0.0729, "s2d4": 0.0273})
"""The reference implementation's PathReg result: per batch, the sum of the lineages' per-cell MSEs."""
REFERENCE_S2D4_WITHOUT_ERYTH = 0.0211
"""s2d4 has no erythroid file; the reference's s2d4 number without the erythroid lineage (B + mono)."""
REFERENCE_SPURIOUS_SPARSITY = 0.125
KNOWN_ERYTHROID_REGULATORS: tuple[str, ...] = ("RUNX1", "ETV6", "NFIA", "MAZ", "GATA1")

TIME_KEY = "time"
LINEAGE_KEY = "lineage"
FIT_OPTIONS: Mapping = read_only({"time_key": TIME_KEY})
"""Arguments of :func:`pathreg.tl.fit_dynamics` for every method besides ``lineage_key=LINEAGE_KEY``: its
defaults otherwise (read-only; :func:`run` takes overrides in ``fit_kwargs``)."""
SHOOTING_OPTIONS: Mapping = read_only(
    {
        "time_key": TIME_KEY,
        "time_scale": "pseudotime",
        "objective": "shooting",
        "window": None,
        "n_bins": 40,
        "training": {"gate_lr": 0.1},
        "n_seeds": 1,
    }
)
"""The earlier setting of this benchmark (``--shooting``): whole lineages integrated from their first bin on the
scaled pseudotime, one model per fit, with :data:`SHOOTING_LAMBDAS`."""
PROBLEM_OPTIONS = ("time_key", "time_scale", "n_bins", "velocity_key")
"""The entries of :data:`FIT_OPTIONS` that say how the data are read (:meth:`pathreg.tl.DynamicsProblem.from_anndata`);
the others are :class:`pathreg.tl.FitSettings`."""

METHOD_OPTIONS: Mapping[str, Mapping] = read_only({"grouplasso": {"hidden": (8,)}})
"""Per-method overrides of :data:`FIT_OPTIONS`. GroupLasso builds one network per target gene (529 x width x 529
first-layer weights): with the default width 32 an epoch costs minutes on a 2-core CPU, with 8 about half a
second (the width of the motion-capture benchmark's GroupLasso networks)."""

SHOOTING_LAMBDAS: Mapping[str, float] = read_only({"pathreg": 0.1, "l0": 0.1})
"""Penalties of the gated methods (shooting MSE on min-max scaled data; chosen among 0.01, 0.03, 0.1 as the
smallest reaching >= 90 % spurious-feature sparsity on the training batch). Other methods: their regularizer's
default."""


def preprocess(
    adata,
    *,
    batch_key: str = "batch",
    lineage_key: str = "lineage",
    time_key: str = "dpt_pseudotime",
    drop_first: int = 10,
    drop_last: int = 20,
    time_added: str = TIME_KEY,
):
    """The reference's per-file preprocessing, file = lineage x batch.

    Cells sorted by ``time_key``; the first ``drop_first`` and the last ``drop_last`` dropped; every gene
    min-max scaled to ``[0, 1]`` over the file's remaining cells (a constant gene becomes 0); the time
    min-max scaled to ``[0, 1]`` and written to ``obs[time_added]``.

    Returns
    -------
    A new AnnData (dense float32 ``X``), cells grouped by file in time order; files left with fewer than
    two cells are dropped.
    """
    from scipy import sparse

    values = adata.X.toarray() if sparse.issparse(adata.X) else np.asarray(adata.X)
    values = values.astype(np.float64)
    times = adata.obs[time_key].to_numpy(dtype=np.float64)
    groups = adata.obs.groupby([batch_key, lineage_key], observed=True, sort=True).indices
    kept, blocks, scaled_times = [], [], []
    for _, index in groups.items():
        order = index[np.argsort(times[index], kind="stable")]
        cells = order[drop_first : max(len(order) - drop_last, 0)]
        if len(cells) < 2:
            continue
        block = values[cells]
        low, span = block.min(axis=0), block.max(axis=0) - block.min(axis=0)
        blocks.append(np.divide(block - low, span, out=np.zeros_like(block), where=span > 0))
        t = times[cells]
        t_span = t.max() - t.min()
        scaled_times.append((t - t.min()) / t_span if t_span > 0 else np.zeros_like(t))
        kept.append(cells)
    if not kept:
        raise ValueError("No file (batch x lineage) has cells left after dropping the first and last cells.")
    cells = np.concatenate(kept)
    result = adata[cells].copy()
    result.X = np.concatenate(blocks).astype(np.float32)
    result.obs[time_added] = np.concatenate(scaled_times)
    return result


def method_options(method: str, fit_kwargs: Mapping | None = None, options: Mapping = FIT_OPTIONS) -> dict:
    """``options`` with :data:`METHOD_OPTIONS` of ``method`` and ``fit_kwargs`` (training dicts merged)."""
    merged = plain(options)
    for overrides in (METHOD_OPTIONS.get(method, {}), fit_kwargs or {}):
        overrides = plain(overrides)
        training = {**merged.get("training", {}), **overrides.pop("training", {})}
        merged.update(overrides, training=training)
    return merged


def evaluate(model, adata, batch: str, *, batch_key: str = "batch", lineage_key: str = "lineage") -> pd.DataFrame:
    """Per-lineage errors of ``model`` on one batch: per-cell ``mse`` (reference protocol) and ``bin_mse``."""
    import pathreg

    cells = adata[(adata.obs[batch_key].astype(str) == batch).to_numpy()].copy()
    lineages = cells.obs[lineage_key].astype(str).to_numpy()
    n_bins = min(model.metadata["n_bins"], int(pd.Series(lineages).value_counts().min()) // 2)
    bin_errors = pathreg.tl.predict(cells, model, lineage_key=lineage_key, n_bins=n_bins, key_added="evaluation")
    genes = cells.var_names.get_indexer(model.metadata["state_genes"])
    predicted = np.asarray(cells.layers["evaluation_prediction"])[:, genes]
    observed = np.asarray(cells.X)[:, genes]
    rows = []
    for lineage in bin_errors.index:
        mask = lineages == lineage
        rows.append(
            {
                "lineage": lineage,
                "mse": float(np.mean((predicted[mask] - observed[mask]) ** 2)),
                "bin_mse": float(bin_errors[lineage]),
            }
        )
    return pd.DataFrame(rows)


def run(
    adata=None,
    *,
    methods: Sequence[str] = DEFAULT_METHODS,
    prior: bool = False,
    seeds: Sequence[int] = (0,),
    path: str | None = None,
    device: str = "cpu",
    batch_key: str = "batch",
    train_batches: Sequence[str] = TRAIN_BATCHES,
    test_batches: Sequence[str] = TEST_BATCHES,
    spurious_key: str | None = "is_tf",
    prior_key: str = "base_grn",
    lambdas: dict[str, float] | None = None,
    models: dict | None = None,
    fit_kwargs: Mapping | None = None,
    options: Mapping = FIT_OPTIONS,
) -> pd.DataFrame:
    """Fit every method on the training batches and evaluate every batch.

    The training data are read once (:meth:`pathreg.tl.DynamicsProblem.from_anndata`); every method and seed
    is one :func:`pathreg.tl.fit_ensemble` on them.

    Parameters
    ----------
    adata
        Already preprocessed data (:func:`preprocess`); ``None`` loads :func:`pathreg.datasets.bone_marrow`
        from ``path`` and preprocesses it.
    methods
        Names of :data:`pathreg.models.METHODS`.
    prior
        Restrict the edges to ``adata.varp[prior_key]`` (the base GRN).
    seeds
        One fit per seed (rows per seed; the summary averages them).
    spurious_key
        Boolean ``var`` column of the genuine inputs (TFs); the others are the spurious features.
    lambdas
        Penalty per method (others: the default of :func:`pathreg.tl.fit_dynamics`).
    models
        If a dict, the fitted ``(ensemble, training AnnData with the fit written)`` per ``(method, seed)``.
    fit_kwargs
        Overrides of ``options`` (e.g. ``{"training": {"n_epochs": 100}}``).
    options
        The fit options: :data:`FIT_OPTIONS` (the defaults of :func:`pathreg.tl.fit_dynamics`) or
        :data:`SHOOTING_OPTIONS`.
    """
    import pathreg
    from pathreg.metrics import spurious_feature_sparsity

    if adata is None:
        adata = preprocess(pathreg.datasets.bone_marrow(path))
    lambdas = dict(lambdas or {})
    batches = adata.obs[batch_key].astype(str)
    train = adata[batches.isin(list(train_batches)).to_numpy()].copy()
    test_batches = [batch for batch in test_batches if batch in set(batches)]
    shared = method_options("none", fit_kwargs, options)
    problem = pathreg.tl.DynamicsProblem.from_anndata(
        train,
        lineage_key=LINEAGE_KEY,
        prior=prior_key if prior else None,
        **{name: shared[name] for name in PROBLEM_OPTIONS if name in shared},
    )
    regulators = np.zeros(adata.n_vars, dtype=bool)
    regulators[problem.state_columns[problem.input_index]] = True
    rows = []
    for method in methods:
        method_settings = {
            k: v for k, v in method_options(method, fit_kwargs, options).items() if k not in PROBLEM_OPTIONS
        }
        for seed in seeds:
            settings = pathreg.tl.FitSettings.from_options(
                method_settings, method=method, lambda_=lambdas.get(method), seed=seed
            )
            start = time.perf_counter()
            result = pathreg.tl.fit_ensemble(problem, settings, device=device, progress=False)
            seconds = time.perf_counter() - start
            if models is not None:
                fitted = train.copy()
                pathreg.tl.write_fit(fitted, result)
                models[(method, seed)] = (result.ensemble, fitted)
            spurious = (
                float("nan")
                if spurious_key is None
                else spurious_feature_sparsity(
                    result.full_adjacency(), regulators, ~adata.var[spurious_key].to_numpy(dtype=bool)
                )
            )
            feature_sparsity = float(result.metrics()["feature_sparsity"])
            for batch in list(train_batches) + test_batches:
                errors = evaluate(result.ensemble, adata, batch, batch_key=batch_key, lineage_key=LINEAGE_KEY)
                for record in errors.to_dict("records"):
                    rows.append(
                        {
                            "method": method,
                            "prior": bool(prior),
                            "seed": seed,
                            "batch": batch,
                            "split": "train" if batch in train_batches else "test",
                            **record,
                            "feature_sparsity": feature_sparsity,
                            "spurious_feature_sparsity": spurious,
                            "seconds": seconds,
                        }
                    )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _label(method: str, prior: bool) -> str:
    return f"{method} + base GRN" if prior else method


def summary_table(results: pd.DataFrame, reference: Mapping[str, float] | None = None) -> str:
    """Markdown: per batch, the sum over lineages of the per-cell MSE (mean over seeds), per method, and the reference.

    Last rows: spurious-feature sparsity, overall feature sparsity and seconds per fit.
    """
    reference = REFERENCE if reference is None else reference
    frame = results.assign(label=[_label(m, p) for m, p in zip(results["method"], results["prior"], strict=True)])
    labels = list(dict.fromkeys(frame["label"]))
    per_batch = frame.groupby(["label", "seed", "batch"], sort=False)["mse"].sum().groupby(["label", "batch"]).mean()
    lineages = frame.groupby("batch", sort=False)["lineage"].nunique()
    splits = frame.groupby("batch", sort=False)["split"].first()
    header = "| batch | split | lineages | " + " | ".join(labels) + " | reference |"
    lines = [header, "|" + " --- |" * (len(labels) + 4)]
    for batch in splits.index:
        cells = [f"{per_batch.get((label, batch), float('nan')):.4f}" for label in labels]
        ref = reference.get(batch, float("nan"))
        ref_cell = f"{ref:.4f}"
        if batch == "s2d4" and reference is REFERENCE and lineages[batch] == 2:
            ref_cell += f" ({REFERENCE_S2D4_WITHOUT_ERYTH:.4f} without eryth)"
        lines.append(f"| {batch} | {splits[batch]} | {lineages[batch]} | " + " | ".join(cells) + f" | {ref_cell} |")
    fits = frame.drop_duplicates(["label", "seed"]).groupby("label", sort=False)
    for name, column, fmt in (
        ("spurious-feature sparsity", "spurious_feature_sparsity", "{:.1%}"),
        ("feature sparsity", "feature_sparsity", "{:.1%}"),
        ("seconds per fit", "seconds", "{:.0f}"),
    ):
        means = fits[column].mean()
        ref = f"{REFERENCE_SPURIOUS_SPARSITY:.1%}" if column == "spurious_feature_sparsity" else ""
        lines.append(f"| {name} | | | " + " | ".join(fmt.format(means[label]) for label in labels) + f" | {ref} |")
    return "\n".join(lines)


def lineage_adjacency(
    model, adata, lineage: str, *, lineage_key: str = "lineage", regulators_key: str = "is_tf"
) -> pd.DataFrame:
    """A lineage's target x TF adjacency: the signed strength averaged over that lineage's bin means only.

    The model (an :class:`pathreg.models.Ensemble`) is fitted on all lineages; its readout (with the fit's
    ``readout`` and ``consensus``) over one lineage's states, averaged over the members, is the network active
    along it. Rows are targets, columns
    the regulators with ``var[regulators_key]``; each target's row normalised as in
    :func:`pathreg.tl.fit_dynamics`.
    """
    genes = model.state_genes
    regulators = model.regulators
    cells = adata[(adata.obs[lineage_key].astype(str) == lineage).to_numpy()]
    order = np.argsort(cells.obs[model.metadata["time_key"]].to_numpy(), kind="stable")
    values = np.asarray(cells.X)[order][:, cells.var_names.get_indexer(genes)]
    chunks = np.array_split(np.arange(len(values)), min(model.metadata["n_bins"], len(values)))
    states = np.stack([values[chunk].mean(axis=0) for chunk in chunks]).astype(np.float32)
    params = model.metadata.get("params", {})
    strength = model.signed_adjacency(
        states,
        normalize=True,
        readout=params.get("readout", "jacobian"),
        consensus=params.get("consensus", 0.0),
    )
    frame = pd.DataFrame(strength, index=genes, columns=regulators)
    is_tf = adata.var[regulators_key].reindex(frame.columns).fillna(False).to_numpy(dtype=bool)
    return frame.loc[:, is_tf]


def plot_adjacency(
    frame: pd.DataFrame,
    known: Sequence[str] = KNOWN_ERYTHROID_REGULATORS,
    *,
    max_targets: int = 40,
    title: str = "",
    ax=None,
):
    """Heatmap of the strongest targets x the TFs with any edge; ``known`` regulators' labels in red and bold.

    Drawn with :func:`pathreg.pl.adjacency` on a small AnnData holding ``frame``, into ``ax`` (a new figure
    when ``None``). Returns the Axes.
    """
    import anndata as ad

    import pathreg

    nonzero = frame.loc[:, (frame != 0).any(axis=0) | frame.columns.isin(known)]
    ranked = nonzero.abs().sum(axis=1).sort_values(ascending=False)
    targets = [gene for gene in ranked.index[:max_targets] if ranked[gene] > 0]
    targets += [gene for gene in known if gene in nonzero.index and gene not in targets]
    targets = targets or list(ranked.index[:max_targets])
    genes = list(dict.fromkeys(list(nonzero.columns) + targets))
    matrix = np.zeros((len(genes), len(genes)), dtype=np.float32)
    index = {gene: i for i, gene in enumerate(genes)}
    rows, columns = [index[g] for g in targets], [index[g] for g in nonzero.columns]
    matrix[np.ix_(rows, columns)] = nonzero.loc[targets].to_numpy()
    holder = ad.AnnData(np.zeros((1, len(genes)), dtype=np.float32))
    holder.var_names = genes
    holder.varp["lineage_adjacency"] = matrix
    holder.uns["lineage"] = {
        "regulators": np.asarray(nonzero.columns, dtype=object),
        "targets": np.asarray(targets, dtype=object),
    }
    axes = pathreg.pl.adjacency(
        holder, key="lineage", regulators=list(nonzero.columns), targets=targets, ax=ax, show=False
    )
    for label in list(axes.get_xticklabels()) + list(axes.get_yticklabels()):
        if label.get_text() in known:
            label.set_color("red")
            label.set_fontweight("bold")
    axes.set_title(title or "target x TF (known regulators in red)")
    return axes


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bone_marrow", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--methods", nargs="+", default=list(DEFAULT_METHODS), choices=[*ALL_METHODS, "all"], help="'all': every method"
    )
    parser.add_argument("--prior", action="store_true", help="restrict edges to the base GRN (varp['base_grn'])")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-epochs", type=int, default=None, help="override the training epochs")
    parser.add_argument("--shooting", action="store_true", help="the earlier setting (SHOOTING_OPTIONS)")
    parser.add_argument("--path", default=None, help="local copy of the data (default: download to the cache)")
    parser.add_argument("--output", default=None, help="folder for the CSV, the table and the adjacency figure")
    args = parser.parse_args(argv)
    import pathreg

    methods = list(ALL_METHODS) if "all" in args.methods else args.methods
    adata = preprocess(pathreg.datasets.bone_marrow(args.path))
    models: dict = {}
    overrides = {} if args.n_epochs is None else {"training": {"n_epochs": args.n_epochs}}
    results = run(
        adata,
        methods=methods,
        prior=args.prior,
        seeds=args.seeds,
        device=args.device,
        models=models,
        fit_kwargs=overrides,
        options=SHOOTING_OPTIONS if args.shooting else FIT_OPTIONS,
        lambdas=SHOOTING_LAMBDAS if args.shooting else None,
    )
    table = summary_table(results)
    sys.stdout.write(table + "\n")
    if args.output:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        output = Path(args.output)
        output.mkdir(parents=True, exist_ok=True)
        suffix = "_prior" if args.prior else ""
        results.to_csv(output / f"bone_marrow{suffix}.csv", index=False)
        (output / f"bone_marrow{suffix}.md").write_text(table + "\n")
        if ("pathreg", args.seeds[0]) in models:
            model, fitted = models[("pathreg", args.seeds[0])]
            frame = lineage_adjacency(model, fitted, "eryth")
            present = [gene for gene in KNOWN_ERYTHROID_REGULATORS if gene in frame.columns]
            edges = {gene: int((frame[gene] != 0).sum()) for gene in present}
            sys.stdout.write(
                f"erythroid lineage: {int((frame != 0).to_numpy().sum())} TF -> target edges; "
                f"targets per known regulator {edges}\n"
            )
            axes = plot_adjacency(frame, title=f"PathReg{' + base GRN' if args.prior else ''}: erythroid lineage")
            axes.figure.savefig(output / f"bone_marrow_eryth_adjacency{suffix}.png", dpi=120, bbox_inches="tight")
            plt.close(axes.figure)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
