"""Tools: fit sparse neural ODEs to single-cell trajectories and read out the gene regulatory network.

:func:`fit_dynamics` is the composition of three public pieces that :func:`sweep`,
:func:`evaluate_generalization` and scripts use directly: :meth:`DynamicsProblem.from_anndata` (validate and
extract), :func:`fit_ensemble` (fit and read out, no AnnData) and :func:`write_fit` (write back).
"""

from ._ensemble_fit import FitResult, build_member, fit_ensemble
from ._fit import fit_dynamics
from ._generalization import evaluate_generalization
from ._grn import grn, to_networkx
from ._objectives import OBJECTIVES, Cells, Collocation, Objective, Shooting
from ._perturb import perturb
from ._predict import predict
from ._problem import DynamicsProblem
from ._settings import FitSettings
from ._sweep import sweep
from ._write import write_fit

__all__ = [
    "OBJECTIVES",
    "Cells",
    "Collocation",
    "DynamicsProblem",
    "FitResult",
    "FitSettings",
    "Objective",
    "Shooting",
    "build_member",
    "evaluate_generalization",
    "fit_dynamics",
    "fit_ensemble",
    "grn",
    "perturb",
    "predict",
    "sweep",
    "to_networkx",
    "write_fit",
]
