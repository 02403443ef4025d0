"""Shared test configuration: deterministic torch, float64 by default where asked."""

from __future__ import annotations

import torch

torch.set_num_threads(2)
