"""Second-order stationarity certificates and the derandomization lemma's bound (numpy).

A point is a rho-second-order stationary point (rho-SOSP) of a K-Hessian-Lipschitz F (to be
minimised) when ``|grad F| <= rho`` and ``lambda_min(hess F) >= -sqrt(K rho)``. The lemma
(Tsikouras et al., ICLR 2026, §3, Lemma 3.1) then gives ``|W|_F <= rho / (2 lam - sqrt(K rho))``
whenever ``lam > sqrt(K rho) / 2``, for the regularised ``F = E[g(W z + b)] + lam |W|_F^2``.

:func:`certify` examines any :class:`~derand.core.Problem` with Hessian-vector products
(``hvp``) or a dense ``hessian``; the torch adapter (``derand.core.sosp_certificate``) does the
same for a torch objective. Both report the lemma's bound only where each hypothesis was
checked, and otherwise say which one fails and by how much.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from derand.errors import InputError

__all__ = [
    "LanczosResult",
    "SOSPCertificate",
    "certificate_from_spectrum",
    "certify",
    "hypothesis_failures",
    "lanczos",
    "largest_certifiable_gradient",
    "lemma_bound",
]

Array = NDArray[np.float64]
DENSE_LIMIT = 64
"""Problems with at most this many variables get a dense Hessian (``n`` products)."""


class _Ops:
    """The few array operations Lanczos needs, for numpy arrays and torch tensors alike."""

    def __init__(self, v0: Any) -> None:
        self.torch = not isinstance(v0, np.ndarray) and hasattr(v0, "new_empty")
        self.v0 = v0

    def size(self, v: Any) -> int:
        return int(v.numel()) if self.torch else int(v.size)

    def norm(self, v: Any) -> float:
        return float(v.norm()) if self.torch else float(np.linalg.norm(v))

    def dot(self, a: Any, b: Any) -> float:
        return float(a.dot(b)) if self.torch else float(np.dot(a, b))

    def finite(self, v: Any) -> bool:
        if self.torch:
            return bool(v.isfinite().all())
        return bool(np.all(np.isfinite(v)))

    def empty(self, rows: int, n: int) -> Any:
        if self.torch:
            return self.v0.new_empty((rows, n))
        return np.empty((rows, n), dtype=np.float64)

    def like(self, values: Array, basis: Any) -> Any:
        if self.torch:
            return basis.new_tensor(values)[: values.shape[0]]
        return np.asarray(values, dtype=basis.dtype)


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
    vector_min : ndarray or Tensor
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
    vector_min: Any
    residual: float
    iterations: int
    converged: bool


def lanczos(
    matvec: Callable[[Any], Any],
    v0: Any,
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
        ``v -> A v`` for flat vectors of ``v0``'s kind (numpy array or torch tensor), shape,
        dtype and device.
    v0 : ndarray or Tensor
        Non-zero start vector; the basis is kept in the same kind of array.
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
    >>> A = np.diag([-1.0, 2.0, 3.0])
    >>> r = lanczos(lambda v: A @ v, np.ones(3), steps=3)
    >>> round(r.lambda_min, 6), round(r.lambda_max, 6)
    (-1.0, 3.0)
    """
    ops = _Ops(v0)
    n = ops.size(v0)
    steps = max(1, min(int(steps), n))
    norm0 = ops.norm(v0)
    if not (norm0 > 0 and math.isfinite(norm0)):
        raise InputError("the Lanczos start vector must be finite and non-zero")
    basis = ops.empty(steps, n)
    basis[0] = v0.reshape(-1) / norm0
    alphas: list[float] = []
    betas: list[float] = []
    theta_min = theta_max = 0.0
    vec = basis[0]
    residual = math.inf
    converged = False
    for j in range(steps):
        w = matvec(basis[j])
        if not ops.finite(w):
            raise InputError("Hessian-vector product is not finite")
        alpha = ops.dot(w, basis[j])
        alphas.append(alpha)
        w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)  # full reorthogonalisation, twice
        w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
        beta = ops.norm(w)
        T = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        evals, evecs = np.linalg.eigh(T)
        theta_min, theta_max = float(evals[0]), float(evals[-1])
        scale = max(abs(theta_min), abs(theta_max), 1e-300)
        residual = beta * abs(float(evecs[-1, 0]))
        complete = j + 1 == n or beta <= 1e-14 * scale
        good = residual <= max(tol * scale, atol) and j + 1 >= min_steps
        if complete or good or j + 1 == steps:
            vec = ops.like(evecs[:, 0], basis) @ basis[: j + 1]
            vec = vec / ops.norm(vec)
            converged = complete or good
            if complete:
                residual = 0.0 if j + 1 == n else residual
            return LanczosResult(theta_min, theta_max, vec, residual, j + 1, converged)
        betas.append(beta)
        basis[j + 1] = w / beta
    raise AssertionError("unreachable")  # pragma: no cover


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
    >>> r = LanczosResult(0.5, 2.0, np.zeros(1), 0.0, 3, True)
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


def certify(
    problem: Any,
    x: Array,
    *,
    lam: float | None = None,
    K: float | None = None,
    K_is_estimate: bool = False,
    tol: float = 1e-10,
    max_steps: int | None = None,
    seed: int = 0,
) -> SOSPCertificate:
    """The SOSP certificate of a problem at ``x`` (its minimised form: ``-F`` when maximised).

    Computes ``rho = |grad F(x)|`` and the extreme Hessian eigenvalues -- densely (the
    problem's ``hessian(x)``, or ``n`` Hessian-vector products when ``n <= DENSE_LIMIT``) or by
    Lanczos on ``hvp`` -- and, given ``lam`` and ``K``, whether ``x`` is a rho-SOSP and the
    lemma's bound. For a maximised problem, ``lambda_min`` is that of ``-hess F``: a local
    maximum has ``lambda_min >= 0``.

    Parameters
    ----------
    problem : Problem
        With ``value_and_grad`` and ``hvp(x, v)`` or ``hessian(x)``.
    x : ndarray
        The point.
    lam, K, K_is_estimate
        As in :func:`certificate_from_spectrum`.
    tol, max_steps
        Lanczos tolerance and iteration cap (default ``min(n, 500)``).
    seed : int
        Seed of the Lanczos start vector.

    Returns
    -------
    SOSPCertificate

    Raises
    ------
    InputError
        When the problem offers neither ``hvp`` nor ``hessian``.

    Examples
    --------
    >>> class Bowl:
    ...     sense = "min"
    ...     def start(self): return np.ones(2)
    ...     def value_and_grad(self, x): return float(x @ x), 2 * x
    ...     def randomness(self, x): return float(abs(x[0]))
    ...     def round(self, x): ...
    ...     def hvp(self, x, v): return 2 * v
    >>> c = certify(Bowl(), np.zeros(2), lam=1.0, K=0.0)
    >>> c.grad_norm, c.lambda_min, c.bound
    (0.0, 2.0, 0.0)
    """
    start = time.perf_counter()
    x = np.asarray(x, dtype=np.float64)
    sign = -1.0 if getattr(problem, "sense", "min") == "max" else 1.0
    _, grad = problem.value_and_grad(x)
    rho = float(np.linalg.norm(grad))
    n = int(x.size)
    hessian = getattr(problem, "hessian", None)
    hvp = getattr(problem, "hvp", None)
    if hessian is None and hvp is None:
        raise InputError(f"{type(problem).__name__} has no hvp or hessian: nothing to certify")
    if hessian is not None or n <= DENSE_LIMIT:
        if hessian is not None:
            H = sign * np.asarray(hessian(x), dtype=np.float64)
            products = 0
        else:
            assert hvp is not None
            H = sign * np.stack([np.asarray(hvp(x, e), np.float64) for e in np.eye(n)])
            products = n
        spectrum_values = np.linalg.eigvalsh(0.5 * (H + H.T))
        result = LanczosResult(
            float(spectrum_values[0]), float(spectrum_values[-1]), np.zeros(0), 0.0, n, True
        )
        method = "dense"
    else:
        assert hvp is not None
        counter = [0]

        def matvec(v: Array) -> Array:
            counter[0] += 1
            return sign * np.asarray(hvp(x, v), dtype=np.float64)

        v0 = np.random.default_rng(seed).standard_normal(n)
        result = lanczos(matvec, v0, steps=max_steps or min(n, 500), tol=tol)
        products, method = counter[0], "lanczos"
    return certificate_from_spectrum(
        rho,
        result,
        n_params=n,
        method=method,
        hvp_evaluations=products,
        seconds=time.perf_counter() - start,
        lam=lam,
        K=K,
        K_is_estimate=K_is_estimate,
    )
