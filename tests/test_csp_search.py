"""The linear-scan tabu search (derand.csp.search) and the pipeline's fast paths: fields and
values against direct sums, optima against brute force, determinism, the engine's choice."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from derand.csp import objective
from derand.csp.generators import beasley_qubo, random_max2sat
from derand.csp.search import prefer_scan, tabu_search
from derand.csp.solve import _gw_expectation, _pairs_matrix, _values, solve_csp
from derand.rounding import QuadraticObjective, gw_expectation


def random_objective(n: int, seed: int, density: float = 0.6) -> QuadraticObjective:
    rng = np.random.default_rng(seed)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < density]
    u = np.array([p[0] for p in pairs], np.int64)
    v = np.array([p[1] for p in pairs], np.int64)
    return QuadraticObjective.from_arrays(
        n, constant=1.5, h=rng.normal(size=n), u=u, v=v, J=rng.normal(size=len(pairs))
    )


def test_fields_and_value_against_direct_sums() -> None:
    from scipy import sparse as sp

    from derand.csp import _tabu

    obj = random_objective(12, 0)
    x = np.where(np.random.default_rng(1).random(12) < 0.5, 1, -1).astype(np.int8)
    A = sp.csr_matrix(
        (np.r_[obj.J, obj.J], (np.r_[obj.u, obj.v], np.r_[obj.v, obj.u])), shape=(12, 12)
    )
    F = np.zeros(12)
    total = _tabu.fields(A.indptr.astype(np.int64), A.indices.astype(np.int64), A.data, obj.h, x, F)
    np.testing.assert_allclose(F, obj.h + A.toarray() @ x, atol=1e-12)
    assert total + obj.constant == pytest.approx(obj.value(x), abs=1e-12)
    # the flip gain -2 x_i F_i is the change of the value
    for i in range(12):
        y = x.copy()
        y[i] = -y[i]
        assert obj.value(y) - obj.value(x) == pytest.approx(-2 * x[i] * F[i], abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_tabu_search_finds_the_brute_force_optimum(seed: int) -> None:
    n = 12
    obj = random_objective(n, seed)
    best = max(obj.value(np.array(s)) for s in itertools.product([-1, 1], repeat=n))
    start = -np.ones(n, np.int8)
    res = tabu_search(
        n, obj.h, obj.u, obj.v, obj.J, start, evaluate=obj.value, max_moves=3000, seed=seed
    )
    assert res.value == pytest.approx(best, abs=1e-9)
    assert res.value == pytest.approx(obj.value(res.solution), abs=1e-12)
    assert res.restarts >= 1 and res.moves >= 3000


def test_tabu_search_never_worse_than_its_start_and_deterministic() -> None:
    obj = random_objective(70, 5, density=0.3)
    rng = np.random.default_rng(0)
    starts = np.where(rng.random((3, 70)) < 0.5, 1, -1).astype(np.int8)
    kw = {"evaluate": obj.value, "max_moves": 2000, "seed": 4}
    one = tabu_search(70, obj.h, obj.u, obj.v, obj.J, starts, threads=1, **kw)  # type: ignore[arg-type]
    two = tabu_search(70, obj.h, obj.u, obj.v, obj.J, starts, threads=3, **kw)  # type: ignore[arg-type]
    assert one.value >= max(obj.value(s) for s in starts)
    assert one.value == two.value and np.array_equal(one.solution, two.solution)
    zero = tabu_search(70, obj.h, obj.u, obj.v, obj.J, starts[0], evaluate=obj.value, max_moves=0)
    assert zero.value == obj.value(starts[0])


def test_tabu_search_needs_a_budget_and_the_right_shape() -> None:
    from derand.errors import InputError

    obj = random_objective(5, 0)
    with pytest.raises(InputError, match="max_moves or time_limit"):
        tabu_search(5, obj.h, obj.u, obj.v, obj.J, np.ones(5), evaluate=obj.value)
    with pytest.raises(InputError, match="shape"):
        tabu_search(5, obj.h, obj.u, obj.v, obj.J, np.ones(4), evaluate=obj.value, max_moves=5)


def test_prefer_scan_by_density() -> None:
    assert prefer_scan(2500, 312_000) and prefer_scan(200, 2000)
    assert not prefer_scan(2500, 25_000) and not prefer_scan(1, 0)


def test_fast_values_and_gw_expectation_match_the_engine() -> None:
    obj = random_objective(15, 3)
    hom = obj.homogenized()
    rng = np.random.default_rng(2)
    V = rng.normal(size=(16, 5))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    assert _gw_expectation(hom, V) == pytest.approx(gw_expectation(hom, V), rel=1e-12)
    signs = rng.random((16, 7)) < 0.5
    S = np.where(signs, 1.0, -1.0)
    S = (S[:15] * S[15]).T  # relative to the truth row
    np.testing.assert_allclose(
        _values(obj, _pairs_matrix(obj))(signs), obj.values(S), rtol=1e-12, atol=1e-12
    )


def test_the_pipeline_picks_the_search_by_density() -> None:
    dense = solve_csp(beasley_qubo(80, 0.5, seed=1), search_moves=3000, samples=50)
    sparse = solve_csp(random_max2sat(300, 600, seed=1), search_moves=50, samples=50)
    forced = solve_csp(random_max2sat(300, 600, seed=1), search="tabu", search_moves=3000,
                       samples=50)  # fmt: skip
    assert dense.search_engine == "tabu-scan" and forced.search_engine == "tabu-scan"
    assert sparse.search_engine == "maxcut-sa"
    for r in (dense, sparse, forced):
        assert r.final_value >= max(r.derandomized_value, r.random_best)
        assert r.final_value <= r.bound + 1e-6


def test_a_time_limit_is_kept_on_a_dense_problem() -> None:
    r = solve_csp(beasley_qubo(300, 0.3, seed=2), time_limit=1.0, samples=1000)
    assert r.search_engine == "tabu-scan" and r.seconds["total"] < 1.5
    assert objective(beasley_qubo(300, 0.3, seed=2)).n == r.n
    # whether the SDP fits in 1 s depends on what this process has loaded (derand.csp.plan)
    if r.skipped:
        assert r.skipped == ["sdp", "rounding"] and r.bound_proven and r.bound >= r.final_value
    else:
        assert r.final_value >= r.derandomized_value and r.guarantee_holds
    longer = solve_csp(beasley_qubo(300, 0.3, seed=2), time_limit=6.0, samples=1000)
    assert longer.skipped == [] and longer.seconds["total"] < 7.0
    assert longer.final_value >= longer.derandomized_value and longer.guarantee_holds


def test_compiled_tabu_search_finds_a_planted_optimum() -> None:
    # ferromagnetic couplings and positive fields: all +1 is the unique optimum (n >= 64: the
    # compiled path); from a start with 70 % of +1 the moves lead there
    n = 90
    rng = np.random.default_rng(7)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.2]
    obj = QuadraticObjective.from_arrays(
        n, h=rng.uniform(0.1, 1.0, n), u=np.array([p[0] for p in pairs]),
        v=np.array([p[1] for p in pairs]), J=rng.uniform(0.5, 2.0, len(pairs)),
    )  # fmt: skip
    start = np.where(rng.random(n) < 0.7, 1, -1).astype(np.int8)
    res = tabu_search(n, obj.h, obj.u, obj.v, obj.J, start, evaluate=obj.value, max_moves=2000)
    assert np.all(res.solution == 1) and res.value == pytest.approx(obj.value(np.ones(n)))
