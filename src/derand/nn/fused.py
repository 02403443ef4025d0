"""Hand-written forward and backward pass of a :class:`Student` MLP: the training hot path.

Autograd records a graph on every step; for the small batches and wide layers of the
teacher–student setting, that bookkeeping costs more than the arithmetic. This module
computes the same loss and gradients with explicit matrix products (the chain rule written
out layer by layer), skips the gradients of frozen layers, and is checked against autograd in
the tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from derand.nn.students import Student

Derivative = Callable[[Tensor, Tensor], Tensor]
"""``derivative(z, h)``: σ'(z) given the pre-activation z and h = σ(z); may overwrite z."""


def _derivative(name: str, iota: float) -> Derivative:
    if name == "relu-iota":
        return lambda z, h: torch.sigmoid_(z.mul_(iota))
    if name == "tanh":
        return lambda z, h: 1.0 - h * h
    if name == "silu":

        def silu(z: Tensor, h: Tensor) -> Tensor:
            s = torch.sigmoid(z)
            return s * (1.0 + z * (1.0 - s))

        return silu
    if name == "gelu":
        return lambda z, h: (
            torch.special.ndtr(z) + z * torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        )
    return lambda z, h: (z > 0).to(z.dtype)


def _loss_and_slope(loss: str, f: Tensor, y: Tensor, huber_delta: float) -> tuple[Tensor, Tensor]:
    """The mean loss and its derivative in the predictions f (already divided by n)."""
    n = f.shape[0]
    if loss == "mse":
        r = f - y
        return torch.dot(r, r) / n, r.mul_(2.0 / n)
    if loss == "huber":
        r = f - y
        a = r.abs()
        value = torch.where(a <= huber_delta, 0.5 * r * r, huber_delta * (a - 0.5 * huber_delta))
        return value.mean(), r.clamp(-huber_delta, huber_delta) / n
    sign = torch.where(y >= 0, 1.0, -1.0).to(f.dtype)
    margin = sign * f
    return torch.nn.functional.softplus(-margin).mean(), -sign * torch.sigmoid(-margin) / n


@torch.no_grad()
def loss_and_gradients(
    model: Student,
    x: Tensor,
    y: Tensor,
    *,
    loss: str,
    huber_delta: float,
    lam: float,
    lam_all_layers: bool,
    trained: set[str],
) -> tuple[Tensor, dict[Tensor, Tensor]]:
    """The loss and the gradients of the regularised objective, without autograd.

    The objective is ``loss + λ‖W‖²`` (+ λ times the squared norms of the other trained
    weight matrices with ``lam_all_layers``); ``grads`` maps each trained parameter to its
    gradient.
    """
    deriv = _derivative(model.activation_name, model.iota)
    linears = [model.first, *model.hidden_layers()]
    zs: list[Tensor] = []
    hs: list[Tensor] = [x]
    for layer in linears:
        z = torch.addmm(layer.bias, hs[-1], layer.weight.T)
        zs.append(z)
        hs.append(model.act(z))
    a = model.output.weight[0]
    f = hs[-1] @ a
    if model.output.bias is not None:
        f = f + model.output.bias
    value, g_f = _loss_and_slope(loss, f, y, huber_delta)

    grads: dict[Tensor, Tensor] = {}
    regularised = [model.first.weight]
    if "output" in trained:
        grads[model.output.weight] = (g_f @ hs[-1]).unsqueeze(0)
        if model.output.bias is not None:
            grads[model.output.bias] = g_f.sum().reshape(1)
        if lam_all_layers:
            regularised.append(model.output.weight)
    g_h = a.unsqueeze(0)  # broadcast: the rows of g_f ⊗ a are formed in the first product
    for i in range(len(linears) - 1, -1, -1):
        layer = linears[i]
        g_z = deriv(zs[i], hs[i + 1]).mul_(g_h)
        if i == len(linears) - 1:
            g_z.mul_(g_f.unsqueeze(1))
        is_first = i == 0
        if (is_first and "first-weight" in trained) or (not is_first and "hidden" in trained):
            grads[layer.weight] = g_z.T @ hs[i]
        if (is_first and "first-bias" in trained) or (not is_first and "hidden" in trained):
            grads[layer.bias] = g_z.sum(0)
        if not is_first:
            if lam_all_layers and "hidden" in trained:
                regularised.append(layer.weight)
            g_h = g_z @ layer.weight
    for w in regularised:
        grads[w] = torch.add(grads[w], w, alpha=2.0 * lam)
    return value, grads
