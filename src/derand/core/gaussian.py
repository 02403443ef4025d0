"""Gaussian expectations in closed form: the kernels every application of the lemma uses.

The derandomization lemma (Tsikouras et al., ICLR 2026, §3) is about ``E_z[g(W z + b)]`` with
``z ~ N(0, I)``. Where this expectation has a closed form, the applications compute it exactly
with the functions here:

- hyperplane rounding (Max-Cut, 2-variable CSPs, QUBO): the normal CDF ``Phi`` and the
  bivariate normal CDF ``Phi_2`` and its derivative (:func:`bvn_cdf`, :func:`bvn_cdf_grad`);
- the toy example: moments of a rectified Gaussian (:func:`relu_moment`);
- JL: the log moment generating function of a scaled noncentral chi-square
  (:func:`noncentral_chi2_log_mgf`);
- anything else of small dimension: tensor Gauss-Hermite rules (:func:`gauss_hermite_nodes`).

``Phi_2`` is computed by Genz's method (compiled with numba, imported on first use, so that
importing this module loads neither numba nor torch).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr, owens_t

from derand.errors import InputError

__all__ = [
    "bvn_cdf",
    "bvn_cdf_grad",
    "bvn_cdf_owens_t",
    "bvn_upper",
    "gauss_hermite_nodes",
    "noncentral_chi2_log_mgf",
    "norm_cdf",
    "norm_pdf",
    "relu_moment",
]

Array = NDArray[np.float64]

INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
MAX_QUADRATURE_NODES = 2_000_000


def norm_cdf(x: ArrayLike) -> Array:
    """The standard normal CDF ``Phi`` (scipy's ``ndtr``), elementwise.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> float(norm_cdf(0.0))
    0.5
    """
    return np.asarray(ndtr(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def norm_pdf(x: ArrayLike) -> Array:
    """The standard normal density ``phi``, elementwise.

    Returns
    -------
    ndarray
    """
    a = np.asarray(x, dtype=np.float64)
    return np.asarray(INV_SQRT_2PI * np.exp(-0.5 * a * a), dtype=np.float64)


def bvn_upper(h: ArrayLike, k: ArrayLike, rho: ArrayLike) -> Array:
    """``P(X > h, Y > k)`` for a standard bivariate normal of correlation ``rho``, elementwise.

    Genz's method (Statistics and Computing 14, 2004), compiled; absolute error about
    ``1e-15``; infinite ``h`` or ``k`` allowed, ``rho`` clipped to ``[-1, 1]``.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> p = bvn_upper(0.0, 0.0, 0.5)
    >>> bool(abs(p - (0.25 + np.arcsin(0.5) / (2 * np.pi))) < 1e-15)
    True
    """
    from derand.core._bvn import bvn_upper as compiled

    return compiled(np.asarray(h, np.float64), np.asarray(k, np.float64), np.asarray(rho))


def bvn_cdf(h: ArrayLike, k: ArrayLike, rho: ArrayLike) -> Array:
    """The bivariate normal CDF ``Phi_2(h, k; rho) = P(X <= h, Y <= k)``, elementwise.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> float(bvn_cdf(0.0, 0.0, 0.0))
    0.25
    """
    return bvn_upper(-np.asarray(h, np.float64), -np.asarray(k, np.float64), rho)


def bvn_cdf_grad(h: ArrayLike, k: ArrayLike, rho: ArrayLike) -> tuple[Array, Array]:
    """``(dPhi_2/dh, dPhi_2/dk)``: ``dPhi_2/dh = phi(h) Phi((k - rho h) / sqrt(1 - rho^2))``.

    ``rho`` is clipped to ``+-(1 - 1e-12)``.

    Returns
    -------
    (ndarray, ndarray)
    """
    hh, kk, rr = np.broadcast_arrays(
        np.asarray(h, np.float64), np.asarray(k, np.float64), np.asarray(rho, np.float64)
    )
    r = np.clip(rr, -1.0 + 1e-12, 1.0 - 1e-12)
    s = np.sqrt((1.0 - r) * (1.0 + r))
    return norm_pdf(hh) * ndtr((kk - r * hh) / s), norm_pdf(kk) * ndtr((hh - r * kk) / s)


def bvn_cdf_owens_t(h: ArrayLike, k: ArrayLike, rho: ArrayLike) -> Array:
    """``Phi_2(h, k; rho)`` by Owen's T function (scipy), for nonzero ``h`` and ``k``.

    ``Phi_2 = Phi(h)/2 + Phi(k)/2 - T(h, (k - rho h)/(h s)) - T(k, (h - rho k)/(k s)) - beta``
    with ``s = sqrt(1 - rho^2)`` and ``beta = 0`` when ``h k > 0``, else ``1/2``. An
    independent route to :func:`bvn_cdf`, used for small inputs (no compilation).

    Returns
    -------
    ndarray
    """
    hh, kk, rr = np.broadcast_arrays(
        np.asarray(h, np.float64), np.asarray(k, np.float64), np.asarray(rho, np.float64)
    )
    s = np.sqrt(1.0 - rr * rr)
    t1 = owens_t(hh, (kk - rr * hh) / (hh * s))
    t2 = owens_t(kk, (hh - rr * kk) / (kk * s))
    beta = np.where(hh * kk > 0, 0.0, 0.5)
    out: Array = 0.5 * ndtr(hh) + 0.5 * ndtr(kk) - t1 - t2 - beta
    return out


def relu_moment(p: int, mu: ArrayLike, s: ArrayLike) -> Array:
    """``E[ReLU(z)^p]`` for ``z ~ N(mu, s^2)``, elementwise, in closed form (integer p >= 0).

    Uses ``E[(mu + s t)^p 1{t > a}] = sum_j C(p, j) mu^(p-j) s^j M_j(a)`` with ``a = -mu/s`` and
    the partial moments ``M_j(a) = int_a^inf t^j phi(t) dt`` (``M_j = a^(j-1) phi(a) +
    (j-1) M_(j-2)``); ``s = 0`` gives ``max(mu, 0)^p``.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> round(float(relu_moment(6, 0.0, 1.0)[()]), 12)  # E[ReLU(x)^6] = 15 / 2
    7.5
    """
    mu_b, s_b = np.broadcast_arrays(np.asarray(mu, dtype=float), np.abs(np.asarray(s, dtype=float)))
    mu_a, s_a = np.atleast_1d(mu_b), np.atleast_1d(s_b)
    out = np.maximum(mu_a, 0.0) ** p
    pos = s_a > 0
    m, sd = mu_a[pos], s_a[pos]
    a = -m / sd
    phi = np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
    moments = [ndtr(-a), phi]
    for j in range(2, p + 1):
        moments.append(a ** (j - 1) * phi + (j - 1) * moments[j - 2])
    total = np.zeros_like(m)
    for j in range(p + 1):
        total += math.comb(p, j) * m ** (p - j) * sd**j * moments[j]
    out[pos] = total
    return np.asarray(out.reshape(mu_b.shape), dtype=np.float64)


def noncentral_chi2_log_mgf(m: ArrayLike, sigma: float, k: int, t: float) -> Array:
    """``log E exp(t ||(M + sigma G / sqrt(k)) u||^2)`` for unit ``u`` with ``||M u||^2 = m``.

    ``||(M + sigma G / sqrt(k)) u||^2`` (G with i.i.d. standard normal entries) is
    ``sigma^2 / k`` times a noncentral chi-square with ``k`` degrees of freedom and
    noncentrality ``k m / sigma^2``, so with ``a = 2 t sigma^2 / k < 1``

        log E exp(t R) = t m / (1 - a) - (k / 2) log(1 - a).

    Returns
    -------
    ndarray

    Raises
    ------
    InputError
        When ``a >= 1`` (the expectation is infinite).

    Examples
    --------
    >>> float(noncentral_chi2_log_mgf(np.array([1.0]), 0.0, 5, 2.0)[0])  # sigma = 0: t m
    2.0
    """
    a = 2.0 * t * sigma * sigma / k
    if a >= 1.0:
        raise InputError(f"the moment generating function is infinite for 2 t sigma^2 / k = {a}")
    mm = np.asarray(m, dtype=np.float64)
    out: Array = t * mm / (1.0 - a) - 0.5 * k * math.log1p(-a)
    return out


def gauss_hermite_nodes(d: int, order: int) -> tuple[Array, Array]:
    """Tensor-product Gauss-Hermite rule for ``E`` over ``x ~ N(0, I_d)``.

    Returns
    -------
    (ndarray, ndarray)
        ``(nodes, weights)`` of shapes ``(order**d, d)`` and ``(order**d,)``; the weights sum
        to one and the rule is exact for polynomials of degree ``2 order - 1`` in each
        coordinate.

    Examples
    --------
    >>> x, w = gauss_hermite_nodes(1, 3)
    >>> round(float(w @ x[:, 0] ** 2), 12)
    1.0
    """
    if d < 1 or order < 1:
        raise InputError(f"quadrature needs d >= 1 and order >= 1, got d={d}, order={order}")
    if order**d > MAX_QUADRATURE_NODES:
        raise InputError(
            f"quadrature with order {order} in d = {d} needs {order**d} nodes "
            f"(limit {MAX_QUADRATURE_NODES}); use Monte Carlo or a closed form"
        )
    t, w = np.polynomial.hermite_e.hermegauss(order)
    w = w / w.sum()
    grids = np.meshgrid(*([t] * d), indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=1)
    wgrids = np.meshgrid(*([w] * d), indexing="ij")
    weights = np.prod(np.stack([g.ravel() for g in wgrids], axis=1), axis=1)
    return np.asarray(nodes, np.float64), np.asarray(weights, np.float64)
