"""Unit-diagonal SDPs ``max <C, V V^T>``, ``diag(V V^T) = 1``, for any sparse symmetric ``C``.

:func:`solve_sdp` (the mixing method, compiled), :func:`dual_bound` (weak duality with a
Lanczos eigenvalue) and :func:`prove_bound` (the same bound proven by a sparse LDL^T with a
rounding-error margin). Max-Cut is ``C = -A/4``; a problem with linear terms adds a truth
variable (:meth:`derand.rounding.QuadraticObjective.homogenized`).
"""

from derand.sdp.mixing import (
    COMPILED_N,
    EIGENVALUE_METHODS,
    SDPSolution,
    as_coupling,
    default_rank,
    dual_bound,
    dual_vector,
    greedy_colouring,
    sdp_value,
    solve_sdp,
    top_eigenvalue,
)
from derand.sdp.proof import BackgroundProof, ProvenBound, check_psd, prove_bound, upper_sum

__all__ = [
    "COMPILED_N",
    "EIGENVALUE_METHODS",
    "BackgroundProof",
    "ProvenBound",
    "SDPSolution",
    "as_coupling",
    "check_psd",
    "default_rank",
    "dual_bound",
    "dual_vector",
    "greedy_colouring",
    "prove_bound",
    "sdp_value",
    "solve_sdp",
    "top_eigenvalue",
    "upper_sum",
]
