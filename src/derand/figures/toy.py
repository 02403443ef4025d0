"""Figures 1 and 2 of the paper: the toy example (computed by :mod:`derand.toy`)."""

from __future__ import annotations

import numpy as np

from derand.figures.style import ACCENT, OURS, REFERENCE, new_figure
from derand.toy import ToyResult, run_toy

__all__ = ["plot_toy", "run_toy"]


def plot_toy(result: ToyResult) -> dict[str, object]:
    """Figures 1 (bias frozen) and 2 (bias trainable); returns ``{name: Figure}``."""
    fig1, ax = new_figure()
    lams = np.asarray(result.lams)
    below = lams <= result.lam_threshold  # w* jumps at the threshold: draw two branches
    w_star = np.asarray(result.frozen_w)
    ax.plot(lams[below], w_star[below], "o-", color=OURS, ms=3, label="global minimiser $w^*$")
    ax.plot(lams[~below], w_star[~below], "o-", color=OURS, ms=3)
    ax.axvline(
        result.lam_threshold,
        color=REFERENCE,
        ls="--",
        lw=1,
        label=f"threshold $\\lambda$ = {result.lam_threshold:.4g}",
    )
    ax.set_xscale("log")
    ax.set_xlabel("regularisation $\\lambda$")
    ax.set_ylabel("$w^*$")
    ax.set_title("Fig. 1: $E[(\\mathrm{ReLU}^3(wx) - 1)^2] + \\lambda w^2$, bias frozen at 0")
    ax.legend()

    fig2, ax2 = new_figure()
    ax2.plot(result.lams, result.trainable_w, "o-", color=OURS, ms=3, label="$w^*$")
    ax2.plot(result.lams, result.trainable_b, "s-", color=ACCENT, ms=3, label="$b^*$")
    ax2.set_xscale("log")
    ax2.set_ylim(-0.1, 1.2)
    ax2.set_xlabel("regularisation $\\lambda$")
    ax2.set_ylabel("global minimiser")
    ax2.set_title("Fig. 2: $E[(\\mathrm{ReLU}^3(wx + b) - 1)^2] + \\lambda w^2$, bias trained")
    ax2.legend()
    return {"fig1_toy_frozen_bias": fig1, "fig2_toy_trainable_bias": fig2}
