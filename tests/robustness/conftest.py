import tempfile
from pathlib import Path

import pytest
from hypothesis import configuration
from robustness_helpers import make_adata

# hypothesis keeps caches in ./.hypothesis by default; keep the checkout clean
configuration.set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "pathreg-hypothesis")


@pytest.fixture
def adata():
    """A fresh small synthetic AnnData (see ``robustness_helpers.make_adata``)."""
    return make_adata()
