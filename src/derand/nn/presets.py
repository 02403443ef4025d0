"""Named settings: the authors' Figure 3 and a multiple-index setting (paper §4).

Both use the authors' student (width 1000, ReLU_2, mean-field initialisation, second layer
frozen), MSE on 50 fresh samples a step, λ = 1e-4, perturbed gradient descent with their
perturbation rule (noise of radius 0.005 when the minibatch gradient norm is below 1e-3) and
their learning rates, given as absolute rates. On top of that, the learning-rate schedule
decays the rates when ‖W_⊥‖ stops falling, and the run has a fixed number of steps, as in
the paper.
"""

from __future__ import annotations

import math
from typing import Any

_S = 1 / math.sqrt(2)

_AUTHORS_STUDENT: dict[str, Any] = {
    "width": 1000,
    "depth": 1,
    "activation": "relu-iota",
    "iota": 2.0,
    "init": "authors",
    "freeze": ("output",),
    "loss": "mse",
    "lam": 1e-4,
    "batch": 50,
    "optimizer": "pgd",
    "lr_scaling": "none",
    "pgd_gate": "batch",
    "pgd_threshold": 1e-3,
    "pgd_radius": 5e-3,
    "pgd_t_thres": 100,
    "lr_warmup": 0,
    "until": "steps",
}

PRESETS: dict[str, dict[str, Any]] = {
    # The authors' Figure 3: d = 2, teacher tanh(<θ, x>) with θ = (1, 1)/√2.
    "fig3": {
        **_AUTHORS_STUDENT,
        "d": 2,
        "k": 1,
        "link": "tanh",
        "teacher_U": [[_S, _S]],
        "lr": 1.0,
        "steps": 20000,
    },
    # d = 20, k = 2, tanh(u1·x) + tanh(u2·x); lr 25 on W and b (mean-field scale).
    "multi-index": {
        **_AUTHORS_STUDENT,
        "d": 20,
        "k": 2,
        "link": "sum-tanh",
        "lr": 25.0,
        "steps": 2000,
    },
}
