"""Perturbed gradient descent (Jin, Ge, Netrapalli, Kakade & Jordan, ICML 2017).

Gradient descent that, when the gradient is small and no perturbation happened in the last
``t_thres`` steps, adds a perturbation drawn uniformly from a ball of radius ``r``. It reaches
an ε-second-order stationary point in Õ(1/ε²) steps, which is what the derandomization lemma
needs (paper §3 and Theorem 4.2).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from derand.errors import InputError


def uniform_ball(
    shapes: Sequence[torch.Size],
    radius: float,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> list[Tensor]:
    """A point drawn uniformly from the ball of ``radius`` in the joint space of ``shapes``.

    The ball is over all tensors together (one direction, one radius), as in Jin et al.
    """
    sizes = [math.prod(s) for s in shapes]
    dim = sum(sizes)
    direction = torch.randn(dim, generator=generator, dtype=dtype)
    direction /= direction.norm().clamp_min(torch.finfo(dtype).tiny)
    u = torch.rand((), generator=generator, dtype=dtype)
    flat = direction * (radius * u ** (1.0 / max(dim, 1)))
    return [chunk.reshape(s).to(device) for chunk, s in zip(flat.split(sizes), shapes, strict=True)]


class PerturbedGD(torch.optim.Optimizer):
    """Perturbed gradient descent as a :class:`torch.optim.Optimizer`.

    Each :meth:`step` either takes the gradient step ``p -= lr * p.grad`` (learning rates may
    differ per parameter group) or, when the gradient norm over *all* parameters is at most
    ``grad_threshold`` and the last perturbation is more than ``t_thres`` steps old, replaces
    it by a perturbation drawn uniformly from the ball of radius ``radius`` over all
    parameters jointly.

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups (each group may set its own ``lr``).
    lr : float
        Default step size.
    grad_threshold : float
        Perturb only when ``‖∇f‖ <= grad_threshold``.
    radius : float
        Radius of the perturbation ball; ``0`` gives plain gradient descent.
    t_thres : int
        Minimum number of steps between perturbations.
    generator : torch.Generator, optional
        Randomness for the perturbations (seed it for reproducibility; checkpoint its state
        with :meth:`torch.Generator.get_state` to resume exactly).

    Attributes
    ----------
    t : int
        Steps taken.
    t_noise : int | None
        Step of the last perturbation.
    n_perturbations : int
        Perturbations so far.
    last_grad_norm : float
        Gradient norm seen by the last step.
    last_perturbed : bool
        Whether the last step was a perturbation.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        *,
        grad_threshold: float = 1e-3,
        radius: float = 1e-2,
        t_thres: int = 10,
        generator: torch.Generator | None = None,
    ) -> None:
        if not (lr > 0 and math.isfinite(lr)):
            raise InputError(f"lr must be a positive number, got {lr}")
        if grad_threshold < 0 or radius < 0 or t_thres < 0:
            raise InputError("grad_threshold, radius and t_thres must be >= 0")
        super().__init__(params, {"lr": lr})
        self.grad_threshold = float(grad_threshold)
        self.radius = float(radius)
        self.t_thres = int(t_thres)
        self.generator = generator
        self.t = 0
        self.t_noise: int | None = None
        self.n_perturbations = 0
        self.last_grad_norm = math.nan
        self.last_perturbed = False

    def _params_with_grad(self) -> list[tuple[Tensor, Tensor, float]]:
        return [
            (p, p.grad, float(group["lr"]))
            for group in self.param_groups
            for p in group["params"]
            if p.grad is not None
        ]

    def gradient_norm(self) -> float:
        """Euclidean norm of the current gradients over all parameters."""
        grads = [grad.detach() for _, grad, _ in self._params_with_grad()]
        if not grads:
            return 0.0
        norms = torch._foreach_norm(grads)
        return float(torch.linalg.vector_norm(torch.stack([n.to(norms[0]) for n in norms])))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        entries = self._params_with_grad()
        recent = self.t_noise is not None and self.t - self.t_noise <= self.t_thres
        # The gradient norm is only needed (and only synchronised) when the gate can open.
        self.last_grad_norm = self.gradient_norm() if self.radius > 0 and not recent else math.nan
        self.last_perturbed = (
            self.radius > 0 and not recent and (self.last_grad_norm <= self.grad_threshold)
        )
        if self.last_perturbed:
            self._add_noise([p for p, _, _ in entries], self.radius)
        else:
            by_lr: dict[float, tuple[list[Tensor], list[Tensor]]] = {}
            for p, grad, lr in entries:
                params, grads = by_lr.setdefault(lr, ([], []))
                params.append(p)
                grads.append(grad)
            for lr, (params, grads) in by_lr.items():
                torch._foreach_add_(params, grads, alpha=-lr)
        self.t += 1
        return loss

    def _add_noise(self, params: list[Tensor], radius: float) -> None:
        noise = uniform_ball(
            [p.shape for p in params],
            radius,
            generator=self.generator,
            dtype=params[0].dtype if params else torch.float64,
        )
        for p, xi in zip(params, noise, strict=True):
            p.add_(xi.to(device=p.device, dtype=p.dtype))
        self.t_noise = self.t
        self.n_perturbations += 1

    @torch.no_grad()
    def perturb(self, radius: float) -> bool:
        """Add a perturbation uniform in the ball of ``radius`` now, for a gate decided outside.

        Used when the gate needs more than the minibatch gradient (e.g. a certificate that
        found negative curvature). Respects ``t_thres``; returns whether it perturbed.
        """
        if self.t_noise is not None and self.t - self.t_noise <= self.t_thres:
            return False
        params = [p for group in self.param_groups for p in group["params"]]
        self._add_noise(params, radius)
        return True

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["pgd"] = {
            "t": self.t,
            "t_noise": self.t_noise,
            "n_perturbations": self.n_perturbations,
        }
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        extra = state.pop("pgd", None)
        super().load_state_dict(state)
        if extra is not None:
            self.t = int(extra["t"])
            self.t_noise = None if extra["t_noise"] is None else int(extra["t_noise"])
            self.n_perturbations = int(extra["n_perturbations"])


@dataclass
class PGDHistory:
    """Per-step record of a PGD run: objective, gradient norm and perturbation flags."""

    value: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    perturbed: list[bool] = field(default_factory=list)


@dataclass
class PGDResult:
    """Outcome of :func:`perturbed_gradient_descent`.

    Attributes
    ----------
    value : float
        Objective at the returned point.
    grad_norm : float
        Gradient norm at the returned point.
    steps : int
        Gradient evaluations made.
    n_perturbations : int
        Perturbations added.
    stop_reason : str
        ``"escape-failed"`` (Jin et al.'s rule: the last perturbation did not decrease the
        objective by ``f_thres`` within ``t_thres`` steps, so the pre-perturbation point, an
        approximate SOSP, was restored), ``"max-steps"`` or ``"interrupted"``.
    history : PGDHistory
        Objective, gradient norm and perturbation flag at every step.
    """

    value: float
    grad_norm: float
    steps: int
    n_perturbations: int
    stop_reason: str
    history: PGDHistory


def perturbed_gradient_descent(
    objective: Callable[[], Tensor],
    params: Sequence[Tensor],
    *,
    lr: float,
    steps: int,
    grad_threshold: float = 1e-3,
    radius: float = 1e-2,
    t_thres: int = 10,
    f_thres: float | None = None,
    generator: torch.Generator | None = None,
    callback: Callable[[int, float, float], None] | None = None,
) -> PGDResult:
    """Minimise ``objective()`` over ``params`` (updated in place) by perturbed GD.

    Parameters
    ----------
    objective : callable
        Returns the scalar objective at the current ``params`` (a graph for autograd).
    params : sequence of Tensor
        Leaf tensors with ``requires_grad=True``; updated in place.
    lr, grad_threshold, radius, t_thres, generator
        As in :class:`PerturbedGD`.
    steps : int
        Maximum number of gradient evaluations.
    f_thres : float, optional
        Jin et al.'s stopping rule: ``t_thres`` steps after a perturbation, if the objective
        has not decreased by at least ``f_thres`` below its value at the perturbed-from point,
        restore that point and stop — it is an approximate SOSP. ``None`` runs all ``steps``.
    callback : callable, optional
        ``callback(step, value, grad_norm)`` after each step (e.g. a progress bar).

    Returns
    -------
    PGDResult
        The final value, gradient norm, stop reason and the per-step history.
    """
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    opt = PerturbedGD(
        params,
        lr,
        grad_threshold=grad_threshold,
        radius=radius,
        t_thres=t_thres,
        generator=generator,
    )
    history = PGDHistory()
    anchor: list[Tensor] | None = None
    anchor_value = anchor_grad_norm = math.inf
    pending_anchor: list[Tensor] = []
    stop_reason = "max-steps"
    value = math.nan
    grad_norm = math.nan
    try:
        for step in range(steps):
            opt.zero_grad(set_to_none=False)
            loss = objective()
            loss.backward()
            value = float(loss.detach())
            grad_norm = opt.gradient_norm()
            if (
                f_thres is not None
                and anchor is not None
                and opt.t_noise is not None
                and opt.t - opt.t_noise == t_thres
            ):
                if value - anchor_value > -f_thres:
                    with torch.no_grad():
                        for p, a in zip(params, anchor, strict=True):
                            p.copy_(a)
                    value, grad_norm = anchor_value, anchor_grad_norm
                    stop_reason = "escape-failed"
                    break
            if f_thres is not None:
                pending_anchor = [p.detach().clone() for p in params]
            opt.step()
            if opt.last_perturbed and f_thres is not None:
                anchor, anchor_value, anchor_grad_norm = pending_anchor, value, grad_norm
            history.value.append(value)
            history.grad_norm.append(grad_norm)
            history.perturbed.append(opt.last_perturbed)
            if callback is not None:
                callback(step, value, grad_norm)
        else:
            # Report the value at the final iterate rather than at the one before it.
            opt.zero_grad(set_to_none=False)
            loss = objective()
            loss.backward()
            value, grad_norm = float(loss.detach()), opt.gradient_norm()
    except KeyboardInterrupt:
        stop_reason = "interrupted"
    return PGDResult(
        value=value,
        grad_norm=grad_norm,
        steps=len(history.value),
        n_perturbations=opt.n_perturbations,
        stop_reason=stop_reason,
        history=history,
    )
