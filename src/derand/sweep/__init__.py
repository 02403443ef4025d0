"""Parameter sweeps over ``derand`` commands on a process pool or a Ray cluster.

The names below are loaded on first use, so that ``derand sweep --help`` costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

BACKENDS = ("local", "ray")
"""Where cells run: ``local`` (a process pool on this machine) or ``ray``."""

_MODULE_OF = {
    "SweepOutcome": "execute",
    "run_cell": "execute",
    "run_sweep": "execute",
    "RUNNERS": "runners",
    "Runner": "runners",
    "get_runner": "runners",
    "Cell": "spec",
    "SweepSpec": "spec",
    "load_spec": "spec",
    "parse_spec": "spec",
}

if TYPE_CHECKING:
    from derand.sweep.execute import SweepOutcome, run_cell, run_sweep
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


def __getattr__(name: str) -> Any:
    if name in _MODULE_OF:
        return getattr(importlib.import_module(f"derand.sweep.{_MODULE_OF[name]}"), name)
    raise AttributeError(f"module 'derand.sweep' has no attribute {name!r}")
