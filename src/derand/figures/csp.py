"""Beyond the paper: a Figure 4 for MAX-2-SAT -- the derandomized threshold rounding's ascent.

``E[value]`` of the threshold rounding ``s_i = sign(u_i . r + t_i)`` (closed form) climbs from
its start -- at least the Goemans-Williamson expectation, which is an average of such
roundings -- past the best of N random hyperplanes, under the proven SDP bound; the
deterministic value ``sign(U mu + tau)`` is drawn beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from derand.figures.style import ACCENT, BASELINE, OURS, REFERENCE, new_figure

__all__ = ["plot_csp_ascent"]


def plot_csp_ascent(
    expected: Sequence[float],
    rounded: Sequence[float],
    *,
    gw: float,
    random_best: float,
    samples: int,
    bound: float,
    title: str,
) -> Figure:
    """The ascent of one run with its baselines.

    Returns
    -------
    Figure
    """
    fig, ax = new_figure(7.0, 4.2)
    ax.axhline(gw, color=BASELINE, ls=":", lw=1.2, zorder=1, label=f"GW expectation {gw:.5g}")
    ax.axhline(
        random_best, color=BASELINE, ls="--", lw=1.0, zorder=1,
        label=f"best of {samples} random hyperplanes {random_best:.5g}",
    )  # fmt: skip
    ax.axhline(bound, color=REFERENCE, ls="-.", lw=1.0, zorder=1, label=f"proven bound {bound:.5g}")
    its = list(range(len(expected)))
    ax.plot(its, expected, color=OURS, marker="o", ms=3, zorder=3, label="E[value] (closed form)")
    ax.plot(its, rounded, color=ACCENT, ls="none", marker="x", ms=4, zorder=3,
            label="deterministic sign(U mu + tau)")  # fmt: skip
    ax.set_xlabel("iteration of the monotone ascent")
    ax.set_ylabel("satisfied weight")
    ax.set_title(title)
    ax.legend(loc="center right", fontsize=8)
    return fig
