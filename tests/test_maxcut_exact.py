"""Exact Max-Cut against itertools brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from derand.errors import InputError
from derand.maxcut.exact import exact_maxcut
from derand.maxcut.graph import Graph, gnp, torus


def brute_force(g: Graph) -> float:
    best = -np.inf
    for bits in itertools.product((1, -1), repeat=g.n - 1):
        s = np.array((1, *bits))
        best = max(best, g.cut_value(s))
    return float(best)


@pytest.mark.parametrize("seed", range(6))
def test_exact_matches_brute_force(seed: int) -> None:
    n = 4 + seed * 2
    weights = "pm1" if seed % 2 else "one"
    g = gnp(n, 0.5, seed=seed, weights=weights)
    res = exact_maxcut(g)
    assert res.cut == pytest.approx(brute_force(g))
    assert g.cut_value(res.partition) == pytest.approx(res.cut)


def test_exact_torus_and_limits() -> None:
    g = torus(3, 4, seed=3)
    assert exact_maxcut(g).cut == pytest.approx(brute_force(g))
    with pytest.raises(InputError, match="n <= "):
        exact_maxcut(gnp(40, 0.1))
