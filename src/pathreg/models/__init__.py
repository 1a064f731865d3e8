"""The engine: sparse neural ODEs in torch and torchdiffeq (no AnnData).

Vector fields, hard-concrete gates, sparsity regularizers, first- and second-order ODEs solved
as one batch, training, metrics and model files.
"""

from ._clamped import ClampedODE
from ._collocation import fit_collocation, fit_collocation_ensemble
from ._device import resolve_device
from ._ensemble import ENSEMBLE_FORMAT_VERSION, METADATA_FIELDS, Ensemble, check_consensus, load
from ._gates import (
    BETA,
    GAMMA,
    ZETA,
    GatedLinear,
    deterministic_gates,
    gate_probabilities,
    sample_gates,
)
from ._io import FORMAT_VERSION, load_model, save_model
from ._metrics import EPS, edge_scores, feature_sparsity, weight_sparsity
from ._ode import SOLVERS, NeuralODE, SecondOrderNeuralODE, Solver, check_solver
from ._proximal import group_soft_threshold, hier_prox, soft_threshold
from ._pruning import PruningStep, prune_dependencies, solver_error
from ._readout import READOUTS, ablation_strength, normalize_targets, signed_strength, structural_support
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
from ._settings import CollocationSettings, ShootingSettings
from ._stacking import can_stack, stack_members, unstack_members
from ._stages import History, Stage, run_stage
from ._training import evaluation_mode, fit
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
    "ENSEMBLE_FORMAT_VERSION",
    "EPS",
    "FORMAT_VERSION",
    "GAMMA",
    "METADATA_FIELDS",
    "METHODS",
    "REGULARIZERS",
    "SOLVERS",
    "ZETA",
    "CNODERegularizer",
    "ClampedODE",
    "CollocationSettings",
    "Ensemble",
    "check_consensus",
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
    "PruningStep",
    "Regularizer",
    "SecondOrderNeuralODE",
    "ShootingSettings",
    "Solver",
    "Stage",
    "Trajectories",
    "can_stack",
    "check_solver",
    "deterministic_gates",
    "edge_scores",
    "evaluation_mode",
    "feature_sparsity",
    "fit",
    "fit_collocation",
    "fit_collocation_ensemble",
    "gate_probabilities",
    "get_regularizer",
    "group_soft_threshold",
    "hier_prox",
    "load",
    "load_model",
    "masked_mse",
    "normalize_targets",
    "path_adjacency",
    "prune_dependencies",
    "resample_gates",
    "resolve_device",
    "run_stage",
    "sample_gates",
    "save_model",
    "signed_strength",
    "ablation_strength",
    "READOUTS",
    "soft_threshold",
    "stack_members",
    "solver_error",
    "structural_support",
    "unstack_members",
    "weight_sparsity",
]
