"""The exact pass without stored denominators (Gram-block kernel) equals the stored one."""

from __future__ import annotations

import numpy as np
import pytest

from derand.jl.pairs import Denominators, PairData, scan_pairs


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
