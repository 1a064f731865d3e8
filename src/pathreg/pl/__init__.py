"""Plots of fitted dynamics and inferred networks."""

from ._adjacency import adjacency
from ._generalization import generalization
from ._method_comparison import method_comparison
from ._network import network
from ._perturbation import perturbation
from ._sparsity import sparsity
from ._training import training
from ._trajectories import trajectories

__all__ = [
    "adjacency",
    "generalization",
    "method_comparison",
    "network",
    "perturbation",
    "sparsity",
    "training",
    "trajectories",
]
