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
distinct training points (a certificate for those points; nothing is claimed for new points).

DATA is 'digits' (scikit-learn's), a .npy/.npz/.csv file, or a generator spec:
'uniform:n=100,d=500,seed=42' (uniform entries, unit rows: the authors' data) or
'gaussian:n=1000,d=300,seed=0'.

examples:
  derand jl digits --k 20 --baselines
  derand jl uniform:n=100,d=500,seed=42 --k 30 --objective norms
  derand jl data.csv --k 10 --method best-of-100 --json results/jl.json
  derand jl digits --k 20 --plot results
"""


def method_type(text: str) -> str:
    """argparse type: a method name, with ``best-of-N`` written as e.g. ``best-of-100``."""
    try:
        parse_method(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``jl`` command."""
    parser = subparsers.add_parser(
        "jl",
        help="derandomized Johnson-Lindenstrauss embedding with an exact certificate",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("data", metavar="DATA", help="digits, a .npy/.npz/.csv path, or a spec")
    parser.add_argument("--k", type=positive_int, required=True, help="target dimension")
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
    parser.add_argument("--iters", type=positive_int, default=1500, help="optimisation steps")
    parser.add_argument(
        "--draws",
        type=positive_int,
        default=100,
        help="Gaussian draws for the best-of baseline and the figure's reference lines",
    )
    add_common_options(parser)
    parser.set_defaults(func=run)


def make_estimator(method: str, args: argparse.Namespace) -> Any:
    """The transformer for ``method`` with the run's k, objective, seed and device."""
    return make_embedding(
        method,
        args.k,
        objective=args.objective,
        random_state=args.seed,
        device=args.device,
        n_draws=args.draws,
        **({"n_iter": args.iters} if method == "derandomized" else {}),
    )


def summary(est: Any, seconds: float) -> dict[str, Any]:
    """The numbers reported for one fitted embedding."""
    rep = est.distortion_
    return {
        "max_distortion": rep.max_distortion,
        "mean_distortion": rep.mean_distortion,
        "min_signed": rep.min_signed,
        "max_signed": rep.max_signed,
        "quantiles": rep.quantiles,
        "quantiles_exact": rep.quantiles_exact,
        "pairs": rep.pairs,
        "seconds": seconds,
    }


def _fit(est: Any, X: Any, args: argparse.Namespace, desc: str) -> tuple[Any, float, list[str]]:
    start = time.perf_counter()
    total = int(getattr(est, "n_iter", getattr(est, "n_draws", 1)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with progress(args, total, desc) as callback:
            est.fit(X, callback=callback)
    notes = sorted({str(w.message) for w in caught if issubclass(w.category, UserWarning)})
    return est, time.perf_counter() - start, notes


def run(args: argparse.Namespace) -> int:
    """Load DATA, fit the chosen embedding (and baselines), print, write JSON and figures."""
    from derand.device import resolve_device
    from derand.jl import BestOfGaussianJL, load_data

    resolve_device(args.device)
    data = load_data(args.data)
    X = data.X
    n_raw, d = X.shape
    if args.k >= d:
        raise InputError(f"--k {args.k} must be smaller than the data's dimension d = {d}")
    est, seconds, notes = _fit(make_estimator(args.method, args), X, args, args.method)
    for note in notes:
        say(args, f"note: {note}")
    result: dict[str, Any] = {
        "data": data.name,
        "n": est.distortion_.n,
        "n_input": n_raw,
        "d": d,
        "k": args.k,
        "method": args.method,
        "objective": args.objective,
        **summary(est, seconds),
        "duplicates_dropped": n_raw - est.distortion_.n,
        "worst": est.distortion_.worst,
    }
    interrupted = bool(getattr(est, "interrupted_", False))
    if args.method == "derandomized":
        result["history"] = est.history_
        result["interrupted"] = interrupted
        result["final_sigma"] = est.sigma_
    if args.baselines and not interrupted:
        baselines: dict[str, Any] = {}
        for method in ("gaussian", "sparse", "pca", f"best-of-{args.draws}", "derandomized"):
            if method == args.method:
                continue
            b_est, b_seconds, _ = _fit(make_estimator(method, args), X, args, method)
            baselines[method] = summary(b_est, b_seconds)
        result["baselines"] = baselines
    draws: list[float] = []
    if args.plot is not None and args.method == "derandomized":
        ref = BestOfGaussianJL(
            args.k, n_draws=args.draws, objective=args.objective, random_state=args.seed + 1
        )
        ref, _, _ = _fit(ref, X, args, "gaussian draws")
        draws = ref.draw_distortions_.tolist()
    parameters = {
        "data": args.data,
        "k": args.k,
        "method": args.method,
        "objective": args.objective,
        "iters": args.iters,
        "draws": args.draws,
        "device": args.device,
    }
    document = envelope("jl", args, parameters, result)

    def figures() -> dict[str, object]:
        if args.method != "derandomized":
            return {}
        from derand.figures.jl import plot_jl

        return plot_jl(est.history_, draws, title=f"{data.name}, k = {args.k}")

    for path in save_outputs(args, document, figures):
        say(args, f"wrote {path}")
    what = "pairs" if args.objective == "pairs" else "norms"
    say(
        args,
        f"{args.method}: n = {result['n']}, d = {d}, k = {args.k}, {result['pairs']} {what}: "
        f"max distortion {result['max_distortion']:.4f} (exact), "
        f"mean {result['mean_distortion']:.4f}, {seconds:.2f} s",
    )
    for name, b in result.get("baselines", {}).items():
        say(
            args,
            f"  {name:>14}: max distortion {b['max_distortion']:.4f}, "
            f"mean {b['mean_distortion']:.4f}, {b['seconds']:.2f} s",
        )
    if interrupted:
        say(args, "interrupted: kept the best M so far (certified above)")
        return EXIT_INTERRUPTED
    return 0
