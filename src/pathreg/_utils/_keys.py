"""Where pathreg's tools store their results in an AnnData: every key name is built here."""

from __future__ import annotations


class Key:
    """Names of the ``adata`` entries written by :mod:`pathreg.tl` for a fit stored under ``key``.

    ``key`` is the ``key_added`` of :func:`pathreg.tl.fit_dynamics` (default ``"pathreg"``).

    Examples
    --------
    >>> Key.adjacency("pathreg"), Key.prediction("pathreg"), Key.perturbation("pathreg")
    ('pathreg_adjacency', 'pathreg_prediction', 'pathreg_perturbation')
    """

    DEFAULT = "pathreg"
    """The default ``key_added`` of the fit."""

    LINEAGE_INDEX = "lineage_adjacency"
    """Entry of ``adata.uns[key]`` naming the lineage networks: ``lineages`` and their ``varp_keys``."""

    @staticmethod
    def uns(key: str) -> str:
        """``adata.uns`` entry of the fit: settings, history, metrics, genes, lineages."""
        return key

    @staticmethod
    def adjacency(key: str) -> str:
        """``adata.varp`` entry: the signed target x regulator network."""
        return f"{key}_adjacency"

    @staticmethod
    def prediction(key: str) -> str:
        """``adata.layers`` entry: the fitted (or predicted) expression of every cell."""
        return f"{key}_prediction"

    @staticmethod
    def perturbation(key: str) -> str:
        """``adata.uns`` entry of :func:`pathreg.tl.perturb` for the fit ``key`` (unless ``key_added`` is given)."""
        return f"{key}_perturbation"
