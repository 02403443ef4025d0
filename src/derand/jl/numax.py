"""NuMax (Hegde, Sankaranarayanan, Yin & Baraniuk, IEEE TSP 2015): the convex baseline.

NuMax finds a near-isometric linear embedding by a semidefinite program over ``P = Psi^T Psi``,

    minimise ||P||_*   subject to   P >= 0,   |u_ij^T P u_ij - 1| <= delta  for all secants,

(the nuclear norm of a PSD matrix is its trace, the convex surrogate of its rank), solved by
ADMM on the splitting ``P = L``, ``A(L) = q`` with ``A(L)_s = u_s^T L u_s``:

- ``q``: projection of ``A(L) + w / beta2`` onto the box ``[1 - delta, 1 + delta]``;
- ``P``: eigenvalue soft-thresholding of ``L - Lambda / beta1`` at ``1 / beta1`` (PSD);
- ``L``: the least-squares system ``(beta1 I + beta2 A^* A) L = beta1 P + Lambda +
  A^*(beta2 q - w)``, solved exactly with the Woodbury identity (``A A^*`` is the m x m
  matrix ``(U U^T)^2`` entrywise);
- multiplier steps ``Lambda += beta1 (P - L)``, ``w += beta2 (A(L) - q)``.

Column generation keeps the secants small: ADMM runs on an active set; an exact pass over
all pairs (:func:`derand.jl.pairs.scan_pairs`) adds the most violated secants, until none
violates by more than ``tol`` (or ``max_generations``). For a fixed k, ``delta`` is
bisected: the smallest delta whose solution has (numerical) rank <= k, and the embedding is
the top-k eigenvectors scaled by the square roots of their eigenvalues, ``Psi =
Lambda_k^{1/2} U_k^T``. Every candidate map met in the bisection is certified exactly and the
best (after the best scalar rescaling) is kept. The work is done in the coordinates of the
centred data's top principal subspace (exact when the data's rank is at most ``max_dim``,
since every secant lies in it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from derand.errors import InputError
from derand.jl.pairs import Denominators, PairData, one_blas_thread, scan_pairs

Array = NDArray[np.float64]


@dataclass
class AdmmResult:
    """One NuMax solve on a fixed set of secants."""

    P: Array
    iterations: int
    primal_residual: float


def _measure(V: Array, L: Array) -> Array:
    """``A(L)_s = v_s^T L v_s`` for every row of V."""
    return np.asarray(np.einsum("ij,ij->i", V @ L, V), dtype=np.float64)


def _adjoint(V: Array, y: Array) -> Array:
    """``A^*(y) = sum_s y_s v_s v_s^T``."""
    return np.asarray((V.T * y) @ V, dtype=np.float64)


def numax_admm(
    V: Array,
    delta: float,
    *,
    P0: Array | None = None,
    beta1: float = 1.0,
    beta2: float = 1.0,
    max_iter: int = 500,
    tol: float = 1e-5,
) -> AdmmResult:
    """ADMM for ``min trace(P) s.t. P >= 0, |v_s^T P v_s - 1| <= delta`` (module doc).

    Parameters
    ----------
    V : ndarray (m, r)
        Unit secants as rows.
    delta : float
        Distortion allowed on every secant.
    P0 : ndarray (r, r), optional
        Warm start (symmetric).
    beta1, beta2 : float
        Penalty parameters of the two splittings.
    max_iter : int
        Most iterations.
    tol : float
        Stop when ``||P - L||_F`` and ``||A(L) - q||_inf`` are below it (relative to 1).

    Returns
    -------
    AdmmResult
        The PSD iterate P (not exactly feasible: up to the residual), iterations run.
    """
    m, r = V.shape
    G = V @ V.T
    K = (beta1 / beta2) * np.eye(m) + G * G
    chol = scipy.linalg.cho_factor(K, lower=True, check_finite=False)
    L = np.zeros((r, r)) if P0 is None else np.array(P0, dtype=np.float64)
    P = L.copy()
    Lam = np.zeros((r, r))
    w = np.zeros(m)
    lo, hi = 1.0 - delta, 1.0 + delta
    residual = math.inf
    it = 0
    with one_blas_thread():  # small matrices: threads only cost
        while it < max_iter:
            it += 1
            residual = _admm_step(V, chol, L, P, Lam, w, lo, hi, beta1, beta2)
            if residual < tol:
                break
    return AdmmResult(P=P, iterations=it, primal_residual=residual)


def _admm_step(
    V: Array,
    chol: tuple[Array, bool],
    L: Array,
    P: Array,
    Lam: Array,
    w: Array,
    lo: float,
    hi: float,
    beta1: float,
    beta2: float,
) -> float:
    """One ADMM iteration, in place on (L, P, Lam, w); returns the primal residual."""
    AL = _measure(V, L)
    q = np.clip(AL + w / beta2, lo, hi)
    S = L - Lam / beta1
    evals, evecs = np.linalg.eigh(0.5 * (S + S.T))
    shrunk = np.maximum(evals - 1.0 / beta1, 0.0)
    keep = shrunk > 0
    P[...] = (evecs[:, keep] * shrunk[keep]) @ evecs[:, keep].T
    R = beta1 * P + Lam + _adjoint(V, beta2 * q - w)
    corr = scipy.linalg.cho_solve(chol, _measure(V, R), check_finite=False)
    L_new = (R - _adjoint(V, corr)) / beta1
    L[...] = 0.5 * (L_new + L_new.T)
    AL = _measure(V, L)
    Lam += beta1 * (P - L)
    w += beta2 * (AL - q)
    return max(float(np.linalg.norm(P - L)), float(np.max(np.abs(AL - q))))


def _secants(Z: Array, pairs: NDArray[np.int64]) -> Array:
    """Unit secants ``(z_i - z_j) / ||z_i - z_j||`` of index pairs."""
    diff = Z[pairs[:, 0]] - Z[pairs[:, 1]]
    return np.asarray(diff / np.linalg.norm(diff, axis=1, keepdims=True), dtype=np.float64)


def _root(P: Array, k: int | None) -> tuple[Array, Array]:
    """(``Lambda^{1/2} U^T`` for the top-k eigenpairs (all positive ones if k is None),
    the eigenvalues in decreasing order)."""
    evals, evecs = np.linalg.eigh(0.5 * (P + P.T))
    order = np.argsort(evals)[::-1]
    evals, evecs = np.maximum(evals[order], 0.0), evecs[:, order]
    top = evals.size if k is None else min(k, evals.size)
    return (evecs[:, :top] * np.sqrt(evals[:top])).T, evals


@dataclass
class NuMaxOutcome:
    """The best fixed-k map found (in the reduced coordinates) and how the search went."""

    Psi: Array
    delta: float
    history: dict[str, list[float]]


class NuMaxSolver:
    """NuMax with column generation over the secants of the points ``Z`` (reduced coords)."""

    def __init__(
        self,
        Z: Array,
        *,
        workers: int,
        initial: int,
        add: int,
        max_generations: int,
        admm_iter: int,
        tol: float,
        start_dim: int,
        max_secants: int,
    ) -> None:
        self.Z = Z
        self.max_secants = max_secants
        self.dens = Denominators(PairData.from_points(Z))
        self.workers = workers
        self.add = add
        self.max_generations = max_generations
        self.admm_iter = admm_iter
        self.tol = tol
        # the most extreme pairs of the top-k principal directions (Z is in principal
        # coordinates), where the first generation starts
        scan = scan_pairs(self.dens, np.eye(Z.shape[1])[:start_dim], initial, workers=workers)
        self.pairs = np.unique(scan.pairs, axis=0)

    def ranges(self, Psi: Array, m: int) -> tuple[float, float, NDArray[np.int64]]:
        """Exact ratio range of ``Psi`` over all secants and the ``m`` most extreme pairs."""
        scan = scan_pairs(self.dens, Psi, m, workers=self.workers)
        return scan.rmin, scan.rmax, scan.pairs

    def solve(self, delta: float, P0: Array | None) -> tuple[Array, int]:
        """NuMax at ``delta`` with column generation; (P, ADMM iterations)."""
        P = P0
        total = 0
        for _ in range(self.max_generations):
            result = numax_admm(
                _secants(self.Z, self.pairs), delta, P0=P, max_iter=self.admm_iter, tol=self.tol
            )
            P = result.P
            total += result.iterations
            root, _ = _root(P, None)
            if root.shape[0] == 0:
                break
            lo, hi, extreme = self.ranges(root, self.add)
            if lo >= 1.0 - delta - 10 * self.tol and hi <= 1.0 + delta + 10 * self.tol:
                break
            merged = np.unique(np.concatenate([self.pairs, extreme]), axis=0)
            if merged.shape[0] == self.pairs.shape[0] or merged.shape[0] > self.max_secants:
                break
            self.pairs = merged
        assert P is not None
        return P, total


def numax_fixed_k(
    Z: Array,
    k: int,
    *,
    delta_high: float,
    bisections: int,
    workers: int,
    initial: int = 200,
    add: int = 100,
    max_generations: int = 4,
    max_secants: int = 1500,
    admm_iter: int = 200,
    tol: float = 1e-4,
    rank_tol: float = 1e-2,
    callback: Callable[[int, int], None] | None = None,
) -> NuMaxOutcome:
    """Bisect delta for the smallest one whose NuMax solution has rank <= k; keep the best
    (exactly certified, rescaled) top-k map met on the way.

    Returns
    -------
    NuMaxOutcome
        ``Psi`` (k x r) in the coordinates of ``Z``.
    """
    if Z.shape[0] < 2:
        raise InputError("NuMax needs at least 2 distinct points")
    solver = NuMaxSolver(
        Z, workers=workers, initial=initial, add=add, max_generations=max_generations,
        admm_iter=admm_iter, tol=tol, start_dim=k, max_secants=max_secants,
    )  # fmt: skip
    lo_d, hi_d = 0.0, float(delta_high)
    best_value, best_Psi, best_delta = math.inf, np.zeros((k, Z.shape[1])), hi_d
    history: dict[str, list[float]] = {"delta": [], "rank": [], "max_distortion": []}
    P: Array | None = None
    for step in range(bisections):
        delta = 0.5 * (lo_d + hi_d) if step else hi_d
        P, _ = solver.solve(delta, P)
        Psi, evals = _root(P, k)
        rank = int(np.sum(evals > rank_tol * max(float(evals[0]), 1e-300)))
        value = math.inf
        if np.any(Psi != 0):
            rmin, rmax, _ = solver.ranges(Psi, 0)
            if rmax > 0:
                value = (rmax - rmin) / (rmax + rmin)
        history["delta"].append(delta)
        history["rank"].append(rank)
        history["max_distortion"].append(value)
        if value < best_value:
            best_value, best_Psi, best_delta = value, Psi, delta
        if rank <= k:
            hi_d = delta
        elif step == 0:  # even delta_high needs more than k dimensions: search above it
            lo_d, hi_d = delta, 1.0
        else:
            lo_d = delta
        if callback is not None:
            callback(step + 1, bisections)
    if best_Psi.shape[0] < k:
        best_Psi = np.vstack([best_Psi, np.zeros((k - best_Psi.shape[0], Z.shape[1]))])
    return NuMaxOutcome(Psi=best_Psi, delta=best_delta, history=history)
