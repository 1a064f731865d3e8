"""Package-wide settings: the ``pathreg`` logger and its verbosity."""

from __future__ import annotations

import logging

logger = logging.getLogger("pathreg")
logger.addHandler(logging.NullHandler())


def set_verbosity(level: int | str) -> None:
    """Set the verbosity of the ``pathreg`` logger.

    Parameters
    ----------
    level
        A :mod:`logging` level such as ``logging.INFO`` or its name (``"INFO"``).
        If the logger has no handler that writes anywhere yet, a stream handler is added.
    """
    logger.setLevel(level)
    if not any(not isinstance(handler, logging.NullHandler) for handler in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s: %(message)s"))
        logger.addHandler(handler)
