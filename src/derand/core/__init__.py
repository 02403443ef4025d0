"""The derandomization lemma as an engine (Tsikouras et al., ICLR 2026, §3).

numpy-first; importing it loads neither torch nor numba.

- :class:`Problem` / :class:`Rounded`: what a problem supplies (start, value and gradient,
  ``randomness``, ``round``, optionally ``hvp``).
- Methods as ``(init, step)`` pieces: :class:`MonotoneLBFGS`, :class:`LBFGS`,
  :class:`GradientSteps`, :class:`ScipyLBFGSB`, and :class:`Perturbed` (Jin et al. 2017)
  around any non-monotone one.
- :func:`derandomize` -> :class:`DerandResult` (one result type, one history, one status
  vocabulary :data:`STATUSES`).
- :func:`certify`: the SOSP certificate and the lemma's bound for any problem with ``hvp``.
- :mod:`derand.core.gaussian`: the closed-form Gaussian kernels (Phi, Phi_2, ReLU moments,
  the noncentral chi-square log-MGF, Gauss-Hermite rules).

The torch pieces load on first use: :class:`PerturbedGD` (a ``torch.optim.Optimizer``),
:func:`perturbed_gradient_descent`, :class:`HessianOperator` (double backprop over a list of
parameters), :func:`sosp_certificate` (the certificate of a torch objective),
:func:`estimate_hessian_lipschitz`, :class:`GaussianSmoothedObjective`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from derand.core.certificate import (
    LanczosResult,
    SOSPCertificate,
    certificate_from_spectrum,
    certify,
    hypothesis_failures,
    lanczos,
    largest_certifiable_gradient,
    lemma_bound,
)
from derand.core.driver import STATUSES, DerandResult, History, Iterate, Stop, derandomize
from derand.core.methods import (
    LBFGS,
    GradientSteps,
    Method,
    MonotoneLBFGS,
    Perturbed,
    ScipyLBFGSB,
    State,
)
from derand.core.problem import Problem, Rounded

if TYPE_CHECKING:
    from derand.core._torch_certificate import HessianOperator as HessianOperator
    from derand.core._torch_certificate import (
        estimate_hessian_lipschitz as estimate_hessian_lipschitz,
    )
    from derand.core._torch_certificate import flat_gradient as flat_gradient
    from derand.core._torch_certificate import lambda_min as lambda_min
    from derand.core._torch_certificate import lipschitz_from_products as lipschitz_from_products
    from derand.core._torch_certificate import sosp_certificate as sosp_certificate
    from derand.core._torch_pgd import PerturbedGD as PerturbedGD
    from derand.core._torch_pgd import PGDHistory as PGDHistory
    from derand.core._torch_pgd import PGDResult as PGDResult
    from derand.core._torch_pgd import perturbed_gradient_descent as perturbed_gradient_descent
    from derand.core._torch_pgd import uniform_ball as uniform_ball
    from derand.core._torch_smoothing import GaussianSmoothedObjective as GaussianSmoothedObjective
    from derand.core._torch_smoothing import SmoothedValue as SmoothedValue

_TORCH = {
    "PerturbedGD": "derand.core._torch_pgd",
    "PGDHistory": "derand.core._torch_pgd",
    "PGDResult": "derand.core._torch_pgd",
    "perturbed_gradient_descent": "derand.core._torch_pgd",
    "uniform_ball": "derand.core._torch_pgd",
    "HessianOperator": "derand.core._torch_certificate",
    "flat_gradient": "derand.core._torch_certificate",
    "lambda_min": "derand.core._torch_certificate",
    "sosp_certificate": "derand.core._torch_certificate",
    "estimate_hessian_lipschitz": "derand.core._torch_certificate",
    "lipschitz_from_products": "derand.core._torch_certificate",
    "GaussianSmoothedObjective": "derand.core._torch_smoothing",
    "SmoothedValue": "derand.core._torch_smoothing",
}
"""Names that need torch, and the module that defines each (imported on first access)."""

__all__ = [
    "LBFGS",
    "STATUSES",
    "DerandResult",
    "GradientSteps",
    "History",
    "Iterate",
    "LanczosResult",
    "Method",
    "MonotoneLBFGS",
    "Perturbed",
    "Problem",
    "Rounded",
    "SOSPCertificate",
    "ScipyLBFGSB",
    "State",
    "Stop",
    "certificate_from_spectrum",
    "certify",
    "derandomize",
    "hypothesis_failures",
    "lanczos",
    "largest_certifiable_gradient",
    "lemma_bound",
]


def __getattr__(name: str) -> Any:
    if name in _TORCH:
        value = getattr(importlib.import_module(_TORCH[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'derand.core' has no attribute {name!r}")
