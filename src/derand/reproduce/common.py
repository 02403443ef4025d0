"""What every experiment of the reproduction shares: its configuration, progress and
result types, the seed statistics and the figure saving."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from derand.report import Section
from derand.results import save_figure


@dataclass(frozen=True)
class ReproduceConfig:
    """What to run: ``quick`` shrinks sizes for a few-minute run; ``seeds`` per experiment."""

    out: Path
    quick: bool = False
    seeds: int = 3
    gset_dir: Path | None = None
    """A folder of Gset files and ``best_known.csv``; default: the instances shipped with derand."""
    device: str = "cpu"
    """torch device of the neural-network runs."""
    only: tuple[str, ...] = ()
    """Names of the experiments to run (see :data:`EXPERIMENTS`); empty: all of them."""
    overrides: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Per-experiment parameter overrides (``"nn"``, ...), e.g. for tiny test runs."""


@dataclass(frozen=True)
class ReproduceResult:
    """The report's sections, every number, the files written and the wall time."""

    sections: list[Section]
    numbers: dict[str, Any]
    files: list[Path]
    seconds: float
    interrupted: bool = False
    """Ctrl-C stopped the run: the report holds the experiments that finished before it."""


@dataclass(frozen=True)
class Progress:
    """Where a run is: experiment ``index`` of ``total`` and a stage within it (``step`` of
    ``steps``, e.g. the seed), given to the ``callback`` of :func:`reproduce`."""

    experiment: str
    index: int
    total: int
    stage: str
    step: int
    steps: int


Tick = Callable[[str, int, int], None]
"""``tick(stage, step, steps)``: an experiment says which stage it starts."""


def _kept(result: Any) -> Any:
    """``result``, or :class:`KeyboardInterrupt` again when Ctrl-C stopped it early: the
    library returns the best so far, but a reproduction must not report it as finished."""
    if getattr(result, "interrupted", False) or getattr(result, "interrupted_", False):
        raise KeyboardInterrupt
    return result


def stats(values: Sequence[float]) -> dict[str, float]:
    """Mean, standard deviation (n - 1), min and max."""
    vals = [float(v) for v in values]
    return {
        "mean": statistics.fmean(vals),
        "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
        "min": min(vals),
        "max": max(vals),
        "n": len(vals),
    }


def fmt(values: Sequence[float], digits: int = 4) -> str:
    """``mean ± std [min, max]`` over seeds (just the value for one seed)."""
    s = stats(values)
    if s["n"] == 1:
        return f"{s['mean']:.{digits}g}"
    return f"{s['mean']:.{digits}g} ± {s['std']:.2g} [{s['min']:.{digits}g}, {s['max']:.{digits}g}]"


def _save(config: ReproduceConfig, figures: dict[str, Any]) -> list[Path]:
    return [save_figure(fig, config.out / f"{name}.png") for name, fig in figures.items()]
