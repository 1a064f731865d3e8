"""Speed: pathreg's training step against a re-implementation of the reference implementation's step.

Run from the repository root::

    python -m benchmarks.speed --device cpu --output speed.csv
    python -m benchmarks.speed --device cuda --output speed.csv
    python -m benchmarks.speed --quick            # a small check of everything (CI)

All cases run in one process, on one device:

``step``
    Seconds per training step on the bone marrow batch s1d2 (529 genes, lineages B, eryth, mono; the
    reference protocol's preprocessing, :func:`benchmarks.bone_marrow.preprocess`; a synthetic
    stand-in of the same shape when the data are not available). ``reference``: the reference
    implementation's step re-implemented from its description (:mod:`benchmarks.reference`:
    per-unit gated 529-100-100-529 MLP, every lineage solved separately with dopri5 at
    ``rtol = atol = 1e-3``, a gate sample per function evaluation). ``pathreg``: :func:`pathreg.models.fit`'s
    epoch with the settings :func:`pathreg.tl.fit_dynamics` uses for this data in the bone marrow benchmark
    (:data:`benchmarks.bone_marrow.SHOOTING_OPTIONS`: 529 -> 32 -> 529 gated MLP with decay, the three
    lineages' 40 bin means solved together with rk4 on the bin grid, PathReg penalty 0.1), including its
    bookkeeping (loss history, best-state tracking, sparsity), with CUDA graphs on a GPU (``cuda_graph="auto"``).
    Both timed as the median over steps after warm-up, with device synchronisation.
``time_to_reference_loss``
    Wall-clock seconds from scratch until the training lineages' summed per-cell MSE (the reference's
    metric; prediction at every cell's time) falls to the reference implementation's final train loss,
    0.0353 (bone marrow data only). pathreg is scored every :data:`CHECK_EVERY` steps with deterministic
    gates (the scoring time counts); the reference replica's own training loss is used, capped at
    ``--reference-cap`` seconds.
``scaling``
    Seconds per step and peak memory on synthetic data with 529 to 20,000 genes (3 lineages, 5,000
    cells, 40 bins; the regulators are the first ``min(genes, 1639)`` genes, the size of the human TF
    list), for pathreg and the GroupLasso method (one 8-unit network per target gene).

CSV columns: :data:`COLUMNS`. ``peak_memory_mb`` is the peak of allocated CUDA memory of the case on a
GPU and the peak resident memory of the process so far on a CPU.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

COLUMNS = (
    "case",
    "implementation",
    "device",
    "genes",
    "seconds_per_step",
    "nfe_per_step",
    "peak_memory_mb",
    "ratio_vs_reference",
    "steps",
    "seconds_total",
    "loss",
    "note",
)
REFERENCE_FINAL_LOSS = 0.0353
"""The reference implementation's train loss on s1d2 after its 5,000 iterations (sum of lineage per-cell MSEs)."""
N_REGULATORS_MAX = 1639
"""Regulators of the scaling cases: at most the size of the human TF list (Lambert et al. 2018)."""
CHECK_EVERY = 10
SCALING_GENES = (529, 2000, 5000, 20000)
SCALING_CELLS = 5000
PATHREG_LAMBDA = 0.1


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def stand_in_data(
    lineage_sizes: Sequence[int] = (168, 280, 824), n_genes: int = 529, seed: int = 0, regulators: int | None = None
):
    """Synthetic single-cell trajectories: per lineage, smooth switch-like genes along time plus noise.

    Returns an AnnData with ``obs["time"]`` in ``[0, 1]``, categorical ``obs["lineage"]`` and
    ``var["is_regulator"]`` (the first ``regulators`` genes; all by default), expression min-max scaled.
    """
    import anndata as ad

    rng = np.random.default_rng(seed)
    blocks, times, names = [], [], []
    centres = rng.uniform(0.1, 0.9, size=n_genes).astype(np.float32)
    widths = rng.uniform(0.05, 0.3, size=n_genes).astype(np.float32)
    for index, size in enumerate(lineage_sizes):
        t = np.sort(rng.uniform(0, 1, size=size)).astype(np.float32)
        direction = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=n_genes)
        shift = rng.normal(0, 0.1, size=n_genes).astype(np.float32)
        signal = 1 / (1 + np.exp(-direction * (t[:, None] - centres - shift) / widths))
        blocks.append(signal + rng.normal(0, 0.1, size=signal.shape).astype(np.float32))
        times.append(t)
        names += [f"lineage{index}"] * size
    values = np.concatenate(blocks).astype(np.float32)
    values = (values - values.min(axis=0)) / np.ptp(values, axis=0)
    adata = ad.AnnData(values)
    adata.var_names = [f"gene{i}" for i in range(n_genes)]
    adata.obs_names = [f"cell{i}" for i in range(len(values))]
    adata.obs["time"] = np.concatenate(times)
    adata.obs["lineage"] = pd.Categorical(names)
    adata.var["is_regulator"] = np.arange(n_genes) < (n_genes if regulators is None else regulators)
    return adata


def bone_marrow_training_batch(path: str | None = None):
    """The s1d2 batch after the reference preprocessing, or ``None`` when the data cannot be loaded."""
    import pathreg
    from benchmarks import bone_marrow

    try:
        adata = pathreg.datasets.bone_marrow(path)
    except (OSError, RuntimeError, ValueError):
        return None
    adata = bone_marrow.preprocess(adata)
    return adata[(adata.obs["batch"].astype(str) == "s1d2").to_numpy()].copy()


class PathregProblem:
    """A fit of :func:`pathreg.tl.fit_dynamics` taken apart: the model, its trajectories and training options.

    Built with the public pieces of :func:`pathreg.tl.fit_dynamics` (:class:`pathreg.tl.DynamicsProblem`,
    :class:`pathreg.tl.FitSettings`, :func:`pathreg.tl.build_member`) exactly as it builds one member with the
    bone-marrow benchmark's shooting options (``options`` override them), so that steps can be timed and the
    model scored while it trains.
    """

    def __init__(
        self, adata, method: str, *, lambda_: float | None, device: torch.device, seed: int = 0, **options
    ) -> None:
        import pathreg
        from benchmarks.bone_marrow import LINEAGE_KEY, PROBLEM_OPTIONS, SHOOTING_OPTIONS, method_options

        options = method_options(method, options, SHOOTING_OPTIONS)
        self.problem = pathreg.tl.DynamicsProblem.from_anndata(
            adata,
            lineage_key=LINEAGE_KEY,
            regulators=options.pop("regulators", None),
            **{name: options.pop(name) for name in PROBLEM_OPTIONS if name in options},
        )
        settings = pathreg.tl.FitSettings.from_options(options, method=method, lambda_=lambda_, seed=seed)
        self.regularizer = settings.regularizer()
        self.model = pathreg.tl.build_member(self.problem, settings, seed=seed)
        self.data = self.problem.shooting_windows(settings.window)
        self.training = settings.training
        self.device = device
        self.seed = seed
        values = np.asarray(adata.X)[:, self.problem.state_columns]
        self.cells = []
        for lineage in self.problem.bins:
            times = lineage.cell_times if lineage.cell_times is not None else self.problem.scaled_time[lineage.cells]
            self.cells.append((torch.as_tensor(times), torch.as_tensor(values[lineage.cells])))

    def fit(self, n_epochs: int, callback: Callable, **overrides):
        """Run :func:`pathreg.models.fit` for up to ``n_epochs`` with ``callback`` after every epoch."""
        from pathreg.models import fit

        return fit(
            self.model,
            self.data,
            regularizer=self.regularizer,
            settings=self.training.replace(n_epochs=n_epochs, **overrides),
            device=self.device,
            seed=self.seed,
            progress=False,
            callback=callback,
        )

    @torch.no_grad()
    def per_cell_loss(self) -> float:
        """Sum over lineages of the per-cell MSE, the prediction interpolated at every cell's time."""
        from pathreg.models import evaluation_mode

        device = next(self.model.parameters()).device
        data = self.data.to(device)
        with evaluation_mode(self.model):
            prediction = self.model.predict(data)
        total = 0.0
        for index, (times, values) in enumerate(self.cells):
            bin_times = data.times[index]
            cell_times = times.to(prediction.device, prediction.dtype)
            right = torch.searchsorted(bin_times, cell_times).clamp(1, len(bin_times) - 1)
            left = right - 1
            weight = ((cell_times - bin_times[left]) / (bin_times[right] - bin_times[left])).clamp(0, 1)[:, None]
            predicted = prediction[index, left] * (1 - weight) + prediction[index, right] * weight
            total += float(torch.mean((predicted - values.to(predicted)) ** 2))
        return total

    def nfe_per_step(self) -> int:
        """Vector-field evaluations of one training solve."""
        calls = []
        handle = self.model.vector_field.register_forward_hook(lambda *_: calls.append(1))
        try:
            with torch.no_grad():
                self.model.to(self.device).predict(self.data.to(self.device))
        finally:
            handle.remove()
        return len(calls)


def _step_timer(device: torch.device, stop_after: int) -> tuple[list[float], Callable]:
    stamps: list[float] = []

    def callback(epoch, history, model) -> bool:
        _synchronize(device)
        stamps.append(time.perf_counter())
        return len(stamps) >= stop_after

    return stamps, callback


def time_pathreg_steps(problem: PathregProblem, n_steps: int, warmup: int, **overrides) -> tuple[float, int]:
    """Median seconds per epoch of :func:`pathreg.models.fit` after ``warmup`` epochs, and NFE per step."""
    nfe = problem.nfe_per_step()
    stamps, callback = _step_timer(problem.device, warmup + n_steps + 1)
    problem.fit(warmup + n_steps + 1, callback, **overrides)
    durations = np.diff(stamps)[warmup:]
    return float(np.median(durations)), nfe


def time_reference_steps(lineages, device: torch.device, n_steps: int, warmup: int) -> tuple[float, int, float]:
    """Median seconds per reference step after ``warmup`` steps; median NFE; the last fit loss."""
    from benchmarks.reference import ReferenceTrainer

    trainer = ReferenceTrainer(lineages, device)
    durations, nfes, loss = [], [], math.nan
    for index in range(warmup + n_steps):
        _synchronize(device)
        start = time.perf_counter()
        loss, nfe = trainer.step()
        _synchronize(device)
        if index >= warmup:
            durations.append(time.perf_counter() - start)
            nfes.append(nfe)
    return float(np.median(durations)), int(np.median(nfes)), loss


def pathreg_time_to_loss(
    adata, device: torch.device, target: float, max_epochs: int, lambda_: float = PATHREG_LAMBDA
) -> dict:
    """Train from scratch with the benchmark's settings until the per-cell loss reaches ``target``."""
    _synchronize(device)
    start = time.perf_counter()
    problem = PathregProblem(adata, "pathreg", lambda_=lambda_, device=device)
    reached = {"epoch": -1, "loss": math.nan, "seconds": math.nan}

    def callback(epoch, history, model) -> bool:
        if (epoch + 1) % CHECK_EVERY:
            return False
        loss = problem.per_cell_loss()
        reached.update(epoch=epoch + 1, loss=loss, seconds=time.perf_counter() - start)
        return loss <= target

    problem.fit(max_epochs, callback)
    return reached


def reference_time_to_loss(lineages, device: torch.device, target: float, cap_seconds: float) -> dict:
    """Reference iterations until its training loss reaches ``target`` or ``cap_seconds`` pass."""
    from benchmarks.reference import ReferenceTrainer

    _synchronize(device)
    start = time.perf_counter()
    trainer = ReferenceTrainer(lineages, device)
    steps, loss = 0, math.inf
    while loss > target and time.perf_counter() - start < cap_seconds:
        loss, _ = trainer.step()
        steps += 1
    _synchronize(device)
    return {"epoch": steps, "loss": loss, "seconds": time.perf_counter() - start}


def _lineages_of(adata, time_key: str = "time", lineage_key: str = "lineage") -> list[tuple[np.ndarray, np.ndarray]]:
    values = np.asarray(adata.X, dtype=np.float32)
    times = adata.obs[time_key].to_numpy(dtype=np.float64)
    labels = adata.obs[lineage_key].astype(str).to_numpy()
    result = []
    for lineage in sorted(set(labels)):
        index = np.flatnonzero(labels == lineage)
        index = index[np.argsort(times[index], kind="stable")]
        result.append((times[index], values[index]))
    return result


def _row(case, implementation, device, genes, **values) -> dict:
    row = dict.fromkeys(COLUMNS, math.nan)
    row.update(case=case, implementation=implementation, device=str(device), genes=int(genes), note="")
    row.update(values)
    return row


def run(
    *,
    device: str = "cpu",
    quick: bool = False,
    path: str | None = None,
    scaling_genes: Sequence[int] | None = None,
    reference_cap: float | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> pd.DataFrame:
    """Run every case; returns one row per case and implementation (columns :data:`COLUMNS`)."""
    from pathreg.models import resolve_device

    torch_device = resolve_device(device)
    if torch_device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 arithmetic as on the CPU
    steps, warmup = (5, 2) if quick else (30, 10)
    reference_steps, reference_warmup = (2, 1) if quick else (10, 2)
    if scaling_genes is None:
        scaling_genes = (529, 2000) if quick else (SCALING_GENES if torch_device.type == "cuda" else (529, 2000, 5000))
    reference_cap = (10.0 if quick else 300.0) if reference_cap is None else reference_cap
    rows = []

    adata = bone_marrow_training_batch(path)
    real = adata is not None
    if not real:
        log("bone marrow data not available: a synthetic stand-in of the same shape is used")
        adata = stand_in_data()
    note = "bone marrow s1d2" if real else "synthetic stand-in of s1d2's shape"
    lineages = _lineages_of(adata)

    _reset_peak(torch_device)
    seconds, nfe, loss = time_reference_steps(lineages, torch_device, reference_steps, reference_warmup)
    rows.append(
        _row(
            "step",
            "reference",
            torch_device,
            adata.n_vars,
            seconds_per_step=seconds,
            nfe_per_step=nfe,
            peak_memory_mb=_peak_mb(torch_device),
            ratio_vs_reference=1.0,
            steps=reference_steps,
            loss=loss,
            note=note,
        )
    )
    log(f"reference step: {seconds:.4f} s, {nfe} function evaluations")
    reference_seconds = seconds

    variants = [("pathreg", note, {})]
    if torch_device.type == "cuda":  # the same step without CUDA graphs
        variants.append(("pathreg_eager", f"{note}; cuda_graph=False", {"cuda_graph": False}))
    for implementation, variant_note, overrides in variants:
        _reset_peak(torch_device)
        problem = PathregProblem(adata, "pathreg", lambda_=PATHREG_LAMBDA, device=torch_device)
        seconds, nfe = time_pathreg_steps(problem, steps, warmup, **overrides)
        rows.append(
            _row(
                "step",
                implementation,
                torch_device,
                adata.n_vars,
                seconds_per_step=seconds,
                nfe_per_step=nfe,
                peak_memory_mb=_peak_mb(torch_device),
                ratio_vs_reference=reference_seconds / seconds,
                steps=steps,
                note=variant_note,
            )
        )
        log(f"{implementation} step: {seconds:.4f} s ({reference_seconds / seconds:.1f}x the reference)")

    if real:
        _reset_peak(torch_device)
        for implementation, reached, cap_note in (
            (
                "pathreg",
                pathreg_time_to_loss(adata, torch_device, REFERENCE_FINAL_LOSS, max_epochs=600),
                "not reached in 600 epochs",
            ),
            (
                "reference",
                reference_time_to_loss(lineages, torch_device, REFERENCE_FINAL_LOSS, reference_cap),
                f"capped at {reference_cap:.0f} s",
            ),
        ):
            rows.append(
                _row(
                    "time_to_reference_loss",
                    implementation,
                    torch_device,
                    adata.n_vars,
                    steps=reached["epoch"],
                    seconds_total=reached["seconds"],
                    loss=reached["loss"],
                    note="reached" if reached["loss"] <= REFERENCE_FINAL_LOSS else cap_note,
                )
            )
            log(f"{implementation} time to {REFERENCE_FINAL_LOSS}: {reached}")

    for genes in scaling_genes:
        data = stand_in_data(
            lineage_sizes=(SCALING_CELLS // 3, SCALING_CELLS // 3, SCALING_CELLS - 2 * (SCALING_CELLS // 3)),
            n_genes=genes,
            regulators=min(genes, N_REGULATORS_MAX),
        )
        for method, options in (("pathreg", {}), ("grouplasso", {"hidden": (8,)})):
            _reset_peak(torch_device)
            try:
                problem = PathregProblem(
                    data,
                    method,
                    lambda_=PATHREG_LAMBDA if method == "pathreg" else None,
                    device=torch_device,
                    regulators="is_regulator",
                    **options,
                )
                seconds, nfe = time_pathreg_steps(problem, max(3, steps // 3), 3)
                row = _row(
                    "scaling",
                    method,
                    torch_device,
                    genes,
                    seconds_per_step=seconds,
                    nfe_per_step=nfe,
                    peak_memory_mb=_peak_mb(torch_device),
                    steps=max(3, steps // 3),
                    note=f"{min(genes, N_REGULATORS_MAX)} regulators, {SCALING_CELLS} cells",
                )
            except torch.cuda.OutOfMemoryError as error:  # reported, not fatal
                row = _row("scaling", method, torch_device, genes, note=f"out of memory: {error}"[:200])
            rows.append(row)
            log(f"scaling {method} {genes} genes: {row['seconds_per_step']:.4f} s, {row['peak_memory_mb']:.0f} MB")
            del problem
    return pd.DataFrame(rows, columns=list(COLUMNS))


def summary_table(results: pd.DataFrame) -> str:
    """Markdown table of the results."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for row in results.itertuples(index=False):
        cells = [
            ("" if math.isnan(value) else f"{value:.4g}") if isinstance(value, float) else str(value) for value in row
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--quick", action="store_true", help="few steps and small sizes (a check, not a measurement)")
    parser.add_argument("--path", default=None, help="local copy of the bone marrow data (default: the cache)")
    parser.add_argument("--genes", nargs="+", type=int, default=None, help="gene counts of the scaling case")
    parser.add_argument("--reference-cap", type=float, default=None, help="seconds for the reference's time to loss")
    parser.add_argument("--output", default=None, help="CSV file")
    args = parser.parse_args(argv)
    from pathreg import set_verbosity

    set_verbosity("WARNING")  # e.g. a CUDA graph capture that fell back to eager steps
    torch.manual_seed(0)
    results = run(
        device=args.device,
        quick=args.quick,
        path=args.path,
        scaling_genes=args.genes,
        reference_cap=args.reference_cap,
        log=lambda message: sys.stderr.write(message + "\n"),
    )
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        results.to_csv(args.output, index=False)
    sys.stdout.write(summary_table(results) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
