"""The state layout of the compiled Max-Cut moves, without numba.

:mod:`derand.maxcut.engine` holds the kernels (numba); this module holds what their callers
need besides -- the method codes, the slots of the integer and float state vectors and
:func:`build_state` -- so that a run whose kernels were compiled ahead of time
(:mod:`derand.maxcut.kernels`) never imports numba.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "F_BEST",
    "F_CUT",
    "I_CYCLES",
    "I_IT",
    "I_MOVES",
    "METHODS",
    "build_state",
]

METHODS = {"greedy": 0, "tabu": 1, "bls": 2, "sa": 3}

# integer state slots
I_IT = 0  # move counter (tabu clock)
I_MOVES = 1  # moves made in total
I_CYCLES = 2  # local optima visited (BLS) / tabu moves
I_OMEGA = 3  # consecutive non-improving local optima (BLS)
I_L = 4  # current jump magnitude (BLS)
I_HEAD = 5  # most recently moved node (recency list)
I_TAIL = 6  # least recently moved node
I_SIZE = 7
# float state slots
F_CUT = 0
F_BEST = 1
F_PREV = 2  # cut of the previous local optimum (BLS)
F_SIZE = 3


def build_state(
    n: int, seed: int, start: NDArray[np.int8], tenure_max: int
) -> dict[str, NDArray[np.generic]]:
    """Fresh arrays for one run from the +-1 vector ``start`` (trees sized to a power of 2).

    Returns
    -------
    dict of str to ndarray
        The arrays :func:`run_chunk` works on (internal to :mod:`derand.maxcut.local_search`).
    """
    size = 1
    while size < n:
        size *= 2
    rng = np.random.default_rng(seed)
    pos = rng.permutation(n).astype(np.int64)  # random leaf order: ties broken at random
    ring = tenure_max + 2
    order = rng.permutation(n).astype(np.int64)
    rprev = np.full(n, -1, np.int64)
    rnext = np.full(n, -1, np.int64)
    rprev[order[1:]] = order[:-1]
    rnext[order[:-1]] = order[1:]
    ist = np.zeros(I_SIZE, np.int64)
    ist[I_HEAD], ist[I_TAIL] = order[0], order[-1]
    fst = np.zeros(F_SIZE, np.float64)
    fst[F_BEST] = -np.inf
    fst[F_PREV] = np.nan
    rs = np.array([rng.integers(1, 2**63 - 1)], np.uint64)
    return {
        "x": start.astype(np.int8).copy(),
        "best_x": start.astype(np.int8).copy(),
        "gain": np.zeros(n, np.float64),
        "tva": np.empty(2 * size, np.float64),
        "tia": np.empty(2 * size, np.int64),
        "tvb": np.empty(2 * size, np.float64),
        "tib": np.empty(2 * size, np.int64),
        "pos": pos,
        "tabu_until": np.zeros(n, np.int64),
        "bhead": np.full(ring, -1, np.int64),
        "bnode": np.zeros(ring, np.int64),
        "bnext": np.full(ring, -1, np.int64),
        "rprev": rprev,
        "rnext": rnext,
        "ist": ist,
        "fst": fst,
        "rs": rs,
    }
