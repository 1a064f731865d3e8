"""Readers and writers for the BEELINE benchmark (Pratapa et al. 2020): input datasets and ``rankedEdges.csv``."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

_EXPRESSION = "ExpressionData.csv"
_PSEUDOTIME = "PseudoTime.csv"
_NETWORK = "refNetwork.csv"
_MISSING = frozenset({"", "NA", "na", "NaN", "nan", "NAN"})
_SIGNS = {"+": 1, "-": -1}
_RANKED_HEADER = ("Gene1", "Gene2", "EdgeWeight")


def _rows(path: Path, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows of a CSV file with their 1-based line numbers (a UTF-8 byte-order mark is skipped)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path.name} not found: {path}")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        try:
            for row in reader:
                if row and any(field.strip() for field in row):
                    yield reader.line_num, [field.strip() for field in row]
        except csv.Error as err:
            raise ValueError(f"{path}, line {reader.line_num}: malformed CSV ({err})") from err


def _float(value: str, path: Path, line: int, *, missing_ok: bool) -> float:
    if missing_ok and value in _MISSING:
        return math.nan
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{path}, line {line}: {value!r} is not a number") from None


def _check_names(names: list[str], what: str, path: Path, line: int) -> None:
    if any(not name for name in names):
        raise ValueError(f"{path}, line {line}: empty {what} name in the header")
    duplicated = sorted(pd.Index(names)[pd.Index(names).duplicated()].unique())
    if duplicated:
        raise ValueError(f"{path}, line {line}: duplicated {what} names {duplicated}")


def _read_expression(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """Genes x cells matrix, gene names, cell names."""
    rows = _rows(path)
    header = next(rows, None)
    if header is None:
        raise ValueError(f"{path}: empty file")
    line, fields = header
    cells = fields[1:]
    if not cells:
        raise ValueError(f"{path}, line {line}: the header names no cells")
    _check_names(cells, "cell", path, line)
    genes: list[str] = []
    values: list[list[float]] = []
    for line, fields in rows:
        if len(fields) != len(cells) + 1:
            raise ValueError(
                f"{path}, line {line}: {len(fields)} fields, expected {len(cells) + 1} (gene name and one per cell)"
            )
        if not fields[0]:
            raise ValueError(f"{path}, line {line}: empty gene name")
        genes.append(fields[0])
        values.append([_float(value, path, line, missing_ok=False) for value in fields[1:]])
    if not genes:
        raise ValueError(f"{path}: no genes below the header")
    duplicated = sorted(pd.Index(genes)[pd.Index(genes).duplicated()].unique())
    if duplicated:
        raise ValueError(f"{path}: duplicated gene names {duplicated}")
    return np.asarray(values, dtype=np.float64), genes, cells


def _read_pseudotime(path: Path) -> pd.DataFrame:
    """Cells x lineages, NaN outside a lineage.

    R's ``write.csv`` omits the name of the row-name column, so the header may be one field shorter than the
    rows (BEELINE's own files) or as long (a leading empty or index label).
    """
    rows = list(_rows(path))
    if not rows:
        raise ValueError(f"{path}: empty file")
    header_line, header = rows[0]
    if len(rows) < 2:
        raise ValueError(f"{path}: no cells below the header")
    width = len(rows[1][1])
    if width == len(header) + 1:
        lineages = header
    elif width == len(header):
        lineages = header[1:]
    else:
        raise ValueError(
            f"{path}, line {rows[1][0]}: {width} fields, but the header (line {header_line}) has {len(header)}"
        )
    if not lineages:
        raise ValueError(f"{path}, line {header_line}: the header names no lineage")
    _check_names(lineages, "lineage", path, header_line)
    if "pseudotime" in lineages:
        raise ValueError(f"{path}, line {header_line}: a lineage may not be named 'pseudotime'")
    cells: list[str] = []
    values: list[list[float]] = []
    for line, fields in rows[1:]:
        if len(fields) != width:
            raise ValueError(f"{path}, line {line}: {len(fields)} fields, expected {width}")
        if not fields[0]:
            raise ValueError(f"{path}, line {line}: empty cell name")
        cells.append(fields[0])
        values.append([_float(value, path, line, missing_ok=True) for value in fields[1:]])
    duplicated = sorted(pd.Index(cells)[pd.Index(cells).duplicated()].unique())
    if duplicated:
        raise ValueError(f"{path}: duplicated cell names {duplicated}")
    return pd.DataFrame(np.asarray(values, dtype=np.float64), index=pd.Index(cells), columns=pd.Index(lineages))


def _read_network(path: Path) -> pd.DataFrame:
    rows = _rows(path)
    header = next(rows, None)
    if header is None:
        raise ValueError(f"{path}: empty file")
    header_line, fields = header
    if fields[:2] != ["Gene1", "Gene2"]:
        raise ValueError(f"{path}, line {header_line}: header {fields} does not start with 'Gene1', 'Gene2'")
    type_column = fields.index("Type") if "Type" in fields else None
    regulators: list[str] = []
    targets: list[str] = []
    signs: list[int] = []
    for line, row in rows:
        if len(row) != len(fields):
            raise ValueError(f"{path}, line {line}: {len(row)} fields, expected {len(fields)}")
        if not row[0] or not row[1]:
            raise ValueError(f"{path}, line {line}: empty gene name")
        regulators.append(row[0])
        targets.append(row[1])
        signs.append(_SIGNS.get(row[type_column], 0) if type_column is not None else 0)
    return pd.DataFrame(
        {
            "regulator": np.asarray(regulators, dtype=object),
            "target": np.asarray(targets, dtype=object),
            "sign": np.asarray(signs, dtype=np.int64),
        }
    )


def read_beeline(directory: str | PathLike[str]) -> AnnData:
    """Read one BEELINE input dataset (e.g. ``Simulated/HSC/HSC_2000_0``) as cells x genes.

    The directory holds BEELINE's three input files: ``ExpressionData.csv`` (genes x cells, first column the
    gene names), ``PseudoTime.csv`` (cells x lineages, first column the cell names, ``NA`` where a cell is not
    in a lineage) and ``refNetwork.csv`` (``Gene1`` regulates ``Gene2``; ``Type`` ``+`` or ``-`` when present).
    Other files (``DeterministicPT.csv``) are ignored.

    Parameters
    ----------
    directory
        The dataset directory.

    Returns
    -------
    Annotated data matrix, cells in ``ExpressionData.csv``'s column order, genes in its row order, ``X``
    ``float32``, with

    ``obs[<lineage>]``
        ``float64``, one column per lineage named as in ``PseudoTime.csv`` (``"PseudoTime1"``, ...): the cell's
        pseudotime in that lineage, NaN where it is not in it.
    ``obs["pseudotime"]``
        The mean of the cell's non-missing lineage pseudotimes (NaN if it is in no lineage). Most cells lie in
        one lineage; cells shared by several (the trunk) get the mean of their times.
    ``obsm["lineages"]``
        Boolean :class:`~pandas.DataFrame`, cells x lineages: ``True`` where the pseudotime is not missing.
    ``uns["true_network"]``
        :class:`~pandas.DataFrame` with columns ``regulator``, ``target``, ``sign`` (``int64``: +1 for ``+``,
        -1 for ``-``, 0 when ``Type`` is absent or anything else), one row per line of ``refNetwork.csv`` in
        file order (self-loops included). It survives :meth:`~anndata.AnnData.write_h5ad`.
    ``uns["beeline"]``
        ``{"directory": <name of the directory>}``.

    Raises
    ------
    FileNotFoundError
        If the directory or one of the three files is missing.
    ValueError
        On a malformed file (bad header, ragged row, non-numeric value, duplicated names; the message names the
        file and line), or if the cells of ``PseudoTime.csv`` are not those of ``ExpressionData.csv``.

    Examples
    --------
    >>> import pathreg as pr
    >>> adata = pr.datasets.read_beeline("Beeline/inputs/Synthetic/dyn-LI/dyn-LI-2000-1")  # doctest: +SKIP
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"BEELINE dataset directory not found: {directory}")
    expression_path, pseudotime_path, network_path = (
        directory / _EXPRESSION,
        directory / _PSEUDOTIME,
        directory / _NETWORK,
    )
    for path in (expression_path, pseudotime_path, network_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path.name} not found in {directory}")
    values, genes, cells = _read_expression(expression_path)
    pseudotime = _read_pseudotime(pseudotime_path)
    network = _read_network(network_path)

    cell_index = pd.Index(cells)
    missing = cell_index.difference(pseudotime.index, sort=False)
    extra = pseudotime.index.difference(cell_index, sort=False)
    if len(missing) or len(extra):
        raise ValueError(
            f"the cells of {pseudotime_path} do not match the columns of {expression_path}: "
            f"{len(missing)} missing from {_PSEUDOTIME} {missing[:10].tolist()}, "
            f"{len(extra)} not in {_EXPRESSION} {extra[:10].tolist()}"
        )
    pseudotime = pseudotime.reindex(cell_index)

    obs = pd.DataFrame(index=cell_index)
    for lineage in pseudotime.columns:
        obs[lineage] = pseudotime[lineage].to_numpy(dtype=np.float64)
    member = pseudotime.notna()
    times = pseudotime.to_numpy(dtype=np.float64)
    counts = member.to_numpy().sum(axis=1)
    sums = np.where(member.to_numpy(), times, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        obs["pseudotime"] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    adata = AnnData(
        X=np.ascontiguousarray(values.T, dtype=np.float32),
        obs=obs,
        var=pd.DataFrame(index=pd.Index(genes)),
    )
    adata.obsm["lineages"] = pd.DataFrame(member.to_numpy(dtype=bool), index=cell_index, columns=pseudotime.columns)
    adata.uns["true_network"] = network
    adata.uns["beeline"] = {"directory": directory.resolve().name}
    return adata


def write_beeline_ranked_edges(edges: pd.DataFrame, path: str | PathLike[str]) -> None:
    """Write edges as BEELINE's ``rankedEdges.csv``, strongest first.

    The file is tab-separated with the header ``Gene1``, ``Gene2``, ``EdgeWeight``, rows sorted by decreasing
    absolute weight (ties keep their input order); weights are written as given, signed or not, at full
    precision. Parent directories are created.

    Parameters
    ----------
    edges
        Either columns ``regulator``, ``target``, ``weight`` (as :func:`pathreg.tl.grn` returns; other columns
        such as ``sign`` are ignored) or BEELINE's ``Gene1``, ``Gene2``, ``EdgeWeight``.
    path
        The file to write.

    Raises
    ------
    ValueError
        If neither set of columns is present, a weight is not finite, or a gene name holds a tab or newline.
    """
    if {"regulator", "target", "weight"} <= set(edges.columns):
        columns = ["regulator", "target", "weight"]
    elif set(_RANKED_HEADER) <= set(edges.columns):
        columns = list(_RANKED_HEADER)
    else:
        raise ValueError(
            "edges need columns ('regulator', 'target', 'weight') or ('Gene1', 'Gene2', 'EdgeWeight'), "
            f"got {list(edges.columns)}"
        )
    out = edges[columns].copy()
    out.columns = list(_RANKED_HEADER)
    weight = pd.to_numeric(out["EdgeWeight"], errors="raise").to_numpy(dtype=np.float64)
    if not np.isfinite(weight).all():
        raise ValueError("edge weights must be finite")
    for column in ("Gene1", "Gene2"):
        names = out[column].astype(str)
        if names.str.contains(r"[\t\r\n]", regex=True).any():
            raise ValueError(f"gene names may not contain tabs or newlines ({column})")
        out[column] = names.to_numpy(dtype=object)
    out["EdgeWeight"] = weight
    order = np.argsort(-np.abs(weight), kind="stable")
    out = out.iloc[order]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(_RANKED_HEADER)
        writer.writerows(
            (gene1, gene2, repr(float(value)))
            for gene1, gene2, value in zip(out["Gene1"], out["Gene2"], out["EdgeWeight"], strict=True)
        )


def read_beeline_ranked_edges(path: str | PathLike[str]) -> pd.DataFrame:
    """Read a BEELINE ``rankedEdges.csv`` (an inference method's output) as edges.

    BEELINE writes these files tab-separated despite the ``.csv`` suffix, header ``Gene1``, ``Gene2``,
    ``EdgeWeight``; a comma-separated file with the same header is accepted too (the separator is taken from
    the header line). A file with only the header (a method that found nothing) gives no rows.

    Parameters
    ----------
    path
        The ``rankedEdges.csv`` file.

    Returns
    -------
    One row per line in file order, columns ``regulator``, ``target`` (strings) and ``weight`` (``float64``,
    as written: some methods, e.g. PPCOR, give signed weights, so rank by ``weight.abs()`` if needed).

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    ValueError
        On a wrong header, a row without three fields, or a non-numeric weight (the message names the line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path.name} not found: {path}")
    with path.open(encoding="utf-8-sig") as handle:
        first = handle.readline()
    delimiter = "\t" if "\t" in first or "," not in first else ","
    rows = _rows(path, delimiter=delimiter)
    header = next(rows, None)
    if header is None:
        raise ValueError(f"{path}: empty file, expected the header {list(_RANKED_HEADER)}")
    line, fields = header
    if tuple(fields) != _RANKED_HEADER:
        raise ValueError(f"{path}, line {line}: header {fields}, expected {list(_RANKED_HEADER)}")
    regulators: list[str] = []
    targets: list[str] = []
    weights: list[float] = []
    for line, row in rows:
        if len(row) != 3:
            raise ValueError(f"{path}, line {line}: {len(row)} fields, expected 3 (Gene1, Gene2, EdgeWeight)")
        if not row[0] or not row[1]:
            raise ValueError(f"{path}, line {line}: empty gene name")
        regulators.append(row[0])
        targets.append(row[1])
        weights.append(_float(row[2], path, line, missing_ok=False))
    return pd.DataFrame(
        {
            "regulator": np.asarray(regulators, dtype=object),
            "target": np.asarray(targets, dtype=object),
            "weight": np.asarray(weights, dtype=np.float64),
        }
    )
