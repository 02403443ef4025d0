"""Second-order stationarity certificates and the derandomization lemma's bound.

A point is a ρ-second-order stationary point (ρ-SOSP) of a K-Hessian-Lipschitz F when
``‖∇F‖ <= ρ`` and ``λ_min(∇²F) >= -√(Kρ)``. The lemma (paper §3, Lemma 3.1) then gives
``‖W‖_F <= ρ / (2λ - √(Kρ))`` whenever ``λ > √(Kρ)/2``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from torch import Tensor

from derand.errors import InputError

_DENSE_LIMIT = 2_000


@dataclass(frozen=True)
class SOSPCertificate:
    """What is known at a point of a smooth objective F.

    Attributes
    ----------
    grad_norm : float
        ρ = ‖∇F‖ over all parameters given.
    lambda_min : float
        Smallest eigenvalue of the Hessian ∇²F over those parameters.
    n_params : int
        Number of scalar parameters.
    method : str
        ``"lanczos"`` (ARPACK on Hessian-vector products) or ``"dense"``.
    hvp_evaluations : int
        Hessian-vector products used (``n_params`` for the dense method).
    seconds : float
        Time taken.
    lam, K : float | None
        The regularisation λ and the Hessian-Lipschitz constant K, when given.
    K_is_estimate : bool
        Whether K was estimated locally rather than proved.
    is_sosp : bool | None
        Whether the point is a ρ-SOSP for the given K (``λ_min >= -√(Kρ)``); ``None`` without K.
    bound : float | None
        The lemma's bound ``ρ / (2λ - √(Kρ))`` on ``‖W‖_F``; ``None`` when it does not apply.
    bound_measured : float | None
        The same bound with ``√(Kρ)`` replaced by the measured ``max(0, -λ_min)`` — the step
        the lemma's proof actually uses — so it needs no K: ``ρ / (2λ + min(λ_min, 0))``.
        Valid only for an exact Gaussian expectation (closed form or quadrature), since the
        proof rests on Stein's lemma.
    note : str
        A plain-language statement of what was certified, or why the bound does not apply.
    """

    grad_norm: float
    lambda_min: float
    n_params: int
    method: str
    hvp_evaluations: int
    seconds: float
    lam: float | None
    K: float | None
    K_is_estimate: bool
    is_sosp: bool | None
    bound: float | None
    bound_measured: float | None
    note: str


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

    def as_linear_operator(self) -> LinearOperator:
        """A scipy ``LinearOperator`` in float64 for ARPACK."""

        def mv(x: np.ndarray) -> np.ndarray:
            v = torch.as_tensor(np.ravel(x), dtype=self.grad.dtype, device=self.grad.device)
            return self.matvec(v).cpu().numpy().astype(np.float64)

        return LinearOperator((self.n, self.n), matvec=mv, dtype=np.float64)


def lambda_min(
    fn: Callable[[], Tensor],
    params: Sequence[Tensor],
    *,
    method: Literal["auto", "lanczos", "dense"] = "auto",
    tol: float = 1e-10,
    maxiter: int | None = None,
) -> tuple[float, int, str]:
    """Smallest Hessian eigenvalue of ``fn`` at ``params``.

    Lanczos (ARPACK ``eigsh``) on Hessian-vector products: first λ_max, then the largest
    eigenvalue of ``c I - H`` with ``c >= λ_max``, so that ``tol`` is relative to the spectral
    scale ``c`` rather than to λ_min itself (which is ~0 at an SOSP). A fixed start vector
    makes results reproducible; ``"dense"`` forms the Hessian. ``"auto"`` uses dense
    only for fewer than 3 parameters, where ARPACK cannot run.

    Returns
    -------
    (lambda_min, hvp_evaluations, method_used)
    """
    op = HessianOperator(fn, params)
    use_dense = method == "dense" or op.n < 3
    if use_dense:
        if op.n > _DENSE_LIMIT:
            raise InputError(f"dense Hessian of {op.n} parameters is too large; use lanczos")
        return float(np.linalg.eigvalsh(op.dense())[0]), op.evaluations, "dense"
    v0 = np.random.default_rng(0).standard_normal(op.n)
    operator = op.as_linear_operator()
    # ARPACK's stopping rule is relative to the eigenvalue sought, which is ~0 at an SOSP.
    # Working with c I - H, c >= λ_max, makes the tolerance relative to the spectral scale.
    lmax = _extreme_eigenvalue(operator, "LA", v0, 1e-2, maxiter)
    c = max(lmax, 0.0) * 1.01 + 1e-12
    shifted = LinearOperator(
        (op.n, op.n), matvec=lambda x: c * np.ravel(x) - operator.matvec(x), dtype=np.float64
    )
    value = c - _extreme_eigenvalue(shifted, "LA", v0, tol, maxiter)
    return value, op.evaluations, "lanczos"


def _extreme_eigenvalue(
    operator: LinearOperator, which: str, v0: np.ndarray, tol: float, maxiter: int | None
) -> float:
    n = operator.shape[0]
    try:
        vals = eigsh(
            operator,
            k=1,
            which=which,
            v0=v0,
            tol=tol,
            maxiter=maxiter if maxiter is not None else 100 * n,
            ncv=min(n, 40),
            return_eigenvectors=False,
        )
        return float(vals[0])
    except ArpackNoConvergence as exc:  # keep the best Ritz value rather than fail
        if len(exc.eigenvalues) == 0:
            raise
        return float(np.max(exc.eigenvalues) if which == "LA" else np.min(exc.eigenvalues))


def lemma_bound(rho: float, lam: float, K: float) -> float | None:
    """``ρ / (2λ - √(Kρ))``, or ``None`` when ``λ <= √(Kρ)/2`` and the lemma says nothing."""
    denominator = 2.0 * lam - math.sqrt(K * rho)
    return rho / denominator if denominator > 0 else None


def sosp_certificate(
    fn: Callable[[], Tensor],
    params: Sequence[Tensor],
    *,
    lam: float | None = None,
    K: float | None = None,
    K_is_estimate: bool = False,
    method: Literal["auto", "lanczos", "dense"] = "auto",
    tol: float = 1e-10,
) -> SOSPCertificate:
    """Certify second-order stationarity of ``fn`` over *all* of ``params``.

    Computes ρ = ‖∇F‖ and λ_min(∇²F) (Lanczos on Hessian-vector products), and, given λ and
    K, whether the point is a ρ-SOSP and the lemma's bound ``ρ / (2λ - √(Kρ))`` on ‖W‖_F
    (paper §3, Lemma 3.1). The bound is reported as ``None`` — with the reason in ``note`` —
    when ``λ <= √(Kρ)/2``. The K-free ``bound_measured`` needs only λ.

    Parameters
    ----------
    fn : callable
        Returns the scalar objective F at the current ``params``. It must be deterministic
        (closed form, quadrature or a fixed sample) for the certificate to mean anything.
    params : sequence of Tensor
        Every trained variable; the lemma needs second-order stationarity over all of them.
    lam : float, optional
        The regularisation λ on ``‖W‖_F²``.
    K : float, optional
        Hessian-Lipschitz constant of F (``K_is_estimate`` says whether it was estimated).
    method, tol
        Passed to :func:`lambda_min`.
    """
    start = time.perf_counter()
    params = list(params)
    rho = float(flat_gradient(fn, params).norm())
    lmin, evaluations, used = lambda_min(fn, params, method=method, tol=tol)
    n_params = sum(p.numel() for p in params)
    is_sosp: bool | None = None
    bound: float | None = None
    bound_measured: float | None = None
    notes: list[str] = []
    if K is not None:
        is_sosp = lmin >= -math.sqrt(K * rho)
        kind = "estimated" if K_is_estimate else "given"
        notes.append(
            f"rho-SOSP for the {kind} K = {K:.3g}"
            if is_sosp
            else f"not a rho-SOSP for the {kind} K = {K:.3g}: lambda_min < -sqrt(K rho)"
        )
    if lam is not None:
        denominator = 2.0 * lam + min(lmin, 0.0)
        bound_measured = rho / denominator if denominator > 0 else None
        if K is not None:
            bound = lemma_bound(rho, lam, K)
            if bound is None:
                notes.append(
                    f"the lemma's bound does not apply: lam = {lam:.3g} <= sqrt(K rho)/2 = "
                    f"{math.sqrt(K * rho) / 2:.3g}"
                )
            else:
                notes.append(f"lemma: ||W||_F <= {bound:.3g}")
        else:
            notes.append("no K given: only the K-free bound from the measured lambda_min")
    else:
        notes.append("no lam given: no bound on ||W||_F")
    return SOSPCertificate(
        grad_norm=rho,
        lambda_min=lmin,
        n_params=n_params,
        method=used,
        hvp_evaluations=evaluations,
        seconds=time.perf_counter() - start,
        lam=lam,
        K=K,
        K_is_estimate=K_is_estimate,
        is_sosp=is_sosp,
        bound=bound,
        bound_measured=bound_measured,
        note="; ".join(notes),
    )


def estimate_hessian_lipschitz(
    fn: Callable[[], Tensor],
    params: Sequence[Tensor],
    *,
    radius: float = 1e-2,
    n_probes: int = 8,
    generator: torch.Generator | None = None,
) -> float:
    """A local estimate of the Hessian-Lipschitz constant K of ``fn`` around ``params``.

    ``K ≈ max_i ‖(∇²F(θ + δ_i) − ∇²F(θ)) u_i‖ / ‖δ_i‖`` over random directions δ_i of norm
    ``radius`` and random unit vectors u_i. It is a *lower* estimate of the true local
    constant (a maximum over finitely many probes), so label bounds computed from it as
    estimates. ``params`` are restored afterwards.
    """
    if radius <= 0 or n_probes < 1:
        raise InputError("radius must be > 0 and n_probes >= 1")
    params = list(params)
    base = HessianOperator(fn, params)
    probes = []
    for _ in range(n_probes):
        direction = torch.randn(base.n, generator=generator, dtype=torch.float64)
        u = torch.randn(base.n, generator=generator, dtype=torch.float64)
        direction = (radius * direction / direction.norm()).to(base.grad)
        u = (u / u.norm()).to(base.grad)
        probes.append((direction, u, base.matvec(u)))
    del base  # its graph refers to the unperturbed parameters
    best = 0.0
    for direction, u, h0 in probes:
        offsets = direction.split([p.numel() for p in params])
        with torch.no_grad():
            for p, o in zip(params, offsets, strict=True):
                p.add_(o.reshape(p.shape))
        try:
            h1 = HessianOperator(fn, params).matvec(u)
        finally:
            with torch.no_grad():
                for p, o in zip(params, offsets, strict=True):
                    p.sub_(o.reshape(p.shape))
        best = max(best, float((h1 - h0).norm()) / radius)
    return best
