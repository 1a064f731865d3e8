"""Package-wide settings: the ``pathreg`` logger and its verbosity.

As in scanpy, warnings are visible at the default verbosity and information is not: the ``pathreg`` logger is
at level ``WARNING`` and writes to standard error (the notebook's output in Jupyter) for as long as the
application has not configured logging itself. Once the root logger has a handler (``logging.basicConfig``,
pytest's log capture, a notebook extension), pathreg's records go there only, so nothing is printed twice.
:func:`set_verbosity` shows information and debugging messages, or silences warnings.
"""

from __future__ import annotations

import logging
import sys

DEFAULT_LEVEL = logging.WARNING
"""Level of the ``pathreg`` logger until :func:`set_verbosity` changes it."""


class _StandardErrorHandler(logging.Handler):
    """Write records to the current ``sys.stderr`` unless the root logger has handlers of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s:%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` to standard error when logging is not configured by the application."""
        if logging.getLogger().handlers:
            return
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


logger = logging.getLogger("pathreg")
logger.setLevel(DEFAULT_LEVEL)
if not any(isinstance(handler, _StandardErrorHandler) for handler in logger.handlers):
    logger.addHandler(_StandardErrorHandler())


def set_verbosity(level: int | str) -> None:
    """Set the verbosity of the ``pathreg`` logger.

    Parameters
    ----------
    level
        A :mod:`logging` level such as ``logging.INFO`` or its name (``"INFO"``): ``"INFO"`` or ``"DEBUG"``
        show progress information, ``"WARNING"`` (the default) shows warnings only, ``"ERROR"`` silences them.

    Raises
    ------
    ValueError
        If ``level`` is not a logging level.
    """
    if isinstance(level, str) and not isinstance(logging.getLevelName(level.upper()), int):
        raise ValueError(f"level={level!r} is not a logging level; use 'DEBUG', 'INFO', 'WARNING' or 'ERROR'.")
    logger.setLevel(level.upper() if isinstance(level, str) else level)
