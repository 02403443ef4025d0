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
        Smallest eigenvalue of the Hessian ∇²F over those parameters (the smallest Ritz value
        of Lanczos, an upper estimate that is exact once converged).
    n_params : int
        Number of scalar parameters.
    method : str
        ``"lanczos"`` (Lanczos on Hessian-vector products) or ``"dense"``.
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
        The lemma's bound ``ρ / (2λ - √(Kρ))`` on ``‖W‖_F``, reported **only** when its
        hypotheses were checked to hold (λ and K given, a ρ-SOSP, ``2λ > √(Kρ)``, Lanczos
        converged); ``None`` otherwise, with the reasons in ``failures``.
    bound_measured : float | None
        The same bound with ``√(Kρ)`` replaced by the measured ``max(0, -λ_min)`` — the step
        the lemma's proof actually uses — so it needs no K: ``ρ / (2λ + min(λ_min, 0))``.
        Valid only for an exact Gaussian expectation (closed form or quadrature), since the
        proof rests on Stein's lemma.
    note : str
        A plain-language statement of what was certified, or why the bound does not apply.
    failures : tuple of str
        Each hypothesis of the bound that was checked and fails, with by how much.
    lambda_max : float | None
        Largest Hessian eigenvalue (Lanczos), the local gradient-Lipschitz constant.
    residual : float
        ``‖H v − λ_min v‖`` for the Ritz vector v of λ_min: the accuracy of ``lambda_min``.
    converged : bool
        Whether ``residual`` met the tolerance.
    n_samples : int | None
        Sample size of the objective, when the caller gives it (``None``: exact objective).
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
    failures: tuple[str, ...] = ()
    lambda_max: float | None = None
    residual: float = 0.0
    converged: bool = True
    n_samples: int | None = None

    def __repr__(self) -> str:
        bound = "n/a" if self.bound is None else f"{self.bound:.3g}"
        return (
            f"SOSPCertificate(grad_norm={self.grad_norm:.3g}, lambda_min={self.lambda_min:.3g}, "
            f"K={self.K if self.K is None else f'{self.K:.3g}'}, lam={self.lam}, "
            f"is_sosp={self.is_sosp}, bound={bound}, n_params={self.n_params})"
        )


@dataclass(frozen=True)
class LanczosResult:
    """Extreme eigenpairs of a symmetric operator from a Lanczos run.

    Attributes
    ----------
    lambda_min, lambda_max : float
        Smallest and largest Ritz values (each lies inside the spectrum).
    vector_min : Tensor
        Unit Ritz vector of ``lambda_min`` (a warm start for the next run).
    residual : float
        ``‖A v − λ_min v‖`` for ``v = vector_min``: some eigenvalue lies within it.
    iterations : int
        Matrix-vector products used.
    converged : bool
        Whether ``residual <= tol * max(|λ_min|, |λ_max|)`` (or the Krylov space is complete).
    """

    lambda_min: float
    lambda_max: float
    vector_min: Tensor
    residual: float
    iterations: int
    converged: bool


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


def lanczos(
    matvec: Callable[[Tensor], Tensor],
    v0: Tensor,
    *,
    steps: int,
    tol: float = 1e-8,
    atol: float = 0.0,
    min_steps: int = 1,
) -> LanczosResult:
    """Extreme eigenvalues of a symmetric operator by Lanczos with full reorthogonalisation.

    Runs at most ``steps`` iterations from the start vector ``v0`` (a previous Ritz vector
    makes a good warm start) and stops early once the Ritz pair of the smallest eigenvalue has
    residual ``<= max(tol * max(|λ_min|, |λ_max|), atol)``. The Ritz values lie inside the
    spectrum, so ``lambda_min`` is an upper estimate of the smallest eigenvalue until it
    converges; a residual r means some eigenvalue lies within r of it.

    Parameters
    ----------
    matvec : callable
        ``v -> A v`` for flat vectors of ``v0``'s shape, dtype and device.
    v0 : Tensor
        Non-zero start vector.
    steps : int
        Maximum number of products (at most the dimension).
    tol : float
        Relative residual tolerance.
    atol : float
        Absolute residual tolerance (the accuracy a caller actually needs).
    min_steps : int
        Iterations before the tolerances may stop the run: a converged Ritz pair is not
        necessarily the smallest eigenvalue, and a larger Krylov space makes missing it
        unlikely.

    Returns
    -------
    LanczosResult

    Examples
    --------
    >>> import torch
    >>> A = torch.diag(torch.tensor([-1.0, 2.0, 3.0], dtype=torch.float64))
    >>> r = lanczos(lambda v: A @ v, torch.ones(3, dtype=torch.float64), steps=3)
    >>> round(r.lambda_min, 6), round(r.lambda_max, 6)
    (-1.0, 3.0)
    """
    n = int(v0.numel())
    steps = max(1, min(int(steps), n))
    norm0 = float(v0.norm())
    if not (norm0 > 0 and math.isfinite(norm0)):
        raise InputError("the Lanczos start vector must be finite and non-zero")
    basis = torch.empty((steps, n), dtype=v0.dtype, device=v0.device)
    basis[0] = v0.reshape(-1) / norm0
    alphas: list[float] = []
    betas: list[float] = []
    theta_min = theta_max = 0.0
    vec = basis[0]
    residual = math.inf
    converged = False
    for j in range(steps):
        w = matvec(basis[j])
        if not bool(torch.isfinite(w).all()):
            raise InputError("Hessian-vector product is not finite")
        alpha = float(torch.dot(w, basis[j]))
        alphas.append(alpha)
        w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)  # full reorthogonalisation, twice
        w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
        beta = float(w.norm())
        T = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        evals, evecs = np.linalg.eigh(T)
        theta_min, theta_max = float(evals[0]), float(evals[-1])
        scale = max(abs(theta_min), abs(theta_max), 1e-300)
        residual = beta * abs(float(evecs[-1, 0]))
        complete = j + 1 == n or beta <= 1e-14 * scale
        good = residual <= max(tol * scale, atol) and j + 1 >= min_steps
        if complete or good or j + 1 == steps:
            coeffs = torch.as_tensor(evecs[:, 0], dtype=v0.dtype, device=v0.device)
            vec = coeffs @ basis[: j + 1]
            vec = vec / vec.norm()
            converged = complete or good
            if complete:
                residual = 0.0 if j + 1 == n else residual
            return LanczosResult(theta_min, theta_max, vec, residual, j + 1, converged)
        betas.append(beta)
        basis[j + 1] = w / beta
    raise AssertionError("unreachable")  # pragma: no cover


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


def lemma_bound(rho: float, lam: float, K: float) -> float | None:
    """``ρ / (2λ - √(Kρ))``, or ``None`` when ``λ <= √(Kρ)/2`` and the lemma says nothing.

    Examples
    --------
    >>> lemma_bound(1e-4, 0.1, 1.0) == 1e-4 / (0.2 - 1e-2)
    True
    """
    denominator = 2.0 * lam - math.sqrt(K * rho)
    return rho / denominator if denominator > 0 else None


def largest_certifiable_gradient(lam: float, K: float, target: float) -> float:
    """The largest ρ for which the lemma's bound ``ρ / (2λ − √(Kρ))`` is at most ``target``.

    Solves ``ρ + target √K √ρ − 2λ target = 0`` for √ρ; with ``K = 0`` this is ``2λ target``.

    Examples
    --------
    >>> largest_certifiable_gradient(1e-3, 0.0, 10.0)
    0.02
    """
    if lam <= 0 or target <= 0:
        return 0.0
    b = target * math.sqrt(max(K, 0.0))
    s = (-b + math.sqrt(b * b + 8.0 * lam * target)) / 2.0
    return s * s


def hypothesis_failures(
    rho: float, lmin: float, lam: float | None, K: float | None, converged: bool = True
) -> tuple[str, ...]:
    """Which hypotheses of the lemma's bound fail at ``(ρ, λ_min)``, and by how much.

    The bound ``ρ / (2λ − √(Kρ))`` needs λ, K, a ρ-SOSP (``λ_min >= −√(Kρ)``) and
    ``2λ > √(Kρ)``; an unconverged λ_min is not a check.

    Examples
    --------
    >>> hypothesis_failures(1e-2, 0.0, 1e-2, 1.0)
    ('lambda too small: 2 lam = 0.02 <= sqrt(K rho) = 0.1 (rho/lam = 1, needs < 4 lam/K = 0.04)',)
    """
    failures: list[str] = []
    if lam is None:
        failures.append("no lam given")
    if K is None:
        failures.append("no K given")
    if lam is None or K is None:
        return tuple(failures)
    root = math.sqrt(K * rho)
    if not converged:
        failures.append("lambda_min did not converge (more Lanczos steps needed)")
    if lmin < -root:
        factor = f"{-lmin / root:.2g}x" if root > 0 else "inf"
        failures.append(
            f"not a rho-SOSP: lambda_min = {lmin:.3g} < -sqrt(K rho) = {-root:.3g} (by {factor})"
        )
    if 2.0 * lam <= root:
        failures.append(
            f"lambda too small: 2 lam = {2 * lam:.3g} <= sqrt(K rho) = {root:.3g} "
            f"(rho/lam = {rho / lam:.3g}, needs < 4 lam/K = "
            f"{(4 * lam / K) if K > 0 else math.inf:.3g})"
        )
    return tuple(failures)


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


def certificate_from_spectrum(
    rho: float,
    spectrum: LanczosResult,
    *,
    n_params: int,
    method: str,
    hvp_evaluations: int,
    seconds: float,
    lam: float | None,
    K: float | None,
    K_is_estimate: bool,
    n_samples: int | None = None,
) -> SOSPCertificate:
    """The certificate from a measured gradient norm ``rho`` and Lanczos extremes.

    For callers with their own Hessian-vector products (e.g. a hand-written R-pass); the
    checks are those of :func:`sosp_certificate`.

    Returns
    -------
    SOSPCertificate

    Examples
    --------
    >>> import torch
    >>> r = LanczosResult(0.5, 2.0, torch.zeros(1), 0.0, 3, True)
    >>> cert = certificate_from_spectrum(1e-3, r, n_params=3, method="dense",
    ...     hvp_evaluations=3, seconds=0.0, lam=0.1, K=1.0, K_is_estimate=False)
    >>> round(cert.bound, 5)
    0.00594
    """
    lmin, lmax = spectrum.lambda_min, spectrum.lambda_max
    if not (math.isfinite(rho) and math.isfinite(lmin)):
        raise InputError(f"certificate: gradient norm {rho} or lambda_min {lmin} is not finite")
    converged = spectrum.converged
    is_sosp: bool | None = None
    bound: float | None = None
    bound_measured: float | None = None
    notes: list[str] = []
    failures = hypothesis_failures(rho, lmin, lam, K, converged)
    if K is not None:
        is_sosp = lmin >= -math.sqrt(K * rho)
        kind = "estimated" if K_is_estimate else "given"
        notes.append(f"{'a' if is_sosp else 'not a'} rho-SOSP for the {kind} K = {K:.3g}")
    if lam is not None:
        denominator = 2.0 * lam + min(lmin, 0.0)
        bound_measured = rho / denominator if denominator > 0 and converged else None
    if not failures and lam is not None and K is not None:
        bound = lemma_bound(rho, lam, K)
        notes.append(f"lemma: ||W||_F <= {bound:.3g}")
    else:
        notes.append("the lemma's bound does not apply: " + "; ".join(failures))
    return SOSPCertificate(
        grad_norm=rho,
        lambda_min=lmin,
        n_params=n_params,
        method=method,
        hvp_evaluations=hvp_evaluations,
        seconds=seconds,
        lam=lam,
        K=K,
        K_is_estimate=K_is_estimate,
        is_sosp=is_sosp,
        bound=bound,
        bound_measured=bound_measured,
        note="; ".join(notes),
        failures=failures,
        lambda_max=lmax,
        residual=spectrum.residual,
        converged=converged,
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
