"""Bounds on user-supplied seeds, counts and sizes, checked before anything is allocated.

Every entry point (library and command line) validates what a user gives it here, so that an
impossible request ends in one :class:`~derand.errors.InputError` naming the parameter and
the bound, never in a ``MemoryError`` dump, an ``OverflowError`` from numpy or torch seeding,
or a run that hangs for hours.
"""

from __future__ import annotations

import math
import os
import stat
from numbers import Integral, Real
from pathlib import Path

from derand.errors import InputError

__all__ = [
    "MAX_SEED",
    "available_memory",
    "check_count",
    "check_finite",
    "check_input_file",
    "check_seed",
    "format_bytes",
    "require_memory",
]

MAX_SEED = 2**63 - 1
"""Largest accepted seed: fits numpy's ``SeedSequence``, ``torch.manual_seed`` and int64, and
leaves room for the ``seed + i`` offsets that derived streams use."""

MEMORY_FRACTION = 0.8
"""Share of the currently available memory a single request may claim."""


def check_seed(seed: object, name: str = "seed") -> int:
    """Return ``seed`` as an int in ``[0, MAX_SEED]`` or raise :class:`InputError`.

    Booleans and non-integral numbers are refused (``1.5`` is not a seed; ``3.0`` is 3).
    """
    if isinstance(seed, bool):
        raise InputError(f"{name} must be an integer, got {seed!r}")
    if isinstance(seed, Integral):
        value = int(seed)
    elif isinstance(seed, Real) and math.isfinite(float(seed)) and float(seed).is_integer():
        value = int(float(seed))
    else:
        raise InputError(f"{name} must be an integer, got {seed!r}")
    if not 0 <= value <= MAX_SEED:
        raise InputError(f"{name} must be in [0, 2**63 - 1], got {value}")
    return value


def check_count(value: object, name: str, *, low: int = 1, high: int) -> int:
    """Return ``value`` as an int in ``[low, high]`` or raise :class:`InputError`.

    ``high`` is what is meaningful for the parameter (a depth of 10**5 layers, 10**12 random
    draws), not what happens to fit in memory: that is :func:`require_memory`'s job.
    """
    if isinstance(value, bool):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, Integral):
        number = int(value)
    elif isinstance(value, Real) and math.isfinite(float(value)) and float(value).is_integer():
        number = int(float(value))
    else:
        raise InputError(f"{name} must be an integer, got {value!r}")
    if not low <= number <= high:
        raise InputError(f"{name} must be in [{low}, {high}], got {number}")
    return number


def check_finite(
    value: object, name: str, *, low: float = -math.inf, high: float = math.inf
) -> float:
    """Return ``value`` as a finite float in ``[low, high]`` or raise :class:`InputError`."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InputError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InputError(f"{name} must be finite, got {number}")
    if not low <= number <= high:
        raise InputError(f"{name} must be in [{low:g}, {high:g}], got {number:g}")
    return number


def available_memory() -> int:
    """Bytes of memory available to a new allocation now (``MemAvailable`` on Linux)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return 2**62  # unknown: do not refuse


def format_bytes(nbytes: float) -> str:
    """``1.5 GiB``-style rendering for messages."""
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"  # pragma: no cover


def require_memory(nbytes: float, what: str) -> None:
    """Raise :class:`InputError` when ``what`` would need more than 80 % of available memory.

    Call it with an estimate computed from the parameters *before* allocating, e.g.
    ``require_memory(8 * n * p, f"the SDP factor for n = {n}, rank {p}")``.
    """
    available = available_memory()
    if not math.isfinite(nbytes) or nbytes > MEMORY_FRACTION * available:
        raise InputError(
            f"{what} needs about {format_bytes(nbytes)} of memory; "
            f"{format_bytes(available)} is available"
        )


def check_input_file(
    path: str | os.PathLike[str], what: str, *, max_bytes: int | None = None
) -> Path:
    """Return ``path`` when it is a readable regular file (of at most ``max_bytes``).

    Call it before opening a user's file: a directory, a missing file, a device or a FIFO
    (opening one would wait forever for a writer) and a file over the size bound each raise
    :class:`InputError` naming ``what`` and the path. Symbolic links are followed.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Examples
    --------
    >>> check_input_file("/dev/null", "graph file")
    Traceback (most recent call last):
    ...
    derand.errors.InputError: graph file /dev/null is a device, not a regular file
    """
    target = Path(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        raise InputError(f"{what} {target} not found") from None
    except OSError as exc:
        raise InputError(f"{what} {target}: {str(exc.strerror).lower()}") from None
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        raise InputError(f"{what} {target} is a directory")
    if not stat.S_ISREG(mode):
        kind = (
            "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a socket"
        )
        raise InputError(f"{what} {target} is {kind}, not a regular file")
    if not os.access(target, os.R_OK):
        raise InputError(f"{what} {target}: permission denied")
    if max_bytes is not None and st.st_size > max_bytes:
        raise InputError(
            f"{what} {target} is {format_bytes(st.st_size)}; at most {format_bytes(max_bytes)}"
        )
    return target
