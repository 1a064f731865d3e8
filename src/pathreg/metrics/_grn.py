"""Scoring an inferred network against a true edge list, and the baselines it is compared with.

The scores follow BEELINE (Pratapa et al. 2020): directed edges regulator -> target, self-loops
excluded, edges ranked by absolute weight; see :func:`pathreg.models.edge_scores`. Public names are
exported from :mod:`pathreg.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pathreg.models import edge_scores


def truth_matrix(true_edges: pd.DataFrame, genes: Sequence[str]) -> np.ndarray:
    """Boolean target x regulator matrix over ``genes`` from an edge list with ``regulator``, ``target`` columns."""
    missing_columns = {"regulator", "target"} - set(true_edges.columns)
    if missing_columns:
        raise ValueError(f"true_edges needs the columns 'regulator' and 'target'; missing {sorted(missing_columns)}.")
    index = {gene: position for position, gene in enumerate(genes)}
    truth = np.zeros((len(genes), len(genes)), dtype=bool)
    known = true_edges["regulator"].isin(index) & true_edges["target"].isin(index)
    for regulator, target in true_edges.loc[known, ["regulator", "target"]].itertuples(index=False):
        truth[index[target], index[regulator]] = True
    return truth


def score_network(
    adjacency: np.ndarray | pd.DataFrame,
    true_edges: pd.DataFrame,
    *,
    genes: Sequence[str] | None = None,
    exclude_self_loops: bool = True,
) -> dict[str, float]:
    """AUPRC, AUROC and early precision ratio of a weighted target x regulator adjacency.

    Parameters
    ----------
    adjacency
        Square target x regulator matrix (rows targets), e.g. ``adata.varp["pathreg_adjacency"]``; a
        DataFrame brings its own gene names.
    true_edges
        The true network with columns ``regulator`` and ``target``.
    genes
        Gene names of the rows and columns when ``adjacency`` is an array.
    exclude_self_loops
        Drop self-loops from the evaluation (BEELINE's default).

    Returns
    -------
    The dictionary of :func:`pathreg.models.edge_scores` plus ``random_auprc`` (the edge density).
    """
    if isinstance(adjacency, pd.DataFrame):
        if list(adjacency.index) != list(adjacency.columns):
            raise ValueError(
                "The adjacency DataFrame must have the same genes, in the same order, as rows and columns."
            )
        genes = list(adjacency.index)
        values = adjacency.to_numpy(dtype=float)
    else:
        values = np.asarray(adjacency, dtype=float)
        if genes is None:
            raise ValueError("Pass genes= (row and column names) with an array adjacency.")
        genes = list(genes)
    if values.shape != (len(genes), len(genes)):
        raise ValueError(
            f"adjacency has shape {values.shape}, expected {(len(genes), len(genes))} for {len(genes)} genes."
        )
    truth = truth_matrix(true_edges, genes)
    scores = edge_scores(np.abs(values), truth, exclude_self_loops=exclude_self_loops)
    n_candidates = truth.size - (len(genes) if exclude_self_loops else 0)
    scores["random_auprc"] = scores["n_true"] / n_candidates
    return scores


def pearson_network(expression: np.ndarray) -> np.ndarray:
    """Absolute Pearson correlation between every pair of genes (symmetric; a direction-blind baseline)."""
    expression = np.asarray(expression, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.corrcoef(expression.T)
    return np.nan_to_num(np.abs(correlation))


def random_forest_network(
    expression: np.ndarray,
    *,
    n_trees: int = 500,
    max_features: str = "sqrt",
    seed: int = 0,
    n_jobs: int | None = None,
    targets: Sequence[int] | None = None,
) -> np.ndarray:
    """GENIE3-style network (Huynh-Thu et al. 2010): per target, a random forest on all other genes.

    Entry ``[i, j]`` is the impurity importance of gene ``j`` in the forest predicting gene ``i``. ``targets``:
    the column indices of the genes whose forests are grown (``None``: all); the other rows are zero.
    """
    from sklearn.ensemble import RandomForestRegressor

    expression = np.asarray(expression, dtype=float)
    n_genes = expression.shape[1]
    importance = np.zeros((n_genes, n_genes))
    for target in range(n_genes) if targets is None else targets:
        inputs = np.delete(np.arange(n_genes), target)
        forest = RandomForestRegressor(
            n_estimators=n_trees, max_features=max_features, random_state=seed + target, n_jobs=n_jobs
        )
        forest.fit(expression[:, inputs], expression[:, target])
        importance[target, inputs] = forest.feature_importances_
    return importance
