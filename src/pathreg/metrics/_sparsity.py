"""How much of a network's dependence on inputs that should not matter was pruned."""

from __future__ import annotations

import numpy as np
from scipy import sparse


def spurious_feature_sparsity(
    adjacency: np.ndarray | sparse.spmatrix | sparse.sparray, regulators: np.ndarray, spurious: np.ndarray
) -> float:
    """Fraction of the dependencies on spurious inputs that are exactly zero (PathReg paper, bone marrow).

    Parameters
    ----------
    adjacency
        ``(n_vars, n_vars)`` target x regulator matrix (e.g. ``adata.varp["pathreg_adjacency"]``), dense or scipy
        sparse.
    regulators
        Boolean ``(n_vars,)``: the inputs of the fit.
    spurious
        Boolean ``(n_vars,)``: inputs that should regulate nothing (e.g. genes that are not TFs).

    Returns
    -------
    The fraction of zero entries in the columns that are both regulators and spurious; NaN without such
    columns.

    Examples
    --------
    >>> adjacency = np.array([[0.0, 0.5, 0.0], [0.2, 0.0, 0.3], [0.0, 0.0, 0.0]])
    >>> spurious_feature_sparsity(adjacency, np.array([True, True, True]), np.array([False, True, True]))
    0.6666666666666666
    """
    columns = np.asarray(regulators, dtype=bool) & np.asarray(spurious, dtype=bool)
    if not columns.any():
        return float("nan")
    if sparse.issparse(adjacency):
        block = sparse.csc_matrix(adjacency)[:, np.flatnonzero(columns)]
        block.eliminate_zeros()
        return 1.0 - block.nnz / (block.shape[0] * block.shape[1])
    return float(np.mean(np.asarray(adjacency)[:, columns] == 0))
