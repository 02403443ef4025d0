"""Teacher–student lab: structure discovery in neural networks (paper §4, Theorem 4.1).

- :class:`TrainConfig`: the settings of a run, validated when built; presets by name.
- :func:`make_teacher`: multiple-index teachers ``y = h(U x) + noise``.
- :class:`Student`: MLPs with smooth activations and per-layer trainable flags.
- :func:`layer_rates`: per-layer learning rates that follow the parametrisation (μP).
- :func:`train`: PGD / SGD / Adam to a certified SOSP, a plateau or a step count, with the
  order parameters on a log schedule and safe checkpoints (the loop: :mod:`.training`; the
  checks and the certificate: :mod:`.certification`; the rank-k first layer:
  :mod:`.compression`; the risk both share: :mod:`.objective`).
- :func:`alignment`: ``‖W_⊥‖_F``, principal angles, effective rank.

Only :class:`TrainConfig` and the presets load without torch; the rest is imported on first
use.

Examples
--------
>>> from derand.nn import TrainConfig, train
>>> result = train(TrainConfig(d=8, k=1, link="tanh", width=32, until="steps", steps=50,
...                            certificate=False))
>>> result.perp_ratio_final < result.perp_ratio_initial
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from derand.nn.config import ACTIVATIONS, LINKS, TrainConfig
from derand.nn.presets import PRESETS

if TYPE_CHECKING:
    from derand.nn.compression import Compression
    from derand.nn.metrics import Alignment, alignment, effective_rank, order_parameters
    from derand.nn.rates import LayerRates, layer_rates
    from derand.nn.result import TrainResult
    from derand.nn.students import Student
    from derand.nn.teachers import Teacher, make_teacher
    from derand.nn.training import log_schedule, train

_LAZY = {
    "Alignment": "derand.nn.metrics",
    "alignment": "derand.nn.metrics",
    "effective_rank": "derand.nn.metrics",
    "order_parameters": "derand.nn.metrics",
    "LayerRates": "derand.nn.rates",
    "layer_rates": "derand.nn.rates",
    "Student": "derand.nn.students",
    "Teacher": "derand.nn.teachers",
    "make_teacher": "derand.nn.teachers",
    "Compression": "derand.nn.compression",
    "TrainResult": "derand.nn.result",
    "log_schedule": "derand.nn.training",
    "train": "derand.nn.training",
}

__all__ = [
    "ACTIVATIONS",
    "LINKS",
    "PRESETS",
    "Alignment",
    "Compression",
    "LayerRates",
    "Student",
    "Teacher",
    "TrainConfig",
    "TrainResult",
    "alignment",
    "effective_rank",
    "layer_rates",
    "log_schedule",
    "make_teacher",
    "order_parameters",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'derand.nn' has no attribute {name!r}")
