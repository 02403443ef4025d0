"""Training students on multiple-index teachers, read top to bottom (paper §4).

``train(config)`` builds a teacher and a student, trains with perturbed gradient descent
(``derand.core.PerturbedGD``), SGD or Adam, logs the alignment of the first layer with the
teacher subspace on a log-spaced schedule, checkpoints, and ends with the SOSP certificate of
Theorem 4.1 and a low-rank compression of the first layer.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from derand.core import PerturbedGD, estimate_hessian_lipschitz, sosp_certificate
from derand.device import resolve_device
from derand.errors import InputError
from derand.nn.fused import loss_and_gradients
from derand.nn.metrics import Alignment, alignment
from derand.nn.students import ACTIVATIONS, INITS, LAYER_NAMES, Student
from derand.nn.teachers import LINKS, Teacher, make_teacher
from derand.results import write_bytes

LOSSES = ("mse", "huber", "logistic")
OPTIMIZERS = ("pgd", "sgd", "adam")
BACKENDS = ("fused", "autograd")


@dataclass
class TrainConfig:
    """Everything that defines a run; the CLI flags and TOML keys have the same names.

    Teacher: ``d``, ``k``, ``link``, ``noise``, ``degree``, ``teacher_seed`` (default: seed),
    ``teacher_U`` (k x d rows spanning the teacher subspace; random from the seed if absent).
    Student: ``width``, ``depth``, ``activation``, ``iota``, ``init``, ``output_bias``,
    ``freeze`` (layer groups not trained: ``first-weight``, ``first-bias``, ``hidden``,
    ``output``). Objective: ``loss``, ``huber_delta``, ``lam`` (weight decay on the first
    layer's W), ``lam_all_layers`` (also on the other trained weight matrices). Data:
    ``batch`` fresh samples per step when ``n_train`` is ``None`` (online), otherwise
    minibatches from a fixed training set of ``n_train``; ``n_test``. Optimiser:
    ``optimizer`` (pgd, sgd, adam), ``backend`` (``fused``: hand-written backward pass;
    ``autograd``: PyTorch's), ``lr`` and per-group overrides ``lr_first_weight``,
    ``lr_first_bias``, ``lr_hidden``, ``lr_output``; PGD's ``pgd_threshold`` (gradient norm
    below which it perturbs), ``pgd_radius``, ``pgd_t_thres``. Run: ``steps``,
    ``log_points``, ``checkpoint_every``, ``seed``, ``device``, ``dtype``. Certificate:
    ``certificate``, ``n_cert`` (fixed sample for ‖∇F‖ and λ_min), ``k_probes``.
    """

    d: int = 20
    k: int = 2
    link: str = "sum-tanh"
    noise: float = 0.0
    degree: int = 2
    teacher_seed: int | None = None
    teacher_U: list[list[float]] | None = None
    width: int = 1000
    depth: int = 1
    activation: str = "relu-iota"
    iota: float = 2.0
    init: str = "authors"
    output_bias: bool = False
    freeze: tuple[str, ...] = ("output",)
    loss: str = "mse"
    huber_delta: float = 1.0
    lam: float = 1e-4
    lam_all_layers: bool = False
    batch: int = 50
    n_train: int | None = None
    n_test: int = 4096
    optimizer: str = "pgd"
    backend: str = "fused"
    lr: float = 1.0
    lr_first_weight: float | None = None
    lr_first_bias: float | None = None
    lr_hidden: float | None = None
    lr_output: float | None = None
    pgd_threshold: float = 1e-3
    pgd_radius: float = 5e-3
    pgd_t_thres: int = 100
    steps: int = 2000
    log_points: int = 60
    checkpoint_every: int = 0
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    certificate: bool = True
    n_cert: int = 4096
    k_probes: int = 4

    def validate(self) -> None:
        """Raise :class:`InputError` for impossible or unknown settings."""
        checks: list[tuple[bool, str]] = [
            (self.link in LINKS, f"unknown link {self.link!r}; choose one of {', '.join(LINKS)}"),
            (
                self.activation in ACTIVATIONS,
                f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}",
            ),
            (self.init in INITS, f"unknown init {self.init!r}; choose one of {', '.join(INITS)}"),
            (self.loss in LOSSES, f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}"),
            (
                self.optimizer in OPTIMIZERS,
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}",
            ),
            (self.dtype in ("float32", "float64"), "dtype must be float32 or float64"),
            (self.backend in BACKENDS, f"backend must be one of {', '.join(BACKENDS)}"),
            (
                all(f in LAYER_NAMES for f in self.freeze),
                f"freeze takes layer groups among {', '.join(LAYER_NAMES)}, "
                f"got {list(self.freeze)}",
            ),
            ("first-weight" not in self.freeze, "the first layer's W must be trained"),
            (self.d >= 1 and self.k >= 1, f"need d >= 1 and k >= 1, got d={self.d}, k={self.k}"),
            (self.k <= self.d, f"k = {self.k} cannot exceed d = {self.d}"),
            (self.width >= 1 and self.depth >= 1, "width and depth must be >= 1"),
            (math.isfinite(self.lam) and self.lam >= 0, f"lam must be >= 0, got {self.lam}"),
            (
                math.isfinite(self.noise) and self.noise >= 0,
                f"noise must be >= 0, got {self.noise}",
            ),
            (self.iota > 0 and math.isfinite(self.iota), f"iota must be > 0, got {self.iota}"),
            (self.huber_delta > 0, f"huber_delta must be > 0, got {self.huber_delta}"),
            (
                self.batch >= 1 and self.n_test >= 1 and self.n_cert >= 1,
                "batch, n_test and n_cert must be >= 1",
            ),
            (self.n_train is None or self.n_train >= 1, "n_train must be >= 1"),
            (self.steps >= 1 and self.log_points >= 2, "steps >= 1 and log_points >= 2"),
            (self.checkpoint_every >= 0, "checkpoint_every must be >= 0"),
            (
                self.pgd_threshold >= 0 and self.pgd_radius >= 0 and self.pgd_t_thres >= 0,
                "PGD threshold, radius and t_thres must be >= 0",
            ),
            (self.k_probes >= 1, "k_probes must be >= 1"),
        ]
        lrs = [self.lr, self.lr_first_weight, self.lr_first_bias, self.lr_hidden, self.lr_output]
        checks.append(
            (
                all(v is None or (v > 0 and math.isfinite(v)) for v in lrs),
                "learning rates must be finite and > 0",
            )
        )
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        self.teacher()

    def teacher(self) -> Teacher:
        """The teacher these settings describe."""
        return make_teacher(
            self.d,
            self.k,
            self.link,
            noise=self.noise,
            degree=self.degree,
            U=None if self.teacher_U is None else np.asarray(self.teacher_U, dtype=float),
            seed=self.seed if self.teacher_seed is None else self.teacher_seed,
        )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a mapping (e.g. a TOML table); unknown keys are errors."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise InputError(f"unknown setting(s): {', '.join(unknown)}")
        values = dict(values)
        if "freeze" in values:
            values["freeze"] = tuple(values["freeze"])
        config = cls(**values)
        expected_types: dict[str, type | tuple[type, ...]] = {
            "int": int,
            "float": (int, float),
            "str": str,
            "bool": bool,
        }
        for f in dataclasses.fields(cls):
            value = getattr(config, f.name)
            expected = expected_types.get(str(f.type).split(" ")[0])
            if value is None or expected is None:
                continue
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise InputError(f"setting {f.name} must be {f.type}, got {value!r}")
        return config


@dataclass
class TrainResult:
    """A training run: the log, the final alignment, the certificate and compression.

    ``certificate`` holds ``grad_norm`` (ρ on ``n_cert`` fixed samples), ``lambda_min``
    (Lanczos over all trained parameters), ``lam``, ``K_estimate`` (a local estimate of the
    Hessian-Lipschitz constant, labelled as such), ``bound`` (Theorem 4.1's
    ``ρ / (2λ − √(Kρ))`` on ‖W_⊥‖_F, ``None`` where λ <= √(Kρ)/2) and ``note``. The theorem
    bounds W_⊥; it does not say W spans all of span(U) — see ``principal_angles_deg``.
    """

    steps: int
    seconds: float
    perp_ratio_initial: float
    perp_ratio_final: float
    perp_norm_final: float
    principal_angles_deg: list[float]
    effective_rank: float
    test_loss: float
    certificate: dict[str, Any] | None
    compression: dict[str, Any]
    log: list[dict[str, Any]]
    n_perturbations: int
    interrupted: bool
    config: dict[str, Any]
    snapshots: list[list[list[float]]] = field(default_factory=list, repr=False)
    snapshot_steps: list[int] = field(default_factory=list)
    teacher_U: list[list[float]] = field(default_factory=list)
    model: Student | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        """The JSON fields: everything but the model, the config and the d = 2 snapshots."""
        skip = {"snapshots", "snapshot_steps", "config", "model"}
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip
        }


def log_schedule(steps: int, points: int) -> list[int]:
    """Log-spaced step indices in [0, steps], always including 0 and ``steps``."""
    grid = np.unique(np.round(np.geomspace(1, steps, points)).astype(int))
    return sorted({0, steps, *grid.tolist()})


def loss_function(config: TrainConfig) -> Callable[[Tensor, Tensor], Tensor]:
    """The training loss ``loss(prediction, y)`` (mean over the batch).

    ``logistic`` trains on the labels' signs: ``log(1 + exp(-sign(y) f))``.
    """
    if config.loss == "mse":
        return lambda f, y: ((f - y) ** 2).mean()
    if config.loss == "huber":
        return lambda f, y: nn.functional.huber_loss(f, y, delta=config.huber_delta)
    return lambda f, y: nn.functional.softplus(-torch.where(y >= 0, 1.0, -1.0) * f).mean()


def _regulariser(model: Student, config: TrainConfig, trained: set[str]) -> Tensor:
    reg = (model.first.weight**2).sum()
    if config.lam_all_layers:
        if "hidden" in trained:
            reg = reg + sum((layer.weight**2).sum() for layer in model.hidden_layers())
        if "output" in trained:
            reg = reg + (model.output.weight**2).sum()
    return config.lam * reg


def _optimizer(
    model: Student, config: TrainConfig, trained: set[str], generator: torch.Generator
) -> torch.optim.Optimizer:
    overrides = {
        "first-weight": config.lr_first_weight,
        "first-bias": config.lr_first_bias,
        "hidden": config.lr_hidden,
        "output": config.lr_output,
    }
    groups = [
        {"params": params, "lr": overrides[name] or config.lr, "name": name}
        for name, params in model.layer_parameters().items()
        if name in trained and params
    ]
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    return PerturbedGD(
        groups,
        lr=config.lr,
        grad_threshold=config.pgd_threshold,
        radius=config.pgd_radius if config.optimizer == "pgd" else 0.0,
        t_thres=config.pgd_t_thres,
        generator=generator,
    )


def _checkpoint_bytes(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def train(
    config: TrainConfig,
    *,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    callback: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train a student on a teacher as configured; see :class:`TrainConfig`.

    Parameters
    ----------
    config : TrainConfig
        The run's settings (validated here).
    checkpoint : path, optional
        Where checkpoints are written (every ``checkpoint_every`` steps, at the end, and on
        Ctrl-C), atomically.
    resume : bool
        Continue from ``checkpoint`` when it exists. The settings must match the checkpoint's
        except ``steps``, which may grow; the result is then identical to an uninterrupted run.
    callback : callable, optional
        ``callback(step, total)`` for a progress bar.

    Returns
    -------
    TrainResult
    """
    config.validate()
    device = resolve_device(config.device)
    dtype = torch.float64 if config.dtype == "float64" else torch.float32
    teacher = config.teacher()
    init_gen = torch.Generator().manual_seed(config.seed)
    data_gen = torch.Generator().manual_seed(config.seed + 1)
    noise_gen = torch.Generator().manual_seed(config.seed + 2)
    x_test, y_test = teacher.sample(
        config.n_test, torch.Generator().manual_seed(config.seed + 3), dtype=dtype, device=device
    )
    train_set = (
        teacher.sample(
            config.n_train,
            torch.Generator().manual_seed(config.seed + 4),
            dtype=dtype,
            device=device,
        )
        if config.n_train is not None
        else None
    )
    model = Student(
        config.d,
        config.width,
        depth=config.depth,
        activation=config.activation,
        iota=config.iota,
        init=config.init,
        output_bias=config.output_bias,
        generator=init_gen,
    ).to(device=device, dtype=dtype)
    trained = {name for name in LAYER_NAMES if name not in config.freeze}
    for name, params in model.layer_parameters().items():
        for p in params:
            p.requires_grad_(name in trained)
    optimizer = _optimizer(model, config, trained, noise_gen)
    loss_fn = loss_function(config)
    U = teacher.U.numpy()
    schedule = set(log_schedule(config.steps, config.log_points))
    log: list[dict[str, Any]] = []
    snapshots: list[list[list[float]]] = []
    snapshot_steps: list[int] = []
    start_step, elapsed = 0, 0.0

    config_dict = dataclasses.asdict(config)
    if resume and checkpoint is not None and Path(checkpoint).exists():
        state = torch.load(checkpoint, weights_only=False)
        saved = {k: v for k, v in state["config"].items() if k != "steps"}
        current = {k: v for k, v in config_dict.items() if k != "steps"}
        if saved != current:
            changed = sorted(k for k in current if saved.get(k) != current[k])
            raise InputError(f"checkpoint {checkpoint} was made with other settings: {changed}")
        if state["step"] > config.steps:
            raise InputError(f"checkpoint is at step {state['step']} > steps = {config.steps}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        data_gen.set_state(state["data_gen"])
        noise_gen.set_state(state["noise_gen"])
        log, snapshots, snapshot_steps = state["log"], state["snapshots"], state["snapshot_steps"]
        start_step, elapsed = int(state["step"]), float(state["seconds"])

    def evaluate(step: int, batch_loss: float) -> None:
        with torch.no_grad():
            W = model.first.weight.detach().double().cpu().numpy()
            test = float(loss_fn(model(x_test), y_test))
        if not (math.isfinite(test) and np.isfinite(W).all()):
            raise InputError(
                f"training diverged by step {step} (test loss {test}); lower the learning rate"
            )
        a: Alignment = alignment(W, U)
        log.append(
            {"step": step, "train_loss": batch_loss, "test_loss": test, **dataclasses.asdict(a)}
        )
        if config.d == 2:
            snapshots.append(W.tolist())
            snapshot_steps.append(step)

    def save(step: int) -> None:
        if checkpoint is None:
            return
        state = {
            "config": config_dict,
            "step": step,
            "seconds": elapsed + time.perf_counter() - t0,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "data_gen": data_gen.get_state(),
            "noise_gen": noise_gen.get_state(),
            "log": log,
            "snapshots": snapshots,
            "snapshot_steps": snapshot_steps,
        }
        write_bytes(Path(checkpoint), _checkpoint_bytes(state))

    def batch() -> tuple[Tensor, Tensor]:
        if train_set is None:
            return teacher.sample(config.batch, data_gen, dtype=dtype, device=device)
        if config.batch >= config.n_train:  # type: ignore[operator]
            return train_set
        idx = torch.randint(0, train_set[0].shape[0], (config.batch,), generator=data_gen)
        return train_set[0][idx.to(device)], train_set[1][idx.to(device)]

    t0 = time.perf_counter()
    step = start_step
    interrupted = False
    try:
        if start_step == 0 and 0 in schedule:
            x, y = (
                batch()
                if train_set is not None
                else (x_test[: config.batch], y_test[: config.batch])
            )
            with torch.no_grad():
                evaluate(0, float(loss_fn(model(x), y)))
        while step < config.steps:
            x, y = batch()
            if config.backend == "fused":
                loss, grads = loss_and_gradients(
                    model,
                    x,
                    y,
                    loss=config.loss,
                    huber_delta=config.huber_delta,
                    lam=config.lam,
                    lam_all_layers=config.lam_all_layers,
                    trained=trained,
                )
                for p, g in grads.items():
                    p.grad = g
            else:
                optimizer.zero_grad()
                loss = loss_fn(model(x), y)
                (loss + _regulariser(model, config, trained)).backward()
            optimizer.step()
            step += 1
            if step in schedule:
                evaluate(step, float(loss.detach()))
            if config.checkpoint_every and step % config.checkpoint_every == 0:
                save(step)
            if callback is not None and (step % 100 == 0 or step == config.steps):
                callback(step, config.steps)
    except KeyboardInterrupt:
        interrupted = True
        if not log or log[-1]["step"] != step:
            evaluate(step, math.nan)
    seconds = elapsed + time.perf_counter() - t0
    save(step)

    certificate = None
    if config.certificate and not interrupted:
        certificate = _certificate(model, config)
    final = log[-1]
    return TrainResult(
        steps=step,
        seconds=seconds,
        perp_ratio_initial=log[0]["perp_ratio"],
        perp_ratio_final=final["perp_ratio"],
        perp_norm_final=final["perp_norm"],
        principal_angles_deg=final["principal_angles_deg"],
        effective_rank=final["effective_rank"],
        test_loss=final["test_loss"],
        certificate=certificate,
        compression=_compression(model, U, config.k, x_test, y_test, loss_fn),
        log=log,
        n_perturbations=int(getattr(optimizer, "n_perturbations", 0)),
        interrupted=interrupted,
        config=config_dict,
        snapshots=snapshots,
        snapshot_steps=snapshot_steps,
        teacher_U=U.tolist(),
        model=model,
    )


def certified_risk(
    model: Student, config: TrainConfig
) -> tuple[Callable[[], Tensor], list[Tensor], Student]:
    """The regularised risk the certificate examines, on ``n_cert`` fixed samples, in float64.

    Returns ``(risk, params, twin)``: ``risk()`` evaluates the loss plus the weight decay at
    the float64 copy ``twin`` of ``model``, and ``params`` are twin's trained parameters.
    """
    twin = copy.deepcopy(model).double()
    trained = {name for name in LAYER_NAMES if name not in config.freeze}
    x, y = config.teacher().sample(
        config.n_cert,
        torch.Generator().manual_seed(config.seed + 5),
        dtype=torch.float64,
        device=next(twin.parameters()).device,
    )
    params: list[Tensor] = [
        p for name, ps in twin.layer_parameters().items() if name in trained for p in ps
    ]
    loss_fn = loss_function(config)

    def risk() -> Tensor:
        return loss_fn(twin(x), y) + _regulariser(twin, config, trained)

    return risk, params, twin


def _certificate(model: Student, config: TrainConfig) -> dict[str, Any]:
    """SOSP certificate of the regularised risk over all trained parameters (Theorem 4.1)."""
    risk, params, _ = certified_risk(model, config)
    K = estimate_hessian_lipschitz(
        risk,
        params,
        radius=1e-3,
        n_probes=config.k_probes,
        generator=torch.Generator().manual_seed(config.seed + 6),
    )
    cert = sosp_certificate(risk, params, lam=config.lam, K=K, K_is_estimate=True, tol=1e-4)
    return {
        "grad_norm": cert.grad_norm,
        "lambda_min": cert.lambda_min,
        "lam": config.lam,
        "K_estimate": K,
        "is_sosp": cert.is_sosp,
        "bound": cert.bound,
        "bound_measured": cert.bound_measured,
        "n_params": cert.n_params,
        "n_samples": config.n_cert,
        "hvp_evaluations": cert.hvp_evaluations,
        "seconds": cert.seconds,
        "note": cert.note + "; K is a local estimate (a lower estimate of the true constant), "
        "and the risk is measured on a finite sample",
    }


def _compression(
    model: Student,
    U: np.ndarray,
    k: int,
    x_test: Tensor,
    y_test: Tensor,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
) -> dict[str, Any]:
    """Replace the first layer's W by its best rank-k approximation; compare test losses."""
    W = model.first.weight.detach()
    width, d = W.shape
    U_s, S, Vt = torch.linalg.svd(W.double(), full_matrices=False)
    W_k = (U_s[:, :k] * S[:k]) @ Vt[:k]
    total = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        before = float(loss_fn(model(x_test), y_test))
        saved = W.clone()
        model.first.weight.copy_(W_k.to(W.dtype))
        after = float(loss_fn(model(x_test), y_test))
        model.first.weight.copy_(saved)
    first_after = k * (width + d)
    return {
        "rank": k,
        "params_before": int(total),
        "params_after": int(total - width * d + first_after),
        "first_layer_params_before": int(width * d),
        "first_layer_params_after": int(first_after),
        "test_loss_before": before,
        "test_loss_after": after,
        "principal_angles_deg_after": alignment(W_k.cpu().numpy(), U).principal_angles_deg,
    }
