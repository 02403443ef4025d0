"""The derandomization lemma, numerically (paper §3, Lemma 3.1).

g is a small softplus network of z = W x + b with trainable output weights θ; the expectation
over x ~ N(0, I_2) is computed by a 40 x 40 Gauss–Hermite rule, accurate to rounding for
this analytic integrand, so Stein's lemma — on which the lemma rests — holds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from derand.core import GaussianSmoothedObjective, perturbed_gradient_descent, sosp_certificate
from derand.core._torch_smoothing import gauss_hermite_nodes
from derand.errors import InputError


def g(z: torch.Tensor, theta: tuple[torch.Tensor, ...] | list[torch.Tensor]) -> torch.Tensor:
    (a,) = theta
    return (torch.nn.functional.softplus(z) @ a - 1.0) ** 2


def test_gauss_hermite_rule_integrates_moments() -> None:
    nodes, weights = gauss_hermite_nodes(2, 10)
    assert float(weights.sum()) == pytest.approx(1.0)
    x, y = nodes[:, 0], nodes[:, 1]
    assert float(weights @ (x**2 * y**4)) == pytest.approx(3.0)
    assert float(weights @ (x * y)) == pytest.approx(0.0, abs=1e-14)


def test_quadrature_matches_monte_carlo() -> None:
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(3, 2, generator=gen, dtype=torch.float64) * 0.5
    b = torch.randn(3, generator=gen, dtype=torch.float64)
    a = torch.randn(3, generator=gen, dtype=torch.float64)
    exact = GaussianSmoothedObjective(g, 0.0, estimator="quadrature", quadrature_order=40)
    mc = GaussianSmoothedObjective(g, 0.0, estimator="fresh", n_samples=400_000, generator=gen)
    v_exact = exact.value_and_grad(W, b, [a])
    v_mc = mc.value_and_grad(W, b, [a])
    assert v_mc.value == pytest.approx(v_exact.value, rel=1e-2)
    np.testing.assert_allclose(v_mc.grad_b.numpy(), v_exact.grad_b.numpy(), atol=2e-2)


def test_stein_identity_holds_under_quadrature() -> None:
    """∂F/∂W = E[∇²g] W (+ 2λW), the identity the lemma's proof uses."""
    gen = torch.Generator().manual_seed(1)
    W = torch.randn(3, 2, generator=gen, dtype=torch.float64) * 0.7
    b = torch.randn(3, generator=gen, dtype=torch.float64)
    a = torch.randn(3, generator=gen, dtype=torch.float64)
    objective = GaussianSmoothedObjective(g, 0.0, estimator="quadrature", quadrature_order=40)
    grad_W = objective.value_and_grad(W, b, [a]).grad_W
    H_bb = torch.autograd.functional.hessian(lambda bb: objective(W, bb, [a]), b)
    torch.testing.assert_close(grad_W, H_bb @ W, atol=1e-10, rtol=0)


def test_lemma_bound_holds_after_pgd() -> None:
    lam = 0.05
    objective = GaussianSmoothedObjective(g, lam, estimator="quadrature", quadrature_order=40)
    gen = torch.Generator().manual_seed(3)
    W = (0.8 * torch.randn(3, 2, generator=gen, dtype=torch.float64)).requires_grad_(True)
    b = torch.randn(3, generator=gen, dtype=torch.float64).requires_grad_(True)
    a = (0.5 * torch.randn(3, generator=gen, dtype=torch.float64)).requires_grad_(True)
    W0 = float(W.detach().norm())
    params = [W, b, a]
    result = perturbed_gradient_descent(
        lambda: objective(W, b, [a]),
        params,
        lr=0.2,
        steps=6000,
        grad_threshold=1e-9,
        radius=1e-6,
        t_thres=100,
        generator=gen,
    )
    assert result.history.value[-1] < result.history.value[0]
    cert = sosp_certificate(lambda: objective(W, b, [a]), params, lam=lam, K=10.0)
    norm_W = float(W.detach().norm())
    assert W0 > 0.5
    assert cert.grad_norm < 1e-6
    assert cert.is_sosp
    assert cert.bound is not None and cert.bound_measured is not None
    assert norm_W <= cert.bound
    assert norm_W <= cert.bound_measured
    # Close to the exact-SOSP conclusion W = 0 while b, a stay informative.
    assert norm_W < 1e-5
    assert math.isfinite(float(b.detach().norm()))


def test_fixed_estimator_reuses_its_sample() -> None:
    gen = torch.Generator().manual_seed(0)
    objective = GaussianSmoothedObjective(g, 0.1, estimator="fixed", n_samples=64, generator=gen)
    W = torch.ones(3, 2, dtype=torch.float64)
    b = torch.zeros(3, dtype=torch.float64)
    a = torch.ones(3, dtype=torch.float64)
    assert float(objective(W, b, [a])) == float(objective(W, b, [a]))
    fresh = GaussianSmoothedObjective(g, 0.1, estimator="fresh", n_samples=64, generator=gen)
    assert float(fresh(W, b, [a])) != float(fresh(W, b, [a]))


def test_exact_estimator_uses_closed_form() -> None:
    # g(z) = z², E[(w x + b)^2] = |w|^2 + b^2 for a single output.
    objective = GaussianSmoothedObjective(
        lambda z, th: z[:, 0] ** 2,
        0.5,
        estimator="exact",
        closed_form=lambda W, b, th: (W**2).sum() + (b**2).sum(),
    )
    value = objective.value_and_grad(torch.tensor([[1.0, 2.0]]), torch.tensor([3.0]))
    assert value.value == pytest.approx(5 + 9 + 0.5 * 5)
    torch.testing.assert_close(value.grad_W, torch.tensor([[3.0, 6.0]]))
    assert value.n_samples is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lam": -1.0},
        {"lam": float("nan")},
        {"lam": 0.1, "estimator": "exact"},
        {"lam": 0.1, "n_samples": 0},
    ],
)
def test_bad_objective_parameters(kwargs: dict[str, object]) -> None:
    with pytest.raises(InputError):
        GaussianSmoothedObjective(g, **kwargs)  # type: ignore[arg-type]


def test_quadrature_refuses_huge_grids() -> None:
    with pytest.raises(InputError, match="nodes"):
        gauss_hermite_nodes(10, 32)
