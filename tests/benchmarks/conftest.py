"""The benchmark scripts live in the repository's ``benchmarks/`` folder, not in the package.

Put the repository root on ``sys.path`` so that ``from benchmarks import synthetic`` works however pytest
is started (``pytest`` or ``python -m pytest``), and skip every test of this folder when ``benchmarks/`` is
absent (e.g. tests run against an installed wheel or an unpacked sdist without it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AVAILABLE = (ROOT / "benchmarks" / "__init__.py").is_file()

if AVAILABLE:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    # tests/ is on sys.path too, and tests/benchmarks/ (no __init__.py) could have been imported as a
    # namespace package named "benchmarks"; the repository's package must win.
    stale = sys.modules.get("benchmarks")
    if stale is not None and getattr(stale, "__file__", None) is None:
        del sys.modules["benchmarks"]
else:

    class _BenchmarksAbsent(pytest.Module):
        def collect(self):
            pytest.skip(f"the benchmark scripts are not here: no {ROOT / 'benchmarks' / '__init__.py'}")

    def pytest_pycollect_makemodule(module_path, parent):
        """Collect every test module of this folder as one skip, without importing it."""
        return _BenchmarksAbsent.from_parent(parent, path=module_path)
