"""What a short time limit can afford: the SDP and rounding, or the search alone.

The pipeline's stages before the search have costs that do not shrink with the budget:
importing scipy and numba (for the SDP, its Lanczos bound and the rounding), loading the
compiled SDP and rounding kernels, and the SDP's colouring and Lanczos bound, which grow with
the number of edges. At a one-second budget they took the whole second (G1: 0.36 s of
interpreter and imports, 0.28 s of kernel loading, 0.25 s of SDP and bound, 0.09 s of
rounding) and the search got no move at all. :func:`search_only` compares an estimate of those
costs with the time left: when they would take more than :data:`FULL_SHARE` of it, the run
skips the SDP and the rounding and searches from random partitions for the whole budget,
with the bound no cut exceeds -- the sum of the positive edge weights, proven. The search
kernels themselves cost nothing to load when they were compiled ahead of time
(:mod:`derand.maxcut.kernels`).

The estimates are constants measured on a 2-core machine at low load (see the README's
Max-Cut budgets section); a process that has imported scipy and numba already, or warmed the
kernels (:func:`derand.maxcut.warmup.warm_up`), is not charged for them again.
"""

from __future__ import annotations

import sys

__all__ = ["FULL_SHARE", "SKIPPED", "pending_startup", "sdp_seconds", "search_only"]

FULL_SHARE = 0.4
"""The SDP and rounding run only when their estimated fixed cost is at most this share of the
time left; the search gets the rest either way."""
SKIPPED = ("sdp", "rounding")
"""The stages a search-only run skips."""

IMPORT_SECONDS = {"numba": 0.35, "scipy.sparse": 0.3, "derand.maxcut.rounding": 0.05}
"""Import cost of each module the SDP path needs (the first import in a process)."""
WARM_SECONDS = 0.3
"""Loading the SDP and rounding kernels from numba's cache
(:func:`~derand.maxcut.warmup.warm_up`)."""
SDP_FLOOR, SDP_PER_EDGE = 0.1, 1.5e-5
"""The SDP stage's seconds beyond its share: a floor plus the Lanczos bound and the
colouring, per edge."""


def pending_startup() -> float:
    """Seconds of imports and kernel loading the SDP path would still pay in this process.

    Returns
    -------
    float
    """
    seconds = sum(t for name, t in IMPORT_SECONDS.items() if name not in sys.modules)
    warmup = sys.modules.get("derand.maxcut.warmup")
    if warmup is None or not warmup.is_warm():
        seconds += WARM_SECONDS
    return seconds


def sdp_seconds(m: int) -> float:
    """Estimated seconds of the SDP stage's fixed part (colouring, Lanczos bound) for ``m``
    edges.

    Returns
    -------
    float
    """
    return SDP_FLOOR + SDP_PER_EDGE * m


def search_only(n: int, m: int, seconds: float, *, pending: float | None = None) -> tuple[str, ...]:
    """The stages a time-limited run of ``n`` nodes and ``m`` edges skips with ``seconds``
    left: :data:`SKIPPED` when the start-up still ``pending`` (default
    :func:`pending_startup`) and the SDP's fixed cost exceed :data:`FULL_SHARE` of
    ``seconds``, else ``()``.

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> search_only(800, 19176, 0.9, pending=1.0)
    ('sdp', 'rounding')
    >>> search_only(800, 19176, 30.0, pending=1.0)
    ()
    """
    del n  # the estimates depend on the edges only
    cost = (pending_startup() if pending is None else pending) + sdp_seconds(m)
    return SKIPPED if cost > FULL_SHARE * seconds else ()
