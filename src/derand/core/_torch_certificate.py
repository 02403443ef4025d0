"""The SOSP certificate for torch objectives (the torch side of :mod:`derand.core.certificate`).

Hessian-vector products by double backpropagation over a list of parameters, the smallest
Hessian eigenvalue, the certificate of a torch objective and the probe estimate of the
Hessian-Lipschitz constant. Loaded on first use by ``derand.core`` (it imports torch).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from derand.core.certificate import (
    LanczosResult,
    SOSPCertificate,
    certificate_from_spectrum,
    lanczos,
)
from derand.errors import InputError

_DENSE_LIMIT = 2_000


def _flatten(tensors: Sequence[Tensor | None], like: Sequence[Tensor]) -> Tensor:
    return torch.cat(
        [
            (torch.zeros_like(p) if t is None else t).reshape(-1)
            for t, p in zip(tensors, like, strict=True)
        ]
    )


def flat_gradient(fn: Callable[[], Tensor], params: Sequence[Tensor]) -> Tensor:
    """The gradient of ``fn()`` with respect to ``params``, flattened into one vector."""
    grads = torch.autograd.grad(fn(), list(params), allow_unused=True)
    return _flatten(grads, params).detach()


class HessianOperator:
    """Hessian-vector products of ``fn()`` at the current ``params`` (double backprop).

    The gradient graph is built once; each product costs about two backward passes.
    """

    def __init__(self, fn: Callable[[], Tensor], params: Sequence[Tensor]) -> None:
        self.params = list(params)
        grads = torch.autograd.grad(fn(), self.params, create_graph=True, allow_unused=True)
        self.grad = _flatten(grads, self.params)
        self.n = int(self.grad.numel())
        self.evaluations = 0

    def matvec(self, v: Tensor) -> Tensor:
        """``∇²F v`` for a flat vector ``v``."""
        self.evaluations += 1
        if not self.grad.requires_grad:  # F is linear in params: zero Hessian
            return torch.zeros_like(v)
        hv = torch.autograd.grad(
            (self.grad * v).sum(), self.params, retain_graph=True, allow_unused=True
        )
        return _flatten(hv, self.params).detach()

    def dense(self) -> np.ndarray:
        """The full Hessian as a symmetric numpy array (``n`` products)."""
        eye = torch.eye(self.n, dtype=self.grad.dtype, device=self.grad.device)
        H = torch.stack([self.matvec(eye[i]) for i in range(self.n)]).cpu().numpy()
        return np.asarray(0.5 * (H + H.T), dtype=np.float64)


def lambda_min(
    fn: Callable[[], Tensor],
    params: Sequence[Tensor],
    *,
    method: Literal["auto", "lanczos", "dense"] = "auto",
    tol: float = 1e-10,
    maxiter: int | None = None,
) -> tuple[float, int, str]:
    """Smallest Hessian eigenvalue of ``fn`` at ``params``.

    Lanczos with full reorthogonalisation on Hessian-vector products (:func:`lanczos`) from a
    fixed start vector, so that results are reproducible, until the residual is below ``tol``
    relative to the spectral scale (or ``maxiter`` products, default ``min(n, 500)``);
    ``"dense"`` forms the Hessian. ``"auto"`` uses dense only for fewer than 3 parameters.

    Returns
    -------
    (lambda_min, hvp_evaluations, method_used)

    Examples
    --------
    >>> import torch
    >>> p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    >>> value, _, _ = lambda_min(lambda: (p[0] ** 2 - p[1] ** 2 + 3 * p[2] ** 2), [p])
    >>> round(value, 8)
    -2.0
    """
    op = HessianOperator(fn, params)
    if method == "dense" or (method == "auto" and op.n < 3):
        if op.n > _DENSE_LIMIT:
            raise InputError(f"dense Hessian of {op.n} parameters is too large; use lanczos")
        return float(np.linalg.eigvalsh(op.dense())[0]), op.evaluations, "dense"
    result = lanczos(op.matvec, _start_vector(op), steps=maxiter or min(op.n, 500), tol=tol)
    return result.lambda_min, op.evaluations, "lanczos"


def _start_vector(op: HessianOperator) -> Tensor:
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(op.n, generator=gen, dtype=torch.float64)
    return v.to(dtype=op.grad.dtype, device=op.grad.device)


def sosp_certificate(
    fn: Callable[[], Tensor],
    params: Sequence[Tensor],
    *,
    lam: float | None = None,
    K: float | None = None,
    K_is_estimate: bool = False,
    method: Literal["auto", "lanczos", "dense"] = "auto",
    tol: float = 1e-10,
    max_steps: int | None = None,
    v0: Tensor | None = None,
    n_samples: int | None = None,
) -> SOSPCertificate:
    """Certify second-order stationarity of ``fn`` over *all* of ``params``.

    Computes ρ = ‖∇F‖ and λ_min(∇²F) (Lanczos on Hessian-vector products), and, given λ and
    K, whether the point is a ρ-SOSP and the lemma's bound ``ρ / (2λ - √(Kρ))`` on ‖W‖_F
    (paper §3, Lemma 3.1). The bound is reported only where its hypotheses were checked to
    hold; otherwise it is ``None`` and ``failures`` says which one fails and by how much. The
    K-free ``bound_measured`` needs only λ.

    Parameters
    ----------
    fn : callable
        Returns the scalar objective F at the current ``params``. It must be deterministic
        (closed form, quadrature or a fixed sample) for the certificate to mean anything.
    params : sequence of Tensor
        The variables the lemma asks stationarity in (``W`` and ``b``; more is stricter).
    lam : float, optional
        The regularisation λ on ``‖W‖_F²``.
    K : float, optional
        Hessian-Lipschitz constant of F (``K_is_estimate`` says whether it was estimated).
    method, tol
        ``"dense"`` forms the Hessian; ``"lanczos"`` iterates to the relative residual
        ``tol`` (``"auto"``: dense below 3 parameters).
    max_steps : int, optional
        Cap on the Lanczos iterations (default ``min(n, 500)``); an unconverged λ_min is
        reported as such and no bound is given.
    v0 : Tensor, optional
        Lanczos start vector (e.g. the previous certificate's Ritz vector).
    n_samples : int, optional
        Sample size of ``fn``, recorded in the certificate.

    Returns
    -------
    SOSPCertificate

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([1e-4, 0.0], dtype=torch.float64, requires_grad=True)
    >>> cert = sosp_certificate(lambda: (p ** 2).sum(), [p], lam=1.0, K=1.0)
    >>> cert.is_sosp, round(cert.bound, 6)
    (True, 0.000101)
    """
    start = time.perf_counter()
    params = list(params)
    rho = float(flat_gradient(fn, params).norm())
    op = HessianOperator(fn, params)
    if method == "dense" or (method == "auto" and op.n < 3):
        if op.n > _DENSE_LIMIT:
            raise InputError(f"dense Hessian of {op.n} parameters is too large; use lanczos")
        spectrum = np.linalg.eigvalsh(op.dense())
        result = LanczosResult(
            float(spectrum[0]), float(spectrum[-1]), torch.zeros(0), 0.0, op.n, True
        )
        used = "dense"
    else:
        start_vector = _start_vector(op) if v0 is None else v0.to(op.grad)
        result = lanczos(op.matvec, start_vector, steps=max_steps or min(op.n, 500), tol=tol)
        used = "lanczos"
    return certificate_from_spectrum(
        rho,
        result,
        n_params=op.n,
        method=used,
        hvp_evaluations=op.evaluations,
        seconds=time.perf_counter() - start,
        lam=lam,
        K=K,
        K_is_estimate=K_is_estimate,
        n_samples=n_samples,
    )


def estimate_hessian_lipschitz(
    fn: Callable[[], Tensor],
    params: Sequence[Tensor],
    *,
    radius: float = 1e-2,
    n_probes: int = 8,
    generator: torch.Generator | None = None,
    directions: Sequence[Tensor] = (),
) -> float:
    """A local estimate of the Hessian-Lipschitz constant K of ``fn`` around ``params``.

    ``K ≈ max_i ‖(∇²F(θ + δ_i) − ∇²F(θ)) u_i‖ / ‖δ_i‖`` over probes δ_i of norm ``radius``:
    ``n_probes`` random directions (with random unit vectors u_i) and each of the given
    ``directions`` (with ``u_i = δ_i / ‖δ_i‖``: e.g. the eigenvector of λ_min, or one neuron's
    weights, where random directions in a high dimension see only an average). It is a
    *lower* estimate of the true local constant (a maximum over finitely many probes), so
    label bounds computed from it as estimates. ``params`` are restored afterwards.

    Returns
    -------
    float

    Examples
    --------
    >>> import torch
    >>> p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    >>> K = estimate_hessian_lipschitz(lambda: (p ** 3).sum(), [p], n_probes=4,
    ...                                generator=torch.Generator().manual_seed(0))
    >>> 0 < K <= 6.0 + 1e-9
    True
    """
    params = list(params)
    sizes = [p.numel() for p in params]

    def hvp_at(offset: Tensor | None) -> Callable[[Tensor], Tensor]:
        if offset is None:
            return HessianOperator(fn, params).matvec
        parts = offset.split(sizes)

        def shifted(v: Tensor) -> Tensor:  # the graph is built and used at the shifted point
            with torch.no_grad():
                for p, o in zip(params, parts, strict=True):
                    p.add_(o.reshape(p.shape))
            try:
                return HessianOperator(fn, params).matvec(v)
            finally:
                with torch.no_grad():
                    for p, o in zip(params, parts, strict=True):
                        p.sub_(o.reshape(p.shape))

        return shifted

    like = params[0].detach() if params else torch.zeros(0, dtype=torch.float64)
    return lipschitz_from_products(
        hvp_at,
        sum(sizes),
        radius=radius,
        n_probes=n_probes,
        generator=generator,
        directions=directions,
        like=like,
    )


def lipschitz_from_products(
    hvp_at: Callable[[Tensor | None], Callable[[Tensor], Tensor]],
    n: int,
    *,
    radius: float,
    n_probes: int,
    generator: torch.Generator | None,
    directions: Sequence[Tensor] = (),
    like: Tensor,
) -> float:
    """The probe estimate of K from ``hvp_at(offset)``, which returns the Hessian-vector
    product at the point shifted by ``offset`` (``None``: the point itself).

    Returns
    -------
    float
        ``max_i ‖(H(θ + δ_i) − H(θ)) u_i‖ / ‖δ_i‖``, a lower estimate of the local K.
    """
    if radius <= 0 or n_probes < 0 or (n_probes == 0 and not directions):
        raise InputError("radius must be > 0 and there must be at least one probe")
    base = hvp_at(None)
    probes = []
    for _ in range(n_probes):
        direction = torch.randn(n, generator=generator, dtype=torch.float64)
        u = torch.randn(n, generator=generator, dtype=torch.float64)
        direction = (radius * direction / direction.norm()).to(like)
        u = (u / u.norm()).to(like)
        probes.append((direction, u, base(u)))
    for given in directions:
        g = given.reshape(-1).to(like)
        norm = float(g.norm())
        if norm > 0:
            u = g / norm
            probes.append((radius * u, u, base(u)))
    del base
    best = 0.0
    for direction, u, h0 in probes:
        h1 = hvp_at(direction)(u)
        value = float((h1 - h0).norm()) / radius
        if not math.isfinite(value):
            raise InputError("certificate: the Hessian-Lipschitz probe is not finite")
        best = max(best, value)
    return best
