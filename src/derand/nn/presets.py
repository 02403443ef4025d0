"""Named settings: the authors' Figure 3 and a multiple-index setting (DESIGN.md §4)."""

from __future__ import annotations

import math
from typing import Any

_S = 1 / math.sqrt(2)

PRESETS: dict[str, dict[str, Any]] = {
    # The authors' Figure 3: d = 2, teacher tanh(<θ, x>) with θ = (1, 1)/√2, width 1000,
    # 50 fresh samples a step, MSE, a·ReLU_2(W x + b) with the second layer frozen, λ = 1e-4,
    # PGD noise of scale 0.005 when the gradient is small.
    "fig3": {
        "d": 2,
        "k": 1,
        "link": "tanh",
        "teacher_U": [[_S, _S]],
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
        "lr": 1.0,
        "pgd_threshold": 1e-3,
        "pgd_radius": 5e-3,
        "pgd_t_thres": 100,
        "steps": 20000,
    },
    # d = 20, k = 2, tanh(u1·x) + tanh(u2·x): SGD with lr 25 on W and b (mean-field scale),
    # fixed second layer, λ = 1e-4.
    "multi-index": {
        "d": 20,
        "k": 2,
        "link": "sum-tanh",
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
        "lr": 25.0,
        "pgd_threshold": 1e-3,
        "pgd_radius": 5e-3,
        "pgd_t_thres": 100,
        "steps": 2000,
    },
}
