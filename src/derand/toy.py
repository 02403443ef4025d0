"""The paper's toy example (§5, Figures 1 and 2), a problem of the derandomization engine.

``F(w, b) = E[(ReLU(w x + b)^3 - 1)^2] + λ w²`` with x ~ N(0, 1). With the bias frozen at
b = 0 the global minimiser w* is nonzero for small λ and jumps to 0 above a threshold; with a
trainable bias the global minimiser is w* = 0, b* = 1 for every λ > 0 — the derandomization
lemma at work (the randomness w x is removed, the deterministic part b is kept).

The expectation is computed in closed form (:func:`derand.core.gaussian.relu_moment`), and the
global minimum by a dense grid followed by local refinement from the best grid points. With the
bias trained the refinement is :func:`derand.core.derandomize` on :class:`ToyProblem` (``x = (w,
b)``: randomness ``|w|``, rounding ``b``), and the SOSP certificate at each minimiser proves the
lemma's bound ``|w*| <= rho / (2 lam + min(lambda_min, 0))`` there -- the expectation is exact,
so no Hessian-Lipschitz constant is needed (:attr:`derand.core.SOSPCertificate.bound_measured`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from derand.core import Rounded, ScipyLBFGSB, Stop, certify, derandomize
from derand.core.gaussian import norm_pdf, relu_moment
from derand.core.problem import Sense
from derand.errors import InputError

__all__ = [
    "ToyProblem",
    "ToyResult",
    "frozen_threshold",
    "relu_moment",
    "run_toy",
    "toy_gradient",
    "toy_hessian",
    "toy_objective",
]

Array = NDArray[np.float64]

W_MAX = 1.5
"""Search box 0 <= w <= W_MAX (F is even in w when b = 0). It holds the global minimiser: with
b = 0, F(w) - F(0) >= 7.5 w^6 - 1.6 w^3 > 0 for w >= 1; with b trained, F >= 0 = F(0, 1)."""
B_RANGE = (-2.0, 2.0)


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


def toy_hessian(w: float, b: float, lam: float) -> Array:
    """The exact Hessian of ``F`` in ``(w, b)`` (Stein's lemma twice, ``z = w x + b``).

    With ``f = ReLU^6 - 2 ReLU^3 + 1`` and ``M_p = E[ReLU(z)^p]``: ``F_bb = E[f2]``,
    ``F_wb = w E[f3]`` and ``F_ww = E[f2] + w^2 E[f4] + 2 lam``, where ``E[f2] = 30 M4 - 12 M1``,
    ``E[f3] = 120 M3 - 12 M0`` and ``w^2 E[f4] = 360 w^2 M2 - 12 |w| phi(b / |w|)`` (``fk`` the
    k-th derivative of f; the jump of the third derivative at 0 contributes the density of z).

    Returns
    -------
    ndarray (2, 2)

    Examples
    --------
    >>> h = toy_hessian(0.0, 1.0, 0.1)  # at the minimiser: f2(1) = 18
    >>> h.tolist()
    [[18.2, 0.0], [0.0, 18.0]]
    """
    m = [float(relu_moment(p, b, w)[()]) for p in range(5)]
    f2 = 30.0 * m[4] - 12.0 * m[1]
    f3 = 120.0 * m[3] - 12.0 * m[0]
    aw = abs(w)
    jump = 12.0 * aw * float(norm_pdf(b / aw)) if aw > 0 else 0.0
    ww = f2 + 360.0 * w * w * m[2] - jump + 2.0 * lam
    return np.array([[ww, w * f3], [w * f3, f2]])


class ToyProblem:
    """``F(w, b) = E[(ReLU(w x + b)^3 - 1)^2] + lam w^2`` as a :class:`~derand.core.Problem`.

    ``x = (w, b)``, minimised. ``randomness`` is ``|w|`` (the random part ``w x``); ``round``
    keeps the deterministic part, the bias ``b``, with its exact value
    ``F(0, b) = (ReLU(b)^3 - 1)^2``. Value, gradient and Hessian are exact.

    Parameters
    ----------
    lam : float
        The regularisation ``lam >= 0``.
    start : tuple of float
        The starting ``(w, b)``.
    """

    sense: Sense = "min"

    def __init__(self, lam: float, start: tuple[float, float] = (1.0, 0.0)) -> None:
        self.lam = float(lam)
        self.x0 = np.array(start, dtype=np.float64)

    def start(self) -> Array:
        """The starting ``(w, b)``."""
        return self.x0.copy()

    def value_and_grad(self, x: Array) -> tuple[float, Array]:
        """``F`` and its gradient."""
        dw, db = toy_gradient(x[0], x[1], self.lam)
        value = float(toy_objective(x[0], x[1], self.lam)[()])
        return value, np.array([float(dw[()]), float(db[()])])

    def randomness(self, x: Array) -> float:
        """``|w|``."""
        return abs(float(x[0]))

    def round(self, x: Array) -> Rounded:
        """The bias ``b`` and ``F(0, b)``."""
        return Rounded(float(x[1]), float(toy_objective(0.0, x[1], self.lam)[()]))

    def hessian(self, x: Array) -> Array:
        """The exact Hessian (:func:`toy_hessian`)."""
        return toy_hessian(float(x[0]), float(x[1]), self.lam)


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
    trainable_grad_norm, trainable_lambda_min : list of float
        The SOSP certificate at each trained minimiser: ``|grad F|`` and the smallest Hessian
        eigenvalue (exact Hessian).
    trainable_w_bound : list of float or None
        The lemma's bound on ``|w*|`` proved there, ``rho / (2 lam + min(lambda_min, 0))``, or
        ``None`` where its hypothesis ``2 lam + min(lambda_min, 0) > 0`` fails.
    """

    lams: list[float]
    frozen_w: list[float]
    frozen_value: list[float]
    trainable_w: list[float]
    trainable_b: list[float]
    trainable_value: list[float]
    lam_threshold: float
    seconds: float
    trainable_grad_norm: list[float]
    trainable_lambda_min: list[float]
    trainable_w_bound: list[float | None]


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
    method = ScipyLBFGSB(
        maxiter=500, bounds=[(0.0, W_MAX), B_RANGE], options={"ftol": 1e-15, "gtol": 1e-12}
    )
    for flat in order:
        i, j = np.unravel_index(flat, values.shape)
        problem = ToyProblem(lam, (float(W[i, j]), float(B[i, j])))
        res = derandomize(problem, method, stop=Stop(max_iter=1), escape=False)
        if res.expected < best[0]:
            best = (float(res.expected), float(res.x[0]), float(res.x[1]))
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
    rho: list[float] = []
    lmin: list[float] = []
    wbound: list[float | None] = []
    for idx, lam in enumerate(lam_arr):
        w, value = _minimise_frozen(float(lam), w_grid)
        fw.append(w)
        fv.append(value)
        w2, b2, value2 = _minimise_trainable(float(lam), w_grid, b_grid)
        tw.append(w2)
        tb.append(b2)
        tv.append(value2)
        cert = certify(ToyProblem(float(lam)), np.array([w2, b2]), lam=float(lam))
        rho.append(cert.grad_norm)
        lmin.append(cert.lambda_min)
        wbound.append(cert.bound_measured)
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
        trainable_grad_norm=rho,
        trainable_lambda_min=lmin,
        trainable_w_bound=wbound,
    )
