"""Columns of the tables the tools store in ``adata.uns`` and the plots read back."""

GENERALIZATION_COLUMNS = (
    "method",
    "batch",
    "split",
    "lineage",
    "mse",
    "feature_sparsity",
    "weight_sparsity",
    "spurious_feature_sparsity",
)
"""Columns of the table of :func:`pathreg.tl.evaluate_generalization`."""

PERTURBATION_COLUMNS = ("gene", "lineage", "control_final", "perturbed_final", "delta_final", "delta_mean", "perturbed")
"""Columns of the table of :func:`pathreg.tl.perturb`."""
