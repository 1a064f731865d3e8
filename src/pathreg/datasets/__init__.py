"""Simulators and loaders of dynamical data."""

from ._beeline import read_beeline, read_beeline_ranked_edges, write_beeline_ranked_edges
from ._bone_marrow import bone_marrow
from ._bvh import BVHSkeleton, read_bvh
from ._krumsiek11 import krumsiek11, krumsiek11_network
from ._mocap import Motion, Skeleton, cmu_mocap, forward_kinematics, read_amc, read_asf, read_asf_amc
from ._ode2vae import read_ode2vae_mat
from ._simulate import SecondOrderSystem, simulate, synthetic_second_order

__all__ = [
    "BVHSkeleton",
    "Motion",
    "SecondOrderSystem",
    "Skeleton",
    "bone_marrow",
    "cmu_mocap",
    "forward_kinematics",
    "krumsiek11",
    "krumsiek11_network",
    "read_amc",
    "read_asf",
    "read_asf_amc",
    "read_beeline",
    "read_beeline_ranked_edges",
    "read_bvh",
    "read_ode2vae_mat",
    "simulate",
    "synthetic_second_order",
    "write_beeline_ranked_edges",
]
