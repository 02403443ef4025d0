"""Derandomized Johnson–Lindenstrauss embeddings (paper §5.2).

- :class:`DerandomizedJL`: the scikit-learn transformer (optimise M + sigma G, sigma -> 0).
- Baselines in the same API: :class:`GaussianJL`, :class:`SparseJL`,
  :class:`BestOfGaussianJL`, :class:`PCAJL`.
- :func:`pairwise_distortion`: the exact distortion over all pairs (the certificate);
  :func:`norm_distortion`: the authors' variant on the points' own norms.
- :func:`load_data`: the ``DATA`` argument of ``derand jl``.
"""

from derand.jl.baselines import PCAJL, BestOfGaussianJL, GaussianJL, SparseJL
from derand.jl.data import Dataset, load_data
from derand.jl.distortion import (
    DistortionReport,
    best_rescaling,
    dense_pairwise_distortions,
    drop_duplicates,
    measure_distortion,
    norm_distortion,
    pairwise_distortion,
)
from derand.jl.estimator import DerandomizedJL

__all__ = [
    "PCAJL",
    "BestOfGaussianJL",
    "Dataset",
    "DerandomizedJL",
    "DistortionReport",
    "GaussianJL",
    "SparseJL",
    "best_rescaling",
    "dense_pairwise_distortions",
    "drop_duplicates",
    "load_data",
    "measure_distortion",
    "norm_distortion",
    "pairwise_distortion",
]
