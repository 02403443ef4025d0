"""``DerandomizedJL``: a derandomized Johnson–Lindenstrauss embedding (paper §5.2).

The paper's recipe: put a Gaussian distribution on projection matrices, A = M + sigma G, and
optimise (M, sigma) until sigma vanishes; the deterministic M that remains is the embedding.
Here ``P = M + sigma G / sqrt(k)`` (so that M = 0, sigma = 1 is scikit-learn's
``GaussianRandomProjection``), the objective is a smoothed log-ratio range over an active set
of the most extreme pairs (see :mod:`derand.jl.optimise`), and the final matrix gets the best
scalar rescaling. The fitted ``max_distortion_`` is computed exactly over all pairs of the
(de-duplicated) training points — a certificate for those points; nothing is guaranteed for
points not seen in ``fit``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from derand.device import resolve_device
from derand.errors import InputError
from derand.jl.distortion import (
    DistortionReport,
    best_rescaling,
    drop_duplicates,
    norm_distortion,
    pairwise_distortion,
)
from derand.jl.optimise import FitOutcome, optimise_projection

Array = NDArray[np.float64]

OBJECTIVES = ("pairs", "norms")

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def validate_fit_input(
    estimator: BaseEstimator, X: ArrayLike, n_components: int, objective: str
) -> Array:
    """Validate X for fitting (2-d, finite, >= 2 samples, k < d); raises ``InputError``."""
    try:
        arr = validate_data(estimator, X, dtype=np.float64, ensure_min_samples=2)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    d = arr.shape[1]
    if not isinstance(n_components, (int, np.integer)) or isinstance(n_components, bool):
        raise InputError(f"n_components must be an integer, got {n_components!r}")
    if n_components < 1:
        raise InputError(f"n_components must be >= 1, got {n_components}")
    if n_components >= d:
        raise InputError(
            f"n_components = {n_components} must be smaller than n_features = {d} "
            "(an embedding into k >= d dimensions needs no projection)"
        )
    if objective not in OBJECTIVES:
        raise InputError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    return np.asarray(arr, dtype=np.float64)


def training_points(X: Array, objective: str) -> Array:
    """The points the certificate runs over: de-duplicated (pairs) or non-zero (norms)."""
    if objective == "pairs":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Xu, _ = drop_duplicates(X, warn=False)
        dropped = X.shape[0] - Xu.shape[0]
        if Xu.shape[0] < 2:
            raise InputError("all points are equal: no pair has a direction")
        if dropped:
            warnings.warn(
                f"dropped {dropped} duplicate point(s): zero differences have no direction",
                UserWarning,
                stacklevel=3,
            )
        return Xu
    norms = np.linalg.norm(X, axis=1)
    if not np.any(norms > 0):
        raise InputError("all points are zero: the norms objective is undefined")
    if np.any(norms == 0):
        warnings.warn("dropped zero point(s): they have no direction", UserWarning, stacklevel=3)
    return np.asarray(X[norms > 0], dtype=np.float64)


def top_directions(X: Array, k: int) -> Array:
    """The top-``k`` right singular vectors of X as rows (k x d); zero rows beyond the rank.

    Computed from the eigendecomposition of the smaller Gram matrix (``X X^T`` or ``X^T X``),
    which is much cheaper than a full SVD when one side is small; accurate enough for PCA
    directions (the certificate is computed exactly afterwards in any case).
    """
    n, d = X.shape
    out = np.zeros((k, d))
    if n <= d:
        w, U = np.linalg.eigh(X @ X.T)
        order = np.argsort(w)[::-1][:k]
        w, U = w[order], U[:, order]
        keep = w > 1e-12 * max(float(w[0]), 1e-300)
        V = (X.T @ U[:, keep]) / np.sqrt(w[keep])
        out[: int(keep.sum())] = V.T
    else:
        w, V = np.linalg.eigh(X.T @ X)
        order = np.argsort(w)[::-1][:k]
        w, V = w[order], V[:, order]
        keep = w > 1e-12 * max(float(w[0]), 1e-300)
        out[: int(keep.sum())] = V[:, keep].T
    return out


def certify(X: Array, P: Array, objective: str, **kwargs: Any) -> DistortionReport:
    """Exact distortion of ``P`` over the (already de-duplicated) training points."""
    if objective == "pairs":
        return pairwise_distortion(X, P, dedupe=False, **kwargs)
    return norm_distortion(X, P)


class ProjectionMixin:
    """``transform(X) = X @ components_.T`` for every fitted linear embedding of derand.jl."""

    components_: Array

    def transform(self, X: ArrayLike) -> Array:
        """Project: ``X @ components_.T``."""
        check_is_fitted(self, "components_")
        try:
            arr = validate_data(self, X, dtype=np.float64, reset=False)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        return np.asarray(arr @ self.components_.T, dtype=np.float64)


class DerandomizedJL(ProjectionMixin, TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Derandomized Johnson–Lindenstrauss embedding with an exact distortion certificate.

    Implements the paper's §5.2 (JL): optimise a Gaussian distribution over projections,
    ``P = M + sigma G / sqrt(k)``, until sigma is ~0, keep the deterministic ``M``, rescale it
    by the best scalar. ``transform(X) = X @ components_.T``.

    Guarantee: ``max_distortion_`` is ``max_{i<j} | ||P u_ij||^2 - 1 |`` over *all* pairs of
    distinct training points, computed exactly (float64, chunked), with
    ``u_ij = (x_i - x_j) / ||x_i - x_j||``. Nothing is guaranteed for unseen points.

    Parameters
    ----------
    n_components : int
        Target dimension k (1 <= k < n_features).
    objective : {"pairs", "norms"}
        ``"pairs"``: the JL distortion of all pairwise differences (default). ``"norms"``: the
        authors' variant, the distortion of the points' own norms.
    n_iter : int
        Optimisation steps (Adam).
    n_samples : int
        Gaussian samples G per step.
    lr : float
        Adam learning rate (cosine-decayed to a tenth).
    sigma0, sigma_final : float
        Initial noise level and the level a geometric cap brings sigma to by the last step
        (sigma = min(trained value, cap); in practice the cap binds).
    tau0, tau_final : float
        Temperature of the smooth max, annealed geometrically.
    init : {"pca", "gaussian"}
        Initial M: the top principal directions, or one Gaussian draw (``G / sqrt(k)``).
    active_size : int
        Extreme pairs (half largest, half smallest ratios) taken at each exact re-scan; the
        active set keeps at most twice this many.
    rescan_every : int
        Steps between exact re-scans over all pairs.
    dtype : {"float32", "float64"}
        Working precision of the optimisation (the certificate is always float64).
    random_state : int, RandomState or None
        Seed of the Gaussian samples and of ``init="gaussian"``.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The deterministic projection (rescaled M).
    max_distortion_ : float
        Certified max distortion over the training pairs (or norms).
    mean_distortion_ : float
        Mean ``|D|`` over the same terms.
    distortion_ : DistortionReport
        The full certificate report.
    history_ : dict of lists
        Per step: ``iteration``, ``objective``, ``max_distortion`` (active set, lower bound),
        ``sigma``, ``active_size``; and ``certified_iteration`` / ``certified_max_distortion``
        at the exact re-scans.
    sigma_ : float
        sigma at the last step.
    interrupted_ : bool
        True if Ctrl-C stopped the optimisation (the best M so far was kept and certified).
    fit_seconds_ : float
        Wall time of ``fit``.
    n_features_in_ : int
        Number of input features.

    References
    ----------
    Tsikouras et al., "A Derandomization Framework for Structure Discovery", ICLR 2026, §5.2.
    """

    def __init__(
        self,
        n_components: int = 20,
        *,
        objective: str = "pairs",
        n_iter: int = 1500,
        n_samples: int = 4,
        lr: float = 0.01,
        sigma0: float = 0.3,
        sigma_final: float = 1e-6,
        tau0: float = 0.05,
        tau_final: float = 0.002,
        init: str = "pca",
        active_size: int = 8000,
        rescan_every: int = 25,
        dtype: str = "float32",
        random_state: int | np.random.RandomState | None = None,
        device: str = "cpu",
    ) -> None:
        self.n_components = n_components
        self.objective = objective
        self.n_iter = n_iter
        self.n_samples = n_samples
        self.lr = lr
        self.sigma0 = sigma0
        self.sigma_final = sigma_final
        self.tau0 = tau0
        self.tau_final = tau_final
        self.init = init
        self.active_size = active_size
        self.rescan_every = rescan_every
        self.dtype = dtype
        self.random_state = random_state
        self.device = device

    def _check_params(self) -> None:
        for name in ("n_iter", "n_samples", "active_size", "rescan_every"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("lr", "sigma0", "sigma_final", "tau0", "tau_final"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a finite number > 0, got {value!r}")
        if self.init not in ("pca", "gaussian"):
            raise InputError(f"init must be 'pca' or 'gaussian', got {self.init!r}")
        if self.dtype not in _DTYPES:
            raise InputError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    def fit(
        self,
        X: ArrayLike,
        y: object = None,
        *,
        callback: Callable[[int, int], None] | None = None,
    ) -> DerandomizedJL:
        """Optimise (M, sigma) on X and certify the result over all training pairs.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training points (finite; duplicates are dropped with a warning).
        y : ignored
        callback : callable, optional
            ``callback(done, total)`` after each optimisation step.

        Returns
        -------
        self
        """
        start = time.perf_counter()
        self._check_params()
        Xa = validate_fit_input(self, X, self.n_components, self.objective)
        Xu = training_points(Xa, self.objective)
        device = resolve_device(self.device)
        dtype = _DTYPES[self.dtype]
        k = int(self.n_components)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(0, 2**31 - 1))
        generator = torch.Generator(device=device).manual_seed(seed)
        if self.objective == "pairs":
            work = Xu - Xu.mean(axis=0)
        else:
            work = Xu / np.linalg.norm(Xu, axis=1, keepdims=True)
        M0 = self._initial(work, k, rng)
        outcome: FitOutcome = optimise_projection(
            torch.as_tensor(work, dtype=dtype, device=device),
            torch.as_tensor(M0, dtype=dtype, device=device),
            objective=self.objective,
            n_iter=int(self.n_iter),
            n_samples=int(self.n_samples),
            lr=float(self.lr),
            sigma0=float(self.sigma0),
            sigma_final=float(self.sigma_final),
            tau0=float(self.tau0),
            tau_final=float(self.tau_final),
            active_size=int(self.active_size),
            rescan_every=int(self.rescan_every),
            generator=generator,
            callback=callback,
        )
        M = outcome.M
        raw = certify(Xu, M, self.objective, quantiles=(), n_worst=0, device=device)
        scale, _ = best_rescaling(raw.min_signed, raw.max_signed)
        self.components_ = np.asarray(scale * M, dtype=np.float64)
        self.distortion_ = certify(Xu, self.components_, self.objective, device=device)
        self.max_distortion_ = self.distortion_.max_distortion
        self.mean_distortion_ = self.distortion_.mean_distortion
        self.history_ = outcome.history.as_dict()
        self.sigma_ = self.history_["sigma"][-1] if self.history_["sigma"] else self.sigma0
        self.interrupted_ = outcome.interrupted
        self.n_iter_ = len(self.history_["iteration"])
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _initial(self, work: Array, k: int, rng: np.random.RandomState) -> Array:
        d = work.shape[1]
        if self.init == "gaussian":
            return np.asarray(rng.standard_normal((k, d)) / math.sqrt(k), dtype=np.float64)
        M0 = top_directions(work, k)
        empty = ~np.any(M0 != 0, axis=1)
        if empty.any():  # rank below k: fill with random directions
            M0[empty] = rng.standard_normal((int(empty.sum()), d)) / math.sqrt(d)
        return M0
