"""The paper's Figure 3 (neuron trajectories, d = 2) and alignment curves for any d (§4)."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from derand.figures.style import ACCENT, OURS, REFERENCE, new_figure
from derand.nn.train import TrainResult


def plot_nn(result: TrainResult) -> dict[str, object]:
    """``{name: Figure}``: the alignment curves, and Figure 3 when d = 2."""
    figures: dict[str, object] = {}
    steps = np.array([row["step"] for row in result.log], dtype=float)
    x = np.maximum(steps, 1.0)  # log axis: step 0 drawn at 1
    fig, (ax1, ax2) = new_figure(10, 4, ncols=2)
    ax1.plot(
        x,
        [row["perp_ratio"] for row in result.log],
        "o-",
        ms=3,
        color=OURS,
        label="$\\|W_\\perp\\|_F / \\|W\\|_F$",
    )
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("training step")
    ax1.set_ylabel("relative norm off span(U)")
    ax1.set_title("Weight outside the teacher subspace")
    ax1.legend()
    angles = np.array([row["principal_angles_deg"] for row in result.log])
    for i in range(angles.shape[1]):
        ax2.plot(
            x,
            angles[:, i],
            "o-",
            ms=3,
            color=[OURS, ACCENT, REFERENCE][i % 3],
            label=f"principal angle {i + 1}",
        )
    ax2.set_xscale("log")
    ax2.set_ylim(0, 92)
    ax2.set_xlabel("training step")
    ax2.set_ylabel("degrees")
    ax2.set_title("span(U) vs top-k right singular subspace of W")
    ax2.legend()
    figures["nn_alignment"] = fig
    if result.snapshots:
        figures["fig3_nn_trajectories"] = _figure3(result)
    return figures


def _figure3(result: TrainResult, max_neurons: int = 250) -> object:
    fig, ax = new_figure(5.5, 5.5)
    cmap = colormaps["coolwarm_r"]
    n = len(result.snapshots)
    width = len(result.snapshots[0])
    shown = np.linspace(0, width - 1, min(width, max_neurons)).astype(int)  # keep it readable
    for i, W in enumerate(result.snapshots):
        pts = np.asarray(W)[shown]
        ax.scatter(
            pts[:, 0], pts[:, 1], s=2, color=cmap(i / max(n - 1, 1)), alpha=0.6, linewidths=0
        )
    u = np.asarray(result.teacher_U[0])
    lim = float(np.abs(np.asarray(result.snapshots[0])).max()) * 1.05
    ax.plot(
        [-lim * u[0], lim * u[0]],
        [-lim * u[1], lim * u[1]],
        "--",
        color="black",
        lw=1,
        label="span($\\theta$)",
    )
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_title(
        f"Fig. 3: {len(shown)} of {width} neurons, step 0 (red) to {result.steps} (blue)",
        fontsize=10,
    )
    ax.legend(loc="upper left")
    return fig
