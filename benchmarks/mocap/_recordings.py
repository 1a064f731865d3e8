"""Reading the recordings of the motion-capture benchmark, and where the movement protocols cut them."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from benchmarks import mocap
from benchmarks.mocap._settings import MAX_STEP, N_EXTRAPOLATION, N_TRAIN, ONSET_FRACTION, ONSET_SMOOTHING
from pathreg.datasets import Motion, cmu_mocap, read_asf_amc, read_bvh


def read_recording(path: str | os.PathLike, asf: str | os.PathLike | None = None) -> Motion:
    """A ``.bvh`` file, or an ``.amc`` motion of the skeleton ``asf``.

    Raises
    ------
    FileNotFoundError
        When a file is missing.
    ValueError
        For an ``.amc`` without ``asf``, or another suffix.
    """
    path = Path(path)
    for file in (path, asf):
        if file is not None and not Path(file).is_file():
            raise FileNotFoundError(f"no such file: {file}")
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        return read_bvh(path)
    if suffix == ".amc":
        if asf is None:
            raise ValueError(f"{path}: an AMC motion needs its ASF skeleton (--asf).")
        return read_asf_amc(asf, path)
    raise ValueError(f"{path}: expected a .amc or .bvh file.")


def _skeleton_for(trial: Path, skeletons: Sequence[Path]) -> Path:
    """The ASF of ``trial``: the folder's only one, or the one named as the trial's subject (``07`` of ``07_01``)."""
    if len(skeletons) == 1:
        return skeletons[0]
    subject = trial.stem.split("_")[0]
    named = [asf for asf in skeletons if asf.stem == subject]
    if len(named) != 1:
        raise ValueError(f"{trial}: cannot tell its skeleton among {[asf.name for asf in skeletons]}.")
    return named[0]


def find_trials(folder: str | os.PathLike) -> dict[str, Path]:
    """The recordings of a movement folder by trial name (file stem), in name order.

    Every ``*.amc`` file (with the folder's ``.asf``: the only one, or the one named as the trial's
    subject) and every ``*.bvh`` file.

    Raises
    ------
    FileNotFoundError
        When the folder is missing or holds no recording.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    trials = {path.stem: path for path in sorted([*folder.glob("*.amc"), *folder.glob("*.bvh")])}
    if not trials:
        raise FileNotFoundError(f"{folder}: no .amc or .bvh recordings.")
    return dict(sorted(trials.items()))


def load_trials(folder: str | os.PathLike) -> dict[str, Motion]:
    """Read every recording of a movement folder (:func:`find_trials`), by trial name."""
    skeletons = sorted(Path(folder).glob("*.asf"))
    motions = {}
    for name, path in find_trials(folder).items():
        if path.suffix.lower() == ".amc" and not skeletons:
            raise FileNotFoundError(f"{folder}: AMC motions but no .asf skeleton.")
        asf = _skeleton_for(path, skeletons) if path.suffix.lower() == ".amc" else None
        motions[name] = read_recording(path, asf)
    return motions


def load_files(
    asf: str | os.PathLike | None, amc: Sequence[str | os.PathLike] = (), bvh: Sequence[str | os.PathLike] = ()
) -> dict[str, Motion]:
    """Read the given recordings (AMC motions of the skeleton ``asf``, BVH files), by file stem.

    Raises
    ------
    ValueError
        When AMC motions come without a skeleton, or two files have the same stem.
    """
    if amc and asf is None:
        raise ValueError("AMC motions need their ASF skeleton (--asf).")
    paths = [*map(Path, amc), *map(Path, bvh)]
    names = [path.stem for path in paths]
    if len(set(names)) != len(names):
        raise ValueError(f"two recordings with the same name among {names}.")
    return {path.stem: read_recording(path, asf if path.suffix.lower() == ".amc" else None) for path in paths}


def load_motion(
    asf: str | os.PathLike | None = None,
    amc: str | os.PathLike | None = None,
    *,
    subject: int = 1,
    trial: int = 1,
    bvh: str | os.PathLike | None = None,
) -> Motion:
    """The motion of ``bvh``, or of ``asf`` and ``amc``, or else CMU trial ``subject``/``trial`` (cached or downloaded).

    Raises
    ------
    ValueError
        When only one of ``asf`` and ``amc`` is given, or ``bvh`` with ``amc``.
    FileNotFoundError
        When a file is missing or the CMU trial can neither be found in the cache nor downloaded.
    """
    if bvh is not None:
        if amc is not None:
            raise ValueError("pass a BVH file or an ASF skeleton and AMC motion, not both.")
        return read_recording(bvh)
    if (asf is None) != (amc is None):
        raise ValueError("pass both an ASF skeleton and an AMC motion, or neither.")
    if asf is not None:
        for path in (asf, amc):
            if not Path(path).is_file():
                raise FileNotFoundError(f"no such file: {path}")
        return read_asf_amc(asf, amc)
    try:
        return cmu_mocap(subject, trial)
    except OSError as error:
        raise FileNotFoundError(
            f"no motion capture data: CMU trial {subject:02d}_{trial:02d} is not in the cache and could not be "
            f"downloaded ({error}). Pass --asf and --amc (an Acclaim skeleton and motion, e.g. from "
            "mocap.cs.cmu.edu)."
        ) from error


def frame_rate_of(motion: Motion) -> float:
    """Frames per second: the BVH file's, else :data:`FRAME_RATE`."""
    return float(motion.frame_rate) if motion.frame_rate else mocap.FRAME_RATE


def root_relative(positions: np.ndarray) -> np.ndarray:
    """``(n_frames, 3 n_joints)`` joint positions minus the root's (joint 0) in every frame."""
    joints = np.asarray(positions, dtype=np.float64).reshape(len(positions), -1, 3)
    return (joints - joints[:, :1]).reshape(len(positions), -1)


def movement_onset(motion: Motion, *, fraction: float = ONSET_FRACTION, smoothing: float = ONSET_SMOOTHING) -> int:
    """First raw frame (0-based) at which the recording's movement is under way.

    The mean speed of the root-relative joints, a moving average over ``smoothing`` seconds, first reaches
    ``fraction`` of its 90th percentile over the recording. 0 for a recording that moves from its start
    (walking) or does not move at all.
    """
    relative = root_relative(motion.positions).reshape(len(motion.positions), -1, 3)
    if len(relative) < 2:
        return 0
    speed = np.linalg.norm(np.diff(relative, axis=0), axis=2).mean(axis=1)
    width = max(1, round(smoothing * frame_rate_of(motion)))
    smoothed = np.convolve(speed, np.ones(width) / width, mode="same")
    typical = np.percentile(smoothed, 90)
    if typical <= 1e-9 * max(1.0, float(np.abs(relative).max())):  # no movement beyond rounding
        return 0
    return int(np.argmax(smoothed >= fraction * typical))


def choose_frames(
    motions: Mapping[str, Motion],
    *,
    n_frames: int = N_TRAIN + N_EXTRAPOLATION,
    max_step: int = MAX_STEP,
    step: int | None = None,
) -> tuple[int, dict[str, int]]:
    """The subsampling step and every trial's first raw frame: the rule of the module docstring.

    Parameters
    ----------
    motions
        The trials of one movement, by name.
    n_frames
        Subsampled frames per trial.
    max_step
        Largest step.
    step
        A fixed step instead of the rule's.

    Returns
    -------
    The step (the largest, at most ``max_step``, at which ``n_frames`` frames fit after every trial's
    :func:`movement_onset`; at least 1), and by trial the 0-based raw frame it starts at (its onset, or
    earlier where the frames would run past its end).

    Raises
    ------
    ValueError
        When a trial is shorter than ``n_frames`` frames at that step.
    """
    if n_frames < 2 or max_step < 1 or (step is not None and step < 1):
        raise ValueError("need n_frames >= 2, max_step >= 1 and step >= 1.")
    onsets = {name: movement_onset(motion) for name, motion in motions.items()}
    if step is None:
        fits = [(len(motion.positions) - onsets[name] - 1) // (n_frames - 1) for name, motion in motions.items()]
        step = max(1, min(max_step, *fits)) if fits else 1
    span = (n_frames - 1) * step + 1
    starts = {}
    for name, motion in motions.items():
        if len(motion.positions) < span:
            raise ValueError(
                f"trial {name} has {len(motion.positions)} frames; {n_frames} frames every {step} need {span}."
            )
        starts[name] = min(onsets[name], len(motion.positions) - span)
    return step, starts
