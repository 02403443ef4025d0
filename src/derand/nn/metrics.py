"""Alignment of a first layer with the teacher subspace (paper §4, Theorem 4.1).

:func:`alignment` is the plain reference (numpy and scipy); :func:`order_parameters` computes
the same quantities, plus the order parameters of the teacher–student literature, in torch
on the training device — what the training log records at each log point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

from derand.errors import InputError

HISTOGRAM_BINS = 20


@dataclass(frozen=True)
class Alignment:
    """How the first-layer weights W (width x d) sit relative to span(U).

    Attributes
    ----------
    perp_norm : float
        ``‖W_⊥‖_F`` with ``W_⊥ = W (I - UᵀU)``: the part Theorem 4.1 drives to 0.
    par_norm : float
        ``‖W_∥‖_F`` with ``W_∥ = W UᵀU``.
    perp_ratio : float
        ``‖W_⊥‖_F / ‖W‖_F``.
    principal_angles_deg : list of float
        Principal angles between span(U) and the top-k right singular subspace of W,
        ascending, in degrees. Small ``perp_ratio`` does **not** imply small angles: W may
        collapse onto a proper subspace of span(U).
    effective_rank : float
        ``exp(H(p))`` with ``p_i = σ_i / Σσ`` (Roy & Vetterli 2007): 1 for a rank-one W.
    """

    perp_norm: float
    par_norm: float
    perp_ratio: float
    principal_angles_deg: list[float]
    effective_rank: float


def effective_rank(W: ArrayLike) -> float:
    """Roy–Vetterli effective rank ``exp(-Σ p_i log p_i)``, ``p = σ / Σσ``."""
    s = np.linalg.svd(np.asarray(W, dtype=float), compute_uv=False)
    total = s.sum()
    if total == 0:
        return 0.0
    p = s[s > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def alignment(W: ArrayLike, U: ArrayLike) -> Alignment:
    """Split ``W`` into parts along and orthogonal to span(rows of U) and compare subspaces.

    Parameters
    ----------
    W : array_like, shape (width, d)
        First-layer weights (one row per neuron).
    U : array_like, shape (k, d)
        Orthonormal rows spanning the teacher subspace.
    """
    W_a = np.asarray(W, dtype=float)
    U_a = np.asarray(U, dtype=float)
    if W_a.ndim != 2 or U_a.ndim != 2 or W_a.shape[1] != U_a.shape[1]:
        raise InputError(f"W (width, d) and U (k, d) must share d, got {W_a.shape}, {U_a.shape}")
    k = U_a.shape[0]
    W_par = (W_a @ U_a.T) @ U_a
    W_perp = W_a - W_par
    total = float(np.linalg.norm(W_a))
    perp = float(np.linalg.norm(W_perp))
    _, _, Vt = np.linalg.svd(W_a, full_matrices=False)
    top = Vt[: min(k, Vt.shape[0])].T
    from scipy.linalg import subspace_angles  # the reference only: 0.3 s of start-up

    angles = np.degrees(subspace_angles(top, U_a.T)) if total > 0 else np.full(k, 90.0)
    return Alignment(
        perp_norm=perp,
        par_norm=float(np.linalg.norm(W_par)),
        perp_ratio=perp / total if total > 0 else 0.0,
        principal_angles_deg=sorted(float(a) for a in angles),
        effective_rank=effective_rank(W_a),
    )


def tracked_neurons(width: int, count: int) -> list[int]:
    """``count`` neuron indices spread evenly over ``range(width)`` (all when fewer)."""
    count = min(count, width)
    if count <= 0:
        return []
    return sorted({round(i * (width - 1) / max(count - 1, 1)) for i in range(count)})


@torch.no_grad()
def order_parameters(W: Tensor, U: Tensor, tracked: list[int]) -> dict[str, Any]:
    """Alignment and order parameters of a first layer, computed in float64 where W lives.

    With ``W`` (width x d) and ``U`` (k x d, orthonormal rows), the overlaps of the
    teacher–student literature (Saad & Solla 1995; Goldt et al. 2019) are ``M = W Uᵀ``
    (student–teacher) and ``Q = W Wᵀ`` (student–student). For a wide student they are logged
    for the ``tracked`` neurons, and summarised over all neurons by ``R = Mᵀ M / width``
    (k x k), ``q_par = ‖W_∥‖_F² / width`` and ``q_perp = ‖W_⊥‖_F² / width``. Each neuron's
    alignment ``|cos(w_i, span U)| = ‖M_i‖ / ‖w_i‖`` is summarised by a histogram of
    ``HISTOGRAM_BINS`` equal bins on [0, 1].

    Parameters
    ----------
    W : Tensor, shape (width, d)
    U : Tensor, shape (k, d)
    tracked : list of int
        Neurons whose rows of M and Q are logged.

    Returns
    -------
    dict
        ``perp_norm``, ``par_norm``, ``perp_ratio``, ``principal_angles_deg``,
        ``effective_rank`` (as :func:`alignment`), ``R``, ``q_par``, ``q_perp``,
        ``M_tracked``, ``Q_tracked``, ``cos_histogram``.

    Examples
    --------
    >>> import torch
    >>> W = torch.tensor([[3.0, 4.0, 0.0], [1.0, 0.0, 0.0]])
    >>> U = torch.tensor([[1.0, 0.0, 0.0]])
    >>> out = order_parameters(W, U, [0])
    >>> out["perp_norm"], out["M_tracked"]
    (4.0, [[3.0]])
    """
    Wd = W.detach().to(torch.float64)
    Ud = U.detach().to(device=Wd.device, dtype=torch.float64)
    width, k = Wd.shape[0], Ud.shape[0]
    M = Wd @ Ud.T
    W_perp = Wd - M @ Ud
    row_sq = (Wd * Wd).sum(1)
    par_sq = (M * M).sum(1)
    total = float(row_sq.sum().sqrt())
    perp = float(torch.linalg.vector_norm(W_perp))
    gram = Wd.T @ Wd
    evals, evecs = torch.linalg.eigh(gram)
    top = evecs[:, -k:]
    cos = torch.linalg.svdvals(Ud @ top).clamp(0.0, 1.0)
    sin = torch.linalg.svdvals(top - Ud.T @ (Ud @ top)).clamp(0.0, 1.0)
    angles = torch.atan2(torch.sort(sin).values, torch.sort(cos, descending=True).values)
    if total == 0:
        angles = torch.full((k,), math.pi / 2, dtype=torch.float64)
    sv = evals.clamp_min(0.0).sqrt()
    p = sv[sv > 0] / sv.sum() if float(sv.sum()) > 0 else sv[:0]
    eff = float(torch.exp(-(p * p.log()).sum())) if p.numel() else 0.0
    cosines = (par_sq / row_sq.clamp_min(1e-300)).clamp(0.0, 1.0).sqrt()
    hist = torch.histc(cosines, bins=HISTOGRAM_BINS, min=0.0, max=1.0)
    idx = torch.as_tensor(tracked, dtype=torch.long, device=Wd.device)
    W_t = Wd[idx]
    return {
        "perp_norm": perp,
        "par_norm": float(par_sq.sum().sqrt()),
        "perp_ratio": perp / total if total > 0 else 0.0,
        "principal_angles_deg": sorted(math.degrees(float(a)) for a in angles),
        "effective_rank": eff,
        "R": (M.T @ M / width).tolist(),
        "q_par": float(par_sq.sum()) / width,
        "q_perp": perp * perp / width,
        "M_tracked": M[idx].tolist(),
        "Q_tracked": (W_t @ W_t.T).tolist(),
        "cos_histogram": [int(c) for c in hist.tolist()],
    }
