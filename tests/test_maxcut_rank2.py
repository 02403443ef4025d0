"""The rank-2 (Burer-Monteiro-Zhang) kernels against independent routes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from derand.maxcut import rank2
from derand.maxcut.exact import exact_maxcut
from derand.maxcut.graph import Graph, gnp, random_regular, torus
from derand.maxcut.moves import flip_gains

GRAPHS = {
    "gnp-one": gnp(40, 0.2, seed=1),
    "gnp-normal": gnp(50, 0.15, seed=2, weights="normal"),
    "torus-pm1": torus(6, 7, seed=3),
    "regular-uniform": random_regular(30, 3, seed=4, weights="uniform"),
}


def _csr(g: Graph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = g.adjacency()
    return a.indptr.astype(np.int64), a.indices.astype(np.int64), a.data.astype(np.float64)


def _f(g: Graph, theta: np.ndarray) -> float:
    return float(np.sum(g.w * np.cos(theta[g.u] - theta[g.v])))


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_value_and_gradient_match_the_edge_sum_and_finite_differences(name: str) -> None:
    g = GRAPHS[name]
    theta = np.random.default_rng(0).uniform(-4, 9, g.n)
    grad = np.zeros(g.n)
    f = rank2.rank2_value(*_csr(g), theta, grad)
    assert f == pytest.approx(_f(g, theta), rel=1e-12, abs=1e-12)
    h = 1e-6
    fd = np.array([
        (_f(g, theta + h * e) - _f(g, theta - h * e)) / (2 * h) for e in np.eye(g.n)
    ])  # fmt: skip
    np.testing.assert_allclose(grad, fd, atol=1e-6 * max(1.0, float(np.abs(fd).max())))


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_descent_never_increases_f_and_lowers_it_from_a_random_start(name: str) -> None:
    g = GRAPHS[name]
    indptr, indices, data = _csr(g)
    theta = np.random.default_rng(1).uniform(0, 2 * np.pi, g.n)
    f0 = _f(g, theta)
    absdeg = np.bincount(np.repeat(np.arange(g.n), np.diff(indptr)), np.abs(data), g.n)
    scale = 1.0 / np.maximum(1.0, absdeg)
    w1, w2, w3 = np.zeros(g.n), np.zeros(g.n), np.zeros(g.n)
    f, steps = rank2.rank2_descent(indptr, indices, data, theta, scale, w1, w2, w3, 300, 1e-9)
    assert f == pytest.approx(_f(g, theta), rel=1e-12, abs=1e-12)
    assert steps > 0 and f < f0
    # more steps from there never go up
    f2, _ = rank2.rank2_descent(indptr, indices, data, theta, scale, w1, w2, w3, 50, 0.0)
    assert f2 <= f + 1e-12


def _half_circle_brute_force(g: Graph, theta: np.ndarray) -> float:
    """Best cut {phi in [a, a + pi)} over every a where the set changes (and a = 0)."""
    phi = np.mod(theta, 2 * np.pi)
    best = -np.inf
    for a in np.concatenate([[0.0], phi, np.mod(phi + np.pi, 2 * np.pi)]):
        inside = np.mod(phi - a, 2 * np.pi) < np.pi
        best = max(best, g.cut_value(np.where(inside, 1, -1).astype(np.int8)))
    return best


@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_angle_cut_is_the_best_half_circle_cut(name: str, seed: int) -> None:
    g = GRAPHS[name]
    theta = np.random.default_rng(seed).uniform(-10, 10, g.n)
    x = np.zeros(g.n, np.int8)
    gain = np.zeros(g.n)
    cut = rank2.angle_cut(*_csr(g), theta, x, gain, np.zeros(g.n, np.int64))
    assert set(np.unique(x)) <= {-1, 1}
    assert cut == pytest.approx(g.cut_value(x), abs=1e-9)
    np.testing.assert_allclose(gain, flip_gains(g, x), atol=1e-9)
    assert cut == pytest.approx(_half_circle_brute_force(g, theta), abs=1e-9)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_one_flip_ascent_ends_at_a_local_optimum_with_the_right_cut(name: str) -> None:
    g = GRAPHS[name]
    indptr, indices, data = _csr(g)
    x = np.where(np.random.default_rng(3).random(g.n) < 0.5, 1, -1).astype(np.int8)
    start = g.cut_value(x)
    gain = flip_gains(g, x).astype(np.float64)
    cut = rank2.one_flip_ascent(indptr, indices, data, x, gain, start, 1e-12)
    assert cut == pytest.approx(g.cut_value(x), abs=1e-9) and cut >= start
    assert flip_gains(g, x).max() <= 1e-9


def test_search_finds_the_optimum_of_small_graphs_and_is_deterministic() -> None:
    for k, g in enumerate(
        [gnp(14, 0.4, seed=5), torus(4, 4, seed=6), gnp(12, 0.5, seed=7, weights="normal")]
    ):
        csr = _csr(g)
        a = rank2.rank2_search(csr, seed=k, cycles=60)
        b = rank2.rank2_search(csr, seed=k, cycles=60)
        np.testing.assert_array_equal(a.partition, b.partition)
        assert a.cycles == 60 and a.iterations == b.iterations
        assert a.cut == pytest.approx(g.cut_value(a.partition), abs=1e-9)
        assert a.cut == pytest.approx(exact_maxcut(g).cut, abs=1e-9)


def test_search_from_a_start_never_returns_less_and_honours_a_time_limit() -> None:
    g = gnp(300, 0.05, seed=8)
    csr = _csr(g)
    x = np.ones(g.n, np.int8)
    x[::2] = -1
    r = rank2.rank2_search(csr, seed=0, start=x, time_limit=0.2)
    assert r.cut >= g.cut_value(x) and r.seconds < 2.0 and r.cycles >= 1
    assert r.cut == pytest.approx(g.cut_value(r.partition), abs=1e-9)
    with pytest.raises(ValueError):
        rank2.rank2_search(csr, seed=0)


def test_brute_force_helper_agrees_with_enumeration() -> None:
    """The test's own half-circle route against all 2^n cuts it could produce (n = 6)."""
    g = gnp(6, 0.7, seed=9)
    theta = np.random.default_rng(4).uniform(0, 2 * np.pi, g.n)
    phi = np.mod(theta, 2 * np.pi)
    cuts = []
    for bits in itertools.product([0, 1], repeat=g.n):
        inside = np.array(bits, bool)
        # a half-circle set: some a with inside == (phi - a mod 2pi < pi)
        for a in np.linspace(0, 2 * np.pi, 721):
            if np.array_equal(np.mod(phi - a, 2 * np.pi) < np.pi, inside):
                cuts.append(g.cut_value(np.where(inside, 1, -1).astype(np.int8)))
                break
    assert max(cuts) == pytest.approx(_half_circle_brute_force(g, theta), abs=1e-9)


def test_local_search_rank2_method_polishes_and_is_deterministic() -> None:
    from derand.maxcut.local_search import local_search

    g = random_regular(200, 3, seed=10, weights="uniform")
    x = np.where(np.random.default_rng(5).random(g.n) < 0.5, 1, -1).astype(np.int8)
    a = local_search(g, np.stack([x, -x]), method="rank2", threads=2, max_moves=30, seed=1)
    b = local_search(g, np.stack([x, -x]), method="rank2", threads=1, max_moves=30, seed=1)
    np.testing.assert_array_equal(a.partition, b.partition)
    assert a.cut == pytest.approx(g.cut_value(a.partition), abs=1e-9)
    assert a.cut >= a.start_cut and a.moves == 60 and a.method == "rank2"
    timed = local_search(g, x, method="rank2", time_limit=0.2, seed=1)
    assert timed.cut >= g.cut_value(x) and timed.seconds < 2.0
