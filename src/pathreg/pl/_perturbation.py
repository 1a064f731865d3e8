"""Bar chart of the change of expression under an in silico perturbation."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from pathreg._utils import PERTURBATION_COLUMNS as COLUMNS
from pathreg._utils import Key, close_matches, resolve_modality, uns_record

from ._utils import finish

UP_COLOR = "#b2182b"
"""Bars of genes that the perturbation raises."""
DOWN_COLOR = "#2166ac"
"""Bars of genes that the perturbation lowers."""
ZERO_COLOR = "#9e9e9e"
"""Bars of genes that do not change."""


def perturbation_frame(adata, *, key: str = Key.perturbation(Key.DEFAULT), mod: str | None = None) -> pd.DataFrame:
    """The table stored by :func:`pathreg.tl.perturb` in ``adata.uns[key]`` as a DataFrame."""
    adata = resolve_modality(adata, mod)
    record = uns_record(
        adata,
        key,
        field="table",
        what="perturbation",
        hint="Run pathreg.tl.perturb(adata, {gene: value}, model=...) first, or pass key= its key_added.",
    )
    table = pd.DataFrame({column: np.asarray(values) for column, values in record["table"].items()})
    missing = [column for column in COLUMNS if column not in table.columns and column != "perturbed"]
    if missing:
        raise ValueError(f"adata.uns[{key!r}]['table'] lacks the columns {missing}.")
    if "perturbed" not in table.columns:
        table["perturbed"] = False
    table["perturbed"] = table["perturbed"].astype(bool)
    return table


def _title(adata, key: str) -> str:
    params = adata.uns[key].get("params", {})
    genes = [str(gene) for gene in np.atleast_1d(params.get("genes", []))]
    values = np.atleast_1d(params.get("values", []))
    if not genes:
        return "no perturbation"
    return "clamped: " + ", ".join(f"{gene} = {float(value):g}" for gene, value in zip(genes, values, strict=False))


def perturbation(
    adata,
    *,
    key: str = Key.perturbation(Key.DEFAULT),
    lineage: str | Sequence[str] | None = None,
    top: int | None = 20,
    value: str = "delta_final",
    include_perturbed: bool = False,
    mod: str | None = None,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
):
    """Change of every gene's expression under a perturbation of :func:`pathreg.tl.perturb`.

    One horizontal bar per gene: the change ``value`` (perturbed minus control; by default at the end of
    the lineage), red where the perturbation raises the gene, blue where it lowers it, grey where it
    leaves it unchanged; genes sorted from the largest increase (top) to the largest decrease (bottom).
    One panel per lineage.

    Parameters
    ----------
    adata
        AnnData (or MuData with ``mod``) on which :func:`pathreg.tl.perturb` ran.
    key
        The ``key_added`` of that run (default: that of a fit stored under ``"pathreg"``).
    lineage
        A lineage name or a list of them; default: every lineage of the table.
    top
        Show the ``top`` genes with the largest absolute change per lineage (``None``: all).
    value
        ``"delta_final"`` (change of the final expression) or ``"delta_mean"`` (of the time average).
    include_perturbed
        Also draw the clamped genes themselves (their change is set by the perturbation, not predicted).
    mod
        Modality of a MuData.
    ax
        Axes to draw into: one per lineage drawn.
    show
        Show the figure (``None``: when matplotlib is interactive); nothing is returned then.

    Returns
    -------
    The Axes when one lineage is drawn, the Figure with several, when not shown.

    Examples
    --------
    >>> pathreg.tl.perturb(adata, {"Gata1": 0.0}, model=model)  # doctest: +SKIP
    >>> pathreg.pl.perturbation(adata, lineage="Ery", top=10)  # doctest: +SKIP
    """
    data = resolve_modality(adata, mod)
    table = perturbation_frame(data, key=key)
    if value not in ("delta_final", "delta_mean"):
        raise ValueError(f"value must be 'delta_final' or 'delta_mean', got {value!r}.")
    if top is not None and int(top) < 1:
        raise ValueError(f"top must be at least 1 (or None for all genes), got {top}.")
    available = list(pd.unique(table["lineage"].astype(str)))
    names = available if lineage is None else ([lineage] if isinstance(lineage, str) else list(map(str, lineage)))
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        hints = "".join(close_matches(name, available) for name in unknown)
        raise ValueError(f"Unknown or no lineages {unknown or names}; the table's lineages are {available}.{hints}")
    if not include_perturbed:
        table = table[~table["perturbed"]]

    if ax is None:
        n_genes = min(top or len(table), max(int((table["lineage"] == name).sum()) for name in names))
        figure, grid = plt.subplots(
            1, len(names), figsize=(3.6 * len(names), 0.9 + 0.25 * max(n_genes, 1)), squeeze=False
        )
        panels = list(grid.ravel())
    else:
        panels = [ax] if isinstance(ax, Axes) else list(ax)
        if len(panels) < len(names):
            raise ValueError(f"ax has {len(panels)} Axes for {len(names)} lineages; pass one per lineage.")
        figure = panels[0].figure
    title = _title(data, key)
    for name, panel in zip(names, panels, strict=False):
        rows = table[table["lineage"].astype(str) == name]
        order = np.argsort(-np.abs(rows[value].to_numpy(dtype=np.float64)), kind="stable")
        rows = rows.iloc[order[:top] if top is not None else order]
        rows = rows.sort_values(value, ascending=True, kind="stable")  # barh draws bottom-up: largest on top
        deltas = rows[value].to_numpy(dtype=np.float64)
        colors = np.where(deltas > 0, UP_COLOR, np.where(deltas < 0, DOWN_COLOR, ZERO_COLOR))
        positions = np.arange(len(rows))
        panel.barh(positions, deltas, color=colors)
        panel.set_yticks(positions)
        panel.set_yticklabels(rows["gene"].astype(str))
        panel.axvline(0.0, color="#404040", lw=0.8)
        panel.set_xlabel("Δ final expression" if value == "delta_final" else "Δ mean expression")
        panel.set_title(f"{title}\n{name}" if len(names) > 1 else f"{title} ({name})", fontsize="medium")
    if ax is None:
        figure.tight_layout()
    return finish(panels[0] if len(names) == 1 else figure, show)
