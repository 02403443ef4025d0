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
    FAST_FIT,
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
    return DerandomizedJL(10, n_iter=600, random_state=0).fit(small_digits)


def test_check_estimator() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(DerandomizedJL(n_components=2))


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


def test_sigma_falls_by_itself_in_objective_mode(small_digits: np.ndarray) -> None:
    """Fixed temperature, no schedule and no cap: sigma is trained and goes to 0 (over
    fixed 60-iteration rounds)."""
    est = DerandomizedJL(
        5, sigma="objective", sigma0=0.05, tau0=0.05, tau_final=0.05, sigma_penalty=0.0,
        n_iter=400, patience=100, min_inner_iter=None, tol=None, random_state=0,
    ).fit(small_digits[:60])  # fmt: skip
    sigma = est.history_["sigma"]
    rounds = est.history_["certified_sigma"]
    assert est.history_["sigma_restarts"] == 0 and len(sigma) == est.n_iter_ == 400
    assert rounds[-1] < 1e-2 * 0.05  # two orders of magnitude, no cap anywhere
    assert max(rounds[len(rounds) // 2 :]) < 2e-2 * 0.05


def test_sigma_schedule_and_none(small_digits: np.ndarray) -> None:
    sched = DerandomizedJL(5, sigma="schedule", n_iter=300, random_state=0).fit(small_digits[:60])
    cs = sched.history_["certified_sigma"]
    assert cs[0] == pytest.approx(0.3) and all(b < a for a, b in itertools.pairwise(cs[1:]))
    none = DerandomizedJL(5, sigma="none", n_iter=300, random_state=0).fit(small_digits[:60])
    assert set(none.history_["sigma"]) == {0.0} and none.history_["sigma_mode"] == "none"


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


def test_fast_fit_is_certified_deterministic_and_cheaper(
    fitted: DerandomizedJL, small_digits: np.ndarray
) -> None:
    """FAST_FIT: the certificate is still the brute-force max over all pairs, a fixed seed
    gives the same map, and it runs fewer iterations than the default and beats PCA."""
    a = DerandomizedJL(10, random_state=0, **FAST_FIT).fit(small_digits)
    b = DerandomizedJL(10, random_state=0, **FAST_FIT).fit(small_digits)
    assert np.array_equal(a.components_, b.components_)
    D, _ = dense_pairwise_distortions(small_digits, a.components_)
    assert a.max_distortion_ == pytest.approx(np.abs(D).max(), rel=1e-10)
    assert a.mean_distortion_ == pytest.approx(np.abs(D).mean(), rel=1e-10)
    assert max(a.history_["active_size"]) <= FAST_FIT["active_size"]
    assert a.n_iter_ < fitted.n_iter_
    assert a.max_distortion_ < PCAJL(10).fit(small_digits).max_distortion_


def test_tol_stops_once_the_certified_max_stalls(small_digits: np.ndarray) -> None:
    """With tol, the fit ends at the first round (tau final) whose best certified max is
    within tol of the best ``patience`` rounds earlier; the returned map is that best."""
    tol, patience = 0.05, 2
    est = DerandomizedJL(
        5, tol=tol, patience=patience, tau_final=0.01, inner_iter=10, random_state=0
    ).fit(small_digits[:80])
    assert "tol" in est.history_["stopped"]
    best = np.minimum.accumulate(est.history_["certified_max_distortion"])[1:]  # per round
    assert best[-1] >= best[-1 - patience] * (1.0 - tol)
    assert est.max_distortion_ == pytest.approx(best[-1], rel=1e-9)
    plain = DerandomizedJL(
        5, tol=None, patience=patience, tau_final=0.01, inner_iter=10, random_state=0
    ).fit(small_digits[:80])
    assert "tol" not in plain.history_["stopped"] and plain.n_iter_ >= est.n_iter_


def test_adaptive_rounds_follow_the_certificate(small_digits: np.ndarray) -> None:
    """min_inner_iter: round budgets double after a round that certified a better max and
    halve after one that did not; each round runs at most its budget."""
    low, high = 5, 40
    est = DerandomizedJL(
        8, min_inner_iter=low, inner_iter=high, tol=None, patience=3, random_state=0
    ).fit(small_digits)
    h = est.history_
    cert, at = h["certified_max_distortion"], h["certified_iteration"]
    budget, best = low, cert[0]
    used = np.diff(at)
    for r, iters in enumerate(used):
        assert iters <= budget
        improved = cert[r + 1] < best
        best = min(best, cert[r + 1])
        budget = min(2 * budget, high) if improved else max(budget // 2, low)
    assert used.max() > low  # the budget grew


def test_auto_settings_follow_the_problem_size() -> None:
    est = DerandomizedJL(5)
    small, large = est._settings(10**6), est._settings(10**9)
    assert (small.active_size, small.scan_size, small.min_inner_iter, small.tol) == (
        8000, 1000, 10, 0.01,
    )  # fmt: skip
    assert (large.active_size, large.scan_size, large.min_inner_iter, large.tol) == (
        30000, 3000, None, None,
    )  # fmt: skip
    # the subsample stage of a large problem keeps the large problem's values
    stage = est._settings(10**6, auto_terms=10**9)
    assert (stage.active_size, stage.min_inner_iter, stage.tol) == (30000, None, None)
    with pytest.raises(InputError, match="active_size"):
        DerandomizedJL(5, active_size="big")._settings()


@pytest.mark.parametrize("tol", [-0.1, 1.5, float("nan"), "x"])
def test_bad_tol_is_an_input_error(tol: object, small_digits: np.ndarray) -> None:
    with pytest.raises(InputError, match="tol"):
        DerandomizedJL(3, tol=tol).fit(small_digits[:20])


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

    est = DerandomizedJL(5, n_iter=100, inner_iter=5, random_state=0)
    est.fit(small_digits[:50], callback=stop)
    assert est.interrupted_ and est.n_iter_ == 12
    D, _ = dense_pairwise_distortions(small_digits[:50], est.components_)
    assert est.max_distortion_ == pytest.approx(np.abs(D).max(), rel=1e-10)
    assert est.max_distortion_ <= min(est.history_["certified_max_distortion"]) + 1e-6


def test_gaussian_init(small_digits: np.ndarray) -> None:
    est = DerandomizedJL(5, init="gaussian", n_iter=40, random_state=1).fit(small_digits[:40])
    assert est.components_.shape == (5, 64) and est.max_distortion_ > 0


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        (np.array([[1.0, np.nan, 0.0], [0.0, 1.0, 0.0]]), {}, "NaN"),
        (np.array([[1.0, np.inf, 0.0], [0.0, 1.0, 0.0]]), {}, "infinity"),
        (np.ones((1, 3)), {}, "1 sample"),
        (np.ones((4, 3)), {}, "all points are equal"),
        (np.eye(3), {"n_components": 0}, "n_components"),
        (np.eye(3), {"n_components": "auto"}, "larger than n_features"),
        (np.eye(3), {"objective": "nope"}, "objective"),
        (np.eye(3), {"n_iter": 0}, "n_iter"),
        (np.eye(3), {"init": "x"}, "init"),
        (np.eye(3), {"sigma": "x"}, "sigma"),
        (np.eye(3), {"tau0": float("nan")}, "tau0"),
    ],
)
def test_bad_input_raises_input_error(X: np.ndarray, kwargs: dict[str, object], match: str) -> None:
    params: dict[str, object] = {"n_components": 1, **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError, match=match):
            DerandomizedJL(**params).fit(X)  # type: ignore[arg-type]
        if set(kwargs) <= {"objective"}:
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
    for raw, rescaled in zip(est.draw_distortions_, est.draw_rescaled_distortions_, strict=True):
        P = rng.standard_normal((4, 64)) / 2.0
        rep = measure_distortion(small_digits[:50], P, objective=objective)
        assert raw == pytest.approx(rep.max_distortion, rel=1e-9)
        expected = (rep.max_signed - rep.min_signed) / (2.0 + rep.max_signed + rep.min_signed)
        assert rescaled == pytest.approx(expected, rel=1e-9)
    chosen = est.draw_rescaled_distortions_ if rescale else est.draw_distortions_
    assert est.max_distortion_ == pytest.approx(min(chosen), rel=1e-9)


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


def test_k_at_least_d_warns_and_embeds_exactly() -> None:
    from sklearn.exceptions import DataDimensionalityWarning

    X = np.random.default_rng(0).normal(size=(20, 3))
    for est in (DerandomizedJL(3), DerandomizedJL(5), PCAJL(4)):
        with pytest.warns(DataDimensionalityWarning, match="not reduced"):
            est.fit(X)
        assert est.max_distortion_ < 1e-12
        assert est.transform(X).shape == (20, est.n_components)


def test_auto_components_like_gaussian_random_projection() -> None:
    from sklearn.random_projection import johnson_lindenstrauss_min_dim

    X = np.random.default_rng(0).normal(size=(30, 2000))
    est = DerandomizedJL("auto", eps=0.5, n_iter=20).fit(X)
    assert est.n_components_ == johnson_lindenstrauss_min_dim(30, eps=0.5)
    assert est.components_.shape == (est.n_components_, 2000)


def test_sparse_input_feature_names_and_set_output(small_digits: np.ndarray) -> None:
    import scipy.sparse as sp

    X = small_digits[:50]
    dense = DerandomizedJL(4, n_iter=50, random_state=0).fit(X)
    sparse = DerandomizedJL(4, n_iter=50, random_state=0).fit(sp.csr_matrix(X))
    assert np.array_equal(dense.components_, sparse.components_)
    assert np.allclose(sparse.transform(sp.csr_matrix(X)), dense.transform(X))
    names = dense.get_feature_names_out()
    assert list(names) == [f"derandomizedjl{i}" for i in range(4)]
    pd = pytest.importorskip("pandas")
    frame = dense.set_output(transform="pandas").transform(X)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(names)


def test_score_is_minus_the_certified_max(fitted: DerandomizedJL, small_digits: np.ndarray) -> None:
    assert fitted.score(small_digits) == pytest.approx(-fitted.max_distortion_, rel=1e-12)
    other = load_digits().data[150:250]
    D, _ = dense_pairwise_distortions(np.unique(other, axis=0), fitted.components_)
    assert fitted.score(other) == pytest.approx(-np.abs(D).max(), rel=1e-10)


def test_holdout_split_is_reproducible_and_reports_cross_pairs(small_digits: np.ndarray) -> None:
    from derand.jl import holdout_distortion, split_holdout

    a_train, a_test = split_holdout(small_digits, 0.3, seed=4)
    b_train, b_test = split_holdout(small_digits, 0.3, seed=4)
    c_train, _ = split_holdout(small_digits, 0.3, seed=5)
    assert np.array_equal(a_train, b_train) and np.array_equal(a_test, b_test)
    assert not np.array_equal(a_train, c_train)
    assert a_test.shape[0] == round(0.3 * small_digits.shape[0])
    rows = {r.tobytes() for r in small_digits}
    assert {r.tobytes() for r in np.vstack([a_train, a_test])} == rows
    est = PCAJL(8).fit(a_train)
    rep = holdout_distortion(est.components_, a_train, a_test)
    assert rep.train.max_distortion == pytest.approx(est.max_distortion_, rel=1e-12)
    assert rep.cross.pairs == a_train.shape[0] * a_test.shape[0]
    assert set(rep.summary()) >= {"train_max", "test_max", "cross_max", "cross_p99"}
    with pytest.raises(InputError, match="at least 2"):
        split_holdout(small_digits[:5], 0.1)


def test_rescaled_baselines_are_reported(small_digits: np.ndarray) -> None:
    g = GaussianJL(8, random_state=0).fit(small_digits)
    gr = GaussianJL(8, rescale=True, random_state=0).fit(small_digits)
    assert g.rescaled_max_distortion_ == pytest.approx(gr.max_distortion_, rel=1e-9)
    assert g.rescaled_max_distortion_ < g.max_distortion_
    b = BestOfGaussianJL(8, n_draws=10, random_state=0).fit(small_digits)
    br = BestOfGaussianJL(8, n_draws=10, rescale=True, random_state=0).fit(small_digits)
    assert b.rescaled_max_distortion_ == pytest.approx(br.max_distortion_, rel=1e-9)
    assert b.rescaled_max_distortion_ == pytest.approx(min(b.draw_rescaled_distortions_))


def test_best_of_bounds_the_count() -> None:
    from derand.jl.methods import make_embedding, parse_method

    with pytest.raises(InputError, match="best-of-N"):
        parse_method("best-of-1000000000000")
    with pytest.raises(InputError, match="n_draws"):
        BestOfGaussianJL(2, n_draws=10**12).fit(np.eye(4))
    assert make_embedding("best-of-7", 3).n_draws == 7


def test_short_repr() -> None:
    assert repr(DerandomizedJL(5)) == "DerandomizedJL(n_components=5)"


@pytest.mark.parametrize("cap_gain", [False, True])
@pytest.mark.parametrize("mode", ["objective", "schedule", "none"])
def test_objective_gradient_matches_finite_differences(mode: str, cap_gain: bool) -> None:
    """The closed-form objective's gradient in M and sigma, against central differences."""
    from derand.jl.optimise import ActiveSet, FitHistory, FitSettings, _Step

    rng = np.random.default_rng(0)
    points = rng.normal(size=(12, 5))
    pairs = np.array([(i, j) for i in range(12) for j in range(i + 1, 12)], dtype=np.int64)
    act = ActiveSet(points, pairs)
    settings = FitSettings(sigma=mode, sigma_penalty=0.3, cap_gain=cap_gain)
    step = _Step(act, 3, 0.2, settings, 0.4, FitHistory(), 0)
    M = rng.normal(size=(3, 5)) / 3
    x = step.start(M)
    _, grad = step.value_and_grad(x)
    h = 1e-6
    for index in range(x.size):
        e = np.zeros_like(x)
        e[index] = h
        numeric = (step.value_and_grad(x + e)[0] - step.value_and_grad(x - e)[0]) / (2 * h)
        assert grad[index] == pytest.approx(numeric, rel=1e-5, abs=1e-7), index


def test_objective_is_the_expectation_of_the_sampled_terms() -> None:
    """tau log E sum exp(...) in closed form equals a Monte Carlo average over sampled P."""
    from derand.jl.optimise import ActiveSet, FitHistory, FitSettings, _Step

    rng = np.random.default_rng(3)
    points = rng.normal(size=(6, 4))
    pairs = np.array([(i, j) for i in range(6) for j in range(i + 1, 6)], dtype=np.int64)
    act = ActiveSet(points, pairs)
    k, tau, sigma = 3, 0.5, 0.3
    step = _Step(
        act, k, tau, FitSettings(sigma="objective", sigma_penalty=0.0), sigma, FitHistory(), 0
    )
    M = rng.normal(size=(k, 4)) / 2
    value, _ = step.value_and_grad(step.start(M))
    U = points[pairs[:, 0]] - points[pairs[:, 1]]
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    G = rng.standard_normal((200_000, k, 4))
    R = np.sum(((M[None] + sigma * G / np.sqrt(k)) @ U.T) ** 2, axis=1)  # (draws, pairs)
    terms = np.exp((R - 1) / tau) + np.exp((1 - R) / tau)
    mc = tau * np.log(terms.sum(axis=1).mean())
    assert value == pytest.approx(mc, rel=2e-3)


def test_stretch_bound_holds_for_new_points(fitted: DerandomizedJL) -> None:
    rng = np.random.default_rng(0)
    X_new = rng.normal(size=(60, 64)) * 5
    D, _ = dense_pairwise_distortions(X_new, fitted.components_)
    assert D.max() <= fitted.stretch_bound_ + 1e-12
    assert fitted.stretch_bound_ >= fitted.distortion_.max_signed - 1e-12


def test_large_problem_path(small_digits: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond LARGE_PAIRS: at most 6 exact passes, active pairs chosen in float32, and the
    certificate still exact in float64."""
    import derand.jl.estimator as estimator

    monkeypatch.setattr(estimator, "LARGE_PAIRS", 100)
    est = DerandomizedJL(6, random_state=0).fit(small_digits)
    assert est.history_["scan_dtype"] == "float32"
    assert len(est.history_["tau"]) <= estimator.LARGE_ROUNDS
    D, _ = dense_pairwise_distortions(small_digits, est.components_)
    assert est.max_distortion_ == pytest.approx(np.abs(D).max(), rel=1e-10)
    small = DerandomizedJL(6, random_state=0).fit(small_digits[:40])
    assert small.history_["scan_dtype"] == "float32"


@pytest.mark.parametrize("mode", ["objective", "schedule", "none"])
def test_figures_say_which_sigma_ran(mode: str, small_digits: np.ndarray) -> None:
    from derand.figures.jl import plot_jl

    est = DerandomizedJL(4, sigma=mode, n_iter=120, random_state=0).fit(small_digits[:50])
    figs = plot_jl(est.history_, [1.5, 1.2], rescaled_best=0.9, pca=0.8, title="t")
    title = figs["fig7_jl_sigma"].axes[0].get_title()  # type: ignore[attr-defined]
    expected = {"objective": "learned", "schedule": "scheduled", "none": "sigma = 0"}[mode]
    assert expected in title.replace("$\\sigma$", "sigma").replace("$\\sigma = 0$", "sigma = 0")
    labels = [t.get_text() for t in figs["fig6_jl_max_distortion"].axes[0].get_legend().get_texts()]  # type: ignore[attr-defined]
    assert any("PCA" in label for label in labels) and any("rescaled" in label for label in labels)


def test_memory_check_counts_the_pairs_there_are() -> None:
    """3 points in d = 80,000 have 3 pairs: the active set cannot hold 30,000 of them."""
    X = np.random.default_rng(0).normal(size=(3, 80_000))
    est = DerandomizedJL(2, n_iter=10).fit(X)
    D, _ = dense_pairwise_distortions(X, est.components_)
    assert est.max_distortion_ == pytest.approx(float(np.abs(D).max()), abs=1e-12)


def test_early_stopping_selects_the_best_validation_round(small_digits: np.ndarray) -> None:
    """The returned map is the round with the smallest validation max; every pair of the
    points passed to fit (training and validation) is certified exactly."""
    X = small_digits[:120]
    est = DerandomizedJL(
        6, early_stopping=True, validation_fraction=0.25, n_iter_no_change=2, random_state=0
    ).fit(X)
    h = est.history_
    vals = h["validation_max_distortion"]
    assert est.n_validation_ == 30 and len(vals) == len(h["certified_max_distortion"])
    assert h["best_round"] == int(np.argmin(vals))
    assert h["stopped"].startswith("no better validation max") or h["stopped"].startswith("iter")
    D, _ = dense_pairwise_distortions(X, est.components_)
    assert est.max_distortion_ == pytest.approx(float(np.abs(D).max()), rel=1e-10)
    # the rescaling balances the range over all pairs, so the best validation max is what
    # the certificate over all points reports
    assert est.max_distortion_ == pytest.approx(min(vals), rel=1e-9)
    again = DerandomizedJL(
        6, early_stopping=True, validation_fraction=0.25, n_iter_no_change=2, random_state=0
    ).fit(X)
    assert np.array_equal(again.components_, est.components_)


def test_validation_range_is_the_brute_force_range() -> None:
    """Train x validation and validation x validation pairs, against a dense computation."""
    from derand.jl.optimise import Validation

    rng = np.random.default_rng(5)
    A, B = rng.normal(size=(37, 7)), rng.normal(size=(11, 7))
    M = rng.normal(size=(3, 7))
    lo, hi = Validation(A, B, "pairs", workers=2).ratio_range(M)
    both = np.vstack([A, B])
    ratios = [
        float(np.sum((M @ (both[i] - both[j])) ** 2) / np.sum((both[i] - both[j]) ** 2))
        for i in range(48)
        for j in range(max(i + 1, 37), 48)
    ]
    assert len(ratios) == 37 * 11 + 55
    assert lo == pytest.approx(min(ratios), rel=1e-10) and hi == pytest.approx(
        max(ratios), rel=1e-10
    )
    n_lo, n_hi = Validation(A, B, "norms", workers=1).ratio_range(M)
    r = np.sum((B @ M.T) ** 2, axis=1) / np.sum(B**2, axis=1)
    assert (n_lo, n_hi) == pytest.approx((r.min(), r.max()), rel=1e-12)


def test_early_stopping_refuses_too_few_training_points() -> None:
    with pytest.raises(InputError, match="validation_fraction"):
        DerandomizedJL(1, early_stopping=True, validation_fraction=0.9).fit(
            np.random.default_rng(0).normal(size=(4, 3))
        )
    with pytest.raises(InputError, match="validation_fraction"):
        DerandomizedJL(1, early_stopping=True, validation_fraction=1.0).fit(np.eye(4))


def test_stretch_slack_keeps_the_stretch_bound_small(small_digits: np.ndarray) -> None:
    """cap_gain with a slack of 3 bounds the gain over all directions near 3x the max."""
    X = small_digits[:100]
    free = DerandomizedJL(8, random_state=0).fit(X)
    capped = DerandomizedJL(8, cap_gain=True, stretch_slack=3.0, random_state=0).fit(X)
    assert capped.stretch_bound_ < free.stretch_bound_
    assert capped.stretch_bound_ <= 3.0 * capped.max_distortion_ * 1.2
    top = float(np.linalg.norm(capped.components_, 2)) ** 2 - 1.0
    assert capped.stretch_bound_ == pytest.approx(top, rel=1e-12)


def test_objective_gradient_with_stretch_slack() -> None:
    from derand.jl.optimise import ActiveSet, FitHistory, FitSettings, _Step

    rng = np.random.default_rng(1)
    points = rng.normal(size=(10, 4))
    pairs = np.array([(i, j) for i in range(10) for j in range(i + 1, 10)], dtype=np.int64)
    settings = FitSettings(sigma="objective", cap_gain=True, stretch_slack=2.5)
    step = _Step(ActiveSet(points, pairs), 2, 0.3, settings, 0.3, FitHistory(), 0)
    x = step.start(rng.normal(size=(2, 4)))
    _, grad = step.value_and_grad(x)
    for index in range(x.size):
        e = np.zeros_like(x)
        e[index] = 1e-6
        numeric = (step.value_and_grad(x + e)[0] - step.value_and_grad(x - e)[0]) / 2e-6
        assert grad[index] == pytest.approx(numeric, rel=1e-5, abs=1e-7), index


def test_ctrl_c_in_the_final_certificate_keeps_the_map(
    small_digits: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fit's exact passes already give the range over all pairs: the max is kept."""
    import derand.jl.estimator as estimator

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    X = small_digits[:60]
    monkeypatch.setattr(estimator, "certify", interrupted)
    est = DerandomizedJL(5, n_iter=80, random_state=0).fit(X)
    assert est.interrupted_ and not est.certificate_complete_
    D, _ = dense_pairwise_distortions(X, est.components_)
    assert est.max_distortion_ == pytest.approx(float(np.abs(D).max()), rel=1e-9)
    assert est.distortion_.min_signed == pytest.approx(float(D.min()), rel=1e-9, abs=1e-12)
    assert np.isnan(est.mean_distortion_)


def test_ctrl_c_in_the_first_pass_returns_the_initial_map(
    small_digits: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    import derand.jl.optimise as optimise

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(optimise, "scan_pairs", interrupted)
    X = small_digits[:40]
    est = DerandomizedJL(4, random_state=0).fit(X)
    assert est.interrupted_ and est.history_["stopped"] == "interrupted"
    D, _ = dense_pairwise_distortions(X, est.components_)  # PCA directions, certified after
    assert est.max_distortion_ == pytest.approx(float(np.abs(D).max()), rel=1e-10)


def test_large_problem_starts_from_a_subsample_fit(
    small_digits: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond LARGE_PAIRS the fit first runs in full on a random subsample; the certificate
    is still exact over all pairs and no worse than the subsample map's first full pass."""
    import derand.jl.estimator as estimator

    monkeypatch.setattr(estimator, "LARGE_PAIRS", 1000)
    monkeypatch.setattr(estimator, "SUBSAMPLE_POINTS", 50)
    est = DerandomizedJL(6, random_state=0).fit(small_digits)
    stage = est.history_["subsample"]
    assert stage["points"] == 50 and stage["iterations"] > 0
    assert est.history_["scan_dtype"] == "float32"
    D, _ = dense_pairwise_distortions(small_digits, est.components_)
    assert est.max_distortion_ == pytest.approx(float(np.abs(D).max()), rel=1e-10)
    assert est.max_distortion_ <= est.history_["certified_max_distortion"][0] + 1e-9
    one = DerandomizedJL(6, subsample=None, random_state=0).fit(small_digits)
    assert "subsample" not in one.history_


def test_refinement_is_seeded_and_takes_short_rounds(
    small_digits: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the subsample stage, the fit on all points starts from the stage's active pairs
    (as rows of all points) and its rounds take at most REFINE_INNER_ITER iterations (one
    round a pass without a pool; up to POOL_ROUNDS rounds a pass with one)."""
    import derand.jl.estimator as estimator

    monkeypatch.setattr(estimator, "LARGE_PAIRS", 1000)
    monkeypatch.setattr(estimator, "SUBSAMPLE_POINTS", 50)
    seen: list[np.ndarray | None] = []
    from derand.jl.optimise import optimise_projection as real

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(kwargs.get("seed_pairs"))  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(estimator, "optimise_projection", spy)
    est = DerandomizedJL(6, pool_size=None, random_state=0).fit(small_digits)
    assert len(seen) == 2 and seen[0] is None  # the stage itself is not seeded
    seeds = seen[1]
    assert seeds is not None and seeds.ndim == 2 and seeds.shape[1] == 2 and len(seeds) > 0
    n = small_digits.shape[0]
    assert np.all(seeds[:, 0] < seeds[:, 1]) and np.all(seeds >= 0) and np.all(seeds < n)
    steps = np.diff([0, *est.history_["certified_iteration"]])
    assert steps.size > 1 and int(steps.max()) <= estimator.REFINE_INNER_ITER
    pooled = DerandomizedJL(6, random_state=0).fit(small_digits).history_
    assert pooled["pool_max_distortion"]  # the refinement of a large problem has a pool
    steps = np.diff(pooled["certified_iteration"])
    assert int(steps.max()) <= estimator.REFINE_INNER_ITER * estimator.POOL_ROUNDS


def test_ctrl_c_in_the_subsample_stage_keeps_its_map(
    small_digits: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    import derand.jl.estimator as estimator

    monkeypatch.setattr(estimator, "LARGE_PAIRS", 1000)
    monkeypatch.setattr(estimator, "SUBSAMPLE_POINTS", 50)

    def stop(done: int, total: int) -> None:
        if done == 30:
            raise KeyboardInterrupt

    est = DerandomizedJL(6, random_state=0).fit(small_digits, callback=stop)
    assert est.interrupted_ and est.certificate_complete_ and est.n_iter_ == 30
    D, _ = dense_pairwise_distortions(small_digits, est.components_)
    assert est.max_distortion_ == pytest.approx(float(np.abs(D).max()), rel=1e-10)


def test_sosp_certificate_of_the_last_round_agrees_with_a_dense_hessian() -> None:
    from derand.jl import DerandomizedJL

    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 30))  # 3 x 30 + 1 = 91 variables: the Lanczos path
    est = DerandomizedJL(n_components=3, random_state=0, n_iter=200).fit(X)
    cert = est.sosp_certificate()
    last = est._last_round
    x = last.x_end
    n = x.size
    H = np.stack([last.hvp(x, e) for e in np.eye(n)])
    evals = np.linalg.eigvalsh(0.5 * (H + H.T))
    assert cert.n_params == n and cert.method == "lanczos"
    assert cert.bound is None  # no lemma bound is claimed for Phi_tau
    assert cert.lambda_min == pytest.approx(evals[0], rel=1e-4, abs=1e-6)
    _, grad = last.value_and_grad(x)
    assert cert.grad_norm == pytest.approx(float(np.linalg.norm(grad)), rel=1e-12)
    assert last.randomness(x) == pytest.approx(est.history_["sigma"][-1], rel=1e-9)
    with pytest.raises(InputError):
        DerandomizedJL(n_components=2).sosp_certificate()
