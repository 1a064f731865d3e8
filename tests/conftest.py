from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import pathreg


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="slow; run with --runslow")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    run_slow = config.getoption("--runslow")
    has_cuda = torch.cuda.is_available()
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder: ``$PATHREG_SHARED_DATA``, else ``shared/data`` next to the repository.

    It may be absent; tests that read it skip when the files they need are not there.
    """
    root = os.environ.get("PATHREG_SHARED_DATA")
    return Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def synthetic_system() -> pathreg.datasets.SecondOrderSystem:
    """The noise-free 3-variable second-order system, simulated once per session (do not modify in place)."""
    return pathreg.datasets.synthetic_second_order()
