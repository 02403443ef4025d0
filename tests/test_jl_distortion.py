"""Exact pairwise distortion (paper §5.2): tiled = dense = brute force = Ray; the closed form."""

from __future__ import annotations

import itertools
import math
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from derand.core.gaussian import noncentral_chi2_log_mgf as log_mgf
from derand.errors import InputError
from derand.jl.distortion import (
    best_rescaling,
    cross_distortion,
    dense_pairwise_distortions,
    drop_duplicates,
    norm_distortion,
    pairwise_distortion,
)
from derand.jl.pairs import Denominators, PairData, plan_tiles, ratio_ranges, scan_pairs


def brute_force(X: np.ndarray, P: np.ndarray) -> list[float]:
    """One pair at a time, straight from the definition."""
    out = []
    for i, j in itertools.combinations(range(X.shape[0]), 2):
        u = (X[i] - X[j]) / np.linalg.norm(X[i] - X[j])
        out.append(float(np.sum((P @ u) ** 2) - 1.0))
    return out


def data(n: int = 60, d: int = 12, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) + 3.0, rng.normal(size=(k, d)) / math.sqrt(k)


def test_tiles_cover_every_pair_once() -> None:
    for n in (1, 2, 7, 64):
        for tile in (1, 3, 64, 100):
            seen = [
                (i, j)
                for i0, i1, j0, j1 in plan_tiles(n, tile)
                for i in range(i0, i1)
                for j in range(j0, j1)
                if i < j
            ]
            assert sorted(seen) == list(itertools.combinations(range(n), 2))


@pytest.mark.parametrize(("tile", "workers"), [(1, 1), (7, 2), (64, 1), (2048, 2)])
def test_streamed_equals_dense(tile: int, workers: int) -> None:
    X, P = data()
    rep = pairwise_distortion(X, P, tile=tile, workers=workers, n_worst=5)
    D, pairs = dense_pairwise_distortions(X, P)
    assert rep.pairs == len(D) == 60 * 59 // 2
    assert rep.max_distortion == pytest.approx(np.abs(D).max(), rel=1e-12)
    assert rep.mean_distortion == pytest.approx(np.abs(D).mean(), rel=1e-12)
    assert rep.mean_signed == pytest.approx(D.mean(), rel=1e-10, abs=1e-14)
    assert rep.min_signed == pytest.approx(D.min(), rel=1e-12)
    assert rep.max_signed == pytest.approx(D.max(), rel=1e-12)
    for p, q in rep.quantiles.items():
        assert q == pytest.approx(np.quantile(np.abs(D), float(p)), rel=1e-12)
    order = np.argsort(-np.abs(D), kind="stable")[:5]
    assert [tuple(w[:2]) for w in rep.worst] == [tuple(pairs[o]) for o in order]
    assert [w[2] for w in rep.worst] == pytest.approx(D[order].tolist(), rel=1e-12)


def test_certificate_equals_brute_force_max() -> None:
    X, P = data(n=25, d=7, k=3, seed=3)
    bf = brute_force(X, P)
    rep = pairwise_distortion(X, P, tile=4)
    assert rep.max_distortion == pytest.approx(max(abs(v) for v in bf), rel=1e-12)
    assert rep.mean_distortion == pytest.approx(float(np.mean(np.abs(bf))), rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 20),
    d=st.integers(2, 8),
    seed=st.integers(0, 10_000),
    block=st.integers(1, 25),
)
def test_streamed_equals_brute_force_property(n: int, d: int, seed: int, block: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10.0)
    P = rng.normal(size=(max(1, d - 1), d))
    bf = np.abs(brute_force(X, P))
    rep = pairwise_distortion(X, P, tile=block)
    assert rep.max_distortion == pytest.approx(bf.max(), rel=1e-9, abs=1e-12)


def test_cancellation_is_handled() -> None:
    """Nearly coincident points far from the origin: the Gram formula alone would fail."""
    rng = np.random.default_rng(1)
    base = rng.normal(size=(30, 10)) * 1e4
    X = np.vstack([base, base[:5] + 1e-6 * rng.normal(size=(5, 10))])
    P = rng.normal(size=(4, 10)) / 2.0
    rep = pairwise_distortion(X, P)
    bf = np.abs(brute_force(X, P))
    assert rep.max_distortion == pytest.approx(bf.max(), rel=1e-8)
    assert rep.mean_distortion == pytest.approx(bf.mean(), rel=1e-8)


def test_histogram_quantiles_for_many_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    X, P = data(n=80)
    monkeypatch.setattr(sys.modules["derand.jl.distortion"], "EXACT_QUANTILE_LIMIT", 10)
    rep = pairwise_distortion(X, P, quantiles=(0.5, 0.9), tile=16)
    D, _ = dense_pairwise_distortions(X, P)
    assert not rep.quantiles_exact
    exact = pairwise_distortion(X, P, quantiles=(0.5, 0.9))
    assert rep.max_distortion == exact.max_distortion and rep.mean_distortion == pytest.approx(
        exact.mean_distortion, rel=1e-12
    )
    for p, q in rep.quantiles.items():
        true = np.quantile(np.abs(D), float(p))
        assert abs(q - true) <= 2e-4 * true  # relative bin width 1.2e-4


def test_duplicates_are_dropped_with_a_warning() -> None:
    X, P = data(n=10)
    Xd = np.vstack([X, X[:3]])
    with pytest.warns(UserWarning, match="dropped 3 duplicate"):
        rep = pairwise_distortion(Xd, P)
    assert rep.n == 10 and rep.duplicates_dropped == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rep.max_distortion == pairwise_distortion(X, P).max_distortion
    kept, idx = drop_duplicates(Xd, warn=False)
    assert np.array_equal(idx, np.arange(10)) and np.array_equal(kept, X)


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "NaN or infinity"),
        (np.ones((1, 3)), "n_samples = 1"),
        (np.ones((5, 3)), "all points are equal"),
        (np.ones(3), "2-d"),
    ],
)
def test_bad_input(X: np.ndarray, match: str) -> None:
    P = np.ones((1, X.shape[-1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError, match=match):
            pairwise_distortion(X, P)


def test_projection_shape_is_checked() -> None:
    X, _ = data()
    with pytest.raises(InputError, match="shape"):
        pairwise_distortion(X, np.ones((2, 5)))


def test_norm_distortion_is_the_authors_variant() -> None:
    X, P = data(n=30)
    rep = norm_distortion(X, P)
    manual = np.sum((X @ P.T) ** 2, axis=1) / np.sum(X**2, axis=1) - 1.0
    assert rep.objective == "norms" and rep.pairs == 30
    assert rep.max_distortion == pytest.approx(np.abs(manual).max(), rel=1e-12)
    assert rep.worst[0][0] == int(np.argmax(np.abs(manual)))


def test_best_rescaling_is_optimal() -> None:
    X, P = data(n=30)
    rep = pairwise_distortion(X, P)
    c, after = best_rescaling(rep.min_signed, rep.max_signed)
    assert pairwise_distortion(X, c * P).max_distortion == pytest.approx(after, rel=1e-10)
    grid = np.linspace(0.2, 3.0, 4001)
    D, _ = dense_pairwise_distortions(X, P)
    brute = min(np.abs(g**2 * (1 + D) - 1).max() for g in grid)
    assert after <= brute + 1e-12
    assert brute - after < 1e-2


def test_scan_finds_the_extreme_pairs() -> None:
    X, P = data(n=40)
    D, all_pairs = dense_pairwise_distortions(X, P)
    r = D + 1.0
    for workers in (1, 2):
        scan = scan_pairs(Denominators(PairData.from_points(X), 7), P, 5, workers=workers)
        assert scan.rmin == pytest.approx(r.min(), rel=1e-12)
        assert scan.rmax == pytest.approx(r.max(), rel=1e-12)
        top = [tuple(p) for p in all_pairs[np.argsort(-r)[:5]]]
        bottom = [tuple(p) for p in all_pairs[np.argsort(r)[:5]]]
        assert [tuple(p) for p in scan.pairs.tolist()] == top + bottom
        assert scan.ratios.tolist() == pytest.approx(
            r[np.argsort(-r)[:5]].tolist() + r[np.argsort(r)[:5]].tolist(), rel=1e-12
        )


def test_closed_form_expectation_matches_monte_carlo() -> None:
    """log E exp(t ||(M + sigma G/sqrt(k)) u||^2): noncentral chi-square MGF vs sampling."""
    rng = np.random.default_rng(1)
    k, d, draws = 6, 9, 400_000
    M = rng.normal(size=(k, d)) / 3
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    m = float(np.sum((M @ u) ** 2))
    for sigma, t in [(0.3, 2.0), (0.5, -3.0), (0.2, 8.0), (1.0, 0.5)]:
        G = rng.standard_normal((draws, k, d))
        R = np.sum((M @ u + sigma * (G @ u) / math.sqrt(k)) ** 2, axis=1)
        samples = np.exp(t * R)
        mc = math.log(samples.mean())
        se = samples.std() / samples.mean() / math.sqrt(draws)
        assert float(log_mgf(np.array([m]), sigma, k, t)[0]) == pytest.approx(mc, abs=5 * se)
    # the first moment (derivative at t = 0): E R = m + sigma^2
    h = 1e-6
    slope = (log_mgf(np.array([m]), 0.4, k, h) - log_mgf(np.array([m]), 0.4, k, -h)) / (2 * h)
    assert float(slope[0]) == pytest.approx(m + 0.16, rel=1e-6)
    with pytest.raises(InputError, match="infinite"):
        log_mgf(np.array([m]), 1.0, k, k)


def test_ratio_ranges_of_many_projections_match_one_at_a_time() -> None:
    rng = np.random.default_rng(5)
    base = rng.normal(size=(40, 9)) * 100.0
    X = np.vstack([base, base[:3] + 1e-5 * rng.normal(size=(3, 9))])  # cancellation-prone
    Ps = list(rng.normal(size=(5, 3, 9)) / math.sqrt(3))
    ranges = ratio_ranges(Denominators(PairData.from_points(X), 8), Ps, workers=2)
    for P, (lo, hi) in zip(Ps, ranges, strict=True):
        bf = np.asarray(brute_force(X, P)) + 1.0
        assert lo == pytest.approx(bf.min(), rel=1e-9) and hi == pytest.approx(bf.max(), rel=1e-9)


@pytest.mark.parametrize("scale", [1e-150, 1e-20, 1.0, 1e20, 1e150])
def test_extreme_scales_give_the_same_certificate(scale: float) -> None:
    """Ratios are scale free: the data are rescaled by a power of two before any square."""
    X, P = data(n=25)
    ref = pairwise_distortion(X, P)
    rep = pairwise_distortion(X * scale, P)
    assert math.isfinite(rep.max_distortion)
    assert rep.max_distortion == pytest.approx(ref.max_distortion, rel=1e-9)
    big = pairwise_distortion(X, P * 1e100)  # a huge projection: D ~ 1e200, still finite
    assert big.max_signed == pytest.approx((1.0 + ref.max_signed) * 1e200, rel=1e-12)


def test_a_pair_1e12_apart_is_exact() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(6, 5))
    X = np.vstack([X, X[0] + 1e-12 * rng.normal(size=5)])
    P = rng.normal(size=(2, 5))
    rep = pairwise_distortion(X, P)
    diff = X[6] - X[0]
    pair = float(np.sum((P @ diff) ** 2) / np.sum(diff**2) - 1.0)
    D = brute_force(X, P)
    assert math.isfinite(rep.max_distortion)
    assert rep.max_distortion == pytest.approx(max(abs(v) for v in D), rel=1e-9)
    assert any(v == pytest.approx(pair, rel=1e-9) for v in D)


def test_cross_pairs_equal_brute_force() -> None:
    X, P = data(n=50)
    A, B = X[:30], X[30:]
    expected = [
        float(np.sum((P @ (a - b)) ** 2) / np.sum((a - b) ** 2) - 1.0) for a in A for b in B
    ]
    for tile in (4, 64):
        rep = cross_distortion(A, B, P, tile=tile, n_worst=3)
        assert rep.pairs == 600
        assert rep.max_distortion == pytest.approx(max(map(abs, expected)), rel=1e-12)
        assert rep.mean_distortion == pytest.approx(float(np.mean(np.abs(expected))), rel=1e-12)
    with pytest.warns(UserWarning, match="equal to a training point"):
        rep = cross_distortion(A, np.vstack([B, A[:2]]), P)
    assert rep.pairs == 600


def test_thread_count_does_not_change_a_bit() -> None:
    X, P = data(n=300, d=20, k=5)
    a = pairwise_distortion(X, P, tile=32, workers=1)
    b = pairwise_distortion(X, P, tile=32, workers=2)
    assert (a.max_distortion, a.mean_distortion, a.mean_signed, a.quantiles, a.worst) == (
        b.max_distortion,
        b.mean_distortion,
        b.mean_signed,
        b.quantiles,
        b.worst,
    )


def test_ray_certificate_equals_local_bit_for_bit() -> None:
    pytest.importorskip("ray")
    X, P = data(n=400, d=10, k=3)
    local = pairwise_distortion(X, P, tile=64, workers=1)
    remote = pairwise_distortion(X, P, tile=64, workers=2, backend="ray")
    for name in ("max_distortion", "mean_distortion", "mean_signed", "min_signed", "max_signed"):
        assert getattr(remote, name).hex() == getattr(local, name).hex(), name
    assert remote.quantiles == local.quantiles and remote.worst == local.worst
    D, _ = dense_pairwise_distortions(X, P)
    assert local.max_distortion == pytest.approx(np.abs(D).max(), rel=1e-12)
