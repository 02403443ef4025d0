"""The compiled training step (derand.nn.compiled, derand.nn._kernel) against the torch step."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
import torch

from derand.nn import Student, TrainConfig, train
from derand.nn.compiled import ROW_MAX_D, compiled_unavailable
from derand.nn.training import _Run

pytest.importorskip("numba")

from derand.nn import _kernel

SMALL: dict[str, Any] = {
    "d": 3,
    "k": 1,
    "link": "tanh",
    "width": 48,
    "batch": 40,
    "n_test": 256,
    "log_points": 6,
    "certificate": False,
    "until": "steps",
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_and_log1p_are_within_a_few_roundings(dtype: type[np.floating[Any]]) -> None:
    eps = float(np.finfo(dtype).eps)
    t = np.linspace(0.0, 80.0, 20001).astype(dtype)
    out, work = np.empty_like(t), np.empty_like(t)
    _kernel.exp_neg(t, out, work)
    ref = np.exp(-t.astype(np.float64))
    normal = ref > float(np.finfo(dtype).tiny)
    assert np.max(np.abs(out[normal] - ref[normal]) / ref[normal]) < 3 * eps
    e = np.linspace(0.0, 1.0, 20001).astype(dtype)
    _kernel.log1p_unit(e, out)
    ref = np.log1p(e.astype(np.float64))
    assert out[0] == 0.0
    assert np.max(np.abs(out[1:] - ref[1:]) / ref[1:]) < 4 * eps


EXACT = {
    "relu-iota": lambda z: torch.logaddexp(torch.zeros_like(z), 2.0 * z) / 2.0,
    "tanh": torch.tanh,
    "relu": torch.relu,
}
"""The activations by an independent route (torch's softplus is linear beyond ιz = 20)."""
SLOPES = {
    "relu-iota": lambda z: torch.sigmoid(2.0 * z),
    "tanh": lambda z: torch.cosh(z) ** -2,  # autograd's 1 − tanh² cancels where tanh ≈ ±1
    "relu": lambda z: (z > 0).double(),
}


@pytest.mark.parametrize("activation", ["relu-iota", "tanh", "relu"])
def test_activation_rows_match_the_activation_and_its_derivative(activation: str) -> None:
    z = torch.linspace(-45.0, 45.0, 3001, dtype=torch.float64, requires_grad=True)
    value = EXACT[activation](z)
    (grad,) = torch.autograd.grad(value.sum(), z)
    slope_ref = SLOPES[activation](z.detach())
    assert torch.allclose(grad, slope_ref, rtol=1e-12, atol=1e-15)  # the references agree
    zn = z.detach().numpy().copy()
    h, slope = np.empty_like(zn), np.empty_like(zn)
    e, work = np.empty_like(zn), np.empty_like(zn)
    code = _kernel.ACTIVATION_CODES[activation]
    _kernel.activation_rows(zn, code, np.float64(2.0), np.float64(0.5), h, slope, e, work)
    assert np.allclose(h, value.detach().numpy(), rtol=1e-14, atol=1e-300)
    assert np.allclose(slope, slope_ref.numpy(), rtol=1e-14, atol=1e-16)


def _autograd_step(
    model: Student, x: torch.Tensor, y: torch.Tensor, lam: float, lam_output: float
) -> list[torch.Tensor]:
    params = [model.first.weight, model.first.bias, model.output.weight, model.output.bias]
    for p in params:
        p.requires_grad_(True)
    risk = ((model(x) - y) ** 2).mean() + lam * (model.first.weight**2).sum()
    risk = risk + lam_output * (model.output.weight**2).sum()
    return list(torch.autograd.grad(risk, params))


KERNELS = {
    "row": (_kernel.train_step, lambda d: 2 * d + 7),
    "blas": (_kernel.train_step_blas, lambda d: 5),
}
"""Each kernel with the number of rows of its work array for an input dimension d."""


@pytest.mark.parametrize("activation", ["relu-iota", "tanh", "relu"])
@pytest.mark.parametrize(("kernel", "d"), [("row", 2), ("row", 7), ("blas", 2), ("blas", 40)])
def test_the_kernel_step_is_gradient_descent_on_the_autograd_gradient(
    activation: str, kernel: str, d: int
) -> None:
    """One step with every layer trained and an output bias: (old − new) / lr is autograd's
    gradient of the penalised risk, and the returned norm is that gradient's norm."""
    gen = torch.Generator().manual_seed(3)
    model = Student(d, 30, activation=activation, output_bias=True, generator=gen).double()
    with torch.no_grad():
        model.output.weight.mul_(30.0)  # a non-trivial output scale
        model.output.bias.fill_(0.2)
    x = torch.randn(25, d, generator=gen, dtype=torch.float64)
    y = torch.tanh(x[:, 0])
    lam, lam_out, lrs = 1e-2, 3e-3, (0.7, 0.3, 0.11)
    expected = _autograd_step(model, x, y, lam, lam_out)
    before = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        loss_ref = float(((model(x) - y) ** 2).mean())
    W, b, a, c = (
        t.detach().numpy()
        for t in (model.first.weight, model.first.bias, model.output.weight[0], model.output.bias)
    )
    step_fn, rows = KERNELS[kernel]
    work = np.empty((rows(d), 30))
    code = _kernel.ACTIVATION_CODES[activation]
    loss, norm, gated = step_fn(
        x.numpy(), y.numpy(), W, b, a, c, code, np.float64(2.0), np.float64(0.5),
        lam, lam_out, lrs[0], lrs[1], lrs[2], True, True, False, 0.0, work,
    )  # fmt: skip
    assert not gated
    assert loss == pytest.approx(loss_ref, rel=1e-13)
    full = torch.cat([g.reshape(-1) for g in expected])
    assert norm == pytest.approx(float(full.norm()), rel=1e-12)
    rates = [lrs[0], lrs[1], lrs[2], lrs[2]]
    names = ["first.weight", "first.bias", "output.weight", "output.bias"]
    after = dict(model.named_parameters())
    old = dict(zip([n for n, _ in model.named_parameters()], before, strict=True))
    for name, g, lr in zip(names, expected, rates, strict=True):
        step = (old[name] - after[name].detach()) / lr
        torch.testing.assert_close(step, g, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_the_gate_leaves_the_parameters_and_reports_the_norm(kernel: str) -> None:
    gen = torch.Generator().manual_seed(0)
    model = Student(2, 20, generator=gen).double()
    x = torch.randn(10, 2, generator=gen, dtype=torch.float64)
    y = torch.tanh(x[:, 0])
    W, b, a = (
        t.detach().numpy() for t in (model.first.weight, model.first.bias, model.output.weight[0])
    )
    before = W.copy()
    step_fn, rows = KERNELS[kernel]
    work, c = np.empty((rows(2), 20)), np.zeros(0)
    iota, inv = np.float64(2.0), np.float64(0.5)

    def step(threshold: float) -> tuple[float, float, bool]:
        out: tuple[float, float, bool] = step_fn(
            x.numpy(), y.numpy(), W, b, a, c, 0, iota, inv,
            0.0, 0.0, 1.0, 1.0, 1.0, True, False, True, threshold, work,
        )  # fmt: skip
        return out

    _, norm, gated = step(1e9)
    assert gated and norm > 0 and np.array_equal(W, before)
    _, norm2, gated = step(norm / 2)
    assert not gated and norm2 == norm and not np.array_equal(W, before)


def _trajectory(config: TrainConfig, steps: int) -> tuple[list[torch.Tensor], Any]:
    run = _Run(config, None)
    for _ in range(steps):
        run.take_step()
    return [p.detach().clone() for p in run.model.parameters()], run


@pytest.mark.parametrize(
    ("dtype", "rtol"), [("float64", 1e-10), ("float32", 2e-4)], ids=["float64", "float32"]
)
@pytest.mark.parametrize(
    "extra",
    [
        {},  # PGD with the minibatch gate: perturbations happen
        {"activation": "tanh", "optimizer": "sgd", "output_bias": True, "lam_all_layers": True},
        {"activation": "relu", "freeze": ("first-bias",)},
        {"d": 40, "k": 2, "link": "sum-tanh"},  # the BLAS kernel
        {"d": 24, "k": 2, "activation": "tanh", "optimizer": "sgd", "output_bias": True},
    ],
    ids=["pgd-relu-iota", "sgd-tanh-all-layers", "relu-frozen-bias", "blas-pgd", "blas-sgd"],
)
def test_the_compiled_trajectory_is_the_torch_trajectory(
    dtype: str, rtol: float, extra: dict[str, Any]
) -> None:
    """300 steps of the compiled step and of the torch step (``fused-torch``) from the same
    seed: the same parameters within the dtype's tolerance, the same PGD perturbations."""
    values = {
        **SMALL,
        "dtype": dtype,
        "pgd_gate": "batch",
        "pgd_threshold": 0.8,  # the gate opens in these few steps
        "pgd_t_thres": 20,
        "lr_warmup": 10,
        **extra,
    }
    compiled = TrainConfig.from_dict(values)
    assert compiled_unavailable(compiled, torch.device("cpu")) is None
    torch_step = dataclasses.replace(compiled, backend="fused-torch")
    ours, run_c = _trajectory(compiled, 300)
    ref, run_t = _trajectory(torch_step, 300)
    assert run_c.compiled is not None and run_t.compiled is None
    assert run_c.compiled.blas == (compiled.d > ROW_MAX_D)
    assert run_c.optimizer.n_perturbations == run_t.optimizer.n_perturbations
    if not extra:
        assert run_c.optimizer.n_perturbations > 0
    for p, q in zip(ours, ref, strict=True):
        torch.testing.assert_close(p, q, rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("d", [3, 40], ids=["row", "blas"])
def test_the_compiled_run_ends_where_the_torch_run_ends_and_is_deterministic(d: int) -> None:
    config = TrainConfig.from_dict({**SMALL, "d": d, "dtype": "float64", "steps": 400})
    first, second = train(config), train(config)
    torch_run = train(dataclasses.replace(config, backend="fused-torch"))
    assert first.step_kernel == "compiled" and torch_run.step_kernel == "torch"
    assert first.log == second.log and first.perp_norm_final == second.perp_norm_final
    assert first.perp_ratio_final == pytest.approx(torch_run.perp_ratio_final, rel=1e-8)
    assert first.test_loss == pytest.approx(torch_run.test_loss, rel=1e-8)
    assert first.n_perturbations == torch_run.n_perturbations


def test_the_fig3_preset_runs_the_compiled_step_to_the_same_ratio() -> None:
    """The authors' setting (d = 2, width 1000, float32), 600 steps: the compiled and the torch
    step end at the same ‖W_⊥‖/‖W‖ up to float32 rounding's drift."""
    from derand.nn import PRESETS

    values = {**PRESETS["fig3"], "steps": 600, "certificate": False, "n_test": 512}
    config = TrainConfig.from_dict(values)
    compiled = train(config)
    reference = train(dataclasses.replace(config, backend="fused-torch"))
    assert compiled.step_kernel == "compiled"
    assert compiled.perp_ratio_final == pytest.approx(reference.perp_ratio_final, rel=1e-3)
    assert compiled.test_loss == pytest.approx(reference.test_loss, rel=1e-3)


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ({"depth": 2}, "depth 2"),
        ({"optimizer": "adam"}, "adam"),
        ({"loss": "huber"}, "loss huber"),
        ({"activation": "silu"}, "activation silu"),
        ({"backend": "fused-torch"}, "backend fused-torch"),
        ({"backend": "autograd"}, "backend autograd"),
    ],
)
def test_the_torch_step_runs_where_the_kernel_does_not_apply(
    values: dict[str, Any], why: str
) -> None:
    config = TrainConfig.from_dict({**SMALL, **values})
    reason = compiled_unavailable(config, torch.device("cpu"))
    assert reason is not None and why in reason
    assert compiled_unavailable(TrainConfig.from_dict(SMALL), torch.device("cuda")) is not None
    if values.get("d", 0) <= 64:
        result = train(dataclasses.replace(config, steps=5))
        assert result.step_kernel in ("torch", "autograd")
        assert math.isfinite(result.test_loss)


def test_the_blas_kernel_runs_with_torchs_thread_count_and_restores_the_setting() -> None:
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]

    run = _Run(TrainConfig.from_dict({**SMALL, "d": 40, "k": 2, "link": "sum-tanh"}), None)
    assert run.compiled is not None and run.compiled.blas
    before = blas_threads()
    with run.compiled.blas_threads():
        assert set(blas_threads()) <= {torch.get_num_threads()}
    assert blas_threads() == before
    small = _Run(TrainConfig.from_dict(SMALL), None)
    assert small.compiled is not None and not small.compiled.blas


def test_a_large_d_default_run_takes_the_blas_kernel() -> None:
    """d = 100 (issue 22's speed setting) with default flags: the compiled step, BLAS kernel,
    where the torch step ran before; 200 steps agree with the torch step in float64."""
    values = {"d": 100, "k": 4, "width": 64, "batch": 50, "n_test": 256, "log_points": 4,
              "certificate": False, "until": "steps", "steps": 200, "dtype": "float64"}  # fmt: skip
    config = TrainConfig.from_dict(values)
    assert compiled_unavailable(config, torch.device("cpu")) is None
    ours = train(config)
    ref = train(dataclasses.replace(config, backend="fused-torch"))
    assert ours.step_kernel == "compiled" and ref.step_kernel == "torch"
    assert ours.perp_norm_final == pytest.approx(ref.perp_norm_final, rel=1e-8)
    assert ours.test_loss == pytest.approx(ref.test_loss, rel=1e-8)


def test_warm_up_compiles_the_step_in_both_dtypes() -> None:
    from derand.nn import _kernel
    from derand.nn.warmup import warm_up

    assert warm_up() > 0.0
    for kernel in (_kernel.train_step, _kernel.train_step_blas):
        dtypes = {str(signature[0].dtype) for signature in kernel.signatures}
        assert {"float32", "float64"} <= dtypes
