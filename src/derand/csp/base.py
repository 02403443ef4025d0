"""What every problem of :mod:`derand.csp` provides, and the array checks they share.

A problem states its own value of an assignment (satisfied clause weight, directed cut, QUBO
value, Ising energy), computed directly from its data, and its Ising form, whose energy is the
negated value for a maximisation problem and the value itself for a minimisation problem. The
pipeline works on that one form (:func:`derand.csp.convert.objective`); the problem's direct
value is recomputed for every answer, so a wrong conversion could not pass unnoticed.

Assignments are +-1 spins ``s`` in index order; the Boolean value of variable ``i`` is
``x_i = (1 + s_i) / 2`` (``s_i = +1`` is true / 1 / in the source side).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from derand.errors import InputError
from derand.limits import check_count, require_memory

if TYPE_CHECKING:
    from derand.csp.ising import Ising

__all__ = ["MAX_VARIABLES", "SENSES", "Problem", "Sense", "check_labels", "check_spins"]

Sense = Literal["max", "min"]
SENSES = ("max", "min")
MAX_VARIABLES = 2**31 - 1
"""Most variables a problem may have (ids must fit the compiled kernels' int64 arrays and
the DIMACS literals of a WCNF file)."""


class Problem(Protocol):
    """The interface :func:`derand.csp.solve.solve_csp` needs from a problem."""

    @property
    def kind(self) -> str:
        """``"max2sat"``, ``"dicut"``, ``"qubo"`` or ``"ising"``."""
        ...

    @property
    def n(self) -> int:
        """Number of variables."""
        ...

    @property
    def name(self) -> str:
        """A label for reports."""
        ...

    @property
    def sense(self) -> Sense:
        """Whether :meth:`evaluate` is maximised or minimised."""
        ...

    @property
    def labels(self) -> tuple[Hashable, ...] | None:
        """The user's variable names in index order (``None``: ``0 .. n-1``)."""
        ...

    @property
    def terms(self) -> int:
        """Number of clauses, arcs or nonzero coefficients (for reports)."""
        ...

    def evaluate(self, s: NDArray[Any]) -> float:
        """The problem's own value of the +-1 assignment ``s``, computed from its data."""
        ...

    def ising(self) -> Ising:
        """The Ising form: ``energy(s) = -evaluate(s)`` (max) or ``evaluate(s)`` (min)."""
        ...

    def answer(self, s: NDArray[Any]) -> dict[Hashable, Any]:
        """``{label: value}`` in the problem's own terms (bool, 0/1 or +-1)."""
        ...

    def details(self, s: NDArray[Any]) -> dict[str, Any]:
        """Problem-specific facts about ``s`` (e.g. satisfied and unsatisfied weight)."""
        ...


def check_spins(s: NDArray[Any], n: int) -> NDArray[np.int8]:
    """``s`` as an int8 +-1 vector of length ``n``, or :class:`InputError`."""
    arr = np.asarray(s)
    if arr.shape != (n,):
        raise InputError(f"assignment has shape {arr.shape}, expected ({n},)")
    if not np.all((arr == 1) | (arr == -1)):
        raise InputError("an assignment of spins holds only +1 and -1")
    return arr.astype(np.int8)


def check_labels(labels: Sequence[Hashable] | None, n: int) -> tuple[Hashable, ...] | None:
    """``labels`` as a tuple of ``n`` distinct hashable names (``None`` stays ``None``)."""
    if labels is None:
        return None
    out = tuple(labels)
    if len(out) != n:
        raise InputError(f"{len(out)} labels given for {n} variables")
    if len(set(out)) != n:
        raise InputError("variable labels must be distinct")
    return out


def check_size(n: object, what: str, *, low: int = 1) -> int:
    """The variable count ``n`` checked against :data:`MAX_VARIABLES` and the free memory."""
    count = check_count(n, f"{what}: number of variables", low=low, high=MAX_VARIABLES)
    require_memory(64.0 * count, f"{what} with {count} variables")
    return count


def as_ints(values: Any, what: str) -> NDArray[np.int64]:
    """A 1-D int64 array, or :class:`InputError` naming ``what``."""
    try:
        arr = np.asarray(values)
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            if not (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr))):
                raise ValueError("not integers")
        return np.asarray(arr, dtype=np.int64).ravel()
    except (OverflowError, TypeError, ValueError) as exc:
        raise InputError(f"{what} must be integers ({exc})") from None


def as_reals(values: Any, what: str, size: int | None = None) -> NDArray[np.float64]:
    """A 1-D finite float64 array (of length ``size``), or :class:`InputError`."""
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (OverflowError, TypeError, ValueError) as exc:
        raise InputError(f"{what} must be real numbers ({exc})") from None
    if size is not None and arr.shape != (size,):
        raise InputError(f"{what} has {arr.size} entries, expected {size}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InputError(f"{what}[{int(bad[0])}] = {arr[bad[0]]} is not finite")
    return arr


def merge_pairs(
    n: int, u: NDArray[np.int64], v: NDArray[np.int64], c: NDArray[np.float64], what: str
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Pairs ``(u, v, c)`` with ``u != v`` ordered ``u < v``, repeated pairs (in either order)
    summed and zero coefficients dropped; ids outside ``[0, n)`` raise :class:`InputError`."""
    if not (u.shape == v.shape == c.shape):
        raise InputError(f"{what}: arrays of different lengths")
    bad = np.flatnonzero((u < 0) | (u >= n) | (v < 0) | (v >= n))
    if bad.size:
        k = int(bad[0])
        raise InputError(f"{what}: variable out of range in pair ({u[k]}, {v[k]}), n = {n}")
    if np.any(u == v):
        raise InputError(f"{what}: a pair of a variable with itself")  # callers fold them first
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    if lo.size == 0:
        return lo, hi, c.copy()
    key = lo * np.int64(n) + hi
    uniq, inverse = np.unique(key, return_inverse=True)
    summed = np.zeros(uniq.size)
    np.add.at(summed, inverse, c)
    if not np.all(np.isfinite(summed)):
        raise InputError(f"{what}: summed coefficients overflow")
    keep = summed != 0
    return (uniq // n)[keep], (uniq % n)[keep], summed[keep]
