"""Exact Max-Cut by vectorised enumeration for small graphs (n <= 26).

Node 0 is fixed to +1 (a cut and its complement are equal), the other nodes are split into a
"low" and a "high" half; every assignment of each half is enumerated as a +-1 matrix and the
cross term is one matrix product per block, so there is no Python loop over 2^n.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from derand.errors import InputError
from derand.maxcut.graph import Graph

__all__ = ["MAX_EXACT_N", "ExactResult", "exact_maxcut"]

MAX_EXACT_N = 26


@dataclass(frozen=True)
class ExactResult:
    """The maximum cut and one maximising partition (+-1 per node, node 0 on the +1 side)."""

    cut: float
    partition: NDArray[np.int8] = field(repr=False)


def _signs(k: int) -> NDArray[np.float64]:
    """All 2^k vectors in {-1, +1}^k as rows (row index bits -> signs)."""
    idx = np.arange(2**k, dtype=np.int64)[:, None]
    bits = (idx >> np.arange(k, dtype=np.int64)[None, :]) & 1
    return (1.0 - 2.0 * bits).astype(np.float64)


def exact_maxcut(
    graph: Graph, *, callback: Callable[[int, int], None] | None = None
) -> ExactResult:
    """The exact maximum cut of ``graph`` (guaranteed optimal; exponential time).

    Parameters
    ----------
    graph : Graph
        At most :data:`MAX_EXACT_N` nodes.
    callback : callable, optional
        ``callback(done, total)`` after each block of the enumeration.

    Raises
    ------
    InputError
        If ``graph.n > MAX_EXACT_N``.

    Returns
    -------
    ExactResult
        The maximum cut and a maximising partition.

    Examples
    --------
    >>> from derand.maxcut import paper_graph
    >>> exact_maxcut(paper_graph()).cut
    41.0
    """
    n = graph.n
    if n > MAX_EXACT_N:
        raise InputError(f"exact Max-Cut is limited to n <= {MAX_EXACT_N}, got n = {n}")
    if n == 1 or graph.m == 0:
        return ExactResult(cut=0.0, partition=np.ones(n, np.int8))
    a = graph.adjacency().toarray()
    free = n - 1
    n_low = free // 2
    n_high = free - n_low
    low = np.concatenate([np.ones((2**n_low, 1)), _signs(n_low)], axis=1)  # node 0 fixed +1
    high = _signs(n_high)
    li = np.arange(n_low + 1)
    hi = np.arange(n_low + 1, n)
    a_ll, a_hh, a_lh = a[np.ix_(li, li)], a[np.ix_(hi, hi)], a[np.ix_(li, hi)]
    q_low = np.einsum("ij,jk,ik->i", low, a_ll, low)
    q_high = np.einsum("ij,jk,ik->i", high, a_hh, high) if n_high else np.zeros(1)
    total = graph.total_weight()
    # cut(s) = (W - s^T A s / 2) / 2, s^T A s = qL + qH + 2 sL^T A_LH sH
    low_proj = low @ a_lh  # (2^nl, nh)
    best = -np.inf
    best_pair = (0, 0)
    block = max(1, 2**22 // max(1, low.shape[0]))
    n_blocks = -(-high.shape[0] // block)
    for b in range(n_blocks):
        hs = slice(b * block, min((b + 1) * block, high.shape[0]))
        quad = q_low[:, None] + q_high[None, hs] + 2.0 * (low_proj @ high[hs].T)
        k = int(np.argmin(quad))
        i, j = divmod(k, quad.shape[1])
        value = (total - 0.5 * float(quad[i, j])) / 2.0
        if value > best:
            best, best_pair = value, (i, hs.start + j)
        if callback is not None:
            callback(b + 1, n_blocks)
    s = np.concatenate([low[best_pair[0]], high[best_pair[1]]]).astype(np.int8)
    return ExactResult(cut=float(graph.cut_value(s)), partition=s)
