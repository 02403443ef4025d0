"""Every figure of the paper in one run, with several seeds, baselines and a report (§5).

``reproduce(ReproduceConfig(out, quick=..., seeds=...))`` runs the experiments below, writes
each figure as PNG, ``results.json`` with every number, and ``report.md`` / ``report.html``,
all rewritten after each experiment so that an interrupted run keeps what finished. Each
section states the paper's claim, our measurement over seeds (mean ± standard deviation,
with min and max), the baselines beside it, the certificate where there is one, and the wall
time. Sections marked *ours* go beyond the paper.

The experiments live in one module each (:mod:`~derand.reproduce.toy`,
:mod:`~derand.reproduce.nn`, :mod:`~derand.reproduce.maxcut`, :mod:`~derand.reproduce.gset`,
:mod:`~derand.reproduce.jl`); :mod:`~derand.reproduce.driver` runs them and writes the report.
"""

from __future__ import annotations

from derand.reproduce.common import (
    Progress,
    ReproduceConfig,
    ReproduceResult,
    Tick,
    fmt,
    stats,
)
from derand.reproduce.common import _kept as _kept  # re-exported for the tests
from derand.reproduce.driver import EXPERIMENTS, reproduce
from derand.reproduce.gset import gset_experiment
from derand.reproduce.jl import jl_digits_experiment, jl_experiment
from derand.reproduce.maxcut import maxcut_experiment
from derand.reproduce.nn import nn_fig3_experiment, nn_multi_index_experiment
from derand.reproduce.toy import toy_experiment

__all__ = [
    "EXPERIMENTS",
    "Progress",
    "ReproduceConfig",
    "ReproduceResult",
    "Tick",
    "fmt",
    "gset_experiment",
    "jl_digits_experiment",
    "jl_experiment",
    "maxcut_experiment",
    "nn_fig3_experiment",
    "nn_multi_index_experiment",
    "reproduce",
    "stats",
    "toy_experiment",
]
