"""``tl.predict``: apply a fitted model to another dataset with the same genes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pathreg.models import Ensemble

from .._utils import (
    Key,
    check_finite_time,
    check_unique_var_names,
    ensure_actual,
    expression,
    lineage_table,
    resolve_modality,
    similar_names,
    time_values,
)
from ._binning import bin_lineages
from ._problem import check_bins
from ._readout import cell_predictions, lineage_errors, predict_lineages


def predict(
    adata,
    model: Ensemble,
    *,
    time_key: str | None = None,
    lineage_key: str | None = None,
    layer: str | None = None,
    n_bins: int | None = None,
    key_added: str = "pathreg",
    mod: str | None = None,
) -> pd.Series:
    """Predict another dataset's lineages with a fitted ensemble, each from its own first bin.

    The dataset is binned as in :func:`fit_dynamics`; its time is scaled with the training data's
    offset and span, so a lineage that runs faster or slower is judged at its own times. The prediction
    is the mean over all members, as in the layer :func:`fit_dynamics` writes: on the training data with
    the fit's lineages it reproduces that layer.

    Parameters
    ----------
    adata
        AnnData (or MuData with ``mod``) containing the model's genes.
    model
        The :class:`~pathreg.models.Ensemble` returned by :func:`fit_dynamics` or loaded with
        :func:`pathreg.models.load`.
    time_key
        Time column (default: the one the model was fitted with).
    lineage_key
        Lineages as in :func:`fit_dynamics`; ``None`` treats all cells as one lineage.
    layer
        Expression layer; ``None`` uses ``adata.X``.
    n_bins
        Bins per lineage (default: as in the fit).
    key_added
        Writes ``adata.layers[key_added + "_prediction"]`` and ``adata.uns[key_added]["test_metrics"]``.
    mod
        Modality of a MuData.

    Returns
    -------
    Mean squared error per lineage (whole lineage integrated from its first bin, against the bin means).

    Raises
    ------
    ValueError
        When the model lacks the metadata of :func:`fit_dynamics`, some of its genes are not in
        ``var_names`` (they are listed), or the inputs are invalid as for :func:`fit_dynamics`. Nothing is
        written then.
    """
    if not isinstance(model, Ensemble):
        raise TypeError(
            f"model must be the pathreg.models.Ensemble returned by fit_dynamics or loaded with pathreg.models.load, "
            f"got {type(model).__name__}; wrap a single fitted model as Ensemble([model], metadata=...)."
        )
    metadata = model.metadata
    required = ("state_genes", "time_key", "time_offset", "time_span", "n_bins", "time_scale")
    absent = [name for name in required if name not in (metadata or {})]
    if absent:
        raise ValueError(
            f"The model's metadata lacks {absent}; use a model returned by pathreg.tl.fit_dynamics or loaded with "
            "pathreg.models.load."
        )
    adata = resolve_modality(adata, mod)
    check_unique_var_names(adata)
    genes = [str(gene) for gene in metadata["state_genes"]]
    missing = [gene for gene in genes if gene not in adata.var_names]
    if missing:
        hints = "".join(
            f" Close matches of {gene!r}: {similar_names(gene, adata.var_names)}."
            for gene in missing[:3]
            if similar_names(gene, adata.var_names)
        )
        raise ValueError(
            f"The model was fitted on a different gene set: {len(missing)} of its {len(genes)} genes are not in "
            f"var_names: {missing[:10]}{' ...' if len(missing) > 10 else ''}.{hints} Predict on data with all of the "
            "model's genes (same identifiers), or refit on the genes present."
        )
    if n_bins is not None:
        check_bins(n_bins)
    time_key = time_key or metadata["time_key"]
    time = time_values(adata, time_key)
    lineages = lineage_table(adata, lineage_key)
    used = lineages.to_numpy().any(axis=1)
    check_finite_time(time, used, time_key)
    columns = adata.var_names.get_indexer(genes)
    values = expression(adata, layer, columns=columns, cells=used)
    scaled = (time - metadata["time_offset"]) / metadata["time_span"]
    bins = bin_lineages(
        scaled,
        values,
        lineages,
        n_bins=n_bins or metadata["n_bins"],
        time_scale=metadata["time_scale"],
    )
    predictions = predict_lineages(model, bins)
    errors = lineage_errors(bins, predictions)
    ensure_actual(adata)  # a view becomes an actual AnnData, without ImplicitModificationWarning
    prediction = np.full((adata.n_obs, adata.n_vars), np.nan, dtype=np.float32)
    prediction[:, columns] = cell_predictions(bins, predictions, scaled, adata.n_obs)
    adata.layers[Key.prediction(key_added)] = prediction
    record = dict(adata.uns.get(key_added, {}))
    record["test_metrics"] = {"lineage_mse": {name: float(v) for name, v in errors.items()}}
    adata.uns[key_added] = record
    return pd.Series(errors, name="mse")
