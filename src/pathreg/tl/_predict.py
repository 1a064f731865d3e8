"""``tl.predict``: apply a fitted model to another dataset with the same genes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from pathreg.models import NeuralODE

from ._inputs import expression, lineage_table, resolve_modality, time_values
from ._readout import cell_predictions, lineage_errors, predict_lineages
from ._trajectories import bin_lineages


def predict(
    adata,
    model: NeuralODE,
    *,
    time_key: str | None = None,
    lineage_key: str | None = None,
    layer: str | None = None,
    n_bins: int | None = None,
    key_added: str = "pathreg",
    mod: str | None = None,
) -> pd.Series:
    """Predict another dataset's lineages with a fitted model, each from its own first bin.

    The dataset is binned as in :func:`fit_dynamics`; its time is scaled with the training data's
    offset and span, so a lineage that runs faster or slower is judged at its own times.

    Parameters
    ----------
    adata
        AnnData (or MuData with ``mod``) containing the model's genes.
    model
        Returned by :func:`fit_dynamics` or loaded with :func:`pathreg.models.load`.
    time_key
        Time column (default: the one the model was fitted with).
    lineage_key
        Lineages as in :func:`fit_dynamics`; ``None`` treats all cells as one lineage.
    layer
        Expression layer; ``None`` uses ``adata.X``.
    n_bins
        Bins per lineage (default: as in the fit).
    key_added
        Writes ``adata.layers[f"{key_added}_prediction"]`` and ``adata.uns[key_added]["test_metrics"]``.
    mod
        Modality of a MuData.

    Returns
    -------
    Mean squared error per lineage (whole lineage integrated from its first bin, against the bin means).
    """
    metadata = getattr(model, "metadata", None)
    if not metadata or "state_genes" not in metadata:
        raise ValueError("The model has no gene metadata; use a model returned by fit_dynamics or pathreg.models.load.")
    adata = resolve_modality(adata, mod)
    genes = list(metadata["state_genes"])
    missing = [gene for gene in genes if gene not in adata.var_names]
    if missing:
        raise ValueError(f"{len(missing)} of the model's {len(genes)} genes are not in var_names, e.g. {missing[:5]}.")
    time = time_values(adata, time_key or metadata["time_key"])
    lineages = lineage_table(adata, lineage_key)
    columns = adata.var_names.get_indexer(genes)
    values = expression(adata, layer)[:, columns]
    scaled = (time - metadata["time_offset"]) / metadata["time_span"]
    bins = bin_lineages(
        scaled,
        values,
        lineages,
        n_bins=n_bins or metadata["n_bins"],
        time_scale=metadata.get("time_scale", "pseudotime"),
    )
    model.eval()
    with torch.no_grad():
        predictions = predict_lineages(model, bins)
    errors = lineage_errors(bins, predictions)
    prediction = np.full((adata.n_obs, adata.n_vars), np.nan, dtype=np.float32)
    prediction[:, columns] = cell_predictions(bins, predictions, scaled, adata.n_obs)
    adata.layers[f"{key_added}_prediction"] = prediction
    record = dict(adata.uns.get(key_added, {}))
    record["test_metrics"] = {"lineage_mse": {name: float(v) for name, v in errors.items()}}
    adata.uns[key_added] = record
    return pd.Series(errors, name="mse")
