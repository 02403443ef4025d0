"""The compiled bivariate normal (core.gaussian) and the rounding kernel against scipy (Owen's T,
multivariate_normal)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr, owens_t
from scipy.stats import multivariate_normal

from derand.core.gaussian import bvn_cdf, bvn_upper
from derand.maxcut import rounding
from derand.maxcut.graph import gnp, torus
from derand.maxcut.sdp import cut_objective
from derand.rounding import HyperplaneRounding, hyperplane
from derand.rounding._kernel import disagreement_and_grad as cut_probability_and_grad
from derand.rounding._kernel import quadrature_tables

VALUES = np.array([-40.0, -8.0, -3.0, -1.5, -0.7, -1e-9, 1e-9, 0.3, 1.0, 2.5, 6.0, 38.0])
RHOS = np.array(
    [-1 + 1e-12, -0.999999, -0.99, -0.93, -0.925, -0.9, -0.75, -0.5, -0.3, -0.1, 0.0,
     0.05, 0.29, 0.3, 0.6, 0.8, 0.924, 0.95, 0.9999, 1 - 1e-12]
)  # fmt: skip


def owen(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Phi_2 through Owen's T (h, k nonzero): the independent route."""
    s = np.sqrt(1.0 - rho * rho)
    t1 = owens_t(h, (k - rho * h) / (h * s))
    t2 = owens_t(k, (h - rho * k) / (k * s))
    beta = np.where(h * k > 0, 0.0, 0.5)
    out: np.ndarray = 0.5 * ndtr(h) + 0.5 * ndtr(k) - t1 - t2 - beta
    return out


def test_matches_owens_t_on_a_grid() -> None:
    h, k, r = (a.ravel() for a in np.meshgrid(VALUES, VALUES, RHOS, indexing="ij"))
    ours = bvn_cdf(h, k, r)
    assert np.all((ours >= 0) & (ours <= 1))
    # at |rho| = 1 - 1e-12 the reference's 1 - rho^2 has a relative error ~1e-4 (ours uses
    # (1 - rho)(1 + rho)), and at |h| = 1e-9 its Owen's T argument is ~1e15
    assert np.max(np.abs(ours - owen(h, k, r))) < 1e-10
    calm = (np.abs(h) > 1e-6) & (np.abs(k) > 1e-6) & (np.abs(r) < 0.9999)
    assert np.max(np.abs(ours - owen(h, k, r))[calm]) < 1e-13


def test_random_points_match_owens_t_and_multivariate_normal() -> None:
    rng = np.random.default_rng(0)
    h, k = rng.normal(size=(2, 3000)) * 2
    r = rng.uniform(-1, 1, 3000)
    ours = bvn_cdf(h, k, r)
    assert np.max(np.abs(ours - owen(h, k, r))) < 1e-13
    for j in range(20):
        cov = [[1.0, r[j]], [r[j], 1.0]]
        ref = multivariate_normal.cdf([h[j], k[j]], cov=cov, abseps=1e-12, releps=1e-12)
        assert abs(ours[j] - ref) < 1e-9


def test_closed_forms_and_limits() -> None:
    # h = k = 0: 1/4 + arcsin(rho) / (2 pi) (Sheppard)
    z = np.zeros(RHOS.size)
    assert np.allclose(bvn_cdf(z, z, RHOS), 0.25 + np.arcsin(RHOS) / (2 * np.pi), atol=1e-15)
    # rho = +-1: min(Phi(h), Phi(k)) and max(0, Phi(h) + Phi(k) - 1)
    h = np.array([-1.0, 0.5, 2.0])
    k = np.array([0.3, -0.2, 2.0])
    assert np.allclose(bvn_cdf(h, k, np.ones(3)), np.minimum(ndtr(h), ndtr(k)), atol=1e-15)
    assert np.allclose(
        bvn_cdf(h, k, -np.ones(3)), np.maximum(0.0, ndtr(h) + ndtr(k) - 1.0), atol=1e-15
    )
    # rho = 0: independence; infinite limits
    assert np.allclose(bvn_cdf(h, k, np.zeros(3)), ndtr(h) * ndtr(k), atol=1e-16)
    inf = np.inf
    got = bvn_upper(np.array([inf, -inf, -inf, 0.5]), np.array([0.0, -inf, 1.0, -inf]), z[:4])
    assert np.allclose(got, [0.0, 1.0, ndtr(-1.0), ndtr(-0.5)], atol=1e-16)


@pytest.mark.parametrize("make", [lambda: gnp(60, 0.3, seed=1, weights="normal"),
                                  lambda: torus(8, 9, seed=2)])  # fmt: skip
def test_kernel_matches_scipy_objective(make: object) -> None:
    g = make()  # type: ignore[operator]
    rng = np.random.default_rng(3)
    V = rng.standard_normal((g.n, 4))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    V[1] = V[0]  # an edge (if any) with rho = 1 and a pair with rho = -1
    V[2] = -V[0]
    rho = np.clip(rounding.edge_correlations(g, V), -1 + 1e-12, 1 - 1e-12)
    for mu in (np.zeros(4), rng.standard_normal(4) * 0.7, rng.standard_normal(4) * 5):
        a = V @ mu
        ref_v, ref_da = HyperplaneRounding(cut_objective(g), V)._scipy(a, True)
        ref_g = V.T @ ref_da
        for tables in (quadrature_tables(rho), (np.zeros(0, np.int64),) + (np.zeros(0),) * 3):
            da = np.zeros(g.n)
            val = cut_probability_and_grad(g.u, g.v, g.w, rho, a, True, da, *tables)
            assert abs(val - ref_v) < 1e-9 * max(1.0, abs(ref_v))
            assert np.allclose(V.T @ da, ref_g, atol=1e-7)  # scipy moves a = 0 to 1e-9


def test_compiled_rounding_equals_scipy_rounding(monkeypatch: pytest.MonkeyPatch) -> None:
    g = gnp(80, 0.2, seed=4)
    V = np.random.default_rng(5).standard_normal((g.n, 6))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    monkeypatch.setattr(hyperplane, "COMPILED_M", 0)
    fast = rounding.derandomized_rounding(g, V)
    monkeypatch.setattr(hyperplane, "COMPILED_M", 10**9)
    slow = rounding.derandomized_rounding(g, V)
    assert fast.value == slow.value
    assert abs(fast.expected - slow.expected) < 1e-6


def test_tables_cover_exactly_the_edges_they_serve() -> None:
    rng = np.random.default_rng(6)
    m = 400
    rho = rng.uniform(-1, 1, m)
    rho[::7] = 0.0
    rho[::5] = np.where(rho[::5] < 0, -1, 1) * rng.uniform(0.925, 1 - 1e-12, rho[::5].size)
    off, ta, tb, tc = quadrature_tables(rho)
    count = np.diff(off)
    assert np.all(count[(np.abs(rho) >= 0.925) | (rho == 0)] == 0)
    assert set(np.unique(count)) <= {0, 6, 12, 20}
    assert ta.size == tb.size == tc.size == off[-1]
    n = 50
    u, v = rng.integers(0, n, m), rng.integers(0, n, m)
    a = rng.standard_normal(n) * 1.5
    w = rng.standard_normal(m)
    empty = (np.zeros(0, np.int64),) + (np.zeros(0),) * 3
    d1, d2 = np.zeros(n), np.zeros(n)
    v1 = cut_probability_and_grad(u, v, w, rho, a, True, d1, off, ta, tb, tc)
    v2 = cut_probability_and_grad(u, v, w, rho, a, True, d2, *empty)
    assert abs(v1 - v2) < 1e-12 * m
    np.testing.assert_allclose(d1, d2, atol=1e-12)


@pytest.mark.parametrize("n", [hyperplane.COMPILED_N - 1, hyperplane.COMPILED_N])
def test_the_kernel_serves_from_compiled_n_variables_with_few_pairs(
    n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # below COMPILED_M pairs: scipy's Owen's T below COMPILED_N variables, the compiled kernel
    # from it on; both give the same expectation and gradient (thresholds and linear terms)
    from derand.rounding import QuadraticObjective

    rng = np.random.default_rng(n)
    m = 3 * n
    u, v = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = u != v
    obj = QuadraticObjective(
        n, 0.5, rng.standard_normal(n), u[keep], v[keep], rng.standard_normal(int(keep.sum()))
    )
    assert obj.m < hyperplane.COMPILED_M
    U = rng.standard_normal((n, 5)) * rng.uniform(0.1, 1.0, (n, 1))
    problem = HyperplaneRounding(obj, U, thresholds=True, t0=rng.standard_normal(n))
    x = problem.start() + 0.3 * rng.standard_normal(problem.start().size)
    calls: list[int] = []
    scipy_route = HyperplaneRounding._scipy

    def counted(self: HyperplaneRounding, a: np.ndarray, grad: bool) -> object:
        calls.append(1)
        return scipy_route(self, a, grad)

    monkeypatch.setattr(HyperplaneRounding, "_scipy", counted)
    value, grad = problem.value_and_grad(x)
    assert (len(calls) == 0) == (n >= hyperplane.COMPILED_N)
    monkeypatch.setattr(hyperplane, "COMPILED_N", 10**9)
    ref_value, ref_grad = problem.value_and_grad(x)  # the scipy route
    assert value == pytest.approx(ref_value, rel=1e-10, abs=1e-10)
    assert np.allclose(grad, ref_grad, atol=1e-7)
