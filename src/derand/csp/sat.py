"""Weighted MAX-2-SAT: clauses of at most two literals, the satisfied weight maximised.

Literals are DIMACS integers: ``+k`` is variable ``k`` (1-based) true, ``-k`` false; a clause
is ``(a, b)`` with ``b = 0`` for a unit clause and ``a = b = 0`` for the empty clause (never
satisfied). Variable ``k`` is spin ``k - 1`` with ``s = +1`` meaning true, so literal ``l`` is
true when ``sign(l) s_|l| = +1``. The satisfied indicator of ``(a or b)`` over distinct
variables is ``(3 + sa s_a + sb s_b - sa sb s_a s_b) / 4``; of a unit clause ``(1 + sa s_a) / 2``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from derand.csp.base import (
    MAX_VARIABLES,
    Sense,
    as_ints,
    as_reals,
    check_labels,
    check_size,
    check_spins,
)
from derand.csp.ising import Ising
from derand.errors import InputError

__all__ = ["MaxTwoSat"]


@dataclass(frozen=True)
class MaxTwoSat:
    """A weighted 2-CNF formula; :meth:`evaluate` is the satisfied weight.

    Attributes
    ----------
    n : int
        Variables ``1 .. n``.
    a, b : ndarray of int64
        The clauses' literals (``b = 0``: unit clause; ``a = b = 0``: empty clause).
    w : ndarray of float64
        Nonnegative weights (a hard clause carries the weight it was given).
    hard : ndarray of bool
        Which clauses were hard in the input (they are weighted, reported apart).
    name : str
    labels : tuple or None
        Variable names (default ``1 .. n``, the DIMACS numbers).
    """

    n: int
    a: NDArray[np.int64] = field(repr=False)
    b: NDArray[np.int64] = field(repr=False)
    w: NDArray[np.float64] = field(repr=False)
    hard: NDArray[np.bool_] = field(repr=False)
    name: str = "max2sat"
    labels: tuple[Hashable, ...] | None = field(default=None, repr=False)

    kind: ClassVar[str] = "max2sat"
    sense: ClassVar[Sense] = "max"

    @classmethod
    def from_clauses(
        cls,
        clauses: Sequence[Sequence[int]],
        weights: Sequence[float] | None = None,
        *,
        n: int | None = None,
        hard: Sequence[bool] | None = None,
        name: str = "max2sat",
        labels: Sequence[Hashable] | None = None,
    ) -> MaxTwoSat:
        """From a list of clauses, each a list of at most two DIMACS literals.

        Returns
        -------
        MaxTwoSat

        Examples
        --------
        >>> f = MaxTwoSat.from_clauses([[1, -2], [2], [-1, -2]], [1.0, 2.0, 1.0])
        >>> f.n, f.evaluate([1, 1])
        (2, 3.0)
        """
        a = np.zeros(len(clauses), np.int64)
        b = np.zeros(len(clauses), np.int64)
        for k, clause in enumerate(clauses):
            lits = list(clause)
            if len(lits) > 2:
                raise InputError(
                    f"clause {k + 1} has {len(lits)} literals; MAX-2-SAT clauses have at most 2"
                )
            if lits:
                a[k] = _literal(lits[0], k)
            if len(lits) == 2:
                b[k] = _literal(lits[1], k)
        top = int(np.max(np.abs(np.concatenate([a, b])))) if len(clauses) else 0
        if n is None:
            n = max(1, top)
        w = np.ones(len(clauses)) if weights is None else weights
        return cls.from_arrays(n, a, b, w, hard=hard, name=name, labels=labels)

    @classmethod
    def from_arrays(
        cls,
        n: int,
        a: Any,
        b: Any,
        w: Any,
        *,
        hard: Any = None,
        name: str = "max2sat",
        labels: Sequence[Hashable] | None = None,
    ) -> MaxTwoSat:
        """Validate and build from literal arrays (see the class).

        Returns
        -------
        MaxTwoSat
        """
        n = check_size(n, "MAX-2-SAT")
        aa, bb = as_ints(a, "literals"), as_ints(b, "literals")
        if aa.shape != bb.shape:
            raise InputError("literal arrays a and b have different lengths")
        ww = as_reals(w, "clause weights", aa.size)
        hh = np.zeros(aa.size, bool) if hard is None else np.asarray(hard, bool).ravel()
        if hh.shape != aa.shape:
            raise InputError("hard flags and clauses have different lengths")
        for lits in (aa, bb):
            bad = np.flatnonzero(np.abs(lits) > n)
            if bad.size:
                k = int(bad[0])
                raise InputError(f"clause {k + 1}: literal {lits[k]} names no variable, n = {n}")
        bad = np.flatnonzero((aa == 0) & (bb != 0))
        if bad.size:
            raise InputError(f"clause {int(bad[0]) + 1}: the second literal without a first")
        bad = np.flatnonzero(ww < 0)
        if bad.size:
            k = int(bad[0])
            raise InputError(f"clause {k + 1}: weight {ww[k]} is negative")
        if labels is None:
            labels = list(range(1, n + 1))
        return cls(n=n, a=aa, b=bb, w=ww, hard=hh, name=name, labels=check_labels(labels, n))

    @property
    def m(self) -> int:
        """Number of clauses."""
        return int(self.a.size)

    @property
    def terms(self) -> int:
        """Number of clauses."""
        return self.m

    def satisfied(self, s: Any) -> NDArray[np.bool_]:
        """Which clauses the +-1 assignment ``s`` satisfies (``s[k-1] = +1``: ``k`` true).

        Returns
        -------
        ndarray of bool, shape (m,)
        """
        spins = check_spins(np.asarray(s), self.n)
        ext = np.concatenate([[0], spins]).astype(np.int64)  # literal 0 is never true

        def true(lits: NDArray[np.int64]) -> NDArray[np.bool_]:
            out: NDArray[np.bool_] = (lits != 0) & (np.sign(lits) * ext[np.abs(lits)] > 0)
            return out

        return true(self.a) | true(self.b)

    def evaluate(self, s: NDArray[Any]) -> float:
        """The satisfied weight (hard clauses with their weights)."""
        return float(np.sum(self.w[self.satisfied(s)]))

    def ising(self) -> Ising:
        """The Ising form, ``E(s) = -(satisfied weight)``.

        Returns
        -------
        Ising
        """
        a, b, w = self.a, self.b, self.w
        va, vb = np.abs(a) - 1, np.abs(b) - 1
        sa, sb = np.sign(a).astype(np.float64), np.sign(b).astype(np.float64)
        unit = (a != 0) & ((b == 0) | (a == b))
        taut = (a != 0) & (b == -a)
        pair = (a != 0) & (b != 0) & (va != vb)
        constant = float(np.sum(0.5 * w[unit]) + np.sum(w[taut]) + np.sum(0.75 * w[pair]))
        h = np.zeros(self.n)
        np.add.at(h, va[unit], 0.5 * w[unit] * sa[unit])
        np.add.at(h, va[pair], 0.25 * w[pair] * sa[pair])
        np.add.at(h, vb[pair], 0.25 * w[pair] * sb[pair])
        J = -0.25 * w[pair] * sa[pair] * sb[pair]
        return Ising.from_arrays(
            self.n, h=-h, u=va[pair], v=vb[pair], J=-J, offset=-constant, name=self.name,
            labels=self.labels,
        )  # fmt: skip

    def answer(self, s: NDArray[Any]) -> dict[Hashable, Any]:
        """``{label: True or False}``."""
        spins = check_spins(s, self.n)
        labels = self.labels if self.labels is not None else range(1, self.n + 1)
        return {k: bool(x > 0) for k, x in zip(labels, spins, strict=True)}

    def details(self, s: NDArray[Any]) -> dict[str, Any]:
        """Satisfied and unsatisfied weight of the soft clauses, and the hard clauses met."""
        sat = self.satisfied(s)
        soft = ~self.hard
        return {
            "clauses": self.m,
            "satisfied_clauses": int(np.sum(sat)),
            "soft_satisfied_weight": float(np.sum(self.w[sat & soft])),
            "soft_unsatisfied_weight": float(np.sum(self.w[~sat & soft])),
            "hard_clauses": int(np.sum(self.hard)),
            "hard_satisfied": int(np.sum(sat & self.hard)),
        }


def _literal(value: Any, k: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"clause {k + 1}: literal {value!r} is not an integer")
    lit = int(value)
    if lit == 0 or abs(lit) > MAX_VARIABLES:
        raise InputError(f"clause {k + 1}: literal {lit} is out of range")
    return lit
