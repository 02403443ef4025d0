"""Quadratic objectives over signs: ``f(s) = c + sum_i h_i s_i + sum_e J_e s_u s_v``, ±1 ``s``.

Every problem the rounding layer serves is one of these, maximised: Max-Cut
(``c = W/2``, ``J = -w/2``, ``h = 0``), MAX-2-SAT, MAX-DICUT, QUBO and Ising models with fields.
Linear terms are the "truth" variable's couplings: :meth:`QuadraticObjective.homogenized`
adds a variable ``s_0`` (the last index) with ``f(s) = c + sum_i h_i s_0 s_i + ...``, which has
the same values on ``s_0 = 1`` and is invariant under ``s -> -s``, as an SDP relaxation needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from derand.errors import InputError

__all__ = ["QuadraticObjective"]

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class QuadraticObjective:
    """``f(s) = constant + sum_i h[i] s_i + sum_e J[e] s_{u[e]} s_{v[e]}``, maximised over ±1.

    Build it with :meth:`from_arrays` (which validates and sums repeated pairs).

    Attributes
    ----------
    n : int
        Variables.
    constant : float
    h : ndarray (n,)
        Linear terms.
    u, v : ndarray of int64 (m,)
        The pairs, ``u < v``, no repeats.
    J : ndarray (m,)
        Pair couplings.
    """

    n: int
    constant: float
    h: Array = field(repr=False)
    u: IntArray = field(repr=False)
    v: IntArray = field(repr=False)
    J: Array = field(repr=False)

    @classmethod
    def from_arrays(
        cls,
        n: int,
        *,
        constant: float = 0.0,
        h: ArrayLike | None = None,
        u: ArrayLike | None = None,
        v: ArrayLike | None = None,
        J: ArrayLike | None = None,
    ) -> QuadraticObjective:
        """Validate and normalise: pairs ordered ``u < v``, repeats summed (then sorted), zero
        couplings kept.

        Returns
        -------
        QuadraticObjective

        Raises
        ------
        InputError
            For non-finite numbers, indices outside ``[0, n)``, a pair ``(i, i)``, or arrays of
            different lengths.

        Examples
        --------
        >>> f = QuadraticObjective.from_arrays(2, constant=1.0, h=[0.5, 0], u=[1], v=[0], J=[-2.0])
        >>> f.value(np.array([1, -1]))
        3.5
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise InputError(f"n must be an integer >= 0, got {n!r}")
        n = int(n)
        hh = np.zeros(n) if h is None else np.asarray(h, dtype=np.float64).reshape(-1)
        uu = np.zeros(0, np.int64) if u is None else np.asarray(u).reshape(-1)
        vv = np.zeros(0, np.int64) if v is None else np.asarray(v).reshape(-1)
        jj = np.zeros(0) if J is None else np.asarray(J, dtype=np.float64).reshape(-1)
        if hh.shape != (n,):
            raise InputError(f"h must have {n} entries, got {hh.shape[0]}")
        if not (uu.shape == vv.shape == jj.shape):
            raise InputError(f"u, v and J differ in length: {uu.size}, {vv.size}, {jj.size}")
        if uu.size and not (
            np.issubdtype(uu.dtype, np.integer) and np.issubdtype(vv.dtype, np.integer)
        ):
            raise InputError("u and v must hold integer indices")
        uu, vv = uu.astype(np.int64), vv.astype(np.int64)
        if not (math.isfinite(constant) and np.all(np.isfinite(hh)) and np.all(np.isfinite(jj))):
            raise InputError("the objective has a non-finite number (nan or inf)")
        if uu.size and (min(uu.min(), vv.min()) < 0 or max(uu.max(), vv.max()) >= n):
            raise InputError(f"a pair index is outside [0, {n})")
        if np.any(uu == vv):
            raise InputError("a pair (i, i) is not a coupling (s_i^2 = 1): fold it into constant")
        lo, hi = np.minimum(uu, vv), np.maximum(uu, vv)
        if lo.size:
            key = lo * np.int64(n) + hi
            uniq, inverse = np.unique(key, return_inverse=True)
            if uniq.size < key.size:
                jj = np.asarray(np.bincount(inverse, jj, minlength=uniq.size), np.float64)
                lo, hi = uniq // n, uniq % n
        return cls(n=n, constant=float(constant), h=hh, u=lo, v=hi, J=jj)

    @property
    def m(self) -> int:
        """Number of pairs."""
        return int(self.u.shape[0])

    def value(self, s: ArrayLike) -> float:
        """``f(s)`` for one ±1 vector.

        Returns
        -------
        float
        """
        x = np.asarray(s, dtype=np.float64)
        if x.shape != (self.n,):
            raise InputError(f"an assignment has shape {x.shape}, expected ({self.n},)")
        return float(self.constant + self.h @ x + np.sum(self.J * x[self.u] * x[self.v]))

    def values(self, S: ArrayLike) -> Array:
        """``f`` for each row of an ``(N, n)`` ±1 matrix.

        Returns
        -------
        ndarray (N,)
        """
        X = np.asarray(S, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n:
            raise InputError(f"assignments must have shape (N, {self.n}), got {X.shape}")
        out: Array = self.constant + X @ self.h + (X[:, self.u] * X[:, self.v]) @ self.J
        return out

    def coupling(self) -> sp.csr_matrix:
        """``C`` (n x n, symmetric, zero diagonal) with ``C[u, v] = C[v, u] = J / 2``, so that
        ``sum_e J_e X_uv = <C, X>`` for symmetric ``X``: the SDP's objective matrix when
        ``h = 0`` (use :meth:`homogenized` first otherwise).

        Returns
        -------
        scipy.sparse.csr_matrix
        """
        rows = np.concatenate([self.u, self.v])
        cols = np.concatenate([self.v, self.u])
        half = 0.5 * self.J
        return sp.csr_matrix((np.concatenate([half, half]), (rows, cols)), shape=(self.n, self.n))

    def homogenized(self) -> QuadraticObjective:
        """The same objective on ``n + 1`` variables with the truth variable last and ``h = 0``:
        ``g(s, s_0) = c + sum_i h_i s_i s_0 + sum_e J_e s_u s_v``, with ``g(s, 1) = f(s)`` and
        ``g(-s, -s_0) = g(s, s_0)``.

        Returns
        -------
        QuadraticObjective
        """
        nz = np.flatnonzero(self.h)
        truth = np.full(nz.size, self.n, np.int64)
        return QuadraticObjective.from_arrays(
            self.n + 1,
            constant=self.constant,
            u=np.concatenate([self.u, nz]),
            v=np.concatenate([self.v, truth]),
            J=np.concatenate([self.J, self.h[nz]]),
        )
