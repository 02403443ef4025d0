"""Local search polishing of a +-1 partition: greedy 1-flip, then tabu search.

A separate, optional stage (its result is reported apart from the derandomized cut). Both
never return a worse cut than they are given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from derand.maxcut.graph import Graph

__all__ = ["LocalSearchResult", "local_search", "one_flip", "tabu_search"]


@dataclass(frozen=True)
class LocalSearchResult:
    """A polished partition: ``cut >= start_cut`` always."""

    cut: float
    partition: NDArray[np.int8]
    start_cut: float
    flips: int
    seconds: float


def one_flip(graph: Graph, s: NDArray[np.int8], *, max_rounds: int = 10_000) -> NDArray[np.int8]:
    """Greedy 1-flip to a local optimum (no single flip improves the cut).

    Each round flips, at once, an independent set of improving nodes (a node whose gain is the
    largest among its improving neighbours), so a round never lowers the cut.
    The gain of flipping ``i`` is ``s_i (A s)_i``.
    """
    adj = graph.adjacency()
    x = s.astype(np.float64).copy()
    for _ in range(max_rounds):
        gain = x * (adj @ x)
        improving = gain > 1e-12
        if not improving.any():
            break
        # keep i if gain_i beats every improving neighbour (ties broken by index)
        key = np.where(improving, gain + np.arange(graph.n) * 1e-12, -np.inf)
        eu, ev = graph.u, graph.v
        lose = np.zeros(graph.n, bool)
        both = improving[eu] & improving[ev]
        lose[eu[both & (key[eu] < key[ev])]] = True
        lose[ev[both & (key[ev] < key[eu])]] = True
        flip = improving & ~lose
        x[flip] = -x[flip]
    return x.astype(np.int8)


def tabu_search(
    graph: Graph,
    s: NDArray[np.int8],
    *,
    max_moves: int = 20_000,
    tenure: int | None = None,
    seed: int = 0,
    time_limit: float | None = None,
    callback: Callable[[int, int], None] | None = None,
) -> NDArray[np.int8]:
    """Tabu search with incremental gains: flip the best non-tabu node (or an aspiring one).

    Flipped nodes are tabu for ``tenure`` moves (default ``clip(n/15, 30, 150) + U[0, 10)``).
    Returns the best partition visited (never worse than ``s``). KeyboardInterrupt keeps the
    best so far.
    """
    rng = np.random.default_rng(seed)
    adj = graph.adjacency()
    indptr, indices, data = adj.indptr, adj.indices, adj.data
    x = s.astype(np.float64).copy()
    gain = x * (adj @ x)
    cut = graph.cut_value(x)
    best_cut, best_x = cut, x.copy()
    base = min(150, max(30, graph.n // 15)) if tenure is None else tenure
    tabu_until = np.zeros(graph.n, np.int64)
    start = time.perf_counter()
    try:
        for move in range(1, max_moves + 1):
            allowed = np.where(tabu_until < move, gain, -np.inf)
            i = int(np.argmax(allowed))
            j = int(np.argmax(gain))
            if gain[j] > 1e-12 and cut + gain[j] > best_cut + 1e-12:
                i = j  # aspiration
            if not np.isfinite(allowed[i]) and i != j:
                break
            lo, hi = indptr[i], indptr[i + 1]
            nb = indices[lo:hi]
            cut += gain[i]
            x[i] = -x[i]
            # gain_j = x_j sum_k w_jk x_k: neighbour j changes by 2 w_ij x_j x_i(new)
            gain[nb] += 2.0 * data[lo:hi] * x[nb] * x[i]
            gain[i] = -gain[i]
            tabu_until[i] = move + base + int(rng.integers(0, 10))
            if cut > best_cut + 1e-12:
                best_cut, best_x = cut, x.copy()
            if callback is not None and move % 1000 == 0:
                callback(move, max_moves)
            if time_limit is not None and move % 256 == 0:
                if time.perf_counter() - start > time_limit:
                    break
    except KeyboardInterrupt:
        pass
    return best_x.astype(np.int8)


def local_search(
    graph: Graph,
    s: NDArray[np.int8],
    *,
    tabu_moves: int | None = None,
    time_limit: float | None = None,
    seed: int = 0,
    callback: Callable[[int, int], None] | None = None,
) -> LocalSearchResult:
    """1-flip to a local optimum, then tabu search; returns the better partition.

    ``tabu_moves`` defaults to ``max(10 n, 50000)`` capped at 200000 (0 disables tabu).
    """
    start = time.perf_counter()
    start_cut = graph.cut_value(s)
    x = one_flip(graph, s)
    moves = min(200_000, max(10 * graph.n, 50_000)) if tabu_moves is None else tabu_moves
    if moves > 0 and graph.m > 0:
        remaining = None if time_limit is None else time_limit - (time.perf_counter() - start)
        x = tabu_search(
            graph, x, max_moves=moves, seed=seed, time_limit=remaining, callback=callback
        )
    cut = graph.cut_value(x)
    if cut < start_cut:
        x, cut = s.astype(np.int8), start_cut
    flips = int(np.sum(x != s))
    return LocalSearchResult(
        cut=cut,
        partition=x,
        start_cut=start_cut,
        flips=flips,
        seconds=time.perf_counter() - start,
    )
