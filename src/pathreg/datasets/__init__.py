"""Simulators and loaders of dynamical data."""

from ._simulate import SecondOrderSystem, simulate, synthetic_second_order

__all__ = ["SecondOrderSystem", "simulate", "synthetic_second_order"]
