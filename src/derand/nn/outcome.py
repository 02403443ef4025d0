"""What a run achieved: structure found, collapsed to W ≈ 0, or not converged (issue 22).

‖W_⊥‖_F → 0 is what Theorem 4.1 certifies, but it also happens when the whole first layer
decays to 0 and the student learns nothing (a large weight decay on a teacher whose signal is
weak at W = 0, such as He₄). The ratio ‖W_⊥‖/‖W‖ cannot tell the two apart; the test loss
against the best constant predictor can. :func:`classify` reads the final state:

- ``"structure found"``: at least one teacher direction recovered (a principal angle between
  span(U) and the top-k singular subspace of W at most ``ANGLE_FOUND``) and more than
  ``EXPLAINED_MIN`` of the best constant predictor's loss explained;
- ``"collapsed"``: at most ``EXPLAINED_MIN`` explained while ‖W‖_F fell below
  ``SHRUNK`` times its initial value — weight decay won, W ≈ 0;
- ``"not converged"``: neither (still learning, or stuck elsewhere).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "ANGLE_FOUND",
    "EXPLAINED_MIN",
    "OUTCOMES",
    "SHRUNK",
    "Outcome",
    "best_constant_loss",
    "classify",
]

ANGLE_FOUND = 10.0
"""A teacher direction counts as found when its principal angle is at most this (degrees)."""
EXPLAINED_MIN = 0.1
"""Share of the best constant predictor's loss a student must explain to have learned."""
SHRUNK = 0.5
"""‖W‖_F below this share of its initial value, with nothing explained: collapsed."""
OUTCOMES = ("structure found", "collapsed", "not converged")


@dataclass(frozen=True)
class Outcome:
    """The verdict on a run.

    Attributes
    ----------
    status : str
        One of :data:`OUTCOMES`.
    directions_found : int
        Principal angles at most ``ANGLE_FOUND`` (of ``k``).
    k : int
        The teacher's number of directions.
    explained : float
        ``1 − test loss / best constant loss``: the share of the teacher's variance explained
        for MSE (the deviance explained for the other losses); ≤ 0 means no better than a
        constant.
    baseline_loss : float
        Test loss of the best constant predictor (for MSE: the variance of y).
    w_norm_initial, w_norm_final : float
        ‖W‖_F at the start and at the end.
    message : str
        One line for people.
    """

    status: str
    directions_found: int
    k: int
    explained: float
    baseline_loss: float
    w_norm_initial: float
    w_norm_final: float
    message: str


@torch.no_grad()
def best_constant_loss(loss: str, y: Tensor, huber_delta: float = 1.0) -> float:
    """The smallest mean ``loss(c, y)`` over constants c, exactly (MSE: the variance of y;
    logistic on the signs: their binary entropy; Huber: by bisection on its monotone
    derivative, to machine precision).

    Examples
    --------
    >>> import torch
    >>> best_constant_loss("mse", torch.tensor([0.0, 2.0]))
    1.0
    """
    y = y.detach().double()
    if y.numel() == 0:
        return math.nan
    if loss == "mse":
        return float(((y - y.mean()) ** 2).mean())
    if loss == "logistic":
        p = float((y >= 0).double().mean())
        if p in (0.0, 1.0):
            return 0.0
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))
    lo, hi = float(y.min()), float(y.max())
    for _ in range(200):  # the mean of clip(c - y) is non-decreasing in c
        c = (lo + hi) / 2
        if float((c - y).clamp(-huber_delta, huber_delta).mean()) < 0:
            lo = c
        else:
            hi = c
    r = ((lo + hi) / 2 - y).abs()
    value = torch.where(r <= huber_delta, 0.5 * r * r, huber_delta * (r - 0.5 * huber_delta))
    return float(value.mean())


def classify(
    *,
    test_loss: float,
    baseline_loss: float,
    angles_deg: list[float],
    w_norm_initial: float,
    w_norm_final: float,
) -> Outcome:
    """The outcome of a run from its final test loss, principal angles and ‖W‖_F.

    Examples
    --------
    >>> classify(test_loss=0.66, baseline_loss=0.66, angles_deg=[70.0],
    ...          w_norm_initial=16.0, w_norm_final=0.2).status
    'collapsed'
    >>> classify(test_loss=0.01, baseline_loss=0.66, angles_deg=[2.0],
    ...          w_norm_initial=16.0, w_norm_final=9.0).status
    'structure found'
    """
    k = len(angles_deg)
    found = sum(1 for a in angles_deg if a <= ANGLE_FOUND)
    explained = 1.0 - test_loss / baseline_loss if baseline_loss > 0 else 0.0
    shrunk = w_norm_final < SHRUNK * w_norm_initial
    if found >= 1 and explained > EXPLAINED_MIN:
        status = "structure found"
        message = (
            f"structure found: {found} of {k} teacher direction(s) within {ANGLE_FOUND:g} deg, "
            f"{explained:.1%} of the best constant predictor's loss explained"
        )
    elif explained <= EXPLAINED_MIN and shrunk:
        status = "collapsed"
        message = (
            f"collapsed: ||W||_F {w_norm_initial:.3g} -> {w_norm_final:.3g} and only "
            f"{explained:.1%} explained; ||W_perp|| -> 0 here means nothing was learned "
            "(try a smaller --lam)"
        )
    else:
        status = "not converged"
        message = (
            f"not converged: {found} of {k} direction(s) within {ANGLE_FOUND:g} deg, "
            f"{explained:.1%} explained"
        )
    return Outcome(
        status=status,
        directions_found=found,
        k=k,
        explained=explained,
        baseline_loss=baseline_loss,
        w_norm_initial=w_norm_initial,
        w_norm_final=w_norm_final,
        message=message,
    )
