"""Mark transcription factors among the genes."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib.resources import files
from typing import TYPE_CHECKING, Literal

import numpy as np

from .._settings import logger

if TYPE_CHECKING:
    from anndata import AnnData

Species = Literal["human", "mouse"]
SPECIES: tuple[str, ...] = ("human", "mouse")
"""Species with a bundled transcription factor list."""


@lru_cache(maxsize=len(SPECIES))
def _read_tf_file(species: str) -> tuple[str, ...]:
    text = files("pathreg.pp").joinpath("data", f"{species}_tfs.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _check_species(species: str) -> None:
    if species not in SPECIES:
        raise ValueError(
            f"Unknown species {species!r}; the bundled transcription factor lists are for {list(SPECIES)}. "
            "For another species pass your own list with tfs=[...]."
        )


def tf_list(species: Species = "human") -> list[str]:
    """The bundled list of transcription factor gene symbols of a species.

    The human list is the 1,639 transcription factors of Lambert et al. ("The Human Transcription
    Factors", Cell 172(4):650-665, 2018, doi:10.1016/j.cell.2018.01.029); the mouse list (1,860 symbols) is the
    one shipped with it by the grnndata package. Both are copied from grnndata 1.3.2 (MIT license); see
    ``pathreg/pp/data/README.md``.

    Parameters
    ----------
    species
        ``"human"`` or ``"mouse"``.

    Returns
    -------
    The gene symbols, sorted, as a new list.

    Raises
    ------
    ValueError
        If there is no list for ``species``.

    Examples
    --------
    >>> import pathreg as pr
    >>> len(pr.pp.tf_list("human"))
    1639
    """
    _check_species(species)
    return list(_read_tf_file(species))


def annotate_tfs(
    adata: AnnData,
    *,
    species: Species = "human",
    tfs: Iterable[str] | None = None,
    key_added: str = "is_tf",
    copy: bool = False,
) -> AnnData | None:
    """Mark the genes that are transcription factors.

    A gene is a transcription factor when its name in ``adata.var_names`` equals, ignoring case, a symbol of
    the list: the bundled list of ``species`` (:func:`pathreg.pp.tf_list`) or the user's ``tfs``. Only exact
    symbols match: aliases (``Pu.1`` for ``Spi1``) and Ensembl IDs do not. The number of matches is logged
    at level INFO, and a warning is logged when nothing matches.

    Parameters
    ----------
    adata
        Annotated data matrix; genes in ``var``.
    species
        Which bundled list to use, ``"human"`` or ``"mouse"``. Ignored when ``tfs`` is given.
    tfs
        Gene symbols to use instead of a bundled list.
    key_added
        Name of the boolean column written to ``adata.var``.
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None``, or a modified copy of ``adata`` if ``copy=True``. Sets

    ``adata.var[key_added]``
        ``bool``, whether the gene is a transcription factor.
    ``adata.uns[key_added]["params"]``
        ``{"source": "human" | "mouse" | "user", "n_listed": int, "n_matched": int}``: the list used, its
        number of distinct symbols (ignoring case) and the number of genes marked.

    Raises
    ------
    ValueError
        For an unknown ``species``, an empty ``tfs``, a ``tfs`` that is a single string, or an empty
        ``key_added``. ``adata`` is left unchanged.

    Examples
    --------
    >>> import pathreg as pr
    >>> adata = pr.datasets.krumsiek11()
    >>> pr.pp.annotate_tfs(adata, species="mouse")
    >>> adata.var_names[adata.var["is_tf"]].tolist()
    ['Gata2', 'Gata1', 'Fli1', 'Cebpa', 'Gfi1']
    """
    if not isinstance(key_added, str) or not key_added:
        raise ValueError(f"key_added must be a non-empty string, got {key_added!r}.")
    if tfs is None:
        _check_species(species)
        symbols = _read_tf_file(species)
        source = species
    else:
        if isinstance(tfs, str):
            raise ValueError(f"tfs must be a list of gene symbols, not a single string; use tfs=[{tfs!r}].")
        symbols = tuple(tfs)
        if not symbols:
            raise ValueError("tfs is empty; pass at least one gene symbol, or tfs=None to use the bundled list.")
        not_strings = [symbol for symbol in symbols if not isinstance(symbol, str)]
        if not_strings:
            raise ValueError(f"tfs must contain gene symbols (strings); got {not_strings[:5]!r}.")
        source = "user"
    listed = {symbol.strip().upper() for symbol in symbols}
    is_tf = np.asarray(adata.var_names.astype(str).str.upper().isin(listed), dtype=bool)
    n_matched = int(is_tf.sum())

    if copy:
        adata = adata.copy()
    adata.var[key_added] = is_tf
    adata.uns[key_added] = {"params": {"source": source, "n_listed": len(listed), "n_matched": n_matched}}
    list_name = "user list" if source == "user" else f"{source} list"
    message = f"annotate_tfs: {n_matched} of {adata.n_vars} genes are in the {list_name} of {len(listed)} TFs"
    if n_matched == 0:
        logger.warning(
            message + "; check the species and that var_names are gene symbols (not Ensembl IDs) (adata.var[%r]).",
            key_added,
        )
    else:
        logger.info(message + " (adata.var[%r]).", key_added)
    return adata if copy else None
