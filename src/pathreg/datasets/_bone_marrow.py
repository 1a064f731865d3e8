"""The human bone marrow trajectories curated for the PathReg paper, with the base GRN as a TF -> target prior."""

from __future__ import annotations

import gzip
import os
import re
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

#: Batch codes of the file names (``<lineage>_<code>_norm.csv``) -> site/donor labels of the NeurIPS 2021 data.
BATCH_CODES: dict[str, str] = {"11": "s1d1", "12": "s1d2", "21": "s2d1", "24": "s2d4", "36": "s3d6"}
LINEAGES: tuple[str, ...] = ("B", "eryth", "mono")

_REPOSITORY = "theislab/PathReg"
_COMMIT = "95f84b656e3dc4b0e5a73ea9d99f5712fad48527"
_BASE_URL = f"https://raw.githubusercontent.com/{_REPOSITORY}/{_COMMIT}/data/data"
_SOURCE = (
    f"github.com/{_REPOSITORY}, data/data/ (MIT License); curated from the NeurIPS 2021 single-cell multiome "
    "benchmark, human bone marrow, GEO GSE194122 (Luecken et al. 2021)"
)
_PSEUDOTIME = "dpt_pseudotime"
_GRN_FILE = "tf_targets_baseGRN_human_matrix.csv.gz"
_TRAJECTORY_DIRS = ("trajectories",)
_TF_TARGET_DIRS = ("tf-targets", "TFs_Targets")
_FILE_PATTERN = re.compile(r"^(?P<lineage>[^_]+)_(?P<code>[^_]+)_norm\.csv$")
# the files the upstream repository holds (eryth_24 does not exist there), remote path -> local path in the cache
_REMOTE_FILES: dict[str, str] = {
    **{
        f"trajectories/{lineage}_{code}_norm.csv": f"trajectories/{lineage}_{code}_norm.csv"
        for lineage in LINEAGES
        for code in BATCH_CODES
        if (lineage, code) != ("eryth", "24")
    },
    f"TFs_Targets/{_GRN_FILE}": f"tf-targets/{_GRN_FILE}",
}


def bone_marrow(path: str | os.PathLike[str] | None = None) -> AnnData:
    """Human bone marrow differentiation trajectories of the PathReg paper, with the base GRN as a prior.

    The curated trajectories of the PathReg repository (``theislab/PathReg``, ``data/data/``), built from the
    NeurIPS 2021 single-cell multiome benchmark (human bone marrow, GEO GSE194122): three lineages (``B``,
    ``eryth``, ``mono``), each from the HSCs to the mature cell type, in up to five batches, over the same 529
    genes (log-normalized expression). All files' cells are stacked into one object; cells are not sorted
    (sort by ``obs["dpt_pseudotime"]`` within a batch and lineage). A lineage/batch combination without a file
    (``eryth`` of ``s2d4`` upstream) is simply absent.

    Parameters
    ----------
    path
        A local copy: a directory with a ``trajectories/`` folder of ``<lineage>_<batch>_norm.csv`` files (or
        the folder of those files itself) and a ``tf-targets/`` (or upstream ``TFs_Targets/``) folder holding
        ``tf_targets_baseGRN_human_matrix.csv.gz``, either beside the files or one level up. If ``None``, the
        cache ``$PATHREG_CACHE/bone_marrow`` (default ``~/.cache/pathreg/bone_marrow``) is used, and whatever is
        missing there is downloaded from GitHub first. Nothing is downloaded when a path is given.

    Returns
    -------
    Annotated data matrix (cells x 529 genes, ``X`` ``float32``) with

    ``obs["batch"]``
        Categorical: ``"s1d1"``, ``"s1d2"``, ``"s2d1"``, ``"s2d4"``, ``"s3d6"`` for the file codes 11, 12, 21, 24,
        36 (another code is kept as is). s1d2 is the training batch of the paper.
    ``obs["lineage"]``
        Categorical: ``"B"``, ``"eryth"``, ``"mono"``.
    ``obs["dpt_pseudotime"]``
        ``float``, diffusion pseudotime computed per batch (root: the first HSC).
    ``obs_names``
        ``"<lineage>_<batch>_<row>"``, with ``row`` the 0-based row of the cell in its file.
    ``var["is_tf"]``
        ``bool``, whether the gene is one of the 762 TFs of the base GRN.
    ``varp["base_grn"]``
        ``bool`` (n_vars x n_vars), rows targets, columns regulators: ``True`` where the base GRN (TF-to-target
        candidates from chromatin accessibility and motifs) has the edge column -> row. Only TF columns are
        nonzero.
    ``uns["bone_marrow"]``
        ``source``, ``url`` and ``batch_codes`` (the file code -> label mapping of the batches present).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist, holds no ``*_norm.csv`` file or no base GRN file.
    ValueError
        If a file is malformed (names the file and the line) or the files disagree on the genes.
    RuntimeError
        If ``path`` is ``None`` and the download fails.

    Examples
    --------
    >>> import pathreg as pr
    >>> adata = pr.datasets.bone_marrow("bone-marrow-trajectories")  # doctest: +SKIP
    >>> adata.n_vars, adata.obs["lineage"].cat.categories.tolist()  # doctest: +SKIP
    (529, ['B', 'eryth', 'mono'])
    """
    if path is None:
        root = _cache_dir()
        try:
            _download(root)
        except RuntimeError as error:
            # offline with an incomplete cache: use what is there, say what is missing
            missing = [local for local in _REMOTE_FILES.values() if not (root / local).is_file()]
            if (root / _REMOTE_FILES[f"TFs_Targets/{_GRN_FILE}"]).is_file() and len(missing) < len(_REMOTE_FILES) - 1:
                warnings.warn(
                    f"{error} Using the {len(_REMOTE_FILES) - len(missing)} files already in the cache; missing: "
                    f"{', '.join(missing)}.",
                    UserWarning,
                    stacklevel=2,
                )
            else:
                raise
    else:
        root = Path(path).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"No bone marrow data at {root}: the directory does not exist.")
    files = _trajectory_files(root)

    genes: list[str] | None = None
    first_file: Path | None = None
    blocks: list[np.ndarray] = []
    pseudotimes: list[np.ndarray] = []
    names: list[str] = []
    lineages: list[str] = []
    batches: list[str] = []
    codes: dict[str, str] = {}
    for lineage, code, file in files:
        columns, values = _read_trajectory(file)
        if genes is None:
            genes, first_file = columns, file
        elif columns != genes:
            raise ValueError(
                f"{file}: its genes differ from those of {first_file} ({_first_difference(genes, columns)}); all "
                "trajectory files must list the same genes in the same order."
            )
        batch = BATCH_CODES.get(code, code)
        codes[code] = batch
        n_cells = values.shape[0]
        blocks.append(values[:, 1:].astype(np.float32))
        pseudotimes.append(values[:, 0])
        names.extend(f"{lineage}_{batch}_{row}" for row in range(n_cells))
        lineages.extend([lineage] * n_cells)
        batches.extend([batch] * n_cells)
    assert genes is not None

    obs = pd.DataFrame(index=pd.Index(names, dtype=object))
    batch_order = [BATCH_CODES[code] for code in BATCH_CODES if code in codes]
    batch_order += sorted(label for code, label in codes.items() if code not in BATCH_CODES)
    obs["batch"] = pd.Categorical(batches, categories=batch_order)
    obs["lineage"] = pd.Categorical(lineages, categories=sorted(set(lineages)))
    obs[_PSEUDOTIME] = np.concatenate(pseudotimes).astype(np.float64)
    if not obs.index.is_unique:
        raise ValueError(f"The cell names built from the files of {root} are not unique.")
    var = pd.DataFrame(index=pd.Index(genes, dtype=object))

    grn_file = _grn_file(root)
    grn = _read_base_grn(grn_file, genes)  # all TFs x the targets among the genes
    is_tf = var.index.isin(grn.index)
    var["is_tf"] = np.asarray(is_tf, dtype=bool)
    grn = grn.loc[grn.index.isin(var.index)]
    base_grn = np.zeros((len(genes), len(genes)), dtype=bool)
    position = pd.Series(np.arange(len(genes)), index=var.index)
    tf_rows, target_cols = np.nonzero(grn.to_numpy())
    base_grn[position[grn.columns[target_cols]].to_numpy(), position[grn.index[tf_rows]].to_numpy()] = True

    adata = AnnData(X=np.concatenate(blocks, axis=0), obs=obs, var=var)
    adata.varp["base_grn"] = base_grn
    adata.uns["bone_marrow"] = {
        "source": _SOURCE,
        "url": f"https://github.com/{_REPOSITORY}/tree/{_COMMIT}/data/data",
        "batch_codes": {code: codes[code] for code in sorted(codes)},
    }
    return adata


def _cache_dir() -> Path:
    """``$PATHREG_CACHE/bone_marrow``, by default ``~/.cache/pathreg/bone_marrow``."""
    base = os.environ.get("PATHREG_CACHE")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "pathreg"
    return root / "bone_marrow"


def _download(root: Path, base_url: str = _BASE_URL, timeout: float = 60.0) -> None:
    """Fetch the files of the PathReg repository missing under ``root`` (trajectories and the base GRN)."""
    for remote, local in _REMOTE_FILES.items():
        target = root / local
        if target.is_file():
            continue
        url = f"{base_url}/{urllib.request.quote(remote)}"
        partial = target.with_name(target.name + ".part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with urllib.request.urlopen(url, timeout=timeout) as response:
                partial.write_bytes(response.read())
            partial.replace(target)
        except (OSError, urllib.error.URLError) as error:
            partial.unlink(missing_ok=True)
            raise RuntimeError(
                f"Could not download the bone marrow data ({url}: {error}) into {root}. Download "
                f"https://github.com/{_REPOSITORY}/tree/{_COMMIT}/data/data yourself and pass its directory "
                "as bone_marrow(path=...)."
            ) from error


def _trajectory_files(root: Path) -> list[tuple[str, str, Path]]:
    """``(lineage, batch code, file)`` of every ``*_norm.csv`` under ``root`` (or ``root/trajectories``)."""
    folder = next((root / name for name in _TRAJECTORY_DIRS if (root / name).is_dir()), root)
    found = sorted(folder.glob("*_norm.csv"))
    if not found:
        raise FileNotFoundError(
            f"No trajectory files (<lineage>_<batch>_norm.csv) in {folder}; pass the directory of the bone "
            "marrow data (with a trajectories/ folder) as path=, or path=None to download it."
        )
    files = []
    for file in found:
        match = _FILE_PATTERN.match(file.name)
        if match is None:
            raise ValueError(f"{file}: expected a file name <lineage>_<batch>_norm.csv.")
        files.append((match["lineage"], match["code"], file))
    order = {code: rank for rank, code in enumerate(BATCH_CODES)}
    return sorted(files, key=lambda item: (item[0], order.get(item[1], len(order)), item[1]))


def _read_trajectory(file: Path) -> tuple[list[str], np.ndarray]:
    """Gene names and ``float64`` values (first column the pseudotime) of one tab-separated trajectory file."""
    with file.open(encoding="utf-8", newline="") as handle:
        header_line = handle.readline()
    header = header_line.rstrip("\r\n").split("\t")
    if not header_line.strip():
        raise ValueError(f"{file}, line 1: the file is empty; expected a tab-separated header.")
    if header[0] != _PSEUDOTIME or len(header) < 2:
        raise ValueError(f"{file}, line 1: expected the header '{_PSEUDOTIME}<TAB>gene...', got {header[:3]!r}.")
    if len(set(header)) != len(header):
        duplicated = sorted({name for name in header if header.count(name) > 1})
        raise ValueError(f"{file}, line 1: duplicated column names {duplicated[:5]!r}.")
    try:
        table = pd.read_csv(
            file, sep="\t", header=None, skiprows=1, dtype=np.float64, engine="c", skip_blank_lines=False
        )
        values = table.to_numpy()
        fast_ok = values.ndim == 2 and (values.shape[0] == 0 or values.shape[1] == len(header))
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        values, fast_ok = np.empty((0, len(header))), False
    if not fast_ok or np.isnan(values).any():
        _validate_lines(file, len(header))  # raises with the line number; passes for literal NaN values
        if not fast_ok:
            values = np.empty((0, len(header)))
    return header[1:], values.reshape(-1, len(header))


def _validate_lines(file: Path, n_columns: int) -> None:
    """Check every data line of ``file``: ``n_columns`` numeric tab-separated fields; raise at the first bad one."""
    lines = file.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != n_columns:
            raise ValueError(f"{file}, line {number}: expected {n_columns} tab-separated fields, got {len(fields)}.")
        for column, field in enumerate(fields):
            if field.strip().lower() in ("", "nan"):
                raise ValueError(f"{file}, line {number}, column {column + 1}: missing value {field!r}.")
            try:
                float(field)
            except ValueError:
                raise ValueError(f"{file}, line {number}, column {column + 1}: {field!r} is not a number.") from None


def _first_difference(expected: list[str], got: list[str]) -> str:
    if len(expected) != len(got):
        return f"{len(got)} genes instead of {len(expected)}"
    column = next(index for index, (a, b) in enumerate(zip(expected, got, strict=True)) if a != b)
    return f"column {column + 2} is {got[column]!r}, not {expected[column]!r}"


def _grn_file(root: Path) -> Path:
    candidates = [base / name / _GRN_FILE for base in (root, root.parent) for name in _TF_TARGET_DIRS]
    candidates.append(root / _GRN_FILE)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"No base GRN ({_GRN_FILE}) in a tf-targets/ folder of {root}; it is needed for var['is_tf'] and "
        "varp['base_grn']."
    )


def _read_base_grn(file: Path, genes: list[str]) -> pd.DataFrame:
    """The binary TF x target matrix of ``file`` (rows TFs), as ``bool``, restricted to target columns in ``genes``."""
    with gzip.open(file, "rt", encoding="utf-8") as handle:
        header = handle.readline().rstrip("\r\n").split(",")
    wanted = set(genes)
    usecols = [0] + [index for index, name in enumerate(header) if index > 0 and name in wanted]
    try:
        table = pd.read_csv(file, usecols=usecols, index_col=0, dtype=dict.fromkeys(header[1:], np.float64))
    except (ValueError, pd.errors.ParserError) as error:
        raise ValueError(f"{file}: cannot read the base GRN matrix ({error}).") from error
    if table.isna().to_numpy().any():
        raise ValueError(f"{file}: the base GRN matrix has missing values.")
    if not table.index.is_unique:
        raise ValueError(f"{file}: the TF names (first column) are not unique.")
    return table != 0
