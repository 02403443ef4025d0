"""The compiled expectation kernel of hyperplane rounding (numba).

For ``P(s_i = 1) = Phi(a_i)`` and correlations ``rho_e`` of the pairs ``(u_e, v_e)``,
:func:`disagreement_and_grad` returns ``sum_e w_e P(s_u != s_v)`` and its gradient in ``a`` in
one pass over the pairs, with ``P(s_u != s_v) = Phi(h) + Phi(k) - 2 Phi_2(h, k; rho)``
(``Phi_2`` by Genz's method, :mod:`derand.core._bvn`; its Gauss-Legendre terms depend on ``rho``
only and are tabulated once per ascent by :func:`quadrature_tables`, filled by
:func:`fill_tables`). Both entry points are also compiled ahead of time
(:mod:`derand.maxcut.kernels`); callers reach them through :func:`derand.rounding._tables.kernels`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from derand.core._bvn import _INV_SQRT2, _INV_SQRT_2PI, _TWO_PI, _W6, _W12, _W20, _X6, _X12, _X20
from derand.core._bvn import phi_cdf as _phi
from derand.core._bvn import upper_orthant as _upper_any
from derand.rounding._tables import TABLE_BYTES, quadrature_tables

__all__ = ["TABLE_BYTES", "disagreement_and_grad", "fill_tables", "quadrature_tables"]


@njit(cache=True, nogil=True)
def fill_tables(
    rho: NDArray[np.float64], off: NDArray[np.int64], ta: NDArray[np.float64],
    tb: NDArray[np.float64], tc: NDArray[np.float64],
) -> None:  # fmt: skip
    """Fill the Gauss-Legendre terms of :func:`derand.rounding._tables.quadrature_tables`
    (``off`` from there) in place."""
    for e in range(rho.shape[0]):
        r = rho[e]
        ar = abs(r)
        if off[e + 1] == off[e]:  # rho = 0 or |rho| >= 0.925: no table
            continue
        if ar < 0.3:
            x, w = _X6, _W6
        elif ar < 0.75:
            x, w = _X12, _W12
        else:
            x, w = _X20, _W20
        asr = 0.5 * math.asin(r)
        p = off[e]
        if off[e + 1] - p != 2 * x.shape[0]:
            raise ValueError("quadrature table offsets do not match the correlations")
        for i in range(x.shape[0]):
            for sn in (math.sin(asr * (1.0 - x[i])), math.sin(asr * (1.0 + x[i]))):
                inv = 1.0 / (1.0 - sn * sn)
                ta[p] = sn * inv
                tb[p] = inv
                tc[p] = w[i] * asr / _TWO_PI
                p += 1


@njit(cache=True, nogil=True)
def disagreement_and_grad(
    u: NDArray[np.int64], v: NDArray[np.int64], w: NDArray[np.float64],
    rho: NDArray[np.float64], a: NDArray[np.float64], grad: bool, da: NDArray[np.float64],
    off: NDArray[np.int64], ta: NDArray[np.float64], tb: NDArray[np.float64],
    tc: NDArray[np.float64],
) -> float:  # fmt: skip
    """``sum_e w_e P(s_u != s_v)`` for ``P(s_i = 1) = Phi(a_i)`` and edge correlations ``rho``
    (clipped to ``+-(1 - 1e-12)`` by the caller); with ``grad``, adds ``dE / da`` into ``da``.
    ``off, ta, tb, tc`` come from :func:`quadrature_tables` (empty: no tables).

    ``P(s_i != s_j) = Phi(h) + Phi(k) - 2 Phi_2(h, k; rho)`` and
    ``d P / dh = phi(h) (1 - 2 Phi((k - rho h) / sqrt(1 - rho^2)))``.

    Returns
    -------
    float
        The expected cut.
    """
    total = 0.0
    tables = off.shape[0] > 0
    n = a.shape[0]
    cdf = np.empty(n)
    pdf = np.empty(n)
    for i in range(n):
        cdf[i] = _phi(a[i])
        pdf[i] = _INV_SQRT_2PI * math.exp(-0.5 * a[i] * a[i])
    for e in range(u.shape[0]):
        h = a[u[e]]
        k = a[v[e]]
        r = rho[e]
        ph = cdf[u[e]]
        pk = cdf[v[e]]
        if tables and off[e + 1] > off[e]:
            hk = h * k
            hs = 0.5 * (h * h + k * k)
            q = 0.0
            for j in range(off[e], off[e + 1]):
                q += tc[j] * math.exp(hk * ta[j] - hs * tb[j])
            both = min(1.0, max(0.0, q + ph * pk))  # Phi_2(h, k) = P(X > -h, Y > -k)
        else:
            both = _upper_any(-h, -k, r)
        p = ph + pk - 2.0 * both
        total += w[e] * min(1.0, max(0.0, p))
        if grad:
            s = math.sqrt((1.0 - r) * (1.0 + r))
            da[u[e]] += w[e] * pdf[u[e]] * math.erf((r * h - k) / s * _INV_SQRT2)
            da[v[e]] += w[e] * pdf[v[e]] * math.erf((r * k - h) / s * _INV_SQRT2)
    return total
