import dataclasses
import inspect

import pathreg
from benchmarks import krumsiek11

FIT_SETTINGS = {field.name for field in dataclasses.fields(pathreg.tl.FitSettings)}


def test_one_variant_runs_and_scores():
    results = krumsiek11.run(["one seed instead of five"], [0])
    assert list(results.columns) == list(krumsiek11.COLUMNS)
    row = results.iloc[0]
    # better than chance on every score (0.531, 0.770 and 1.95 with seed 0)
    assert row.auprc > 0.3  # well above the edge density 0.236
    assert row.auroc > 0.6  # chance: 0.5
    assert row.epr > 1.0  # precision of the top edges over the edge density; chance: 1
    table = krumsiek11.summary_table(results)
    assert table.splitlines()[2].startswith("| one seed instead of five |")


def test_variants_are_valid_options():
    parameters = set(inspect.signature(pathreg.tl.fit_dynamics).parameters)
    for _, options in krumsiek11.VARIANTS.values():
        assert set(options) <= parameters
        # every variant is a valid fit: settings and training options are checked when the settings are built
        pathreg.tl.FitSettings(**{name: value for name, value in options.items() if name in FIT_SETTINGS})
