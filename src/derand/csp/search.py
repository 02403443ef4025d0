"""The one-flip tabu search with restarts on the objective itself (linear fields, no truth node).

:mod:`derand.csp._tabu` holds the compiled moves; this module drives them under a move budget
or a time limit, checks the clock and Ctrl-C between chunks, and recomputes the best value
exactly. Used by :func:`derand.csp.solve_csp` for dense problems (:func:`prefer_scan`), where a
linear scan for the best move is cheaper than the segment trees of the Max-Cut search.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from derand.errors import InputError
from derand.limits import require_memory

__all__ = ["TabuResult", "compiled", "prefer_scan", "tabu_params", "tabu_search"]

CHUNK_SECONDS = 0.05
"""Target wall time of one chunk under a time limit (the clock is read between chunks)."""
SMALL_N = 64
"""Below this many variables the search runs in numpy (no numba import or kernel loading,
which costs a fresh process 1-2 s: more than a 1-s budget)."""
SMALL_CHECK = 64
"""The numpy search (``n <`` :data:`SMALL_N`) reads the clock and reports a new best every
this many moves."""
SMALL_DRAWS = 4096
"""Random tenure parts the numpy search draws at once (then reused in a cycle)."""
COLD_SECONDS = 1.0
"""Importing numba and loading the compiled search from its cache in a fresh process
(0.9-1.5 s on a busy 2-core machine). A time limit under :data:`COLD_FACTOR` times this, with
the kernel not loaded yet, runs the numpy search instead (up to :data:`COLD_MAX_N`)."""
COLD_FACTOR = 2.0
COLD_MAX_N = 2000
"""Largest ``n`` of the numpy search on a short budget (its dense ``A`` is ``8 n^2`` bytes)."""
SCAN_FACTOR = 4.0
"""A linear scan (O(n) per move) is preferred to segment trees (O(degree log2 n) per move) when
``n <= SCAN_FACTOR * mean degree * log2 n``."""


@dataclass(frozen=True)
class TabuResult:
    """The best assignment found (``value >= start value`` always; exact)."""

    value: float
    solution: NDArray[np.int8] = field(repr=False)
    moves: int
    restarts: int
    seconds: float
    interrupted: bool = False
    trace: list[tuple[float, float]] = field(default_factory=list, repr=False)


def compiled(n: int, time_limit: float | None) -> bool:
    """Whether :func:`tabu_search` runs its compiled kernel for ``n`` variables under
    ``time_limit``: from :data:`SMALL_N` variables on, unless the kernel is not loaded yet and
    the limit is too short to pay for loading it (:data:`COLD_SECONDS`).

    Returns
    -------
    bool
    """
    if n < SMALL_N:
        return False
    cold = "derand.csp._tabu" not in sys.modules
    short = time_limit is not None and time_limit < COLD_FACTOR * COLD_SECONDS
    return not (cold and short and n <= COLD_MAX_N)


def prefer_scan(n: int, m: int) -> bool:
    """Whether the linear-scan tabu search suits ``n`` variables and ``m`` pairs (dense).

    Returns
    -------
    bool

    Examples
    --------
    >>> prefer_scan(2500, 312_000), prefer_scan(2500, 25_000)
    (True, False)
    """
    if n < 2:
        return False
    degree = 2.0 * m / n
    return n <= SCAN_FACTOR * degree * math.log2(n)


def tabu_params(n: int, scale: float) -> NDArray[np.float64]:
    """``[tol, tenure, tenure_rand, stall, L0, Lmax, from_best]``: tenure ``n/100 +
    rand(0 .. max(10, n/50))``, a restart after ``max(2000, 2 n)`` moves without a new best,
    perturbations of ``max(2, 0.02 n)`` up to ``max(3, 0.1 n)`` flips, applied to the best
    assignment or (with probability 1/2) to the current one; ``tol`` is ``1e-9`` of the
    largest coefficient. Set on Beasley QUBOs of n = 1000 and 2500 (seeds 900-902, not those
    of the benchmarks), where a tenure of ``n/100 + rand(1..10)`` and restarts from the best
    only stalled on some instances.

    Returns
    -------
    ndarray
    """
    tenure = max(1, min(n // 4, n // 100))
    spread = max(10, n // 50)
    l0 = max(2, min(n // 2, round(0.02 * n)))
    lmax = max(l0 + 1, round(0.1 * n))
    return np.array([1e-9 * scale, tenure, spread, max(2000, 2 * n), l0, lmax, 0.5], np.float64)


def tabu_search(
    n: int,
    h: Any,
    u: Any,
    v: Any,
    J: Any,
    starts: NDArray[Any],
    *,
    evaluate: Callable[[NDArray[np.int8]], float],
    threads: int = 1,
    max_moves: int | None = None,
    time_limit: float | None = None,
    seed: int = 0,
    callback: Callable[[float, float, float], None] | None = None,
) -> TabuResult:
    """Maximise ``h.s + sum_e J_e s_u s_v`` over ``s`` in ``{-1, 1}^n``: one tabu run per start.

    Parameters
    ----------
    n, h, u, v, J
        The objective (distinct pairs ``u != v``, as a QuadraticObjective holds them).
    starts : ndarray of +-1, shape (n,) or (runs, n)
        One independent run each (run ``k`` seeded ``seed + k``), on ``threads`` threads.
    evaluate : callable
        The exact value of an assignment (its constant included).
    threads : int
    max_moves : int, optional
        Tabu moves per run; without a time limit it is required, and the result then depends
        only on ``starts``, ``seed`` and ``max_moves`` (not on ``threads`` or the machine).
    time_limit : float, optional
        Seconds; checked between chunks (about :data:`CHUNK_SECONDS` apart).
    seed : int
    callback : callable, optional
        ``callback(best_value, seconds, fraction_done)`` between chunks; raising
        KeyboardInterrupt there (or pressing Ctrl-C) stops the search with the best so far.

    Returns
    -------
    TabuResult
        ``value`` (exact) is at least the best start's value.
    """
    t0 = time.perf_counter()
    if max_moves is None and time_limit is None:
        raise InputError("tabu_search needs max_moves or time_limit")
    budget = 10**15 if max_moves is None else int(max_moves)
    X = np.where(np.asarray(starts) >= 0, 1, -1).astype(np.int8)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != n or X.shape[0] < 1:
        raise InputError(f"starts must have shape (runs, {n}), got {np.shape(starts)}")
    runs = X.shape[0]
    hh = np.asarray(h, np.float64)
    uu, vv, jj = np.asarray(u, np.int64), np.asarray(v, np.int64), np.asarray(J, np.float64)
    if not compiled(n, time_limit):
        return _small(n, hh, uu, vv, jj, X, evaluate, budget, time_limit, seed, callback, t0)

    from concurrent.futures import ThreadPoolExecutor

    from derand.csp import _tabu

    require_memory(24.0 * 2 * uu.size + runs * 64.0 * n, "tabu search")
    A = sp.csr_matrix(
        (np.concatenate([jj, jj]), (np.concatenate([uu, vv]), np.concatenate([vv, uu]))),
        shape=(n, n),
    )
    csr = (A.indptr.astype(np.int64), A.indices.astype(np.int64), A.data.astype(np.float64))
    scale = float(max(np.max(np.abs(jj), initial=0.0), np.max(np.abs(hh), initial=0.0), 1e-300))
    params = tabu_params(n, scale)
    states = []
    for k in range(runs):
        x = X[k].copy()
        F = np.zeros(n)
        cur = _tabu.fields(*csr, hh, x, F)
        ist = np.zeros(_tabu.I_SIZE, np.int64)
        ist[_tabu.I_L] = int(params[_tabu.P_L0])
        rng = np.random.default_rng([seed, k])
        states.append({
            "x": x, "F": F, "best_x": x.copy(), "tabu": np.zeros(n, np.int64), "ist": ist,
            "fst": np.array([cur, cur]), "rs": np.array([rng.integers(1, 2**63 - 1)], np.uint64),
            "tracked": cur,
        })  # fmt: skip
    values = [float(evaluate(X[k])) for k in range(runs)]
    best_k = int(np.argmax(values))
    best_value, best_s = values[best_k], X[best_k].copy()
    trace: list[tuple[float, float]] = [(0.0, best_value)]
    interrupted = False
    size, rate = 200, 0.0

    def step(k: int, size: int) -> int:
        st = states[k]
        return int(_tabu.tabu_chunk(
            *csr, hh, st["x"], st["F"], st["best_x"], st["tabu"], st["ist"], st["fst"],
            st["rs"], params, size,
        ))  # fmt: skip

    def collect() -> None:
        nonlocal best_value, best_s
        for st in states:
            if st["fst"][_tabu.F_BEST] > st["tracked"]:
                st["tracked"] = st["fst"][_tabu.F_BEST]
                exact = float(evaluate(st["best_x"]))
                if exact > best_value:
                    best_value, best_s = exact, st["best_x"].copy()
                    trace.append((time.perf_counter() - t0, best_value))

    pool = ThreadPoolExecutor(max_workers=max(1, min(threads, runs)))
    try:
        while int(states[0]["ist"][_tabu.I_IT]) < budget:
            now = time.perf_counter() - t0
            if time_limit is not None:
                left = time_limit - now
                if left <= 0:
                    break
                if rate > 0:
                    size = int(np.clip(rate * min(CHUNK_SECONDS, left), 20, 10**7))
            else:
                size = 20_000
            size = min(size, budget - int(states[0]["ist"][_tabu.I_IT]))
            t_chunk = time.perf_counter()
            if runs == 1:
                step(0, size)
            else:
                for fut in [pool.submit(step, k, size) for k in range(runs)]:
                    fut.result()
            now_rate = size / max(1e-9, time.perf_counter() - t_chunk)
            rate = now_rate if rate <= 0 else 0.5 * rate + 0.5 * now_rate
            collect()
            if callback is not None:
                elapsed = time.perf_counter() - t0
                frac = (
                    elapsed / time_limit
                    if time_limit is not None
                    else int(states[0]["ist"][_tabu.I_IT]) / max(1, budget)
                )
                callback(best_value, elapsed, min(1.0, frac))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        pool.shutdown(wait=True)
    collect()  # a chunk that ended while we were interrupted
    return TabuResult(
        value=best_value, solution=best_s,
        moves=sum(int(st["ist"][_tabu.I_MOVES]) for st in states),
        restarts=sum(int(st["ist"][_tabu.I_RESTARTS]) for st in states),
        seconds=time.perf_counter() - t0, interrupted=interrupted, trace=trace,
    )  # fmt: skip


def _small(
    n: int, h: NDArray[np.float64], u: NDArray[np.int64], v: NDArray[np.int64],
    J: NDArray[np.float64], X: NDArray[np.int8], evaluate: Callable[[NDArray[np.int8]], float],
    budget: int, time_limit: float | None, seed: int,
    callback: Callable[[float, float, float], None] | None, t0: float,
) -> TabuResult:  # fmt: skip
    """The same tabu search with restarts in numpy, for ``n <`` :data:`SMALL_N` or a short
    budget (:func:`compiled`; a dense ``A``, the runs one after another, each with an equal
    share of a time limit).

    The flip gains ``g = -2 s * F`` are kept up to date instead of the fields: flipping ``k``
    adds ``4 s_k s_j A_jk`` to every other ``g_j`` and negates ``g_k`` (``A_kk = 0``), one
    row of ``A`` per move; the random parts of the tenures are drawn in blocks. A new best is
    reported (exactly evaluated) at the next clock check, every :data:`SMALL_CHECK` moves.
    """
    A = np.zeros((n, n))
    np.add.at(A, (u, v), J)
    np.add.at(A, (v, u), J)
    scale = float(max(np.max(np.abs(J), initial=0.0), np.max(np.abs(h), initial=0.0), 1e-300))
    tol, tenure_f, spread_f, stall_f, l0_f, lmax_f, from_best = tabu_params(n, scale).tolist()
    tenure, spread, stall, l0, lmax = (
        int(tenure_f),
        int(spread_f),
        int(stall_f),
        int(l0_f),
        int(lmax_f),
    )
    runs = X.shape[0]
    values = [float(evaluate(row)) for row in X]
    k0 = int(np.argmax(values))
    best_value, best_s = values[k0], X[k0].copy()
    trace: list[tuple[float, float]] = [(0.0, best_value)]
    moves = restarts = 0
    interrupted = False
    neg_inf = np.full(n, -np.inf)

    def gains(x: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = -2.0 * x * (h + A @ x)
        return out

    def publish(bx: NDArray[np.float64]) -> None:
        nonlocal best_value, best_s
        exact = float(evaluate(bx.astype(np.int8)))
        if exact > best_value:
            best_value, best_s = exact, bx.astype(np.int8)
            trace.append((time.perf_counter() - t0, best_value))

    try:
        for k in range(runs):
            rng = np.random.default_rng([seed, k])
            x = X[k].astype(np.float64)
            g = gains(x)
            cur = float(h @ x + 0.5 * x @ (A @ x))
            best, bx, reported = cur, x.copy(), cur
            tabu = np.zeros(n, np.int64)
            draws = rng.integers(0, spread + 1, SMALL_DRAWS).tolist()
            d = 0
            size, last, improved = l0, 0, False
            deadline = None if time_limit is None else time_limit * (k + 1) / runs
            for it in range(budget):
                if it % SMALL_CHECK == 0 and it:
                    if best > reported:
                        publish(bx)
                        reported = best
                    if deadline is not None and time.perf_counter() - t0 > deadline:
                        break
                    if callback is not None:
                        frac = (time.perf_counter() - t0) / time_limit if time_limit else 0.0
                        callback(best_value, time.perf_counter() - t0, min(1.0, frac))
                if it - last >= stall:  # restart: perturb the best (or the current) assignment
                    size = l0 if improved else min(lmax, size + 1)
                    if rng.random() < from_best:
                        x = bx.copy()
                        g = gains(x)
                        cur = best
                    for j in rng.integers(0, n, size).tolist():
                        cur += float(g[j])
                        g += (4.0 * x[j]) * (x * A[j])
                        g[j] = -g[j]
                        x[j] = -x[j]
                        tabu[j] = it + tenure + draws[d]
                        d = (d + 1) % SMALL_DRAWS
                    moves += size
                    restarts += 1
                    last, improved = it, False
                allowed = np.where(tabu <= it, g, neg_inf)
                pick = int(np.argmax(allowed))
                top = int(np.argmax(g))
                gain_top = float(g[top])
                if cur + gain_top > best + tol or allowed[pick] == -np.inf:
                    pick = top  # aspiration (or everything tabu)
                cur += float(g[pick])
                g += (4.0 * x[pick]) * (x * A[pick])
                g[pick] = -g[pick]
                x[pick] = -x[pick]
                tabu[pick] = it + 1 + tenure + draws[d]
                d = (d + 1) % SMALL_DRAWS
                moves += 1
                if cur > best + tol:
                    best, bx, last, improved = cur, x.copy(), it + 1, True
            publish(bx)
    except KeyboardInterrupt:
        interrupted = True
    return TabuResult(
        value=best_value, solution=best_s, moves=moves, restarts=restarts,
        seconds=time.perf_counter() - t0, interrupted=interrupted, trace=trace,
    )  # fmt: skip
