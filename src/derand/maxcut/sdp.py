"""The Goemans-Williamson SDP by a low-rank factorisation, and its certified dual bound.

Paper, section on Max-Cut: maximise ``1/4 <L, X>`` over ``diag(X) = 1,
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
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from derand.errors import InputError
from derand.limits import check_count, check_seed, require_memory
from derand.maxcut.graph import Graph

__all__ = [
    "COMPILED_N",
    "SDPResult",
    "default_rank",
    "dual_bound",
    "dual_vector",
    "greedy_colouring",
    "sdp_objective",
    "solve_sdp",
]

COMPILED_N = 64
"""From this many nodes on, the sweeps run compiled (:mod:`derand.maxcut.mixing`)."""


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
    interrupted : bool
        True when Ctrl-C stopped the sweeps early.
    """

    V: NDArray[np.float64] = field(repr=False)
    value: float
    upper_bound: float
    lambda_max: float
    sweeps: int
    seconds: float
    interrupted: bool = False


def sdp_objective(graph: Graph, V: NDArray[np.float64]) -> float:
    """``1/4 <L, V V^T> = sum_{uv} w_uv (1 - v_u . v_v) / 2`` for unit rows ``V``.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from derand.maxcut import from_edges
    >>> sdp_objective(from_edges(2, np.array([0]), np.array([1])), np.array([[1.0], [-1.0]]))
    1.0
    """
    dots = np.einsum("ij,ij->i", V[graph.u], V[graph.v])
    return float(np.sum(graph.w * (1.0 - dots)) / 2.0)


def greedy_colouring(adj: sp.csr_matrix) -> list[NDArray[np.int64]]:
    """Colour classes (independent sets) of a greedy largest-degree-first colouring.

    Returns
    -------
    list of ndarray
        Node indices of each colour; no edge joins two nodes of one class.

    Examples
    --------
    >>> from derand.maxcut import torus
    >>> len(greedy_colouring(torus(4, 4).adjacency()))
    2
    """
    n = adj.shape[0]
    indptr, indices = adj.indptr, adj.indices
    order = np.argsort(-np.diff(indptr), kind="stable")
    if n >= COMPILED_N:
        from derand.maxcut.mixing import greedy_colours

        colour = greedy_colours(
            indptr.astype(np.int64), indices.astype(np.int64), order.astype(np.int64)
        )
        return [np.flatnonzero(colour == c) for c in range(int(colour.max(initial=-1)) + 1)]
    colour = np.full(n, -1, np.int64)
    for i in order.tolist():
        nb = colour[indices[indptr[i] : indptr[i + 1]]]
        used = np.unique(nb[nb >= 0])
        # smallest colour not in `used` (used is sorted)
        c = int(np.searchsorted(used - np.arange(used.size), 1)) if used.size else 0
        colour[i] = c
    return [np.flatnonzero(colour == c) for c in range(int(colour.max()) + 1)]


def dual_vector(graph: Graph, V: NDArray[np.float64]) -> NDArray[np.float64]:
    """The dual vector ``y_i = 1/4 sum_j L_ij v_i . v_j`` read off an SDP factor ``V``.

    Returns
    -------
    ndarray
        ``y`` with ``sum(y) = sdp_objective(V)``; ``Diag(y) - L/4`` is nearly PSD at the optimum.

    Examples
    --------
    >>> from derand.maxcut import paper_graph
    >>> g = paper_graph()
    >>> res = solve_sdp(g)
    >>> bool(abs(dual_vector(g, res.V).sum() - res.value) < 1e-9)
    True
    """
    lap = graph.laplacian()
    out: NDArray[np.float64] = 0.25 * np.einsum("ij,ij->i", V, lap @ V)
    return out


def dual_bound(graph: Graph, V: NDArray[np.float64], *, tol: float = 1e-4) -> tuple[float, float]:
    """The certified upper bound from ``V`` (paper, Max-Cut section).

    With ``y_i = 1/4 sum_j L_ij v_i . v_j``, returns ``(sum(y) + n max(0, lam), lam)`` where
    ``lam`` is the largest eigenvalue of ``L/4 - Diag(y)`` computed by Lanczos (scipy
    ``eigsh`` with relative tolerance ``tol``; dense ``eigvalsh`` for n <= 400); the residual
    norm of the Ritz pair is added to ``lam``, so ``lam`` is an upper bound on *an* eigenvalue
    near the top. Lanczos converges to the largest eigenvalue from a random start, but this
    is not a proof that no larger eigenvalue exists (:mod:`derand.maxcut.bound` gives the
    proof). The default ``tol = 1e-4`` is relative to ``|lam|``, which is tiny near the SDP
    optimum, so it is ample: a stricter one costs up to 10x the time on clustered spectra.
    Weak duality makes it valid for *any* ``V``; its tightness
    depends on how well ``V`` solves the SDP.

    Returns
    -------
    (float, float)
        The bound and ``lam``.

    Examples
    --------
    >>> from derand.maxcut import paper_graph
    >>> g = paper_graph()
    >>> bound, lam = dual_bound(g, solve_sdp(g).V)
    >>> bound >= 41
    True
    """
    n = graph.n
    lap = graph.laplacian()
    y = dual_vector(graph, V)
    m = (0.25 * lap - sp.diags(y)).tocsr()
    if n <= 400:
        lam = float(np.linalg.eigvalsh(m.toarray())[-1])
    else:
        lam = _top_eigenvalue(m, tol)
    return float(np.sum(y) + n * max(0.0, lam)), lam


def _top_eigenvalue(m: sp.csr_matrix, tol: float) -> float:
    """Largest eigenvalue of symmetric ``m`` by Lanczos, plus the Ritz residual.

    The top of the spectrum of ``L/4 - Diag(y)`` clusters near 0 at an SDP optimum, where
    ARPACK may not converge to ``tol``; then we retry with a looser tolerance and a larger
    subspace, and as a last resort use Gershgorin's bound ``max_i (m_ii + sum_j |m_ij|)``
    (valid, but loose).
    """
    from scipy.sparse.linalg import ArpackNoConvergence, eigsh  # not needed for tiny graphs

    n = m.shape[0]
    v0 = np.random.default_rng(0).standard_normal(n)
    for t, ncv in ((tol, min(n, 20)), (max(tol, 1e-3), min(n, 64))):
        try:
            vals, vecs = eigsh(m, k=1, which="LA", v0=v0, tol=t, ncv=ncv)
        except ArpackNoConvergence:
            continue
        lam = float(vals[0])
        return lam + float(np.linalg.norm(m @ vecs[:, 0] - lam * vecs[:, 0]))
    absm = abs(m)
    diag = m.diagonal()
    return float(np.max(diag + np.asarray(absm.sum(axis=1)).ravel() - np.abs(diag)))


def default_rank(n: int) -> int:
    """The default SDP rank ``min(24, ceil(sqrt(2 n)) + 1)`` (Barvinok-Pataki: some optimal
    ``X`` has rank ``<= sqrt(2 n)``), capped at ``n``.

    Returns
    -------
    int

    Examples
    --------
    >>> default_rank(800)
    24
    """
    return max(1, min(n, 24, int(np.ceil(np.sqrt(2 * n))) + 1))


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
    """Solve the GW SDP by the mixing method and bound it from above by the dual.

    Parameters
    ----------
    graph : Graph
    rank : int, optional
        Columns ``p`` of ``V`` (``1 <= p <= n``); default :func:`default_rank` (the bound is
        valid whatever the rank).
    seed : int
        Seed of the random initial ``V``.
    tol : float
        Stop when the objective improves by less than ``tol * sum|w|`` per sweep (checked
        every 10 sweeps).
    max_sweeps : int
        Sweep limit.
    time_limit : float, optional
        Seconds; the sweeps stop early (the result is still feasible and bounded).
    callback : callable, optional
        ``callback(done, total)`` every 10 sweeps. A KeyboardInterrupt (Ctrl-C, or raised by
        the callback) stops the sweeps and keeps the current ``V``.

    Returns
    -------
    SDPResult
        ``value <= SDP optimum <= upper_bound`` (Burer-Monteiro gives a feasible point; the
        dual gives the bound, up to the Lanczos caveat of :func:`dual_bound`).

    Raises
    ------
    InputError
        For a rank outside ``[1, n]``, a factor that does not fit in memory, or non-finite
        numbers in the solution.

    Examples
    --------
    >>> from derand.maxcut import paper_graph
    >>> res = solve_sdp(paper_graph())
    >>> res.value <= res.upper_bound
    True
    """
    start = time.perf_counter()
    n = graph.n
    p = default_rank(n) if rank is None else check_count(rank, "rank", high=n)
    seed = check_seed(seed)
    max_sweeps = check_count(max_sweeps, "max_sweeps", high=10**9)
    require_memory(8.0 * n * p * 3 + 24.0 * graph.m, f"the SDP factor for n = {n}, rank {p}")
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((n, p))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    adj = graph.adjacency()
    classes = greedy_colouring(adj) if graph.m else []
    compiled = n >= COMPILED_N and graph.m > 0
    blocks = [] if compiled else [(c, adj[c]) for c in classes]
    if compiled:
        from derand.maxcut.mixing import mixing_sweeps

        order = np.concatenate(classes).astype(np.int64)
        indptr, indices = adj.indptr.astype(np.int64), adj.indices.astype(np.int64)
    prev = sdp_objective(graph, V)
    sweeps = 0
    scale = max(1.0, float(np.sum(np.abs(graph.w))))
    check = 10  # sweeps between objective evaluations
    try:
        while sweeps < max_sweeps and graph.m:
            todo = min(check, max_sweeps - sweeps)
            if compiled:
                mixing_sweeps(indptr, indices, adj.data, order, V, todo)
            else:
                for _ in range(todo):
                    for idx, rows in blocks:
                        g = rows @ V
                        norms = np.linalg.norm(g, axis=1)
                        ok = norms > 1e-300  # isolated or balanced nodes keep their vector
                        V[idx[ok]] = g[ok] / -norms[ok, None]
            sweeps += todo
            if callback is not None:
                callback(sweeps, max_sweeps)
            value = sdp_objective(graph, V)
            if value - prev < tol * todo * scale or (
                time_limit is not None and time.perf_counter() - start > time_limit
            ):
                break
            prev = value
    except KeyboardInterrupt:
        interrupted = True
    else:
        interrupted = False
    if not np.all(np.isfinite(V)):
        raise InputError("the SDP produced non-finite numbers (weights out of range?)")
    value = sdp_objective(graph, V)
    bound, lam = dual_bound(graph, V)
    if not (np.isfinite(bound) and np.isfinite(value)):
        raise InputError("the SDP bound is not finite (weights out of range?)")
    return SDPResult(
        V=V,
        value=value,
        upper_bound=max(bound, value),
        lambda_max=lam,
        sweeps=sweeps,
        seconds=time.perf_counter() - start,
        interrupted=interrupted,
    )
