"""One plotting style for every figure derand draws (no pyplot: safe without a screen)."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

OURS = "#1f4e9c"
BASELINE = "#c0392b"
REFERENCE = "#555555"
ACCENT = "#e08e0b"


def new_figure(width: float = 6.0, height: float = 4.0, ncols: int = 1) -> tuple[Figure, Any]:
    """A figure with ``ncols`` axes in the project style."""
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols)
    for ax in [axes] if ncols == 1 else list(axes):
        ax.grid(True, which="major", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes
