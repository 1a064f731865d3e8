"""Simulators and loaders of dynamical data."""

from ._krumsiek11 import krumsiek11, krumsiek11_network
from ._simulate import SecondOrderSystem, simulate, synthetic_second_order

__all__ = ["SecondOrderSystem", "krumsiek11", "krumsiek11_network", "simulate", "synthetic_second_order"]
