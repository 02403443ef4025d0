"""The derandomization loop: ascend (or descend) a smoothed objective until its randomness is 0.

Tsikouras et al. (ICLR 2026, §3): at a second-order stationary point of
``F = E_z[g(W z + b)] (+ lam |W|^2)`` the random part ``W`` vanishes and the deterministic part
``b`` is what is left. :func:`derandomize` runs any method of :mod:`derand.core.methods` on a
:class:`~derand.core.Problem`, rounds every iterate (``problem.round``), keeps the best
deterministic solution seen, records one history, and ends with one :class:`DerandResult`
whose ``status`` comes from one small vocabulary, :data:`STATUSES`.

A start that is a stationary point (``mu = 0`` of a hyperplane rounding, where ``E[cut]`` is
the Goemans-Williamson expectation and the gradient vanishes by symmetry) is left along the
direction of the Hessian's extreme eigenvalue, by a search over a ray that accepts only
improvements; a monotone method then keeps the objective from ever getting worse, so the
final expected value is at least the starting one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from derand.core.certificate import SOSPCertificate, certify
from derand.core.methods import Method, MonotoneLBFGS, State
from derand.core.problem import Problem, Rounded
from derand.errors import InputError

__all__ = ["STATUSES", "DerandResult", "History", "Iterate", "Stop", "derandomize"]

Array = NDArray[np.float64]

STATUSES = ("converged", "stalled", "max-iter", "time-limit", "interrupted", "stopped")
"""Why a run ended: the randomness reached ``randomness_tol`` with the deterministic value at
least the expected one (``converged``); the method found no better point (``stalled``); the
iteration cap or the time limit; Ctrl-C (``interrupted``); the callback raised StopIteration
(``stopped``)."""

RAY = np.geomspace(1e-2, 1e3, 26)
"""Step lengths tried along the escape direction from a stationary start."""


@dataclass(frozen=True)
class Stop:
    """When :func:`derandomize` stops.

    Attributes
    ----------
    max_iter : int
        Method steps.
    randomness_tol : float
        ``converged`` once ``randomness(x) < randomness_tol`` and the rounded value is at least
        the expected value (up to ``value_tol`` relative).
    time_limit : float, optional
        Seconds; checked after each step.
    value_tol : float
        Relative tolerance of the comparison above.
    """

    max_iter: int = 300
    randomness_tol: float = 1e-3
    time_limit: float | None = None
    value_tol: float = 1e-9


@dataclass
class History:
    """One row per recorded point: the start, the escape ray's improvements, every step."""

    iteration: list[int] = field(default_factory=list)
    expected: list[float] = field(default_factory=list)
    randomness: list[float] = field(default_factory=list)
    rounded: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[Any]]:
        """The columns as lists (for JSON)."""
        return {k: list(v) for k, v in vars(self).items()}


@dataclass(frozen=True)
class Iterate:
    """What the callback sees after each step (raise StopIteration in it to stop)."""

    iteration: int
    max_iter: int
    x: Array
    expected: float
    randomness: float
    rounded: float
    best: float
    seconds: float


@dataclass(frozen=True)
class DerandResult:
    """The outcome of :func:`derandomize`.

    Attributes
    ----------
    solution : Any
        The best deterministic solution seen (``problem.round`` of an iterate).
    value : float
        Its exact value.
    x : ndarray
        The last iterate.
    expected_start, expected : float
        The smoothed objective at the start and at ``x``.
    randomness : float
        ``problem.randomness(x)``.
    iterations : int
        Method steps.
    status : str
        One of :data:`STATUSES`.
    message : str
        The status in words.
    history : History
    certificate : SOSPCertificate or None
        At ``x``, when asked for.
    seconds : float
    guarantee_holds : bool
        ``value`` is at least ``expected_start`` (at most, when minimising), up to ``1e-9``
        relative: the deterministic solution is as good as the randomised start in
        expectation. Checked, not assumed; it is guaranteed with a monotone method once the
        randomness is 0.
    evaluations : int
        Objective evaluations.
    sense : str
    best_iteration : int
        The history row of ``solution``.
    """

    solution: Any
    value: float
    x: Array
    expected_start: float
    expected: float
    randomness: float
    iterations: int
    status: str
    message: str
    history: History
    certificate: SOSPCertificate | None
    seconds: float
    guarantee_holds: bool
    evaluations: int
    sense: str
    best_iteration: int = 0


class _Minimised:
    """``x -> (s F(x), s grad F(x))`` with ``s = -1`` for a maximised problem."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.sign = -1.0 if problem.sense == "max" else 1.0
        sharpen = getattr(problem, "sharpen", None)
        if sharpen is not None:
            self.sharpen = sharpen

    def __call__(self, x: Array) -> tuple[float, Array]:
        value, grad = self.problem.value_and_grad(x)
        return self.sign * float(value), self.sign * np.asarray(grad, dtype=np.float64)


def _better(a: float, b: float, sense: str) -> bool:
    return a > b if sense == "max" else a < b


def _escape_direction(problem: Problem, x: Array, seed: int) -> Array:
    """The Hessian's eigenvector of largest (max) / smallest (min) eigenvalue at ``x``, or a
    seeded random direction when there is no such curvature."""
    hessian = getattr(problem, "hessian", None)
    hvp = getattr(problem, "hvp", None)
    H: Array | None = None
    if hessian is not None:
        H = np.asarray(hessian(x), dtype=np.float64)
    elif hvp is not None and x.size <= 64:
        H = np.stack([np.asarray(hvp(x, e), np.float64) for e in np.eye(x.size)])
    d: Array | None = None
    if H is not None:
        vals, vecs = np.linalg.eigh(0.5 * (H + H.T))
        if problem.sense == "max" and vals[-1] > 0:
            d = vecs[:, -1]
        elif problem.sense == "min" and vals[0] < 0:
            d = vecs[:, 0]
    if d is None:
        d = np.random.default_rng(seed).standard_normal(size=x.shape)
    out: Array = d / np.linalg.norm(d)
    return out


def derandomize(
    problem: Problem,
    method: Method | None = None,
    *,
    stop: Stop | None = None,
    callback: Callable[[Iterate], None] | None = None,
    certify_at_end: bool = False,
    lam: float | None = None,
    K: float | None = None,
    seed: int = 0,
    escape: bool = True,
) -> DerandResult:
    """Run ``method`` on ``problem`` until its randomness is gone (paper §3).

    Parameters
    ----------
    problem : Problem
        See :mod:`derand.core.problem`.
    method : Method, optional
        Default :class:`~derand.core.MonotoneLBFGS`. A problem with ``requires_monotone =
        True`` (its guarantee rests on it) refuses a method that is not monotone.
    stop : Stop, optional
        Iteration cap, randomness tolerance, time limit.
    callback : callable, optional
        ``callback(Iterate)`` after each step; raising StopIteration there ends the run with
        status ``stopped``, Ctrl-C (KeyboardInterrupt) with ``interrupted`` -- both keep the
        best solution.
    certify_at_end : bool
        Compute the SOSP certificate at the last iterate (:func:`derand.core.certify`; needs
        ``hvp`` or ``hessian``), with ``lam`` and ``K`` for the lemma's bound when given.
    lam, K : float, optional
        For the certificate.
    seed : int
        Seed of the escape direction when the start has no curvature to follow.
    escape : bool
        Leave a stationary start along the Hessian's extreme eigenvector (a ray search that
        accepts only improvements) before the method's first step.

    Returns
    -------
    DerandResult

    Examples
    --------
    >>> from derand.core import Rounded
    >>> class Toy:  # F(w, b) = -(w^2 + (b - 1)^2): randomness |w| -> 0, b -> 1
    ...     sense = "max"
    ...     def start(self): return np.array([1.0, 0.0])
    ...     def value_and_grad(self, x):
    ...         return -(x[0] ** 2 + (x[1] - 1) ** 2), -2 * np.array([x[0], x[1] - 1])
    ...     def randomness(self, x): return abs(float(x[0]))
    ...     def round(self, x): return Rounded(float(x[1]), -(float(x[1]) - 1) ** 2)
    >>> r = derandomize(Toy())
    >>> r.status, round(r.solution, 6), r.guarantee_holds
    ('converged', 1.0, True)
    """
    stop = Stop() if stop is None else stop
    method_: Method = MonotoneLBFGS() if method is None else method
    if getattr(problem, "requires_monotone", False) and not method_.monotone:
        raise InputError(
            f"{type(problem).__name__}'s guarantee needs a monotone method "
            f"(MonotoneLBFGS); {type(method_).__name__} is not"
        )
    t0 = time.perf_counter()
    sense = problem.sense
    fun = _Minimised(problem)
    history = History()
    best: Rounded | None = None
    best_row = 0

    def record(x: Array, expected: float, iteration: int, at: Array | None = None) -> Rounded:
        nonlocal best, best_row
        rounded = problem.round(x if at is None else at)
        if best is None or _better(rounded.value, best.value, sense):
            best, best_row = rounded, len(history.expected)
        history.iteration.append(iteration)
        history.expected.append(float(expected))
        history.randomness.append(float(problem.randomness(x if at is None else at)))
        history.rounded.append(float(rounded.value))
        history.seconds.append(time.perf_counter() - t0)
        return rounded

    x0 = np.asarray(problem.start(), dtype=np.float64)
    state: State = method_.init(fun, x0)
    expected_start = fun.sign * state.value
    evaluations = state.evaluations
    scale = max(1.0, abs(state.value))
    if escape and float(np.linalg.norm(state.grad)) <= 1e-6 * scale and x0.size:
        d = _escape_direction(problem, x0, seed)
        record(x0, expected_start, 0, at=x0 + RAY[0] * d)
        state, extra = _ray_search(problem, fun, method_, state, d, record)
        evaluations += extra
    else:
        record(x0, expected_start, 0)
    status, message = "max-iter", f"{stop.max_iter} steps done"
    iterations = 0
    try:
        for iterations in range(1, stop.max_iter + 1):
            new = method_.step(fun, state)
            evaluations += new.evaluations - state.evaluations
            if new.stalled and not new.perturbed and np.array_equal(new.x, state.x):
                state = new
                status, message = "stalled", "no better point along any step tried"
                break
            state = new
            expected = fun.sign * state.value
            rounded = record(state.x, expected, iterations)
            if callback is not None:
                assert best is not None
                callback(
                    Iterate(
                        iteration=iterations,
                        max_iter=stop.max_iter,
                        x=state.x,
                        expected=expected,
                        randomness=history.randomness[-1],
                        rounded=rounded.value,
                        best=best.value,
                        seconds=time.perf_counter() - t0,
                    )
                )
            tol = stop.value_tol * max(1.0, abs(expected))
            if sense == "max":
                reached = rounded.value >= expected - tol
            else:
                reached = rounded.value <= expected + tol
            if history.randomness[-1] < stop.randomness_tol and reached:
                status = "converged"
                message = (
                    f"randomness {history.randomness[-1]:.3g} < {stop.randomness_tol:g} and the "
                    "deterministic value reached the expected one"
                )
                break
            if stop.time_limit is not None and time.perf_counter() - t0 > stop.time_limit:
                status, message = "time-limit", f"time limit {stop.time_limit:g} s reached"
                break
    except KeyboardInterrupt:
        status, message = "interrupted", "interrupted (Ctrl-C): the best solution so far is kept"
    except StopIteration:
        status, message = "stopped", "stopped by the callback"
    assert best is not None
    certificate = None
    if certify_at_end:
        certificate = certify(problem, state.x, lam=lam, K=K)
    ref = expected_start
    slack = 1e-9 * max(1.0, abs(ref))
    holds = best.value >= ref - slack if sense == "max" else best.value <= ref + slack
    return DerandResult(
        solution=best.solution,
        value=float(best.value),
        x=state.x,
        expected_start=float(expected_start),
        expected=float(fun.sign * state.value),
        randomness=float(problem.randomness(state.x)),
        iterations=iterations,
        status=status,
        message=message,
        history=history,
        certificate=certificate,
        seconds=time.perf_counter() - t0,
        guarantee_holds=bool(holds),
        evaluations=int(evaluations),
        sense=sense,
        best_iteration=best_row,
    )


def _ray_search(
    problem: Problem,
    fun: _Minimised,
    method: Method,
    state: State,
    d: Array,
    record: Callable[..., Rounded],
) -> tuple[State, int]:
    """Leave a stationary start along ``+d`` (then ``-d`` if that gives nothing), keeping the
    best point of the ray; only improvements are accepted. Returns the method's state at the
    new point and the evaluations used."""
    value_only = getattr(problem, "value", None)

    def f(x: Array) -> float:
        if value_only is not None:
            return fun.sign * float(value_only(x))
        return fun(x)[0]

    x0 = state.x
    evaluations = 0
    best_t, best_f = 0.0, state.value
    ray: list[tuple[Array, float]] = []
    for direction in (d, -d):
        for t in RAY:
            x = x0 + float(t) * direction
            val = f(x)
            evaluations += 1
            if val < best_f:
                best_t, best_f = float(t), val
                ray.append((x, val))
            elif best_t > 0 and val > best_f:
                break  # past the best point along the ray
        if best_t > 0:
            break
    if not ray:
        return state, evaluations
    for x, val in ray[:-1]:
        record(x, fun.sign * val, 0)
    new = method.init(fun, ray[-1][0])
    record(new.x, fun.sign * new.value, 0)
    return new, evaluations + new.evaluations
