"""The risk a run minimises, shared by the training loop and the certificate (paper §4).

The loss (MSE, Huber, logistic on the labels' signs), the weight decay ``λ‖W‖_F²`` (on the
first layer, or on every trained weight matrix), the run's teacher and the trained tensors.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from derand.nn.config import TrainConfig
from derand.nn.students import Student
from derand.nn.teachers import Teacher, make_teacher

__all__ = [
    "TEACHER_STREAM",
    "loss_function",
    "make_run_teacher",
    "regulariser",
    "teacher_seed",
    "trained_parameters",
]

TEACHER_STREAM = 0x7EAC4E5
"""Spawn key of the teacher's stream, derived from the run's seed."""


def loss_function(config: TrainConfig) -> Callable[[Tensor, Tensor], Tensor]:
    """The training loss ``loss(prediction, y)`` (mean over the batch).

    ``logistic`` trains on the labels' signs: ``log(1 + exp(-sign(y) f))``.
    """
    if config.loss == "mse":
        return lambda f, y: ((f - y) ** 2).mean()
    if config.loss == "huber":
        return lambda f, y: nn.functional.huber_loss(f, y, delta=config.huber_delta)
    return lambda f, y: nn.functional.softplus(-torch.where(y >= 0, 1.0, -1.0) * f).mean()


def regulariser(
    model: Student, config: TrainConfig, trained: frozenset[str], lam: float | None = None
) -> Tensor:
    """``λ‖W‖_F²`` on the first layer's W (and every trained weight matrix with
    ``lam_all_layers``); ``lam`` defaults to the config's λ."""
    reg = (model.first.weight**2).sum()
    if config.lam_all_layers:
        if "hidden" in trained:
            reg = reg + sum((layer.weight**2).sum() for layer in model.hidden_layers())
        if "output" in trained:
            reg = reg + (model.output.weight**2).sum()
    return (config.effective_lam if lam is None else lam) * reg


def teacher_seed(config: TrainConfig) -> int:
    """The seed of the teacher's randomness (U, the network link): ``teacher_seed`` as given,
    else a stream derived from ``seed`` independent of the student's initialisation (which
    uses ``seed`` itself): the two never share draws, so no neuron starts on a teacher
    direction by construction."""
    if config.teacher_seed is not None:
        return config.teacher_seed
    state = np.random.SeedSequence([config.seed, TEACHER_STREAM]).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def make_run_teacher(config: TrainConfig) -> Teacher:
    """The teacher ``config`` describes."""
    return make_teacher(
        config.d,
        config.k,
        config.link,
        noise=config.noise,
        degree=config.degree,
        U=None if config.teacher_U is None else np.asarray(config.teacher_U, dtype=float),
        seed=teacher_seed(config),
        input_dist=config.input_dist,
    )


def trained_parameters(model: Student, trained: frozenset[str]) -> list[Tensor]:
    """The tensors of the layer groups in ``trained``, in the model's order."""
    return [p for name, ps in model.layer_parameters().items() if name in trained for p in ps]
