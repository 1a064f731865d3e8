"""The result of a fit: every ensemble member and what they were fitted on, saved and loaded whole."""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._utils import check_choice
from ._clamped import ClampedODE
from ._io import FORMAT_VERSION, build_model, model_payload, pathreg_version, read_model_file
from ._readout import READOUTS, normalize_targets, self_loop_mask, structural_support
from ._training import evaluation_mode
from ._trajectories import Trajectories

ENSEMBLE_FORMAT_VERSION = 2
"""Version of the files :meth:`Ensemble.save` writes; :func:`load` also reads single-model files
(:data:`FORMAT_VERSION`) as an ensemble of one."""

METADATA_FIELDS = (
    "state_genes",
    "regulators",
    "targets",
    "time_key",
    "time_offset",
    "time_span",
    "n_bins",
    "time_scale",
    "method",
)
"""What :func:`pathreg.tl.fit_dynamics` records in :attr:`Ensemble.metadata` (plus ``params``, its settings)."""


class Ensemble(nn.Module):
    """The models of one fit (one per seed) and what they were fitted on.

    Every tool downstream of a fit takes this object: predictions, networks and perturbations are
    means over all members, and :meth:`save` stores all of them with the metadata.

    Parameters
    ----------
    members
        Fitted models with the same state dimension (e.g. :class:`NeuralODE`).
    metadata
        Plain data (str, numbers, lists, dicts) describing the fit. :func:`pathreg.tl.fit_dynamics` records
        :data:`METADATA_FIELDS`: the state genes in model order, the regulators (inputs) and targets, the
        time column with its offset and span (model time = ``(t - time_offset) / time_span``), the bins per
        lineage, the time scale, the method, and ``params`` (all settings of the fit).

    Examples
    --------
    >>> import torch
    >>> from pathreg.models import Ensemble, MLPVectorField, NeuralODE
    >>> members = [NeuralODE(MLPVectorField(2, 2, hidden=(4,)), solver="rk4") for _ in range(3)]
    >>> ensemble = Ensemble(members, metadata={"state_genes": ["a", "b"]})
    >>> len(ensemble), ensemble.state_genes
    (3, ['a', 'b'])
    """

    def __init__(self, members: Sequence[nn.Module], metadata: Mapping | None = None) -> None:
        super().__init__()
        members = list(members)
        if not members:
            raise ValueError("An ensemble needs at least one fitted model.")
        for member in members:
            if not isinstance(member, nn.Module) or not hasattr(member, "vector_field"):
                raise TypeError(f"Ensemble members must be pathreg ODE models, got {type(member).__name__}.")
        if len({member.vector_field.n_outputs for member in members}) != 1:
            raise ValueError("All members of an ensemble must have the same state dimension.")
        self.members = nn.ModuleList(members)
        self.metadata = dict(metadata or {})

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[nn.Module]:
        return iter(self.members)

    def __getitem__(self, index: int) -> nn.Module:
        return self.members[index]

    def __repr__(self) -> str:
        genes = self.metadata.get("state_genes")
        described = f", {len(genes)} genes" if genes is not None else ""
        return f"Ensemble({len(self)} x {type(self.members[0]).__name__}{described})"

    @property
    def state_dim(self) -> int:
        """Dimension of the members' state."""
        return self.members[0].vector_field.n_outputs

    @property
    def state_genes(self) -> list[str]:
        """Names of the state variables in model order (empty when not recorded)."""
        return [str(name) for name in self.metadata.get("state_genes", [])]

    @property
    def regulators(self) -> list[str]:
        """Names of the inputs of the vector field (empty when not recorded)."""
        return [str(name) for name in self.metadata.get("regulators", [])]

    @property
    def targets(self) -> list[str]:
        """Names of the state variables whose regulation is read out (empty when not recorded)."""
        return [str(name) for name in self.metadata.get("targets", [])]

    @torch.no_grad()
    def predict(self, trajectories: Trajectories) -> torch.Tensor:
        """Mean over the members of their predictions from every trajectory's initial state (evaluation mode).

        Returns
        -------
        ``(n_trajectories, n_times, n_dims)``.
        """
        predictions = []
        for member in self.members:
            parameter = next(member.parameters())
            with evaluation_mode(member):
                predictions.append(member.predict(trajectories.to(parameter.device, parameter.dtype)))
        return torch.stack([prediction.to(predictions[0]) for prediction in predictions]).mean(0)

    @torch.no_grad()
    def simulate(
        self, x0: np.ndarray, times: np.ndarray, *, clamp: np.ndarray | None = None, values: np.ndarray | None = None
    ) -> np.ndarray:
        """Mean over the members of the solution from ``x0`` over ``times``, with variables clamped.

        Parameters
        ----------
        x0
            ``(state_dim,)`` initial state.
        times
            Increasing time points.
        clamp
            Boolean ``(state_dim,)``: variables held at ``values`` (see :class:`ClampedODE`); ``None``: none.
        values
            ``(state_dim,)`` values of the clamped variables.

        Returns
        -------
        ``(len(times), state_dim)`` float64.
        """
        clamp = np.zeros(self.state_dim, dtype=bool) if clamp is None else np.asarray(clamp, dtype=bool)
        values = np.zeros(self.state_dim) if values is None else np.asarray(values, dtype=np.float64)
        solutions = []
        for member in self.members:
            parameter = next(member.parameters())
            options = {"dtype": parameter.dtype, "device": parameter.device}
            clamped = ClampedODE(member, torch.as_tensor(clamp), torch.as_tensor(values, **options)).to(
                parameter.device
            )
            start = torch.as_tensor(x0, **options).reshape(1, -1)
            with evaluation_mode(member):
                solution = clamped(start, torch.as_tensor(times, **options))[:, 0]
            solutions.append(solution.cpu().numpy().astype(np.float64))
        return np.mean(solutions, axis=0)

    def signed_adjacency(
        self,
        states: np.ndarray,
        *,
        normalize: bool = False,
        rows: np.ndarray | None = None,
        readout: str = "jacobian",
        consensus: float = 0.0,
    ) -> np.ndarray:
        r"""The members' mean strength at ``states``, signed as their mean, kept where enough members agree.

        Entry ``[i, j]`` is :math:`\mathrm{sign}(\bar s_{ij})\, \overline{|s_{ij}|}`: the mean over the members
        of the strength's magnitude, with the sign of the members' mean signed strength. Members that read an
        edge with opposite signs then do not cancel it out: an edge each member finds strong ranks high even
        where the members disagree on its direction of action (summed median AUPRC over BEELINE's ten
        networks 5.90 against 5.83 for the plain signed mean, :doc:`/benchmarks`).

        Parameters
        ----------
        states
            ``(n_points, state_dim)`` states over which the strengths are averaged (e.g. the bin means).
        readout
            ``"jacobian"``: :func:`signed_strength` (mean absolute Jacobian); ``"ablation"``:
            :func:`ablation_strength` (change of production with the regulator held at its mean).
        normalize
            Scale each member's rows as :func:`normalize_targets` before averaging.
        rows
            Boolean ``(state_dim,)``: rows to read out (the targets); the others are zero. ``None``: all.
        consensus
            Fraction of the members that must have an edge (a path of non-zero gated weights, see
            :meth:`agreement`) for it to be kept; elsewhere the network is exactly zero. ``0.5`` is a majority
            vote, ``1.0`` keeps only the edges every member has, ``0.0`` every edge some member has. Members of
            an unpenalised method keep every edge, so this changes nothing for them.

        Returns
        -------
        ``(state_dim, n_inputs)`` float32, exactly zero where no member has a path or fewer than ``consensus``
        of them have one.

        Raises
        ------
        ValueError
            For an unknown ``readout`` or a ``consensus`` outside ``[0, 1]``.
        """
        check_choice(readout, READOUTS, "readout")
        check_consensus(consensus)
        strengths = []
        for member in self.members:
            with evaluation_mode(member):
                strength = READOUTS[readout](member, states)
            if rows is not None:
                strength[~np.asarray(rows, dtype=bool)] = 0.0
            if normalize:
                strength = normalize_targets(strength, self_loop_mask(member))
            strengths.append(strength)
        strengths = np.asarray(strengths, dtype=np.float64)
        mean = np.sign(strengths.mean(axis=0)) * np.abs(strengths).mean(axis=0)
        if consensus > 0:
            mean[self.agreement() < consensus] = 0.0
        return mean.astype(np.float32)

    def agreement(self) -> np.ndarray:
        """``(state_dim, n_inputs)`` float: the fraction of the members with a path of non-zero (gated) weights."""
        supports = []
        for member in self.members:
            with evaluation_mode(member):
                supports.append(structural_support(member))
        return np.mean(supports, axis=0)

    def support(self, consensus: float = 0.0) -> np.ndarray:
        """``(state_dim, n_inputs)`` boolean: where some member, and at least ``consensus`` of them, has a path."""
        check_consensus(consensus)
        agreement = self.agreement()
        return (agreement > 0) & (agreement >= consensus)

    def save(self, path: str | Path) -> None:
        """Save every member, with its configuration, and :attr:`metadata` in one file (see :func:`load`)."""
        payload = {
            "format_version": ENSEMBLE_FORMAT_VERSION,
            "pathreg_version": pathreg_version(),
            "kind": "ensemble",
            "members": [model_payload(member) for member in self.members],
            "metadata": self.metadata,
        }
        torch.save(payload, Path(path))


def check_consensus(consensus: float) -> None:
    """Raise a ``ValueError`` unless ``consensus`` is a number in ``[0, 1]``."""
    if isinstance(consensus, bool) or not isinstance(consensus, numbers.Real) or not 0 <= consensus <= 1:
        raise ValueError(
            f"consensus must be a fraction of the ensemble's members in [0, 1] (0.5: a majority), got {consensus!r}."
        )


def load(path: str | Path, *, map_location: str | torch.device = "cpu") -> Ensemble:
    """Load an :class:`Ensemble` saved with :meth:`Ensemble.save`.

    A single-model file (:func:`save_model`, format version :data:`FORMAT_VERSION`) loads as an ensemble of
    one member, with the metadata saved with it.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is not a pathreg model file, has a format version this pathreg does not read (the message
        names it), or its content does not match its configuration.

    Examples
    --------
    >>> import tempfile
    >>> from pathreg.models import Ensemble, MLPVectorField, NeuralODE, load
    >>> ensemble = Ensemble([NeuralODE(MLPVectorField(2, 2, hidden=(4,)))], metadata={"state_genes": ["a", "b"]})
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     ensemble.save(f"{directory}/fit.pt")
    ...     load(f"{directory}/fit.pt").state_genes
    ['a', 'b']
    """
    payload = read_model_file(path, map_location=map_location, versions=(FORMAT_VERSION, ENSEMBLE_FORMAT_VERSION))
    if payload["format_version"] == FORMAT_VERSION:
        return Ensemble([build_model(payload, path)], payload.get("metadata") or {})
    members = payload.get("members")
    if not isinstance(members, list) or not members:
        raise ValueError(f"{path} is an incomplete pathreg ensemble file: it has no members.")
    return Ensemble([build_model(member, path) for member in members], payload.get("metadata") or {})
