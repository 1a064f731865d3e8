"""Network scoring and the baselines it is compared with.

:func:`score_network` scores a weighted target x regulator adjacency (for instance
``adata.varp["pathreg_adjacency"]``) against a true edge list as BEELINE does (Pratapa et al. 2020):
AUPRC, AUROC and early precision ratio over directed edges, self-loops excluded. :func:`pearson_network`
and :func:`random_forest_network` (GENIE3-style) are the baselines of ``pathreg demo``.
:func:`spurious_feature_sparsity` measures how much of the dependence on inputs that should not matter
was pruned. The engine's scores of a dependency matrix (:func:`pathreg.models.edge_scores`,
:func:`pathreg.models.feature_sparsity`, :func:`pathreg.models.weight_sparsity`) live in
:mod:`pathreg.models`.

The paper-reproduction benchmarks that use these functions are not part of the package: they are the
scripts in the repository's ``benchmarks/`` folder, run from the repository root as
``python -m benchmarks.<name>``.
"""

from ._grn import pearson_network, random_forest_network, score_network, truth_matrix
from ._sparsity import spurious_feature_sparsity

__all__ = [
    "pearson_network",
    "random_forest_network",
    "score_network",
    "spurious_feature_sparsity",
    "truth_matrix",
]
