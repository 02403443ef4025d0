"""Learning-rate schedule: linear warm-up, then a decay each time W_⊥ stops falling (§4).

With fresh samples every step, SGD does not converge to a stationary point: it fluctuates
around one, and the fluctuation of the first layer's W_⊥ settles where the weight decay's
pull ``2 η_W λ W_⊥`` balances the gradient noise, an equilibrium ``‖W_⊥‖² ∝ η_W / batch``.
Lowering the rate lowers that floor, at the price of slower progress. So the rates are
multiplied by ``decay`` when ‖W_⊥‖_F has stopped falling — over a window in which the weight
decay alone would have shrunk W_⊥ by a factor e^{-1/2} or more, it fell by less than a
quarter of that (in log scale) — down to ``min_factor``. (The ratio ‖W_⊥‖/‖W‖ would not do:
before the student learns anything, weight decay shrinks W_∥ and W_⊥ alike and the ratio is
flat although nothing has plateaued.) Nor is it a plateau while the test loss still falls:
the student may be learning a further teacher direction, which a smaller rate would slow.
A short linear warm-up keeps the first steps from overshooting while the output layer is
still near zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MIN_WINDOW = 0.5
"""Log-contraction that weight decay alone must predict over a window before it is judged."""
MIN_GROWTH = 1.25
"""A window spans at least this factor in the step count."""
TEST_LOSS_PROGRESS = 0.01
"""A window in which the test loss fell by more than this share is not a plateau: the student
is still learning (e.g. a further teacher direction), and a smaller rate would slow it."""


@dataclass
class PlateauSchedule:
    """State of the schedule (checkpointed with the run).

    Attributes
    ----------
    warmup : int
        Steps of linear warm-up (0: none).
    decay : float
        Factor applied at each plateau.
    min_factor : float
        Smallest factor; a plateau there means the run has stopped improving.
    adaptive : bool
        ``False`` for a constant schedule (warm-up only).
    factor : float
        Current decay factor of the learning rates.
    n_decays : int
        Decays so far.
    since : int
        Step of the last decay (plateau windows start after it).
    """

    warmup: int
    decay: float
    min_factor: float
    adaptive: bool
    factor: float = 1.0
    n_decays: int = 0
    since: int = 0

    def multiplier(self, step: int) -> float:
        """The factor applied to every base rate at ``step`` (0-based)."""
        if self.warmup > 0 and step < self.warmup:
            return (step + 1) / self.warmup * self.factor
        return self.factor

    def plateau(self, rows: list[dict[str, Any]]) -> bool:
        """Whether ``perp_norm`` stopped falling at the last row of the log ``rows``.

        Each row has ``step``, ``perp_norm`` and ``wd_integral`` (the log-contraction weight
        decay alone would have produced since the start; for Adam through its preconditioner,
        see ``_Run.adam_decay_rate``). Where weight decay predicts nothing (λ = 0), there is
        no plateau and the rates stay as they are.
        """
        last = rows[-1]
        s = int(last["step"])
        if s < 2 * self.warmup or last["perp_norm"] <= 0:
            return False
        for ref in reversed(rows[:-1]):
            if ref["step"] < max(self.since, self.warmup) or ref["perp_norm"] <= 0:
                return False
            predicted = last["wd_integral"] - ref["wd_integral"]
            if MIN_GROWTH * ref["step"] <= s and predicted >= MIN_WINDOW:
                change = math.log(last["perp_norm"] / ref["perp_norm"])
                learning = last["test_loss"] < (1.0 - TEST_LOSS_PROGRESS) * ref["test_loss"]
                return change > -max(predicted / 4, 0.1) and not learning
        return False

    def step_down(self, step: int) -> bool:
        """Apply one decay at ``step``; ``False`` when already at ``min_factor``."""
        if not self.adaptive or self.factor * self.decay < self.min_factor * (1 - 1e-12):
            return False
        self.factor *= self.decay
        self.n_decays += 1
        self.since = step
        return True

    def state(self) -> dict[str, Any]:
        """What a checkpoint needs."""
        return {
            "factor": self.factor,
            "n_decays": self.n_decays,
            "since": self.since,
        }

    def load(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state`."""
        self.factor = float(state["factor"])
        self.n_decays = int(state["n_decays"])
        self.since = int(state["since"])
