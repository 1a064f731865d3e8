"""Plots of fitted dynamics and inferred networks."""

from ._adjacency import adjacency
from ._method_comparison import method_comparison
from ._network import network
from ._sparsity import sparsity
from ._training import training
from ._trajectories import trajectories

__all__ = ["adjacency", "method_comparison", "network", "sparsity", "training", "trajectories"]
