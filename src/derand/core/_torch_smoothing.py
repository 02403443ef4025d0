"""Gaussian-smoothed objectives ``F(W, b, θ) = E_x[g_θ(W x + b)] + λ‖W‖_F²``, x ~ N(0, I_d).

This is the object of the paper's derandomization lemma (Tsikouras et al., ICLR 2026, §3):
every application specialises ``g`` — a neural network's loss (§4), the expected cut of a
Gaussian hyperplane (§5.1), the distortion of a Gaussian projection (§5.2).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from derand.core import gaussian
from derand.errors import InputError

GFunction = Callable[[Tensor, Sequence[Tensor]], Tensor]
"""``g(z, theta)``: z has shape (n, k); returns the n values g_θ(z_i)."""

ClosedForm = Callable[[Tensor, Tensor, Sequence[Tensor]], Tensor]
"""``closed_form(W, b, theta)``: the exact expectation E_x[g_θ(W x + b)] as a 0-d tensor."""

Estimator = Literal["fresh", "fixed", "quadrature", "exact"]


@dataclass(frozen=True)
class SmoothedValue:
    """Value and gradients of a smoothed objective at one point.

    Attributes
    ----------
    value : float
        ``E[g] + λ‖W‖_F²`` (estimated unless ``estimator`` is exact or quadrature).
    expectation : float
        ``E[g]`` alone.
    grad_W, grad_b : Tensor
        Gradients with respect to ``W`` and ``b``.
    grad_theta : tuple of Tensor
        Gradients with respect to each tensor of ``theta`` (zeros where unused).
    estimator : str
        How the expectation was computed.
    n_samples : int | None
        Gaussian samples (or quadrature nodes) used; ``None`` for a closed form.
    """

    value: float
    expectation: float
    grad_W: Tensor
    grad_b: Tensor
    grad_theta: tuple[Tensor, ...]
    estimator: str
    n_samples: int | None


def gauss_hermite_nodes(
    d: int, order: int, *, dtype: torch.dtype = torch.float64, device: torch.device | None = None
) -> tuple[Tensor, Tensor]:
    """:func:`derand.core.gaussian.gauss_hermite_nodes` as tensors."""
    nodes, weights = gaussian.gauss_hermite_nodes(d, order)
    return (
        torch.as_tensor(nodes, dtype=dtype, device=device),
        torch.as_tensor(weights, dtype=dtype, device=device),
    )


class GaussianSmoothedObjective:
    r"""``F(W, b, θ) = E_x[g_θ(W x + b)] + λ‖W‖_F²`` with x ~ N(0, I_d).

    The derandomization lemma (paper §3, Lemma 3.1) states that if F is L-smooth and
    K-Hessian-Lipschitz and λ > √(Kρ)/2, every ρ-second-order stationary point has
    ``‖W‖_F <= ρ / (2λ - √(Kρ))``; at an exact SOSP, W = 0. The proof uses Stein's lemma,
    so it holds for the *Gaussian expectation*: the ``"exact"`` and ``"quadrature"``
    estimators compute it (to rounding), the Monte Carlo ones only estimate it.

    Parameters
    ----------
    g : callable
        ``g(z, theta) -> Tensor`` of shape (n,), for z of shape (n, k). Must be differentiable
        in z and theta with torch autograd.
    lam : float
        Regularisation strength λ >= 0 on ``‖W‖_F²``.
    estimator : {"fresh", "fixed", "quadrature", "exact"}
        ``"fresh"`` draws ``n_samples`` new Gaussian inputs per call (stochastic gradients);
        ``"fixed"`` draws them once and reuses them (a deterministic empirical objective);
        ``"quadrature"`` uses a tensor Gauss–Hermite rule of ``quadrature_order`` nodes per
        dimension (small d only); ``"exact"`` calls ``closed_form``.
    n_samples : int
        Monte Carlo sample size (antithetic pairs x, -x when ``antithetic``).
    closed_form : callable, optional
        ``closed_form(W, b, theta)`` returning E[g] exactly; required for ``"exact"``.
    quadrature_order : int
        Nodes per dimension for ``"quadrature"``.
    antithetic : bool
        Use the pairs (x, -x) in Monte Carlo: unbiased, and exact for the odd part of g.
    generator : torch.Generator, optional
        Source of randomness for the Monte Carlo estimators (seed it for reproducibility).
    """

    def __init__(
        self,
        g: GFunction,
        lam: float,
        *,
        estimator: Estimator = "fresh",
        n_samples: int = 4096,
        closed_form: ClosedForm | None = None,
        quadrature_order: int = 32,
        antithetic: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        if not math.isfinite(lam) or lam < 0:
            raise InputError(f"lam must be a finite number >= 0, got {lam}")
        if estimator not in ("fresh", "fixed", "quadrature", "exact"):
            raise InputError(f"unknown estimator {estimator!r}")
        if estimator == "exact" and closed_form is None:
            raise InputError("estimator='exact' needs a closed_form")
        if n_samples < 1:
            raise InputError(f"n_samples must be >= 1, got {n_samples}")
        self.g = g
        self.lam = float(lam)
        self.estimator: Estimator = estimator
        self.n_samples = int(n_samples)
        self.closed_form = closed_form
        self.quadrature_order = int(quadrature_order)
        self.antithetic = antithetic
        self.generator = generator
        self._fixed: tuple[Tensor, Tensor] | None = None

    def _sample(self, d: int, like: Tensor) -> tuple[Tensor, Tensor]:
        if self.estimator == "quadrature":
            if self._fixed is None or self._fixed[0].shape[1] != d:
                self._fixed = gauss_hermite_nodes(
                    d, self.quadrature_order, dtype=like.dtype, device=like.device
                )
            return self._fixed
        if self.estimator == "fixed" and self._fixed is not None and self._fixed[0].shape[1] == d:
            return self._fixed
        half = (self.n_samples + 1) // 2 if self.antithetic else self.n_samples
        x = torch.randn(half, d, generator=self.generator, dtype=like.dtype, device="cpu")
        x = x.to(like.device)
        if self.antithetic:
            x = torch.cat([x, -x])
        weights = torch.full((x.shape[0],), 1.0 / x.shape[0], dtype=like.dtype, device=x.device)
        if self.estimator == "fixed":
            self._fixed = (x, weights)
        return x, weights

    def expectation(self, W: Tensor, b: Tensor, theta: Sequence[Tensor] = ()) -> Tensor:
        """``E_x[g_θ(W x + b)]`` by the configured estimator (differentiable)."""
        if W.ndim != 2 or b.ndim != 1 or b.shape[0] != W.shape[0]:
            raise InputError(f"W must be (k, d) and b (k,), got {tuple(W.shape)}, {tuple(b.shape)}")
        if self.estimator == "exact":
            assert self.closed_form is not None
            return self.closed_form(W, b, theta)
        x, weights = self._sample(W.shape[1], W)
        values = self.g(x @ W.T + b, theta)
        return torch.dot(weights, values)

    def __call__(self, W: Tensor, b: Tensor, theta: Sequence[Tensor] = ()) -> Tensor:
        """``F(W, b, θ) = E[g_θ(W x + b)] + λ‖W‖_F²`` as a differentiable 0-d tensor."""
        return self.expectation(W, b, theta) + self.lam * (W * W).sum()

    def value_and_grad(self, W: Tensor, b: Tensor, theta: Sequence[Tensor] = ()) -> SmoothedValue:
        """Evaluate F and its gradients in W, b and θ (inputs are not modified)."""
        Wd = W.detach().requires_grad_(True)
        bd = b.detach().requires_grad_(True)
        td = [t.detach().requires_grad_(True) for t in theta]
        expectation = self.expectation(Wd, bd, td)
        value = expectation + self.lam * (Wd * Wd).sum()
        grads = torch.autograd.grad(value, [Wd, bd, *td], allow_unused=True)
        filled = [
            torch.zeros_like(p) if gr is None else gr
            for p, gr in zip([Wd, bd, *td], grads, strict=True)
        ]
        if self.estimator == "exact":
            n: int | None = None
        elif self.estimator == "quadrature":
            n = self.quadrature_order ** W.shape[1]
        else:
            n = self.n_samples + (self.n_samples % 2 if self.antithetic else 0)
        return SmoothedValue(
            value=float(value.detach()),
            expectation=float(expectation.detach()),
            grad_W=filled[0],
            grad_b=filled[1],
            grad_theta=tuple(filled[2:]),
            estimator=self.estimator,
            n_samples=n,
        )
