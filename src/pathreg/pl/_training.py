"""Loss, fit loss, penalty and feature sparsity over the training epochs."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from pathreg._utils import close_matches

from ._utils import finish

LOSSES = {"loss": "#222222", "fit_loss": "#4c72b0", "penalty": "#c44e52"}
SPARSITY_COLOR = "#55a868"


def training(adata, *, key: str = "pathreg", ax: Axes | None = None, show: bool | None = None) -> Axes | None:
    """Training curves of :func:`pathreg.tl.fit_dynamics` from ``adata.uns[key]["history"]``.

    ``loss``, ``fit_loss`` and ``penalty`` per epoch on a log y axis (non-positive values, such as the
    penalty of the unpenalised warm-up, are left out of the line), and ``feature_sparsity`` on a twin
    y axis (dashed, ``[0, 1]``). With the collocation objectives the warm-up and refit phases are shaded.

    Parameters
    ----------
    adata
        AnnData on which :func:`pathreg.tl.fit_dynamics` ran.
    key
        The ``key_added`` of the fit.
    ax
        Axes to draw into (the twin axis is added to it).
    show
        Show the figure (``None``: when matplotlib is interactive); nothing is returned then.

    Returns
    -------
    The Axes of the losses (the sparsity axis is its twin) when not shown.

    Examples
    --------
    >>> pathreg.pl.training(adata)  # doctest: +SKIP
    """
    if key not in adata.uns or "history" not in adata.uns[key]:
        raise ValueError(
            f"adata.uns has no fit {key!r} with a history.{close_matches(key, adata.uns.keys())} "
            "Run pathreg.tl.fit_dynamics(adata, key_added=...) first."
        )
    history = adata.uns[key]["history"]
    present = [name for name in (*LOSSES, "feature_sparsity") if name in history]
    if not present:
        raise ValueError(f"adata.uns[{key!r}]['history'] has none of {[*LOSSES, 'feature_sparsity']}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    n_epochs = max(len(np.asarray(history[name])) for name in present)
    epochs = np.arange(1, n_epochs + 1)
    for name, color in LOSSES.items():
        if name in history:
            values = np.asarray(history[name], dtype=np.float64)
            values = np.where(values > 0, values, np.nan)
            ax.plot(epochs[: len(values)], values, color=color, lw=1.5, label=name.replace("_", " "))
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    params = adata.uns[key].get("params", {})
    options = params.get("training", {})
    if "warmup_fraction" in options:  # the collocation objectives' phases
        warmup = int(round(float(options.get("warmup_fraction", 0.0)) * n_epochs))
        refit = int(round(float(options.get("refit_fraction", 0.0)) * n_epochs))
        if warmup:
            ax.axvspan(0.5, warmup + 0.5, color="#f0f0f0", zorder=0, label="warm-up")
        if refit:
            ax.axvspan(n_epochs - refit + 0.5, n_epochs + 0.5, color="#e6eef7", zorder=0, label="refit")
    handles, labels = ax.get_legend_handles_labels()
    if "feature_sparsity" in history:
        twin = ax.twinx()
        values = np.asarray(history["feature_sparsity"], dtype=np.float64)
        (line,) = twin.plot(epochs[: len(values)], values, color=SPARSITY_COLOR, lw=1.5, ls="--")
        line.set_label("feature sparsity")
        twin.set_ylim(-0.02, 1.02)
        twin.set_ylabel("feature sparsity", color=SPARSITY_COLOR)
        twin.tick_params(axis="y", colors=SPARSITY_COLOR)
        handles.append(line)
        labels.append(line.get_label())
    ax.legend(handles, labels, fontsize="small", frameon=False, loc="best")
    ax.set_title(f"{key}: training")
    ax.set_xlim(0.5, n_epochs + 0.5)
    return finish(ax, show)
