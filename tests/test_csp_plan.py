"""Short budgets: the search-only plan and its proven bound, the generator, lazy imports."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from derand.cli import main
from derand.csp import QUBO, Problem, objective
from derand.csp import plan as csp_plan
from derand.csp.generators import beasley_qubo, random_digraph, random_max2sat
from derand.csp.solve import SEARCHES, solve_csp


def brute_force_max(problem: object) -> float:
    n = problem.n  # type: ignore[attr-defined]
    return max(
        float(problem.evaluate(np.array(s, np.int8)))  # type: ignore[attr-defined]
        for s in itertools.product([-1, 1], repeat=n)
    )


PROBLEMS: list[Problem] = [
    random_max2sat(9, 40, seed=1, units=3, weights="int"),
    random_digraph(10, 0.4, seed=2, weights="uniform"),
    beasley_qubo(9, 0.5, seed=3),
    QUBO.from_arrays(8, c=np.linspace(-1, 1, 8), u=[0, 1, 2], v=[3, 4, 5], q=[2.0, -3.0, 1.5]),
]


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.kind)
def test_absolute_bound_is_at_least_the_brute_force_optimum(problem: Problem) -> None:
    obj = objective(problem)
    bound = csp_plan.absolute_bound(obj)
    best_f = max(obj.value(np.array(s, np.int8)) for s in itertools.product([-1, 1], repeat=obj.n))
    assert bound >= best_f
    # tight for a single term: its absolute value is reached
    single = QUBO.from_arrays(2, u=[0], v=[1], q=[3.0], sense="max")
    assert csp_plan.absolute_bound(objective(single)) == pytest.approx(
        float(objective(single).constant) + 0.75 * 3, rel=1e-12
    )


def test_search_only_depends_on_the_estimate_and_the_time_left() -> None:
    cost = csp_plan.sdp_fixed_seconds(5001, 0.003, numba_shared=True)
    assert cost == pytest.approx(csp_plan.SDP_MATVECS * 0.003, abs=csp_plan.KERNEL_SECONDS)
    assert csp_plan.search_only(5001, 0.003, 0.9 * cost / csp_plan.FULL_SHARE) is True
    assert csp_plan.search_only(5001, 0.003, 1.1 * cost / csp_plan.FULL_SHARE) is False
    # below the compiled sizes no kernel is charged
    assert csp_plan.sdp_fixed_seconds(61, 1e-6) == pytest.approx(csp_plan.SDP_MATVECS * 1e-6)
    assert csp_plan.time_matvec(objective(PROBLEMS[2]).homogenized().coupling()) > 0


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.kind)
def test_a_search_only_run_reports_a_proven_bound_and_no_guarantee(
    problem: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csp_plan, "FULL_SHARE", 0.0)  # nothing affordable: the search alone
    r = solve_csp(problem, time_limit=0.5, seed=3)
    assert r.skipped == ["sdp", "rounding"] and not r.guarantee_holds
    assert r.bound_proven and r.sdp_sweeps == 0 and np.isnan(r.gw_expected)
    best = brute_force_max(problem)
    sign = 1.0 if r.sense == "max" else -1.0
    assert sign * r.bound >= sign * best - 1e-9
    assert r.final_value == problem.evaluate(np.array(r.solution, np.int8))  # type: ignore[attr-defined]
    assert r.final_value == pytest.approx(best)  # tiny problems: the search finds the optimum
    assert r.trace and r.trace[-1][1] == pytest.approx(r.final_value)


def test_search_only_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(csp_plan, "FULL_SHARE", 0.0)
    out = tmp_path / "r.json"
    code = main(["csp", "dicut", "digraph:n=30,p=0.2,seed=1", "--time-limit", "1",
                 "--json", str(out)])  # fmt: skip
    assert code == 0  # no rounding ran: no guarantee to break
    doc = json.loads(out.read_text())
    assert doc["skipped"] == ["sdp", "rounding"] and doc["bound_proven"]
    assert doc["sdp_value"] is None and doc["final_value"] <= doc["bound"]
    assert "skipped the SDP" in capsys.readouterr().out


def test_a_generous_budget_runs_the_sdp() -> None:
    r = solve_csp(random_max2sat(60, 300, seed=4), time_limit=5.0, seed=0)
    assert r.skipped == [] and r.guarantee_holds and r.sdp_sweeps > 0


def test_beasley_generator_matches_the_triangle_enumeration() -> None:
    # the construction written with np.triu_indices, as Beasley's description reads
    for n, density, seed in [(7, 0.5, 1), (40, 0.1, 3), (120, 0.3, 2)]:
        rng = np.random.default_rng(seed)
        iu, ju = np.triu_indices(n)
        keep = rng.random(iu.size) < density
        i, j = iu[keep], ju[keep]
        q = rng.integers(-100, 101, size=i.size).astype(np.float64)
        q = np.where(i == j, q, 2.0 * q)
        Q = beasley_qubo(n, density, seed=seed)
        for x in np.random.default_rng(0).integers(0, 2, (5, n)):
            spins = np.where(x > 0, 1, -1).astype(np.int8)
            assert Q.evaluate(spins) == pytest.approx(float(np.sum(q * x[i] * x[j])), abs=1e-9)


def test_search_choices_match_the_maxcut_search() -> None:
    from derand.maxcut.local_search import METHODS

    assert tuple(METHODS) == SEARCHES


def test_numpy_extras_load_lazily_and_still_work() -> None:
    script = (
        "import sys, importlib.util\n"
        "from derand.cli import NUMPY_EXTRAS, defer_numpy_extras\n"
        "defer_numpy_extras()\n"
        "import scipy.sparse\n"
        "lazy = [n for n in NUMPY_EXTRAS\n"
        "        if type(sys.modules['numpy.' + n]).__name__ == '_LazyModule']\n"
        "import numpy\n"
        "numpy.testing.assert_allclose(numpy.ones(2), numpy.ones(2))\n"
        "assert numpy.ma.masked_array([1, 2]).sum() == 3\n"
        "print(sorted(lazy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lazy = proc.stdout.strip().splitlines()[-1]
    assert "'f2py'" in lazy and "'testing'" in lazy  # scipy.sparse did not load them
