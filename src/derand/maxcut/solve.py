"""The Max-Cut pipeline: SDP -> bound -> rounding -> optional local search -> optional exact."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from derand.errors import InputError
from derand.maxcut.exact import MAX_EXACT_N, exact_maxcut
from derand.maxcut.graph import Graph
from derand.maxcut.local_search import local_search
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


@dataclass(frozen=True)
class MaxCutResult:
    """Everything one ``derand maxcut`` run reports (the JSON fields).

    ``sdp_value <= SDP <= upper_bound`` and ``final_cut <= exact_cut <= upper_bound``;
    ``derandomized_cut`` is the cut of the chosen rounding (named for the default mode) and
    ``guarantee_holds`` records whether it is ``>= gw_expected``.
    """

    name: str
    n: int
    m: int
    rounding: str
    sdp_value: float
    upper_bound: float
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
    exact_cut: float | None
    optimality_gap: float
    partition: list[int]
    seconds: dict[str, float]
    expected_trace: list[float] = field(default_factory=list)
    cut_trace: list[float] = field(default_factory=list)
    sigma_trace: list[float] = field(default_factory=list)


def solve_maxcut(
    graph: Graph,
    *,
    rounding: Rounding = "derandomized",
    samples: int = 1000,
    local: bool = True,
    exact: bool = False,
    seed: int = 0,
    rank: int | None = None,
    score_steps: int = 5000,
    tabu_moves: int | None = None,
    callback: Callable[[str, int, int], None] | None = None,
) -> MaxCutResult:
    """Run the pipeline on ``graph`` (DESIGN.md section 2).

    Parameters
    ----------
    rounding : {"derandomized", "random", "best-of-N", "score"}
        ``random`` is one hyperplane, ``best-of-N`` the best of ``samples``, ``score`` the
        authors' Monte Carlo estimator, ``derandomized`` the exact-gradient ascent (default).
    samples : int
        Random hyperplanes for ``random_best`` (always computed) and for ``best-of-N``.
    local : bool
        Polish with 1-flip + tabu search (reported separately as ``final_cut``).
    exact : bool
        Also compute the exact optimum (``n <= 26``).
    callback : callable, optional
        ``callback(stage, done, total)`` for progress bars.
    """
    if rounding not in ROUNDINGS:
        raise InputError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    if exact and graph.n > MAX_EXACT_N:
        raise InputError(f"--exact needs n <= {MAX_EXACT_N}, got n = {graph.n}")

    def stage(name: str) -> Callable[[int, int], None] | None:
        if callback is None:
            return None
        cb = callback
        return lambda done, total: cb(name, done, total)

    t0 = time.perf_counter()
    sdp = solve_sdp(graph, rank=rank, seed=seed, callback=stage("sdp"))
    t_sdp = time.perf_counter() - t0

    t1 = time.perf_counter()
    V = sdp.V
    gw = gw_expectation(graph, V)
    rnd = best_of_random(graph, V, samples, seed=seed + 1)
    final_expected: float | None = None
    iterations = 0
    traces: tuple[list[float], list[float], list[float]] = ([], [], [])
    partition: NDArray[np.int8]
    if rounding == "derandomized":
        d = derandomized_rounding(graph, V, seed=seed, callback=stage("rounding"))
        cut, partition, final_expected, iterations = (
            d.cut,
            d.partition,
            d.final_expected,
            d.iterations,
        )
        traces = (d.expected_trace, d.cut_trace, d.sigma_trace)
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
    t_round = time.perf_counter() - t1

    t2 = time.perf_counter()
    final_cut, final_partition = cut, partition
    if local:
        ls = local_search(
            graph, partition, tabu_moves=tabu_moves, seed=seed, callback=stage("local search")
        )
        final_cut, final_partition = ls.cut, ls.partition
    t_ls = time.perf_counter() - t2

    t3 = time.perf_counter()
    exact_cut: float | None = None
    if exact:
        ex = exact_maxcut(graph, callback=stage("exact"))
        exact_cut = ex.cut
    t_exact = time.perf_counter() - t3
    nonneg = bool(np.all(graph.w >= 0))
    bound = sdp.upper_bound
    gap = (bound - final_cut) / abs(bound) if bound != 0 else 0.0
    return MaxCutResult(
        name=graph.name,
        n=graph.n,
        m=graph.m,
        rounding=rounding,
        sdp_value=sdp.value,
        upper_bound=bound,
        lambda_max=sdp.lambda_max,
        sdp_rank=int(V.shape[1]),
        sdp_sweeps=sdp.sweeps,
        gw_expected=gw,
        gw_ratio_bound=GW_RATIO * sdp.value if nonneg else None,
        random_best=rnd.best_cut,
        random_mean=rnd.mean_cut,
        random_samples=samples,
        derandomized_cut=cut,
        guarantee_holds=bool(cut >= gw - 1e-9 * max(1.0, abs(gw))),
        final_expected=final_expected,
        iterations=iterations,
        final_cut=final_cut,
        local_search=local,
        exact_cut=exact_cut,
        optimality_gap=gap,
        partition=[int(x) for x in final_partition],
        seconds={
            "sdp": t_sdp,
            "rounding": t_round,
            "local_search": t_ls,
            "exact": t_exact,
            "total": time.perf_counter() - t0,
        },
        expected_trace=traces[0],
        cut_trace=traces[1],
        sigma_trace=traces[2],
    )
