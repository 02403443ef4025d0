"""Compiled bivariate normal probabilities (numba), loaded on first use by
:mod:`derand.core.gaussian`.

The closed-form expectations of the hyperplane roundings (paper, Max-Cut section, and
:mod:`derand.rounding`) need ``Phi_2`` for every edge at every step of an ascent. ``Phi_2`` is
computed by Genz's method (A. Genz, "Numerical computation of rectangular bivariate and
trivariate normal and t probabilities", Statistics and Computing 14, 2004; after Drezner and
Wesolowsky 1990): Gauss-Legendre quadrature (6, 12 or 20 points by ``|rho|``) of Plackett's
integral in ``arcsin(rho)`` for ``|rho| < 0.925``, and an asymptotic expansion plus a 20-point
correction near ``|rho| = 1``. Its absolute error is about ``1e-15``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = ["bvn_cdf", "bvn_upper", "phi_cdf", "upper_orthant"]

_TWO_PI = 2.0 * math.pi
_SQRT_TWO_PI = math.sqrt(_TWO_PI)
_INV_SQRT_2PI = 1.0 / _SQRT_TWO_PI
_INV_SQRT2 = 1.0 / math.sqrt(2.0)

# Gauss-Legendre nodes on (0, 1) of [-1, 1] and weights: 6, 12 and 20 points (half of each)
_X6 = np.array([0.9324695142031522, 0.6612093864662647, 0.2386191860831970])
_W6 = np.array([0.1713244923791705, 0.3607615730481384, 0.4679139345726904])
_X12 = np.array(
    [0.9815606342467191, 0.9041172563704750, 0.7699026741943050,
     0.5873179542866171, 0.3678314989981802, 0.1252334085114692]
)  # fmt: skip
_W12 = np.array(
    [0.04717533638651177, 0.1069393259953183, 0.1600783285433464,
     0.2031674267230659, 0.2334925365383547, 0.2491470458134029]
)  # fmt: skip
_X20 = np.array(
    [0.9931285991850949, 0.9639719272779138, 0.9122344282513259, 0.8391169718222188,
     0.7463319064601508, 0.6360536807265150, 0.5108670019508271, 0.3737060887154196,
     0.2277858511416451, 0.07652652113349733]
)  # fmt: skip
_W20 = np.array(
    [0.01761400713915212, 0.04060142980038694, 0.06267204833410906, 0.08327674157670475,
     0.1019301198172404, 0.1181945319615184, 0.1316886384491766, 0.1420961093183821,
     0.1491729864726037, 0.1527533871307259]
)  # fmt: skip


@njit(cache=True, nogil=True)
def _phi(z: float) -> float:
    """Standard normal CDF."""
    return 0.5 * math.erfc(-z * _INV_SQRT2)


@njit(cache=True, nogil=True)
def _upper(h: float, k: float, r: float, x: NDArray[np.float64], w: NDArray[np.float64]) -> float:
    """``P(X > h, Y > k)`` for a standard bivariate normal of correlation ``r`` (finite h, k)."""
    if r == 0.0:
        return _phi(-h) * _phi(-k)
    hk = h * k
    ng = x.shape[0]
    bvn = 0.0
    if abs(r) < 0.925:
        hs = 0.5 * (h * h + k * k)
        asr = 0.5 * math.asin(r)
        for i in range(ng):
            sn = math.sin(asr * (1.0 - x[i]))
            t = math.exp((sn * hk - hs) / (1.0 - sn * sn))
            sn = math.sin(asr * (1.0 + x[i]))
            bvn += w[i] * (t + math.exp((sn * hk - hs) / (1.0 - sn * sn)))
        return bvn * asr / _TWO_PI + _phi(-h) * _phi(-k)
    if r < 0.0:
        k = -k
        hk = -hk
    if abs(r) < 1.0:
        a2 = (1.0 - r) * (1.0 + r)
        a = math.sqrt(a2)
        bs = (h - k) * (h - k)
        c = (4.0 - hk) / 8.0
        d = (12.0 - hk) / 80.0
        asr = -0.5 * (bs / a2 + hk)
        if asr > -100.0:
            bvn = a * math.exp(asr) * (1.0 - c * (bs - a2) * (1.0 - d * bs) / 3.0 + c * d * a2 * a2)
        if hk > -100.0:
            b = math.sqrt(bs)
            sp = _SQRT_TWO_PI * _phi(-b / a)
            bvn -= math.exp(-0.5 * hk) * sp * b * (1.0 - c * bs * (1.0 - d * bs) / 3.0)
        a *= 0.5
        tot = 0.0
        for j in range(2 * ng):
            i = j >> 1
            xs = a * (1.0 + x[i]) if j & 1 else a * (1.0 - x[i])
            xs *= xs
            asr = -0.5 * (bs / xs + hk)
            if asr > -100.0:
                sp = 1.0 + c * xs * (1.0 + 5.0 * d * xs)
                rs = math.sqrt(1.0 - xs)
                ep = math.exp(-0.5 * hk * xs / ((1.0 + rs) * (1.0 + rs))) / rs
                tot += w[i] * math.exp(asr) * (sp - ep)
        bvn = (a * tot - bvn) / _TWO_PI
    if r > 0.0:
        return bvn + _phi(-max(h, k))
    if h >= k:
        return -bvn
    if h < 0.0:
        return _phi(k) - _phi(h) - bvn
    return _phi(-h) - _phi(-k) - bvn


@njit(cache=True, nogil=True)
def _upper_any(h: float, k: float, r: float) -> float:
    """:func:`_upper` with the quadrature chosen by ``|r|`` and clipped to ``[0, 1]``."""
    ar = abs(r)
    if ar < 0.3:
        p = _upper(h, k, r, _X6, _W6)
    elif ar < 0.75:
        p = _upper(h, k, r, _X12, _W12)
    else:
        p = _upper(h, k, r, _X20, _W20)
    return min(1.0, max(0.0, p))


@njit(cache=True, nogil=True)
def _upper_vec(
    h: NDArray[np.float64], k: NDArray[np.float64], r: NDArray[np.float64]
) -> NDArray[np.float64]:
    out = np.empty(h.shape[0])
    for e in range(h.shape[0]):
        he, ke = h[e], k[e]
        if math.isinf(he) or math.isinf(ke):
            if he == math.inf or ke == math.inf:
                out[e] = 0.0
            elif he == -math.inf:
                out[e] = 1.0 if ke == -math.inf else _phi(-ke)
            else:
                out[e] = _phi(-he)
        else:
            out[e] = _upper_any(he, ke, r[e])
    return out


def bvn_upper(
    h: NDArray[np.float64], k: NDArray[np.float64], rho: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Upper orthant probabilities ``P(X > h, Y > k)``, ``(X, Y)`` standard normal with
    correlation ``rho`` (elementwise; infinite ``h`` or ``k`` allowed, ``|rho| <= 1``).

    Genz's method (Statistics and Computing 14, 2004); absolute error about ``1e-15``.

    Returns
    -------
    ndarray
        One probability per entry, in ``[0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> p = bvn_upper(np.zeros(1), np.zeros(1), np.array([0.5]))
    >>> bool(abs(p[0] - (0.25 + np.arcsin(0.5) / (2 * np.pi))) < 1e-15)
    True
    """
    hh, kk, rr = np.broadcast_arrays(
        np.asarray(h, np.float64), np.asarray(k, np.float64), np.asarray(rho, np.float64)
    )
    shape = hh.shape
    out = _upper_vec(
        np.ascontiguousarray(hh).ravel(),
        np.ascontiguousarray(kk).ravel(),
        np.clip(np.ascontiguousarray(rr).ravel(), -1.0, 1.0),
    )
    return out.reshape(shape)


def bvn_cdf(
    h: NDArray[np.float64], k: NDArray[np.float64], rho: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The bivariate normal CDF ``Phi_2(h, k; rho) = P(X <= h, Y <= k)`` (elementwise).

    Returns
    -------
    ndarray

    Examples
    --------
    >>> import numpy as np
    >>> float(bvn_cdf(np.zeros(1), np.zeros(1), np.zeros(1))[0])
    0.25
    """
    return bvn_upper(-np.asarray(h, np.float64), -np.asarray(k, np.float64), rho)


phi_cdf = _phi
"""The compiled standard normal CDF (for other compiled kernels)."""
upper_orthant = _upper_any
"""The compiled ``P(X > h, Y > k)`` with the quadrature chosen by ``|rho|`` (finite h, k)."""
