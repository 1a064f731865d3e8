"""Run the examples in the docstrings of ``src/pathreg`` with :mod:`doctest`, one test per module.

As with ``python -m doctest``, the examples see the globals of their module; in addition, ``pathreg``,
``np`` (numpy), ``pd`` (pandas) and ``torch`` are always defined. They run in a temporary working
directory with matplotlib's non-interactive backend. ``# doctest: +SKIP`` marks the examples
that need files or minutes of fitting. A module that cannot be imported fails, unless what is missing
is an optional dependency (:data:`OPTIONAL_DEPENDENCIES`).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

import pathreg

OPTIONAL_DEPENDENCIES = ("ray",)
#: Modules not to import: ``python -m pathreg`` runs the command line on import.
NOT_IMPORTED = ("pathreg.__main__",)
OPTION_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _walk(path: Path, prefix: str) -> Iterator[tuple[str, Path]]:
    """Every module under the package folder ``path``, with its file, found by pkgutil without importing."""
    for info in pkgutil.iter_modules([str(path)], prefix):
        leaf = info.name.rpartition(".")[2]
        if info.ispkg:
            yield info.name, path / leaf / "__init__.py"
            yield from _walk(path / leaf, f"{info.name}.")
        else:
            yield info.name, path / f"{leaf}.py"


def _modules_with_examples() -> list[str]:
    package = Path(pathreg.__file__).parent
    modules = [("pathreg", package / "__init__.py"), *_walk(package, "pathreg.")]
    return sorted(
        name for name, path in modules if name not in NOT_IMPORTED and ">>>" in path.read_text(encoding="utf-8")
    )


MODULES = _modules_with_examples()


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if missing in OPTIONAL_DEPENDENCIES:
            pytest.skip(f"{name} needs the optional dependency {missing}")
        raise


def test_modules_found():
    for subpackage in ("pp", "datasets", "models"):
        assert any(name.startswith(f"pathreg.{subpackage}.") for name in MODULES), f"no examples in {subpackage}"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    module = _import(name)
    monkeypatch.chdir(tmp_path)
    extraglobs = {"pathreg": pathreg, "np": np, "pd": pd, "torch": torch}
    tests = [test for test in doctest.DocTestFinder().find(module, name, extraglobs=extraglobs) if test.examples]
    assert tests, f"{name} has '>>>' in its source, but doctest finds no examples in its docstrings"
    runner = doctest.DocTestRunner(optionflags=OPTION_FLAGS)
    report: list[str] = []
    try:
        for test in sorted(tests, key=lambda test: test.lineno or 0):
            runner.run(test, out=report.append)
    finally:
        plt.close("all")
    assert runner.failures == 0, f"{runner.failures} of {runner.tries} examples in {name} fail:\n" + "".join(report)
