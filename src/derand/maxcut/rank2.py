"""The rank-2 relaxation of Max-Cut with cut extraction and 1-flip polish (compiled, numba).

Burer, Monteiro & Zhang ("Rank-two relaxation heuristics for MAX-CUT and other binary
quadratic programs", SIAM J. Optim. 12, 2002) place every node at an angle ``theta_i`` on the
circle and minimise

    f(theta) = sum_{ij in E} w_ij cos(theta_i - theta_j),

whose minimisers spread the two sides of a good cut to opposite half-circles. A cycle here is:

1. gradient descent on ``f`` (``df/dtheta_i = -sum_j w_ij sin(theta_i - theta_j)``), each step
   scaled by the node's absolute degree ``1 / max(1, sum_j |w_ij|)`` and accepted by an Armijo
   backtracking line search;
2. the best of the ``n`` cuts by a diameter of the circle (nodes on one half-circle against the
   rest), found by one sweep of the diameter over the sorted angles: each node crossing it
   changes side, an O(degree) update of the cut (:func:`angle_cut`);
3. every improving 1-flip (:func:`one_flip_ascent`);
4. the angles reset to the cut (``0`` or ``pi``) plus a uniform perturbation of
   ``+-perturbation * pi``; after ``patience`` cycles without a better cut, random angles.

Each cycle costs ``O(iterations * m + n log n)``: thousands of them fit in a second on Gset,
each a large coordinated move of the partition. The kernels keep their state in arrays
(resumable between calls: the Python driver reads the clock and Ctrl-C between chunks of
cycles) and draw from :mod:`derand.maxcut.engine`'s xorshift64* stream, so a run depends only
on its seed and its number of cycles.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from numpy.typing import NDArray

from derand.maxcut.engine import _uniform

__all__ = [
    "R_BEST",
    "Rank2Result",
    "angle_cut",
    "one_flip_ascent",
    "rank2_chunk",
    "rank2_descent",
    "rank2_search",
    "rank2_value",
]

TWO_PI = 2.0 * np.pi
# integer state slots
S_STALL = 0  # cycles since the best cut of this restart improved
S_CYCLES = 1  # cycles done in total
S_RESTARTS = 2  # random restarts
S_ITERS = 3  # gradient steps in total
S_SIZE = 4
# float state slots
R_BEST = 0  # best cut of the run (its partition in best_x)
R_LOCAL = 1  # best cut since the last random restart
R_SIZE = 2


@njit(cache=True, nogil=True)
def rank2_value(
    indptr: NDArray[np.int64], indices: NDArray[np.int64], data: NDArray[np.float64],
    theta: NDArray[np.float64], grad: NDArray[np.float64],
) -> float:  # fmt: skip
    """``f(theta) = sum_{ij in E} w_ij cos(theta_i - theta_j)``; ``grad`` gets its gradient.

    The CSR holds each edge in both rows, so the sum over rows counts each edge twice (halved).

    Returns
    -------
    float
    """
    n = theta.shape[0]
    c = np.cos(theta)
    s = np.sin(theta)
    f = 0.0
    for i in range(n):
        g = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            w = data[k]
            f += w * (c[i] * c[j] + s[i] * s[j])
            g -= w * (s[i] * c[j] - c[i] * s[j])  # sin(theta_i - theta_j)
        grad[i] = g
    return 0.5 * f


@njit(cache=True, nogil=True)
def rank2_descent(
    indptr: NDArray[np.int64], indices: NDArray[np.int64], data: NDArray[np.float64],
    theta: NDArray[np.float64], scale: NDArray[np.float64], grad: NDArray[np.float64],
    trial: NDArray[np.float64], trial_grad: NDArray[np.float64], max_iter: int, rel_tol: float,
) -> tuple[float, int]:  # fmt: skip
    """Scaled gradient descent on ``f`` from ``theta`` (updated in place), Armijo line search.

    The direction is ``d_i = -grad_i * scale_i``; a step ``alpha`` is taken when
    ``f(theta + alpha d) <= f(theta) + 0.01 alpha <grad, d>`` (halving ``alpha`` up to 10
    times; doubled, up to 4, after a step accepted at once). Stops after ``max_iter`` steps,
    when a step lowers ``f`` by less than ``rel_tol (1 + |f|)``, or when no step is accepted.
    ``f`` never increases.

    Returns
    -------
    (float, int)
        ``f`` at the returned ``theta`` and the number of steps taken.
    """
    n = theta.shape[0]
    f = rank2_value(indptr, indices, data, theta, grad)
    alpha = 1.0
    steps = 0
    for _ in range(max_iter):
        slope = 0.0
        for i in range(n):
            slope -= grad[i] * grad[i] * scale[i]
        if slope >= 0.0:  # a stationary point
            break
        accepted = False
        tries = 0
        f_new = f
        while tries < 10:
            tries += 1
            for i in range(n):
                trial[i] = theta[i] - alpha * grad[i] * scale[i]
            f_new = rank2_value(indptr, indices, data, trial, trial_grad)
            if f_new <= f + 0.01 * alpha * slope:
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            break
        steps += 1
        theta[:] = trial
        grad[:] = trial_grad
        drop = f - f_new
        f = f_new
        if drop < rel_tol * (1.0 + abs(f)):
            break
        if tries == 1:
            alpha = min(4.0, 2.0 * alpha)
    return f, steps


@njit(cache=True, nogil=True)
def _gains(
    indptr: NDArray[np.int64], indices: NDArray[np.int64], data: NDArray[np.float64],
    x: NDArray[np.int8], gain: NDArray[np.float64],
) -> float:  # fmt: skip
    """``gain_i = x_i sum_j w_ij x_j`` (the cut's change when ``i`` flips); returns the cut."""
    n = x.shape[0]
    cut = 0.0
    for i in range(n):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            s += data[k] * x[j]
            if x[j] != x[i]:
                cut += data[k]
        gain[i] = x[i] * s
    return 0.5 * cut


@njit(cache=True, nogil=True)
def _flip(
    i: int, x: NDArray[np.int8], gain: NDArray[np.float64], indptr: NDArray[np.int64],
    indices: NDArray[np.int64], data: NDArray[np.float64],
) -> float:  # fmt: skip
    """Flip ``i``, update the gains; returns the change of the cut."""
    g = gain[i]
    xi = -x[i]
    x[i] = xi
    gain[i] = -g
    for k in range(indptr[i], indptr[i + 1]):
        j = indices[k]
        gain[j] += 2.0 * data[k] * x[j] * xi
    return float(g)


@njit(cache=True, nogil=True)
def angle_cut(
    indptr: NDArray[np.int64], indices: NDArray[np.int64], data: NDArray[np.float64],
    theta: NDArray[np.float64], x: NDArray[np.int8], gain: NDArray[np.float64],
    order: NDArray[np.int64],
) -> float:  # fmt: skip
    """The best cut by a diameter of the circle: ``x_i = +1`` on a half-circle
    ``[a, a + pi)`` of the angles (mod ``2 pi``), ``-1`` elsewhere, best over ``a``.

    The ``n`` distinct such cuts are met by sweeping ``a`` over ``[0, pi)``: each node whose
    angle (or angle minus ``pi``) the diameter crosses changes side, O(degree) each. ``x`` gets
    the best cut (``gain`` its gains); ``order`` is work space of ``n`` entries.

    Returns
    -------
    float
        The cut of ``x``.
    """
    n = theta.shape[0]
    phi = np.empty(n)
    for i in range(n):
        p = theta[i] - TWO_PI * np.floor(theta[i] / TWO_PI)
        if p >= TWO_PI:  # rounding of floor for tiny negative angles
            p = 0.0
        phi[i] = p
    # event key of node i: the diameter's position a in [0, pi) where i changes side
    key = np.empty(n)
    for i in range(n):
        key[i] = phi[i] if phi[i] < np.pi else phi[i] - np.pi
        x[i] = 1 if phi[i] < np.pi else -1
    order[:] = np.argsort(key)
    cut = _gains(indptr, indices, data, x, gain)
    best = cut
    best_k = 0
    for k in range(n):
        cut += _flip(order[k], x, gain, indptr, indices, data)
        if cut > best:
            best = cut
            best_k = k + 1
    # x is now the complement of the start (every node flipped once); undo the tail
    for k in range(n - 1, best_k - 1, -1):
        _flip(order[k], x, gain, indptr, indices, data)
    return best


@njit(cache=True, nogil=True)
def one_flip_ascent(
    indptr: NDArray[np.int64], indices: NDArray[np.int64], data: NDArray[np.float64],
    x: NDArray[np.int8], gain: NDArray[np.float64], cut: float, tol: float,
) -> float:  # fmt: skip
    """Flip nodes of gain ``> tol`` (first improvement, cyclic passes) until none is left.

    ``gain`` must hold the gains of ``x`` on entry; it holds them on exit.

    Returns
    -------
    float
        The cut of ``x`` (``cut`` on entry is that of the input ``x``).
    """
    n = x.shape[0]
    moved = True
    while moved:
        moved = False
        for i in range(n):
            if gain[i] > tol:
                cut += _flip(i, x, gain, indptr, indices, data)
                moved = True
    return cut


@njit(cache=True, nogil=True)
def rank2_chunk(
    indptr: NDArray[np.int64], indices: NDArray[np.int64], data: NDArray[np.float64],
    theta: NDArray[np.float64], x: NDArray[np.int8], best_x: NDArray[np.int8],
    gain: NDArray[np.float64], scale: NDArray[np.float64], work: NDArray[np.float64],
    order: NDArray[np.int64], ist: NDArray[np.int64], fst: NDArray[np.float64],
    rs: NDArray[np.uint64], params: NDArray[np.float64], cycles: int,
) -> None:  # fmt: skip
    """Run ``cycles`` cycles of the rank-2 heuristic (see the module) from the state.

    ``params = [tol, perturbation, patience, max_iter, rel_tol]``; ``work`` has ``3 n``
    entries. ``best_x`` / ``fst[R_BEST]`` hold the best cut, ``theta`` the next cycle's angles.
    """
    n = theta.shape[0]
    tol = params[0]
    perturbation = params[1]
    patience = int(params[2])
    max_iter = int(params[3])
    rel_tol = params[4]
    grad = work[:n]
    trial = work[n : 2 * n]
    trial_grad = work[2 * n :]
    for _ in range(cycles):
        _, steps = rank2_descent(indptr, indices, data, theta, scale, grad, trial, trial_grad,
                                 max_iter, rel_tol)  # fmt: skip
        ist[S_ITERS] += steps
        cut = angle_cut(indptr, indices, data, theta, x, gain, order)
        cut = one_flip_ascent(indptr, indices, data, x, gain, cut, tol)
        ist[S_CYCLES] += 1
        if cut > fst[R_BEST] + tol:
            fst[R_BEST] = cut
            best_x[:] = x
        if cut > fst[R_LOCAL] + tol:
            fst[R_LOCAL] = cut
            ist[S_STALL] = 0
        else:
            ist[S_STALL] += 1
        if ist[S_STALL] > patience:  # a fresh random start
            ist[S_STALL] = 0
            ist[S_RESTARTS] += 1
            fst[R_LOCAL] = -np.inf
            for i in range(n):
                theta[i] = TWO_PI * _uniform(rs)
        else:  # the cut's angles, perturbed
            for i in range(n):
                base = 0.0 if x[i] > 0 else np.pi
                theta[i] = base + perturbation * np.pi * (2.0 * _uniform(rs) - 1.0)


PERTURBATION = 0.2
"""Angles restart at the cut's ``0`` / ``pi`` plus a uniform ``+-PERTURBATION * pi``."""
PATIENCE = 10
"""Cycles without a better cut before a fresh random start."""
MAX_ITER = 200
"""Gradient steps per cycle at most."""
REL_TOL = 1e-4
"""A cycle's descent stops when a step lowers ``f`` by less than this fraction of ``1 + |f|``."""


@dataclass(frozen=True)
class Rank2Result:
    """The best cut of a rank-2 run.

    Attributes
    ----------
    cut : float
        Cut of ``partition``, recomputed from the graph.
    partition : ndarray of int8
    cycles, restarts, iterations : int
        Cycles (descent + cut + polish), random restarts, gradient steps.
    seconds : float
    interrupted : bool
        True when Ctrl-C (or the callback) stopped it; the best so far is kept.
    trace : list of (float, float)
        ``(seconds, best cut)`` each time the best cut improved (read between chunks).
    """

    cut: float
    partition: NDArray[np.int8] = field(repr=False)
    cycles: int
    restarts: int
    iterations: int
    seconds: float
    interrupted: bool = False
    trace: list[tuple[float, float]] = field(default_factory=list, repr=False)


def rank2_search(
    csr: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]],
    *,
    seed: int,
    start: NDArray[np.int8] | None = None,
    cycles: int | None = None,
    time_limit: float | None = None,
    callback: Callable[[float, NDArray[np.int8]], None] | None = None,
) -> Rank2Result:
    """The rank-2 heuristic on the symmetric CSR ``csr = (indptr, indices, data)``.

    Parameters
    ----------
    csr : (ndarray, ndarray, ndarray)
        The weighted adjacency, each edge in both rows, no diagonal.
    seed : int
        Seed of the random angles and perturbations.
    start : ndarray of int8, optional
        A +-1 partition whose angles (perturbed) begin the run; random angles otherwise.
    cycles : int, optional
        Stop after this many cycles (deterministic for a fixed seed).
    time_limit : float, optional
        Seconds; read between chunks of cycles. One of ``cycles`` / ``time_limit`` is needed.
    callback : callable, optional
        ``callback(best_cut, best_x)`` when the best cut improved (between chunks); it may
        raise KeyboardInterrupt to stop the run.

    Returns
    -------
    Rank2Result
    """
    if cycles is None and time_limit is None:
        raise ValueError("rank2_search needs cycles or time_limit")
    t0 = time.perf_counter()
    indptr, indices, data = csr
    n = indptr.shape[0] - 1
    rng = np.random.default_rng(seed)
    rs = np.array([rng.integers(1, 2**63 - 1)], np.uint64)
    rows = np.repeat(np.arange(n), np.diff(indptr))
    absdeg = np.bincount(rows, np.abs(data), n)
    scale = 1.0 / np.maximum(1.0, absdeg)
    tol = 1e-9 * float(np.max(np.abs(data))) if data.size else 0.0
    params = np.array([tol, PERTURBATION, PATIENCE, MAX_ITER, REL_TOL], np.float64)
    if start is None:
        theta = rng.uniform(0.0, 2.0 * np.pi, n)
    else:
        theta = np.where(start > 0, 0.0, np.pi) + PERTURBATION * np.pi * rng.uniform(-1, 1, n)
    x = np.ones(n, np.int8)
    best_x = np.ones(n, np.int8) if start is None else start.astype(np.int8).copy()
    gain = np.zeros(n)
    work = np.zeros(3 * n)
    order = np.zeros(n, np.int64)
    ist = np.zeros(S_SIZE, np.int64)
    fst = np.full(R_SIZE, -np.inf)
    if start is not None:
        fst[R_BEST] = _gains(indptr, indices, data, best_x, gain)
    trace: list[tuple[float, float]] = []
    interrupted = False
    chunk, rate = 1, 0.0
    try:
        while True:
            if cycles is not None:
                left = cycles - int(ist[S_CYCLES])
                if left <= 0:
                    break
                chunk = min(chunk, left)
            if time_limit is not None:
                left_s = time_limit - (time.perf_counter() - t0)
                if left_s <= 0:
                    break
                if rate > 0:
                    chunk = int(np.clip(rate * min(0.05, left_s), 1, 10_000))
            before = float(fst[R_BEST])
            t_chunk = time.perf_counter()
            rank2_chunk(indptr, indices, data, theta, x, best_x, gain, scale, work, order, ist,
                        fst, rs, params, chunk)  # fmt: skip
            seconds = max(1e-9, time.perf_counter() - t_chunk)
            rate = chunk / seconds if rate <= 0 else 0.5 * rate + 0.5 * chunk / seconds
            if time_limit is None:
                chunk = max(1, min(64, 2 * chunk))
            if fst[R_BEST] > before:
                trace.append((time.perf_counter() - t0, float(fst[R_BEST])))
                if callback is not None:
                    callback(float(fst[R_BEST]), best_x)
    except KeyboardInterrupt:
        interrupted = True
    cut = float(_gains(indptr, indices, data, best_x, np.zeros(n)))
    return Rank2Result(
        cut=cut, partition=best_x.copy(), cycles=int(ist[S_CYCLES]),
        restarts=int(ist[S_RESTARTS]), iterations=int(ist[S_ITERS]),
        seconds=time.perf_counter() - t0, interrupted=interrupted, trace=trace,
    )  # fmt: skip
