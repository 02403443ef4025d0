"""Exact pairwise distortion (paper §5.2): chunked = dense = brute force; the sampler's law."""

from __future__ import annotations

import itertools
import math
import sys
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from derand.errors import InputError
from derand.jl.distortion import (
    best_rescaling,
    dense_pairwise_distortions,
    drop_duplicates,
    norm_distortion,
    pairwise_distortion,
)
from derand.jl.distortion import (
    pairwise_ratio_ranges as dist_ranges,
)
from derand.jl.optimise import sample_projections, scan_extremes


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


@pytest.mark.parametrize("block_entries", [1, 50, 997, 10**7])
def test_chunked_equals_dense(block_entries: int) -> None:
    X, P = data()
    rep = pairwise_distortion(X, P, block_entries=block_entries, n_worst=5)
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
    rep = pairwise_distortion(X, P, block_entries=30)
    assert rep.max_distortion == pytest.approx(max(abs(v) for v in bf), rel=1e-12)
    assert rep.mean_distortion == pytest.approx(float(np.mean(np.abs(bf))), rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 20),
    d=st.integers(2, 8),
    seed=st.integers(0, 10_000),
    block=st.integers(1, 100),
)
def test_chunked_equals_brute_force_property(n: int, d: int, seed: int, block: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10.0)
    P = rng.normal(size=(max(1, d - 1), d))
    bf = np.abs(brute_force(X, P))
    rep = pairwise_distortion(X, P, block_entries=block)
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
    rep = pairwise_distortion(X, P, quantiles=(0.5, 0.9))
    D, _ = dense_pairwise_distortions(X, P)
    assert not rep.quantiles_exact
    for p, q in rep.quantiles.items():
        assert abs(q - np.quantile(np.abs(D), float(p))) < 1e-3


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


def test_scan_extremes_finds_the_extreme_pairs() -> None:
    X, P = data(n=40)
    Xc = X - X.mean(0)
    Xt, Pt = torch.tensor(Xc), torch.tensor(P)
    pairs, logr, rmin, rmax = scan_extremes(Xt, Pt, 5, block_entries=100)
    D, all_pairs = dense_pairwise_distortions(X, P)
    r = D + 1.0
    assert rmin == pytest.approx(r.min(), rel=1e-12) and rmax == pytest.approx(r.max(), rel=1e-12)
    top = {tuple(p) for p in all_pairs[np.argsort(-r)[:5]]}
    bottom = {tuple(p) for p in all_pairs[np.argsort(r)[:5]]}
    assert {tuple(p) for p in pairs.tolist()} == top | bottom
    assert sorted(logr.exp().tolist()) == pytest.approx(
        sorted(r[np.argsort(-r)[:5]].tolist() + r[np.argsort(r)[:5]].tolist()), rel=1e-12
    )


def test_sampler_at_m0_sigma1_is_gaussian_jl() -> None:
    """M = 0, sigma = 1: ||P u||^2 has mean 1 and variance 2/k (chi-square_k / k)."""
    k, d, n = 10, 30, 20000
    gen = torch.Generator().manual_seed(0)
    P = sample_projections(torch.zeros(k, d, dtype=torch.float64), 1.0, n, gen)
    u = torch.zeros(d, dtype=torch.float64)
    u[0] = 0.6
    u[5] = 0.8
    r = ((P @ u) ** 2).sum(1)
    se_mean = math.sqrt(2 / k / n)
    assert abs(float(r.mean()) - 1.0) < 5 * se_mean
    assert float(r.var()) == pytest.approx(2 / k, rel=0.05)
    assert float(P.var()) == pytest.approx(1 / k, rel=0.02)  # sklearn's N(0, 1/k) entries


def test_sampler_expectation_identity() -> None:
    """E||(M + sigma G/sqrt(k)) u||^2 = ||M u||^2 + sigma^2 for unit u."""
    k, d, n, sigma = 5, 8, 40000, 0.7
    gen = torch.Generator().manual_seed(1)
    M = torch.randn(k, d, generator=gen, dtype=torch.float64) / 3
    u = torch.randn(d, generator=gen, dtype=torch.float64)
    u /= u.norm()
    r = ((sample_projections(M, sigma, n, gen) @ u) ** 2).sum(1)
    expected = float(((M @ u) ** 2).sum()) + sigma**2
    assert float(r.mean()) == pytest.approx(expected, rel=0.01)


def test_ratio_ranges_of_many_projections_match_one_at_a_time() -> None:
    rng = np.random.default_rng(5)
    base = rng.normal(size=(40, 9)) * 100.0
    X = np.vstack([base, base[:3] + 1e-5 * rng.normal(size=(3, 9))])  # cancellation-prone
    Ps = rng.normal(size=(5, 3, 9)) / math.sqrt(3)
    ranges = dist_ranges(X, Ps, block_entries=200)
    for P, (lo, hi) in zip(Ps, ranges, strict=True):
        bf = np.asarray(brute_force(X, P)) + 1.0
        assert lo == pytest.approx(bf.min(), rel=1e-9) and hi == pytest.approx(bf.max(), rel=1e-9)
