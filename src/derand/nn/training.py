"""Training students on multiple-index teachers, read top to bottom (paper §4).

``train(config)`` builds a teacher and a student and trains with perturbed gradient descent
(``derand.core.PerturbedGD``), SGD or Adam, with per-layer rates that follow the
parametrisation (:mod:`derand.nn.rates`) and a warm-up / plateau schedule
(:mod:`derand.nn.schedule`). On a log-spaced schedule it records the alignment of the first
layer with the teacher subspace and the order parameters (:func:`order_parameters`), and — on
a fixed float64 sample — the gradient norm ρ, and near stationarity λ_min and Theorem 4.1's
bound. It stops at a certified ρ-SOSP, at a plateau, or after a number of steps
(``until``), checkpoints safely (:mod:`derand.nn.checkpoint`), resumes exactly, and ends with
the SOSP certificate and a low-rank compression of the first layer.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from derand.core import (
    PerturbedGD,
    SOSPCertificate,
    certificate_from_spectrum,
    hypothesis_failures,
    lanczos,
    largest_certifiable_gradient,
    lemma_bound,
    lipschitz_from_products,
)
from derand.device import resolve_device
from derand.errors import InputError
from derand.limits import require_memory
from derand.nn.checkpoint import check_state, load_checkpoint, save_checkpoint
from derand.nn.config import (
    BACKENDS,
    LOSSES,
    OPTIMIZERS,
    RUN_CONTROL,
    SMOOTH_ACTIVATIONS,
    TrainConfig,
)
from derand.nn.fused import FirstLayerHessian, loss_and_gradients
from derand.nn.metrics import order_parameters, tracked_neurons
from derand.nn.rates import LayerRates, layer_rates
from derand.nn.schedule import PlateauSchedule
from derand.nn.students import Student
from derand.nn.teachers import Teacher, make_teacher

__all__ = [
    "BACKENDS",
    "CERTIFIED_GROUPS",
    "LOSSES",
    "OPTIMIZERS",
    "STOP_REASONS",
    "Compression",
    "TrainConfig",
    "TrainResult",
    "certified_risk",
    "estimate_memory",
    "log_schedule",
    "loss_function",
    "make_run_teacher",
    "train",
]

STOP_REASONS = ("sosp", "plateau", "steps", "max-steps", "time-limit", "interrupted")
FINAL_LANCZOS_STEPS = 80
FINAL_LANCZOS_MIN_STEPS = 40
CHECK_BUDGET = 0.1
"""The ρ checks during training may use at most this share of the training work (counted in
sample-passes, so that the decision is deterministic)."""
EXPENSIVE_SPACING = 1.5
"""λ_min and K are computed at a check where ρ meets the target, at most once per factor 1.5
in the step count (a handful per run)."""


@dataclass(frozen=True)
class Compression:
    """The first layer replaced by its best rank-k approximation (beyond the paper).

    Attributes
    ----------
    rank : int
        k, the teacher's number of indices.
    params_before, params_after : int
        Parameters of the whole student before and after.
    first_layer_params_before, first_layer_params_after : int
        ``width * d`` and ``k * (width + d)``.
    test_loss_before, test_loss_after : float
        Test loss of the student and of the compressed student.
    principal_angles_deg_after : list of float
        Principal angles between span(U) and the rank-k first layer.
    """

    rank: int
    params_before: int
    params_after: int
    first_layer_params_before: int
    first_layer_params_after: int
    test_loss_before: float
    test_loss_after: float
    principal_angles_deg_after: list[float]


@dataclass
class TrainResult:
    """A training run: why it stopped, the logs, the final alignment and the certificate.

    Attributes
    ----------
    steps : int
        Steps taken.
    seconds : float
        Wall time of the training loop (logging and checks included).
    stop_reason : str
        ``"sosp"`` (a certified ρ-SOSP with an informative bound), ``"plateau"`` (‖W_⊥‖
        stopped falling at the smallest rate), ``"steps"`` (``until = "steps"``),
        ``"max-steps"`` or ``"time-limit"`` (a cap was reached first), ``"interrupted"``.
    perp_ratio_initial, perp_ratio_final : float
        ‖W_⊥‖_F/‖W‖_F at the start and at the end.
    perp_norm_initial, perp_norm_final : float
        ‖W_⊥‖_F at the start and at the end.
    principal_angles_deg, effective_rank, test_loss : ...
        At the end (``test_loss`` on the whole test set).
    certificate : SOSPCertificate or None
        Over all trained parameters, on ``n_cert`` fixed samples, with a local estimate of K.
        Its ``bound`` (Theorem 4.1, on ‖W_⊥‖_F) is given only where the hypotheses hold;
        ``failures`` says which fail otherwise. The theorem bounds W_⊥; it does not say W
        spans all of span(U) — see ``principal_angles_deg``.
    compression : Compression
    log : list of dict
        One row per log point: ``step``, ``lr_factor``, ``train_loss``, ``test_loss`` (on the
        first ``log_test_samples`` test points), the alignment, the order parameters.
    certificate_log : list of dict
        The checks during training: ``step``, ``grad_norm``, ``rho_target``, and where
        computed ``lambda_min``, ``lambda_max``, ``K``, ``bound``, ``failures``, ``perturbed``.
    n_perturbations : int
        PGD perturbations.
    interrupted : bool
    config : TrainConfig
    rates : LayerRates
        The learning rates used (before the schedule's factor).
    lam : float
        The weight decay λ used.
    seconds_logging, seconds_checks : float
        Parts of ``seconds`` spent on the log and on the certificate checks.
    checkpoint : str or None
        Where the last checkpoint was written (at the end, or at the interruption: resume
        from it with ``resume=True``); ``None`` when no checkpoint path was given.
    """

    steps: int
    seconds: float
    stop_reason: str
    perp_ratio_initial: float
    perp_ratio_final: float
    perp_norm_initial: float
    perp_norm_final: float
    principal_angles_deg: list[float]
    effective_rank: float
    test_loss: float
    certificate: SOSPCertificate | None
    compression: Compression
    log: list[dict[str, Any]]
    certificate_log: list[dict[str, Any]]
    n_perturbations: int
    interrupted: bool
    config: TrainConfig
    rates: LayerRates
    lam: float
    seconds_logging: float = 0.0
    seconds_checks: float = 0.0
    checkpoint: str | None = None
    snapshots: list[list[list[float]]] = field(default_factory=list, repr=False)
    snapshot_steps: list[int] = field(default_factory=list, repr=False)
    teacher_U: list[list[float]] = field(default_factory=list, repr=False)
    model: Student | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        """The JSON fields: everything but the model, the config and the d = 2 snapshots.

        Only dicts, lists, strings, numbers, booleans and ``None`` (a non-finite number
        becomes ``None``): ``json.dumps(result.summary(), allow_nan=False)`` always works.
        """
        from derand.results import jsonable

        skip = {"snapshots", "snapshot_steps", "config", "model"}
        summary: dict[str, Any] = jsonable(
            {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}
        )
        return summary

    def __repr__(self) -> str:
        bound = (
            "n/a"
            if self.certificate is None or self.certificate.bound is None
            else (f"{self.certificate.bound:.3g}")
        )
        return (
            f"TrainResult(steps={self.steps}, stop_reason={self.stop_reason!r}, "
            f"perp_ratio={self.perp_ratio_initial:.3g}->{self.perp_ratio_final:.3g}, "
            f"test_loss={self.test_loss:.4g}, bound={bound}, seconds={self.seconds:.1f})"
        )


def log_schedule(steps: int, points: int) -> list[int]:
    """Log-spaced step indices in [0, steps], always including 0 and ``steps``.

    Examples
    --------
    >>> log_schedule(1000, 5)
    [0, 1, 6, 32, 178, 1000]
    """
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


def _regulariser(
    model: Student, config: TrainConfig, trained: frozenset[str], lam: float | None = None
) -> Tensor:
    reg = (model.first.weight**2).sum()
    if config.lam_all_layers:
        if "hidden" in trained:
            reg = reg + sum((layer.weight**2).sum() for layer in model.hidden_layers())
        if "output" in trained:
            reg = reg + (model.output.weight**2).sum()
    return (config.effective_lam if lam is None else lam) * reg


def make_run_teacher(config: TrainConfig) -> Teacher:
    """The teacher ``config`` describes."""
    return make_teacher(
        config.d,
        config.k,
        config.link,
        noise=config.noise,
        degree=config.degree,
        U=None if config.teacher_U is None else np.asarray(config.teacher_U, dtype=float),
        seed=config.seed if config.teacher_seed is None else config.teacher_seed,
        input_dist=config.input_dist,
    )


def log_test_samples(config: TrainConfig) -> int:
    """Test points used for the test loss at the log points (all of them at the end): few
    enough that logging stays a small share of the training."""
    return min(config.n_test, 512)


def estimate_memory(config: TrainConfig) -> int:
    """Bytes a run of ``config`` needs at its peak (parameters, activations, certificate).

    An estimate from the sizes alone, made before anything is allocated.

    Examples
    --------
    >>> estimate_memory(TrainConfig(width=100)) > 0
    True
    """
    size = 8 if config.dtype == "float64" else 4
    w, d, depth = config.width, config.d, config.depth
    params = w * (d + 2) + (depth - 1) * w * (w + 1) + 1
    optimizer_copies = 4 if config.optimizer == "adam" else 2
    total = params * size * (1 + optimizer_copies)
    total += config.batch * w * depth * 4 * size + config.batch * (d + 1) * size
    total += config.n_test * (d + 1) * size + min(config.n_test, 65536) * w * 3 * size
    if config.n_train is not None:
        total += config.n_train * (d + 1) * size
    if config.certificate or config.until == "sosp":
        n = config.n_cert
        total += n * (d + 1) * 8 + n * w * depth * 12 * 8  # double-backward graph
        steps = min(FINAL_LANCZOS_STEPS, params)
        total += params * 8 * (steps + 8)  # Lanczos basis, twin model, gradients
    return int(total)


CERTIFIED_GROUPS = frozenset({"first-weight", "first-bias"})
"""Theorem 4.1 asks for second-order stationarity in the first layer's (W, b); the rest of the
network is the θ the theorem holds fixed."""


def certified_risk(
    model: Student, config: TrainConfig
) -> tuple[Callable[[], Tensor], list[Tensor], Student]:
    """The regularised risk the certificate examines, on ``n_cert`` fixed samples, in float64.

    Returns ``(risk, params, twin)``: ``risk()`` evaluates the loss plus the weight decay at
    the float64 copy ``twin`` of ``model``, and ``params`` are twin's first-layer W and b (the
    variables of Theorem 4.1; b only when it is trained).
    """
    twin = copy.deepcopy(model).double()
    for p in twin.parameters():
        p.requires_grad_(False)
    x, y = make_run_teacher(config).sample(
        config.n_cert,
        torch.Generator().manual_seed(config.seed + 5),
        dtype=torch.float64,
        device=next(twin.parameters()).device,
    )
    params = _trained_parameters(twin, config.trained & CERTIFIED_GROUPS)
    for q in params:
        q.requires_grad_(True)
    loss_fn = loss_function(config)

    def risk() -> Tensor:
        return loss_fn(twin(x), y) + _regulariser(twin, config, config.trained)

    return risk, params, twin


def _trained_parameters(model: Student, trained: frozenset[str]) -> list[Tensor]:
    return [p for name, ps in model.layer_parameters().items() if name in trained for p in ps]


def _param_groups(model: Student, config: TrainConfig, rates: LayerRates) -> list[dict[str, Any]]:
    """One group per trained tensor, in the model's order, with its base rate."""
    groups: list[dict[str, Any]] = []
    for name, params in model.layer_parameters().items():
        if name not in config.trained:
            continue
        for p in params:
            if name == "first-weight":
                rate = rates.first_weight
            elif name == "first-bias":
                rate = rates.first_bias
            elif name == "hidden":
                rate = rates.hidden_weight if p.ndim == 2 else rates.hidden_bias
            else:
                rate = rates.output
            groups.append({"params": [p], "lr": rate, "base_lr": rate, "name": name})
    return groups


@contextmanager
def _deferred_interrupts() -> Iterator[dict[str, bool]]:
    """While ``state["critical"]``, a first Ctrl-C only sets ``state["requested"]``.

    The training loop checks the flag between steps, so a checkpoint is never taken in the
    middle of an update; outside the critical section (or at a second Ctrl-C) the usual
    ``KeyboardInterrupt`` is raised.
    """
    state = {"critical": False, "requested": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum: int, frame: Any) -> None:
        if state["critical"] and not state["requested"]:
            state["requested"] = True
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


class _Run:
    """One training run; its attributes are exactly what a checkpoint holds."""

    def __init__(self, config: TrainConfig, checkpoint: Path | None) -> None:
        self.config = config
        self.checkpoint = checkpoint
        require_memory(
            estimate_memory(config),
            f"a run with width {config.width}, depth {config.depth}, d {config.d}, "
            f"batch {config.batch}, n_test {config.n_test}, n_cert {config.n_cert}",
        )
        self.device = resolve_device(config.device)
        self.dtype = torch.float64 if config.dtype == "float64" else torch.float32
        self.lam = config.effective_lam
        self.teacher = make_run_teacher(config)
        self.init_gen = torch.Generator().manual_seed(config.seed)
        self.data_gen = torch.Generator().manual_seed(config.seed + 1)
        self.noise_gen = torch.Generator().manual_seed(config.seed + 2)
        self.x_test, self.y_test = self.teacher.sample(
            config.n_test,
            torch.Generator().manual_seed(config.seed + 3),
            dtype=self.dtype,
            device=self.device,
        )
        n_log = log_test_samples(config)
        self.x_log, self.y_log = self.x_test[:n_log], self.y_test[:n_log]
        self.train_set = (
            self.teacher.sample(
                config.n_train,
                torch.Generator().manual_seed(config.seed + 4),
                dtype=self.dtype,
                device=self.device,
            )
            if config.n_train is not None
            else None
        )
        self.model = Student(
            config.d,
            config.width,
            depth=config.depth,
            activation=config.activation,
            iota=config.iota,
            init=config.init,
            output_bias=config.output_bias,
            generator=self.init_gen,
        ).to(device=self.device, dtype=self.dtype)
        for name, params in self.model.layer_parameters().items():
            for p in params:
                p.requires_grad_(name in config.trained)
        self.rates = layer_rates(config)
        self.trained = set(config.trained)
        self.groups = _param_groups(self.model, config, self.rates)
        self.optimizer = self._optimizer()
        self.loss_fn = loss_function(config)
        self.U = self.teacher.U.to(device=self.device)
        self.tracked = tracked_neurons(config.width, config.order_neurons)
        self.schedule = PlateauSchedule(
            warmup=config.lr_warmup,
            decay=config.lr_decay,
            min_factor=config.lr_min_factor,
            adaptive=config.lr_schedule == "plateau",
        )
        self.log_steps = set(log_schedule(config.steps, config.log_points))
        self.step = 0
        self.elapsed = 0.0
        self.wd_integral = 0.0
        self.multiplier = 1.0
        self.log: list[dict[str, Any]] = []
        self.certificate_log: list[dict[str, Any]] = []
        self.snapshots: list[list[list[float]]] = []
        self.snapshot_steps: list[int] = []
        self.K_last: float | None = None
        self.lanczos_v: Tensor | None = None
        self.stop_reason: str | None = None
        self.final_certificate: SOSPCertificate | None = None
        self.seconds_logging = 0.0
        self.seconds_checks = 0.0
        self._twin: Student | None = None
        self.work_train = 0.0
        self.work_checks = 0.0
        self.last_expensive = 0
        self._cert_data: tuple[Tensor, Tensor] | None = None

    # Setup ----------------------------------------------------------------------------------

    def _optimizer(self) -> torch.optim.Optimizer:
        config = self.config
        if config.optimizer == "adam":
            return torch.optim.Adam(self.groups, lr=config.effective_lr)
        batch_gate = config.optimizer == "pgd" and config.pgd_gate == "batch"
        return PerturbedGD(
            self.groups,
            lr=config.effective_lr,
            grad_threshold=1e-3 if config.pgd_threshold is None else config.pgd_threshold,
            radius=(5e-3 if config.pgd_radius is None else config.pgd_radius)
            if batch_gate
            else 0.0,
            t_thres=config.pgd_t_thres,
            generator=self.noise_gen,
        )

    # Checkpoints ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "seconds": self.elapsed,
            "model": dict(self.model.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "data_gen": self.data_gen.get_state(),
            "noise_gen": self.noise_gen.get_state(),
            "schedule": self.schedule.state(),
            "wd_integral": self.wd_integral,
            "log": self.log,
            "certificate_log": self.certificate_log,
            "snapshots": self.snapshots,
            "snapshot_steps": self.snapshot_steps,
            "K_last": self.K_last,
            "lanczos_v": self.lanczos_v,
            "stop_reason": self.stop_reason,
            "work": [self.work_train, self.work_checks, self.last_expensive],
            "n_perturbations": int(getattr(self.optimizer, "n_perturbations", 0)),
        }

    def save(self) -> None:
        if self.checkpoint is not None:
            save_checkpoint(self.checkpoint, self.config.to_dict(), self.state())

    def restore(self) -> None:
        assert self.checkpoint is not None
        path = self.checkpoint
        saved, state = load_checkpoint(path)
        if isinstance(state.get("step"), int) and state["step"] > self.config.steps:
            raise InputError(
                f"checkpoint {path} is at step {state['step']} > steps = {self.config.steps}"
            )
        check_state(path, state, self.config.steps)
        current = self.config.to_dict()
        changed = sorted(
            k
            for k in set(current) | set(saved)
            if k not in RUN_CONTROL and saved.get(k) != current.get(k)
        )
        if changed:
            details = ", ".join(
                f"{k} ({saved.get(k)!r} there, {current.get(k)!r} here)" for k in changed[:4]
            )
            raise InputError(f"checkpoint {path} was made with other settings: {details}")
        try:
            step = int(state["step"])
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.data_gen.set_state(state["data_gen"])
            self.noise_gen.set_state(state["noise_gen"])
            self.schedule.load(state["schedule"])
            self.wd_integral = float(state["wd_integral"])
            self.log = list(state["log"])
            self.certificate_log = list(state["certificate_log"])
            self.snapshots = list(state["snapshots"])
            self.snapshot_steps = [int(s) for s in state["snapshot_steps"]]
            self.K_last = None if state["K_last"] is None else float(state["K_last"])
            v = state["lanczos_v"]
            self.lanczos_v = None if v is None else v.to(self.device)
            reason = state["stop_reason"]
            self.stop_reason = reason if reason in ("sosp", "plateau") else None
            self.step, self.elapsed = step, float(state["seconds"])
            self.work_train, self.work_checks = float(state["work"][0]), float(state["work"][1])
            self.last_expensive = int(state["work"][2])
        except InputError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"checkpoint {path} does not fit this run ({reason})") from None
        if isinstance(self.optimizer, PerturbedGD):
            self.optimizer.n_perturbations = int(state["n_perturbations"])

    # Training -------------------------------------------------------------------------------

    def batch(self) -> tuple[Tensor, Tensor]:
        config = self.config
        if self.train_set is None:
            return self.teacher.sample(
                config.batch, self.data_gen, dtype=self.dtype, device=self.device
            )
        if config.batch >= self.train_set[0].shape[0]:
            return self.train_set
        idx = torch.randint(0, self.train_set[0].shape[0], (config.batch,), generator=self.data_gen)
        return self.train_set[0][idx.to(self.device)], self.train_set[1][idx.to(self.device)]

    def set_rates(self, multiplier: float) -> None:
        if multiplier != self.multiplier:
            for group in self.optimizer.param_groups:
                group["lr"] = group["base_lr"] * multiplier
            self.multiplier = multiplier

    def take_step(self) -> Tensor:
        config = self.config
        self.set_rates(self.schedule.multiplier(self.step))
        x, y = self.batch()
        if config.backend == "fused":
            loss, grads = loss_and_gradients(
                self.model,
                x,
                y,
                loss=config.loss,
                huber_delta=config.huber_delta,
                lam=self.lam,
                lam_all_layers=config.lam_all_layers,
                trained=self.trained,
            )
            for p, g in grads.items():
                p.grad = g
        else:
            self.optimizer.zero_grad()
            loss = self.loss_fn(self.model(x), y)
            (loss + _regulariser(self.model, config, config.trained, self.lam)).backward()
        self.optimizer.step()
        if config.optimizer != "adam":
            self.wd_integral += 2.0 * self.lam * self.rates.first_weight * self.multiplier
        self.step += 1
        self.work_train += 3.0 * config.batch * (2.0 if config.dtype == "float64" else 1.0)
        return loss

    def evaluate(self, x: Tensor, y: Tensor, batch_loss: float) -> dict[str, Any]:
        with torch.no_grad():
            test = float(self.loss_fn(self.model(x), y))
        W = self.model.first.weight.detach()
        if not (math.isfinite(test) and bool(torch.isfinite(W).all())):
            raise InputError(
                f"training diverged by step {self.step} (stage: training; test loss {test}); "
                "lower the learning rate"
            )
        return {
            "step": self.step,
            "lr_factor": self.multiplier,
            "wd_integral": self.wd_integral,
            "train_loss": batch_loss,
            "test_loss": test,
            **order_parameters(W, self.U, self.tracked),
        }

    def record(self, batch_loss: float) -> None:
        """Append the log row of the current step (and the d = 2 snapshot)."""
        start = time.perf_counter()
        self.log.append(self.evaluate(self.x_log, self.y_log, batch_loss))
        if self.config.d == 2:
            self.snapshots.append(self.model.first.weight.detach().double().cpu().tolist())
            self.snapshot_steps.append(self.step)
        self.seconds_logging += time.perf_counter() - start

    # The certificate during training --------------------------------------------------------

    def twin(self) -> Student:
        """The float64 copy of the model, refreshed to the current point."""
        if self._twin is None:
            self._twin = copy.deepcopy(self.model).double()
            for p in self._twin.parameters():
                p.requires_grad_(False)
        with torch.no_grad():
            for p, q in zip(self._twin.parameters(), self.model.parameters(), strict=True):
                p.copy_(q)
        return self._twin

    def certificate_data(self) -> tuple[Tensor, Tensor]:
        if self._cert_data is None:
            self._cert_data = make_run_teacher(self.config).sample(
                self.config.n_cert,
                torch.Generator().manual_seed(self.config.seed + 5),
                dtype=torch.float64,
                device=self.device,
            )
        return self._cert_data

    def hessian(self, twin: Student, offset: Tensor | None = None) -> FirstLayerHessian:
        """Gradient and Hessian products in (W, b) at the twin's point (+ ``offset``)."""
        x, y = self.certificate_data()
        W, b = twin.first.weight, twin.first.bias
        with_bias = "first-bias" in self.config.trained
        if offset is not None:
            W.add_(offset[: W.numel()].reshape(W.shape))
            if with_bias:
                b.add_(offset[W.numel() :])
        try:
            H = FirstLayerHessian(
                twin,
                x,
                y,
                loss=self.config.loss,
                huber_delta=self.config.huber_delta,
                lam=self.lam,
                with_bias=with_bias,
            )
        finally:
            if offset is not None:
                W.sub_(offset[: W.numel()].reshape(W.shape))
                if with_bias:
                    b.sub_(offset[W.numel() :])
        if not bool(torch.isfinite(H.gradient).all()):
            raise InputError(f"training diverged by step {self.step} (stage: certificate check)")
        return H

    def target_norm(self) -> float:
        """The bound that makes the certificate informative: a fraction of the initial ‖W_⊥‖."""
        return self.config.sosp_fraction * float(self.log[0]["perp_norm"])

    def estimate_K(self, twin: Student, H: FirstLayerHessian, extra: list[Tensor]) -> float:
        """Local Hessian-Lipschitz estimate: random probes, one neuron, ``extra`` directions."""
        gen = torch.Generator().manual_seed(self.config.seed + 6)
        neuron = torch.zeros(H.n, dtype=torch.float64)
        d = self.config.d
        i = int(torch.argmax(self.model.output.weight.detach().abs().reshape(-1)))
        neuron[i * d : (i + 1) * d] = torch.randn(d, generator=gen, dtype=torch.float64)
        if H.with_bias:
            neuron[self.config.width * d + i] = float(
                torch.randn((), generator=gen, dtype=torch.float64)
            )

        def hvp_at(offset: Tensor | None) -> Callable[[Tensor], Tensor]:
            return H.matvec if offset is None else self.hessian(twin, offset).matvec

        return lipschitz_from_products(
            hvp_at,
            H.n,
            radius=1e-3,
            n_probes=self.config.k_probes,
            generator=gen,
            directions=[neuron, *extra],
            like=H.gradient,
        )

    def check_cost(self) -> float:
        """Work of a ρ check in sample-passes: a float64 forward and backward pass with the
        activation's derivatives, counted as 8 passes of a training sample."""
        return 8.0 * self.config.n_cert

    def check(self) -> None:
        """ρ at a log point; λ_min, K and the bound when ρ is near what the bound needs.

        ρ checks are budgeted (``CHECK_BUDGET``), λ_min and K spaced (``EXPENSIVE_SPACING``);
        both rules count steps and samples, so that runs and resumes are deterministic. A
        check may perturb (PGD's
        certificate gate: ρ small but λ_min < −√(Kρ), a strict saddle for the certificate)
        or stop the run (``until = "sosp"`` and a certified informative bound).
        """
        config = self.config
        if self.work_checks + self.check_cost() > CHECK_BUDGET * self.work_train:
            return
        start = time.perf_counter()
        self.work_checks += self.check_cost()
        twin = self.twin()
        H = self.hessian(twin)
        rho = float(H.gradient.norm())
        target = self.target_norm()
        lam = self.lam
        rho_target = largest_certifiable_gradient(lam, self.K_last or 0.0, target)
        row: dict[str, Any] = {
            "step": self.step,
            "grad_norm": rho,
            "rho_target": rho_target,
            "perp_norm": self.log[-1]["perp_norm"],
        }
        if rho <= rho_target and self.step >= EXPENSIVE_SPACING * self.last_expensive:
            self.last_expensive = self.step
            v0 = self.lanczos_v if self.lanczos_v is not None else _random_start(H.n, config.seed)
            result = lanczos(H.matvec, v0.to(H.gradient), steps=config.lanczos_steps, tol=1e-3)
            self.lanczos_v = result.vector_min
            K = self.estimate_K(twin, H, [result.vector_min])
            self.K_last = K
            rho_target = largest_certifiable_gradient(lam, K, target)
            failures = hypothesis_failures(rho, result.lambda_min, lam, K)
            bound = lemma_bound(rho, lam, K) if not failures else None
            row.update(
                rho_target=rho_target,
                lambda_min=result.lambda_min,
                lambda_max=result.lambda_max,
                K=K,
                bound=bound,
                failures=list(failures),
            )
            threshold = config.pgd_threshold if config.pgd_threshold is not None else rho_target
            saddle = rho <= threshold and result.lambda_min < -math.sqrt(K * rho)
            if saddle and config.optimizer == "pgd" and config.pgd_gate == "certificate":
                assert isinstance(self.optimizer, PerturbedGD)
                radius = config.pgd_radius or self.auto_radius(rho_target, result.lambda_max)
                row["perturbed"] = self.optimizer.perturb(radius)
                row["radius"] = radius
            elif (
                config.until == "sosp"
                and bound is not None
                and bound <= target
                and (self.schedule.n_decays >= 1 or not self.schedule.adaptive)
            ):
                cert = self.full_certificate(twin, H, K)
                row["final_check"] = cert.bound is not None and cert.bound <= target
                if row["final_check"]:
                    self.final_certificate = cert
                    self.stop_reason = "sosp"
        self.certificate_log.append(row)
        self.seconds_checks += time.perf_counter() - start

    def auto_radius(self, rho_target: float, lambda_max: float) -> float:
        """Jin et al.'s radius r ~ ε/ℓ: the gradient target over the gradient-Lipschitz
        constant (the top Hessian eigenvalue), at most 1 % of the parameters' norm."""
        params = _trained_parameters(self.model, self.config.trained)
        norm = math.sqrt(sum(float((p.detach() ** 2).sum()) for p in params))
        return min(rho_target / max(lambda_max, 1e-12), 1e-2 * norm)

    def full_certificate(
        self,
        twin: Student | None = None,
        H: FirstLayerHessian | None = None,
        K: float | None = None,
    ) -> SOSPCertificate:
        """The certificate at the current point: converged Lanczos and a K estimate (``K``
        when it was just estimated at this point)."""
        start = time.perf_counter()
        if twin is None or H is None:
            twin = self.twin()
            H = self.hessian(twin)
        rho = float(H.gradient.norm())
        if K is None:
            K = self.estimate_K(twin, H, [] if self.lanczos_v is None else [self.lanczos_v])
        v0 = _random_start(H.n, self.config.seed)
        if self.lanczos_v is not None:  # warm, with a random part so no direction is missed
            v0 = self.lanczos_v.cpu() / float(self.lanczos_v.norm()) + 0.3 * v0 / float(v0.norm())
        spectrum = lanczos(
            H.matvec,
            v0.to(H.gradient),
            steps=min(H.n, FINAL_LANCZOS_STEPS),
            tol=1e-8,
            atol=0.1 * math.sqrt(K * rho),
            min_steps=min(H.n, FINAL_LANCZOS_MIN_STEPS),
        )
        cert = certificate_from_spectrum(
            rho,
            spectrum,
            n_params=H.n,
            method="lanczos",
            hvp_evaluations=H.evaluations,
            seconds=time.perf_counter() - start,
            lam=self.lam,
            K=K,
            K_is_estimate=True,
            n_samples=self.config.n_cert,
        )
        extra = (
            "; K is a local estimate (a lower estimate of the true constant), and the risk is "
            "measured on a finite sample"
        )
        failures = cert.failures
        if "first-bias" not in self.config.trained:
            failures = (*failures, "the first-layer bias is frozen: Theorem 4.1 needs (W, b)")
        if self.config.activation not in SMOOTH_ACTIVATIONS:
            failures = (*failures, f"activation {self.config.activation} is not smooth")
        if self.config.input_dist != "gaussian":
            failures = (*failures, f"input {self.config.input_dist} is not Gaussian")
        return dataclasses.replace(
            cert,
            note=cert.note + extra,
            failures=failures,
            bound=cert.bound if failures == cert.failures else None,
        )

    # The run --------------------------------------------------------------------------------

    def run(self, callback: Callable[[int, int], None] | None) -> TrainResult:
        config = self.config
        interrupted = False
        deadline = time.perf_counter() + config.time_limit
        # Checks serve the stopping rule and PGD's certificate gate; a run with neither needs
        # only the final certificate.
        checks = config.until == "sosp" or (
            config.optimizer == "pgd" and config.pgd_gate == "certificate"
        )
        t0 = time.perf_counter()
        with _deferred_interrupts() as signals:
            try:
                if self.step == 0 and not self.log:
                    x, y = (
                        self.batch()
                        if self.train_set is not None
                        else (
                            self.x_test[: config.batch],
                            self.y_test[: config.batch],
                        )
                    )
                    with torch.no_grad():
                        self.record(float(self.loss_fn(self.model(x), y)))
                signals["critical"] = True
                while self.stop_reason is None:
                    if self.step >= config.steps:
                        self.stop_reason = "steps" if config.until == "steps" else "max-steps"
                        break
                    loss = self.take_step()
                    if self.step in self.log_steps:
                        self.record(float(loss.detach()))
                        if checks and self.step >= max(config.lr_warmup, 1):
                            self.check()
                        if self.stop_reason is None:
                            self.after_log_point()
                    if config.checkpoint_every and self.step % config.checkpoint_every == 0:
                        self.save()
                    if callback is not None:
                        callback(self.step, config.steps)
                    if signals["requested"]:
                        raise KeyboardInterrupt
                    if config.until != "steps" and time.perf_counter() > deadline:
                        self.stop_reason = "time-limit"
            except KeyboardInterrupt:
                if not self.log:
                    raise
                interrupted = True
            finally:
                signals["critical"] = False
            self.elapsed += time.perf_counter() - t0
            if interrupted:
                self.save()
                final = self.evaluate(self.x_test, self.y_test, math.nan)
                return self.result(final, interrupted=True)
            if not self.log or self.log[-1]["step"] != self.step:
                self.record(math.nan)
            self.save()
            final = self.evaluate(self.x_test, self.y_test, self.log[-1]["train_loss"])
            certificate = self.final_certificate
            if certificate is None and config.certificate:
                try:
                    certificate = self.full_certificate()
                except KeyboardInterrupt:
                    return self.result(final, interrupted=True)
            return self.result(final, interrupted=False, certificate=certificate)

    def after_log_point(self) -> None:
        """The schedule's decay on a plateau, and the plateau stop."""
        if not self.schedule.plateau(self.log):
            return
        if not self.schedule.step_down(self.step) and self.config.until != "steps":
            self.stop_reason = "plateau"

    def result(
        self,
        final: dict[str, Any],
        *,
        interrupted: bool,
        certificate: SOSPCertificate | None = None,
    ) -> TrainResult:
        return TrainResult(
            steps=self.step,
            seconds=self.elapsed,
            stop_reason="interrupted" if interrupted else str(self.stop_reason),
            perp_ratio_initial=float(self.log[0]["perp_ratio"]),
            perp_ratio_final=final["perp_ratio"],
            perp_norm_initial=float(self.log[0]["perp_norm"]),
            perp_norm_final=final["perp_norm"],
            principal_angles_deg=final["principal_angles_deg"],
            effective_rank=final["effective_rank"],
            test_loss=final["test_loss"],
            certificate=certificate,
            compression=_compression(
                self.model,
                self.teacher.U,
                self.config.k,
                self.x_test,
                self.y_test,
                self.loss_fn,
                final["test_loss"],
            ),
            log=self.log,
            certificate_log=self.certificate_log,
            n_perturbations=int(getattr(self.optimizer, "n_perturbations", 0)),
            interrupted=interrupted,
            config=self.config,
            rates=self.rates,
            lam=self.lam,
            seconds_logging=self.seconds_logging,
            seconds_checks=self.seconds_checks,
            checkpoint=None if self.checkpoint is None else str(self.checkpoint),
            snapshots=self.snapshots,
            snapshot_steps=self.snapshot_steps,
            teacher_U=self.teacher.U.tolist(),
            model=self.model,
        )


def _random_start(n: int, seed: int) -> Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed + 7), dtype=torch.float64)


def train(
    config: TrainConfig,
    *,
    checkpoint: str | Path | None = None,
    resume: bool | Literal["if-exists"] = False,
    callback: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train a student on a teacher as configured; see :class:`TrainConfig`.

    Parameters
    ----------
    config : TrainConfig
        The run's settings (validated when it was built).
    checkpoint : path, optional
        Where checkpoints are written (every ``checkpoint_every`` steps, at the end, and on
        Ctrl-C), atomically, in a format that cannot execute code.
    resume : bool or "if-exists"
        ``True``: continue from ``checkpoint``, which must exist (a missing one is an
        :class:`InputError`, not a silent fresh start); ``"if-exists"``: continue from it when
        it exists, start afresh otherwise. The settings must match the checkpoint's except
        ``steps``, ``time_limit``, ``checkpoint_every`` and ``device``, and every value of its
        header is checked; the result is then bit-identical to an uninterrupted run (same
        machine and thread count).
    callback : callable, optional
        ``callback(step, total)`` after every step (a progress bar); raising
        ``KeyboardInterrupt`` from it stops the run cleanly, as Ctrl-C does.

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> from derand.nn import TrainConfig, train
    >>> config = TrainConfig(d=8, k=1, link="tanh", width=32, until="steps", steps=50,
    ...                      certificate=False)
    >>> result = train(config)
    >>> result.steps, result.stop_reason
    (50, 'steps')
    """
    if not isinstance(config, TrainConfig):
        raise InputError(f"config must be a TrainConfig, got {type(config).__name__}")
    if resume not in (False, True, "if-exists") or not isinstance(resume, (bool, str)):
        raise InputError(f"resume must be True, False or 'if-exists', got {resume!r}")
    path = None if checkpoint is None else Path(checkpoint)
    if resume and path is None:
        raise InputError("resume needs a checkpoint path")
    if resume is True and path is not None and not path.exists():
        raise InputError(
            f"checkpoint {path} not found, so there is nothing to resume "
            "(resume='if-exists' / --resume-if-exists starts afresh when there is none)"
        )
    run = _Run(config, path)
    if resume and path is not None and path.exists():
        run.restore()
    return run.run(callback)


def _compression(
    model: Student,
    U: Tensor,
    k: int,
    x_test: Tensor,
    y_test: Tensor,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    before: float,
) -> Compression:
    """Replace the first layer's W by its best rank-k approximation; compare test losses
    (``before``: the test loss of the model as it is)."""
    W = model.first.weight.detach()
    width, d = W.shape
    U_s, S, Vt = torch.linalg.svd(W.double(), full_matrices=False)
    W_k = (U_s[:, :k] * S[:k]) @ Vt[:k]
    total = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        saved = W.clone()
        model.first.weight.copy_(W_k.to(W.dtype))
        after = float(loss_fn(model(x_test), y_test))
        model.first.weight.copy_(saved)
    first_after = k * (width + d)
    angles = order_parameters(W_k, U, [])["principal_angles_deg"]
    return Compression(
        rank=k,
        params_before=int(total),
        params_after=int(total - width * d + first_after),
        first_layer_params_before=int(width * d),
        first_layer_params_after=int(first_after),
        test_loss_before=before,
        test_loss_after=after,
        principal_angles_deg_after=angles,
    )
