"""A proven Hessian-Lipschitz constant K of the risk in the first layer's (W, b) (issue 22).

For a student with one hidden layer ``f(x) = Σ_i a_i σ(w_i·x + b_i) + c`` (output weights a and
bias c held fixed, as Theorem 4.1 holds them), inputs x ~ N(0, I_d) and the risk
``R(W, b) = E[ℓ(f(x), y)] + λ‖W‖_F²``, the third derivative of R along a unit direction
``v = (v_i)`` of (W, b) is, with ``s_i = v_i·(x, 1)``,

    D³R[v, v, v] = E[ℓ'''·(Df)³ + 3 ℓ''·Df·D²f + ℓ'·D³f],
    Df = Σ a_i σ'(z_i) s_i,  D²f = Σ a_i σ''(z_i) s_i²,  D³f = Σ a_i σ'''(z_i) s_i³

(the weight decay is quadratic: no third derivative). With ``c_j = sup |σ^{(j)}|``:
``|Df| <= c_1 ‖a‖_2 S^{1/2}``, ``|D²f| <= c_2 ‖a‖_∞ S``, ``|D³f| <= c_3 ‖a‖_∞ S^{3/2}`` where
``S = Σ s_i² = gᵀ A g`` for ``g = (x, 1)`` and ``A = Σ v_i v_iᵀ`` (PSD, trace 1). By
convexity, ``S^p <= Σ_j μ_j (u_j·g)^{2p}`` over A's eigenpairs (μ_j, u_j), and
``u·g ~ N(u_b, ‖u_w‖²)`` with ``u_b² + ‖u_w‖² = 1``, whose 4th and 6th moments are at most 3
and 15: ``E S² <= 3``, ``E S³ <= 15``, ``E S^{3/2} <= 3^{3/4}``. Hence, since the norm of a
symmetric trilinear form is its largest value on the diagonal (Banach),

- **MSE** (ℓ = (f − y)², ℓ' = 2(f − y), ℓ'' = 2, ℓ''' = 0):
  ``K <= 6 c_1 c_2 ‖a‖_2 ‖a‖_∞ 3^{3/4} + 2 c_3 ‖a‖_∞ √15 · sup ‖f − y‖_{L²}``, the sup over the
  ball of radius ``r`` around the point, where ``‖f − y‖_{L²} <= ‖f‖_{L²} + ‖y‖_{L²}``,
  ``‖f‖_{L²} <= |c| + Σ |a_i| (|σ(0)| + c_1 √(b_i² + ‖w_i‖²))`` at the point, growing by at
  most ``c_1 ‖a‖_2 r`` over the ball (``‖Df‖_{L²} <= c_1 ‖a‖_2``), and ``‖y‖_{L²}`` is bounded
  from the link (``tanh``: 1, ``sum-tanh``: √k, ``product`` and ``hermite``: 1,
  ``network``: Σ|a_j|; plus the noise);
- **logistic** (|ℓ'| <= 1, ℓ'' <= 1/4, |ℓ'''| <= 1/(6√3)), globally:
  ``K <= 3^{3/4} (c_1³ ‖a‖_2³ / (6√3) + (3/4) c_1 c_2 ‖a‖_2 ‖a‖_∞ + c_3 ‖a‖_∞)``.

Huber's ℓ'' jumps (no Lipschitz Hessian), and deeper students, non-smooth activations and
non-Gaussian inputs are outside this bound: :func:`proven_K` says why instead. The bound is
for the population risk; ρ and λ_min are measured on the certificate's fixed sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from derand.nn.config import TrainConfig
from derand.nn.students import Student

__all__ = ["ACTIVATION_BOUNDS", "DEFAULT_RADIUS", "ProvenK", "label_norm_bound", "proven_K"]

_R3 = 1.0 / (6.0 * math.sqrt(3.0))  # sup |s(1-s)(1-2s)| over the logistic sigmoid s
ACTIVATION_BOUNDS: dict[str, tuple[float, float, float]] = {
    # name: (sup|σ'|, sup|σ''|, sup|σ'''|); relu-iota's are scaled by iota below.
    "relu-iota": (1.0, 0.25, _R3),
    "tanh": (1.0, 4.0 / (3.0 * math.sqrt(3.0)), 2.0),
    # SiLU and GELU: the maxima on a grid of spacing 4e-5 over [-40, 40] (where they are
    # attained; the derivatives decay beyond), rounded up in the third digit.
    "silu": (1.1, 0.5, 0.309),
    "gelu": (1.13, 0.798, 0.779),
}
"""Bounds on the activation's first three derivatives (relu-iota: for iota = 1; softplus with
temperature ι has σ' <= 1, σ'' <= ι/4, |σ'''| <= ι²/(6√3))."""
DEFAULT_RADIUS = 1.0
"""K holds on the ball of this radius (in (W, b), Frobenius) around the certified point."""


@dataclass(frozen=True)
class ProvenK:
    """A proven K, or why there is none.

    Attributes
    ----------
    K : float or None
        The bound (``None`` where the setting is outside the proof).
    radius : float or None
        The ball around the point on which it holds (``None``: everywhere).
    reason : str
        Why there is no proven K (empty when there is one).
    """

    K: float | None
    radius: float | None
    reason: str = ""


def _activation(config: TrainConfig) -> tuple[float, float, float, float]:
    """``(c1, c2, c3, |σ(0)|)`` of the configured activation."""
    c1, c2, c3 = ACTIVATION_BOUNDS[config.activation]
    if config.activation == "relu-iota":
        iota = config.iota
        return c1, c2 * iota, c3 * iota * iota, math.log(2.0) / iota
    return c1, c2, c3, 0.0 if config.activation in ("tanh", "silu", "gelu") else math.nan


def label_norm_bound(config: TrainConfig, network_out: torch.Tensor | None = None) -> float:
    """An upper bound on ``‖y‖_{L²} = √E[y²]`` for the configured teacher (x Gaussian, U
    orthonormal: ``U x ~ N(0, I_k)``). ``network_out`` is the network link's output weights.

    Examples
    --------
    >>> label_norm_bound(TrainConfig(k=3, link="sum-tanh"))
    1.7320508075688772
    """
    if config.link == "tanh":
        h2 = 1.0  # tanh² <= 1
    elif config.link == "sum-tanh":
        h2 = float(config.k)  # independent zero-mean terms, each E tanh² <= 1
    elif config.link in ("product", "hermite"):
        h2 = 1.0  # E z1² z2² = 1; E He_p(z)² / p! = 1
    else:
        if network_out is None:
            raise ValueError("the network link needs its output weights")
        h2 = float(network_out.abs().sum()) ** 2  # |tanh| <= 1
    return math.sqrt(h2 + config.noise**2)


@torch.no_grad()
def proven_K(
    model: Student,
    config: TrainConfig,
    *,
    label_bound: float,
    radius: float = DEFAULT_RADIUS,
) -> ProvenK:
    """The proven Hessian-Lipschitz constant of the risk in (W, b) at ``model``'s point.

    Parameters
    ----------
    model : Student
        Depth 1; its output weights a (and bias c) are held fixed.
    config : TrainConfig
        The loss, the activation and the input distribution.
    label_bound : float
        An upper bound on ``√E[y²]`` (see :func:`label_norm_bound`).
    radius : float
        For MSE, K holds on the ball of this radius around the point.

    Returns
    -------
    ProvenK
        ``K`` with the ball it holds on, or ``K = None`` and the reason.
    """
    if config.depth != 1:
        return ProvenK(None, None, f"no proof for depth {config.depth} (only depth 1)")
    if config.activation not in ACTIVATION_BOUNDS:
        return ProvenK(None, None, f"activation {config.activation} is not smooth")
    if config.input_dist != "gaussian":
        return ProvenK(None, None, f"input {config.input_dist} is not Gaussian")
    if config.loss == "huber":
        return ProvenK(None, None, "the Huber loss has no Lipschitz Hessian (ℓ'' jumps)")
    c1, c2, c3, s0 = _activation(config)
    a = model.output.weight.detach().double().reshape(-1)
    a2, ainf = float(a.norm()), float(a.abs().max())
    if config.loss == "logistic":
        K = 3.0**0.75 * (c1**3 * a2**3 * _R3 + 0.75 * c1 * c2 * a2 * ainf + c3 * ainf)
        return ProvenK(K, None)
    W = model.first.weight.detach().double()
    b = model.first.bias.detach().double()
    row = torch.sqrt((W * W).sum(1) + b * b)
    c = 0.0 if model.output.bias is None else float(model.output.bias.detach().abs().sum())
    f_norm = c + float((a.abs() * (s0 + c1 * row)).sum()) + c1 * a2 * radius
    K = 6.0 * c1 * c2 * a2 * ainf * 3.0**0.75 + 2.0 * c3 * ainf * math.sqrt(15.0) * (
        f_norm + label_bound
    )
    return ProvenK(K, radius)
