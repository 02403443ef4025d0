"""Parameter sweeps over ``derand`` commands on a process pool or a Ray cluster."""

from derand.sweep.execute import BACKENDS, SweepOutcome, run_cell, run_sweep
from derand.sweep.runners import RUNNERS, Runner, get_runner
from derand.sweep.spec import Cell, SweepSpec, load_spec, parse_spec

__all__ = [
    "BACKENDS",
    "RUNNERS",
    "Cell",
    "Runner",
    "SweepOutcome",
    "SweepSpec",
    "get_runner",
    "load_spec",
    "parse_spec",
    "run_cell",
    "run_sweep",
]
