"""Read-only settings tables of the benchmarks, and plain copies of them to modify.

The module-level settings of a benchmark (``synthetic.METHOD_SETTINGS``, ``bone_marrow.FIT_OPTIONS``, ...)
are read-only, so that a run cannot silently change what the next one computes. To run with other
settings, build a modified copy and pass it to the benchmark's ``run``::

    none = synthetic.METHOD_SETTINGS["none"]
    pruned = {**none, "training": {**none["training"], "prune": True}}
    synthetic.run(["none"], [0], settings={"none": pruned})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any


def read_only(value: Any) -> Any:
    """``value`` with every mapping in it made a read-only :class:`types.MappingProxyType`, lists made tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: read_only(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(read_only(item) for item in value)
    return value


def plain(value: Any) -> Any:
    """A modifiable copy of ``value``: every mapping in it (read-only or not) a new :class:`dict`."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(plain(item) for item in value)
    return value


def check_methods(methods: Sequence[str], settings: Mapping | None, known: Mapping, valid: Sequence[str]) -> None:
    """Check a benchmark's ``methods`` against its settings table ``known`` and ``settings`` against ``methods``.

    Raises
    ------
    ValueError
        For a method without settings in ``known`` (``valid`` listed), or an entry of ``settings`` naming a
        method that does not run.
    """
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise ValueError(f"Unknown methods {unknown}; valid names are {list(valid)}.")
    extra = [m for m in (settings or {}) if m not in methods]
    if extra:
        raise ValueError(f"settings= names methods that do not run: {extra}; run {list(methods)}.")
