"""Descent methods as small ``(init, step)`` pieces (in the manner of optax's transformations).

Every method minimises a smooth ``f`` given as ``fun(x) -> (f(x), grad f(x))``;
:func:`derand.core.derandomize` hands it ``-F`` for a maximised objective. ``init(fun, x)``
evaluates the start and returns a :class:`State`; ``step(fun, state)`` returns the next one.
A step that finds no better point returns the state with ``stalled = True``.

- :class:`MonotoneLBFGS`: L-BFGS with a backtracking line search that accepts only
  decreases; when none is found it tries the problem's ``sharpen`` move (less randomness) and
  accepts it only if ``f`` does not grow. ``f`` never increases, which is what Max-Cut's
  guarantee (final cut >= the Goemans-Williamson expectation) rests on; it therefore refuses
  to be wrapped by :class:`Perturbed`.
- :class:`LBFGS`: the same steps without that promise (it may be perturbed).
- :class:`GradientSteps`: ``x <- x - lr grad f(x)``.
- :class:`ScipyLBFGSB`: one step is one call of scipy's L-BFGS-B of ``maxiter`` iterations.
- :class:`Perturbed`: Jin, Ge, Netrapalli, Kakade & Jordan (ICML 2017) around *any* inner
  method -- when the gradient is small and no perturbation happened in the last ``t_thres``
  steps, jump to a point drawn uniformly from a ball of radius ``radius`` and restart the
  inner method there. "Any method that reaches an SOSP" is what the lemma needs (paper §3).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from derand.errors import InputError

__all__ = [
    "LBFGS",
    "GradientSteps",
    "Method",
    "MonotoneLBFGS",
    "Perturbed",
    "ScipyLBFGSB",
    "State",
    "uniform_ball_point",
]

Array = NDArray[np.float64]
Fun = Callable[[Array], tuple[float, Array]]


@dataclass
class State:
    """Where a method is.

    Attributes
    ----------
    x : ndarray
        The current point.
    value : float
        ``f(x)`` (the minimised form).
    grad : ndarray
        ``grad f(x)``.
    steps : int
        Steps taken by this method.
    evaluations : int
        Calls of ``fun``.
    stalled : bool
        The last step found no better point.
    perturbed : bool
        The last step was a perturbation (:class:`Perturbed`).
    memory : dict
        The method's own state (L-BFGS pairs, step length, ...).
    """

    x: Array
    value: float
    grad: Array
    steps: int = 0
    evaluations: int = 1
    stalled: bool = False
    perturbed: bool = False
    memory: dict[str, Any] = field(default_factory=dict)


class Method(Protocol):
    """An ``(init, step)`` pair; ``monotone`` promises that ``f`` never increases."""

    @property
    def monotone(self) -> bool:
        """Whether ``f`` never increases from one step to the next."""
        ...

    def init(self, fun: Fun, x: Array) -> State:
        """Evaluate the start."""
        ...

    def step(self, fun: Fun, state: State) -> State:
        """One step from ``state``."""
        ...


def _evaluate(fun: Fun, x: Array) -> State:
    value, grad = fun(x)
    return State(x=x, value=float(value), grad=np.asarray(grad, dtype=np.float64))


@dataclass(frozen=True)
class LBFGS:
    """L-BFGS (two-loop recursion, ``memory`` pairs) with an Armijo backtracking search.

    Each step halves a trial length (at most ``max_backtracks`` times) until
    ``f(x + t d) < f(x) + c1 t grad . d``; the next step starts from twice the accepted
    length (at most 1). The first step has length ``first_step * max(1, |x|)`` along the
    steepest descent. Pairs with ``s . y <= 1e-12`` are skipped (the curvature condition).

    Parameters
    ----------
    memory : int
        Pairs kept.
    c1 : float
        Armijo constant.
    max_backtracks : int
        Halvings tried before the step is declared stalled.
    first_step : float
        Length of the first step relative to ``max(1, |x|)``.
    """

    memory: int = 10
    c1: float = 1e-4
    max_backtracks: int = 30
    first_step: float = 0.1
    monotone: bool = field(default=False, init=False)

    def init(self, fun: Fun, x: Array) -> State:
        """Evaluate ``x``; no curvature pairs yet."""
        state = _evaluate(fun, np.array(x, dtype=np.float64))
        state.memory = {"s": [], "y": [], "t": 1.0}
        return state

    def _direction(self, state: State) -> Array:
        g = state.grad
        s_hist: list[Array] = state.memory["s"]
        y_hist: list[Array] = state.memory["y"]
        if not s_hist:
            unit = g / max(float(np.linalg.norm(g)), 1e-300)
            return -(unit * max(1.0, float(np.linalg.norm(state.x))) * self.first_step)
        q = g.copy()
        alphas = []
        for s_k, y_k in zip(reversed(s_hist), reversed(y_hist), strict=True):
            rho_k = 1.0 / float(np.dot(y_k, s_k))
            alpha = rho_k * float(np.dot(s_k, q))
            alphas.append((rho_k, alpha))
            q -= alpha * y_k
        q *= float(np.dot(s_hist[-1], y_hist[-1]) / np.dot(y_hist[-1], y_hist[-1]))
        for (s_k, y_k), (rho_k, alpha) in zip(
            zip(s_hist, y_hist, strict=True), reversed(alphas), strict=True
        ):
            q += s_k * (alpha - rho_k * float(np.dot(y_k, q)))
        return -q if np.dot(q, g) > 0 else -g

    def _fallback(self, fun: Fun, state: State) -> tuple[Array, float, Array, int] | None:
        return None

    def step(self, fun: Fun, state: State) -> State:
        """One line-searched L-BFGS step (``stalled`` when no decrease is found)."""
        x, f, g = state.x, state.value, state.grad
        direction = self._direction(state)
        slope = float(np.dot(g, direction))
        t = float(state.memory["t"])
        evaluations = 0
        accepted = False
        for _ in range(self.max_backtracks):
            trial = x + t * direction
            tf, tg = fun(trial)
            evaluations += 1
            if -tf > -f - self.c1 * t * slope:  # tf < f + c1 t slope, as its negation
                accepted = True
                break
            t *= 0.5
        if not accepted:
            fallback = self._fallback(fun, state)
            if fallback is None:
                return replace(state, stalled=True, evaluations=state.evaluations + evaluations)
            trial, tf, tg, extra = fallback
            evaluations += extra
        tg = np.asarray(tg, dtype=np.float64)
        s_vec, y_vec = trial - x, tg - g
        s_hist: list[Array] = list(state.memory["s"])
        y_hist: list[Array] = list(state.memory["y"])
        if float(np.dot(s_vec, y_vec)) > 1e-12:
            s_hist.append(s_vec)
            y_hist.append(y_vec)
            if len(s_hist) > self.memory:
                s_hist.pop(0)
                y_hist.pop(0)
        return State(
            x=trial,
            value=float(tf),
            grad=tg,
            steps=state.steps + 1,
            evaluations=state.evaluations + evaluations,
            memory={"s": s_hist, "y": y_hist, "t": min(1.0, t * 2.0) if accepted else 1.0},
        )


@dataclass(frozen=True)
class MonotoneLBFGS(LBFGS):
    """:class:`LBFGS` that never lets ``f`` increase, with the ``sharpen`` fallback.

    When the line search finds no decrease, the problem's ``sharpen(x)`` (if it has one: e.g.
    ``sigma -> sigma / 2`` for a hyperplane rounding) is tried and kept when ``f`` does not
    grow; otherwise the method has stalled. A perturbation would break the promise, so
    :class:`Perturbed` refuses this method.
    """

    monotone: bool = field(default=True, init=False)

    def _fallback(self, fun: Fun, state: State) -> tuple[Array, float, Array, int] | None:
        sharpen = getattr(fun, "sharpen", None)
        if sharpen is None:
            return None
        trial = np.asarray(sharpen(state.x), dtype=np.float64)
        tf, tg = fun(trial)
        if -tf < -state.value:  # f grew
            return None
        return trial, float(tf), np.asarray(tg, dtype=np.float64), 1


@dataclass(frozen=True)
class GradientSteps:
    """Plain gradient descent ``x <- x - lr grad f(x)`` (no promise of monotonicity).

    Parameters
    ----------
    lr : float
        Step size (> 0).
    """

    lr: float = 0.1
    monotone: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"lr must be a positive number, got {self.lr}")

    def init(self, fun: Fun, x: Array) -> State:
        """Evaluate ``x``."""
        return _evaluate(fun, np.array(x, dtype=np.float64))

    def step(self, fun: Fun, state: State) -> State:
        """One gradient step."""
        new = _evaluate(fun, state.x - self.lr * state.grad)
        new.steps, new.evaluations = state.steps + 1, state.evaluations + 1
        return new


@dataclass(frozen=True)
class ScipyLBFGSB:
    """scipy's L-BFGS-B: one step is one ``scipy.optimize.minimize`` call of ``maxiter``
    iterations (bounds allowed); ``stalled`` when it returns without moving.

    Parameters
    ----------
    maxiter : int
        Iterations per step.
    bounds : sequence of (low, high), optional
        Box constraints, as scipy takes them.
    options : dict, optional
        Further scipy options (``ftol``, ``gtol``, ``maxcor``, ...).
    """

    maxiter: int = 100
    bounds: Any = None
    options: dict[str, Any] | None = None
    monotone: bool = field(default=False, init=False)

    def init(self, fun: Fun, x: Array) -> State:
        """Evaluate ``x``."""
        return _evaluate(fun, np.array(x, dtype=np.float64))

    def step(self, fun: Fun, state: State) -> State:
        """One scipy run from ``state.x``."""
        from scipy.optimize import minimize

        options = {"maxiter": self.maxiter, **(self.options or {})}
        res = minimize(
            fun, state.x, jac=True, method="L-BFGS-B", bounds=self.bounds, options=options
        )
        x = np.asarray(res.x, dtype=np.float64)
        value, grad = fun(x)
        stalled = bool(np.array_equal(x, state.x)) or float(value) >= state.value
        if float(value) > state.value:  # scipy returned a worse point: keep ours
            return replace(state, stalled=True, evaluations=state.evaluations + res.nfev + 1)
        return State(
            x=x,
            value=float(value),
            grad=np.asarray(grad, dtype=np.float64),
            steps=state.steps + 1,
            evaluations=state.evaluations + int(res.nfev) + 1,
            stalled=stalled,
        )


def uniform_ball_point(dim: int, radius: float, rng: np.random.Generator) -> Array:
    """A point drawn uniformly from the ball of ``radius`` in ``R^dim``.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> p = uniform_ball_point(3, 0.5, np.random.default_rng(0))
    >>> bool(np.linalg.norm(p) <= 0.5)
    True
    """
    direction = rng.standard_normal(dim)
    direction /= max(float(np.linalg.norm(direction)), 1e-300)
    out: Array = direction * (radius * float(rng.random()) ** (1.0 / max(dim, 1)))
    return out


@dataclass(frozen=True)
class Perturbed:
    """Jin et al.'s perturbation around any non-monotone inner method.

    When ``|grad f| <= threshold`` and the last perturbation is more than ``t_thres`` steps
    old, the step is a jump ``x + xi``, ``xi`` uniform in the ball of ``radius``, and the inner
    method is restarted there; otherwise it is the inner method's step. With a strict saddle
    (a direction of negative curvature) the jump escapes it with high probability (Jin et al.
    2017), so the iterates reach an approximate second-order stationary point.

    Parameters
    ----------
    inner : Method
        Any method with ``monotone = False``.
    radius, threshold : float
        The ball's radius and the gradient norm below which it perturbs.
    t_thres : int
        Steps between perturbations.
    seed : int
        Seed of the perturbations.

    Raises
    ------
    InputError
        For a monotone inner method (its promise -- and an application's guarantee resting on
        it -- would not survive a perturbation).
    """

    inner: Method
    radius: float = 1e-2
    threshold: float = 1e-3
    t_thres: int = 10
    seed: int = 0
    monotone: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if getattr(self.inner, "monotone", False):
            raise InputError(
                f"{type(self.inner).__name__} promises that the objective never gets worse; "
                "a perturbation would break that promise: wrap LBFGS() or GradientSteps()"
            )
        if self.radius < 0 or self.threshold < 0 or self.t_thres < 0:
            raise InputError("radius, threshold and t_thres must be >= 0")

    def init(self, fun: Fun, x: Array) -> State:
        """The inner method's start, with the perturbation clock and generator."""
        state = self.inner.init(fun, x)
        state.memory = {
            **state.memory,
            "_rng": np.random.default_rng(self.seed),
            "_last": -(10**18),
            "_count": 0,
        }
        return state

    def step(self, fun: Fun, state: State) -> State:
        """A perturbation (``perturbed = True``) or the inner step."""
        rng: np.random.Generator = state.memory["_rng"]
        last, count = int(state.memory["_last"]), int(state.memory["_count"])
        small = float(np.linalg.norm(state.grad)) <= self.threshold
        if (small or state.stalled) and state.steps - last > self.t_thres and self.radius > 0:
            x = state.x + uniform_ball_point(state.x.size, self.radius, rng)
            new = self.inner.init(fun, x)
            new.memory = {**new.memory, "_rng": rng, "_last": state.steps, "_count": count + 1}
            new.steps, new.perturbed = state.steps + 1, True
            new.evaluations = state.evaluations + new.evaluations
            return new
        inner_memory = {k: v for k, v in state.memory.items() if not k.startswith("_")}
        new = self.inner.step(fun, replace(state, memory=inner_memory))
        new.memory = {**new.memory, "_rng": rng, "_last": last, "_count": count}
        new.perturbed = False
        return new
