r"""Single-cell derivative estimates: what the ``"cells"`` objective fits the vector field to at every cell.

Estimator (per lineage): every cell's neighbourhood is its ``k`` nearest cells of the same lineage in the
state genes' expression, each gene scaled to unit variance (Euclidean distance; the cell itself included).
With more than :data:`NEIGHBOUR_COMPONENTS` state genes the distances are those of the scaled expression's first
:data:`NEIGHBOUR_COMPONENTS` principal components, as in scanpy's neighbourhood graph: the search then costs
50 numbers per pair of cells instead of one per gene (20,000 genes x 50,000 cells would take hours), and the
leading components carry the trajectory while the many small ones carry mostly noise.
The derivative at the cell is the slope of the least-squares line of each gene's expression against the
cells' model time over that neighbourhood (the times of :class:`~pathreg.tl._binning.LineageBins`: rank
or scaled pseudotime):

.. math::
    \hat{\dot x}_{c} = \frac{\sum_{n \in N(c)} (t_n - \bar t)(x_n - \bar x)}
                            {\sum_{n \in N(c)} (t_n - \bar t)^2}

It uses the neighbours ahead of the cell in time and those behind it, as a central difference does, and is
exact for expression linear in time; for a smooth trajectory sampled densely its error is of the order of
the neighbourhood's time spread squared. Noise of single cells averages over the ``k`` neighbours. A cell
in several lineages (the root) gives one point per lineage.

With RNA velocity (``velocity_key``, e.g. scVelo's ``adata.layers["velocity"]``) the velocities replace the
estimate, rescaled by one positive factor so that their root mean square equals that of the neighbourhood
estimate: velocity is in units of its own model's time, the ODE in units of the lineage's time.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from ._binning import LineageBins

DEFAULT_NEIGHBOURS = 15
"""Cells per neighbourhood of :func:`neighbourhood_derivatives`."""
NEIGHBOUR_COMPONENTS = 50
"""Principal components in which :func:`neighbourhood_derivatives` finds neighbours when there are more genes."""
SLOPE_BLOCK_ELEMENTS = 2**25
"""Neighbour values per block of cells in :func:`neighbourhood_derivatives` (256 MB of float64): all at once they
would take ``k`` times the lineage's expression (15 x 20,000 genes x 17,000 cells: 40 GB)."""


def neighbourhood_derivatives(
    values: np.ndarray, bins: list[LineageBins], scaled_time: np.ndarray, *, n_neighbours: int = DEFAULT_NEIGHBOURS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every lineage cell's state and local-linear derivative estimate (see the module's description).

    Parameters
    ----------
    values
        ``(n_obs, n_state)`` expression of the state genes (rows outside the lineages are not read).
    bins
        The lineages (their cells in time order and the cells' model times).
    scaled_time
        Every cell's scaled time (the model time of lineages without ``cell_times``).
    n_neighbours
        Cells per neighbourhood (at most the lineage's size).

    Returns
    -------
    ``(states, derivatives, cells)``: ``(n_points, n_state)`` float32 twice and the AnnData row of every point.
    """
    states, derivatives, rows = [], [], []
    for lineage in bins:
        cells = lineage.cells
        own_time = scaled_time[cells] if lineage.cell_times is None else lineage.cell_times
        lineage_values = values[cells].astype(np.float64)
        spread = lineage_values.std(axis=0)
        scaled = lineage_values / np.where(spread > 0, spread, 1.0)
        if min(scaled.shape) > NEIGHBOUR_COMPONENTS:
            scaled = PCA(n_components=NEIGHBOUR_COMPONENTS, random_state=0).fit_transform(scaled)
        k = min(int(n_neighbours), len(cells))
        _, neighbours = NearestNeighbors(n_neighbors=k).fit(scaled).kneighbors(scaled)
        del scaled
        block = max(1, SLOPE_BLOCK_ELEMENTS // (k * lineage_values.shape[1]))  # the neighbours' values, in blocks
        derivatives.append(  # float32 per lineage: what the concatenation below keeps, without a float64 copy
            np.concatenate(
                [
                    local_slopes(
                        own_time[neighbours[start : start + block]], lineage_values[neighbours[start : start + block]]
                    )
                    for start in range(0, len(cells), block)
                ]
            ).astype(np.float32)
        )
        states.append(lineage_values.astype(np.float32))  # exact: the values are float32
        rows.append(cells)
    return np.concatenate(states), np.concatenate(derivatives), np.concatenate(rows)


def local_slopes(times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Least-squares slopes of ``values`` against ``times`` per neighbourhood.

    Parameters
    ----------
    times
        ``(n_points, k)`` times of each point's neighbours.
    values
        ``(n_points, k, n_genes)`` their values.

    Returns
    -------
    ``(n_points, n_genes)``; zero where a neighbourhood's times are all equal.

    Examples
    --------
    >>> t = np.array([[0.0, 1.0, 2.0]])
    >>> local_slopes(t, np.stack([3 * t, -t + 1], axis=-1))
    array([[ 3., -1.]])
    """
    centred_time = times - times.mean(axis=1, keepdims=True)
    centred_values = values - values.mean(axis=1, keepdims=True)
    spread = (centred_time**2).sum(axis=1)
    covariance = np.einsum("pk,pkg->pg", centred_time, centred_values)
    return np.divide(covariance, spread[:, None], out=np.zeros_like(covariance), where=spread[:, None] > 0)


def rescale_velocity(velocity: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """``velocity`` times the positive factor that gives it the root mean square of ``estimate``.

    Raises
    ------
    ValueError
        If the velocities are all zero.
    """
    velocity_rms = float(np.sqrt(np.mean(np.square(velocity, dtype=np.float64))))
    if not velocity_rms > 0:
        raise ValueError("The velocity layer is zero at every cell and gene used; check the layer (scv.tl.velocity).")
    estimate_rms = float(np.sqrt(np.mean(np.square(estimate, dtype=np.float64))))
    factor = estimate_rms / velocity_rms if estimate_rms > 0 else 1.0
    return (velocity * factor).astype(np.float32)
