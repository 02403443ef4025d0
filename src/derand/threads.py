"""How many CPU threads a run may use: one setting for torch, OpenMP and BLAS.

torch starts one thread per core and OpenMP threads spin while they wait; on a machine whose
cores are busy with other work that makes a run many times slower than with fewer threads.
Every command takes ``--threads N``: the default is ``OMP_NUM_THREADS`` when it is set, else
the CPUs this process may use, and the number used is recorded with the result.
"""

from __future__ import annotations

import os
import sys

__all__ = ["available_cpus", "default_threads", "use_threads"]

_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), at least 1.

    Examples
    --------
    >>> available_cpus() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def default_threads(fallback: int | None = None) -> int:
    """``OMP_NUM_THREADS`` when it is a positive integer, else ``fallback``, else
    :func:`available_cpus`.

    Examples
    --------
    >>> import os
    >>> default_threads(1) == int(os.environ.get("OMP_NUM_THREADS") or 1)
    True
    """
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    if text.isdigit() and int(text) >= 1:
        return int(text)
    return fallback if fallback is not None else available_cpus()


def use_threads(threads: int | None = None, *, fallback: int | None = None) -> int:
    """Make torch, OpenMP and BLAS use ``threads`` threads (default:
    ``default_threads(fallback)``).

    Libraries not loaded yet read the environment when they load; torch and BLAS libraries
    already loaded are set directly. Waiting OpenMP threads sleep instead of spinning
    (``OMP_WAIT_POLICY=PASSIVE`` unless set), which costs nothing on an idle machine and
    keeps a busy one from slowing down several-fold.

    Parameters
    ----------
    threads : int, optional
        At least 1.
    fallback : int, optional
        The default when ``threads`` is None and ``OMP_NUM_THREADS`` is not set (None: the
        CPUs available).

    Returns
    -------
    int
        The number of threads now in use.

    Examples
    --------
    >>> use_threads(1)
    1
    """
    n = default_threads(fallback) if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for name in _ENV:
        os.environ[name] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    return n
