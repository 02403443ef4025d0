"""What a short time limit can afford: the SDP and rounding, or the search alone.

The pipeline's stages before the search have costs that do not shrink with the budget:
importing scipy and numba (for the SDP, its Lanczos bound and the rounding), loading the
compiled SDP and rounding kernels, and the SDP's colouring and Lanczos bound, which grow with
the number of edges. At a one-second budget they took the whole second (G1: 0.36 s of
interpreter and imports, 0.28 s of kernel loading, 0.25 s of SDP and bound, 0.09 s of
rounding) and the search got no move at all. :func:`search_only` compares an estimate of those
costs with the time left: when they would take more than :data:`FULL_SHARE` of it, the run
skips the SDP and the rounding and searches from random partitions for the whole budget,
with the bound no cut exceeds -- the sum of the positive edge weights, proven. The search,
SDP and rounding kernels cost nothing to load when they were compiled ahead of time
(:mod:`derand.maxcut.kernels`; then numba is neither imported nor its cache read,
:func:`aot_ready`). The SDP's dual bound has no fixed cost of its own on the budget's clock:
:func:`bound_seconds` plans where its eigenvalue is computed.

The estimates are constants measured on a 2-core machine at low load (see the README's
Max-Cut budgets section); a process that has imported scipy and numba already, or warmed the
kernels (:func:`derand.maxcut.warmup.warm_up`), is not charged for them again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = [
    "BOUND_SHARE",
    "FULL_SHARE",
    "SKIPPED",
    "aot_ready",
    "bound_seconds",
    "cache_is_cold",
    "pending_startup",
    "sdp_seconds",
    "search_only",
]

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
SDP_FLOOR, SDP_PER_EDGE = 0.1, 4e-5
"""The SDP and rounding stages' seconds beyond their shares: a floor plus, per edge, the
colouring, the dual vector, the rounding's tables, hyperplanes and certificate (the
eigenvalue and the proof run beside the search, :func:`bound_seconds`). Measured on all 71
Gset at 5 s with the kernels compiled ahead of time (load 5-10): the time outside the search
grew from 1.7 s (G1, m = 19,176) to 3.1-3.8 s (G63, G64, G81, m = 40,000-41,459), about
6e-5 s per edge, and on those three the pipeline's cut was below the search alone's (26782
against 26968, 8648 against 8666, 13862 against 13958); 1.5e-5 (the Lanczos bound and the
colouring only) had let them run the pipeline."""


COMPILE_SECONDS = 15.0
"""Compiling the SDP and rounding kernels when numba's cache holds none (first run after an
install that did not warm it; 10-20 s on this machine)."""
_KERNEL_SOURCES = ("sdp/_mixing.py", "rounding/_kernel.py")


def cache_is_cold() -> bool:
    """Whether numba's cache next to the SDP and rounding kernels lacks an index newer than
    their source (then the SDP path would compile them, :data:`COMPILE_SECONDS`).

    Only the default cache location is looked at: with ``NUMBA_CACHE_DIR`` set, or a package
    directory numba cannot write (its cache is then elsewhere), the cache counts as warm.

    Returns
    -------
    bool
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return False
    root = Path(__file__).resolve().parent.parent
    for name in _KERNEL_SOURCES:
        source = root / name
        cache = source.parent / "__pycache__"
        if not os.access(source.parent, os.W_OK):
            return False
        try:
            newest = max(
                (p.stat().st_mtime for p in cache.glob(f"{source.stem}.*.nbi")), default=None
            )
            if newest is None or newest < source.stat().st_mtime:
                return True
        except OSError:
            return False
    return False


def pending_startup() -> float:
    """Seconds of imports and kernel loading (or compiling, :func:`cache_is_cold`) the SDP
    path would still pay in this process.

    With the SDP and rounding kernels compiled ahead of time (:func:`aot_ready`) neither
    numba's import nor its cache is paid; otherwise both are (with the cost of compiling
    when numba's cache is cold).

    Returns
    -------
    float
    """
    aot = aot_ready()
    seconds = sum(
        t for name, t in IMPORT_SECONDS.items()
        if name not in sys.modules and not (aot and name == "numba")
    )  # fmt: skip
    warmup = sys.modules.get("derand.maxcut.warmup")
    if not aot and (warmup is None or not warmup.is_warm()):
        seconds += COMPILE_SECONDS if cache_is_cold() else WARM_SECONDS
    return seconds


def aot_ready() -> bool:
    """Whether the SDP and rounding kernels are compiled ahead of time and current
    (:func:`derand.maxcut.kernels.is_current`, which imports nothing): then a run loads them
    in milliseconds and never imports numba.

    Returns
    -------
    bool
    """
    from derand.maxcut.kernels import is_current

    return is_current("sdp") and is_current("rounding")


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


BOUND_SHARE = 0.05
"""The share of the time left that the SDP stage's Lanczos eigenvalue may take in a
time-limited run without the proof (``prove=False``); past it the bound uses Gershgorin's."""


def bound_seconds(time_limit: float | None, elapsed: float, proof: bool) -> float | None:
    """Seconds the SDP stage's dual bound may spend on its Lanczos eigenvalue
    (:func:`derand.sdp.solve_sdp`'s ``bound_seconds``).

    Lanczos has no fixed cost: it converges in 0.1 s at a converged SDP point but took 2-4 s
    on Gset G2 after the 170 sweeps of a 5 s budget (a spectrum that is not yet clustered),
    and at 1 s it ended one run of 71 at 1.056x the budget. So a time-limited run with the
    proof (``proof``) computes none in the SDP stage (``0``): the eigenvalue, then the
    proof, run in the proof's process on the second core (:class:`derand.sdp.BackgroundProof`)
    while the rounding and the search run, and the bound meanwhile is Gershgorin's or the
    positive-weight sum. Without the proof the eigenvalue gets :data:`BOUND_SHARE` of the
    time left; without a time limit, all it needs (``None``).

    Returns
    -------
    float or None

    Examples
    --------
    >>> bound_seconds(None, 0.0, True) is None, bound_seconds(5.0, 1.0, True)
    (True, 0.0)
    >>> bound_seconds(5.0, 1.0, False)
    0.2
    """
    if time_limit is None:
        return None
    if proof:
        return 0.0
    return BOUND_SHARE * max(0.0, time_limit - elapsed)
