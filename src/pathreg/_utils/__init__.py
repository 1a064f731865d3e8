"""Helpers shared by ``pp``, ``tl`` and ``pl``: AnnData access and validation, key names, name matching.

Nothing here is public API; the subpackages import these names instead of each other's private modules.
"""

from ._anndata import (
    GeneSpec,
    check_finite_time,
    check_obs_key,
    check_unique_var_names,
    ensure_actual,
    expression,
    gene_mask,
    lineage_table,
    prior_mask,
    resolve_modality,
    stored_adjacency,
    time_values,
    uns_record,
    writing_into,
)
from ._keys import Key
from ._names import check_choice, close_matches, similar_names
from ._tables import GENERALIZATION_COLUMNS, PERTURBATION_COLUMNS

__all__ = [
    "GENERALIZATION_COLUMNS",
    "PERTURBATION_COLUMNS",
    "check_obs_key",
    "GeneSpec",
    "Key",
    "check_choice",
    "check_finite_time",
    "check_unique_var_names",
    "close_matches",
    "ensure_actual",
    "expression",
    "gene_mask",
    "lineage_table",
    "prior_mask",
    "resolve_modality",
    "similar_names",
    "stored_adjacency",
    "time_values",
    "uns_record",
    "writing_into",
]
