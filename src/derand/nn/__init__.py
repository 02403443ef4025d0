"""Teacher–student lab: structure discovery in neural networks (paper §4, Theorem 4.1).

- :func:`make_teacher`: multiple-index teachers ``y = h(U x) + noise``.
- :class:`Student`: MLPs with smooth activations and per-layer trainable flags.
- :func:`train`: PGD / SGD / Adam with alignment metrics, checkpoints, the SOSP certificate
  and a low-rank compression of the first layer.
- :func:`alignment`: ``‖W_⊥‖_F``, principal angles, effective rank.
"""

from derand.nn.metrics import Alignment, alignment, effective_rank
from derand.nn.presets import PRESETS
from derand.nn.students import ACTIVATIONS, Student
from derand.nn.teachers import LINKS, Teacher, make_teacher
from derand.nn.train import TrainConfig, TrainResult, log_schedule, train

__all__ = [
    "ACTIVATIONS",
    "LINKS",
    "PRESETS",
    "Alignment",
    "Student",
    "Teacher",
    "TrainConfig",
    "TrainResult",
    "alignment",
    "effective_rank",
    "log_schedule",
    "make_teacher",
    "train",
]
