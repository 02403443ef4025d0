"""Derandomized Johnson–Lindenstrauss embeddings (paper §5.2).

- :class:`DerandomizedJL`: the scikit-learn transformer (optimise M + sigma G, sigma -> 0).
- Baselines in the same API: :class:`GaussianJL`, :class:`SparseJL`,
  :class:`BestOfGaussianJL`, :class:`PCAJL`, :class:`NuMaxJL` (the convex state of the art).
- :func:`pairwise_distortion`: the exact distortion over all pairs (the certificate), streamed
  in tiles on threads or Ray tasks; :func:`cross_distortion`: over the pairs between two sets;
  :func:`norm_distortion`: the authors' variant on the points' own norms.
- :func:`split_holdout` and :func:`holdout_distortion`: generalisation to held-out points.
- :func:`load_data`: the ``DATA`` argument of ``derand jl``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from derand.jl.baselines import PCAJL, BestOfGaussianJL, GaussianJL, NuMaxJL, SparseJL
    from derand.jl.data import Dataset, load_data
    from derand.jl.distortion import (
        DistortionReport,
        best_rescaling,
        cross_distortion,
        dense_pairwise_distortions,
        drop_duplicates,
        measure_distortion,
        norm_distortion,
        pairwise_distortion,
    )
    from derand.jl.estimator import FAST_FIT, DerandomizedJL
    from derand.jl.holdout import HoldoutReport, holdout_distortion, split_holdout

_HOME = {
    "PCAJL": "baselines",
    "BestOfGaussianJL": "baselines",
    "GaussianJL": "baselines",
    "SparseJL": "baselines",
    "NuMaxJL": "baselines",
    "Dataset": "data",
    "load_data": "data",
    "DistortionReport": "distortion",
    "best_rescaling": "distortion",
    "cross_distortion": "distortion",
    "dense_pairwise_distortions": "distortion",
    "drop_duplicates": "distortion",
    "measure_distortion": "distortion",
    "norm_distortion": "distortion",
    "pairwise_distortion": "distortion",
    "DerandomizedJL": "estimator",
    "FAST_FIT": "estimator",
    "HoldoutReport": "holdout",
    "holdout_distortion": "holdout",
    "split_holdout": "holdout",
}
"""Where each public name lives: imported on first use, so that ``derand.jl.methods`` (the
command line's) does not load scikit-learn and numba."""


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"derand.jl.{_HOME[name]}"), name)
    raise AttributeError(f"module 'derand.jl' has no attribute {name!r}")


__all__ = [
    "FAST_FIT",
    "PCAJL",
    "BestOfGaussianJL",
    "Dataset",
    "DerandomizedJL",
    "DistortionReport",
    "GaussianJL",
    "HoldoutReport",
    "NuMaxJL",
    "SparseJL",
    "best_rescaling",
    "cross_distortion",
    "dense_pairwise_distortions",
    "drop_duplicates",
    "holdout_distortion",
    "load_data",
    "measure_distortion",
    "norm_distortion",
    "pairwise_distortion",
    "split_holdout",
]
