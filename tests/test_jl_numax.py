"""NuMaxJL (Hegde et al., IEEE TSP 2015): the ADMM against cvxpy, column generation, the API."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.utils.estimator_checks import check_estimator

from derand.jl import PCAJL, NuMaxJL, dense_pairwise_distortions
from derand.jl.numax import NuMaxSolver, numax_admm


def _secants(Z: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(Z.shape[0], 1)
    V = Z[i] - Z[j]
    return np.asarray(V / np.linalg.norm(V, axis=1, keepdims=True), dtype=np.float64)


def _points(n: int = 12, seed: int = 0) -> np.ndarray:
    scales = np.array([3.0, 2.0, 1.0, 0.5, 0.3, 0.1])
    return np.asarray(np.random.default_rng(seed).normal(size=(n, 6)) * scales, dtype=np.float64)


@pytest.mark.parametrize("delta", [0.3, 0.6])
def test_admm_solves_the_sdp_cvxpy_solves(delta: float) -> None:
    """min trace(P) s.t. P PSD, |v^T P v - 1| <= delta: same optimum and the same P."""
    cp = pytest.importorskip("cvxpy")
    V = _secants(_points())
    P = cp.Variable((6, 6), PSD=True)
    constraints = [cp.abs(cp.sum(cp.multiply(V @ P, V), axis=1) - 1) <= delta]
    problem = cp.Problem(cp.Minimize(cp.trace(P)), constraints)
    problem.solve(solver="CLARABEL")
    result = numax_admm(V, delta, max_iter=5000, tol=1e-8)
    assert result.primal_residual < 1e-6
    assert np.trace(result.P) == pytest.approx(problem.value, rel=1e-5)
    assert np.abs(result.P - P.value).max() < 1e-3
    measured = np.einsum("ij,jk,ik->i", V, result.P, V)
    assert np.abs(measured - 1.0).max() <= delta + 1e-6
    assert np.linalg.eigvalsh(result.P).min() >= -1e-12


def test_column_generation_reaches_the_all_secant_solution() -> None:
    """Started from a few secants, generation adds violated ones until none is left: the
    same optimum as ADMM over every secant."""
    Z = _points(20, seed=1)
    solver = NuMaxSolver(
        Z, workers=1, initial=5, add=10, max_generations=50, admm_iter=5000, tol=1e-7,
        start_dim=2, max_secants=10_000,
    )  # fmt: skip
    P, _ = solver.solve(0.4, None)
    V = _secants(Z)
    full = numax_admm(V, 0.4, max_iter=5000, tol=1e-8)
    assert solver.pairs.shape[0] < V.shape[0]  # not every secant was needed
    assert np.trace(P) == pytest.approx(np.trace(full.P), rel=1e-4)
    measured = np.einsum("ij,jk,ik->i", V, P, V)
    assert np.abs(measured - 1.0).max() <= 0.4 + 1e-3


def test_numax_fixed_k_is_certified_and_keeps_its_best_candidate() -> None:
    X = np.unique(load_digits().data[:120], axis=0)
    est = NuMaxJL(5, bisections=2, admm_iter=60).fit(X)
    assert est.components_.shape == (5, 64)
    D, _ = dense_pairwise_distortions(X, est.components_)
    assert est.max_distortion_ == pytest.approx(float(np.abs(D).max()), rel=1e-10)
    assert len(est.search_["delta"]) == 2
    assert est.max_distortion_ == pytest.approx(min(est.search_["max_distortion"]), rel=1e-6)
    assert est.search_["delta"][0] == pytest.approx(PCAJL(5).fit(X).max_distortion_, rel=1e-6)


def test_numax_low_rank_data_is_embedded_exactly() -> None:
    X = np.random.default_rng(0).normal(size=(30, 3)) @ np.random.default_rng(1).normal(size=(3, 8))
    est = NuMaxJL(4).fit(X)
    assert est.max_distortion_ < 1e-9


def test_check_estimator_numax() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(NuMaxJL(1, bisections=1, admm_iter=20))
