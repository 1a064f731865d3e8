r"""Sparsity regularizers, keyed by name in :data:`REGULARIZERS`.

Each regularizer builds the vector field it acts on, returns its penalty, optionally applies a
proximal step after every optimizer step, and reads out the dependency matrix.

Normalisation: every penalty is a *mean over its natural units*, so that one ``lambda_`` means
the same for a 6-input toy system and a 529-gene network, and for narrow and wide layers:

=================  ==========================================================================
``l0``             mean of :math:`P(z \neq 0)` over all gates (expected fraction of active weights)
``cnode``          mean over the :math:`n_{out} n_{in}` entries of :math:`|W^{L+1}|\cdots|W^1|`
``pathreg``        :math:`\lambda_0` times the mean over entries of :math:`A_z / \prod_l h_l` (expected
                   fraction of active paths, :math:`\prod_l h_l` being the number of paths per pair)
                   plus :math:`\lambda_1` times the mean over entries of the gated :math:`A` (Eq. 13)
``lassonet_*``     mean over inputs of :math:`\|S_{\cdot,k}\|_2` (proximal, hier-prox)
``grouplasso``     mean over (output, input) groups of the group's L2 norm (proximal)
=================  ==========================================================================

Proximal regularizers handle their non-smooth penalty with the proximal step only (threshold
``lambda * learning_rate / n_units``); their penalty is reported but adds no gradient.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .._utils import check_choice
from ._proximal import group_soft_threshold, hier_prox
from ._vector_fields import GroupLassoVectorField, LassoNetVectorField, MLPVectorField, path_adjacency_mean


class Regularizer:
    """Base class: no penalty, a plain MLP vector field (the *Base* method).

    Parameters
    ----------
    lambda_
        Strength of the penalty; ``None`` takes the method's default.
    """

    name = "none"
    default_lambda = 0.0
    smooth = True  # the penalty enters the gradient; False: handled by the proximal step
    stackable = False
    """Whether :meth:`penalty` and :meth:`proximal_step` act per member on stacked parameters
    (:func:`~pathreg.models.stack_members`), so an ensemble can be trained as one model."""

    def __init__(self, lambda_: float | None = None) -> None:
        self.lambda_ = float(self.default_lambda if lambda_ is None else lambda_)
        if self.lambda_ < 0 or not math.isfinite(self.lambda_):
            raise ValueError(f"lambda_ must be a non-negative finite number, got {lambda_}.")

    def build_vector_field(self, n_inputs: int, n_outputs: int, **options) -> nn.Module:
        """Build the vector field this method trains (options as in :class:`MLPVectorField`)."""
        return MLPVectorField(n_inputs, n_outputs, **options)

    def penalty(self, vector_field: nn.Module) -> torch.Tensor:
        """The penalty, already multiplied by its lambda(s)."""
        return torch.zeros((), device=_device_of(vector_field))

    def proximal_step(self, vector_field: nn.Module, learning_rate: float, scale: float = 1.0) -> None:
        """Apply the proximal operator after an optimizer step (no-op by default)."""

    def hyperparameters(self) -> dict:
        """The regularizer's settings, for records."""
        return {"method": self.name, "lambda_": self.lambda_}

    def __repr__(self) -> str:
        settings = ", ".join(f"{key}={value!r}" for key, value in self.hyperparameters().items() if key != "method")
        return f"{type(self).__name__}({settings})"


def _device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def _mean_path_count(vector_field: MLPVectorField) -> float:
    return float(math.prod(vector_field.hidden)) if vector_field.hidden else 1.0


class NoRegularizer(Regularizer):
    """Base: no sparsity penalty."""

    stackable = True


class L0Regularizer(Regularizer):
    """L0 (Louizos et al. 2018): expected fraction of active weights of a gated MLP.

    Parameters
    ----------
    lambda_
        Penalty strength.
    gate
        ``"weight"`` or ``"input"`` (one gate per input unit, the original variant).
    log_alpha_init
        Initial gate ``log_alpha``.
    """

    name = "l0"
    default_lambda = 1e-3
    stackable = True

    def __init__(self, lambda_: float | None = None, *, gate: str = "weight", log_alpha_init: float = 2.0) -> None:
        super().__init__(lambda_)
        self.gate = gate
        self.log_alpha_init = log_alpha_init

    def build_vector_field(self, n_inputs: int, n_outputs: int, **options) -> nn.Module:
        """A gated :class:`MLPVectorField`."""
        options = {"gate": self.gate, "log_alpha_init": self.log_alpha_init, **options, "gated": True}
        return MLPVectorField(n_inputs, n_outputs, **options)

    def penalty(self, vector_field: MLPVectorField) -> torch.Tensor:
        """``lambda_`` times the mean gate-open probability over all weights (one per member for stacked gates)."""
        probabilities = [layer.gate_probabilities() for layer in vector_field.layers]
        total = sum(p.sum(dim=(-2, -1)) for p in probabilities)
        count = sum(p.shape[-2] * p.shape[-1] for p in probabilities)
        return self.lambda_ * total / count

    def hyperparameters(self) -> dict:
        """Settings for records."""
        return {**super().hyperparameters(), "gate": self.gate, "log_alpha_init": self.log_alpha_init}


class CNODERegularizer(Regularizer):
    r"""C-NODE (Aliee et al. 2021): mean entry of :math:`|W^{L+1}|\cdots|W^1|`."""

    name = "cnode"
    default_lambda = 1e-3
    stackable = True

    def penalty(self, vector_field: MLPVectorField) -> torch.Tensor:
        """``lambda_`` times the mean entry of the absolute-weight path product."""
        return self.lambda_ * path_adjacency_mean(vector_field.layer_weights())


class PathRegRegularizer(L0Regularizer):
    r"""PathReg (Aliee et al. 2022): expected fraction of active input-output paths, plus optionally ||A||.

    .. math::
        \lambda_0\, \mathrm{mean}\big(G^{L+1}\cdots G^1\big) / \textstyle\prod_l h_l
        + \lambda_1\, \mathrm{mean}\big((|W^{L+1}|\odot G^{L+1}) \cdots (|W^1|\odot G^1)\big)

    Parameters
    ----------
    lambda_
        :math:`\lambda_0`, the path penalty.
    lambda_1
        Weight of the gated path product's mean (the ``||A||`` term).
    gate, log_alpha_init
        As in :class:`L0Regularizer`.
    """

    name = "pathreg"
    default_lambda = 1e-2

    def __init__(
        self,
        lambda_: float | None = None,
        *,
        lambda_1: float = 0.0,
        gate: str = "weight",
        log_alpha_init: float = 2.0,
    ) -> None:
        super().__init__(lambda_, gate=gate, log_alpha_init=log_alpha_init)
        if lambda_1 < 0:
            raise ValueError(f"lambda_1 must be non-negative, got {lambda_1}.")
        self.lambda_1 = float(lambda_1)

    def penalty(self, vector_field: MLPVectorField) -> torch.Tensor:
        """The weighted path penalty."""
        probabilities = vector_field.gate_probability_matrices()
        value = self.lambda_ * path_adjacency_mean(probabilities) / _mean_path_count(vector_field)
        if self.lambda_1 > 0:
            gated = [layer.weight * p for layer, p in zip(vector_field.layers, probabilities, strict=True)]
            value = value + self.lambda_1 * path_adjacency_mean(gated)
        return value

    def hyperparameters(self) -> dict:
        """Settings for records."""
        return {**super().hyperparameters(), "lambda_1": self.lambda_1}


class LassoNetRegularizer(Regularizer):
    """LassoNet (Lemhadri et al. 2021): L1 on the skip connection with the hierarchy, by hier-prox.

    Parameters
    ----------
    lambda_
        Penalty strength.
    hierarchy
        :math:`M`, the hierarchy coefficient.
    """

    name = "lassonet_inner"
    placement = "inner"
    default_lambda = 1e-2
    smooth = False

    def __init__(self, lambda_: float | None = None, *, hierarchy: float = 10.0) -> None:
        super().__init__(lambda_)
        if hierarchy <= 0:
            raise ValueError(f"hierarchy (M) must be positive, got {hierarchy}.")
        self.hierarchy = float(hierarchy)

    def build_vector_field(self, n_inputs: int, n_outputs: int, **options) -> nn.Module:
        """A :class:`LassoNetVectorField` with this method's placement."""
        for unsupported in ("gated", "gate", "log_alpha_init"):
            options.pop(unsupported, None)
        return LassoNetVectorField(n_inputs, n_outputs, placement=self.placement, **options)

    def penalty(self, vector_field: LassoNetVectorField) -> torch.Tensor:
        """``lambda_`` times the mean over inputs of the skip columns' L2 norms."""
        return self.lambda_ * torch.linalg.vector_norm(vector_field.skip.weight, dim=0).mean()

    @torch.no_grad()
    def proximal_step(self, vector_field: LassoNetVectorField, learning_rate: float, scale: float = 1.0) -> None:
        """Hier-prox on the skip and the network's first layer."""
        first = vector_field.network.layers[0].weight
        threshold = scale * self.lambda_ * learning_rate / vector_field.n_inputs
        new_skip, new_first = hier_prox(vector_field.skip.weight, first, threshold, self.hierarchy)
        vector_field.skip.weight.copy_(new_skip)
        first.copy_(new_first)

    def hyperparameters(self) -> dict:
        """Settings for records."""
        return {**super().hyperparameters(), "hierarchy": self.hierarchy}


class LassoNetOuterRegularizer(LassoNetRegularizer):
    """LassoNet with the skip connection outside the ODE solve."""

    name = "lassonet_outer"
    placement = "outer"


class GroupLassoRegularizer(Regularizer):
    """Group lasso (Bellot et al. 2022) on one batched network per output, by group soft-thresholding."""

    name = "grouplasso"
    default_lambda = 1e-2
    smooth = False

    def build_vector_field(self, n_inputs: int, n_outputs: int, **options) -> nn.Module:
        """A :class:`GroupLassoVectorField`."""
        for unsupported in ("gated", "gate", "log_alpha_init"):
            options.pop(unsupported, None)
        return GroupLassoVectorField(n_inputs, n_outputs, **options)

    def penalty(self, vector_field: GroupLassoVectorField) -> torch.Tensor:
        """``lambda_`` times the mean group norm."""
        return self.lambda_ * vector_field.group_norms().mean()

    @torch.no_grad()
    def proximal_step(self, vector_field: GroupLassoVectorField, learning_rate: float, scale: float = 1.0) -> None:
        """Soft-threshold every group of first-layer weights."""
        first = vector_field.first_weight
        threshold = scale * self.lambda_ * learning_rate / (vector_field.n_outputs * vector_field.n_inputs)
        first.copy_(group_soft_threshold(first, threshold, dim=1))


REGULARIZERS: dict[str, type[Regularizer]] = {
    cls.name: cls
    for cls in (
        NoRegularizer,
        L0Regularizer,
        CNODERegularizer,
        PathRegRegularizer,
        LassoNetRegularizer,
        LassoNetOuterRegularizer,
        GroupLassoRegularizer,
    )
}
"""Regularizers by method name; ``"none"`` is the unpenalised Base method."""

METHODS: Sequence[str] = tuple(REGULARIZERS)


def get_regularizer(method: str | Regularizer, **options) -> Regularizer:
    """Return a regularizer instance for a method name (``options`` go to its constructor).

    Raises
    ------
    ValueError
        For a name not in :data:`REGULARIZERS`.
    """
    if isinstance(method, Regularizer):
        if options:
            raise ValueError("Options can only be given with a method name, not with a Regularizer instance.")
        return method
    check_choice(method, REGULARIZERS, "method")
    return REGULARIZERS[method](**options)
