"""What a fit reads from an AnnData, validated and extracted once: the seam between AnnData and the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch
from anndata import AnnData

from pathreg.models import Trajectories

from .._settings import logger
from .._utils import (
    GeneSpec,
    check_choice,
    check_finite_time,
    check_unique_var_names,
    close_matches,
    expression,
    gene_mask,
    lineage_table,
    prior_mask,
    time_values,
)
from ._binning import LineageBins, bin_lineages, derivative_estimates, scale_time, shooting_windows
from ._cells import neighbourhood_derivatives, rescale_velocity

TIME_SCALES = ("rank", "pseudotime")
"""Model time of a cell: its rank along its lineage, or its (scaled) pseudotime."""
CONSTANT_TOLERANCE = 1e-6
"""A gene is constant when its standard deviation over the cells used is at most this times ``max(1, |mean|)``.

Float32 expression resolves about ``1e-7`` of a value, so this counts genes that differ by rounding only as constant.
"""


@dataclass(frozen=True, eq=False)
class DynamicsProblem:
    """The data of one fit, extracted from an AnnData: genes, binned lineages, time scaling and prior.

    Built with :meth:`from_anndata`, which validates everything and reads nothing else later; the engine's
    fits (:func:`fit_ensemble`) and the writes (:func:`write_fit`) take this object, so that
    :func:`fit_dynamics`, :func:`sweep`, :func:`evaluate_generalization` and scripts use the same pieces.
    The AnnData is not modified.

    Attributes
    ----------
    state_genes
        Genes of the ODE's state (regulators and targets), sorted by name: the fit, and its result up to the
        same permutation, do not depend on the order of the AnnData's genes.
    regulator_genes, target_genes
        Inputs of the vector field, and the state genes whose regulation is read out. Regulators that are
        constant over the cells used (:func:`constant_genes`) are state genes but not inputs: they get no edges.
    input_index
        Positions of the regulators among the state genes.
    state_columns
        Positions of the state genes among ``var_names``.
    scaled_time
        Every cell's time scaled to ``[0, 1]`` over the cells used (NaN-free there).
    time_offset, time_span
        The scaling: ``scaled = (t - time_offset) / time_span``.
    bins
        One :class:`LineageBins` per lineage.
    allowed
        Boolean state genes x regulators mask of allowed edges (a prior), or ``None``.
    values
        ``(n_obs, n_state)`` float32 expression of the state genes (rows of cells outside the lineages are
        not used), for the single-cell objective.
    velocity
        ``(n_obs, n_state)`` float32 RNA velocity of the state genes (``velocity_key``), or ``None``.
    n_obs, n_vars
        Shape of the AnnData it was read from.
    time_key, lineage_key, layer, n_bins, time_scale, prior_label, velocity_key
        How it was read (recorded with the fit's settings).
    """

    state_genes: list[str]
    regulator_genes: list[str]
    target_genes: list[str]
    input_index: np.ndarray
    state_columns: np.ndarray
    scaled_time: np.ndarray
    time_offset: float
    time_span: float
    bins: list[LineageBins]
    allowed: np.ndarray | None
    values: np.ndarray = field(repr=False)
    velocity: np.ndarray | None = field(repr=False)
    n_obs: int
    n_vars: int
    time_key: str
    lineage_key: str | None
    layer: str | None
    n_bins: int
    time_scale: str
    prior_label: str = "none"
    velocity_key: str | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_anndata(
        cls,
        adata: AnnData,
        *,
        time_key: str = "dpt_pseudotime",
        lineage_key: str | None = None,
        regulators: GeneSpec = None,
        targets: GeneSpec = None,
        prior: str | pd.DataFrame | None = None,
        layer: str | None = None,
        n_bins: int = 40,
        time_scale: Literal["rank", "pseudotime"] = "rank",
        velocity_key: str | None = None,
    ) -> DynamicsProblem:
        """Validate and extract a fit's data; the arguments are those of :func:`fit_dynamics`.

        The ``pathreg`` logger warns, naming the constant regulators and targets (:func:`check_constant_genes`).

        Raises
        ------
        ValueError
            For invalid inputs, as listed in :func:`fit_dynamics`.
        """
        check_choice(time_scale, TIME_SCALES, "time_scale")
        check_bins(n_bins)
        check_unique_var_names(adata)
        time = time_values(adata, time_key)
        lineages = lineage_table(adata, lineage_key)
        regulator_mask = gene_mask(adata, regulators, argument="regulators")
        target_mask = gene_mask(adata, targets, argument="targets")
        state_columns = np.flatnonzero(regulator_mask | target_mask)
        state_columns = state_columns[np.argsort(adata.var_names[state_columns].to_numpy(dtype=str), kind="stable")]
        state_genes = adata.var_names[state_columns].tolist()
        input_index = np.flatnonzero(regulator_mask[state_columns])
        target_genes = [gene for gene, column in zip(state_genes, state_columns, strict=True) if target_mask[column]]
        used = lineages.to_numpy().any(axis=1)
        check_finite_time(time, used, time_key)
        values = expression(adata, layer, columns=state_columns, cells=used, stacklevel=4)
        constant = constant_genes(values, used)
        check_constant_genes(state_genes, input_index, np.isin(state_genes, target_genes), constant, int(used.sum()))
        input_index = input_index[~constant[input_index]]  # constant regulators are no inputs: no edges
        regulator_genes = [state_genes[i] for i in input_index]
        velocity = None
        if velocity_key is not None:
            velocity = velocity_values(adata, velocity_key, state_columns, used)
        scaled_time, offset, span = scale_time(time, used)
        bins = bin_lineages(scaled_time, values, lineages, n_bins=n_bins, time_scale=time_scale)
        allowed = None
        if prior is not None:
            allowed = prior_mask(adata, prior, state_genes, regulator_genes)
            allowed[~np.isin(state_genes, target_genes)] = True  # state genes that are not targets: unrestricted
        return cls(
            state_genes=state_genes,
            regulator_genes=regulator_genes,
            target_genes=target_genes,
            input_index=input_index,
            state_columns=state_columns,
            scaled_time=scaled_time,
            time_offset=offset,
            time_span=span,
            bins=bins,
            allowed=allowed,
            values=values,
            velocity=velocity,
            n_obs=adata.n_obs,
            n_vars=adata.n_vars,
            time_key=time_key,
            lineage_key=lineage_key,
            layer=layer,
            n_bins=int(n_bins),
            time_scale=time_scale,
            prior_label="none" if prior is None else (prior if isinstance(prior, str) else "DataFrame"),
            velocity_key=velocity_key,
        )

    @property
    def is_target(self) -> np.ndarray:
        """Boolean over :attr:`state_genes`: which are targets."""
        return np.isin(self.state_genes, self.target_genes)

    @property
    def bin_means(self) -> np.ndarray:
        """All lineages' bin means stacked, ``(total bins, n_state)``: the states the network is read at."""
        return np.concatenate([lineage.means for lineage in self.bins])

    def shooting_windows(self, window: int | None) -> Trajectories:
        """Training trajectories: from every bin over the next ``window`` bins (``None``: whole lineages)."""
        return shooting_windows(self.bins, window)

    def derivative_estimates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Bin means and their finite-difference time derivatives along each lineage (collocation's data)."""
        return derivative_estimates(self.bins)

    def cell_derivatives(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every lineage cell's state and derivative: RNA velocity (``velocity_key``) or the neighbourhood estimate.

        See :mod:`pathreg.tl._cells` for the estimator; computed once and kept.

        Returns
        -------
        ``(states, derivatives)``, each ``(n_points, n_state)`` float32 (a cell in several lineages gives one
        point per lineage).
        """
        if "cells" not in self._cache:
            states, derivatives, rows = neighbourhood_derivatives(self.values, self.bins, self.scaled_time)
            if self.velocity is not None:
                derivatives = rescale_velocity(self.velocity[rows], derivatives)
            self._cache["cells"] = (torch.as_tensor(states), torch.as_tensor(derivatives))
        return self._cache["cells"]

    def ensemble_metadata(self) -> dict:
        """What an :class:`~pathreg.models.Ensemble` fitted on this problem records about it."""
        return {
            "state_genes": list(self.state_genes),
            "regulators": list(self.regulator_genes),
            "targets": list(self.target_genes),
            "time_key": self.time_key,
            "time_offset": float(self.time_offset),
            "time_span": float(self.time_span),
            "n_bins": int(self.n_bins),
            "time_scale": self.time_scale,
        }


def velocity_values(adata: AnnData, velocity_key: str, state_columns: np.ndarray, used: np.ndarray) -> np.ndarray:
    """The velocity layer's values of the state genes, validated finite at the cells used.

    Raises
    ------
    ValueError
        For a missing layer (with close matches and how to compute one) or NaN among the cells and genes used
        (scVelo leaves NaN for genes it did not fit; pass ``targets``/``regulators`` without them).
    """
    if velocity_key not in adata.layers:
        raise ValueError(
            f"velocity_key={velocity_key!r} is not a layer.{close_matches(velocity_key, list(adata.layers))} "
            "Compute RNA velocity first, e.g. scvelo.tl.velocity(adata), which writes adata.layers['velocity']."
        )
    layer = adata.layers[velocity_key]
    velocity = np.asarray(layer[:, state_columns].toarray() if hasattr(layer, "toarray") else layer[:, state_columns])
    velocity = velocity.astype(np.float32)
    bad = ~np.isfinite(velocity[used])
    if bad.any():
        genes = adata.var_names[state_columns[bad.any(axis=0)]].tolist()
        raise ValueError(
            f"adata.layers[{velocity_key!r}] has {int(bad.sum())} NaN or infinite values among the cells and genes "
            f"used, in genes {genes[:10]}{' ...' if len(genes) > 10 else ''} (scVelo leaves NaN for genes it "
            "did not fit). Restrict regulators and targets to genes with velocity."
        )
    return velocity


def constant_genes(values: np.ndarray, cells: np.ndarray, *, block: int = 256) -> np.ndarray:
    """Boolean per column of ``values`` (cells x genes): constant over ``cells`` within :data:`CONSTANT_TOLERANCE`.

    Computed in float64, ``block`` genes at a time (so that large data need no float64 copy).
    """
    rows = np.flatnonzero(cells)
    flags = [np.zeros(0, dtype=bool)]
    for start in range(0, values.shape[1], block):
        chunk = values[np.ix_(rows, np.arange(start, min(start + block, values.shape[1])))].astype(np.float64)
        flags.append(chunk.std(axis=0) <= CONSTANT_TOLERANCE * np.maximum(1.0, np.abs(chunk.mean(axis=0))))
    return np.concatenate(flags)


def check_constant_genes(
    state_genes: list[str], input_index: np.ndarray, is_target: np.ndarray, constant: np.ndarray, n_cells: int
) -> None:
    """Raise when every state gene or every regulator is constant; otherwise warn, naming the constant ones.

    A constant regulator carries no information on the targets, so it gets no edges; a constant target has
    no dynamics to explain, so whatever edges it gets reflect noise.

    Raises
    ------
    ValueError
        If all state genes, or all regulators, are constant over the ``n_cells`` cells used.
    """
    rule = f"standard deviation at most {CONSTANT_TOLERANCE:g} x max(1, |mean|)"
    constant_names = [gene for gene, flat in zip(state_genes, constant, strict=True) if flat]
    if constant.all():
        raise ValueError(
            f"All {len(state_genes)} regulators and targets are constant over the {n_cells} cells used ({rule}): "
            "there are no dynamics to fit. Check layer= (the expression it reads) and the lineages' cells."
        )
    regulators = [state_genes[i] for i in input_index if constant[i]]
    if len(input_index) and len(regulators) == len(input_index):
        raise ValueError(
            f"All {len(input_index)} regulators are constant over the {n_cells} cells used ({rule}), e.g. "
            f"{regulators[:5]}: they cannot explain any target. Choose regulators that vary (regulators=), or "
            "check layer= and the lineages' cells."
        )
    if constant_names:
        targets = [gene for gene, flat, target in zip(state_genes, constant, is_target, strict=True) if flat and target]
        logger.warning(
            "%d gene(s) are constant over the %d cells used (%s): %s%s. The %d constant regulator(s) get no edges "
            "(their columns of the network are zero); the %d constant target(s) have no dynamics to explain, so "
            "edges into them are noise. Leave them out of regulators= and targets= to silence this.",
            len(constant_names),
            n_cells,
            rule,
            constant_names[:5],
            " ..." if len(constant_names) > 5 else "",
            len(regulators),
            len(targets),
        )


def check_bins(n_bins) -> None:
    """Raise for a number of bins that is not an integer of at least 2."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 2:
        raise ValueError(f"n_bins must be an integer of at least 2, got {n_bins!r}.")
