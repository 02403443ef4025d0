"""Compile (or load from numba's on-disk cache) every Max-Cut kernel, outside the search.

The compiled kernels (:mod:`derand.maxcut.engine`, :mod:`derand.sdp._mixing`,
:mod:`derand.core._bvn`, :mod:`derand.rounding._kernel`) are compiled ahead of time by
``make install`` (:mod:`derand.maxcut.kernels`; a run then imports them in milliseconds and
never imports numba) and, for the JIT fallback, cached by numba next to their sources.
``make install`` runs ``python -m derand.maxcut.warmup`` once, so that the first run after an
install loads them (a fraction of a second) instead of compiling them (seconds to tens of
seconds under load). :func:`~derand.maxcut.solve.solve_maxcut` calls :func:`warm_up` at the
start of a time-limited run on a graph large enough to use them: the loading -- or, with a cold
cache, the compiling -- happens on the budget's clock but before the budget is shared out, so
the stages plan with the time that is really left.
"""

from __future__ import annotations

import threading
import time

__all__ = ["is_warm", "warm_up"]

_lock = threading.Lock()
_seconds: float | None = None
_owner: int | None = None  # the thread running the warm-up


def is_warm() -> bool:
    """True when :func:`warm_up` has run in this process."""
    return _seconds is not None


def warm_up() -> float:
    """Compile or load every kernel a Max-Cut run uses, once per process.

    Each compiled entry point is called once with the argument types of a real run and as
    little work as it allows: the search kernels on a 3-node path, one SDP sweep and one
    rounding iteration on a small graph above every size threshold of the compiled paths.
    Thread-safe: a second thread waits for the first.

    Returns
    -------
    float
        Seconds this call took (``0.0`` when the kernels were ready already).

    Examples
    --------
    >>> seconds = warm_up()
    >>> is_warm() and warm_up() == 0.0
    True
    """
    global _seconds, _owner
    if _owner == threading.get_ident():  # the warm-up's own solve_maxcut call
        return 0.0
    with _lock:  # another thread waits until the kernels are ready
        if _seconds is not None:
            return 0.0
        _owner = threading.get_ident()
        try:
            _seconds = _run()
        finally:
            _owner = None
        return _seconds


def _run() -> float:
    from derand.maxcut.graph import gnp
    from derand.maxcut.kernels import search_kernels
    from derand.maxcut.rounding import derandomized_rounding
    from derand.maxcut.sdp import solve_sdp
    from derand.rounding import COMPILED_M

    start = time.perf_counter()
    g = gnp(90, 0.75, seed=0)  # n >= 64 (compiled SDP and search), m > COMPILED_M
    if g.m <= COMPILED_M:  # pragma: no cover - a guard for future thresholds
        raise RuntimeError("the warm-up graph is below the compiled rounding's threshold")
    # each compiled entry point once, with the argument types of a real run and as little
    # work as they allow: the search's moves and anneal (the first load pays numba's own
    # start-up), the SDP's colouring and sweeps, the rounding's tables and gradient
    if search_kernels().compiled == "jit":  # the ahead-of-time module needs no loading
        from derand.maxcut import engine
        from derand.maxcut.local_search import _load_kernels

        _load_kernels(engine)
    sdp = solve_sdp(g, max_sweeps=1)
    derandomized_rounding(g, sdp.V, max_iter=1)
    return time.perf_counter() - start


def install() -> list[str]:
    """What ``make install`` runs: the search, SDP and rounding kernels compiled ahead of time
    (:func:`derand.maxcut.kernels.build_all`; a group that fails is reported and its runs use
    the JIT), then every kernel a run uses loaded once, and the JIT ones compiled into
    numba's cache (:func:`warm_up`).

    Returns
    -------
    list of str
        One line per step, for the installer to print.
    """
    from derand.maxcut.kernels import build_all

    lines = build_all()  # a group that fails is reported; its runs use the JIT
    lines.append(f"Max-Cut kernels compiled or loaded in {warm_up():.1f} s")
    from derand.maxcut import kernels

    if any(kernels.aot_module(group) is not None for group in kernels.GROUPS):
        # the JIT fallback too (a stale module after a numpy upgrade, say), into numba's cache
        saved = dict(kernels._aot)
        kernels._aot.update(dict.fromkeys(kernels.GROUPS))
        try:
            seconds = _run()
        finally:
            kernels._aot.clear()
            kernels._aot.update(saved)
        lines.append(f"the JIT fallback compiled or loaded in {seconds:.1f} s")
    from derand.maxcut.local_search import _load_rank2

    start = time.perf_counter()
    _load_rank2()  # only `search="rank2"` runs it, so not part of every run's warm-up
    lines.append(f"rank-2 search kernels compiled or loaded in {time.perf_counter() - start:.1f} s")
    return lines


if __name__ == "__main__":  # pragma: no cover - run by `make install`
    for line in install():
        print(f"derand: {line}")
