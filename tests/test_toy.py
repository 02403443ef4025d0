"""The toy example (paper §5, Figures 1 and 2): closed form and global minimisers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from derand.errors import InputError
from derand.figures.toy import plot_toy
from derand.toy import (
    ToyProblem,
    frozen_threshold,
    relu_moment,
    run_toy,
    toy_gradient,
    toy_objective,
)


@pytest.mark.parametrize("p", [0, 1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize(("mu", "s"), [(0.0, 1.0), (0.7, 0.3), (-0.4, 1.3), (1.0, 0.0), (-2, 0.1)])
def test_relu_moment_against_adaptive_quadrature(p: int, mu: float, s: float) -> None:
    if s == 0:
        reference = max(mu, 0.0) ** p
    else:
        kink = -mu / s  # integrate the smooth part t > kink only
        reference, _ = integrate.quad(
            lambda t: (mu + s * t) ** p * math.exp(-t * t / 2) / math.sqrt(2 * math.pi),
            kink,
            np.inf,
            epsabs=1e-13,
            epsrel=1e-12,
        )
    assert float(relu_moment(p, mu, s)) == pytest.approx(reference, rel=1e-9, abs=1e-12)


def test_relu_moment_known_values() -> None:
    assert float(relu_moment(6, 0.0, 1.0)) == pytest.approx(7.5)
    assert float(relu_moment(3, 0.0, 1.0)) == pytest.approx(2 / math.sqrt(2 * math.pi))


def test_toy_objective_against_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(2_000_000)
    for w, b, lam in [(0.5, 0.2, 0.01), (0.3, -0.1, 0.1), (0.0, 1.0, 1.0)]:
        mc = np.mean((np.maximum(w * x + b, 0) ** 3 - 1) ** 2) + lam * w**2
        assert float(toy_objective(w, b, lam)) == pytest.approx(mc, rel=5e-3)


def test_toy_gradient_against_finite_differences() -> None:
    h = 1e-6
    for w, b, lam in [(0.5, 0.2, 0.01), (-0.3, 0.6, 0.1), (0.8, -0.5, 0.0)]:
        gw, gb = toy_gradient(w, b, lam)
        fw = (toy_objective(w + h, b, lam) - toy_objective(w - h, b, lam)) / (2 * h)
        fb = (toy_objective(w, b + h, lam) - toy_objective(w, b - h, lam)) / (2 * h)
        assert float(gw) == pytest.approx(float(fw), rel=1e-6, abs=1e-8)
        assert float(gb) == pytest.approx(float(fb), rel=1e-6, abs=1e-8)


def _polynomial_minimiser(lam: float) -> float:
    """With b = 0: F = 7.5 w^6 - 2 c w^3 + λ w² + 1; stationary points from np.roots."""
    c = 2 / math.sqrt(2 * math.pi)
    roots = np.roots([45.0, 0.0, 0.0, -6 * c, 2 * lam])
    candidates = [0.0, *[r.real for r in roots if abs(r.imag) < 1e-12 and r.real > 0]]
    values = [7.5 * t**6 - 2 * c * t**3 + lam * t**2 + 1 for t in candidates]
    return float(candidates[int(np.argmin(values))])


def test_frozen_bias_minimiser_matches_polynomial_roots() -> None:
    lams = np.geomspace(1e-4, 10, 25)
    result = run_toy(lams)
    for lam, w in zip(lams, result.frozen_w, strict=True):
        assert w == pytest.approx(_polynomial_minimiser(float(lam)), abs=1e-6)


def test_frozen_bias_nonzero_below_threshold_zero_above() -> None:
    threshold = frozen_threshold()
    assert 0.3 < threshold < 0.6
    result = run_toy([1e-4, 1e-2, 0.9 * threshold, 1.1 * threshold, 1.0, 10.0])
    assert all(w > 0.3 for w in result.frozen_w[:3])
    assert result.frozen_w[3:] == [0.0, 0.0, 0.0]
    assert result.lam_threshold == pytest.approx(threshold)


def test_trainable_bias_gives_w_zero_b_one_for_every_lambda() -> None:
    result = run_toy(np.geomspace(1e-5, 10, 12))
    assert max(abs(w) for w in result.trainable_w) < 1e-8
    np.testing.assert_allclose(result.trainable_b, 1.0, atol=1e-6)
    np.testing.assert_allclose(result.trainable_value, 0.0, atol=1e-10)


@pytest.mark.parametrize("lams", [[], [0.0], [-1.0], [float("nan")], [float("inf")]])
def test_bad_lambdas(lams: list[float]) -> None:
    with pytest.raises(InputError):
        run_toy(lams)


def test_plot_toy_returns_two_figures() -> None:
    figures = plot_toy(run_toy([1e-3, 1.0]))
    assert set(figures) == {"fig1_toy_frozen_bias", "fig2_toy_trainable_bias"}


@pytest.mark.parametrize(("w", "b"), [(0.7, -0.3), (0.2, 1.1), (1.3, 0.4), (1e-3, 0.9)])
def test_toy_problem_against_finite_differences(w: float, b: float) -> None:
    problem = ToyProblem(0.05)
    x = np.array([w, b])
    _, grad = problem.value_and_grad(x)
    h = 1e-6
    fd = [
        (problem.value_and_grad(x + h * e)[0] - problem.value_and_grad(x - h * e)[0]) / (2 * h)
        for e in np.eye(2)
    ]
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    hess = problem.hessian(x)
    fd_h = np.stack(
        [(problem.value_and_grad(x + h * e)[1] - problem.value_and_grad(x - h * e)[1]) / (2 * h)
         for e in np.eye(2)]
    )  # fmt: skip
    np.testing.assert_allclose(hess, fd_h, rtol=1e-5, atol=1e-6)


def test_toy_rounding_keeps_the_bias_and_randomness_is_w() -> None:
    problem = ToyProblem(0.1)
    assert problem.randomness(np.array([-0.25, 3.0])) == 0.25
    rounded = problem.round(np.array([0.4, 1.0]))
    assert rounded.solution == 1.0 and rounded.value == 0.0  # F(0, 1) = (1 - 1)^2


def test_trained_minimisers_carry_a_certificate_that_proves_w_small() -> None:
    res = run_toy([1e-3, 0.1, 1.0], grid_size=61)
    for w, bound, lmin in zip(
        res.trainable_w, res.trainable_w_bound, res.trainable_lambda_min, strict=True
    ):
        assert lmin > 0  # a strict local minimum
        assert bound is not None and abs(w) <= bound + 1e-12
