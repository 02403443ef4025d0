"""The Goemans-Williamson SDP by a low-rank factorisation, and its certified dual bound.

DESIGN.md section 2 / paper section on Max-Cut: maximise ``1/4 <L, X>`` over ``diag(X) = 1,
X psd``. We write ``X = V V^T`` with unit rows (Burer-Monteiro) and run the mixing method of
Wang, Chang & Kolter: ``v_i <- -normalize(sum_j w_ij v_j)``. Nodes are greedily coloured so
that each colour class is an independent set; updating one class at once is then *exactly* the
sequential coordinate update, done with one sparse product per class.

The dual ``min sum(y) s.t. Diag(y) - L/4 psd`` gives, for any ``y``,
``sum(y) + n max(0, lambda_max(L/4 - Diag(y))) >= SDP >= max cut``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import NDArray

from derand.errors import InputError
from derand.maxcut.graph import Graph

__all__ = ["SDPResult", "dual_bound", "greedy_colouring", "sdp_objective", "solve_sdp"]


@dataclass(frozen=True)
class SDPResult:
    """A low-rank SDP solution and its certificate.

    Attributes
    ----------
    V : ndarray (n, p)
        Unit-norm rows; ``X = V V^T`` is feasible for the GW SDP.
    value : float
        ``1/4 <L, V V^T>``: a *lower* bound on the SDP optimum (feasible point).
    upper_bound : float
        The dual bound ``sum(y) + n max(0, lambda_max)``: an upper bound on the SDP optimum and
        hence on the maximum cut (up to the Lanczos tolerance, see :func:`dual_bound`).
    lambda_max : float
        Largest eigenvalue of ``L/4 - Diag(y)`` used in the bound.
    sweeps : int
        Mixing-method sweeps performed.
    seconds : float
        Wall time.
    """

    V: NDArray[np.float64]
    value: float
    upper_bound: float
    lambda_max: float
    sweeps: int
    seconds: float


def sdp_objective(graph: Graph, V: NDArray[np.float64]) -> float:
    """``1/4 <L, V V^T> = sum_{uv} w_uv (1 - v_u . v_v) / 2`` for unit rows ``V``."""
    dots = np.einsum("ij,ij->i", V[graph.u], V[graph.v])
    return float(np.sum(graph.w * (1.0 - dots)) / 2.0)


def greedy_colouring(adj: sp.csr_matrix) -> list[NDArray[np.int64]]:
    """Colour classes (independent sets) of a greedy largest-degree-first colouring."""
    n = adj.shape[0]
    indptr, indices = adj.indptr, adj.indices
    order = np.argsort(-np.diff(indptr), kind="stable")
    colour = np.full(n, -1, np.int64)
    for i in order.tolist():
        nb = colour[indices[indptr[i] : indptr[i + 1]]]
        used = np.unique(nb[nb >= 0])
        # smallest colour not in `used` (used is sorted)
        c = int(np.searchsorted(used - np.arange(used.size), 1)) if used.size else 0
        colour[i] = c
    return [np.flatnonzero(colour == c) for c in range(int(colour.max()) + 1)]


def dual_bound(graph: Graph, V: NDArray[np.float64], *, tol: float = 1e-8) -> tuple[float, float]:
    """The certified upper bound from ``V`` (DESIGN.md section 2).

    With ``y_i = 1/4 sum_j L_ij v_i . v_j``, returns ``(sum(y) + n max(0, lam), lam)`` where
    ``lam`` is the largest eigenvalue of ``L/4 - Diag(y)`` computed by Lanczos (scipy
    ``eigsh`` with relative tolerance ``tol``; dense ``eigvalsh`` for n <= 400); the residual
    norm of the Ritz pair is added to ``lam``, so ``lam`` is an upper bound on *an* eigenvalue
    near the top. Lanczos converges to the largest eigenvalue from a random start, but this
    is not a proof that no larger eigenvalue exists: the bound is certified up to that
    (standard) numerical caveat. Weak duality makes it valid for *any* ``V``; its tightness
    depends on how well ``V`` solves the SDP.
    """
    n = graph.n
    lap = graph.laplacian()
    y = 0.25 * np.einsum("ij,ij->i", V, lap @ V)
    m = (0.25 * lap - sp.diags(y)).tocsr()
    if n <= 400:
        lam = float(np.linalg.eigvalsh(m.toarray())[-1])
    else:
        rng = np.random.default_rng(0)
        v0 = rng.standard_normal(n)
        vals, vecs = spla.eigsh(m, k=1, which="LA", v0=v0, tol=tol, ncv=min(n, 20))
        lam = float(vals[0])
        resid = float(np.linalg.norm(m @ vecs[:, 0] - lam * vecs[:, 0]))
        lam += resid
    return float(np.sum(y) + n * max(0.0, lam)), lam


def solve_sdp(
    graph: Graph,
    *,
    rank: int | None = None,
    seed: int = 0,
    tol: float = 1e-8,
    max_sweeps: int = 5000,
    time_limit: float | None = None,
    callback: Callable[[int, int], None] | None = None,
) -> SDPResult:
    """Solve the GW SDP by the (colour-blocked) mixing method and certify it.

    Parameters
    ----------
    graph : Graph
    rank : int, optional
        Columns ``p`` of ``V``; default ``ceil(sqrt(2 n)) + 1`` capped at 24 (the bound
        certifies the result whatever the rank).
    seed : int
        Seed of the random initial ``V``.
    tol : float
        Stop when the objective improves by less than ``tol * sum|w|`` per sweep (checked
        every 10 sweeps).
    max_sweeps : int
        Sweep limit.
    time_limit : float, optional
        Seconds; the sweeps stop early (the result is still feasible and certified).
    callback : callable, optional
        ``callback(done, total)`` after each sweep.

    Returns
    -------
    SDPResult
        ``value <= SDP optimum <= upper_bound`` (Burer-Monteiro gives a feasible point; the
        dual gives the bound).
    """
    start = time.perf_counter()
    n = graph.n
    p = rank if rank is not None else min(24, int(np.ceil(np.sqrt(2 * n))) + 1)
    if p < 1:
        raise InputError(f"rank must be >= 1, got {p}")
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((n, p))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    adj = graph.adjacency()
    classes = greedy_colouring(adj) if graph.m else []
    blocks = [(c, adj[c]) for c in classes]
    prev = sdp_objective(graph, V)
    sweeps = 0
    scale = max(1.0, float(np.sum(np.abs(graph.w))))
    check = 10  # sweeps between objective evaluations
    try:
        for sweeps in range(1, max_sweeps + 1):
            for idx, rows in blocks:
                g = rows @ V
                norms = np.linalg.norm(g, axis=1)
                if np.all(norms > 1e-300):
                    V[idx] = g / -norms[:, None]
                else:  # isolated or balanced nodes keep their vector
                    ok = norms > 1e-300
                    V[idx[ok]] = g[ok] / -norms[ok, None]
            if callback is not None:
                callback(sweeps, max_sweeps)
            if sweeps % check and sweeps != max_sweeps:
                continue
            value = sdp_objective(graph, V)
            if value - prev < tol * check * scale or (
                time_limit is not None and time.perf_counter() - start > time_limit
            ):
                break
            prev = value
    except KeyboardInterrupt:
        pass
    value = sdp_objective(graph, V)
    bound, lam = dual_bound(graph, V)
    return SDPResult(
        V=V,
        value=value,
        upper_bound=max(bound, value),
        lambda_max=lam,
        sweeps=sweeps,
        seconds=time.perf_counter() - start,
    )
