"""``derand maxcut``: derandomized Goemans-Williamson Max-Cut with a certified bound."""

from __future__ import annotations

import argparse

from derand.cli.common import (
    HelpFormatter,
    add_common_options,
    envelope,
    positive_int,
    progress,
    save_outputs,
    say,
)
from derand.errors import InputError

PAPER_OPTIMUM = 41.0  # the authors' instance; verified by the exact solver in the tests

DESCRIPTION = """\
Max-Cut: low-rank SDP (mixing method), a certified upper bound from the dual, then
hyperplane rounding -- by default the paper's derandomized rounding (closed-form E[cut],
exact gradients, sigma -> 0) -- and optional local search. GRAPH is a file (Gset/rudy
'n m' + 'i j w' 1-based, or an edge list 'u v [w]' 0-based), 'paper' (the authors'
15-node graph), or a generator: gnp:n=200,p=0.1,seed=1 | regular:n=100,d=3,seed=0 |
torus:rows=20,cols=20,seed=0 (gnp/regular take weights=one|pm1).

examples:
  derand maxcut paper --exact
  derand maxcut G1.txt --json results/g1.json --plot results
  derand maxcut gnp:n=300,p=0.05,seed=3 --rounding score
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``maxcut`` command."""
    parser = subparsers.add_parser(
        "maxcut",
        help="Max-Cut: derandomized Goemans-Williamson (Figures 4 and 5)",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("graph", metavar="GRAPH", help="file, 'paper', or generator spec")
    parser.add_argument(
        "--rounding",
        choices=("derandomized", "random", "best-of-N", "score"),
        default="derandomized",
        help="rounding of the SDP vectors",
    )
    parser.add_argument(
        "--samples", type=positive_int, default=1000, help="random hyperplanes (best-of-N)"
    )
    parser.add_argument(
        "--local-search",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="polish with 1-flip + tabu search (reported separately)",
    )
    parser.add_argument("--exact", action="store_true", help="exact optimum (n <= 26)")
    parser.add_argument("--rank", type=positive_int, help="SDP rank p (default ~sqrt(2n))")
    parser.add_argument(
        "--score-steps", type=positive_int, default=5000, help="steps of --rounding score"
    )
    parser.add_argument(
        "--tabu-moves", type=int, help="tabu search moves (0: 1-flip only; default ~10n)"
    )
    parser.add_argument(
        "--format",
        choices=("auto", "rudy", "edgelist"),
        default="auto",
        help="file format of GRAPH (auto: by suffix and content)",
    )
    parser.add_argument("--optimum", type=float, help="known optimum, drawn in the figure")
    add_common_options(parser, device=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the graph, solve, print a summary, write JSON and figures."""
    import dataclasses
    import warnings

    from derand.figures.maxcut import plot_maxcut
    from derand.maxcut.graph import load_graph
    from derand.maxcut.solve import solve_maxcut

    if args.tabu_moves is not None and args.tabu_moves < 0:
        raise InputError(f"--tabu-moves must be >= 0, got {args.tabu_moves}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = load_graph(args.graph, fmt=args.format)
    for w in caught:
        say(args, f"warning: {w.message}")
    with progress(args, 1, "maxcut") as update:

        def stage_cb(_stage: str, done: int, total: int) -> None:
            update(done, total)

        result = solve_maxcut(
            graph,
            rounding=args.rounding,
            samples=args.samples,
            local=args.local_search,
            exact=args.exact,
            seed=args.seed,
            rank=args.rank,
            score_steps=args.score_steps,
            tabu_moves=args.tabu_moves,
            callback=stage_cb,
        )
    parameters = {
        "graph": args.graph,
        "format": args.format,
        "rounding": args.rounding,
        "samples": args.samples,
        "local_search": args.local_search,
        "exact": args.exact,
        "rank": args.rank,
        "score_steps": args.score_steps,
        "tabu_moves": args.tabu_moves,
    }
    document = envelope("maxcut", args, parameters, dataclasses.asdict(result))
    optimum = args.optimum if args.optimum is not None else result.exact_cut
    if optimum is None and args.graph == "paper":
        optimum = PAPER_OPTIMUM
    for path in save_outputs(args, document, lambda: plot_maxcut(result, optimum)):
        say(args, f"wrote {path}")
    r = result
    say(args, f"graph {r.name}: n = {r.n}, m = {r.m}")
    say(
        args,
        f"SDP value {r.sdp_value:.4f} <= SDP <= certified bound {r.upper_bound:.4f} "
        f"(rank {r.sdp_rank}, {r.sdp_sweeps} sweeps)",
    )
    gw_line = f"GW expectation {r.gw_expected:.2f}"
    if r.gw_ratio_bound is not None:
        gw_line += f" (>= 0.878 x SDP = {r.gw_ratio_bound:.2f})"
    say(args, gw_line + f"; best of {r.random_samples} random hyperplanes {r.random_best:g}")
    check = "holds" if r.guarantee_holds else "VIOLATED"
    say(
        args,
        f"{r.rounding} cut {r.derandomized_cut:g} (>= GW expectation: {check})",
    )
    if r.local_search:
        say(args, f"after local search {r.final_cut:g}")
    if r.exact_cut is not None:
        say(args, f"exact optimum {r.exact_cut:g}")
    say(
        args,
        f"final cut {r.final_cut:g}, within {100 * r.optimality_gap:.3f}% of the bound "
        f"(guaranteed gap)",
    )
    s = r.seconds
    say(
        args,
        f"time: sdp {s['sdp']:.2f} s, rounding {s['rounding']:.2f} s, "
        f"local search {s['local_search']:.2f} s, total {s['total']:.2f} s",
    )
    return 0
