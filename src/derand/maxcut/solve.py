"""The Max-Cut pipeline: SDP -> proven bound -> rounding -> local search -> optional exact.

Paper, Max-Cut section: the low-rank SDP gives a feasible ``V`` and a dual bound; the
derandomized rounding turns ``V`` into a partition whose cut is at least the Goemans-Williamson
expectation (checked, not assumed); the local search (compiled, multi-threaded) polishes it
within a time budget. Every stage respects ``time_limit`` and Ctrl-C: the best cut found so far
is returned together with a valid upper bound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from derand.errors import InputError
from derand.limits import check_count, check_finite, check_seed
from derand.maxcut.exact import MAX_EXACT_N, exact_maxcut
from derand.maxcut.graph import Graph, as_graph
from derand.maxcut.local_search import METHODS, local_search
from derand.maxcut.rounding import (
    best_of_random,
    derandomized_rounding,
    gw_expectation,
    score_function_rounding,
)
from derand.maxcut.sdp import solve_sdp

__all__ = ["GW_RATIO", "ROUNDINGS", "MaxCutResult", "solve_maxcut"]

GW_RATIO = 0.87856
ROUNDINGS = ("derandomized", "random", "best-of-N", "score")
Rounding = Literal["derandomized", "random", "best-of-N", "score"]
MAX_SAMPLES = 10**7
"""Most random hyperplanes ``samples`` may ask for."""
SDP_SHARE, ROUNDING_SHARE = 0.08, 0.04
"""Shares of ``time_limit`` the SDP sweeps and the rounding may use at most; the search gets
what is left."""


@dataclass(frozen=True)
class MaxCutResult:
    """Everything one run reports (the JSON fields of ``derand maxcut``).

    ``sdp_value <= SDP <= upper_bound`` and ``final_cut <= max cut <= upper_bound``. When
    ``bound_proven`` is true, ``upper_bound`` is proven by an LDL^T factorisation with a
    rounding-error margin (:mod:`derand.sdp.proof`); otherwise it is the Lanczos bound
    ``upper_bound_lanczos`` and ``bound_note`` says why. ``derandomized_cut`` is the cut of the
    chosen rounding and ``guarantee_holds`` whether it is ``>= gw_expected`` (guaranteed for
    the derandomized rounding). ``partition`` is +-1 per node in index order; ``nodes`` holds
    the graph's own labels when it had any (networkx input) -- see :meth:`sides` and
    :meth:`assignment`. ``trace`` is ``[(seconds, best cut)]`` over the whole run.
    """

    name: str
    n: int
    m: int
    rounding: str
    sdp_value: float
    upper_bound: float
    bound_proven: bool
    upper_bound_lanczos: float
    bound_note: str
    lambda_max: float
    sdp_rank: int
    sdp_sweeps: int
    gw_expected: float
    gw_ratio_bound: float | None
    random_best: float
    random_mean: float
    random_samples: int
    derandomized_cut: float
    guarantee_holds: bool
    final_expected: float | None
    iterations: int
    final_cut: float
    local_search: bool
    search: str
    search_moves: int
    threads: int
    time_limit: float | None
    interrupted: bool
    exact_cut: float | None
    optimality_gap: float
    seconds: dict[str, float]
    partition: list[int] = field(repr=False)
    nodes: list[Any] | None = field(default=None, repr=False)
    trace: list[tuple[float, float]] = field(default_factory=list, repr=False)
    expected_trace: list[float] = field(default_factory=list, repr=False)
    cut_trace: list[float] = field(default_factory=list, repr=False)
    sigma_trace: list[float] = field(default_factory=list, repr=False)

    def assignment(self) -> dict[Any, int]:
        """The partition as ``{node label: +1 or -1}``.

        Returns
        -------
        dict

        Examples
        --------
        >>> import networkx as nx
        >>> r = solve_maxcut(nx.path_graph(["a", "b", "c"]))
        >>> r.assignment()["a"] == r.assignment()["c"] != r.assignment()["b"]
        True
        """
        labels = self.nodes if self.nodes is not None else range(self.n)
        return dict(zip(labels, self.partition, strict=True))

    def sides(self) -> tuple[set[Any], set[Any]]:
        """The two sides ``(S, T)`` as sets of node labels, like networkx's
        ``nx.algorithms.approximation.one_exchange`` returns with the cut value.

        Returns
        -------
        (set, set)
            ``S`` holds the nodes with ``+1``, ``T`` those with ``-1``.

        Examples
        --------
        >>> import networkx as nx
        >>> r = solve_maxcut(nx.cycle_graph(4))
        >>> r.final_cut, sorted(map(sorted, r.sides()))
        (4.0, [[0, 2], [1, 3]])
        """
        a = self.assignment()
        return {k for k, s in a.items() if s > 0}, {k for k, s in a.items() if s < 0}


def _scale_of(graph: Graph) -> int:
    """A power-of-two exponent ``e`` such that the weights ``w / 2**e`` are of order one.

    Scaling by a power of two is exact, so cuts and bounds scale back exactly. Ordinary
    weights (magnitudes in ``[2**-20, 2**20]``) are left alone (``e = 0``).
    """
    if graph.m == 0:
        return 0
    top = float(np.max(np.abs(graph.w)))
    if top == 0.0 or 2.0**-20 <= top <= 2.0**20:
        return 0
    return int(np.frexp(top)[1])


def _scaled(graph: Graph, e: int) -> Graph:
    if e == 0:
        return graph
    w = np.ldexp(graph.w, -e)
    small = np.abs(w[w != 0])
    if small.size and float(small.min()) < 2.0**-900:
        raise InputError("edge weights span more than 270 orders of magnitude")
    total = float(np.sum(np.abs(w)))
    if math.frexp(total)[1] + e > 1024:  # total * 2**e would overflow
        raise InputError("the total edge weight exceeds the floating-point range")
    return Graph(n=graph.n, u=graph.u, v=graph.v, w=w, name=graph.name)


def solve_maxcut(
    graph: Any,
    *,
    rounding: Rounding = "derandomized",
    samples: int = 1000,
    local: bool = True,
    search: str = "sa",
    threads: int = 1,
    time_limit: float | None = None,
    exact: bool = False,
    seed: int = 0,
    rank: int | None = None,
    score_steps: int = 5000,
    search_moves: int | None = None,
    prove: bool = True,
    callback: Callable[[str, int, int], None] | None = None,
    progress: Callable[[float, float, float], None] | None = None,
) -> MaxCutResult:
    """Solve Max-Cut on ``graph``: SDP, proven bound, derandomized rounding, local search.

    Parameters
    ----------
    graph : Graph, networkx graph, scipy.sparse matrix or ndarray
        Directed graphs and non-symmetric matrices are symmetrised and repeated edges summed
        (each with a warning); node labels are kept (:meth:`MaxCutResult.sides`).
    rounding : {"derandomized", "random", "best-of-N", "score"}
        ``derandomized`` (default): the paper's exact-gradient ascent, whose cut is at least
        the GW expectation; ``random``: one hyperplane; ``best-of-N``: the best of
        ``samples``; ``score``: the authors' Monte Carlo estimator.
    samples : int
        Random hyperplanes for ``random_best`` (always computed) and ``best-of-N``.
    local : bool
        Polish the rounded partition (reported separately as ``final_cut``).
    search : {"sa", "bls", "tabu", "greedy"}
        The polishing method (:func:`derand.maxcut.local_search.local_search`).
    threads : int
        Independent polishing runs executed at once; run 0 starts from the rounding, run 1
        from the best random hyperplane, further runs from single random hyperplanes.
    time_limit : float, optional
        Seconds for the whole pipeline: the SDP sweeps use at most 8 %, the rounding 4 %,
        the search the rest. Without it each stage runs to its default budget, and the result
        is deterministic for a fixed ``seed`` and ``threads``.
    exact : bool
        Also compute the exact optimum (``n <= 26``).
    seed : int
        Seed of the SDP start, the hyperplanes and the search.
    rank : int, optional
        SDP rank (default ``~sqrt(2 n)``, at most 24).
    score_steps : int
        Steps of the ``score`` rounding.
    search_moves : int, optional
        Budget of each search run (sweeps for ``sa``, flips otherwise).
    prove : bool
        Prove the upper bound by a sparse LDL^T (default); otherwise report the Lanczos bound.
    callback : callable, optional
        ``callback(stage, done, total)`` for progress bars.
    progress : callable, optional
        ``progress(best_cut, upper_bound, seconds)`` whenever the best cut changes during the
        search. Raising KeyboardInterrupt in either callback (or Ctrl-C) stops the run: the
        best cut so far is returned with its bound and ``interrupted = True``.

    Returns
    -------
    MaxCutResult
        ``final_cut <= upper_bound``; see the class for every field.

    Examples
    --------
    >>> from derand.maxcut import paper_graph
    >>> r = solve_maxcut(paper_graph())
    >>> r.final_cut, r.bound_proven, r.final_cut <= r.upper_bound
    (41.0, True, True)
    """
    if rounding not in ROUNDINGS:
        raise InputError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    if search not in METHODS:
        raise InputError(f"search must be one of {METHODS}, got {search!r}")
    graph, labels = as_graph(graph)
    samples = check_count(samples, "samples", high=MAX_SAMPLES)
    threads = check_count(threads, "threads", high=256)
    seed = check_seed(seed)
    score_steps = check_count(score_steps, "score_steps", high=10**8)
    if time_limit is not None:
        time_limit = check_finite(time_limit, "time_limit", low=0.0, high=1e9)
    if exact and graph.n > MAX_EXACT_N:
        raise InputError(f"exact needs n <= {MAX_EXACT_N}, got n = {graph.n}")
    original = graph
    e = _scale_of(graph)
    graph = _scaled(graph, e)

    def up(x: float) -> float:
        return math.ldexp(x, e)

    def stage(name: str) -> Callable[[int, int], None] | None:
        if callback is None:
            return None
        cb = callback
        return lambda done, total: cb(name, done, total)

    def share(fraction: float) -> float | None:
        if time_limit is None:
            return None
        return max(0.0, min(fraction * time_limit, time_limit - (time.perf_counter() - t0)))

    t0 = time.perf_counter()
    interrupted = False
    trace: list[tuple[float, float]] = []
    sdp = solve_sdp(graph, rank=rank, seed=seed, time_limit=share(SDP_SHARE), callback=stage("sdp"))
    interrupted = sdp.interrupted
    V = sdp.V
    lanczos = sdp.upper_bound
    bound, proven, note = lanczos, False, "not attempted (prove=False)"
    if graph.m == 0:
        bound, proven, note = 0.0, True, "no edges: every cut is 0"
    elif prove:
        from derand.maxcut.sdp import coupling
        from derand.sdp import dual_vector, prove_bound, upper_sum

        try:
            C = coupling(graph)
            pb = prove_bound(C, dual_vector(C, V), sdp.lambda_max)
        except KeyboardInterrupt:
            interrupted = True
            note = "interrupted before the proof"
        else:
            proven, note = pb.proven, pb.note
            if pb.proven:  # cut = W/2 + <C, s s^T>; W/2 added rounding upwards
                half = math.fsum(graph.w.tolist()) / 2.0
                bound = max(upper_sum(half, pb.upper_bound), sdp.value)
    t_sdp = time.perf_counter() - t0

    def report(cut: float) -> None:
        trace.append((time.perf_counter() - t0, up(cut)))
        if progress is not None:
            progress(up(cut), up(bound), time.perf_counter() - t0)

    t1 = time.perf_counter()
    gw = gw_expectation(graph, V)
    final_expected: float | None = None
    iterations = 0
    traces: tuple[list[float], list[float], list[float]] = ([], [], [])
    partition: NDArray[np.int8]
    rnd = best_of_random(graph, V, samples if not interrupted else 1, seed=seed + 1)
    try:
        if interrupted:
            raise KeyboardInterrupt
        if rounding == "derandomized":
            cb = stage("rounding")
            d = derandomized_rounding(
                graph, V, seed=seed, time_limit=share(ROUNDING_SHARE),
                callback=None if cb is None else (lambda it: cb(it.iteration, it.max_iter)),
            )  # fmt: skip
            cut, partition, final_expected, iterations = (
                d.value, d.solution, d.expected, d.iterations,
            )  # fmt: skip
            traces = (d.history.expected, d.history.rounded, d.history.randomness)
        elif rounding == "score":
            sc = score_function_rounding(
                graph, V, steps=score_steps, seed=seed, callback=stage("rounding")
            )
            cut, partition, iterations = sc.cut, sc.partition, sc.steps
            traces = (sc.expected_trace, sc.cut_trace, sc.sigma_trace)
        elif rounding == "best-of-N":
            cut, partition = rnd.best_cut, rnd.partition
        else:
            one = best_of_random(graph, V, 1, seed=seed + 2)
            cut, partition = one.best_cut, one.partition
    except KeyboardInterrupt:
        interrupted = True
        cut, partition = rnd.best_cut, rnd.partition
    if not (math.isfinite(gw) and math.isfinite(cut)):
        raise InputError("the rounding produced non-finite numbers (weights out of range?)")
    report(cut)
    t_round = time.perf_counter() - t1

    t2 = time.perf_counter()
    final_cut, final_partition = cut, partition
    moves = 0
    if local and not interrupted and graph.m:
        starts = [partition, rnd.partition]
        starts += [
            best_of_random(graph, V, 1, seed=seed + 100 + k).partition for k in range(2, threads)
        ]
        left = None if time_limit is None else max(0.0, time_limit - (time.perf_counter() - t0))

        def search_progress(best: float, _seconds: float, fraction: float) -> None:
            if not trace or up(best) > trace[-1][1]:
                report(best)
            cb = stage("search")
            if cb is not None:
                cb(int(1000 * fraction), 1000)

        ls = local_search(
            graph, np.stack(starts[: max(1, threads)]), method=search,  # type: ignore[arg-type]
            threads=threads, max_moves=search_moves, time_limit=left, seed=seed,
            callback=search_progress,
        )  # fmt: skip
        interrupted = interrupted or ls.interrupted
        moves = ls.moves
        if ls.cut > final_cut:
            final_cut, final_partition = ls.cut, ls.partition
        if not trace or up(final_cut) > trace[-1][1]:
            report(final_cut)
    t_ls = time.perf_counter() - t2

    t3 = time.perf_counter()
    exact_cut: float | None = None
    if exact and not interrupted:
        exact_cut = up(exact_maxcut(graph, callback=stage("exact")).cut)
    t_exact = time.perf_counter() - t3
    nonneg = bool(np.all(graph.w >= 0))
    ub = up(bound)
    final = original.cut_value(final_partition)
    gap = (ub - final) / abs(ub) if ub != 0 else 0.0
    return MaxCutResult(
        name=graph.name,
        n=graph.n,
        m=graph.m,
        rounding=rounding,
        sdp_value=up(sdp.value),
        upper_bound=ub,
        bound_proven=proven,
        upper_bound_lanczos=up(lanczos),
        bound_note=note,
        lambda_max=up(sdp.lambda_max),
        sdp_rank=int(V.shape[1]),
        sdp_sweeps=sdp.sweeps,
        gw_expected=up(gw),
        gw_ratio_bound=up(GW_RATIO * sdp.value) if nonneg else None,
        random_best=up(rnd.best_cut),
        random_mean=up(rnd.mean_cut),
        random_samples=rnd.samples,
        derandomized_cut=up(cut),
        guarantee_holds=bool(cut >= gw - 1e-9 * max(1.0, abs(gw))),
        final_expected=None if final_expected is None else up(final_expected),
        iterations=iterations,
        final_cut=final,
        local_search=local,
        search=search,
        search_moves=moves,
        threads=threads,
        time_limit=time_limit,
        interrupted=interrupted,
        exact_cut=exact_cut,
        optimality_gap=gap,
        seconds={
            "sdp": t_sdp,
            "rounding": t_round,
            "local_search": t_ls,
            "exact": t_exact,
            "total": time.perf_counter() - t0,
        },
        partition=[int(x) for x in final_partition],
        nodes=labels,
        trace=trace,
        expected_trace=[up(x) for x in traces[0]],
        cut_trace=[up(x) for x in traces[1]],
        sigma_trace=traces[2],
    )
