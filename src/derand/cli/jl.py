"""``derand jl``: derandomized Johnson–Lindenstrauss embeddings (paper §5.2, Figures 6, 7)."""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

from derand.cli.common import (
    EXIT_INTERRUPTED,
    HelpFormatter,
    add_common_options,
    envelope,
    positive_int,
    progress,
    save_outputs,
    say,
)
from derand.errors import InputError
from derand.jl.methods import METHODS, make_embedding, parse_method

DESCRIPTION = """\
Embed DATA into --k dimensions with a derandomized JL projection: optimise P = M + sigma G/sqrt(k)
until sigma ~ 0, keep M (paper §5.2). The reported max distortion is exact over all pairs of
distinct training points (a certificate for those points; nothing is claimed for new points:
--holdout measures them).

DATA is 'digits' (scikit-learn's), a .npy/.npz/.csv file, or a generator spec:
'uniform:n=100,d=500,seed=42' (uniform entries, unit rows: the authors' data) or
'gaussian:n=1000,d=300,seed=0'.

examples:
  derand jl digits --k 20 --baselines
  derand jl examples/jl_points.csv --k 5 --baselines --holdout 0.3
  derand jl uniform:n=100,d=500,seed=42 --k 30 --objective norms
  derand jl examples/jl_points.csv --k 5 --method best-of-100 --json results/jl.json
  derand jl gaussian:n=50000,d=100,seed=0 --k 20 --backend ray
  derand jl digits --k 20 --plot results
"""


def method_type(text: str) -> str:
    """argparse type: a method name, with ``best-of-N`` written as e.g. ``best-of-100``."""
    try:
        parse_method(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def k_type(text: str) -> int | str:
    """argparse type: an integer >= 1 or ``auto``."""
    if text == "auto":
        return text
    return positive_int(text)


def fraction_type(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1), got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``jl`` command."""
    parser = subparsers.add_parser(
        "jl",
        help="derandomized Johnson-Lindenstrauss embedding with an exact certificate",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("data", metavar="DATA", help="digits, a .npy/.npz/.csv path, or a spec")
    parser.add_argument(
        "--k",
        type=k_type,
        required=True,
        help="target dimension, or 'auto' (the JL bound for n points at distortion --eps)",
    )
    parser.add_argument("--eps", type=float, default=0.1, help="distortion for --k auto")
    parser.add_argument(
        "--method",
        type=method_type,
        default="derandomized",
        metavar="{" + ",".join(METHODS) + "}",
        help="embedding to compute",
    )
    parser.add_argument(
        "--baselines", action="store_true", help="also run every baseline and compare"
    )
    parser.add_argument(
        "--objective",
        choices=("pairs", "norms"),
        default="pairs",
        help="pairs: all pairwise differences (JL); norms: the points' own norms (authors')",
    )
    parser.add_argument(
        "--sigma",
        choices=("objective", "schedule", "none"),
        default="objective",
        help="how sigma -> 0: trained on the exact expectation (the paper's mechanism), "
        "a fixed geometric schedule, or sigma = 0",
    )
    parser.add_argument(
        "--iters", type=positive_int, default=3000, help="budget of optimisation steps (L-BFGS)"
    )
    parser.add_argument(
        "--tau-final",
        type=float,
        default=None,
        help="final temperature of the smooth max, relative to the distortion "
        "(larger: a softer maximum; default 0.001, 0.003 with --fast)",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="the settings of derand.jl.FAST_FIT: about 5x less CPU time, a certified max "
        "0-9 %% above the default's (README); explicit options override them",
    )
    parser.add_argument(
        "--tol",
        type=float,
        default=None,
        help="also stop once the certified max gains less than this fraction in the last "
        "rounds (0.01 with --fast)",
    )
    parser.add_argument(
        "--cap-gain",
        action="store_true",
        help="also bound ||M||_op^2 in the maximum: unseen pairs cannot be stretched much "
        "more than the training pairs",
    )
    parser.add_argument(
        "--stretch-slack",
        type=float,
        default=1.0,
        help="with --cap-gain: hold ||M||_op^2 - 1 near this many times the max distortion",
    )
    parser.add_argument(
        "--neighbour-z",
        type=float,
        default=None,
        metavar="Z",
        help="also bound the predicted extremes (mean +- Z sd) of the ratios of new near pairs "
        "(a Gaussian model of the nearest-neighbour directions): less overfitting to the "
        "training pairs",
    )
    parser.add_argument(
        "--early-stopping",
        action="store_true",
        help="hold out --validation-fraction of the points and return the round with the "
        "best exact max over the pairs they add",
    )
    parser.add_argument(
        "--validation-fraction",
        type=fraction_type,
        default=0.1,
        metavar="FRACTION",
        help="share of the points held out by --early-stopping",
    )
    parser.add_argument(
        "--active-size",
        type=positive_int,
        default=None,
        help="most pairs in the optimiser's active set (memory ~ active size x (d + k); "
        "default 30000, 4000 with --fast)",
    )
    parser.add_argument(
        "--draws",
        type=positive_int,
        default=100,
        help="Gaussian draws for the best-of baseline and the figure's reference lines",
    )
    parser.add_argument(
        "--holdout",
        type=fraction_type,
        metavar="FRACTION",
        help="fit on the rest, then measure held-out and train x held-out pairs exactly",
    )
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="where the certificate's tiles run (identical results)",
    )
    parser.add_argument("--address", help="an existing Ray cluster (with --backend ray)")
    parser.add_argument(
        "--workers",
        type=positive_int,
        help="threads for the exact passes (CPUs of a local Ray instance); None: all",
    )
    add_common_options(parser, device=False, threads=False)
    parser.set_defaults(func=run)


def make_estimator(method: str, args: argparse.Namespace, *, rescale: bool = False) -> Any:
    """The transformer for ``method`` with the run's k, objective, seed and backend."""
    options: dict[str, Any] = {}
    if parse_method(method)[0] == "derandomized":
        from derand.jl.estimator import FAST_FIT

        options = dict(FAST_FIT) if args.fast else {}
        explicit = {"tau_final": args.tau_final, "active_size": args.active_size, "tol": args.tol}
        options.update({key: value for key, value in explicit.items() if value is not None})
        options.update(
            {
                "n_iter": args.iters,
                "sigma": args.sigma,
                "cap_gain": args.cap_gain,
                "stretch_slack": args.stretch_slack,
                "neighbour_z": args.neighbour_z,
                "early_stopping": args.early_stopping,
                "validation_fraction": args.validation_fraction,
            }
        )
    return make_embedding(
        method,
        args.k,
        eps=args.eps,
        objective=args.objective,
        random_state=args.seed,
        n_draws=args.draws,
        rescale=rescale,
        n_jobs=args.workers,
        backend=args.backend,
        address=args.address,
        **options,
    )


def summary(est: Any, seconds: float) -> dict[str, Any]:
    """The numbers reported for one fitted embedding."""
    rep = est.distortion_
    out = {
        "max_distortion": rep.max_distortion,
        "rescaled_max_distortion": est.rescaled_max_distortion_,
        "mean_distortion": rep.mean_distortion,
        "min_signed": rep.min_signed,
        "max_signed": rep.max_signed,
        "quantiles": rep.quantiles,
        "quantiles_exact": rep.quantiles_exact,
        "pairs": rep.pairs,
        "seconds": seconds,
    }
    for name in ("optimise_seconds_", "certify_seconds_"):
        if hasattr(est, name):
            out[name.rstrip("_")] = getattr(est, name)
    return out


def _fit(est: Any, X: Any, args: argparse.Namespace, desc: str) -> tuple[Any, float, list[str]]:
    start = time.perf_counter()
    total = int(getattr(est, "n_iter", getattr(est, "n_draws", 1)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with progress(args, total, desc) as callback:
            est.fit(X, callback=callback)
    notes = sorted({str(w.message) for w in caught if issubclass(w.category, UserWarning)})
    return est, time.perf_counter() - start, notes


def _holdout(est: Any, train: Any, test: Any, args: argparse.Namespace) -> dict[str, float]:
    from derand.jl.holdout import holdout_distortion

    return holdout_distortion(est.components_, train, test, workers=args.workers).summary()


def run(args: argparse.Namespace) -> int:
    """Load DATA, fit the chosen embedding (and baselines), print, write JSON and figures."""
    from derand.jl import load_data
    from derand.jl.holdout import split_holdout
    from derand.jl.methods import MAX_DRAWS
    from derand.limits import check_count, check_finite, check_seed

    check_seed(args.seed, "--seed")
    check_count(args.draws, "--draws", high=MAX_DRAWS)
    check_count(args.iters, "--iters", high=10_000_000)
    if args.tau_final is not None:
        check_finite(args.tau_final, "--tau-final", low=1e-12, high=0.1)
    if args.tol is not None:
        check_finite(args.tol, "--tol", low=0.0, high=1.0)
    if args.address is not None and args.backend != "ray":
        raise InputError("--address needs --backend ray")
    data = load_data(args.data)
    X = data.X
    n_raw, d = X.shape
    train, test = (X, None) if args.holdout is None else split_holdout(X, args.holdout, args.seed)
    est, seconds, notes = _fit(make_estimator(args.method, args), train, args, args.method)
    for note in notes:
        say(args, f"note: {note}")
    result: dict[str, Any] = {
        "data": data.name,
        "n": est.distortion_.n,
        "n_input": n_raw,
        "n_train": int(train.shape[0]),
        "d": d,
        "k": int(est.n_components_),
        "method": args.method,
        "objective": args.objective,
        **summary(est, seconds),
        "duplicates_dropped": int(train.shape[0]) - est.distortion_.n,
        "stretch_bound": est.stretch_bound_,
        "worst": est.distortion_.worst,
        "backend": args.backend,
    }
    interrupted = bool(getattr(est, "interrupted_", False))
    if parse_method(args.method)[0] == "derandomized":
        result["history"] = est.history_
        result["interrupted"] = interrupted
        result["final_sigma"] = est.sigma_
        result["sigma_mode"] = args.sigma
    if test is not None:
        result["holdout"] = {
            "fraction": args.holdout,
            "n_test": int(test.shape[0]),
            **_holdout(est, train, test, args),
        }
    fitted = {args.method: est}
    if args.baselines and not interrupted:
        baselines: dict[str, Any] = {}
        for method in ("gaussian", "sparse", "pca", f"best-of-{args.draws}", "derandomized"):
            if method == args.method:
                continue
            b_est, b_seconds, _ = _fit(make_estimator(method, args), train, args, method)
            fitted[method] = b_est
            baselines[method] = summary(b_est, b_seconds)
            if test is not None:
                baselines[method]["holdout"] = _holdout(b_est, train, test, args)
        result["baselines"] = baselines
    parameters = {
        "data": args.data,
        "k": args.k,
        "eps": args.eps,
        "method": args.method,
        "objective": args.objective,
        "sigma": args.sigma,
        "iters": args.iters,
        "tau_final": args.tau_final,
        "fast": args.fast,
        "tol": args.tol,
        "cap_gain": args.cap_gain,
        "active_size": args.active_size,
        "stretch_slack": args.stretch_slack,
        "neighbour_z": args.neighbour_z,
        "early_stopping": args.early_stopping,
        "validation_fraction": args.validation_fraction,
        "draws": args.draws,
        "holdout": args.holdout,
        "backend": args.backend,
        "workers": args.workers,
    }
    if hasattr(est, "fit_settings_"):
        parameters["fit_settings"] = est.fit_settings_
    document = envelope("jl", args, parameters, result)

    def figures() -> dict[str, object]:
        if parse_method(args.method)[0] != "derandomized" or "certified_iteration" not in (
            est.history_
        ):
            return {}
        from derand.figures.jl import plot_jl
        from derand.jl import PCAJL

        ref = fitted.get(f"best-of-{args.draws}")
        if ref is None:
            ref = make_estimator(f"best-of-{args.draws}", args).fit(train)
        pca = fitted.get("pca") or PCAJL(est.n_components_, objective=args.objective).fit(train)
        return plot_jl(
            est.history_,
            ref.draw_distortions_.tolist(),
            rescaled_best=float(ref.rescaled_max_distortion_),
            pca=float(pca.max_distortion_),
            title=f"{data.name}, k = {est.n_components_}",
        )

    for path in save_outputs(args, document, figures):
        say(args, f"wrote {path}")
    _print(args, result, d)
    if interrupted:
        say(args, "interrupted: kept the best M so far (certified above)")
        return EXIT_INTERRUPTED
    return 0


def _num(value: float) -> str:
    """Four decimals, or three significant digits below 1e-3."""
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3g}"


def _print(args: argparse.Namespace, result: dict[str, Any], d: int) -> None:
    what = "pairs" if args.objective == "pairs" else "norms"
    line = (
        f"{args.method}: n = {result['n']}, d = {d}, k = {result['k']}, {result['pairs']} {what}: "
        f"max distortion {_num(result['max_distortion'])} (exact)"
    )
    if abs(result["rescaled_max_distortion"] - result["max_distortion"]) > 1e-12:
        line += f", {_num(result['rescaled_max_distortion'])} with the best rescaling"
    say(args, f"{line}, mean {_num(result['mean_distortion'])}, {result['seconds']:.2f} s")
    if "holdout" in result:
        h = result["holdout"]
        say(
            args,
            f"  held out {h['n_test']} points: max distortion {_num(h['test_max'])} on their "
            f"{h['test_pairs']} pairs, {_num(h['cross_max'])} on the {h['cross_pairs']} "
            "train x held-out pairs (exact)",
        )
    if not result.get("baselines"):
        return
    header = f"  {'method':>14}  {'as drawn':>9}  {'rescaled':>9}  {'mean':>7}  {'seconds':>8}"
    if "holdout" in result:
        header += f"  {'held-out':>9}  {'cross':>7}"
    say(args, header)
    rows = {args.method: result, **result["baselines"]}
    for name, b in rows.items():
        row = (
            f"  {name:>14}  {_num(b['max_distortion']):>9}  "
            f"{_num(b['rescaled_max_distortion']):>9}  {_num(b['mean_distortion']):>7}  "
            f"{b['seconds']:8.2f}"
        )
        if "holdout" in b:
            h = b["holdout"]
            row += f"  {_num(h['test_max']):>9}  {_num(h['cross_max']):>7}"
        say(args, row)
