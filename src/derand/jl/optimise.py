"""The derandomization loop for JL (paper §5.2): optimise (M, sigma) of P = M + sigma G / sqrt(k).

For a unit vector u (a normalised pair difference, or a point for the authors' ``norms``
variant) the ratio ``R_u = ||P u||^2`` of the random projection is sigma^2 / k times a
noncentral chi-square with k degrees of freedom and noncentrality ``k m_u / sigma^2``
(:func:`derand.core.gaussian.noncentral_chi2_log_mgf`),
``m_u = ||M u||^2``. Its log moment generating function is therefore closed form,

    log E exp(t R_u) = t m_u / (1 - a) - (k / 2) log(1 - a),     a = 2 t sigma^2 / k < 1,

and so is the objective minimised here, the *exact* expectation over G of an exponential
smooth maximum of the distortions ``|R_u - 1|`` over a set of terms,

    Phi_tau(M, sigma) = tau log E_G sum_u [exp((R_u - 1) / tau) + exp((1 - R_u) / tau)]
                        + lambda sigma^2,

an upper bound on ``E_G max_u |R_u - 1|`` (Jensen) that is tight as sigma and tau go to 0. No
projection is sampled. Its derivative in sigma^2 is positive once tau < 2 m_u / k, so sigma
falls by itself when it is trained jointly with M (``sigma="objective"``, the paper's
mechanism); ``sigma="schedule"`` instead fixes sigma per round on a geometric path to
``sigma_final`` and ``sigma="none"`` optimises the deterministic M alone (sigma = 0).

The terms live in an *active set* of the most extreme pairs. Each round minimises Phi with
L-BFGS at a temperature tau relative to the current distortion (at most ``inner_iter``
iterations, fewer once an iteration gains less than ``_ROUND_FTOL`` of the certified max,
as happens when tau is small), then one exact pass over all
pairs (:func:`derand.jl.pairs.scan_pairs`) certifies the new M, brings in the pairs with the
most extreme ratios and rescales M by the best scalar; pairs whose weight can no longer matter
leave the set. tau falls geometrically; the loop stops after ``patience`` rounds without a
better certified M, or when the iteration budget is spent. With ``max_rounds`` (large
problems, where one pass over 10^9 pairs takes minutes) tau falls fast enough to reach its
final value in that many rounds and two rounds without progress end the fit; the passes may
then select pairs in float32. With ``min_inner_iter`` a round's iteration budget adapts to
the certificate (doubled, up to ``inner_iter``, after a round whose pass certified a better
M; halved, down to ``min_inner_iter``, after one that did not), and with ``tol`` the fit
also stops once tau is final and the best certified max gained less than ``tol`` in
``patience`` rounds (with ``max_rounds``: once one exact pass gained less than ``tol``).
With ``pool_size`` (large problems) every exact pass also keeps its ``pool_size`` most
extreme pairs each way as a :class:`Pool`; the rounds that follow (up to ``pool_rounds``,
while the pool's max falls by at least 0.1 % a round) evaluate the pool exactly instead of
all pairs and take the next active set from its extremes, and the best of them goes to the
next exact pass: the optimiser meets the pairs it would push past the active set's band
without paying a pass for each round. The best M certified at a pass is returned, so an interrupted
run still returns a certified matrix. With ``cap_gain`` the largest gain of M over all
directions, ``||M||_op^2``, is one more upper term of the maximum.

Objective and gradient are computed in the space of the points an active set touches: with
``Y = X_A M^T``, ``m_u = ||y_i - y_j||^2 / ||x_i - x_j||^2`` and the gradient is
``Z^T X_A`` for a per-point sum ``Z``, so a step costs O(n_A d k + |A| k) rather than
O(|A| d k).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray
from scipy.optimize import minimize

from derand.core import Rounded
from derand.errors import InputError
from derand.jl.pairs import (
    DEFAULT_TILE,
    Denominators,
    PairData,
    ScanResult,
    one_blas_thread,
    plan_tiles,
    ratio_ranges,
    scan_pairs,
)
from derand.limits import require_memory

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]

SIGMA_MODES = ("objective", "schedule", "none")

_A_START_MAX = 0.5
"""Largest a = 2 sigma^2 / (k tau) a round may start from (the expectation is finite for
a < 1); a trained sigma above it is brought down to it when tau falls (counted in
``history.sigma_restarts``)."""

_A_MAX = 0.99
"""a = 2 sigma^2 / (k tau) is kept below this while sigma is trained (the expectation is
finite for a < 1); beyond it the objective continues as a steep quadratic wall."""

_WALL = 1e6

_LBFGS_MEMORY = 10
_EXACT = 1e-13
"""A certified max distortion this small is an isometry up to float64 rounding: stop."""
_TAU_MIN = 1e-12
"""Smallest temperature: below it float64 cannot resolve the exponents of ratios near 1."""

_ROUND_FTOL = 1e-6
"""A round's L-BFGS stops early once an iteration lowers Phi by less than this fraction of
the certified max distortion (late rounds, where tau has converged, then end in a few
iterations instead of ``inner_iter``)."""

LARGE_STALL = 2
"""With ``max_rounds`` (large problems) the fit stops after this many rounds without a
better certified max."""

_NEGLIGIBLE = 60.0
"""A term whose exponent is this far below the largest has weight < 1e-26: skipped."""


@njit(cache=True, nogil=True, fastmath=True)
def _exponents(  # pragma: no cover - numba
    Y: Array,
    first: IntArray,
    second: IntArray,
    inv_den: Array,
    tau: float,
    a: float,
    k: int,
    m: Array,
    z: Array,
    diff: Array,
) -> tuple[float, float, float]:
    """Ratios ``m`` of the active terms, their differences ``diff = y_i - y_j`` and the
    exponentials ``z`` (upper, lower interleaved) of the expected exponential terms, shifted
    so that the largest exponent is 0 (negligible ones are 0); returns (largest exponent,
    min m, max m)."""
    n_u = first.shape[0]
    kk = Y.shape[1]
    half = 0.5 * k * tau
    inv_tau = 1.0 / tau
    up_c = -half * math.log1p(-a) - 1.0
    lo_c = 1.0 - half * math.log1p(a)
    inv_up = 1.0 / (1.0 - a)
    inv_lo = 1.0 / (1.0 + a)
    mmin = math.inf
    mmax = -math.inf
    for u in range(n_u):
        i = first[u]
        j = second[u]
        s = 0.0
        for t in range(kk):
            v = Y[i, t] - Y[j, t]
            diff[u, t] = v
            s += v * v
        mu = s * inv_den[u]
        m[u] = mu
        mmin = min(mmin, mu)
        mmax = max(mmax, mu)
    zmax = max((mmax * inv_up + up_c) * inv_tau, (lo_c - mmin * inv_lo) * inv_tau)
    for u in range(n_u):
        zp = (m[u] * inv_up + up_c) * inv_tau - zmax
        zm = (lo_c - m[u] * inv_lo) * inv_tau - zmax
        z[2 * u] = math.exp(zp) if zp > -_NEGLIGIBLE else 0.0
        z[2 * u + 1] = math.exp(zm) if zm > -_NEGLIGIBLE else 0.0
    return zmax, mmin, mmax


@njit(cache=True, nogil=True, fastmath=True)
def _backward(  # pragma: no cover - numba
    diff: Array,
    first: IntArray,
    second: IntArray,
    inv_den: Array,
    tau: float,
    a: float,
    k: int,
    m: Array,
    e: Array,
    inv_total: float,
    Z: Array,
) -> float:
    """Gradient of ``tau * log sum e`` with respect to the rows of ``Y`` (into ``Z``) from
    the exponentials ``e`` (weights ``e * inv_total``) and the differences ``diff``; returns
    the derivative in ``a``.
    ``first`` must be sorted (the rows of a point are then summed before one write)."""
    kk = Z.shape[1]
    half = 0.5 * k * tau
    inv_up = 1.0 / (1.0 - a)
    inv_lo = 1.0 / (1.0 + a)
    cutoff = math.exp(-_NEGLIGIBLE)
    for r in range(Z.shape[0]):
        for t in range(kk):
            Z[r, t] = 0.0
    acc = np.zeros(kk)
    current = -1
    dA = 0.0
    for u in range(first.shape[0]):
        ep = e[2 * u]
        em = e[2 * u + 1]
        if ep < cutoff and em < cutoff:
            continue
        wp = ep * inv_total
        wm = em * inv_total
        mu = m[u]
        dA += wp * (mu * inv_up * inv_up + half * inv_up) + wm * (
            mu * inv_lo * inv_lo - half * inv_lo
        )
        coef = 2.0 * (wp * inv_up - wm * inv_lo) * inv_den[u]
        i = first[u]
        j = second[u]
        if i != current:
            if current >= 0:
                for t in range(kk):
                    Z[current, t] += acc[t]
                    acc[t] = 0.0
            current = i
        for t in range(kk):
            v = coef * diff[u, t]
            acc[t] += v
            Z[j, t] -= v
    if current >= 0:
        for t in range(kk):
            Z[current, t] += acc[t]
    return dA


@njit(cache=True, nogil=True)
def _pair_ratios(  # pragma: no cover - numba
    Y: Array, first: IntArray, second: IntArray, inv_den: Array, out: Array
) -> None:
    """``out[u] = ||y_first[u] - y_second[u]||^2 inv_den[u]``."""
    kk = Y.shape[1]
    for u in range(first.shape[0]):
        i = first[u]
        j = second[u]
        s = 0.0
        for t in range(kk):
            v = Y[i, t] - Y[j, t]
            s += v * v
        out[u] = s * inv_den[u]


class Pool:
    """A large candidate set of pairs kept from an exact pass (the most extreme ones of that
    pass, each way), evaluated exactly for any M between passes: cheap rounds of the
    optimiser draw their active pairs from it, and only the next exact pass over all pairs
    certifies the result.

    Parameters
    ----------
    points : ndarray (N, d)
        The points the pairs index.
    pairs : ndarray (m, 2)
        Distinct pairs (rows of ``points``).
    """

    _CHUNK = 65536

    def __init__(self, points: Array, pairs: IntArray) -> None:
        self.points = points
        self.pairs = np.ascontiguousarray(pairs, dtype=np.int64)
        self.first = np.ascontiguousarray(self.pairs[:, 0])
        self.second = np.ascontiguousarray(self.pairs[:, 1])
        inv_den = np.empty(self.pairs.shape[0])
        for c0 in range(0, inv_den.size, self._CHUNK):
            a = self.first[c0 : c0 + self._CHUNK]
            b = self.second[c0 : c0 + self._CHUNK]
            diff = points[a] - points[b]
            inv_den[c0 : c0 + a.size] = 1.0 / np.einsum("ij,ij->i", diff, diff)
        self.inv_den = inv_den
        self._r = np.empty(inv_den.size)

    @property
    def size(self) -> int:
        """Pairs in the pool."""
        return int(self.pairs.shape[0])

    def ratios(self, M: Array) -> Array:
        """``||M u||^2`` of every pair of the pool (a view, overwritten by the next call)."""
        Y = np.ascontiguousarray(self.points @ M.T)
        _pair_ratios(Y, self.first, self.second, self.inv_den, self._r)
        return self._r

    def value(self, M: Array) -> float:
        """Max distortion of M over the pool after the best rescaling of its range."""
        r = self.ratios(M)
        return range_distortion(float(r.min()), float(r.max()))

    def extremes(self, r: Array, m: int) -> IntArray:
        """The pairs of the ``m`` largest and ``m`` smallest of the ratios ``r``."""
        if 2 * m >= r.size:
            return self.pairs
        hi = np.argpartition(r, r.size - m)[r.size - m :]
        lo = np.argpartition(r, m)[:m]
        out: IntArray = self.pairs[np.unique(np.concatenate([hi, lo]))]
        return out


class ActiveSet:
    """Terms of the objective: pairs (i, j) of rows of ``points`` (in the points they touch).

    Parameters
    ----------
    points : ndarray (N, d)
        The points the pairs index (centred data; for ``norms`` the raw points and the origin).
    pairs : ndarray (m, 2)
        The active pairs.
    """

    def __init__(self, points: Array, pairs: IntArray, inv_den: Array | None = None) -> None:
        seen = np.zeros(points.shape[0], dtype=bool)
        seen[pairs.ravel()] = True
        used = np.flatnonzero(seen)
        local = np.cumsum(seen) - 1
        inverse = local[pairs.ravel()]
        self.pairs = pairs
        self.X = np.ascontiguousarray(points[used])
        self.first = np.ascontiguousarray(inverse[0::2], dtype=np.int64)
        self.second = np.ascontiguousarray(inverse[1::2], dtype=np.int64)
        if inv_den is None:
            diff = points[pairs[:, 0]] - points[pairs[:, 1]]
            inv_den = 1.0 / np.einsum("ij,ij->i", diff, diff)
        self.inv_den = inv_den
        self.size = int(pairs.shape[0])

    def ratios(self, M: Array) -> Array:
        """``||M u||^2`` of every active term."""
        Y = self.X @ M.T
        diff = Y[self.first] - Y[self.second]
        return np.asarray(np.einsum("ij,ij->i", diff, diff) * self.inv_den, dtype=np.float64)


@dataclass
class FitHistory:
    """Per-iteration record of a fit (what Figures 6 and 7 plot).

    ``max_distortion`` is that of the deterministic part M (best scalar rescaling) over the
    active set, a lower bound between exact passes; ``certified_*`` are exact over all terms,
    one per round. ``sigma`` is the noise level of the sampler at each iteration.
    ``validation_max_distortion`` (early stopping only) is, per round, the exact max
    distortion over all pairs of training and validation points after the best rescaling of
    that range (the validation pairs dominate it); ``best_round`` indexes the round whose M
    was returned.
    """

    sigma_mode: str = "objective"
    iteration: list[int] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)
    max_distortion: list[float] = field(default_factory=list)
    sigma: list[float] = field(default_factory=list)
    active_size: list[int] = field(default_factory=list)
    certified_iteration: list[int] = field(default_factory=list)
    certified_max_distortion: list[float] = field(default_factory=list)
    certified_sigma: list[float] = field(default_factory=list)
    tau: list[float] = field(default_factory=list)
    validation_max_distortion: list[float] = field(default_factory=list)
    pool_max_distortion: list[float] = field(default_factory=list)
    best_round: int = 0
    sigma_restarts: int = 0
    scan_dtype: str = "float64"
    stopped: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain lists, JSON ready."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in vars(self).items()}


@dataclass
class FitOutcome:
    """The best deterministic projection found (unscaled), how the fit went, and its cost."""

    M: Array
    ratio_range: tuple[float, float] | None
    validation_range: tuple[float, float] | None
    history: FitHistory
    interrupted: bool
    seconds: float
    scan_seconds: float
    evaluations: int
    last_round: RoundProblem | None = None
    active_pairs: IntArray | None = None


@dataclass(frozen=True)
class FitSettings:
    """Parameters of :func:`optimise_projection` (see :class:`~derand.jl.DerandomizedJL`)."""

    n_iter: int = 3000
    inner_iter: int = 60
    patience: int = 6
    tau0: float = 0.1
    tau_final: float = 0.001
    tau_decay: float = 0.8
    sigma: str = "objective"
    sigma0: float = 0.3
    sigma_final: float = 1e-6
    sigma_penalty: float = 0.01
    active_size: int = 30000
    scan_size: int = 3000
    max_rounds: int | None = None
    scan_dtype: str = "float64"
    cap_gain: bool = False
    stretch_slack: float = 1.0
    n_iter_no_change: int = 3
    tol: float | None = None
    min_inner_iter: int | None = None
    pool_size: int | None = None
    pool_rounds: int = 1


@dataclass(frozen=True)
class NeighbourModel:
    """The directions of *new* near pairs, as a Gaussian model, and their predicted extremes.

    The pairs a fitted map distorts most on new points are near pairs (a new point and its
    nearest neighbours): their directions are fresh local noise, which no training pair
    pins down. Model them as ``u ~ N(0, C)``, with ``C`` the second moment of the unit
    nearest-neighbour directions of the training points (trace 1). To first order their
    ratio ``R = u^T Q u / u^T u`` (``Q = M^T M``) has mean ``mu = tr(Q C)`` and variance
    ``V = 2 tr(((Q - mu I) C)^2)``; ``mu + z sqrt(V)`` and ``mu - z sqrt(V)`` enter the smooth
    maximum as one upper and one lower term. They depend on M only through ``M C M^T`` and
    ``M C``, so they cannot be fitted pair by pair: they penalise the anisotropy of ``Q`` on
    the local noise, which is what a fit to individual training pairs inflates.
    """

    C: Array
    z: float

    @classmethod
    def from_points(
        cls, X: Array, z: float, max_points: int = 5000, seed: int = 0
    ) -> NeighbourModel:
        """``C`` from the nearest neighbour of every point (of ``max_points`` random ones)."""
        from sklearn.neighbors import NearestNeighbors

        pts = np.asarray(X, dtype=np.float64)
        if pts.shape[0] > max_points:
            pick = np.random.default_rng(seed).permutation(pts.shape[0])[:max_points]
            pts = pts[np.sort(pick)]
        _, index = NearestNeighbors(n_neighbors=2).fit(pts).kneighbors(pts)
        return cls.from_directions(pts - pts[index[:, 1]], z)

    @classmethod
    def from_directions(cls, V: Array, z: float) -> NeighbourModel:
        """``C`` as the mean of ``u u^T`` over the non-zero rows of V, normalised."""
        norm = np.linalg.norm(V, axis=1)
        keep = norm > 0
        U = V[keep] / norm[keep, None]
        if U.shape[0] == 0:
            raise InputError("no direction for the neighbour model: all points are equal")
        return cls(C=U.T @ U / U.shape[0], z=float(z))

    def terms(self, M: Array) -> tuple[float, float, Array, Array]:
        """``(mu + z sd, mu - z sd)`` and their gradients in ``M``."""
        C = self.C
        B = M @ C
        S = B @ M.T
        mu = float(np.trace(S))
        t2 = float(np.einsum("ij,ij->", B, B))
        c2 = float(np.einsum("ij,ij->", C, C))
        var = 2.0 * (float(np.einsum("ij,ij->", S, S)) - 2.0 * mu * t2 + mu * mu * c2)
        floor = 1e-24 * max(mu * mu, 1e-300)
        sd = math.sqrt(max(var, 0.0) + floor)
        d_mu = 2.0 * B
        d_var = 8.0 * (S @ B - t2 * B - mu * (B @ C) + mu * c2 * B)
        d_sd = d_var / (2.0 * sd)
        z = self.z
        return mu + z * sd, mu - z * sd, d_mu + z * d_sd, d_mu - z * d_sd


class Validation:
    """Validation terms of an early-stopped fit, and their exact ratio range for any M.

    ``"pairs"``: every pair between a training and a validation point and every pair of
    validation points (the pairs a new point adds); ``"norms"``: the validation points.
    The points must be distinct from each other and from the training points.
    """

    def __init__(self, X_train: Array, X_val: Array, objective: str, workers: int) -> None:
        self.workers = workers
        self.objective = objective
        n_a, n_b = X_train.shape[0], X_val.shape[0]
        if objective == "pairs":
            data = PairData.from_points(np.vstack([X_train, X_val]))
            side = _tile_for(n_a + n_b)
            cross = [
                (i0, min(i0 + side, n_a), j0, min(j0 + side, n_a + n_b))
                for i0 in range(0, n_a, side)
                for j0 in range(n_a, n_a + n_b, side)
            ]
            within = [(a + n_a, b + n_a, c + n_a, e + n_a) for a, b, c, e in plan_tiles(n_b, side)]
            self.dens: Denominators | None = Denominators(data, side, tiles=cross + within)
            self.pairs = n_a * n_b + n_b * (n_b - 1) // 2
        else:
            self.dens = None
            self._X = np.asarray(X_val, dtype=np.float64)
            self._inv_norm = 1.0 / np.einsum("nd,nd->n", self._X, self._X)
            self.pairs = n_b

    def ratio_range(self, M: Array) -> tuple[float, float]:
        """Exact (min, max) of the ratio ``||M u||^2`` over the validation terms."""
        if self.dens is not None:
            lo, hi = ratio_ranges(self.dens, [M], workers=self.workers)[0]
            return float(lo), float(hi)
        Y = self._X @ M.T
        r = np.einsum("nk,nk->n", Y, Y) * self._inv_norm
        return float(r.min()), float(r.max())


class Terms:
    """The terms a fit runs over and the exact pass over all of them.

    ``"pairs"``: all pairs of the (duplicate-free) points; ``"norms"``: the points themselves,
    written as pairs with an extra origin row.
    """

    def __init__(self, X: Array, objective: str, workers: int, scan_dtype: str = "float64") -> None:
        self.objective = objective
        self.workers = workers
        self.data = PairData.from_points(X)
        n = self.data.n
        if objective == "pairs":
            self.points = self.data.centred
            scan_data = (
                self.data
                if scan_dtype == "float64"
                else PairData.from_points(X, dtype=np.dtype(scan_dtype).type)
            )
            self.dens: Denominators | None = Denominators(scan_data, _tile_for(n))
        else:
            self.points = np.vstack([self.data.raw, np.zeros((1, X.shape[1]))])
            self.dens = None
            self._inv_norm = 1.0 / np.einsum("nd,nd->n", self.data.raw, self.data.raw)

    def scan(self, M: Array, m: int) -> ScanResult:
        """Exact ratio range of ``M`` over all terms and the ``m`` most extreme each way."""
        if self.dens is not None:
            return scan_pairs(self.dens, M, m, workers=self.workers)
        Y = self.data.raw @ M.T
        r = np.einsum("nk,nk->n", Y, Y) * self._inv_norm
        order = np.argsort(r, kind="stable")
        pick = np.unique(np.concatenate([order[:m], order[-m:]])) if m else order[:0]
        origin = self.data.n
        pairs = np.stack([pick, np.full(pick.size, origin)], axis=1).astype(np.int64)
        return ScanResult(pairs=pairs, ratios=r[pick], rmin=float(r.min()), rmax=float(r.max()))


def _tile_for(n: int) -> int:
    """Tile side: :data:`~derand.jl.pairs.DEFAULT_TILE`, smaller for small n so that the
    diagonal tiles waste little."""
    return int(min(DEFAULT_TILE, max(256, math.ceil(n / 8))))


def range_distortion(rmin: float, rmax: float) -> float:
    """Max distortion after the best scalar rescaling of a ratio range [rmin, rmax]."""
    return (rmax - rmin) / (rmax + rmin)


def optimise_projection(
    X: Array,
    M0: Array,
    *,
    objective: str,
    settings: FitSettings,
    workers: int = 1,
    callback: Callable[[int, int], None] | None = None,
    validation: Validation | None = None,
    neighbours: NeighbourModel | None = None,
    seed_pairs: IntArray | None = None,
) -> FitOutcome:
    """Minimise the closed-form expected smooth max distortion (module doc) from ``M0``.

    Parameters
    ----------
    X : ndarray (n, d)
        Duplicate-free points (``"pairs"``) or non-zero points (``"norms"``), finite.
    M0 : ndarray (k, d)
        Initial deterministic part.
    objective : {"pairs", "norms"}
        The terms.
    settings : FitSettings
        Iteration budget, temperatures, sigma mode, active-set sizes.
    workers : int
        Threads for the exact passes.
    callback : callable, optional
        ``callback(iterations_done, n_iter)`` after each L-BFGS iteration; a
        KeyboardInterrupt raised anywhere stops the fit and keeps the best certified M.
    validation : Validation, optional
        Early stopping: the M returned is the one with the smallest max over training and
        validation terms (after the best rescaling of their joint range) among the passes,
        and the fit stops after ``settings.n_iter_no_change`` rounds without a better one.
    seed_pairs : ndarray (m, 2), optional
        Pairs (i < j, rows of X) added to the first active set, e.g. the active set of a fit
        on a subsample that produced ``M0``: the first round then keeps what that fit
        balanced instead of trading it for the extremes of one pass.

    Returns
    -------
    FitOutcome
        The best M certified at an exact pass (before the final rescaling; ``ratio_range``
        None and ``M = M0`` if interrupted before the first pass ended), the history, and
        the time spent.
    """
    if settings.sigma not in SIGMA_MODES:
        raise InputError(f"sigma must be one of {', '.join(SIGMA_MODES)}, got {settings.sigma!r}")
    start = time.perf_counter()
    d = X.shape[1]
    k = int(M0.shape[0])
    n_points = X.shape[0]
    n_terms = n_points * (n_points - 1) // 2 if objective == "pairs" else n_points
    size = min(settings.active_size, max(n_terms, 1))  # the set never holds more terms
    rows = min(2 * size, n_points + 1)  # the points its terms touch
    require_memory(
        8.0 * (size * (3 * k + 6) + rows * (d + k) + size * (d + k)),
        f"an active set of {size} pairs in d = {d}",
    )
    terms = Terms(X, objective, workers, settings.scan_dtype)
    history = FitHistory(sigma_mode=settings.sigma, scan_dtype=settings.scan_dtype)
    scan_seconds = 0.0
    evaluations = 0

    m_scan = min(settings.scan_size, max(1, settings.active_size // 2))
    use_pool = settings.pool_size is not None and objective == "pairs"
    m_pass = max(m_scan, settings.pool_size or 0) if use_pool else m_scan
    pool_pairs: IntArray | None = None  # the pool of the last pass (pairs objective)

    def exact(M: Array) -> ScanResult:
        nonlocal scan_seconds, pool_pairs
        t0 = time.perf_counter()
        result = terms.scan(M, m_pass)
        scan_seconds += time.perf_counter() - t0
        if not (math.isfinite(result.rmin) and math.isfinite(result.rmax)) or result.rmax <= 0:
            raise InputError("fit: the projection's pair ratios are not finite (exact pass)")
        if m_pass == m_scan:
            return result
        # largest ratios first, then smallest, min(m_pass, pairs) each: the active set's
        # candidates are the first m_scan of each half, the pool all of them
        pool_pairs = result.pairs
        half = result.pairs.shape[0] // 2
        pick = np.concatenate([np.arange(min(m_scan, half)), half + np.arange(min(m_scan, half))])
        return ScanResult(
            pairs=result.pairs[pick], ratios=result.ratios[pick], rmin=result.rmin,
            rmax=result.rmax,
        )  # fmt: skip

    best_M = np.array(M0, dtype=np.float64)
    best_range: tuple[float, float] | None = None
    best_val_range: tuple[float, float] | None = None
    best_value = math.inf  # training max (rescaled) of the best M
    best_key = math.inf  # what selects the best M: the validation max, else best_value
    done = 0
    stall = 0
    val_stall = 0
    best_trace: list[float] = []  # the best certified max after each round
    # iterations of the next round: fixed, or (min_inner_iter) doubled after a round that
    # certified a better max and halved after one that did not
    inner = settings.inner_iter
    if settings.min_inner_iter is not None:
        inner = min(settings.min_inner_iter, settings.inner_iter)
    interrupted = False
    decay = settings.tau_decay
    if settings.max_rounds is not None and settings.max_rounds > 1:
        decay = min(
            decay, (settings.tau_final / settings.tau0) ** (1.0 / (settings.max_rounds - 1))
        )
    rounds_nominal = max(
        1, math.ceil(math.log(settings.tau_final / settings.tau0) / math.log(decay))
    )
    round_index = 0

    def certified(M: Array, scanned: ScanResult, sigma: float, tau: float | None) -> bool:
        """Record an exact pass; keep M when it is the best so far; True if it was."""
        nonlocal best_M, best_range, best_val_range, best_value, best_key, val_stall
        value = range_distortion(scanned.rmin, scanned.rmax)
        history.certified_iteration.append(done)
        history.certified_max_distortion.append(value)
        history.certified_sigma.append(sigma)
        if tau is not None:
            history.tau.append(tau)
        key = value
        val_range = None
        if validation is not None:
            val_range = validation.ratio_range(M)
            key = range_distortion(min(scanned.rmin, val_range[0]), max(scanned.rmax, val_range[1]))
            history.validation_max_distortion.append(key)
            val_stall = 0 if key < best_key * (1.0 - 1e-3) else val_stall + 1
        if key < best_key or best_range is None:
            best_M, best_value, best_key = M.copy(), value, key
            best_range, best_val_range = (scanned.rmin, scanned.rmax), val_range
            history.best_round = len(history.certified_iteration) - 1
            return True
        return False

    last_round: RoundProblem | None = None
    active_pairs: IntArray | None = None
    try:
        M = np.array(M0, dtype=np.float64)
        scanned = exact(M)
        sigma = settings.sigma0 if settings.sigma != "none" else 0.0
        certified(M, scanned, sigma, None)
        last_value = best_value
        M *= math.sqrt(2.0 / (scanned.rmin + scanned.rmax))
        active = ActiveSet(terms.points, scanned.pairs)
        tau_rel = settings.tau0
        if seed_pairs is not None and seed_pairs.size and objective == "pairs":
            seeded = ActiveSet(terms.points, np.asarray(seed_pairs, dtype=np.int64))
            active = _next_active(terms.points, seeded, scanned.pairs, M, settings, tau_rel)
        pool: Pool | None = None
        pool_best: tuple[float, Array, float] = (math.inf, M, sigma)
        pool_round = 0
        if pool_pairs is not None:
            pool = Pool(terms.points, _union_pairs(pool_pairs, active.pairs))
            pool_best = (pool.value(M), M.copy(), sigma)
        with one_blas_thread():
            while done < settings.n_iter:
                if last_value <= _EXACT:
                    history.stopped = "distortion 0 up to rounding"
                    break
                tau = max(last_value * tau_rel, _TAU_MIN)
                if settings.sigma == "schedule":
                    frac = min(1.0, round_index / rounds_nominal)
                    sigma = settings.sigma0 * (settings.sigma_final / settings.sigma0) ** frac
                step = _Step(active, k, tau, settings, sigma, history, done, neighbours)
                budget = min(inner, settings.n_iter - done)
                x0 = step.start(M)
                result = minimize(
                    step.value_and_grad,
                    x0,
                    jac=True,
                    method="L-BFGS-B",
                    callback=partial(_after_iteration, step, callback, settings.n_iter),
                    options={
                        "maxiter": budget,
                        "maxfun": 4 * budget,
                        "maxcor": _LBFGS_MEMORY,
                        "ftol": _ROUND_FTOL * last_value,
                    },
                )
                evaluations += step.evaluations
                done = step.done
                last_round = RoundProblem(step, np.asarray(result.x, dtype=np.float64))
                M, sigma = step.unpack(result.x)
                if not np.all(np.isfinite(M)):
                    raise InputError("fit: the optimiser produced a non-finite projection")
                if pool is not None:
                    r = pool.ratios(M)
                    p_lo, p_hi = float(r.min()), float(r.max())
                    p_value = range_distortion(p_lo, p_hi)
                    history.pool_max_distortion.append(p_value)
                    pool_round += 1
                    gained = p_value < pool_best[0] * (1.0 - 1e-3)
                    if p_value < pool_best[0]:
                        pool_best = (p_value, M.copy(), sigma)
                    if gained and pool_round < settings.pool_rounds and done < settings.n_iter:
                        # a cheap round: the next active set from the pool, no exact pass
                        M = M * math.sqrt(2.0 / (p_lo + p_hi))
                        tau_rel = max(tau_rel * decay, settings.tau_final)
                        extra = pool.extremes(r, m_scan)
                        active = _next_active(terms.points, active, extra, M, settings, tau_rel)
                        continue
                    if pool_round > 1:  # else the round's own M, as without a pool
                        _, M, sigma = pool_best
                scanned = exact(M)
                value = range_distortion(scanned.rmin, scanned.rmax)
                stall = 0 if value < last_value * (1.0 - 1e-3) else stall + 1
                last_value = min(last_value, value)
                best_trace.append(last_value)
                improved = certified(M, scanned, sigma, tau)
                if settings.min_inner_iter is not None:
                    low = min(settings.min_inner_iter, settings.inner_iter)
                    inner = (
                        min(2 * inner, settings.inner_iter) if improved else max(inner // 2, low)
                    )
                M = M * math.sqrt(2.0 / (scanned.rmin + scanned.rmax))
                tau_rel = max(tau_rel * decay, settings.tau_final)
                active = _next_active(terms.points, active, scanned.pairs, M, settings, tau_rel)
                active_pairs = active.pairs
                if pool_pairs is not None:
                    pool = Pool(terms.points, _union_pairs(pool_pairs, active.pairs))
                    pool_best, pool_round = (pool.value(M), M.copy(), sigma), 0
                round_index += 1
                if validation is not None and val_stall >= settings.n_iter_no_change:
                    history.stopped = (
                        f"no better validation max for {settings.n_iter_no_change} rounds"
                    )
                    break
                if settings.max_rounds is not None and stall >= min(LARGE_STALL, settings.patience):
                    history.stopped = (
                        f"no better certified max for {LARGE_STALL} rounds (a large problem)"
                    )
                    break
                if stall >= settings.patience and tau_rel <= settings.tau_final:
                    history.stopped = f"no better certified max for {settings.patience} rounds"
                    break
                if (
                    settings.tol is not None
                    and tau_rel <= settings.tau_final
                    and len(best_trace) > settings.patience
                    and best_trace[-1] >= best_trace[-1 - settings.patience] * (1.0 - settings.tol)
                ):
                    history.stopped = (
                        f"certified max improved by less than tol = {settings.tol:g} "
                        f"in {settings.patience} rounds"
                    )
                    break
                if last_value <= _EXACT:
                    history.stopped = "distortion 0 up to rounding"
                    break
                if (
                    settings.max_rounds is not None
                    and settings.tol is not None
                    and len(best_trace) >= 2
                    and best_trace[-1] >= best_trace[-2] * (1.0 - settings.tol)
                ):
                    history.stopped = (
                        f"an exact pass gained less than tol = {settings.tol:g} (a large problem)"
                    )
                    break
                if settings.max_rounds is not None and round_index >= settings.max_rounds:
                    history.stopped = f"{settings.max_rounds} rounds (exact passes) done"
                    break
            else:
                history.stopped = f"iteration budget {settings.n_iter} spent"
    except KeyboardInterrupt:
        interrupted = True
        history.stopped = "interrupted"
    return FitOutcome(
        M=best_M,
        ratio_range=best_range,
        validation_range=best_val_range,
        history=history,
        interrupted=interrupted,
        seconds=time.perf_counter() - start,
        scan_seconds=scan_seconds,
        evaluations=evaluations,
        last_round=last_round,
        active_pairs=active_pairs,
    )


class RoundProblem:
    """The last round's smoothed objective ``Phi_tau`` as a :class:`derand.core.Problem`.

    ``x = [vec(M), sigma]`` (``vec(M)`` alone when sigma is not trained), minimised, over the
    round's active set at its temperature: the objective the L-BFGS round stopped on, at the
    point it stopped (``x_end``). ``randomness`` is ``sigma`` (the lemma's random part
    ``sigma G``), ``round`` the deterministic ``M`` with its max distortion over the active set;
    ``hvp`` is a central difference of the exact gradient (relative step ``1e-6``), so the
    certificate's ``lambda_min`` is accurate to about ``1e-6`` relative.
    """

    sense = "min"

    def __init__(self, step: _Step, x_end: Array) -> None:
        self.step = step
        self.x_end = x_end

    def start(self) -> Array:
        """The round's end point."""
        return self.x_end.copy()

    def value_and_grad(self, x: Array) -> tuple[float, Array]:
        """``Phi_tau`` and its exact gradient."""
        return self.step.value_and_grad(x)

    def randomness(self, x: Array) -> float:
        """``sigma``."""
        return self.step.unpack(x)[1]

    def round(self, x: Array) -> Rounded:
        """``M`` and ``max |R_u - 1|`` over the active set."""
        M, _ = self.step.unpack(x)
        return Rounded(M, float(np.max(np.abs(self.step.act.ratios(M) - 1.0))))

    def hvp(self, x: Array, v: Array) -> Array:
        """``hess Phi_tau(x) v`` by a central difference of the exact gradient."""
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            return np.zeros_like(v)
        h = 1e-6 * max(1.0, float(np.linalg.norm(x))) / norm
        plus = self.step.value_and_grad(x + h * v)[1]
        minus = self.step.value_and_grad(x - h * v)[1]
        out: Array = (plus - minus) / (2.0 * h)
        return out


def _after_iteration(
    step: _Step, callback: Callable[[int, int], None] | None, total: int, _x: object = None
) -> None:
    step.record()
    if callback is not None:
        callback(step.done, total)


def _union_pairs(a: IntArray, b: IntArray) -> IntArray:
    """The distinct rows of two arrays of pairs (i < j), sorted."""
    both = np.concatenate([a, b])
    width = np.int64(both.max() + 1) if both.size else np.int64(1)
    flat = np.unique(both[:, 0] * width + both[:, 1])
    return np.stack([flat // width, flat % width], axis=1)


def _next_active(
    points: Array,
    active: ActiveSet,
    new: IntArray,
    M: Array,
    settings: FitSettings,
    tau_rel: float,
) -> ActiveSet:
    """Union of the active set and the scan's extremes, without terms that cannot matter.

    A term stays when its distortion (at the rescaled M) is within ``_NEGLIGIBLE`` tau of
    the largest; at most ``active_size`` terms, the most extreme first.
    """
    width = np.int64(points.shape[0])
    old = active.pairs[:, 0] * width + active.pairs[:, 1]
    flat, where = np.unique(np.concatenate([old, new[:, 0] * width + new[:, 1]]), return_index=True)
    keys = np.stack([flat // width, flat % width], axis=1)
    inv_den = np.empty(flat.size)
    known = where < old.size
    inv_den[known] = active.inv_den[where[known]]
    fresh = np.flatnonzero(~known)
    diff = points[keys[fresh, 0]] - points[keys[fresh, 1]]
    inv_den[fresh] = 1.0 / np.einsum("ij,ij->i", diff, diff)
    act = ActiveSet(points, keys, inv_den)
    dist = np.abs(act.ratios(M) - 1.0)
    top = float(dist.max())
    keep = np.flatnonzero(dist >= top * (1.0 - _NEGLIGIBLE * tau_rel))
    order = keep[np.argsort(-dist[keep], kind="stable")[: settings.active_size]]
    return ActiveSet(points, keys[order], act.inv_den[order])


class _Step:
    """One round's objective over an active set, in the variables ``[vec(M), sigma]``."""

    def __init__(
        self,
        act: ActiveSet,
        k: int,
        tau: float,
        settings: FitSettings,
        sigma: float,
        history: FitHistory,
        done: int,
        neighbours: NeighbourModel | None = None,
    ) -> None:
        self.act = act
        self.neighbours = neighbours
        self.k = k
        self.d = act.X.shape[1]
        self.tau = tau
        self.settings = settings
        self.trained = settings.sigma == "objective"
        self.history = history
        self.done = done
        self.evaluations = 0
        self.half = 0.5 * k * tau
        self.slack = settings.stretch_slack
        self.a_fixed = 0.0
        if settings.sigma != "none":
            a = sigma * sigma / self.half
            if a > _A_START_MAX:
                a = _A_START_MAX
                history.sigma_restarts += 1
            self.a_fixed = a
        self._Z = np.empty((act.X.shape[0], k))
        self._m = np.empty(act.size)
        self._e = np.empty(2 * act.size)
        self._diff = np.empty((act.size, k))
        self._last: tuple[float, float, float, float] = (math.nan, 0.0, 1.0, 1.0)

    def start(self, M: Array) -> Array:
        """Initial variables for L-BFGS: ``vec(M)``, and sigma when it is trained."""
        flat = M.ravel()
        if not self.trained:
            return flat
        return np.concatenate([flat, [math.sqrt(self.a_fixed * self.half)]])

    def _a(self, x: Array) -> float:
        """a = sigma^2 / (k tau / 2); the trained variable is a signed sigma (Phi is even)."""
        if not self.trained:
            return self.a_fixed
        sigma = float(x[-1])
        return sigma * sigma / self.half

    def unpack(self, x: Array) -> tuple[Array, float]:
        """(M, sigma) from the variables."""
        M = np.array(x[: self.k * self.d].reshape(self.k, self.d))
        return M, math.sqrt(min(self._a(x), _A_MAX) * self.half)

    def value_and_grad(self, x: Array) -> tuple[float, Array]:
        """Phi and its gradient (``[dPhi/dM, dPhi/dsigma]``)."""
        M = x[: self.k * self.d].reshape(self.k, self.d)
        a_raw = self._a(x)
        a = min(a_raw, _A_MAX)  # beyond: a quadratic wall (the expectation is infinite at 1)
        act = self.act
        Y = np.ascontiguousarray(act.X @ M.T)
        zmax, mmin, mmax = _exponents(
            Y, act.first, act.second, act.inv_den, self.tau, a, self.k, self._m, self._e,
            self._diff,
        )  # fmt: skip
        total = float(self._e.sum())
        inv_up, inv_lo = 1.0 / (1.0 - a), 1.0 / (1.0 + a)
        up_c = -self.half * math.log1p(-a) - 1.0
        lo_c = 1.0 - self.half * math.log1p(a)
        # the largest gain of M over all directions, ||M||_op^2, as one more upper term
        gain = None
        top = zmax
        if self.settings.cap_gain:
            U, S, Vt = np.linalg.svd(M, full_matrices=False)
            m_g = float(S[0] ** 2)
            z_g = (m_g * inv_up + up_c) / (self.tau * self.slack)
            top = max(top, z_g)
            gain = (m_g, z_g, U[:, 0] * S[0], Vt[0])
        # the predicted extremes of new near pairs, one upper and one lower term
        near = None
        if self.neighbours is not None:
            m_hi, m_lo, g_hi, g_lo = self.neighbours.terms(M)
            z_hi = (m_hi * inv_up + up_c) / self.tau
            z_lo = (lo_c - m_lo * inv_lo) / self.tau
            top = max(top, z_hi, z_lo)
            near = (m_hi, m_lo, g_hi, g_lo, z_hi, z_lo)
        shrink = math.exp(zmax - top)
        lse = shrink * total
        if gain is not None:
            lse += math.exp(gain[1] - top)
        if near is not None:
            lse += math.exp(near[4] - top) + math.exp(near[5] - top)
        dA = _backward(
            self._diff, act.first, act.second, act.inv_den, self.tau, a, self.k, self._m,
            self._e, shrink / lse, self._Z,
        )  # fmt: skip
        val = self.tau * (top + math.log(lse))
        lam = self.settings.sigma_penalty
        val += lam * a * self.half
        grad = self._Z.T @ act.X
        if gain is not None:
            m_g, z_g, u_s, v = gain
            w = math.exp(z_g - top) / (lse * self.slack)
            grad += (2.0 * w * inv_up) * np.outer(u_s, v)
            dA += w * (m_g * inv_up * inv_up + self.half * inv_up)
        if near is not None:
            m_hi, m_lo, g_hi, g_lo, z_hi, z_lo = near
            w_hi = math.exp(z_hi - top) / lse
            w_lo = math.exp(z_lo - top) / lse
            grad += (w_hi * inv_up) * g_hi - (w_lo * inv_lo) * g_lo
            dA += w_hi * (m_hi * inv_up * inv_up + self.half * inv_up)
            dA += w_lo * (m_lo * inv_lo * inv_lo - self.half * inv_lo)
        grad_M = grad.ravel()
        self.evaluations += 1
        self._last = (val, a, mmin, mmax)
        if not (math.isfinite(val) and np.all(np.isfinite(grad_M))):
            raise InputError("fit: the objective is not finite (optimiser step)")
        if not self.trained:
            return val, grad_M
        sigma = float(x[-1])
        dA += lam * self.half
        if a_raw > _A_MAX:
            val += _WALL * (a_raw - _A_MAX) ** 2
            dA = 2.0 * _WALL * (a_raw - _A_MAX)
        return val, np.concatenate([grad_M, [dA * 2.0 * sigma / self.half]])

    def record(self) -> None:
        """Append the last evaluation to the history (one L-BFGS iteration)."""
        self.done += 1
        val, a, mmin, mmax = self._last
        h = self.history
        h.iteration.append(self.done)
        h.objective.append(val)
        h.max_distortion.append(range_distortion(mmin, mmax))
        h.sigma.append(math.sqrt(a * self.half))
        h.active_size.append(self.act.size)
