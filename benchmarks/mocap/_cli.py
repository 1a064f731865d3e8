"""The command line of the motion-capture benchmark (``python -m benchmarks.mocap``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from benchmarks import mocap
from benchmarks.mocap._plots import joint_dependencies, plot_joint_dependencies, plot_trajectories
from benchmarks.mocap._protocol import describe, protocol_table, run_protocols, trial_table
from benchmarks.mocap._recordings import load_files, load_motion, load_trials
from benchmarks.mocap._segment import MocapSegment, mean_prediction_mse, prepare_segment, run, summary_table
from benchmarks.mocap._trials import TrialSet, prepare_trials, protocol_splits, segment_of, split_data
from benchmarks.settings import plain


def _figure_output(args, results, csv_name: str) -> Path:
    """The output folder (created), with the results written to ``csv_name`` there; matplotlib set to Agg."""
    import matplotlib

    matplotlib.use("Agg")
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    results.to_csv(output / csv_name, index=False)
    return output


def _figures_single(args, results, fitted, segment: MocapSegment) -> None:
    output = _figure_output(args, results, "mocap.csv")
    seed = args.seeds[0]
    labels = mocap.FIGURE_LABELS
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


def _figures_movements(args, results, fitted, movements: Mapping[str, TrialSet]) -> None:
    output = _figure_output(args, results, "mocap_movements.csv")
    seed = args.seeds[0]
    members = mocap.MEMBERS if args.members is None else args.members
    which = f"seed {seed}" if members == 1 else f"seed {seed}, mean of {members} models"
    labels = mocap.FIGURE_LABELS
    shown = [m for m in ("pathreg", "none") if m in args.methods] or list(args.methods[:1])
    for movement, trials in movements.items():
        splits = protocol_splits(trials, movement, ["extrapolate"], extrapolate="first")
        if not splits or "extrapolate" not in args.protocols:
            continue
        split = splits[0]
        key = (movement, "extrapolate", split.trial)
        matrices = {
            f"{labels.get(m, m)} ({which})": joint_dependencies(fitted[(*key, m, seed)]["adjacency"], trials.n_joints)
            for m in shown
        }
        plot_joint_dependencies(matrices, trials.joint_names, output / f"mocap_{movement}_joint_dependencies.png")
        predictions = {f"{labels.get(m, m)} ({which})": fitted[(*key, m, seed)]["prediction"] for m in shown}
        segment = segment_of(trials, split_data(trials, split), split.trial)
        plot_trajectories(segment, predictions, output / f"mocap_{movement}_trajectories.png")


def _load_movements(args, parser) -> dict[str, TrialSet]:
    files = bool(args.amc or args.bvh)
    if files and len(args.movement) != 1:
        parser.error("recordings given as files (--amc/--bvh) belong to one --movement.")
    if not files and args.data is None:
        parser.error("--movement needs --data (the folder of the movement folders) or the recordings (--amc/--bvh).")
    movements = {}
    for movement in args.movement:
        if files:
            motions = load_files(args.asf, args.amc or (), args.bvh or ())
        else:
            motions = load_trials(Path(args.data) / mocap.MOVEMENTS[movement]["folder"])
        movements[movement] = prepare_trials(
            motions, n_train=args.n_train, n_extrapolation=args.n_extrapolation, step=args.step
        )
    return movements


def _with_epochs(methods: Sequence[str], epochs: int | None) -> dict[str, dict] | None:
    if epochs is None:
        return None
    settings = {method: plain(mocap.METHOD_SETTINGS[method]) for method in methods}
    for method_settings in settings.values():
        method_settings["training"]["n_epochs"] = epochs
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mocap", description=mocap.__doc__.split("\n")[0])
    parser.add_argument("--movement", nargs="+", default=None, choices=list(mocap.MOVEMENTS), help="movement protocols")
    parser.add_argument("--data", default=None, help="folder holding the movement folders (with --movement)")
    parser.add_argument("--protocols", nargs="+", default=list(mocap.PROTOCOLS), choices=list(mocap.PROTOCOLS))
    parser.add_argument("--extrapolate", default="first", choices=["first", "all"], help="trials to extrapolate")
    parser.add_argument("--asf", default=None, help="Acclaim skeleton (.asf)")
    parser.add_argument("--amc", nargs="+", default=None, help="Acclaim motion(s) (.amc; several with --movement)")
    parser.add_argument("--bvh", nargs="+", default=None, help="BVH recording(s) (several with --movement)")
    parser.add_argument("--subject", type=int, default=1, help="CMU subject when no recording is given")
    parser.add_argument("--trial", type=int, default=1, help="CMU trial when no recording is given")
    parser.add_argument(
        "--start", type=int, default=None, help=f"single recording: first raw frame (default {mocap.START})"
    )
    parser.add_argument(
        "--step", type=int, default=None, help=f"use every step-th frame (single recording: {mocap.STEP})"
    )
    parser.add_argument("--n-train", type=int, default=mocap.N_TRAIN, help=f"frames fitted (default {mocap.N_TRAIN})")
    parser.add_argument("--n-extrapolation", type=int, default=mocap.N_EXTRAPOLATION, help="frames after them")
    parser.add_argument(
        "--methods", nargs="+", default=list(mocap.METHOD_SETTINGS), choices=list(mocap.METHOD_SETTINGS)
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--members",
        type=int,
        default=None,
        help=f"movement protocols: models averaged per method and seed (default {mocap.MEMBERS})",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help=f"full-window epochs (default {mocap.TRAINING['n_epochs']})"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes on the CPU (default 2)")
    parser.add_argument("--output", default=None, help="folder for the CSV and the figures")
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be at least 1.")
    if args.members is not None and args.members < 1:
        parser.error("--members must be at least 1.")
    settings = _with_epochs(args.methods, args.epochs)
    if args.movement:
        if args.start is not None:
            parser.error("--start is for a single recording; the movement protocols choose their frames.")
        try:
            movements = _load_movements(args, parser)
        except (ValueError, FileNotFoundError) as error:
            parser.error(str(error))
        results, fitted = run_protocols(
            args.methods,
            args.seeds,
            movements,
            protocols=args.protocols,
            extrapolate=args.extrapolate,
            device=args.device,
            jobs=args.jobs,
            settings=settings,
            members=args.members,
        )
        if args.output:
            _figures_movements(args, results, fitted, movements)
        notes = "\n".join(describe(movement, trials) for movement, trials in movements.items())
        per_trial = trial_table(results)
        text = protocol_table(results) + "\n\n" + notes
        if per_trial:
            text += "\n\nunseen_trial, per held-out trial (fit range frames 3-99 / extrapolation frames 100-199):\n\n"
            text += per_trial
        text += (
            "\n\nMSE in units of the training frames' RMS (see the module docstring); train_mean predicts their mean.\n"
        )
        sys.stdout.write(text)
        return 0
    if (args.amc and len(args.amc) > 1) or (args.bvh and len(args.bvh) > 1):
        parser.error("several recordings need --movement.")
    if args.members is not None:
        parser.error("--members is for the movement protocols (--movement); a single recording fits single models.")
    try:
        motion = load_motion(
            args.asf,
            args.amc[0] if args.amc else None,
            subject=args.subject,
            trial=args.trial,
            bvh=args.bvh[0] if args.bvh else None,
        )
        segment = prepare_segment(
            motion,
            start=mocap.START if args.start is None else args.start,
            step=mocap.STEP if args.step is None else args.step,
            n_train=args.n_train,
            n_extrapolation=args.n_extrapolation,
        )
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    results, fitted = run(args.methods, args.seeds, segment, device=args.device, jobs=args.jobs, settings=settings)
    if args.output:
        _figures_single(args, results, fitted, segment)
    sys.stdout.write(summary_table(results) + "\n")
    sys.stdout.write(
        f"\nMSE in standardised units; predicting the training mean gives extrapolation MSE "
        f"{mean_prediction_mse(segment):.3g}.\n"
    )
    return 0
