"""Tools: fit sparse neural ODEs to single-cell trajectories and read out the gene regulatory network."""

from ._fit import COLLOCATION_LAMBDA, DEFAULT_TRAINING, fit_dynamics
from ._generalization import evaluate_generalization
from ._grn import grn, to_networkx
from ._perturb import perturb
from ._predict import predict
from ._sweep import sweep

__all__ = [
    "COLLOCATION_LAMBDA",
    "DEFAULT_TRAINING",
    "evaluate_generalization",
    "fit_dynamics",
    "grn",
    "perturb",
    "predict",
    "sweep",
    "to_networkx",
]
