"""The training loop: a student on a multiple-index teacher, read top to bottom (paper §4).

``train(config)`` builds a teacher and a student and trains with perturbed gradient descent
(``derand.core.PerturbedGD``), SGD or Adam, with per-layer rates that follow the
parametrisation (:mod:`derand.nn.rates`) and a warm-up / plateau schedule
(:mod:`derand.nn.schedule`). On a log-spaced schedule it records the alignment of the first
layer with the teacher subspace and the order parameters (:func:`order_parameters`), and lets
the certifier (:mod:`derand.nn.certification`) check ρ, λ_min and Theorem 4.1's bound. It
stops at a certified ρ-SOSP, at a plateau, or after a number of steps (``until``),
checkpoints safely (:mod:`derand.nn.checkpoint`), resumes exactly, and ends with the SOSP
certificate and a low-rank compression of the first layer (:mod:`derand.nn.compression`).

The loop itself is :meth:`_Run.run`; each step is :meth:`_Run.take_step`.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from derand.core import PerturbedGD, SOSPCertificate
from derand.device import resolve_device
from derand.errors import InputError
from derand.limits import require_memory
from derand.nn.certification import (
    CERTIFIED_GROUPS,
    FINAL_LANCZOS_STEPS,
    Certifier,
    certified_risk,
    verdict,
)
from derand.nn.checkpoint import check_state, load_checkpoint, save_checkpoint
from derand.nn.compiled import CompiledStep, compiled_unavailable
from derand.nn.compression import Compression, compress_first_layer
from derand.nn.config import (
    BACKENDS,
    LOSSES,
    MAX_STEPS,
    OPTIMIZERS,
    RUN_CONTROL,
    TrainConfig,
)
from derand.nn.fused import _loss_and_gradients
from derand.nn.metrics import order_parameters, tracked_neurons
from derand.nn.objective import (
    loss_function,
    make_run_teacher,
    regulariser,
    trained_parameters,
)
from derand.nn.outcome import best_constant_loss, classify
from derand.nn.rates import LayerRates, layer_rates
from derand.nn.result import STOP_REASONS, TrainResult
from derand.nn.schedule import PlateauSchedule
from derand.nn.span import SPAN_FIT, SPAN_VALID, fit_on_span
from derand.nn.students import Student

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


IMPROVING_PERP = 0.05
IMPROVING_LOSS = 0.01
"""A run at its cap still improves when ‖W_⊥‖_F fell by 5 % or the test loss by 1 % since
half the steps (``steps`` not given: the cap is then doubled)."""
COLLAPSE_RADIUS = 0.5
"""At a collapsed point, PGD perturbs by this share of the initial ‖W‖_F (a restart at half
the initial scale: a local perturbation cannot leave the basin of W = 0)."""


def log_schedule(steps: int, points: int) -> list[int]:
    """Log-spaced step indices in [0, steps], always including 0 and ``steps``.

    Examples
    --------
    >>> log_schedule(1000, 5)
    [0, 1, 6, 32, 178, 1000]
    """
    grid = np.unique(np.round(np.geomspace(1, steps, points)).astype(int))
    return sorted({0, steps, *grid.tolist()})


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
    if config.certificate:
        n = config.n_cert
        total += n * (d + 1) * 8 + n * w * depth * 12 * 8  # double-backward graph
        steps = min(FINAL_LANCZOS_STEPS, params)
        total += params * 8 * (steps + 8)  # Lanczos basis, twin model, gradients
    return int(total)


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
    """One training run; its attributes (and the certifier's) are what a checkpoint holds."""

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
        # The teacher, the data and the student.
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
        self.baseline_test = best_constant_loss(config.loss, self.y_test, config.huber_delta)
        self.baseline_log = best_constant_loss(config.loss, self.y_log, config.huber_delta)
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
        # The optimiser, its rates and the schedule.
        self.rates = layer_rates(config)
        self.trained = set(config.trained)
        self.groups = _param_groups(self.model, config, self.rates)
        self.optimizer = self._optimizer()
        self.raw_step: Callable[[torch.optim.Optimizer], Any] = inspect.unwrap(
            type(self.optimizer).step
        )
        # The compiled step where it computes what the torch step computes (CPU, one hidden
        # layer, ...): the same update, without torch's per-operation overhead.
        self.compiled = (
            CompiledStep(self.model, self.optimizer, config)
            if isinstance(self.optimizer, PerturbedGD)
            and compiled_unavailable(config, self.device) is None
            else None
        )
        self.loss_fn = loss_function(config)
        self.U = self.teacher.U.to(device=self.device)
        self.tracked = tracked_neurons(config.width, config.order_neurons)
        self.schedule = PlateauSchedule(
            warmup=config.lr_warmup,
            decay=config.lr_decay,
            min_factor=config.lr_min_factor,
            adaptive=config.lr_schedule == "plateau",
        )
        self.certifier = Certifier(config, self.lam, self.device)
        # The state of the loop.
        self.cap = config.step_cap
        self.log_steps = set(log_schedule(self.cap, config.log_points))
        self.step = 0
        self.elapsed = 0.0
        self.wd_integral = 0.0
        self.multiplier = 1.0
        self.log: list[dict[str, Any]] = []
        self.snapshots: list[list[list[float]]] = []
        self.snapshot_steps: list[int] = []
        self.stop_reason: str | None = None
        self.seconds_logging = 0.0
        self.work_train = 0.0
        self.collapse_escapes: list[dict[str, Any]] = []
        self.sosp_all: dict[str, Any] | None = None

    def _optimizer(self) -> torch.optim.Optimizer:
        config = self.config
        if config.optimizer == "adam":
            return torch.optim.Adam(self.groups, lr=config.effective_lr)
        # Without the certificate there are no checks, so PGD perturbs by the minibatch rule.
        batch_gate = config.optimizer == "pgd" and (
            config.pgd_gate == "batch" or not config.certificate
        )
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

    # The loop -------------------------------------------------------------------------------

    def run(self, callback: Callable[[int, int], None] | None) -> TrainResult:
        config = self.config
        interrupted = False
        deadline = time.perf_counter() + config.time_limit
        # Checks serve the stopping rule and PGD's certificate gate; a run with neither needs
        # only the final certificate, and a run without the certificate none at all.
        checks = config.certificate and (
            config.until == "sosp"
            or (config.optimizer == "pgd" and config.pgd_gate == "certificate")
        )
        t0 = time.perf_counter()
        threads = (
            self.compiled.blas_threads() if self.compiled is not None else contextlib.nullcontext()
        )
        with threads, _deferred_interrupts() as signals:
            try:
                if self.step == 0 and not self.log:
                    self.record_start()
                signals["critical"] = True
                while self.stop_reason is None:
                    if self.step >= self.cap and not self.extend_cap(deadline):
                        self.stop_reason = "steps" if config.until == "steps" else "max-steps"
                        break
                    loss = self.take_step()
                    if self.step in self.log_steps:
                        self.record(float(loss.detach() if isinstance(loss, Tensor) else loss))
                        if checks and self.step >= max(config.lr_warmup, 1):
                            self.check()
                        if self.stop_reason is None:
                            self.after_log_point()
                    if config.checkpoint_every and self.step % config.checkpoint_every == 0:
                        self.save()
                    if callback is not None:
                        callback(self.step, self.cap)
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
            certificate = self.certifier.final
            if config.certificate:
                try:
                    if certificate is None:
                        certificate = self.certifier.full_certificate(self.model, self.step)
                    # the theorem's SOSP is over every trained tensor; at depth 1 "hidden"
                    # names none, and then (W, b) are all of them
                    others = trained_parameters(self.model, config.trained - CERTIFIED_GROUPS)
                    if others:
                        self.sosp_all = self.certifier.all_parameters(self.model, self.step)
                    else:
                        self.sosp_all = {
                            "grad_norm": certificate.grad_norm,
                            "lambda_min": certificate.lambda_min,
                            "residual": certificate.residual,
                            "converged": certificate.converged,
                            "n_params": certificate.n_params,
                        }
                except KeyboardInterrupt:
                    return self.result(final, interrupted=True)
            return self.result(final, interrupted=False, certificate=certificate)

    def extend_cap(self, deadline: float) -> bool:
        """At the cap: double it when ``steps`` was not given, the time limit allows and the
        run still improves (‖W_⊥‖_F down ``IMPROVING_PERP`` or the test loss down
        ``IMPROVING_LOSS`` since half the steps); the log schedule grows with it."""
        config = self.config
        if not config.extends_steps or time.perf_counter() >= deadline or self.cap >= MAX_STEPS:
            return False
        if not self.improving():
            return False
        self.grow_cap()
        return True

    def grow_cap(self) -> None:
        old = self.cap
        self.cap = min(2 * old, MAX_STEPS)
        new = log_schedule(self.cap, self.config.log_points)
        self.log_steps |= {s for s in new if s > old}

    def improving(self) -> bool:
        last = self.log[-1]
        earlier = [row for row in self.log if row["step"] <= last["step"] // 2]
        if not earlier:
            return True
        ref = earlier[-1]
        return bool(
            last["perp_norm"] < (1.0 - IMPROVING_PERP) * ref["perp_norm"]
            or last["test_loss"] < (1.0 - IMPROVING_LOSS) * ref["test_loss"]
        )

    def take_step(self) -> Tensor | float:
        """One step: the rates of the schedule, a batch, the gradients, the update."""
        config = self.config
        self.set_rates(self.schedule.multiplier(self.step))
        x, y = self.batch()
        loss: Tensor | float
        if self.compiled is not None:
            loss = self.compiled(x, y, self.lam)
        elif config.backend != "autograd":
            with torch.no_grad():
                loss, grads = _loss_and_gradients(
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
                # the optimiser's own step, without torch's profiling wrapper and its
                # hooks (none are registered): the same update, ~30 µs less a step
                self.raw_step(self.optimizer)
        else:
            self.optimizer.zero_grad()
            loss = self.loss_fn(self.model(x), y)
            torch.autograd.backward(
                loss + regulariser(self.model, config, config.trained, self.lam)
            )
            self.optimizer.step()
        if config.optimizer != "adam":
            self.wd_integral += 2.0 * self.lam * self.rates.first_weight * self.multiplier
        self.step += 1
        self.work_train += 3.0 * config.batch * (2.0 if config.dtype == "float64" else 1.0)
        return loss

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

    def check(self) -> None:
        """The certifier's check at this log point (it may perturb, or stop the run)."""
        stop = self.certifier.check(
            self.model,
            self.optimizer,
            self.schedule,
            step=self.step,
            perp_norm=self.log[-1]["perp_norm"],
            target=self.target_norm(),
            work_train=self.work_train,
            collapsed=self.collapsed(),
        )
        if stop == "collapsed":
            self.escape("sosp")
        elif stop is not None:
            self.stop_reason = stop

    def collapsed(self) -> bool:
        """Whether the last log row is a collapsed point (W ≈ 0, nothing explained)."""
        first, last = self.log[0], self.log[-1]
        return (
            classify(
                test_loss=last["test_loss"],
                baseline_loss=self.baseline_log,
                angles_deg=last["principal_angles_deg"],
                w_norm_initial=math.hypot(first["par_norm"], first["perp_norm"]),
                w_norm_final=math.hypot(last["par_norm"], last["perp_norm"]),
            ).status
            == "collapsed"
        )

    def escape(self, instead_of: str) -> None:
        """At a collapsed point (``instead_of``: the stop it replaces, or ``"collapse"`` at a
        log point): go on, lower λ by ``lam_collapse_factor``, and with PGD perturb the first
        layer by ``COLLAPSE_RADIUS`` times its initial norm (at most once per ``pgd_t_thres``
        steps) — escaping such a region is what the perturbations are for."""
        row: dict[str, Any] = {"step": self.step, "instead_of": instead_of, "perturbed": False}
        perturbed = [e["step"] for e in self.collapse_escapes if e.get("perturbed")]
        recent = perturbed and self.step - perturbed[-1] <= self.config.pgd_t_thres
        if self.config.optimizer == "pgd" and not recent:
            first = self.log[0]
            radius = COLLAPSE_RADIUS * math.hypot(first["par_norm"], first["perp_norm"])
            self.perturb_first_layer(radius)
            row["perturbed"] = True
            row["radius"] = radius
        factor = self.config.lam_collapse_factor
        lowered = [e["step"] for e in self.collapse_escapes if "lam" in e]
        if factor < 1.0 and self.lam > 0 and (not lowered or self.step >= 1.5 * lowered[-1]):
            # The weight decay won over the signal: lower it (the rates stay as they are).
            self.lam *= factor
            self.certifier.lam = self.lam
            row["lam"] = self.lam
        self.collapse_escapes.append(row)

    @torch.no_grad()
    def perturb_first_layer(self, radius: float) -> None:
        """Add a perturbation uniform in the ball of ``radius`` to the first layer's (W, b)
        only (the other layers keep their scale: the output's is 1/width), from the run's
        noise generator."""
        first = self.model.first
        params = [first.weight] + ([first.bias] if "first-bias" in self.config.trained else [])
        n = sum(p.numel() for p in params)
        g = torch.randn(n, generator=self.noise_gen, dtype=torch.float64)
        u = float(torch.rand((), generator=self.noise_gen, dtype=torch.float64))
        g *= radius * u ** (1.0 / n) / float(g.norm())
        offset = 0
        for p in params:
            p.add_(g[offset : offset + p.numel()].reshape(p.shape).to(p))
            offset += p.numel()
        if isinstance(self.optimizer, PerturbedGD):
            self.optimizer.n_perturbations += 1

    def target_norm(self) -> float:
        """The bound that makes the certificate informative: a fraction of the initial ‖W_⊥‖."""
        return self.config.sosp_fraction * float(self.log[0]["perp_norm"])

    def after_log_point(self) -> None:
        """The schedule's decay on a plateau, and the plateau stop (``until = "sosp"`` does
        not stop at a collapsed point: it goes on, see :meth:`escape`)."""
        config = self.config
        if config.until == "sosp" and config.lam_collapse_factor < 1.0 and self.lam > 0:
            lowered = [e["step"] for e in self.collapse_escapes if "lam" in e]
            due = self.step >= max(config.lr_warmup, 1.5 * (lowered[-1] if lowered else 0))
            if due and self.collapsed():  # W ≈ 0 with nothing learned: lower λ now
                self.escape("collapse")
                return
        if not self.schedule.plateau(self.log):
            return
        if not self.schedule.step_down(self.step) and self.config.until != "steps":
            if self.config.until == "sosp" and self.collapsed():
                self.escape("plateau")
            else:
                self.stop_reason = "plateau"

    # The log ---------------------------------------------------------------------------------

    def record_start(self) -> None:
        """The log row of step 0, with the loss of a first batch (no step taken)."""
        config = self.config
        x, y = (
            self.batch()
            if self.train_set is not None
            else (self.x_test[: config.batch], self.y_test[: config.batch])
        )
        with torch.no_grad():
            self.record(float(self.loss_fn(self.model(x), y)))

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

    def adam_decay_rate(self) -> float:
        """Adam's weight-decay contraction of ‖W‖ per step at the current point.

        The penalty's gradient 2λW passes through Adam's preconditioner, so on entry j it
        moves W by −η · 2λ w_j / (√v̂_j + ε) a step: a contraction at the rate
        2λη/(√v̂_j + ε), whose mean weighted by w_j² is the rate of log ‖W‖_F. It plays
        the part that 2λη plays for SGD in the plateau schedule's window (without it Adam's
        rates never decayed, and its noise floor ‖W_⊥‖ ∝ η stayed where it started).
        """
        W = self.model.first.weight
        state = self.optimizer.state.get(W, {})
        if self.lam <= 0 or "exp_avg_sq" not in state:
            return 0.0
        group = next(g for g in self.optimizer.param_groups if g["params"][0] is W)
        beta2, eps = float(group["betas"][1]), float(group["eps"])
        t = float(state["step"])
        with torch.no_grad():
            scale = (state["exp_avg_sq"] / (1.0 - beta2**t)).sqrt_().add_(eps)
            w2 = W.detach().square()
            weighted = float((w2 / scale).sum()) / max(float(w2.sum()), 1e-300)
        return 2.0 * self.lam * float(group["lr"]) * weighted

    def record(self, batch_loss: float) -> None:
        """Append the log row of the current step (and the d = 2 snapshot)."""
        start = time.perf_counter()
        if self.config.optimizer == "adam" and self.log:
            # Adam's weight-decay contraction since the last row, at the current rate
            self.wd_integral += self.adam_decay_rate() * (self.step - self.log[-1]["step"])
        self.log.append(self.evaluate(self.x_log, self.y_log, batch_loss))
        if self.config.d == 2:
            self.snapshots.append(self.model.first.weight.detach().double().cpu().tolist())
            self.snapshot_steps.append(self.step)
        self.seconds_logging += time.perf_counter() - start

    # Checkpoints ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        certifier = self.certifier
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
            "snapshots": self.snapshots,
            "snapshot_steps": self.snapshot_steps,
            "stop_reason": self.stop_reason,
            "work": [self.work_train, certifier.work, certifier.last_expensive],
            "n_perturbations": int(getattr(self.optimizer, "n_perturbations", 0)),
            "collapse_escapes": self.collapse_escapes,
            "cap": self.cap,
            "lam": self.lam,
            **certifier.state(),
        }

    def save(self) -> None:
        if self.checkpoint is not None:
            save_checkpoint(self.checkpoint, self.config.to_dict(), self.state())

    def restore(self) -> None:
        assert self.checkpoint is not None
        path = self.checkpoint
        saved, state = load_checkpoint(path)
        cap = state.get("cap", self.config.step_cap)
        if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_STEPS:
            raise InputError(f"checkpoint {path}: cap must be a step count, got {cap!r}")
        if self.config.steps is not None or not self.config.extends_steps:
            cap = self.config.step_cap  # an explicit --steps on resume is the cap
        if isinstance(state.get("step"), int) and state["step"] > cap:
            raise InputError(f"checkpoint {path} is at step {state['step']} > steps = {cap}")
        check_state(path, state, cap)
        while self.cap < cap:  # the extensions of the saved run, in order
            self.grow_cap()
        current = self.config.to_dict()
        defaults = TrainConfig().to_dict()  # a setting added since the checkpoint: its default
        changed = sorted(
            k
            for k in set(current) | set(saved)
            if k not in RUN_CONTROL and saved.get(k, defaults.get(k)) != current.get(k)
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
            self.snapshots = list(state["snapshots"])
            self.snapshot_steps = [int(s) for s in state["snapshot_steps"]]
            reason = state["stop_reason"]
            self.stop_reason = reason if reason in ("sosp", "plateau") else None
            self.step, self.elapsed = step, float(state["seconds"])
            self.work_train = float(state["work"][0])
            escapes = state.get("collapse_escapes", [])
            if not isinstance(escapes, list) or not all(isinstance(e, dict) for e in escapes):
                raise InputError(f"checkpoint {path}: collapse_escapes must be a list of rows")
            self.collapse_escapes = list(escapes)
            lam = state.get("lam", self.lam)
            if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0 <= lam <= 1e6:
                raise InputError(f"checkpoint {path}: lam must be a number in [0, 1e6]")
            self.lam = self.certifier.lam = float(lam)
            self.certifier.load(state, float(state["work"][1]), int(state["work"][2]))
        except InputError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"checkpoint {path} does not fit this run ({reason})") from None
        if isinstance(self.optimizer, PerturbedGD):
            self.optimizer.n_perturbations = int(state["n_perturbations"])

    # The result -----------------------------------------------------------------------------

    def result(
        self,
        final: dict[str, Any],
        *,
        interrupted: bool,
        certificate: SOSPCertificate | None = None,
    ) -> TrainResult:
        first = self.log[0]
        w0 = math.hypot(first["par_norm"], first["perp_norm"])
        outcome = classify(
            test_loss=final["test_loss"],
            baseline_loss=self.baseline_test,
            angles_deg=final["principal_angles_deg"],
            w_norm_initial=w0,
            w_norm_final=math.hypot(final["par_norm"], final["perp_norm"]),
        )
        span_fit = self.span_fit() if not interrupted else None
        proven, proven_cert = self.certifier.proven or (None, None)
        certified, why = verdict(
            proven if certificate is not None else None,
            proven_cert,
            perp_norm_initial=float(first["perp_norm"]),
        )
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
            compression=compress_first_layer(
                self.model,
                self.teacher.U,
                self.config.k,
                self.x_test,
                self.y_test,
                self.loss_fn,
                final["test_loss"],
            ),
            log=self.log,
            certificate_log=self.certifier.log,
            n_perturbations=int(getattr(self.optimizer, "n_perturbations", 0)),
            interrupted=interrupted,
            config=self.config,
            rates=self.rates,
            lam=self.lam,
            seconds_logging=self.seconds_logging,
            seconds_checks=self.certifier.seconds,
            step_kernel="compiled"
            if self.compiled is not None
            else ("autograd" if self.config.backend == "autograd" else "torch"),
            checkpoint=None if self.checkpoint is None else str(self.checkpoint),
            reproducible=interrupted or self.stop_reason != "time-limit",
            par_norm_initial=float(first["par_norm"]),
            par_norm_final=float(final["par_norm"]),
            outcome=outcome.status,
            outcome_message=outcome.message,
            directions_found=outcome.directions_found,
            explained=outcome.explained,
            baseline_loss=outcome.baseline_loss,
            collapse_escapes=self.collapse_escapes,
            certified=certified,
            certified_note=why,
            K_proven=None if proven is None else proven.K,
            K_proven_radius=None if proven is None else proven.radius,
            certificate_proven=proven_cert if certificate is not None else None,
            sosp_all=self.sosp_all,
            span_fit=span_fit,
            snapshots=self.snapshots,
            snapshot_steps=self.snapshot_steps,
            teacher_U=self.teacher.U.tolist(),
            model=self.model,
        )

    def span_fit(self) -> dict[str, Any]:
        """The best predictor on the span found and on the teacher's (:mod:`derand.nn.span`):
        kernel ridge regression on the projected inputs, fitted on fresh samples (seed + 8),
        evaluated on the test set."""
        config = self.config
        gen = torch.Generator().manual_seed(config.seed + 8)
        fit = self.teacher.sample(SPAN_FIT, gen, dtype=torch.float64)
        valid = self.teacher.sample(SPAN_VALID, gen, dtype=torch.float64)
        test = (self.x_test.cpu(), self.y_test.cpu())
        W = self.model.first.weight.detach().cpu().double()
        found = torch.linalg.svd(W, full_matrices=False).Vh[: config.k]
        row: dict[str, Any] = {"method": "kernel ridge regression", "n_fit": SPAN_FIT}
        for name, basis in (("found", found), ("teacher", self.teacher.U)):
            result = fit_on_span(
                basis,
                fit,
                valid,
                test,
                loss=config.loss,
                huber_delta=config.huber_delta,
                baseline_loss=self.baseline_test,
            )
            row[f"{name}_loss"] = result.loss
            row[f"{name}_explained"] = result.explained
            row[f"{name}_lengthscale"] = result.lengthscale
            row[f"{name}_ridge"] = result.ridge
        return row


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
