"""Any unit-diagonal SDP ``max <C, V V^T>`` s.t. ``diag(V V^T) = 1``, by the mixing method.

``C`` is a sparse symmetric matrix with zero diagonal (a diagonal only adds the constant
``tr C``). We write ``X = V V^T`` with unit rows (Burer-Monteiro; some optimal ``X`` has rank
``<= sqrt(2 n)``, Barvinok-Pataki) and run the mixing method of Wang, Chang & Kolter (2017):
``v_i <- normalize(sum_j C_ij v_j)``, the exact maximiser of the objective in ``v_i``. Nodes are
greedily coloured so that each colour class is an independent set of ``C``'s graph; updating
one class at once is then exactly the sequential update (compiled from :data:`COMPILED_N`
variables on, :mod:`derand.sdp._mixing`, ahead of time when built: :mod:`derand.maxcut.kernels`).

Weak duality gives the certificate: for any ``y``, with ``lam = lambda_max(C - Diag(y))``,
``sum(y) + n max(0, lam) >= SDP``; ``y_i = v_i . (C V)_i`` makes it tight at an optimum
(:func:`dual_bound`; :func:`derand.sdp.prove_bound` proves it with rounding errors covered).
Max-Cut is ``C = -A/4`` plus the constant ``W/2``; problems with linear terms add a truth
variable (:meth:`derand.rounding.QuadraticObjective.homogenized`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from derand.errors import InputError
from derand.limits import check_count, check_seed, require_memory

__all__ = [
    "COMPILED_N",
    "EIGENVALUE_METHODS",
    "SDPSolution",
    "as_coupling",
    "default_rank",
    "dual_bound",
    "dual_vector",
    "greedy_colouring",
    "sdp_value",
    "solve_sdp",
    "top_eigenvalue",
]

Array = NDArray[np.float64]

COMPILED_N = 64
"""From this many variables on, the sweeps run compiled."""
DENSE_N = 1000
"""Up to this many variables the dual bound's eigenvalue is dense ``eigvalsh`` (one BLAS
thread): 0.12 s at n = 800, where Lanczos at a half-converged SDP point took 1-3.5 s (Gset G2
after 170 sweeps: its top eigenvalues cluster within 1e-4), and 0.25 s at n = 1000; dense
grows as n^3 (1.5 s at n = 2000), Lanczos at most linearly per product."""


@dataclass(frozen=True)
class SDPSolution:
    """A low-rank SDP solution and its dual certificate.

    Attributes
    ----------
    V : ndarray (n, p)
        Unit rows; ``X = V V^T`` is feasible.
    value : float
        ``<C, V V^T>``: a lower bound on the SDP optimum.
    upper_bound : float
        ``sum(y) + n max(0, lambda_max)``: an upper bound on the SDP optimum (up to the Lanczos
        caveat of :func:`dual_bound`).
    lambda_max : float
        Upper estimate of the largest eigenvalue of ``C - Diag(y)`` (:func:`top_eigenvalue`).
    sweeps : int
    seconds : float
    interrupted : bool
        Ctrl-C stopped the sweeps early (``V`` is still feasible).
    bound_method : str
        How ``lambda_max`` was found (:data:`EIGENVALUE_METHODS`): ``"gershgorin"`` means the
        Lanczos bound was skipped, ran out of its time or did not converge, and
        ``upper_bound`` is valid but loose.
    """

    V: Array = field(repr=False)
    value: float
    upper_bound: float
    lambda_max: float
    sweeps: int
    seconds: float
    interrupted: bool = False
    bound_method: str = "lanczos"


def as_coupling(C: Any) -> sp.csr_matrix:
    """``C`` as a CSR matrix, checked: square, symmetric, zero diagonal, finite.

    Returns
    -------
    scipy.sparse.csr_matrix

    Raises
    ------
    InputError
    """
    M = sp.csr_matrix(C, dtype=np.float64)
    n = M.shape[0]
    if M.shape != (n, n):
        raise InputError(f"C must be square, got shape {M.shape}")
    if not np.all(np.isfinite(M.data)):
        raise InputError("C has a non-finite entry")
    if np.any(M.diagonal() != 0):
        raise InputError("C must have a zero diagonal (the diagonal only adds tr C)")
    if (abs(M - M.T) > 0).nnz:
        raise InputError("C must be symmetric")
    return M


def sdp_value(C: sp.csr_matrix, V: Array) -> float:
    """``<C, V V^T> = sum_i v_i . (C V)_i``.

    Returns
    -------
    float
    """
    return float(np.sum(V * (C @ V)))


def _kernels() -> Any:
    """The module holding the compiled sweeps and colouring: ahead of time when built and
    current (:mod:`derand.maxcut.kernels`; no numba import), else :mod:`derand.sdp._mixing`
    (numba's JIT)."""
    from derand.maxcut.kernels import compiled

    return compiled("sdp")[0]


def greedy_colouring(adj: sp.csr_matrix) -> list[NDArray[np.int64]]:
    """Colour classes (independent sets) of a greedy largest-degree-first colouring of the
    graph of ``adj``'s nonzero pattern.

    Returns
    -------
    list of ndarray
        Node indices of each colour; no edge joins two nodes of one class.
    """
    n = adj.shape[0]
    indptr, indices = adj.indptr, adj.indices
    order = np.argsort(-np.diff(indptr), kind="stable")
    if n >= COMPILED_N:
        colour = _kernels().greedy_colours(
            indptr.astype(np.int64), indices.astype(np.int64), order.astype(np.int64)
        )
        return [np.flatnonzero(colour == c) for c in range(int(colour.max(initial=-1)) + 1)]
    colour = np.full(n, -1, np.int64)
    for i in order.tolist():
        nb = colour[indices[indptr[i] : indptr[i + 1]]]
        used = np.unique(nb[nb >= 0])
        c = int(np.searchsorted(used - np.arange(used.size), 1)) if used.size else 0
        colour[i] = c
    return [np.flatnonzero(colour == c) for c in range(int(colour.max(initial=-1)) + 1)]


def dual_vector(C: sp.csr_matrix, V: Array) -> Array:
    """``y_i = v_i . (C V)_i``: ``sum(y) = <C, V V^T>``, and ``Diag(y) - C`` is nearly PSD at
    an optimum.

    Returns
    -------
    ndarray
    """
    out: Array = np.einsum("ij,ij->i", V, C @ V)
    return out


def dual_bound(
    C: sp.csr_matrix, V: Array, *, tol: float = 1e-4, deadline: float | None = None
) -> tuple[float, float]:
    """The dual bound from ``V``: ``(sum(y) + n max(0, lam), lam)``, ``lam`` an upper estimate
    of ``lambda_max(C - Diag(y))``, ``y`` from :func:`dual_vector`.

    ``lam`` by :func:`top_eigenvalue`: Lanczos (scipy ``eigsh``, relative tolerance ``tol``,
    plus the Ritz residual; dense ``eigvalsh`` for n <= :data:`DENSE_N`), or Gershgorin's
    bound -- valid whatever the spectrum, loose -- when Lanczos does not converge or
    ``deadline`` (a ``time.perf_counter()`` value) passes first. Lanczos converges to the largest
    eigenvalue from a random start, but that is not a proof (:func:`derand.sdp.prove_bound`
    is). Valid for any ``V``; tight when ``V`` solves the SDP.

    Returns
    -------
    (float, float)
    """
    bound, lam, _ = _dual_bound(C, V, tol, deadline)
    return bound, lam


def _dual_bound(
    C: sp.csr_matrix, V: Array, tol: float, deadline: float | None
) -> tuple[float, float, str]:
    """:func:`dual_bound` and the method of its eigenvalue (:func:`top_eigenvalue`)."""
    y = dual_vector(C, V)
    lam, method = top_eigenvalue(C, y, tol=tol, deadline=deadline)
    return float(np.sum(y) + C.shape[0] * max(0.0, lam)), lam, method


EIGENVALUE_METHODS = ("dense", "lanczos", "gershgorin")
"""How :func:`top_eigenvalue` found its value: dense ``eigvalsh`` (n <= :data:`DENSE_N`),
Lanczos plus the Ritz residual, or Gershgorin's bound (Lanczos skipped, out of time or not
converged)."""


def top_eigenvalue(
    C: sp.csr_matrix, y: Array, *, tol: float = 1e-4, deadline: float | None = None
) -> tuple[float, str]:
    """An upper estimate of ``lambda_max(C - Diag(y))`` and how it was found
    (:data:`EIGENVALUE_METHODS`).

    ``n <=`` :data:`DENSE_N`: dense ``eigvalsh`` (exact up to rounding). Larger: Lanczos to
    relative tolerance ``tol`` plus the Ritz residual, stopped when ``deadline`` (a
    ``time.perf_counter()`` value) passes; a Lanczos run that did not converge -- out of
    iterations or of time -- is discarded for Gershgorin's bound ``max_i (m_ii + sum_j
    |m_ij|)``, which holds for every symmetric matrix. ``deadline`` in the past skips the
    eigenvalue (Gershgorin's bound) for ``n > 400`` (below, dense costs milliseconds).
    Neither Lanczos nor Gershgorin (in floating point) is a proof;
    :func:`derand.sdp.prove_bound` is.

    Returns
    -------
    (float, str)

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> C = sp.csr_matrix(np.array([[0.0, -0.5], [-0.5, 0.0]]))
    >>> top_eigenvalue(C, np.array([-0.5, -0.5]))
    (1.0, 'dense')
    """
    n = C.shape[0]
    m = (C - sp.diags(np.asarray(y, dtype=np.float64))).tocsr()
    if n == 0:
        return 0.0, "dense"
    if n <= 400 or (n <= DENSE_N and (deadline is None or time.perf_counter() < deadline)):
        return _dense_top_eigenvalue(m.toarray()), "dense"  # 400: 10 ms, DENSE_N: 0.25 s
    lam = _top_eigenvalue(m, tol, deadline)
    if lam is None:
        return _gershgorin(m), "gershgorin"
    return lam, "lanczos"


def _gershgorin(m: sp.csr_matrix) -> float:
    """Gershgorin's upper bound on the eigenvalues of symmetric ``m``."""
    diag = m.diagonal()
    radius = np.asarray(abs(m).sum(axis=1)).ravel() - np.abs(diag)
    return float(np.max(diag + radius))


def _dense_top_eigenvalue(a: Array) -> float:
    """``eigvalsh(a)[-1]`` with the BLAS on one thread: at an SDP point the spectrum clusters
    near 0 and LAPACK's divide and conquer, split over two OpenBLAS threads, took 90-110 ms for
    n = 201 on a loaded 2-core machine against 1.5 ms on one thread (same eigenvalue).

    The limit is set through one ``threadpoolctl.ThreadpoolController`` kept for the process:
    ``threadpool_limits`` builds a new one per call, scanning the loaded libraries (1.5 ms, as
    much as the eigenvalue itself at n = 201); limiting through a kept one costs 0.1 ms."""
    with _blas_controller().limit(limits=1, user_api="blas"):
        return float(np.linalg.eigvalsh(a)[-1])


_CONTROLLER: list[Any] = []


def _blas_controller() -> Any:
    """The process's ``ThreadpoolController``, created at the first call; it holds numpy's
    BLAS (loaded with numpy), the one ``numpy.linalg.eigvalsh`` runs on."""
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


class _OutOfTime(Exception):
    """Lanczos ran past its deadline."""


def _top_eigenvalue(m: sp.csr_matrix, tol: float, deadline: float | None = None) -> float | None:
    """Largest eigenvalue of symmetric ``m`` by Lanczos plus the Ritz residual; retried with a
    looser tolerance and a larger subspace; ``None`` when neither converged or ``deadline``
    passed first (each product checks the clock)."""
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    if deadline is not None and time.perf_counter() >= deadline:
        return None
    n = m.shape[0]
    v0 = np.random.default_rng(0).standard_normal(n)
    # eigsh's tolerance is relative to the eigenvalue, which is close to 0 at a near-optimal
    # V (the SDP's optimality condition); shifted by 0.1 % of the largest absolute row sum,
    # the same tolerance asks for an attainable accuracy (Gset G17 at a converged V: 22,000
    # ARPACK iterations and 5 s unshifted, 0.4 s shifted, the bound 1e-4 % higher)
    shift = 1e-3 * float(abs(m).sum(axis=1).max())
    shifted = (m + shift * sp.identity(n, format="csr")).tocsr()
    op: Any = shifted
    if deadline is not None:
        clock = time.perf_counter

        def product(x: Array) -> Array:
            if clock() > deadline:
                raise _OutOfTime
            out: Array = shifted @ x
            return out

        op = LinearOperator((n, n), matvec=product, dtype=np.float64)
    # a rank-p V leaves about p (<= 24 by default) eigenvalues clustered near the top; a
    # Krylov subspace wider than that cluster converges in fewer restarts (Gset G17, G53, G70,
    # G81 at a time-limited V: 1.3-2.3x faster than 20 vectors, and on G17 20 vectors stopped
    # at a Ritz value below the top eigenvalue)
    for t, ncv in ((tol, min(n, 40)), (max(tol, 1e-3), min(n, 64))):
        try:
            vals, vecs = eigsh(op, k=1, which="LA", v0=v0, tol=t, ncv=ncv)
        except ArpackNoConvergence:
            continue
        except _OutOfTime:
            return None
        lam = float(vals[0]) - shift
        return lam + float(np.linalg.norm(m @ vecs[:, 0] - lam * vecs[:, 0]))
    return None


def default_rank(n: int) -> int:
    """``min(24, ceil(sqrt(2 n)) + 1)``, capped at ``n`` (Barvinok-Pataki).

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
    C: Any,
    *,
    rank: int | None = None,
    seed: int = 0,
    tol: float = 1e-8,
    max_sweeps: int = 5000,
    time_limit: float | None = None,
    callback: Callable[[int, int], None] | None = None,
    checked: bool = False,
    bound_seconds: float | None = None,
) -> SDPSolution:
    """Maximise ``<C, V V^T>`` over unit rows by the mixing method; bound it by the dual.

    Parameters
    ----------
    C : sparse matrix
        Symmetric, zero diagonal.
    rank : int, optional
        Columns of ``V`` (default :func:`default_rank`; the bound is valid whatever the rank).
    seed : int
        Seed of the random initial ``V``.
    tol : float
        Stop when the objective improves by less than ``2 tol sum_ij |C_ij|`` per sweep
        (checked every 10 sweeps).
    max_sweeps : int
    time_limit : float, optional
        Seconds for the sweeps (the result is feasible and bounded whenever it stops).
    callback : callable, optional
        ``callback(done, total)`` every 10 sweeps; a KeyboardInterrupt stops the sweeps and
        keeps ``V``.
    checked : bool
        ``C`` is already a checked CSR matrix (:func:`as_coupling`).
    bound_seconds : float, optional
        Seconds the dual bound's Lanczos eigenvalue may take, counted from the end of the
        sweeps (default: no limit); past them, or with ``0``, the bound uses Gershgorin's
        eigenvalue bound instead (``bound_method == "gershgorin"``: valid, loose; a caller
        can compute the Lanczos bound later, :func:`top_eigenvalue`, or beside other work,
        :class:`derand.sdp.BackgroundProof`). Problems of at most :data:`DENSE_N` variables
        always get the dense eigenvalue.

    Returns
    -------
    SDPSolution
        ``value <= SDP optimum <= upper_bound``.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> C = sp.csr_matrix(np.array([[0.0, -0.5], [-0.5, 0.0]]))  # max -X_12: V rows opposite
    >>> res = solve_sdp(C)
    >>> round(res.value, 6), res.value <= res.upper_bound + 1e-9
    (1.0, True)
    """
    start = time.perf_counter()
    M = C if checked else as_coupling(C)
    n = M.shape[0]
    if n == 0:
        raise InputError("the SDP has no variables")
    p = default_rank(n) if rank is None else check_count(rank, "rank", high=n)
    seed = check_seed(seed)
    max_sweeps = check_count(max_sweeps, "max_sweeps", high=10**9)
    require_memory(8.0 * n * p * 3 + 12.0 * M.nnz, f"the SDP factor for n = {n}, rank {p}")
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((n, p))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    neg = (-M).tocsr()  # the sweeps compute -normalize(sum_j (-C)_ij v_j)
    classes = greedy_colouring(M) if M.nnz else []
    compiled = n >= COMPILED_N and M.nnz > 0
    blocks = [] if compiled else [(c, neg[c]) for c in classes]
    if compiled:
        mixing_sweeps = _kernels().mixing_sweeps
        order = np.concatenate(classes).astype(np.int64)
        indptr, indices = neg.indptr.astype(np.int64), neg.indices.astype(np.int64)
        data = np.ascontiguousarray(neg.data, dtype=np.float64)
    prev = sdp_value(M, V)
    sweeps = 0
    scale = max(1.0, 2.0 * float(np.sum(np.abs(M.data))))
    check = 10
    try:
        while sweeps < max_sweeps and M.nnz:
            todo = min(check, max_sweeps - sweeps)
            if compiled:
                mixing_sweeps(indptr, indices, data, order, V, todo)
            else:
                for _ in range(todo):
                    for idx, rows in blocks:
                        g = rows @ V
                        norms = np.linalg.norm(g, axis=1)
                        ok = norms > 1e-300  # isolated or balanced variables keep their vector
                        V[idx[ok]] = g[ok] / -norms[ok, None]
            sweeps += todo
            if callback is not None:
                callback(sweeps, max_sweeps)
            value = sdp_value(M, V)
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
        raise InputError("the SDP produced non-finite numbers (coefficients out of range?)")
    value = sdp_value(M, V)
    deadline = None if bound_seconds is None else time.perf_counter() + max(0.0, bound_seconds)
    bound, lam, method = _dual_bound(M, V, 1e-4, deadline)
    if not (np.isfinite(bound) and np.isfinite(value)):
        raise InputError("the SDP bound is not finite (coefficients out of range?)")
    return SDPSolution(
        V=V,
        value=value,
        upper_bound=max(bound, value),
        lambda_max=lam,
        sweeps=sweeps,
        seconds=time.perf_counter() - start,
        interrupted=interrupted,
        bound_method=method,
    )
