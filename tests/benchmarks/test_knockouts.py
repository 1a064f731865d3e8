"""The knockout benchmark's true model: scanpy's krumsiek11 Hill kinetics."""

from __future__ import annotations

import numpy as np

import pathreg
from pathreg.benchmarks import knockouts


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
    model = pathreg.tl.fit_dynamics(adata, lineage_key="lineages", n_seeds=1, n_epochs=50, progress=False)
    records = knockouts.sign_agreement(adata, model)
    assert [record["genes"] for record in records] == ["all", "direct"]
    for record in records:
        assert record["n_mean"] > 0
        assert 0.0 <= record["agreement_mean"] <= 1.0
    assert records[0]["n_mean"] > records[1]["n_mean"]
