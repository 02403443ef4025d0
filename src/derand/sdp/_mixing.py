"""The mixing method's coordinate sweeps, compiled (numba).

One sweep visits the nodes in the given order and sets ``v_i <- -normalize(sum_j w_ij v_j)``
(Wang, Chang & Kolter 2017); it is the same sequential update as the colour-blocked numpy
version in :mod:`derand.maxcut.sdp` when the order lists the colour classes one after another.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = ["greedy_colours", "mixing_sweeps"]


@njit(cache=True, nogil=True)
def mixing_sweeps(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int64],
    data: NDArray[np.float64],
    order: NDArray[np.int64],
    V: NDArray[np.float64],
    sweeps: int,
) -> float:
    """Run ``sweeps`` sweeps in place; returns the objective increase of the last sweep.

    Moving ``v_i`` from ``a`` to ``-g/|g|`` raises ``1/4 <L, V V^T>`` by ``(|g| + a.g) / 2``.

    Returns
    -------
    float
        The objective increase of the last sweep (``V`` is updated in place).
    """
    n, p = V.shape
    g = np.empty(p)
    gain = 0.0
    for _ in range(sweeps):
        gain = 0.0
        for t in range(n):
            i = order[t]
            for c in range(p):
                g[c] = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                j = indices[k]
                w = data[k]
                for c in range(p):
                    g[c] += w * V[j, c]
            big = 0.0
            for c in range(p):
                big = max(big, abs(g[c]))
            if big <= 1e-300:
                continue
            ss = 0.0
            dot = 0.0
            for c in range(p):
                ss += (g[c] / big) ** 2
                dot += V[i, c] * g[c]
            norm = big * np.sqrt(ss)
            for c in range(p):
                V[i, c] = -g[c] / norm
            gain += 0.5 * (norm + dot)
    return gain


@njit(cache=True, nogil=True)
def greedy_colours(
    indptr: NDArray[np.int64], indices: NDArray[np.int64], order: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Greedy colouring visiting the nodes in ``order``: each takes the smallest colour that
    none of its already coloured neighbours has.

    Returns
    -------
    ndarray of int64
        The colour of each node.
    """
    n = indptr.shape[0] - 1
    colour = np.full(n, -1, np.int64)
    stamp = np.full(n + 1, -1, np.int64)
    for t in range(n):
        i = order[t]
        for k in range(indptr[i], indptr[i + 1]):
            c = colour[indices[k]]
            if c >= 0:
                stamp[c] = i
        c = 0
        while stamp[c] == i:
            c += 1
        colour[i] = c
    return colour
