"""The exact pass without stored denominators (Gram-block kernel) equals the stored one."""

from __future__ import annotations

import numpy as np
import pytest

from derand.jl.pairs import Denominators, PairData, ratio_ranges, scan_pairs


def _brute(X: np.ndarray, P: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(X.shape[0], 1)
    D = X[i] - X[j]
    return np.asarray(np.einsum("nk,nk->n", D @ P.T, D @ P.T) / np.einsum("nd,nd->n", D, D))


@pytest.mark.parametrize(("m", "tile", "workers"), [(15, 16, 1), (0, 23, 2), (400, 64, 1)])
def test_unstored_scan_equals_stored_and_brute_force(m: int, tile: int, workers: int) -> None:
    rng = np.random.default_rng(m + tile)
    X = rng.normal(size=(90, 7)) * np.linspace(0.5, 4.0, 7)
    X[5] = X[4] + 1e-9  # a pair whose Gram formula cancels: recomputed from its difference
    P = rng.normal(size=(3, 7)) / 2.0
    data = PairData.from_points(X)
    stored = scan_pairs(Denominators(data, tile), P, m, workers=workers)
    unstored_dens = Denominators(data, tile, budget=0.0)
    assert not unstored_dens.cached
    unstored = scan_pairs(unstored_dens, P, m, workers=workers)
    r = _brute(X, P)
    for got in (stored, unstored):
        assert got.rmin == pytest.approx(float(r.min()), rel=1e-9)
        assert got.rmax == pytest.approx(float(r.max()), rel=1e-9)
    np.testing.assert_array_equal(stored.pairs, unstored.pairs)
    np.testing.assert_allclose(stored.ratios, unstored.ratios, rtol=1e-9)
    if m:
        top = np.sort(r)[::-1][:m]
        np.testing.assert_allclose(unstored.ratios[:m], top, rtol=1e-9)


def test_unstored_scan_in_float32_is_close() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 12))
    P = rng.normal(size=(4, 12)) / 3.0
    data = PairData.from_points(X, dtype=np.float32)
    got = scan_pairs(Denominators(data, 32, budget=0.0), P, 10)
    r = _brute(X, P)
    assert got.rmin == pytest.approx(float(r.min()), rel=1e-3)
    assert got.rmax == pytest.approx(float(r.max()), rel=1e-3)


@pytest.mark.parametrize(("tile", "workers"), [(16, 1), (37, 2)])
def test_ratio_ranges_are_the_brute_force_ranges(tile: int, workers: int) -> None:
    """The range-only pass (no heaps: only rows beyond the current range are visited pair
    by pair) finds the exact range of several maps at once, a cancelling pair included."""
    rng = np.random.default_rng(tile)
    X = rng.normal(size=(120, 9)) * np.linspace(0.3, 3.0, 9)
    X[7] = X[3] + 1e-9  # recomputed from its difference
    maps = [rng.normal(size=(4, 9)) / 2.0 for _ in range(3)]
    got = ratio_ranges(Denominators(PairData.from_points(X), tile), maps, workers=workers)
    for (lo, hi), P in zip(got, maps, strict=True):
        r = _brute(X, P)
        assert lo == pytest.approx(float(r.min()), rel=1e-9)
        assert hi == pytest.approx(float(r.max()), rel=1e-9)


def test_scan_heaps_hold_the_brute_force_extremes() -> None:
    """The m most extreme pairs each way are those of a sort of all ratios (ties aside)."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(150, 6))
    P = rng.normal(size=(2, 6))
    m = 25
    got = scan_pairs(Denominators(PairData.from_points(X), 32), P, m)
    r = _brute(X, P)
    i, j = np.triu_indices(X.shape[0], 1)
    order = np.argsort(r)
    top = {(int(a), int(b)) for a, b in zip(i[order[-m:]], j[order[-m:]], strict=True)}
    bottom = {(int(a), int(b)) for a, b in zip(i[order[:m]], j[order[:m]], strict=True)}
    assert {tuple(p) for p in got.pairs[:m].tolist()} == top
    assert {tuple(p) for p in got.pairs[m:].tolist()} == bottom
