r"""Human motion capture: second-order neural ODEs on the 31 joints of CMU recordings.

Every method fits a second-order neural ODE (accelerations of the 93 joint coordinates from their
positions and velocities, a 186 -> 64 -> 93 tanh network with biases) to 100 frames of motion and is
scored on frames it did not see, as in the motion-capture experiment of the PathReg paper (Aliee et al.
2022): walking, golf and waving, 100 frames fitted and the next 100 extrapolated, and, for walking and
golf, trials the model never saw. The ODE is solved with rk4, one step per frame; training is the same for
all methods (:data:`TRAINING`), the penalty strengths are per method (:data:`METHOD_SETTINGS`).

**Movement protocols** (``--movement``; :func:`prepare_trials`, :func:`protocol_splits`, :func:`run_protocols`).
The recordings of a movement are the trials in its folder under ``--data`` (:data:`MOVEMENTS`: subject 7
walking, subject 64 golf, subject 141 waving; every ``*.amc`` with the folder's ``.asf``, or every
``*.bvh``), or the files given with ``--asf``/``--amc``/``--bvh``:

- joint positions by forward kinematics (:func:`pathreg.datasets.read_asf_amc`,
  :func:`pathreg.datasets.read_bvh`), every joint relative to the root (the pelvis): the global
  translation, which drifts across the room, is removed (the root's own coordinates become zero and are
  kept, so the dependency matrix stays joints x joints);
- frames (:func:`choose_frames`, one rule for all trials of a movement, never tuned per trial): each trial
  starts at its movement onset (:func:`movement_onset`: the first raw frame at which the mean speed of the
  root-relative joints, smoothed over 0.1 s, reaches :data:`ONSET_FRACTION` of its 90th percentile over the
  recording; 0 for a recording that moves from the start, such as a walk), moved earlier where the 200
  frames would not fit before the end. The subsampling step is the largest (at most :data:`MAX_STEP`) at
  which 200 subsampled frames fit after the onset of every trial of the movement. The shared recordings
  (120 fps, 299-493 frames) all get step 1: 120 frames per second, 200 frames = 1.67 s, the first 100 (0.83
  s) fitted; the walks and the wave start at frame 0, the golf trials 85-190 frames in, where the body
  leaves the still address pose;
- time: one model time unit is :data:`TIME_UNIT` = 0.1 s (one frame at step 1 is 1/12 unit): a walking
  cycle of about 1.1 s then has an angular frequency of about 0.6, so positions, velocities and
  accelerations are of order one;
- scaling (:func:`benchmarks.mocap_ode2vae.fit_scaling`, as in the ODE2VAE benchmark): subtract the
  per-coordinate mean of the training frames and divide all coordinates by one common scale, the root mean
  square of the centred training frames (all training trials together). One scale keeps the body's geometry
  and does not blow up near-constant coordinates: over the fitted frames of the shared trials the
  least-moving coordinates (joints next to the pelvis) spread 250 to 2,600 times less than the most-moving
  ones, and per-coordinate standardisation would give their wobble unit weight (predicting the training
  mean then scored 11-23 on the golf extrapolations, dominated by a few such coordinates; 1.6-2.0 with one
  scale). **MSEs are in these units**: predicting the training mean scores about 1 on the training frames;
- the model (:class:`benchmarks.mocap_ode2vae.ThreeFrameSecondOrderODE`, as in the ODE2VAE benchmark):
  conditioned on the first three frames of a trajectory, it starts at frame 1 from its position and the
  central-difference velocity ``(x2 - x0) / (2 dt)``, and predicts frames 3 onwards; the training
  trajectories are cut into :data:`WINDOWS` (:func:`benchmarks.mocap_ode2vae.training_windows`), each
  started from its own first three frames; with :data:`RESTORING` its accelerations include a learned
  spring and damper per coordinate toward the training mean (``SecondOrderNeuralODE(restoring=True)``);
- protocols (:func:`protocol_splits`): ``extrapolate`` fits the first 100 frames of a trial (the first
  trial in name order; ``--extrapolate all``: every trial, one by one) and predicts its frames 3..199 from
  frames 0..2; ``unseen_trial`` (movements with at least two trials) leaves one trial out: the model fits the
  first 100 frames of every other trial of the movement, as one batch, with the scaling of those training
  trials only, and predicts the held-out trial's frames 3..199 from its own frames 0..2;
- scores: ``fit_range_mse`` over frames 3..99 of the scored trial (for ``extrapolate`` the fitted frames
  themselves), ``extrapolation_mse`` over its frames 100..199, ``train_mse`` over frames 3..99 of the
  training trials;
- baselines in the same table (:func:`baseline_prediction`): ``train_mean`` (the training mean of every
  coordinate) and ``last_frame`` (the last observed frame held constant: frame 2 of the scored trial over
  frames 3..99, and from frame 100 on frame 99 for ``extrapolate``, frame 2 still for ``unseen_trial``,
  whose later frames are never observed).
- ensembles (:func:`ensemble_row`): a method's prediction for seed ``s`` is the mean of the predictions of
  ``--members`` (default :data:`MEMBERS`) models fitted independently, seeds ``members * s`` to
  ``members * s + members - 1`` (:func:`benchmarks.mocap_ode2vae.member_seeds`), as
  :meth:`pathreg.models.Ensemble.predict` averages the members of :func:`pathreg.tl.fit_dynamics`; the
  scores are the averaged prediction's, ``member_extrapolation_mse`` the members' mean extrapolation MSE;
  ``--members 1`` scores single models.

Run from the repository root::

    python -m benchmarks.mocap --movement walking golf waving --data /path/to/mocap --output mocap-results
    python -m benchmarks.mocap --movement golf --asf 64.asf --amc 64_01.amc 64_02.amc --protocols unseen_trial

The output folder receives ``mocap_movements.csv``, one row per movement, protocol, scored trial, method and
seed (columns :data:`PROTOCOL_COLUMNS`: ``movement``, ``protocol`` (``extrapolate`` or ``unseen_trial``),
``trial`` (the scored trial: extrapolated or held out), ``method`` (a method or a baseline), ``seed`` (empty
for the baselines), the three MSEs above, ``feature_sparsity`` (zero entries of the 93 x 186 dependency
matrix), ``weight_sparsity`` (zero weights of the vector field), ``joint_sparsity`` (zero entries of the
31 x 31 joint matrix, :func:`joint_dependencies`; the dependency matrix of an ensemble is its members'
mean absolute matrix, zero where every member pruned the entry; ``weight_sparsity`` the members' mean),
``seconds`` (of the members' fits together) and ``members``), and per movement
``mocap_MOVEMENT_trajectories.png`` and ``mocap_MOVEMENT_joint_dependencies.png`` (extrapolation of the
first trial, first seed, PathReg and Base). Standard output gets a markdown table of mean ± standard
deviation over scored trials and seeds per movement, protocol and method, and one of the MSEs per held-out
trial.

**Single recording** (no ``--movement``; :func:`prepare_segment`, :func:`run`): the benchmark as it was
before the movement protocols, kept unchanged so that its published numbers stay comparable. One
recording (``--asf``/``--amc``, ``--bvh``, or else CMU trial ``--subject``/``--trial``, default 01_01, from
the download cache of :func:`pathreg.datasets.cmu_mocap`, downloaded if missing); every ``--step``-th frame
(default 4: 30 fps) from raw frame ``--start`` (default 200): 200 frames, the first 100 fitted; times in
seconds; every coordinate standardised with its own mean and standard deviation over the training frames
(a standard deviation below ``1e-8`` counts as 1; predicting the training mean then scores about 1); the
ODE starts from the first frame's position with a velocity from a small learned network of it
(:func:`benchmarks.second_order.fit_second_order`). The output folder receives ``mocap.csv`` (one row per
method and seed, :data:`COLUMNS`), ``mocap_joint_dependencies.png`` and ``mocap_trajectories.png``.

The settings tables are read-only; :func:`run` and :func:`run_protocols` take modified copies of a
method's settings (``settings=``).
"""

from __future__ import annotations

import importlib

from benchmarks.mocap._settings import (
    ARCHITECTURE,
    BASELINES,
    COLUMNS,
    FIGURE_LABELS,
    FRAME_RATE,
    MAX_STEP,
    MEMBERS,
    METHOD_SETTINGS,
    MOVEMENTS,
    N_EXTRAPOLATION,
    N_TRAIN,
    ONSET_FRACTION,
    ONSET_SMOOTHING,
    PROTOCOL_COLUMNS,
    PROTOCOLS,
    RESTORING,
    SOLVER,
    START,
    STEP,
    TIME_UNIT,
    TRAINING,
    TRAJECTORY_JOINTS,
    WINDOWS,
)

# The functions and classes are imported from their modules on first use (``__getattr__``): importing the
# package imports its settings and nothing that needs benchmarks.mocap_ode2vae (imported by _trials and
# _protocol), which builds its own settings from METHOD_SETTINGS. The modules read the settings through the
# package when they run (``mocap.TRAINING``), so that a patch of ``benchmarks.mocap.TRAINING`` reaches them.
_LAZY = {
    "benchmarks.mocap._recordings": (
        "read_recording",
        "find_trials",
        "load_trials",
        "load_files",
        "load_motion",
        "frame_rate_of",
        "root_relative",
        "movement_onset",
        "choose_frames",
    ),
    "benchmarks.mocap._segment": (
        "MocapSegment",
        "prepare_segment",
        "run_one",
        "run",
        "summary_table",
        "mean_prediction_mse",
    ),
    "benchmarks.mocap._plots": ("joint_dependencies", "plot_joint_dependencies", "plot_trajectories"),
    "benchmarks.mocap._trials": (
        "TrialSet",
        "prepare_trials",
        "Split",
        "protocol_splits",
        "SplitData",
        "split_data",
        "segment_of",
    ),
    "benchmarks.mocap._protocol": (
        "split_scores",
        "baseline_prediction",
        "baseline_rows",
        "fit_split",
        "run_split",
        "ensemble_row",
        "run_protocols",
        "protocol_table",
        "trial_table",
        "describe",
    ),
    "benchmarks.mocap._cli": ("main",),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    # the settings
    "ARCHITECTURE",
    "BASELINES",
    "COLUMNS",
    "FIGURE_LABELS",
    "FRAME_RATE",
    "MAX_STEP",
    "MEMBERS",
    "METHOD_SETTINGS",
    "MOVEMENTS",
    "N_EXTRAPOLATION",
    "N_TRAIN",
    "ONSET_FRACTION",
    "ONSET_SMOOTHING",
    "PROTOCOL_COLUMNS",
    "PROTOCOLS",
    "RESTORING",
    "SOLVER",
    "START",
    "STEP",
    "TIME_UNIT",
    "TRAINING",
    "TRAJECTORY_JOINTS",
    "WINDOWS",
    # the functions and classes
    "read_recording",
    "find_trials",
    "load_trials",
    "load_files",
    "load_motion",
    "frame_rate_of",
    "root_relative",
    "movement_onset",
    "choose_frames",
    "MocapSegment",
    "prepare_segment",
    "run_one",
    "run",
    "summary_table",
    "mean_prediction_mse",
    "joint_dependencies",
    "plot_joint_dependencies",
    "plot_trajectories",
    "TrialSet",
    "prepare_trials",
    "Split",
    "protocol_splits",
    "SplitData",
    "split_data",
    "segment_of",
    "split_scores",
    "baseline_prediction",
    "baseline_rows",
    "fit_split",
    "run_split",
    "ensemble_row",
    "run_protocols",
    "protocol_table",
    "trial_table",
    "describe",
    "main",
]


def __getattr__(name: str):
    """A function or class of the benchmark, imported from its module on first use (see ``_LAZY``)."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, those not imported yet included."""
    return sorted({*globals(), *__all__})
