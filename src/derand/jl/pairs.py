"""All pairs i < j of a point set, streamed in square tiles (paper §5.2: the exact certificate).

The n(n-1)/2 pairs are cut into tiles of the upper triangle: rows ``i0:i1`` against columns
``j0:j1`` with ``j0 >= i0`` (a diagonal tile keeps only ``i < j``). For a tile, two BLAS
products give the Gram blocks of the centred data and of its projection, and a compiled
kernel turns them into ratios

    r_ij = ||P (x_i - x_j)||^2 / ||x_i - x_j||^2
         = (|y_i|^2 + |y_j|^2 - 2 y_i.y_j) / (|x_i|^2 + |x_j|^2 - 2 x_i.x_j),

recomputing from the explicit difference every pair where that formula could lose more than
about ``eps / tol`` relative accuracy to cancellation (``tol = 1e-6`` in float64, so about
1e-10). Memory is O(tile^2 + n (d + k)) whatever n is.

Every tile is computed the same way wherever it runs (one BLAS thread, a sequential kernel),
partial results are kept per tile and reduced in tile order, so the numbers do not depend on
how many threads or processes ran the tiles: a Ray run equals a local run bit for bit on the
same machine type (:mod:`derand.jl.distributed`).

Two passes use the tiles: :func:`certify_pairs` (signed distortion range, mean, quantiles and
worst pairs of ``D = r - 1``) and :func:`scan_pairs` (the pairs with the most extreme ratios,
for the optimiser's active set).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

from derand.errors import InputError

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]

DEFAULT_TILE = 512
"""Rows (and columns) per tile: 262,144 pairs and Gram blocks of at most 2 MiB, which stay in
cache between the product that writes them and the kernel that reads them (2048-row tiles,
32 MiB blocks, streamed through memory and made a pass about 20 % slower)."""

CANCELLATION_TOL = 1e-6
"""A pair with ``||x_i - x_j||^2 < tol (|x_i|^2 + |x_j|^2)`` (centred data) is recomputed from
its difference; the Gram formula's relative error elsewhere is below ``eps / tol``."""

HIST_OCTAVE_BINS = 8192
HIST_MIN_EXP = -60
HIST_MAX_EXP = 20
"""Histogram of |D| for quantiles beyond :data:`EXACT_QUANTILE_LIMIT` pairs: 8192 bins per
octave (relative width at most 1.2e-4) from 2^-60 to 2^20, values outside clamped to the
ends."""

EXACT_QUANTILE_LIMIT = 10_000_000
"""Up to this many pairs quantiles are exact (all |D| kept); above it the histogram is used."""

_STATS = 6  # min D, max D, sum |D|, sum D, count, non-finite count


# --------------------------------------------------------------------------------------------
# The tile plan
# --------------------------------------------------------------------------------------------


def plan_tiles(n: int, tile: int = DEFAULT_TILE) -> list[tuple[int, int, int, int]]:
    """Tiles ``(i0, i1, j0, j1)`` covering every pair i < j of ``n`` points exactly once.

    Returns
    -------
    list of tuple
        Row blocks against column blocks with ``j0 >= i0``, in row-major order.

    Examples
    --------
    >>> plan_tiles(5, 2)
    [(0, 2, 0, 2), (0, 2, 2, 4), (0, 2, 4, 5), (2, 4, 2, 4), (2, 4, 4, 5), (4, 5, 4, 5)]
    """
    if tile < 1:
        raise InputError(f"tile must be >= 1, got {tile}")
    starts = list(range(0, n, tile))
    return [
        (a, min(a + tile, n), b, min(b + tile, n))
        for ia, a in enumerate(starts)
        for b in starts[ia:]
    ]


def tile_pairs(t: tuple[int, int, int, int]) -> int:
    """Number of pairs i < j in a tile.

    Returns
    -------
    int

    Examples
    --------
    >>> tile_pairs((0, 2, 0, 2)), tile_pairs((0, 2, 2, 5))
    (1, 6)
    """
    i0, i1, j0, j1 = t
    if i0 == j0:
        b = i1 - i0
        return b * (b - 1) // 2
    return (i1 - i0) * (j1 - j0)


def power_of_two_scale(A: Array) -> float:
    """A power of two ``s`` with ``max |s A|`` in [0.5, 1): scaling by it is exact in floats.

    Returns
    -------
    float
        1.0 for an empty, all-zero or non-finite ``A``.

    Examples
    --------
    >>> power_of_two_scale(np.array([3.0, -5.0]))
    0.125
    """
    top = float(np.max(np.abs(A))) if A.size else 0.0
    if top == 0.0 or not math.isfinite(top):
        return 1.0
    return math.ldexp(1.0, -math.frexp(top)[1])


@dataclass(frozen=True)
class PairData:
    """Points prepared for streaming: exactly rescaled, centred, squared norms.

    Attributes
    ----------
    raw : ndarray (n, d)
        The points times a power of two (``max |raw|`` < 1): explicit differences are those
        of the input, exactly rescaled.
    centred : ndarray (n, d)
        ``raw`` minus its mean (for the Gram formula only).
    sq_norms : ndarray (n,)
        Squared norms of ``centred``.
    """

    raw: Array
    centred: Array
    sq_norms: Array

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.raw.shape[0])

    @classmethod
    def from_points(cls, X: Array, dtype: type = np.float64) -> PairData:
        """Prepare duplicate-free points ``X`` (n x d, finite) in ``dtype``."""
        raw = np.asarray(X, dtype=np.float64) * power_of_two_scale(X)
        centred = raw - raw.mean(axis=0)
        raw = np.ascontiguousarray(raw, dtype=dtype)
        centred = np.ascontiguousarray(centred, dtype=dtype)
        return cls(raw=raw, centred=centred, sq_norms=np.einsum("nd,nd->n", centred, centred))


@dataclass(frozen=True)
class Projected:
    """A projection applied to :class:`PairData`: ``Y = centred @ P.T`` and its row norms.

    ``P`` is rescaled by a power of two (``ratio_scale`` undoes it exactly) so that huge or
    tiny projections neither overflow nor underflow.
    """

    P: Array
    Y: Array
    sq_norms: Array
    ratio_scale: float

    @classmethod
    def from_projection(cls, data: PairData, P: Array) -> Projected:
        """Project ``data`` with ``P`` (k x d) in the data's dtype."""
        s = power_of_two_scale(P)
        Ps = np.ascontiguousarray(np.asarray(P, dtype=np.float64) * s, dtype=data.raw.dtype)
        Y = np.ascontiguousarray(data.centred @ Ps.T)
        return cls(P=Ps, Y=Y, sq_norms=np.einsum("nk,nk->n", Y, Y), ratio_scale=1.0 / (s * s))


# --------------------------------------------------------------------------------------------
# Compiled kernels
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _exact_ratio(raw: Array, P: Array, i: int, j: int) -> float:  # pragma: no cover - numba
    """||P(x_i - x_j)||^2 / ||x_i - x_j||^2 from the difference, rescaled to avoid underflow."""
    d = raw.shape[1]
    top = 0.0
    for t in range(d):
        top = max(top, abs(raw[i, t] - raw[j, t]))
    if top == 0.0:
        return math.nan
    den = 0.0
    for t in range(d):
        diff = (raw[i, t] - raw[j, t]) / top
        den += diff * diff
    num = 0.0
    for r in range(P.shape[0]):
        acc = 0.0
        for t in range(d):
            acc += P[r, t] * ((raw[i, t] - raw[j, t]) / top)
        num += acc * acc
    return num / den


@njit(cache=True, nogil=True)
def _certify_tile(  # pragma: no cover - numba
    Gx: Array,
    Gy: Array,
    xx: Array,
    yy: Array,
    raw: Array,
    P: Array,
    i0: int,
    j0: int,
    tol: float,
    ratio_scale: float,
    worst_v: Array,
    worst_p: IntArray,
    values: Array,
    n: int,
    stats: Array,
) -> None:
    """Distortion statistics of one tile; ``stats`` and ``worst_*`` are updated in place and
    ``values`` receives every |D| in row-major pair order."""
    bi, bj = Gx.shape
    diag = i0 == j0
    lo = math.inf
    hi = -math.inf
    s_abs = 0.0
    s_sig = 0.0
    count = 0
    bad = 0
    n_worst = worst_v.shape[0]
    for p in range(bi):
        i = i0 + p
        q0 = p + 1 if diag else 0
        for q in range(q0, bj):
            j = j0 + q
            scale = xx[i] + xx[j]
            den = scale - 2.0 * Gx[p, q]
            if den < tol * scale:
                r = _exact_ratio(raw, P, i, j)
            else:
                r = (yy[i] + yy[j] - 2.0 * Gy[p, q]) / den
            D = r * ratio_scale - 1.0
            if not math.isfinite(D):
                bad += 1
                continue
            a = abs(D)
            values[count] = a
            count += 1
            s_abs += a
            s_sig += D
            lo = min(lo, D)
            hi = max(hi, D)
            if n_worst > 0:
                key = i * n + j
                last = n_worst - 1
                if a > worst_v[last] or (a == worst_v[last] and key < worst_p[last]):
                    pos = last
                    while pos > 0 and (
                        a > worst_v[pos - 1] or (a == worst_v[pos - 1] and key < worst_p[pos - 1])
                    ):
                        worst_v[pos] = worst_v[pos - 1]
                        worst_p[pos] = worst_p[pos - 1]
                        pos -= 1
                    worst_v[pos] = a
                    worst_p[pos] = key
    stats[0] = lo
    stats[1] = hi
    stats[2] = s_abs
    stats[3] = s_sig
    stats[4] = count
    stats[5] = bad


_HIST_SHIFT = 52 - int(math.log2(HIST_OCTAVE_BINS))
_HIST_OFFSET = (1023 + HIST_MIN_EXP) * HIST_OCTAVE_BINS


@njit(cache=True, nogil=True)
def _hist_add(bits: IntArray, count: int, hist: IntArray) -> None:  # pragma: no cover - numba
    """Histogram of non-negative doubles given as their IEEE bits: the exponent and the top
    mantissa bits index a bin (8192 per octave), clamped to the ends."""
    top = hist.shape[0] - 1
    for t in range(count):
        b = (bits[t] >> _HIST_SHIFT) - _HIST_OFFSET
        hist[min(max(b, 0), top)] += 1


@njit(cache=True, nogil=True)
def _heap_push(
    keys: Array, ids: IntArray, size: int, key: float, ident: int
) -> int:  # pragma: no cover
    """Keep the ``len(keys)`` largest (key, -id) in a min-heap; returns the new size."""
    cap = keys.shape[0]
    if size < cap:
        pos = size
        size += 1
    else:
        if key < keys[0] or (key == keys[0] and ident > ids[0]):
            return size
        # replace the root and sift down
        pos = 0
        while True:
            left = 2 * pos + 1
            if left >= size:
                break
            child = left
            right = left + 1
            if right < size and (
                keys[right] < keys[left] or (keys[right] == keys[left] and ids[right] > ids[left])
            ):
                child = right
            if keys[child] < key or (keys[child] == key and ids[child] > ident):
                keys[pos] = keys[child]
                ids[pos] = ids[child]
                pos = child
            else:
                break
        keys[pos] = key
        ids[pos] = ident
        return size
    # sift up
    while pos > 0:
        parent = (pos - 1) // 2
        if keys[parent] > key or (keys[parent] == key and ids[parent] < ident):
            keys[pos] = keys[parent]
            ids[pos] = ids[parent]
            pos = parent
        else:
            break
    keys[pos] = key
    ids[pos] = ident
    return size


@njit(cache=True, nogil=True)
def _inv_den_tile(  # pragma: no cover - numba
    Gx: Array, xx: Array, i0: int, j0: int, tol: float, out: Array
) -> None:
    """``1 / ||x_i - x_j||^2`` of a tile's pairs in row-major order; -1 marks a pair whose
    Gram formula could cancel (its ratio is then computed from the difference)."""
    bi, bj = Gx.shape
    diag = i0 == j0
    c = 0
    for p in range(bi):
        i = i0 + p
        for q in range(p + 1 if diag else 0, bj):
            scale = xx[i] + xx[j0 + q]
            den = scale - 2.0 * Gx[p, q]
            out[c] = 1.0 / den if den >= tol * scale else -1.0
            c += 1


@njit(cache=True, nogil=True, error_model="numpy")
def _scan_tile(  # pragma: no cover - numba
    Gy: Array,
    yy: Array,
    inv_den: Array,
    raw: Array,
    P: Array,
    i0: int,
    j0: int,
    n: int,
    hi_keys: Array,
    hi_ids: IntArray,
    lo_keys: Array,
    lo_ids: IntArray,
    state: Array,
    row: Array,
) -> None:
    """Extreme ratios of one tile into two heaps (none when they have size 0);
    ``state`` = [hi size, lo size, min ratio, max ratio, non-finite count].

    As in :func:`_scan_tile_gram`, a row's ratios are formed in a branch-free (vectorisable)
    loop into ``row`` (scratch of the tile's width), counting the pairs beyond the current
    heap thresholds or range, the non-finite ones and those marked for their difference
    (``inv_den < 0``); only rows with such a pair are visited pair by pair, so the heaps, the
    range and the order of the pushes are those of a pair-by-pair loop."""
    bi, bj = Gy.shape
    diag = i0 == j0
    hs = int(state[0])
    ls = int(state[1])
    cap = hi_keys.shape[0]
    rmin = state[2]
    rmax = state[3]
    c = 0
    for p in range(bi):
        i = i0 + p
        q0 = p + 1 if diag else 0
        if cap > 0:
            hi_t = hi_keys[0] if hs == cap else -math.inf
            lo_t = -lo_keys[0] if ls == cap else math.inf
        else:
            hi_t = rmax
            lo_t = rmin
        yi = yy[i]
        base = c - q0
        hits = 0
        close = 0
        for q in range(q0, bj):
            w = inv_den[base + q]
            r = (yi + yy[j0 + q] - 2.0 * Gy[p, q]) * w
            row[q] = r
            close += w < 0.0
            hits += (r >= hi_t) | (r <= lo_t) | (r != r)
        c += bj - q0
        if close > 0:
            for q in range(q0, bj):
                if inv_den[base + q] < 0.0:
                    row[q] = _exact_ratio(raw, P, i, j0 + q)
            hits = 1
        if hits == 0:
            continue
        for q in range(q0, bj):
            r = row[q]
            if not math.isfinite(r):
                state[4] += 1
                continue
            rmin = min(rmin, r)
            rmax = max(rmax, r)
            if cap > 0:
                j = j0 + q
                if hs < cap or r >= hi_keys[0]:
                    hs = _heap_push(hi_keys, hi_ids, hs, r, i * n + j)
                if ls < cap or -r >= lo_keys[0]:
                    ls = _heap_push(lo_keys, lo_ids, ls, -r, i * n + j)
    state[0] = hs
    state[1] = ls
    state[2] = rmin
    state[3] = rmax


@njit(cache=True, nogil=True, error_model="numpy")
def _scan_tile_gram(  # pragma: no cover - numba
    Gx: Array,
    xx: Array,
    tol: float,
    Gy: Array,
    yy: Array,
    raw: Array,
    P: Array,
    i0: int,
    j0: int,
    n: int,
    hi_keys: Array,
    hi_ids: IntArray,
    lo_keys: Array,
    lo_ids: IntArray,
    state: Array,
    row: Array,
) -> None:
    """:func:`_scan_tile` from the Gram blocks of both the data (``Gx``) and the projection
    (``Gy``), for denominators that are not stored: the same ratios, pairs and range.

    A row's ratios are formed in a branch-free (vectorisable) loop into ``row`` (scratch of
    the tile's width), which also counts the pairs that could enter a heap or the range
    (beyond the current thresholds), are not finite, or need their difference
    (cancellation); only rows with such a pair are visited pair by pair. (A zero denominator
    gives inf or NaN there, not an exception: such a pair is recomputed from its difference.)"""
    bi, bj = Gx.shape
    diag = i0 == j0
    hs = int(state[0])
    ls = int(state[1])
    cap = hi_keys.shape[0]
    rmin = state[2]
    rmax = state[3]
    for p in range(bi):
        i = i0 + p
        q0 = p + 1 if diag else 0
        if cap > 0:
            hi_t = hi_keys[0] if hs == cap else -math.inf
            lo_t = -lo_keys[0] if ls == cap else math.inf
        else:
            hi_t = rmax
            lo_t = rmin
        xi = xx[i]
        yi = yy[i]
        hits = 0
        close = 0
        for q in range(q0, bj):
            scale = xi + xx[j0 + q]
            den = scale - 2.0 * Gx[p, q]
            r = (yi + yy[j0 + q] - 2.0 * Gy[p, q]) / den
            row[q] = r
            close += den < tol * scale
            hits += (r >= hi_t) | (r <= lo_t) | (r != r)
        if close > 0:
            for q in range(q0, bj):
                scale = xi + xx[j0 + q]
                if scale - 2.0 * Gx[p, q] < tol * scale:
                    row[q] = _exact_ratio(raw, P, i, j0 + q)
            hits = 1
        if hits == 0:
            continue
        for q in range(q0, bj):
            r = row[q]
            if not math.isfinite(r):
                state[4] += 1
                continue
            rmin = min(rmin, r)
            rmax = max(rmax, r)
            if cap > 0:
                j = j0 + q
                if hs < cap or r >= hi_keys[0]:
                    hs = _heap_push(hi_keys, hi_ids, hs, r, i * n + j)
                if ls < cap or -r >= lo_keys[0]:
                    ls = _heap_push(lo_keys, lo_ids, ls, -r, i * n + j)
    state[0] = hs
    state[1] = ls
    state[2] = rmin
    state[3] = rmax


# --------------------------------------------------------------------------------------------
# Running tiles
# --------------------------------------------------------------------------------------------


def tol_for(dtype: Any) -> float:
    """Cancellation threshold for a working dtype (1e-6 in float64, 1.2e-3 in float32).

    Returns
    -------
    float

    Examples
    --------
    >>> tol_for(np.float64)
    1e-06
    """
    return max(CANCELLATION_TOL, 1e4 * float(np.finfo(dtype).eps))


_CONTROLLER: list[ThreadpoolController] = []


def one_blas_thread() -> Any:
    """Context manager: BLAS on one thread (the process's libraries are looked up once).

    Returns
    -------
    context manager
    """
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _parallel(items: Sequence[int], work: Callable[[int, int], None], workers: int) -> None:
    """Run ``work(item, worker)`` over items on ``workers`` threads (one BLAS thread each).

    A KeyboardInterrupt in the main thread stops handing out items and re-raises.
    """
    workers = max(1, min(workers, len(items)))
    lock = threading.Lock()
    cursor = iter(items)
    stop = threading.Event()

    def loop(worker: int) -> None:
        while not stop.is_set():
            with lock:
                item = next(cursor, None)
            if item is None:
                return
            work(item, worker)

    with one_blas_thread():
        if workers <= 1:
            loop(0)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(loop, w) for w in range(workers)]
            try:
                for f in futures:
                    f.result()
            except BaseException:
                stop.set()
                raise


@dataclass
class TileResults:
    """Per-tile partial results of :func:`certify_tiles`, reduced by :func:`reduce_tiles`."""

    tiles: list[tuple[int, int, int, int]]
    stats: Array  # (T, _STATS)
    worst_v: Array  # (T, n_worst)
    worst_p: IntArray  # (T, n_worst)
    hist: IntArray  # (bins,) or empty
    values: Array  # (pairs,) |D| or empty


def hist_bins() -> int:
    """Number of histogram bins.

    Returns
    -------
    int
    """
    return (HIST_MAX_EXP - HIST_MIN_EXP) * HIST_OCTAVE_BINS


def certify_tiles(
    data: PairData,
    proj: Projected,
    tiles: Sequence[tuple[int, int, int, int]],
    *,
    n_worst: int,
    keep_values: bool,
    workers: int = 1,
    callback: Callable[[int], None] | None = None,
) -> TileResults:
    """Certificate partials of ``tiles`` (float64 data): stats, worst pairs, histogram/values.

    ``keep_values`` stores every |D| (in tile order) for exact quantiles; otherwise a
    histogram is filled. ``callback(pairs_done)`` runs after each tile (in the main thread
    when ``workers == 1``).

    Returns
    -------
    TileResults
        One row of statistics and worst pairs per tile, and the histogram or the values.
    """
    T = len(tiles)
    stats = np.zeros((T, _STATS))
    worst_v = np.full((T, max(n_worst, 0)), -1.0)
    worst_p = np.full((T, max(n_worst, 0)), np.iinfo(np.int64).max, dtype=np.int64)
    counts = [tile_pairs(t) for t in tiles]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    values = np.empty(int(offsets[-1]) if keep_values else 0)
    W = max(1, workers)
    nb = 0 if keep_values else hist_bins()
    hists = [np.zeros(nb, dtype=np.int64) for _ in range(W)]
    largest = max(counts, default=0)
    scratch = [np.empty(0 if keep_values else largest) for _ in range(W)]
    tol = tol_for(data.raw.dtype)
    done_lock = threading.Lock()

    def work(index: int, worker: int) -> None:
        t = tiles[index]
        i0, i1, j0, j1 = t
        Gx = data.centred[i0:i1] @ data.centred[j0:j1].T
        Gy = proj.Y[i0:i1] @ proj.Y[j0:j1].T
        out = values[offsets[index] : offsets[index + 1]] if keep_values else scratch[worker]
        _certify_tile(
            Gx, Gy, data.sq_norms, proj.sq_norms, data.raw, proj.P, t[0], t[2], tol,
            proj.ratio_scale, worst_v[index], worst_p[index], out, data.n, stats[index],
        )  # fmt: skip
        if not keep_values:
            _hist_add(out.view(np.int64), int(stats[index, 4]), hists[worker])
        if callback is not None:
            with done_lock:
                callback(counts[index])

    _parallel(range(T), work, W)
    hist = hists[0]
    for h in hists[1:]:
        hist += h
    return TileResults(list(tiles), stats, worst_v, worst_p, hist, values)


@dataclass(frozen=True)
class PairSummary:
    """All-pairs distortion statistics of ``D = r - 1`` (reduced in tile order)."""

    pairs: int
    min_signed: float
    max_signed: float
    sum_abs: float
    sum_signed: float
    worst: list[tuple[int, int, float]]
    quantiles: dict[str, float]
    quantiles_exact: bool


def reduce_tiles(
    parts: Sequence[TileResults],
    n: int,
    total: int,
    quantiles: Sequence[float],
    n_worst: int,
    signed_of: Callable[[int, int], float],
) -> PairSummary:
    """Combine per-tile partials in tile order (deterministic, whoever computed them).

    ``signed_of(i, j)`` gives the signed D of a worst pair (its sign is not stored).

    Returns
    -------
    PairSummary
        Raises :class:`~derand.errors.InputError` when some distortion was not finite.
    """
    ordered: list[tuple[tuple[int, int, int, int], Array, Array, IntArray]] = []
    for part in parts:
        for idx, t in enumerate(part.tiles):
            ordered.append((t, part.stats[idx], part.worst_v[idx], part.worst_p[idx]))
    ordered.sort(key=lambda item: item[0])
    lo, hi, s_abs, s_sig, count, bad = math.inf, -math.inf, 0.0, 0.0, 0, 0
    wv: list[float] = []
    wp: list[int] = []
    for _, st, v, p in ordered:
        lo = min(lo, float(st[0]))
        hi = max(hi, float(st[1]))
        s_abs += float(st[2])
        s_sig += float(st[3])
        count += int(st[4])
        bad += int(st[5])
        keep = v >= 0
        wv += v[keep].tolist()
        wp += p[keep].tolist()
    if bad:
        raise InputError(
            f"certificate: {bad} pair distortion(s) are not finite (the projection overflows)"
        )
    if count != total:  # pragma: no cover - a bug, not an input error
        raise RuntimeError(f"certificate covered {count} of {total} pairs")
    order = sorted(range(len(wv)), key=lambda t: (-wv[t], wp[t]))[:n_worst]
    worst = [(wp[t] // n, wp[t] % n, signed_of(wp[t] // n, wp[t] % n)) for t in order]
    exact = all(part.values.size > 0 for part in parts) or total == 0
    if exact:
        allv = np.concatenate([part.values for part in parts])
        qs = np.quantile(allv, list(quantiles)) if quantiles else []
        qd = {str(p): float(v) for p, v in zip(quantiles, qs, strict=True)}
    else:
        hist = parts[0].hist.copy()
        for part in parts[1:]:
            hist += part.hist
        qd = quantiles_from_hist(hist, total, max(abs(lo), abs(hi)), quantiles)
    return PairSummary(total, lo, hi, s_abs, s_sig, worst, qd, exact)


def quantiles_from_hist(
    hist: IntArray, total: int, maximum: float, probs: Sequence[float]
) -> dict[str, float]:
    """Quantiles of |D| from the histogram: the centre of the bin holding each rank.

    Returns
    -------
    dict
        Probability (as a string) to quantile, capped at ``maximum``.
    """
    cum = np.cumsum(hist)
    out: dict[str, float] = {}
    for prob in probs:
        idx = int(np.searchsorted(cum, prob * total))
        idx = min(idx, hist.size - 1)
        octave, frac = divmod(idx, HIST_OCTAVE_BINS)
        value = math.ldexp(1.0 + (frac + 0.5) / HIST_OCTAVE_BINS, octave + HIST_MIN_EXP)
        out[str(prob)] = min(value, maximum)
    return out


class Denominators:
    """Per-tile ``1 / ||x_i - x_j||^2`` of a point set, computed once and reused by scans.

    ``tiles`` (default: every pair i < j) may name any tiles of the upper triangle, e.g. the
    pairs between two parts of the points.

    Kept in memory only when they fit ``budget`` bytes (8 bytes a pair); otherwise every
    scan recomputes them from the Gram blocks of the data.
    """

    def __init__(
        self,
        data: PairData,
        tile: int = DEFAULT_TILE,
        *,
        budget: float = 512 * 2**20,
        tiles: Sequence[tuple[int, int, int, int]] | None = None,
    ) -> None:
        self.data = data
        self.tiles = plan_tiles(data.n, tile) if tiles is None else list(tiles)
        self.counts = [tile_pairs(t) for t in self.tiles]
        self.cached = 8.0 * sum(self.counts) <= budget
        self._store: list[Array | None] = [None] * len(self.tiles)
        self.tol = tol_for(data.raw.dtype)

    def get(self, index: int) -> Array:
        """The tile's reciprocal denominators (from the store when cached)."""
        stored = self._store[index]
        if stored is not None:
            return stored
        i0, i1, j0, j1 = self.tiles[index]
        C = self.data.centred
        out = np.empty(self.counts[index], dtype=C.dtype)
        _inv_den_tile(C[i0:i1] @ C[j0:j1].T, self.data.sq_norms, i0, j0, self.tol, out)
        if self.cached:
            self._store[index] = out
        return out


@dataclass(frozen=True)
class ScanResult:
    """Extreme pairs of one exact pass: ``pairs`` (<= 2m, 2), their ratios, and the range."""

    pairs: IntArray
    ratios: Array
    rmin: float
    rmax: float


def _heaps(m: int) -> tuple[Array, IntArray, Array, IntArray, Array]:
    return (
        np.empty(m),
        np.empty(m, dtype=np.int64),
        np.empty(m),
        np.empty(m, dtype=np.int64),
        np.array([0.0, 0.0, math.inf, -math.inf, 0.0]),
    )


def scan_pairs(
    dens: Denominators,
    P: Array,
    m: int,
    *,
    workers: int = 1,
) -> ScanResult:
    """One exact pass over all pairs: the ``m`` largest and ``m`` smallest ratios ``r_ij``.

    The result does not depend on ``workers`` (ties are broken by pair index). With
    ``m = 0`` only the range is computed.

    Returns
    -------
    ScanResult
        Up to ``2 m`` pairs (largest ratios first, then smallest), their ratios, the range.
    """
    data = dens.data
    proj = Projected.from_projection(data, P)
    n = data.n
    tiles = dens.tiles
    W = max(1, workers)
    heaps = [_heaps(max(m, 0)) for _ in range(W)]

    gram = not dens.cached
    width = max((t[3] - t[2] for t in tiles), default=0)
    rows = [np.empty(width) for _ in range(W)]

    def work(index: int, worker: int) -> None:
        i0, i1, j0, j1 = tiles[index]
        hk, hid, lk, lid, state = heaps[worker]
        Gy = proj.Y[i0:i1] @ proj.Y[j0:j1].T
        if gram:  # denominators not stored: from the data's Gram block, in the kernel
            C = data.centred
            _scan_tile_gram(
                C[i0:i1] @ C[j0:j1].T, data.sq_norms, dens.tol, Gy, proj.sq_norms, data.raw,
                proj.P, i0, j0, n, hk, hid, lk, lid, state, rows[worker],
            )  # fmt: skip
            return
        inv_den = dens.get(index)
        _scan_tile(
            Gy, proj.sq_norms, inv_den, data.raw, proj.P, i0, j0, n, hk, hid, lk, lid, state,
            rows[worker],
        )  # fmt: skip

    _parallel(range(len(tiles)), work, W)
    bad = sum(int(h[4][4]) for h in heaps)
    if bad:
        raise InputError(f"scan: {bad} pair ratio(s) are not finite")
    hk = np.concatenate([h[0][: int(h[4][0])] for h in heaps])
    hid = np.concatenate([h[1][: int(h[4][0])] for h in heaps])
    lk = np.concatenate([h[2][: int(h[4][1])] for h in heaps])
    lid = np.concatenate([h[3][: int(h[4][1])] for h in heaps])
    top = np.lexsort((hid, -hk))[:m]
    bottom = np.lexsort((lid, -lk))[:m]
    ids = np.concatenate([hid[top], lid[bottom]])
    ratios = np.concatenate([hk[top], -lk[bottom]]) * proj.ratio_scale
    pairs = np.stack([ids // n, ids % n], axis=1) if n else np.empty((0, 2), dtype=np.int64)
    rmin = min(float(h[4][2]) for h in heaps) * proj.ratio_scale
    rmax = max(float(h[4][3]) for h in heaps) * proj.ratio_scale
    return ScanResult(pairs=pairs.astype(np.int64), ratios=ratios, rmin=rmin, rmax=rmax)


def ratio_ranges(dens: Denominators, projections: Sequence[Array], *, workers: int = 1) -> Array:
    """Exact ``(min, max)`` of ``r_ij`` over all pairs for each projection, in one pass.

    Returns
    -------
    ndarray, shape (B, 2)
        Per projection the smallest and largest ratio.
    """
    data = dens.data
    projs = [Projected.from_projection(data, P) for P in projections]
    B = len(projs)
    W = max(1, workers)
    states = [[_heaps(0)[4] for _ in range(B)] for _ in range(W)]
    empty_f, empty_i = np.empty(0), np.empty(0, dtype=np.int64)
    width = max((t[3] - t[2] for t in dens.tiles), default=0)
    rows = [np.empty(width) for _ in range(W)]

    def work(index: int, worker: int) -> None:
        i0, i1, j0, j1 = dens.tiles[index]
        inv_den = dens.get(index)
        for b, proj in enumerate(projs):
            Gy = proj.Y[i0:i1] @ proj.Y[j0:j1].T
            _scan_tile(
                Gy, proj.sq_norms, inv_den, data.raw, proj.P, i0, j0, data.n,
                empty_f, empty_i, empty_f, empty_i, states[worker][b], rows[worker],
            )  # fmt: skip

    _parallel(range(len(dens.tiles)), work, W)
    out = np.empty((B, 2))
    for b, proj in enumerate(projs):
        if any(int(states[w][b][4]) for w in range(W)):
            raise InputError("a projection maps some pair ratio to a non-finite value")
        out[b, 0] = min(float(states[w][b][2]) for w in range(W)) * proj.ratio_scale
        out[b, 1] = max(float(states[w][b][3]) for w in range(W)) * proj.ratio_scale
    return out
