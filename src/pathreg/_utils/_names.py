"""Names the user typed: close matches for error messages, and checks of string options."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.5
"""Similarity (``difflib`` ratio, ignoring case) above which a name counts as a close match."""


def similar_names(name: str, candidates: Iterable, n: int = 3) -> list[str]:
    """Up to ``n`` of ``candidates`` most similar to ``name``, ignoring case (so ``GATA1`` finds ``Gata1`` first).

    Examples
    --------
    >>> similar_names("gata1", ["Gata1", "Gata2", "Spi1"])
    ['Gata1', 'Gata2']
    """
    by_lower: dict[str, list[str]] = {}
    for candidate in map(str, candidates):
        by_lower.setdefault(candidate.lower(), []).append(candidate)
    found = difflib.get_close_matches(str(name).lower(), list(by_lower), n=n, cutoff=CUTOFF)
    return [candidate for lower in found for candidate in by_lower[lower] if candidate != str(name)][:n]


def close_matches(name: str, candidates: Iterable) -> str:
    """A ``" Close matches: [...]."`` suffix for error messages (empty when there are none).

    The one wording of every "did you mean" hint of pathreg.

    Examples
    --------
    >>> close_matches("n_epoch", ["n_epochs", "lr"])
    " Close matches: ['n_epochs']."
    """
    matches = similar_names(name, candidates)
    return f" Close matches: {matches}." if matches else ""


def check_choice(value, valid: Iterable, argument: str) -> None:
    """Raise a ValueError naming the valid values when ``value`` is not one of them.

    Examples
    --------
    >>> check_choice("pathreg", ["none", "pathreg"], "method")
    >>> check_choice("pathrg", ["none", "pathreg"], "method")
    Traceback (most recent call last):
    ...
    ValueError: Unknown method 'pathrg'; valid names are ['none', 'pathreg']. Close matches: ['pathreg'].
    """
    valid = list(valid)
    if value not in valid:
        hint = close_matches(value, valid) if isinstance(value, str) else ""
        raise ValueError(f"Unknown {argument} {value!r}; valid names are {valid}.{hint}")
