"""The compiled Max-Cut moves against the numpy reference, and the local-search driver."""

from __future__ import annotations

import importlib
import itertools
import time

import numpy as np
import pytest

from derand.maxcut import engine, kernels
from derand.maxcut.exact import exact_maxcut
from derand.maxcut.graph import Graph, from_edges, gnp, random_regular, torus
from derand.maxcut.local_search import METHODS, local_search
from derand.maxcut.moves import flip_gains

GRAPHS = {
    "gnp-one": gnp(70, 0.15, seed=1),
    "gnp-normal": gnp(80, 0.1, seed=2, weights="normal"),
    "torus-pm1": torus(9, 8, seed=3),
    "regular-uniform": random_regular(90, 3, seed=4, weights="uniform"),
}


def _csr(g: Graph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = g.adjacency()
    return a.indptr.astype(np.int64), a.indices.astype(np.int64), a.data.astype(np.float64)


def _random_x(g: Graph, seed: int) -> np.ndarray:
    return np.where(np.random.default_rng(seed).random(g.n) < 0.5, 1, -1).astype(np.int8)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_flips_keep_gains_and_trees_exact(name: str) -> None:
    g = GRAPHS[name]
    indptr, indices, data = _csr(g)
    x = _random_x(g, 0)
    st = engine.build_state(g.n, 0, x, 10)
    cut = engine.compute_gains(indptr, indices, data, st["x"], st["gain"])
    assert cut == pytest.approx(g.cut_value(x), abs=1e-9)
    size = st["tva"].shape[0] // 2
    engine._tree_build(st["tva"], st["tia"], size, g.n, st["pos"], st["gain"])
    engine._tree_build(st["tvb"], st["tib"], size, g.n, st["pos"], st["gain"])
    rng = np.random.default_rng(1)
    for step in range(200):
        i = int(rng.integers(g.n))
        before = g.cut_value(st["x"])
        delta = engine._flip(
            i, st["x"], st["gain"], indptr, indices, data, st["tva"], st["tia"], st["tvb"],
            st["tib"], size, st["pos"], st["tabu_until"], step,
        )  # fmt: skip
        np.testing.assert_allclose(st["gain"], flip_gains(g, st["x"]), atol=1e-9)
        assert g.cut_value(st["x"]) - before == pytest.approx(delta, abs=1e-9)
        # the root of the max tree is the best gain (O(1) best move)
        assert st["tva"][1] == pytest.approx(st["gain"].max(), abs=1e-12)
        assert st["gain"][st["tia"][1]] == st["tva"][1]


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_greedy_reaches_a_local_optimum_and_never_loses(name: str) -> None:
    g = GRAPHS[name]
    x = _random_x(g, 5)
    res = local_search(g, x, method="greedy")
    assert res.cut >= g.cut_value(x) - 1e-9
    assert np.all(flip_gains(g, res.partition) <= 1e-9)  # no improving flip left
    assert res.cut == pytest.approx(g.cut_value(res.partition), abs=1e-12)
    # the trace only goes up
    cuts = [c for _, c in res.trace]
    assert cuts == sorted(cuts)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_reports_the_cut_of_its_partition(method: str) -> None:
    g = GRAPHS["gnp-normal"]
    x = _random_x(g, 7)
    res = local_search(g, np.stack([x, -x]), method=method, max_moves=3000, threads=2)
    assert res.cut == g.cut_value(res.partition)
    assert res.cut >= res.start_cut
    assert res.runs == 2 and not res.interrupted


@pytest.mark.parametrize("method", ["sa", "bls", "tabu"])
def test_search_finds_the_exact_optimum_of_small_graphs(method: str) -> None:
    for seed in range(3):
        g = gnp(22, 0.3, seed=seed, weights="normal")
        # above SMALL_N the compiled path runs; make a disjoint union to get there
        u = np.concatenate([g.u + 22 * k for k in range(4)])
        v = np.concatenate([g.v + 22 * k for k in range(4)])
        big = from_edges(88, u, v, np.tile(g.w, 4))
        opt = 4 * exact_maxcut(g).cut
        moves = 200_000 if method == "bls" else 20_000
        res = local_search(big, np.ones(88, np.int8), method=method, max_moves=moves, seed=seed)
        assert res.cut == pytest.approx(opt, abs=1e-9)


def test_deterministic_for_fixed_seed_and_threads() -> None:
    g = GRAPHS["regular-uniform"]
    starts = np.stack([_random_x(g, 1), _random_x(g, 2)])
    for method in ("sa", "bls"):
        a = local_search(g, starts, method=method, threads=2, max_moves=4000, seed=3)
        b = local_search(g, starts, method=method, threads=2, max_moves=4000, seed=3)
        c = local_search(g, starts, method=method, threads=1, max_moves=4000, seed=3)
        assert np.array_equal(a.partition, b.partition) and a.cut == b.cut == c.cut


def test_time_limit_is_honoured() -> None:
    g = torus(40, 40, seed=1)
    for method in ("sa", "bls"):
        res = local_search(g, np.ones(g.n, np.int8), method=method, time_limit=0.3)
        assert res.seconds < 0.3 + 0.5  # one chunk (hundredths of a second) past the limit
        assert res.cut == g.cut_value(res.partition)


def test_interrupt_keeps_the_best_so_far() -> None:
    g = torus(30, 30, seed=2)
    seen: list[float] = []

    def stop(best: float, _seconds: float, _fraction: float) -> None:
        seen.append(best)
        if len(seen) == 3:
            raise KeyboardInterrupt

    res = local_search(g, np.ones(g.n, np.int8), method="bls", max_moves=10**9, callback=stop)
    assert res.interrupted and len(seen) == 3
    assert res.cut >= seen[-1] and res.cut == g.cut_value(res.partition)


def _reference_sweeps(
    g: Graph, x: np.ndarray, betas: np.ndarray, rs: np.ndarray
) -> tuple[np.ndarray, float, int]:
    """Metropolis sweeps in Python on the numpy gains (moves.flip_gains), same random stream."""
    x = x.copy()
    best, flips = -np.inf, 0
    for beta in betas:
        for i in range(g.n):
            gi = flip_gains(g, x)[i]
            if gi < 0:
                e = beta * gi
                if e < -30.0 or engine._uniform(rs) >= np.exp(e):
                    continue
            x[i] = -x[i]
            flips += 1
        best = max(best, g.cut_value(x))
    return x, best, flips


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_anneal_sweeps_match_the_numpy_reference(name: str) -> None:
    g = GRAPHS[name]
    csr = _csr(g)
    x0 = _random_x(g, 7)
    betas = np.array([0.0, 0.3, 1.0, 3.0, 10.0, 1e6]) / float(np.abs(g.w).mean())
    integer = bool(np.all(g.w == np.round(g.w)))
    ref_x, ref_best, ref_flips = _reference_sweeps(g, x0, betas, np.array([99], np.uint64))
    for quantum in (0.0, 1.0) if integer else (0.0,):
        x, best_x, gain = x0.copy(), x0.copy(), np.zeros(g.n)
        fst = np.array([0.0, -np.inf, 0.0])
        rs = np.array([99], np.uint64)
        flips = engine.anneal_sweeps(*csr, x, best_x, gain, betas, rs, fst, quantum)
        np.testing.assert_array_equal(x, ref_x)
        assert flips == ref_flips
        np.testing.assert_allclose(gain, flip_gains(g, x), atol=1e-9)
        assert fst[engine.F_CUT] == pytest.approx(g.cut_value(x), abs=1e-9)
        assert fst[engine.F_BEST] == pytest.approx(ref_best, abs=1e-9)
        assert g.cut_value(best_x) == pytest.approx(ref_best, abs=1e-9)


def test_anneal_at_zero_beta_flips_every_node() -> None:
    g = GRAPHS["torus-pm1"]
    x = _random_x(g, 1)
    flips = engine.anneal_sweeps(
        *_csr(g), x, x.copy(), np.zeros(g.n), np.zeros(3), np.array([5], np.uint64),
        np.array([0.0, -np.inf, 0.0]), 1.0,
    )  # fmt: skip
    assert flips == 3 * g.n


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_anneal_starts_at_the_calibrated_acceptance(name: str) -> None:
    ls = importlib.import_module("derand.maxcut.local_search")

    g = GRAPHS[name]
    x = _random_x(g, 3)
    hot, cold = ls.beta_range(g)
    beta = ls.start_beta(g, x, hot, cold)
    gains = flip_gains(g, x)
    uphill = gains[gains < 0]
    assert hot <= beta <= cold
    assert float(np.mean(np.exp(beta * uphill))) == pytest.approx(ls.SA_ACCEPT, abs=1e-6)
    # the later anneals of a chain start colder, where fewer uphill moves are accepted
    colder = ls.start_beta(g, x, hot, cold, ls.REANNEAL_ACCEPT)
    assert beta < colder <= cold
    assert float(np.mean(np.exp(colder * uphill))) == pytest.approx(ls.REANNEAL_ACCEPT, abs=1e-6)
    if np.all(g.w == np.round(g.w)):  # integer weights: the cold end is dwave's
        assert cold == pytest.approx(np.log(100.0) / np.abs(g.w).min())


def test_timed_anneal_uses_the_whole_budget_and_cools_down() -> None:
    # the schedule follows the clock: however the first sweep was timed, the run neither stops
    # early (BLS goes on polishing) nor overruns, and it ends at least as well as the fixed
    # default schedule's greedy local optimum from the same start
    g = torus(30, 30, seed=11)
    x = _random_x(g, 12)
    res = local_search(g, x, method="sa", time_limit=1.0)
    assert 0.9 <= res.seconds <= 1.25
    greedy = local_search(g, x, method="greedy")
    assert res.cut >= greedy.cut and res.cut == g.cut_value(res.partition)
    assert res.moves > 100 * g.n  # the old fixed polish stopped after 100 n flips


def test_timed_anneal_follows_a_slow_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # a chunk that takes far longer than measured (another process took the core) must not
    # make the schedule skip to the cold end: beta only follows the clock
    ls = importlib.import_module("derand.maxcut.local_search")

    seen: list[np.ndarray] = []
    ls._load_kernels(engine)  # the JIT's one-off loading call is not part of the schedule
    real = engine.anneal_sweeps

    def slow(*args: object) -> int:
        betas = args[6]
        assert isinstance(betas, np.ndarray)
        if betas.size:
            seen.append(betas.copy())
            if len(seen) == 2:
                time.sleep(0.2)
        return int(real(*args))  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "anneal_sweeps", slow)
    monkeypatch.setattr(kernels, "aot_module", lambda: None)  # the JIT, patched above
    monkeypatch.setattr(ls, "REANNEALS", 1)  # one anneal: its schedule alone is checked
    g = torus(20, 20, seed=13)
    res = ls.local_search(g, _random_x(g, 14), method="sa", time_limit=1.0)
    assert res.seconds >= 0.9
    betas = np.concatenate(seen)
    assert np.all(np.diff(betas) >= -1e-12 * betas[1:])  # never hotter again
    _, cold = ls.beta_range(g)
    assert betas[-1] == pytest.approx(cold, rel=0.05)  # cooled down by the end
    assert len(seen) > 5  # re-planned chunk by chunk


def test_timed_annealing_chain_ends_on_time_and_never_loses_the_start() -> None:
    """The time-limited search is a chain of anneals (fewer on a slow graph): it ends within
    the limit (plus a chunk) and keeps the best start."""
    import importlib

    ls = importlib.import_module("derand.maxcut.local_search")
    g = GRAPHS["torus-pm1"]
    x = _random_x(g, 7)
    rate = ls._sweep_rate(engine, g, _csr(g), x)
    assert rate > 0 and np.isfinite(rate)
    t0 = time.perf_counter()
    res = local_search(g, x, method="sa", time_limit=1.7, seed=3)
    assert time.perf_counter() - t0 < 1.7 + 1.0
    assert res.cut >= g.cut_value(x) and res.cut == pytest.approx(g.cut_value(res.partition))
    assert res.cut >= local_search(g, x, method="greedy").cut


def test_timed_chain_reanneals_from_its_best_at_the_colder_acceptance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A time limit that affords several segments runs several anneals: the first starts at
    SA_ACCEPT, each later one at REANNEAL_ACCEPT from a partition at least as good as the best
    the chain had found before it."""
    ls = importlib.import_module("derand.maxcut.local_search")
    g = GRAPHS["torus-pm1"]
    x = _random_x(g, 8)
    calls: list[tuple[float, float]] = []
    real = ls.start_beta

    def spy(graph: object, y: np.ndarray, hot: float, cold: float, accept: float = 0.3) -> float:
        calls.append((accept, g.cut_value(y)))
        return float(real(graph, y, hot, cold, accept))  # type: ignore[arg-type]

    monkeypatch.setattr(ls, "start_beta", spy)
    res = ls.local_search(g, x, method="sa", time_limit=4 * ls.SEGMENT_SECONDS + 0.1, seed=5)
    anneals = calls[1:]  # calls[0] is the sweep-rate calibration
    assert len(anneals) >= 2
    assert anneals[0][0] == ls.SA_ACCEPT
    assert all(a == ls.REANNEAL_ACCEPT for a, _ in anneals[1:])
    starts = [c for _, c in anneals]
    assert all(b >= a for a, b in itertools.pairwise(starts))  # from the best so far
    assert res.cut >= max(starts) and res.cut == pytest.approx(g.cut_value(res.partition))
