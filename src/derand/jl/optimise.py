"""The derandomization loop for JL (paper §5.2): optimise (M, sigma) of P = M + sigma G / sqrt(k).

The objective on a set of unit vectors u (normalised pair differences, or the points for the
authors' ``norms`` variant) is scale free: with ratios r(u) = ||P u||^2,

    F_tau(P) = tau * logsumexp(log r / tau) + tau * logsumexp(-log r / tau),

a smooth version of log(max r / min r), averaged over a few Gaussian samples G. Because the
best scalar rescaling of P turns a ratio range [lo, hi] into the max distortion
(hi - lo) / (hi + lo), minimising F minimises the max distortion. sigma is
``min(exp(rho), cap_t)``: a trained log-noise ``rho`` under a geometric cap that reaches
``sigma_final`` at the last step, so sigma -> 0 whatever the gradient says (in our runs the cap
binds: the trained value does not fall faster). The result is the deterministic M.

For pairs, the objective runs over an *active set* of the most extreme pairs, re-scanned
exactly over all pairs every ``rescan_every`` steps (violators are added); the best M seen at
an exact re-scan is kept, so an interrupted run still returns a certified matrix.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from derand.jl.distortion import DEFAULT_BLOCK_ENTRIES, iter_pair_ratios

Array = NDArray[np.float64]


@dataclass
class FitHistory:
    """Per-iteration record of a fit (what Figures 6 and 7 plot).

    ``max_distortion`` is that of the deterministic part M (best scalar rescaling) over the
    active set, a lower bound between re-scans; ``certified_*`` are exact over all pairs.
    """

    iteration: list[int] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)
    max_distortion: list[float] = field(default_factory=list)
    sigma: list[float] = field(default_factory=list)
    active_size: list[int] = field(default_factory=list)
    certified_iteration: list[int] = field(default_factory=list)
    certified_max_distortion: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[float] | list[int]]:
        """Plain lists, JSON ready."""
        return {k: list(v) for k, v in vars(self).items()}


@dataclass
class FitOutcome:
    """The best deterministic projection found (unscaled) and how the fit went."""

    M: Array
    history: FitHistory
    interrupted: bool
    seconds: float


def sample_projections(
    M: Tensor, sigma: Tensor | float, n_samples: int, generator: torch.Generator
) -> Tensor:
    """Draw ``n_samples`` projections ``P = M + sigma G / sqrt(k)``, G with i.i.d. N(0, 1).

    At M = 0, sigma = 1 this is the Gaussian JL distribution (entries N(0, 1/k)), and for a
    unit u, ``E ||P u||^2 = ||M u||^2 + sigma^2``. Returns shape (n_samples, k, d).
    """
    k, d = M.shape
    G = torch.randn((n_samples, k, d), generator=generator, dtype=M.dtype, device=M.device)
    P: Tensor = M.unsqueeze(0) + sigma * G / math.sqrt(k)
    return P


def scan_extremes(
    X: Tensor, M: Tensor, m: int, *, block_entries: int = DEFAULT_BLOCK_ENTRIES
) -> tuple[Tensor, Tensor, float, float]:
    """Exact pass over all pairs: the ``m`` largest and ``m`` smallest ratios' pairs.

    Returns ``(pairs (<= 2m, 2) int64, log ratios of those pairs, min ratio, max ratio)``.
    """
    Y = X @ M.T
    hi_v: Tensor | None = None
    hi_p = lo_p = torch.empty((0, 2), dtype=torch.int64)
    lo_v: Tensor | None = None
    rmin, rmax = math.inf, -math.inf
    for block in iter_pair_ratios(X, M, Y, block_entries=block_entries):
        R = block.ratio
        cols = R.shape[1]
        big = torch.where(block.valid, R, torch.full_like(R, -math.inf)).flatten()
        small = torch.where(block.valid, R, torch.full_like(R, math.inf)).flatten()
        cnt = int(block.valid.sum())
        mm = min(m, cnt)
        ib = _top_indices(big, mm, largest=True)
        is_ = _top_indices(small, mm, largest=False)
        vb, vs = big[ib], small[is_]
        rmax = max(rmax, float(vb.max()))
        rmin = min(rmin, float(vs.min()))
        pb = torch.stack([block.row0 + ib // cols, block.col0 + ib % cols], 1).cpu()
        ps = torch.stack([block.row0 + is_ // cols, block.col0 + is_ % cols], 1).cpu()
        if hi_v is None or lo_v is None:
            hi_v, hi_p, lo_v, lo_p = vb.cpu(), pb, vs.cpu(), ps
        else:
            hv, hp = torch.cat([hi_v, vb.cpu()]), torch.cat([hi_p, pb])
            order = torch.topk(hv, min(m, hv.numel())).indices
            hi_v, hi_p = hv[order], hp[order]
            lv, lp = torch.cat([lo_v, vs.cpu()]), torch.cat([lo_p, ps])
            order = torch.topk(lv, min(m, lv.numel()), largest=False).indices
            lo_v, lo_p = lv[order], lp[order]
    assert hi_v is not None and lo_v is not None
    pairs = torch.cat([hi_p, lo_p])
    return pairs, torch.log(torch.cat([hi_v, lo_v])), rmin, rmax


def _top_indices(flat: Tensor, m: int, *, largest: bool) -> Tensor:
    """Indices of the ``m`` largest (smallest) entries, in no particular order.

    On the CPU ``numpy.argpartition`` is several times faster than ``torch.topk`` here.
    """
    if flat.device.type != "cpu":
        return torch.topk(flat, m, largest=largest).indices
    a = flat.detach().numpy()
    if m >= a.size:
        return torch.arange(a.size)
    idx = np.argpartition(a, a.size - m)[a.size - m :] if largest else np.argpartition(a, m)[:m]
    return torch.from_numpy(idx)


def _unit_differences(X: Tensor, pairs: Tensor) -> Tensor:
    diff = X[pairs[:, 0]] - X[pairs[:, 1]]
    unit: Tensor = diff / diff.norm(dim=1, keepdim=True)
    return unit


def _merge_active(X: Tensor, M: Tensor, old: Tensor, new: Tensor, capacity: int) -> Tensor:
    """Union of two pair sets, keeping at most ``capacity`` of the most extreme ratios."""
    n = int(X.shape[0])
    keys = torch.unique(torch.cat([old, new]) @ torch.tensor([n, 1], dtype=old.dtype))
    both: Tensor = torch.stack([keys // n, keys % n], dim=1)
    if both.shape[0] <= capacity:
        return both
    U = _unit_differences(X, both)
    logr = torch.log(((U @ M.T) ** 2).sum(1))
    centre = 0.5 * (logr.max() + logr.min())
    keep = torch.topk((logr - centre).abs(), capacity).indices
    kept: Tensor = both[keep]
    return kept


def range_distortion(rmin: float, rmax: float) -> float:
    """Max distortion after the best scalar rescaling of a ratio range [rmin, rmax]."""
    return (rmax - rmin) / (rmax + rmin)


def optimise_projection(
    X: Tensor,
    M0: Tensor,
    *,
    objective: str,
    n_iter: int,
    n_samples: int,
    lr: float,
    sigma0: float,
    sigma_final: float,
    tau0: float,
    tau_final: float,
    active_size: int,
    rescan_every: int,
    generator: torch.Generator,
    callback: Callable[[int, int], None] | None = None,
    block_entries: int = DEFAULT_BLOCK_ENTRIES,
) -> FitOutcome:
    """Minimise the smoothed log-ratio range of ``P = M + sigma G / sqrt(k)`` (see module doc).

    ``X`` is centred, duplicate-free data (``"pairs"``) or the unit points (``"norms"``), in the
    working dtype. Returns the best deterministic M found, judged exactly over all terms.
    """
    start = time.perf_counter()
    M = M0.clone().requires_grad_(True)
    rho = torch.tensor(math.log(sigma0), dtype=X.dtype, device=X.device, requires_grad=True)
    opt = torch.optim.Adam([M, rho], lr=lr)
    history = FitHistory()
    half = max(1, active_size // 2)

    def exact_range(Mc: Tensor) -> tuple[float, float, Tensor | None]:
        if objective == "norms":
            r = ((X @ Mc.T) ** 2).sum(1)
            return float(r.min()), float(r.max()), None
        pairs, _, lo, hi = scan_extremes(X, Mc, half, block_entries=block_entries)
        return lo, hi, pairs

    with torch.no_grad():
        lo, hi, pairs = exact_range(M0)
    best_value = range_distortion(lo, hi)
    best_M = M0.detach().clone()
    history.certified_iteration.append(0)
    history.certified_max_distortion.append(best_value)
    active = pairs
    U = X if objective == "norms" else _unit_differences(X, active)  # type: ignore[arg-type]
    interrupted = False
    try:
        for it in range(1, n_iter + 1):
            frac = (it - 1) / max(1, n_iter - 1)
            tau = tau0 * (tau_final / tau0) ** frac
            cap = sigma0 * (sigma_final / sigma0) ** frac
            lr_now = lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * frac)))
            for group in opt.param_groups:
                group["lr"] = lr_now
            sigma = torch.minimum(rho.exp(), torch.tensor(cap, dtype=X.dtype, device=X.device))
            P = sample_projections(M, sigma, n_samples, generator)
            logr = torch.log((torch.matmul(U, P.transpose(1, 2)) ** 2).sum(2))  # (s, m)
            smooth = tau * torch.logsumexp(logr / tau, dim=1) + tau * torch.logsumexp(
                -logr / tau, dim=1
            )
            loss = smooth.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                det = torch.log(((U @ M.T) ** 2).sum(1))
                active_max = range_distortion(float(det.min().exp()), float(det.max().exp()))
            history.iteration.append(it)
            history.objective.append(float(loss.detach()))
            history.max_distortion.append(active_max)
            history.sigma.append(float(sigma.detach()))
            history.active_size.append(int(U.shape[0]))
            if it % rescan_every == 0 or it == n_iter:
                with torch.no_grad():
                    Mc = M.detach()
                    lo, hi, new_pairs = exact_range(Mc)
                    value = range_distortion(lo, hi)
                    history.certified_iteration.append(it)
                    history.certified_max_distortion.append(value)
                    if value < best_value:
                        best_value, best_M = value, Mc.clone()
                    if objective == "pairs" and new_pairs is not None and active is not None:
                        active = _merge_active(X, Mc, active, new_pairs, 2 * active_size)
                        U = _unit_differences(X, active)
            if callback is not None:
                callback(it, n_iter)
    except KeyboardInterrupt:
        interrupted = True
    return FitOutcome(
        M=best_M.detach().cpu().numpy().astype(np.float64),
        history=history,
        interrupted=interrupted,
        seconds=time.perf_counter() - start,
    )
