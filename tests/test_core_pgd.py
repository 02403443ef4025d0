"""Perturbed gradient descent escapes strict saddles; plain GD started at one does not move."""

from __future__ import annotations

import math

import pytest
import torch

from derand.core import PerturbedGD, perturbed_gradient_descent, sosp_certificate, uniform_ball
from derand.errors import InputError


def saddle(p: torch.Tensor) -> torch.Tensor:
    """f(x, y) = x² - y² + y⁴/4: a strict saddle at 0 (λ_min = -2), minima at y = ±√2."""
    x, y = p[0], p[1]
    return x**2 - y**2 + y**4 / 4


def test_pgd_escapes_strict_saddle_and_certificate_accepts() -> None:
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    result = perturbed_gradient_descent(
        lambda: saddle(p),
        [p],
        lr=0.1,
        steps=2000,
        grad_threshold=1e-6,
        radius=1e-3,
        t_thres=50,
        f_thres=1e-8,
        generator=torch.Generator().manual_seed(0),
    )
    assert result.stop_reason == "escape-failed"
    assert result.n_perturbations >= 2
    assert abs(abs(float(p[1].detach())) - math.sqrt(2)) < 1e-5
    assert result.value == pytest.approx(-1.0, abs=1e-9)
    cert = sosp_certificate(lambda: saddle(p), [p], K=6.0)
    assert cert.grad_norm < 1e-5
    assert cert.lambda_min == pytest.approx(2.0, abs=1e-4)
    assert cert.is_sosp


def test_plain_gd_at_saddle_does_not_move() -> None:
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    result = perturbed_gradient_descent(lambda: saddle(p), [p], lr=0.1, steps=500, radius=0.0)
    assert result.n_perturbations == 0
    assert torch.equal(p.detach(), torch.zeros(2, dtype=torch.float64))
    cert = sosp_certificate(lambda: saddle(p), [p], K=6.0)
    assert cert.grad_norm == 0.0
    assert cert.lambda_min == pytest.approx(-2.0)
    assert cert.is_sosp is False


def test_pgd_is_reproducible_with_a_seed() -> None:
    finals = []
    for _ in range(2):
        p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        perturbed_gradient_descent(
            lambda p=p: saddle(p),
            [p],
            lr=0.1,
            steps=300,
            grad_threshold=1e-6,
            radius=1e-3,
            generator=torch.Generator().manual_seed(7),
        )
        finals.append(p.detach().clone())
    assert torch.equal(finals[0], finals[1])


def test_uniform_ball_radius_and_shapes() -> None:
    gen = torch.Generator().manual_seed(1)
    norms = []
    for _ in range(2000):
        parts = uniform_ball([torch.Size([2, 3]), torch.Size([4])], 0.5, generator=gen)
        assert [tuple(t.shape) for t in parts] == [(2, 3), (4,)]
        norms.append(float(torch.cat([t.reshape(-1) for t in parts]).norm()))
    assert max(norms) <= 0.5
    # Uniform in a 10-ball: P(|xi| <= r/2) = 2^-10.
    assert sum(n <= 0.25 for n in norms) <= 10
    # E|xi| = r * D / (D + 1).
    assert sum(norms) / len(norms) == pytest.approx(0.5 * 10 / 11, rel=0.02)


def test_optimizer_state_dict_round_trip() -> None:
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = PerturbedGD([p], lr=0.1, grad_threshold=1.0, radius=0.1, t_thres=3)
    for _ in range(5):
        opt.zero_grad()
        saddle(p).backward()
        opt.step()
    state = opt.state_dict()
    q = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    other = PerturbedGD([q], lr=0.1, grad_threshold=1.0, radius=0.1, t_thres=3)
    other.load_state_dict(state)
    assert (other.t, other.t_noise, other.n_perturbations) == (
        opt.t,
        opt.t_noise,
        opt.n_perturbations,
    )
    assert opt.n_perturbations == 2  # at t = 0 (zero gradient) and t = 4 (t_thres = 3)


def test_per_group_learning_rates() -> None:
    a = torch.ones(1, dtype=torch.float64, requires_grad=True)
    b = torch.ones(1, dtype=torch.float64, requires_grad=True)
    opt = PerturbedGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.01}], lr=1.0, radius=0)
    opt.zero_grad()
    (a.sum() + b.sum()).backward()
    opt.step()
    assert float(a.detach()) == pytest.approx(0.9)
    assert float(b.detach()) == pytest.approx(0.99)


@pytest.mark.parametrize("kwargs", [{"lr": 0.0}, {"lr": -1.0}, {"lr": 0.1, "radius": -1.0}])
def test_bad_parameters(kwargs: dict[str, float]) -> None:
    p = torch.zeros(1, requires_grad=True)
    with pytest.raises(InputError):
        PerturbedGD([p], **kwargs)
