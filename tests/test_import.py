from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

import pathreg


def test_models_do_not_import_anndata_or_scanpy():
    code = (
        "import sys, pathreg.models; "
        "assert 'anndata' not in sys.modules and 'scanpy' not in sys.modules, "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('anndata', 'scanpy'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_version():
    assert isinstance(pathreg.__version__, str)
    assert pathreg.__version__ == version("pathreg")


def test_subpackages_are_attributes():
    for name in ("pp", "tl", "pl", "models", "datasets", "metrics"):
        assert name in dir(pathreg)
        assert getattr(pathreg, name).__name__ == f"pathreg.{name}"
    with pytest.raises(AttributeError, match="no attribute"):
        pathreg.not_a_subpackage  # noqa: B018


def test_public_names_exist():
    for module in (pathreg.models, pathreg.datasets):
        for name in module.__all__:
            assert hasattr(module, name), name


def test_benchmarks_are_not_part_of_the_package():
    with pytest.raises(ModuleNotFoundError):
        __import__("pathreg.benchmarks")
