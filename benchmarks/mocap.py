"""Human motion capture: second-order neural ODEs on the 31 joints of a CMU recording.

Every method fits a second-order neural ODE (accelerations of the 93 joint coordinates from their
positions and velocities, a 186 -> 64 -> 93 tanh network with biases) to 100 frames of a motion and
is then extrapolated over the next 100 frames, as in the motion-capture experiment of the PathReg
paper (Aliee et al. 2022). The ODE is solved with rk4, one step per frame; training is the same for
all methods (:data:`TRAINING`), the penalty strengths are per method (:data:`METHOD_SETTINGS`).

Data preparation (:func:`prepare_segment`):

- joint positions by forward kinematics (:func:`pathreg.datasets.read_asf_amc`), 31 joints x (x, y, z);
- every joint is taken relative to the root (pelvis): the global translation, which drifts across
  the room and cannot be extrapolated from the pose, is removed. The root's own three coordinates are
  then identically zero; they are kept (with unit scale) so that the system stays 93-dimensional and
  the dependency matrix 31 x 31 joints, and add zero to a fitted model's error once its root
  accelerations vanish;
- every ``step``-th frame from raw frame ``start`` (0-based): by default every 4th frame of the 120 fps
  recording (30 fps) from frame 200: 200 frames (6.7 s) of a repeated movement (the root advances
  in hops, the arms swing with every hop, about 1.3 s per cycle), the first 100 (3.3 s, about two and
  a half cycles) for training;
- times in seconds from the first frame;
- every coordinate standardised with the mean and standard deviation over the 100 training frames
  (a standard deviation below ``1e-8`` counts as 1). Mean squared errors are in these standardised
  units: predicting the training mean scores about 1.

Run from the repository root::

    python -m benchmarks.mocap --asf skeleton.asf --amc motion.amc --output mocap-results

Without ``--asf``/``--amc`` the CMU trial ``--subject``/``--trial`` (default 01_01) is read from the
download cache of :func:`pathreg.datasets.cmu_mocap`, and downloaded if missing. The output folder
receives ``mocap.csv`` (one row per method and seed, the columns of :data:`COLUMNS`),
``mocap_joint_dependencies.png`` (the joint x joint dependency matrices of PathReg and Base, first
seed) and ``mocap_trajectories.png`` (true and predicted trajectories of a few joints); a markdown
table of means and standard deviations is written to standard output. The settings tables are
read-only; :func:`run` takes modified copies of a method's settings (``settings=``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.second_order import fit_second_order, run_tasks
from benchmarks.settings import plain, read_only
from benchmarks.tables import mean_std_table
from pathreg.datasets import Motion, cmu_mocap, read_asf_amc
from pathreg.models import (
    EPS,
    METHODS,
    Trajectories,
    feature_sparsity,
    weight_sparsity,
)

COLUMNS = (
    "method",
    "seed",
    "train_mse",
    "extrapolation_mse",
    "feature_sparsity",
    "weight_sparsity",
    "joint_sparsity",
    "seconds",
)

FRAME_RATE = 120.0  # frames per second of the CMU recordings
START = 200
STEP = 4
N_TRAIN = 100
N_EXTRAPOLATION = 100

ARCHITECTURE = read_only({"hidden": (64,), "activation": "tanh", "bias": True})
# rk4 on the observation grid (one step per frame).
SOLVER = read_only({"solver": "rk4"})

# Training shared by all methods (the "sparse" regime: the penalty from the start): a time-horizon
# curriculum and the full window with Adam, then an L-BFGS refit of the selected structure (exact zeros
# kept, deterministic gates, no penalty; at most 10 epochs of 20 iterations, stopped once 3 epochs gain
# less than 0.1 %). Adam alone fits the full window poorly; L-BFGS stages are expensive, so there is one.
TRAINING = read_only(
    {
        "lr": 1e-2,
        "lr_schedule": "constant",
        "curriculum": (0.25, 0.5, 0.75),
        "curriculum_epochs": 150,
        "regime": "sparse",
        "n_epochs": 100,
        "refit_epochs": 10,
        "select": "last",
        "early_stopping": False,
        "min_delta": 1e-3,
    }
)

# Per-method regularizer settings, training and architecture overrides. The strengths were set with
# seed 0 so that every method prunes something without losing the fit entirely (C-NODE has no proximal
# step and never reaches exact zeros). LassoNet's and GroupLasso's proximal thresholds are
# ``lambda * lr`` divided by the number of inputs (LassoNet; its hierarchy M = 10 keeps an input while
# M times its first-layer weights are large) or of groups (GroupLasso, 93 x 186), against Adam steps of
# about ``lr`` per weight: hence their large lambdas.
METHOD_SETTINGS: Mapping[str, Mapping] = read_only(
    {
        "none": {"regularizer": {}, "training": {}},
        "l0": {"regularizer": {"lambda_": 2.0, "log_alpha_init": 4.0}, "training": {"gate_lr": 0.15}},
        "cnode": {"regularizer": {"lambda_": 0.3}, "training": {}},
        "pathreg": {
            "regularizer": {"lambda_": 3.0, "lambda_1": 0.01, "log_alpha_init": 4.0},
            "training": {"gate_lr": 0.15},
        },
        "lassonet_inner": {"regularizer": {"lambda_": 2e4}, "training": {}},
        "lassonet_outer": {"regularizer": {"lambda_": 2e4}, "training": {}},
        # one network per output: 8 hidden units each (93 x 8 in all) keeps an epoch affordable
        "grouplasso": {"regularizer": {"lambda_": 8e3}, "training": {}, "architecture": {"hidden": (8,)}},
    }
)

TRAJECTORY_JOINTS = ("lhand", "rhand", "lfoot", "head")


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


def joint_dependencies(adjacency: np.ndarray | torch.Tensor, n_joints: int) -> np.ndarray:
    """Aggregate a second-order dependency matrix to joints.

    Parameters
    ----------
    adjacency
        ``(3 n_joints, 6 n_joints)``: accelerations of the joint coordinates x ``[positions, velocities]``,
        coordinates ordered joint by joint (x, y, z).
    n_joints
        Number of joints.

    Returns
    -------
    ``(n_joints, n_joints)``: entry ``(i, j)`` is the largest ``|entry|`` over the three coordinates of
    joint ``i``'s acceleration and the three position and three velocity coordinates of joint ``j``.
    """
    values = np.abs(np.asarray(adjacency.detach().cpu() if isinstance(adjacency, torch.Tensor) else adjacency))
    if values.shape != (3 * n_joints, 6 * n_joints):
        raise ValueError(f"expected a ({3 * n_joints}, {6 * n_joints}) matrix, got {values.shape}.")
    blocks = values.reshape(n_joints, 3, 2, n_joints, 3)  # target joint, coord, [x | v], source joint, coord
    return blocks.max(axis=(1, 2, 4))


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
    settings = METHOD_SETTINGS[method] if settings is None else settings
    n_train = segment.n_train
    times = torch.as_tensor(segment.times, dtype=torch.float32)
    positions = torch.as_tensor(segment.positions, dtype=torch.float32)
    data = Trajectories.from_arrays([times[:n_train]], [positions[:n_train]])
    model, seconds = fit_second_order(
        method, settings, data, architecture=ARCHITECTURE, solver=SOLVER, training=TRAINING, seed=seed, device=device
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
    unknown = [m for m in methods if m not in METHOD_SETTINGS]
    if unknown:
        raise ValueError(f"Unknown methods {unknown}; valid names are {list(METHODS)}.")
    settings = settings or {}
    extra = [m for m in settings if m not in methods]
    if extra:
        raise ValueError(f"settings= names methods that do not run: {extra}; run {list(methods)}.")
    # plain dicts: the tasks go to worker processes, and read-only mappings cannot be pickled
    tasks = [(method, seed, segment, device, plain(settings.get(method))) for method in methods for seed in seeds]
    rows = run_tasks(run_one, tasks, jobs=jobs, device=device)
    fitted = {
        (row["method"], row["seed"]): {"adjacency": row["adjacency"], "prediction": row["prediction"]} for row in rows
    }
    return pd.DataFrame(rows, columns=list(COLUMNS)), fitted


def summary_table(results: pd.DataFrame) -> str:
    """Markdown table of mean ± standard deviation per method, in the order the methods ran."""
    metrics = [c for c in COLUMNS if c not in ("method", "seed")]

    def cell(metric: str, mean: float, std: float) -> str:
        return f"{mean:.3g} ± {std:.2g}" if metric.endswith("mse") else f"{mean:.3f} ± {std:.3f}"

    return mean_std_table(results, "method", metrics, cell)


def mean_prediction_mse(segment: MocapSegment) -> float:
    """Extrapolation MSE of predicting the training mean (zero in standardised units), for reference."""
    return float(np.mean(segment.positions[segment.n_train :] ** 2))


def _save_or_return(fig, path: str | os.PathLike | None):
    """Lay out ``fig``; save it to ``path`` and close it, or return it open when ``path`` is None."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


def plot_joint_dependencies(
    matrices: dict[str, np.ndarray], joint_names: Sequence[str], path: str | os.PathLike | None = None
):
    """Joint x joint dependency matrices as heatmaps side by side (rows: accelerated joint).

    Parameters
    ----------
    matrices
        Title to ``(n_joints, n_joints)`` matrix (e.g. from :func:`joint_dependencies`).
    joint_names
        Row and column labels.
    path
        PNG file to save the figure to (and close it); ``None``: return it open.

    Returns
    -------
    The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    n = len(joint_names)
    fig, axes = plt.subplots(1, len(matrices), figsize=(6.5 * len(matrices), 6.2), squeeze=False)
    for ax, (title, matrix) in zip(axes[0], matrices.items(), strict=True):
        shown = np.ma.masked_less(np.asarray(matrix, dtype=float), EPS)  # pruned dependencies stay white
        image = ax.imshow(shown, cmap="viridis", interpolation="nearest")
        ax.set_xticks(range(n), joint_names, rotation=90, fontsize=6)
        ax.set_yticks(range(n), joint_names, fontsize=6)
        ax.set_xlabel("joint (position or velocity)")
        ax.set_ylabel("accelerated joint")
        zero = float(np.mean(np.asarray(matrix) < EPS))
        ax.set_title(f"{title}: {zero:.0%} of joint pairs pruned", fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8, label="max |dependency|")
    return _save_or_return(fig, path)


def plot_trajectories(
    segment: MocapSegment,
    predictions: dict[str, np.ndarray],
    path: str | os.PathLike | None = None,
    joints: Sequence[str] = TRAJECTORY_JOINTS,
):
    """True and predicted trajectories of a few joints, a vertical line at the end of the training frames.

    For each joint the coordinate with the largest spread over the training frames is shown (standardised).

    Parameters
    ----------
    segment
        The data.
    predictions
        Label to ``(n_frames, 3 n_joints)`` predicted standardised positions.
    path
        PNG file to save the figure to (and close it); ``None``: return it open.
    joints
        Joint names (those not in the segment are skipped).

    Returns
    -------
    The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    joints = [j for j in joints if j in segment.joint_names]
    fig, axes = plt.subplots(len(joints), 1, figsize=(9, 2.2 * len(joints)), sharex=True, squeeze=False)
    split = segment.times[segment.n_train - 1]
    for ax, joint in zip(axes[:, 0], joints, strict=True):
        index = segment.joint_names.index(joint)
        coordinate = int(np.argmax(segment.scale[3 * index : 3 * index + 3]))
        column = 3 * index + coordinate
        ax.plot(segment.times, segment.positions[:, column], color="black", lw=1.5, label="true")
        for label, prediction in predictions.items():
            ax.plot(segment.times, prediction[:, column], lw=1, label=label)
        ax.axvline(split, color="grey", ls="--", lw=1)
        ax.set_ylabel(f"{joint} {'xyz'[coordinate]}")
        limit = 3 * max(1.0, float(np.abs(segment.positions[:, column]).max()))
        ax.set_ylim(-limit, limit)
    axes[0, 0].legend(fontsize=7, loc="upper left", ncols=len(predictions) + 1)
    axes[0, 0].set_title("standardised position; dashed line: end of the training frames", fontsize=9)
    axes[-1, 0].set_xlabel("time (s)")
    return _save_or_return(fig, path)


def load_motion(
    asf: str | os.PathLike | None = None,
    amc: str | os.PathLike | None = None,
    *,
    subject: int = 1,
    trial: int = 1,
) -> Motion:
    """The motion of ``asf`` and ``amc``, or else CMU trial ``subject``/``trial`` (cached or downloaded).

    Raises
    ------
    ValueError
        When only one of ``asf`` and ``amc`` is given.
    FileNotFoundError
        When a file is missing or the CMU trial can neither be found in the cache nor downloaded.
    """
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


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mocap", description=__doc__.split("\n")[0])
    parser.add_argument("--asf", default=None, help="Acclaim skeleton (.asf)")
    parser.add_argument("--amc", default=None, help="Acclaim motion (.amc)")
    parser.add_argument("--subject", type=int, default=1, help="CMU subject when --asf/--amc are not given")
    parser.add_argument("--trial", type=int, default=1, help="CMU trial when --asf/--amc are not given")
    parser.add_argument("--start", type=int, default=START, help=f"first raw frame, 0-based (default {START})")
    parser.add_argument("--step", type=int, default=STEP, help=f"use every step-th frame (default {STEP})")
    parser.add_argument("--methods", nargs="+", default=list(METHOD_SETTINGS), choices=list(METHOD_SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes on the CPU (default 2)")
    parser.add_argument("--output", default=None, help="folder for mocap.csv and the figures")
    args = parser.parse_args(argv)
    try:
        motion = load_motion(args.asf, args.amc, subject=args.subject, trial=args.trial)
        segment = prepare_segment(motion, start=args.start, step=args.step)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    results, fitted = run(args.methods, args.seeds, segment, device=args.device, jobs=args.jobs)
    if args.output:
        import matplotlib

        matplotlib.use("Agg")
        output = Path(args.output)
        output.mkdir(parents=True, exist_ok=True)
        results.to_csv(output / "mocap.csv", index=False)
        seed = args.seeds[0]
        labels = {"pathreg": "PathReg", "none": "Base"}
        shown = [m for m in ("pathreg", "none") if m in args.methods]
        if shown:
            matrices = {
                f"{labels[m]} (seed {seed})": joint_dependencies(fitted[(m, seed)]["adjacency"], segment.n_joints)
                for m in shown
            }
            plot_joint_dependencies(matrices, segment.joint_names, output / "mocap_joint_dependencies.png")
        predictions = {
            f"{labels.get(m, m)} (seed {seed})": fitted[(m, seed)]["prediction"] for m in (shown or args.methods[:1])
        }
        plot_trajectories(segment, predictions, output / "mocap_trajectories.png")
    sys.stdout.write(summary_table(results) + "\n")
    sys.stdout.write(
        f"\nMSE in standardised units; predicting the training mean gives extrapolation MSE "
        f"{mean_prediction_mse(segment):.3g}.\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
