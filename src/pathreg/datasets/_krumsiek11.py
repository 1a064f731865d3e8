"""The simulated myeloid progenitors of Krumsiek et al. (2011), as bundled with scanpy, made h5ad-safe."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

_COUPLING_MARKER = "# coupling list:"


def krumsiek11() -> AnnData:
    """Simulated myeloid differentiation (Krumsiek et al. 2011): 640 cells x 11 transcription factors.

    The data of :func:`scanpy.datasets.krumsiek11` (shipped inside scanpy; nothing is downloaded), simulated
    from the boolean network of :func:`krumsiek11_network`: four realizations of 160 time steps, each
    starting from the progenitor state and ending in one of four fates (monocyte ``Mo``, erythrocyte ``Ery``,
    megakaryocyte ``Mk``, neutrophil ``Neu``). scanpy names the cells by their time step, so the names
    repeat, and stores ``uns["highlights"]`` with integer keys, which h5ad cannot write. Here the cells are
    named ``"<realization>-<time step>"`` and ``uns["highlights"]`` is dropped, so the object survives
    :meth:`~anndata.AnnData.write_h5ad`.

    Returns
    -------
    Annotated data matrix with

    ``obs["cell_type"]``
        Categorical: ``"progenitor"`` (the first 80 steps of each realization) or the fate.
    ``obs["time_step"]``
        ``int``, the simulation step, 0 to 159 within each realization.
    ``obs["realization"]``
        Categorical ``"0"`` to ``"3"``, the simulation run (row // 160).
    ``uns["iroot"]``
        ``0``, the first cell of the first realization.

    Examples
    --------
    >>> import pathreg as pr
    >>> adata = pr.datasets.krumsiek11()
    >>> adata.obs_names[:2].tolist(), adata.obs["realization"].cat.categories.tolist()
    (['0-0', '0-1'], ['0', '1', '2', '3'])
    """
    import scanpy as sc

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*names are not unique", category=UserWarning)
        adata = sc.datasets.krumsiek11()
    adata.uns.pop("highlights", None)
    # scanpy builds the categories as a pandas "string" array; plain object strings are what h5ad gives back
    adata.obs["cell_type"] = pd.Categorical(np.asarray(adata.obs["cell_type"], dtype=object))
    time_step = np.asarray(adata.obs_names, dtype=np.int64)
    realization = np.arange(adata.n_obs) // 160
    adata.obs["time_step"] = time_step
    adata.obs["realization"] = pd.Categorical(realization.astype(str))
    adata.obs_names = pd.Index([f"{run}-{step}" for run, step in zip(realization, time_step, strict=True)])
    adata.uns["iroot"] = int(adata.uns.get("iroot", 0))
    return adata


def _scanpy_sim_model_path() -> Path:
    import scanpy

    return Path(scanpy.__file__).parent / "sim_models" / "krumsiek11.txt"


def krumsiek11_network() -> pd.DataFrame:
    """The regulatory network behind :func:`krumsiek11`: 30 signed, weighted edges among 11 genes.

    Parsed from the coupling list of scanpy's simulation model ``scanpy/sim_models/krumsiek11.txt``
    (Krumsiek et al. 2011, Table 1): the lines after ``# coupling list:``, columns target, regulator,
    weight. Four edges are self-loops (Gata2, Gata1, Cebpa and Pu.1 sustain themselves), 26 are not.

    Returns
    -------
    One row per edge, in the file's order, with columns

    ``regulator``, ``target``
        Gene names, as in ``krumsiek11().var_names``.
    ``weight``
        ``float``, the coupling strength; negative for repression.
    ``sign``
        ``int``, ``1`` (activation) or ``-1`` (repression).
    ``self_loop``
        ``bool``, whether regulator and target are the same gene.

    Raises
    ------
    FileNotFoundError
        If the installed scanpy does not ship the model file.
    ValueError
        If the file has no coupling list or a malformed line.

    Examples
    --------
    >>> import pathreg as pr
    >>> network = pr.datasets.krumsiek11_network()
    >>> len(network), int((~network["self_loop"]).sum())
    (30, 26)
    """
    path = _scanpy_sim_model_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"The Krumsiek et al. (2011) model file is missing: {path} does not exist. It ships with scanpy "
            "(sim_models/krumsiek11.txt); reinstall scanpy >= 1.10."
        )
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        start = next(number for number, line in enumerate(lines) if line.strip() == _COUPLING_MARKER) + 1
    except StopIteration:
        raise ValueError(f"{path} has no line {_COUPLING_MARKER!r}; cannot read the coupling list.") from None
    rows = []
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        try:
            if len(fields) != 3:
                raise ValueError(len(fields))
            target, regulator, weight = fields[0], fields[1], float(fields[2])
        except ValueError:
            raise ValueError(f"{path}, line {number}: expected 'target regulator weight', got {line!r}.") from None
        rows.append((regulator, target, weight))
    if not rows:
        raise ValueError(f"{path} has an empty coupling list.")
    network = pd.DataFrame(rows, columns=["regulator", "target", "weight"])
    network["sign"] = np.sign(network["weight"]).astype(np.int64)
    network["self_loop"] = network["regulator"] == network["target"]
    return network
