"""The candidate pool of large fits: exact pool ratios, cheap rounds, certificate, Ctrl-C."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.datasets import load_digits

from derand.jl import DerandomizedJL, dense_pairwise_distortions
from derand.jl.optimise import Pool, _union_pairs


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    X = load_digits().data[:160]
    return np.asarray(np.unique(X, axis=0), dtype=np.float64)


def test_pool_ratios_match_the_differences() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 7))
    pairs = np.array(list(itertools.combinations(range(30), 2)), dtype=np.int64)[::3]
    pool = Pool(X, pairs)
    M = rng.normal(size=(3, 7))
    diff = X[pairs[:, 0]] - X[pairs[:, 1]]
    direct = np.sum((diff @ M.T) ** 2, axis=1) / np.sum(diff**2, axis=1)
    r = pool.ratios(M)
    np.testing.assert_allclose(r, direct, rtol=1e-12)
    assert pool.value(M) == pytest.approx(
        (direct.max() - direct.min()) / (direct.max() + direct.min()), rel=1e-12
    )
    picked = pool.extremes(r, 4)
    assert picked.shape == (8, 2)
    chosen = {tuple(p) for p in picked}
    order = np.argsort(direct)
    assert {tuple(pairs[i]) for i in order[:4]} | {tuple(pairs[i]) for i in order[-4:]} == chosen
    assert pool.extremes(r, 10_000).shape == pairs.shape  # all of them when m is large


def test_union_of_pairs_is_distinct_and_sorted() -> None:
    a = np.array([[0, 5], [1, 2], [3, 4]], dtype=np.int64)
    b = np.array([[1, 2], [0, 1], [3, 4]], dtype=np.int64)
    np.testing.assert_array_equal(_union_pairs(a, b), [[0, 1], [0, 5], [1, 2], [3, 4]])


def test_pooled_fit_is_certified_and_no_worse_than_its_first_pass(digits: np.ndarray) -> None:
    """Cheap rounds on a pool of a pass's extremes, then exact passes: the certificate is
    exact over all pairs and no worse than the map the fit started from."""
    est = DerandomizedJL(
        6, pool_size=300, pool_rounds=4, scan_size=60, active_size=400, max_rounds=5,
        tol=None, random_state=0,
    ).fit(digits)  # fmt: skip
    h = est.history_
    assert est.fit_settings_["pool_size"] == 300 and est.fit_settings_["pool_rounds"] == 4
    assert len(h["pool_max_distortion"]) > len(h["certified_max_distortion"]) - 1
    D, _ = dense_pairwise_distortions(digits, est.components_)
    assert est.max_distortion_ == pytest.approx(float(np.abs(D).max()), rel=1e-10)
    assert est.max_distortion_ <= h["certified_max_distortion"][0] + 1e-12


def test_large_problems_get_a_pool_by_default() -> None:
    import derand.jl.estimator as estimator

    est = DerandomizedJL(5)
    small = est._settings(10**6)
    assert small.pool_size is None and small.tol == estimator.SMALL_TOL
    large = est._settings(10**8)
    assert large.pool_size == estimator.LARGE_POOL
    assert large.pool_rounds == estimator.POOL_ROUNDS and large.tol is None
    huge = est._settings(2 * 10**9)
    assert huge.pool_size == estimator.LARGE_POOL and huge.tol == estimator.LARGE_TOL
    # the subsample stage of a large problem keeps its settings: no pool, no tol
    stage = est._settings(5 * 10**7 - 1, auto_terms=10**8)
    assert stage.pool_size is None and stage.tol is None
    off = DerandomizedJL(5, pool_size=None)._settings(10**8)
    assert off.pool_size is None


def test_an_exact_pass_gaining_less_than_tol_ends_a_large_fit(digits: np.ndarray) -> None:
    est = DerandomizedJL(6, max_rounds=20, tol=0.5, pool_size=None, random_state=0).fit(digits)
    assert "an exact pass gained less than tol" in est.history_["stopped"]
    assert len(est.history_["certified_max_distortion"]) == 3  # the first pass + two rounds


def test_ctrl_c_in_a_pool_round_keeps_the_best_certified_map(
    digits: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = Pool.ratios

    def ratios(self: Pool, M: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(self, M)

    monkeypatch.setattr(Pool, "ratios", ratios)
    est = DerandomizedJL(
        6, pool_size=300, pool_rounds=4, scan_size=60, active_size=400, max_rounds=5,
        random_state=0,
    ).fit(digits)  # fmt: skip
    assert est.interrupted_ and est.history_["stopped"] == "interrupted"
    assert est.certificate_complete_
    D, _ = dense_pairwise_distortions(digits, est.components_)
    assert est.max_distortion_ == pytest.approx(float(np.abs(D).max()), rel=1e-10)
    assert est.max_distortion_ <= min(est.history_["certified_max_distortion"]) + 1e-12
