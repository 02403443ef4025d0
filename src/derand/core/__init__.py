"""The derandomization lemma as a domain-free toolkit (paper §3).

- :class:`GaussianSmoothedObjective`: ``E_x[g_θ(W x + b)] + λ‖W‖_F²`` and its gradients.
- :class:`PerturbedGD` / :func:`perturbed_gradient_descent`: Jin et al. (2017).
- :func:`sosp_certificate`: gradient norm, λ_min by Lanczos, and the lemma's bound.
"""

from derand.core.certificate import (
    HessianOperator,
    LanczosResult,
    SOSPCertificate,
    certificate_from_spectrum,
    estimate_hessian_lipschitz,
    flat_gradient,
    hypothesis_failures,
    lambda_min,
    lanczos,
    largest_certifiable_gradient,
    lemma_bound,
    lipschitz_from_products,
    sosp_certificate,
)
from derand.core.pgd import (
    PerturbedGD,
    PGDHistory,
    PGDResult,
    perturbed_gradient_descent,
    uniform_ball,
)
from derand.core.smoothing import GaussianSmoothedObjective, SmoothedValue, gauss_hermite_nodes

__all__ = [
    "GaussianSmoothedObjective",
    "HessianOperator",
    "LanczosResult",
    "PGDHistory",
    "PGDResult",
    "PerturbedGD",
    "SOSPCertificate",
    "SmoothedValue",
    "certificate_from_spectrum",
    "estimate_hessian_lipschitz",
    "flat_gradient",
    "gauss_hermite_nodes",
    "hypothesis_failures",
    "lambda_min",
    "lanczos",
    "largest_certifiable_gradient",
    "lemma_bound",
    "lipschitz_from_products",
    "perturbed_gradient_descent",
    "sosp_certificate",
    "uniform_ball",
]
