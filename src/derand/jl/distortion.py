"""Exact distortion of a linear embedding over all pairs of points (paper §5.2, JL).

For points x_1..x_n in R^d and a projection ``P`` (k x d, the matrix applied by
``transform``; for the paper's ``A`` this is ``A / sqrt(k)``) the pairwise distortion is

    D_ij = ||P u_ij||^2 - 1,   u_ij = (x_i - x_j) / ||x_i - x_j||,   i < j.

:func:`pairwise_distortion` computes every D_ij exactly, streamed in square tiles of pairs
(:mod:`derand.jl.pairs`) so that memory stays O(tile^2 + n (d + k)) whatever n is: Gram
blocks of the centred data give most pairs, and every pair where that formula could lose
accuracy to cancellation is recomputed from its explicit difference. The data and the
projection are first rescaled by powers of two (exact), so values near the ends of the
float64 range neither overflow nor underflow. The absolute error of each D_ij is about
1e-10 ||P||^2 or less: ``max_distortion`` is a certificate over all training pairs. Nothing
is claimed for points outside the data; :func:`cross_distortion` measures the pairs between
two sets (training x held-out).

The tiles can run on threads or, with ``backend="ray"``, as Ray tasks on a cluster
(:mod:`derand.jl.distributed`); the result is the same bit for bit.

The authors' code measures a different quantity, the distortion of the points' own norms,
``||P x_i||^2 / ||x_i||^2 - 1``; :func:`norm_distortion` computes it under that name.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from derand.errors import InputError
from derand.jl.pairs import (
    DEFAULT_TILE,
    EXACT_QUANTILE_LIMIT,
    PairData,
    Projected,
    TileResults,
    certify_tiles,
    plan_tiles,
    reduce_tiles,
    tile_pairs,
)
from derand.limits import require_memory
from derand.threads import available_cpus

Array = NDArray[np.float64]

BACKENDS = ("local", "ray")

DEFAULT_QUANTILES = (0.5, 0.9, 0.99, 0.999)


@dataclass(frozen=True)
class DistortionReport:
    """Distortion statistics of a projection over a data set.

    Attributes
    ----------
    objective : str
        ``"pairs"`` (all pairs i < j of normalised differences) or ``"norms"`` (the points'
        own norms, the authors' variant).
    n, d, k : int
        Points (after dropping duplicates), input and output dimension.
    pairs : int
        Number of terms: n(n-1)/2 for ``"pairs"``, n for ``"norms"``.
    max_distortion : float
        ``max |D|`` over all terms, exact (the certificate).
    mean_distortion : float
        Mean of ``|D|``.
    mean_signed, min_signed, max_signed : float
        Mean, minimum and maximum of the signed ``D``.
    quantiles : dict
        Quantiles of ``|D|`` keyed by the probability as a string.
    quantiles_exact : bool
        False when a histogram (relative bin width 1.2e-4) was used (more than 1e7 terms).
    worst : list
        ``[i, j, D_ij]`` for the largest ``|D|`` (for ``"norms"``, ``j == i``), indices into
        the de-duplicated data, worst first.
    duplicates_dropped : int
        Points removed because they duplicated an earlier one (or, for ``"norms"``, were 0).
    seconds : float
        Wall time.
    """

    objective: str
    n: int
    d: int
    k: int
    pairs: int
    max_distortion: float
    mean_distortion: float
    mean_signed: float
    min_signed: float
    max_signed: float
    quantiles: dict[str, float]
    quantiles_exact: bool
    worst: list[list[float]] = field(default_factory=list)
    duplicates_dropped: int = 0
    seconds: float = 0.0


def as_points(X: ArrayLike, *, name: str = "X", min_points: int = 2) -> Array:
    """Validate a data matrix: 2-d, finite, at least ``min_points`` rows; returns float64."""
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a numeric matrix: {exc}") from None
    if arr.ndim != 2:
        raise InputError(f"{name} must be 2-d (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[1] < 1:
        raise InputError(f"{name} has no features")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains NaN or infinity")
    if arr.shape[0] < min_points:
        raise InputError(
            f"{name} needs at least {min_points} points, got n_samples = {arr.shape[0]}"
        )
    return arr


def drop_duplicates(X: ArrayLike, *, warn: bool = True) -> tuple[Array, NDArray[np.intp]]:
    """Remove repeated rows (they give zero differences); keeps first occurrences in order.

    Returns the de-duplicated matrix and the indices of the kept rows. Emits a
    :class:`UserWarning` when rows were dropped and ``warn`` is true.
    """
    arr = np.asarray(X, dtype=np.float64)
    _, first = np.unique(arr, axis=0, return_index=True)
    keep = np.sort(first)
    dropped = arr.shape[0] - keep.size
    if dropped and warn:
        warnings.warn(
            f"dropped {dropped} duplicate point(s): zero differences have no direction",
            UserWarning,
            stacklevel=2,
        )
    return arr[keep], keep


def as_projection(P: ArrayLike, d: int) -> Array:
    """Validate a projection matrix of shape (k, d)."""
    arr = np.asarray(P, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != d:
        raise InputError(f"projection must have shape (k, {d}), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError("projection contains NaN or infinity")
    return arr


def dense_pairwise_distortions(X: ArrayLike, P: ArrayLike) -> tuple[Array, NDArray[np.intp]]:
    """Reference implementation from explicit differences (O(n^2 d) memory; small n only).

    Returns the signed distortions of all pairs i < j in ``np.triu_indices`` order and the
    pair indices as an array of shape (pairs, 2).
    """
    Xa = np.asarray(X, dtype=np.float64)
    Pa = np.asarray(P, dtype=np.float64)
    i, j = np.triu_indices(Xa.shape[0], k=1)
    diff = Xa[i] - Xa[j]
    num = np.einsum("pk,pk->p", diff @ Pa.T, diff @ Pa.T)
    den = np.einsum("pd,pd->p", diff, diff)
    return num / den - 1.0, np.stack([i, j], axis=1)


def _run_tiles(
    data: PairData,
    proj: Projected,
    tiles: Sequence[tuple[int, int, int, int]],
    *,
    n_worst: int,
    keep_values: bool,
    workers: int,
    backend: str,
    address: str | None,
    callback: Callable[[int, int], None] | None,
) -> list[TileResults]:
    """Certificate partials of ``tiles`` on this machine's threads or as Ray tasks."""
    total = sum(tile_pairs(t) for t in tiles)
    if backend == "ray":
        from derand.jl.distributed import certify_tiles_ray

        return certify_tiles_ray(
            data, proj, tiles, n_worst=n_worst, keep_values=keep_values, workers=workers,
            address=address, callback=callback, total=total,
        )  # fmt: skip
    done = 0

    def tick(pairs: int) -> None:
        nonlocal done
        done += pairs
        if callback is not None:
            callback(done, total)

    return [
        certify_tiles(
            data, proj, tiles, n_worst=n_worst, keep_values=keep_values, workers=workers,
            callback=tick,
        )
    ]  # fmt: skip


def _check_backend(backend: str, address: str | None, workers: int | None) -> int:
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if address is not None and backend != "ray":
        raise InputError("an address is only used by the ray backend")
    if workers is None:
        return available_cpus()
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise InputError(f"workers must be an integer >= 1, got {workers!r}")
    return int(workers)


def _certify(
    data: PairData,
    P: Array,
    tiles: list[tuple[int, int, int, int]],
    *,
    d: int,
    dropped: int,
    quantiles: Sequence[float],
    n_worst: int,
    workers: int | None,
    backend: str,
    address: str | None,
    callback: Callable[[int, int], None] | None,
    start: float,
) -> DistortionReport:
    """Run the tiles and reduce them into a report."""
    nworkers = _check_backend(backend, address, workers)
    total = sum(tile_pairs(t) for t in tiles)
    keep_values = total <= EXACT_QUANTILE_LIMIT
    require_memory(
        (8.0 * total if keep_values else 0.0) + 8.0 * data.raw.size * 2,
        f"the certificate of {total} pairs",
    )
    proj = Projected.from_projection(data, P)
    parts = _run_tiles(
        data, proj, tiles, n_worst=max(0, n_worst), keep_values=keep_values, workers=nworkers,
        backend=backend, address=address, callback=callback,
    )  # fmt: skip
    raw = data.raw
    n = data.n

    def signed(i: int, j: int) -> float:
        diff = raw[i] - raw[j]
        top = float(np.max(np.abs(diff)))
        diff = diff / top
        return float((proj.P @ diff) @ (proj.P @ diff) / (diff @ diff) * proj.ratio_scale - 1.0)

    summary = reduce_tiles(parts, n, total, quantiles, max(0, n_worst), signed)
    max_abs = max(abs(summary.min_signed), abs(summary.max_signed)) if total else 0.0
    return DistortionReport(
        objective="pairs",
        n=n,
        d=d,
        k=int(P.shape[0]),
        pairs=total,
        max_distortion=max_abs,
        mean_distortion=summary.sum_abs / total if total else 0.0,
        mean_signed=summary.sum_signed / total if total else 0.0,
        min_signed=summary.min_signed,
        max_signed=summary.max_signed,
        quantiles=summary.quantiles,
        quantiles_exact=summary.quantiles_exact,
        worst=[[int(i), int(j), float(v)] for i, j, v in summary.worst],
        duplicates_dropped=dropped,
        seconds=time.perf_counter() - start,
    )


def pairwise_distortion(
    X: ArrayLike,
    P: ArrayLike,
    *,
    dedupe: bool = True,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    n_worst: int = 10,
    tile: int | None = None,
    workers: int | None = None,
    backend: str = "local",
    address: str | None = None,
    callback: Callable[[int, int], None] | None = None,
) -> DistortionReport:
    """Exact distortion ``||P u_ij||^2 - 1`` over all pairs i < j (paper §5.2, JL).

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points; duplicate rows are dropped with a warning (they have no direction).
    P : array_like, shape (k, d)
        The projection applied by ``transform`` (``A / sqrt(k)`` in the paper's notation).
    dedupe : bool
        Drop duplicate rows first. With ``False`` the caller guarantees there are none.
    quantiles : sequence of float
        Probabilities for the quantiles of ``|D|`` (exact up to 10^7 pairs, else from a
        histogram with relative bin width 1.2e-4).
    n_worst : int
        How many worst pairs to return.
    tile : int, optional
        Rows per tile (default 512, smaller for small n); memory is O(tile^2 + n (d + k)).
    workers : int, optional
        Threads (local) or CPUs (a Ray instance started here); default: this process's CPUs.
    backend : {"local", "ray"}
        ``"ray"`` runs the tiles as Ray tasks, on the cluster at ``address`` or on a local
        instance bound to 127.0.0.1; the report is identical bit for bit.
    address : str, optional
        Address of an existing Ray cluster.
    callback : callable, optional
        ``callback(done, total)`` as pairs are finished.

    Returns
    -------
    DistortionReport
        ``max_distortion`` is exact over all training pairs (up to float64 rounding): a
        certificate for these points and nothing more.

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    >>> rep = pairwise_distortion(X, np.array([[1.0, 0.0]]))
    >>> rep.pairs, rep.max_distortion    # the pair (0, 2) is orthogonal to P: D = -1
    (3, 1.0)
    """
    start = time.perf_counter()
    Xa = as_points(X)
    Pa = as_projection(P, Xa.shape[1])
    dropped = 0
    if dedupe:
        Xu, keep = drop_duplicates(Xa, warn=True)
        dropped = Xa.shape[0] - keep.size
        Xa = Xu
        if Xa.shape[0] < 2:
            raise InputError("all points are equal: no pair has a direction")
    data = PairData.from_points(Xa)
    side = tile if tile is not None else _default_tile(data.n)
    return _certify(
        data, Pa, plan_tiles(data.n, side), d=Xa.shape[1], dropped=dropped, quantiles=quantiles,
        n_worst=n_worst, workers=workers, backend=backend, address=address, callback=callback,
        start=start,
    )  # fmt: skip


def _default_tile(n: int) -> int:
    return int(min(DEFAULT_TILE, max(256, math.ceil(n / 8))))


def cross_distortion(
    X_a: ArrayLike,
    X_b: ArrayLike,
    P: ArrayLike,
    *,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    n_worst: int = 10,
    tile: int | None = None,
    workers: int | None = None,
    backend: str = "local",
    address: str | None = None,
    callback: Callable[[int, int], None] | None = None,
) -> DistortionReport:
    """Exact distortion over all pairs (a, b) with a from ``X_a`` and b from ``X_b``.

    The generalisation check of a fitted embedding: ``X_a`` the training points and ``X_b``
    held-out points. Duplicates within each set, and points of ``X_b`` equal to a point of
    ``X_a``, are dropped with a warning. ``worst`` indexes ``j`` into the kept rows of
    ``X_b`` offset by the kept rows of ``X_a`` (i.e. into ``vstack([X_a, X_b])``).

    Returns
    -------
    DistortionReport
        ``pairs`` = n_a * n_b; ``n`` = n_a + n_b.

    Examples
    --------
    >>> A = np.array([[0.0, 0.0], [1.0, 0.0]])
    >>> B = np.array([[0.0, 1.0]])
    >>> cross_distortion(A, B, np.eye(2)).max_distortion
    0.0
    """
    start = time.perf_counter()
    A = as_points(X_a, name="X_a", min_points=1)
    B = as_points(X_b, name="X_b", min_points=1)
    if A.shape[1] != B.shape[1]:
        raise InputError(f"X_a has {A.shape[1]} features but X_b has {B.shape[1]}")
    Pa = as_projection(P, A.shape[1])
    A, _ = drop_duplicates(A, warn=True)
    B, _ = drop_duplicates(B, warn=True)
    seen = {row.tobytes() for row in A + 0.0}  # + 0.0 turns -0.0 into 0.0
    fresh = np.array([row.tobytes() not in seen for row in B + 0.0], dtype=bool)
    shared = int((~fresh).sum())
    if shared:
        B = B[fresh]
        warnings.warn(
            f"dropped {shared} held-out point(s) equal to a training point",
            UserWarning,
            stacklevel=2,
        )
    if B.shape[0] == 0:
        raise InputError("every held-out point equals a training point")
    nA, nB = A.shape[0], B.shape[0]
    data = PairData.from_points(np.vstack([A, B]))
    side = tile if tile is not None else _default_tile(nA + nB)
    tiles = [
        (i0, min(i0 + side, nA), j0, min(j0 + side, nA + nB))
        for i0 in range(0, nA, side)
        for j0 in range(nA, nA + nB, side)
    ]
    return _certify(
        data, Pa, tiles, d=A.shape[1], dropped=shared, quantiles=quantiles, n_worst=n_worst,
        workers=workers, backend=backend, address=address, callback=callback, start=start,
    )  # fmt: skip


def norm_distortion(
    X: ArrayLike,
    P: ArrayLike,
    *,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    n_worst: int = 10,
) -> DistortionReport:
    """The authors' variant: ``||P x_i||^2 / ||x_i||^2 - 1`` over the points themselves.

    This is what the authors' code optimises and reports for JL (paper §5.2); it is not the
    pairwise JL guarantee (see :func:`pairwise_distortion`). Zero points are dropped with a
    warning. The maximum is exact over the given points.
    """
    start = time.perf_counter()
    Xa = as_points(X, min_points=1)
    Pa = as_projection(P, Xa.shape[1])
    norms = np.einsum("nd,nd->n", Xa, Xa)
    nonzero = norms > 0
    dropped = int((~nonzero).sum())
    if dropped:
        warnings.warn(f"dropped {dropped} zero point(s): they have no direction", stacklevel=2)
    Xa, norms = Xa[nonzero], norms[nonzero]
    if Xa.shape[0] == 0:
        raise InputError("all points are zero: the norms objective is undefined")
    Y = Xa @ Pa.T
    D = np.einsum("nk,nk->n", Y, Y) / norms - 1.0
    absD = np.abs(D)
    order = np.argsort(-absD, kind="stable")[:n_worst]
    qs = np.quantile(absD, list(quantiles))
    return DistortionReport(
        objective="norms",
        n=Xa.shape[0],
        d=Xa.shape[1],
        k=Pa.shape[0],
        pairs=Xa.shape[0],
        max_distortion=float(absD.max()),
        mean_distortion=float(absD.mean()),
        mean_signed=float(D.mean()),
        min_signed=float(D.min()),
        max_signed=float(D.max()),
        quantiles={str(p): float(v) for p, v in zip(quantiles, qs, strict=True)},
        quantiles_exact=True,
        worst=[[int(i), int(i), float(D[i])] for i in order],
        duplicates_dropped=dropped,
        seconds=time.perf_counter() - start,
    )


def measure_distortion(
    X: ArrayLike, P: ArrayLike, *, objective: str = "pairs", **kwargs: object
) -> DistortionReport:
    """Dispatch to :func:`pairwise_distortion` (``"pairs"``) or :func:`norm_distortion`."""
    if objective == "pairs":
        return pairwise_distortion(X, P, **kwargs)  # type: ignore[arg-type]
    if objective == "norms":
        return norm_distortion(X, P, **kwargs)  # type: ignore[arg-type]
    raise InputError(f"objective must be 'pairs' or 'norms', got {objective!r}")


def best_rescaling(min_signed: float, max_signed: float) -> tuple[float, float]:
    """The scalar c minimising ``max |c^2 (1 + D) - 1|`` given the range of D.

    With ratios r in [lo, hi] = [1 + min_signed, 1 + max_signed] the optimum is
    ``c^2 = 2 / (lo + hi)`` and the resulting max distortion ``(hi - lo) / (hi + lo)``.
    Returns ``(c, max_distortion_after)``.
    """
    lo, hi = 1.0 + min_signed, 1.0 + max_signed
    if hi <= 0:
        raise InputError("the projection maps every difference to zero")
    c2 = 2.0 / (lo + hi)
    return math.sqrt(c2), (hi - lo) / (hi + lo)
