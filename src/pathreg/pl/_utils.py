"""What every plot function shares."""

from __future__ import annotations

import matplotlib.pyplot as plt


def finish(result, show: bool | None):
    """Show the current figure (``show=None``: when matplotlib is interactive) or return ``result``."""
    if show is None:
        show = plt.isinteractive()
    if show:
        plt.show()
        return None
    return result
