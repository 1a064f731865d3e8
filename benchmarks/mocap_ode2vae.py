r"""Motion capture, ODE2VAE protocol: second-order neural ODEs on the CMU subject-35 walks of ODE2VAE.

The data are the preprocessed walking sequences that ODE2VAE (Yildiz, Heinonen and Lähdesmäki, NeurIPS
2019) distributes as a MATLAB file (``mocap35.mat``; read with :func:`pathreg.datasets.read_ode2vae_mat`):
``Xtr`` (16 sequences), ``Xval`` (3) and, where the file holds it, ``Xtest``, each sequences x 300 frames x
50 joint-angle channels, centred over the data. The protocol:

- train on the ``Xtr`` sequences; select on ``Xval`` (here: the checkpoint, see below);
- condition on the first :data:`N_CONDITION` = 3 frames of a sequence: the ODE starts at frame 1 from its
  position :math:`x_1` and the central-difference velocity :math:`v_1 = (x_2 - x_0) / (2\,\Delta t)`
  (:func:`initial_state`; exact for quadratic trajectories). The one-sided estimate at frame 0,
  :math:`(-3 x_0 + 4 x_1 - x_2) / (2\,\Delta t)`, is exact for quadratics too, but has 13 times the noise
  variance, and the frames are noisy: its error (rms 0.54 per frame, against a Savitzky-Golay velocity over
  15 frames) exceeds the velocities themselves (rms 0.44), where the central difference's is 0.22; a
  velocity error is integrated over all 297 predicted frames;
- predict frames 3..299 by integrating the fitted second-order ODE (frames 2..299 from frame 1; frame 2 is
  not scored); pathreg models the 50 observed channels directly: accelerations from positions and velocities;
- score: the mean squared error per frame and channel, in the file's own units, over the predicted frames
  3..299, averaged over the sequences (:func:`score`); for ``validation`` (``Xval``) and, when the file holds
  it, ``test`` (``Xtest``).

Published test MSEs on this data, for context (ODE2VAE paper and the Latent SDE paper of Li et al. 2020):
predicting zeros 33.67, NeuralODE 22.49, npODE 22.96, ODE2VAE 10.06, ODE2VAE-KL 8.09, Latent ODE 5.98,
Latent SDE 4.03. The latent models encode the first frames into a learned latent state; pathreg's ODE
lives on the observed channels.

Modelling choices (none tuned on ``Xval``):

- units: all channels are divided by one common scale, the root mean square of the centred training
  data (:func:`fit_scaling`; about 5.8), after subtracting the training mean per channel (about zero).
  One scale for all channels keeps the training loss proportional to the score, which is dominated by
  the large-amplitude channels (per-channel standard deviations range from 0 to 18; per-channel
  standardisation would give the noise of near-constant channels the weight of the large ones).
  Predictions are mapped back to file units before scoring;
- time: one frame is :data:`FRAME_DT` = 0.05 time units. The gait cycle spans about 135 frames (from the
  autocorrelation of the training channels), i.e. about 6.8 time units, an angular frequency of about
  0.9: positions, velocities and accelerations are then all of order one in the scaled units;
- solver: rk4, one step per frame;
- fitting: one 300-frame shot from one initial state is hard to fit, and :func:`pathreg.models.fit` has
  no multiple-shooting windows with data-given initial states. The benchmark therefore cuts every
  training sequence into windows of :data:`WINDOWS` ``["length"]`` frames every ``["stride"]`` frames
  (:func:`training_windows`), each started from its own first frame and the same three-frame velocity
  estimate as at test time (frames 0..2 of the window; the ODE starts at its frame 1), and fits all
  windows as one batch, with the time-horizon curriculum of :func:`~pathreg.models.fit` inside the windows
  (:data:`TRAINING`). :class:`ThreeFrameSecondOrderODE` lets the engine's
  :class:`~pathreg.models.SecondOrderNeuralODE` start from three frames (``initial_state``) instead of
  one position;
- selection: every :data:`VALIDATE_EVERY` epochs of the full-window stages (after the curriculum) the 297
  predicted frames of the ``Xval`` sequences are scored, and the checkpoint of the lowest validation MSE
  is kept (the validation MSE reported is therefore optimistic; ``test`` is the held-out number).
- ensemble: a method's prediction for seed ``s`` is the mean of the predictions of :data:`MEMBERS` models
  fitted independently (seeds :func:`member_seeds`, each with its own checkpoint selection), as
  :meth:`pathreg.models.Ensemble.predict` averages the members of :func:`pathreg.tl.fit_dynamics`. Over
  297 frames the members' forecasts drift apart, and their mean has a lower error than any one of them on
  average (``member_mse`` in the CSV is the members' mean score). ``--members 1`` scores single models.

Baselines in the same table (:func:`baseline_prediction`): ``zeros`` (the channels are centred: predict the
mean), ``train_mean`` (the training mean of every channel) and ``last_frame`` (the last conditioned frame,
frame 2, held constant).

Run from the repository root::

    python -m benchmarks.mocap_ode2vae --mat mocap35.mat --output mocap_ode2vae.csv

The CSV has one row per method, seed and split, columns :data:`COLUMNS` (the baselines with an empty seed
and no ``member_mse``);
a markdown table of the mean ± standard deviation over seeds is written to standard output. The settings
tables are read-only; :func:`run` takes modified copies of a method's settings (``settings=``).
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from benchmarks import mocap
from benchmarks.second_order import build_second_order, run_tasks
from benchmarks.settings import check_methods, plain, read_only
from benchmarks.tables import mean_std_table, report
from pathreg.datasets import read_ode2vae_mat
from pathreg.models import (
    METHODS,
    SecondOrderNeuralODE,
    ShootingSettings,
    Trajectories,
    evaluation_mode,
    feature_sparsity,
    fit,
)

COLUMNS = (
    "method",
    "seed",
    "split",
    "mse",
    "member_mse",
    "train_mse",
    "feature_sparsity",
    "seconds",
    "selected_epoch",
    "members",
)
SPLITS = {"validation": "Xval", "test": "Xtest"}
"""Scored splits: name in the CSV to variable of the ``.mat`` file."""
BASELINES = ("zeros", "train_mean", "last_frame")
PUBLISHED_TEST_MSE = read_only(
    {
        "zeros": 33.67,
        "NeuralODE": 22.49,
        "npODE": 22.96,
        "ODE2VAE": 10.06,
        "ODE2VAE-KL": 8.09,
        "Latent ODE": 5.98,
        "Latent SDE": 4.03,
    }
)

N_CONDITION = 3
"""Frames conditioned on (0, 1, 2); frames from this one on are predicted and scored."""
FRAME_DT = 0.05
"""Time units per frame (see the module docstring)."""
VALIDATE_EVERY = 10
"""Epochs between two scorings of the validation sequences during the full-window stages."""
MEMBERS = 5
"""Models per method and seed whose predictions are averaged (the ensemble's forecast, as
:meth:`pathreg.models.Ensemble.predict`; five, as the members of :func:`pathreg.tl.fit_dynamics`)."""

WINDOWS = read_only({"length": 200, "stride": 25})
ENCODER = False
"""Learn a linear correction of the initial state from the three frames (:class:`ThreeFrameSecondOrderODE`).

Off: it did not lower the validation MSE of a first fit (28.3 against 27.1, 100-frame windows)."""
ARCHITECTURE = read_only({"hidden": (128,), "activation": "tanh", "bias": True})
SOLVER = read_only({"solver": "rk4"})
# Shared by all methods: the sparse regime (the penalty from the start) with a horizon curriculum inside
# the windows (50, then 100 of the 200 frames), then the full windows, then an Adam refit of the selected
# structure (exact zeros kept, deterministic gates, no penalty); Adam throughout (L-BFGS epochs over
# hundreds of windows are too expensive here). A constant learning rate: a "cosine" schedule restarts in every
# stage from the rate the previous one ended at, zero, so it would stop training after the first stage.
TRAINING = read_only(
    {
        "lr": 1e-2,
        "lr_schedule": "constant",
        "curriculum": (0.25, 0.5),
        "curriculum_epochs": 50,
        "regime": "sparse",
        "n_epochs": 200,
        "refit_epochs": 50,
        "polish": "adam",
        "select": "last",
        "early_stopping": False,
    }
)

# Penalty strengths from benchmarks.mocap (set there with seed 0 on 93 channels), not tuned here. The
# proximal thresholds of LassoNet (lambda * lr / inputs) and GroupLasso (lambda * lr / groups) are kept at
# that benchmark's size per step: lambda scaled by 100 / 186 inputs and by 50 x 100 / (93 x 186) groups.
# GroupLasso keeps that benchmark's one network per output of 8 hidden units (50 x 8 in all here).
_RESCALED_LAMBDAS = {"lassonet_inner": 1.1e4, "lassonet_outer": 1.1e4, "grouplasso": 2.3e3}
METHOD_SETTINGS: Mapping[str, Mapping] = read_only(
    {
        method: {**entry, "regularizer": {**entry["regularizer"], "lambda_": _RESCALED_LAMBDAS[method]}}
        if method in _RESCALED_LAMBDAS
        else entry
        for method, entry in mocap.METHOD_SETTINGS.items()
    }
)


class ThreeFrameSecondOrderODE(SecondOrderNeuralODE):
    """A :class:`~pathreg.models.SecondOrderNeuralODE` started from three frames instead of one position.

    Its initial state is the three conditioning frames, flattened (``(batch, 3 dim)``: frame 0, 1, 2); the
    ODE starts at frame 1 from :func:`initial_state` of them (position of frame 1, central-difference
    velocity), plus, with ``encoder=True``, a learned linear correction of both from all three frames
    (zero at the start, trained with the ODE; not penalised, not part of :meth:`adjacency`). Passing the
    frames as the ``initial_state`` of :class:`~pathreg.models.Trajectories` lets
    :func:`~pathreg.models.fit` train on windows that each start from their own data.

    Parameters
    ----------
    vector_field
        Maps ``[x, v]`` (``2 dim``) to accelerations (``dim``).
    frame_dt
        Time between frames.
    encoder
        Learn the linear correction of the initial state.
    **options
        Solver options of :class:`~pathreg.models.SecondOrderNeuralODE`.
    """

    def __init__(self, vector_field: torch.nn.Module, *, frame_dt: float, encoder: bool = False, **options) -> None:
        super().__init__(vector_field, initial_velocity="zero", **options)
        self.frame_dt = float(frame_dt)
        self.encoder = torch.nn.Linear(N_CONDITION * self.dim, 2 * self.dim) if encoder else None
        if self.encoder is not None:
            torch.nn.init.zeros_(self.encoder.weight)
            torch.nn.init.zeros_(self.encoder.bias)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """``(batch, 2 dim)`` state ``[x, v]`` at frame 1 from the flattened frames 0..2 ``(batch, 3 dim)``."""
        position, velocity = initial_state(frames.unflatten(-1, (N_CONDITION, self.dim)), self.frame_dt)
        state = torch.cat([position, velocity], dim=-1)
        return state if self.encoder is None else state + self.encoder(frames)

    def forward(
        self, x0: torch.Tensor, t: torch.Tensor, v0: torch.Tensor | None = None, *, return_velocity: bool = False
    ) -> torch.Tensor:
        """Solve from three frames (``x0`` of ``3 dim`` columns, see :meth:`encode`) or from ``x0`` and ``v0``."""
        if v0 is None and x0.shape[-1] == N_CONDITION * self.dim:
            state = self.encode(x0)
            x0, v0 = state[..., : self.dim], state[..., self.dim :]
        return super().forward(x0, t, v0, return_velocity=return_velocity)


@dataclass(frozen=True)
class Scaling:
    """The map between file units and the units of the fit: ``scaled = (raw - mean) / scale``.

    Attributes
    ----------
    mean
        ``(n_channels,)`` training mean of every channel.
    scale
        One common scale: the root mean square of the centred training data (1 if that is zero).
    """

    mean: np.ndarray
    scale: float

    def to_model(self, raw: np.ndarray) -> np.ndarray:
        """File units to the units of the fit."""
        return (raw - self.mean) / self.scale

    def to_file(self, scaled: np.ndarray) -> np.ndarray:
        """Units of the fit back to file units."""
        return scaled * self.scale + self.mean


def fit_scaling(train: np.ndarray) -> Scaling:
    """The :class:`Scaling` of the training sequences ``(n_sequences, n_frames, n_channels)``."""
    mean = train.mean(axis=(0, 1))
    scale = float(np.sqrt(np.mean((train - mean) ** 2)))
    return Scaling(mean=mean, scale=scale if scale > 0 else 1.0)


def initial_state(frames: np.ndarray | torch.Tensor, dt: float = FRAME_DT) -> tuple:
    """Position and velocity at frame 1 from frames 0, 1 and 2: ``x1`` and ``(x2 - x0) / (2 dt)``.

    The central difference, exact for quadratic trajectories (as the one-sided
    ``(-3 x0 + 4 x1 - x2) / (2 dt)`` at frame 0 is) but with 1/13 of its noise variance (1/2 against
    26/4 times the variance of independent frame noise, over ``dt**2``).

    Parameters
    ----------
    frames
        ``(..., n_frames >= 3, n_channels)``; frames 0, 1 and 2 are used.
    dt
        Time between frames.

    Returns
    -------
    ``(position, velocity)``, each ``(..., n_channels)``.
    """
    if frames.shape[-2] < N_CONDITION:
        raise ValueError(f"need at least {N_CONDITION} frames to estimate a velocity, got {frames.shape[-2]}.")
    return frames[..., 1, :], (frames[..., 2, :] - frames[..., 0, :]) / (2 * dt)


def conditioning(sequences: np.ndarray) -> np.ndarray:
    """``(n_sequences, 3 n_channels)``: the conditioning frames 0, 1, 2 of every sequence, flattened."""
    return np.ascontiguousarray(sequences[:, :N_CONDITION]).reshape(len(sequences), -1)


def scored_frames(n_frames: int) -> slice:
    """The frames predicted and scored: from :data:`N_CONDITION` to the end."""
    if n_frames <= N_CONDITION:
        raise ValueError(f"sequences need more than {N_CONDITION} frames, got {n_frames}.")
    return slice(N_CONDITION, n_frames)


def score(prediction: np.ndarray, truth: np.ndarray) -> float:
    """MSE per frame and channel over the scored frames, averaged over sequences (file units in, out).

    Both ``(n_sequences, n_frames, n_channels)``; only frames :func:`scored_frames` count. All sequences
    have the same number of frames, so the mean over sequences of their MSEs is the overall mean.
    """
    frames = scored_frames(truth.shape[1])
    return float(np.mean((prediction[:, frames] - truth[:, frames]) ** 2))


def baseline_prediction(name: str, sequences: np.ndarray, train: np.ndarray) -> np.ndarray:
    """A baseline's prediction of all frames of ``sequences`` (file units; frames before 3 are copied).

    ``"zeros"``: zero (the channels are centred); ``"train_mean"``: the training mean of every channel;
    ``"last_frame"``: the last conditioned frame (frame 2) held constant.
    """
    if name == "zeros":
        prediction = np.zeros_like(sequences)
    elif name == "train_mean":
        prediction = np.broadcast_to(train.mean(axis=(0, 1)), sequences.shape).copy()
    elif name == "last_frame":
        prediction = np.repeat(sequences[:, N_CONDITION - 1 : N_CONDITION], sequences.shape[1], axis=1)
    else:
        raise ValueError(f"Unknown baseline {name!r}; valid names are {list(BASELINES)}.")
    prediction[:, :N_CONDITION] = sequences[:, :N_CONDITION]
    return prediction


def training_windows(sequences: np.ndarray, *, length: int, stride: int, dt: float = FRAME_DT) -> Trajectories:
    """Windows of ``length`` frames every ``stride`` frames of every sequence, as one batch of trajectories.

    Each window is conditioned on its first three frames, as the predictions are
    (:class:`ThreeFrameSecondOrderODE`): its initial state is those frames, its observations frames 1 to
    ``length - 1`` of the window, at times ``dt`` per frame from frame 1. The last window of every sequence
    ends at its last frame.

    Parameters
    ----------
    sequences
        ``(n_sequences, n_frames, n_channels)`` in the units of the fit.
    length, stride
        Frames per window (at least 4; longer than ``n_frames`` is cut) and between window starts.
    """
    n_frames = sequences.shape[1]
    length = min(length, n_frames)
    if length <= N_CONDITION or stride < 1:
        raise ValueError(f"need windows of more than {N_CONDITION} frames and a stride of at least 1.")
    starts = list(range(0, n_frames - length + 1, stride))
    if starts[-1] != n_frames - length:
        starts.append(n_frames - length)
    windows = np.concatenate([sequences[:, start : start + length] for start in starts])
    times = torch.arange(length - 1, dtype=torch.float32) * dt
    return Trajectories.from_arrays(
        times.expand(len(windows), length - 1),
        torch.as_tensor(windows[:, 1:], dtype=torch.float32),
        initial_state=torch.as_tensor(conditioning(windows), dtype=torch.float32),
    )


@torch.no_grad()
def predict(model: ThreeFrameSecondOrderODE, sequences: np.ndarray) -> np.ndarray:
    """All frames of ``sequences`` predicted from their first three (units of the fit in and out).

    Frames 0..2 are copied from the data; frames 3.. come from the ODE solved from frame 1 on
    (:meth:`ThreeFrameSecondOrderODE.encode` of frames 0..2), one rk4 step per frame.
    """
    parameter = next(model.parameters())
    frames = torch.as_tensor(conditioning(sequences), dtype=parameter.dtype, device=parameter.device)
    times = torch.arange(sequences.shape[1] - 1, dtype=parameter.dtype, device=parameter.device) * model.frame_dt
    with evaluation_mode(model):
        solution = model(frames, times)  # (n_frames - 1, n_sequences, n_channels): frames 1, 2, ...
    prediction = np.concatenate([sequences[:, :1], solution.transpose(0, 1).cpu().double().numpy()], axis=1)
    prediction[:, :N_CONDITION] = sequences[:, :N_CONDITION]
    return prediction


class ValidationSelection:
    """A :func:`~pathreg.models.fit` callback keeping the checkpoint of lowest validation MSE.

    From epoch ``first`` on, every ``every`` epochs (and at :meth:`consider` calls), the validation
    sequences are predicted from their first three frames and scored in file units.
    """

    def __init__(self, validation: np.ndarray, scaling: Scaling, *, first: int, every: int) -> None:
        self.validation = validation
        self.scaled = scaling.to_model(validation)
        self.scaling = scaling
        self.first, self.every = first, every
        self.best_mse, self.best_epoch, self.best_state = math.inf, -1, None

    def consider(self, epoch: int, model: SecondOrderNeuralODE) -> None:
        """Score ``model`` and keep its parameters if they are the best so far."""
        mse = score(self.scaling.to_file(predict(model, self.scaled)), self.validation)
        if math.isfinite(mse) and mse < self.best_mse:
            self.best_mse, self.best_epoch = mse, epoch
            self.best_state = copy.deepcopy(model.state_dict())

    def __call__(self, epoch: int, history, model: SecondOrderNeuralODE) -> bool:
        """Score at the epochs of the selection; never stops training."""
        if epoch >= self.first and (epoch - self.first) % self.every == 0:
            self.consider(epoch, model)
        return False


def fit_conditioned(
    method: str,
    settings: Mapping,
    data: Trajectories,
    selection: ValidationSelection | None,
    *,
    architecture: Mapping,
    solver: Mapping,
    training: Mapping,
    seed: int,
    device: str = "cpu",
    frame_dt: float | None = None,
    encoder: bool | None = None,
    restoring: bool = False,
) -> tuple[ThreeFrameSecondOrderODE, float]:
    """Build ``method``'s vector field (seed ``seed``), fit it to ``data`` and keep ``selection``'s checkpoint.

    As :func:`benchmarks.second_order.fit_second_order` (which builds a model that starts from one position),
    with a :class:`ThreeFrameSecondOrderODE` started from the three frames in ``data.initial_state`` and the
    validation selection as ``fit``'s callback. The model ``fit`` ends with (the best training loss of the
    last stage) is a candidate too, as epoch ``len(history)``. Without a ``selection`` (``None``) the model
    ``fit`` ends with is returned. ``frame_dt`` and ``encoder`` default to :data:`FRAME_DT` and
    :data:`ENCODER` (shared with :mod:`benchmarks.mocap`, which uses its own time unit); ``restoring`` adds
    the learned spring and damper toward the mean (``restoring`` of
    :class:`~pathreg.models.SecondOrderNeuralODE`).

    Returns
    -------
    The selected model (CPU, evaluation mode) and the seconds of the fit.
    """
    model, regularizer = build_second_order(
        method,
        settings,
        data.values.shape[-1],
        architecture=architecture,
        seed=seed,
        model_class=ThreeFrameSecondOrderODE,
        frame_dt=FRAME_DT if frame_dt is None else frame_dt,
        encoder=ENCODER if encoder is None else encoder,
        restoring=restoring,
        **solver,
    )
    start = time.perf_counter()
    history = fit(
        model,
        data,
        regularizer=regularizer,
        device=device,
        seed=seed,
        progress=False,
        callback=selection,
        **{**training, **settings["training"]},
    )
    if selection is not None:
        selection.consider(len(history), model)
        if selection.best_state is not None:
            model.load_state_dict(selection.best_state)
    model.eval()
    return model.cpu(), time.perf_counter() - start


def member_seeds(seed: int, members: int) -> list[int]:
    """The seeds of ensemble ``seed``'s ``members`` models: ``members * seed`` to ``members * seed + members - 1``.

    Ensembles of different seeds share no member, so their spread over seeds is that of independent
    ensembles; with one member, ensemble ``seed`` is the model of seed ``seed``.
    """
    if members < 1:
        raise ValueError(f"an ensemble needs at least one member, got {members}.")
    return [members * seed + member for member in range(members)]


def fit_member(
    method: str, seed: int, splits: Mapping[str, np.ndarray], device: str = "cpu", settings: Mapping | None = None
) -> dict:
    """Fit one model of ``method`` (seed ``seed``) on ``Xtr``, select its checkpoint on ``Xval``, predict every split.

    ``settings`` replaces the method's entry of :data:`METHOD_SETTINGS`; ``None``: that entry.

    Returns
    -------
    ``predictions`` (by ``.mat`` key, ``Xtr`` included: every frame of every sequence in file units, frames
    0..2 copied), ``adjacency`` (the model's ``(50, 100)`` dependency matrix), ``seconds`` and
    ``selected_epoch``.
    """
    settings = METHOD_SETTINGS[method] if settings is None else settings
    scaling = fit_scaling(splits["Xtr"])
    train = scaling.to_model(splits["Xtr"])
    data = training_windows(train, **WINDOWS, dt=FRAME_DT)
    schedule = ShootingSettings(**{**TRAINING, **settings["training"]})
    first = len(schedule.curriculum) * schedule.curriculum_epochs  # selection after the curriculum
    selection = ValidationSelection(splits["Xval"], scaling, first=first, every=VALIDATE_EVERY)
    model, seconds = fit_conditioned(
        method,
        settings,
        data,
        selection,
        architecture=ARCHITECTURE,
        solver=SOLVER,
        training=TRAINING,
        seed=seed,
        device=device,
    )
    scored = ["Xtr", *(key for key in SPLITS.values() if key in splits)]
    return {
        "predictions": {key: scaling.to_file(predict(model, scaling.to_model(splits[key]))) for key in scored},
        "adjacency": model.adjacency().detach().numpy(),
        "seconds": seconds,
        "selected_epoch": selection.best_epoch,
    }


def ensemble_rows(method: str, seed: int, fits: Sequence[dict], splits: Mapping[str, np.ndarray]) -> list[dict]:
    """Score ensemble ``seed`` of ``method``: the mean of its members' predictions (:func:`fit_member` results).

    ``mse`` is the score of the averaged prediction, ``member_mse`` the members' mean score (equal with one
    member); ``train_mse`` the averaged prediction's on ``Xtr``; ``feature_sparsity`` that of the members'
    mean absolute dependency matrix (an input the averaged forecast does not depend on is pruned in every
    member); ``seconds`` the members' fits together; ``selected_epoch`` the members' median.

    Returns
    -------
    One row per scored split (``validation``, and ``test`` when ``splits`` has ``Xtest``), keys :data:`COLUMNS`.
    """

    def averaged(key: str) -> np.ndarray:
        return np.mean([fit["predictions"][key] for fit in fits], axis=0)

    common = {
        "method": method,
        "seed": seed,
        "train_mse": score(averaged("Xtr"), splits["Xtr"]),
        "feature_sparsity": feature_sparsity(torch.as_tensor(np.mean([np.abs(f["adjacency"]) for f in fits], 0))),
        "seconds": float(sum(fit["seconds"] for fit in fits)),
        "selected_epoch": int(np.median([fit["selected_epoch"] for fit in fits])),
        "members": len(fits),
    }
    rows = []
    for split, key in SPLITS.items():
        if key in splits:
            members = [score(fit["predictions"][key], splits[key]) for fit in fits]
            mse = score(averaged(key), splits[key])
            rows.append({**common, "split": split, "mse": mse, "member_mse": float(np.mean(members))})
    return rows


def baseline_rows(splits: Mapping[str, np.ndarray]) -> list[dict]:
    """One row per baseline and scored split (seed empty), keys :data:`COLUMNS`."""
    rows = []
    for name in BASELINES:
        train_mse = score(baseline_prediction(name, splits["Xtr"], splits["Xtr"]), splits["Xtr"])
        for split, key in SPLITS.items():
            if key in splits:
                mse = score(baseline_prediction(name, splits[key], splits["Xtr"]), splits[key])
                rows.append({"method": name, "seed": pd.NA, "split": split, "mse": mse, "train_mse": train_mse})
    return rows


def check_splits(splits: Mapping[str, np.ndarray]) -> None:
    """Raise a ValueError unless ``splits`` has ``Xtr`` and ``Xval`` with more than 3 frames each."""
    for key in ("Xtr", "Xval"):
        if key not in splits:
            raise ValueError(f"the file has no {key}; the protocol trains on Xtr and selects on Xval.")
    for key, value in splits.items():
        if value.shape[1] <= N_CONDITION:
            raise ValueError(f"{key} has {value.shape[1]} frames; more than {N_CONDITION} are needed.")


def run(
    methods: Sequence[str],
    seeds: Sequence[int],
    splits: Mapping[str, np.ndarray],
    *,
    device: str = "cpu",
    jobs: int = 1,
    settings: Mapping[str, Mapping] | None = None,
    members: int = MEMBERS,
) -> pd.DataFrame:
    """The baselines, then every method with every seed; ``jobs`` single-threaded worker processes on the CPU.

    Seed ``s`` of a method is an ensemble of ``members`` models (seeds :func:`member_seeds`), scored by
    :func:`ensemble_rows`; the models are fitted independently, in parallel over ``jobs``. ``settings`` maps
    a method to the settings that replace its entry of :data:`METHOD_SETTINGS` (a modified copy); other
    methods keep theirs.

    Returns
    -------
    One row per method (baselines first), seed and scored split; columns :data:`COLUMNS`.
    """
    check_methods(methods, settings, METHOD_SETTINGS, METHODS)
    settings = settings or {}
    check_splits(splits)
    splits = {key: np.asarray(value, dtype=np.float64) for key, value in splits.items()}
    # plain dicts: the tasks go to worker processes, and read-only mappings cannot be pickled
    ensembles = [(method, seed, member_seeds(seed, members)) for method in methods for seed in seeds]
    tasks = [
        (method, member, splits, device, plain(settings.get(method)))
        for method, _, member_list in ensembles
        for member in member_list
    ]
    fits = iter(run_tasks(fit_member, tasks, jobs=jobs, device=device))
    rows = baseline_rows(splits)
    for method, seed, member_list in ensembles:
        rows += ensemble_rows(method, seed, [next(fits) for _ in member_list], splits)
    results = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("seed", "selected_epoch", "members"):
        results[column] = results[column].astype("Int64")
    return results


def summary_table(results: pd.DataFrame) -> str:
    """Markdown table, one row per method: mean ± standard deviation over seeds of the MSE of every split.

    ``SPLIT_mse`` is the ensemble's (the averaged prediction's), ``SPLIT_member_mse`` its members' mean.
    """
    keys = ["method", "seed"]
    wide = results.drop_duplicates(keys)[[*keys, "train_mse", "feature_sparsity", "seconds"]]
    metrics = []
    for split in SPLITS:
        scored = results[results["split"] == split][[*keys, "mse", "member_mse"]]
        if len(scored):
            names = {"mse": f"{split}_mse", "member_mse": f"{split}_member_mse"}
            wide = wide.merge(scored.rename(columns=names), on=keys, how="left")
            metrics += list(names.values())
    metrics += ["train_mse", "feature_sparsity", "seconds"]

    def cell(metric: str, mean: float, std: float) -> str:
        if not np.isfinite(mean):
            return "—"
        if metric == "seconds":
            return f"{mean:.0f} ± {std:.0f}"
        return f"{mean:.2f} ± {std:.2f}" if metric.endswith("mse") else f"{mean:.3f} ± {std:.3f}"

    return mean_std_table(wide, "method", metrics, cell)


def published_line() -> str:
    """The published test MSEs, one line."""
    values = ", ".join(f"{name} {mse}" for name, mse in PUBLISHED_TEST_MSE.items())
    return f"Published test MSEs (file units, frames 3..299): {values}."


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mocap_ode2vae", description=__doc__.split("\n")[0])
    parser.add_argument("--mat", required=True, help="ODE2VAE .mat file with Xtr, Xval (and Xtest)")
    parser.add_argument("--output", default=None, help="CSV file for the per-run rows")
    parser.add_argument("--methods", nargs="+", default=list(METHOD_SETTINGS), choices=list(METHOD_SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument(
        "--members", type=int, default=MEMBERS, help=f"models averaged per method and seed (default {MEMBERS})"
    )
    parser.add_argument("--epochs", type=int, default=None, help=f"full-window epochs (default {TRAINING['n_epochs']})")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes on the CPU (default 1)")
    args = parser.parse_args(argv)
    try:
        splits = read_ode2vae_mat(args.mat)
        check_splits(splits)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    if args.members < 1:
        parser.error("--members must be at least 1.")
    settings = None
    if args.epochs is not None:
        if args.epochs < 1:
            parser.error("--epochs must be at least 1.")
        settings = {method: plain(METHOD_SETTINGS[method]) for method in args.methods}
        for method_settings in settings.values():
            method_settings["training"]["n_epochs"] = args.epochs
    results = run(
        args.methods, args.seeds, splits, device=args.device, jobs=args.jobs, settings=settings, members=args.members
    )
    return report(results, summary_table(results) + "\n\n" + published_line(), args.output)


if __name__ == "__main__":
    raise SystemExit(main())
