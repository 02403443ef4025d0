"""The proven upper bound: above the exact optimum, close to the Lanczos bound, and a PSD check
that rejects a shift that is too small."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from derand import sdp
from derand.maxcut.exact import exact_maxcut
from derand.maxcut.graph import Graph, from_edges, gnp, torus
from derand.maxcut.sdp import coupling, dual_vector, solve_sdp
from derand.sdp import ProvenBound, check_psd, upper_sum


def prove_bound(g: Graph, y: np.ndarray, lam: float) -> ProvenBound:
    """The proof for ``C = -A/4`` in cut units (``W/2`` added rounding upwards)."""
    pb = sdp.prove_bound(coupling(g), y, lam)
    if not pb.proven:
        return pb
    return dataclasses.replace(
        pb, upper_bound=upper_sum(math.fsum(g.w.tolist()) / 2, pb.upper_bound)
    )


@pytest.mark.parametrize("seed", range(6))
def test_proven_bound_is_above_the_exact_optimum(seed: int) -> None:
    kind = ("one", "pm1", "normal")[seed % 3]
    g = gnp(18, 0.4, seed=seed, weights=kind)
    res = solve_sdp(g, seed=seed)
    pb = prove_bound(g, dual_vector(g, res.V), res.lambda_max)
    assert pb.proven and pb.note == ""
    assert pb.upper_bound >= exact_maxcut(g).cut
    assert pb.upper_bound >= res.value
    # within 0.01 % of the Lanczos bound it certifies
    assert pb.upper_bound <= res.upper_bound + 1e-4 * abs(res.upper_bound) + 1e-9


def test_proof_also_works_for_a_poor_dual_vector() -> None:
    g = torus(4, 5, seed=1)
    V = np.random.default_rng(0).standard_normal((g.n, 2))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    y = dual_vector(g, V)
    lam = float(np.linalg.eigvalsh(coupling(g).toarray() - np.diag(y))[-1])
    pb = prove_bound(g, y, lam)
    assert pb.proven and pb.upper_bound >= exact_maxcut(g).cut


def test_psd_check_rejects_a_shift_that_is_too_small() -> None:
    g = gnp(40, 0.2, seed=3, weights="normal")
    res = solve_sdp(g)
    y = dual_vector(g, res.V)
    C = coupling(g)
    lam = float(np.linalg.eigvalsh(C.toarray() - np.diag(y))[-1])  # PSD iff delta >= lam
    assert lam > 1e-6  # the SDP is not solved to machine precision: a shift is needed
    ok, c = check_psd(C, y + lam + 1e-7)
    assert ok and 0 < c < 1e-9
    ok, c = check_psd(C, y + lam - 1e-7)
    assert not ok and math.isnan(c)
    ok, _ = check_psd(C, y)  # no shift at all
    assert not ok


def test_two_node_closed_form() -> None:
    g = from_edges(2, np.array([0]), np.array([1]), np.array([3.0]))
    # Diag(z, z) - C, C = -A/4, has eigenvalues z +- 3/4: PSD iff z >= 3/4 (W/2 + 2 z = 3)
    C = coupling(g)
    assert check_psd(C, np.array([0.75 + 1e-9] * 2))[0]
    assert not check_psd(C, np.array([0.75 - 1e-9] * 2))[0]
    pb = prove_bound(g, np.array([0.75, 0.75]), 0.0)
    assert pb.proven and 3.0 <= pb.upper_bound <= 3.0 + 1e-6


def test_memory_refusal_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    mod = sys.modules["derand.sdp.proof"]
    monkeypatch.setattr(mod, "available_memory", lambda: 1000)
    g = gnp(30, 0.2, seed=1)
    pb = prove_bound(g, np.ones(g.n), 0.0)
    assert not pb.proven and "not proven" in pb.note and math.isnan(pb.upper_bound)
