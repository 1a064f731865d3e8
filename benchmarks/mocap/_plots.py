"""The joint x joint dependency matrices of the motion-capture benchmark, and its figures."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from benchmarks.mocap._settings import TRAJECTORY_JOINTS
from pathreg.models import EPS

if TYPE_CHECKING:
    from benchmarks.mocap._segment import MocapSegment


def joint_dependencies(adjacency: np.ndarray | torch.Tensor, n_joints: int) -> np.ndarray:
    """Aggregate a second-order dependency matrix to joints.

    Parameters
    ----------
    adjacency
        ``(3 n_joints, 6 n_joints)``: accelerations of the joint coordinates x ``[positions, velocities]``,
        coordinates ordered joint by joint (x, y, z).
    n_joints
        Number of joints.

    Returns
    -------
    ``(n_joints, n_joints)``: entry ``(i, j)`` is the largest ``|entry|`` over the three coordinates of
    joint ``i``'s acceleration and the three position and three velocity coordinates of joint ``j``.
    """
    values = np.abs(np.asarray(adjacency.detach().cpu() if isinstance(adjacency, torch.Tensor) else adjacency))
    if values.shape != (3 * n_joints, 6 * n_joints):
        raise ValueError(f"expected a ({3 * n_joints}, {6 * n_joints}) matrix, got {values.shape}.")
    blocks = values.reshape(n_joints, 3, 2, n_joints, 3)  # target joint, coord, [x | v], source joint, coord
    return blocks.max(axis=(1, 2, 4))


def _save_or_return(fig, path: str | os.PathLike | None):
    """Lay out ``fig``; save it to ``path`` and close it, or return it open when ``path`` is None."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


def plot_joint_dependencies(
    matrices: dict[str, np.ndarray], joint_names: Sequence[str], path: str | os.PathLike | None = None
):
    """Joint x joint dependency matrices as heatmaps side by side (rows: accelerated joint).

    Parameters
    ----------
    matrices
        Title to ``(n_joints, n_joints)`` matrix (e.g. from :func:`joint_dependencies`).
    joint_names
        Row and column labels.
    path
        PNG file to save the figure to (and close it); ``None``: return it open.

    Returns
    -------
    The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    n = len(joint_names)
    fig, axes = plt.subplots(1, len(matrices), figsize=(6.5 * len(matrices), 6.2), squeeze=False)
    for ax, (title, matrix) in zip(axes[0], matrices.items(), strict=True):
        shown = np.ma.masked_less(np.asarray(matrix, dtype=float), EPS)  # pruned dependencies stay white
        image = ax.imshow(shown, cmap="viridis", interpolation="nearest")
        ax.set_xticks(range(n), joint_names, rotation=90, fontsize=6)
        ax.set_yticks(range(n), joint_names, fontsize=6)
        ax.set_xlabel("joint (position or velocity)")
        ax.set_ylabel("accelerated joint")
        zero = float(np.mean(np.asarray(matrix) < EPS))
        ax.set_title(f"{title}: {zero:.0%} of joint pairs pruned", fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8, label="max |dependency|")
    return _save_or_return(fig, path)


def plot_trajectories(
    segment: MocapSegment,
    predictions: dict[str, np.ndarray],
    path: str | os.PathLike | None = None,
    joints: Sequence[str] = TRAJECTORY_JOINTS,
):
    """True and predicted trajectories of a few joints, a vertical line at the end of the training frames.

    For each joint the coordinate with the largest spread over the training frames is shown (scaled).

    Parameters
    ----------
    segment
        The data.
    predictions
        Label to ``(n_frames, 3 n_joints)`` predicted standardised positions.
    path
        PNG file to save the figure to (and close it); ``None``: return it open.
    joints
        Joint names (those not in the segment are skipped; without any, the four that move most).

    Returns
    -------
    The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    joints = [j for j in joints if j in segment.joint_names]
    if not joints:  # none of them in this skeleton: the four joints that move most
        spread = (segment.scale * segment.positions[: segment.n_train].std(axis=0)).reshape(-1, 3).max(axis=1)
        joints = [segment.joint_names[i] for i in np.argsort(-spread, kind="stable")[:4]]
    fig, axes = plt.subplots(len(joints), 1, figsize=(9, 2.2 * len(joints)), sharex=True, squeeze=False)
    split = segment.times[segment.n_train - 1]
    for ax, joint in zip(axes[:, 0], joints, strict=True):
        index = segment.joint_names.index(joint)
        spread = (segment.scale * segment.positions[: segment.n_train].std(axis=0))[3 * index : 3 * index + 3]
        coordinate = int(np.argmax(spread))
        column = 3 * index + coordinate
        ax.plot(segment.times, segment.positions[:, column], color="black", lw=1.5, label="true")
        for label, prediction in predictions.items():
            ax.plot(segment.times, prediction[:, column], lw=1, label=label)
        ax.axvline(split, color="grey", ls="--", lw=1)
        ax.set_ylabel(f"{joint} {'xyz'[coordinate]}")
        limit = 3 * max(1.0, float(np.abs(segment.positions[:, column]).max()))
        ax.set_ylim(-limit, limit)
    axes[0, 0].legend(fontsize=7, loc="upper left", ncols=len(predictions) + 1)
    axes[0, 0].set_title("position in the units of the fit; dashed line: end of the training frames", fontsize=9)
    axes[-1, 0].set_xlabel("time (s)")
    return _save_or_return(fig, path)
