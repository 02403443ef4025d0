"""What a time limit can afford before the search: the SDP and the rounding, or the search alone.

The SDP stage has costs that do not shrink with the budget: its first sweeps, the Lanczos
dual bound (no clock), the dual vector, the proof's process, and the GW expectation's pass
over the pairs that the rounding needs. All of them are sparse products with the coupling
matrix ``C``, so they are estimated as a number of products (:data:`SDP_MATVECS`) times the
measured time of one (:func:`time_matvec`, taken in this run, so that a busy machine is
charged as busy), plus loading the SDP's compiled kernels when they are neither loaded
nor compiled ahead of time.
When that estimate exceeds :data:`FULL_SHARE` of the time left, :func:`solve_csp
<derand.csp.solve_csp>` skips the SDP and the rounding and searches for the whole budget,
with the bound no assignment exceeds (:func:`absolute_bound`, proven).

Measured on a 2-core machine (load 6-7, kernels loaded; the SDP stopped after its first 10
sweeps, the dual vector, the proof's fork and the GW pass), in products: Beasley QUBOs of
n = 2500 and 5000 (0.6 and 2.7 ms a product) 1370 and 1000, MAX-2-SAT and MAX-DICUT of
n = 5000 and mean degree 20 (0.1 ms) 2050-2070, n = 200-1000 2900 (about 0.03 s in all).
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import numpy as np

__all__ = [
    "FULL_SHARE",
    "SDP_MATVECS",
    "absolute_bound",
    "sdp_fixed_seconds",
    "search_only",
    "time_matvec",
]

SDP_MATVECS = 1100.0
"""The SDP stage's fixed cost in products with the pairs' matrix (see the module docstring)."""
KERNEL_SECONDS = 0.3
"""Loading the SDP's and the rounding's compiled kernels from numba's cache, the first time
in a process, for ``n + 1 >=`` :data:`derand.sdp.mixing.COMPILED_N` variables, when they are
not compiled ahead of time (:func:`derand.maxcut.plan.aot_ready`, the check Max-Cut's plan
makes)."""
NUMBA_SECONDS = 0.35
"""Importing numba, when the search would not import it anyway (the Max-Cut search of a
sparse problem runs its ahead-of-time module; the tabu search of a dense one needs numba)."""
FULL_SHARE = 0.3
"""The SDP and the rounding run only when their estimated fixed cost is at most this share
of the time left; the search gets the rest either way. Set on Beasley QUBOs of n = 5000 at
10 s (seeds 400-401, load 9): the search alone ended 0.03-0.05 % higher than the pipeline,
whose SDP stage took 4.8-4.9 s of the 10 (estimated 3-4 s)."""


def time_matvec(C: Any) -> float:
    """Seconds of one product ``C @ x`` (the faster of two; a first one warms the caches).

    Returns
    -------
    float
    """
    x = np.ones(C.shape[0])
    best = math.inf
    for _ in range(2):
        start = time.perf_counter()
        C @ x
        best = min(best, time.perf_counter() - start)
    return best


def sdp_fixed_seconds(n_sdp: int, t_matvec: float, *, numba_shared: bool = False) -> float:
    """Estimated seconds of the SDP stage's fixed part for ``n_sdp`` variables (the truth
    vector included) when one product with the pairs' matrix takes ``t_matvec``; with
    ``numba_shared`` the search imports numba anyway, so its import is not charged.

    Returns
    -------
    float

    Examples
    --------
    >>> round(sdp_fixed_seconds(61, 1e-5), 4)  # numpy sweeps: no kernels to load
    0.011
    """
    from derand.maxcut.plan import aot_ready
    from derand.sdp.mixing import COMPILED_N

    seconds = SDP_MATVECS * t_matvec
    if n_sdp >= COMPILED_N and not aot_ready():  # ahead of time: milliseconds, no numba
        if "derand.sdp._mixing" not in sys.modules:
            seconds += KERNEL_SECONDS
        if not numba_shared and "numba" not in sys.modules:
            seconds += NUMBA_SECONDS
    return seconds


def search_only(
    n_sdp: int, t_matvec: float, seconds_left: float, *, numba_shared: bool = False
) -> bool:
    """Whether a run with ``seconds_left`` should skip the SDP and the rounding: their fixed
    cost (:func:`sdp_fixed_seconds`) is more than :data:`FULL_SHARE` of it.

    Returns
    -------
    bool

    Examples
    --------
    >>> search_only(5001, 0.003, 8.0, numba_shared=True)
    True
    >>> search_only(5001, 0.003, 30.0, numba_shared=True)
    False
    """
    cost = sdp_fixed_seconds(n_sdp, t_matvec, numba_shared=numba_shared)
    return cost > FULL_SHARE * seconds_left


def absolute_bound(obj: Any) -> float:
    """``c + sum |h_i| + sum |J_e|``, rounded upwards: no ±1 assignment's value of the
    objective ``c + h.s + sum_e J_e s_u s_v`` exceeds it (each term is at most its absolute
    value), so it is a proven bound without the SDP.

    Returns
    -------
    float

    Examples
    --------
    >>> from derand.rounding import QuadraticObjective
    >>> obj = QuadraticObjective.from_arrays(2, constant=1.0, h=[0.5, 0.0], u=[0], v=[1], J=[-1.0])
    >>> absolute_bound(obj) >= 2.5
    True
    """
    from derand.sdp import upper_sum

    h = np.abs(np.asarray(obj.h, np.float64))
    J = np.abs(np.asarray(obj.J, np.float64))
    return upper_sum(float(obj.constant), *h.tolist(), *J.tolist())
