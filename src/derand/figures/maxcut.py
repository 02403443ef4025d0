"""The paper's Figures 4 and 5 for Max-Cut, drawn so that each shows its claim at a glance.

Figure 4: the derandomized trajectory -- ``E[cut]`` in closed form and the deterministic cut
``sign(V mu)`` -- climbs from the GW expectation past the best of N random hyperplanes, under
the optimum (the proven upper bound is in the title). Figure 5: ``sigma = 1 / |mu|`` first
follows a schedule -- the geometric line search along the top Hessian direction at ``mu = 0``
-- then whatever the L-BFGS ascent of ``E[cut]`` makes of ``|mu|``; the figure says so, and
its right panel shows ``E[cut]`` against ``sigma``: what the ascent learned.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from derand.figures.style import ACCENT, BASELINE, OURS, REFERENCE, new_figure
from derand.maxcut.solve import MaxCutResult

__all__ = ["plot_maxcut"]


def plot_maxcut(result: MaxCutResult, optimum: float | None = None) -> dict[str, Figure]:
    """Figures 4 (``maxcut_cut``) and 5 (``maxcut_sigma``) of one run.

    Parameters
    ----------
    result : MaxCutResult
        A run with the derandomized (or score) rounding; its traces are drawn.
    optimum : float, optional
        The known optimum; defaults to ``result.exact_cut``. Without it the proven (or
        Lanczos) upper bound is drawn instead.

    Returns
    -------
    dict of str to Figure
        ``{"maxcut_cut": ..., "maxcut_sigma": ...}``.

    Examples
    --------
    >>> from derand.maxcut import paper_graph, solve_maxcut
    >>> figs = plot_maxcut(solve_maxcut(paper_graph()), optimum=41)
    >>> sorted(figs)
    ['maxcut_cut', 'maxcut_sigma']
    """
    r = result
    its = list(range(len(r.expected_trace)))
    best = optimum if optimum is not None else r.exact_cut
    fig, ax = new_figure(7.0, 4.2)
    ax_: Any = ax
    # reference lines first, thin and behind; the trajectory is drawn on top of them
    ax_.axhline(
        r.gw_expected, color=BASELINE, ls=":", lw=1.2, zorder=1,
        label=f"GW expectation {r.gw_expected:.4g}",
    )  # fmt: skip
    ax_.axhline(
        r.random_best, color=BASELINE, ls="--", lw=1.0, zorder=1,
        label=f"best of {r.random_samples} random hyperplanes {r.random_best:.4g}",
    )  # fmt: skip
    if best is not None:
        ax_.axhline(best, color=REFERENCE, ls="-.", lw=1.0, zorder=1, label=f"optimum {best:.4g}")
    if its:
        ax_.plot(its, r.expected_trace, color=OURS, lw=2.0, zorder=3,
                 label="E[cut] of N(m, σ²I) hyperplane (closed form)")  # fmt: skip
        ax_.plot(its, r.cut_trace, color=ACCENT, lw=1.2, marker="o", ms=3.5, zorder=4,
                 label=f"cut of sign(V m): ends at {r.derandomized_cut:.4g}")  # fmt: skip
        if r.local_search and r.final_cut > r.derandomized_cut:
            ax_.plot([its[-1]], [r.final_cut], marker="*", ms=11, color=OURS, ls="none",
                     zorder=5, label=f"after local search {r.final_cut:.4g}")  # fmt: skip
    lo = min([r.gw_expected, *r.expected_trace[:1], *r.cut_trace]) if its else r.gw_expected
    hi = max(x for x in (best, r.final_cut, r.random_best, r.derandomized_cut) if x is not None)
    pad = 0.08 * max(hi - lo, 1e-9)
    ax_.set_ylim(lo - pad, hi + 3 * pad)
    ax_.set_xlabel("ascent iteration")
    ax_.set_ylabel("cut")
    kind = "proven upper bound" if r.bound_proven else "upper bound (Lanczos, not proven)"
    ax_.set_title(
        f"Max-Cut, {r.name}: {r.rounding} rounding\n{kind} {r.upper_bound:.6g}, "
        f"SDP {r.sdp_value:.6g}",
        fontsize=10,
    )
    ax_.legend(loc="lower right", fontsize=8, framealpha=0.9)
    figures = {"maxcut_cut": fig}

    fig, axes = new_figure(9.0, 3.8, ncols=2)
    left: Any = axes[0]
    right: Any = axes[1]
    if its:
        left.plot(its, r.sigma_trace, color=OURS, marker="o", ms=3)
        left.set_yscale("log")
        right.plot(r.sigma_trace, r.expected_trace, color=OURS, marker="o", ms=3,
                   label="E[cut] at σ")  # fmt: skip
        right.plot(r.sigma_trace, r.cut_trace, color=ACCENT, ls="none", marker="x", ms=4,
                   label="cut of sign(V m)")  # fmt: skip
        right.set_xscale("log")
        right.invert_xaxis()
        right.axhline(r.gw_expected, color=BASELINE, ls=":", lw=1.0, label="GW expectation")
        right.legend(loc="lower right", fontsize=8)
    left.set_xlabel("ascent iteration")
    left.set_ylabel("σ = 1 / |m|")
    left.set_title(
        "σ = 1/|m| follows a schedule at first: a geometric line search\n"
        "along the top Hessian direction (straight part), then the ascent sets it",
        fontsize=8,
    )
    right.set_xlabel("σ (log scale, decreasing →)")
    right.set_ylabel("cut")
    right.set_title("what the ascent learned: E[cut] rises as σ → 0", fontsize=9)
    fig.suptitle(f"Max-Cut, {r.name}: σ along the derandomized ascent", fontsize=10)
    figures["maxcut_sigma"] = fig
    return figures
