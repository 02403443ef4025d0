"""The compiled training step (:mod:`derand.nn._kernel`): when it applies, and how a run
drives it in place of the torch step of :mod:`derand.nn.fused`.

``backend = "fused"`` (the default) runs the compiled step whenever it computes exactly what
the torch step computes (the same loss, gradients, weight decay, PGD gate and update, in the
same dtype, up to rounding): on the CPU, one hidden layer, the activations ``relu-iota``,
``tanh`` and ``relu``, the MSE loss, PGD or SGD (Adam's moments stay in torch). Everywhere
else — and always with ``backend = "fused-torch"`` — the torch step runs; it is the reference
the tests compare the compiled step with. numba is imported only when the compiled step runs.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from derand.core import PerturbedGD
from derand.nn.config import TrainConfig
from derand.nn.students import Student

__all__ = ["COMPILED_ACTIVATIONS", "COMPILED_MAX_D", "CompiledStep", "compiled_unavailable"]

COMPILED_ACTIVATIONS = ("relu-iota", "tanh", "relu")
"""The activations of :data:`derand.nn._kernel.ACTIVATION_CODES`."""
COMPILED_MAX_D = 64
"""Above this input dimension the torch step's matrix products (BLAS) are faster than the
kernel's loops (measured per step, width 256, batch 100: 1.9× faster at d = 30, 1.6× at
d = 50, equal at d = 100; width 1000: 0.6× at d = 100), so the torch step runs."""


def compiled_unavailable(config: TrainConfig, device: torch.device) -> str | None:
    """Why the compiled step does not apply to ``config`` on ``device`` (``None``: it does).

    Examples
    --------
    >>> compiled_unavailable(TrainConfig(depth=2), torch.device("cpu"))
    'depth 2 (the compiled step has one hidden layer)'
    >>> compiled_unavailable(TrainConfig(), torch.device("cpu")) is None
    True
    """
    if config.backend != "fused":
        return f"backend {config.backend}"
    if device.type != "cpu":
        return f"device {device.type} (the compiled step runs on the CPU)"
    if config.d > COMPILED_MAX_D:
        return f"d {config.d} > {COMPILED_MAX_D} (the torch step's matrix products are faster)"
    if config.depth != 1:
        return f"depth {config.depth} (the compiled step has one hidden layer)"
    if config.activation not in COMPILED_ACTIVATIONS:
        return f"activation {config.activation}"
    if config.loss != "mse":
        return f"loss {config.loss}"
    if config.optimizer == "adam":
        return "optimizer adam"
    return None


class CompiledStep:
    """One training step of a one-hidden-layer student by the compiled kernel, with the
    bookkeeping of :meth:`derand.core.PerturbedGD.step` (its step count, gate, last gradient
    norm, perturbations from its generator).

    Parameters
    ----------
    model : Student
        The network; its parameters are updated in place through numpy views of their memory.
    optimizer : PerturbedGD
        The run's optimiser: its per-group rates are read at every step, its state kept.
    config : TrainConfig
        The run's settings (:func:`compiled_unavailable` must be ``None`` for them).
    """

    def __init__(self, model: Student, optimizer: PerturbedGD, config: TrainConfig) -> None:
        from derand.nn import _kernel  # numba: only where the compiled step runs

        self._kernel = _kernel.train_step
        self.model = model
        self.optimizer = optimizer
        first, output = model.first, model.output
        # indices into optimizer.param_groups (its load_state_dict replaces the group dicts)
        self.group_of: dict[str, int] = {}
        for i, group in enumerate(optimizer.param_groups):
            for p in group["params"]:
                if p is first.weight:
                    self.group_of["W"] = i
                elif p is first.bias:
                    self.group_of["b"] = i
                elif p is output.weight:
                    self.group_of["a"] = i
        self.train_b = "b" in self.group_of
        self.train_a = "a" in self.group_of
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        dtype = first.weight.dtype
        self.np_dtype = np.float32 if dtype == torch.float32 else np.float64
        c = output.bias if output.bias is not None else torch.zeros(0, dtype=dtype)
        self.views = tuple(
            t.detach().numpy() for t in (first.weight, first.bias, output.weight[0], c)
        )
        d, width = first.weight.shape[1], first.weight.shape[0]
        self.work = np.empty((2 * d + 7, width), dtype=self.np_dtype)
        self.code = _kernel.ACTIVATION_CODES[config.activation]
        self.iota = self.np_dtype(model.iota)
        self.inv_iota = self.np_dtype(1.0 / model.iota)
        self.lam_all_layers = config.lam_all_layers

    def __call__(self, x: Tensor, y: Tensor, lam: float) -> float:
        """Take the step on the batch (x, y) with weight decay ``lam``; returns the batch loss.

        As :meth:`PerturbedGD.step` does after the torch step's gradients: when the gate is
        open (radius > 0, the last perturbation more than ``t_thres`` steps ago) and the
        gradient norm is at most the threshold, a perturbation from the optimiser's generator
        replaces the update.
        """
        opt = self.optimizer
        groups = opt.param_groups
        at = self.group_of
        recent = opt.t_noise is not None and opt.t - opt.t_noise <= opt.t_thres
        gate_open = opt.radius > 0 and not recent
        W, b, a, c = self.views
        loss, norm, gated = self._kernel(
            x.numpy(),
            y.numpy(),
            W,
            b,
            a,
            c,
            self.code,
            self.iota,
            self.inv_iota,
            lam,
            lam if self.lam_all_layers and self.train_a else 0.0,
            float(groups[at["W"]]["lr"]),
            float(groups[at["b"]]["lr"]) if self.train_b else 0.0,
            float(groups[at["a"]]["lr"]) if self.train_a else 0.0,
            self.train_b,
            self.train_a,
            gate_open,
            opt.grad_threshold,
            self.work,
        )
        opt.last_grad_norm = norm if gate_open else math.nan
        opt.last_perturbed = gated
        if gated:
            with torch.no_grad():
                opt._add_noise(self.params, opt.radius)
        opt.t += 1
        return float(loss)
