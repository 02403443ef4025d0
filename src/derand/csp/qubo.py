"""QUBO: ``x^T Q x + c^T x + offset`` over ``x in {0, 1}^n``, maximised or minimised.

Stored as linear coefficients ``c`` (the diagonal of ``Q`` folded in, since ``x_i^2 = x_i``)
and one coefficient ``q`` per unordered pair, the coefficient of ``x_u x_v`` in the value:
``q_uv = Q_uv + Q_vu``. A dict ``{(i, j): q}`` reads as dimod's ``BinaryQuadraticModel.
from_qubo`` does: each entry adds ``q x_i x_j``, ``(i, j)`` and ``(j, i)`` are summed, and
``(i, i)`` is linear.
"""

from __future__ import annotations

import importlib
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from derand.csp.base import (
    SENSES,
    Sense,
    as_ints,
    as_reals,
    check_labels,
    check_size,
    check_spins,
    merge_pairs,
)
from derand.csp.ising import Ising
from derand.errors import InputError

__all__ = ["QUBO"]


def check_sense(sense: object) -> Sense:
    """``sense`` when it is ``"max"`` or ``"min"``, else :class:`InputError`."""
    if sense not in SENSES:
        raise InputError(f"sense must be 'max' or 'min', got {sense!r}")
    return "max" if sense == "max" else "min"


@dataclass(frozen=True)
class QUBO:
    """``value(x) = offset + sum_i c_i x_i + sum_e q_e x_u[e] x_v[e]``, ``x in {0, 1}^n``.

    Attributes
    ----------
    n : int
    c : ndarray of float64, shape (n,)
        Linear coefficients (the diagonal of ``Q``).
    u, v : ndarray of int64
        Pairs ``u < v``, each once.
    q : ndarray of float64
        Nonzero pair coefficients (``Q_uv + Q_vu``).
    offset : float
    sense : {"max", "min"}
    name : str
    labels : tuple or None
    """

    n: int
    c: NDArray[np.float64] = field(repr=False)
    u: NDArray[np.int64] = field(repr=False)
    v: NDArray[np.int64] = field(repr=False)
    q: NDArray[np.float64] = field(repr=False)
    offset: float = 0.0
    sense: Sense = "max"
    name: str = "qubo"
    labels: tuple[Hashable, ...] | None = field(default=None, repr=False)

    kind: ClassVar[str] = "qubo"

    @classmethod
    def from_arrays(
        cls,
        n: int,
        *,
        c: Any = None,
        u: Any = None,
        v: Any = None,
        q: Any = None,
        offset: float = 0.0,
        sense: Sense = "max",
        name: str = "qubo",
        labels: Sequence[Hashable] | None = None,
    ) -> QUBO:
        """Validate and build from entries ``(u[k], v[k], q[k])``, each adding
        ``q x_u x_v``; entries with ``u == v`` are linear, repeated pairs are summed.

        Returns
        -------
        QUBO

        Examples
        --------
        >>> Q = QUBO.from_arrays(2, u=[0, 0, 1], v=[0, 1, 0], q=[1.0, 2.0, 3.0])
        >>> Q.c.tolist(), Q.q.tolist(), Q.value_of_bits([1, 1])
        ([1.0, 0.0], [5.0], 6.0)
        """
        sense = check_sense(sense)
        n = check_size(n, "QUBO")
        cc = np.zeros(n) if c is None else as_reals(c, "linear coefficients c", n).copy()
        uu = as_ints([] if u is None else u, "QUBO entries")
        vv = as_ints([] if v is None else v, "QUBO entries")
        qq = as_reals([] if q is None else q, "QUBO coefficients", uu.size)
        if uu.shape != vv.shape:
            raise InputError("QUBO entries: u and v have different lengths")
        diag = uu == vv
        if diag.any():
            ids = uu[diag]
            if np.any((ids < 0) | (ids >= n)):
                raise InputError(f"QUBO entries: variable out of range, n = {n}")
            np.add.at(cc, ids, qq[diag])
            uu, vv, qq = uu[~diag], vv[~diag], qq[~diag]
        if not np.all(np.isfinite(cc)):
            raise InputError("summed linear coefficients overflow")
        uu, vv, qq = merge_pairs(n, uu, vv, qq, "QUBO")
        off = float(as_reals([offset], "offset")[0])
        return cls(n=n, c=cc, u=uu, v=vv, q=qq, offset=off, sense=sense, name=name,
                   labels=check_labels(labels, n))  # fmt: skip

    @classmethod
    def from_dict(
        cls,
        Q: Mapping[tuple[Hashable, Hashable], float],
        *,
        sense: Sense,
        offset: float = 0.0,
        name: str = "qubo",
    ) -> QUBO:
        """From ``{(a, b): q}`` (dimod's ``from_qubo`` reading); variables are indexed in order
        of first appearance and keep their labels. ``sense`` must be said: QUBO users
        maximise (OR-Library) and minimise (dimod) alike.

        Returns
        -------
        QUBO

        Examples
        --------
        >>> Q = QUBO.from_dict({("a", "a"): -1.0, ("a", "b"): 2.0}, sense="min")
        >>> Q.labels, Q.value_of_bits([1, 0])
        (('a', 'b'), -1.0)
        """
        sense = check_sense(sense)
        index: dict[Hashable, int] = {}
        items = list(Q.items())
        for key, _ in items:
            if not isinstance(key, tuple) or len(key) != 2:
                raise InputError(f"QUBO keys must be pairs (a, b), got {key!r}")
            for label in key:
                index.setdefault(label, len(index))
        if not index:
            raise InputError("the QUBO has no variables")
        u = [index[a] for (a, _), _ in items]
        v = [index[b] for (_, b), _ in items]
        q = as_reals([_number(val, key) for key, val in items], "QUBO coefficients")
        return cls.from_arrays(len(index), u=u, v=v, q=q, offset=offset, sense=sense,
                               name=name, labels=list(index))  # fmt: skip

    @classmethod
    def from_matrix(
        cls, Q: Any, c: Any = None, *, sense: Sense, offset: float = 0.0, name: str = "qubo"
    ) -> QUBO:
        """From a square matrix (dense or scipy.sparse): ``value = x^T Q x + c^T x + offset``.

        Returns
        -------
        QUBO

        Examples
        --------
        >>> import numpy as np
        >>> QUBO.from_matrix(np.array([[1.0, 2.0], [2.0, -1.0]]), sense="max").q.tolist()
        [4.0]
        """
        try:
            a = sp.coo_matrix(Q, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"cannot read Q as a matrix of real numbers ({exc})") from None
        if a.shape[0] != a.shape[1]:
            raise InputError(f"Q must be square, got {a.shape}")
        return cls.from_arrays(a.shape[0], c=c, u=a.row, v=a.col, q=a.data, offset=offset,
                               sense=sense, name=name)  # fmt: skip

    @property
    def terms(self) -> int:
        """Nonzero linear plus pair coefficients."""
        return int(np.count_nonzero(self.c)) + int(self.q.size)

    def value_of_bits(self, x: Any) -> float:
        """The value at a 0/1 vector ``x``.

        Returns
        -------
        float
        """
        b = np.asarray(x)
        if b.shape != (self.n,) or not np.all((b == 0) | (b == 1)):
            raise InputError(f"x must be a 0/1 vector of length {self.n}")
        xf = b.astype(np.float64)
        return float(self.offset + self.c @ xf + np.sum(self.q * xf[self.u] * xf[self.v]))

    def evaluate(self, s: NDArray[Any]) -> float:
        """The value at ``x = (1 + s) / 2``."""
        spins = check_spins(s, self.n)
        return self.value_of_bits((spins > 0).astype(np.int8))

    def ising(self) -> Ising:
        """The Ising form: ``E = value`` (min) or ``-value`` (max).

        ``c x_i = c/2 + (c/2) s_i``; ``q x_u x_v = (q/4) (1 + s_u + s_v + s_u s_v)``.

        Returns
        -------
        Ising
        """
        sign = 1.0 if self.sense == "min" else -1.0
        h = 0.5 * self.c + 0.25 * (
            np.bincount(self.u, self.q, self.n) + np.bincount(self.v, self.q, self.n)
        )
        offset = self.offset + 0.5 * float(np.sum(self.c)) + 0.25 * float(np.sum(self.q))
        return Ising.from_arrays(
            self.n, h=sign * h, u=self.u, v=self.v, J=sign * 0.25 * self.q,
            offset=sign * offset, name=self.name, labels=self.labels,
        )  # fmt: skip

    @classmethod
    def from_ising(cls, model: Ising, sense: Sense = "min") -> QUBO:
        """The QUBO of an Ising model (:meth:`Ising.to_qubo`).

        Returns
        -------
        QUBO
        """
        return model.to_qubo(sense)

    def answer(self, s: NDArray[Any]) -> dict[Hashable, Any]:
        """``{label: 0 or 1}``."""
        spins = check_spins(s, self.n)
        labels = self.labels if self.labels is not None else range(self.n)
        return {k: int(x > 0) for k, x in zip(labels, spins, strict=True)}

    def details(self, s: NDArray[Any]) -> dict[str, Any]:
        """The value and how many variables are 1."""
        spins = check_spins(s, self.n)
        return {"value": self.evaluate(spins), "ones": int(np.sum(spins > 0))}

    def to_dimod(self) -> Any:
        """A ``dimod.BinaryQuadraticModel`` (vartype ``BINARY``) whose energy is the value
        (``min``) or its negation (``max``); needs the optional ``dimod`` package.

        Returns
        -------
        dimod.BinaryQuadraticModel
        """
        try:
            dimod = importlib.import_module("dimod")
        except ImportError:
            raise InputError("to_dimod needs the dimod package (pip install dimod)") from None
        sign = 1.0 if self.sense == "min" else -1.0
        labels = list(self.labels) if self.labels is not None else list(range(self.n))
        bqm = dimod.BinaryQuadraticModel(dimod.BINARY)
        bqm.add_variables_from((labels[i], sign * float(b)) for i, b in enumerate(self.c))
        bqm.add_quadratic_from(
            (labels[a], labels[b], sign * float(w))
            for a, b, w in zip(self.u.tolist(), self.v.tolist(), self.q.tolist(), strict=True)
        )
        bqm.offset = sign * self.offset
        return bqm


def _number(value: Any, key: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"QUBO coefficient of {key!r} must be a number, got {value!r}") from None
