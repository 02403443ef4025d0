"""What users compare a derandomized JL embedding against (paper §5.2), in the same API.

Every baseline is a scikit-learn transformer with ``components_`` (``transform(X) =
X @ components_.T``) and the same exact certificate as :class:`~derand.jl.DerandomizedJL`:
``max_distortion_`` over all pairs of the de-duplicated training points.

- :class:`GaussianJL`: one draw of scikit-learn's ``GaussianRandomProjection``.
- :class:`SparseJL`: one draw of scikit-learn's ``SparseRandomProjection`` (Achlioptas / Li).
- :class:`BestOfGaussianJL`: the best (smallest certified max distortion) of N Gaussian draws.
- :class:`PCAJL`: the top-k principal directions with the best scalar rescaling.
- :class:`NuMaxJL`: NuMax (Hegde et al., IEEE TSP 2015), the convex SDP baseline, for a fixed
  k (:mod:`derand.jl.numax`).

Random projections are used as drawn (``rescale=False``), as scikit-learn does; with
``rescale=True`` they also get the best scalar rescaling. Either way every fitted baseline
reports ``rescaled_max_distortion_``, its certified max distortion after the best scalar
rescaling — the fair comparison with PCA and :class:`~derand.jl.DerandomizedJL`, which are
always rescaled. For :class:`BestOfGaussianJL` it is that of the draw that is best after
rescaling (what ``rescale=True`` would return).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator
from sklearn.random_projection import GaussianRandomProjection, SparseRandomProjection
from sklearn.utils import check_random_state

from derand.jl.distortion import best_rescaling
from derand.jl.estimator import (
    ProjectionMixin,
    certify,
    identity_embedding,
    resolve_components,
    top_directions,
    training_points,
    validate_fit_input,
    warn_if_not_reducing,
)
from derand.jl.methods import MAX_DRAWS
from derand.jl.pairs import Denominators, PairData, ratio_ranges
from derand.limits import check_count, require_memory
from derand.threads import available_cpus

Array = NDArray[np.float64]

_DRAW_BATCH = 16


class _CertifiedProjection(ProjectionMixin, BaseEstimator):  # type: ignore[misc]
    """Shared plumbing: validation, rescaling, the certificate and ``transform``."""

    n_components: int | str
    eps: float
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
        Xa = validate_fit_input(self, X, self.objective)
        n, d = Xa.shape
        k = resolve_components(self.n_components, getattr(self, "eps", 0.1), n, d)
        self.n_components_ = k
        Xu = training_points(Xa, self.objective)
        if warn_if_not_reducing(k, d) and isinstance(self, PCAJL):
            P = identity_embedding(k, d)
        else:
            P = self._propose(Xu, k, callback)
        options = self._certify_options()
        if self.rescale:
            raw = certify(Xu, P, self.objective, quantiles=(), n_worst=0, **options)
            if raw.max_signed > -1.0:
                scale, _ = best_rescaling(raw.min_signed, raw.max_signed)
                P = scale * P
        self.components_ = np.asarray(P, dtype=np.float64)
        self._set_certificate(certify(Xu, self.components_, self.objective, **options))
        self.fit_seconds_ = time.perf_counter() - start
        return self


class GaussianJL(_CertifiedProjection):
    """One Gaussian random projection (entries N(0, 1/k)), scikit-learn's, certified exactly.

    The classic JL embedding: M = 0, sigma = 1 in the paper's sampler (§5.2).
    """

    def __init__(
        self,
        n_components: int | str = 20,
        *,
        eps: float = 0.1,
        objective: str = "pairs",
        rescale: bool = False,
        n_jobs: int | None = None,
        backend: str = "local",
        address: str | None = None,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_components = n_components
        self.eps = eps
        self.objective = objective
        self.rescale = rescale
        self.n_jobs = n_jobs
        self.backend = backend
        self.address = address
        self.random_state = random_state

    def _propose(self, X: Array, k: int, callback: Callable[[int, int], None] | None) -> Array:
        grp = GaussianRandomProjection(n_components=k, random_state=self.random_state)
        grp.fit(X)
        return np.asarray(grp.components_, dtype=np.float64)


class SparseJL(_CertifiedProjection):
    """One sparse random projection (scikit-learn's, density 1/sqrt(d)), certified exactly."""

    def __init__(
        self,
        n_components: int | str = 20,
        *,
        eps: float = 0.1,
        objective: str = "pairs",
        rescale: bool = False,
        n_jobs: int | None = None,
        backend: str = "local",
        address: str | None = None,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_components = n_components
        self.eps = eps
        self.objective = objective
        self.rescale = rescale
        self.n_jobs = n_jobs
        self.backend = backend
        self.address = address
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
        n_components: int | str = 20,
        *,
        eps: float = 0.1,
        n_draws: int = 100,
        objective: str = "pairs",
        rescale: bool = False,
        n_jobs: int | None = None,
        backend: str = "local",
        address: str | None = None,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_components = n_components
        self.eps = eps
        self.n_draws = n_draws
        self.objective = objective
        self.rescale = rescale
        self.n_jobs = n_jobs
        self.backend = backend
        self.address = address
        self.random_state = random_state

    def _propose(self, X: Array, k: int, callback: Callable[[int, int], None] | None) -> Array:
        n_draws = check_count(self.n_draws, "n_draws", low=1, high=MAX_DRAWS)
        rng = check_random_state(self.random_state)
        require_memory(8.0 * _DRAW_BATCH * (k * X.shape[1] + X.shape[0] * k), "the draws")
        dens = Denominators(PairData.from_points(X)) if self.objective == "pairs" else None
        best: Array | None = None
        best_value = np.inf
        raw_values: list[float] = []
        rescaled_values: list[float] = []
        done = 0
        while done < n_draws:
            batch = min(_DRAW_BATCH, n_draws - done)
            Ps = [rng.standard_normal((k, X.shape[1])) / np.sqrt(k) for _ in range(batch)]
            lo, hi = self._ranges(X, Ps, dens)
            raw = np.maximum(hi - 1.0, 1.0 - lo)
            rescaled = (hi - lo) / (hi + lo)
            for P, value in zip(Ps, rescaled if self.rescale else raw, strict=True):
                if value < best_value:
                    best, best_value = P, float(value)
            raw_values += raw.tolist()
            rescaled_values += rescaled.tolist()
            done += batch
            if callback is not None:
                callback(done, n_draws)
        assert best is not None
        self.draw_distortions_ = np.asarray(raw_values)
        self.draw_rescaled_distortions_ = np.asarray(rescaled_values)
        return best  # fit() rescales it when ``rescale``

    def _ranges(self, X: Array, Ps: list[Array], dens: Denominators | None) -> tuple[Array, Array]:
        """Exact ratio ranges (lo, hi) of each draw, in one pass over the pairs."""
        if dens is not None:
            workers = self._certify_options()["workers"] or available_cpus()
            ranges = ratio_ranges(dens, Ps, workers=workers)
            return ranges[:, 0], ranges[:, 1]
        norms = np.einsum("nd,nd->n", X, X)
        r = np.stack([np.einsum("nk,nk->n", X @ P.T, X @ P.T) / norms for P in Ps])
        return r.min(axis=1), r.max(axis=1)

    def _set_certificate(self, report: Any) -> None:
        super()._set_certificate(report)
        self.rescaled_max_distortion_ = float(np.min(self.draw_rescaled_distortions_))


class PCAJL(_CertifiedProjection):
    """Top-k principal directions of the centred data, with the best scalar rescaling."""

    def __init__(
        self,
        n_components: int | str = 20,
        *,
        eps: float = 0.1,
        objective: str = "pairs",
        rescale: bool = True,
        n_jobs: int | None = None,
        backend: str = "local",
        address: str | None = None,
    ) -> None:
        self.n_components = n_components
        self.eps = eps
        self.objective = objective
        self.rescale = rescale
        self.n_jobs = n_jobs
        self.backend = backend
        self.address = address

    def _propose(self, X: Array, k: int, callback: Callable[[int, int], None] | None) -> Array:
        work = X - X.mean(axis=0) if self.objective == "pairs" else X
        return top_directions(work, k)


class NuMaxJL(_CertifiedProjection):
    """NuMax for a fixed k (Hegde, Sankaranarayanan, Yin & Baraniuk, IEEE TSP 2015).

    ``min ||P||_* s.t. P >= 0, |u^T P u - 1| <= delta`` over all secants u, by ADMM with
    column generation; delta is bisected (``bisections`` solves, the first at PCA's rescaled
    max distortion) for the smallest whose solution has rank <= k, and the map is the top-k
    eigenvectors scaled by the square roots of the eigenvalues, then the best scalar
    rescaling. The best certified map met in the bisection is kept (see
    :mod:`derand.jl.numax`). Only the ``"pairs"`` objective.

    Parameters
    ----------
    n_components : int or "auto"
        Target dimension k.
    eps : float
        Distortion used by ``n_components="auto"``.
    bisections : int
        NuMax solves in the bisection over delta.
    max_dim : int
        Work in the top ``max_dim`` principal coordinates of the centred data (exact when the
        data's rank is at most this; every secant then lies in that subspace).
    admm_iter : int
        Most ADMM iterations per solve (warm-started across solves).
    n_jobs, backend, address
        Where the exact passes run (as for :class:`~derand.jl.DerandomizedJL`).

    Attributes
    ----------
    delta_ : float
        delta of the solve whose map was kept.
    search_ : dict
        Per bisection step: ``delta``, numerical ``rank`` and ``max_distortion`` (rescaled,
        over the training pairs in the working coordinates).
    """

    objective = "pairs"

    def __init__(
        self,
        n_components: int | str = 20,
        *,
        eps: float = 0.1,
        bisections: int = 6,
        max_dim: int = 128,
        admm_iter: int = 200,
        rescale: bool = True,
        n_jobs: int | None = None,
        backend: str = "local",
        address: str | None = None,
    ) -> None:
        self.n_components = n_components
        self.eps = eps
        self.bisections = bisections
        self.max_dim = max_dim
        self.admm_iter = admm_iter
        self.rescale = rescale
        self.n_jobs = n_jobs
        self.backend = backend
        self.address = address

    def _propose(self, X: Array, k: int, callback: Callable[[int, int], None] | None) -> Array:
        from derand.jl.numax import numax_fixed_k
        from derand.jl.pairs import ratio_ranges

        bisections = check_count(self.bisections, "bisections", low=1, high=1000)
        max_dim = check_count(self.max_dim, "max_dim", low=1, high=4096)
        admm_iter = check_count(self.admm_iter, "admm_iter", low=1, high=1_000_000)
        Xc = X - X.mean(axis=0)
        B = top_directions(Xc, min(max_dim, X.shape[1]))
        B = B[np.any(B != 0, axis=1)]
        if B.shape[0] <= k:  # the data span fits in k dimensions: embed it exactly
            out = np.zeros((k, X.shape[1]))
            out[: B.shape[0]] = B
            return out
        Z = Xc @ B.T
        workers = self._certify_options()["workers"] or available_cpus()
        lo, hi = ratio_ranges(Denominators(PairData.from_points(Z)), [np.eye(B.shape[0])[:k]])[0]
        delta_pca = float((hi - lo) / (hi + lo)) if hi > 0 else 1.0
        outcome = numax_fixed_k(
            Z, k, delta_high=min(1.0, delta_pca), bisections=bisections, workers=workers,
            admm_iter=admm_iter, callback=callback,
        )  # fmt: skip
        self.delta_ = outcome.delta
        self.search_ = outcome.history
        return np.asarray(outcome.Psi @ B, dtype=np.float64)
