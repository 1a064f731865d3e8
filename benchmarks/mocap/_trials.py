"""The trials of a movement, cut to the same frames, and the movement protocols' splits of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks import mocap
from benchmarks.mocap._recordings import choose_frames, frame_rate_of, root_relative
from benchmarks.mocap._segment import MocapSegment
from benchmarks.mocap._settings import MAX_STEP, N_EXTRAPOLATION, N_TRAIN, PROTOCOLS
from benchmarks.mocap_ode2vae import N_CONDITION, Scaling, fit_scaling
from pathreg.datasets import Motion


@dataclass(frozen=True)
class TrialSet:
    """The trials of one movement, cut to the same frames (root-relative positions, unscaled).

    Attributes
    ----------
    names
        Trial names, in order.
    positions
        ``(n_trials, n_frames, 3 n_joints)`` root-relative joint positions, in the recordings' units.
    frames
        ``(n_trials, n_frames)`` the recordings' frame numbers used.
    starts
        First raw frame (0-based) of every trial.
    step
        Subsampling step.
    frame_rate
        Raw frames per second.
    joint_names
        The joints, in column order.
    n_train
        The first ``n_train`` frames of a trial are the ones a model may fit.
    """

    names: tuple[str, ...]
    positions: np.ndarray
    frames: np.ndarray
    starts: tuple[int, ...]
    step: int
    frame_rate: float
    joint_names: list[str]
    n_train: int

    @property
    def times(self) -> np.ndarray:
        """``(n_frames,)`` seconds since the first frame."""
        return np.arange(self.positions.shape[1]) * self.step / self.frame_rate

    @property
    def n_joints(self) -> int:
        """Number of joints."""
        return len(self.joint_names)

    def index(self, trial: str) -> int:
        """Position of ``trial`` in :attr:`names`."""
        return self.names.index(trial)


def prepare_trials(
    motions: Mapping[str, Motion],
    *,
    n_train: int = N_TRAIN,
    n_extrapolation: int = N_EXTRAPOLATION,
    max_step: int = MAX_STEP,
    step: int | None = None,
) -> TrialSet:
    """Cut every trial of a movement with :func:`choose_frames` and take the joints relative to the root.

    Raises
    ------
    ValueError
        Without trials, when the trials' joints or frame rates differ, or when a trial is too short.
    """
    if not motions:
        raise ValueError("no trials.")
    if n_train <= N_CONDITION or n_extrapolation < 1:
        raise ValueError(f"need n_train > {N_CONDITION} and n_extrapolation >= 1.")
    first = next(iter(motions.values()))
    for name, motion in motions.items():
        if list(motion.joint_names) != list(first.joint_names):
            raise ValueError(f"trial {name} has other joints than the first trial.")
        if abs(frame_rate_of(motion) - frame_rate_of(first)) > 0.01 * frame_rate_of(first):
            raise ValueError(f"trial {name} has another frame rate than the first trial.")
    n_frames = n_train + n_extrapolation
    step, starts = choose_frames(motions, n_frames=n_frames, max_step=max_step, step=step)
    span = (n_frames - 1) * step + 1
    cuts = {name: slice(starts[name], starts[name] + span, step) for name in motions}
    return TrialSet(
        names=tuple(motions),
        positions=np.stack([root_relative(motion.positions[cuts[name]]) for name, motion in motions.items()]),
        frames=np.stack([np.asarray(motion.frames)[cuts[name]] for name, motion in motions.items()]),
        starts=tuple(starts[name] for name in motions),
        step=step,
        frame_rate=frame_rate_of(first),
        joint_names=list(first.joint_names),
        n_train=n_train,
    )


@dataclass(frozen=True)
class Split:
    """One scored case of a protocol: fit the first frames of ``train``, score ``trial``."""

    movement: str
    protocol: str
    trial: str
    train: tuple[str, ...]


def protocol_splits(
    trials: TrialSet, movement: str, protocols: Sequence[str] = PROTOCOLS, *, extrapolate: str = "first"
) -> list[Split]:
    """The splits of ``protocols`` on a movement's trials (see the module docstring).

    ``extrapolate``: ``"first"`` extrapolates the first trial only, ``"all"`` every trial. ``unseen_trial``
    holds out every trial in turn, training on all the others; it is skipped with fewer than two trials.
    """
    unknown = [p for p in protocols if p not in mocap.PROTOCOLS]
    if unknown or extrapolate not in ("first", "all"):
        raise ValueError(f"protocols must be among {list(mocap.PROTOCOLS)} and extrapolate 'first' or 'all'.")
    splits = []
    if "extrapolate" in protocols:
        for trial in trials.names if extrapolate == "all" else trials.names[:1]:
            splits.append(Split(movement, "extrapolate", trial, (trial,)))
    if "unseen_trial" in protocols and len(trials.names) >= 2:
        for trial in trials.names:
            splits.append(Split(movement, "unseen_trial", trial, tuple(t for t in trials.names if t != trial)))
    return splits


@dataclass(frozen=True)
class SplitData:
    """A split's data in the units of the fit.

    Attributes
    ----------
    train
        ``(n_train_trials, n_train, dim)`` the fitted frames of the training trials.
    test
        ``(n_frames, dim)`` all frames of the scored trial.
    scaling
        The map from the recordings' root-relative units: fitted on the training frames only.
    dt
        Time units per frame (:data:`TIME_UNIT`).
    n_joints
        Number of joints.
    """

    train: np.ndarray
    test: np.ndarray
    scaling: Scaling
    dt: float
    n_joints: int

    @property
    def n_train(self) -> int:
        """Frames fitted per training trial."""
        return self.train.shape[1]


def split_data(trials: TrialSet, split: Split) -> SplitData:
    """Scale ``split``'s trials with the statistics of its training frames only.

    Those are the first ``n_train`` frames of its training trials (:func:`benchmarks.mocap_ode2vae.fit_scaling`).
    """
    raw_train = trials.positions[[trials.index(t) for t in split.train], : trials.n_train]
    scaling = fit_scaling(raw_train)
    return SplitData(
        train=scaling.to_model(raw_train),
        test=scaling.to_model(trials.positions[trials.index(split.trial)]),
        scaling=scaling,
        dt=trials.step / trials.frame_rate / mocap.TIME_UNIT,
        n_joints=trials.n_joints,
    )


def segment_of(trials: TrialSet, data: SplitData, trial: str) -> MocapSegment:
    """The scored trial of a split as a :class:`MocapSegment` (for :func:`plot_trajectories`)."""
    return MocapSegment(
        times=trials.times,
        positions=data.test,
        mean=data.scaling.mean,
        scale=np.full(data.test.shape[1], data.scaling.scale),
        joint_names=trials.joint_names,
        n_train=data.n_train,
        frames=trials.frames[trials.index(trial)],
    )
