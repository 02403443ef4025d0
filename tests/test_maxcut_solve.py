"""The Max-Cut pipeline: time limit, Ctrl-C, determinism, networkx/scipy inputs, scaling."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from derand.errors import InputError
from derand.maxcut import (
    GSET_NAMES,
    exact_maxcut,
    gnp,
    gset_best_known,
    load_graph,
    load_gset,
    random_regular,
    solve_maxcut,
    torus,
)
from derand.maxcut.bound import BackgroundProof, prove_bound
from derand.maxcut.sdp import dual_vector, solve_sdp
from derand.maxcut.warmup import is_warm, warm_up


def test_time_limit_is_honoured_by_the_whole_pipeline() -> None:
    warm_up()  # what `make install` leaves behind: the kernels' cache is warm
    g = torus(60, 60, seed=1)
    t = time.perf_counter()
    r = solve_maxcut(g, time_limit=2.0, samples=10)
    wall = time.perf_counter() - t
    # the proof runs beside the search: the limit holds (0.3 s for a loaded test machine)
    assert wall <= 2.0 * 1.05 + 0.3
    assert r.seconds["total"] <= 2.0 * 1.05 + 0.3
    assert r.final_cut <= r.upper_bound
    assert r.bound_proven or "did not finish within the time limit" in r.bound_note
    times = [t for t, _ in r.trace]
    cuts = [c for _, c in r.trace]
    assert times == sorted(times) and cuts == sorted(cuts) and cuts[-1] == r.final_cut


def test_ctrl_c_keeps_the_best_cut_and_its_bound() -> None:
    g = random_regular(400, 3, seed=2, weights="uniform")
    seen: list[float] = []

    def stop(best: float, bound: float, _seconds: float) -> None:
        seen.append(best)
        assert best <= bound
        if len(seen) == 3:
            raise KeyboardInterrupt

    r = solve_maxcut(g, search_moves=10**7, progress=stop)
    assert r.interrupted and len(seen) == 3
    assert r.final_cut >= seen[-1] and r.final_cut == g.cut_value(np.array(r.partition))
    assert r.bound_proven and r.final_cut <= r.upper_bound


def test_deterministic_for_fixed_seed_and_threads() -> None:
    g = gnp(120, 0.05, seed=3, weights="normal")
    a = solve_maxcut(g, seed=5, threads=2)
    b = solve_maxcut(g, seed=5, threads=2)
    assert a.partition == b.partition and a.final_cut == b.final_cut
    assert a.upper_bound == b.upper_bound


def test_proven_bound_is_above_exact_optimum_through_the_pipeline() -> None:
    for seed in range(3):
        g = gnp(20, 0.3, seed=seed, weights="pm1")
        r = solve_maxcut(g, exact=True, seed=seed)
        assert r.bound_proven and r.exact_cut is not None
        assert r.final_cut <= r.exact_cut <= r.upper_bound
        assert r.upper_bound <= r.upper_bound_lanczos * (1 + 1e-4) + 1e-9


def test_networkx_labels_directed_and_multigraphs() -> None:
    nx = pytest.importorskip("networkx")
    g = nx.Graph()
    g.add_weighted_edges_from([("a", "b", 2.0), ("b", "c", 1.0), ("c", "a", 1.0)])
    r = solve_maxcut(g)
    assert r.final_cut == 3.0 and r.nodes == ["a", "b", "c"]
    s, t = r.sides()
    assert s | t == {"a", "b", "c"} and not s & t
    a = r.assignment()
    assert a["a"] != a["b"]
    d = nx.DiGraph()
    d.add_weighted_edges_from([(0, 1, 1.0), (1, 0, 2.0), (1, 2, 1.0)])
    with pytest.warns(UserWarning, match="directed"):
        r = solve_maxcut(d)
    assert r.m == 2 and r.final_cut == 4.0
    mg = nx.MultiGraph()
    mg.add_edges_from([(0, 1), (0, 1), (1, 2)])
    with pytest.warns(UserWarning, match="repeated"):
        r = solve_maxcut(mg)
    assert r.final_cut == 3.0


def test_scipy_and_dense_inputs() -> None:
    a = np.array([[0, 1, 0], [1, 0, 2], [0, 2, 0]], float)
    assert solve_maxcut(a).final_cut == 3.0
    assert solve_maxcut(sp.csr_matrix(a)).final_cut == 3.0
    with pytest.warns(UserWarning, match="not symmetric"):
        r = solve_maxcut(np.triu(a))
    assert r.final_cut == 3.0
    with pytest.raises(InputError, match="expected a Graph"):
        solve_maxcut("not a graph")


@pytest.mark.parametrize("scale", [1e-200, 1e200, 1e300])
def test_extreme_weights_are_scaled_not_broken(scale: float) -> None:
    g = gnp(20, 0.3, seed=1, weights="uniform")
    big = type(g)(n=g.n, u=g.u, v=g.v, w=g.w * scale, name="scaled")
    r = solve_maxcut(big, exact=True)
    ref = exact_maxcut(g).cut * scale
    assert r.guarantee_holds and r.bound_proven
    assert r.exact_cut == pytest.approx(ref, rel=1e-12)
    assert r.final_cut <= r.upper_bound and r.exact_cut <= r.upper_bound
    assert np.isfinite(r.upper_bound) and np.isfinite(r.sdp_value)


def test_weights_overflowing_the_total_are_refused() -> None:
    g = gnp(20, 0.5, seed=1)
    huge = type(g)(n=g.n, u=g.u, v=g.v, w=g.w * 1.7e308, name="huge")
    with pytest.raises(InputError, match="floating-point range"):
        solve_maxcut(huge)


def test_shipped_gset_and_best_known() -> None:
    assert len(GSET_NAMES) == 71
    known = gset_best_known()
    assert set(known) == set(GSET_NAMES)
    g = load_graph("gset:G14")
    assert (g.n, g.m) == (int(known["G14"]["n"]), int(known["G14"]["m"]))
    assert set(np.unique(load_gset("G11").w)) == {-1.0, 1.0}
    with pytest.raises(InputError, match="unknown Gset"):
        load_graph("gset:G99")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"samples": 10**11}, "samples"),
        ({"rank": 100000}, "rank"),
        ({"seed": -1}, "seed"),
        ({"threads": 0}, "threads"),
        ({"time_limit": float("nan")}, "time_limit"),
        ({"search": "magic"}, "search"),
    ],
)
def test_library_errors_name_parameters_not_flags(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        solve_maxcut(gnp(30, 0.2, seed=1), **kwargs)
    assert "--" not in str(info.value)


def test_short_reprs() -> None:
    r = solve_maxcut(gnp(300, 0.02, seed=1), search_moves=2000)
    assert len(repr(r)) < 2000 and "partition" not in repr(r)


def test_the_proof_of_a_time_limited_run_is_the_inline_proof() -> None:
    # the background proof (a forked process) proves the same bound as the inline one
    g = gnp(150, 0.06, seed=21, weights="uniform")
    sdp = solve_sdp(g, seed=0)
    y = dual_vector(g, sdp.V)
    inline = prove_bound(g, y, sdp.lambda_max)
    bg = BackgroundProof(g, y, sdp.lambda_max).result(timeout=60.0)
    assert bg is not None and bg.proven and inline.proven
    assert bg.upper_bound == inline.upper_bound
    r = solve_maxcut(g, time_limit=3.0)
    assert r.bound_proven and r.final_cut <= r.upper_bound
    assert r.upper_bound <= r.upper_bound_lanczos * (1 + 1e-6)


def test_a_proof_that_does_not_fit_is_given_up_on_time() -> None:
    g = torus(70, 70, seed=22)  # its LDL^T takes far longer than 0 s
    sdp = solve_sdp(g, seed=0, time_limit=0.5)
    task = BackgroundProof(g, dual_vector(g, sdp.V), sdp.lambda_max)
    t = time.perf_counter()
    assert task.result(timeout=0.0) is None
    assert time.perf_counter() - t < 1.5  # the child is ended, not waited for
    task.close()  # idempotent


def test_warm_up_compiles_every_entry_kernel_once() -> None:
    from numba.core.registry import CPUDispatcher

    from derand.maxcut import bvn, engine, mixing

    warm_up()
    assert is_warm() and warm_up() == 0.0
    entry = {"run_chunk", "anneal_sweeps", "mixing_sweeps", "greedy_colours"}
    for mod in (engine, mixing, bvn):
        for name, f in vars(mod).items():
            if isinstance(f, CPUDispatcher) and name in entry:
                assert f.signatures, name


def test_the_command_ends_within_its_time_limit() -> None:
    # the whole process: imports and parsing count (derand.limits.process_seconds)
    import subprocess
    import sys

    code = (
        "import sys; from derand.cli import main; "
        "sys.exit(main(['maxcut', 'gnp:n=400,p=0.03,seed=1', '--time-limit', '3', '--quiet']))"
    )
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - t
    assert done.returncode == 0, done.stderr
    # 1.5 s for a loaded test machine (at load 10 on 2 cores the interpreter's exit alone can
    # take a second); the 5 % are measured by benchmarks/maxcut_peers.py (its wall column)
    assert wall <= 3.0 * 1.05 + 1.5


def _peers() -> Any:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "maxcut_peers.py"
    if not path.exists():
        pytest.skip("benchmarks/ is not shipped here")
    spec = importlib.util.spec_from_file_location("maxcut_peers", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_reads_mqlib_output_and_times_to_target(tmp_path: Path) -> None:

    peers = _peers()
    # MQLib's own example output (bin/README.md of its repository)
    line = '10,BURER2002,"bin/sampleQUBO.txt",6,10.00002,[0:0.000418;6:0.000797]\n\nSolution:\n'
    r = peers.parse_mqlib(line)
    assert r["cut"] == 6.0 and r["seconds"] == 10.00002
    assert r["trace"] == [(0.000418, 0.0), (0.000797, 6.0)]
    trace = [(0.5, 10.0), (2.0, 12.0), (3.0, 15.0)]
    assert peers.time_to(trace, 12.0) == 2.0
    assert peers.time_to(trace, 16.0) == float("inf")
    rows = [("G0", 5.0, {"derand": {"cut": 15.0, "trace": trace},
                         "sa": {"cut": 12.0, "trace": [(1.0, 12.0)]}})]  # fmt: skip
    table = peers.ttt_table(rows)
    assert "| G0 | 5 | 15 | 12 | 2.00 | - |" in table
    # the rudy file MQLib reads is the graph derand reads
    g = gnp(30, 0.2, seed=4, weights="normal")
    path = tmp_path / "g.txt"
    peers.write_rudy(g, path)
    h = load_graph(str(path))
    x = np.where(np.arange(g.n) % 3 == 0, 1, -1)
    assert h.n == g.n and h.m == g.m and h.cut_value(x) == pytest.approx(g.cut_value(x))


@pytest.mark.slow
def test_a_cold_numba_cache_is_compiled_within_the_budget(tmp_path: Path) -> None:
    # an empty cache directory: every kernel is compiled, on the clock but before the budget
    # is shared out; with a budget longer than the compiling the limit still holds
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "r.json"
    code = (
        "import sys; from derand.cli import main; sys.exit(main(['maxcut', "
        f"'gnp:n=400,p=0.03,seed=1', '--time-limit', '60', '--quiet', '--json', {str(out)!r}]))"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    assert any((tmp_path / "cache").rglob("*.nbi"))  # compiled here: the cache was cold
    assert doc["seconds"]["warm_up"] > 0
    assert doc["search_moves"] > 0 and doc["bound_proven"]
    assert wall <= 60 * 1.05 + 1.0
