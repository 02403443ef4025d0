"""The paper's Figures 6 and 7 for JL (§5.2): max distortion and sigma over the iterations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from derand.figures.style import ACCENT, BASELINE, OURS, REFERENCE, new_figure

_PCA = "#2a9d8f"
_RESCALED = "#8e44ad"


def plot_jl(
    history: Mapping[str, Any],
    gaussian_draws: Sequence[float],
    *,
    rescaled_best: float | None = None,
    pca: float | None = None,
    title: str = "",
) -> dict[str, object]:
    """Figure 6 (max distortion per iteration against the baselines) and Figure 7 (sigma).

    Parameters
    ----------
    history : mapping
        ``DerandomizedJL.history_``.
    gaussian_draws : sequence of float
        Certified max distortions of single random Gaussian projections as drawn (lines:
        their mean and minimum).
    rescaled_best : float, optional
        Certified max distortion of the best of those draws after the best scalar rescaling.
    pca : float, optional
        Certified max distortion of PCA with the best scalar rescaling.
    title : str
        Appended to the figure titles (e.g. the data set and k).

    Returns
    -------
    dict
        ``{"fig6_jl_max_distortion": Figure, "fig7_jl_sigma": Figure}``.

    Examples
    --------
    >>> h = {"iteration": [1, 2], "max_distortion": [0.5, 0.4], "sigma": [0.1, 0.01],
    ...      "certified_iteration": [0, 2], "certified_max_distortion": [0.6, 0.4],
    ...      "certified_sigma": [0.3, 0.01], "sigma_mode": "objective"}
    >>> sorted(plot_jl(h, [1.2, 1.5]))
    ['fig6_jl_max_distortion', 'fig7_jl_sigma']
    """
    suffix = f" ({title})" if title else ""
    mode = str(history.get("sigma_mode", "objective"))
    return {
        "fig6_jl_max_distortion": _figure6(history, gaussian_draws, rescaled_best, pca, suffix),
        "fig7_jl_sigma": _figure7(history, mode, suffix),
    }


def _figure6(
    history: Mapping[str, Any],
    gaussian_draws: Sequence[float],
    rescaled_best: float | None,
    pca: float | None,
    suffix: str,
) -> object:
    fig, ax = new_figure(6.4, 4.2)
    it = np.asarray(history["iteration"])
    ax.plot(
        it,
        history["max_distortion"],
        color=OURS,
        lw=1.0,
        alpha=0.7,
        label="derandomized M on the active set (lower bound)",
    )
    cert_it = history.get("certified_iteration", [])
    cert = history.get("certified_max_distortion", [])
    if cert:
        ax.plot(cert_it, cert, "o-", ms=3, lw=0.8, color=ACCENT, label="derandomized M, exact")
        best = float(np.min(cert))
        ax.annotate(
            f"best {best:.3f}",
            xy=(cert_it[int(np.argmin(cert))], best),
            xytext=(-4, 6),
            textcoords="offset points",
            ha="right",
            fontsize=8,
            color=ACCENT,
        )
    draws = np.asarray(gaussian_draws, dtype=float)
    lines: list[tuple[float, str, str, str]] = []
    if draws.size:
        lines.append((float(draws.mean()), BASELINE, "--", f"Gaussian, mean of {draws.size}"))
        lines.append((float(draws.min()), REFERENCE, ":", f"Gaussian, best of {draws.size}"))
    if rescaled_best is not None:
        lines.append((rescaled_best, _RESCALED, "-.", "Gaussian best of N, rescaled"))
    if pca is not None:
        lines.append((pca, _PCA, "-", "PCA, rescaled"))
    for value, color, style, label in lines:
        ax.axhline(value, color=color, ls=style, lw=1.2, label=f"{label}: {value:.3f}")
    ax.set_yscale("log")
    ax.set_xlabel("L-BFGS iteration")
    ax.set_ylabel("max distortion $\\max_{i<j} |D_{ij}|$")
    ax.set_title(f"Fig. 6: max distortion over iterations{suffix}", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    return fig


def _figure7(history: Mapping[str, Any], mode: str, suffix: str) -> object:
    fig, ax = new_figure(6.4, 4.2)
    it = np.asarray(history["iteration"])
    sigma = np.asarray(history["sigma"], dtype=float)
    if mode == "objective" and sigma.size and np.all(sigma > 0):
        ax.plot(it, sigma, color=OURS, lw=0.8, alpha=0.6, label="$\\sigma$ at each iteration")
        rounds_it = history.get("certified_iteration", [])
        rounds_sigma = np.asarray(history.get("certified_sigma", []), dtype=float)
        if len(rounds_it) and np.all(rounds_sigma > 0):
            ax.plot(
                rounds_it, rounds_sigma, "o-", ms=3, color=ACCENT, label="at the end of a round"
            )
        ax.set_yscale("log")
        ax.set_xlabel("L-BFGS iteration")
        ax.set_ylabel("$\\sigma$ (noise level of $P = M + \\sigma G / \\sqrt{k}$)")
        ax.set_title(f"Fig. 7: $\\sigma$ learned from the objective, no cap{suffix}", fontsize=10)
        ax.text(
            0.02,
            0.04,
            "$\\sigma$ minimises the exact $E_G$[smooth max] $+ \\lambda\\sigma^2$;"
            " it falls by itself",
            transform=ax.transAxes,
            fontsize=8,
        )
        ax.legend(fontsize=8)
        return fig
    cert_sigma = np.asarray(history.get("certified_sigma", []), dtype=float)
    cert = np.asarray(history.get("certified_max_distortion", []), dtype=float)
    if mode == "schedule" and cert_sigma.size and np.all(cert_sigma > 0):
        ax.plot(cert_sigma, cert, "o-", ms=3, color=OURS, label="exact max distortion of M")
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("$\\sigma$ of the round (a fixed geometric schedule, not learned)")
        ax.set_ylabel("max distortion of M")
        ax.set_title(f"Fig. 7: distortion against the scheduled $\\sigma${suffix}", fontsize=10)
        ax.legend(fontsize=8)
        return fig
    ax.plot(np.arange(cert.size), cert, "o-", ms=3, color=OURS, label="exact max distortion")
    ax.set_xlabel("round")
    ax.set_ylabel("max distortion of M")
    ax.set_title(f"Fig. 7: $\\sigma = 0$ throughout (deterministic fit){suffix}", fontsize=10)
    ax.legend(fontsize=8)
    return fig
