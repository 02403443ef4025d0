"""The Goemans-Williamson SDP of a graph, as a client of :mod:`derand.sdp`.

Paper, Max-Cut section: maximise ``1/4 <L, X>`` over ``diag(X) = 1``, ``X`` psd. With
``cut(s) = W/2 + <C, s s^T>`` for ``C = -A/4`` (``W`` the total weight), this is the generic
unit-diagonal SDP ``max <C, X>`` plus the constant ``W/2``: solved by the mixing method and
bounded by weak duality in :mod:`derand.sdp`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from derand import sdp
from derand.maxcut.graph import Graph
from derand.rounding import QuadraticObjective

__all__ = ["SDPResult", "cut_objective", "dual_bound", "dual_vector", "sdp_objective", "solve_sdp"]


def cut_objective(graph: Graph) -> QuadraticObjective:
    """``cut(s) = W/2 + sum_e (-w_e / 2) s_u s_v`` as a quadratic ±1 objective (edge order kept).

    Returns
    -------
    QuadraticObjective

    Examples
    --------
    >>> from derand.maxcut import paper_graph
    >>> g = paper_graph()
    >>> s = np.where(np.arange(g.n) % 2 == 0, 1, -1)
    >>> cut_objective(g).value(s) == g.cut_value(s)
    True
    """
    return QuadraticObjective(
        n=graph.n,
        constant=float(np.sum(graph.w)) / 2.0,
        h=np.zeros(graph.n),
        u=graph.u,
        v=graph.v,
        J=-0.5 * graph.w,
    )


def coupling(graph: Graph) -> sp.csr_matrix:
    """``C = -A / 4``: ``cut(s) = W/2 + <C, s s^T>``.

    Returns
    -------
    scipy.sparse.csr_matrix
    """
    return cut_objective(graph).coupling()


SDPResult = sdp.SDPSolution
"""The graph's SDP solution is the generic one with ``value`` and ``upper_bound`` in cut units
(``W/2`` added): ``value = 1/4 <L, V V^T>``, and ``lambda_max`` that of ``C - Diag(y)``, the same
matrix as ``L/4 - Diag(y')``."""


def sdp_objective(graph: Graph, V: NDArray[np.float64]) -> float:
    """``1/4 <L, V V^T> = sum_{uv} w_uv (1 - v_u . v_v) / 2`` for unit rows ``V``.

    Returns
    -------
    float

    Examples
    --------
    >>> from derand.maxcut import from_edges
    >>> sdp_objective(from_edges(2, np.array([0]), np.array([1])), np.array([[1.0], [-1.0]]))
    1.0
    """
    dots = np.einsum("ij,ij->i", V[graph.u], V[graph.v])
    return float(np.sum(graph.w * (1.0 - dots)) / 2.0)


def dual_vector(graph: Graph, V: NDArray[np.float64]) -> NDArray[np.float64]:
    """The dual vector ``y_i = v_i . (C V)_i`` of ``C = -A/4`` (:func:`derand.sdp.dual_vector`).

    Returns
    -------
    ndarray
        ``y`` with ``W/2 + sum(y) = sdp_objective(V)`` (up to rounding).
    """
    return sdp.dual_vector(coupling(graph), V)


def dual_bound(graph: Graph, V: NDArray[np.float64], *, tol: float = 1e-4) -> tuple[float, float]:
    """``W/2`` plus the dual bound of ``C = -A/4`` at ``V``, and ``lambda_max``.

    Returns
    -------
    (float, float)

    Examples
    --------
    >>> from derand.maxcut import paper_graph
    >>> g = paper_graph()
    >>> bound, lam = dual_bound(g, solve_sdp(g).V)
    >>> bound >= 41
    True
    """
    bound, lam = sdp.dual_bound(coupling(graph), V, tol=tol)
    return float(np.sum(graph.w)) / 2.0 + bound, lam


def solve_sdp(
    graph: Graph,
    *,
    rank: int | None = None,
    seed: int = 0,
    tol: float = 1e-8,
    max_sweeps: int = 5000,
    time_limit: float | None = None,
    callback: Callable[[int, int], None] | None = None,
    bound_seconds: float | None = None,
) -> SDPResult:
    """Solve the graph's GW SDP (:func:`derand.sdp.solve_sdp` on ``C = -A/4``).

    Parameters
    ----------
    graph : Graph
    rank, seed, tol, max_sweeps, time_limit, callback, bound_seconds
        As in :func:`derand.sdp.solve_sdp` (``tol`` relative to the total absolute weight).

    Returns
    -------
    SDPResult
        ``value <= SDP optimum <= upper_bound``.

    Raises
    ------
    InputError
        For a graph without nodes, a rank outside ``[1, n]``, a factor that does not fit in
        memory, or non-finite numbers.

    Examples
    --------
    >>> from derand.maxcut import paper_graph
    >>> res = solve_sdp(paper_graph())
    >>> res.value <= res.upper_bound
    True
    """
    C = coupling(graph)
    res = sdp.solve_sdp(
        C, rank=rank, seed=seed, tol=tol, max_sweeps=max_sweeps, time_limit=time_limit,
        callback=callback, checked=True, bound_seconds=bound_seconds,
    )  # fmt: skip
    half = float(np.sum(graph.w)) / 2.0
    value = sdp_objective(graph, res.V)
    return dataclasses.replace(res, value=value, upper_bound=max(half + res.upper_bound, value))
