"""Shared test configuration: one torch thread, so that the suite stays fast on a busy machine
and float results do not depend on the thread count."""

from __future__ import annotations

import os

# Read by `derand.threads` (every CLI call in the tests uses one thread) and by subprocesses.
os.environ["OMP_NUM_THREADS"] = "1"

import torch

torch.set_num_threads(1)
