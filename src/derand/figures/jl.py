"""The paper's Figures 6 and 7 for JL (§5.2): max distortion and sigma over the iterations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from derand.figures.style import ACCENT, BASELINE, OURS, REFERENCE, new_figure


def plot_jl(
    history: Mapping[str, Sequence[float]],
    gaussian_draws: Sequence[float],
    *,
    title: str = "",
) -> dict[str, object]:
    """Figure 6 (max distortion per iteration vs single Gaussian matrices) and Figure 7 (sigma).

    Parameters
    ----------
    history : mapping
        ``DerandomizedJL.history_``.
    gaussian_draws : sequence of float
        Certified max distortions of single random Gaussian projections (the horizontal lines
        show their mean and minimum).
    title : str
        Appended to the figure titles (e.g. the data set and k).
    """
    suffix = f" ({title})" if title else ""
    fig6, ax = new_figure()
    it = np.asarray(history["iteration"])
    ax.plot(
        it,
        history["max_distortion"],
        color=OURS,
        lw=1.2,
        label="derandomized M (active set of worst pairs)",
    )
    if history.get("certified_iteration"):
        ax.plot(
            history["certified_iteration"],
            history["certified_max_distortion"],
            "o",
            ms=3,
            color=ACCENT,
            label="derandomized M, exact over all pairs",
        )
    draws = np.asarray(gaussian_draws, dtype=float)
    if draws.size:
        ax.axhline(
            float(draws.mean()),
            color=BASELINE,
            ls="--",
            lw=1,
            label=f"single Gaussian matrix: mean of {draws.size}",
        )
        ax.axhline(
            float(draws.min()),
            color=REFERENCE,
            ls=":",
            lw=1.2,
            label=f"single Gaussian matrix: min of {draws.size}",
        )
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("max distortion $\\max |D_{ij}|$")
    ax.set_title(f"Fig. 6: max distortion over iterations{suffix}")
    ax.legend(fontsize=8)

    fig7, ax7 = new_figure()
    ax7.plot(it, history["sigma"], color=OURS, lw=1.2)
    ax7.set_yscale("log")
    ax7.set_xlabel("iteration")
    ax7.set_ylabel("$\\sigma$ (noise level of $P = M + \\sigma G / \\sqrt{k}$)")
    ax7.set_title(f"Fig. 7: sampler noise level $\\sigma$ over iterations{suffix}")
    return {"fig6_jl_max_distortion": fig6, "fig7_jl_sigma": fig7}
