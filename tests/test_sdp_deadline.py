"""The SDP's dual bound on a clock: Lanczos stopped by a deadline falls back to Gershgorin's
(valid) bound, a time-limited Max-Cut run finds the eigenvalue beside its search, and the
SDP and rounding kernels compiled ahead of time give the JIT's results."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.sparse as sp

from derand import sdp
from derand.maxcut import kernels, solve_maxcut
from derand.maxcut import plan as plan_mod
from derand.maxcut.exact import exact_maxcut
from derand.maxcut.graph import Graph, gnp, torus
from derand.maxcut.rounding import derandomized_rounding
from derand.maxcut.sdp import coupling, solve_sdp
from derand.sdp import mixing


def _point(g: Graph, sweeps: int, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """``C`` and the dual vector ``y`` after a few sweeps (not converged)."""
    C = coupling(g)
    res = sdp.solve_sdp(C, max_sweeps=sweeps, tol=0.0, seed=seed, checked=True)
    return C, sdp.dual_vector(C, res.V)


def _exact_top(C: sp.csr_matrix, y: np.ndarray) -> float:
    return float(np.linalg.eigvalsh((C - sp.diags(y)).toarray())[-1])


def test_a_deadline_in_the_past_gives_gershgorins_valid_bound() -> None:
    g = gnp(1100, 0.01, seed=1, weights="normal")  # above DENSE_N: Lanczos otherwise
    C, y = _point(g, 20)
    exact = _exact_top(C, y)
    lam, method = sdp.top_eigenvalue(C, y, deadline=time.perf_counter() - 1.0)
    assert method == "gershgorin" and lam >= exact - 1e-12
    m = (C - sp.diags(y)).toarray()
    radius = np.abs(m).sum(axis=1) - np.abs(np.diag(m))
    assert lam == pytest.approx(float(np.max(np.diag(m) + radius)), rel=1e-12)
    lam2, method2 = sdp.top_eigenvalue(C, y)  # no deadline: Lanczos plus the Ritz residual
    assert method2 == "lanczos" and exact - 1e-9 <= lam2 <= exact + 1e-3 * float(radius.max())


def test_lanczos_out_of_time_is_discarded_not_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # each product of a slow operator reads the clock: past the deadline the run stops and
    # its unconverged Ritz value is never returned
    g = gnp(1100, 0.01, seed=2)
    C, y = _point(g, 40)
    real = sp.csr_matrix.__matmul__
    products = [0]

    def slow(self: sp.csr_matrix, other: object) -> object:
        products[0] += 1
        time.sleep(0.002)
        return real(self, other)

    monkeypatch.setattr(sp.csr_matrix, "__matmul__", slow)
    t = time.perf_counter()
    lam, method = sdp.top_eigenvalue(C, y, deadline=time.perf_counter() + 0.05)
    assert time.perf_counter() - t < 0.5 and products[0] < 100
    monkeypatch.undo()
    assert method == "gershgorin" and lam >= _exact_top(C, y) - 1e-12


def test_dense_eigenvalue_up_to_dense_n_and_the_sdp_reports_its_method() -> None:
    g = gnp(mixing.DENSE_N, 0.01, seed=3)
    C, y = _point(g, 30)
    lam, method = sdp.top_eigenvalue(C, y)
    assert method == "dense" and lam == pytest.approx(_exact_top(C, y), abs=1e-10)
    res = solve_sdp(g, max_sweeps=30)
    assert res.bound_method == "dense"
    quick = solve_sdp(g, max_sweeps=30, bound_seconds=0.0)  # skipped: Gershgorin
    assert quick.bound_method == "gershgorin"
    assert np.array_equal(quick.V, res.V) and quick.upper_bound >= res.upper_bound
    small = solve_sdp(gnp(300, 0.05, seed=4), max_sweeps=30, bound_seconds=0.0)
    assert small.bound_method == "dense"  # a few milliseconds: always dense


def test_the_background_task_finds_the_eigenvalue_then_proves() -> None:
    g = gnp(18, 0.4, seed=5, weights="pm1")
    C = coupling(g)
    res = sdp.solve_sdp(C, max_sweeps=15, tol=0.0, checked=True)
    y = sdp.dual_vector(C, res.V)
    task = sdp.BackgroundProof(C, y, None)
    pb = task.result(timeout=60.0)
    found = task.eigenvalue()
    assert found is not None and found[1] == "dense"
    assert found[0] == pytest.approx(_exact_top(C, y), abs=1e-10)
    assert pb is not None and pb.proven
    half = math.fsum(g.w.tolist()) / 2
    assert sdp.upper_sum(half, pb.upper_bound) >= exact_maxcut(g).cut


def test_a_background_task_ended_early_has_neither_eigenvalue_nor_proof(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from derand.sdp import proof

    monkeypatch.setattr(proof, "_eigenvalue", lambda C, y: time.sleep(30))  # the forked child's
    g = gnp(60, 0.2, seed=6)
    C = coupling(g)
    y = sdp.dual_vector(C, sdp.solve_sdp(C, checked=True).V)
    task = sdp.BackgroundProof(C, y, None)
    t = time.perf_counter()
    assert task.result(timeout=0.2) is None and task.eigenvalue() is None
    assert time.perf_counter() - t < 2.0


def test_a_timed_run_proves_the_bound_found_beside_its_search() -> None:
    g = gnp(1200, 0.006, seed=7)  # n > DENSE_N: Lanczos in the proof's process
    r = solve_maxcut(g, time_limit=4.0, seed=1)
    assert not r.skipped and r.bound_proven and r.bound_note == ""
    untimed = solve_maxcut(g, seed=1, search_moves=10, local=False, samples=10)
    assert untimed.bound_proven
    # the same kind of bound (weak duality at the run's own SDP point), proven both times
    assert r.final_cut <= r.upper_bound <= r.upper_bound_lanczos * (1 + 1e-4)
    assert r.upper_bound >= untimed.sdp_value - 1e-6 and math.isfinite(r.lambda_max)


def test_a_timed_run_without_the_eigenvalue_ends_on_time_with_a_valid_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from derand.sdp import proof

    monkeypatch.setattr(proof, "_eigenvalue", lambda C, y: time.sleep(30))  # never arrives
    g = torus(30, 40, seed=8)  # n = 1200, +-1 weights
    monkeypatch.setattr("derand.maxcut.solve.search_only", lambda n, m, seconds: ())
    t = time.perf_counter()
    r = solve_maxcut(g, time_limit=1.5, seed=2)
    assert time.perf_counter() - t < 1.5 + 0.5
    positive = float(g.w[g.w > 0].sum())
    assert r.final_cut <= r.upper_bound <= positive
    if r.bound_proven:  # the positive-weight sum is the smaller (proven) bound
        assert r.upper_bound == positive
    else:
        assert "Gershgorin" in r.bound_note
    proven = solve_maxcut(g, seed=2, local=False, samples=10)
    assert r.upper_bound >= proven.sdp_value - 1e-6  # a valid bound on the same SDP


def test_the_plan_leaves_the_eigenvalue_to_the_proofs_process() -> None:
    assert plan_mod.bound_seconds(None, 0.0, True) is None
    assert plan_mod.bound_seconds(5.0, 1.0, True) == 0.0
    assert plan_mod.bound_seconds(5.0, 1.0, False) == pytest.approx(plan_mod.BOUND_SHARE * 4.0)
    assert plan_mod.bound_seconds(5.0, 6.0, False) == 0.0


def _jit(monkeypatch: pytest.MonkeyPatch, *groups: str) -> None:
    cache = dict(kernels._aot)
    cache.update(dict.fromkeys(groups))
    monkeypatch.setattr(kernels, "_aot", cache)


@pytest.mark.parametrize("group", ["sdp", "rounding"])
def test_ahead_of_time_sdp_and_rounding_kernels_give_the_jits_results(
    group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kernels.aot_module(group) is None:
        pytest.skip("the ahead-of-time kernels are not built (make install builds them)")
    assert kernels.compiled(group)[1] == "aot"
    for g in (gnp(150, 0.06, seed=9), torus(12, 14, seed=10), gnp(130, 0.3, seed=11)):
        a = solve_sdp(g, seed=3, max_sweeps=200)
        da = derandomized_rounding(g, a.V, seed=3, max_iter=60)
        with monkeypatch.context() as m:
            _jit(m, group)  # type: ignore[arg-type]
            assert kernels.compiled(group)[1] == "jit"
            b = solve_sdp(g, seed=3, max_sweeps=200)
            db = derandomized_rounding(g, b.V, seed=3, max_iter=60)
        assert np.array_equal(a.V, b.V) and a.sweeps == b.sweeps
        assert a.upper_bound == b.upper_bound and a.value == b.value
        assert da.value == db.value and np.array_equal(da.solution, db.solution)
        assert da.history.expected == db.history.expected
        assert da.value == g.cut_value(da.solution)


def test_a_stale_sdp_module_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "_aot", {})
    real = kernels.source_stamp
    monkeypatch.setattr(
        kernels, "source_stamp", lambda group="search": "edited" if group == "sdp" else real(group)
    )
    assert not kernels.is_current("sdp") and kernels.aot_module("sdp") is None
    module, how = kernels.compiled("sdp")
    assert how == "jit" and module.__name__ == "derand.sdp._mixing"
    assert not plan_mod.aot_ready()


def test_a_pipeline_on_ahead_of_time_kernels_never_imports_numba() -> None:
    if not all(kernels.is_current(group) for group in kernels.GROUPS):
        pytest.skip("the ahead-of-time kernels are not built (make install builds them)")
    code = (
        "import sys\n"
        "from derand.maxcut import gnp, solve_maxcut\n"
        "g = gnp(300, 0.05, seed=1)\n"
        "r = solve_maxcut(g, time_limit=2.0, seed=0)\n"
        "assert not r.skipped and r.final_cut == g.cut_value(r.partition), r.skipped\n"
        "assert r.bound_proven, r.bound_note\n"
        "print('numba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
