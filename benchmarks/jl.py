"""Derandomized JL against PCA and random projections, in and out of sample (paper §5.2).

Every distortion is the exact maximum over all pairs of the points concerned; every time is
wall-clock seconds of ``fit`` including its certificate; all methods run in the same process
one after the other, so machine load hits them alike (the load average is printed).

    python benchmarks/jl.py --suite        # the table of the README (data sets x three k)
    python benchmarks/jl.py --ablation     # sigma modes and the soft maximum (held-out data)
    python benchmarks/jl.py --scale        # n = 10^5 fit + certificate, Ray vs local, 10^6 estimate
    python benchmarks/jl.py --quick        # digits k = 20 and the authors' setting only
    python benchmarks/jl.py --heldout      # held-out suite: derand, PCA, Gaussian, NuMax-k
    python benchmarks/jl.py --cost         # fit CPU against PCA's at n <= 2000: default, FAST_FIT
    taskset -c 1 python benchmarks/jl.py --mixture 100000   # mixture at scale vs PCA, NuMax

Suite columns: ours (certified max distortion on all points), PCA with the best scalar
rescaling, the best of 100 Gaussian projections after the best rescaling, one sparse random
projection (as drawn / rescaled), and each one's fit time; then, fitted on 70 % of the
points, the max distortion on the held-out 30 % (*held-out*) and on the pairs between the two
parts (*cross*) for ours, PCA and the best Gaussian.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from derand import __version__
from derand.jl import (
    FAST_FIT,
    PCAJL,
    BestOfGaussianJL,
    DerandomizedJL,
    SparseJL,
    holdout_distortion,
    load_data,
    split_holdout,
)

Loader = Callable[[], np.ndarray]


def _standardised(loader: Callable[[], Any]) -> Loader:
    def load() -> np.ndarray:
        from sklearn.preprocessing import StandardScaler

        return np.asarray(StandardScaler().fit_transform(loader().data), dtype=np.float64)

    return load


def _datasets() -> dict[str, tuple[Loader, tuple[int, ...]]]:
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_low_rank_matrix

    return {
        "digits": (lambda: np.asarray(load_digits().data, dtype=np.float64), (10, 20, 30)),
        "breast_cancer (std.)": (_standardised(load_breast_cancer), (5, 10, 20)),
        "wine (std.)": (_standardised(load_wine), (3, 5, 8)),
        "low rank 2000 x 100": (
            lambda: make_low_rank_matrix(
                n_samples=2000, n_features=100, effective_rank=10, random_state=0
            ),
            (5, 10, 20),
        ),
        "gaussian 10^4 x 100": (
            lambda: load_data("gaussian:n=10000,d=100,seed=0").X,
            (20, 50, 80),
        ),
    }


def machine() -> str:
    """One line describing the machine and the load."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, numpy {np.__version__}, "
        f"Python {platform.python_version()}, derand {__version__}"
    )


def load() -> str:
    """The 1-minute load average."""
    return f"{os.getloadavg()[0]:.1f}"


def num(value: float) -> str:
    """Four decimals, or scientific notation below 1e-3."""
    return f"{value:.4f}" if value >= 1e-3 else f"{value:.1e}"


def fit(est: Any, X: np.ndarray) -> tuple[Any, float]:
    """(fitted estimator, seconds)."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    return est, time.perf_counter() - start


def warm_up() -> None:
    """Load the compiled kernels (numba's cache) before anything is timed."""
    fit(DerandomizedJL(3, n_iter=20), np.random.default_rng(0).normal(size=(40, 6)))
    fit(BestOfGaussianJL(3, n_draws=2), np.random.default_rng(0).normal(size=(40, 6)))


def suite(draws: int) -> None:
    """The main table: in-sample and out-of-sample for every data set and k."""
    print(
        "| data | n | d | k | ours | PCA | best Gaussian | sparse (drawn / rescaled) "
        "| ours / PCA | ours / Gaussian | fit s: ours / PCA / Gaussian / sparse "
        "| held-out: ours / PCA / Gaussian | cross: ours / PCA / Gaussian | load |"
    )
    print("|---" * 14 + "|")
    for name, (loader, ks) in _datasets().items():
        X = loader()
        train, test = split_holdout(X, 0.3, seed=0)
        for k in ks:
            ours, t_o = fit(DerandomizedJL(k), X)
            pca, t_p = fit(PCAJL(k), X)
            best, t_b = fit(BestOfGaussianJL(k, n_draws=draws, rescale=True, random_state=0), X)
            sparse, t_s = fit(SparseJL(k, random_state=0), X)
            held = {}
            for label, est in (
                ("ours", DerandomizedJL(k)),
                ("pca", PCAJL(k)),
                ("gauss", BestOfGaussianJL(k, n_draws=draws, rescale=True, random_state=0)),
            ):
                fitted, _ = fit(est, train)
                held[label] = holdout_distortion(fitted.components_, train, test)
            o, p, g = ours.max_distortion_, pca.max_distortion_, best.max_distortion_
            print(
                f"| {name} | {X.shape[0]} | {X.shape[1]} | {k} | **{num(o)}** | {num(p)} "
                f"| {num(g)} | {num(sparse.max_distortion_)} / "
                f"{num(sparse.rescaled_max_distortion_)} | {o / p:.2f} | {o / g:.2f} "
                f"| {t_o:.1f} / {t_p:.1f} / {t_b:.1f} / {t_s:.1f} "
                f"| {' / '.join(num(held[m].test.max_distortion) for m in held)} "
                f"| {' / '.join(num(held[m].cross.max_distortion) for m in held)} | {load()} |",
                flush=True,
            )


def ablation() -> None:
    """sigma modes (in sample) and options for generalisation (held out), small data sets."""
    cases = [
        ("digits", 20),
        ("breast_cancer (std.)", 10),
        ("wine (std.)", 5),
        ("low rank 2000 x 100", 10),
    ]
    data = _datasets()
    print("sigma: how sigma reaches 0 (certified max distortion, fit seconds)\n")
    print("| data | k | objective (trained) | schedule | none (sigma = 0) | load |")
    print("|---|---|---|---|---|---|")
    for name, k in cases:
        X = data[name][0]()
        cells = []
        for mode in ("objective", "schedule", "none"):
            est, seconds = fit(DerandomizedJL(k, sigma=mode), X)
            cells.append(f"{num(est.max_distortion_)} ({seconds:.1f} s)")
        print(f"| {name} | {k} | {' | '.join(cells)} | {load()} |", flush=True)
    print(
        "\ngeneralisation: fitted on 70 %; train / held-out / cross max distortion "
        "(and stretch bound)\n"
    )
    variants: list[tuple[str, dict[str, Any]]] = [
        ("default", {}),
        ("tau_final = 0.03", {"tau_final": 0.03}),
        ("cap_gain", {"cap_gain": True}),
        ("cap_gain, tau_final = 0.03", {"cap_gain": True, "tau_final": 0.03}),
    ]
    print("| data | k | " + " | ".join(v for v, _ in variants) + " | PCA | load |")
    print("|---" * (len(variants) + 4) + "|")
    for name, k in cases:
        X = data[name][0]()
        train, test = split_holdout(X, 0.3, seed=0)
        cells = []
        for _, options in variants:
            est, _ = fit(DerandomizedJL(k, **options), train)
            cells.append(_held_cell(est, train, test))
        pca, _ = fit(PCAJL(k), train)
        cells.append(_held_cell(pca, train, test))
        print(f"| {name} | {k} | {' | '.join(cells)} | {load()} |", flush=True)


def _held_cell(est: Any, train: np.ndarray, test: np.ndarray) -> str:
    rep = holdout_distortion(est.components_, train, test)
    return (
        f"{num(rep.train.max_distortion)} / {num(rep.test.max_distortion)} / "
        f"{num(rep.cross.max_distortion)} ({num(est.stretch_bound_)})"
    )


def scale(ray_n: int, workers: int) -> None:
    """n = 10^5 fit + certificate; Ray certificate vs local at ray_n; the 10^6 estimate."""
    from derand.jl import pairwise_distortion
    from derand.jl.distributed import estimate_seconds
    from derand.jl.pairs import PairData, Projected, certify_tiles, plan_tiles

    X = load_data("gaussian:n=100000,d=100,seed=0").X
    cpu = time.process_time()
    ours, seconds = fit(DerandomizedJL(20), X)
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"n = 100000, d = 100, k = 20 (5.0e9 pairs): max distortion {num(ours.max_distortion_)}"
        f" (exact), fit {ours.optimise_seconds_:.0f} s + certificate "
        f"{ours.certify_seconds_:.0f} s = {seconds:.0f} s wall, {cpu:.0f} CPU-s, "
        f"{len(ours.history_['tau']) + 1} exact passes + the certificate "
        f"({ours.history_['stopped']}), peak resident memory {peak:.2f} GiB, load {load()}",
        flush=True,
    )
    pca, t_p = fit(PCAJL(20), X)
    print(f"  PCA: {num(pca.max_distortion_)} in {t_p:.0f} s", flush=True)

    Xr = X[:ray_n]
    P = ours.components_
    t0 = time.perf_counter()
    cpu = time.process_time()
    local = pairwise_distortion(Xr, P, workers=workers)
    t_local = time.perf_counter() - t0
    cpu = time.process_time() - cpu
    t0 = time.perf_counter()
    remote = pairwise_distortion(Xr, P, workers=workers, backend="ray")
    t_ray = time.perf_counter() - t0
    same = all(
        getattr(local, f).hex() == getattr(remote, f).hex()
        for f in ("max_distortion", "mean_distortion", "min_signed", "max_signed")
    ) and (local.quantiles, local.worst) == (remote.quantiles, remote.worst)
    print(
        f"certificate of n = {ray_n} ({local.pairs:.2e} pairs): local {t_local:.0f} s "
        f"({cpu:.0f} CPU-s), "
        f"Ray (local instance, {workers} CPUs, start-up included) {t_ray:.0f} s; "
        f"identical bit for bit: {same}; load {load()}",
        flush=True,
    )

    data = PairData.from_points(X)
    proj = Projected.from_projection(data, P)
    tiles = plan_tiles(data.n, 2048)[:6]
    t0 = time.process_time()
    certify_tiles(data, proj, tiles, n_worst=10, keep_values=False, workers=1)
    per_tile = (time.process_time() - t0) / len(tiles)  # CPU time: what a dedicated core takes
    for cores in (2, 64, 512):
        est = estimate_seconds(per_tile, 1_000_000, 2048, cores)
        print(
            f"  n = 10^6 certificate on paper: {per_tile:.2f} CPU-s per 2048 x 2048 tile x "
            f"{489 * 490 // 2} tiles / {cores} cores = {est / 60:.0f} min",
            flush=True,
        )


def mixture_scale(n: int, numax_points: int, seed: int = 0) -> None:
    """The Gaussian mixture (20 centres in R^100, k = 20) at n points: derand (fit +
    certificate), PCA (its two exact passes), and NuMax-k fitted on ``numax_points`` random
    points (0: skipped), each map certified over all pairs; CPU seconds of this process
    (pin it to one core: ``taskset -c 1``) and the peak resident memory after each."""
    from derand.jl import NuMaxJL, pairwise_distortion

    X = gaussian_mixture(n, seed=seed)
    k = 20
    print(f"Gaussian mixture n = {n}, d = 100, k = {k}, seed {seed}; load {load()}", flush=True)
    ours, cpu = cpu_fit(DerandomizedJL(k), X)
    h = ours.history_
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"  derand: {num(ours.max_distortion_)} (exact, all pairs), {cpu:.1f} CPU-s fit + "
        f"certificate, {len(h['certified_max_distortion'])} exact passes + the certificate "
        f"({h['stopped']}), passes {[round(v, 4) for v in h['certified_max_distortion']]}, "
        f"peak RSS {peak:.2f} GiB, load {load()}",
        flush=True,
    )
    pca, cpu_p = cpu_fit(PCAJL(k), X)
    ratio = ours.max_distortion_ / pca.max_distortion_
    print(
        f"  PCA: {num(pca.max_distortion_)}, {cpu_p:.1f} CPU-s; derand / PCA {ratio:.3f}; "
        f"load {load()}",
        flush=True,
    )
    if numax_points:
        pick = np.sort(np.random.default_rng(1).permutation(n)[:numax_points])
        start = time.process_time()
        nu, _ = cpu_fit(NuMaxJL(k), X[pick])
        rep = pairwise_distortion(X, nu.components_, quantiles=(), n_worst=0)
        from derand.jl.distortion import best_rescaling

        value = best_rescaling(rep.min_signed, rep.max_signed)[1]
        print(
            f"  NuMax-k on {numax_points} random points: {num(value)} over all pairs "
            f"(rescaled; {num(nu.max_distortion_)} on its sample), "
            f"{time.process_time() - start:.1f} CPU-s; load {load()}",
            flush=True,
        )


def quick() -> None:
    """digits k = 20 against PCA, and the authors' setting."""
    X = load_data("digits").X
    pca, t_p = fit(PCAJL(20), X)
    ours, t_o = fit(DerandomizedJL(20), X)
    print(
        f"digits k = 20: ours {num(ours.max_distortion_)} in {t_o:.2f} s "
        f"({ours.max_distortion_ / pca.max_distortion_:.3f} x PCA); PCA {num(pca.max_distortion_)}"
        f" in {t_p:.2f} s; load {load()}"
    )
    U = load_data("uniform:n=100,d=500,seed=42").X
    ours, t_o = fit(DerandomizedJL(30, objective="norms"), U)
    print(f"authors' setting (norms, k = 30): {num(ours.max_distortion_)} in {t_o:.2f} s")


def gaussian_mixture(n: int, d: int = 100, centres: int = 20, seed: int = 0) -> np.ndarray:
    """``centres`` Gaussian clusters in R^d: centres N(0, I), points centre + N(0, 0.25 I)."""
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(centres, d))
    return np.asarray(C[rng.integers(0, centres, size=n)] + 0.5 * rng.normal(size=(n, d)))


def swiss_roll(n: int, d: int = 30, seed: int = 0) -> np.ndarray:
    """scikit-learn's Swiss roll in R^3, rotated at random into R^d, plus N(0, 0.05^2 I)."""
    from scipy.stats import special_ortho_group
    from sklearn.datasets import make_swiss_roll

    rng = np.random.default_rng(seed)
    X3, _ = make_swiss_roll(n_samples=n, noise=0.0, random_state=seed)
    Q = special_ortho_group.rvs(d, random_state=seed)[:, :3]
    return np.asarray(X3 @ Q.T + 0.05 * rng.normal(size=(n, d)))


def image_patches(n: int, side: int = 8, seed: int = 0) -> np.ndarray:
    """``n`` random grey ``side`` x ``side`` patches of scikit-learn's shipped china.jpg."""
    from sklearn.datasets import load_sample_image

    grey = load_sample_image("china.jpg").mean(axis=2) / 255.0
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, grey.shape[0] - side, size=n)
    cols = rng.integers(0, grey.shape[1] - side, size=n)
    return np.stack(
        [grey[r : r + side, c : c + side].ravel() for r, c in zip(rows, cols, strict=True)]
    )


def _heldout_sets(n_max: int) -> list[tuple[str, Loader, tuple[int, ...]]]:
    """Data that ship inside installed wheels (scikit-learn's CSVs and sample images), and
    synthetic manifolds / mixtures; at most ``n_max`` points each (a fixed random subset)."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

    def cap(loader: Loader) -> Loader:
        def load() -> np.ndarray:
            X = loader()
            if X.shape[0] <= n_max:
                return X
            pick = np.sort(np.random.default_rng(0).permutation(X.shape[0])[:n_max])
            return np.asarray(X[pick])

        return load

    return [
        ("digits", cap(lambda: np.asarray(load_data("digits").X)), (10, 20)),
        ("breast_cancer (std.)", cap(_standardised(load_breast_cancer)), (5, 10)),
        ("wine (std.)", cap(_standardised(load_wine)), (5,)),
        ("diabetes (std.)", cap(_standardised(load_diabetes)), (4,)),
        ("china.jpg 8x8 patches", cap(lambda: image_patches(n_max)), (10,)),
        ("swiss roll in R^30", cap(lambda: swiss_roll(n_max)), (5,)),
        ("Gaussian mixture (20 in R^100)", cap(lambda: gaussian_mixture(n_max)), (20,)),
    ]


def cpu_fit(est: Any, X: np.ndarray) -> tuple[Any, float]:
    """(fitted estimator, CPU seconds of this process during ``fit``)."""
    start = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    return est, time.process_time() - start


def heldout(n_max: int, draws: int, bisections: int, split_seed: int = 0) -> None:
    """Held-out suite: fitted on 70 %, exact train / held-out / cross maxima, CPU seconds;
    then per method the median ratio to PCA and the rows at or below PCA."""
    from derand.jl import NuMaxJL

    methods: list[tuple[str, Callable[[int], Any]]] = [
        ("derand", lambda k: DerandomizedJL(k)),
        ("derand (FAST_FIT)", lambda k: DerandomizedJL(k, **FAST_FIT)),
        (
            "derand (early stop, cap x3)",
            lambda k: DerandomizedJL(
                k, early_stopping=True, cap_gain=True, stretch_slack=3.0, random_state=0
            ),
        ),
        (
            "derand (early stop, neighbour z 2)",
            lambda k: DerandomizedJL(k, early_stopping=True, neighbour_z=2.0, random_state=0),
        ),
        ("PCA", lambda k: PCAJL(k)),
        (
            f"best of {draws} Gaussian",
            lambda k: BestOfGaussianJL(k, n_draws=draws, rescale=True, random_state=0),
        ),
        ("NuMax-k", lambda k: NuMaxJL(k, bisections=bisections)),
    ]
    print(
        "| data | n train / held out | d | k | method | train max | held-out max | cross max "
        "| stretch bound | fit CPU-s | load |"
    )
    print("|---" * 11 + "|")
    rows: dict[str, list[tuple[float, float, float, float]]] = {label: [] for label, _ in methods}
    for name, loader, ks in _heldout_sets(n_max):
        X = loader()
        train, test = split_holdout(X, 0.3, seed=split_seed)
        for k in ks:
            for label, make in methods:
                est, cpu = cpu_fit(make(k), train)
                rep = holdout_distortion(est.components_, train, test)
                rows[label].append(
                    (
                        rep.train.max_distortion,
                        rep.test.max_distortion,
                        rep.cross.max_distortion,
                        cpu,
                    )
                )
                print(
                    f"| {name} | {train.shape[0]} / {test.shape[0]} | {X.shape[1]} | {k} "
                    f"| {label} | {num(rep.train.max_distortion)} | {num(rep.test.max_distortion)} "
                    f"| {num(rep.cross.max_distortion)} | {num(est.stretch_bound_)} | {cpu:.1f} "
                    f"| {load()} |",
                    flush=True,
                )
    _heldout_summary(rows, len(rows["PCA"]))


def _heldout_summary(rows: dict[str, list[tuple[float, float, float, float]]], n: int) -> None:
    """Median ratio to PCA (train, held-out, cross), rows <= PCA, CPU-s against PCA's."""
    pca = np.array(rows["PCA"])
    print(
        f"\n| method | train / PCA | held-out / PCA | cross / PCA | fit CPU-s (median) "
        f"| CPU / PCA's (sum) | split seed rows: {n} |"
    )
    print("|---" * 7 + "|")
    for label, values in rows.items():
        v = np.array(values)
        cells = []
        for col in range(3):
            ratio = v[:, col] / pca[:, col]
            at_most = int(np.sum(v[:, col] <= pca[:, col] * (1 + 1e-12)))
            cells.append(f"{np.median(ratio):.3f}, {at_most} / {n}")
        cpu = float(np.sum(v[:, 3]) / max(float(np.sum(pca[:, 3])), 1e-9))
        print(f"| {label} | {' | '.join(cells)} | {np.median(v[:, 3]):.2f} | {cpu:.1f} | |")


def cost(split_seeds: tuple[int, ...] = (0, 1)) -> None:
    """Fit CPU seconds against PCA's (its two exact passes included) on the n <= 2000 data
    sets of the suite, for the previous default (fixed 60-iteration rounds over 30000
    pairs), the default and :data:`~derand.jl.FAST_FIT`: in sample on all points, then
    fitted on 70 % (each split seed) with the held-out and cross maxima."""
    previous = {"active_size": 30000, "scan_size": 3000, "tol": None, "min_inner_iter": None}
    variants: list[tuple[str, dict[str, Any]]] = [
        ("previous default", previous),
        ("default", {}),
        ("FAST_FIT", FAST_FIT),
    ]
    small = [(n, v) for n, v in _datasets().items() if not n.startswith("gaussian 10^4")]
    print(
        "| data | n | k | PCA max | PCA CPU-s | "
        + " | ".join(f"{v}: max / PCA, CPU-s, CPU / PCA" for v, _ in variants)
        + " | load |"
    )
    print("|---" * (6 + len(variants)) + "|")
    ratios: dict[str, list[tuple[float, float]]] = {v: [] for v, _ in variants}
    for name, (loader, ks) in small:
        X = loader()
        for k in ks:
            cpu_fit(PCAJL(k), X)  # warm caches so that PCA is not charged for them
            pca, t_p = cpu_fit(PCAJL(k), X)
            cells = []
            for label, options in variants:
                est, t = cpu_fit(DerandomizedJL(k, **options), X)
                q = est.max_distortion_ / pca.max_distortion_
                ratios[label].append((q, t / t_p))
                cells.append(f"{q:.3f}, {t:.2f}, {t / t_p:.1f}x")
            print(
                f"| {name} | {X.shape[0]} | {k} | {num(pca.max_distortion_)} | {t_p:.3f} "
                f"| {' | '.join(cells)} | {load()} |",
                flush=True,
            )
    print("\n| variant | in-sample max / PCA (median, max) | CPU / PCA (median, range) |")
    print("|---|---|---|")
    for label, values in ratios.items():
        v = np.array(values)
        print(
            f"| {label} | {np.median(v[:, 0]):.3f}, {v[:, 0].max():.3f} "
            f"| {np.median(v[:, 1]):.1f}x, {v[:, 1].min():.1f}-{v[:, 1].max():.1f}x |"
        )
    print("\nfitted on 70 %: train / held-out / cross max, each over PCA's (medians over rows)\n")
    held: dict[str, list[tuple[float, float, float]]] = {v: [] for v, _ in variants}
    for _name, (loader, ks) in small:
        X = loader()
        for seed in split_seeds:
            train, test = split_holdout(X, 0.3, seed=seed)
            for k in ks:
                pca, _ = cpu_fit(PCAJL(k), train)
                base = holdout_distortion(pca.components_, train, test)
                for label, options in variants:
                    est, _ = cpu_fit(DerandomizedJL(k, **options), train)
                    rep = holdout_distortion(est.components_, train, test)
                    held[label].append(
                        (
                            rep.train.max_distortion / base.train.max_distortion,
                            rep.test.max_distortion / base.test.max_distortion,
                            rep.cross.max_distortion / base.cross.max_distortion,
                        )
                    )
    rows = len(next(iter(held.values())))
    print(
        f"| variant | train / PCA | held-out / PCA | cross / PCA | held-out <= PCA ({rows} rows) |"
    )
    print("|---|---|---|---|---|")
    for label, triples in held.items():
        v = np.array(triples)
        print(
            f"| {label} | {np.median(v[:, 0]):.3f} | {np.median(v[:, 1]):.3f} "
            f"| {np.median(v[:, 2]):.3f} | {int(np.sum(v[:, 1] <= 1.0 + 1e-12))} |"
        )
    print(f"\nload at end {load()}")


def main() -> None:
    """Run the chosen parts."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suite", action="store_true", help="the README table")
    parser.add_argument("--ablation", action="store_true", help="sigma modes, soft maximum")
    parser.add_argument("--scale", action="store_true", help="n = 10^5, Ray, 10^6 estimate")
    parser.add_argument("--quick", action="store_true", help="digits k = 20 and the authors'")
    parser.add_argument(
        "--heldout", action="store_true", help="held-out suite with NuMax (train/held-out/cross)"
    )
    parser.add_argument(
        "--cost", action="store_true", help="fit CPU against PCA's at n <= 2000 (FAST_FIT)"
    )
    parser.add_argument(
        "--mixture", type=int, default=0, help="Gaussian mixture at this n: derand, PCA, NuMax"
    )
    parser.add_argument(
        "--numax-points", type=int, default=2000, help="NuMax's sample for --mixture (0: none)"
    )
    parser.add_argument("--n-max", type=int, default=1000, help="points per held-out data set")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the 70/30 split")
    parser.add_argument("--bisections", type=int, default=6, help="NuMax solves per fit")
    parser.add_argument("--draws", type=int, default=100, help="Gaussian draws (best of N)")
    parser.add_argument("--ray-n", type=int, default=50_000, help="points for the Ray check")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="CPUs")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average at start {load()}\n")
    warm_up()
    chosen = args.suite or args.ablation or args.scale or args.heldout or args.cost
    if args.quick or not (chosen or args.mixture):
        quick()
    if args.mixture:
        mixture_scale(args.mixture, args.numax_points)
    if args.cost:
        cost()
    if args.heldout:
        heldout(args.n_max, args.draws, args.bisections, args.split_seed)
    if args.suite:
        suite(args.draws)
    if args.ablation:
        ablation()
    if args.scale:
        scale(args.ray_n, args.workers)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\npeak resident memory of the whole run: {peak:.2f} GiB; load at end {load()}")


if __name__ == "__main__":
    main()
