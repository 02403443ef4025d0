"""The CSP pipeline: the bound against brute force, the guarantee, closed form against Monte
Carlo, determinism, labels, interruption."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from derand.csp import QUBO, DiCut, Ising, objective
from derand.csp.generators import beasley_qubo, random_digraph, random_max2sat
from derand.csp.solve import solve_csp
from derand.results import jsonable


def brute_force(problem: object) -> tuple[float, float]:
    """(best, worst) value of the problem's own evaluate over every assignment."""
    n = problem.n  # type: ignore[attr-defined]
    values = [
        problem.evaluate(np.array(s, np.int8))  # type: ignore[attr-defined]
        for s in itertools.product([-1, 1], repeat=n)
    ]
    return max(values), min(values)


FAMILIES = {
    "max2sat": lambda seed: random_max2sat(10, 60, seed=seed, units=4, weights="int"),
    "dicut": lambda seed: random_digraph(11, 0.3, seed=seed, weights="uniform"),
    "qubo-max": lambda seed: beasley_qubo(10, 0.4, seed=seed),
    "qubo-min": lambda seed: QUBO.from_arrays(
        9, c=np.random.default_rng(seed).normal(size=9),
        u=np.random.default_rng(seed + 1).integers(0, 9, 30),
        v=np.random.default_rng(seed + 2).integers(0, 9, 30),
        q=np.random.default_rng(seed + 3).normal(size=30), sense="min",
    ),
}  # fmt: skip


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("seed", range(3))
def test_bound_and_values_against_brute_force(family: str, seed: int) -> None:
    problem = FAMILIES[family](seed)
    best, worst = brute_force(problem)
    opt = best if problem.sense == "max" else worst
    r = solve_csp(problem, seed=seed, samples=200)
    assert r.bound_proven
    tol = 1e-9 * max(1.0, abs(opt))
    if r.sense == "max":
        assert r.bound >= opt - tol >= r.final_value - 2 * tol
        assert r.final_value >= max(r.derandomized_value, r.random_best) - tol
    else:
        assert r.bound <= opt + tol <= r.final_value + 2 * tol
        assert r.final_value <= min(r.derandomized_value, r.random_best) + tol
    assert r.final_value == pytest.approx(opt)  # n <= 11: the search finds the optimum
    s = np.array(r.solution, np.int8)
    assert r.final_value == problem.evaluate(s)
    f = objective(problem).value(s)
    assert r.final_value == pytest.approx(f if r.sense == "max" else -f)
    assert r.gap >= 0 and r.gap_absolute >= 0
    json.dumps(jsonable(r))


@pytest.mark.parametrize("family", ["max2sat", "dicut", "qubo-max", "qubo-min"])
def test_guarantee_on_random_instances(family: str) -> None:
    for seed in range(4):
        r = solve_csp(FAMILIES[family](10 + seed), seed=seed, samples=100, local=False)
        assert r.guarantee_holds, (family, seed)
        better = 1.0 if r.sense == "max" else -1.0
        assert better * (r.derandomized_value - r.gw_expected) >= -1e-9 * abs(r.gw_expected)
        if r.gw_ratio is not None:  # Goemans-Williamson's termwise ratio on the same vectors
            assert r.gw_expected >= r.gw_ratio * r.sdp_value - 1e-9


def test_larger_instances_beat_the_gw_expectation() -> None:
    for problem in (random_max2sat(120, 1200, seed=5), random_digraph(150, 0.05, seed=5),
                    beasley_qubo(100, seed=5)):  # fmt: skip
        r = solve_csp(problem, samples=200, local=False)
        assert r.guarantee_holds and r.derandomized_value > r.gw_expected
        assert r.bound >= r.derandomized_value


def test_closed_form_threshold_expectation_against_monte_carlo() -> None:
    from derand.rounding import HyperplaneRounding, gw_expectation, threshold_form
    from derand.sdp import solve_sdp

    problem = random_max2sat(12, 50, seed=3, units=6)
    obj = objective(problem)
    hom = obj.homogenized()
    V = solve_sdp(hom.coupling(), seed=1).V
    U, c = threshold_form(V, obj.n)
    rng = np.random.default_rng(0)
    for g0 in (0.3, 1.2):
        rounding = HyperplaneRounding(obj, U, thresholds=True, t0=g0 * c)
        closed = rounding.value(rounding.start())
        Z = rng.standard_normal((U.shape[1], 40_000))
        S = np.where(U @ Z + (g0 * c)[:, None] >= 0, 1, -1).T
        vals = obj.values(S)
        assert abs(closed - vals.mean()) < 5 * vals.std() / np.sqrt(vals.size) + 1e-9
    # the GW expectation is the average of the threshold roundings over g0 ~ |N(0, 1)|
    q = (np.arange(400) + 0.5) / 400
    from scipy.special import ndtri

    starts = [HyperplaneRounding(obj, U, thresholds=True, t0=g * c) for g in ndtri(0.5 + 0.5 * q)]
    average = np.mean([h.value(h.start()) for h in starts])
    assert average == pytest.approx(gw_expectation(hom, V), rel=2e-3)


def test_a_too_small_shift_is_rejected() -> None:
    from derand.sdp import dual_vector, prove_bound, solve_sdp

    hom = objective(beasley_qubo(30, 0.3, seed=2)).homogenized()
    C = hom.coupling()
    sdp = solve_sdp(C, seed=0)
    y = dual_vector(C, sdp.V)
    good = prove_bound(C, y, sdp.lambda_max)
    assert good.proven and good.upper_bound >= sdp.value - 1e-9
    bad = prove_bound(C, y - 1.0, 0.0)  # sum(y) - n < the SDP value: no proof may exist
    assert not bad.proven


def test_determinism_for_a_fixed_seed_and_threads() -> None:
    problem = random_max2sat(80, 700, seed=9)
    a = solve_csp(problem, seed=4, threads=2, samples=100, search_moves=300)
    b = solve_csp(problem, seed=4, threads=2, samples=100, search_moves=300)
    assert a.solution == b.solution and a.final_value == b.final_value
    assert (a.derandomized_value, a.random_best, a.bound) == (
        b.derandomized_value, b.random_best, b.bound,
    )  # fmt: skip


def test_labels_dicts_networkx_and_dimod_conventions() -> None:
    nx = pytest.importorskip("networkx")
    g = nx.DiGraph()
    g.add_weighted_edges_from([("a", "b", 2.0), ("b", "c", 1.0), ("c", "a", 1.0)])
    r = solve_csp(g, samples=50)
    assert set(r.assignment) == {"a", "b", "c"} and r.final_value == 2.0
    assert r.assignment["a"] and not r.assignment["b"]
    q = solve_csp({("x", "x"): -1.0, ("y", "y"): -1.0, ("x", "y"): 3.0}, sense="min", samples=50)
    assert q.final_value == -1.0 and sorted(q.assignment.values()) == [0, 1]
    spin = solve_csp(Ising.from_dicts({"p": 1.0}, {("p", "q"): -2.0}), samples=50)
    assert spin.final_value == -3.0 and spin.assignment == {"p": -1, "q": -1}
    assert spin.bound <= spin.final_value


def test_interrupt_keeps_the_best() -> None:
    def stop(stage: str, done: int, total: int) -> None:
        if stage == "search":
            raise KeyboardInterrupt

    problem = DiCut.from_arcs(70, np.arange(69), np.arange(1, 70))
    r = solve_csp(problem, samples=50, callback=stop)
    assert r.interrupted and r.final_value >= r.derandomized_value
    assert r.final_value == problem.evaluate(np.array(r.solution, np.int8))


def test_the_proof_beside_the_search_under_a_time_limit() -> None:
    from derand.sdp import BackgroundProof, dual_vector, solve_sdp

    r = solve_csp(random_max2sat(50, 300, seed=1), time_limit=20.0, samples=100)
    assert r.bound_proven and r.bound >= r.final_value
    C = objective(beasley_qubo(300, 0.5, seed=1)).homogenized().coupling()
    sdp = solve_sdp(C, seed=0, max_sweeps=20)
    late = BackgroundProof(C, dual_vector(C, sdp.V), sdp.lambda_max).wait(0.0)
    assert not late.proven and "time limit" in late.note


def test_plateau_stop_rule() -> None:
    from types import SimpleNamespace

    from derand.csp.solve import PLATEAU_STEPS, PLATEAU_TOL, _plateau_stop

    def run(expected: list[float], best: float) -> int:
        cb = _plateau_stop()
        for k, e in enumerate(expected):
            try:
                cb(SimpleNamespace(expected=e, best=best))
            except StopIteration:
                return k
        return -1

    flat = [100.0] * (PLATEAU_STEPS + 3)
    assert run(flat, 100.0) == PLATEAU_STEPS  # the first step with PLATEAU_STEPS behind it
    assert run(flat, 99.0) == -1  # the deterministic answer is below the expectation
    rising = [100.0 + 10 * PLATEAU_TOL * 100.0 * k for k in range(3 * PLATEAU_STEPS)]
    assert run(rising, 1e9) == -1  # still rising by more than the tolerance


def test_plateau_stop_keeps_the_guarantee_and_ends_earlier(monkeypatch: pytest.MonkeyPatch) -> None:
    import derand.csp.solve as solve

    for problem in (random_max2sat(150, 1500, seed=8), random_digraph(150, 0.06, seed=8)):
        short = solve_csp(problem, samples=100, local=False)
        monkeypatch.setattr(solve, "PLATEAU_STEPS", 10**9)
        full = solve_csp(problem, samples=100, local=False)
        monkeypatch.undo()
        assert short.rounding_status == "plateau" and full.rounding_status != "plateau"
        assert short.iterations < full.iterations
        for r in (short, full):
            assert r.guarantee_holds and r.derandomized_value >= r.gw_expected
        # at the stop the answer is at least the expectation there (the guarantee's chain)
        assert short.derandomized_expected is not None
        assert short.derandomized_value >= short.derandomized_expected - 1e-6
