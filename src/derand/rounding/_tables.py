"""The rounding kernel's per-edge tables and its entry points, without importing numba.

:func:`kernels` returns the compiled expectation kernel -- ahead of time when built
(:mod:`derand.maxcut.kernels`), else numba's JIT module :mod:`derand.rounding._kernel` --, so
that a run on the ahead-of-time module never imports numba (0.3-0.7 s).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["TABLE_BYTES", "kernels", "quadrature_tables"]

TABLE_BYTES = 256 * 2**20
"""Largest size of the per-edge quadrature tables; bigger graphs evaluate them on the fly."""


def kernels() -> Any:
    """The module holding ``disagreement_and_grad`` and ``fill_tables``: compiled ahead of
    time when built and current, else :mod:`derand.rounding._kernel` (numba's JIT).

    Returns
    -------
    module
    """
    from derand.maxcut.kernels import compiled

    return compiled("rounding")[0]


def quadrature_tables(
    rho: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per-edge Gauss-Legendre terms of Plackett's integral, which depend on ``rho`` only.

    For ``0 < |rho_e| < 0.925``, ``Phi_2`` terms are ``tc * exp(hk * ta - (h^2 + k^2)/2 * tb)``
    for the entries ``off[e]:off[e + 1]``; other edges have none and are evaluated directly.
    Empty tables (``off`` of length 0) when they would exceed :data:`TABLE_BYTES`.

    Returns
    -------
    (ndarray, ndarray, ndarray, ndarray)
        ``off`` (length ``m + 1``), ``ta``, ``tb``, ``tc``.
    """
    rho = np.ascontiguousarray(rho, dtype=np.float64)
    ar = np.abs(rho)
    count = np.where(ar < 0.3, 6, np.where(ar < 0.75, 12, 20))
    count[(ar >= 0.925) | (rho == 0.0)] = 0
    off = np.zeros(rho.shape[0] + 1, np.int64)
    np.cumsum(count, out=off[1:])
    total = int(off[-1])
    if 24 * total > TABLE_BYTES:
        empty = np.zeros(0)
        return np.zeros(0, np.int64), empty, empty, empty
    ta, tb, tc = np.empty(total), np.empty(total), np.empty(total)
    kernels().fill_tables(rho, off, ta, tb, tc)
    return off, ta, tb, tc
