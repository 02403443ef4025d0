"""Compiled Max-Cut moves (numba): O(degree) flips and an O(log n) best move.

The flip gain of node ``i`` for a +-1 vector ``x`` is ``gain_i = x_i (A x)_i`` (the change of
the cut when ``i`` changes side). Flipping ``i`` negates ``gain_i`` and changes each neighbour's
gain by ``2 w_ij x_j x_i`` -- O(degree) work. Two max segment trees hold the gains: one over all
nodes (greedy moves, aspiration) and one over the nodes that are not tabu (tabu moves); each
update walks one root path (O(log n)) and the best move is the root (O(1)). The trees compare
real numbers, so weights need not be integers.

On these moves: steepest-ascent 1-flip, tabu search, and Breakout Local Search (BLS; Benlic &
Hao, "Breakout local search for the max-cut problem", Eng. Appl. Artif. Intell. 26, 2013):
steepest ascent to a local optimum, then an adaptive perturbation -- tabu-directed,
recency-based or random moves, ``L`` of them, with ``L`` growing while the search returns to
the same local optimum and a strong random jump after ``T`` non-improving local optima.

Every kernel is ``nogil`` and keeps its whole state in arrays, so a run is resumable chunk by
chunk (the Python driver checks the clock and Ctrl-C between chunks) and independent runs go
on a thread pool. Random numbers come from a xorshift64* stream held in the state, so a run
depends only on its seed and its move budget, not on which thread executes it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from derand.maxcut.layout import (  # the state layout, shared with the AOT-compiled kernels
    F_BEST,
    F_CUT,
    F_PREV,
    I_CYCLES,
    I_HEAD,
    I_IT,
    I_L,
    I_MOVES,
    I_OMEGA,
    I_TAIL,
    METHODS,
    build_state,
)

__all__ = [
    "F_BEST",
    "F_CUT",
    "I_CYCLES",
    "I_IT",
    "I_MOVES",
    "METHODS",
    "anneal_sweeps",
    "build_state",
    "compute_gains",
    "run_chunk",
]

_NEG = -np.inf


@njit(cache=True, nogil=True)
def _next(rs: NDArray[np.uint64]) -> Any:
    x = rs[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rs[0] = x
    return x * np.uint64(2685821657736338717)


@njit(cache=True, nogil=True)
def _randint(rs: NDArray[np.uint64], k: int) -> Any:
    return np.int64((_next(rs) >> np.uint64(11)) % np.uint64(k))


@njit(cache=True, nogil=True)
def _uniform(rs: NDArray[np.uint64]) -> float:
    return float(_next(rs) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _tree_set(
    tv: NDArray[np.float64], ti: NDArray[np.int64], size: int, p: int, val: float
) -> None:
    k = size + p
    tv[k] = val
    k >>= 1
    while k >= 1:
        left = 2 * k
        right = left + 1
        if tv[left] >= tv[right]:
            nv = tv[left]
            ni = ti[left]
        else:
            nv = tv[right]
            ni = ti[right]
        if tv[k] == nv and ti[k] == ni:
            return
        tv[k] = nv
        ti[k] = ni
        k >>= 1


@njit(cache=True, nogil=True)
def _tree_build(
    tv: NDArray[np.float64], ti: NDArray[np.int64], size: int, n: int, pos: NDArray[np.int64],
    vals: NDArray[np.float64],
) -> None:  # fmt: skip
    for k in range(size, 2 * size):
        tv[k] = _NEG
        ti[k] = -1
    for i in range(n):
        tv[size + pos[i]] = vals[i]
        ti[size + pos[i]] = i
    for k in range(size - 1, 0, -1):
        left = 2 * k
        if tv[left] >= tv[left + 1]:
            tv[k] = tv[left]
            ti[k] = ti[left]
        else:
            tv[k] = tv[left + 1]
            ti[k] = ti[left + 1]


@njit(cache=True, nogil=True)
def compute_gains(
    indptr: NDArray[np.int64], indices: NDArray[np.int64], data: NDArray[np.float64],
    x: NDArray[np.int8], gain: NDArray[np.float64],
) -> float:  # fmt: skip
    """Fill ``gain = x * (A x)`` and return the cut ``sum_{i<j} w_ij [x_i != x_j]``.

    Returns
    -------
    float
        The cut of ``x``; ``gain`` is filled in place.
    """
    n = x.shape[0]
    cut = 0.0
    for i in range(n):
        s = 0.0
        c = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            s += data[k] * x[j]
            if x[j] != x[i] and j > i:
                c += data[k]
        gain[i] = x[i] * s
        cut += c
    return cut


@njit(cache=True, nogil=True)
def _flip(
    i: int, x: NDArray[np.int8], gain: NDArray[np.float64], indptr: NDArray[np.int64],
    indices: NDArray[np.int64], data: NDArray[np.float64], tva: NDArray[np.float64],
    tia: NDArray[np.int64], tvb: NDArray[np.float64], tib: NDArray[np.int64], size: int,
    pos: NDArray[np.int64], tabu_until: NDArray[np.int64], it: int,
) -> float:  # fmt: skip
    """Flip node ``i``; update gains and both trees. Returns the change of the cut."""
    g = gain[i]
    xi = -x[i]
    x[i] = xi
    gain[i] = -g
    _tree_set(tva, tia, size, pos[i], -g)
    if tabu_until[i] <= it:
        _tree_set(tvb, tib, size, pos[i], -g)
    for k in range(indptr[i], indptr[i + 1]):
        j = indices[k]
        nj = gain[j] + 2.0 * data[k] * x[j] * xi
        gain[j] = nj
        _tree_set(tva, tia, size, pos[j], nj)
        if tabu_until[j] <= it:
            _tree_set(tvb, tib, size, pos[j], nj)
    return float(g)


@njit(cache=True, nogil=True)
def _release(
    it: int, gain: NDArray[np.float64], tvb: NDArray[np.float64], tib: NDArray[np.int64],
    size: int, pos: NDArray[np.int64], tabu_until: NDArray[np.int64], bhead: NDArray[np.int64],
    bnode: NDArray[np.int64], bnext: NDArray[np.int64],
) -> None:  # fmt: skip
    """Return the nodes whose tenure ends at move ``it`` to the non-tabu tree."""
    r = bhead.shape[0]
    slot = it % r
    e = bhead[slot]
    while e >= 0:
        v = bnode[e]
        if tabu_until[v] == it:
            _tree_set(tvb, tib, size, pos[v], gain[v])
        e = bnext[e]
    bhead[slot] = -1


@njit(cache=True, nogil=True)
def _make_tabu(
    v: int, it: int, tenure: int, tvb: NDArray[np.float64], tib: NDArray[np.int64], size: int,
    pos: NDArray[np.int64], tabu_until: NDArray[np.int64], bhead: NDArray[np.int64],
    bnode: NDArray[np.int64], bnext: NDArray[np.int64],
) -> None:  # fmt: skip
    """Make ``v`` tabu for moves ``it + 1 .. it + tenure - 1`` (tenure < len(bhead))."""
    r = bhead.shape[0]
    until = it + tenure
    tabu_until[v] = until
    _tree_set(tvb, tib, size, pos[v], _NEG)
    e = it % r  # one entry per move: the slot of move `it` is free again by then
    slot = until % r
    bnode[e] = v
    bnext[e] = bhead[slot]
    bhead[slot] = e


@njit(cache=True, nogil=True)
def _touch(
    v: int, rprev: NDArray[np.int64], rnext: NDArray[np.int64], ist: NDArray[np.int64]
) -> None:
    """Move ``v`` to the front (most recent) of the recency list."""
    head = ist[I_HEAD]
    if head == v:
        return
    p = rprev[v]
    q = rnext[v]
    if p >= 0:
        rnext[p] = q
    if q >= 0:
        rprev[q] = p
    if ist[I_TAIL] == v:
        ist[I_TAIL] = p
    rprev[v] = -1
    rnext[v] = head
    rprev[head] = v
    ist[I_HEAD] = v


@njit(cache=True, nogil=True)
def _tabu_choice(
    cut: float, best: float, tol: float, tva: Any, tia: Any, tvb: Any, tib: Any, rs: Any, n: int
) -> Any:
    """The best non-tabu move, or a tabu one that beats the best cut (aspiration), or a
    random node when every node is tabu."""
    v = tib[1]
    if tva[1] > 0 and cut + tva[1] > best + tol:
        v = tia[1]
    elif tvb[1] == _NEG:
        v = _randint(rs, n)
    return v


@njit(cache=True, nogil=True)
def _tabu_flip(
    v: int,
    it: int,
    pending: int,
    tol: float,
    x: Any,
    best_x: Any,
    gain: Any,
    indptr: Any,
    indices: Any,
    data: Any,
    tva: Any,
    tia: Any,
    tvb: Any,
    tib: Any,
    size: int,
    pos: Any,
    tabu_until: Any,
    bhead: Any,
    bnode: Any,
    bnext: Any,
    rs: Any,
    ten_lo: int,
    ten_hi: int,
) -> tuple[float, int]:
    """Flip ``v`` at iteration ``it`` and make it tabu for a random tenure; a best cut not yet
    saved is saved first when the flip lowers the cut. Returns (cut change, pending)."""
    if pending and gain[v] < -tol:
        best_x[:] = x
        pending = 0
    _release(it, gain, tvb, tib, size, pos, tabu_until, bhead, bnode, bnext)
    delta = _flip(v, x, gain, indptr, indices, data, tva, tia, tvb, tib, size, pos, tabu_until, it)
    _make_tabu(v, it, ten_lo + _randint(rs, ten_hi - ten_lo + 1), tvb, tib, size, pos,
               tabu_until, bhead, bnode, bnext)  # fmt: skip
    return delta, pending


@njit(cache=True, nogil=True)
def run_chunk(
    method: int, indptr: NDArray[np.int64], indices: NDArray[np.int64], data: NDArray[np.float64],
    x: NDArray[np.int8], best_x: NDArray[np.int8], gain: NDArray[np.float64],
    tva: NDArray[np.float64], tia: NDArray[np.int64], tvb: NDArray[np.float64],
    tib: NDArray[np.int64], pos: NDArray[np.int64], tabu_until: NDArray[np.int64],
    bhead: NDArray[np.int64], bnode: NDArray[np.int64], bnext: NDArray[np.int64],
    rprev: NDArray[np.int64], rnext: NDArray[np.int64], ist: NDArray[np.int64],
    fst: NDArray[np.float64], rs: NDArray[np.uint64], params: NDArray[np.float64],
    max_moves: int,
) -> bool:  # fmt: skip
    """Advance one run by about ``max_moves`` moves; returns True when it cannot go on.

    ``params = [tol, tenure_min, tenure_max, l0, l_max, t_stall, p0, q]``. Gains are
    recomputed exactly at the start of each chunk, so floating-point drift cannot build up.

    Returns
    -------
    bool
        True when the run is over (the greedy method stops at its local optimum).
    """
    n = x.shape[0]
    size = tva.shape[0] // 2
    tol = params[0]
    ten_lo = int(params[1])
    ten_hi = int(params[2])
    l0 = int(params[3])
    lmax = int(params[4])
    t_stall = params[5]
    p0 = params[6]
    q = params[7]
    cut = compute_gains(indptr, indices, data, x, gain)
    it = ist[I_IT]
    _tree_build(tva, tia, size, n, pos, gain)
    _tree_build(tvb, tib, size, n, pos, gain)
    for i in range(n):
        if tabu_until[i] > it:  # still tabu: the buckets will release it on time
            _tree_set(tvb, tib, size, pos[i], _NEG)
    moves = 0
    done = False
    best = fst[F_BEST]
    pending = 0
    if cut > best + tol:
        best = cut
        pending = 1
    while moves < max_moves:
        if method == 1:
            # --- tabu search
            v = _tabu_choice(cut, best, tol, tva, tia, tvb, tib, rs, n)
            it += 1
            delta, pending = _tabu_flip(v, it, pending, tol, x, best_x, gain, indptr, indices,
                                        data, tva, tia, tvb, tib, size, pos, tabu_until, bhead,
                                        bnode, bnext, rs, ten_lo, ten_hi)  # fmt: skip
            cut += delta
            moves += 1
            ist[I_CYCLES] += 1
            if cut > best + tol:
                best = cut
                pending = 1
            continue
        # --- steepest ascent to a local optimum
        while tva[1] > tol:
            v = tia[1]
            it += 1
            _release(it, gain, tvb, tib, size, pos, tabu_until, bhead, bnode, bnext)
            cut += _flip(v, x, gain, indptr, indices, data, tva, tia, tvb, tib, size, pos,
                         tabu_until, it)  # fmt: skip
            if method == 2:
                _touch(v, rprev, rnext, ist)
            moves += 1
            if cut > best + tol:
                best = cut
                pending = 1
        if pending:
            best_x[:] = x
            pending = 0
        ist[I_CYCLES] += 1
        if method == 0:
            done = True
            break
        # --- BLS: adapt the jump magnitude L and choose the kind of perturbation
        if cut > fst[F_BEST] + tol:
            ist[I_OMEGA] = 0
        else:
            ist[I_OMEGA] += 1
        fst[F_BEST] = best
        omega = ist[I_OMEGA]
        kind = 0  # 0 directed (tabu), 1 recency-based, 2 random
        if omega > t_stall:
            ist[I_L] = lmax
            ist[I_OMEGA] = 0
            kind = 2
        else:
            if abs(cut - fst[F_PREV]) <= tol:
                ist[I_L] = min(ist[I_L] + 1, lmax)
            else:
                ist[I_L] = l0
            p = max(np.exp(-omega / t_stall), p0)
            if _uniform(rs) >= p:
                kind = 1 if _uniform(rs) < q else 2
        fst[F_PREV] = cut
        for _ in range(ist[I_L]):
            if kind == 0:
                v = _tabu_choice(cut, best, tol, tva, tia, tvb, tib, rs, n)
            elif kind == 1:
                v = ist[I_TAIL]
            else:
                v = _randint(rs, n)
            it += 1
            delta, pending = _tabu_flip(v, it, pending, tol, x, best_x, gain, indptr, indices,
                                        data, tva, tia, tvb, tib, size, pos, tabu_until, bhead,
                                        bnode, bnext, rs, ten_lo, ten_hi)  # fmt: skip
            cut += delta
            _touch(v, rprev, rnext, ist)
            moves += 1
            if cut > best + tol:
                best = cut
                pending = 1
    if pending:
        best_x[:] = x
    ist[I_IT] = it
    ist[I_MOVES] += moves
    fst[F_CUT] = cut
    fst[F_BEST] = max(best, fst[F_BEST])
    return done


@njit(cache=True, nogil=True)
def anneal_sweeps(
    indptr: NDArray[np.int64], indices: NDArray[np.int64], data: NDArray[np.float64],
    x: NDArray[np.int8], best_x: NDArray[np.int8], gain: NDArray[np.float64],
    betas: NDArray[np.float64], rs: NDArray[np.uint64], fst: NDArray[np.float64],
    quantum: float = 0.0,
) -> int:  # fmt: skip
    """Metropolis sweeps of simulated annealing, one per entry of ``betas``.

    A sweep visits the nodes in order; a flip of gain ``g`` (the change of the cut) is taken
    with probability ``min(1, exp(beta g))``. The best cut seen at the end of a sweep is kept in
    ``best_x`` / ``fst[F_BEST]``. The local fields ``sum_j w_ij x_j`` are kept instead of the
    gains, so a flip updates each neighbour with one addition. When every weight is an integer
    multiple of ``quantum > 0`` (so is every gain), ``exp(beta g)`` comes from a table made once
    per sweep -- the same numbers, so the same run. ``gain`` holds the gains at the end.
    Returns the number of flips.
    """
    n = x.shape[0]
    cut = compute_gains(indptr, indices, data, x, gain)
    field = np.empty(n)
    for i in range(n):
        field[i] = gain[i] * x[i]
    top = 0.0
    if quantum > 0.0:
        for i in range(n):
            s = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                s += abs(data[k])
            top = max(top, s)
    size = int(top / quantum) + 2 if quantum > 0.0 else 0
    table = np.zeros(size)
    best = fst[F_BEST]
    flips = 0
    for b in range(betas.shape[0]):
        beta = betas[b]
        lim = 0
        if size > 0:  # entries past -30 / (beta quantum) are never used: exp < 1e-13
            lim = size
            if beta * quantum * size > 30.0:
                lim = int(30.0 / (beta * quantum)) + 1
            for d in range(lim):
                e = beta * (-quantum * d)
                table[d] = np.exp(e) if e >= -30.0 else 0.0
        for i in range(n):
            xi = x[i]
            g = xi * field[i]
            if g < 0.0:
                if size > 0:
                    d = int(-g / quantum + 0.5)
                    if d >= lim or table[d] == 0.0 or _uniform(rs) >= table[d]:
                        continue
                else:
                    e = beta * g
                    if e < -30.0 or _uniform(rs) >= np.exp(e):
                        continue
            xi = -xi
            x[i] = xi
            t = 2.0 * xi
            for k in range(indptr[i], indptr[i + 1]):
                field[indices[k]] += t * data[k]
            cut += g
            flips += 1
        if cut > best:
            best = cut
            best_x[:] = x
    for i in range(n):
        gain[i] = x[i] * field[i]
    fst[F_CUT] = cut
    fst[F_BEST] = best
    return flips
