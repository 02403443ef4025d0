"""Teacher–student lab (paper §4): teachers, metrics, training, certificate, checkpoints."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from derand.core import HessianOperator
from derand.errors import InputError
from derand.nn import (
    PRESETS,
    Student,
    TrainConfig,
    alignment,
    effective_rank,
    log_schedule,
    make_teacher,
    train,
)
from derand.nn.teachers import LINKS, hermite_he
from derand.nn.train import certified_risk

SMALL = {
    "d": 6,
    "k": 2,
    "link": "sum-tanh",
    "width": 16,
    "batch": 64,
    "lr": 2.0,
    "steps": 60,
    "log_points": 8,
    "n_test": 256,
    "n_cert": 256,
    "dtype": "float64",
    "certificate": False,
}


@pytest.mark.parametrize("link", LINKS)
def test_teacher_labels_depend_only_on_Ux(link: str) -> None:
    teacher = make_teacher(8, 2, link, seed=1)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(100, 8, generator=gen, dtype=torch.float64)
    U = teacher.U
    # Move x orthogonally to span(U): the labels must not change.
    z = torch.randn(100, 8, generator=gen, dtype=torch.float64)
    z_perp = z - (z @ U.T) @ U
    torch.testing.assert_close(teacher.labels(x), teacher.labels(x + 3.0 * z_perp))
    torch.testing.assert_close(U @ U.T, torch.eye(2, dtype=torch.float64))


def test_hermite_polynomials() -> None:
    z = torch.linspace(-2, 2, 9, dtype=torch.float64)
    torch.testing.assert_close(hermite_he(z, 2), z**2 - 1)
    torch.testing.assert_close(hermite_he(z, 4), z**4 - 6 * z**2 + 3)


def test_teacher_noise_and_given_U() -> None:
    U = np.array([[1.0, 1.0, 0.0]])
    teacher = make_teacher(3, 1, "tanh", U=U, noise=0.5)
    np.testing.assert_allclose(teacher.U.numpy(), U / math.sqrt(2))
    x, y = teacher.sample(20000, torch.Generator().manual_seed(0), dtype=torch.float64)
    residual = y - torch.tanh(x @ teacher.U.T)[:, 0]
    assert float(residual.std()) == pytest.approx(0.5, rel=0.03)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({"d": 3, "k": 4, "link": "tanh"}, "cannot exceed"),
        ({"d": 3, "k": 1, "link": "product"}, "k >= 2"),
        ({"d": 3, "k": 1, "link": "nope"}, "unknown link"),
        ({"d": 3, "k": 1, "link": "tanh", "noise": -1.0}, "noise"),
        ({"d": 2, "k": 2, "link": "tanh", "U": np.ones((2, 2))}, "independent"),
    ],
)
def test_bad_teachers(args: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        make_teacher(**args)  # type: ignore[arg-type]


def test_alignment_hand_made() -> None:
    U = np.array([[1.0, 0.0, 0.0]])
    W = np.array([[3.0, 4.0, 0.0], [1.0, 0.0, 0.0]])
    a = alignment(W, U)
    assert a.perp_norm == pytest.approx(4.0)
    assert a.par_norm == pytest.approx(math.sqrt(10.0))
    assert a.perp_ratio == pytest.approx(4.0 / math.sqrt(26.0))
    # Top right singular vector of W vs e1.
    _, _, Vt = np.linalg.svd(W)
    expected = math.degrees(math.acos(abs(Vt[0, 0])))
    assert a.principal_angles_deg == [pytest.approx(expected)]


def test_alignment_collapse_onto_one_direction_of_two() -> None:
    U = np.eye(3)[:2]
    W = np.outer(np.arange(1.0, 6.0), [1.0, 0.0, 0.0])
    a = alignment(W, U)
    assert a.perp_norm == 0.0 and a.perp_ratio == 0.0
    assert a.principal_angles_deg[0] == pytest.approx(0.0, abs=1e-6)
    assert a.principal_angles_deg[1] == pytest.approx(90.0, abs=1e-6)
    assert a.effective_rank == pytest.approx(1.0)


def test_effective_rank() -> None:
    assert effective_rank(np.eye(4)) == pytest.approx(4.0)
    assert effective_rank(np.zeros((3, 3))) == 0.0


def test_log_schedule() -> None:
    assert log_schedule(1000, 5) == [0, 1, 6, 32, 178, 1000]
    assert log_schedule(3, 10) == [0, 1, 2, 3]


@pytest.mark.parametrize("activation", ["relu-iota", "tanh", "gelu", "silu", "relu"])
def test_student_shapes_and_depth(activation: str) -> None:
    model = Student(5, 7, depth=3, activation=activation, init="standard")
    assert model(torch.randn(4, 5)).shape == (4,)
    assert len(model.hidden) == 2
    groups = model.layer_parameters()
    assert [p.shape for p in groups["first-weight"]] == [torch.Size([7, 5])]


def test_authors_init_scales() -> None:
    model = Student(4, 4000, init="authors", generator=torch.Generator().manual_seed(0))
    assert float(model.first.weight.detach().std()) == pytest.approx(0.5, rel=0.05)
    assert float(model.output.weight.detach().std()) == pytest.approx(1 / 4000, rel=0.05)


def test_weight_decay_and_pgd_shrink_w_perp() -> None:
    config = TrainConfig.from_dict(
        {
            **SMALL,
            "steps": 400,
            "lam": 5e-3,
            "lr": 0.5,
            "width": 32,
            "freeze": [],
            "init": "standard",
        }
    )
    result = train(config)
    assert result.perp_ratio_final < 0.6 * result.perp_ratio_initial
    assert result.log[-1]["perp_norm"] < result.log[0]["perp_norm"]
    no_decay = train(dataclasses.replace(config, lam=0.0))
    assert result.perp_norm_final < no_decay.perp_norm_final


def test_certificate_lambda_min_matches_dense_on_tiny_network() -> None:
    config = TrainConfig.from_dict(
        {
            **SMALL,
            "width": 4,
            "d": 3,
            "k": 1,
            "link": "tanh",
            "certificate": True,
            "n_cert": 200,
            "steps": 30,
            "freeze": [],
            "lr": 0.1,
        }
    )
    result = train(config)
    cert = result.certificate
    assert cert is not None and result.model is not None
    assert cert["n_params"] == 4 * 3 + 4 + 4
    risk, params, _ = certified_risk(result.model, config)
    dense = np.linalg.eigvalsh(HessianOperator(risk, params).dense())
    assert cert["lambda_min"] == pytest.approx(dense[0], abs=1e-6 * max(1.0, dense[-1]))
    gradient = torch.autograd.grad(risk(), params)
    assert cert["grad_norm"] == pytest.approx(
        float(torch.cat([g.reshape(-1) for g in gradient]).norm())
    )
    assert cert["K_estimate"] > 0
    assert "estimate" in cert["note"]


def test_divergence_is_reported() -> None:
    with pytest.raises(InputError, match="diverged"):
        train(TrainConfig.from_dict({**SMALL, "lr": 1e6, "freeze": [], "init": "standard"}))


def test_lanczos_on_network_risk_matches_dense_eigvalsh() -> None:
    from derand.core import lambda_min

    gen = torch.Generator().manual_seed(0)
    teacher = make_teacher(3, 1, "tanh", seed=0)
    model = Student(3, 5, generator=gen).double()
    x, y = teacher.sample(300, gen, dtype=torch.float64)
    params = [model.first.weight, model.first.bias]

    def risk() -> torch.Tensor:
        return ((model(x) - y) ** 2).mean() + 1e-3 * (model.first.weight**2).sum()

    dense = np.linalg.eigvalsh(HessianOperator(risk, params).dense())[0]
    value, _, method = lambda_min(risk, params, method="lanczos", tol=1e-12)
    assert method == "lanczos"
    assert value == pytest.approx(dense, abs=1e-6)


def test_checkpoint_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    config = TrainConfig.from_dict({**SMALL, "steps": 40, "checkpoint_every": 10})
    full = train(config)
    ckpt = tmp_path / "run.pt"
    first = train(dataclasses.replace(config, steps=20), checkpoint=ckpt)
    assert first.steps == 20 and ckpt.exists()
    resumed = train(config, checkpoint=ckpt, resume=True)
    assert resumed.steps == 40
    assert resumed.perp_norm_final == full.perp_norm_final
    assert resumed.test_loss == full.test_loss


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    config = TrainConfig.from_dict({**SMALL, "steps": 10})
    ckpt = tmp_path / "run.pt"
    train(config, checkpoint=ckpt)
    with pytest.raises(InputError, match="other settings"):
        train(dataclasses.replace(config, lam=0.5), checkpoint=ckpt, resume=True)


def test_adam_and_losses_run() -> None:
    for loss in ("huber", "logistic"):
        r = train(TrainConfig.from_dict({**SMALL, "optimizer": "adam", "lr": 1e-2, "loss": loss}))
        assert math.isfinite(r.test_loss)


def test_compression_reports_parameters() -> None:
    r = train(TrainConfig.from_dict(SMALL))
    comp = r.compression
    assert comp["first_layer_params_before"] == 16 * 6
    assert comp["first_layer_params_after"] == 2 * (16 + 6)
    assert comp["params_before"] - comp["params_after"] == 16 * 6 - 2 * (16 + 6)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"k": 30}, "cannot exceed"),
        ({"activation": "sigmoidish"}, "unknown activation"),
        ({"lam": -1.0}, "lam"),
        ({"freeze": ["first-weight"]}, "must be trained"),
        ({"freeze": ["nope"]}, "freeze"),
        ({"steps": "many"}, "steps"),
        ({"bogus": 1}, "unknown setting"),
    ],
)
def test_bad_configs(values: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        TrainConfig.from_dict({**SMALL, **values}).validate()


def test_presets_are_valid() -> None:
    for values in PRESETS.values():
        TrainConfig.from_dict(values).validate()


@pytest.mark.parametrize("activation", ["relu-iota", "tanh", "gelu", "silu", "relu"])
@pytest.mark.parametrize("loss", ["mse", "huber", "logistic"])
@pytest.mark.parametrize("depth", [1, 3])
def test_fused_gradients_match_autograd(activation: str, loss: str, depth: int) -> None:
    from derand.nn.fused import loss_and_gradients
    from derand.nn.train import _regulariser, loss_function

    gen = torch.Generator().manual_seed(depth)
    model = Student(
        4,
        6,
        depth=depth,
        activation=activation,
        iota=3.0,
        init="standard",
        output_bias=True,
        generator=gen,
    ).double()
    x = torch.randn(9, 4, generator=gen, dtype=torch.float64)
    y = 2.0 * torch.randn(9, generator=gen, dtype=torch.float64)
    config = TrainConfig(
        d=4,
        k=1,
        width=6,
        depth=depth,
        loss=loss,
        huber_delta=0.7,
        lam=0.3,
        lam_all_layers=True,
        freeze=(),
    )
    trained = {"first-weight", "first-bias", "hidden", "output"}
    value, grads = loss_and_gradients(
        model, x, y, loss=loss, huber_delta=0.7, lam=0.3, lam_all_layers=True, trained=trained
    )
    reference = loss_function(config)(model(x), y)
    objective = reference + _regulariser(model, config, trained)
    params = list(model.parameters())
    expected = torch.autograd.grad(objective, params)
    assert float(value) == pytest.approx(float(reference.detach()), rel=1e-12)
    assert set(grads) == set(params)
    for p, e in zip(params, expected, strict=True):
        torch.testing.assert_close(grads[p], e, rtol=1e-10, atol=1e-12)


def test_fused_skips_frozen_layers_and_training_matches_autograd() -> None:
    config = TrainConfig.from_dict({**SMALL, "steps": 30})
    fused = train(config)
    auto = train(dataclasses.replace(config, backend="autograd"))
    assert fused.perp_norm_final == pytest.approx(auto.perp_norm_final, rel=1e-9)
    assert fused.test_loss == pytest.approx(auto.test_loss, rel=1e-9)
