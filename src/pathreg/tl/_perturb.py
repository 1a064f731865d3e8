"""``tl.perturb``: in silico knockout and overexpression with a fitted model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from pathreg.models import Ensemble, NeuralODE

from .._settings import logger
from .._utils import (
    PERTURBATION_COLUMNS,
    Key,
    close_matches,
    expression,
    lineage_table,
    resolve_modality,
    time_values,
    uns_record,
)
from ._binning import bin_lineages

COLUMNS = PERTURBATION_COLUMNS
"""Columns of the table returned by :func:`perturb`."""


def _ensemble(model) -> Ensemble:
    if model is None:
        raise ValueError(
            "perturb needs the fitted model: pass model= the Ensemble returned by pathreg.tl.fit_dynamics "
            "(or loaded with pathreg.models.load)."
        )
    if not isinstance(model, Ensemble):
        raise TypeError(
            f"model must be a pathreg.models.Ensemble (returned by fit_dynamics or pathreg.models.load), got "
            f"{type(model).__name__}; wrap fitted models as Ensemble(models, metadata=...)."
        )
    metadata = model.metadata
    absent = [name for name in ("state_genes", "time_offset", "time_span") if name not in metadata]
    if absent:
        raise ValueError(f"The ensemble's metadata lacks {absent}; use the Ensemble returned by fit_dynamics.")
    for member in model:
        if not isinstance(member, NeuralODE):
            raise TypeError(f"perturb needs first-order pathreg.models.NeuralODE members, got {type(member).__name__}.")
    if model.state_dim != len(metadata["state_genes"]):
        raise ValueError("The ensemble's members do not have one state variable per state gene of its metadata.")
    return model


def _clamp(perturbations, genes: list[str], var_names) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(perturbations, Mapping):
        raise TypeError(
            "perturbations must be a dict from gene name to clamped value, e.g. {'Gata1': 0.0}; "
            f"got {type(perturbations).__name__}."
        )
    mask = np.zeros(len(genes), dtype=bool)
    values = np.zeros(len(genes), dtype=np.float64)
    for gene, value in perturbations.items():
        gene = str(gene)
        if gene not in genes:
            if gene in var_names:
                raise ValueError(
                    f"Gene {gene!r} is in var_names but not in the model's state (it was neither a regulator nor "
                    f"a target of the fit); the model's genes are {genes}."
                )
            raise ValueError(f"Gene {gene!r} is not among the model's genes.{close_matches(gene, genes)}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"The value of {gene!r} must be a number, got {value!r}.") from None
        if not np.isfinite(value):
            raise ValueError(f"The value of {gene!r} must be finite, got {value}.")
        mask[genes.index(gene)] = True
        values[genes.index(gene)] = value
    return mask, values


def _time_mean(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Time average of ``(n_times, n_genes)`` values over ``times`` (trapezoidal rule)."""
    steps = np.diff(times)[:, None]
    return (0.5 * (values[1:] + values[:-1]) * steps).sum(axis=0) / (times[-1] - times[0])


def perturb(
    adata,
    perturbations: Mapping[str, float],
    *,
    model: Ensemble,
    key: str = "pathreg",
    lineage: str | Sequence[str] | None = None,
    n_steps: int | None = None,
    key_added: str | None = None,
    mod: str | None = None,
    copy: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, AnnData]:
    r"""Simulate a knockout or overexpression in silico and compare with the unperturbed dynamics.

    Every lineage of the fit ``key`` is integrated by the fitted model from its first bin (as in
    :func:`fit_dynamics`'s predictions), once unperturbed (control) and once with the perturbed genes
    *clamped*: a clamped gene starts at its given value and its derivative is held at zero, so it stays
    there while it acts on its targets through the learned regulation (:class:`~pathreg.models.ClampedODE`). A
    knockout is ``{gene: 0.0}``; overexpression a high value (e.g. the gene's maximum expression).

    For every model gene and lineage the table reports the final expression of both simulations and

    .. math::
        \Delta_{\mathrm{final}} = x^{\mathrm{pert}}(t_{\mathrm{end}}) - x^{\mathrm{ctrl}}(t_{\mathrm{end}}),
        \qquad
        \Delta_{\mathrm{mean}} = \frac{1}{t_{\mathrm{end}} - t_0}
        \int_{t_0}^{t_{\mathrm{end}}} \big(x^{\mathrm{pert}} - x^{\mathrm{ctrl}}\big)\, dt

    (trapezoidal rule on the time grid). The effect is that of the *model*: genes without a learned path
    from a perturbed gene do not respond, and the answer is only as good as the fitted dynamics away from
    the observed states.

    Parameters
    ----------
    adata
        AnnData (or MuData with ``mod``) on which :func:`fit_dynamics` ran with ``key_added=key``.
    perturbations
        Gene name -> clamped value, e.g. ``{"Gata1": 0.0}``; the genes must be state genes of the model
        (regulators or targets of the fit). An empty dict gives the control twice (all deltas zero).
    model
        The fitted :class:`~pathreg.models.Ensemble` returned by :func:`fit_dynamics` (or loaded with
        :func:`pathreg.models.load`); the trajectories of all its members are averaged. Models are not
        stored in ``adata``, so it must be passed.
    key
        The ``key_added`` of the fit: its lineages, layer and time column (``adata.uns[key]["params"]``).
    lineage
        A lineage name or a list of them; default: all lineages of the fit.
    n_steps
        Number of equally spaced time points from the lineage's first to its last bin time (with a
        fixed-grid solver also the number of solver steps + 1); default: the bin times of the fit.
    key_added
        The table is stored in ``adata.uns[key_added]``; default ``key + "_perturbation"``.
    mod
        Modality of a MuData.
    copy
        Work on and return a copy of ``adata`` instead of modifying it.

    Returns
    -------
    One row per lineage and model gene with the columns ``gene``, ``lineage``, ``control_final``,
    ``perturbed_final``, ``delta_final``, ``delta_mean`` and ``perturbed`` (``True`` for the clamped
    genes themselves); with ``copy=True``, ``(table, adata_copy)``. Writes ``adata.uns[key_added]``:
    ``table`` (a dict of the columns) and ``params`` (``key``, ``genes`` and ``values`` of the
    perturbation, ``lineages``, ``n_steps`` (0: bin times), ``n_models``). Nothing is written when the
    inputs are invalid.

    Examples
    --------
    >>> model = pathreg.tl.fit_dynamics(adata, lineage_key="lineages")  # doctest: +SKIP
    >>> table = pathreg.tl.perturb(adata, {"Gata1": 0.0}, model=model)  # doctest: +SKIP
    >>> table.query("lineage == 'Ery'").sort_values("delta_final").head()  # doctest: +SKIP
    """
    ensemble = _ensemble(model)
    target_object = data_copy = adata.copy() if copy else adata
    data = resolve_modality(target_object, mod)
    record = uns_record(
        data,
        key,
        field="params",
        what="fit",
        hint="Run pathreg.tl.fit_dynamics(adata, key_added=...) first, or pass key= the key_added of the fit.",
    )
    params = record["params"]
    metadata = ensemble.metadata
    genes = [str(gene) for gene in metadata["state_genes"]]
    mask, values = _clamp(perturbations, genes, data.var_names)
    missing = [gene for gene in genes if gene not in data.var_names]
    if missing:
        raise ValueError(f"{len(missing)} of the model's {len(genes)} genes are not in var_names, e.g. {missing[:5]}.")
    if n_steps is not None and int(n_steps) < 2:
        raise ValueError(f"n_steps must be at least 2, got {n_steps}.")

    lineage_key = params["lineage_key"]
    lineages = lineage_table(data, None if lineage_key == "none" else lineage_key)
    if lineage is not None:
        wanted = [lineage] if isinstance(lineage, str) else [str(name) for name in lineage]
        available = [str(name) for name in lineages.columns]
        unknown = [name for name in wanted if name not in available]
        if unknown or not wanted:
            hints = "".join(close_matches(name, available) for name in unknown)
            raise ValueError(f"Unknown or no lineages {unknown or wanted}; the fit's lineages are {available}.{hints}")
        lineages = lineages[wanted]
    layer = params["layer"]
    time = time_values(data, params["time_key"])
    values_matrix = expression(data, None if layer == "X" else layer)[:, data.var_names.get_indexer(genes)]
    scaled = (time - metadata["time_offset"]) / metadata["time_span"]
    bins = bin_lineages(
        scaled,
        values_matrix,
        lineages,
        n_bins=int(params["n_bins"]),
        time_scale=str(params["time_scale"]),
    )

    logger.info("Perturbing %s in %d lineage(s) with %d model(s).", dict(perturbations), len(bins), len(ensemble))
    frames = []
    for lineage_bins in bins:
        times = lineage_bins.times.astype(np.float64)
        if n_steps is not None:
            times = np.linspace(times[0], times[-1], int(n_steps))
        x0 = lineage_bins.means[0]
        control = ensemble.simulate(x0, times)
        perturbed = control.copy() if not mask.any() else ensemble.simulate(x0, times, clamp=mask, values=values)
        frames.append(
            pd.DataFrame(
                {
                    "gene": genes,
                    "lineage": lineage_bins.name,
                    "control_final": control[-1],
                    "perturbed_final": perturbed[-1],
                    "delta_final": perturbed[-1] - control[-1],
                    "delta_mean": _time_mean(perturbed - control, times),
                    "perturbed": mask,
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)[list(COLUMNS)]
    clamped_genes = [gene for gene, clamped in zip(genes, mask, strict=True) if clamped]
    data.uns[key_added or Key.perturbation(key)] = {
        "table": {
            column: table[column].to_numpy(dtype=object if column in ("gene", "lineage") else None)
            for column in COLUMNS
        },
        "params": {
            "key": key,
            "genes": np.asarray(clamped_genes, dtype=object),
            "values": values[mask].astype(np.float64),
            "lineages": np.asarray([lineage_bins.name for lineage_bins in bins], dtype=object),
            "n_steps": 0 if n_steps is None else int(n_steps),
            "n_models": len(ensemble),
        },
    }
    return (table, data_copy) if copy else table
