"""Network scoring and the baselines it is compared with.

:func:`score_network` scores a weighted target x regulator adjacency (for instance
``adata.varp["pathreg_adjacency"]``) against a true edge list as BEELINE does (Pratapa et al. 2020):
AUPRC, AUROC and early precision ratio over directed edges, self-loops excluded. :func:`pearson_network`
and :func:`random_forest_network` (GENIE3-style) are the baselines of ``pathreg demo``. The engine's
scores of a dependency matrix (:func:`edge_scores`, :func:`feature_sparsity`, :func:`weight_sparsity`)
are available here as well (they live in :mod:`pathreg.models`).

The paper-reproduction benchmarks that use these functions are not part of the package: they are the
scripts in the repository's ``benchmarks/`` folder, run from the repository root as
``python -m benchmarks.<name>``.
"""

from pathreg.models import edge_scores, feature_sparsity, weight_sparsity

from ._grn import pearson_network, random_forest_network, score_network, truth_matrix

__all__ = [
    "edge_scores",
    "feature_sparsity",
    "pearson_network",
    "random_forest_network",
    "score_network",
    "truth_matrix",
    "weight_sparsity",
]
