"""Shared test configuration: one torch thread, so that the suite stays fast on a busy machine
and float results do not depend on the thread count."""

from __future__ import annotations

import os

# Read by `derand.threads` (every CLI call in the tests uses one thread) and by subprocesses.
os.environ["OMP_NUM_THREADS"] = "1"

import torch
from hypothesis import settings

torch.set_num_threads(1)

# Property tests draw the same examples on every run and machine (a fuzz case found once is
# then added as a unit test, not left to chance).
settings.register_profile("derand", derandomize=True)
settings.load_profile("derand")
