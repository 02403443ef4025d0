"""The CSP pipeline: SDP with a truth vector -> proven bound -> derandomized threshold
rounding -> best-of-N baseline -> compiled local search. Beyond the paper.

The problem's objective ``f`` (maximised) is homogenised with a truth spin ``s_t`` (index
``n``); the SDP over ``n + 1`` unit vectors bounds ``max f``. Rounding a random hyperplane and
multiplying by the truth spin's sign is, by rotation, the same as the threshold rounding
``s_i = sign(u_i . z + g0 c_i)`` with ``u_i = v_i - c_i v_t``, ``c_i = v_i . v_t`` and
``g0 ~ |N(0, 1)|`` independent of ``z``: the Goemans-Williamson expectation is the average
over ``g0`` of the threshold rounding's expectation. The engine's derandomized ascent starts
from the best of a few ``g0`` and keeps the thresholds as free variables (the bias the lemma
keeps); its deterministic output is checked against the GW expectation on every run
(``guarantee_holds``). The search is the Max-Cut search on ``n + 1`` nodes
(:mod:`derand.csp.reduction`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from derand.csp.base import Problem, Sense
from derand.csp.convert import as_problem, objective, to_value
from derand.csp.plan import absolute_bound, search_only, time_matvec
from derand.csp.search import compiled, prefer_scan, tabu_search
from derand.errors import InputError
from derand.limits import check_count, check_finite, check_seed

__all__ = ["GW_RATIOS", "SEARCHES", "CSPResult", "solve_csp"]

SEARCHES = ("sa", "bls", "tabu", "greedy", "rank2")
"""The ``search`` choices: those of :func:`derand.maxcut.local_search.local_search` (not
imported here: a dense problem's search does not need the Max-Cut package)."""

INLINE_PROOF_N = 128
"""Up to this many variables (truth vector included) the bound is proven in this process
under a time limit too: the factorisation takes milliseconds, less than starting the
background process (:class:`derand.sdp.BackgroundProof`) and importing multiprocessing."""
SDP_SHARE, ROUNDING_SHARE, BASELINE_SHARE = 0.05, 0.12, 0.03
"""Shares of ``time_limit`` the SDP's sweeps, the rounding and the best-of-N baseline may use
at most; the search gets the rest. The SDP's share is small because the sweeps' value matters
little to the final answer (the search decides it) while the dual bound's Lanczos, which runs
after the sweeps and is not timed, gets slower as the sweeps converge (the top eigenvalues of
``C - Diag(y)`` cluster at 0)."""
RESERVE = 0.04
"""Share of ``time_limit`` (at most 0.3 s) kept after the search for the exact evaluation of
the answer and the result, so that the whole pipeline ends within the limit (``derand csp``
also counts its imports and keeps 4 % for writing the output and the interpreter's exit)."""
ANNEAL_SHARE = 0.6
"""Under a time limit, the warm-started anneal of the Max-Cut search (sparse problems) gets
this share of the search's time; Breakout Local Search from its best partition gets the rest.
Set on MAX-DICUT digraphs of out-degree 10 at n = 2500 and 5000, seeds 400-404 (not those of
the benchmarks), 10-s runs, load 5-9: against dwave-samplers SA's values of the same
instances, >= on 9/10 with (0.6, 0.04) (anneal share, rounding share), 8/10 with (0.4, 0.04)
and (0.6, 0.12), 7/10 with (1.0, 0.04) and 6/10 with the former (1.0, 0.12); the split also
reached its final value earlier (5.7-8.8 s against 8.6-9.9 s). The anneal alone kept improving
until its cold end, Breakout Local Search alone stalled after 3-5 s."""
SPARSE_ROUNDING_SHARE = 0.04
"""The rounding's share of ``time_limit`` when the search is the Max-Cut one (sparse problems,
instead of :data:`ROUNDING_SHARE`): the warm-started anneal reheats the start until 30 % of its
uphill moves are accepted, so the search's time counts more than the rounding's last steps
(see :data:`ANNEAL_SHARE`); the derandomized assignment is then often the ascent's start."""
RESTART_MIN = 0.05
"""Under a time limit, a search that ends with more than this share of the limit left is
followed by Breakout Local Search from the best partition, until the limit."""
BASELINE_CHUNK = 100
"""Random roundings per call of the baseline; under a time limit it stops between calls."""
BASELINE_FIRST = 10
"""Under a time limit the first call draws this many (it measures the cost of a rounding), and
the later calls are sized to the share left."""
MAX_SAMPLES = 10**7
GW_RATIOS = {"max2sat": 0.87856, "dicut": 0.79607}
"""Goemans-Williamson (1995): for nonnegative weights a random hyperplane's expectation is at
least this fraction of the SDP objective of the vectors (MAX-2-SAT, MAX-DICUT). No ratio holds
for QUBO / Ising with mixed signs."""
SETUP_PASSES = 5
"""Under a time limit the rounding problem is not even set up when its share is shorter than
this many passes over the pairs (timed on the GW expectation's pass): its set-up, the
quadrature tables and two evaluations. The answer is then ``sign(c)``, the limit of the
threshold rounding ``t = g0 c`` as ``sigma -> 0``, and ``rounding_status`` says so."""
RETIME_SECONDS = 0.02
"""A GW pass shorter than this that would skip the rounding is timed once more (the shorter
time counts): on a busy machine one preemption can take longer than the pass of a small
problem."""
STEP_EVALUATIONS = 2
"""Under a time limit the ascent is skipped (the start's rounding is the answer) when its share
has less left than this many evaluations of the expectation (one L-BFGS step with its line
search): on the largest problems the search makes better use of the time."""
G0_GRID = (3.5, 2.5, 1.73, 1.15, 0.67, 0.32)
"""Threshold scales ``g0`` tried at the start, in this order: the midpoint quantiles of
``|N(0, 1)|`` at 11/12 .. 3/12 and two larger ones (large ``g0`` lean on the truth vector:
``sign(c)`` as ``g0 -> inf``). Under a time limit another one is tried only while it fits in a
third of the rounding's share (the first one always is)."""
PLATEAU_STEPS, PLATEAU_TOL = 12, 1e-6
"""The ascent stops (status ``"plateau"``) once the best deterministic assignment seen is at
least the current expectation and the expectation rose by at most ``PLATEAU_TOL`` (relative)
over the last ``PLATEAU_STEPS`` steps: the rest of the way to ``sigma = 1e-3`` only crawls
(n = 200, every family: the assignment was final by step 4-15 of about 50, the expectation
within 1e-3 of it, while ``sigma`` fell from 0.017 to 0.011 in the last 30 steps). The
guarantee is unchanged: the answer is at least the expectation at the stop, which is at least
the start's."""
SA_VISITS = 2e7
"""Default annealing budget without a time limit, in edge visits (``sweeps x (2 m + n)``)."""


def default_sweeps(m: int, n: int) -> int:
    """Sweeps of the default anneal: :data:`SA_VISITS` edge visits, between 1000 and 20000
    (the Max-Cut default aims at 1e9 visits, far more than the problems here need).

    Returns
    -------
    int
    """
    return int(np.clip(SA_VISITS / (2 * m + n), 1000, 20000))


@dataclass(frozen=True)
class CSPResult:
    """Everything one run reports; values are in the problem's own terms and sense.

    ``final_value`` is the best assignment's value (recomputed from the problem's data) and
    ``bound`` a bound on the optimum (``>=`` it for ``max``, ``<=`` for ``min``), proven when
    ``bound_proven``; ``gap = (bound - value) / |bound|`` (sign-adjusted for ``min``) is the
    certified optimality gap. ``search_engine`` names the search that ran: ``"tabu-scan"``
    (the linear-scan tabu search of :mod:`derand.csp.search`, for dense problems),
    ``"maxcut-sa"`` etc. (the Max-Cut search on ``n + 1`` nodes) or ``"none"``.
    ``derandomized_value`` is the rounding's value and
    ``guarantee_holds`` whether it is at least as good as ``gw_expected``, the expectation of a
    random hyperplane on the same SDP vectors. ``assignment`` maps the user's labels to bools
    (MAX-2-SAT: true; MAX-DICUT: in the source side), 0/1 (QUBO) or +-1 (Ising); ``solution``
    holds the spins in index order. ``trace`` is ``[(seconds, best value)]``. ``skipped``
    names the stages a time limit could not afford: ``["rounding"]`` (the answer before the
    search is then ``sign(c)``, see :data:`SETUP_PASSES`) or ``["sdp", "rounding"]``
    (:mod:`derand.csp.plan`: the search ran alone from random assignments, the bound is the
    sum of the absolute coefficients, proven, and the SDP and rounding fields are NaN or
    empty); ``guarantee_holds`` is then false, since no rounding ran.
    """

    kind: str
    name: str
    n: int
    terms: int
    sense: str
    final_value: float
    bound: float
    bound_proven: bool
    bound_lanczos: float
    bound_note: str
    gap: float
    gap_absolute: float
    sdp_value: float
    sdp_rank: int
    sdp_sweeps: int
    gw_expected: float
    gw_ratio: float | None
    random_best: float
    random_mean: float
    random_samples: int
    derandomized_value: float
    derandomized_expected: float | None
    guarantee_holds: bool
    g0: float
    g0_expected: list[float]
    rounding_status: str
    iterations: int
    local_search: bool
    search: str
    search_moves: int
    threads: int
    time_limit: float | None
    interrupted: bool
    seconds: dict[str, float]
    seed: int
    parameters: dict[str, Any]
    versions: dict[str, str]
    solution: list[int] = field(repr=False)
    assignment: dict[Hashable, Any] = field(repr=False)
    details: dict[str, Any] = field(repr=False)
    trace: list[tuple[float, float]] = field(default_factory=list, repr=False)
    search_engine: str = "none"
    skipped: list[str] = field(default_factory=list)


def solve_csp(
    problem: Any,
    *,
    sense: Sense | None = None,
    time_limit: float | None = None,
    threads: int = 1,
    seed: int = 0,
    samples: int = 1000,
    local: bool = True,
    prove: bool = True,
    search: str = "sa",
    search_moves: int | None = None,
    rank: int | None = None,
    max_iter: int = 300,
    callback: Callable[[str, int, int], None] | None = None,
    progress: Callable[[float, float, float], None] | None = None,
) -> CSPResult:
    """Solve a MAX-2-SAT, MAX-DICUT, QUBO or Ising problem with a certified gap.

    Parameters
    ----------
    problem : MaxTwoSat, DiCut, QUBO, Ising, dimod BQM, networkx DiGraph or dict
        See :func:`derand.csp.convert.as_problem`; a ``{(i, j): q}`` dict needs ``sense``.
    sense : {"max", "min"}, optional
        Only for a QUBO dict.
    time_limit : float, optional
        Seconds for the whole pipeline: the SDP's sweeps at most 5 %, the rounding 12 % (4 %
        before the Max-Cut search of a sparse problem, whose anneal then gets 60 % of the
        search's time and Breakout Local Search the rest), the baseline 3 %, the search until
        4 % (at most 0.3 s) before the limit, the proof beside them. Without it every stage
        runs its default budget and the result is deterministic for a fixed ``seed`` and
        ``threads``.
    threads : int
        Search runs at once: run 0 starts from the derandomized assignment, run 1 from the
        best random rounding, further runs from single random roundings.
    seed : int
        Seed of the SDP start, the random roundings and the search.
    samples : int
        Random hyperplanes of the best-of-N baseline.
    local : bool
        Polish with the compiled search (``final_value`` may then beat the rounding).
    prove : bool
        Prove the bound by an LDL^T factorisation (else the Lanczos bound, not proven).
    search : {"sa", "bls", "tabu", "greedy"}
        ``"sa"`` (the default) picks by density: on a dense problem (:func:`~derand.csp.search.
        prefer_scan`) the linear-scan tabu search with restarts (:mod:`derand.csp.search`),
        otherwise warm-started annealing then Breakout Local Search on the Max-Cut graph of
        ``n + 1`` nodes (:func:`derand.maxcut.local_search.local_search`). ``"tabu"`` is always
        the linear-scan tabu search; ``"bls"`` and ``"greedy"`` the Max-Cut ones.
    search_moves : int, optional
        Budget of each search run (sweeps for the anneal, flips otherwise); default
        :func:`default_sweeps` for the anneal and :func:`default_tabu_moves` for the tabu
        search without a time limit, else the Max-Cut default.
    rank : int, optional
        SDP rank (default by size).
    max_iter : int
        Iterations of the derandomized ascent.
    callback : callable, optional
        ``callback(stage, done, total)`` for progress bars.
    progress : callable, optional
        ``progress(best_value, bound, seconds)`` when the best value changes. Raising
        KeyboardInterrupt in either callback (or Ctrl-C) stops the run with the best so far
        and ``interrupted = True``.

    Returns
    -------
    CSPResult
    """
    t0 = time.perf_counter()  # the imports below count against time_limit too
    from derand import __version__
    from derand.core import MonotoneLBFGS, Stop, derandomize
    from derand.results import provenance
    from derand.rounding import HyperplaneRounding, best_of_random, threshold_form
    from derand.sdp import (
        BackgroundProof,
        ProvenBound,
        dual_vector,
        prove_bound,
        solve_sdp,
        upper_sum,
    )

    prob: Problem = as_problem(problem, sense=sense)
    if search not in SEARCHES:
        raise InputError(f"search must be one of {SEARCHES}, got {search!r}")
    threads = check_count(threads, "threads", high=256)
    seed = check_seed(seed)
    samples = check_count(samples, "samples", high=MAX_SAMPLES)
    max_iter = check_count(max_iter, "max_iter", high=10**6)
    if time_limit is not None:
        time_limit = check_finite(time_limit, "time_limit", low=0.0, high=1e9)
    parameters = {
        "time_limit": time_limit, "threads": threads, "seed": seed, "samples": samples,
        "local": local, "prove": prove, "search": search, "search_moves": search_moves,
        "rank": rank, "max_iter": max_iter,
    }  # fmt: skip
    # read now, not after the search: on a 1-s budget the versions' metadata is a cost to plan
    versions = {**provenance(), "derand": __version__}
    obj = objective(prob)
    n = obj.n
    # the search: the linear-scan tabu search on dense problems, else the Max-Cut one
    scan = search == "tabu" or (search == "sa" and prefer_scan(n, obj.m))
    sgn = 1.0 if prob.sense == "max" else -1.0
    pairs = _pairs_matrix(obj)
    fast_values = _values(obj, pairs)

    def value(f: float) -> float:
        return to_value(prob.sense, f)

    if time_limit is not None and local and obj.m:
        # a budget too short for the SDP's fixed cost: the search alone (derand.csp.plan)
        seconds_left = time_limit - (time.perf_counter() - t0)
        # the compiled tabu search would import numba anyway
        shared = scan and compiled(n, seconds_left)
        if search_only(n + 1, time_matvec(pairs), seconds_left, numba_shared=shared):
            return _search_only(
                prob, obj, scan, search, threads, search_moves, time_limit, t0, seed, sgn,
                value, callback, progress, parameters, versions,
            )  # fmt: skip
    hom = obj.homogenized()
    C = hom.coupling()

    def stage(name: str) -> Callable[[int, int], None] | None:
        if callback is None:
            return None
        cb = callback
        return lambda done, total: cb(name, done, total)

    def share(fraction: float) -> float | None:
        if time_limit is None:
            return None
        return max(0.0, min(fraction * time_limit, time_limit - (time.perf_counter() - t0)))

    trace: list[tuple[float, float]] = []
    interrupted = False
    if callback is not None:
        callback("sdp", 0, 1)
    if not np.all(np.isfinite(C.data)):
        raise InputError("the coefficients overflow (not finite once scaled)")
    # C is square, symmetric and zero-diagonal by construction (QuadraticObjective.coupling):
    # solve_sdp's own check of that (two sparse transposes and a difference) is skipped
    sdp = solve_sdp(C, rank=rank, seed=seed, time_limit=share(SDP_SHARE), checked=True)
    interrupted = bool(sdp.interrupted)
    V = sdp.V
    f_lanczos = hom.constant + float(sdp.upper_bound)
    f_bound, proven, note = f_lanczos, False, "not attempted (prove=False)"
    inline: ProvenBound | None = None
    background: BackgroundProof | None = None
    if hom.m == 0:
        f_bound, proven, note = hom.constant, True, "no terms: the objective is constant"
    elif prove:
        try:  # with a time limit beside the search, collected below
            y = dual_vector(C, V)
            if time_limit is None or hom.n <= INLINE_PROOF_N:
                inline = prove_bound(C, y, sdp.lambda_max)
            else:
                background = BackgroundProof(C, y, sdp.lambda_max)
        except KeyboardInterrupt:
            interrupted, note = True, "interrupted before the proof"
    t_sdp = time.perf_counter() - t0

    def report(f: float) -> None:
        trace.append((time.perf_counter() - t0, value(f)))
        if progress is not None:
            progress(value(f), value(f_bound), time.perf_counter() - t0)

    t1 = time.perf_counter()
    t_gw = time.perf_counter()
    gw = _gw_expectation(hom, V)
    t_gw = time.perf_counter() - t_gw  # one O(m p) pass: about one evaluation of E[f]
    rnd = _baseline(
        best_of_random, obj, V, samples if not interrupted else 1, seed, n, share(BASELINE_SHARE),
        fast_values,
    )  # fmt: skip
    starts_expected: list[float] = []
    g0 = G0_GRID[0]
    f_round, s_round = float(rnd.best_value), np.asarray(rnd.solution, np.int8)
    expected_final: float | None = None
    status, iterations = "not run", 0
    try:
        if interrupted:
            raise KeyboardInterrupt
        U, c = threshold_form(V, n)
        rounding_share = SPARSE_ROUNDING_SHARE if local and not scan else ROUNDING_SHARE
        budget = share(rounding_share)  # from here: the rounding's own share
        if budget is not None and budget < SETUP_PASSES * t_gw and t_gw < RETIME_SECONDS:
            t_gw = min(t_gw, _timed(_gw_expectation, hom, V))  # a preempted pass, perhaps
        if budget is not None and budget < SETUP_PASSES * t_gw:
            # not even the set-up and two evaluations fit: the limit of the threshold
            # rounding t = g0 c, mu = 0, sigma -> 0, i.e. sign(c), is the answer
            s_round = np.where(c >= 0, 1, -1).astype(np.int8)
            f_round = float(obj.value(s_round))
            raise _Skip
        t_grid = time.perf_counter()
        # one rounding problem for the g0 grid and the ascent (its set-up is O(m p))
        rounding = HyperplaneRounding(obj, U, thresholds=True)
        t_eval = 0.0
        for g in G0_GRID:
            t_e = time.perf_counter()
            x = np.concatenate([np.zeros(U.shape[1]), g * c])
            starts_expected.append(float(rounding.value(x)))
            t_eval = max(t_eval, time.perf_counter() - t_e)
            spent = time.perf_counter() - t_grid
            # under a limit: another start only if it fits in a third of the share
            if budget is not None and spent + t_eval > budget / 3:
                break
        g0 = G0_GRID[int(np.argmax(starts_expected))]
        rounding.t0 = g0 * c  # the ascent starts at (mu, tau) = (0, g0 c)
        left = None if budget is None else max(0.0, budget - (time.perf_counter() - t_grid))
        steps = max_iter
        if left is not None and left < STEP_EVALUATIONS * t_eval:
            steps = 0  # not even one step fits: the start's own rounding
        d = derandomize(
            rounding, MonotoneLBFGS(),
            stop=Stop(max_iter=steps, randomness_tol=1e-3, time_limit=left), seed=seed,
            callback=_plateau_stop(),
        )  # fmt: skip
        status = "plateau" if d.status == "stopped" else str(d.status)
        iterations = int(d.iterations)
        s_round = np.asarray(d.solution, np.int8)
        f_round = float(obj.value(s_round))
        expected_final = float(d.expected) if d.expected is not None else None
        interrupted = interrupted or d.status == "interrupted"
    except _Skip:
        status = "skipped (time limit)"
    except KeyboardInterrupt:
        interrupted, status = True, "interrupted"
    if not (math.isfinite(gw) and math.isfinite(f_round)):
        raise InputError("the rounding produced non-finite numbers (coefficients out of range?)")
    skipped = ["rounding"] if status == "skipped (time limit)" else []
    # the guarantee is the derandomized rounding's: none when it did not run
    holds = not skipped and status != "interrupted" and f_round >= gw - 1e-9 * max(1.0, abs(gw))
    report(f_round)
    t_round = time.perf_counter() - t1

    t2 = time.perf_counter()
    f_final, s_final = f_round, s_round
    if float(rnd.best_value) > f_final:  # the baseline is kept when it is better
        f_final, s_final = float(rnd.best_value), np.asarray(rnd.solution, np.int8)
    moves = 0
    engine = "none"
    if local and not interrupted and hom.m:
        # the search ends RESERVE before the limit: the evaluation and the result follow
        end = None
        if time_limit is not None:
            end = time_limit - min(0.3, RESERVE * time_limit)
        starts = [s_round, np.asarray(rnd.solution, np.int8)]
        starts += [
            np.asarray(best_of_random(obj, V, 1, seed=seed + 100 + k, truth=n,
                                      values=fast_values).solution, np.int8)
            for k in range(2, threads)
        ]  # fmt: skip
        starts = starts[: max(1, threads)]
        if scan:
            engine = "tabu-scan"
            s_ls, moves, ls_interrupted = _scan_search(
                prob, obj, starts, threads, search_moves, end, t0, seed, sgn, value, trace,
                report, stage("search"),
            )  # fmt: skip
        else:
            engine = "maxcut-" + search
            s_ls, moves, ls_interrupted = _maxcut_search(
                prob, obj, starts, search, threads, search_moves, end, t0, seed, sgn, value,
                trace, report, stage("search"),
            )  # fmt: skip
        interrupted = interrupted or ls_interrupted
        f_ls = float(obj.value(s_ls))
        if f_ls > f_final:
            f_final, s_final = f_ls, s_ls
    if not trace or sgn * value(f_final) > sgn * trace[-1][1]:
        report(f_final)
    t_ls = time.perf_counter() - t2

    t3 = time.perf_counter()
    pb = inline
    if background is not None:
        left = 0.0
        if time_limit is not None:
            left = max(0.0, time_limit - min(0.3, RESERVE * time_limit) - (t3 - t0))
        pb = background.wait(0.0 if interrupted else left)
    if pb is not None:
        proven, note = bool(pb.proven), str(pb.note)
        if pb.proven:  # the constant added rounding upwards: still a proof
            f_bound = upper_sum(hom.constant, max(float(pb.upper_bound), float(sdp.value)))
    t_proof = time.perf_counter() - t3
    final = float(prob.evaluate(s_final))
    gap_abs = max(0.0, f_bound - f_final)
    gap = gap_abs / abs(f_bound) if f_bound != 0 else gap_abs
    ratio = GW_RATIOS.get(prob.kind)
    if ratio is not None and not _nonnegative(prob):
        ratio = None
    return CSPResult(
        kind=prob.kind, name=prob.name, n=n, terms=prob.terms, sense=prob.sense,
        final_value=final, bound=value(f_bound), bound_proven=proven,
        bound_lanczos=value(f_lanczos), bound_note=note, gap=gap, gap_absolute=gap_abs,
        sdp_value=value(hom.constant + float(sdp.value)), sdp_rank=int(V.shape[1]),
        sdp_sweeps=int(sdp.sweeps), gw_expected=value(gw), gw_ratio=ratio,
        random_best=float(prob.evaluate(np.asarray(rnd.solution, np.int8))),
        random_mean=value(float(rnd.mean_value)),
        random_samples=int(rnd.samples), derandomized_value=float(prob.evaluate(s_round)),
        derandomized_expected=None if expected_final is None else value(expected_final),
        guarantee_holds=bool(holds), g0=g0, g0_expected=[value(e) for e in starts_expected],
        rounding_status=status, iterations=iterations, local_search=local, search=search,
        search_moves=moves, threads=threads, time_limit=time_limit, interrupted=interrupted,
        seconds={"sdp": t_sdp, "rounding": t_round, "local_search": t_ls,
                 "proof_wait": t_proof, "total": time.perf_counter() - t0},
        seed=seed, parameters=parameters, versions=versions,
        solution=[int(x) for x in s_final], assignment=prob.answer(s_final),
        details=prob.details(s_final), trace=trace, search_engine=engine, skipped=skipped,
    )  # fmt: skip


def _search_only(
    prob: Problem, obj: Any, scan: bool, search: str, threads: int, search_moves: int | None,
    time_limit: float, t0: float, seed: int, sgn: float, value: Callable[[float], float],
    callback: Callable[[str, int, int], None] | None,
    progress: Callable[[float, float, float], None] | None, parameters: dict[str, Any],
    versions: dict[str, str],
) -> CSPResult:  # fmt: skip
    """A budget too short for the SDP's fixed cost (:func:`derand.csp.plan.search_only`): the
    search from random assignments (run ``k`` from the seed ``[seed, k]``) until the limit,
    with the proven bound :func:`derand.csp.plan.absolute_bound`.

    The fields of the skipped stages are NaN (``null`` in JSON), zero or empty, ``skipped``
    names them and ``guarantee_holds`` is false (no rounding ran)."""
    f_bound = absolute_bound(obj)
    trace: list[tuple[float, float]] = []

    def report(f: float) -> None:
        trace.append((time.perf_counter() - t0, value(f)))
        if progress is not None:
            progress(value(f), value(f_bound), time.perf_counter() - t0)

    starts = [
        np.where(np.random.default_rng([seed, k]).random(obj.n) < 0.5, 1, -1).astype(np.int8)
        for k in range(max(1, threads))
    ]  # fmt: skip
    first = [float(obj.value(x)) for x in starts]
    k0 = int(np.argmax(first))
    f_final, s_final = first[k0], starts[k0]
    report(f_final)
    t_before = time.perf_counter() - t0
    end = time_limit - min(0.3, RESERVE * time_limit)
    cb = None if callback is None else (lambda done, total: callback("search", done, total))
    engine = "tabu-scan" if scan else "maxcut-" + search
    if scan:
        s_ls, moves, interrupted = _scan_search(
            prob, obj, starts, threads, search_moves, end, t0, seed, sgn, value, trace, report,
            cb,
        )  # fmt: skip
    else:
        s_ls, moves, interrupted = _maxcut_search(
            prob, obj, starts, search, threads, search_moves, end, t0, seed, sgn, value, trace,
            report, cb,
        )  # fmt: skip
    f_ls = float(obj.value(s_ls))
    if f_ls > f_final:
        f_final, s_final = f_ls, np.asarray(s_ls, np.int8)
    if sgn * value(f_final) > sgn * trace[-1][1]:
        report(f_final)
    t_ls = time.perf_counter() - t0 - t_before
    final = float(prob.evaluate(s_final))
    gap_abs = max(0.0, f_bound - f_final)
    gap = gap_abs / abs(f_bound) if f_bound != 0 else gap_abs
    nan = math.nan
    note = (
        "the sum of the absolute coefficients (no assignment exceeds it); the SDP was "
        "skipped: the time limit could not afford it"
    )
    return CSPResult(
        kind=prob.kind, name=prob.name, n=obj.n, terms=prob.terms, sense=prob.sense,
        final_value=final, bound=value(f_bound), bound_proven=True, bound_lanczos=nan,
        bound_note=note, gap=gap, gap_absolute=gap_abs, sdp_value=nan, sdp_rank=0,
        sdp_sweeps=0, gw_expected=nan, gw_ratio=None, random_best=nan, random_mean=nan,
        random_samples=0, derandomized_value=nan, derandomized_expected=None,
        guarantee_holds=False, g0=nan, g0_expected=[], rounding_status="skipped (time limit)",
        iterations=0, local_search=True, search=search, search_moves=moves, threads=threads,
        time_limit=time_limit, interrupted=interrupted,
        seconds={"sdp": 0.0, "rounding": 0.0, "local_search": t_ls, "proof_wait": 0.0,
                 "total": time.perf_counter() - t0},
        seed=seed, parameters=parameters, versions=versions,
        solution=[int(x) for x in s_final], assignment=prob.answer(s_final),
        details=prob.details(s_final), trace=trace, search_engine=engine,
        skipped=["sdp", "rounding"],
    )  # fmt: skip


PAIR_CHUNK = 65536
"""Pairs per block of :func:`_gw_expectation`."""


def _gw_expectation(hom: Any, V: Any) -> float:
    """The Goemans-Williamson expectation ``c + sum_e J_e (1 - 2 arccos(rho_e) / pi)``, as
    :func:`derand.rounding.gw_expectation` computes it, in blocks of :data:`PAIR_CHUNK` pairs
    (one gather of all pairs' rows at once costs seconds on a million pairs).

    Returns
    -------
    float
    """
    total = 0.0
    for lo in range(0, hom.m, PAIR_CHUNK):
        u, v = hom.u[lo : lo + PAIR_CHUNK], hom.v[lo : lo + PAIR_CHUNK]
        rho = np.clip(np.einsum("ij,ij->i", V[u], V[v]), -1.0, 1.0)
        total += float(np.sum(hom.J[lo : lo + PAIR_CHUNK] * (1.0 - 2.0 * np.arccos(rho) / np.pi)))
    return float(hom.constant + total)


def _timed(fn: Callable[..., Any], *args: Any) -> float:
    """Seconds of one call ``fn(*args)``."""
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def _pairs_matrix(obj: Any) -> Any:
    """``A`` (CSR, symmetric, zero diagonal) with ``A[u, v] = A[v, u] = J``: ``f(s) = c + h.s
    + s.A.s / 2``.

    Returns
    -------
    scipy.sparse.csr_matrix
    """
    import scipy.sparse as sp

    n = obj.n
    return sp.csr_matrix(
        (np.concatenate([obj.J, obj.J]), (np.concatenate([obj.u, obj.v]),
                                          np.concatenate([obj.v, obj.u]))),
        shape=(n, n),
    )  # fmt: skip


def _values(obj: Any, A: Any) -> Callable[[Any], Any]:
    """The scores of a chunk of random roundings for :func:`best_of_random` with a truth row:
    ``c + h.s + s.A.s / 2`` by one sparse product with ``A`` (:func:`_pairs_matrix`; the
    default indexes every pair once per rounding, ten times slower on a dense QUBO)."""
    n = obj.n
    h, constant = np.asarray(obj.h, np.float64), float(obj.constant)

    def values(signs: Any) -> Any:
        S = np.where(signs[:n], 1.0, -1.0)
        S *= np.where(signs[n], 1.0, -1.0)[None, :]  # relative to the truth row
        return constant + h @ S + 0.5 * np.einsum("ij,ij->j", S, A @ S)

    return values


def _scan_search(
    prob: Problem, obj: Any, starts: list[Any], threads: int, moves: int | None,
    end: float | None, t0: float, seed: int, sgn: float, value: Callable[[float], float],
    trace: list[tuple[float, float]], report: Callable[[float], None],
    cb: Callable[[int, int], None] | None,
) -> tuple[Any, int, bool]:  # fmt: skip
    """The linear-scan tabu search with restarts on the objective (:mod:`derand.csp.search`);
    returns ``(best spins, moves, interrupted)``."""
    left = None if end is None else max(0.0, end - (time.perf_counter() - t0))
    if moves is None and left is None:
        moves = default_tabu_moves(obj.n)

    def progress(best: float, _seconds: float, fraction: float) -> None:
        if not trace or sgn * value(best) > sgn * trace[-1][1]:
            report(best)
        if cb is not None:
            cb(int(1000 * fraction), 1000)

    res = tabu_search(
        obj.n, obj.h, obj.u, obj.v, obj.J, np.stack(starts), evaluate=obj.value,
        threads=threads, max_moves=moves, time_limit=left, seed=seed, callback=progress,
    )  # fmt: skip
    return res.solution, res.moves, res.interrupted


def _maxcut_search(
    prob: Problem, obj: Any, starts: list[Any], search: str, threads: int, moves: int | None,
    end: float | None, t0: float, seed: int, sgn: float, value: Callable[[float], float],
    trace: list[tuple[float, float]], report: Callable[[float], None],
    cb: Callable[[int, int], None] | None,
) -> tuple[Any, int, bool]:  # fmt: skip
    """The compiled Max-Cut search on ``n + 1`` nodes (:mod:`derand.csp.reduction`), then,
    under a time limit, Breakout Local Search from the best partition until ``end``; returns
    ``(best spins, moves, interrupted)``."""
    from derand.csp.reduction import from_partition, maxcut_graph, to_partition
    from derand.maxcut.local_search import local_search

    graph, shift, scale = maxcut_graph(
        obj.n, obj.constant, obj.h, obj.u, obj.v, obj.J, name=prob.name
    )
    if moves is None and search == "sa" and end is None:
        moves = default_sweeps(graph.m, graph.n)
    left = None if end is None else max(0.0, end - (time.perf_counter() - t0))

    def progress(best_cut: float, _seconds: float, fraction: float) -> None:
        f = best_cut / scale + shift
        if not trace or sgn * value(f) > sgn * trace[-1][1]:
            report(f)
        if cb is not None:
            cb(int(1000 * fraction), 1000)

    first = left
    if left is not None and search == "sa" and moves is None:
        first = ANNEAL_SHARE * left  # the anneal, then Breakout Local Search from its best
    ls = local_search(
        graph, np.stack([to_partition(x) for x in starts]), method=search,  # type: ignore[arg-type]
        threads=threads, max_moves=moves, time_limit=first, seed=seed, callback=progress,
    )  # fmt: skip
    interrupted, total, best_p = ls.interrupted, ls.moves, ls.partition
    # an anneal ends at its cold end: the rest of a time limit goes to Breakout Local Search
    # from the best partition (restarts seeded apart), until the end
    rounds = 0
    while end is not None and not interrupted and moves is None:
        left = end - (time.perf_counter() - t0)
        if left < RESTART_MIN * end:
            break
        rounds += 1
        more = local_search(
            graph, np.stack([best_p] * len(starts)), method="bls", threads=threads,
            time_limit=left, seed=seed + 7919 * rounds, callback=progress,
        )  # fmt: skip
        interrupted = interrupted or more.interrupted
        total += more.moves
        best_p = more.partition
    return from_partition(best_p), total, interrupted


def default_tabu_moves(n: int) -> int:
    """Tabu moves of a run without a time limit: ``2000 n``, between 2e5 and 2e7.

    Returns
    -------
    int
    """
    return int(min(2e7, max(2e5, 2000 * n)))


@dataclass(frozen=True)
class _Baseline:
    best_value: float
    mean_value: float
    solution: Any
    samples: int


def _baseline(
    best_of_random: Any, obj: Any, V: Any, samples: int, seed: int, truth: int,
    budget: float | None, values: Callable[[Any], Any],
) -> _Baseline:  # fmt: skip
    """The best of ``samples`` random roundings, drawn :data:`BASELINE_CHUNK` at a time (chunk
    ``k`` seeded ``seed + 1 + k``); under a time budget the first chunk has
    :data:`BASELINE_FIRST`, the others are sized to what is left, and it stops between chunks
    (at least one chunk is drawn)."""
    start = time.perf_counter()
    best: Any = None
    total, drawn = 0.0, 0
    lo, k = 0, 0
    while lo < samples:
        # under a budget the first chunk is small: it measures the cost of one rounding
        size = BASELINE_CHUNK if budget is None or k else BASELINE_FIRST
        if budget is not None and k:
            per = (time.perf_counter() - start) / max(1, drawn)
            left = budget - (time.perf_counter() - start)
            size = int(np.clip(left / max(per, 1e-12), 1, BASELINE_CHUNK))
        size = min(size, samples - lo)
        r = best_of_random(obj, V, size, seed=seed + 1 + k, truth=truth, values=values)
        lo, k = lo + size, k + 1
        total += float(r.mean_value) * size
        drawn += size
        if best is None or r.best_value > best.best_value:
            best = r
        if budget is not None and time.perf_counter() - start > budget:
            break
    return _Baseline(float(best.best_value), total / drawn, best.solution, drawn)


def _plateau_stop() -> Callable[[Any], None]:
    """The ascent's callback: ``StopIteration`` at a plateau (see :data:`PLATEAU_STEPS`)."""
    seen: list[float] = []

    def callback(it: Any) -> None:
        seen.append(float(it.expected))
        scale = max(1.0, abs(it.expected))
        if (
            len(seen) > PLATEAU_STEPS
            and it.best >= it.expected - 1e-9 * scale
            and seen[-1] - seen[-1 - PLATEAU_STEPS] <= PLATEAU_TOL * scale
        ):
            raise StopIteration

    return callback


class _Skip(Exception):
    """The rounding's share is too short for the rounding problem (see :data:`SETUP_PASSES`)."""


def _nonnegative(prob: Problem) -> bool:
    weights = getattr(prob, "w", None)
    return weights is not None and bool(np.all(np.asarray(weights) >= 0))
