"""Low-rank SDP vs an interior-point solve (cvxpy), and the certified dual bound."""

from __future__ import annotations

import numpy as np
import pytest

from derand.maxcut.exact import exact_maxcut
from derand.maxcut.graph import Graph, gnp, torus
from derand.maxcut.sdp import dual_bound, sdp_objective, solve_sdp
from derand.sdp import greedy_colouring


def cvxpy_sdp(g: Graph) -> float:
    cp = pytest.importorskip("cvxpy")
    lap = g.laplacian().toarray()
    X = cp.Variable((g.n, g.n), symmetric=True)
    prob = cp.Problem(cp.Maximize(cp.trace(lap @ X) / 4), [X >> 0, cp.diag(X) == 1])
    prob.solve(solver="CLARABEL")
    return float(prob.value)


@pytest.mark.parametrize(
    "g",
    [gnp(30, 0.3, seed=1), gnp(60, 0.1, seed=2), gnp(40, 0.3, seed=3, weights="pm1"), torus(5, 6)],
    ids=["gnp30", "gnp60", "pm1", "torus"],
)
def test_low_rank_matches_cvxpy_and_bound_is_valid(g: Graph) -> None:
    ref = cvxpy_sdp(g)
    res = solve_sdp(g, seed=0)
    assert res.value == pytest.approx(ref, rel=1e-5, abs=1e-5)
    assert res.upper_bound >= ref - 1e-6 * max(1.0, abs(ref))
    assert res.upper_bound >= res.value
    assert res.upper_bound <= ref * (1 + 1e-3) + 1e-3
    np.testing.assert_allclose(np.linalg.norm(res.V, axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_bound_above_exact_optimum(seed: int) -> None:
    g = gnp(16, 0.4, seed=seed, weights="pm1" if seed % 2 else "one")
    res = solve_sdp(g, seed=seed)
    opt = exact_maxcut(g).cut
    assert res.upper_bound >= res.value - 1e-9
    assert res.upper_bound >= opt - 1e-9
    # weak duality holds for any V, even a poor one
    V = np.random.default_rng(seed).standard_normal((g.n, 3))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    assert dual_bound(g, V)[0] >= opt - 1e-9
    assert sdp_objective(g, V) <= res.upper_bound


def test_lanczos_bound_on_larger_graph() -> None:
    g = gnp(500, 0.02, seed=7)
    res = solve_sdp(g)
    assert res.value <= res.upper_bound <= res.value * 1.001


def test_colouring_is_proper() -> None:
    g = gnp(80, 0.2, seed=1)
    classes = greedy_colouring(g.adjacency())
    colour = np.empty(g.n, int)
    for c, idx in enumerate(classes):
        colour[idx] = c
    assert np.all(colour[g.u] != colour[g.v])
    assert sorted(np.concatenate(classes).tolist()) == list(range(g.n))


def test_lanczos_failure_falls_back_to_a_valid_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    import scipy.sparse.linalg as spla

    def fail(*args: object, **kwargs: object) -> None:
        raise spla.ArpackNoConvergence("no convergence", np.zeros(0), np.zeros((0, 0)))

    monkeypatch.setattr(spla, "eigsh", fail)
    g = gnp(1050, 0.01, seed=4)  # n > DENSE_N: the Lanczos path
    res = solve_sdp(g, max_sweeps=30)
    assert res.bound_method == "gershgorin"
    lap = g.laplacian().toarray()
    y = 0.25 * np.einsum("ij,ij->i", res.V, lap @ res.V)
    lam = float(np.linalg.eigvalsh(0.25 * lap - np.diag(y))[-1])
    assert res.lambda_max >= lam - 1e-9  # Gershgorin: valid, loose
    assert res.upper_bound >= res.value


@pytest.mark.parametrize("make", [lambda: gnp(300, 0.05, seed=3), lambda: torus(12, 15, seed=1)])
def test_compiled_colouring_equals_the_python_one(
    make: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from derand.sdp import mixing as sdp

    g = make()  # type: ignore[operator]
    adj = g.adjacency()
    compiled = greedy_colouring(adj)
    monkeypatch.setattr(sdp, "COMPILED_N", 10**9)
    python = greedy_colouring(adj)
    assert len(compiled) == len(python)
    for a, b in zip(compiled, python, strict=True):
        np.testing.assert_array_equal(a, b)
    colour = np.empty(g.n, int)
    for c, idx in enumerate(compiled):
        colour[idx] = c
    assert np.all(colour[g.u] != colour[g.v])


def test_lanczos_top_eigenvalue_near_zero_is_fast_and_close() -> None:
    # the SDP's optimality condition puts lambda_max(C - Diag(y)) at 0, where a tolerance
    # relative to the eigenvalue cannot be met: minus a grid's Laplacian has its top
    # eigenvalue exactly 0 with a cluster just below it (dense eigvalsh as the reference)
    import time

    import scipy.sparse as sp

    from derand.maxcut import torus
    from derand.sdp.mixing import _top_eigenvalue

    g = torus(25, 25)
    a = abs(g.adjacency())  # nonnegative weights: -L has lambda_max = 0
    m = (a - sp.diags(np.asarray(a.sum(axis=1)).ravel())).tocsr()
    exact = float(np.linalg.eigvalsh(m.toarray())[-1])
    t = time.perf_counter()
    lam = _top_eigenvalue(m, 1e-4)
    assert time.perf_counter() - t < 5.0
    radius = float(abs(m).sum(axis=1).max())
    assert abs(exact) < 1e-9 and exact - 1e-9 <= lam <= exact + 1e-3 * radius


def test_dense_dual_bound_eigenvalue_on_one_thread_equals_eigvalsh() -> None:
    # the dense path of dual_bound (n <= 400) runs LAPACK on one BLAS thread; the eigenvalue is
    # that of numpy's eigvalsh on all threads, and the BLAS limit is restored afterwards
    from threadpoolctl import threadpool_info

    from derand.csp import objective
    from derand.csp.generators import random_max2sat
    from derand.sdp import dual_vector
    from derand.sdp import solve_sdp as generic_sdp
    from derand.sdp.mixing import _dense_top_eigenvalue

    before = [(i["prefix"], i["num_threads"]) for i in threadpool_info()]
    rng = np.random.default_rng(3)
    b = rng.standard_normal((150, 150))
    b = b + b.T
    assert _dense_top_eigenvalue(b) == pytest.approx(float(np.linalg.eigvalsh(b)[-1]), rel=1e-12)
    hom = objective(random_max2sat(120, 900, seed=2)).homogenized()
    C = hom.coupling()
    sdp = generic_sdp(C, seed=0)  # n + 1 = 121 <= 400: the dense path
    y = dual_vector(C, sdp.V)
    import scipy.sparse as sp

    lam = float(np.linalg.eigvalsh((C - sp.diags(y)).toarray())[-1])
    assert sdp.lambda_max == pytest.approx(lam, abs=1e-12)
    assert sdp.upper_bound >= sdp.value
    assert [(i["prefix"], i["num_threads"]) for i in threadpool_info()] == before
