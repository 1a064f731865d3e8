"""Sparsity of fitted models and scores of inferred edges against a true network."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

EPS = 1e-5


def _as_numpy(array) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)


def feature_sparsity(adjacency: torch.Tensor | np.ndarray, eps: float = EPS) -> float:
    """Fraction of entries of a dependency matrix whose magnitude is below ``eps``.

    Parameters
    ----------
    adjacency
        ``(n_outputs, n_inputs)`` dependency matrix.
    eps
        Entries with ``|a| < eps`` count as zero.
    """
    values = _as_numpy(adjacency)
    return float(np.mean(np.abs(values) < eps)) if values.size else 0.0


def weight_sparsity(model: nn.Module, eps: float = EPS) -> float:
    """Fraction of the vector field's weights (deterministic gates applied) whose magnitude is below ``eps``.

    Parameters
    ----------
    model
        An ODE model or a vector field with ``sparsifiable_weights()``.
    eps
        Threshold.
    """
    vector_field = getattr(model, "vector_field", model)
    with torch.no_grad():
        weights = vector_field.sparsifiable_weights()
        zeros = sum(int((w.abs() < eps).sum()) for w in weights)
        total = sum(w.numel() for w in weights)
    return zeros / total if total else 0.0


def _precision_recall_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and false-positive rate after every edge, highest score first, ties broken at random.

    Within a block of tied scores the true edges are spread evenly (the expectation over random
    orderings of the block), so a block of tied scores -- such as the exact zeros of pruned edges --
    earns the precision of a random guess, not the optimistic straight line that joining its end
    points would draw in precision-recall space. Without ties this is the usual curve.
    """
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order].astype(float)
    starts = np.r_[0, np.nonzero(np.diff(scores))[0] + 1]
    sizes = np.diff(np.r_[starts, scores.size])
    block_positives = np.add.reduceat(labels, starts)
    positives_before = np.r_[0.0, np.cumsum(block_positives)[:-1]]
    block = np.repeat(np.arange(starts.size), sizes)
    position = np.arange(scores.size) - starts[block] + 1
    true_positives = positives_before[block] + position * block_positives[block] / sizes[block]
    false_positives = np.arange(1, scores.size + 1) - true_positives
    precision = true_positives / np.arange(1, scores.size + 1)
    recall = true_positives / max(labels.sum(), 1)
    fpr = false_positives / max((1 - labels).sum(), 1)
    return precision, recall, fpr


def edge_scores(
    scores: torch.Tensor | np.ndarray,
    truth: torch.Tensor | np.ndarray,
    *,
    exclude_self_loops: bool = True,
    eps: float = EPS,
) -> dict[str, float]:
    """Score a matrix of directed edge strengths against the true network (BEELINE's definitions).

    Parameters
    ----------
    scores
        ``(n_targets, n_regulators)`` edge strengths; the magnitude ranks edges.
    truth
        Same shape; non-zero where the edge regulator -> target exists.
    exclude_self_loops
        Drop the diagonal (for square matrices over one gene set), as BEELINE does.
    eps
        Edges with ``|score| > eps`` count as predicted for precision and recall.

    Returns
    -------
    ``precision`` and ``recall`` of the predicted edges; ``auprc`` (area under the
    precision-recall curve, trapezoidal as BEELINE, with tied scores ordered at random in
    expectation so that pruned edges, all exactly zero, are not credited more than chance),
    ``auroc``; ``epr``, the early precision
    ratio: precision among the top-k edges (k = number of true edges, ties at the k-th score
    included) divided by the edge density; ``n_true`` and ``n_predicted``.
    """
    scores = np.abs(_as_numpy(scores).astype(float))
    truth = _as_numpy(truth) != 0
    if scores.shape != truth.shape:
        raise ValueError(f"scores {scores.shape} and truth {truth.shape} must have the same shape.")
    keep = np.ones_like(truth, dtype=bool)
    if exclude_self_loops and scores.ndim == 2 and scores.shape[0] == scores.shape[1]:
        np.fill_diagonal(keep, False)
    scores, labels = scores[keep], truth[keep]
    n_true = int(labels.sum())
    predicted = scores > eps
    n_predicted = int(predicted.sum())
    result = {
        "precision": float((predicted & labels).sum() / n_predicted) if n_predicted else 0.0,
        "recall": float((predicted & labels).sum() / n_true) if n_true else 0.0,
        "n_true": n_true,
        "n_predicted": n_predicted,
    }
    if n_true == 0 or n_true == labels.size:
        return {**result, "auprc": float("nan"), "auroc": float("nan"), "epr": float("nan")}
    precision, recall, fpr = _precision_recall_curve(labels, scores)
    tpr = recall
    result["auprc"] = float(np.trapezoid(np.r_[1.0, precision], np.r_[0.0, recall]))
    result["auroc"] = float(np.trapezoid(np.r_[0.0, tpr], np.r_[0.0, fpr]))
    kth_score = np.sort(scores)[::-1][n_true - 1]
    top = scores >= kth_score if kth_score > 0 else scores > 0
    early_precision = (top & labels).sum() / top.sum() if top.sum() else 0.0
    result["epr"] = float(early_precision / (n_true / labels.size))
    return result
