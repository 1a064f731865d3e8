"""pathreg: sparse neural ODEs that read out which inputs drive which outputs.

The engine (:mod:`pathreg.models`) needs only torch and torchdiffeq. The AnnData-facing
subpackages (:mod:`pathreg.pp`, :mod:`pathreg.tl`, :mod:`pathreg.pl`) and the loaders in
:mod:`pathreg.datasets` are imported lazily on first attribute access, so
``import pathreg.models`` never imports anndata or scanpy.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from ._settings import logger, set_verbosity

try:
    __version__ = version("pathreg")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

_SUBPACKAGES = ("pp", "tl", "pl", "models", "datasets", "metrics")

if TYPE_CHECKING:  # pragma: no cover
    from . import datasets, metrics, models, pl, pp, tl


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'pathreg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBPACKAGES])


__all__ = ["__version__", "datasets", "logger", "metrics", "models", "pl", "pp", "set_verbosity", "tl"]
