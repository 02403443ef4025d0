"""Lanczos λ_min against dense eigvalsh; the lemma's bound and when it does not apply."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from derand.core import HessianOperator, lambda_min, lemma_bound, sosp_certificate


def small_network(seed: int) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    W1 = torch.randn(6, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    b1 = torch.randn(6, generator=gen, dtype=torch.float64, requires_grad=True)
    w2 = torch.randn(6, generator=gen, dtype=torch.float64, requires_grad=True)
    x = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    y = torch.tanh(x[:, 0])
    return [W1, b1, w2], x, y


def loss(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    W1, b1, w2 = params
    return ((torch.nn.functional.softplus(x @ W1.T + b1) @ w2 - y) ** 2).mean()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lanczos_matches_dense_eigvalsh(seed: int) -> None:
    params, x, y = small_network(seed)
    op = HessianOperator(lambda: loss(params, x, y), params)
    dense = op.dense()
    assert dense.shape == (30, 30)
    lanczos, evaluations, method = lambda_min(lambda: loss(params, x, y), params, method="lanczos")
    assert method == "lanczos" and evaluations > 0
    assert lanczos == pytest.approx(np.linalg.eigvalsh(dense)[0], abs=1e-6)


def test_hessian_operator_matches_torch_hessian() -> None:
    params, x, y = small_network(3)
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    sizes = [p.numel() for p in params]
    shapes = [p.shape for p in params]

    def f(v: torch.Tensor) -> torch.Tensor:
        parts = [c.reshape(s) for c, s in zip(v.split(sizes), shapes, strict=True)]
        return loss(parts, x, y)

    reference = torch.autograd.functional.hessian(f, flat).numpy()
    ours = HessianOperator(lambda: loss(params, x, y), params).dense()
    np.testing.assert_allclose(ours, reference, atol=1e-10)


def test_lemma_bound_applies_only_when_lam_large_enough() -> None:
    assert lemma_bound(rho=1e-4, lam=0.1, K=1.0) == pytest.approx(1e-4 / (0.2 - 1e-2))
    assert lemma_bound(rho=1e-2, lam=0.01, K=1.0) is None  # 2 lam = 0.02 <= sqrt(K rho) = 0.1


def test_certificate_says_when_bound_does_not_apply() -> None:
    p = torch.tensor([0.1, 0.0], dtype=torch.float64, requires_grad=True)
    cert = sosp_certificate(lambda: (p**2).sum(), [p], lam=1e-3, K=1.0)
    assert cert.grad_norm == pytest.approx(0.2)
    assert cert.bound is None
    assert "does not apply" in cert.note
    assert cert.lambda_min == pytest.approx(2.0)


def test_certificate_on_quadratic_is_exact() -> None:
    A = torch.tensor([[2.0, 1.0, 0.0], [1.0, -3.0, 0.5], [0.0, 0.5, 1.0]], dtype=torch.float64)
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    cert = sosp_certificate(lambda: 0.5 * p @ A @ p, [p], method="lanczos")
    assert cert.lambda_min == pytest.approx(float(np.linalg.eigvalsh(A.numpy())[0]), abs=1e-8)
    assert cert.grad_norm == 0.0
    assert not math.isnan(cert.seconds)
