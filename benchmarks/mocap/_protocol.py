"""The movement protocols: baselines, fits and scores on every split, and their tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from benchmarks import mocap
from benchmarks.mocap._plots import joint_dependencies
from benchmarks.mocap._settings import PROTOCOLS
from benchmarks.mocap._trials import Split, SplitData, TrialSet, protocol_splits, split_data
from benchmarks.mocap_ode2vae import N_CONDITION, fit_conditioned, member_seeds, predict, training_windows
from benchmarks.second_order import run_tasks
from benchmarks.settings import check_methods, plain
from pathreg.models import EPS, METHODS, feature_sparsity, weight_sparsity


def split_scores(prediction: np.ndarray, truth: np.ndarray, n_train: int) -> dict[str, float]:
    """``fit_range_mse`` (frames 3..n_train-1) and ``extrapolation_mse`` (frames n_train..) of a prediction."""
    errors = (np.asarray(prediction) - np.asarray(truth)) ** 2
    return {
        "fit_range_mse": float(errors[N_CONDITION:n_train].mean()),
        "extrapolation_mse": float(errors[n_train:].mean()),
    }


def baseline_prediction(name: str, trial: np.ndarray, n_train: int, protocol: str) -> np.ndarray:
    """A baseline's prediction of every frame of ``trial`` (``(n_frames, dim)``, units of the fit; frames 0..2 copied).

    ``"train_mean"``: the training mean (zero in these units). ``"last_frame"``: the last observed frame
    held: frame 2 up to frame ``n_train - 1``; then frame ``n_train - 1`` for ``"extrapolate"`` (the scored
    trial's fitted frames are observed) and still frame 2 for ``"unseen_trial"``.
    """
    trial = np.asarray(trial)
    if name == "train_mean":
        prediction = np.zeros_like(trial)
    elif name == "last_frame":
        prediction = np.repeat(trial[N_CONDITION - 1 : N_CONDITION], len(trial), axis=0)
        if protocol == "extrapolate":
            prediction[n_train:] = trial[n_train - 1]
    else:
        raise ValueError(f"Unknown baseline {name!r}; valid names are {list(mocap.BASELINES)}.")
    prediction[:N_CONDITION] = trial[:N_CONDITION]
    return prediction


def _train_mse(prediction: np.ndarray, train: np.ndarray) -> float:
    return float(np.mean((prediction[:, N_CONDITION:] - train[:, N_CONDITION:]) ** 2))


def baseline_rows(split: Split, data: SplitData) -> list[dict]:
    """One row per baseline (seed empty), keys :data:`PROTOCOL_COLUMNS`."""
    rows = []
    for name in mocap.BASELINES:
        own = baseline_prediction(name, data.test, data.n_train, split.protocol)
        train = np.stack([baseline_prediction(name, x, data.n_train, split.protocol) for x in data.train])
        rows.append(
            {
                "movement": split.movement,
                "protocol": split.protocol,
                "trial": split.trial,
                "method": name,
                "seed": pd.NA,
                **split_scores(own, data.test, data.n_train),
                "train_mse": _train_mse(train, data.train),
            }
        )
    return rows


def fit_split(
    method: str, seed: int, data: SplitData, device: str = "cpu", settings: Mapping | None = None
) -> tuple[torch.nn.Module, float]:
    """Fit ``method`` (seed ``seed``) to ``data.train``: windows of :data:`WINDOWS`, three-frame starts."""
    settings = mocap.METHOD_SETTINGS[method] if settings is None else settings
    windows = training_windows(data.train, **mocap.WINDOWS, dt=data.dt)
    return fit_conditioned(
        method,
        settings,
        windows,
        None,
        architecture=mocap.ARCHITECTURE,
        solver=mocap.SOLVER,
        training=mocap.TRAINING,
        seed=seed,
        device=device,
        frame_dt=data.dt,
        encoder=False,
        restoring=mocap.RESTORING,
    )


def run_split(
    method: str, seed: int, split: Split, data: SplitData, device: str = "cpu", settings: Mapping | None = None
) -> dict:
    """Fit one method with one seed on a split's training frames and score it on its trial.

    Returns
    -------
    One row with the keys of :data:`PROTOCOL_COLUMNS` (one member), plus ``adjacency`` (the fitted
    ``(3 J, 6 J)`` dependency matrix), ``prediction`` (``(n_frames, 3 J)`` the scored trial, units of the
    fit) and ``train_prediction`` (``(n_train_trials, n_train, 3 J)`` the training trials).
    """
    model, seconds = fit_split(method, seed, data, device, settings)
    prediction = predict(model, data.test[None])[0]
    scores = split_scores(prediction, data.test, data.n_train)
    train_prediction = predict(model, data.train)
    with torch.no_grad():
        adjacency = model.adjacency().detach().cpu()
    joints = joint_dependencies(adjacency, data.n_joints)
    return {
        "movement": split.movement,
        "protocol": split.protocol,
        "trial": split.trial,
        "method": method,
        "seed": seed,
        **scores,
        "member_extrapolation_mse": scores["extrapolation_mse"],
        "train_mse": _train_mse(train_prediction, data.train),
        "feature_sparsity": feature_sparsity(adjacency),
        "weight_sparsity": weight_sparsity(model),
        "joint_sparsity": float(np.mean(joints < EPS)),
        "seconds": seconds,
        "members": 1,
        "adjacency": adjacency.numpy(),
        "prediction": prediction,
        "train_prediction": train_prediction,
    }


def ensemble_row(members: Sequence[dict], seed: int, data: SplitData) -> dict:
    """Combine the :func:`run_split` rows of an ensemble's members into the ensemble's row (seed ``seed``).

    The ensemble predicts the mean of its members' predictions, and is scored on it;
    ``member_extrapolation_mse`` is the members' mean extrapolation MSE, ``seconds`` their fits together.
    Its dependency matrix is the members' mean absolute matrix (an entry is zero where every member pruned
    it: the averaged prediction does not depend on that input); ``feature_sparsity`` and ``joint_sparsity``
    are that matrix's, ``weight_sparsity`` the members' mean.

    Returns
    -------
    A row as :func:`run_split`'s, ``members`` the number of members.
    """
    first = members[0]
    prediction = np.mean([member["prediction"] for member in members], axis=0)
    train_prediction = np.mean([member["train_prediction"] for member in members], axis=0)
    adjacency = np.mean([np.abs(member["adjacency"]) for member in members], axis=0)
    joints = joint_dependencies(adjacency, data.n_joints)
    return {
        **{key: first[key] for key in ("movement", "protocol", "trial", "method")},
        "seed": seed,
        **split_scores(prediction, data.test, data.n_train),
        "member_extrapolation_mse": float(np.mean([member["extrapolation_mse"] for member in members])),
        "train_mse": _train_mse(train_prediction, data.train),
        "feature_sparsity": feature_sparsity(torch.as_tensor(adjacency)),
        "weight_sparsity": float(np.mean([member["weight_sparsity"] for member in members])),
        "joint_sparsity": float(np.mean(joints < EPS)),
        "seconds": float(sum(member["seconds"] for member in members)),
        "members": len(members),
        "adjacency": adjacency,
        "prediction": prediction,
        "train_prediction": train_prediction,
    }


def run_protocols(
    methods: Sequence[str],
    seeds: Sequence[int],
    movements: Mapping[str, TrialSet],
    *,
    protocols: Sequence[str] = PROTOCOLS,
    extrapolate: str = "first",
    device: str = "cpu",
    jobs: int = 1,
    settings: Mapping[str, Mapping] | None = None,
    members: int | None = None,
) -> tuple[pd.DataFrame, dict[tuple, dict[str, np.ndarray]]]:
    """The baselines and every method with every seed on every split of every movement.

    ``movements`` maps a movement's name to its :func:`prepare_trials`; ``jobs`` single-threaded worker
    processes on the CPU (over the members' fits); ``settings`` as in :func:`run`. Seed ``s`` of a method
    is an ensemble of ``members`` models (default :data:`MEMBERS`; :func:`ensemble_row`).

    Returns
    -------
    One row per split, method (baselines first) and seed (columns :data:`PROTOCOL_COLUMNS`), and by
    ``(movement, protocol, trial, method, seed)`` the ensemble's ``adjacency`` and ``prediction`` (see
    :func:`ensemble_row`).
    """
    check_methods(methods, settings, mocap.METHOD_SETTINGS, METHODS)
    settings = settings or {}
    members = mocap.MEMBERS if members is None else members
    blocks, tasks = [], []  # per split: its baseline rows, its data and the ensembles that follow them
    for movement, trials in movements.items():
        for split in protocol_splits(trials, movement, protocols, extrapolate=extrapolate):
            data = split_data(trials, split)
            ensembles = [(m, s) for m in methods for s in seeds]
            blocks.append((baseline_rows(split, data), data, ensembles))
            tasks += [
                (m, member, split, data, device, plain(settings.get(m)))
                for m, s in ensembles
                for member in member_seeds(s, members)
            ]
    fits = iter(run_tasks(run_split, tasks, jobs=jobs, device=device))
    rows = []
    for baselines, data, ensembles in blocks:
        rows += baselines + [ensemble_row([next(fits) for _ in range(members)], s, data) for _, s in ensembles]
    keys = ("movement", "protocol", "trial", "method", "seed")
    fitted = {
        tuple(r[k] for k in keys): {"adjacency": r["adjacency"], "prediction": r["prediction"]}
        for r in rows
        if "prediction" in r
    }
    results = pd.DataFrame(rows, columns=list(mocap.PROTOCOL_COLUMNS))
    for column in ("seed", "members"):
        results[column] = results[column].astype("Int64")
    return results, fitted


def protocol_table(results: pd.DataFrame) -> str:
    """Markdown table: mean ± standard deviation over scored trials and seeds per movement, protocol and method."""
    keys = ["movement", "protocol", "method"]
    metrics = ["fit_range_mse", "extrapolation_mse", "member_extrapolation_mse", "train_mse"]
    metrics += ["feature_sparsity", "joint_sparsity", "seconds"]
    grouped = results.groupby(keys, sort=False)
    means, stds, counts = grouped[metrics].mean(), grouped[metrics].std(ddof=0), grouped.size()
    lines = ["| " + " | ".join([*keys, "runs", *metrics]) + " |", "|" + " --- |" * (len(keys) + 1 + len(metrics))]
    for key in means.index:
        cells = []
        for metric in metrics:
            mean, std = means.loc[key, metric], stds.loc[key, metric]
            if not np.isfinite(mean):
                cells.append("—")
            elif metric == "seconds":
                cells.append(f"{mean:.0f} ± {std:.0f}")
            elif metric.endswith("mse"):
                cells.append(f"{mean:.3g} ± {std:.2g}")
            else:
                cells.append(f"{mean:.3f} ± {std:.3f}")
        lines.append("| " + " | ".join([*key, str(counts.loc[key]), *cells]) + " |")
    return "\n".join(lines)


def trial_table(results: pd.DataFrame, protocol: str = "unseen_trial") -> str:
    """Markdown table of ``protocol``'s MSEs per scored trial (mean over seeds): ``fit range / extrapolation``."""
    rows = results[results["protocol"] == protocol]
    if rows.empty:
        return ""
    lines = []
    for movement, group in rows.groupby("movement", sort=False):
        trials = list(dict.fromkeys(group["trial"]))
        means = group.groupby(["method", "trial"], sort=False)[["fit_range_mse", "extrapolation_mse"]].mean()
        lines += [f"| {movement} | " + " | ".join([*trials, "mean"]) + " |", "|" + " --- |" * (len(trials) + 2)]
        for method in dict.fromkeys(group["method"]):
            cells = [
                f"{means.loc[(method, t), 'fit_range_mse']:.3g} / {means.loc[(method, t), 'extrapolation_mse']:.3g}"
                for t in trials
            ]
            mean = means.loc[method].mean()
            cells.append(f"{mean['fit_range_mse']:.3g} / {mean['extrapolation_mse']:.3g}")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip()


def describe(movement: str, trials: TrialSet) -> str:
    """One line: the trials, their first frames, the step and the frame rate."""
    starts = ", ".join(f"{name} from {start}" for name, start in zip(trials.names, trials.starts, strict=True))
    rate = trials.frame_rate / trials.step
    return f"{movement}: {len(trials.names)} trials ({starts}), every {trials.step} frame(s), {rate:.3g} fps."
