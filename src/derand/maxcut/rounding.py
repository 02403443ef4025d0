"""Hyperplane rounding of an SDP solution: random, best-of-N, derandomized, score-function.

Paper, Max-Cut section. For ``s_i = sign(v_i . r)`` with
``r ~ N(m, sigma^2 I)``, ``a_i = v_i . m / sigma`` and ``rho_ij = v_i . v_j``,

    P(s_i != s_j) = Phi(a_i) + Phi(a_j) - 2 Phi_2(a_i, a_j; rho_ij),

with ``Phi_2`` evaluated by Genz's method in a compiled pass over the edges
(:mod:`derand.maxcut.bvn`; graphs under :data:`COMPILED_M` edges use scipy's Owen's T).
``E[cut]`` depends on ``(m, sigma)`` only through ``mu = m / sigma``; at ``mu = 0`` it is the
Goemans-Williamson expectation ``sum w_ij arccos(rho_ij) / pi``. The derandomized rounding
ascends ``E[cut]`` monotonically from the GW expectation while ``sigma = 1 / |mu|``
(with ``|m| = 1``) goes to 0, and outputs the deterministic hyperplane ``sign(V mu)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.special import ndtr, owens_t

from derand.errors import InputError
from derand.maxcut.graph import Graph

__all__ = [
    "DerandResult",
    "RandomResult",
    "ScoreResult",
    "best_of_random",
    "derandomized_rounding",
    "edge_correlations",
    "expected_cut",
    "expected_cut_and_grad",
    "gw_expectation",
    "score_function_rounding",
]

_EPS_A = 1e-9
COMPILED_M = 2000
"""From this many edges on, ``E[cut]`` and its gradient are computed by the compiled kernel
(:mod:`derand.maxcut.bvn`); smaller graphs use scipy's Owen's T (no numba import)."""
_RHO_MAX = 1.0 - 1e-12
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def edge_correlations(graph: Graph, V: NDArray[np.float64]) -> NDArray[np.float64]:
    """``rho_e = v_u . v_v`` for each edge, clipped to ``[-1, 1]``.

    Returns
    -------
    ndarray
        One correlation per edge.

    Examples
    --------
    >>> import numpy as np
    >>> from derand.maxcut import from_edges
    >>> edge_correlations(from_edges(2, np.array([0]), np.array([1])), np.eye(2)).tolist()
    [0.0]
    """
    out: NDArray[np.float64] = np.clip(np.einsum("ij,ij->i", V[graph.u], V[graph.v]), -1.0, 1.0)
    return out


def gw_expectation(graph: Graph, V: NDArray[np.float64]) -> float:
    """The GW expected cut ``sum_e w_e arccos(rho_e) / pi`` of a uniformly random hyperplane.

    For nonnegative weights it is ``>= 0.878 * sdp_objective(V)`` (Goemans-Williamson).

    Returns
    -------
    float

    Examples
    --------
    >>> from derand.maxcut import paper_graph, solve_sdp
    >>> g = paper_graph()
    >>> 35 < gw_expectation(g, solve_sdp(g).V) < 41
    True
    """
    return float(np.sum(graph.w * np.arccos(edge_correlations(graph, V))) / np.pi)


def _bvn(
    h: NDArray[np.float64], k: NDArray[np.float64], rho: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Standard bivariate normal CDF ``Phi_2(h, k; rho)`` by Owen's T (h, k nonzero)."""
    s = np.sqrt(1.0 - rho * rho)
    t1 = owens_t(h, (k - rho * h) / (h * s))
    t2 = owens_t(k, (h - rho * k) / (k * s))
    beta = np.where(h * k > 0, 0.0, 0.5)
    out: NDArray[np.float64] = 0.5 * ndtr(h) + 0.5 * ndtr(k) - t1 - t2 - beta
    return out


def _prep(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Move |a| < eps to +-eps (sign kept, 0 -> +eps): Owen's T formula needs h, k != 0."""
    return np.where(np.abs(a) < _EPS_A, np.where(a < 0, -_EPS_A, _EPS_A), a)


def expected_cut(
    graph: Graph,
    V: NDArray[np.float64],
    mu: NDArray[np.float64],
    rho: NDArray[np.float64] | None = None,
) -> float:
    """Closed-form ``E[cut(sign(V r))]`` for ``r ~ N(mu, I)`` (equivalently ``N(m, sigma^2 I)``
    with ``mu = m / sigma``). Exact up to floating point (error ~1e-9 per edge).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from derand.maxcut import paper_graph, solve_sdp
    >>> g = paper_graph()
    >>> V = solve_sdp(g).V
    >>> bool(abs(expected_cut(g, V, np.zeros(V.shape[1])) - gw_expectation(g, V)) < 1e-6)
    True
    """
    value, _ = expected_cut_and_grad(graph, V, mu, rho=rho, grad=False)
    return value


def expected_cut_and_grad(
    graph: Graph,
    V: NDArray[np.float64],
    mu: NDArray[np.float64],
    *,
    rho: NDArray[np.float64] | None = None,
    grad: bool = True,
) -> tuple[float, NDArray[np.float64]]:
    """``E[cut]`` at ``mu`` and its exact gradient with respect to ``mu``.

    Uses ``d Phi_2 / dh = phi(h) Phi((k - rho h) / sqrt(1 - rho^2))``, hence
    ``d P(s_i != s_j) / d a_i = phi(a_i) (1 - 2 Phi((a_j - rho a_i) / sqrt(1 - rho^2)))`` and
    ``grad = V^T (dE / da)``. ``rho`` is clipped to ``+-(1 - 1e-12)``.

    Returns
    -------
    (float, ndarray)
        ``E[cut]`` and its gradient (empty when ``grad=False``).

    Examples
    --------
    >>> import numpy as np
    >>> from derand.maxcut import paper_graph, solve_sdp
    >>> g = paper_graph()
    >>> V = solve_sdp(g).V
    >>> value, grad = expected_cut_and_grad(g, V, np.full(V.shape[1], 0.3))
    >>> grad.shape == (V.shape[1],)
    True
    """
    if rho is None:
        rho = edge_correlations(graph, V)
    return _objective(graph, V, rho)(mu, grad)


Objective = Callable[[NDArray[np.float64], bool], tuple[float, NDArray[np.float64]]]


def _objective(graph: Graph, V: NDArray[np.float64], rho: NDArray[np.float64]) -> Objective:
    """``mu -> (E[cut], gradient)``, with what depends only on ``rho`` computed once."""
    r = np.clip(rho, -_RHO_MAX, _RHO_MAX)
    if graph.m < COMPILED_M:
        return lambda mu, grad: _scipy_objective(graph, V, r, mu, grad)
    from derand.maxcut.bvn import cut_probability_and_grad, quadrature_tables

    tables = quadrature_tables(r)

    def f(mu: NDArray[np.float64], grad: bool) -> tuple[float, NDArray[np.float64]]:
        da = np.zeros(graph.n if grad else 0)
        value = cut_probability_and_grad(graph.u, graph.v, graph.w, r, V @ mu, grad, da, *tables)
        return float(value), (V.T @ da if grad else np.zeros(0))

    return f


def _scipy_objective(
    graph: Graph, V: NDArray[np.float64], r: NDArray[np.float64], mu: NDArray[np.float64],
    grad: bool,
) -> tuple[float, NDArray[np.float64]]:  # fmt: skip
    a = _prep(V @ mu)
    h, k = a[graph.u], a[graph.v]
    prob = ndtr(h) + ndtr(k) - 2.0 * _bvn(h, k, r)
    value = float(np.dot(graph.w, np.clip(prob, 0.0, 1.0)))
    if not grad:
        return value, np.zeros(0)
    s = np.sqrt(1.0 - r * r)
    dh = graph.w * _INV_SQRT_2PI * np.exp(-0.5 * h * h) * (1.0 - 2.0 * ndtr((k - r * h) / s))
    dk = graph.w * _INV_SQRT_2PI * np.exp(-0.5 * k * k) * (1.0 - 2.0 * ndtr((h - r * k) / s))
    da = np.bincount(graph.u, dh, minlength=graph.n) + np.bincount(graph.v, dk, minlength=graph.n)
    return value, V.T @ da


def _cuts_of_hyperplanes(
    graph: Graph, signs: NDArray[np.bool_], adj: sp.csr_matrix | None = None
) -> NDArray[np.float64]:
    """Cut values for each column of a boolean (n, N) sign matrix.

    ``cut = (W - s^T A s / 2) / 2`` with one sparse product ``A S`` (``adj`` is ``A``).
    """
    if adj is None:
        adj = graph.adjacency()
    x = np.where(signs, 1.0, -1.0)
    quad = np.einsum("ij,ij->j", x, adj @ x)
    out: NDArray[np.float64] = (graph.total_weight() - 0.5 * quad) / 2.0
    return out


@dataclass(frozen=True)
class RandomResult:
    """Best of ``samples`` uniformly random hyperplanes (the GW rounding)."""

    best_cut: float
    mean_cut: float
    partition: NDArray[np.int8] = field(repr=False)
    samples: int
    cuts: NDArray[np.float64] = field(repr=False)


def best_of_random(
    graph: Graph,
    V: NDArray[np.float64],
    samples: int,
    *,
    seed: int = 0,
    chunk: int | None = None,
) -> RandomResult:
    """Round with ``samples`` random Gaussian hyperplanes; keep the best.

    One ``(n, p) @ (p, N)`` product per chunk, then one sparse product for the cuts.
    ``samples = 1`` is plain GW rounding, whose *expectation* is :func:`gw_expectation`.

    Returns
    -------
    RandomResult
        The best cut, its partition, the mean and every cut.

    Examples
    --------
    >>> from derand.maxcut import paper_graph, solve_sdp
    >>> g = paper_graph()
    >>> best_of_random(g, solve_sdp(g).V, 100).best_cut <= 41
    True
    """
    if samples < 1:
        raise InputError(f"samples must be >= 1, got {samples}")
    rng = np.random.default_rng(seed)
    n, p = V.shape
    if chunk is None:
        chunk = max(1, min(samples, int(2e8 // max(1, 8 * (2 * graph.m + 3 * n)))))
    adj = graph.adjacency()
    cuts = np.empty(samples)
    best_k, best_s = -1, np.ones(n, np.int8)
    for start in range(0, samples, chunk):
        stop = min(samples, start + chunk)
        r = rng.standard_normal((p, stop - start))
        signs = (V @ r) >= 0
        c = _cuts_of_hyperplanes(graph, signs, adj)
        cuts[start:stop] = c
        j = int(np.argmax(c))
        if best_k < 0 or c[j] > cuts[best_k]:
            best_k = start + j
            best_s = np.where(signs[:, j], 1, -1).astype(np.int8)
    cuts[best_k] = graph.cut_value(best_s)  # exact (the sparse formula rounds)
    return RandomResult(
        best_cut=float(cuts[best_k]),
        mean_cut=float(cuts.mean()),
        partition=best_s,
        samples=samples,
        cuts=cuts,
    )


@dataclass(frozen=True)
class DerandResult:
    """Outcome of the derandomized rounding.

    Attributes
    ----------
    cut : float
        Cut of the returned deterministic partition (best deterministic ``sign(V mu)`` seen
        along the monotone ascent).
    partition : ndarray of int8
    gw_expected : float
        ``E[cut]`` at ``mu = 0`` (the GW expectation) -- the start of the ascent.
    final_expected : float
        ``E[cut]`` at the last iterate (never below ``gw_expected``).
    guarantee_holds : bool
        ``cut >= gw_expected`` (checked, not assumed).
    iterations : int
    expected_trace, cut_trace, sigma_trace : list of float
        Per iteration: ``E[cut]``, the deterministic cut ``sign(V mu)``, and ``sigma = 1/|mu|``.
    """

    cut: float
    partition: NDArray[np.int8] = field(repr=False)
    gw_expected: float
    final_expected: float
    guarantee_holds: bool
    iterations: int
    expected_trace: list[float] = field(default_factory=list, repr=False)
    cut_trace: list[float] = field(default_factory=list, repr=False)
    sigma_trace: list[float] = field(default_factory=list, repr=False)


def _initial_direction(
    graph: Graph, V: NDArray[np.float64], rho: NDArray[np.float64], rng: np.random.Generator
) -> NDArray[np.float64]:
    """Top eigenvector of the Hessian of ``E[cut]`` at ``mu = 0`` (which is a stationary point).

    In ``a``-coordinates: ``H_ij = -w_ij / (pi sqrt(1 - rho_ij^2))`` off the diagonal and
    ``H_ii = sum_j w_ij rho_ij / (pi sqrt(1 - rho_ij^2))``; in ``mu``: ``V^T H V``.
    """
    r = np.clip(rho, -1.0 + 1e-6, 1.0 - 1e-6)
    c = graph.w / (np.pi * np.sqrt(1.0 - r * r))
    diag = np.bincount(graph.u, c * r, minlength=graph.n) + np.bincount(
        graph.v, c * r, minlength=graph.n
    )
    hv = diag[:, None] * V
    np.subtract.at(hv, graph.u, c[:, None] * V[graph.v])
    np.subtract.at(hv, graph.v, c[:, None] * V[graph.u])
    h = V.T @ hv
    vals, vecs = np.linalg.eigh(0.5 * (h + h.T))
    if vals[-1] > 0:
        d: NDArray[np.float64] = vecs[:, -1]
    else:
        d = rng.standard_normal(size=(V.shape[1],))
    return d / np.linalg.norm(d)


def derandomized_rounding(
    graph: Graph,
    V: NDArray[np.float64],
    *,
    max_iter: int = 300,
    sigma_min: float = 1e-3,
    seed: int = 0,
    time_limit: float | None = None,
    callback: Callable[[int, int], None] | None = None,
) -> DerandResult:
    """The paper's derandomized GW rounding with exact gradients (paper, Max-Cut section).

    Starting from ``mu = 0`` (the GW expectation), ``E[cut](mu)`` is ascended with an
    L-BFGS direction and a backtracking line search that only accepts increases, so
    ``E[cut]`` never decreases. Along the way ``|mu|`` grows (``sigma = 1/|mu| -> 0``) and the
    hyperplane becomes deterministic. The output is the best deterministic ``sign(V mu)`` seen;
    since ``E[cut](mu) -> cut(sign(V mu))`` as ``sigma -> 0``, it ends ``>= gw_expected``
    (the guarantee; ``guarantee_holds`` records the check). ``mu = 0`` is a stationary point,
    so the first step follows the top eigenvector of the Hessian there.

    Parameters
    ----------
    graph, V
        The graph and unit-row SDP factor.
    max_iter : int
        Ascent iterations.
    sigma_min : float
        Stop once ``sigma = 1/|mu|`` is below this and the deterministic cut has reached
        ``E[cut]``.
    seed : int
        Only used if the Hessian at 0 has no positive direction (random first direction).
    time_limit : float, optional
        Seconds; the ascent stops after the iteration that passes it (``E[cut]`` has still
        only increased, and the best deterministic cut is returned).
    callback : callable, optional
        ``callback(done, total)`` per iteration. KeyboardInterrupt stops the ascent and keeps
        the best partition so far.

    Returns
    -------
    DerandResult
        The partition, its cut, the GW expectation and the traces; ``guarantee_holds``
        records the check ``cut >= gw_expected``.

    Examples
    --------
    >>> from derand.maxcut import paper_graph, solve_sdp
    >>> g = paper_graph()
    >>> d = derandomized_rounding(g, solve_sdp(g).V)
    >>> d.guarantee_holds and d.cut >= d.gw_expected
    True
    """
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    rho = edge_correlations(graph, V)
    gw = gw_expectation(graph, V)
    objective = _objective(graph, V, rho)

    def det(mu: NDArray[np.float64]) -> tuple[float, NDArray[np.int8]]:
        s = np.where(V @ mu >= 0, 1, -1).astype(np.int8)
        return graph.cut_value(s), s

    d = _initial_direction(graph, V, rho, rng)
    # first step: the best point on the ray t * d (E is even in mu, so one ray suffices)
    best_t, best_val = 0.0, gw
    ray: list[tuple[float, float]] = []  # (t, E) of the increasing prefix, for the trace
    for t in np.geomspace(1e-2, 1e3, 26):
        val = objective(t * d, False)[0]
        if val > best_val:
            best_t, best_val = float(t), val
            ray.append((best_t, val))
        elif best_t > 0 and val < best_val:
            break  # past the peak along the ray
    mu = best_t * d if best_t > 0 else 1e-2 * d
    value, g = objective(mu, True)
    exp_trace: list[float] = []
    cut_trace: list[float] = []
    sig_trace: list[float] = []
    best_cut, best_s = det(mu)
    s_hist: list[NDArray[np.float64]] = []
    y_hist: list[NDArray[np.float64]] = []
    step = 1.0
    iterations = 0

    def record(val: float, m: NDArray[np.float64]) -> float:
        c, s = det(m)
        nonlocal best_cut, best_s
        if c > best_cut:
            best_cut, best_s = c, s
        exp_trace.append(val)
        cut_trace.append(c)
        sig_trace.append(1.0 / max(float(np.linalg.norm(m)), 1e-300))
        return c

    # trace: the start (E = GW expectation) and the improving points of the ray search
    exp_trace.append(gw)
    cut_trace.append(det(1e-2 * d)[0])
    sig_trace.append(1e2)
    for t, val in ray[:-1]:
        record(val, t * d)
    record(value, mu)
    try:
        for iterations in range(1, max_iter + 1):
            # L-BFGS two-loop recursion for an ascent direction
            q = g.copy()
            alphas = []
            for s_k, y_k in zip(reversed(s_hist), reversed(y_hist), strict=True):
                rho_k = 1.0 / float(np.dot(y_k, s_k))
                alpha = rho_k * float(np.dot(s_k, q))
                alphas.append((rho_k, alpha))
                q -= alpha * y_k
            if s_hist:
                q *= float(np.dot(s_hist[-1], y_hist[-1]) / np.dot(y_hist[-1], y_hist[-1]))
            for (s_k, y_k), (rho_k, alpha) in zip(
                zip(s_hist, y_hist, strict=True), reversed(alphas), strict=True
            ):
                q += s_k * (alpha - rho_k * float(np.dot(y_k, q)))
            direction = q if np.dot(q, g) > 0 else g
            if not s_hist:
                direction = (
                    g
                    / max(float(np.linalg.norm(g)), 1e-300)
                    * max(1.0, float(np.linalg.norm(mu)))
                    * 0.1
                )
            t = step
            accepted = False
            for _ in range(30):
                trial = mu + t * direction
                tv, tg = objective(trial, True)
                if tv > value + 1e-4 * t * float(np.dot(g, direction)):
                    accepted = True
                    break
                t *= 0.5
            if not accepted:
                # no increase found: sharpen (sigma -> 0) only if it does not lower E[cut]
                trial = mu * 2.0
                tv, tg = objective(trial, True)
                if tv < value:
                    break
            s_vec, y_vec = trial - mu, -(tg - g)
            if float(np.dot(s_vec, y_vec)) > 1e-12:
                s_hist.append(s_vec)
                y_hist.append(y_vec)
                if len(s_hist) > 10:
                    s_hist.pop(0)
                    y_hist.pop(0)
            mu, value, g = trial, tv, tg
            step = min(1.0, t * 2.0) if accepted else 1.0
            c = record(value, mu)
            if callback is not None:
                callback(iterations, max_iter)
            if sig_trace[-1] < sigma_min and c >= value - 1e-9 * max(1.0, abs(value)):
                break
            if time_limit is not None and time.perf_counter() - start > time_limit:
                break
    except KeyboardInterrupt:
        pass
    return DerandResult(
        cut=best_cut,
        partition=best_s,
        gw_expected=gw,
        final_expected=value,
        guarantee_holds=bool(best_cut >= gw - 1e-9 * max(1.0, abs(gw))),
        iterations=iterations,
        expected_trace=exp_trace,
        cut_trace=cut_trace,
        sigma_trace=sig_trace,
    )


@dataclass(frozen=True)
class ScoreResult:
    """The authors' score-function (REINFORCE) rounding: final partition and traces."""

    cut: float
    partition: NDArray[np.int8] = field(repr=False)
    steps: int
    expected_trace: list[float] = field(default_factory=list, repr=False)
    cut_trace: list[float] = field(default_factory=list, repr=False)
    sigma_trace: list[float] = field(default_factory=list, repr=False)


def score_function_rounding(
    graph: Graph,
    V: NDArray[np.float64],
    *,
    steps: int = 5000,
    samples: int = 100,
    lr_m: float = 0.01,
    lr_sigma: float = 0.001,
    lam: float = 1.0,
    seed: int = 0,
    record_every: int = 10,
    callback: Callable[[int, int], None] | None = None,
) -> ScoreResult:
    """The authors' Monte Carlo method (paper, Max-Cut section), kept for comparison.

    Maximises ``E[cut] - lam sigma^2`` over ``(m, sigma)`` with ``r ~ N(m, sigma^2 I)`` by
    stochastic gradient ascent on the score-function estimates
    ``grad_m = mean(f (r - m)) / sigma^2`` and
    ``grad_sigma = mean(f (|r - m|^2 / sigma^2 - p)) / sigma`` (``samples`` per step), with
    ``lr_m`` / ``lr_sigma`` divided by 1.02 / 1.03 every 100 steps and ``sigma`` clamped to
    ``[1e-3, 1.5]``. The final partition is ``sign(V m)``. No guarantee: the estimator is
    noisy; the trace records ``E[cut]`` in closed form at ``(m, sigma)`` for comparison.

    Returns
    -------
    ScoreResult
        The final partition, its cut and the traces.

    Examples
    --------
    >>> from derand.maxcut import paper_graph, solve_sdp
    >>> g = paper_graph()
    >>> score_function_rounding(g, solve_sdp(g).V, steps=100).cut <= 41
    True
    """
    rng = np.random.default_rng(seed)
    p = V.shape[1]
    adj = graph.adjacency()
    m = np.zeros(p)
    sigma = 1.0
    rho = edge_correlations(graph, V)
    exp_trace: list[float] = []
    cut_trace: list[float] = []
    sig_trace: list[float] = []
    step = 0
    try:
        for step in range(1, steps + 1):
            eps = rng.standard_normal((p, samples))
            r = m[:, None] + sigma * eps
            f = _cuts_of_hyperplanes(graph, (V @ r) >= 0, adj)
            grad_m = (eps @ f) / (samples * sigma)
            grad_s = float(np.mean(f * (np.sum(eps * eps, axis=0) - p))) / sigma
            grad_s -= 2.0 * lam * sigma
            m = m + lr_m * grad_m
            sigma = float(np.clip(sigma + lr_sigma * grad_s, 1e-3, 1.5))
            if step % 100 == 0:
                lr_m /= 1.02
                lr_sigma /= 1.03
            if step % record_every == 0 or step == steps:
                exp_trace.append(expected_cut(graph, V, m / sigma, rho=rho))
                cut_trace.append(graph.cut_value(np.where(V @ m >= 0, 1, -1)))
                sig_trace.append(sigma)
            if callback is not None and step % 50 == 0:
                callback(step, steps)
    except KeyboardInterrupt:
        pass
    s = np.where(V @ m >= 0, 1, -1).astype(np.int8)
    return ScoreResult(
        cut=graph.cut_value(s),
        partition=s,
        steps=step,
        expected_trace=exp_trace,
        cut_trace=cut_trace,
        sigma_trace=sig_trace,
    )
