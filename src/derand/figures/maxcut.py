"""The paper's Figures 4 and 5 for Max-Cut: cut over iterations, sigma over iterations."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from derand.figures.style import ACCENT, BASELINE, OURS, REFERENCE, new_figure
from derand.maxcut.solve import MaxCutResult

__all__ = ["plot_maxcut"]


def plot_maxcut(result: MaxCutResult, optimum: float | None = None) -> dict[str, Figure]:
    """Figure 4 (E[cut] and the deterministic cut per iteration, with the GW expectation and,
    when known, the optimum as lines) and Figure 5 (sigma per iteration, log scale)."""
    figures: dict[str, Figure] = {}
    its = list(range(len(result.expected_trace)))
    fig, ax = new_figure()
    ax_: Any = ax
    if its:
        ax_.plot(its, result.expected_trace, color=OURS, label="E[cut] (closed form)")
        ax_.plot(its, result.cut_trace, color=ACCENT, ls="--", label="cut of sign(V m)")
    ax_.axhline(result.gw_expected, color=BASELINE, ls=":", label="GW expectation")
    best = optimum if optimum is not None else result.exact_cut
    if best is not None:
        ax_.axhline(best, color=REFERENCE, ls="-.", label="optimum")
    ax_.set_xlabel("iteration")
    ax_.set_ylabel("cut")
    ax_.set_title(f"Max-Cut, {result.name} ({result.rounding} rounding)")
    ax_.legend(loc="lower right")
    figures["maxcut_cut"] = fig
    fig, ax = new_figure()
    ax_ = ax
    if its:
        ax_.plot(its, result.sigma_trace, color=OURS)
        ax_.set_yscale("log")
    ax_.set_xlabel("iteration")
    ax_.set_ylabel("sigma")
    ax_.set_title(f"Max-Cut, {result.name}: sigma over iterations")
    figures["maxcut_sigma"] = fig
    return figures
