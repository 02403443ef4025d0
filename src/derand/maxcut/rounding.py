"""Hyperplane rounding of a graph's SDP solution: random, best-of-N, derandomized, score-function.

Paper, Max-Cut section. A client of :mod:`derand.rounding`: the cut is the quadratic ±1
objective ``W/2 - sum_e (w_e / 2) s_u s_v`` (:func:`derand.maxcut.sdp.cut_objective`), so
``E[cut]`` of ``s_i = sign(v_i . r)``, ``r ~ N(m, sigma^2 I)``, is closed form
(``P(s_i != s_j) = Phi(a_i) + Phi(a_j) - 2 Phi_2(a_i, a_j; rho_ij)``), equal to the
Goemans-Williamson expectation ``sum w_ij arccos(rho_ij) / pi`` at ``mu = m / sigma = 0``, and
the derandomized rounding is :func:`derand.rounding.derandomized_rounding`: a monotone ascent
of ``E[cut]`` while ``sigma = 1 / |mu|`` goes to 0, ending in the deterministic ``sign(V mu)``.
The authors' score-function (REINFORCE) estimator is kept for comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from derand import rounding
from derand.core import DerandResult, Iterate
from derand.maxcut.graph import Graph
from derand.maxcut.sdp import cut_objective

__all__ = [
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


def edge_correlations(graph: Graph, V: NDArray[np.float64]) -> NDArray[np.float64]:
    """``rho_e = v_u . v_v`` for each edge, clipped to ``[-1, 1]``.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> from derand.maxcut import from_edges
    >>> edge_correlations(from_edges(2, np.array([0]), np.array([1])), np.eye(2)).tolist()
    [0.0]
    """
    return rounding.pair_correlations(cut_objective(graph), V)


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


def _problem(graph: Graph, V: NDArray[np.float64]) -> rounding.HyperplaneRounding:
    return rounding.HyperplaneRounding(cut_objective(graph), V, evaluate=graph.cut_value)


def expected_cut(graph: Graph, V: NDArray[np.float64], mu: NDArray[np.float64]) -> float:
    """Closed-form ``E[cut(sign(V r))]`` for ``r ~ N(mu, I)`` (equivalently ``N(m, sigma^2 I)``
    with ``mu = m / sigma``). Exact up to floating point (error ~1e-9 per edge).

    Returns
    -------
    float

    Examples
    --------
    >>> from derand.maxcut import paper_graph, solve_sdp
    >>> g = paper_graph()
    >>> V = solve_sdp(g).V
    >>> bool(abs(expected_cut(g, V, np.zeros(V.shape[1])) - gw_expectation(g, V)) < 1e-6)
    True
    """
    return _problem(graph, V).value(np.asarray(mu, dtype=np.float64))


def expected_cut_and_grad(
    graph: Graph, V: NDArray[np.float64], mu: NDArray[np.float64]
) -> tuple[float, NDArray[np.float64]]:
    """``E[cut]`` at ``mu`` and its exact gradient with respect to ``mu``.

    Returns
    -------
    (float, ndarray)

    Examples
    --------
    >>> from derand.maxcut import paper_graph, solve_sdp
    >>> g = paper_graph()
    >>> V = solve_sdp(g).V
    >>> value, grad = expected_cut_and_grad(g, V, np.full(V.shape[1], 0.3))
    >>> grad.shape == (V.shape[1],)
    True
    """
    return _problem(graph, V).value_and_grad(np.asarray(mu, dtype=np.float64))


def _cuts_of_hyperplanes(
    graph: Graph, signs: NDArray[np.bool_], adj: sp.csr_matrix | None = None
) -> NDArray[np.float64]:
    """Cut values for each column of a boolean (n, N) sign matrix:
    ``cut = (W - s^T A s / 2) / 2`` with one sparse product ``A S``."""
    if adj is None:
        adj = graph.adjacency()
    x = np.where(signs, 1.0, -1.0)
    quad = np.einsum("ij,ij->j", x, adj @ x)
    out: NDArray[np.float64] = (graph.total_weight() - 0.5 * quad) / 2.0
    return out


@dataclass(frozen=True)
class RandomResult:
    """Best of ``samples`` uniformly random hyperplanes (the GW rounding); ``direction`` is the
    best hyperplane's normal."""

    best_cut: float
    mean_cut: float
    partition: NDArray[np.int8] = field(repr=False)
    samples: int
    cuts: NDArray[np.float64] = field(repr=False)
    direction: NDArray[np.float64] = field(repr=False)


def best_of_random(
    graph: Graph,
    V: NDArray[np.float64],
    samples: int,
    *,
    seed: int = 0,
    chunk: int | None = None,
    time_limit: float | None = None,
) -> RandomResult:
    """Round with ``samples`` random Gaussian hyperplanes; keep the best
    (:func:`derand.rounding.best_of_random` with the cut's sparse scoring).

    ``samples = 1`` is plain GW rounding, whose *expectation* is :func:`gw_expectation`.
    With ``time_limit`` no chunk starts after it (``samples`` in the result says how many ran),
    and the chunks are a tenth of the default size, so that the limit is kept within a few
    hundredths of a second.

    Returns
    -------
    RandomResult

    Examples
    --------
    >>> from derand.maxcut import paper_graph, solve_sdp
    >>> g = paper_graph()
    >>> best_of_random(g, solve_sdp(g).V, 100).best_cut <= 41
    True
    """
    adj = graph.adjacency()
    if chunk is None and time_limit is not None:
        # a tenth of the default chunk (about 20 MB of work, a few hundredths of a second):
        # the clock is read between chunks and at least one runs, so a short limit is kept
        chunk = max(8, min(samples, int(2e7 // max(1, 8 * (2 * graph.m + 3 * graph.n)))))
    r = rounding.best_of_random(
        cut_objective(graph), V, samples, seed=seed, chunk=chunk,
        values=lambda signs: _cuts_of_hyperplanes(graph, signs, adj), evaluate=graph.cut_value,
        time_limit=time_limit,
    )  # fmt: skip
    return RandomResult(
        best_cut=r.best_value, mean_cut=r.mean_value, partition=r.solution, samples=r.samples,
        cuts=r.values, direction=r.direction,
    )  # fmt: skip


def derandomized_rounding(
    graph: Graph,
    V: NDArray[np.float64],
    *,
    max_iter: int = 300,
    sigma_min: float = 1e-3,
    seed: int = 0,
    time_limit: float | None = None,
    callback: Callable[[Iterate], None] | None = None,
    certify: bool = False,
    x0: NDArray[np.float64] | None = None,
) -> DerandResult:
    """The paper's derandomized GW rounding with exact gradients (paper, Max-Cut section).

    :func:`derand.rounding.derandomized_rounding` on the cut: from ``mu = 0`` (the GW
    expectation) ``E[cut]`` is ascended by the monotone L-BFGS, so it never decreases, while
    ``sigma = 1/|mu| -> 0``; the output is the best deterministic ``sign(V mu)`` seen and
    ``guarantee_holds`` checks ``cut >= gw_expected``. ``mu = 0`` is a stationary point, so the
    first step follows the top eigenvector of the Hessian there.

    Parameters
    ----------
    graph, V
        The graph and unit-row SDP factor.
    max_iter : int
        Ascent steps.
    sigma_min : float
        Stop once ``sigma`` is below this and the deterministic cut has reached ``E[cut]``.
    seed : int
        Only used if the Hessian at 0 has no positive direction.
    time_limit : float, optional
        Seconds (checked after each step).
    callback : callable, optional
        ``callback(Iterate)`` per step; KeyboardInterrupt keeps the best partition so far.
    certify : bool
        The SOSP certificate of ``E[cut]`` at the last ``mu``.
    x0 : ndarray, optional
        Start here instead of ``mu = 0`` (then the guarantee is relative to ``E[cut](x0)``).

    Returns
    -------
    DerandResult
        ``solution`` (the partition), ``value`` (its cut), ``expected_start`` (the GW
        expectation), ``expected``, ``history`` (``expected``, ``rounded``, ``randomness`` =
        sigma), ``guarantee_holds``.

    Examples
    --------
    >>> from derand.maxcut import paper_graph, solve_sdp
    >>> g = paper_graph()
    >>> d = derandomized_rounding(g, solve_sdp(g).V)
    >>> d.guarantee_holds and d.value >= d.expected_start
    True
    """
    return rounding.derandomized_rounding(
        cut_objective(graph), V, max_iter=max_iter, randomness_tol=sigma_min, seed=seed,
        time_limit=time_limit, callback=callback, evaluate=graph.cut_value, certify=certify, x0=x0,
    )  # fmt: skip


@dataclass(frozen=True)
class ScoreResult:
    """The authors' score-function (REINFORCE) rounding: final partition and traces;
    ``interrupted`` when Ctrl-C stopped it (the partition of the last step is kept)."""

    cut: float
    partition: NDArray[np.int8] = field(repr=False)
    steps: int
    expected_trace: list[float] = field(default_factory=list, repr=False)
    cut_trace: list[float] = field(default_factory=list, repr=False)
    sigma_trace: list[float] = field(default_factory=list, repr=False)
    interrupted: bool = False


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
    problem = _problem(graph, V)
    exp_trace: list[float] = []
    cut_trace: list[float] = []
    sig_trace: list[float] = []
    step = 0
    interrupted = False
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
                exp_trace.append(problem.value(m / sigma))
                cut_trace.append(graph.cut_value(np.where(V @ m >= 0, 1, -1)))
                sig_trace.append(sigma)
            if callback is not None and step % 50 == 0:
                callback(step, steps)
    except KeyboardInterrupt:
        interrupted = True
    s = np.where(V @ m >= 0, 1, -1).astype(np.int8)
    return ScoreResult(
        cut=graph.cut_value(s),
        partition=s,
        steps=step,
        expected_trace=exp_trace,
        cut_trace=cut_trace,
        sigma_trace=sig_trace,
        interrupted=interrupted,
    )
