"""Training an ensemble as one model: the members' parameters stacked along a leading member axis.

An ensemble of small vector fields spends most of its training time in per-operation overhead, not in
arithmetic: five members trained one after another cost five times one member. Stacked, every layer of all
members is one batched matrix product and every optimizer step updates all members at once, so the ensemble
costs little more than one member. The members stay independent: each has its own parameters (a slice of
every stacked tensor), its own gate noise and minibatches from its own random generator, and the loss is the
sum of the members' losses, so each member's gradient is its own. Adam and the gate constraints act element by
element, so a member trained in a stack follows the same updates as when trained alone, up to floating-point
rounding of the batched products.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ._gates import GatedLinear, logistic_noise
from ._ode import NeuralODE
from ._regularizers import Regularizer
from ._vector_fields import MLPVectorField


def can_stack(models: list[NeuralODE], regularizer: Regularizer) -> bool:
    """Whether ``models`` can be trained as one stacked model with ``regularizer``.

    They must be :class:`NeuralODE` objects of one architecture with an :class:`MLPVectorField` (gated or not,
    the vector field of Base, L0, PathReg and C-NODE), the same buffers (inputs, masks, fixed decay), and a
    regularizer whose penalty and proximal step act per member (:attr:`Regularizer.stackable`: Base, L0, PathReg
    and C-NODE; LassoNet and GroupLasso are trained one member after another).
    """
    if not models or not regularizer.stackable:
        return False
    first = models[0]
    if not all(type(model) is NeuralODE and type(model.vector_field) is MLPVectorField for model in models):
        return False
    shapes = {name: p.shape for name, p in first.named_parameters()}
    buffers = dict(first.named_buffers())
    for model in models[1:]:
        if {name: p.shape for name, p in model.named_parameters()} != shapes:
            return False
        other = dict(model.named_buffers())
        if other.keys() != buffers.keys() or not all(_same(buffers[k], other[k]) for k in buffers):
            return False
    return True


def stack_members(models: list[NeuralODE]) -> NeuralODE:
    """One model whose every parameter is the members' parameters stacked, ``(n_members, *shape)``.

    Its vector field takes states ``(n_members, ..., n_states)`` (member ``m`` at ``[m]``) and gives rates of
    the same shape; :meth:`~NeuralODE.adjacency` gives ``(n_members, n_outputs, n_inputs)`` and the
    regularizers of :func:`can_stack` one penalty per member. Write the trained values back with
    :func:`unstack_members`.

    Raises
    ------
    ValueError
        When the models cannot be stacked (:func:`can_stack`).
    """
    stacked = copy.deepcopy(models[0])
    members = [dict(model.named_parameters()) for model in models]
    for name, parameter in list(stacked.named_parameters()):
        module, attribute = _owner(stacked, name)
        values = torch.stack([member[name].detach() for member in members])
        setattr(module, attribute, nn.Parameter(values, requires_grad=parameter.requires_grad))
    for layer in gated_layers(stacked):
        layer.set_noise(None)
    stacked.n_members = len(models)
    return stacked


@torch.no_grad()
def unstack_members(stacked: NeuralODE, models: list[NeuralODE]) -> None:
    """Copy member ``m``'s slice of every stacked parameter into ``models[m]`` (in place)."""
    parameters = dict(stacked.named_parameters())
    for index, model in enumerate(models):
        for name, parameter in model.named_parameters():
            parameter.copy_(parameters[name][index])


def gated_layers(model: nn.Module) -> list[GatedLinear]:
    """The :class:`GatedLinear` layers of ``model``, in module order."""
    return [module for module in model.modules() if isinstance(module, GatedLinear)]


@torch.no_grad()
def resample_member_gates(stacked: NeuralODE, generators: list[torch.Generator]) -> None:
    """Draw new gate noise for every member of ``stacked``, member ``m``'s from ``generators[m]``.

    Member ``m`` draws its layers' noise in module order, as :func:`~pathreg.models.resample_gates` does for a
    model alone, so it sees the same gate samples as when trained alone with the same generator.
    """
    layers = gated_layers(stacked)
    if not layers:
        return
    noise = [
        [logistic_noise(layer.log_alpha[m], generator) for layer in layers] for m, generator in enumerate(generators)
    ]
    for index, layer in enumerate(layers):
        layer.set_noise(torch.stack([member[index] for member in noise]))


def _owner(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    *path, attribute = name.split(".")
    module = model
    for part in path:
        module = getattr(module, part)
    return module, attribute


def _same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a.cpu(), b.cpu()))
