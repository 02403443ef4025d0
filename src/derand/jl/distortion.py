"""Exact distortion of a linear embedding over all pairs of points (paper §5.2, JL).

For points x_1..x_n in R^d and a projection ``P`` (k x d, the matrix applied by
``transform``; for the paper's ``A`` this is ``A / sqrt(k)``) the pairwise distortion is

    D_ij = ||P u_ij||^2 - 1,   u_ij = (x_i - x_j) / ||x_i - x_j||,   i < j.

:func:`pairwise_distortion` computes every D_ij exactly, streamed in row blocks so that memory
stays bounded whatever n is. Inside a block it uses Gram matrices,
``||P(x_i - x_j)||^2 = |y_i|^2 + |y_j|^2 - 2 y_i.y_j`` with ``y = P x`` (after centring the
data), and recomputes from the explicit differences every pair where this formula could lose
more than about 1e-10 relative accuracy to cancellation. The result is therefore a
certificate: ``max_distortion`` is the maximum over all training pairs, up to float64
rounding. Nothing is claimed for points outside the data.

The authors' code measures a different quantity, the distortion of the points' own norms,
``||P x_i||^2 / ||x_i||^2 - 1``; :func:`norm_distortion` computes it under that name.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor

from derand.errors import InputError

Array = NDArray[np.float64]

DEFAULT_BLOCK_ENTRIES = 4_000_000
"""Pairs handled per block (about 32 MB per float64 temporary)."""

CANCELLATION_TOL = 1e-6
"""Pairs with ``||x_i - x_j||^2 < tol * (|x_i|^2 + |x_j|^2)`` are recomputed from differences
(float64; in float32, used only inside the optimiser, the threshold is 1e4 * eps ~ 1.2e-3)."""

EXACT_QUANTILE_LIMIT = 10_000_000
"""Up to this many pairs quantiles are exact; above it a histogram of width 1e-5 is used."""

_HIST_WIDTH = 1e-5
_HIST_MAX = 4.0

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
        False when a histogram (bin width 1e-5) was used (more than 1e7 terms).
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


@dataclass
class _Block:
    """Pairs (row0 + p, col0 + q) for q >= p of a block; ``ratio`` = ||P u||^2."""

    row0: int
    col0: int
    ratio: Tensor
    valid: Tensor


def _rows_per_block(n: int, block_entries: int) -> int:
    return max(1, min(n, block_entries // max(n, 1)))


def iter_pair_ratios(
    X: Tensor, P: Tensor, Y: Tensor, *, block_entries: int = DEFAULT_BLOCK_ENTRIES
) -> Iterator[_Block]:
    """Stream ``||P(x_i - x_j)||^2 / ||x_i - x_j||^2`` over all pairs i < j in row blocks.

    ``X`` (n x d) must be centred data without duplicate rows, ``P`` (k x d) the projection and
    ``Y = X P^T``, all of one dtype. Pairs whose Gram-matrix formula could suffer cancellation
    are recomputed from the explicit differences.
    """
    n = X.shape[0]
    tol = max(CANCELLATION_TOL, 1e4 * torch.finfo(X.dtype).eps)
    xx = (X * X).sum(1)
    yy = (Y * Y).sum(1)
    rows = _rows_per_block(n, block_entries)
    for a in range(0, n - 1, rows):
        b = min(a + rows, n - 1)
        c0 = a + 1
        den = xx[a:b, None] + xx[None, c0:] - 2.0 * (X[a:b] @ X[c0:].T)
        num = yy[a:b, None] + yy[None, c0:] - 2.0 * (Y[a:b] @ Y[c0:].T)
        p = torch.arange(b - a, device=X.device)[:, None]
        q = torch.arange(n - c0, device=X.device)[None, :]
        valid = q >= p
        scale = xx[a:b, None] + xx[None, c0:]
        risky = valid & (den < tol * scale)
        if bool(risky.any()):
            pi, qi = torch.nonzero(risky, as_tuple=True)
            diff = X[a + pi] - X[c0 + qi]
            dy = diff @ P.T
            den[pi, qi] = (diff * diff).sum(1)
            num[pi, qi] = (dy * dy).sum(1)
        ratio = num / torch.where(valid, den, torch.ones_like(den))
        yield _Block(row0=a, col0=c0, ratio=ratio, valid=valid)


def pairwise_ratio_ranges(
    X: ArrayLike,
    projections: ArrayLike,
    *,
    block_entries: int = DEFAULT_BLOCK_ENTRIES,
    device: str | torch.device = "cpu",
) -> Array:
    """Exact ``(min, max)`` of ``||P_b u_ij||^2`` over all pairs i < j, for many projections.

    One streamed pass over the pairs serves every ``P_b``: the differences' norms are computed
    once per block (with the same cancellation handling as :func:`pairwise_distortion`).

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points without duplicate rows (see :func:`drop_duplicates`).
    projections : array_like, shape (B, k, d)
        The projections.

    Returns
    -------
    ndarray, shape (B, 2)
        Per projection the smallest and largest ratio; its max distortion is
        ``max(hi - 1, 1 - lo)``.
    """
    Xa = as_points(X)
    Pa = np.asarray(projections, dtype=np.float64)
    if Pa.ndim != 3 or Pa.shape[2] != Xa.shape[1]:
        raise InputError(f"projections must have shape (B, k, {Xa.shape[1]}), got {Pa.shape}")
    Xt = torch.as_tensor(Xa - Xa.mean(axis=0), dtype=torch.float64, device=device)
    Pt = torch.as_tensor(Pa, dtype=torch.float64, device=device)
    Y = torch.einsum("nd,bkd->bnk", Xt, Pt)
    yy = (Y * Y).sum(2)
    xx = (Xt * Xt).sum(1)
    n = Xt.shape[0]
    lo = np.full(Pa.shape[0], np.inf)
    hi = np.full(Pa.shape[0], -np.inf)
    rows = _rows_per_block(n, block_entries)
    for a in range(0, n - 1, rows):
        b = min(a + rows, n - 1)
        c0 = a + 1
        den = xx[a:b, None] + xx[None, c0:] - 2.0 * (Xt[a:b] @ Xt[c0:].T)
        p = torch.arange(b - a, device=Xt.device)[:, None]
        q = torch.arange(n - c0, device=Xt.device)[None, :]
        valid = q >= p
        risky = valid & (den < CANCELLATION_TOL * (xx[a:b, None] + xx[None, c0:]))
        pi, qi = torch.nonzero(risky, as_tuple=True)
        diff = Xt[a + pi] - Xt[c0 + qi]
        den[pi, qi] = (diff * diff).sum(1)
        den = torch.where(valid, den, torch.ones_like(den))
        for j in range(Pa.shape[0]):
            num = yy[j, a:b, None] + yy[j, None, c0:] - 2.0 * (Y[j, a:b] @ Y[j, c0:].T)
            if pi.numel():
                num[pi, qi] = ((diff @ Pt[j].T) ** 2).sum(1)
            ratio = num / den
            lo[j] = min(lo[j], float(torch.where(valid, ratio, math.inf).min()))
            hi[j] = max(hi[j], float(torch.where(valid, ratio, -math.inf).max()))
    return np.stack([lo, hi], axis=1)


def _prepare(
    X: ArrayLike, P: ArrayLike, dedupe: bool, device: str | torch.device
) -> tuple[Tensor, Tensor, Tensor, int, int]:
    Xa = as_points(X)
    Pa = as_projection(P, Xa.shape[1])
    dropped = 0
    if dedupe:
        Xu, keep = drop_duplicates(Xa, warn=True)
        dropped = Xa.shape[0] - keep.size
        Xa = Xu
        if Xa.shape[0] < 2:
            raise InputError("all points are equal: no pair has a direction")
    Xc = Xa - Xa.mean(axis=0)
    Xt = torch.as_tensor(Xc, dtype=torch.float64, device=device)
    Pt = torch.as_tensor(Pa, dtype=torch.float64, device=device)
    return Xt, Pt, Xt @ Pt.T, dropped, Xa.shape[1]


def _quantiles_from(values: list[Tensor], probs: Sequence[float]) -> dict[str, float]:
    allv = torch.cat(values).cpu().numpy()
    qs = np.quantile(allv, list(probs)) if allv.size else np.zeros(len(probs))
    return {str(p): float(v) for p, v in zip(probs, qs, strict=True)}


def _quantiles_from_hist(
    hist: Array, total: int, maximum: float, probs: Sequence[float]
) -> dict[str, float]:
    """Quantiles from a histogram of width ``_HIST_WIDTH`` (bin centres; capped at the max)."""
    cum = np.cumsum(hist)
    out: dict[str, float] = {}
    for prob in probs:
        target = prob * total
        idx = int(np.searchsorted(cum, target))
        out[str(prob)] = maximum if idx >= hist.size else min((idx + 0.5) * _HIST_WIDTH, maximum)
    return out


def pairwise_distortion(
    X: ArrayLike,
    P: ArrayLike,
    *,
    dedupe: bool = True,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    n_worst: int = 10,
    block_entries: int = DEFAULT_BLOCK_ENTRIES,
    device: str | torch.device = "cpu",
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
        Probabilities for the quantiles of ``|D|``.
    n_worst : int
        How many worst pairs to return.
    block_entries : int
        Pairs per block; memory is O(block_entries + n (d + k)).
    device : str or torch.device
        Torch device for the computation.
    callback : callable, optional
        ``callback(done, total)`` after each block (``done`` counts pairs).

    Returns
    -------
    DistortionReport
        ``max_distortion`` is exact over all training pairs (up to float64 rounding): a
        certificate for these points and nothing more.
    """
    start = time.perf_counter()
    Xt, Pt, Yt, dropped, d = _prepare(X, P, dedupe, device)
    k = Pt.shape[0]
    n = Xt.shape[0]
    total = n * (n - 1) // 2
    exact_q = total <= EXACT_QUANTILE_LIMIT
    kept: list[Tensor] = []
    hist = np.zeros(int(_HIST_MAX / _HIST_WIDTH), dtype=np.float64)
    s_abs = 0.0
    s_signed = 0.0
    lo, hi = math.inf, -math.inf
    worst_v = torch.empty(0, dtype=torch.float64)
    worst_i = torch.empty(0, dtype=torch.int64)
    worst_j = torch.empty(0, dtype=torch.int64)
    done = 0
    for block in iter_pair_ratios(Xt, Pt, Yt, block_entries=block_entries):
        D = block.ratio - 1.0
        Dv = D[block.valid]
        absv = Dv.abs()
        s_abs += float(absv.sum())
        s_signed += float(Dv.sum())
        lo = min(lo, float(Dv.min()))
        hi = max(hi, float(Dv.max()))
        if exact_q:
            kept.append(absv)
        else:
            h, _ = np.histogram(absv.cpu().numpy(), bins=hist.size, range=(0.0, _HIST_MAX))
            hist += h
        if n_worst > 0:
            masked = torch.where(block.valid, D.abs(), torch.full_like(D, -1.0)).flatten()
            m = min(n_worst, masked.numel())
            v, idx = torch.topk(masked, m)
            cols = D.shape[1]
            vi = block.row0 + idx // cols
            vj = block.col0 + idx % cols
            signed = D.flatten()[idx]
            keep = v >= 0
            worst_v = torch.cat([worst_v, signed[keep].cpu()])
            worst_i = torch.cat([worst_i, vi[keep].cpu()])
            worst_j = torch.cat([worst_j, vj[keep].cpu()])
            order = torch.argsort(worst_v.abs(), descending=True)[:n_worst]
            worst_v, worst_i, worst_j = worst_v[order], worst_i[order], worst_j[order]
        done += int(Dv.numel())
        if callback is not None:
            callback(done, total)
    q = (
        _quantiles_from(kept, quantiles)
        if exact_q
        else _quantiles_from_hist(hist, total, max(abs(lo), abs(hi)), quantiles)
    )
    return DistortionReport(
        objective="pairs",
        n=n,
        d=d,
        k=k,
        pairs=total,
        max_distortion=max(abs(lo), abs(hi)),
        mean_distortion=s_abs / total,
        mean_signed=s_signed / total,
        min_signed=lo,
        max_signed=hi,
        quantiles=q,
        quantiles_exact=exact_q,
        worst=[
            [int(i), int(j), float(v)]
            for i, j, v in zip(worst_i.tolist(), worst_j.tolist(), worst_v.tolist(), strict=True)
        ],
        duplicates_dropped=dropped,
        seconds=time.perf_counter() - start,
    )


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
