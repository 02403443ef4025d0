"""The dense dual-bound eigenvalue on one BLAS thread through one kept threadpool controller."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from derand.sdp import mixing


def _blas_threads() -> list[int]:
    """Threads of numpy's BLAS (the one ``numpy.linalg.eigvalsh`` runs on)."""
    return [
        int(i["num_threads"])
        for i in threadpool_info()
        if i["user_api"] == "blas" and "numpy" in str(i["filepath"])
    ]


def test_dense_eigenvalue_reuses_one_controller_and_restores_an_outer_limit() -> None:
    rng = np.random.default_rng(5)
    b = rng.standard_normal((120, 120))
    b = b + b.T
    expected = float(np.linalg.eigvalsh(b)[-1])
    with threadpool_limits(limits=2, user_api="blas"):
        outer = _blas_threads()
        first = mixing._dense_top_eigenvalue(b)
        kept = mixing._blas_controller()
        second = mixing._dense_top_eigenvalue(b)
        assert mixing._blas_controller() is kept and len(mixing._CONTROLLER) == 1
        assert _blas_threads() == outer  # the caller's limit is back after each call
    assert first == second == pytest.approx(expected, rel=1e-12)


def test_dense_eigenvalue_runs_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[int]] = []
    eigvalsh = np.linalg.eigvalsh

    def spy(a: np.ndarray) -> np.ndarray:
        seen.append(_blas_threads())
        return eigvalsh(a)

    monkeypatch.setattr(np.linalg, "eigvalsh", spy)
    a = np.diag([1.0, 3.0, 2.0])
    assert mixing._dense_top_eigenvalue(a) == 3.0
    assert seen and all(t == 1 for t in seen[0])


def test_dual_bound_equals_the_one_of_a_fresh_limit_per_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the kept controller changes how the limit is set, not the eigenvalue: the SDP's bound is
    # the same number as with threadpoolctl's own context manager (the code before the change)
    import scipy.sparse as sp

    from derand.csp import objective
    from derand.csp.generators import random_max2sat

    C = objective(random_max2sat(90, 700, seed=8)).homogenized().coupling()
    kept = mixing.solve_sdp(C, seed=1)

    def fresh(a: np.ndarray) -> float:
        with threadpool_limits(limits=1, user_api="blas"):
            return float(np.linalg.eigvalsh(a)[-1])

    monkeypatch.setattr(mixing, "_dense_top_eigenvalue", fresh)
    again = mixing.solve_sdp(C, seed=1)
    assert (kept.lambda_max, kept.upper_bound) == (again.lambda_max, again.upper_bound)
    y = mixing.dual_vector(C, kept.V)
    dense = float(np.linalg.eigvalsh((C - sp.diags(y)).toarray())[-1])
    assert kept.lambda_max == pytest.approx(dense, abs=1e-12)
