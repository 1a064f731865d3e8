"""BEELINE's curated-model benchmark (Pratapa et al. 2020): pathreg next to the 12 methods BEELINE compared.

Every BEELINE dataset under ``DIR`` (a folder with ``ExpressionData.csv``, ``PseudoTime.csv`` and
``refNetwork.csv``, e.g. ``Simulated/HSC/HSC_2000_0``) is read with :func:`pathreg.datasets.read_beeline`
and fitted with :func:`pathreg.tl.fit_dynamics` on BEELINE's own inputs: the pseudotime of
``PseudoTime.csv`` (``obs["pseudotime"]``: a cell's mean over the lineages it belongs to) and its lineages
(``obsm["lineages"]``: the non-missing entries of each ``PseudoTime<k>`` column), every other option at
its default. The inferred network goes to ``<OUTDIR>/<dataset path relative to DIR>/<METHOD>/rankedEdges.csv``
in BEELINE's output layout (``pathreg`` for ``method="pathreg"``, ``pathreg-<method>`` for another sparsity
method), and is scored as BEELINE scores: directed edges without self-loops, AUPRC, AUROC and early
precision ratio (EPR), edges missing from a ranking tied at the bottom. The rankings of other methods are
taken from a folder of the same layout (``--peers PEERDIR``; default ``DIR/peer-outputs`` when it exists) and
scored in the same way. The network of a dataset is the name of its folder's parent (``HSC``). Run from
the repository root::

    python -m benchmarks.beeline BEELINE_DATA --output beeline-outputs

Per-dataset scores (columns ``network, dataset, method, auprc, auroc, epr, random_auprc, seconds``) go to
``<OUTDIR>/scores.csv``; markdown tables of the medians over datasets per network (pathreg's rows and the
best peer per network marked) go to standard output.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.settings import read_only

logger = logging.getLogger("pathreg.benchmarks")

COLUMNS = ("network", "dataset", "method", "auprc", "auroc", "epr", "random_auprc", "pruned", "seconds")
"""Columns of the per-dataset scores returned by :func:`run`."""

METRICS = read_only({"auprc": "AUPRC", "auroc": "AUROC", "epr": "EPR"})
"""The scores summarised by :func:`summary_table`, with their printed names."""

INPUT_FILES = ("ExpressionData.csv", "PseudoTime.csv", "refNetwork.csv")
"""The files that make a folder a BEELINE dataset."""

RANKED_EDGES = "rankedEdges.csv"

DEFAULT_OUTPUT = "beeline-outputs"


def method_label(method: str) -> str:
    """Name of a pathreg sparsity method in the output layout: ``pathreg``, or ``pathreg-<method>``."""
    return "pathreg" if method == "pathreg" else f"pathreg-{method}"


def find_datasets(directory: str | PathLike[str]) -> list[Path]:
    """Every BEELINE dataset under ``directory``, as paths relative to it.

    A dataset is a folder that holds all of :data:`INPUT_FILES`; folders are searched at any depth
    (``Simulated/HSC/HSC_2000_0``) and ``directory`` itself counts (relative path ``.``).

    Parameters
    ----------
    directory
        The folder to search.

    Returns
    -------
    Relative paths, sorted by their parts.

    Raises
    ------
    FileNotFoundError
        If ``directory`` is not a folder.
    """
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"BEELINE input folder not found: {root}")
    found = {
        path.parent.relative_to(root)
        for path in root.rglob(INPUT_FILES[0])
        if path.is_file() and all((path.parent / name).is_file() for name in INPUT_FILES)
    }
    return sorted(found, key=lambda path: path.parts)


def network_name(directory: str | PathLike[str], dataset: str | PathLike[str]) -> str:
    """The network of a dataset: the name of its folder's parent (``HSC`` for ``Simulated/HSC/HSC_2000_0``)."""
    return (Path(directory) / dataset).resolve().parent.name


def _peer_folder(peer_dir: Path, dataset: Path) -> Path | None:
    """The folder of ``peer_dir`` that holds the outputs for ``dataset`` (see :func:`find_peer_outputs`)."""
    parts = dataset.parts
    if not parts:  # the input folder is itself the dataset
        return peer_dir if peer_dir.is_dir() else None
    # the longest trailing part of the dataset path, at least "<network>/<dataset>" when there is one
    suffixes = [Path(*parts[start:]) for start in range(max(len(parts) - 1, 1))]
    for suffix in suffixes:
        if (peer_dir / suffix).is_dir():
            return peer_dir / suffix
    # the peer folder starts higher in the tree (peer-outputs for the input folder Simulated)
    for suffix in suffixes:
        deeper = sorted((path for path in peer_dir.glob(f"*/**/{suffix.as_posix()}") if path.is_dir()), key=str)
        if deeper:
            if len(deeper) > 1:
                logger.warning("%d peer folders match %s; using %s", len(deeper), suffix.as_posix(), deeper[0])
            return deeper[0]
    return None


def find_peer_outputs(peer_dir: str | PathLike[str], dataset_relpath: str | PathLike[str]) -> dict[str, list[Path]]:
    """The ``rankedEdges.csv`` files of other methods for one dataset, by method.

    BEELINE writes a method's ranking to ``<peer_dir>/<dataset path>/<METHOD>/rankedEdges.csv``. The dataset's
    folder is ``peer_dir / dataset_relpath`` or, when the peer folder starts lower in the tree, the longest
    trailing part of ``dataset_relpath`` (at least ``<network>/<dataset>``) found there, so that
    ``peer-outputs`` and ``peer-outputs/Simulated`` both work for ``Simulated/HSC/HSC_2000_0``; failing that,
    a folder ending in that part at any depth below ``peer_dir`` (``peer-outputs`` for the dataset path
    ``HSC/HSC_2000_0`` of the input folder ``Simulated``; the first by name if several match). Every subfolder
    of it is a method. Where ``<METHOD>/rankedEdges.csv`` exists it is that method's ranking; otherwise the
    ``rankedEdges.csv`` files found at the smallest depth below the method's folder are (GRISLI, for one,
    writes one per lineage in ``GRISLI/<k>/``; see :func:`read_peer_edges` for how they are combined).
    Methods without any file are left out.

    Parameters
    ----------
    peer_dir
        The root of the peer outputs (``peer-outputs``).
    dataset_relpath
        The dataset's path relative to the input folder, as :func:`find_datasets` returns it.

    Returns
    -------
    Method name -> its files (one, or the per-lineage files), methods sorted by name; empty if the dataset
    has no folder under ``peer_dir``.
    """
    folder = _peer_folder(Path(peer_dir), Path(dataset_relpath))
    if folder is None:
        return {}
    outputs: dict[str, list[Path]] = {}
    for method in sorted(path for path in folder.iterdir() if path.is_dir()):
        direct = method / RANKED_EDGES
        if direct.is_file():
            outputs[method.name] = [direct]
            continue
        nested = [path for path in method.rglob(RANKED_EDGES) if path.is_file()]
        if nested:
            depth = min(len(path.relative_to(method).parts) for path in nested)
            outputs[method.name] = sorted(path for path in nested if len(path.relative_to(method).parts) == depth)
    return outputs


def read_peer_edges(paths: Sequence[str | PathLike[str]]) -> pd.DataFrame:
    """One method's ranking from its ``rankedEdges.csv`` file(s).

    Several files (one per lineage) are combined edge by edge with the largest absolute weight: an edge
    ranks as high as in the lineage where it ranks highest.

    Returns
    -------
    Columns ``regulator``, ``target``, ``weight`` (absolute), one row per edge.
    """
    from pathreg.datasets import read_beeline_ranked_edges

    if not paths:
        raise ValueError("no rankedEdges.csv file given")
    frames = [read_beeline_ranked_edges(path) for path in paths]
    edges = pd.concat(frames, ignore_index=True)
    edges["weight"] = edges["weight"].abs()
    return edges.groupby(["regulator", "target"], as_index=False, sort=False)["weight"].max()


def score_edges(edges: pd.DataFrame, true_edges: pd.DataFrame, genes: Sequence[str]) -> dict[str, float]:
    """BEELINE's scores of a ranked edge list over ``genes`` (see :func:`pathreg.metrics.score_network`).

    Edges are ranked by absolute ``weight``; edges absent from the list have weight zero (tied at the
    bottom); a duplicated edge keeps its largest weight; edges naming genes outside ``genes`` are ignored.
    ``pruned`` is the fraction of the directed pairs of distinct genes whose weight is zero (or absent).
    """
    from pathreg.metrics import score_network

    genes = list(genes)
    index = {gene: position for position, gene in enumerate(genes)}
    adjacency = np.zeros((len(genes), len(genes)))
    known = edges["regulator"].isin(index) & edges["target"].isin(index)
    if not known.all():
        logger.warning("%d ranked edges name genes outside the dataset; ignored.", int((~known).sum()))
    for regulator, target, weight in edges.loc[known, ["regulator", "target", "weight"]].itertuples(index=False):
        row, column = index[target], index[regulator]
        adjacency[row, column] = max(adjacency[row, column], abs(float(weight)))
    off_diagonal = ~np.eye(len(genes), dtype=bool)
    pruned = float((adjacency[off_diagonal] == 0).mean()) if len(genes) > 1 else 0.0
    return {**score_network(adjacency, true_edges, genes=genes), "pruned": pruned}


def run(
    directory: str | PathLike[str],
    *,
    methods: Sequence[str] = ("pathreg",),
    peer_dir: str | PathLike[str] | None = None,
    output: str | PathLike[str] | None = DEFAULT_OUTPUT,
    seed: int = 0,
    rescore: bool = False,
    **fit_options,
) -> pd.DataFrame:
    """Fit every dataset under ``directory``, write its rankings and score them next to the peers'.

    Parameters
    ----------
    directory
        The BEELINE input folder (searched with :func:`find_datasets`).
    methods
        Sparsity methods of :func:`pathreg.tl.fit_dynamics` to run (each labelled by :func:`method_label`).
    peer_dir
        Folder of other methods' outputs in BEELINE's layout (:func:`find_peer_outputs`); ``None``: none.
    output
        Where ``<dataset path>/<METHOD>/rankedEdges.csv`` is written; ``None``: nothing is written.
    seed
        Seed of :func:`pathreg.tl.fit_dynamics`.
    rescore
        Score the rankings an earlier run wrote under ``output`` instead of fitting (``seconds`` NaN).
    **fit_options
        Further options of :func:`pathreg.tl.fit_dynamics` (e.g. ``training={"n_epochs": 50}, n_seeds=1`` for a
        quick run); ``time_key`` and ``lineage_key`` are fixed to BEELINE's pseudotime and lineages.

    Returns
    -------
    One row per dataset and method (pathreg's first, then the peers by name), columns :data:`COLUMNS`;
    ``random_auprc`` is the edge density (the AUPRC of a random ranking), ``pruned`` the fraction of pairs
    of distinct genes without an edge, ``seconds`` the fitting time (NaN for peers and when rescoring).

    Raises
    ------
    ValueError
        If no dataset is found, or ``rescore`` without ``output``.
    """
    import pathreg
    from pathreg.datasets import read_beeline, read_beeline_ranked_edges, write_beeline_ranked_edges

    for fixed in ("time_key", "lineage_key", "progress", "copy"):
        if fixed in fit_options:
            raise ValueError(f"{fixed} is set by the benchmark and cannot be passed")
    if rescore and output is None:
        raise ValueError("rescore=True reads the rankings of an earlier run under output; give output")
    directory = Path(directory)
    datasets = find_datasets(directory)
    if not datasets:
        raise ValueError(f"no BEELINE dataset (a folder with {', '.join(INPUT_FILES)}) under {directory}")
    rows = []
    for dataset in datasets:
        network = network_name(directory, dataset)
        name = (directory / dataset).resolve().name
        adata = read_beeline(directory / dataset)
        true_edges = adata.uns["true_network"]
        genes = adata.var_names.tolist()
        for method in methods:
            label = method_label(method)
            ranked = None if output is None else Path(output) / dataset / label / RANKED_EDGES
            if rescore:
                edges, seconds = read_beeline_ranked_edges(ranked), float("nan")
            else:
                logger.info("%s: fitting %s", dataset.as_posix(), label)
                start = time.perf_counter()
                pathreg.tl.fit_dynamics(
                    adata,
                    method=method,
                    time_key="pseudotime",
                    lineage_key="lineages",
                    seed=seed,
                    progress=False,
                    **fit_options,
                )
                seconds = time.perf_counter() - start
                edges = pathreg.tl.grn(adata)
                if ranked is not None:
                    write_beeline_ranked_edges(edges, ranked)
            rows.append(_row(network, name, label, score_edges(edges, true_edges, genes), seconds))
        if peer_dir is not None:
            peers = find_peer_outputs(peer_dir, dataset)
            if not peers:
                logger.warning("%s: no peer outputs under %s", dataset.as_posix(), peer_dir)
            for peer, paths in peers.items():
                scores = score_edges(read_peer_edges(paths), true_edges, genes)
                rows.append(_row(network, name, peer, scores, float("nan")))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _row(network: str, dataset: str, method: str, scores: Mapping[str, float], seconds: float) -> dict:
    return {
        "network": network,
        "dataset": dataset,
        "method": method,
        "auprc": float(scores["auprc"]),
        "auroc": float(scores["auroc"]),
        "epr": float(scores["epr"]),
        "random_auprc": float(scores["random_auprc"]),
        "pruned": float(scores["pruned"]),
        "seconds": seconds,
    }


def _is_ours(method: str) -> bool:
    return method == "pathreg" or method.startswith("pathreg-")


def median_scores(scores: pd.DataFrame, metric: str = "auprc") -> pd.DataFrame:
    """Median of ``metric`` over datasets, methods x networks.

    Rows: pathreg's methods in order of appearance, then the peers by name; columns: networks in order
    of appearance. A method without a dataset of a network gets NaN there.
    """
    table = scores.pivot_table(index="method", columns="network", values=metric, aggfunc="median")
    methods = pd.unique(scores["method"])
    ours = [method for method in methods if _is_ours(method)]
    peers = sorted(method for method in methods if not _is_ours(method))
    return table.reindex(index=ours + peers, columns=pd.unique(scores["network"]))


def best_peers(scores: pd.DataFrame, metric: str = "auprc") -> pd.Series:
    """Per network, the peer (not pathreg) with the highest median ``metric`` (the first by name in a tie).

    NaN where a network has no peer.
    """
    medians = median_scores(scores, metric)
    peers = medians.loc[[method for method in medians.index if not _is_ours(method)]]
    return pd.Series(
        {network: peers[network].idxmax() if peers[network].notna().any() else np.nan for network in peers.columns},
        dtype=object,
    )


def summary_table(scores: pd.DataFrame, metrics: Sequence[str] = tuple(METRICS)) -> str:
    """Markdown tables of the medians per network, one per metric.

    Rows are methods (pathreg's first, in bold), columns networks; in every column the best peer's value
    is in bold (every peer's, in a tie). The AUPRC table ends with a ``random`` row, the median edge density, when
    ``scores`` has ``random_auprc``.
    """
    blocks = []
    for metric in metrics:
        medians = median_scores(scores, metric)
        peers = [method for method in medians.index if not _is_ours(method)]
        best = medians.loc[peers].max()  # every peer at the best median is marked (ties)
        networks = list(medians.columns)
        lines = [
            f"Median {METRICS.get(metric, metric)}",
            "",
            "| method | " + " | ".join(networks) + " |",
            "|" + " --- |" * (len(networks) + 1),
        ]
        for method, values in medians.iterrows():
            cells = []
            for network in networks:
                value = values[network]
                cell = "–" if pd.isna(value) else f"{value:.3f}"
                marked = not _is_ours(method) and not pd.isna(value) and value == best[network]
                cells.append(f"**{cell}**" if marked else cell)
            name = f"**{method}**" if _is_ours(method) else method
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        if metric == "auprc" and "random_auprc" in scores:
            density = scores.groupby("network", sort=False)["random_auprc"].median().reindex(networks)
            lines.append("| random | " + " | ".join(f"{value:.3f}" for value in density) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def pruned_table(scores: pd.DataFrame) -> str:
    """Markdown table of pathreg's median ``pruned`` per network (rows: its methods; columns: networks)."""
    ours = scores[scores["method"].map(_is_ours)]
    medians = ours.groupby(["method", "network"], sort=False)["pruned"].median().unstack()
    lines = [
        "Median fraction of the pairs of distinct genes pruned",
        "",
        "| method | " + " | ".join(medians.columns) + " |",
        "|" + " --- |" * (len(medians.columns) + 1),
    ]
    for method, values in medians.iterrows():
        lines.append(f"| **{method}** | " + " | ".join(f"{value:.3f}" for value in values) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    from pathreg.models import METHODS

    parser = argparse.ArgumentParser(prog="python -m benchmarks.beeline", description=__doc__.split("\n")[0])
    parser.add_argument("directory", help="BEELINE input folder (searched for datasets at any depth)")
    parser.add_argument("--methods", nargs="+", default=["pathreg"], choices=list(METHODS), help="sparsity methods")
    parser.add_argument(
        "--peers", default=None, help="peer outputs in BEELINE's layout (default: DIRECTORY/peer-outputs if present)"
    )
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="output folder (rankedEdges.csv files, scores.csv)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rescore", action="store_true", help="score the rankings an earlier run wrote under --output (no fitting)"
    )
    parser.add_argument("--n-seeds", type=int, default=None, help="ensemble size (default: fit_dynamics')")
    parser.add_argument("--n-epochs", type=int, default=None, help="training epochs (default: fit_dynamics')")
    parser.add_argument("--n-bins", type=int, default=None, help="bins per lineage (default: fit_dynamics')")
    parser.add_argument("--objective", default=None, help="objective of fit_dynamics (default: fit_dynamics')")
    parser.add_argument("--readout", default=None, help="readout of fit_dynamics (default: fit_dynamics')")
    parser.add_argument(
        "--decay",
        type=_decay,
        default=None,
        help="'learned' or a fixed rate (default: the objective's)",
    )
    args = parser.parse_args(argv)
    peers = args.peers
    if peers is None and (Path(args.directory) / "peer-outputs").is_dir():
        peers = Path(args.directory) / "peer-outputs"
    chosen = (
        ("n_seeds", args.n_seeds),
        ("n_bins", args.n_bins),
        ("objective", args.objective),
        ("readout", args.readout),
        ("decay", args.decay),
    )
    options = {name: value for name, value in chosen if value is not None}
    if args.n_epochs is not None:
        options["training"] = {"n_epochs": args.n_epochs}
    start = time.perf_counter()
    scores = run(
        args.directory,
        methods=args.methods,
        peer_dir=peers,
        output=args.output,
        seed=args.seed,
        rescore=args.rescore,
        **options,
    )
    seconds = time.perf_counter() - start
    Path(args.output).mkdir(parents=True, exist_ok=True)
    scores.to_csv(Path(args.output) / "scores.csv", index=False)
    n_datasets = scores[["network", "dataset"]].drop_duplicates().shape[0]
    sys.stdout.write(summary_table(scores) + "\n\n")
    sys.stdout.write(pruned_table(scores) + "\n\n")
    sys.stdout.write(f"{n_datasets} datasets in {seconds:.0f} s; per-dataset scores in {args.output}/scores.csv\n")
    return 0


def _decay(text: str) -> bool | float:
    """``--decay``: ``"learned"`` (True) or a positive rate."""
    if text == "learned":
        return True
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'learned' or a positive number, got {text!r}") from None


if __name__ == "__main__":
    raise SystemExit(main())
