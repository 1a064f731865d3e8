"""Plots of fitted dynamics and inferred networks."""

from ._adjacency import adjacency

__all__ = ["adjacency"]
