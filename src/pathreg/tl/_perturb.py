"""``tl.perturb``: in silico knockout and overexpression with a fitted model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from torch import nn

from pathreg.models import NeuralODE

from .._settings import logger
from ._inputs import close_matches, expression, lineage_table, resolve_modality, time_values, uns_record
from ._trajectories import bin_lineages

COLUMNS = ("gene", "lineage", "control_final", "perturbed_final", "delta_final", "delta_mean", "perturbed")
"""Columns of the table returned by :func:`perturb`."""


class ClampedODE(nn.Module):
    r"""A fitted :class:`~pathreg.models.NeuralODE` with some state variables held at fixed values.

    The right-hand side is the model's own, with the derivative of every clamped variable set to
    zero,

    .. math::
        \frac{dx_i}{dt} = \begin{cases} 0 & i \text{ clamped} \\ \mathrm{rhs}(x)_i & \text{otherwise,} \end{cases}
        \qquad x_i(t_0) = v_i \ \text{for clamped } i,

    so a clamped variable stays exactly at its value ``v_i`` and acts on the others through the model's
    regulation (a knockout with ``v_i = 0``, overexpression with a high value). The solve uses the model's
    own solver settings (method, tolerances, step size, gates frozen per solve).

    Parameters
    ----------
    model
        A fitted first-order model.
    mask
        Boolean ``(state_dim,)``: which variables are clamped.
    values
        ``(state_dim,)`` values of the clamped variables (other entries are ignored).

    Examples
    --------
    >>> import torch
    >>> from pathreg.models import MLPVectorField, NeuralODE
    >>> model = NeuralODE(MLPVectorField(2, 2, hidden=(4,)), solver="rk4")
    >>> clamped = ClampedODE(model, torch.tensor([True, False]), torch.tensor([0.0, 0.0]))
    >>> clamped(torch.ones(1, 2), torch.linspace(0, 1, 3))[:, 0, 0].tolist()
    [0.0, 0.0, 0.0]
    """

    def __init__(self, model: NeuralODE, mask: torch.Tensor, values: torch.Tensor) -> None:
        super().__init__()
        if not isinstance(model, NeuralODE):
            raise TypeError(f"Clamping needs a first-order pathreg.models.NeuralODE, got {type(model).__name__}.")
        mask = torch.as_tensor(mask, dtype=torch.bool).reshape(-1)
        values = torch.as_tensor(values).reshape(-1)
        if mask.numel() != model.state_dim or values.numel() != model.state_dim:
            raise ValueError(f"mask and values must have {model.state_dim} entries (the model's state dimension).")
        self.model = model
        self.register_buffer("mask", mask)
        self.register_buffer("values", values)

    def clamp(self, state: torch.Tensor) -> torch.Tensor:
        """``state`` with the clamped variables set to their values."""
        return torch.where(self.mask, self.values.to(state.dtype), state)

    def rhs(self, t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """The model's right-hand side with the derivatives of clamped variables set to zero."""
        rates = self.model.rhs(t, state)
        return torch.where(self.mask, torch.zeros_like(rates), rates)

    def forward(self, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Solve from ``x0`` (``(batch, state_dim)``; clamped entries replaced) over times ``t``.

        Returns
        -------
        ``(len(t), batch, state_dim)``, the clamped variables exactly at their values.
        """
        start = self.clamp(x0)
        solution = self.model._solve(self.rhs, start, t)
        skip = self.model._outer_skip(self.model._inputs(start))
        if skip is not None:  # LassoNet's outer skip adds a constant to the solution
            solution = solution + skip
        return self.clamp(solution)


def _models(model) -> list[NeuralODE]:
    if isinstance(model, nn.Module):
        members = list(getattr(model, "ensemble", None) or [model])
    else:
        members = list(model) if model is not None else []
    if not members:
        raise ValueError(
            "perturb needs the fitted model: pass model= the NeuralODE returned by pathreg.tl.fit_dynamics "
            "(or loaded with pathreg.models.load), or a list of such models to average."
        )
    for member in members:
        if not isinstance(member, NeuralODE):
            raise TypeError(f"model must be a pathreg.models.NeuralODE or a list of them, got {type(member).__name__}.")
    metadata = getattr(members[0], "metadata", None)
    if not metadata or "state_genes" not in metadata:
        raise ValueError("The model has no gene metadata; use a model returned by fit_dynamics or pathreg.models.load.")
    genes = list(metadata["state_genes"])
    for member in members[1:]:
        other = getattr(member, "metadata", None) or {}
        if list(other.get("state_genes", genes)) != genes or member.state_dim != len(genes):
            raise ValueError("All models of the ensemble must have the same state genes, in the same order.")
    return members


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


@torch.no_grad()
def _simulate(models: list[NeuralODE], x0: np.ndarray, times: np.ndarray, mask: np.ndarray, values: np.ndarray):
    """Ensemble mean of the clamped solutions from ``x0`` over ``times``, ``(len(times), n_state)``."""
    solutions = []
    for model in models:
        model.eval()
        parameter = next(model.parameters())
        options = {"dtype": parameter.dtype, "device": parameter.device}
        clamped = ClampedODE(model, torch.as_tensor(mask), torch.as_tensor(values, **options)).to(parameter.device)
        start = torch.as_tensor(x0, **options).reshape(1, -1)
        solutions.append(clamped(start, torch.as_tensor(times, **options))[:, 0].cpu().numpy().astype(np.float64))
    return np.mean(solutions, axis=0)


def _time_mean(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Time average of ``(n_times, n_genes)`` values over ``times`` (trapezoidal rule)."""
    steps = np.diff(times)[:, None]
    return (0.5 * (values[1:] + values[:-1]) * steps).sum(axis=0) / (times[-1] - times[0])


def perturb(
    adata,
    perturbations: Mapping[str, float],
    *,
    model: NeuralODE | Sequence[NeuralODE],
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
    there while it acts on its targets through the learned regulation (see ``pathreg.tl._perturb.ClampedODE``). A
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
        The fitted :class:`~pathreg.models.NeuralODE` returned by :func:`fit_dynamics` (or loaded with
        :func:`pathreg.models.load`), or a list of models whose trajectories are averaged (an ensemble).
        A model returned by :func:`fit_dynamics` carries its whole ensemble (``model.ensemble``), which is
        then averaged. The models are not stored in ``adata``, so they must be passed.
    key
        The ``key_added`` of the fit: its lineages, layer and time column (``adata.uns[key]["params"]``).
    lineage
        A lineage name or a list of them; default: all lineages of the fit.
    n_steps
        Number of equally spaced time points from the lineage's first to its last bin time (with a
        fixed-grid solver also the number of solver steps + 1); default: the bin times of the fit.
    key_added
        The table is stored in ``adata.uns[key_added]``; default ``f"{key}_perturbation"``.
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
    members = _models(model)
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
    metadata = members[0].metadata
    genes = [str(gene) for gene in metadata["state_genes"]]
    mask, values = _clamp(perturbations, genes, data.var_names)
    missing = [gene for gene in genes if gene not in data.var_names]
    if missing:
        raise ValueError(f"{len(missing)} of the model's {len(genes)} genes are not in var_names, e.g. {missing[:5]}.")
    if n_steps is not None and int(n_steps) < 2:
        raise ValueError(f"n_steps must be at least 2, got {n_steps}.")

    lineage_key = params.get("lineage_key", "none")
    lineages = lineage_table(data, None if lineage_key == "none" else lineage_key)
    if lineage is not None:
        wanted = [lineage] if isinstance(lineage, str) else [str(name) for name in lineage]
        available = [str(name) for name in lineages.columns]
        unknown = [name for name in wanted if name not in available]
        if unknown or not wanted:
            hints = "".join(close_matches(name, available) for name in unknown)
            raise ValueError(f"Unknown or no lineages {unknown or wanted}; the fit's lineages are {available}.{hints}")
        lineages = lineages[wanted]
    layer = params.get("layer", "X")
    time = time_values(data, params.get("time_key", metadata.get("time_key")))
    values_matrix = expression(data, None if layer == "X" else layer)[:, data.var_names.get_indexer(genes)]
    scaled = (time - metadata["time_offset"]) / metadata["time_span"]
    bins = bin_lineages(
        scaled,
        values_matrix,
        lineages,
        n_bins=int(params.get("n_bins", metadata.get("n_bins", 40))),
        time_scale=metadata.get("time_scale", params.get("time_scale", "pseudotime")),
    )

    logger.info("Perturbing %s in %d lineage(s) with %d model(s).", dict(perturbations), len(bins), len(members))
    no_clamp = np.zeros_like(mask)
    frames = []
    for lineage_bins in bins:
        times = lineage_bins.times.astype(np.float64)
        if n_steps is not None:
            times = np.linspace(times[0], times[-1], int(n_steps))
        x0 = lineage_bins.means[0]
        control = _simulate(members, x0, times, no_clamp, values)
        perturbed = control.copy() if not mask.any() else _simulate(members, x0, times, mask, values)
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
    data.uns[key_added or f"{key}_perturbation"] = {
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
            "n_models": len(members),
        },
    }
    return (table, data_copy) if copy else table
