"""DerandomizedJL and the baselines: sklearn API, sigma -> 0, certificate, beats random."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.utils.estimator_checks import check_estimator

from derand.errors import InputError
from derand.jl import (
    PCAJL,
    BestOfGaussianJL,
    DerandomizedJL,
    GaussianJL,
    SparseJL,
    dense_pairwise_distortions,
)
from derand.jl.data import generate


@pytest.fixture(scope="module")
def small_digits() -> np.ndarray:
    X = load_digits().data[:150]
    return np.asarray(np.unique(X, axis=0), dtype=np.float64)


@pytest.fixture(scope="module")
def fitted(small_digits: np.ndarray) -> DerandomizedJL:
    return DerandomizedJL(10, n_iter=300, rescan_every=25, random_state=0).fit(small_digits)


def test_check_estimator() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(DerandomizedJL(n_components=1, n_iter=5, rescan_every=5))


@pytest.mark.parametrize(
    "est",
    [
        GaussianJL(1, random_state=0),
        SparseJL(1, random_state=0),
        PCAJL(1),
        BestOfGaussianJL(1, n_draws=2),
    ],
    ids=["gaussian", "sparse", "pca", "best-of"],
)
def test_check_estimator_baselines(est: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(est)


def test_sigma_goes_to_zero(fitted: DerandomizedJL) -> None:
    sigma = fitted.history_["sigma"]
    assert len(sigma) == fitted.n_iter_ == 300
    assert sigma[0] == pytest.approx(0.3, rel=1e-6)
    assert fitted.sigma_ < 1e-4
    assert all(b <= a * (1 + 1e-6) for a, b in itertools.pairwise(sigma))


def test_certificate_is_exact(fitted: DerandomizedJL, small_digits: np.ndarray) -> None:
    D, _ = dense_pairwise_distortions(small_digits, fitted.components_)
    assert fitted.max_distortion_ == pytest.approx(np.abs(D).max(), rel=1e-10)
    assert fitted.mean_distortion_ == pytest.approx(np.abs(D).mean(), rel=1e-10)
    # best scalar rescaling: the extremes are balanced
    assert D.max() == pytest.approx(-D.min(), rel=1e-6)
    # transform is the projection
    Y = fitted.transform(small_digits)
    assert np.allclose(Y, small_digits @ fitted.components_.T)


def test_beats_random_and_pca(fitted: DerandomizedJL, small_digits: np.ndarray) -> None:
    best = BestOfGaussianJL(10, n_draws=30, random_state=0).fit(small_digits)
    pca = PCAJL(10).fit(small_digits)
    assert fitted.max_distortion_ < best.max_distortion_
    assert fitted.max_distortion_ < pca.max_distortion_
    assert fitted.max_distortion_ <= min(best.draw_distortions_)
    assert fitted.max_distortion_ < fitted.history_["certified_max_distortion"][0]


def test_deterministic(small_digits: np.ndarray) -> None:
    a = DerandomizedJL(5, n_iter=30, random_state=3).fit(small_digits[:60])
    b = DerandomizedJL(5, n_iter=30, random_state=3).fit(small_digits[:60])
    assert np.array_equal(a.components_, b.components_)


def test_authors_norms_setting_reaches_their_target() -> None:
    X = generate("uniform", 100, 500, 42)
    est = DerandomizedJL(30, objective="norms", n_iter=300, random_state=0).fit(X)
    manual = np.sum((X @ est.components_.T) ** 2, axis=1) - 1.0  # rows are unit vectors
    assert est.max_distortion_ == pytest.approx(np.abs(manual).max(), rel=1e-10)
    assert est.max_distortion_ <= 0.0275


def test_interrupt_keeps_best_certified(small_digits: np.ndarray) -> None:
    def stop(done: int, total: int) -> None:
        if done == 12:
            raise KeyboardInterrupt

    est = DerandomizedJL(5, n_iter=100, rescan_every=5, random_state=0)
    est.fit(small_digits[:50], callback=stop)
    assert est.interrupted_ and est.n_iter_ == 12
    D, _ = dense_pairwise_distortions(small_digits[:50], est.components_)
    assert est.max_distortion_ == pytest.approx(np.abs(D).max(), rel=1e-10)
    assert est.max_distortion_ <= min(est.history_["certified_max_distortion"]) + 1e-6


def test_gaussian_init_and_float64(small_digits: np.ndarray) -> None:
    est = DerandomizedJL(5, init="gaussian", dtype="float64", n_iter=40, random_state=1).fit(
        small_digits[:40]
    )
    assert est.components_.shape == (5, 64) and est.max_distortion_ > 0


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        (np.array([[1.0, np.nan, 0.0], [0.0, 1.0, 0.0]]), {}, "NaN"),
        (np.array([[1.0, np.inf, 0.0], [0.0, 1.0, 0.0]]), {}, "infinity"),
        (np.ones((1, 3)), {}, "1 sample"),
        (np.ones((4, 3)), {}, "all points are equal"),
        (np.eye(3), {"n_components": 3}, "n_features = 3"),
        (np.eye(3), {"n_components": 0}, ">= 1"),
        (np.eye(3), {"objective": "nope"}, "objective"),
        (np.eye(3), {"n_iter": 0}, "n_iter"),
        (np.eye(3), {"init": "x"}, "init"),
    ],
)
def test_bad_input_raises_input_error(X: np.ndarray, kwargs: dict[str, object], match: str) -> None:
    params: dict[str, object] = {"n_components": 1, **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError, match=match):
            DerandomizedJL(**params).fit(X)  # type: ignore[arg-type]
        if set(kwargs) <= {"n_components", "objective"}:
            with pytest.raises(InputError, match=match):
                PCAJL(**params).fit(X)  # type: ignore[arg-type]


def test_duplicates_warn(small_digits: np.ndarray) -> None:
    X = np.vstack([small_digits[:30], small_digits[:2]])
    with pytest.warns(UserWarning, match="dropped 2 duplicate"):
        est = DerandomizedJL(3, n_iter=5).fit(X)
    assert est.distortion_.n == 30


@pytest.mark.parametrize(
    "est",
    [
        GaussianJL(8, random_state=0),
        SparseJL(8, random_state=0),
        PCAJL(8),
        BestOfGaussianJL(8, n_draws=5, random_state=0),
    ],
    ids=["gaussian", "sparse", "pca", "best-of"],
)
def test_baseline_certificates(est: GaussianJL, small_digits: np.ndarray) -> None:
    est.fit(small_digits)
    D, _ = dense_pairwise_distortions(small_digits, est.components_)
    assert est.max_distortion_ == pytest.approx(np.abs(D).max(), rel=1e-10)
    assert est.transform(small_digits).shape == (small_digits.shape[0], 8)


def test_gaussian_baseline_is_sklearns(small_digits: np.ndarray) -> None:
    from sklearn.random_projection import GaussianRandomProjection

    ours = GaussianJL(8, random_state=4).fit(small_digits)
    theirs = GaussianRandomProjection(8, random_state=4).fit(small_digits)
    assert np.allclose(ours.transform(small_digits), theirs.transform(small_digits))


def test_best_of_is_the_min_of_its_draws(small_digits: np.ndarray) -> None:
    est = BestOfGaussianJL(8, n_draws=6, random_state=0).fit(small_digits)
    assert est.max_distortion_ == pytest.approx(min(est.draw_distortions_), rel=1e-12)


def test_pca_rescaling_balances_extremes(small_digits: np.ndarray) -> None:
    est = PCAJL(8).fit(small_digits)
    assert est.distortion_.max_signed == pytest.approx(-est.distortion_.min_signed, rel=1e-8)


@pytest.mark.parametrize("rescale", [False, True])
@pytest.mark.parametrize("objective", ["pairs", "norms"])
def test_best_of_values_are_exact_per_draw(
    rescale: bool, objective: str, small_digits: np.ndarray
) -> None:
    """The batched one-pass draw values equal certifying each draw separately."""
    from derand.jl import measure_distortion

    est = BestOfGaussianJL(4, n_draws=20, objective=objective, rescale=rescale, random_state=2).fit(
        small_digits[:50]
    )
    rng = np.random.RandomState(2)
    for value in est.draw_distortions_:
        P = rng.standard_normal((4, 64)) / 2.0
        rep = measure_distortion(small_digits[:50], P, objective=objective)
        expected = (
            (rep.max_signed - rep.min_signed) / (2.0 + rep.max_signed + rep.min_signed)
            if rescale
            else rep.max_distortion
        )
        assert value == pytest.approx(expected, rel=1e-9)
    assert est.max_distortion_ == pytest.approx(min(est.draw_distortions_), rel=1e-9)


@pytest.mark.parametrize("shape", [(30, 8), (8, 30)])
def test_top_directions_match_svd(shape: tuple[int, int]) -> None:
    from derand.jl.estimator import top_directions

    X = np.random.default_rng(0).normal(size=shape)
    V = top_directions(X, 5)
    _, _, Vt = np.linalg.svd(X, full_matrices=False)
    assert np.allclose(np.abs(np.sum(V * Vt[:5], axis=1)), 1.0, atol=1e-8)
    Xc = X[:4] - X[:4].mean(0)  # rank 3
    V2 = top_directions(Xc, 5)
    assert np.count_nonzero(np.any(V2 != 0, axis=1)) == 3
