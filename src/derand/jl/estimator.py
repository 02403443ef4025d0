"""``DerandomizedJL``: a derandomized Johnson–Lindenstrauss embedding (paper §5.2).

The paper's recipe: put a Gaussian distribution on projection matrices, A = M + sigma G, and
optimise (M, sigma) until sigma vanishes; the deterministic M that remains is the embedding.
Here ``P = M + sigma G / sqrt(k)`` (so that M = 0, sigma = 1 is scikit-learn's
``GaussianRandomProjection``), the objective is the closed-form expectation over G of a smooth
maximum of the distortions over an active set of the most extreme pairs (see
:mod:`derand.jl.optimise`), and the final matrix gets the best scalar rescaling. The fitted
``max_distortion_`` is computed exactly over all pairs of the (de-duplicated) training points
— a certificate for those points; nothing is guaranteed for points not seen in ``fit``
(measure them with :meth:`DerandomizedJL.score` or :func:`derand.jl.holdout_distortion`).
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import DataDimensionalityWarning
from sklearn.random_projection import johnson_lindenstrauss_min_dim
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from derand.core import SOSPCertificate
from derand.errors import InputError
from derand.jl.distortion import (
    DistortionReport,
    best_rescaling,
    drop_duplicates,
    norm_distortion,
    pairwise_distortion,
)
from derand.jl.optimise import (
    SIGMA_MODES,
    FitSettings,
    NeighbourModel,
    Validation,
    optimise_projection,
)
from derand.jl.pairs import PairData, power_of_two_scale
from derand.limits import check_count, check_finite, require_memory
from derand.threads import available_cpus

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]

OBJECTIVES = ("pairs", "norms")

MAX_COMPONENTS = 1_000_000
"""Largest target dimension accepted (a k x d float64 matrix is allocated)."""

LARGE_PAIRS = 50_000_000
"""Above this many pairs an exact pass is costly (minutes at 10^9 pairs): with
``max_rounds="auto"`` the fit makes at most :data:`LARGE_ROUNDS` of them, and selects the
active pairs in float32 (the final certificate is float64 in any case)."""

LARGE_ROUNDS = 6

HUGE_PAIRS = 1_000_000_000
HUGE_ROUNDS = 4
"""Above this many pairs (tens of CPU-seconds a pass) ``max_rounds="auto"`` allows
:data:`HUGE_ROUNDS` rounds instead: the refinement's gain per pass after the subsample stage
is a fraction of a percent there, and each pass costs as much as the whole subsample stage."""

SUBSAMPLE_POINTS = 10_000
"""With ``subsample="auto"`` a problem beyond :data:`LARGE_PAIRS` pairs is first fitted in
full on this many random points (5·10^7 pairs, about a second a pass), and the fit on all
points starts from that map."""

REFINE_INNER_ITER = 20
"""Most L-BFGS iterations per round of the refinement on all points: short rounds, many
small steps. A round run to convergence on its active set (60 iterations) overfits those
pairs and the next pass finds others worse (n = 2·10^4 mixture: 0.9203 -> 0.934, 0.957, ...,
stopped at the subsample's map); 20 gave 0.920 -> 0.874 -> ... -> 0.804 in 6 passes."""

SEED_REFINEMENT = True
"""The refinement on all points starts from the subsample stage's last active pairs (mapped
to all points) besides the extremes of its first pass."""

SMALL_ACTIVE = 8000
SMALL_SCAN = 1000
SMALL_MIN_INNER = 10
SMALL_TOL = 0.01
LARGE_ACTIVE = 30000
LARGE_SCAN = 3000
"""What ``"auto"`` means for ``active_size``, ``scan_size``, ``min_inner_iter`` and ``tol``:
up to :data:`LARGE_PAIRS` pairs the first four (adaptive rounds of 10-60 iterations, active
sets of at most 8000 pairs, a stop once the certified max stalls: about 3x less CPU than the
fixed 60-iteration rounds over 30000 pairs, the same certified maxima within a few percent
on the suite, README *Fit cost*); beyond, the last two, no adaptive rounds and no ``tol``
(the subsample stage and the refinement of large problems are tuned for them)."""

LARGE_TOL = 0.005
"""``tol="auto"`` beyond :data:`HUGE_PAIRS` pairs, where an exact pass costs tens of
CPU-seconds: the fit ends after a pass that lowered the certified max by less than 0.5 %
(n = 10^5 mixture: its fourth and fifth passes had gained 0.08 % and 0.23 %)."""

FAST_FIT: dict[str, Any] = {
    "inner_iter": 10,
    "tau_final": 0.003,
    "scan_size": 500,
    "active_size": 4000,
    "patience": 3,
    "tol": 0.01,
    "min_inner_iter": None,
}
"""Settings for a fit about 2.5x cheaper than the default, ``DerandomizedJL(k, **FAST_FIT)``
(``derand jl --fast``): fixed rounds of 10 L-BFGS iterations, 500 extreme pairs each way
from a pass into an active set of at most 4000, and a stop once tau (final 0.003) is final
and the certified max gained less than 1 % in 3 rounds. Measured (README, JL *Fit cost*, the
12 rows of the suite with n <= 2000): 4.2-5.0x PCA's CPU time at n = 1797-2000 (the default
8-15x), in-sample max / PCA median 0.670 against the default's 0.654: 0-11 % above the
default's on 11 rows, 38 % on breast_cancer k = 20 (which needs long rounds); the
certificate is exact either way. Measured only up to n = 2000 (it also applies beyond)."""

LARGE_POOL = 200_000
POOL_ROUNDS = 8
"""What ``"auto"`` means for ``pool_size`` and ``pool_rounds``: beyond :data:`LARGE_PAIRS`
pairs every exact pass keeps its 200,000 most extreme pairs each way as a pool, and up to 8
cheap rounds draw their active pairs from it before the next exact pass; none up to it
(README, JL *a candidate pool*: n = 2·10^4 mixtures 0.81-0.84x PCA instead of 0.84-0.86x;
10^6 pairs each way made a pass at n = 10^5 several times slower)."""

STAGE_TAU0 = 0.005
STAGE_SIGMA0 = 1e-3
"""Temperature (relative) and sigma the fit on all points starts from after the subsample
stage: it refines that map instead of softening it again (tau0 = 0.1 and sigma0 = 0.3 made
the first round on all points worse than the subsample's map)."""


def _dense(X: Any) -> Any:
    """Sparse input as a dense array, after checking that it fits in memory."""
    if sp.issparse(X):
        n, d = X.shape
        require_memory(8.0 * n * d, f"a dense copy of the sparse input ({n} x {d})")
        return X.toarray()
    return X


def validate_fit_input(estimator: BaseEstimator, X: ArrayLike, objective: str) -> Array:
    """Validate X for fitting (2-d, finite, >= 2 samples; sparse is densified).

    Returns
    -------
    ndarray
        X as float64. Errors are :class:`~derand.errors.InputError`.
    """
    if objective not in OBJECTIVES:
        raise InputError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    try:
        arr = validate_data(
            estimator, X, accept_sparse=["csr", "csc", "coo"], dtype=np.float64,
            ensure_min_samples=2,
        )  # fmt: skip
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return np.asarray(_dense(arr), dtype=np.float64)


def resolve_components(n_components: int | str, eps: float, n_samples: int, n_features: int) -> int:
    """The target dimension: an integer, or ``"auto"`` via ``johnson_lindenstrauss_min_dim``.

    Returns
    -------
    int
        k >= 1. With ``"auto"``, k is the Johnson–Lindenstrauss bound for ``n_samples``
        points at distortion ``eps`` and must not exceed ``n_features``.
    """
    if isinstance(n_components, str):
        if n_components != "auto":
            raise InputError(f"n_components must be an integer or 'auto', got {n_components!r}")
        e = check_finite(eps, "eps", low=0.0, high=1.0)
        if not 0 < e < 1:
            raise InputError(f"eps must be in (0, 1), got {e}")
        k = int(johnson_lindenstrauss_min_dim(n_samples=n_samples, eps=e))
        if k > n_features:
            raise InputError(
                f"eps = {e} and n_samples = {n_samples} give a target dimension of {k}, "
                f"larger than n_features = {n_features}; choose n_components or a larger eps"
            )
        return k
    return check_count(n_components, "n_components", low=1, high=MAX_COMPONENTS)


def identity_embedding(k: int, d: int) -> Array:
    """The exact embedding for k >= d: the identity on the first d coordinates.

    Returns
    -------
    ndarray of shape (k, d)
        Rows d..k-1 are zero; every distortion is 0.

    Examples
    --------
    >>> identity_embedding(3, 2)
    array([[1., 0.],
           [0., 1.],
           [0., 0.]])
    """
    out = np.zeros((k, d))
    out[:d, :d] = np.eye(d)
    return out


def warn_if_not_reducing(k: int, d: int) -> bool:
    """Warn (as scikit-learn's random projections do) when k >= d; True in that case."""
    if k < d:
        return False
    warnings.warn(
        f"n_components = {k} >= n_features = {d}: the dimensionality is not reduced; "
        "the identity embeds the data exactly (distortion 0)",
        DataDimensionalityWarning,
        stacklevel=3,
    )
    return True


def training_points(X: Array, objective: str) -> Array:
    """The points the certificate runs over: de-duplicated (pairs) or non-zero (norms)."""
    if objective == "pairs":
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
    nonzero = np.any(X != 0, axis=1)
    if not np.any(nonzero):
        raise InputError("all points are zero: the norms objective is undefined")
    if not np.all(nonzero):
        warnings.warn("dropped zero point(s): they have no direction", UserWarning, stacklevel=3)
    return np.asarray(X[nonzero], dtype=np.float64)


def top_directions(X: Array, k: int) -> Array:
    """The top-``k`` right singular vectors of X as rows (k x d); zero rows beyond the rank.

    Computed from the eigendecomposition of the smaller Gram matrix (``X X^T`` or ``X^T X``),
    which is much cheaper than a full SVD when one side is small; accurate enough for PCA
    directions (the certificate is computed exactly afterwards in any case).

    Returns
    -------
    ndarray of shape (k, d)
        Orthonormal rows (as many as the rank), then zero rows.

    Examples
    --------
    >>> top_directions(np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 1.0]]), 1)
    array([[1., 0.]])
    """
    n, d = X.shape
    out = np.zeros((k, d))
    Xs = np.asarray(X, dtype=np.float64) * power_of_two_scale(X)
    if n <= d:
        w, U = np.linalg.eigh(Xs @ Xs.T)
        order = np.argsort(w)[::-1][:k]
        w, U = w[order], U[:, order]
        keep = w > 1e-12 * max(float(w[0]), 1e-300)
        V = (Xs.T @ U[:, keep]) / np.sqrt(w[keep])
        out[: int(keep.sum())] = V.T
    else:
        w, V = np.linalg.eigh(Xs.T @ Xs)
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


class ProjectionMixin(ClassNamePrefixFeaturesOutMixin, TransformerMixin):  # type: ignore[misc]
    """``transform(X) = X @ components_.T`` for every fitted linear embedding of derand.jl.

    Also gives ``get_feature_names_out`` and ``set_output`` (scikit-learn), the best scalar
    rescaling of the certified range (``rescaled_max_distortion_``) and :meth:`score`.
    """

    components_: Array
    distortion_: DistortionReport
    objective: str
    n_jobs: int | None
    backend: str
    address: str | None

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _certify_options(self) -> dict[str, Any]:
        """Where the exact passes run: ``workers``, ``backend``, ``address``."""
        workers = None if self.n_jobs is None else check_count(self.n_jobs, "n_jobs", high=4096)
        return {"workers": workers, "backend": self.backend, "address": self.address}

    @property
    def _n_features_out(self) -> int:
        return int(self.components_.shape[0])

    def transform(self, X: ArrayLike) -> Array:
        """Project: ``X @ components_.T``.

        Parameters
        ----------
        X : array_like or sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self, "components_")
        try:
            arr = validate_data(self, X, accept_sparse=["csr", "csc", "coo"], reset=False)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        return np.asarray(arr @ self.components_.T, dtype=np.float64)

    def _set_certificate(self, report: DistortionReport) -> None:
        self.distortion_ = report
        self.max_distortion_ = report.max_distortion
        self.mean_distortion_ = report.mean_distortion
        self.rescaled_max_distortion_ = rescaled_distortion(report)
        top = float(np.linalg.norm(self.components_, 2)) if self.components_.size else 0.0
        self.stretch_bound_ = top * top - 1.0

    def score(self, X: ArrayLike, y: object = None) -> float:
        """Minus the exact max distortion over all pairs of X (higher is better).

        Use held-out points to measure generalisation; the pairs of X are certified as in
        ``fit`` (duplicates dropped).

        Returns
        -------
        float
            ``-max |D_ij|`` over the pairs (or norms) of X.
        """
        check_is_fitted(self, "components_")
        try:
            arr = validate_data(
                self, X, accept_sparse=["csr", "csc", "coo"], dtype=np.float64, reset=False
            )
        except ValueError as exc:
            raise InputError(str(exc)) from None
        dense = np.asarray(_dense(arr), dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            points = training_points(dense, self.objective)
        report = certify(points, self.components_, self.objective, quantiles=(), n_worst=0)
        return -report.max_distortion


def range_report(
    X: Array, P: Array, objective: str, ratio_range: tuple[float, float] | None
) -> DistortionReport:
    """A report from an exact ratio range of the (unscaled) map alone, for an interrupted
    certificate: the max and the signed range are exact (``ratio_range`` was computed over
    every term of X, for the map before its rescaling to ``P``); the mean and the quantiles
    are unknown (NaN, empty). Without a range, every number is NaN."""
    n = int(X.shape[0])
    terms = n * (n - 1) // 2 if objective == "pairs" else n
    lo_d = hi_d = math.nan
    if ratio_range is not None:
        scale2 = 2.0 / (ratio_range[0] + ratio_range[1])
        lo_d, hi_d = scale2 * ratio_range[0] - 1.0, scale2 * ratio_range[1] - 1.0
    return DistortionReport(
        objective=objective, n=n, d=int(X.shape[1]), k=int(P.shape[0]), pairs=terms,
        max_distortion=max(abs(lo_d), abs(hi_d)), mean_distortion=math.nan,
        mean_signed=math.nan, min_signed=lo_d, max_signed=hi_d, quantiles={},
        quantiles_exact=False, worst=[], duplicates_dropped=0, seconds=0.0,
    )  # fmt: skip


def rescaled_distortion(report: DistortionReport) -> float:
    """Max distortion of a report's projection after the best scalar rescaling."""
    if not math.isfinite(report.max_signed):
        return math.nan
    if report.max_signed <= -1.0:
        return 1.0
    return best_rescaling(report.min_signed, report.max_signed)[1]


class DerandomizedJL(ProjectionMixin, BaseEstimator):  # type: ignore[misc]
    """Derandomized Johnson–Lindenstrauss embedding with an exact distortion certificate.

    Implements the paper's §5.2 (JL): optimise a Gaussian distribution over projections,
    ``P = M + sigma G / sqrt(k)``, until sigma is ~0, keep the deterministic ``M``, rescale it
    by the best scalar. ``transform(X) = X @ components_.T``.

    Guarantee: ``max_distortion_`` is ``max_{i<j} | ||P u_ij||^2 - 1 |`` over *all* pairs of
    distinct training points, computed exactly (float64, streamed), with
    ``u_ij = (x_i - x_j) / ||x_i - x_j||``. Nothing is guaranteed for unseen points.

    Parameters
    ----------
    n_components : int or "auto"
        Target dimension k. ``"auto"``: the Johnson–Lindenstrauss bound
        ``johnson_lindenstrauss_min_dim(n_samples, eps)``. With k >= n_features a warning is
        given and the identity (padded with zero rows) embeds the data exactly.
    eps : float
        Distortion used by ``n_components="auto"``.
    objective : {"pairs", "norms"}
        ``"pairs"``: the JL distortion of all pairwise differences (default). ``"norms"``: the
        authors' variant, the distortion of the points' own norms.
    sigma : {"objective", "schedule", "none"}
        How sigma reaches 0. ``"objective"`` (default): trained jointly with M on the exact
        expectation plus ``sigma_penalty * sigma^2``; it falls by itself (the paper's
        mechanism). ``"schedule"``: fixed per round on a geometric path from ``sigma0`` to
        ``sigma_final``. ``"none"``: sigma = 0 throughout (the deterministic problem).
    n_iter : int
        Budget of L-BFGS iterations over all rounds.
    inner_iter : int
        Most L-BFGS iterations per round (between exact passes over all pairs); a round ends
        earlier once an iteration lowers the objective by less than 10^-6 of the certified
        max distortion.
    min_inner_iter : int, "auto" or None
        Adaptive rounds: the first round runs this many iterations, and the budget doubles
        (up to ``inner_iter``) after a round whose exact pass certified a better max and
        halves (down to this) after one that did not -- a trust region on the length of a
        round, which overfits its active set when run too long on some data (digits) and
        is needed long on others (breast_cancer k = 20). None: every round has
        ``inner_iter``. ``"auto"``: 10 up to 5·10^7 pairs, None beyond.
    patience : int
        Stop after this many rounds without a better certified max (once tau is final).
    tau0, tau_final, tau_decay : float
        Temperature of the smooth max relative to the current max distortion: starts at
        ``tau0``, multiplied by ``tau_decay`` each round down to ``tau_final``. A larger
        ``tau_final`` optimises a softer maximum (see the README's generalisation table).
    sigma0, sigma_final : float
        Initial sigma, and the end of the ``"schedule"`` path.
    sigma_penalty : float
        lambda in ``+ lambda sigma^2`` (``"objective"`` mode).
    init : {"pca", "gaussian"}
        Initial M: the top principal directions, or one Gaussian draw (``G / sqrt(k)``).
    active_size : int or "auto"
        Most terms kept in the active set. ``"auto"``: 8000 up to 5·10^7 pairs, 30000 beyond
        (:data:`SMALL_ACTIVE`).
    scan_size : int or "auto"
        Most extreme terms (each way) taken from every exact pass (at most
        ``active_size // 2``, so that the active set never exceeds ``active_size``).
        ``"auto"``: 1000 up to 5·10^7 pairs, 3000 beyond.
    cap_gain : bool
        Also put the largest gain of M over *all* directions, ``||M||_op^2``, into the
        maximum. Then ``stretch_bound_`` (which bounds ``D`` for every pair, seen or not)
        stays close to the certified maximum: unseen pairs cannot be stretched much more than
        the training pairs (they can still be shrunk more).
    stretch_slack : float
        With ``cap_gain``, the gain term enters the maximum as ``(||M||_op^2 - 1) /
        stretch_slack``: the stretch bound is held near ``stretch_slack`` times the certified
        maximum instead of at it (>= 1; 1 is the plain cap). On digits k = 20 a slack of 3
        keeps the default's held-out maxima with a 4.6x smaller stretch bound (README).
    neighbour_z : float or None
        Model the directions of *new* near pairs (where a fitted map distorts new points
        most) as ``u ~ N(0, C)``, ``C`` the second moment of the unit directions from every
        training point to its nearest neighbour (trace 1; of 5000 random points beyond),
        and put their predicted extremes ``mu +- z sd`` (``mu = tr(Q C)``, ``sd^2 =
        2 tr(((Q - mu I) C)^2)``, ``Q = M^T M``: the exact mean and variance of the
        numerator of the ratio, to first order) into the maximum as one upper and one lower
        term. It penalises what a fit to individual training pairs inflates -- the
        anisotropy of ``Q`` on the local noise -- and cannot itself be fitted pair by pair.
        With ``objective="norms"`` the new terms are the new points' own directions and
        ``C`` is the mean of ``x x^T / ||x||^2`` over the training points.
        None (default): off. 2-3 in the held-out suite of the README, where it helps most
        on the Gaussian mixture (cross max 1.27 -> 0.75; PCA 0.92); it guarantees nothing
        for unseen points.
    early_stopping : bool
        Hold out ``validation_fraction`` of the distinct points (scikit-learn's convention),
        measure after every exact pass the exact max distortion over every pair the
        validation points add (train x validation and validation x validation), return the
        M of the best such round and stop after ``n_iter_no_change`` rounds without a
        better one. The final rescaling balances the range over *all* pairs of the points
        passed to ``fit``, and the certificate covers them all.
    validation_fraction : float
        Share of the distinct points held out (in (0, 1); rounded up; split by
        ``random_state``).
    n_iter_no_change : int
        Rounds (exact passes) without a better validation max before stopping.
    subsample : int, "auto" or None
        Fit first on this many random training points (all their pairs, the full schedule),
        then on all points from that map. ``"auto"``: 10^4 points beyond 5·10^7 pairs (the
        few exact passes over all pairs then start from a map that already beats PCA).
        ``None``: one stage. Only for ``objective="pairs"``.
    tol : float, "auto" or None
        Also stop once tau is final and the best certified max improved by less than this
        fraction over the last ``patience`` rounds (None: only the ``patience`` rule, which
        asks for ``patience`` rounds that each gain less than 0.1 %); with ``max_rounds``,
        once one exact pass gains less than this fraction. ``"auto"``: 0.01 up to 5·10^7
        pairs, None up to 10^9, 0.005 beyond (where a pass costs tens of CPU-seconds). See
        also :data:`FAST_FIT`.
    pool_size : int, "auto" or None
        Keep the ``pool_size`` most extreme pairs each way of every exact pass (with the
        active set) as a candidate pool; between two exact passes, up to ``pool_rounds``
        cheap rounds each evaluate the pool exactly at the new M and take their active
        pairs from its extremes, so that one expensive pass over all pairs serves several
        rounds (the pool's max is a lower bound; only exact passes certify, and the M
        returned is the best certified one). ``"auto"``: 200,000 beyond 5·10^7 pairs,
        None (off) up to it. Only for ``objective="pairs"``.
    pool_rounds : int or "auto"
        Most rounds per exact pass with a pool (fewer once a round lowers the pool's max by
        less than 0.1 %). ``"auto"``: 8.
    max_rounds : int, "auto" or None
        Most rounds (each ends with an exact pass over all pairs). ``"auto"``: no limit up to
        5·10^7 pairs; above, 6 rounds (tau then falls faster) with the passes that select the
        active pairs in float32. ``None``: no limit. With a limit the fit also stops after two
        rounds without a better certified max, and (with ``tol``) once an exact pass gains
        less than ``tol``.
    n_jobs : int or None
        Threads for the exact passes (default: the CPUs of this process). The result does not
        depend on it.
    backend : {"local", "ray"}
        Where the final certificate's tiles run: threads here, or Ray tasks (identical result).
    address : str or None
        An existing Ray cluster for ``backend="ray"`` (default: a local instance).
    random_state : int, RandomState or None
        Seed of ``init="gaussian"``, of the validation split and of the subsample (None: seed
        0, so that every fit is reproducible; the rest of the fit is deterministic).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The deterministic projection (rescaled M).
    n_components_ : int
        The target dimension used.
    max_distortion_ : float
        Certified max distortion over the training pairs (or norms).
    mean_distortion_ : float
        Mean ``|D|`` over the same terms.
    rescaled_max_distortion_ : float
        Equal to ``max_distortion_`` (the fit already applies the best rescaling).
    stretch_bound_ : float
        ``||components_||_op^2 - 1``: no pair of any points, training or new, has
        ``D_ij`` above it (a bound on stretching only).
    distortion_ : DistortionReport
        The full certificate report.
    fit_settings_ : dict
        The optimiser settings the fit used, with every ``"auto"`` resolved (for the
        refinement of a subsampled problem, the refinement's settings).
    history_ : dict
        Per L-BFGS iteration: ``iteration``, ``objective``, ``max_distortion`` (active set, a
        lower bound), ``sigma``, ``active_size``; per round: ``certified_iteration``,
        ``certified_max_distortion``, ``certified_sigma``, ``tau`` and, with early stopping,
        ``validation_max_distortion`` (exact over all pairs of training and validation points,
        after the best rescaling of that range: what the certificate of the map would be);
        ``pool_max_distortion``, per round with a pool, the max over the pool (a lower
        bound of that M's certified max);
        ``best_round`` (the round returned), ``sigma_mode`` and why the fit ``stopped``.
    sigma_ : float
        sigma at the last iteration.
    interrupted_ : bool
        True if Ctrl-C stopped the fit; the best M so far is kept. Interrupted during the
        final certificate, the max (and signed range) still come exactly from the fit's
        last exact passes over every pair, but the mean and quantiles are NaN / empty.
    certificate_complete_ : bool
        False when the final certificate was interrupted (see ``interrupted_``).
    n_validation_ : int
        Points held out for early stopping (0 without it).
    fit_seconds_, optimise_seconds_, certify_seconds_ : float
        Wall time of ``fit`` and of its two parts.
    n_iter_ : int
        L-BFGS iterations run.
    n_features_in_ : int
        Number of input features.

    Notes
    -----
    Out of sample (README, held-out suite: 9 rows of shipped and synthetic data, at most 420
    training points, three 70/30 splits; median ratio of the exact max distortion to PCA's):

    ==================================  ===========  ===========  ===========
    variant                             train        held-out     cross
    ==================================  ===========  ===========  ===========
    default                             0.41-0.43    0.93-1.01    0.96-1.00
    ``early_stopping, cap_gain x3``     0.83-0.91    0.93-0.98    0.96-0.99
    ``early_stopping, neighbour_z=2``   0.80-0.85    0.90-0.97    0.97-1.00
    NuMax-k (:class:`NuMaxJL`)          0.97-1.00    0.96-1.01    1.00-1.03
    ==================================  ===========  ===========  ===========

    The sharp in-sample optimum equalises its extreme training pairs with d*k parameters
    fitted to n points; new near pairs (fresh local noise directions) are then distorted
    nearly as much as by PCA. The rows above are those of the previous default (fixed
    60-iteration rounds over 30000 pairs); the default now (adaptive rounds, 8000 pairs,
    ``tol``) gives 0.413 / 0.930 / 0.993 on splits 0-1 (previous: 0.413 / 0.942 / 0.962) in
    half the CPU time. Fit CPU at n = 1797-2000 (README *Fit cost*): 8-15x PCA's (previously
    24-34x), 4.2-5.0x with :data:`FAST_FIT`.

    References
    ----------
    Tsikouras et al., "A Derandomization Framework for Structure Discovery", ICLR 2026, §5.2.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X = load_digits().data[:200]
    >>> est = DerandomizedJL(n_components=10).fit(X)
    >>> est.transform(X).shape
    (200, 10)
    >>> bool(est.max_distortion_ < 1.0)
    True
    """

    def __init__(
        self,
        n_components: int | str = 20,
        *,
        eps: float = 0.1,
        objective: str = "pairs",
        sigma: str = "objective",
        n_iter: int = 3000,
        inner_iter: int = 60,
        patience: int = 6,
        tau0: float = 0.1,
        tau_final: float = 0.001,
        tau_decay: float = 0.8,
        sigma0: float = 0.3,
        sigma_final: float = 1e-6,
        sigma_penalty: float = 0.01,
        init: str = "pca",
        active_size: int | str = "auto",
        scan_size: int | str = "auto",
        cap_gain: bool = False,
        stretch_slack: float = 1.0,
        neighbour_z: float | None = None,
        subsample: int | str | None = "auto",
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 3,
        max_rounds: int | str | None = "auto",
        tol: float | str | None = "auto",
        min_inner_iter: int | str | None = "auto",
        pool_size: int | str | None = "auto",
        pool_rounds: int | str = "auto",
        n_jobs: int | None = None,
        backend: str = "local",
        address: str | None = None,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_components = n_components
        self.eps = eps
        self.objective = objective
        self.sigma = sigma
        self.n_iter = n_iter
        self.inner_iter = inner_iter
        self.patience = patience
        self.tau0 = tau0
        self.tau_final = tau_final
        self.tau_decay = tau_decay
        self.sigma0 = sigma0
        self.sigma_final = sigma_final
        self.sigma_penalty = sigma_penalty
        self.init = init
        self.active_size = active_size
        self.scan_size = scan_size
        self.cap_gain = cap_gain
        self.stretch_slack = stretch_slack
        self.neighbour_z = neighbour_z
        self.subsample = subsample
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.max_rounds = max_rounds
        self.tol = tol
        self.min_inner_iter = min_inner_iter
        self.pool_size = pool_size
        self.pool_rounds = pool_rounds
        self.n_jobs = n_jobs
        self.backend = backend
        self.address = address
        self.random_state = random_state

    def _settings(self, n_terms: int = 0, auto_terms: int | None = None) -> FitSettings:
        """Validated optimiser settings for a fit over ``n_terms`` terms; the ``"auto"``
        values follow ``auto_terms`` (default ``n_terms``: the subsample stage of a large
        problem takes the large problem's)."""
        if self.sigma not in SIGMA_MODES:
            raise InputError(f"sigma must be one of {', '.join(SIGMA_MODES)}, got {self.sigma!r}")
        if self.init not in ("pca", "gaussian"):
            raise InputError(f"init must be 'pca' or 'gaussian', got {self.init!r}")
        tau0 = check_finite(self.tau0, "tau0", low=1e-12, high=10.0)
        tau_final = check_finite(self.tau_final, "tau_final", low=1e-12, high=10.0)
        if tau_final > tau0:
            raise InputError(f"tau_final = {tau_final} must not exceed tau0 = {tau0}")
        decay = check_finite(self.tau_decay, "tau_decay", low=1e-3, high=0.999)
        large = n_terms > LARGE_PAIRS
        small = (n_terms if auto_terms is None else auto_terms) <= LARGE_PAIRS
        active_size = self._auto("active_size", SMALL_ACTIVE if small else LARGE_ACTIVE)
        scan_size = self._auto("scan_size", SMALL_SCAN if small else LARGE_SCAN)
        tol = self._auto(
            "tol", SMALL_TOL if small else (LARGE_TOL if n_terms > HUGE_PAIRS else None)
        )
        min_inner = self._auto("min_inner_iter", SMALL_MIN_INNER if small else None)
        pool_size = self._auto("pool_size", LARGE_POOL if large else None)
        pool_rounds = self._auto("pool_rounds", POOL_ROUNDS)
        if self.max_rounds == "auto":
            rounds: int | None = None
            if large:
                rounds = HUGE_ROUNDS if n_terms > HUGE_PAIRS else LARGE_ROUNDS
        elif self.max_rounds is None:
            rounds = None
        else:
            rounds = check_count(self.max_rounds, "max_rounds", low=1, high=100_000)
        if not isinstance(self.early_stopping, (bool, np.bool_)):
            raise InputError(f"early_stopping must be True or False, got {self.early_stopping!r}")
        frac = check_finite(self.validation_fraction, "validation_fraction", low=0.0, high=1.0)
        if not 0.0 < frac < 1.0:
            raise InputError(f"validation_fraction must be in (0, 1), got {frac}")
        sigma0 = check_finite(self.sigma0, "sigma0", low=0.0, high=1e3)
        if self.neighbour_z is not None:
            check_finite(self.neighbour_z, "neighbour_z", low=0.0, high=100.0)
        sigma_final = check_finite(self.sigma_final, "sigma_final", low=1e-300, high=1e3)
        if sigma0 <= 0 and self.sigma != "none":
            raise InputError("sigma0 must be > 0 unless sigma='none'")
        return FitSettings(
            n_iter=check_count(self.n_iter, "n_iter", low=1, high=10_000_000),
            inner_iter=check_count(self.inner_iter, "inner_iter", low=1, high=100_000),
            patience=check_count(self.patience, "patience", low=1, high=100_000),
            tau0=tau0,
            tau_final=tau_final,
            tau_decay=decay,
            sigma=self.sigma,
            sigma0=sigma0,
            sigma_final=sigma_final,
            sigma_penalty=check_finite(self.sigma_penalty, "sigma_penalty", low=0.0, high=1e6),
            active_size=check_count(active_size, "active_size", low=2, high=50_000_000),
            scan_size=check_count(scan_size, "scan_size", low=1, high=50_000_000),
            max_rounds=rounds,
            scan_dtype="float32" if large else "float64",
            cap_gain=bool(self.cap_gain),
            stretch_slack=check_finite(self.stretch_slack, "stretch_slack", low=1.0, high=1e6),
            n_iter_no_change=check_count(
                self.n_iter_no_change, "n_iter_no_change", low=1, high=100_000
            ),
            tol=None if tol is None else check_finite(tol, "tol", low=0.0, high=1.0),
            min_inner_iter=None
            if min_inner is None
            else check_count(min_inner, "min_inner_iter", low=1, high=100_000),
            pool_size=None
            if pool_size is None
            else check_count(pool_size, "pool_size", low=1, high=50_000_000),
            pool_rounds=check_count(pool_rounds, "pool_rounds", low=1, high=100_000),
        )

    def _auto(self, name: str, value: Any) -> Any:
        """The parameter ``name``, with ``"auto"`` replaced by ``value``."""
        given = getattr(self, name)
        if isinstance(given, str):
            if given != "auto":
                raise InputError(f"{name} must be a number, 'auto' or None, got {given!r}")
            return value
        return given

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
        X : array_like or sparse matrix of shape (n_samples, n_features)
            Training points (finite; duplicates are dropped with a warning).
        y : ignored
        callback : callable, optional
            ``callback(done, total)`` after each L-BFGS iteration. A KeyboardInterrupt
            raised in it (or by Ctrl-C) stops the optimisation; the best certified M is kept.

        Returns
        -------
        self
        """
        start = time.perf_counter()
        self._settings()  # parameters are checked before the data
        Xa = validate_fit_input(self, X, self.objective)
        n, d = Xa.shape
        k = resolve_components(self.n_components, self.eps, n, d)
        options = self._certify_options()
        workers = options["workers"]
        self.n_components_ = k
        Xu = training_points(Xa, self.objective)
        # None seeds 0: the split, the subsample and a Gaussian start are reproducible
        rng = check_random_state(0 if self.random_state is None else self.random_state)
        train, val = self._split(Xu, rng)
        n_t = train.shape[0]
        settings = self._settings(n_t * (n_t - 1) // 2 if self.objective == "pairs" else n_t)
        self.fit_settings_ = dataclasses.asdict(settings)
        self.interrupted_ = False
        self.optimise_seconds_ = 0.0
        self.n_validation_ = 0 if val is None else int(val.shape[0])
        ratio_range: tuple[float, float] | None = None
        if warn_if_not_reducing(k, d):
            M = identity_embedding(k, d)
            self.history_: dict[str, Any] = {"sigma_mode": self.sigma, "stopped": "k >= d"}
            self.sigma_ = 0.0
            self.n_iter_ = 0
        else:
            seed_pairs = None
            data = PairData.from_points(train)
            work = data.centred if self.objective == "pairs" else data.raw
            M0 = self._initial(work, k, rng)
            nworkers = workers or available_cpus()
            validation = None if val is None else Validation(train, val, self.objective, nworkers)
            self._neighbours = self._neighbour_model(train)
            self._last_round = None
            size = self._subsample_size(n_t)
            if size is not None:
                M0, stage, seed_pairs = self._fit_subsample(
                    train, M0, size, rng, nworkers, callback
                )
                if stage is not None:  # interrupted: the map has no range over all pairs
                    self.history_ = stage
                    self.sigma_, self.n_iter_ = 0.0, len(stage["iteration"])
                    self.interrupted_ = True
                    return self._finish(Xu, M0, None, options, start)
                # refine, do not restart: a sharp maximum and little noise from the start
                settings = dataclasses.replace(
                    settings,
                    tau0=max(settings.tau_final, STAGE_TAU0),
                    sigma0=min(settings.sigma0, STAGE_SIGMA0) if settings.sigma0 > 0 else 0.0,
                    inner_iter=min(settings.inner_iter, REFINE_INNER_ITER),
                )
                self.fit_settings_ = dataclasses.asdict(settings)
            outcome = optimise_projection(
                train, M0, objective=self.objective, settings=settings, workers=nworkers,
                callback=callback, validation=validation, neighbours=self._neighbours,
                seed_pairs=seed_pairs if SEED_REFINEMENT else None,
            )  # fmt: skip
            M = outcome.M
            ratio_range = outcome.ratio_range
            if ratio_range is not None and outcome.validation_range is not None:
                v_lo, v_hi = outcome.validation_range  # the union covers every pair of Xu
                ratio_range = (min(ratio_range[0], v_lo), max(ratio_range[1], v_hi))
            history = outcome.history.as_dict()
            if size is not None:
                history["subsample"] = self._stage_history
            self.history_ = history
            self.sigma_ = self.history_["sigma"][-1] if self.history_["sigma"] else settings.sigma0
            self.interrupted_ = outcome.interrupted
            self.n_iter_ = len(self.history_["iteration"])
            self._last_round = outcome.last_round
        return self._finish(Xu, M, ratio_range, options, start)

    def sosp_certificate(self, *, max_steps: int = 120) -> SOSPCertificate:
        """The SOSP certificate of the fit's last smoothed objective at the point it ended.

        The last L-BFGS round minimised ``Phi_tau`` (the closed-form expected smooth maximum of
        the distortions over its active set, module :mod:`derand.jl.optimise`); this is
        :func:`derand.core.certify` there: ``grad_norm`` (rho) and ``lambda_min`` in
        ``[vec(M), sigma]``, by Lanczos on Hessian-vector products (central differences of
        the exact gradient). The lemma's bound on ``sigma`` is not given: ``Phi_tau`` is the
        logarithm of a Gaussian expectation, not one, so the lemma's hypothesis does not hold
        as stated, and no Hessian-Lipschitz constant is known.

        Returns
        -------
        SOSPCertificate

        Raises
        ------
        InputError
            Before ``fit``, or when the fit ran no round (e.g. it was interrupted first).
        """
        last = getattr(self, "_last_round", None)
        if last is None:
            raise InputError("no fitted round to certify: call fit first (and let it run)")
        from derand.core import certify as certify_sosp

        return certify_sosp(last, last.x_end, max_steps=max_steps, tol=1e-6)

    def _finish(
        self,
        Xu: Array,
        M: Array,
        ratio_range: tuple[float, float] | None,
        options: dict[str, Any],
        start: float,
    ) -> DerandomizedJL:
        """Rescale by ``ratio_range`` (exact over all pairs of Xu, if known) and certify."""
        t0 = time.perf_counter()
        self.optimise_seconds_ = t0 - start
        if ratio_range is not None:
            M = math.sqrt(2.0 / (ratio_range[0] + ratio_range[1])) * M
        self.components_ = np.asarray(M, dtype=np.float64)
        self.certificate_complete_ = True
        try:
            report = certify(Xu, self.components_, self.objective, **options)
        except KeyboardInterrupt:
            # the exact passes of the fit already give the range over every pair of Xu
            self.interrupted_ = True
            self.certificate_complete_ = False
            report = range_report(Xu, self.components_, self.objective, ratio_range)
        self._set_certificate(report)
        self.certify_seconds_ = time.perf_counter() - t0
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _subsample_size(self, n_t: int) -> int | None:
        """Points of the first stage on a random subsample, or None for a single stage."""
        if self.subsample is None or self.objective != "pairs":
            return None
        if isinstance(self.subsample, str):
            if self.subsample != "auto":
                raise InputError(
                    f"subsample must be an integer, 'auto' or None, got {self.subsample!r}"
                )
            large = n_t * (n_t - 1) // 2 > LARGE_PAIRS
            return SUBSAMPLE_POINTS if large and n_t > SUBSAMPLE_POINTS else None
        size = check_count(self.subsample, "subsample", low=3, high=100_000_000)
        return size if size < n_t else None

    def _fit_subsample(
        self,
        train: Array,
        M0: Array,
        size: int,
        rng: np.random.RandomState,
        workers: int,
        callback: Callable[[int, int], None] | None,
    ) -> tuple[Array, dict[str, Any] | None, IntArray | None]:
        """Stage 1: the full fit on ``size`` random points; (its map rescaled, None, its last
        active pairs as rows of ``train``), or (the map, its history, None) when it was
        interrupted."""
        pick = np.sort(rng.permutation(train.shape[0])[:size])
        n_t = train.shape[0]
        settings = self._settings(size * (size - 1) // 2, auto_terms=n_t * (n_t - 1) // 2)
        outcome = optimise_projection(
            train[pick], M0, objective=self.objective, settings=settings, workers=workers,
            callback=callback, neighbours=self._neighbours,
        )  # fmt: skip
        M = outcome.M
        if outcome.ratio_range is not None:
            M = math.sqrt(2.0 / (outcome.ratio_range[0] + outcome.ratio_range[1])) * M
        history = outcome.history.as_dict()
        self._stage_history = {
            "points": size,
            "certified_max_distortion": history["certified_max_distortion"],
            "iterations": len(history["iteration"]),
            "seconds": outcome.seconds,
            "stopped": history["stopped"],
        }
        if outcome.interrupted:
            return M, history, None
        seeds = None if outcome.active_pairs is None else pick[outcome.active_pairs]
        return M, None, seeds

    def _neighbour_model(self, train: Array) -> NeighbourModel | None:
        """The model of new near pairs (``neighbour_z``), or None."""
        if self.neighbour_z is None:
            return None
        z = check_finite(self.neighbour_z, "neighbour_z", low=0.0, high=100.0)
        if self.objective == "pairs":
            return NeighbourModel.from_points(train, z)
        # norms: the new terms are the new points' own directions
        return NeighbourModel.from_directions(train, z)

    def _split(self, Xu: Array, rng: np.random.RandomState) -> tuple[Array, Array | None]:
        """Training and validation points (``early_stopping``), or all points and None."""
        if not self.early_stopping:
            return Xu, None
        n_u = Xu.shape[0]
        n_val = math.ceil(self.validation_fraction * n_u)
        if n_u - n_val < 2:
            raise InputError(
                f"validation_fraction = {self.validation_fraction} of {n_u} distinct points "
                f"leaves {n_u - n_val} for training; at least 2 are needed"
            )
        order = rng.permutation(n_u)
        return Xu[np.sort(order[n_val:])], Xu[np.sort(order[:n_val])]

    def _initial(self, work: Array, k: int, rng: np.random.RandomState) -> Array:
        d = work.shape[1]
        if self.init == "gaussian":
            return np.asarray(rng.standard_normal((k, d)) / math.sqrt(k), dtype=np.float64)
        M0 = top_directions(work, k)
        empty = ~np.any(M0 != 0, axis=1)
        if empty.any():  # rank below k: fill with random directions
            M0[empty] = rng.standard_normal((int(empty.sum()), d)) / math.sqrt(d)
        return M0
