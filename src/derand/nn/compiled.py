"""The compiled training step (:mod:`derand.nn._kernel`): when it applies, and how a run
drives it in place of the torch step of :mod:`derand.nn.fused`.

``backend = "fused"`` (the default) runs the compiled step whenever it computes exactly what
the torch step computes (the same loss, gradients, weight decay, PGD gate and update, in the
same dtype, up to rounding): on the CPU, one hidden layer, the activations ``relu-iota``,
``tanh`` and ``relu``, the MSE loss, PGD or SGD (Adam's moments stay in torch). Everywhere
else — and always with ``backend = "fused-torch"`` — the torch step runs; it is the reference
the tests compare the compiled step with. numba is imported only when the compiled step runs.

Two kernels: for d ≤ :data:`ROW_MAX_D` the row kernel (:func:`derand.nn._kernel.train_step`,
everything in compiled loops), above it the BLAS kernel
(:func:`derand.nn._kernel.train_step_blas`: the two products over the input dimension as BLAS
matrix products, the elementwise work in compiled loops); the BLAS runs with as many threads
as torch's intra-op pool (:meth:`CompiledStep.blas_threads`).
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from torch import Tensor

from derand.core import PerturbedGD
from derand.nn.config import TrainConfig
from derand.nn.students import Student

__all__ = ["COMPILED_ACTIVATIONS", "ROW_MAX_D", "CompiledStep", "compiled_unavailable"]

COMPILED_ACTIVATIONS = ("relu-iota", "tanh", "relu")
"""The activations of :data:`derand.nn._kernel.ACTIVATION_CODES`."""
ROW_MAX_D = 4
"""Up to this input dimension the row kernel runs, above it the BLAS kernel (CPU time per
step, one thread, load ≈ 4, row / BLAS kernel: 87 / 117 µs at d = 2, width 1000, batch 50
(``fig3``); width 256, batch 100: 54 / 64 µs at d = 4, 75 / 67 at d = 8, 104–120 / 79 at
d = 16, 225 / 108 at d = 30, 557 / 198 at d = 100; the torch step 420–670 µs)."""


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
        self.blas = d > ROW_MAX_D
        self._kernel = _kernel.train_step_blas if self.blas else _kernel.train_step
        rows = 5 if self.blas else 2 * d + 7
        self.work = np.empty((rows, width), dtype=self.np_dtype)
        self.code = _kernel.ACTIVATION_CODES[config.activation]
        self.iota = self.np_dtype(model.iota)
        self.inv_iota = self.np_dtype(1.0 / model.iota)
        self.lam_all_layers = config.lam_all_layers

    def blas_threads(self) -> contextlib.AbstractContextManager[object]:
        """A context in which the BLAS kernel's products use as many threads as torch's
        intra-op pool (``torch.get_num_threads()``), as the torch step's would; the BLAS
        libraries' own setting is restored on leaving it. A no-op for the row kernel."""
        if not self.blas:
            return contextlib.nullcontext()
        import importlib

        from threadpoolctl import threadpool_limits

        # numba's np.dot calls SciPy's BLAS: loaded before the limits, so that they reach it
        importlib.import_module("scipy.linalg.cython_blas")

        limits: contextlib.AbstractContextManager[object] = threadpool_limits(
            limits=torch.get_num_threads(), user_api="blas"
        )
        return limits

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
            np.ascontiguousarray(x.numpy()),
            np.ascontiguousarray(y.numpy()),
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
