"""A compiled one-flip tabu search for ``f(s) = C + h.s + sum_e J_e s_u s_v`` (numba).

The flip gain of ``i`` is ``-2 s_i F_i`` with the local field ``F_i = h_i + sum_j A_ij s_j``
(``A`` the symmetric coupling matrix, CSR); flipping ``k`` adds ``-2 s_k A_jk`` (old ``s_k``)
to each neighbour's field -- O(degree) work. The best move is found by a linear scan of the
``n`` gains, O(n): on a dense problem (a Beasley QUBO has degree ``0.1 n``, and its Max-Cut
reduction adds a truth node of degree ``n``) this is cheaper than keeping the gains in
segment trees, which costs O(degree log n) per flip. Equal gains go to the lowest index.

The search is the one-flip tabu search of Glover, Kochenberger & Alidaee (a move stays tabu
for ``tenure + rand(0 .. tenure_rand)`` moves; a tabu move is allowed when it gives a new best:
aspiration) with the restarts of iterated tabu search (Palubeckis 2006): after ``stall`` moves
without a new best, the best assignment -- or, with probability ``1 - from_best``, the current
one -- is perturbed by ``L`` random flips and the tabu search goes on from there; ``L`` grows
by one (up to ``Lmax``) each time a restart ends without a new best and falls back to ``L0``
after one that finds one.

The state is held in arrays, so the search is resumable chunk by chunk (the Python driver
reads the clock between chunks); a xorshift64* stream in the state makes a run depend only on
its seed and its move budget.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from derand.maxcut.engine import _randint, _uniform  # the same xorshift64* stream

__all__ = ["F_BEST", "I_MOVES", "fields", "tabu_chunk"]

# integer state slots
I_IT = 0  # move counter (the tabu clock)
I_MOVES = 1  # flips made (tabu moves and perturbation flips)
I_LAST = 2  # move count of the last new best (or restart)
I_L = 3  # current perturbation size
I_RESTARTS = 4
I_IMPROVED = 5  # 1 when the current restart found a new best
I_SIZE = 6
# float state slots
F_CUR = 0
F_BEST = 1
F_SIZE = 2
# parameters
P_TOL, P_TENURE, P_TENURE_RAND, P_STALL, P_L0, P_LMAX, P_FROM_BEST = range(7)


@njit(cache=True, nogil=True)
def fields(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int64],
    data: NDArray[np.float64],
    h: NDArray[np.float64],
    x: NDArray[np.int8],
    F: NDArray[np.float64],
) -> float:
    """Fill ``F = h + A x``; returns ``h.x + x.A.x / 2`` (the value less the constant).

    Returns
    -------
    float
    """
    n = x.shape[0]
    total = 0.0
    for i in range(n):
        acc = h[i]
        for k in range(indptr[i], indptr[i + 1]):
            acc += data[k] * x[indices[k]]
        F[i] = acc
        total += x[i] * (h[i] + 0.5 * (acc - h[i]))
    return total


@njit(cache=True, nogil=True)
def _flip(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int64],
    data: NDArray[np.float64],
    x: NDArray[np.int8],
    F: NDArray[np.float64],
    i: int,
) -> None:
    d = -2.0 * x[i]
    for k in range(indptr[i], indptr[i + 1]):
        F[indices[k]] += d * data[k]
    x[i] = -x[i]


@njit(cache=True, nogil=True)
def tabu_chunk(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int64],
    data: NDArray[np.float64],
    h: NDArray[np.float64],
    x: NDArray[np.int8],
    F: NDArray[np.float64],
    best_x: NDArray[np.int8],
    tabu_until: NDArray[np.int64],
    ist: NDArray[np.int64],
    fst: NDArray[np.float64],
    rs: NDArray[np.uint64],
    params: NDArray[np.float64],
    moves: int,
) -> int:
    """Run ``moves`` tabu moves in place (see the module docstring); returns the moves made.

    ``fst[F_CUR]`` and ``fst[F_BEST]`` are the current and best values less the constant,
    tracked incrementally (the caller recomputes the best exactly).

    Returns
    -------
    int
    """
    n = x.shape[0]
    tol = params[P_TOL]
    tenure = int(params[P_TENURE])
    trand = max(1, int(params[P_TENURE_RAND]))
    stall = int(params[P_STALL])
    l0 = int(params[P_L0])
    lmax = int(params[P_LMAX])
    done = 0
    while done < moves:
        it = ist[I_IT]
        if it - ist[I_LAST] >= stall:  # restart: perturb the best assignment
            if ist[I_IMPROVED] == 1:
                ist[I_L] = l0
            else:
                ist[I_L] = min(lmax, ist[I_L] + 1)
            if _uniform(rs) < params[P_FROM_BEST]:  # else from where the search is
                for j in range(n):
                    x[j] = best_x[j]
                fst[F_CUR] = fields(indptr, indices, data, h, x, F)
            for _ in range(ist[I_L]):
                j = _randint(rs, n)
                fst[F_CUR] += -2.0 * x[j] * F[j]
                _flip(indptr, indices, data, x, F, j)
                tabu_until[j] = it + tenure + _randint(rs, trand + 1)
                ist[I_MOVES] += 1
            ist[I_LAST] = it
            ist[I_IMPROVED] = 0
            ist[I_RESTARTS] += 1
        cur = fst[F_CUR]
        best = fst[F_BEST]
        pick, pick_gain = -1, -np.inf  # the best move that is not tabu
        top, top_gain = 0, -np.inf  # the best move
        for j in range(n):
            g = -2.0 * x[j] * F[j]
            if g > pick_gain and tabu_until[j] <= it:
                pick, pick_gain = j, g
            if g > top_gain:
                top, top_gain = j, g
        if cur + top_gain > best + tol or pick < 0:  # aspiration (or everything tabu)
            pick, pick_gain = top, top_gain
        _flip(indptr, indices, data, x, F, pick)
        tabu_until[pick] = it + 1 + tenure + _randint(rs, trand + 1)
        fst[F_CUR] = cur + pick_gain
        ist[I_IT] = it + 1
        ist[I_MOVES] += 1
        done += 1
        if fst[F_CUR] > best + tol:
            fst[F_BEST] = fst[F_CUR]
            for j in range(n):
                best_x[j] = x[j]
            ist[I_LAST] = it + 1
            ist[I_IMPROVED] = 1
    return done
