"""Alignment of a first layer with the teacher subspace (paper §4, Theorem 4.1)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import subspace_angles

from derand.errors import InputError


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
    angles = np.degrees(subspace_angles(top, U_a.T)) if total > 0 else np.full(k, 90.0)
    return Alignment(
        perp_norm=perp,
        par_norm=float(np.linalg.norm(W_par)),
        perp_ratio=perp / total if total > 0 else 0.0,
        principal_angles_deg=sorted(float(a) for a in angles),
        effective_rank=effective_rank(W_a),
    )
