"""Hyperplane and threshold rounding of SDP vectors, in closed form (paper, Max-Cut section).

For a quadratic objective ``f`` (:class:`~derand.rounding.QuadraticObjective`) and vectors
``u_i`` (rows of ``U``), the rounding ``s_i = sign(u_i . r + t_i)`` with ``r ~ N(m, sigma^2 I)``
has, with ``a_i = (u_i . m + t_i) / (sigma |u_i|)`` and ``rho_e`` the cosine of ``u_u, u_v``,

    P(s_i = 1) = Phi(a_i),   P(s_u != s_v) = Phi(a_u) + Phi(a_v) - 2 Phi_2(a_u, a_v; rho_e),

so ``E[f] = c + sum_e J_e + sum_i h_i (2 Phi(a_i) - 1) - 2 sum_e J_e P(s_u != s_v)`` is closed
form, and so is its gradient (``dPhi_2/dh = phi(h) Phi((k - rho h)/sqrt(1 - rho^2))``). In
the variables ``x = (mu, tau) = (m, t) / sigma`` the smoothed objective is the lemma's
``E_z[g(W z + b)]`` with ``W = sigma U`` (the random part, driven to 0) and ``b = t`` (kept):
:class:`HyperplaneRounding` is that problem for :func:`derand.core.derandomize`, and
:func:`derandomized_rounding` runs it with the monotone L-BFGS, so the final deterministic
``sign(U mu + tau)`` is at least the starting expectation -- the Goemans-Williamson one at
``x = 0`` (:func:`gw_expectation`). Pairs are evaluated in one compiled pass
(:mod:`derand.rounding._kernel`, ahead of time when built: :mod:`derand.maxcut.kernels`) from
:data:`COMPILED_N` variables or :data:`COMPILED_M` pairs on, by scipy's Owen's T below.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

from derand.core import DerandResult, Iterate, MonotoneLBFGS, Rounded, Stop, derandomize
from derand.core.gaussian import INV_SQRT_2PI, bvn_cdf_owens_t
from derand.core.problem import Sense
from derand.errors import InputError
from derand.rounding.objective import QuadraticObjective

__all__ = [
    "COMPILED_M",
    "COMPILED_N",
    "HyperplaneRounding",
    "RandomRounding",
    "best_of_random",
    "derandomized_rounding",
    "gw_expectation",
    "pair_correlations",
    "threshold_form",
]

Array = NDArray[np.float64]
Signs = NDArray[np.int8]

COMPILED_M = 2000
"""From this many pairs on, the expectation is computed by the compiled kernel."""
COMPILED_N = 64
"""From this many variables on too (whatever the pairs): the compiled SDP sweeps
(:data:`derand.sdp.COMPILED_N`, the same 64) have loaded numba by then, and the kernel is faster
at every size once loaded (warm, per evaluation with gradient: 0.07 against 0.19 ms at 274
pairs, 0.32 against 0.78 ms at 1851). Below both thresholds scipy's Owen's T is kept: a small
problem then never imports numba, whose start-up (0.5-1 s in a fresh process) outweighs any
saving."""
_EPS_A = 1e-9
_RHO_MAX = 1.0 - 1e-12
_MIN_NORM = 1e-12


def pair_correlations(obj: QuadraticObjective, U: Array) -> Array:
    """``rho_e = u_u . u_v`` for each pair, clipped to ``[-1, 1]`` (unit rows).

    Returns
    -------
    ndarray
    """
    out: Array = np.clip(np.einsum("ij,ij->i", U[obj.u], U[obj.v]), -1.0, 1.0)
    return out


def gw_expectation(obj: QuadraticObjective, V: Array) -> float:
    """``E f(sign(V r))`` for ``r ~ N(0, I)`` and unit rows ``V``: the Goemans-Williamson
    expectation ``c + sum_e J_e (1 - 2 arccos(rho_e) / pi)`` (``h`` contributes 0).

    For Max-Cut with nonnegative weights it is ``>= 0.878`` times the SDP value.

    Returns
    -------
    float
    """
    rho = pair_correlations(obj, V)
    return float(obj.constant + np.sum(obj.J * (1.0 - 2.0 * np.arccos(rho) / np.pi)))


def threshold_form(V: Array, truth: int) -> tuple[Array, Array]:
    """Split SDP vectors with a truth vector ``v_0 = V[truth]`` into threshold-rounding data.

    ``U`` holds the rows ``v_i - (v_i . v_0) v_0`` (orthogonal to ``v_0``, not unit) and ``c``
    the cosines ``v_i . v_0``, both without the truth row. Conditioned on ``g = v_0 . r > 0``,
    hyperplane rounding of ``V`` with the truth variable's sign as "true" is exactly the
    threshold rounding ``s_i = sign(u_i . r' + g c_i)``, ``r' ~ N(0, I)``; so the
    Goemans-Williamson expectation is the average over ``g ~ |N(0, 1)|`` of the threshold
    roundings with ``t = g c`` -- and the best ``g`` is at least as good.

    Returns
    -------
    (ndarray, ndarray)
        ``U`` (n, p) and ``c`` (n,).
    """
    V = np.asarray(V, dtype=np.float64)
    if not 0 <= truth < V.shape[0]:
        raise InputError(f"truth index {truth} outside [0, {V.shape[0]})")
    v0 = V[truth]
    keep = np.delete(np.arange(V.shape[0]), truth)
    c = V[keep] @ v0
    U = V[keep] - c[:, None] * v0[None, :]
    return U, c


@dataclass(frozen=True)
class RandomRounding:
    """The best of ``samples`` random hyperplanes (the plain GW rounding, ``samples = 1``);
    ``direction`` is the best hyperplane's normal ``r``."""

    best_value: float
    mean_value: float
    solution: Signs = field(repr=False)
    samples: int
    values: Array = field(repr=False)
    direction: Array = field(repr=False)


def best_of_random(
    obj: QuadraticObjective,
    V: Array,
    samples: int,
    *,
    seed: int = 0,
    truth: int | None = None,
    chunk: int | None = None,
    values: Callable[[NDArray[np.bool_]], Array] | None = None,
    evaluate: Callable[[Signs], float] | None = None,
    time_limit: float | None = None,
) -> RandomRounding:
    """Round with ``samples`` random Gaussian hyperplanes ``sign(V r)``; keep the best.

    One ``(n, p) @ (p, N)`` product per chunk. With ``truth`` (the row of the truth vector),
    each rounding is read relative to the truth variable (``s_i s_truth``) and the truth
    variable is dropped from the returned solution; ``obj`` is then either the homogenized
    objective (all of ``V``'s rows) or the original one (the other rows).

    Parameters
    ----------
    obj : QuadraticObjective
        The objective the signs are scored by (on ``V``'s rows).
    V : ndarray (n, p)
    samples : int
    seed : int
    truth : int, optional
    chunk : int, optional
        Hyperplanes per product (default: about 200 MB of work).
    values : callable, optional
        ``values(signs)`` for a boolean ``(n, N)`` matrix (``True`` = +1): the scores of a
        chunk; default from ``obj``.
    evaluate : callable, optional
        The exact value of the best solution in ``obj``'s variables (default ``obj.value``).
    time_limit : float, optional
        Seconds; no chunk starts after it (at least one chunk runs), and ``samples`` in the
        result says how many hyperplanes were drawn. The draws are those of an unlimited run
        cut short, so the result depends on the machine's speed only through that count.

    Returns
    -------
    RandomRounding
    """
    if samples < 1:
        raise InputError(f"samples must be >= 1, got {samples}")
    rng = np.random.default_rng(seed)
    n, p = V.shape
    homogenized = obj.n == n
    if truth is not None and not (homogenized or obj.n == n - 1):
        raise InputError(f"with a truth row, obj must have {n} or {n - 1} variables, not {obj.n}")
    if chunk is None:
        chunk = max(1, min(samples, int(2e8 // max(1, 8 * (2 * obj.m + 3 * n)))))
    if values is None:

        def values(signs: NDArray[np.bool_]) -> Array:
            s = np.where(signs, 1.0, -1.0)
            if truth is not None:
                s = s * s[truth]
                if not homogenized:
                    s = np.delete(s, truth, axis=0)
            return obj.values(s.T)

    scores = np.empty(samples)
    best_k, best_s, best_r = -1, np.ones(n, np.int8), np.zeros(p)
    started = time.perf_counter()
    done = samples
    for start in range(0, samples, chunk):
        if start and time_limit is not None and time.perf_counter() - started > time_limit:
            done = start
            break
        stop = min(samples, start + chunk)
        r = rng.standard_normal((p, stop - start))
        signs = (V @ r) >= 0
        c = values(signs)
        scores[start:stop] = c
        j = int(np.argmax(c))
        if best_k < 0 or c[j] > scores[best_k]:
            best_k = start + j
            best_s = np.where(signs[:, j], 1, -1).astype(np.int8)
            best_r = r[:, j].copy()
    scores = scores[:done]
    if truth is not None:
        best_s = (best_s * best_s[truth]).astype(np.int8)
        if not homogenized:
            best_s = np.delete(best_s, truth)
    scores[best_k] = (obj.value if evaluate is None else evaluate)(best_s)
    if truth is not None and homogenized:
        best_s = np.delete(best_s, truth)
    return RandomRounding(
        best_value=float(scores[best_k]),
        mean_value=float(scores.mean()),
        solution=best_s,
        samples=done,
        values=scores,
        direction=best_r,
    )


def _prep(a: Array) -> Array:
    """Move ``|a| < eps`` to ``+-eps`` (sign kept, 0 -> +eps): Owen's T needs h, k != 0."""
    return np.where(np.abs(a) < _EPS_A, np.where(a < 0, -_EPS_A, _EPS_A), a)


class HyperplaneRounding:
    """The rounding ``s_i = sign(u_i . r + t_i)``, ``r ~ N(m, sigma^2 I)``, as a
    :class:`~derand.core.Problem` (sense ``"max"``; see the module docstring).

    Parameters
    ----------
    obj : QuadraticObjective
    U : ndarray (n, p)
        The rounding directions (unit rows, as the SDP gives, unless ``thresholds``).
    thresholds : bool
        Train per-variable thresholds ``tau`` too (``x = (mu, tau)``); rows of ``U`` may then
        have any norm (``|u_i| ~ 0`` makes ``s_i = sign(tau_i)`` deterministic).
    t0 : ndarray, optional
        Starting thresholds (with ``thresholds``); default 0.
    evaluate : callable, optional
        Exact value of a ±1 solution (default ``obj.value``).
    x0 : ndarray, optional
        Another starting point (e.g. the best of N random hyperplanes, scaled to a small
        ``sigma``); default ``mu = 0`` (the GW expectation) and ``tau = t0``.

    Attributes
    ----------
    requires_monotone : bool
        True: the guarantee ``value >= expected_start`` rests on a monotone ascent.
    """

    sense: Sense = "max"
    requires_monotone = True

    def __init__(
        self,
        obj: QuadraticObjective,
        U: Array,
        *,
        thresholds: bool = False,
        t0: Array | None = None,
        evaluate: Callable[[Signs], float] | None = None,
        x0: Array | None = None,
    ) -> None:
        U = np.asarray(U, dtype=np.float64)
        if U.ndim != 2 or U.shape[0] != obj.n:
            raise InputError(f"U must have {obj.n} rows, got shape {U.shape}")
        self.obj = obj
        self.U = U
        self.p = U.shape[1]
        self.thresholds = thresholds
        self.evaluate = obj.value if evaluate is None else evaluate
        if thresholds:
            norms = np.linalg.norm(U, axis=1)
            self.inv_norm: Array | None = 1.0 / np.maximum(norms, _MIN_NORM)
            unit = U * self.inv_norm[:, None]
            self.rho = np.clip(np.einsum("ij,ij->i", unit[obj.u], unit[obj.v]), -1.0, 1.0)
            self.t0 = np.zeros(obj.n) if t0 is None else np.asarray(t0, dtype=np.float64)
            if self.t0.shape != (obj.n,) or not np.all(np.isfinite(self.t0)):
                raise InputError(f"t0 must be {obj.n} finite numbers")
        else:
            if t0 is not None:
                raise InputError("t0 needs thresholds=True")
            self.inv_norm = None
            self.rho = pair_correlations(obj, U)
            self.t0 = np.zeros(0)
        self.w = -2.0 * obj.J
        self.base = obj.constant + float(np.sum(obj.J))
        self.linear = bool(np.any(obj.h != 0))
        self._r = np.clip(self.rho, -_RHO_MAX, _RHO_MAX)
        self._tables: Any = None
        self._pairs: tuple[Any, ...] = ()
        dim = self.p + (obj.n if thresholds else 0)
        self.x0 = None if x0 is None else np.asarray(x0, dtype=np.float64)
        if self.x0 is not None and (self.x0.shape != (dim,) or not np.all(np.isfinite(self.x0))):
            raise InputError(f"x0 must be {dim} finite numbers")

    # -- the problem protocol -------------------------------------------------------------

    def start(self) -> Array:
        """``x0``, else ``x = 0`` (``mu = 0``: the GW expectation) or ``(0, t0)``."""
        if self.x0 is not None:
            return self.x0.copy()
        return np.concatenate([np.zeros(self.p), self.t0])

    def split(self, x: Array) -> tuple[Array, Array | None]:
        """``(mu, tau)`` (``tau`` is ``None`` without thresholds)."""
        if self.thresholds:
            return x[: self.p], x[self.p :]
        return x, None

    def activations(self, x: Array) -> Array:
        """``a_i = (u_i . mu + tau_i) / |u_i|``."""
        mu, tau = self.split(x)
        a = self.U @ mu
        if tau is not None:
            assert self.inv_norm is not None
            a = (a + tau) * self.inv_norm
        return np.asarray(a, dtype=np.float64)

    def value(self, x: Array) -> float:
        """``E[f]`` at ``x``."""
        return self._value_and_grad_a(self.activations(x), False)[0]

    def value_and_grad(self, x: Array) -> tuple[float, Array]:
        """``E[f]`` at ``x`` and its exact gradient."""
        value, da = self._value_and_grad_a(self.activations(x), True)
        if self.thresholds:
            assert self.inv_norm is not None
            dt = da * self.inv_norm
            return value, np.concatenate([self.U.T @ dt, dt])
        return value, self.U.T @ da

    def randomness(self, x: Array) -> float:
        """``sigma = 1 / |x|`` (with ``|(m, t)| = 1``)."""
        return 1.0 / max(float(np.linalg.norm(x)), 1e-300)

    def round(self, x: Array) -> Rounded:
        """``sign(U mu + tau)`` (0 counts as +1) with its exact value."""
        mu, tau = self.split(x)
        z = self.U @ mu if tau is None else self.U @ mu + tau
        s = np.where(z >= 0, 1, -1).astype(np.int8)
        return Rounded(s, float(self.evaluate(s)))

    def sharpen(self, x: Array) -> Array:
        """``sigma -> sigma / 2`` (the same hyperplane, less random)."""
        out: Array = x * 2.0
        return out

    def hessian(self, x: Array) -> Array:
        """The exact Hessian of ``E[f]`` in ``x`` (dense; for small ``x``)."""
        J = self._jacobian()
        a = self.activations(x)
        if not self.thresholds and not self.linear and not np.any(a):
            return self._hessian_at_zero()
        out: Array = np.asarray(J.T @ (self._hessian_a(a) @ J), dtype=np.float64)
        return out

    def hvp(self, x: Array, v: Array) -> Array:
        """``hess E[f](x) v`` (exact)."""
        J = self._jacobian()
        out: Array = J.T @ (self._hessian_a(self.activations(x)) @ (J @ v))
        return out

    # -- internals ------------------------------------------------------------------------

    def _jacobian(self) -> Any:
        """``da/dx`` as a dense matrix ``[D U, D]`` (or ``U``)."""
        if not self.thresholds:
            return self.U
        assert self.inv_norm is not None
        import scipy.sparse as sp

        D = sp.diags(self.inv_norm)
        return sp.hstack([sp.csr_matrix(D @ self.U), D]).toarray()

    def _hessian_a(self, a: Array) -> Any:
        """``d^2 E / da^2`` as a sparse matrix (pairs and the linear terms)."""
        import scipy.sparse as sp

        obj, r = self.obj, self._r
        h, k = a[obj.u], a[obj.v]
        s = np.sqrt((1.0 - r) * (1.0 + r))
        z1, z2 = (k - r * h) / s, (h - r * k) / s
        ph, pk = INV_SQRT_2PI * np.exp(-0.5 * h * h), INV_SQRT_2PI * np.exp(-0.5 * k * k)
        dens = ph * INV_SQRT_2PI * np.exp(-0.5 * z1 * z1) / s  # the bivariate normal density
        w = self.w
        dhh = w * (-h * ph * (1.0 - 2.0 * ndtr(z1)) + 2.0 * r * dens)
        dkk = w * (-k * pk * (1.0 - 2.0 * ndtr(z2)) + 2.0 * r * dens)
        dhk = w * (-2.0 * dens)
        diag = np.asarray(np.bincount(obj.u, dhh, obj.n) + np.bincount(obj.v, dkk, obj.n), float)
        if self.linear:
            diag += obj.h * 2.0 * (-a) * INV_SQRT_2PI * np.exp(-0.5 * a * a)
        rows = np.concatenate([obj.u, obj.v, np.arange(obj.n)])
        cols = np.concatenate([obj.v, obj.u, np.arange(obj.n)])
        return sp.csr_matrix((np.concatenate([dhk, dhk, diag]), (rows, cols)), shape=(obj.n, obj.n))

    def _hessian_at_zero(self) -> Array:
        """The Hessian in ``mu`` at ``mu = 0`` (a stationary point of an even ``E``):
        ``H_ij = -w_ij / (pi sqrt(1 - rho^2))``, ``H_ii = sum_j w_ij rho_ij / (pi sqrt(1 - rho^2))``
        in ``a``, ``U^T H U`` in ``mu`` (``rho`` clipped to ``1 - 1e-6``)."""
        obj, U = self.obj, self.U
        r = np.clip(self.rho, -1.0 + 1e-6, 1.0 - 1e-6)
        c = self.w / (np.pi * np.sqrt(1.0 - r * r))
        diag = np.bincount(obj.u, c * r, minlength=obj.n) + np.bincount(
            obj.v, c * r, minlength=obj.n
        )
        hv = diag[:, None] * U
        np.subtract.at(hv, obj.u, c[:, None] * U[obj.v])
        np.subtract.at(hv, obj.v, c[:, None] * U[obj.u])
        out: Array = U.T @ hv
        return out

    def _value_and_grad_a(self, a: Array, grad: bool) -> tuple[float, Array]:
        obj = self.obj
        if obj.m >= COMPILED_M or obj.n >= COMPILED_N:
            from derand.rounding._tables import kernels, quadrature_tables

            if self._tables is None:
                self._tables = quadrature_tables(self._r)
                self._pairs = tuple(
                    np.ascontiguousarray(x, dtype=t)
                    for x, t in ((obj.u, np.int64), (obj.v, np.int64), (self.w, np.float64))
                )  # the exact types the kernel was compiled for (ahead of time: no dispatch)
            da = np.zeros(obj.n if grad else 0)
            a = np.ascontiguousarray(a, dtype=np.float64)
            pairs = kernels().disagreement_and_grad(
                *self._pairs, self._r, a, bool(grad), da, *self._tables
            )
            value = float(pairs)
        else:
            value, da = self._scipy(a, grad)
        if self.base != 0.0:
            value = self.base + value
        if self.linear:
            value += float(np.dot(obj.h, 2.0 * ndtr(a) - 1.0))
            if grad:
                da = da + obj.h * 2.0 * INV_SQRT_2PI * np.exp(-0.5 * a * a)
        return value, da

    def _scipy(self, a: Array, grad: bool) -> tuple[float, Array]:
        obj, r = self.obj, self._r
        a = _prep(a)
        h, k = a[obj.u], a[obj.v]
        prob = ndtr(h) + ndtr(k) - 2.0 * bvn_cdf_owens_t(h, k, r)
        value = float(np.dot(self.w, np.clip(prob, 0.0, 1.0)))
        if not grad:
            return value, np.zeros(0)
        s = np.sqrt(1.0 - r * r)
        w = self.w
        dh = w * INV_SQRT_2PI * np.exp(-0.5 * h * h) * (1.0 - 2.0 * ndtr((k - r * h) / s))
        dk = w * INV_SQRT_2PI * np.exp(-0.5 * k * k) * (1.0 - 2.0 * ndtr((h - r * k) / s))
        da = np.bincount(obj.u, dh, minlength=obj.n) + np.bincount(obj.v, dk, minlength=obj.n)
        return value, np.asarray(da, dtype=np.float64)


def derandomized_rounding(
    obj: QuadraticObjective,
    U: Array,
    *,
    thresholds: bool = False,
    t0: Array | None = None,
    max_iter: int = 300,
    randomness_tol: float = 1e-3,
    seed: int = 0,
    time_limit: float | None = None,
    callback: Callable[[Iterate], None] | None = None,
    evaluate: Callable[[Signs], float] | None = None,
    certify: bool = False,
    x0: Array | None = None,
) -> DerandResult:
    """The derandomized rounding: a monotone ascent of ``E[f]`` until ``sigma -> 0``.

    From ``mu = 0`` (``E[f]`` = the GW expectation; with thresholds, ``(0, t0)``), ``E[f]`` is
    ascended by :class:`~derand.core.MonotoneLBFGS` -- so it never decreases -- while
    ``sigma = 1 / |x|`` falls; the output is the best deterministic ``sign(U mu + tau)`` seen,
    and ``guarantee_holds`` checks that it is at least the starting expectation. A stationary
    start is left along the Hessian's top eigenvector (:func:`derand.core.derandomize`).

    Parameters
    ----------
    obj, U, thresholds, t0, evaluate, x0
        As in :class:`HyperplaneRounding`.
    max_iter : int
        Ascent steps.
    randomness_tol : float
        Stop once ``sigma`` is below it and the deterministic value reached ``E[f]``.
    seed : int
        Only used when the Hessian at the start has no positive direction.
    time_limit : float, optional
        Seconds (checked after each step).
    callback : callable, optional
        ``callback(Iterate)`` per step; Ctrl-C keeps the best solution.
    certify : bool
        The SOSP certificate of ``E[f]`` at the last iterate (``result.certificate``).

    Returns
    -------
    DerandResult
        ``solution`` (int8 ±1), ``value``, ``expected_start``, ``guarantee_holds``, history.
    """
    problem = HyperplaneRounding(obj, U, thresholds=thresholds, t0=t0, evaluate=evaluate, x0=x0)
    return derandomize(
        problem,
        MonotoneLBFGS(),
        stop=Stop(max_iter=max_iter, randomness_tol=randomness_tol, time_limit=time_limit),
        callback=callback,
        certify_at_end=certify,
        seed=seed,
    )
