"""The Ising form ``E(s) = sum_i h_i s_i + sum_(i,j) J_ij s_i s_j + offset``, minimised.

The sign conventions are dwave ``dimod``'s (``BinaryQuadraticModel`` with vartype ``SPIN``):
a positive ``J_ij`` favours opposite spins, a positive ``h_i`` favours ``s_i = -1``. Every
problem of :mod:`derand.csp` converts to this form; :func:`derand.csp.convert.objective` turns
it into the maximised :class:`~derand.rounding.QuadraticObjective` ``f = -E`` of the engine.
"""

from __future__ import annotations

import importlib
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from derand.csp.base import (
    Sense,
    as_ints,
    as_reals,
    check_labels,
    check_size,
    check_spins,
    merge_pairs,
)
from derand.errors import InputError

if TYPE_CHECKING:
    from derand.csp.qubo import QUBO

__all__ = ["Ising"]


@dataclass(frozen=True)
class Ising:
    """An Ising model over ``n`` spins, minimised (dimod's ``SPIN`` conventions).

    Attributes
    ----------
    n : int
        Number of spins.
    h : ndarray of float64, shape (n,)
        Fields.
    u, v : ndarray of int64
        Coupled pairs, ``u < v``, each pair once.
    J : ndarray of float64
        Nonzero couplings of the pairs.
    offset : float
        Constant energy.
    name : str
        A label for reports.
    labels : tuple or None
        The spins' names in index order (``None``: ``0 .. n-1``).
    """

    n: int
    h: NDArray[np.float64] = field(repr=False)
    u: NDArray[np.int64] = field(repr=False)
    v: NDArray[np.int64] = field(repr=False)
    J: NDArray[np.float64] = field(repr=False)
    offset: float = 0.0
    name: str = "ising"
    labels: tuple[Hashable, ...] | None = field(default=None, repr=False)

    kind: ClassVar[str] = "ising"
    sense: ClassVar[Sense] = "min"

    @classmethod
    def from_arrays(
        cls,
        n: int,
        *,
        h: Any = None,
        u: Any = None,
        v: Any = None,
        J: Any = None,
        offset: float = 0.0,
        name: str = "ising",
        labels: Sequence[Hashable] | None = None,
    ) -> Ising:
        """Validate and build; repeated pairs (either order) are summed and a coupling of a
        spin with itself (``s_i^2 = 1``) is added to the offset, as dimod does.

        Returns
        -------
        Ising

        Examples
        --------
        >>> m = Ising.from_arrays(2, h=[1.0, 0.0], u=[0, 1], v=[1, 0], J=[0.5, 0.5])
        >>> m.J.tolist(), m.energy([1, -1])
        ([1.0], 0.0)
        """
        n = check_size(n, "Ising model")
        hh = np.zeros(n) if h is None else as_reals(h, "h", n)
        uu = as_ints([] if u is None else u, "J pairs")
        vv = as_ints([] if v is None else v, "J pairs")
        jj = as_reals([] if J is None else J, "J", uu.size)
        off = float(as_reals([offset], "offset")[0])
        if uu.shape != vv.shape:
            raise InputError("J pairs: u and v have different lengths")
        self_pairs = uu == vv
        if self_pairs.any():
            off += float(np.sum(jj[self_pairs]))
            uu, vv, jj = uu[~self_pairs], vv[~self_pairs], jj[~self_pairs]
        uu, vv, jj = merge_pairs(n, uu, vv, jj, "J")
        if not np.isfinite(off):
            raise InputError("the offset overflows")
        return cls(n=n, h=hh, u=uu, v=vv, J=jj, offset=off, name=name,
                   labels=check_labels(labels, n))  # fmt: skip

    @classmethod
    def from_dicts(
        cls,
        h: Mapping[Hashable, float],
        J: Mapping[tuple[Hashable, Hashable], float],
        offset: float = 0.0,
        *,
        name: str = "ising",
    ) -> Ising:
        """From dimod-style ``h = {label: bias}`` and ``J = {(a, b): bias}``.

        Spins are indexed in order of first appearance (``h`` first, then ``J``), as dimod
        orders a model's variables.

        Returns
        -------
        Ising

        Examples
        --------
        >>> m = Ising.from_dicts({"a": 1.0}, {("a", "b"): -1.0})
        >>> m.labels, m.energy([-1, -1])
        (('a', 'b'), -2.0)
        """
        index: dict[Hashable, int] = {}
        for label in h:
            index.setdefault(label, len(index))
        pairs = list(J.items())
        for key, _ in pairs:
            if not isinstance(key, tuple) or len(key) != 2:
                raise InputError(f"J keys must be pairs (a, b), got {key!r}")
            for label in key:
                index.setdefault(label, len(index))
        if not index:
            raise InputError("an Ising model needs at least one spin")
        hv = np.zeros(len(index))
        for label, bias in h.items():
            hv[index[label]] += _real(bias, f"h[{label!r}]")
        u = [index[a] for (a, _), _ in pairs]
        v = [index[b] for (_, b), _ in pairs]
        w = [_real(bias, f"J[{key!r}]") for key, bias in pairs]
        return cls.from_arrays(len(index), h=hv, u=u, v=v, J=w, offset=offset, name=name,
                               labels=list(index))  # fmt: skip

    @property
    def terms(self) -> int:
        """Nonzero fields plus couplings."""
        return int(np.count_nonzero(self.h)) + int(self.J.size)

    def energy(self, s: Any) -> float:
        """``E(s)`` of one +-1 vector.

        Returns
        -------
        float
        """
        x = check_spins(np.asarray(s), self.n).astype(np.float64)
        return float(self.offset + self.h @ x + np.sum(self.J * x[self.u] * x[self.v]))

    def energies(self, S: Any) -> NDArray[np.float64]:
        """``E`` of each row of an ``(N, n)`` +-1 array.

        Returns
        -------
        ndarray of float64, shape (N,)
        """
        X = np.asarray(S, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n:
            raise InputError(f"assignments must have shape (N, {self.n}), got {X.shape}")
        out: NDArray[np.float64] = self.offset + X @ self.h + (X[:, self.u] * X[:, self.v]) @ self.J
        return out

    def evaluate(self, s: NDArray[Any]) -> float:
        """The energy (the value of this minimisation problem)."""
        return self.energy(s)

    def ising(self) -> Ising:
        """Itself."""
        return self

    def answer(self, s: NDArray[Any]) -> dict[Hashable, Any]:
        """``{label: +1 or -1}``."""
        spins = check_spins(s, self.n)
        labels = self.labels if self.labels is not None else range(self.n)
        return {k: int(x) for k, x in zip(labels, spins, strict=True)}

    def details(self, s: NDArray[Any]) -> dict[str, Any]:
        """The energy."""
        return {"energy": self.energy(s)}

    def to_qubo(self, sense: Sense = "min") -> QUBO:
        """The same model over ``x = (1 + s) / 2``: a QUBO whose value equals ``E`` (``sense
        = "min"``) or ``-E`` (``"max"``) at every assignment.

        ``h s_i = 2 h x_i - h``; ``J s_u s_v = J (4 x_u x_v - 2 x_u - 2 x_v + 1)``.

        Returns
        -------
        QUBO
        """
        from derand.csp.qubo import QUBO

        sign = 1.0 if sense == "min" else -1.0
        c = 2.0 * self.h - 2.0 * (
            np.bincount(self.u, self.J, self.n) + np.bincount(self.v, self.J, self.n)
        )
        offset = self.offset - float(np.sum(self.h)) + float(np.sum(self.J))
        return QUBO.from_arrays(
            self.n, c=sign * c, u=self.u, v=self.v, q=sign * 4.0 * self.J,
            offset=sign * offset, sense=sense, name=self.name, labels=self.labels,
        )  # fmt: skip

    def to_dimod(self) -> Any:
        """A ``dimod.BinaryQuadraticModel`` (vartype ``SPIN``) with the same energies and
        labels; needs the optional ``dimod`` package.

        Returns
        -------
        dimod.BinaryQuadraticModel
        """
        try:
            dimod = importlib.import_module("dimod")
        except ImportError:
            raise InputError("to_dimod needs the dimod package (pip install dimod)") from None
        labels = list(self.labels) if self.labels is not None else list(range(self.n))
        bqm = dimod.BinaryQuadraticModel(dimod.SPIN)
        bqm.add_variables_from((labels[i], float(b)) for i, b in enumerate(self.h))
        bqm.add_quadratic_from(
            (labels[a], labels[b], float(c))
            for a, b, c in zip(self.u.tolist(), self.v.tolist(), self.J.tolist(), strict=True)
        )
        bqm.offset = self.offset
        return bqm


def _real(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {value!r}") from None
    if not np.isfinite(number):
        raise InputError(f"{what} = {number} is not finite")
    return number
