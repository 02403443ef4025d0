"""Short time limits: the ahead-of-time kernels against the JIT, and the search-only plan."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from derand.maxcut import gnp, local_search, solve_maxcut, torus
from derand.maxcut import kernels as kernels_mod
from derand.maxcut import plan as plan_mod
from derand.maxcut import solve as solve_mod
from derand.maxcut.graph import Graph


def _x(g: Graph, seed: int) -> np.ndarray:
    return np.where(np.random.default_rng(seed).random(g.n) < 0.5, 1, -1).astype(np.int8)


def test_csr_is_the_adjacency_matrix_without_scipy() -> None:
    for g in (gnp(120, 0.05, seed=1, weights="normal"), torus(7, 9, seed=2)):
        a = g.adjacency()
        indptr, indices, data = g.csr()
        assert np.array_equal(indptr, a.indptr) and np.array_equal(indices, a.indices)
        assert np.array_equal(data, a.data) and indices.dtype == np.int64


@pytest.mark.parametrize("method", ["sa", "bls", "tabu"])
def test_ahead_of_time_kernels_make_the_same_moves_as_the_jit(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kernels_mod.aot_module() is None:
        pytest.skip("the ahead-of-time kernels are not built (make install builds them)")
    assert kernels_mod.search_kernels().compiled == "aot"
    for g in (gnp(150, 0.06, seed=3), gnp(130, 0.08, seed=4, weights="normal")):
        starts = np.stack([_x(g, 5), _x(g, 6)])
        moves = 300 if method == "sa" else 20_000
        aot = local_search(g, starts, method=method, max_moves=moves, seed=7)  # type: ignore[arg-type]
        with monkeypatch.context() as m:
            m.setattr(kernels_mod, "aot_module", lambda: None)
            assert kernels_mod.search_kernels().compiled == "jit"
            jit = local_search(g, starts, method=method, max_moves=moves, seed=7)  # type: ignore[arg-type]
        assert aot.cut == jit.cut and aot.moves == jit.moves
        assert np.array_equal(aot.partition, jit.partition)
        assert aot.cut == g.cut_value(aot.partition) >= aot.start_cut


def test_the_kernels_fall_back_to_the_jit_module_for_other_names() -> None:
    from derand.maxcut import engine

    k = kernels_mod.search_kernels()
    assert k.METHODS == engine.METHODS and k.I_MOVES == engine.I_MOVES
    assert k.compute_gains is engine.compute_gains  # not compiled ahead of time: the JIT's
    with pytest.raises(AttributeError):
        _ = k.no_such_kernel


def test_a_stale_ahead_of_time_module_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # an edited engine.py (or another numpy) no longer matches the module's stamp: the JIT runs
    monkeypatch.setattr(kernels_mod, "_aot", {})
    monkeypatch.setattr(kernels_mod, "source_stamp", lambda group="search": "edited")
    assert kernels_mod.aot_module() is None
    assert kernels_mod.search_kernels().compiled == "jit"


def test_a_module_built_for_another_cpu_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # the stamp names the processor: another CPU (a shared package directory) means the JIT
    stamp = kernels_mod.source_stamp()
    assert stamp.endswith(f"cpu-{kernels_mod.host_cpu()}")
    monkeypatch.setattr(kernels_mod, "host_cpu", lambda: "x86_64-another")
    assert kernels_mod.source_stamp() != stamp
    monkeypatch.setattr(kernels_mod, "_aot", {})
    assert kernels_mod.aot_module() is None
    assert kernels_mod.search_kernels().compiled == "jit"


def test_the_plan_skips_what_a_short_budget_cannot_afford() -> None:
    skipped = plan_mod.SKIPPED
    # a fresh process (imports and kernel loading pending, ~1 s) with G1's size
    assert plan_mod.search_only(800, 19176, 0.9, pending=1.0) == skipped
    assert plan_mod.search_only(800, 19176, 2.5, pending=1.0) == skipped
    assert plan_mod.search_only(800, 19176, 4.5, pending=0.35) == ()  # ahead of time
    assert plan_mod.search_only(800, 19176, 6.0, pending=1.0) == ()
    assert plan_mod.search_only(7000, 41459, 4.5, pending=0.35) == skipped  # G63 at 5 s
    # a process that has everything imported and warm: only the SDP's own fixed cost counts
    assert plan_mod.search_only(800, 19176, 2.5, pending=0.0) == ()
    assert plan_mod.search_only(20000, 40000, 1.5, pending=0.0) == skipped
    # monotone: more time never skips more
    for m in (100, 10_000, 100_000):
        plans = [plan_mod.search_only(1000, m, t, pending=0.5) for t in np.geomspace(0.1, 60, 30)]
        first_full = next((i for i, p in enumerate(plans) if p == ()), len(plans))
        assert all(p == skipped for p in plans[:first_full])
        assert all(p == () for p in plans[first_full:])
    assert plan_mod.pending_startup() <= sum(plan_mod.IMPORT_SECONDS.values()) + 15.0


def test_a_cold_numba_cache_counts_as_compile_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a package tree whose kernels have no cache index (or an older one than the source)
    for name in ("sdp", "rounding"):
        (tmp_path / name / "__pycache__").mkdir(parents=True)
    (tmp_path / "sdp" / "_mixing.py").write_text("# kernels")
    (tmp_path / "rounding" / "_kernel.py").write_text("# kernels")
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(plan_mod, "__file__", str(tmp_path / "maxcut" / "plan.py"))
    assert plan_mod.cache_is_cold()
    for name, stem in (("sdp", "_mixing"), ("rounding", "_kernel")):
        (tmp_path / name / "__pycache__" / f"{stem}.k-1.py311.nbi").write_text("")
    assert not plan_mod.cache_is_cold()
    monkeypatch.setattr(plan_mod, "cache_is_cold", lambda: True)
    monkeypatch.setitem(sys.modules, "derand.maxcut.warmup", None)
    monkeypatch.setattr(plan_mod, "aot_ready", lambda: False)  # the JIT would run
    assert plan_mod.pending_startup() >= plan_mod.COMPILE_SECONDS
    # with a cold cache even 5 s cannot afford compiling the SDP's kernels
    assert plan_mod.search_only(800, 19176, 4.7) == plan_mod.SKIPPED
    # compiled ahead of time: numba is neither imported nor its cache read
    monkeypatch.setattr(plan_mod, "aot_ready", lambda: True)
    for name in plan_mod.IMPORT_SECONDS:
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert plan_mod.pending_startup() == pytest.approx(
        sum(t for name, t in plan_mod.IMPORT_SECONDS.items() if name != "numba")
    )
    assert plan_mod.search_only(800, 19176, 4.7) == ()


def test_a_search_only_run_reports_the_proven_positive_weight_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[int, int, float]] = []

    def plan(n: int, m: int, seconds: float) -> tuple[str, ...]:
        seen.append((n, m, seconds))
        return plan_mod.SKIPPED

    monkeypatch.setattr(solve_mod, "search_only", plan)
    g = torus(12, 12, seed=8)  # +-1 weights: the bound is the sum of the positive ones
    r = solve_maxcut(g, time_limit=0.6, seed=3)
    assert seen and seen[0][:2] == (g.n, g.m) and seen[0][2] <= 0.6
    assert r.skipped == ["sdp", "rounding"] and r.bound_proven
    positive = float(g.w[g.w > 0].sum())
    assert r.upper_bound == positive >= r.final_cut == g.cut_value(np.array(r.partition))
    assert r.search_moves > 0 and r.seconds["total"] <= 0.6 + 0.3
    assert math.isnan(r.sdp_value) and math.isnan(r.derandomized_cut)
    assert r.sdp_rank == 0 and r.random_samples == 0 and not r.guarantee_holds
    assert r.optimality_gap == pytest.approx((positive - r.final_cut) / positive)
    assert r.final_cut >= 0.9 * solve_maxcut(g, seed=3).final_cut  # a real search ran


def test_the_plan_is_asked_only_for_time_limited_searches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def plan(n: int, m: int, seconds: float) -> tuple[str, ...]:
        raise AssertionError("no plan without a time limit, a search, or with exact")

    monkeypatch.setattr(solve_mod, "search_only", plan)
    g = gnp(20, 0.3, seed=9)
    assert solve_maxcut(g).skipped == []
    assert solve_maxcut(g, time_limit=1.0, local=False).skipped == []
    assert solve_maxcut(g, time_limit=1.0, exact=True).skipped == []
    # a generous budget in a warm process: every stage runs
    monkeypatch.setattr(solve_mod, "search_only", plan_mod.search_only)
    assert solve_maxcut(g, time_limit=30.0, samples=10).skipped == []


def test_the_command_at_two_seconds_searches_and_proves_the_trivial_bound(
    tmp_path: Path,
) -> None:
    out = tmp_path / "r.json"
    command = [sys.executable, "-m", "derand", "maxcut", "gnp:n=600,p=0.02,seed=2",
               "--time-limit", "2", "--json", str(out), "--plot", str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    r = json.loads(out.read_text())
    if r["skipped"]:  # a fresh process pays imports: at 2 s the plan skips the SDP
        assert r["skipped"] == ["sdp", "rounding"] and r["sdp_value"] is None
        assert "skipped sdp and rounding" in done.stdout and "VIOLATED" not in done.stdout
        assert not list(tmp_path.glob("*.png"))  # the figures show the rounding: none ran
    assert r["bound_proven"] and r["final_cut"] <= r["upper_bound"]
    assert r["search_moves"] > 0
