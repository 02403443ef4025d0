"""The compiled training step of a one-hidden-layer student (numba): forward, backward,
weight decay, gradient norm and update in one pass over the batch, without PyTorch.

For the teacher–student presets (``--preset fig3``: d = 2, width 1000, 50 samples a step) a
step is 50 × 1000 activations, tens of microseconds of arithmetic; the torch step's ~30
operations cost ~5 µs each in dispatch alone. This kernel goes through the batch row by row
(a row's pre-activations, activations and slopes in work arrays that stay in the L1 cache),
accumulates the gradients as it goes, and writes the update in place into the parameters' own
memory (numpy views of the torch tensors).

Numerics: the arithmetic is in the parameters' dtype (float32 or float64), as in the torch
step. ``exp`` and ``log1p`` are evaluated by formulas the compiler vectorises (numba has no
vector math library here, and its scalar ``math.exp`` keeps a loop scalar): ``e^{-t} =
2^{-n} e^{r}`` with n = round(t / ln 2), |r| ≤ ln 2 / 2 (Cody–Waite), e^r by its Taylor
polynomial (degree 7 in float32, 13 in float64) and 2^{-n} written into the exponent bits;
``log1p(e) = 2 atanh(e / (2 + e))`` for e in [0, 1] by its odd series (7 or 15 terms). Both
are within about one rounding of the correctly rounded value (the tests check them against
numpy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = [
    "ACTIVATION_CODES",
    "activation_rows",
    "exp_neg",
    "log1p_unit",
    "train_step",
    "train_step_blas",
]

ACTIVATION_CODES = {"relu-iota": 0, "tanh": 1, "relu": 2}
"""The activations the kernel computes (the others run the torch step)."""

FASTMATH = {"reassoc", "contract", "nsz"}
"""Reassociation lets the row sums vectorise; nothing is assumed about NaN or infinities.
Every kernel also takes numpy's division semantics (``error_model="numpy"``: no zero-division
check, which would keep its loops scalar)."""


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _exp_neg64(
    t: NDArray[np.floating], out: NDArray[np.floating], work: NDArray[np.floating]
) -> None:  # pragma: no cover - compiled
    bits = work.view(np.int64)
    for j in range(t.shape[0]):
        tj = min(t[j], 700.0)
        nf = np.floor(tj * 1.4426950408889634 + 0.5)
        r = (nf * 0.693145751953125 - tj) + nf * 1.428606820309417232e-06  # n ln 2 − t
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        out[j] = p * r + 1.0
        work[j] = (1023.0 - nf) + 4503599627370496.0  # 2^52 + (1023 − n): an exact integer
    for j in range(t.shape[0]):
        bits[j] = (bits[j] - 0x4330000000000000) << 52  # its mantissa bits, as an exponent
    for j in range(t.shape[0]):
        out[j] *= work[j]


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _exp_neg32(
    t: NDArray[np.floating], out: NDArray[np.floating], work: NDArray[np.floating]
) -> None:  # pragma: no cover - compiled
    bits = work.view(np.int32)
    for j in range(t.shape[0]):
        tj = min(t[j], np.float32(85.0))
        nf = np.floor(tj * np.float32(1.4426950408889634) + np.float32(0.5))
        r = (nf * np.float32(0.693145751953125) - tj) + nf * np.float32(1.428606820309417232e-06)
        p = np.float32(1.0 / 5040.0)
        p = p * r + np.float32(1.0 / 720.0)
        p = p * r + np.float32(1.0 / 120.0)
        p = p * r + np.float32(1.0 / 24.0)
        p = p * r + np.float32(1.0 / 6.0)
        p = p * r + np.float32(0.5)
        p = p * r + np.float32(1.0)
        out[j] = p * r + np.float32(1.0)
        work[j] = (np.float32(127.0) - nf) + np.float32(8388608.0)  # 2^23 + (127 − n)
    for j in range(t.shape[0]):
        bits[j] = (bits[j] - np.int32(0x4B000000)) << np.int32(23)
    for j in range(t.shape[0]):
        out[j] *= work[j]


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def exp_neg(
    t: NDArray[np.floating], out: NDArray[np.floating], work: NDArray[np.floating]
) -> None:  # pragma: no cover - compiled
    """``out = e^{-t}`` entrywise for t ≥ 0 (t clamped to 85 in float32, 700 in float64,
    where e^{-t} is below the dtype's smallest normal number); ``work`` is scratch of the
    same shape and dtype."""
    if t.itemsize == 4:
        _exp_neg32(t, out, work)
    else:
        _exp_neg64(t, out, work)


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def log1p_unit(
    e: NDArray[np.floating], out: NDArray[np.floating]
) -> None:  # pragma: no cover - compiled
    """``out = log(1 + e)`` entrywise for e in [0, 1]: 2 atanh(u), u = e / (2 + e) ≤ 1/3,
    by the odd series Σ u^{2i+1} / (2i + 1) (remainder below 9^{-(K+1)} / (2K + 3) relative
    with K = 7 terms in float32, 15 in float64)."""
    if e.itemsize == 4:
        for j in range(e.shape[0]):
            u = e[j] / (np.float32(2.0) + e[j])
            w = u * u
            s = np.float32(1.0 / 15.0)
            s = s * w + np.float32(1.0 / 13.0)
            s = s * w + np.float32(1.0 / 11.0)
            s = s * w + np.float32(1.0 / 9.0)
            s = s * w + np.float32(1.0 / 7.0)
            s = s * w + np.float32(1.0 / 5.0)
            s = s * w + np.float32(1.0 / 3.0)
            s = s * w + np.float32(1.0)
            out[j] = np.float32(2.0) * u * s
    else:
        for j in range(e.shape[0]):
            v = e[j] / (2.0 + e[j])
            w64 = v * v
            q = 1.0 / 31.0
            q = q * w64 + 1.0 / 29.0
            q = q * w64 + 1.0 / 27.0
            q = q * w64 + 1.0 / 25.0
            q = q * w64 + 1.0 / 23.0
            q = q * w64 + 1.0 / 21.0
            q = q * w64 + 1.0 / 19.0
            q = q * w64 + 1.0 / 17.0
            q = q * w64 + 1.0 / 15.0
            q = q * w64 + 1.0 / 13.0
            q = q * w64 + 1.0 / 11.0
            q = q * w64 + 1.0 / 9.0
            q = q * w64 + 1.0 / 7.0
            q = q * w64 + 1.0 / 5.0
            q = q * w64 + 1.0 / 3.0
            q = q * w64 + 1.0
            out[j] = 2.0 * v * q


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def activation_rows(
    z: NDArray[np.floating],
    code: int,
    iota: np.floating,
    inv_iota: np.floating,
    h: NDArray[np.floating],
    slope: NDArray[np.floating],
    e: NDArray[np.floating],
    work: NDArray[np.floating],
) -> None:  # pragma: no cover - compiled
    """σ(z) into ``h`` and σ'(z) into ``slope``, entrywise over a 1-d array (``e``, ``work``:
    scratch of its shape and dtype; ``iota``, ``inv_iota``: ι and 1/ι in its dtype).

    ``relu-iota``: softplus_ι(z) = (max(v, 0) + log1p(e^{-|v|})) / ι with v = ιz, slope
    sigmoid(v); ``tanh``: sign(z) (1 − e) / (1 + e) with e = e^{-2|z|}, slope 4e / (1 + e)²;
    ``relu``: max(z, 0), slope 1 where z > 0.
    """
    n = z.shape[0]
    zero = z.dtype.type(0.0)
    one = z.dtype.type(1.0)
    if code == 0:
        for j in range(n):
            slope[j] = abs(iota * z[j])
        exp_neg(slope, e, work)
        log1p_unit(e, h)
        for j in range(n):
            v = iota * z[j]
            h[j] = (max(v, zero) + h[j]) * inv_iota
            r = one / (one + e[j])
            slope[j] = r if v >= zero else e[j] * r
    elif code == 1:
        two = z.dtype.type(2.0)
        for j in range(n):
            slope[j] = two * abs(z[j])
        exp_neg(slope, e, work)
        four = z.dtype.type(4.0)
        for j in range(n):
            r = one / (one + e[j])
            t = (one - e[j]) * r
            h[j] = t if z[j] >= zero else -t
            slope[j] = four * e[j] * r * r  # 1 − tanh², without its cancellation
    else:
        for j in range(n):
            v = z[j]
            h[j] = max(v, zero)
            slope[j] = one if v > zero else zero


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _output_row(
    a: NDArray[np.floating],
    h: NDArray[np.floating],
    c0: np.floating,
    y_i: np.floating,
    scale: np.floating,
    train_a: bool,
    ga: NDArray[np.floating],
) -> tuple[Any, float]:  # pragma: no cover - compiled
    """One row's output ``f = c0 + a · h``: returns ``g = scale (f − y_i)`` (d loss / d f)
    and ``(f − y_i)²``, and adds ``g h`` to ``ga`` when the output layer is trained."""
    f = c0
    for j in range(h.shape[0]):
        f += a[j] * h[j]
    r = f - y_i
    g = scale * r
    if train_a:
        for j in range(h.shape[0]):
            ga[j] += g * h[j]
    return g, float(r) * float(r)


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _bias_output_sq(
    gb: NDArray[np.floating],
    ga: NDArray[np.floating],
    a: NDArray[np.floating],
    gc: float,
    lam_output: float,
    train_b: bool,
    train_a: bool,
    n_c: int,
) -> float:  # pragma: no cover - compiled
    """The squared gradient norm over the trained b and (a, c), after adding the output's
    weight decay ``2 lam_output a`` to ``ga``."""
    sq = 0.0
    if train_b:
        for j in range(gb.shape[0]):
            sq += float(gb[j]) ** 2
    if train_a:
        for j in range(ga.shape[0]):
            ga[j] += 2.0 * lam_output * a[j]
            sq += float(ga[j]) ** 2
        if n_c > 0:
            sq += gc * gc
    return sq


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _update_bias_output(
    b: NDArray[np.floating],
    a: NDArray[np.floating],
    c: NDArray[np.floating],
    gb: NDArray[np.floating],
    ga: NDArray[np.floating],
    c0: np.floating,
    gc: float,
    lr_b: float,
    lr_a: float,
    train_b: bool,
    train_a: bool,
) -> None:  # pragma: no cover - compiled
    """The gradient step on the trained b and (a, c), in place."""
    if train_b:
        for j in range(b.shape[0]):
            b[j] -= lr_b * gb[j]
    if train_a:
        for j in range(a.shape[0]):
            a[j] -= lr_a * ga[j]
        if c.shape[0] > 0:
            c[0] = c0 - lr_a * gc


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def train_step(
    x: NDArray[np.floating],
    y: NDArray[np.floating],
    W: NDArray[np.floating],
    b: NDArray[np.floating],
    a: NDArray[np.floating],
    c: NDArray[np.floating],
    code: int,
    iota: np.floating,
    inv_iota: np.floating,
    lam: float,
    lam_output: float,
    lr_W: float,
    lr_b: float,
    lr_a: float,
    train_b: bool,
    train_a: bool,
    gate_open: bool,
    grad_threshold: float,
    work: NDArray[np.floating],
) -> tuple[float, float, bool]:  # pragma: no cover - compiled
    """One step of gradient descent on ``mean (f(x) − y)² + λ‖W‖² (+ lam_output ‖a‖²)`` for
    ``f(x) = a · σ(W x + b) + c``, in place, in the parameters' dtype.

    Parameters
    ----------
    x, y : arrays (n, d), (n,)
        The batch.
    W, b, a, c : arrays (h, d), (h,), (h,), (0,) or (1,)
        The parameters (``c``, the output bias, is empty when the model has none; it is
        trained with ``a``). Updated in place unless the PGD gate opens.
    code, iota, inv_iota : int and two scalars of the parameters' dtype
        The activation (:data:`ACTIVATION_CODES`), ι and 1/ι.
    lam, lam_output : float
        Weight decay on W, and on a (``lam_all_layers`` with the output trained; else 0).
    lr_W, lr_b, lr_a : float
        The rates (``train_b`` / ``train_a``: whether b and (a, c) are trained).
    gate_open, grad_threshold : bool, float
        PGD's gate: when it is open and the gradient norm over the trained parameters is at
        most ``grad_threshold``, nothing is updated (the caller perturbs instead).
    work : array (2 d + 7, h)
        Scratch of the parameters' dtype.

    Returns
    -------
    (loss, grad_norm, gated) : (float, float, bool)
        The batch loss (without the penalty), the norm of the regularised gradient over the
        trained parameters, and whether the gate opened (no update made).
    """
    n, d = x.shape
    width = W.shape[0]
    zero = W.dtype.type(0.0)
    scale = W.dtype.type(2.0 / n)
    Wt = work[:d]  # W transposed: rows contiguous over the neurons
    gWt = work[d : 2 * d]
    z, h, slope, e, scratch, gb, ga = (
        work[2 * d],
        work[2 * d + 1],
        work[2 * d + 2],
        work[2 * d + 3],
        work[2 * d + 4],
        work[2 * d + 5],
        work[2 * d + 6],
    )
    for j in range(width):
        for k in range(d):
            Wt[k, j] = W[j, k]
    gWt[:] = zero
    gb[:] = zero
    ga[:] = zero
    c0 = c[0] if c.shape[0] > 0 else zero
    gc = 0.0
    loss = 0.0
    for i in range(n):
        for j in range(width):
            z[j] = b[j]
        for k in range(d):
            xik = x[i, k]
            for j in range(width):
                z[j] += xik * Wt[k, j]
        activation_rows(z, code, iota, inv_iota, h, slope, e, scratch)
        g, sq_r = _output_row(a, h, c0, y[i], scale, train_a, ga)  # g: d loss / d f_i
        loss += sq_r
        gc += float(g)
        for j in range(width):
            slope[j] *= g * a[j]  # d loss / d z_ij
        for j in range(width):
            gb[j] += slope[j]
        for k in range(d):
            xik = x[i, k]
            for j in range(width):
                gWt[k, j] += xik * slope[j]
    # the penalties, and the gradient norm over the trained parameters
    sq = 0.0
    for k in range(d):
        for j in range(width):
            gWt[k, j] += 2.0 * lam * Wt[k, j]
            sq += float(gWt[k, j]) ** 2
    norm = np.sqrt(sq + _bias_output_sq(gb, ga, a, gc, lam_output, train_b, train_a, c.shape[0]))
    if gate_open and norm <= grad_threshold:
        return loss / n, norm, True
    for j in range(width):
        for k in range(d):
            W[j, k] = Wt[k, j] - lr_W * gWt[k, j]
    _update_bias_output(b, a, c, gb, ga, c0, gc, lr_b, lr_a, train_b, train_a)
    return loss / n, norm, False


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def train_step_blas(
    x: NDArray[np.floating],
    y: NDArray[np.floating],
    W: NDArray[np.floating],
    b: NDArray[np.floating],
    a: NDArray[np.floating],
    c: NDArray[np.floating],
    code: int,
    iota: np.floating,
    inv_iota: np.floating,
    lam: float,
    lam_output: float,
    lr_W: float,
    lr_b: float,
    lr_a: float,
    train_b: bool,
    train_a: bool,
    gate_open: bool,
    grad_threshold: float,
    work: NDArray[np.floating],
) -> tuple[float, float, bool]:  # pragma: no cover - compiled
    """:func:`train_step` for a large input dimension: the same step, with its two products
    over the input dimension (``Z = x Wᵀ`` and ``∇W = G_zᵀ x``) as BLAS matrix products
    (``np.dot``, through SciPy's BLAS) and everything elementwise — activation, slope, loss,
    the output's gradient, the penalties, the norm and the update — in compiled loops over
    the rows of the batch.

    The parameters and the result are those of :func:`train_step` (``work``: scratch of shape
    (5, h) at least, the parameters' dtype); the arithmetic is the same up to the order of
    the sums in the two products.
    """
    n = x.shape[0]
    width = W.shape[0]
    zero = W.dtype.type(0.0)
    scale = W.dtype.type(2.0 / n)
    e, scratch, gb, ga, slope = work[0], work[1], work[2], work[3], work[4]
    gb[:] = zero
    ga[:] = zero
    c0 = c[0] if c.shape[0] > 0 else zero
    gc = 0.0
    loss = 0.0
    Z = np.dot(x, W.T)  # (n, h): the pre-activations before the bias
    H = np.empty_like(Z)
    for i in range(n):
        z = Z[i]
        for j in range(width):
            z[j] += b[j]
        h = H[i]
        activation_rows(z, code, iota, inv_iota, h, slope, e, scratch)
        g, sq_r = _output_row(a, h, c0, y[i], scale, train_a, ga)  # g: d loss / d f_i
        loss += sq_r
        gc += float(g)
        for j in range(width):
            z[j] = slope[j] * (g * a[j])  # d loss / d z_ij, in place of z_ij
        for j in range(width):
            gb[j] += z[j]
    gW = np.dot(Z.T, x)  # (h, d)
    sq = 0.0
    two_lam = W.dtype.type(2.0 * lam)
    for j in range(width):
        gj = gW[j]
        wj = W[j]
        for k in range(gj.shape[0]):
            gj[k] += two_lam * wj[k]
        s = 0.0
        for k in range(gj.shape[0]):
            s += float(gj[k]) ** 2
        sq += s
    norm = np.sqrt(sq + _bias_output_sq(gb, ga, a, gc, lam_output, train_b, train_a, c.shape[0]))
    if gate_open and norm <= grad_threshold:
        return loss / n, norm, True
    rate = W.dtype.type(lr_W)
    for j in range(width):
        gj = gW[j]
        wj = W[j]
        for k in range(gj.shape[0]):
            wj[k] -= rate * gj[k]
    _update_bias_output(b, a, c, gb, ga, c0, gc, lr_b, lr_a, train_b, train_a)
    return loss / n, norm, False
