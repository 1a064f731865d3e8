"""The single-recording benchmark: one standardised stretch of a recording (see :mod:`benchmarks.mocap`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from benchmarks import mocap
from benchmarks.mocap._plots import joint_dependencies
from benchmarks.mocap._settings import FRAME_RATE, N_EXTRAPOLATION, N_TRAIN, START, STEP
from benchmarks.second_order import fit_second_order, run_tasks
from benchmarks.settings import check_methods, plain
from benchmarks.tables import mean_std_table
from pathreg.datasets import Motion
from pathreg.models import EPS, METHODS, Trajectories, feature_sparsity, weight_sparsity


@dataclass(frozen=True)
class MocapSegment:
    """A standardised stretch of a motion, split into training and extrapolation frames.

    Attributes
    ----------
    times
        ``(n_frames,)`` seconds since the first frame.
    positions
        ``(n_frames, 3 * n_joints)`` standardised root-relative joint positions.
    mean, scale
        ``(3 * n_joints,)`` the standardisation: ``positions = (raw - mean) / scale``.
    joint_names
        The joints, in column order (joint ``j`` in columns ``3 j : 3 j + 3``).
    n_train
        The first ``n_train`` frames are the training frames.
    frames
        ``(n_frames,)`` the AMC frame numbers used.
    """

    times: np.ndarray
    positions: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    joint_names: list[str]
    n_train: int
    frames: np.ndarray

    @property
    def n_joints(self) -> int:
        """Number of joints."""
        return len(self.joint_names)


def prepare_segment(
    motion: Motion,
    *,
    start: int = START,
    step: int = STEP,
    n_train: int = N_TRAIN,
    n_extrapolation: int = N_EXTRAPOLATION,
    frame_rate: float = FRAME_RATE,
    root_relative: bool = True,
) -> MocapSegment:
    """Cut, subsample, centre on the root and standardise a motion (see the module docstring).

    Parameters
    ----------
    motion
        From :func:`pathreg.datasets.read_asf_amc`; joint 0 must be the root.
    start
        Index (0-based) of the first raw frame used.
    step
        Use every ``step``-th frame.
    n_train, n_extrapolation
        Number of (subsampled) training and extrapolation frames.
    frame_rate
        Raw frames per second.
    root_relative
        Subtract the root position from every joint (the root's columns become zero).

    Returns
    -------
    The segment.

    Raises
    ------
    ValueError
        When the motion is too short for the requested frames.
    """
    if step < 1 or n_train < 2 or n_extrapolation < 0 or start < 0:
        raise ValueError("need step >= 1, n_train >= 2, n_extrapolation >= 0 and start >= 0.")
    n_frames = n_train + n_extrapolation
    last = start + (n_frames - 1) * step
    if last >= len(motion.positions):
        raise ValueError(
            f"the motion has {len(motion.positions)} frames; {n_frames} frames every {step} from {start} "
            f"need {last + 1}."
        )
    raw = np.asarray(motion.positions, dtype=np.float64)[start : last + 1 : step]
    if root_relative:
        joints = raw.reshape(n_frames, -1, 3)
        raw = (joints - joints[:, :1]).reshape(n_frames, -1)
    mean = raw[:n_train].mean(axis=0)
    scale = raw[:n_train].std(axis=0)
    scale[scale < 1e-8] = 1.0
    return MocapSegment(
        times=np.arange(n_frames) * step / frame_rate,
        positions=(raw - mean) / scale,
        mean=mean,
        scale=scale,
        joint_names=list(motion.joint_names),
        n_train=n_train,
        frames=np.asarray(motion.frames)[start : last + 1 : step],
    )


def run_one(
    method: str, seed: int, segment: MocapSegment, device: str = "cpu", settings: Mapping | None = None
) -> dict:
    """Fit one method with one seed on the training frames and score it.

    ``settings`` replaces the method's entry of :data:`METHOD_SETTINGS`; ``None``: that entry.

    Returns
    -------
    One row with the keys of :data:`COLUMNS`, plus ``adjacency`` (the fitted ``(3 J, 6 J)`` dependency
    matrix) and ``prediction`` (``(n_frames, 3 J)`` standardised positions predicted over all frames
    from the first one).
    """
    settings = mocap.METHOD_SETTINGS[method] if settings is None else settings
    n_train = segment.n_train
    times = torch.as_tensor(segment.times, dtype=torch.float32)
    positions = torch.as_tensor(segment.positions, dtype=torch.float32)
    data = Trajectories.from_arrays([times[:n_train]], [positions[:n_train]])
    model, seconds = fit_second_order(
        method,
        settings,
        data,
        architecture=mocap.ARCHITECTURE,
        solver=mocap.SOLVER,
        training=mocap.TRAINING,
        seed=seed,
        device=device,
    )
    with torch.no_grad():
        prediction = model(data.initial_state, times)[:, 0]
        adjacency = model.adjacency()
    errors = (prediction - positions) ** 2
    joints = joint_dependencies(adjacency, segment.n_joints)
    return {
        "method": method,
        "seed": seed,
        "train_mse": float(errors[:n_train].mean()),
        "extrapolation_mse": float(errors[n_train:].mean()) if len(errors) > n_train else float("nan"),
        "feature_sparsity": feature_sparsity(adjacency),
        "weight_sparsity": weight_sparsity(model),
        "joint_sparsity": float(np.mean(joints < EPS)),
        "seconds": seconds,
        "adjacency": adjacency.numpy(),
        "prediction": prediction.numpy(),
    }


def run(
    methods: Sequence[str],
    seeds: Sequence[int],
    segment: MocapSegment,
    *,
    device: str = "cpu",
    jobs: int = 1,
    settings: Mapping[str, Mapping] | None = None,
) -> tuple[pd.DataFrame, dict[tuple[str, int], dict[str, np.ndarray]]]:
    """Run every method with every seed; ``jobs`` single-threaded worker processes on the CPU.

    ``settings`` maps a method to the settings that replace its entry of :data:`METHOD_SETTINGS` (a
    modified copy, e.g. ``{**METHOD_SETTINGS["pathreg"], "regularizer": {...}}``); other methods keep theirs.

    Returns
    -------
    One row per method and seed (columns :data:`COLUMNS`), and by ``(method, seed)`` the fitted
    ``adjacency`` and the ``prediction`` (see :func:`run_one`).
    """
    check_methods(methods, settings, mocap.METHOD_SETTINGS, METHODS)
    settings = settings or {}
    # plain dicts: the tasks go to worker processes, and read-only mappings cannot be pickled
    tasks = [(method, seed, segment, device, plain(settings.get(method))) for method in methods for seed in seeds]
    rows = run_tasks(run_one, tasks, jobs=jobs, device=device)
    fitted = {
        (row["method"], row["seed"]): {"adjacency": row["adjacency"], "prediction": row["prediction"]} for row in rows
    }
    return pd.DataFrame(rows, columns=list(mocap.COLUMNS)), fitted


def summary_table(results: pd.DataFrame) -> str:
    """Markdown table of mean ± standard deviation per method, in the order the methods ran."""
    metrics = [c for c in mocap.COLUMNS if c not in ("method", "seed")]

    def cell(metric: str, mean: float, std: float) -> str:
        return f"{mean:.3g} ± {std:.2g}" if metric.endswith("mse") else f"{mean:.3f} ± {std:.3f}"

    return mean_std_table(results, "method", metrics, cell)


def mean_prediction_mse(segment: MocapSegment) -> float:
    """Extrapolation MSE of predicting the training mean (zero in standardised units), for reference."""
    return float(np.mean(segment.positions[segment.n_train :] ** 2))
