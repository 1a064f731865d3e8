"""``tl.fit_dynamics``: from an AnnData to a TF -> target network stored in it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Literal

import pandas as pd
import torch
from anndata import AnnData

from pathreg.models import CollocationSettings, Ensemble, ShootingSettings, resolve_device

from .._utils import GeneSpec, resolve_modality, writing_into
from ._ensemble_fit import fit_ensemble
from ._problem import DynamicsProblem
from ._settings import FitSettings
from ._write import check_prediction, write_fit


def fit_dynamics(
    adata,
    *,
    method: str = "pathreg",
    time_key: str = "dpt_pseudotime",
    lineage_key: str | None = None,
    regulators: GeneSpec = None,
    targets: GeneSpec = None,
    prior: str | pd.DataFrame | None = None,
    layer: str | None = None,
    mod: str | None = None,
    n_bins: int = 40,
    time_scale: Literal["rank", "pseudotime"] = "rank",
    objective: Literal["cells", "collocation", "shooting"] = "cells",
    velocity_key: str | None = None,
    n_seeds: int = 5,
    normalize: bool = True,
    readout: Literal["ablation", "jacobian"] = "ablation",
    consensus: float = 0.5,
    window: int | None = 2,
    hidden: Sequence[int] = (32,),
    activation: str | None = "tanh",
    decay: bool | float | None = None,
    lambda_: float | None = None,
    regularizer_options: Mapping | None = None,
    solver: str = "rk4",
    training: Mapping | CollocationSettings | ShootingSettings | None = None,
    key_added: str = "pathreg",
    prediction: bool = True,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    copy: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
) -> Ensemble | tuple[Ensemble, AnnData]:
    r"""Fit a sparse neural ODE to expression along (pseudo)time and store the inferred network.

    The dynamics of the state genes (regulators and targets) are

    .. math::
        \frac{dx}{dt} = f_\theta(x_{\mathrm{regulators}}) - e^{\delta} \odot x

    with :math:`f_\theta` a (gated) MLP trained with the chosen sparsity method and a first-order decay
    :math:`e^{\delta}` per gene (fixed at 3 for the default ``"cells"`` objective, learned otherwise; ``decay``).

    Trajectories: each lineage's cells are sorted by time and cut into ``n_bins`` bins of equal
    cell counts; bin means are the observations. With ``time_scale="rank"`` (default) a cell's model
    time is its rank along its lineage in ``[0, 1]`` (cells are assumed to be sampled at a steady
    rate along the process, so cell density measures time spent; DPT pseudotime measures change of
    expression instead, and makes a steady state and a fast transition look alike); with
    ``"pseudotime"`` it is the pseudotime scaled to ``[0, 1]`` over the cells used.

    Objective (one of :data:`OBJECTIVES`): ``"cells"`` (default, :class:`Cells`) fits the rates :math:`f_\theta -
    e^{\delta} x` to two sets of derivatives at once, each error relative to the variance of the production it asks
    for (:math:`\dot x + e^{\delta} x`): those of the bin means (second-order finite differences along each lineage:
    the order of the trajectory) and those of every single cell of every lineage (the covariation of cells that bin
    means average away), per gene relative to the gene's variance, on a random minibatch of cells per step. A cell's
    derivative is RNA velocity (``velocity_key``) or the slope of a least-squares line of expression against model
    time over its nearest neighbours in its lineage. A gene's own level is kept out of its production (only its
    decay sees it), so that near a steady state the fit regresses every gene on its regulators across cells.
    ``"collocation"`` uses the bin means only. Both are trained in three phases: a warm-up without penalty, the
    penalised phase (one gate sample per step), then a refit of the selected structure with exact zeros kept
    (``warmup_fraction``, ``refit_fraction`` of ``training``); neither needs an ODE solve. ``"shooting"`` integrates
    the ODE from every bin over the next ``window`` bins (multiple shooting; ``window=None``: whole lineages from
    their first bin) with :func:`pathreg.models.fit`. ``n_seeds`` models (seeds ``seed``, ``seed + 1``, ...) are
    fitted and their networks and predictions averaged, which stabilises the ranking of edges.

    Readout: for every model and regulator ``j``, the mean squared change of target ``i``'s production
    over the bin means when ``x_j`` is held at its mean (``readout="ablation"``, default,
    :func:`pathreg.models.ablation_strength`), or the mean absolute Jacobian
    :math:`|\partial f_i / \partial x_j|` (``readout="jacobian"``), with the sign of the mean Jacobian and
    exactly zero where no path of non-zero gated weights joins regulator ``j`` to target ``i``; with
    ``normalize=True`` each target's row is divided by the sum of its absolute strengths from the other
    regulators (so that targets with fast and slow dynamics compare, as GENIE3's per-target importances);
    then combined over the models as the mean magnitude with the sign of the mean and kept where at least
    ``consensus`` of the models have the edge.
    :doc:`/benchmarks` has the measurements behind these defaults.

    A call that raises leaves ``adata`` as it was (a view stays a view); results are written only at the end.

    Parameters
    ----------
    adata
        AnnData, or MuData with ``mod``. Expression should be normalised and log-transformed.
    method
        A sparsity method of :data:`pathreg.models.METHODS` (``"none"`` is the unpenalised Base).
    time_key
        Column of ``adata.obs`` with each cell's time (see :func:`pathreg.pp.pseudotime`).
    lineage_key
        Lineage membership: a cells x lineages table in ``adata.obsm`` (see :func:`pathreg.pp.lineages`; a
        DataFrame or an array of booleans, or of the numbers 0 and 1 with NaN = not a member; other values, such
        as fate probabilities, are a ``ValueError``) or a categorical ``adata.obs`` column. ``None``: all cells
        form one lineage.
    regulators, targets
        ``None`` (all genes), a boolean ``adata.var`` column name (e.g. ``"is_tf"``) or a list of gene names.
        Regulators that are constant over the cells used (standard deviation at most ``1e-6 x max(1, |mean|)``)
        are no inputs of the model: they get no edges (their adjacency columns are zero) and are not listed in
        ``adata.uns[key]["regulators"]``; the ``pathreg`` logger warns, naming them and the constant targets.
    prior
        Optional allowed edges, target x regulator: a key of ``adata.varp`` or a DataFrame indexed by targets
        with regulator columns. Entries are booleans or numbers: True or non-zero allows the edge; False, 0 and
        NaN (e.g. the missing entries of a table built with ``DataFrame.pivot``) mean no edge; other entries
        (strings) are a ``ValueError``. A DataFrame may leave genes out (they get no edges), but its row and
        column labels must be ``var_names``, each once (a ``ValueError`` lists the others, with close matches).
        Edges outside the prior are exactly absent.
    layer
        Expression layer; ``None`` uses ``adata.X``.
    mod
        Modality of a MuData.
    n_bins
        Bins per lineage (each lineage needs at least ``2 * n_bins`` cells).
    objective
        ``"collocation"``, ``"cells"`` or ``"shooting"`` (see above).
    velocity_key
        A layer of RNA velocity (scVelo's ``"velocity"``) used as the cells' derivatives by
        ``objective="cells"``, rescaled to the model's time by one factor. Prefer it when velocity was
        estimated well (spliced and unspliced counts of a process with transient dynamics); without it the
        derivatives come from the pseudotime order of neighbouring cells. Ignored by other objectives
        (a ``ValueError`` says so).
    n_seeds
        Number of models in the ensemble.
    time_scale
        ``"rank"``: model time of a cell = its rank along the lineage's pseudotime, in ``[0, 1]`` (cells
        assumed sampled at a constant rate, so that cell density measures time spent; bins equally spaced).
        ``"pseudotime"``: the scaled pseudotime itself (measures change of expression, not time).
    normalize
        Scale every target's row of the adjacency so that its absolute strengths from the other
        regulators sum to one (comparable across targets, as GENIE3's per-target importances).
    readout
        ``"jacobian"`` or ``"ablation"`` (see above).
    consensus
        Fraction of the ensemble's models that must keep an edge (a path of non-zero gated weights) for it to
        be in the network; the others are exactly zero. ``0.5`` (default) is a majority vote over the models,
        a stability selection over the seeds (:meth:`pathreg.models.Ensemble.agreement`); ``0`` keeps every
        edge some model has. It changes nothing for the unpenalised ``method="none"``.
    window
        Multiple-shooting window in bins, or ``None`` for whole lineages.
    hidden, activation
        Hidden layer widths and nonlinearity of :math:`f_\theta`.
    decay
        First-order decay of every gene: ``True`` learns one rate per gene, a positive number fixes the rate
        for all (per unit of model time: the lineage's span is 1 with ``time_scale="rank"``), ``False`` leaves
        it out. ``None``: the objective's default, 3.0 for ``"cells"`` (see :class:`Cells`) and learned for the
        others.
    lambda_
        Penalty strength. ``None``: the objective's default for the method (:attr:`Objective.default_lambdas`,
        relative to the production's variance: 10 for PathReg and 3 for L0 with ``"cells"``, 3 for both with
        ``"collocation"``), the regularizer's default otherwise.
    regularizer_options
        Further options of the method's regularizer (e.g. ``{"lambda_1": 0.01}`` for PathReg).
    solver
        A torchdiffeq solver name (fixed-grid solvers step on the bin grid).
    key_added
        Prefix of the keys written.
    prediction
        Write the per-cell prediction layer (``False``: only the network and the record; see below).
    device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or a :class:`torch.device`.
    seed
        Seeds the initialisation and the gate samples.
    progress
        Show a progress bar.
    copy
        Work on and return a copy instead of modifying ``adata``.
    checkpoint_dir
        Save every ensemble member into this folder as soon as it is fitted (the model file, its training
        history and a fingerprint of the fit), so that an interrupted or crashed fit loses at most one member.
    resume
        Load the members already saved in ``checkpoint_dir`` by an earlier run of the same fit (same data,
        genes and settings; checked) and fit only the others. Each member is fitted from its own seed, so
        the result equals that of an uninterrupted run.
    training
        Training settings of the objective: a dict of options over its defaults (:attr:`Objective.defaults`;
        e.g. ``{"n_epochs": 500}``), or a :class:`~pathreg.models.CollocationSettings` /
        :class:`~pathreg.models.ShootingSettings`. Collocation: ``n_epochs``, ``lr``, ``gate_lr``,
        ``weight_decay``, ``warmup_fraction``, ``refit_fraction``; shooting: the options of
        :func:`pathreg.models.fit` (e.g. ``n_epochs``, ``lr``, ``regime``).

    Returns
    -------
    The fitted :class:`~pathreg.models.Ensemble` of all ``n_seeds`` members (in evaluation mode, on the CPU;
    genes, time scaling and settings in ``ensemble.metadata``), or ``(ensemble, adata_copy)`` with
    ``copy=True``. :func:`predict`, :func:`perturb` and ``ensemble.save(path)`` take it. Writes, with
    ``key = key_added``:

    ``adata.varp[key + "_adjacency"]``
        float32 ``n_vars x n_vars``; entry ``[i, j]`` is the signed strength of regulator ``j``'s effect on
        target ``i`` (the readout above), exactly zero where ``j`` is not a regulator, ``i`` not a target,
        or every path from ``j`` to ``i`` is pruned in every model. Rows are targets, columns regulators. With
        more than 4,096 genes a scipy CSR matrix of the same entries (a dense one would take 1.6 GB at 20,000
        genes); :func:`grn` reads either.
    ``adata.layers[key + "_prediction"]``
        float32 ``n_obs x n_vars``: each lineage integrated from its first bin (ensemble mean) and
        interpolated at every cell's time (a cell in several lineages gets the mean over them); NaN for
        cells in no lineage and for genes outside regulators and targets. Not written with
        ``prediction=False`` (dense, it is the largest thing a fit writes: 4 GB in memory and in the h5ad for
        20,000 genes x 50,000 cells); :func:`predict` computes it later from the ensemble.
    ``adata.uns[key]``
        ``params`` (settings), ``history`` (per-epoch ``loss``, ``fit_loss``, ``penalty``,
        ``feature_sparsity``), ``metrics`` (``lineage_mse`` per lineage, ``feature_sparsity`` and
        ``weight_sparsity``), ``regulators``, ``targets``, ``lineages`` (names and cell counts).

    Raises
    ------
    ValueError
        For invalid inputs, before anything is fitted and with ``adata`` unchanged: unknown names (the
        valid ones listed), missing keys (with close matches and the function that creates them), NaN or
        infinite values among the cells and genes used, duplicated ``var_names``, no overlap of
        ``regulators`` with ``var_names``, too few cells or a constant time in a lineage, a prior or lineage
        table of invalid values or labels, all regulators (or all genes) constant. See :doc:`/troubleshooting`.
    TypeError
        For a ``prediction`` that is not a bool, before anything is fitted.
    RuntimeError
        For ``device="cuda"`` when no CUDA device is visible.
    FloatingPointError
        When the training diverges (lower ``lr``); nothing is written.
    KeyboardInterrupt
        When interrupted before any ensemble member has finished an epoch; nothing is written. Interrupted
        later, the members fitted so far are kept and written, with ``params["interrupted"] = True``.

    Warns
    -----
    UserWarning
        When the expression looks like raw counts (normalise and log-transform it first).

    Examples
    --------
    >>> import pathreg
    >>> adata = pathreg.datasets.krumsiek11()
    >>> pathreg.pp.pseudotime(adata, root_key="cell_type", root="progenitor")  # doctest: +SKIP
    >>> ensemble = pathreg.tl.fit_dynamics(adata, training={"n_epochs": 50}, progress=False)  # doctest: +SKIP
    >>> ensemble.save("krumsiek11.pt")  # doctest: +SKIP
    """
    check_prediction(prediction)  # before anything is fitted
    settings = FitSettings(
        method=method,
        objective=objective,
        n_seeds=n_seeds,
        hidden=hidden,
        activation=activation,
        decay=decay,
        solver=solver,
        lambda_=lambda_,
        regularizer_options=regularizer_options or {},
        training=training,
        window=window,
        normalize=normalize,
        readout=readout,
        consensus=consensus,
        seed=seed,
    )
    torch_device = resolve_device(device)
    resolve_modality(adata, mod)  # a missing modality fails before any copy
    target_object = data_copy = adata.copy() if copy else adata
    data = resolve_modality(target_object, mod)
    problem = DynamicsProblem.from_anndata(
        data,
        time_key=time_key,
        lineage_key=lineage_key,
        regulators=regulators,
        targets=targets,
        prior=prior,
        layer=layer,
        n_bins=n_bins,
        time_scale=time_scale,
        velocity_key=velocity_key,
    )
    result = fit_ensemble(
        problem, settings, device=torch_device, progress=progress, checkpoint_dir=checkpoint_dir, resume=resume
    )
    with writing_into(data):  # a view becomes actual only now (no ImplicitModificationWarning), a view again on failure
        write_fit(data, result, key_added=key_added, prediction=prediction)
    return (result.ensemble, data_copy) if copy else result.ensemble
