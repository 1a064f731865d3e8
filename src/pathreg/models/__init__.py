"""The engine: sparse neural ODEs in torch and torchdiffeq (no AnnData).

Vector fields, hard-concrete gates, sparsity regularizers, first- and second-order ODEs solved
as one batch, training, metrics and model files.
"""

from ._collocation import fit_collocation
from ._device import resolve_device
from ._gates import (
    BETA,
    GAMMA,
    ZETA,
    GatedLinear,
    deterministic_gates,
    gate_probabilities,
    sample_gates,
)
from ._io import FORMAT_VERSION, load, load_model, save_model
from ._metrics import EPS, edge_scores, feature_sparsity, weight_sparsity
from ._ode import SOLVERS, NeuralODE, SecondOrderNeuralODE
from ._proximal import group_soft_threshold, hier_prox, soft_threshold
from ._pruning import PruningStep, prune_dependencies, solver_error
from ._regularizers import (
    METHODS,
    REGULARIZERS,
    CNODERegularizer,
    GroupLassoRegularizer,
    L0Regularizer,
    LassoNetOuterRegularizer,
    LassoNetRegularizer,
    NoRegularizer,
    PathRegRegularizer,
    Regularizer,
    get_regularizer,
)
from ._training import History, evaluation_mode, fit
from ._trajectories import Trajectories, masked_mse
from ._vector_fields import (
    ACTIVATIONS,
    GroupLassoVectorField,
    LassoNetVectorField,
    MLPVectorField,
    path_adjacency,
    resample_gates,
)

__all__ = [
    "ACTIVATIONS",
    "BETA",
    "EPS",
    "FORMAT_VERSION",
    "GAMMA",
    "METHODS",
    "REGULARIZERS",
    "SOLVERS",
    "ZETA",
    "CNODERegularizer",
    "GatedLinear",
    "GroupLassoRegularizer",
    "GroupLassoVectorField",
    "History",
    "L0Regularizer",
    "LassoNetOuterRegularizer",
    "LassoNetRegularizer",
    "LassoNetVectorField",
    "MLPVectorField",
    "NeuralODE",
    "NoRegularizer",
    "PathRegRegularizer",
    "Regularizer",
    "SecondOrderNeuralODE",
    "Trajectories",
    "deterministic_gates",
    "edge_scores",
    "feature_sparsity",
    "fit",
    "evaluation_mode",
    "fit_collocation",
    "prune_dependencies",
    "PruningStep",
    "solver_error",
    "gate_probabilities",
    "get_regularizer",
    "group_soft_threshold",
    "hier_prox",
    "load",
    "load_model",
    "masked_mse",
    "path_adjacency",
    "resample_gates",
    "resolve_device",
    "sample_gates",
    "save_model",
    "soft_threshold",
    "weight_sparsity",
]
