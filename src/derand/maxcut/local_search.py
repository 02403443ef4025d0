"""Local search polishing of +-1 partitions: greedy 1-flip, tabu search, Breakout Local Search.

A separate stage after the rounding (its result is reported apart from the derandomized cut);
it never returns a worse cut than it is given. The moves are compiled (:mod:`derand.maxcut.engine`,
numba): a flip costs O(degree) and the best move is found in O(log n), for real-valued
weights. Several runs -- one per starting partition -- go on a thread pool; each is
deterministic for its seed and move budget, whichever thread executes it. Graphs with fewer
than :data:`SMALL_N` nodes use a pure-numpy path (:mod:`derand.maxcut.moves`), which avoids
importing and compiling numba for a few milliseconds of work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from derand.errors import InputError
from derand.limits import check_count, check_seed, require_memory
from derand.maxcut.graph import Graph
from derand.maxcut.moves import one_flip, tabu_search

__all__ = [
    "METHODS",
    "SMALL_N",
    "LocalSearchResult",
    "beta_range",
    "default_moves",
    "local_search",
]

METHODS = ("sa", "bls", "tabu", "greedy", "rank2")
Method = Literal["sa", "bls", "tabu", "greedy", "rank2"]
SMALL_N = 64
"""Below this many nodes the numpy path runs (no numba import, no compilation)."""

Progress = Callable[[float, float, float], None]
"""``callback(best_cut, seconds, fraction_done)``; it may raise KeyboardInterrupt to stop."""


@dataclass(frozen=True)
class LocalSearchResult:
    """A polished partition; ``cut >= start_cut`` always.

    Attributes
    ----------
    cut : float
        Cut of ``partition``, recomputed exactly from the graph.
    partition : ndarray of int8
        The best +-1 vector found over all runs.
    start_cut : float
        Best cut among the starting partitions.
    method : str
        ``"sa"``, ``"bls"``, ``"tabu"`` or ``"greedy"``.
    runs : int
        Independent runs (one per starting partition).
    moves : int
        Flips made, all runs together.
    seconds : float
        Wall time.
    interrupted : bool
        True when Ctrl-C (KeyboardInterrupt) stopped the search; the best so far is kept.
    trace : list of (float, float)
        ``(seconds, best cut)`` each time the best cut improved.
    """

    cut: float
    partition: NDArray[np.int8] = field(repr=False)
    start_cut: float
    method: str
    runs: int
    moves: int
    seconds: float
    interrupted: bool = False
    trace: list[tuple[float, float]] = field(default_factory=list, repr=False)


def default_moves(graph: Graph, method: str = "sa") -> int:
    """The default budget of one run, in flips (``bls``, ``tabu``) or sweeps (``sa``).

    ``bls``/``tabu``: ``2000 n`` flips, between 2e5 and 2e8. ``sa``: about ``1e9`` edge visits,
    i.e. ``1e9 / (2 m + n)`` sweeps, between 2000 and 50000. ``rank2``: cycles of about 100
    gradient evaluations each, ``1e7 / (2 m + n)`` of them, between 20 and 2000. ``greedy``
    stops at its local optimum whatever the budget.

    Returns
    -------
    int

    Examples
    --------
    >>> from derand.maxcut import gnp
    >>> default_moves(gnp(100, 0.1), "bls")
    200000
    """
    if method == "greedy":
        return graph.n * max(1, graph.m)
    if method == "sa":
        return int(np.clip(1e9 / (2 * graph.m + graph.n), 2000, 50000))
    if method == "rank2":
        return int(np.clip(1e7 / (2 * graph.m + graph.n), 20, 2000))
    return int(min(2e8, max(200_000, 2000 * graph.n)))


def _starts(graph: Graph, starts: NDArray[Any]) -> NDArray[np.int8]:
    s = np.asarray(starts)
    if s.ndim == 1:
        s = s[None, :]
    if s.ndim != 2 or s.shape[1] != graph.n or s.shape[0] < 1:
        raise InputError(f"starting partitions must have shape (runs, {graph.n}), got {s.shape}")
    if not np.all((s == 1) | (s == -1)):
        raise InputError("starting partitions must hold only +1 and -1")
    return s.astype(np.int8)


def local_search(
    graph: Graph,
    starts: NDArray[Any],
    *,
    method: Method = "sa",
    threads: int = 1,
    max_moves: int | None = None,
    time_limit: float | None = None,
    seed: int = 0,
    callback: Progress | None = None,
) -> LocalSearchResult:
    """Polish one or several +-1 partitions; returns the best cut found.

    Parameters
    ----------
    graph : Graph
    starts : ndarray, shape (n,) or (runs, n)
        Starting partitions; one independent run each.
    method : {"sa", "bls", "tabu", "greedy", "rank2"}
        Simulated annealing warm-started from ``starts`` (a geometric schedule from the
        temperature at which the first start's uphill moves are accepted with mean
        probability 0.3 down to a cold one, then a short Breakout Local Search polish),
        Breakout Local Search (Benlic & Hao 2013), tabu search, steepest-ascent 1-flip, or
        the rank-2 relaxation heuristic of Burer, Monteiro & Zhang (2002) from the starts'
        angles (:mod:`derand.maxcut.rank2`; ``max_moves`` counts its cycles).
    threads : int
        Runs executed at once (``<= runs`` are used).
    max_moves : int, optional
        Flips (sweeps for ``sa``) per run; default :func:`default_moves`. Without a time
        limit, the result depends only on ``starts``, ``seed``, ``method``, ``max_moves`` and
        the number of runs -- not on ``threads`` or the machine's speed.
    time_limit : float, optional
        Seconds; checked between chunks of moves (a few hundredths of a second apart). With
        ``sa`` the cooling schedule is stretched to fill it (then ``max_moves`` only caps it).
    seed : int
        Seed of run ``k`` is ``seed + k``.
    callback : callable, optional
        ``callback(best_cut, seconds, fraction_done)`` between chunks; raising
        KeyboardInterrupt there (or pressing Ctrl-C) stops the search and keeps the best.

    Returns
    -------
    LocalSearchResult
        ``cut >= start_cut``; ``cut`` is recomputed from the returned partition.

    Examples
    --------
    >>> import numpy as np
    >>> from derand.maxcut import torus
    >>> g = torus(10, 10, seed=1)
    >>> start = np.ones(g.n, np.int8)
    >>> res = local_search(g, start, method="tabu", max_moves=5000)
    >>> res.cut >= res.start_cut
    True
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    s = _starts(graph, starts)
    threads = check_count(threads, "threads", high=1024)
    seed = check_seed(seed)
    if max_moves is not None:
        max_moves = check_count(max_moves, "max_moves", low=0, high=10**13)
    if max_moves is not None:
        budget = max_moves
    elif time_limit is not None and method != "greedy":
        budget = 10**13  # the clock decides
    else:
        budget = default_moves(graph, method)
    start_time = time.perf_counter()
    start_cuts = [graph.cut_value(row) for row in s]
    k0 = int(np.argmax(start_cuts))
    if graph.m == 0 or budget == 0:
        return LocalSearchResult(
            cut=start_cuts[k0], partition=s[k0].copy(), start_cut=start_cuts[k0],
            method=method, runs=len(s), moves=0, seconds=time.perf_counter() - start_time,
        )  # fmt: skip
    if graph.n < SMALL_N:
        return _small(graph, s, start_cuts, method, budget, seed, start_time)
    return _compiled(graph, s, start_cuts, method, budget, threads, time_limit, seed, callback)


def _small(
    graph: Graph,
    s: NDArray[np.int8],
    start_cuts: list[float],
    method: str,
    budget: int,
    seed: int,
    start_time: float,
) -> LocalSearchResult:
    """The numpy path for tiny graphs: 1-flip, then (unless greedy) a short tabu search."""
    best_cut, best_x = -np.inf, s[0]
    moves = min(budget, 40 * graph.n)
    for k, row in enumerate(s):
        x = one_flip(graph, row)
        if method != "greedy":
            x = tabu_search(graph, x, max_moves=moves, seed=seed + k)
        c = graph.cut_value(x)
        if c > best_cut:
            best_cut, best_x = c, x
    start = max(start_cuts)
    if best_cut < start:
        best_x, best_cut = s[int(np.argmax(start_cuts))], start
    seconds = time.perf_counter() - start_time
    return LocalSearchResult(
        cut=float(best_cut), partition=best_x.astype(np.int8), start_cut=start, method=method,
        runs=len(s), moves=moves * len(s), seconds=seconds, trace=[(seconds, float(best_cut))],
    )  # fmt: skip


def _params(graph: Graph, method: str) -> tuple[NDArray[np.float64], int]:
    n = graph.n
    scale = float(np.max(np.abs(graph.w)))
    tol = 1e-9 * scale
    if method == "tabu":
        lo = int(np.clip(n // 15, 10, 150))
        lo = max(1, min(lo, n // 4))
        hi = lo + 10
    else:  # BLS: gamma in [3, n/10]; L0 = 0.01 n, Lmax = 0.1 n, T = 1000, P0 = 0.8, Q = 0.5
        lo, hi = 3, max(3, n // 10)
    l0 = max(1, round(0.01 * n))
    lmax = max(l0, round(0.1 * n))
    params = np.array([tol, lo, hi, l0, lmax, 1000.0, 0.8, 0.5], np.float64)
    return params, hi


SA_START = 0.3
"""Where the anneal begins when the start has no uphill move: this fraction of the way from the
hot to the cold end of the (log-)temperature range."""
SA_ACCEPT = 0.3
"""The anneal begins where the start's uphill moves are accepted with this mean probability:
hot enough to leave the start's local optimum, cold enough to keep most of its structure.
Set from the start's own gains, so it means the same for integer and real-valued weights."""
POLISH_FRACTION = 0.05
"""Share of a time limit kept for the Breakout Local Search polish after annealing."""


COLD_QUANTILE = 0.05
"""The cold end is set by this quantile of the nonzero ``|w|``: the smallest weight for integer
or +-1 weights, not a vanishing outlier for real-valued ones (whose anneal would otherwise spend
most of its sweeps frozen)."""


def beta_range(graph: Graph) -> tuple[float, float]:
    """Inverse temperatures of the anneal, in units of 1 / cut.

    Hot: the largest possible move (``max_i sum_j |w_ij|``) is accepted with probability 1/2;
    cold: a move of the 5 % quantile of ``|w|`` with probability 1/100 -- the range
    dwave-samplers uses by default (which takes the smallest ``|w|``), written for cut gains;
    the two agree for integer weights.

    Returns
    -------
    (float, float)
        ``(beta_hot, beta_cold)``.

    Examples
    --------
    >>> from derand.maxcut import torus
    >>> hot, cold = beta_range(torus(4, 4))
    >>> bool(hot < cold)
    True
    """
    absdeg = np.bincount(graph.u, np.abs(graph.w), graph.n) + np.bincount(
        graph.v, np.abs(graph.w), graph.n
    )
    nonzero = np.abs(graph.w[graph.w != 0])
    wmin = float(np.quantile(nonzero, COLD_QUANTILE)) if nonzero.size else 1.0
    hot = np.log(2.0) / max(float(absdeg.max()), 1e-300)
    cold = np.log(100.0) / wmin
    return float(hot), float(max(cold, hot))


def start_beta(
    graph: Graph, x: NDArray[np.int8], hot: float, cold: float, accept: float = SA_ACCEPT
) -> float:
    """The inverse temperature at which the uphill moves of ``x`` are accepted with mean
    probability ``accept`` (default :data:`SA_ACCEPT`; bisection in ``log beta`` within
    ``[hot, cold]``)."""
    from derand.maxcut.moves import flip_gains

    gains = flip_gains(graph, x)
    neg = gains[gains < 0]
    if neg.size == 0:
        return float(hot * (cold / hot) ** SA_START)
    lo, hi = np.log(hot), np.log(cold)
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if float(np.mean(np.exp(np.exp(mid) * neg))) > accept:
            lo = mid
        else:
            hi = mid
    return float(np.exp(0.5 * (lo + hi)))


class _Tracker:
    """Best cut over all runs, the trace, progress callbacks."""

    def __init__(
        self, graph: Graph, s: NDArray[np.int8], start_cuts: list[float], tol: float,
        callback: Progress | None, start_time: float,
    ) -> None:  # fmt: skip
        self.graph = graph
        k = int(np.argmax(start_cuts))
        self.best_cut = float(start_cuts[k])
        self.best_x = s[k].copy()
        self.tol = tol
        self.callback = callback
        self.start_time = start_time
        self.trace: list[tuple[float, float]] = [(0.0, self.best_cut)]
        self.states: list[dict[str, NDArray[Any]]] = []

    def elapsed(self) -> float:
        return time.perf_counter() - self.start_time

    def collect(self, fraction: float) -> None:
        from derand.maxcut.layout import F_BEST

        improved = False
        for st in self.states:
            c = float(st["fst"][F_BEST])  # tracked incrementally: may drift by rounding
            if c > self.best_cut + self.tol:
                x = st["best_x"].copy()
                exact = self.graph.cut_value(x)
                if exact > self.best_cut:
                    self.best_cut, self.best_x, improved = exact, x, True
        if improved:
            self.trace.append((self.elapsed(), self.best_cut))
        if self.callback is not None:
            self.callback(self.best_cut, self.elapsed(), min(1.0, max(0.0, fraction)))


_loaded = False


def _load_kernels(engine: Any) -> None:
    """Call each compiled search kernel once on a 3-node path (numba loads or compiles it)."""
    global _loaded
    if _loaded:
        return
    indptr = np.array([0, 1, 3, 4], np.int64)
    indices = np.array([1, 0, 2, 1], np.int64)
    data = np.ones(4)
    x = np.ones(3, np.int8)
    st = engine.build_state(3, 0, x, 2)
    engine.anneal_sweeps(indptr, indices, data, x.copy(), x.copy(), np.zeros(3),
                         np.ones(1), st["rs"].copy(), st["fst"].copy(), 1.0)  # fmt: skip
    params, _ = _params(Graph(n=3, u=np.array([0, 1]), v=np.array([1, 2]), w=np.ones(2)), "bls")
    engine.run_chunk(
        2, indptr, indices, data, st["x"], st["best_x"], st["gain"], st["tva"], st["tia"],
        st["tvb"], st["tib"], st["pos"], st["tabu_until"], st["bhead"], st["bnode"],
        st["bnext"], st["rprev"], st["rnext"], st["ist"], st["fst"], st["rs"], params, 5,
    )  # fmt: skip
    _loaded = True


def _load_rank2() -> None:
    """Call the rank-2 heuristic once on a 3-node path (numba loads or compiles its kernels;
    only ``search="rank2"`` uses them, so only it and the install pay for them)."""
    from derand.maxcut.rank2 import rank2_search

    csr = (np.array([0, 1, 3, 4], np.int64), np.array([1, 0, 2, 1], np.int64), np.ones(4))
    rank2_search(csr, seed=0, start=np.ones(3, np.int8), cycles=1)


def _compiled(
    graph: Graph,
    s: NDArray[np.int8],
    start_cuts: list[float],
    method: str,
    budget: int,
    threads: int,
    time_limit: float | None,
    seed: int,
    callback: Progress | None,
) -> LocalSearchResult:
    from derand.maxcut.kernels import search_kernels

    engine = search_kernels()  # compiled ahead of time when built, else numba's JIT
    if engine.compiled == "jit":
        from derand.maxcut import engine as jit

        _load_kernels(jit)
    if method == "rank2":
        _load_rank2()
    start_time = time.perf_counter()  # loading (or compiling) the kernels is timed apart
    n, runs = graph.n, len(s)
    # CSR + trees + per-run state; estimated before allocating
    require_memory(16.0 * 2 * graph.m + runs * (80.0 * n + 64.0 * n), "local search")
    csr = graph.csr()  # numpy only: a run on ahead-of-time kernels imports no scipy
    params, _ = _params(graph, method)
    tracker = _Tracker(graph, s, start_cuts, float(params[0]), callback, start_time)
    interrupted = False
    moves = 0
    pool = ThreadPoolExecutor(max_workers=max(1, min(threads, runs)))
    try:
        if method == "sa" and time_limit is not None:
            moves += _reanneals(engine, graph, csr, s, budget, pool, time_limit, seed, tracker)
        elif method == "sa":
            moves += _anneal(engine, graph, csr, s, budget, pool, None, seed, tracker)
            polished = np.stack([st["best_x"] for st in tracker.states])
            tracker.states = []
            # without a limit a fixed polish (deterministic)
            moves += _chunked(
                engine, "bls", graph, csr, polished, 100 * n, pool, None, seed, tracker
            )
        elif method == "rank2":
            moves += _rank2_runs(csr, s, budget, pool, time_limit, seed, tracker)
        else:
            moves += _chunked(
                engine, method, graph, csr, s, budget, pool, time_limit, seed, tracker
            )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        pool.shutdown(wait=True)
    tracker.callback = None
    tracker.collect(1.0)  # a chunk that finished while we were interrupted may hold a better cut
    best_x = tracker.best_x
    cut = graph.cut_value(best_x)
    start = max(start_cuts)
    if cut < start:
        best_x, cut = s[int(np.argmax(start_cuts))].copy(), start
    trace = tracker.trace
    if trace[-1][1] != cut:
        trace.append((tracker.elapsed(), cut))
    return LocalSearchResult(
        cut=cut,
        partition=best_x,
        start_cut=start,
        method=method,
        runs=runs,
        moves=moves,
        seconds=tracker.elapsed(),
        interrupted=interrupted,
        trace=trace,
    )


def _rank2_runs(
    csr: tuple[NDArray[Any], ...], s: NDArray[np.int8], budget: int, pool: ThreadPoolExecutor,
    time_limit: float | None, seed: int, tracker: _Tracker,
) -> int:  # fmt: skip
    """The rank-2 heuristic from every start (one run each, in parallel); returns the cycles.

    Run ``k`` has seed ``seed + k``; the tracker reads each run's best cut when it ends."""
    from derand.maxcut.rank2 import rank2_search

    indptr, indices, data = csr
    left = None if time_limit is None else max(0.0, time_limit - tracker.elapsed())
    cycles = budget if budget < 10**13 else None

    def one(k: int, callback: Callable[[float, NDArray[np.int8]], None] | None = None) -> Any:
        return rank2_search((indptr, indices, data), seed=seed + k, start=s[k], cycles=cycles,
                            time_limit=left, callback=callback)  # fmt: skip

    if len(s) == 1:  # in this thread: Ctrl-C and the progress callback reach it

        def progress(cut: float, x: NDArray[np.int8]) -> None:
            tracker.states = [{"best_x": x, "fst": np.array([cut, cut, 0.0])}]
            tracker.collect(tracker.elapsed() / time_limit if time_limit else 0.0)

        results = [one(0, progress)]
    else:
        results = [f.result() for f in [pool.submit(one, k) for k in range(len(s))]]
    tracker.states = [
        {"best_x": r.partition, "fst": np.array([r.cut, r.cut, 0.0])} for r in results
    ]  # fmt: skip
    if any(r.interrupted for r in results):  # the caller keeps the best cut
        raise KeyboardInterrupt
    return sum(r.cycles for r in results)


def _quantum(graph: Graph) -> float:
    """1.0 when every weight is an integer and the largest ``sum_j |w_ij|`` is at most ``4 n``
    (the annealer then tabulates ``exp(beta g)`` per sweep), else 0.0."""
    w = graph.w
    if not np.all(w == np.round(w)):
        return 0.0
    absdeg = np.bincount(graph.u, np.abs(w), graph.n) + np.bincount(graph.v, np.abs(w), graph.n)
    return 1.0 if float(absdeg.max()) <= 4.0 * graph.n else 0.0


REANNEALS = 5
"""A time-limited anneal is up to this many anneals in a row, each polished by BLS; the first
starts at :data:`SA_ACCEPT`, each later one from the best partition of its run so far at the
colder :data:`REANNEAL_ACCEPT`. Three anneals (all reheated to 0.3) had beaten one anneal of
the same total time on 28 / 26 / 17 of the 71 Gset (random starts, 2.5 s; README). Five,
reheated to 0.1 from the run's best and at least :data:`SEGMENT_SECONDS` each, against those
three, from the 5 s pipeline's own starts, 2.5 CPU-seconds of search: on the odd-numbered
G1-G53 (where it was chosen; two seeds) 18 better / 29 equal / 7 worse, mean ratio to the
best known 99.896 -> 99.924 %; checked after on the even-numbered G2-G54 (one seed) 5 / 21 /
1, 99.887 -> 99.924 %."""
REANNEAL_ACCEPT = 0.1
"""The mean acceptance of the uphill moves of the start at which each anneal after the first
begins: it refines the best partition found (whose structure 0.3 mostly melts) instead of
repeating the first anneal from scratch."""
SEGMENT_SECONDS = 0.4
"""Each anneal of a chain gets at least this many seconds (fewer anneals when the time is
short: one below 0.8 s)."""
SEGMENT_SWEEPS = 5000
"""... and at least this many sweeps at the measured sweep rate: on the Gset graphs with
n >= 7000, whose 2.5 s afford a few thousand sweeps, one long anneal did better (G63 -33,
G72 -26 with three)."""


def _reanneals(
    engine: Any, graph: Graph, csr: tuple[NDArray[Any], ...], s: NDArray[np.int8], budget: int,
    pool: ThreadPoolExecutor, time_limit: float, seed: int, tracker: _Tracker,
) -> int:  # fmt: skip
    """The search of a time limit: :data:`REANNEALS` anneals in a row (fewer when a segment
    would be shorter than :data:`SEGMENT_SECONDS` or :data:`SEGMENT_SWEEPS`), each followed by
    a BLS polish for the last :data:`POLISH_FRACTION` of its segment; each after the first is
    warm-started from the best partition of its run so far at :data:`REANNEAL_ACCEPT`; the
    last polish goes on until the limit. ``budget`` caps the sweeps of all
    anneals together. Returns the flips made."""
    t_begin = tracker.elapsed()
    span = max(0.0, time_limit - t_begin)
    affordable = _sweep_rate(engine, graph, csr, s[0]) * span / SEGMENT_SWEEPS
    k_max = int(np.clip(min(span // SEGMENT_SECONDS, affordable), 1, REANNEALS))
    starts, moves = s, 0
    run_best = [graph.cut_value(x) for x in s]
    for j in range(k_max):
        seg_start = t_begin + span * j / k_max
        seg_end = time_limit if j == k_max - 1 else t_begin + span * (j + 1) / k_max
        limit = seg_end - POLISH_FRACTION * (seg_end - seg_start)
        tracker.states = []
        moves += _anneal(engine, graph, csr, starts, max(1, budget // k_max), pool, limit, seed,
                         tracker, segment=j)  # fmt: skip
        polished = np.stack([st["best_x"] for st in tracker.states])
        tracker.states = []
        # BLS, whose perturbations (up to random jumps of 0.1 n flips when it stalls) go on
        # until the segment's end
        moves += _chunked(engine, "bls", graph, csr, polished, 10**13, pool, seg_end,
                          seed + j * len(s), tracker)  # fmt: skip
        # each run goes on from its own best so far (an anneal may end below its start)
        found = [st["best_x"] for st in tracker.states]
        cuts = [graph.cut_value(x) for x in found]
        keep = [c >= b for c, b in zip(cuts, run_best, strict=True)]
        run_best = [max(c, b) for c, b in zip(cuts, run_best, strict=True)]
        starts = np.stack([x if k else y for x, y, k in zip(found, starts, keep, strict=True)])
        if tracker.elapsed() >= time_limit:
            break
    return moves


def _sweep_rate(
    engine: Any, graph: Graph, csr: tuple[NDArray[Any], ...], x: NDArray[np.int8]
) -> float:
    """Sweeps per second of one anneal, measured on a copy of ``x``: about 1e6 edge visits at
    the anneal's starting temperature, where most flips are taken (the slow end; a few
    milliseconds)."""
    sweeps = max(2, int(1e6 / (2 * graph.m + graph.n)))
    hot, cold = beta_range(graph)
    betas = np.full(sweeps, start_beta(graph, x, hot, cold))
    rs = np.array([0x9E3779B97F4A7C15], np.uint64)
    fst = np.array([0.0, -np.inf, 0.0])  # the state's float slots (cut, best, previous)
    t0 = time.perf_counter()
    engine.anneal_sweeps(*csr, x.copy(), x.copy(), np.zeros(graph.n), betas, rs, fst,
                         _quantum(graph))  # fmt: skip
    return sweeps / max(1e-9, time.perf_counter() - t0)


def _anneal(
    engine: Any, graph: Graph, csr: tuple[NDArray[Any], ...], s: NDArray[np.int8], budget: int,
    pool: ThreadPoolExecutor, time_limit: float | None, seed: int, tracker: _Tracker,
    segment: int = 0,
) -> int:  # fmt: skip
    """Anneal every start (one run each, in parallel); returns the flips made. Run ``k`` of
    anneal ``segment`` of a chain draws from the seed ``[seed, k]`` (``[seed, k, segment]``
    after the first)."""
    n, runs = graph.n, len(s)
    hot, cold = beta_range(graph)
    b_start = start_beta(graph, s[0], hot, cold, SA_ACCEPT if segment == 0 else REANNEAL_ACCEPT)
    for k in range(runs):
        rng = np.random.default_rng([seed, k] if segment == 0 else [seed, k, segment])
        tracker.states.append({
            "x": s[k].copy(), "best_x": s[k].copy(), "gain": np.zeros(n),
            "rs": np.array([rng.integers(1, 2**63 - 1)], np.uint64),
            "fst": np.array([0.0, -np.inf, 0.0]),
        })  # fmt: skip
    q = _quantum(graph)
    st0 = tracker.states[0]
    engine.anneal_sweeps(*csr, st0["x"].copy(), st0["x"].copy(), st0["gain"].copy(),
                         np.zeros(0), st0["rs"].copy(), st0["fst"].copy(), q)  # fmt: skip

    def sweep(k: int, betas: NDArray[np.float64]) -> int:
        st = tracker.states[k]
        return int(engine.anneal_sweeps(
            *csr, st["x"], st["best_x"], st["gain"], betas, st["rs"], st["fst"], q
        ))  # fmt: skip

    def run(betas: NDArray[np.float64]) -> int:
        return sum(f.result() for f in [pool.submit(sweep, k, betas) for k in range(runs)])

    flips = 0
    if time_limit is None:  # a fixed schedule: the same run on every machine
        fixed = np.geomspace(b_start, cold, budget)
        chunk = int(np.clip(2e6 / (2 * graph.m + n), 1, 2000))
        for done in range(0, budget, chunk):
            flips += run(fixed[done : done + chunk])
            tracker.collect(min(budget, done + chunk) / budget)
        return flips
    return flips + _timed_anneal(run, graph, budget, b_start, cold, time_limit, tracker)


CHUNK_SECONDS = 0.05
"""Target wall time of one chunk of a timed anneal (the clock is read between chunks)."""


def _timed_anneal(
    run: Callable[[NDArray[np.float64]], int], graph: Graph, budget: int, b_start: float,
    cold: float, time_limit: float, tracker: _Tracker,
) -> int:  # fmt: skip
    """The anneal of a time limit: ``log beta`` follows the clock.

    ``beta(t) = b_start (cold / b_start)^((t - t_0) / (T - t_0))``, so the anneal reaches the
    cold end when the time is up whatever the machine's speed (or when ``budget`` sweeps are
    done, if that comes first): the measured sweep rate (a running average over the chunks)
    only sizes the chunks. A chunk that runs slower than planned makes the next one start
    where the clock is; after one that ran faster ``beta`` waits for the clock; it never goes
    back to a hotter value.
    """
    t_begin = tracker.elapsed()
    span = max(1e-9, time_limit - t_begin)
    ratio = cold / b_start
    target = min(CHUNK_SECONDS, max(0.002, span / 100))
    done, flips, rate, f_prev = 0, 0, 0.0, 0.0
    while done < budget:
        now = tracker.elapsed()
        if now >= time_limit:
            break
        f0 = max(f_prev, (now - t_begin) / span)
        if rate <= 0:  # calibration: one sweep (it may include loading the compiled code)
            k = 1
            f1 = f0
        else:
            k = int(np.clip(rate * target, 1, budget - done))
            # where the clock will be at the chunk's planned end, or the sweep budget's share
            # when ``max_moves`` is the tighter cap; never behind where the schedule is
            f1 = min(1.0, max((now + k / rate - t_begin) / span, (done + k) / budget, f0))
        betas = b_start * ratio ** np.linspace(f0, f1, k + 1)[1:]
        t_chunk = time.perf_counter()
        flips += run(betas)
        seconds = max(1e-9, time.perf_counter() - t_chunk)
        # a running average of the sweep rate: one slow chunk (a thread hand-off, another
        # process taking the core) does not make the next one tiny
        rate = k / seconds if rate <= 0 else 0.5 * rate + 0.5 * k / seconds
        done += k
        f_prev = f1
        tracker.collect(tracker.elapsed() / time_limit)
        if f1 >= 1.0:
            break
    return flips


def _chunked(
    engine: Any, method: str, graph: Graph, csr: tuple[NDArray[Any], ...],
    s: NDArray[np.int8], budget: int, pool: ThreadPoolExecutor, time_limit: float | None,
    seed: int, tracker: _Tracker,
) -> int:  # fmt: skip
    """Run the move engine (greedy, tabu or BLS) from every start; returns the flips made."""
    n, runs = graph.n, len(s)
    params, ten_hi = _params(graph, method)
    code = engine.METHODS[method]
    tracker.states = [engine.build_state(n, seed + k, s[k], ten_hi) for k in range(runs)]
    avg_deg = 2.0 * graph.m / n
    chunk = int(np.clip(2e6 / (avg_deg + 4.0), 2_000, 500_000))
    done = [False] * runs
    # with a time limit the chunks are sized from the measured move rate (a running average),
    # so the last one ends close to the limit; without one they are fixed (deterministic)
    size, rate = (chunk, 0.0) if time_limit is None else (min(chunk, 2_000), 0.0)

    def step(k: int, size: int) -> bool:
        st = tracker.states[k]
        left = budget - int(st["ist"][engine.I_MOVES])
        return bool(
            engine.run_chunk(
                code, *csr, st["x"], st["best_x"], st["gain"], st["tva"], st["tia"], st["tvb"],
                st["tib"], st["pos"], st["tabu_until"], st["bhead"], st["bnode"], st["bnext"],
                st["rprev"], st["rnext"], st["ist"], st["fst"], st["rs"], params,
                min(size, left),
            )
        )  # fmt: skip

    while True:
        active = [
            k for k in range(runs)
            if not done[k] and int(tracker.states[k]["ist"][engine.I_MOVES]) < budget
        ]  # fmt: skip
        if not active:
            break
        if time_limit is not None:
            left_s = time_limit - tracker.elapsed()
            if left_s <= 0:
                break
            if rate > 0:
                size = int(np.clip(rate * min(CHUNK_SECONDS, left_s), 100, chunk))
        t_chunk = time.perf_counter()
        before = sum(int(tracker.states[k]["ist"][engine.I_MOVES]) for k in active)
        futures = [(k, pool.submit(step, k, size)) for k in active]
        for k, fut in futures:
            done[k] = fut.result()
        if time_limit is not None:  # moves per second of one run
            made = sum(int(tracker.states[k]["ist"][engine.I_MOVES]) for k in active) - before
            now_rate = made / len(active) / max(1e-9, time.perf_counter() - t_chunk)
            rate = now_rate if rate <= 0 else 0.5 * rate + 0.5 * now_rate
        used = sum(int(st["ist"][engine.I_MOVES]) for st in tracker.states)
        frac = used / max(1, budget * runs)
        if time_limit is not None:
            frac = max(frac, tracker.elapsed() / time_limit)
        tracker.collect(frac)
    return sum(int(st["ist"][engine.I_MOVES]) for st in tracker.states)
