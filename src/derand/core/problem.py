"""What a problem supplies to the derandomization engine (paper §3).

The lemma is about a smoothed objective ``F(x) = E_z[g(W z + b)]`` whose variables ``x`` hold
a random part ``W`` (driven to 0) and a deterministic part ``b`` (kept). A problem tells the
engine four things about its ``x``:

- ``start()``: the starting point (e.g. ``mu = 0``, where ``E[cut]`` is the Goemans-Williamson
  expectation);
- ``value_and_grad(x)``: ``F(x)`` and its gradient (closed form where there is one);
- ``randomness(x)``: the quantity the lemma drives to 0 -- ``sigma`` of a hyperplane rounding,
  ``sigma`` of a JL sampler, ``||W_perp||_F`` of a network, ``|w|`` in the toy;
- ``round(x)``: the deterministic part as a solution, with its exact value.

Optionally ``hvp(x, v)`` (Hessian-vector products: the SOSP certificate and the escape from a
stationary start need them), ``hessian(x)`` (a dense Hessian for small ``x``) and
``sharpen(x)`` (a point with less randomness, which a monotone method tries when no ascent
step is left). ``sense`` says whether ``F`` is maximised or minimised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = ["Problem", "Rounded", "Sense"]

Array = NDArray[np.float64]
Sense = Literal["max", "min"]


@dataclass(frozen=True)
class Rounded:
    """The deterministic part of a point as a solution of the original problem.

    Attributes
    ----------
    solution : Any
        The solution (a +-1 vector, a matrix, a bias ...).
    value : float
        Its exact objective value (not an expectation).
    """

    solution: Any
    value: float


@runtime_checkable
class Problem(Protocol):
    """The protocol :func:`derand.core.derandomize` calls (see the module docstring)."""

    sense: Sense

    def start(self) -> Array:
        """The starting point."""
        ...

    def value_and_grad(self, x: Array) -> tuple[float, Array]:
        """``F(x)`` and ``grad F(x)``."""
        ...

    def randomness(self, x: Array) -> float:
        """The random part the lemma drives to 0 (``sigma``, ``||W_perp||``, ...)."""
        ...

    def round(self, x: Array) -> Rounded:
        """The deterministic part of ``x`` as a solution with its exact value."""
        ...
