"""Certification of a training run: the checks during training and the final SOSP certificate.

Theorem 4.1 bounds ``‖W_⊥‖_F <= ρ / (2λ − √(Kρ))`` at a ρ-SOSP of the regularised risk in the
first layer's (W, b). :class:`Certifier` evaluates that risk on a fixed float64 sample
(``n_cert`` points): at log points of the training (:meth:`Certifier.check`, within a fixed
share of the training work) the gradient norm ρ, and, when ρ is near what an informative bound
needs, λ_min by Lanczos, a local estimate of K and the bound — which may make PGD perturb (a
strict saddle for the certificate) or end an ``until = "sosp"`` run; at the end
(:meth:`Certifier.full_certificate`) the converged certificate. Its state is part of the
run's checkpoint.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

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
from derand.errors import InputError
from derand.nn.config import SMOOTH_ACTIVATIONS, TrainConfig
from derand.nn.fused import FirstLayerHessian
from derand.nn.lipschitz import ProvenK, label_norm_bound, proven_K
from derand.nn.objective import (
    loss_function,
    make_run_teacher,
    regulariser,
    trained_parameters,
)
from derand.nn.schedule import PlateauSchedule
from derand.nn.students import Student

__all__ = [
    "CERTIFIED_GROUPS",
    "CHECK_BUDGET",
    "EXPENSIVE_SPACING",
    "FINAL_LANCZOS_MIN_STEPS",
    "FINAL_LANCZOS_STEPS",
    "Certifier",
    "certified_risk",
]

FINAL_LANCZOS_STEPS = 80
FINAL_LANCZOS_MIN_STEPS = 40
ALL_PARAMETERS_LANCZOS_STEPS = 30
"""Lanczos iterations of the check over all trained parameters (autograd products)."""
CHECK_BUDGET = 0.1
"""The ρ checks during training may use at most this share of the training work (counted in
sample-passes, so that the decision is deterministic)."""
EXPENSIVE_SPACING = 1.5
"""λ_min and K are computed at a check where ρ meets the target, at most once per factor 1.5
in the step count (a handful per run)."""
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
    params = trained_parameters(twin, config.trained & CERTIFIED_GROUPS)
    for q in params:
        q.requires_grad_(True)
    loss_fn = loss_function(config)

    def risk() -> Tensor:
        return loss_fn(twin(x), y) + regulariser(twin, config, config.trained)

    return risk, params, twin


NO_WEIGHT_DECAY = "lam = 0: Theorem 4.1 needs a weight decay lam > 0"


def _failures(rho: float, lambda_min: float, lam: float, K: float) -> tuple[str, ...]:
    """The lemma's hypotheses that fail (``lam = 0``: the bound does not exist)."""
    if lam <= 0:
        return (NO_WEIGHT_DECAY,)
    return hypothesis_failures(rho, lambda_min, lam, K)


def _random_start(n: int, seed: int) -> Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed + 7), dtype=torch.float64)


class Certifier:
    """The certificate of one run: its fixed sample, its float64 twin of the model and what
    the checks so far have learned (the last K, the Lanczos warm start, the work spent).

    Parameters
    ----------
    config : TrainConfig
    lam : float
        The weight decay λ of the run.
    device : torch.device
    """

    def __init__(self, config: TrainConfig, lam: float, device: torch.device) -> None:
        self.config = config
        self.lam = lam
        self.device = device
        self.log: list[dict[str, Any]] = []
        self.K_last: float | None = None
        self.lanczos_v: Tensor | None = None
        self.final: SOSPCertificate | None = None
        self.proven: tuple[ProvenK, SOSPCertificate | None] | None = None
        self.seconds = 0.0
        self.work = 0.0
        self.last_expensive = 0
        self._twin: Student | None = None
        self._data: tuple[Tensor, Tensor] | None = None
        self._buffers: dict[str, Tensor] = {}  # the Hessian products' work arrays, shared

    # State (part of the run's checkpoint) ---------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What a checkpoint needs (the run stores the work counters beside its own)."""
        return {"certificate_log": self.log, "K_last": self.K_last, "lanczos_v": self.lanczos_v}

    def load(self, state: dict[str, Any], work: float, last_expensive: int) -> None:
        """Restore :meth:`state` and the work counters."""
        self.log = list(state["certificate_log"])
        self.K_last = None if state["K_last"] is None else float(state["K_last"])
        v = state["lanczos_v"]
        self.lanczos_v = None if v is None else v.to(self.device)
        self.work, self.last_expensive = work, last_expensive

    # The risk on the fixed sample ------------------------------------------------------------

    def twin(self, model: Student) -> Student:
        """The float64 copy of ``model``, refreshed to its current point."""
        if self._twin is None:
            self._twin = copy.deepcopy(model).double()
            for p in self._twin.parameters():
                p.requires_grad_(False)
        with torch.no_grad():
            for p, q in zip(self._twin.parameters(), model.parameters(), strict=True):
                p.copy_(q)
        return self._twin

    def data(self) -> tuple[Tensor, Tensor]:
        """The fixed float64 sample (``n_cert`` points, seed + 5)."""
        if self._data is None:
            self._data = make_run_teacher(self.config).sample(
                self.config.n_cert,
                torch.Generator().manual_seed(self.config.seed + 5),
                dtype=torch.float64,
                device=self.device,
            )
        return self._data

    def hessian(self, twin: Student, step: int, offset: Tensor | None = None) -> FirstLayerHessian:
        """Gradient and Hessian products in (W, b) at the twin's point (+ ``offset``)."""
        x, y = self.data()
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
                buffers=self._buffers,
            )
        finally:
            if offset is not None:
                W.sub_(offset[: W.numel()].reshape(W.shape))
                if with_bias:
                    b.sub_(offset[W.numel() :])
        if not bool(torch.isfinite(H.gradient).all()):
            raise InputError(f"training diverged by step {step} (stage: certificate check)")
        return H

    def estimate_K(
        self, model: Student, twin: Student, H: FirstLayerHessian, step: int, extra: list[Tensor]
    ) -> float:
        """Local Hessian-Lipschitz estimate: random probes, one neuron, ``extra`` directions."""
        gen = torch.Generator().manual_seed(self.config.seed + 6)
        neuron = torch.zeros(H.n, dtype=torch.float64)
        d = self.config.d
        i = int(torch.argmax(model.output.weight.detach().abs().reshape(-1)))
        neuron[i * d : (i + 1) * d] = torch.randn(d, generator=gen, dtype=torch.float64)
        if H.with_bias:
            neuron[self.config.width * d + i] = float(
                torch.randn((), generator=gen, dtype=torch.float64)
            )

        def hvp_at(offset: Tensor | None) -> Callable[[Tensor], Tensor]:
            return H.matvec if offset is None else self.hessian(twin, step, offset).matvec

        return lipschitz_from_products(
            hvp_at,
            H.n,
            radius=1e-3,
            n_probes=self.config.k_probes,
            generator=gen,
            directions=[neuron, *extra],
            like=H.gradient,
        )

    # The checks during training -------------------------------------------------------------

    def check_cost(self) -> float:
        """Work of a ρ check in sample-passes: a float64 forward and backward pass with the
        activation's derivatives, counted as 8 passes of a training sample."""
        return 8.0 * self.config.n_cert

    def check(
        self,
        model: Student,
        optimizer: torch.optim.Optimizer,
        schedule: PlateauSchedule,
        *,
        step: int,
        perp_norm: float,
        target: float,
        work_train: float,
        collapsed: bool = False,
    ) -> str | None:
        """ρ at a log point; λ_min, K and the bound when ρ is near what the bound needs.

        ρ checks are budgeted (``CHECK_BUDGET`` of ``work_train``), λ_min and K spaced
        (``EXPENSIVE_SPACING``); both rules count steps and samples, so that runs and resumes
        are deterministic. A check may perturb ``optimizer`` (PGD's certificate gate: ρ small
        but λ_min < −√(Kρ), a strict saddle for the certificate) or return ``"sosp"`` to stop
        the run (``until = "sosp"`` and a certified bound at most ``target``) — except at a
        ``collapsed`` point (W ≈ 0, nothing learned), where it returns ``"collapsed"`` and the
        run goes on.
        """
        config = self.config
        if self.work + self.check_cost() > CHECK_BUDGET * work_train:
            return None
        start = time.perf_counter()
        stop: str | None = None
        self.work += self.check_cost()
        twin = self.twin(model)
        H = self.hessian(twin, step)
        rho = float(H.gradient.norm())
        lam = self.lam
        rho_target = largest_certifiable_gradient(lam, self.K_last or 0.0, target)
        row: dict[str, Any] = {
            "step": step,
            "grad_norm": rho,
            "rho_target": rho_target,
            "perp_norm": perp_norm,
        }
        if rho <= rho_target and step >= EXPENSIVE_SPACING * self.last_expensive:
            self.last_expensive = step
            v0 = self.lanczos_v if self.lanczos_v is not None else _random_start(H.n, config.seed)
            result = lanczos(H.matvec, v0.to(H.gradient), steps=config.lanczos_steps, tol=1e-3)
            self.lanczos_v = result.vector_min
            K = self.estimate_K(model, twin, H, step, [result.vector_min])
            self.K_last = K
            rho_target = largest_certifiable_gradient(lam, K, target)
            failures = _failures(rho, result.lambda_min, lam, K)
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
                assert isinstance(optimizer, PerturbedGD)
                radius = config.pgd_radius or self.auto_radius(model, rho_target, result.lambda_max)
                row["perturbed"] = optimizer.perturb(radius)
                row["radius"] = radius
            elif (
                config.until == "sosp"
                and bound is not None
                and bound <= target
                and (schedule.n_decays >= 1 or not schedule.adaptive)
            ):
                if collapsed:  # a bound on W ≈ 0 says nothing was learned: go on
                    row["collapsed"] = True
                    stop = "collapsed"
                else:
                    cert = self.full_certificate(model, step, twin, H, K)
                    row["final_check"] = cert.bound is not None and cert.bound <= target
                    if row["final_check"]:
                        self.final = cert
                        stop = "sosp"
        self.log.append(row)
        self.seconds += time.perf_counter() - start
        return stop

    def auto_radius(self, model: Student, rho_target: float, lambda_max: float) -> float:
        """Jin et al.'s radius r ~ ε/ℓ: the gradient target over the gradient-Lipschitz
        constant (the top Hessian eigenvalue), at most 1 % of the parameters' norm."""
        params = trained_parameters(model, self.config.trained)
        norm = math.sqrt(sum(float((p.detach() ** 2).sum()) for p in params))
        return min(rho_target / max(lambda_max, 1e-12), 1e-2 * norm)

    # The final certificate ------------------------------------------------------------------

    def full_certificate(
        self,
        model: Student,
        step: int,
        twin: Student | None = None,
        H: FirstLayerHessian | None = None,
        K: float | None = None,
    ) -> SOSPCertificate:
        """The certificate at ``model``'s current point: converged Lanczos and a K estimate
        (``K`` when it was just estimated at this point)."""
        start = time.perf_counter()
        if twin is None or H is None:
            twin = self.twin(model)
            H = self.hessian(twin, step)
        rho = float(H.gradient.norm())
        if K is None:
            extra = [] if self.lanczos_v is None else [self.lanczos_v]
            K = self.estimate_K(model, twin, H, step, extra)
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
            lam=self.lam if self.lam > 0 else None,
            K=K,
            K_is_estimate=True,
            n_samples=self.config.n_cert,
        )
        extra_note = (
            "; K is a local estimate (a lower estimate of the true constant), and the risk is "
            "measured on a finite sample"
        )
        failures = cert.failures
        if self.lam <= 0:
            failures = (*(f for f in failures if f != "no lam given"), NO_WEIGHT_DECAY)
            cert = dataclasses.replace(cert, lam=self.lam, failures=failures)
        if "first-bias" not in self.config.trained:
            failures = (*failures, "the first-layer bias is frozen: Theorem 4.1 needs (W, b)")
        if self.config.activation not in SMOOTH_ACTIVATIONS:
            failures = (*failures, f"activation {self.config.activation} is not smooth")
        if self.config.input_dist != "gaussian":
            failures = (*failures, f"input {self.config.input_dist} is not Gaussian")
        outside = failures[len(cert.failures) :]  # the setting itself is outside the theorem
        self.proven = self._proven(model, rho, spectrum, H, outside)
        return dataclasses.replace(
            cert,
            note=cert.note.replace("lemma: ||W||_F", "Theorem 4.1: ||W_perp||_F") + extra_note,
            failures=failures,
            bound=cert.bound if failures == cert.failures else None,
        )

    def _proven(
        self,
        model: Student,
        rho: float,
        spectrum: Any,
        H: FirstLayerHessian,
        outside: tuple[str, ...],
    ) -> tuple[ProvenK, SOSPCertificate | None]:
        """The certificate with the proven K (:mod:`derand.nn.lipschitz`), where there is one."""
        config = self.config
        net = None
        if config.link == "network":
            net = make_run_teacher(config).net[2]
        proven = proven_K(model, config, label_bound=label_norm_bound(config, net))
        if proven.K is None or self.lam <= 0:
            return proven, None
        cert = certificate_from_spectrum(
            rho,
            spectrum,
            n_params=H.n,
            method="lanczos",
            hvp_evaluations=H.evaluations,
            seconds=0.0,
            lam=self.lam,
            K=proven.K,
            K_is_estimate=False,
            n_samples=config.n_cert,
        )
        failures = (*cert.failures, *outside)
        return proven, dataclasses.replace(
            cert,
            note=cert.note.replace("lemma: ||W||_F", "Theorem 4.1: ||W_perp||_F")
            + "; K proven for the population risk"
            + ("" if proven.radius is None else f" on the ball of radius {proven.radius:g}")
            + ", rho and lambda_min measured on the fixed sample",
            failures=failures,
            bound=cert.bound if not outside else None,
        )

    def all_parameters(self, model: Student, step: int) -> dict[str, Any]:
        """ρ and λ_min over every trained parameter (the theorem's SOSP), on the fixed
        sample in float64, by autograd Hessian-vector products and Lanczos."""
        config = self.config
        twin = copy.deepcopy(self.twin(model))
        params = trained_parameters(twin, config.trained)
        for q in params:
            q.requires_grad_(True)
        x, y = self.data()
        loss_fn = loss_function(config)
        with torch.enable_grad():
            risk = loss_fn(twin(x), y) + regulariser(twin, config, config.trained, self.lam)
            grads = torch.autograd.grad(risk, params, create_graph=True)
            flat = torch.cat([g.reshape(-1) for g in grads])
        n = int(flat.numel())

        def hvp(v: Tensor) -> Tensor:
            with torch.enable_grad():
                out = torch.autograd.grad(flat, params, grad_outputs=v, retain_graph=True)
            return torch.cat([o.reshape(-1) for o in out]).detach()

        spectrum = lanczos(  # a few digits of λ_min: what the comparison with (W, b) needs
            hvp,
            _random_start(n, config.seed).to(flat),
            steps=min(n, ALL_PARAMETERS_LANCZOS_STEPS),
            tol=1e-3,
        )
        if not bool(torch.isfinite(flat).all()):
            raise InputError(f"training diverged by step {step} (stage: certificate check)")
        return {
            "grad_norm": float(flat.detach().norm()),
            "lambda_min": spectrum.lambda_min,
            "residual": spectrum.residual,
            "converged": spectrum.converged,
            "n_params": n,
        }


def verdict(
    proven: ProvenK | None,
    cert: SOSPCertificate | None,
    *,
    perp_norm_initial: float,
) -> tuple[bool, str]:
    """``(certified, why)``: whether Theorem 4.1's bound holds with a proven K, and in words
    how far it is from informative (or why there is no proven K)."""
    if proven is None:
        return False, "no certificate computed"
    if proven.K is None:
        return False, f"no proven K ({proven.reason}): the bound shown uses a local estimate"
    if cert is None:
        return False, f"proven K = {proven.K:.3g}, but lam = 0: no bound"
    K, rho, lam = proven.K, cert.grad_norm, cert.lam or 0.0
    if cert.bound is not None:
        if cert.bound >= perp_norm_initial:
            return True, (
                f"certified with the proven K = {K:.3g}, but vacuous: the bound {cert.bound:.3g} "
                f"is {cert.bound / max(perp_norm_initial, 1e-300):.3g}x the initial "
                f"||W_perp||_F {perp_norm_initial:.3g}"
            )
        return True, f"certified with the proven K = {K:.3g}"
    needed = 4.0 * lam * lam / K if K > 0 else math.inf
    if lam > 0 and rho >= needed:
        return False, (
            f"vacuous with the proven K = {K:.3g}: the bound needs rho < 4 lam^2/K = "
            f"{needed:.3g}, rho = {rho:.3g} is {rho / max(needed, 1e-300):.3g}x too large"
        )
    reasons = "; ".join(cert.failures) or "hypotheses fail"
    return False, f"not certified with the proven K = {K:.3g}: {reasons}"
