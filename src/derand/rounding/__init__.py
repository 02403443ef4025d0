"""Rounding any quadratic ±1 objective: hyperplane rounding in closed form, derandomized.

``f(s) = c + sum_i h_i s_i + sum_e J_e s_u s_v`` (:class:`QuadraticObjective`) rounded from SDP
vectors by ``s_i = sign(u_i . r + t_i)``: the Goemans-Williamson expectation
(:func:`gw_expectation`), the best of N random hyperplanes (:func:`best_of_random`), and the
derandomized rounding (:func:`derandomized_rounding`: the closed-form expectation ascended
monotonically by :func:`derand.core.derandomize` until the randomness is gone). Max-Cut,
MAX-2-SAT, MAX-DICUT and QUBO are clients of this layer.
"""

from derand.rounding.hyperplane import (
    COMPILED_M,
    COMPILED_N,
    HyperplaneRounding,
    RandomRounding,
    best_of_random,
    derandomized_rounding,
    gw_expectation,
    pair_correlations,
    threshold_form,
)
from derand.rounding.objective import QuadraticObjective

__all__ = [
    "COMPILED_M",
    "COMPILED_N",
    "HyperplaneRounding",
    "QuadraticObjective",
    "RandomRounding",
    "best_of_random",
    "derandomized_rounding",
    "gw_expectation",
    "pair_correlations",
    "threshold_form",
]
