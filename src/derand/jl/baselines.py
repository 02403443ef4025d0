"""What users compare a derandomized JL embedding against (paper §5.2), in the same API.

Every baseline is a scikit-learn transformer with ``components_`` (``transform(X) =
X @ components_.T``) and the same exact certificate as :class:`~derand.jl.DerandomizedJL`:
``max_distortion_`` over all pairs of the de-duplicated training points.

- :class:`GaussianJL`: one draw of scikit-learn's ``GaussianRandomProjection``.
- :class:`SparseJL`: one draw of scikit-learn's ``SparseRandomProjection`` (Achlioptas / Li).
- :class:`BestOfGaussianJL`: the best (smallest certified max distortion) of N Gaussian draws.
- :class:`PCAJL`: the top-k principal directions with the best scalar rescaling.

Random projections are used as drawn (``rescale=False``), as scikit-learn does; with
``rescale=True`` they also get the best scalar rescaling.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.random_projection import GaussianRandomProjection, SparseRandomProjection
from sklearn.utils import check_random_state

from derand.errors import InputError
from derand.jl.distortion import DistortionReport, best_rescaling, pairwise_ratio_ranges
from derand.jl.estimator import (
    ProjectionMixin,
    certify,
    top_directions,
    training_points,
    validate_fit_input,
)

Array = NDArray[np.float64]

_DRAW_BATCH = 16


class _CertifiedProjection(ProjectionMixin, TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Shared plumbing: validation, rescaling, the certificate and ``transform``."""

    n_components: int
    objective: str
    rescale: bool

    def _propose(
        self, X: Array, k: int, callback: Callable[[int, int], None] | None
    ) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(
        self,
        X: ArrayLike,
        y: object = None,
        *,
        callback: Callable[[int, int], None] | None = None,
    ) -> _CertifiedProjection:
        """Build the projection on X and certify it over all training pairs (or norms)."""
        start = time.perf_counter()
        Xa = validate_fit_input(self, X, self.n_components, self.objective)
        Xu = training_points(Xa, self.objective)
        P = self._propose(Xu, int(self.n_components), callback)
        if self.rescale:
            raw = certify(Xu, P, self.objective, quantiles=(), n_worst=0)
            scale, _ = best_rescaling(raw.min_signed, raw.max_signed)
            P = scale * P
        self.components_ = np.asarray(P, dtype=np.float64)
        self.distortion_: DistortionReport = certify(Xu, self.components_, self.objective)
        self.max_distortion_ = self.distortion_.max_distortion
        self.mean_distortion_ = self.distortion_.mean_distortion
        self.fit_seconds_ = time.perf_counter() - start
        return self


class GaussianJL(_CertifiedProjection):
    """One Gaussian random projection (entries N(0, 1/k)), scikit-learn's, certified exactly.

    The classic JL embedding: M = 0, sigma = 1 in the paper's sampler (§5.2).
    """

    def __init__(
        self,
        n_components: int = 20,
        *,
        objective: str = "pairs",
        rescale: bool = False,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_components = n_components
        self.objective = objective
        self.rescale = rescale
        self.random_state = random_state

    def _propose(self, X: Array, k: int, callback: Callable[[int, int], None] | None) -> Array:
        grp = GaussianRandomProjection(n_components=k, random_state=self.random_state)
        grp.fit(X)
        return np.asarray(grp.components_, dtype=np.float64)


class SparseJL(_CertifiedProjection):
    """One sparse random projection (scikit-learn's, density 1/sqrt(d)), certified exactly."""

    def __init__(
        self,
        n_components: int = 20,
        *,
        objective: str = "pairs",
        rescale: bool = False,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_components = n_components
        self.objective = objective
        self.rescale = rescale
        self.random_state = random_state

    def _propose(self, X: Array, k: int, callback: Callable[[int, int], None] | None) -> Array:
        srp = SparseRandomProjection(
            n_components=k, dense_output=True, random_state=self.random_state
        )
        srp.fit(X)
        comp = srp.components_
        dense = comp.toarray() if hasattr(comp, "toarray") else comp
        return np.asarray(dense, dtype=np.float64)


class BestOfGaussianJL(_CertifiedProjection):
    """The best of ``n_draws`` Gaussian projections by exact certified max distortion."""

    def __init__(
        self,
        n_components: int = 20,
        *,
        n_draws: int = 100,
        objective: str = "pairs",
        rescale: bool = False,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_components = n_components
        self.n_draws = n_draws
        self.objective = objective
        self.rescale = rescale
        self.random_state = random_state

    def _propose(self, X: Array, k: int, callback: Callable[[int, int], None] | None) -> Array:
        if not isinstance(self.n_draws, (int, np.integer)) or self.n_draws < 1:
            raise InputError(f"n_draws must be an integer >= 1, got {self.n_draws!r}")
        rng = check_random_state(self.random_state)
        best: Array | None = None
        best_value = np.inf
        values: list[float] = []
        n_draws = int(self.n_draws)
        done = 0
        while done < n_draws:
            batch = min(_DRAW_BATCH, n_draws - done)
            Ps = np.stack([rng.standard_normal((k, X.shape[1])) / np.sqrt(k) for _ in range(batch)])
            for P, value in zip(Ps, self._draw_values(X, Ps), strict=True):
                values.append(value)
                if value < best_value:
                    best, best_value = P, value
            done += batch
            if callback is not None:
                callback(done, n_draws)
        assert best is not None
        self.draw_distortions_ = np.asarray(values)
        return best  # fit() rescales it when ``rescale``

    def _draw_values(self, X: Array, Ps: Array) -> list[float]:
        """Certified max distortion of each draw (after rescaling if ``rescale``)."""
        if self.objective == "pairs":
            ranges = pairwise_ratio_ranges(X, Ps)
        else:
            ranges = np.array(
                [
                    [1.0 + r.min_signed, 1.0 + r.max_signed]
                    for r in (certify(X, P, "norms", quantiles=(), n_worst=0) for P in Ps)
                ]
            )
        lo, hi = ranges[:, 0], ranges[:, 1]
        if self.rescale:
            return [float(v) for v in (hi - lo) / (hi + lo)]
        return [float(v) for v in np.maximum(hi - 1.0, 1.0 - lo)]


class PCAJL(_CertifiedProjection):
    """Top-k principal directions of the centred data, with the best scalar rescaling."""

    def __init__(
        self, n_components: int = 20, *, objective: str = "pairs", rescale: bool = True
    ) -> None:
        self.n_components = n_components
        self.objective = objective
        self.rescale = rescale

    def _propose(self, X: Array, k: int, callback: Callable[[int, int], None] | None) -> Array:
        work = X - X.mean(axis=0) if self.objective == "pairs" else X
        return top_directions(work, k)
