"""The paper's toy example (§5, Figures 1 and 2).

``F(w, b) = E[(ReLU(w x + b)^3 - 1)^2] + λ w²`` with x ~ N(0, 1). With the bias frozen at
b = 0 the global minimiser w* is nonzero for small λ and jumps to 0 above a threshold; with a
trainable bias the global minimiser is w* = 0, b* = 1 for every λ > 0 — the derandomization
lemma at work (the randomness w x is removed, the deterministic part b is kept).

The expectation is computed in closed form (moments of a rectified Gaussian), and the global
minimum by a dense grid followed by local refinement from the best grid points.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

from derand.errors import InputError
from derand.figures.style import ACCENT, OURS, REFERENCE, new_figure

Array = NDArray[np.float64]

W_MAX = 1.5
"""Search box 0 <= w <= W_MAX (F is even in w when b = 0). It holds the global minimiser: with
b = 0, F(w) - F(0) >= 7.5 w^6 - 1.6 w^3 > 0 for w >= 1; with b trained, F >= 0 = F(0, 1)."""
B_RANGE = (-2.0, 2.0)


def relu_moment(p: int, mu: ArrayLike, s: ArrayLike) -> Array:
    """``E[ReLU(z)^p]`` for z ~ N(mu, s²), elementwise, in closed form (p >= 0 integer).

    Uses ``E[(mu + s t)^p 1{t > a}] = Σ_j C(p, j) mu^(p-j) s^j M_j(a)`` with a = -mu/s and the
    partial moments ``M_j(a) = ∫_a^∞ t^j φ(t) dt`` (``M_j = a^(j-1) φ(a) + (j-1) M_(j-2)``).
    """
    mu_b, s_b = np.broadcast_arrays(np.asarray(mu, dtype=float), np.abs(np.asarray(s, dtype=float)))
    mu_a, s_a = np.atleast_1d(mu_b), np.atleast_1d(s_b)
    out = np.maximum(mu_a, 0.0) ** p  # the s = 0 limit
    pos = s_a > 0
    m, sd = mu_a[pos], s_a[pos]
    a = -m / sd
    phi = np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
    moments = [special.ndtr(-a), phi]
    for j in range(2, p + 1):
        moments.append(a ** (j - 1) * phi + (j - 1) * moments[j - 2])
    total = np.zeros_like(m)
    for j in range(p + 1):
        total += math.comb(p, j) * m ** (p - j) * sd**j * moments[j]
    out[pos] = total
    return np.asarray(out.reshape(mu_b.shape), dtype=np.float64)


def toy_objective(w: ArrayLike, b: ArrayLike, lam: float) -> Array:
    """``E[(ReLU(w x + b)^3 - 1)^2] + λ w²``, exact, elementwise over w and b."""
    w_a = np.asarray(w, dtype=float)
    return relu_moment(6, b, w_a) - 2.0 * relu_moment(3, b, w_a) + 1.0 + lam * w_a**2


def toy_gradient(w: ArrayLike, b: ArrayLike, lam: float) -> tuple[Array, Array]:
    """Exact ``(∂F/∂w, ∂F/∂b)``: ``∂E[f(z)]/∂mu = E[f']`` and ``∂/∂w = w E[f'']`` (Stein)."""
    w_a = np.asarray(w, dtype=float)
    dw = w_a * (30.0 * relu_moment(4, b, w_a) - 12.0 * relu_moment(1, b, w_a)) + 2.0 * lam * w_a
    db = 6.0 * relu_moment(5, b, w_a) - 6.0 * relu_moment(2, b, w_a)
    return dw, db


@dataclass(frozen=True)
class ToyResult:
    """Global minimisers of the toy objective over a grid of λ.

    Attributes
    ----------
    lams : list of float
        The λ grid.
    frozen_w, frozen_value : list of float
        w* >= 0 (F is even in w when b = 0) and F(w*, 0) with the bias frozen at 0.
    trainable_w, trainable_b, trainable_value : list of float
        (w*, b*) and F(w*, b*) with the bias trained.
    lam_threshold : float
        With b frozen, the λ above which w* = 0 (bisection to 1e-12 relative).
    seconds : float
        Wall time.
    """

    lams: list[float]
    frozen_w: list[float]
    frozen_value: list[float]
    trainable_w: list[float]
    trainable_b: list[float]
    trainable_value: list[float]
    lam_threshold: float
    seconds: float


def _minimise_frozen(lam: float, grid: Array) -> tuple[float, float]:
    values = toy_objective(grid, 0.0, lam)
    i = int(np.argmin(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    best_w, best_f = float(grid[i]), float(values[i])
    if hi > lo:
        res = optimize.minimize_scalar(
            lambda t: float(toy_objective(t, 0.0, lam)),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-12},
        )
        if res.fun < best_f:
            best_w, best_f = float(res.x), float(res.fun)
    f0 = float(toy_objective(0.0, 0.0, lam))
    if f0 <= best_f:  # the origin is a strict local minimum: prefer the exact point
        return 0.0, f0
    return best_w, best_f


def _minimise_trainable(
    lam: float, w_grid: Array, b_grid: Array, n_starts: int = 4
) -> tuple[float, float, float]:
    W, B = np.meshgrid(w_grid, b_grid, indexing="ij")
    values = toy_objective(W, B, lam)
    order = np.argsort(values, axis=None)[:n_starts]
    best = (math.inf, 0.0, 0.0)

    def fun(z: Array) -> tuple[float, Array]:
        gw, gb = toy_gradient(z[0], z[1], lam)
        return float(toy_objective(z[0], z[1], lam)), np.array([float(gw), float(gb)])

    for flat in order:
        i, j = np.unravel_index(flat, values.shape)
        res = optimize.minimize(
            fun,
            np.array([W[i, j], B[i, j]]),
            jac=True,
            method="L-BFGS-B",
            bounds=[(0.0, W_MAX), B_RANGE],
            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 500},
        )
        if res.fun < best[0]:
            best = (float(res.fun), float(res.x[0]), float(res.x[1]))
    return best[1], best[2], best[0]


def frozen_threshold(tol: float = 1e-12) -> float:
    """The λ above which the global minimiser with b = 0 is w* = 0.

    Stationary points with w > 0 solve ``45 w^4 - 6 c w + 2 λ = 0`` (c = E[ReLU(x)^3]); the
    threshold is where the best of them ties F(0) = 1. Found by bisection on λ.
    """
    c3 = 2.0 / math.sqrt(2.0 * math.pi)

    def gap(lam: float) -> float:
        roots = np.roots([45.0, 0.0, 0.0, -6.0 * c3, 2.0 * lam])
        real = roots[(np.abs(roots.imag) < 1e-12) & (roots.real > 0)].real
        if real.size == 0:
            return 1.0
        return float(np.min(toy_objective(real, 0.0, lam))) - 1.0

    lo, hi = 0.0, 1.0
    while hi - lo > tol * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if gap(mid) < 0 else (lo, mid)
    return 0.5 * (lo + hi)


def run_toy(
    lams: ArrayLike,
    *,
    grid_size: int = 301,
    callback: Callable[[int, int], None] | None = None,
) -> ToyResult:
    """Global minimisers of the toy objective for each λ, with b frozen at 0 and trainable.

    Parameters
    ----------
    lams : array_like
        Positive, finite λ values.
    grid_size : int
        Points per axis of the initial grid (refined locally afterwards).
    callback : callable, optional
        ``callback(done, total)`` after each λ (e.g. a progress bar).
    """
    lam_arr = np.asarray(lams, dtype=float).ravel()
    if lam_arr.size == 0 or not np.all(np.isfinite(lam_arr)) or np.any(lam_arr <= 0):
        raise InputError("lam values must be finite and > 0")
    if grid_size < 11:
        raise InputError(f"grid_size must be >= 11, got {grid_size}")
    start = time.perf_counter()
    w_grid = np.linspace(0.0, W_MAX, grid_size)
    b_grid = np.linspace(*B_RANGE, grid_size)
    fw, fv, tw, tb, tv = [], [], [], [], []
    for idx, lam in enumerate(lam_arr):
        w, value = _minimise_frozen(float(lam), w_grid)
        fw.append(w)
        fv.append(value)
        w2, b2, value2 = _minimise_trainable(float(lam), w_grid, b_grid)
        tw.append(w2)
        tb.append(b2)
        tv.append(value2)
        if callback is not None:
            callback(idx + 1, lam_arr.size)
    return ToyResult(
        lams=lam_arr.tolist(),
        frozen_w=fw,
        frozen_value=fv,
        trainable_w=tw,
        trainable_b=tb,
        trainable_value=tv,
        lam_threshold=frozen_threshold(),
        seconds=time.perf_counter() - start,
    )


def plot_toy(result: ToyResult) -> dict[str, object]:
    """Figures 1 (bias frozen) and 2 (bias trainable); returns ``{name: Figure}``."""
    fig1, ax = new_figure()
    lams = np.asarray(result.lams)
    below = lams <= result.lam_threshold  # w* jumps at the threshold: draw two branches
    w_star = np.asarray(result.frozen_w)
    ax.plot(lams[below], w_star[below], "o-", color=OURS, ms=3, label="global minimiser $w^*$")
    ax.plot(lams[~below], w_star[~below], "o-", color=OURS, ms=3)
    ax.axvline(
        result.lam_threshold,
        color=REFERENCE,
        ls="--",
        lw=1,
        label=f"threshold $\\lambda$ = {result.lam_threshold:.4g}",
    )
    ax.set_xscale("log")
    ax.set_xlabel("regularisation $\\lambda$")
    ax.set_ylabel("$w^*$")
    ax.set_title("Fig. 1: $E[(\\mathrm{ReLU}^3(wx) - 1)^2] + \\lambda w^2$, bias frozen at 0")
    ax.legend()

    fig2, ax2 = new_figure()
    ax2.plot(result.lams, result.trainable_w, "o-", color=OURS, ms=3, label="$w^*$")
    ax2.plot(result.lams, result.trainable_b, "s-", color=ACCENT, ms=3, label="$b^*$")
    ax2.set_xscale("log")
    ax2.set_ylim(-0.1, 1.2)
    ax2.set_xlabel("regularisation $\\lambda$")
    ax2.set_ylabel("global minimiser")
    ax2.set_title("Fig. 2: $E[(\\mathrm{ReLU}^3(wx + b) - 1)^2] + \\lambda w^2$, bias trained")
    ax2.legend()
    return {"fig1_toy_frozen_bias": fig1, "fig2_toy_trainable_bias": fig2}
