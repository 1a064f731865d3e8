"""The knockout benchmark's true model: scanpy's krumsiek11 Hill kinetics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import pathreg
from benchmarks import knockouts


def test_hill_model_reproduces_the_first_steps_of_the_bundled_data():
    adata = pathreg.datasets.krumsiek11()
    genes, rates = knockouts.hill_model()
    assert genes == list(adata.var_names)
    first = np.asarray(adata.X[:160], dtype=np.float64)  # realization 0: 160 time steps of 5 simulation steps
    path = knockouts.hill_knockout(rates, genes, first[0], None, n_steps=801)[::5][:160]
    # the bundled data carry scanpy's noise; the deterministic path stays close
    assert np.abs(path[:40] - first[:40]).max() < 0.15


def test_a_knocked_out_gene_stays_at_zero_and_acts_on_its_targets():
    genes, rates = knockouts.hill_model()
    x0 = np.full(len(genes), 0.5)
    control = knockouts.hill_knockout(rates, genes, x0, None, n_steps=200)
    knocked = knockouts.hill_knockout(rates, genes, x0, "Gata1", n_steps=200)
    assert np.all(knocked[:, genes.index("Gata1")] == 0.0)
    assert not np.allclose(knocked[:, genes.index("Fog1")], control[:, genes.index("Fog1")])


def test_sign_agreement_of_a_tiny_fit_has_both_gene_sets():
    adata = knockouts.prepare(fate=True)
    model = pathreg.tl.fit_dynamics(adata, lineage_key="lineages", n_seeds=1, training={"n_epochs": 50}, progress=False)
    records = knockouts.sign_agreement(adata, model)
    assert [record["genes"] for record in records] == ["all", "direct"]
    for record in records:
        assert record["n_mean"] > 0
        # a fraction of the n_mean compared genes
        agreeing = record["agreement_mean"] * record["n_mean"]
        assert agreeing == pytest.approx(round(agreeing))
    assert records[0]["n_mean"] > records[1]["n_mean"]


def _oracle(monkeypatch, sign: float) -> tuple[list[dict], dict[str, int]]:
    """sign_agreement of a model whose knockouts are the true model's changes times ``sign``.

    Also returns, by gene set, the number of (knockout, lineage, gene) changes above the threshold, counted here.
    """
    genes, rates = knockouts.hill_model()
    starts = {"first": np.full(len(genes), 0.5), "second": np.linspace(0.0, 1.0, len(genes))}
    network = pathreg.datasets.krumsiek11_network()
    expected = {"all": 0, "direct": 0}

    def perturb(adata, knockout, model):
        (gene,) = knockout
        targets = set(network.query("regulator == @gene and not self_loop")["target"])
        rows = []
        for name, x0 in starts.items():
            change = knockouts.hill_knockout(rates, genes, x0, gene) - knockouts.hill_knockout(rates, genes, x0, None)
            for index, other in enumerate(genes):
                mean, final = change[:, index].mean(), change[-1, index]
                rows.append({"lineage": name, "gene": other, "delta_mean": sign * mean, "delta_final": sign * final})
                if other != gene and abs(mean) > knockouts.THRESHOLD:
                    expected["all"] += 1
                    expected["direct"] += other in targets
        return pd.DataFrame(rows)

    monkeypatch.setattr(knockouts, "first_bins", lambda adata, model: starts)
    monkeypatch.setattr(pathreg.tl, "perturb", perturb)
    adata = pathreg.datasets.krumsiek11()
    return knockouts.sign_agreement(adata, model=None), expected


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_sign_agreement_of_the_true_and_the_reversed_changes(monkeypatch, sign):
    records, expected = _oracle(monkeypatch, sign)
    by_scope = {record["genes"]: record for record in records}
    for scope in ("all", "direct"):
        assert by_scope[scope]["n_mean"] == expected[scope] > 0
        assert by_scope[scope]["agreement_mean"] == (1.0 if sign > 0 else 0.0)
        assert by_scope[scope]["agreement_final"] == (1.0 if sign > 0 else 0.0)
