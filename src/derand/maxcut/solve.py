"""The Max-Cut pipeline: SDP -> proven bound -> rounding -> local search -> optional exact.

Paper, Max-Cut section: the low-rank SDP gives a feasible ``V`` and a dual bound; the
derandomized rounding turns ``V`` into a partition whose cut is at least the Goemans-Williamson
expectation (checked, not assumed); the local search (compiled, multi-threaded) polishes it
within a time budget. Every stage respects ``time_limit`` and Ctrl-C: the best cut found so far
is returned together with a valid upper bound.
"""

from __future__ import annotations

import math
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from derand.errors import InputError
from derand.limits import MAX_SEED, check_count, check_finite, check_seed
from derand.maxcut.convert import as_graph
from derand.maxcut.exact import MAX_EXACT_N, exact_maxcut
from derand.maxcut.graph import Graph
from derand.maxcut.local_search import METHODS, SMALL_N, LocalSearchResult, local_search
from derand.maxcut.plan import bound_seconds, search_only

# The SDP, the rounding and the proof (scipy, numba) are imported where they run: a short
# budget that cannot afford them (derand.maxcut.plan) never pays for importing them.
if TYPE_CHECKING:
    from derand.core import SOSPCertificate
    from derand.maxcut.rounding import RandomResult
    from derand.maxcut.sdp import SDPResult
    from derand.sdp import BackgroundProof, ProvenBound

__all__ = ["GW_RATIO", "ROUNDINGS", "MaxCutResult", "SeedLike", "resolve_seed", "solve_maxcut"]

GW_RATIO = 0.87856
ROUNDINGS = ("derandomized", "random", "best-of-N", "score")
Rounding = Literal["derandomized", "random", "best-of-N", "score"]
MAX_SAMPLES = 10**7
"""Most random hyperplanes ``samples`` may ask for."""
SDP_SHARE, ROUNDING_SHARE, RANDOM_SHARE = 0.08, 0.04, 0.02
"""Shares of ``time_limit`` the SDP sweeps, the derandomized rounding and the random
hyperplanes may use at most; the search gets what is left."""


@dataclass(frozen=True)
class MaxCutResult:
    """Everything one run reports (the JSON fields of ``derand maxcut``).

    ``sdp_value <= SDP <= upper_bound`` and ``final_cut <= max cut <= upper_bound``. When
    ``bound_proven`` is true, ``upper_bound`` is proven by an LDL^T factorisation with a
    rounding-error margin (:mod:`derand.sdp.proof`); otherwise it is the Lanczos bound
    ``upper_bound_lanczos`` and ``bound_note`` says why. ``derandomized_cut`` is the cut of the
    chosen rounding -- for ``derandomized``, the best of the monotone ascent from ``mu = 0`` (the
    GW expectation) and, when the best of ``samples`` random hyperplanes was better, a second
    ascent started at that hyperplane (``rounding_starts``, ``rounding_from_random``), so it is at
    least ``max(gw_expected, random_best)``; ``rounding_certificate`` is the SOSP certificate of
    ``E[cut]`` at the first ascent's last ``mu`` -- and ``guarantee_holds`` whether it is
    ``>= gw_expected`` (guaranteed for
    the derandomized rounding). ``partition`` is +-1 per node in index order; ``nodes`` holds
    the graph's own labels when it had any (networkx input) -- see :meth:`sides` and
    :meth:`assignment`. ``trace`` is ``[(seconds, best cut)]`` over the whole run. ``seed``
    is the integer seed the run used (drawn from fresh entropy for ``seed=None``, or from the
    generator passed): ``solve_maxcut(..., seed=result.seed)`` repeats the run.

    Every cut value and bound is at most the sum of the positive edge weights, which no cut
    exceeds: ``upper_bound`` is that sum when it is the smaller bound (then ``bound_proven``
    is true and ``bound_note`` says so), so a graph without positive weights has
    ``upper_bound = final_cut = 0`` (the empty cut is optimal). ``final_cut >= 0``: the
    empty cut is always available. ``optimality_gap = (upper_bound - final_cut) /
    upper_bound`` (``0`` when ``upper_bound = 0``), in ``[0, 1]``.

    ``skipped`` names the stages a short time limit could not afford
    (:func:`derand.maxcut.plan.search_only`): with ``["sdp", "rounding"]`` the search ran
    alone from random partitions, the bound is the (proven) sum of the positive weights, the
    SDP and rounding fields are NaN (``null`` in JSON) or zero and ``guarantee_holds`` is
    false.
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
    rounding_starts: int
    rounding_from_random: bool
    rounding_certificate: SOSPCertificate | None
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
    seed: int
    partition: list[int] = field(repr=False)
    nodes: list[Any] | None = field(default=None, repr=False)
    trace: list[tuple[float, float]] = field(default_factory=list, repr=False)
    expected_trace: list[float] = field(default_factory=list, repr=False)
    cut_trace: list[float] = field(default_factory=list, repr=False)
    sigma_trace: list[float] = field(default_factory=list, repr=False)
    skipped: list[str] = field(default_factory=list)

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


def _core(graph: Graph) -> tuple[Graph, NDArray[np.int64] | None]:
    """The graph without its zero-weight edges and isolated nodes, and the original index of
    each remaining node (``None`` when nothing was removed).

    Neither changes any cut, so the pipeline solves the core (its SDP, rounding and search
    cost nothing for a node without edges) and the isolated nodes join side ``+1``. A graph
    without edges keeps ``min(n, 2)`` nodes.
    """
    nonzero = graph.w != 0
    if graph.m and nonzero.all():
        degree = np.bincount(np.concatenate([graph.u, graph.v]), minlength=graph.n)
        if degree.all():
            return graph, None
    u, v, w = graph.u[nonzero], graph.v[nonzero], graph.w[nonzero]
    used = np.unique(np.concatenate([u, v]))
    if used.size == 0:
        used = np.arange(min(graph.n, 2), dtype=np.int64)
    if used.size == graph.n:
        return Graph(n=graph.n, u=u, v=v, w=w, name=graph.name), None
    new = np.full(graph.n, -1, np.int64)
    new[used] = np.arange(used.size, dtype=np.int64)
    core = Graph(n=int(used.size), u=new[u], v=new[v], w=w, name=graph.name)
    return core, used


SeedLike = (
    int | np.integer[Any] | np.random.Generator | np.random.RandomState | random.Random | None
)
"""What ``seed`` may be: an int in ``[0, 2**63 - 1]``, ``None`` (fresh entropy), or a numpy
``Generator``, a legacy ``RandomState`` or a ``random.Random`` (an int seed is drawn from it)."""


def resolve_seed(seed: object) -> int:
    """The integer seed a run uses, following networkx's ``seed`` conventions.

    ``None`` draws a fresh seed from the operating system's entropy; an int is checked to lie
    in ``[0, 2**63 - 1]``; a ``numpy.random.Generator``, a legacy ``numpy.random.RandomState``
    or a ``random.Random`` gives one draw from it (advancing it, as networkx's
    ``np_random_state`` / ``py_random_state`` decorated functions do). The result is recorded
    in :attr:`MaxCutResult.seed`, so every run can be repeated with an int seed.

    Returns
    -------
    int

    Examples
    --------
    >>> import numpy as np
    >>> a, b = np.random.default_rng(1), np.random.default_rng(1)
    >>> resolve_seed(7), resolve_seed(a) == resolve_seed(b)
    (7, True)
    """
    if seed is None:
        return secrets.randbits(63)
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, MAX_SEED, endpoint=True))
    if isinstance(seed, np.random.RandomState):
        return int(seed.randint(0, MAX_SEED, dtype=np.int64))
    if isinstance(seed, random.Random):
        return seed.getrandbits(63)
    return check_seed(seed)


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
    seed: SeedLike = 0,
    rank: int | None = None,
    score_steps: int = 5000,
    search_moves: int | None = None,
    prove: bool = True,
    callback: Callable[[str, int, int], None] | None = None,
    progress: Callable[[float, float, float], None] | None = None,
    weight: str | None = "weight",
) -> MaxCutResult:
    """Solve Max-Cut on ``graph``: SDP, proven bound, derandomized rounding, local search.

    Parameters
    ----------
    graph : Graph, networkx graph, scipy.sparse matrix, ndarray or edge list
        Directed graphs and non-symmetric matrices are symmetrised and repeated edges summed
        (each with a warning); node labels are kept (:meth:`MaxCutResult.sides`). An edge
        list is a list of ``(u, v)``, ``(u, v, w)`` or ``(u, v, {attrs})``
        (:func:`derand.maxcut.convert.as_graph`). Isolated nodes and zero-weight edges change
        no cut: they are set aside before the SDP and cost nothing; isolated nodes end on
        side ``+1``.
    rounding : {"derandomized", "random", "best-of-N", "score"}
        ``derandomized`` (default): the paper's exact-gradient ascent, whose cut is at least
        the GW expectation; ``random``: one hyperplane; ``best-of-N``: the best of
        ``samples``; ``score``: the authors' Monte Carlo estimator.
    samples : int
        Random hyperplanes for ``random_best`` (always computed) and ``best-of-N``.
    local : bool
        Polish the rounded partition (reported separately as ``final_cut``).
    search : {"sa", "bls", "tabu", "greedy", "rank2"}
        The polishing method (:func:`derand.maxcut.local_search.local_search`).
    threads : int
        Independent polishing runs executed at once; run 0 starts from the rounding, run 1
        from the best random hyperplane, further runs from single random hyperplanes.
    time_limit : float, optional
        Seconds for the whole pipeline: the SDP sweeps use at most 8 %, the random
        hyperplanes 2 %, the derandomized rounding 4 %,
        the search the rest. Without it each stage runs to its default budget, and the result
        is deterministic for a fixed ``seed`` and ``threads``. A limit too short for the
        SDP's fixed costs (imports, kernel loading, its Lanczos bound; estimated by
        :func:`derand.maxcut.plan.search_only`) runs the search alone, from random
        partitions, with the proven positive-weight bound (:attr:`MaxCutResult.skipped`).
    exact : bool
        Also compute the exact optimum (at most 26 nodes with edges).
    seed : int, None, numpy Generator, RandomState or random.Random
        Seed of the SDP start, the hyperplanes and the search (:func:`resolve_seed`):
        ``None`` draws a fresh one; the seed used is :attr:`MaxCutResult.seed`.
    rank : int, optional
        SDP rank (default ``~sqrt(2 n)``, at most 24; at most ``n``, and capped at the number
        of nodes with edges).
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
    weight : str or None
        The edge attribute holding the weight (networkx graphs and attribute dictionaries of
        edge lists), default ``"weight"`` (a missing attribute counts 1); ``None`` solves the
        unweighted problem (every edge 1, whatever the input), as networkx's ``weight=None``.

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
    graph, labels = as_graph(graph, weight=weight)
    samples = check_count(samples, "samples", high=MAX_SAMPLES)
    threads = check_count(threads, "threads", high=256)
    seed = resolve_seed(seed)
    score_steps = check_count(score_steps, "score_steps", high=10**8)
    if time_limit is not None:
        time_limit = check_finite(time_limit, "time_limit", low=0.0, high=1e9)
    original = graph
    graph, kept = _core(graph)
    if rank is not None:
        rank = min(check_count(rank, "rank", high=original.n), graph.n)
    if exact and graph.n > MAX_EXACT_N:
        raise InputError(f"exact needs at most {MAX_EXACT_N} nodes with edges, got {graph.n}")
    e = _scale_of(graph)
    run = _Run(_scaled(graph, e), e, time_limit, callback, progress)
    graph = run.graph
    if time_limit is not None and local and not exact and graph.m:
        skipped = search_only(graph.n, graph.m, time_limit - run.elapsed())
        if skipped:
            return _search_only(run, original, kept, labels, rounding, search, threads,
                                search_moves, seed, skipped)  # fmt: skip
    from derand.maxcut.rounding import best_of_random
    from derand.maxcut.sdp import coupling, solve_sdp
    from derand.sdp import BackgroundProof, dual_vector

    if time_limit is not None and graph.n >= SMALL_N:
        # load (or, with a cold cache, compile) the kernels on the clock but before the
        # budget is shared out: the stages then plan with the time really left
        from derand.maxcut.warmup import warm_up

        run.t_warm = warm_up()

    timed_proof = prove and time_limit is not None and graph.m > 0
    sdp = solve_sdp(
        graph, rank=rank, seed=seed, time_limit=run.share(SDP_SHARE), callback=run.stage("sdp"),
        bound_seconds=bound_seconds(time_limit, run.elapsed(), timed_proof),
    )  # fmt: skip
    bound = _Bound(sdp.upper_bound, False, "not attempted (prove=False)", sdp.upper_bound)
    if sdp.bound_method == "gershgorin":
        bound.note = _GERSHGORIN
    interrupted = sdp.interrupted
    if graph.m == 0:
        bound = _Bound(0.0, True, "no edges: every cut is 0", sdp.upper_bound)
    elif timed_proof and not interrupted:
        # the Lanczos eigenvalue (when the SDP stage left it, bound_seconds) and the proof
        # run on a second core (a forked process) while the rounding and the (single-threaded)
        # search run on the first; waited for until the time limit at most
        C = coupling(graph)
        y = dual_vector(C, sdp.V)
        lam = None if sdp.bound_method == "gershgorin" else sdp.lambda_max
        bound.background = BackgroundProof(C, y, lam)
        bound.y_sum = math.fsum(y.tolist())
        bound.note = (
            "the LDL^T proof did not finish within the time limit: Lanczos bound, not proven"
        )
    elif prove and time_limit is not None:
        bound.note = "interrupted before the proof"
    elif prove:
        interrupted = _prove_inline(graph, sdp, bound) or interrupted
    run.bound = bound.capped(run.positive)
    t_sdp = run.elapsed() - run.t_warm

    t1 = time.perf_counter()
    rnd = best_of_random(
        graph, sdp.V, samples if not interrupted else 1, seed=seed + 1,
        time_limit=run.share(RANDOM_SHARE),
    )  # fmt: skip
    rounded = _rounding_stage(run, sdp.V, rnd, rounding, seed, score_steps, interrupted)
    interrupted = interrupted or rounded.interrupted
    run.report(rounded.cut)
    t_round = time.perf_counter() - t1

    t2 = time.perf_counter()
    final_cut, final_partition, moves = rounded.cut, rounded.partition, 0
    if local and not interrupted and graph.m:
        ls = _search_stage(run, sdp.V, rounded.partition, rnd, search, threads, search_moves, seed)
        interrupted = interrupted or ls.interrupted
        moves = ls.moves
        if ls.cut > final_cut:
            final_cut, final_partition = ls.cut, ls.partition
        run.report_if_better(final_cut)
    t_ls = time.perf_counter() - t2

    t3 = time.perf_counter()
    exact_cut: float | None = None
    if exact and not interrupted:
        exact_cut = run.up(exact_maxcut(graph, callback=run.stage("exact")).cut)
    t_exact = time.perf_counter() - t3
    lambda_max = sdp.lambda_max
    if bound.background is not None:  # the proof, waited for until the time limit at most
        wait = 0.0 if interrupted else (time_limit or 0.0) - run.elapsed()
        interrupted = _finish_background(graph, sdp, bound, wait) or interrupted
        lambda_max = bound.lambda_max if bound.lambda_max is not None else lambda_max
    ub = run.up_cut(bound.capped(run.positive).value)
    final_partition, final = _on_original(original, kept, final_partition, run)
    gw = rounded.gw
    return MaxCutResult(
        name=original.name,
        n=original.n,
        m=original.m,
        rounding=rounding,
        sdp_value=run.up_cut(sdp.value),
        upper_bound=ub,
        bound_proven=bound.proven,
        upper_bound_lanczos=run.up_cut(bound.lanczos),
        bound_note=bound.note,
        lambda_max=run.up(lambda_max),
        sdp_rank=int(sdp.V.shape[1]),
        sdp_sweeps=sdp.sweeps,
        gw_expected=run.up_cut(gw),
        gw_ratio_bound=run.up_cut(GW_RATIO * sdp.value) if bool(np.all(graph.w >= 0)) else None,
        random_best=run.up_cut(rnd.best_cut),
        random_mean=run.up_cut(rnd.mean_cut),
        random_samples=rnd.samples,
        derandomized_cut=run.up_cut(rounded.cut),
        guarantee_holds=bool(rounded.cut >= gw - 1e-9 * max(1.0, abs(gw))),
        rounding_starts=rounded.starts,
        rounding_from_random=rounded.from_random,
        rounding_certificate=rounded.certificate,
        final_expected=None if rounded.expected is None else run.up_cut(rounded.expected),
        iterations=rounded.iterations,
        final_cut=final,
        local_search=local,
        search=search,
        search_moves=moves,
        threads=threads,
        time_limit=time_limit,
        interrupted=interrupted,
        exact_cut=exact_cut,
        optimality_gap=(ub - final) / ub if ub > 0 else 0.0,
        seconds={
            "sdp": t_sdp,
            "rounding": t_round,
            "local_search": t_ls,
            "exact": t_exact,
            "warm_up": run.t_warm,
            "total": run.elapsed(),
        },
        seed=seed,
        partition=[int(x) for x in final_partition],
        nodes=labels,
        trace=run.trace,
        expected_trace=[run.up_cut(x) for x in rounded.traces[0]],
        cut_trace=[run.up_cut(x) for x in rounded.traces[1]],
        sigma_trace=rounded.traces[2],
    )


class _Run:
    """What the stages share: the scaled graph, the clock and budget, the trace, callbacks."""

    def __init__(
        self,
        graph: Graph,
        exponent: int,
        time_limit: float | None,
        callback: Callable[[str, int, int], None] | None,
        progress: Callable[[float, float, float], None] | None,
    ) -> None:
        self.t0 = time.perf_counter()
        self.graph = graph
        self.exponent = exponent
        self.time_limit = time_limit
        self.callback = callback
        self.progress = progress
        self.t_warm = 0.0
        self.trace: list[tuple[float, float]] = []
        self.positive = float(np.sum(graph.w[graph.w > 0]))  # no cut exceeds it; finite
        self.bound: _Bound | None = None

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def up(self, x: float) -> float:
        """A value of the scaled graph in the input's units (the scaling is a power of 2)."""
        try:
            return math.ldexp(x, self.exponent)
        except OverflowError:
            raise InputError(
                "a result exceeds the floating-point range: divide the edge weights by 2**10"
            ) from None

    def up_cut(self, x: float) -> float:
        """A cut value or bound, at most the sum of positive weights (rounding aside)."""
        return self.up(min(x, self.positive))

    def stage(self, name: str) -> Callable[[int, int], None] | None:
        if self.callback is None:
            return None
        cb = self.callback
        return lambda done, total: cb(name, done, total)

    def share(self, fraction: float) -> float | None:
        """Seconds a stage may use: ``fraction`` of the budget after the warm-up, at most
        what is left."""
        if self.time_limit is None:
            return None
        left = self.time_limit - self.elapsed()
        return max(0.0, min(fraction * (self.time_limit - self.t_warm), left))

    def report(self, cut: float) -> None:
        self.trace.append((self.elapsed(), self.up_cut(cut)))
        if self.progress is not None:
            bound = math.inf if self.bound is None else self.bound.value
            self.progress(self.up_cut(cut), self.up_cut(bound), self.elapsed())

    def report_if_better(self, cut: float) -> None:
        """:meth:`report` ``cut`` when it is above the trace's last value (or the trace is
        empty)."""
        if not self.trace or self.up(cut) > self.trace[-1][1]:
            self.report(cut)

    def search_progress(self, best: float, _seconds: float, fraction: float) -> None:
        """The local search's callback: a new best cut enters the trace; the bar moves."""
        self.report_if_better(best)
        cb = self.stage("search")
        if cb is not None:
            cb(int(1000 * fraction), 1000)


@dataclass
class _Bound:
    """The upper bound as it stands (scaled units): Lanczos, proven, or the positive weight sum."""

    value: float
    proven: bool
    note: str
    lanczos: float
    background: BackgroundProof | None = None
    y_sum: float = 0.0
    lambda_max: float | None = None

    def accept(self, graph: Graph, pb: ProvenBound, sdp_value: float) -> None:
        """Take a proof of ``<C, X>``: the cut's bound is ``W/2`` plus it, rounded upwards."""
        self.proven, self.note = pb.proven, pb.note
        if pb.proven:
            from derand.sdp import upper_sum

            half = math.fsum(graph.w.tolist()) / 2.0
            self.value = max(upper_sum(half, pb.upper_bound), sdp_value)

    def capped(self, positive: float) -> _Bound:
        """No cut exceeds the sum of the positive weights: it is a proven bound when smaller."""
        if positive < self.value or (positive == self.value and not self.proven):
            self.value, self.proven = positive, True
            self.note = (
                "the sum of the positive edge weights (no cut exceeds it; below the SDP bound)"
            )
        return self


def _prove_inline(graph: Graph, sdp: SDPResult, bound: _Bound) -> bool:
    """The LDL^T proof now (no time limit); returns whether Ctrl-C stopped it."""
    from derand.maxcut.sdp import coupling
    from derand.sdp import dual_vector, prove_bound

    try:
        C = coupling(graph)
        pb = prove_bound(C, dual_vector(C, sdp.V), sdp.lambda_max)
    except KeyboardInterrupt:
        bound.note = "interrupted before the proof"
        return True
    bound.accept(graph, pb, sdp.value)
    return False


def _finish_background(graph: Graph, sdp: SDPResult, bound: _Bound, wait: float) -> bool:
    """Wait for the background proof at most ``wait`` seconds; returns whether Ctrl-C came."""
    assert bound.background is not None
    pb: ProvenBound | None = None
    try:
        pb = bound.background.wait(wait)
    except KeyboardInterrupt:
        bound.background.close()
    found = bound.background.eigenvalue()
    if found is not None:  # the child's Lanczos bound (it replaces Gershgorin's)
        lam, method = found
        half = float(np.sum(graph.w)) / 2.0
        bound.lambda_max = lam
        lanczos = max(half + bound.y_sum + graph.n * max(0.0, lam), sdp.value)
        bound.lanczos = min(bound.lanczos, lanczos) if method == "gershgorin" else lanczos
    # the bound as it stands without the proof (the caller caps it by the positive weights)
    bound.value, bound.proven = bound.lanczos, False
    if pb is None:
        bound.note = "interrupted before the proof"
        return True
    bound.accept(graph, pb, sdp.value)
    if not pb.proven and found is None and sdp.bound_method == "gershgorin":
        bound.note = _GERSHGORIN
    return False


_GERSHGORIN = (
    "the Lanczos eigenvalue did not finish within the time limit: the dual bound with "
    "Gershgorin's eigenvalue bound (valid, loose), not proven"
)


@dataclass
class _Rounded:
    """The rounding stage's outcome (scaled units)."""

    cut: float
    partition: NDArray[np.int8]
    gw: float
    expected: float | None = None
    iterations: int = 0
    traces: tuple[list[float], list[float], list[float]] = ([], [], [])
    certificate: SOSPCertificate | None = None
    starts: int = 1
    from_random: bool = False
    interrupted: bool = False


def _rounding_stage(
    run: _Run, V: NDArray[np.float64], rnd: RandomResult, rounding: str, seed: int,
    score_steps: int, interrupted: bool,
) -> _Rounded:  # fmt: skip
    """The chosen rounding of ``V``; Ctrl-C (or an interrupted SDP) falls back to the best of
    the random hyperplanes."""
    from derand.maxcut.rounding import (
        best_of_random,
        derandomized_rounding,
        gw_expectation,
        score_function_rounding,
    )

    graph = run.graph
    out = _Rounded(rnd.best_cut, rnd.partition, gw_expectation(graph, V))
    try:
        if interrupted:
            raise KeyboardInterrupt
        if rounding == "derandomized":
            cb = run.stage("rounding")
            progress_cb = None if cb is None else (lambda it: cb(it.iteration, it.max_iter))
            d = derandomized_rounding(
                graph, V, seed=seed, time_limit=run.share(ROUNDING_SHARE), callback=progress_cb,
                certify=True,
            )  # fmt: skip
            out.cut, out.partition, out.expected, out.iterations = (
                d.value, d.solution, d.expected, d.iterations,
            )  # fmt: skip
            out.traces = (d.history.expected, d.history.rounded, d.history.randomness)
            out.certificate = d.certificate
            if d.status == "interrupted":  # the engine kept the best cut; the run stops here
                out.interrupted = True
                if rnd.best_cut > out.cut:
                    out.cut, out.partition = rnd.best_cut, rnd.partition
            elif rnd.best_cut > out.cut and np.any(rnd.direction):
                # the second start: the best random hyperplane at sigma = 1e-3, where E[cut]
                # is its cut; the monotone ascent from there ends at least as high
                x0 = rnd.direction * (1e3 / float(np.linalg.norm(rnd.direction)))
                second = derandomized_rounding(
                    graph, V, seed=seed, time_limit=run.share(ROUNDING_SHARE), x0=x0
                )
                out.starts = 2
                out.interrupted = second.status == "interrupted"
                if second.value > out.cut:
                    out.cut, out.partition, out.from_random = second.value, second.solution, True
        elif rounding == "score":
            sc = score_function_rounding(
                graph, V, steps=score_steps, seed=seed, callback=run.stage("rounding")
            )
            out.cut, out.partition, out.iterations = sc.cut, sc.partition, sc.steps
            out.traces = (sc.expected_trace, sc.cut_trace, sc.sigma_trace)
            out.interrupted = sc.interrupted
        elif rounding == "random":
            one = best_of_random(graph, V, 1, seed=seed + 2)
            out.cut, out.partition = one.best_cut, one.partition
    except KeyboardInterrupt:
        out = _Rounded(rnd.best_cut, rnd.partition, out.gw, interrupted=True)
    if not (math.isfinite(out.gw) and math.isfinite(out.cut)):
        raise InputError("the rounding produced non-finite numbers (weights out of range?)")
    return out


def _search_stage(
    run: _Run, V: NDArray[np.float64], partition: NDArray[np.int8], rnd: RandomResult,
    search: str, threads: int, search_moves: int | None, seed: int,
) -> LocalSearchResult:  # fmt: skip
    """The local search from the rounding, the best random hyperplane and further single
    hyperplanes (one per thread), for the time left."""
    from derand.maxcut.rounding import best_of_random

    graph = run.graph
    starts = [partition, rnd.partition]
    starts += [
        best_of_random(graph, V, 1, seed=seed + 100 + k).partition for k in range(2, threads)
    ]
    left = None if run.time_limit is None else max(0.0, run.time_limit - run.elapsed())

    return local_search(
        graph, np.stack(starts[: max(1, threads)]), method=search,  # type: ignore[arg-type]
        threads=threads, max_moves=search_moves, time_limit=left, seed=seed,
        callback=run.search_progress,
    )  # fmt: skip


def _search_only(
    run: _Run, original: Graph, kept: NDArray[np.int64] | None, labels: list[Any] | None,
    rounding: str, search: str, threads: int, search_moves: int | None, seed: int,
    skipped: tuple[str, ...],
) -> MaxCutResult:  # fmt: skip
    """A budget too short for the SDP (:func:`derand.maxcut.plan.search_only`): the search
    from random partitions (run ``k`` from the seed ``[seed, k]``) for the whole time left,
    with the proven bound no cut exceeds, the sum of the positive edge weights.

    The fields of the skipped stages are NaN (``null`` in JSON) or empty, ``skipped`` names
    the stages and ``guarantee_holds`` is false (no rounding ran)."""
    graph = run.graph
    t0 = run.elapsed()
    starts = np.stack([
        np.where(np.random.default_rng([seed, k]).random(graph.n) < 0.5, 1, -1).astype(np.int8)
        for k in range(max(1, threads))
    ])  # fmt: skip
    run.bound = _Bound(
        run.positive, True,
        "the sum of the positive edge weights (no cut exceeds it); the SDP was skipped: "
        "the time limit could not afford it", math.nan,
    )  # fmt: skip
    run.report(float(max(graph.cut_value(x) for x in starts)))

    left = max(0.0, (run.time_limit or 0.0) - run.elapsed())
    ls = local_search(
        graph, starts, method=search, threads=threads,  # type: ignore[arg-type]
        max_moves=search_moves, time_limit=left, seed=seed, callback=run.search_progress,
    )  # fmt: skip
    final_partition = ls.partition
    run.report_if_better(ls.cut)
    t_ls = run.elapsed() - t0
    final_partition, final = _on_original(original, kept, final_partition, run)
    ub = run.up_cut(run.positive)
    nan = math.nan
    seconds = {"sdp": 0.0, "rounding": 0.0, "local_search": t_ls, "exact": 0.0}
    seconds.update(warm_up=0.0, total=run.elapsed())
    return MaxCutResult(
        name=original.name, n=original.n, m=original.m, rounding=rounding, sdp_value=nan,
        upper_bound=ub, bound_proven=True, upper_bound_lanczos=nan, bound_note=run.bound.note,
        lambda_max=nan, sdp_rank=0, sdp_sweeps=0, gw_expected=nan, gw_ratio_bound=None,
        random_best=nan, random_mean=nan, random_samples=0, derandomized_cut=nan,
        guarantee_holds=False, rounding_starts=0, rounding_from_random=False,
        rounding_certificate=None, final_expected=None, iterations=0, final_cut=final,
        local_search=True, search=search, search_moves=ls.moves, threads=threads,
        time_limit=run.time_limit, interrupted=ls.interrupted, exact_cut=None,
        optimality_gap=(ub - final) / ub if ub > 0 else 0.0, seconds=seconds, seed=seed,
        partition=[int(x) for x in final_partition], nodes=labels, trace=run.trace,
        skipped=list(skipped),
    )  # fmt: skip


def _on_original(
    original: Graph, kept: NDArray[np.int64] | None, partition: NDArray[np.int8], run: _Run
) -> tuple[NDArray[np.int8], float]:
    """The partition of the graph as given (isolated nodes dropped before the solve on side
    +1) and its cut; the empty cut (weight 0) instead when that is better."""
    if kept is not None:
        whole = np.ones(original.n, np.int8)
        whole[kept] = partition
        partition = whole
    final = original.cut_value(partition)
    if final < 0:
        partition = np.ones(original.n, np.int8)
        final = 0.0
        run.trace.append((run.elapsed(), 0.0))
    return partition, float(final)
