"""Closed-form E[cut] vs Monte Carlo, gradients vs finite differences, the guarantee."""

from __future__ import annotations

import numpy as np
import pytest

from derand.maxcut.graph import Graph, from_edges, gnp, paper_graph, random_regular, torus
from derand.maxcut.rounding import (
    best_of_random,
    derandomized_rounding,
    edge_correlations,
    expected_cut,
    expected_cut_and_grad,
    gw_expectation,
    score_function_rounding,
)
from derand.maxcut.sdp import solve_sdp


def random_unit(n: int, p: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, p))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def monte_carlo(g: Graph, V: np.ndarray, mu: np.ndarray, draws: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    r = mu[:, None] + rng.standard_normal((V.shape[1], draws))
    s = (V @ r) >= 0
    return float(np.mean(g.w @ (s[g.u] != s[g.v])))


@pytest.mark.parametrize("seed", range(3))
def test_closed_form_matches_monte_carlo(seed: int) -> None:
    g = gnp(25, 0.3, seed=seed, weights="pm1" if seed == 2 else "one")
    V = random_unit(g.n, 5, seed)
    mu = np.random.default_rng(seed + 10).standard_normal(5) * (0.5 + seed)
    exact = expected_cut(g, V, mu)
    mc = monte_carlo(g, V, mu, 200_000, seed)
    # standard error of the mean is below sqrt(sum|w|^2 / 4 draws)-ish; use 5 sigma
    tol = 5 * np.sqrt(g.m) / np.sqrt(200_000) * 2
    assert abs(exact - mc) < tol


def test_zero_mean_is_gw_arccos() -> None:
    g = gnp(30, 0.4, seed=1, weights="pm1")
    V = random_unit(g.n, 4, 2)
    rho = edge_correlations(g, V)
    expect = float(np.sum(g.w * np.arccos(rho)) / np.pi)
    assert expected_cut(g, V, np.zeros(4)) == pytest.approx(expect, abs=1e-6)
    assert gw_expectation(g, V) == pytest.approx(expect, rel=1e-12)


def test_extreme_correlations_are_stable() -> None:
    # v_1 = v_0 (rho = 1), v_2 = -v_0 (rho = -1)
    V = np.array([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    g = from_edges(4, np.array([0, 0, 0]), np.array([1, 2, 3]))
    for mu in (np.zeros(2), np.array([0.3, -0.2]), np.array([5.0, 1e-12])):
        val, grad = expected_cut_and_grad(g, V, mu)
        assert np.isfinite(val) and np.all(np.isfinite(grad))
        assert val == pytest.approx(monte_carlo(g, V, mu, 200_000, 0), abs=0.01)


@pytest.mark.parametrize("seed", range(3))
def test_gradient_matches_finite_differences(seed: int) -> None:
    g = gnp(20, 0.4, seed=seed, weights="pm1")
    V = random_unit(g.n, 4, seed)
    mu = np.random.default_rng(seed).standard_normal(4)
    _, grad = expected_cut_and_grad(g, V, mu)
    h = 1e-5
    fd = np.array(
        [
            (expected_cut(g, V, mu + h * e) - expected_cut(g, V, mu - h * e)) / (2 * h)
            for e in np.eye(4)
        ]
    )
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)


def graphs() -> list[Graph]:
    out = [paper_graph(), torus(6, 6, seed=1), random_regular(40, 3, seed=3)]
    out += [gnp(30 + 5 * s, 0.2, seed=s, weights="pm1" if s % 2 else "one") for s in range(10)]
    return out


@pytest.mark.parametrize("index", range(13))
def test_derandomized_beats_gw_expectation(index: int) -> None:
    g = graphs()[index]
    V = solve_sdp(g, seed=index).V
    res = derandomized_rounding(g, V)
    assert res.guarantee_holds
    assert res.value >= res.expected_start - 1e-9
    assert res.expected_start == pytest.approx(gw_expectation(g, V), rel=1e-9)
    assert g.cut_value(res.solution) == res.value
    # E[cut] along the ascent never decreases
    expected = res.history.expected
    assert np.all(np.diff(expected) >= -1e-7 * max(1.0, abs(res.expected_start)))
    assert res.history.randomness[-1] < res.history.randomness[0]
    if np.all(g.w >= 0):
        assert res.value >= 0.878 * solve_sdp(g, seed=index).value


def test_best_of_random_and_score_mode() -> None:
    g = paper_graph()
    V = solve_sdp(g).V
    rnd = best_of_random(g, V, 500, seed=1, chunk=64)
    assert rnd.best_cut == max(rnd.cuts) and g.cut_value(rnd.partition) == rnd.best_cut
    assert rnd.mean_cut == pytest.approx(gw_expectation(g, V), abs=1.0)
    sc = score_function_rounding(g, V, steps=300, seed=0)
    assert sc.steps == 300 and g.cut_value(sc.partition) == sc.cut
    assert len(sc.sigma_trace) == 30
    assert all(1e-3 <= s <= 1.5 for s in sc.sigma_trace)


def test_best_of_random_with_a_time_limit_runs_in_small_chunks() -> None:
    # one chunk always runs: a tenth of the default keeps a short limit (0 here) short
    from derand.maxcut.graph import gnp as _gnp
    from derand.maxcut.rounding import best_of_random as _best
    from derand.maxcut.sdp import solve_sdp as _sdp

    g = _gnp(2000, 0.01, seed=3)
    V = _sdp(g, max_sweeps=2).V
    r = _best(g, V, 1000, seed=1, time_limit=0.0)
    assert 8 <= r.samples < 100 and r.best_cut == g.cut_value(r.partition)
    assert _best(g, V, 1000, seed=1).samples == 1000
