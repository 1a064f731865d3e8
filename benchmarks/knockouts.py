"""In-silico knockouts on krumsiek11, checked against the true model's knockouts, for every method.

scanpy's krumsiek11 data were simulated from a known Hill-kinetics network (``sim_models/krumsiek11.txt``).
Here every method is fitted with :func:`pathreg.tl.fit_dynamics` (DPT pseudotime, fate-restricted
lineages, the defaults otherwise, one model per fit) and Gata1 and Pu.1 are knocked out with
:func:`pathreg.tl.perturb`; the true model is integrated from each lineage's first bin with and without
the same knockout (the gene clamped to 0, scanpy's 800 Euler steps). For every other gene whose true
change exceeds ``threshold`` (time-averaged over the lineage), the signs of the true and the predicted
change are compared. Run from the repository root::

    python -m benchmarks.knockouts --seeds 0 1 2 --output knockouts.csv

Columns of the CSV: :data:`COLUMNS`. ``agreement_mean`` compares the time-averaged changes,
``agreement_final`` the changes of the final expression (on the genes that pass the threshold by their
final change); ``direct`` restricts to the knocked-out gene's direct targets in the true network.
Chance is 0.5.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.krumsiek11 import prepare
from benchmarks.tables import mean_std_table, report

COLUMNS = ("method", "seed", "genes", "agreement_mean", "agreement_final", "n_mean", "n_final", "seconds")
METHODS = ("none", "l0", "cnode", "pathreg", "lassonet_inner", "lassonet_outer", "grouplasso")
KNOCKOUTS = ("Gata1", "Pu.1")
THRESHOLD = 0.05
N_STEPS = 800


@functools.cache
def hill_model() -> tuple[list[str], Callable[[np.ndarray], np.ndarray]]:
    """Scanpy's krumsiek11 simulator (``modelType = hill``) as the rates of a state vector.

    ``dx_i/step = invTimeStep * (sum over the parent configurations where gene i's boolean rule is true of
    prod_j h_j(x_j) - x_i)``, ``h = x^2 / (x^2 + k^2)`` for a parent that is on, ``k^2 / (x^2 + k^2)`` for
    one that is off, ``k = 0.1 / |coupling|`` (scanpy.tools._sim.GRNsim.Xdiff_hill).

    Returns
    -------
    The genes, in the model file's order, and the function from a state to its rates (built once, cached).
    """
    import scanpy

    import pathreg

    model_file = Path(scanpy.__file__).parent / "sim_models" / "krumsiek11.txt"  # read by krumsiek11_network too
    rules, inverse_step = {}, None
    for line in model_file.read_text(encoding="utf-8").splitlines():
        if line.startswith("# coupling list:"):
            break
        if "invTimeStep =" in line:
            inverse_step = float(line.split("=")[1])
        if line.strip() and not line.startswith("#"):
            name, rule = (part.strip() for part in line.split("=", 1))
            rules[name] = rule
    genes = list(rules)
    coupling = np.zeros((len(genes), len(genes)))
    for regulator, target, weight in pathreg.datasets.krumsiek11_network()[["regulator", "target", "weight"]].values:
        coupling[genes.index(target), genes.index(regulator)] = weight
    terms = []
    for child, rule in rules.items():
        parents = list(dict.fromkeys(t for t in re.sub(r"[()]", " ", rule).split() if t not in ("and", "or", "not")))
        expression = rule
        for number, parent in sorted(enumerate(parents), key=lambda item: -len(item[1])):
            expression = re.sub(rf"(?<![\w.]){re.escape(parent)}(?![\w.])", f"v{number}", expression)
        on = [
            states
            for states in itertools.product([False, True], repeat=len(parents))
            if eval(expression, {}, {f"v{i}": s for i, s in enumerate(states)})  # noqa: S307 (the model's rules)
        ]
        index = [genes.index(parent) for parent in parents]
        squared_thresholds = (0.1 / np.abs(coupling[genes.index(child), index])) ** 2
        terms.append((np.asarray(index), squared_thresholds, np.asarray(on, dtype=bool).reshape(-1, len(parents))))

    def rates(x: np.ndarray) -> np.ndarray:
        result = np.empty_like(x)
        for child, (index, thresholds, on) in enumerate(terms):
            squared = x[index] ** 2
            active, inactive = squared / (squared + thresholds), thresholds / (squared + thresholds)
            result[child] = inverse_step * (np.where(on, active, inactive).prod(axis=1).sum() - x[child])
        return result

    return genes, rates


def hill_knockout(rates, genes: list[str], x0: np.ndarray, knockout: str | None, n_steps: int = N_STEPS) -> np.ndarray:
    """Euler steps of the true model from ``x0`` with ``knockout`` clamped to 0 (``None``: no knockout)."""
    x = np.array(x0, dtype=np.float64)
    clamped = np.array([gene == knockout for gene in genes])
    x[clamped] = 0.0
    path = [x.copy()]
    for _ in range(n_steps - 1):
        step = rates(x)
        step[clamped] = 0.0
        x = x + step
        path.append(x.copy())
    return np.asarray(path)


def first_bins(adata, model) -> dict[str, np.ndarray]:
    """Each lineage's first bin mean, in ``adata.var_names`` order, with the bins of the fit.

    The bins are rebuilt with :meth:`pathreg.tl.DynamicsProblem.from_anndata` from the fit's settings (recorded
    in ``model.metadata``), over all genes: ``adata`` must be the data the model was fitted on.
    """
    import pathreg

    metadata = model.metadata
    problem = pathreg.tl.DynamicsProblem.from_anndata(
        adata,
        time_key=metadata["time_key"],
        lineage_key="lineages",
        n_bins=metadata["n_bins"],
        time_scale=metadata["time_scale"],
    )
    order = pd.Index(problem.state_genes).get_indexer(adata.var_names)  # the state genes are sorted by name
    return {lineage.name: lineage.means[0][order] for lineage in problem.bins}


def sign_agreement(adata, model, *, threshold: float = THRESHOLD) -> list[dict]:
    """Sign agreement of ``model``'s knockouts with the true model's, over all other genes and direct targets."""
    import pathreg

    genes, rates = hill_model()
    if list(adata.var_names) != genes:
        raise ValueError("adata's genes must be krumsiek11's, in the model file's order.")
    network = pathreg.datasets.krumsiek11_network()
    starts = first_bins(adata, model)
    controls = {name: hill_knockout(rates, genes, x0, None) for name, x0 in starts.items()}
    counts = {scope: np.zeros(4, dtype=int) for scope in ("all", "direct")}  # agree_mean, n_mean, agree_final, n_final
    for knockout in KNOCKOUTS:
        table = pathreg.tl.perturb(adata, {knockout: 0.0}, model=model).set_index(["lineage", "gene"])
        targets = set(network.query("regulator == @knockout and not self_loop")["target"])
        for name, x0 in starts.items():
            change = hill_knockout(rates, genes, x0, knockout) - controls[name]
            for index, gene in enumerate(genes):
                if gene == knockout:
                    continue
                predicted = table.loc[(name, gene)]
                for scope in ("all", "direct") if gene in targets else ("all",):
                    for offset, truth, guess in (
                        (0, change[:, index].mean(), predicted["delta_mean"]),
                        (2, change[-1, index], predicted["delta_final"]),
                    ):
                        if abs(truth) > threshold:
                            counts[scope][offset] += int(np.sign(truth) == np.sign(guess))
                            counts[scope][offset + 1] += 1
    return [
        {
            "genes": scope,
            "agreement_mean": agree_mean / n_mean if n_mean else float("nan"),
            "agreement_final": agree_final / n_final if n_final else float("nan"),
            "n_mean": int(n_mean),
            "n_final": int(n_final),
        }
        for scope, (agree_mean, n_mean, agree_final, n_final) in counts.items()
    ]


def run(methods: Sequence[str] = METHODS, seeds: Sequence[int] = (0, 1, 2)) -> pd.DataFrame:
    """Fit every method with every seed (one model per fit) and score its knockouts."""
    import pathreg

    adata = prepare(fate=True)
    rows = []
    for method in methods:
        for seed in seeds:
            fitted = adata.copy()
            start = time.perf_counter()
            model = pathreg.tl.fit_dynamics(
                fitted, method=method, lineage_key="lineages", n_seeds=1, seed=seed, progress=False
            )
            seconds = time.perf_counter() - start
            for record in sign_agreement(fitted, model):
                rows.append({"method": method, "seed": seed, **record, "seconds": seconds})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def summary_table(results: pd.DataFrame) -> str:
    """Markdown: mean ± standard deviation over seeds per method and gene set."""
    frame = results.assign(label=[f"{m} ({g})" for m, g in zip(results["method"], results["genes"], strict=True)])
    return mean_std_table(
        frame,
        "label",
        ["agreement_mean", "agreement_final", "n_mean", "n_final"],
        lambda metric, mean, std: f"{mean:.2f} ± {std:.2f}" if metric.startswith("agreement") else f"{mean:.0f}",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.knockouts", description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--output", default=None, help="CSV file")
    args = parser.parse_args(argv)
    results = run(args.methods, args.seeds)
    return report(results, summary_table(results), args.output)


if __name__ == "__main__":
    raise SystemExit(main())
