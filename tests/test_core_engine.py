"""The derandomization engine: methods, the driver, the numpy certificate, the rounding layer and
the generic SDP, each against an independent route (finite differences, dense eigh, brute force,
Monte Carlo, cvxpy)."""

from __future__ import annotations

import itertools
import math
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from derand import sdp
from derand.core import (
    LBFGS,
    STATUSES,
    GradientSteps,
    Iterate,
    MonotoneLBFGS,
    Perturbed,
    Rounded,
    ScipyLBFGSB,
    Stop,
    certify,
    derandomize,
)
from derand.errors import InputError
from derand.rounding import (
    HyperplaneRounding,
    QuadraticObjective,
    best_of_random,
    derandomized_rounding,
    gw_expectation,
    threshold_form,
)

Array = np.ndarray


class Quadratic:
    """``f(x) = x^T A x / 2 - b^T x`` (minimised), randomness ``|x_0|``."""

    sense = "min"

    def __init__(self, A: Array, b: Array, x0: Array) -> None:
        self.A, self.b, self.x0 = A, b, x0

    def start(self) -> Array:
        return self.x0.copy()

    def value_and_grad(self, x: Array) -> tuple[float, Array]:
        return float(0.5 * x @ self.A @ x - self.b @ x), self.A @ x - self.b

    def randomness(self, x: Array) -> float:
        return abs(float(x[0]))

    def round(self, x: Array) -> Rounded:
        return Rounded(x.copy(), self.value_and_grad(x)[0])

    def hvp(self, x: Array, v: Array) -> Array:
        out: Array = self.A @ v
        return out


class Saddle:
    """``f(x, y) = x^2 - y^2 + y^4 / 4``: a strict saddle at 0, minima at ``(0, +-sqrt 2)``."""

    sense = "min"

    def start(self) -> Array:
        return np.array([1.0, 0.0])

    def value_and_grad(self, x: Array) -> tuple[float, Array]:
        a, y = x
        return a * a - y * y + y**4 / 4, np.array([2 * a, -2 * y + y**3])

    def randomness(self, x: Array) -> float:
        return abs(float(x[0]))

    def round(self, x: Array) -> Rounded:
        return Rounded(x.copy(), self.value_and_grad(x)[0])


def random_spd(n: int, seed: int) -> Array:
    M = np.random.default_rng(seed).standard_normal((n, n))
    return M @ M.T / n + np.eye(n)


@pytest.mark.parametrize(
    "method",
    [MonotoneLBFGS(), LBFGS(), GradientSteps(lr=0.2), ScipyLBFGSB(maxiter=5)],
    ids=["monotone-lbfgs", "lbfgs", "gradient", "scipy"],
)
def test_every_method_minimises_a_quadratic(method: object) -> None:
    A, b = random_spd(6, 0), np.arange(6.0)
    res = derandomize(Quadratic(A, b, np.ones(6)), method, stop=Stop(max_iter=400))  # type: ignore[arg-type]
    np.testing.assert_allclose(res.x, np.linalg.solve(A, b), atol=1e-5)
    assert res.status in STATUSES and res.expected <= res.expected_start


def test_the_monotone_method_never_increases_and_refuses_a_perturbation() -> None:
    A = random_spd(8, 1)
    res = derandomize(Quadratic(A, np.ones(8), np.full(8, 3.0)), MonotoneLBFGS())
    assert np.all(np.diff(res.history.expected) <= 0)
    with pytest.raises(InputError, match="promise"):
        Perturbed(MonotoneLBFGS())


def test_a_problem_that_needs_monotonicity_refuses_other_methods() -> None:
    obj = QuadraticObjective.from_arrays(3, u=[0, 1], v=[1, 2], J=[-1.0, -1.0])
    problem = HyperplaneRounding(obj, np.eye(3))
    with pytest.raises(InputError, match="monotone"):
        derandomize(problem, LBFGS())


def test_perturbation_around_lbfgs_escapes_a_strict_saddle() -> None:
    no_tol = Stop(max_iter=200, randomness_tol=0.0)
    stuck = derandomize(Saddle(), LBFGS(), stop=no_tol, escape=False)
    assert abs(stuck.x[1]) < 1e-12 and stuck.expected == pytest.approx(0.0, abs=1e-10)
    free = derandomize(
        Saddle(),
        Perturbed(LBFGS(), radius=0.1, threshold=1e-4, seed=3),
        stop=no_tol,
        escape=False,
    )
    assert free.status == "stalled"  # the last jump did not escape: an approximate SOSP
    assert free.expected == pytest.approx(-1.0, abs=1e-6)
    assert abs(abs(free.x[1]) - math.sqrt(2.0)) < 1e-4


def test_the_driver_escapes_a_stationary_start_along_negative_curvature() -> None:
    class AtSaddle(Saddle):
        def start(self) -> Array:
            return np.zeros(2)

        def hessian(self, x: Array) -> Array:
            return np.diag([2.0, -2.0 + 3 * x[1] ** 2])

    res = derandomize(AtSaddle(), MonotoneLBFGS(), stop=Stop(max_iter=100, randomness_tol=0.0))
    assert res.expected == pytest.approx(-1.0, abs=1e-8)


def test_statuses_callback_and_interrupt() -> None:
    problem = Quadratic(random_spd(4, 2), np.ones(4), np.full(4, 2.0))
    assert derandomize(problem, GradientSteps(lr=1e-3), stop=Stop(max_iter=3)).status == "max-iter"
    seen: list[Iterate] = []

    def stop_at_two(it: Iterate) -> None:
        seen.append(it)
        if it.iteration == 2:
            raise StopIteration

    res = derandomize(problem, GradientSteps(lr=1e-3), callback=stop_at_two)
    assert res.status == "stopped" and [it.iteration for it in seen] == [1, 2]

    def interrupt(it: Iterate) -> None:
        raise KeyboardInterrupt

    res = derandomize(problem, GradientSteps(lr=1e-3), callback=interrupt)
    assert res.status == "interrupted" and res.iterations == 1
    assert len(res.history.expected) == 2  # the start and the one step


@pytest.mark.parametrize("n", [5, 90])
def test_numpy_certificate_agrees_with_a_dense_hessian(n: int) -> None:
    rng = np.random.default_rng(n)
    M = rng.standard_normal((n, n))
    A = (M + M.T) / 2  # indefinite
    problem = Quadratic(A, np.zeros(n), np.zeros(n))
    x = rng.standard_normal(n) * 1e-3
    cert = certify(problem, x, lam=1.0, K=0.0)
    evals = np.linalg.eigvalsh(A)
    assert cert.method == ("dense" if n <= 64 else "lanczos")
    assert cert.lambda_min == pytest.approx(evals[0], rel=1e-8, abs=1e-8)
    assert cert.grad_norm == pytest.approx(float(np.linalg.norm(A @ x)), rel=1e-12)
    assert cert.is_sosp is False and cert.bound is None and cert.failures


def brute_force(obj: QuadraticObjective) -> float:
    return max(obj.value(np.array(s)) for s in itertools.product((-1, 1), repeat=obj.n))


def random_objective(n: int, seed: int, *, linear: bool = True) -> QuadraticObjective:
    rng = np.random.default_rng(seed)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.5]
    u, v = (np.array(c, dtype=np.int64) for c in zip(*pairs, strict=True))
    return QuadraticObjective.from_arrays(
        n,
        constant=float(rng.normal()),
        h=rng.normal(size=n) if linear else None,
        u=u,
        v=v,
        J=rng.normal(size=u.size),
    )


def test_quadratic_objective_values_coupling_and_homogenisation() -> None:
    obj = random_objective(7, 0)
    S = np.array(list(itertools.product((-1, 1), repeat=7)), dtype=float)
    np.testing.assert_allclose(obj.values(S), [obj.value(s) for s in S], rtol=1e-12)
    hom = obj.homogenized()
    C = obj.coupling().toarray()
    for s in S[:20]:
        assert obj.constant + obj.h @ s + s @ C @ s == pytest.approx(obj.value(s), rel=1e-12)
        assert hom.value(np.append(s, 1.0)) == pytest.approx(obj.value(s), rel=1e-12)
        assert hom.value(np.append(-s, -1.0)) == pytest.approx(obj.value(s), rel=1e-12)
    twice = QuadraticObjective.from_arrays(3, u=[0, 1, 0], v=[1, 0, 2], J=[1.0, 2.0, 5.0])
    assert twice.m == 2 and twice.J.tolist() == [3.0, 5.0]
    with pytest.raises(InputError):
        QuadraticObjective.from_arrays(2, u=[0], v=[0], J=[1.0])
    with pytest.raises(InputError):
        QuadraticObjective.from_arrays(2, h=[np.nan, 0.0])


def monte_carlo(problem: HyperplaneRounding, x: Array, draws: int, seed: int) -> float:
    mu, tau = problem.split(x)
    rng = np.random.default_rng(seed)
    r = mu[:, None] + rng.standard_normal((problem.p, draws))
    z = problem.U @ r + (0.0 if tau is None else tau[:, None])
    return float(np.mean(problem.obj.values(np.where(z >= 0, 1.0, -1.0).T)))


@pytest.mark.parametrize("thresholds", [False, True])
def test_rounding_problem_against_monte_carlo_and_finite_differences(thresholds: bool) -> None:
    obj = random_objective(9, 1, linear=thresholds)
    rng = np.random.default_rng(2)
    U = rng.standard_normal((9, 4)) * (rng.uniform(0.2, 1.5, (9, 1)) if thresholds else 1.0)
    if not thresholds:
        U /= np.linalg.norm(U, axis=1, keepdims=True)
    problem = HyperplaneRounding(
        obj, U, thresholds=thresholds, t0=rng.normal(size=9) if thresholds else None
    )
    x = problem.start() + rng.normal(size=problem.start().size) * 0.6
    value, grad = problem.value_and_grad(x)
    draws = 400_000
    scale = float(np.sum(np.abs(obj.J)) + np.sum(np.abs(obj.h)))
    assert abs(value - monte_carlo(problem, x, draws, 0)) < 5 * scale / math.sqrt(draws)
    h = 1e-6
    eye = np.eye(x.size)
    fd = np.array([(problem.value(x + h * e) - problem.value(x - h * e)) / (2 * h) for e in eye])
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7)
    v = rng.normal(size=x.size)
    fd_hv = (problem.value_and_grad(x + h * v)[1] - problem.value_and_grad(x - h * v)[1]) / (2 * h)
    np.testing.assert_allclose(problem.hvp(x, v), fd_hv, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(problem.hessian(x) @ v, problem.hvp(x, v), rtol=1e-10, atol=1e-12)


def test_rounding_randomness_and_round_on_a_hand_made_case() -> None:
    obj = QuadraticObjective.from_arrays(2, u=[0], v=[1], J=[-1.0])  # f = -s0 s1: opposite signs
    problem = HyperplaneRounding(obj, np.array([[1.0, 0.0], [-1.0, 0.0]]))
    x = np.array([3.0, 4.0])
    assert problem.randomness(x) == pytest.approx(0.2)
    rounded = problem.round(x)
    assert rounded.solution.tolist() == [1, -1] and rounded.value == 1.0
    assert problem.randomness(problem.sharpen(x)) == pytest.approx(0.1)


@pytest.mark.parametrize("seed", range(4))
def test_derandomized_threshold_rounding_keeps_the_guarantee(seed: int) -> None:
    obj = random_objective(10, seed + 10)
    hom = obj.homogenized()
    res = sdp.solve_sdp(hom.coupling(), seed=seed)
    U, c = threshold_form(res.V, truth=obj.n)
    gw = gw_expectation(hom, res.V)
    best = max(
        (derandomized_rounding(obj, U, thresholds=True, t0=g * c) for g in (0.5, 1.0, 2.0)),
        key=lambda r: r.value,
    )
    assert best.guarantee_holds and best.value >= best.expected_start - 1e-9
    assert best.value == obj.value(best.solution)
    assert best.value <= brute_force(obj) + 1e-9
    # the GW expectation is the average of the threshold roundings over g ~ |N(0, 1)|
    problem = HyperplaneRounding(obj, U, thresholds=True)
    # (a vector close to the truth vector makes E a steep function of g near 0: a graded grid)
    g = np.concatenate([[0.0], np.geomspace(1e-9, 1e-2, 2000), np.linspace(1e-2, 9.0, 4000)])
    values = [problem.value(np.concatenate([np.zeros(U.shape[1]), t * c])) for t in g]
    average = float(np.trapezoid(2 * np.exp(-g * g / 2) / math.sqrt(2 * math.pi) * values, g))
    assert average == pytest.approx(gw, rel=1e-5, abs=1e-5)
    rnd = best_of_random(hom, res.V, 200, seed=seed, truth=obj.n)
    assert rnd.solution.shape == (obj.n,)
    assert rnd.best_value == pytest.approx(obj.value(rnd.solution), rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_generic_sdp_bound_is_above_brute_force_and_proven(seed: int) -> None:
    obj = random_objective(9, seed + 20)
    hom = obj.homogenized()
    C = hom.coupling()
    res = sdp.solve_sdp(C, seed=seed)
    opt = brute_force(obj)
    pb = sdp.prove_bound(C, sdp.dual_vector(C, res.V), res.lambda_max)
    assert pb.proven
    assert sdp.upper_sum(obj.constant, pb.upper_bound) >= opt
    assert obj.constant + res.upper_bound >= opt - 1e-9
    assert res.value <= res.upper_bound + 1e-9
    ok, _ = sdp.check_psd(C, sdp.dual_vector(C, res.V) - 1e-3)  # a shift that is too small
    assert not ok


@pytest.mark.skipif(
    "cvxpy" not in sys.modules and not __import__("importlib").util.find_spec("cvxpy"),
    reason="cvxpy not installed",
)
def test_generic_sdp_matches_cvxpy() -> None:
    import cvxpy as cp

    obj = random_objective(8, 5).homogenized()
    C = obj.coupling()
    X = cp.Variable((obj.n, obj.n), symmetric=True)
    problem = cp.Problem(cp.Maximize(cp.trace(C.toarray() @ X)), [X >> 0, cp.diag(X) == 1])
    problem.solve(solver=cp.SCS, eps=1e-7)
    res = sdp.solve_sdp(C, rank=obj.n, tol=1e-12)
    assert res.value == pytest.approx(problem.value, rel=1e-4, abs=1e-4)
    assert res.upper_bound >= problem.value - 1e-4


def test_as_coupling_refuses_what_is_not_an_sdp_objective() -> None:
    with pytest.raises(InputError, match="symmetric"):
        sdp.as_coupling(sp.csr_matrix(np.array([[0.0, 1.0], [0.0, 0.0]])))
    with pytest.raises(InputError, match="diagonal"):
        sdp.as_coupling(sp.csr_matrix(np.eye(2)))


def test_the_engine_imports_neither_torch_nor_numba() -> None:
    import subprocess

    code = (
        "import sys, derand.core, derand.rounding, derand.sdp, derand.core.gaussian; "
        "bad = [m for m in ('torch', 'numba') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
