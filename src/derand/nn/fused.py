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


def _softplus_threshold(dtype: torch.dtype, iota: float) -> float:
    """Beyond ιz = 20 (float32) or 40 (float64), softplus_ι(z) = z up to e^{−ιz}/ι, below
    the dtype's rounding: the sigmoid-and-log form is evaluated at the threshold and
    continued linearly, so its log never sees an underflowed 0 (which made ιz ≳ 90 an
    infinity in float32)."""
    return (40.0 if dtype == torch.float64 else 20.0) / iota


Activation = Callable[[Tensor], tuple[Tensor, Tensor]]
"""``activation(z) -> (σ(z), σ'(z))``, sharing the transcendental functions of both."""


def _activation_and_slope(name: str, iota: float) -> Activation:
    """The activation and its derivative in one pass, for the training loop.

    ``relu-iota``: with ``s = sigmoid(-ιz)``, softplus_ι(z) = −log(s)/ι and σ'(z) = 1 − s
    — a sigmoid and a log instead of torch's softplus (a scalar log1p a value) and a second
    sigmoid, 1.5× faster; the value agrees with ``softplus`` to a few roundings of its
    magnitude (absolute error ≈ 3e-7 in float32 where |z| ≈ 10, values below the rounding
    of 1 come out as 0). ``silu`` and ``gelu`` share their sigmoid and normal CDF.
    """
    if name == "relu-iota":

        def softplus(z: Tensor) -> tuple[Tensor, Tensor]:
            threshold = _softplus_threshold(z.dtype, iota)
            u = torch.clamp_max(z, threshold)  # beyond it softplus(z) = z
            s = torch.sigmoid(u.mul_(-iota))  # never 0: the log stays finite
            return torch.log(s).mul_(-1.0 / iota).add_(z.sub_(threshold).clamp_min_(0.0)), (
                torch.rsub(s, 1.0)
            )

        return softplus
    if name == "tanh":

        def tanh(z: Tensor) -> tuple[Tensor, Tensor]:
            h = torch.tanh(z)
            return h, torch.rsub(h * h, 1.0)

        return tanh
    if name == "silu":

        def silu(z: Tensor) -> tuple[Tensor, Tensor]:
            s = torch.sigmoid(z)
            h = z * s
            return h, s.mul_(torch.rsub(h, z).add_(1.0))  # s (1 + z (1 − s))

        return silu
    if name == "gelu":

        def gelu(z: Tensor) -> tuple[Tensor, Tensor]:
            cdf = torch.special.ndtr(z)
            h = z * cdf
            return h, cdf.add_(torch.exp(-0.5 * z * z).mul_(z / math.sqrt(2 * math.pi)))

        return gelu

    def relu(z: Tensor) -> tuple[Tensor, Tensor]:
        return torch.relu(z), (z > 0).to(z.dtype)

    return relu


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
    with torch.no_grad():
        return _loss_and_gradients(
            model,
            x,
            y,
            loss=loss,
            huber_delta=huber_delta,
            lam=lam,
            lam_all_layers=lam_all_layers,
            trained=trained,
        )


def _loss_and_gradients(
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
    """:func:`loss_and_gradients` for a caller already under ``torch.no_grad()`` (the
    training loop, which saves the context switch on every step)."""
    act = _activation_and_slope(model.activation_name, model.iota)
    linears = [model.first, *model.hidden_layers()]
    slopes: list[Tensor] = []
    hs: list[Tensor] = [x]
    for layer in linears:
        h, slope = act(torch.addmm(layer.bias, hs[-1], layer.weight.T))
        slopes.append(slope)
        hs.append(h)
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
    if len(linears) == 1:
        # One hidden layer: g_z = diag(g_f) σ'(z) diag(a), so the two scalings go on the thin
        # factors (x and the result) instead of two passes over the n × width matrix σ'(z).
        slope = slopes[0]
        if "first-weight" in trained:
            grads[model.first.weight] = ((x * g_f.unsqueeze(1)).T @ slope).T.mul_(a.unsqueeze(1))
        if "first-bias" in trained:
            grads[model.first.bias] = (g_f @ slope).mul_(a)
        linears = []
    g_h = a.unsqueeze(0)  # broadcast: the rows of g_f ⊗ a are formed in the first product
    for i in range(len(linears) - 1, -1, -1):
        layer = linears[i]
        g_z = slopes[i].mul_(g_h)
        if i == len(linears) - 1:
            g_z.mul_(g_f.unsqueeze(1))
        is_first = i == 0
        if is_first and "first-weight" in trained:
            # (xᵀ g_z)ᵀ: the same product as g_zᵀ x, several times faster for a thin x
            grads[layer.weight] = (hs[0].T @ g_z).T
        elif not is_first and "hidden" in trained:
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


def _derivatives(name: str, iota: float) -> Callable[[Tensor], tuple[Tensor, Tensor, Tensor]]:
    """``z -> (σ(z), σ'(z), σ''(z))`` for the activation ``name``, from shared terms
    (``relu-iota``: one sigmoid and a log, as in :func:`_activation_and_slope`)."""
    if name == "relu-iota":

        def softplus(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            u = torch.clamp_max(z, _softplus_threshold(z.dtype, iota))
            s = torch.sigmoid(-iota * u)  # 1 − σ'(z), up to e^{−ιz} beyond the threshold
            d1 = torch.rsub(s, 1.0)
            h = torch.log(s).mul_(-1.0 / iota).add_(z - u)
            return h, d1, (d1 * s).mul_(iota)

        return softplus
    if name == "tanh":

        def tanh(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            h = torch.tanh(z)
            d1 = 1.0 - h * h
            return h, d1, -2.0 * h * d1

        return tanh
    if name == "silu":

        def silu(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            s = torch.sigmoid(z)
            return (
                z * s,
                s * (1.0 + z * (1.0 - s)),
                s * (1.0 - s) * (2.0 + z * (1.0 - 2.0 * s)),
            )

        return silu
    if name == "gelu":

        def gelu(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            cdf = torch.special.ndtr(z)
            phi = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
            return z * cdf, cdf + z * phi, phi * (2.0 - z * z)

        return gelu
    return lambda z: (torch.relu(z), (z > 0).to(z.dtype), torch.zeros_like(z))


BLOCK_MAX = 64
"""One hidden layer with (d + 1)² at most this: Hessian products from per-neuron blocks
(:meth:`FirstLayerHessian._block_matvec`), from the second product at a point on."""


class FirstLayerHessian:
    """Gradient and Hessian-vector products of the regularised risk in the first layer's
    (W, b) — the variables of Theorem 4.1 — with the rest of the network held fixed.

    The forward and backward passes at the point are computed once; each product is then a
    Pearlmutter R-pass (a directional forward and backward pass, two matrix products per
    layer), without autograd's double-backward graph. Checked against autograd in the tests.

    Parameters
    ----------
    model : Student
        The network (its current parameters define the point).
    x, y : Tensor
        The fixed sample.
    loss, huber_delta, lam : ...
        As in :func:`loss_and_gradients`.
    with_bias : bool
        Whether b is among the variables (when it is trained).

    Attributes
    ----------
    n : int
        Number of variables (``width * d`` plus ``width`` with the bias).
    evaluations : int
        Products computed.
    """

    @torch.no_grad()
    def __init__(
        self,
        model: Student,
        x: Tensor,
        y: Tensor,
        *,
        loss: str,
        huber_delta: float,
        lam: float,
        with_bias: bool,
        buffers: dict[str, Tensor] | None = None,
    ) -> None:
        self.model = model
        self.x = x
        self.lam = lam
        self.with_bias = with_bias
        self.linears = [model.first, *model.hidden_layers()]
        derivs = _derivatives(model.activation_name, model.iota)
        self.d1: list[Tensor] = []
        self.d2: list[Tensor] = []
        h = x
        for layer in self.linears:
            h, d1, d2 = derivs(torch.addmm(layer.bias, h, layer.weight.T))
            self.d1.append(d1)
            self.d2.append(d2)
        self.a = model.output.weight[0]
        f = h @ self.a
        if model.output.bias is not None:
            f = f + model.output.bias
        n = f.shape[0]
        if loss == "mse":
            g_f = 2.0 * (f - y) / n
            self.l2 = torch.full_like(f, 2.0 / n)
        elif loss == "huber":
            r = f - y
            g_f = r.clamp(-huber_delta, huber_delta) / n
            self.l2 = (r.abs() <= huber_delta).to(f.dtype) / n
        else:
            sign = torch.where(y >= 0, 1.0, -1.0).to(f.dtype)
            p = torch.sigmoid(-sign * f)
            g_f = -sign * p / n
            self.l2 = p * (1.0 - p) / n
        self.g_f = g_f
        self.curv: list[Tensor] = []
        self.last = torch.empty(0)
        W = model.first.weight
        # Backward pass: the gradient with respect to each layer's output h_l.
        self.g_h: list[Tensor] = [torch.empty(0)] * len(self.linears)
        if len(self.linears) == 1:  # g_h = g_f ⊗ a: the scalings on the thin factors
            grad_W = ((x * g_f.unsqueeze(1)).T @ self.d1[0]).T * self.a.unsqueeze(1)
            grad_b = (g_f @ self.d1[0]) * self.a
        else:
            g_h = g_f.unsqueeze(1) * self.a.unsqueeze(0)
            for i in range(len(self.linears) - 1, -1, -1):
                self.g_h[i] = g_h
                if i > 0:
                    g_h = (self.d1[i] * g_h) @ self.linears[i].weight
            g_z1 = self.d1[0] * self.g_h[0]
            grad_W = (x.T @ g_z1).T  # this order is several times faster
            grad_b = g_z1.sum(0)
        parts = [(grad_W + 2.0 * lam * W).reshape(-1)]
        if with_bias:
            parts.append(grad_b)
        self.gradient = torch.cat(parts)
        self.n = int(self.gradient.numel())
        self.evaluations = 0
        self._buffers: dict[str, Tensor] = {} if buffers is None else buffers
        self._blocks: Tensor | None = None

    def _buffer(self, name: str, like: Tensor) -> Tensor:
        """A preallocated n × width work array: each product reuses the same memory instead
        of allocating (and, above glibc's mmap threshold, mapping and unmapping) ~32 MB
        temporaries at the authors' width."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = self._buffers[name] = torch.empty_like(like)
        return buf

    @torch.no_grad()
    def matvec(self, v: Tensor) -> Tensor:
        """``∇²_{(W,b)} F · v`` for a flat direction ``v`` over (W, b)."""
        if not self.curv:  # constant factors of the R-pass, computed at the first product
            if len(self.linears) == 1:
                self.curv = [self.d2[0].mul_(self.g_f.unsqueeze(1)).mul_(self.a.unsqueeze(0))]
            else:
                self.curv = [d2.mul_(g) for d2, g in zip(self.d2, self.g_h, strict=True)]
            self.last = self.d1[-1] * self.a.unsqueeze(0)
        self.evaluations += 1
        W = self.model.first.weight
        V = v[: W.numel()].reshape(W.shape)
        L = len(self.linears)
        d = W.shape[1] + (1 if self.with_bias else 0)
        if L == 1 and d * d <= BLOCK_MAX and self.evaluations >= 2:
            return self._block_matvec(v, V)
        rz = torch.mm(self.x, V.T, out=self._buffer("rz0", self.d1[0]))
        if self.with_bias:
            rz.add_(v[W.numel() :])
        rzs = [rz]
        tmp = self._buffer("tmp", self.d1[-1])
        for i in range(1, L):
            torch.mul(self.d1[i - 1], rz, out=self._buffer(f"tmp{i}", self.d1[i - 1]))
            rz = torch.mm(
                self._buffers[f"tmp{i}"],
                self.linears[i].weight.T,
                out=self._buffer(f"rz{i}", self.d1[i]),
            )
            rzs.append(rz)
        rf = torch.mul(rz, self.last, out=tmp).sum(1)
        rg_z = torch.mul(self.curv[-1], rz, out=self._buffer(f"rg{L - 1}", self.d1[-1]))
        rg_z.addcmul_(self.last, (self.l2 * rf).unsqueeze(1))
        for i in range(L - 2, -1, -1):
            rg_h = torch.mm(
                rg_z, self.linears[i + 1].weight, out=self._buffer(f"rh{i}", self.d1[i])
            )
            rg_h.mul_(self.d1[i])
            rg_z = torch.mul(self.curv[i], rzs[i], out=self._buffer(f"rg{i}", self.d1[i]))
            rg_z.add_(rg_h)
        out = [((self.x.T @ rg_z).T + 2.0 * self.lam * V).reshape(-1)]
        if self.with_bias:
            out.append(rg_z.sum(0))
        return torch.cat(out)

    def _block_matvec(self, v: Tensor, V: Tensor) -> Tensor:
        """One hidden layer and a small d: the product from per-neuron blocks.

        With x̃ = (x, 1) and the direction Ṽ = (V, v_b), the R-pass above is
        ``Hv_j = C_j Ṽ_j + Σ_i x̃_i last_ij c_i`` with ``C_j = Σ_i curv_ij x̃_i x̃_iᵀ`` (one
        (d+1) × (d+1) block a neuron, computed once) and ``c_i = l2_i Σ_j last_ij x̃_i·Ṽ_j``:
        two thin products with the n × width matrix ``last`` a product instead of eight
        passes over n × width work arrays (the same numbers up to rounding; the tests check
        it against autograd).
        """
        x = self.x
        if self.with_bias:
            x = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
            Vt = torch.cat([V, v[V.numel() :].unsqueeze(1)], dim=1)
        else:
            Vt = V
        n, d = x.shape
        if self._blocks is None:
            pairs = (x.unsqueeze(2) * x.unsqueeze(1)).reshape(n, d * d)
            self._blocks = (pairs.T @ self.curv[0]).T.reshape(-1, d, d).contiguous()
            self.curv = [self.curv[0][:0]]  # the blocks replace it
        rf = (x * (self.last @ Vt)).sum(1)
        out = torch.bmm(self._blocks, Vt.unsqueeze(2)).squeeze(2)
        out += (x * (self.l2 * rf).unsqueeze(1)).T.matmul(self.last).T
        parts = [(out[:, : V.shape[1]] + 2.0 * self.lam * V).reshape(-1)]
        if self.with_bias:
            parts.append(out[:, -1])
        return torch.cat(parts)
