"""``derand maxcut``: derandomized Goemans-Williamson Max-Cut with a certified bound."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from derand.cli import clock_start
from derand.cli.common import (
    EXIT_INTERRUPTED,
    HelpFormatter,
    add_common_options,
    add_search_options,
    envelope,
    pipeline_bar,
    positive_int,
    save_outputs,
    say,
)
from derand.errors import InputError

if TYPE_CHECKING:
    from derand.maxcut.solve import MaxCutResult

PAPER_OPTIMUM = 41.0  # the authors' instance; verified by the exact solver in the tests

DESCRIPTION = """\
Max-Cut: low-rank SDP (mixing method), an upper bound proven by a sparse LDL^T of the dual
certificate, the paper's derandomized hyperplane rounding (closed-form E[cut], exact
gradients, sigma -> 0; its cut is at least the Goemans-Williamson expectation), then a
compiled local search (warm-started simulated annealing + Breakout Local Search) within a
time budget. Ctrl-C keeps the best cut so far with its bound, writes --json and exits 130.
GRAPH is a file (Gset/rudy 'n m' + 'i j w' 1-based, or an edge list 'u v [w]' 0-based),
'paper' (the authors' 15-node graph), gset:G1 .. gset:G81 (shipped with derand), or a
generator: gnp:n=200,p=0.1,seed=1 | regular:n=100,d=3,seed=0 | torus:rows=20,cols=20,seed=0
(each takes weights=one|pm1|uniform|normal).

examples:
  derand maxcut paper --exact
  derand maxcut gset:G1 --json results/g1.json --plot results
  derand maxcut gset:G81 --time-limit 120 --threads 2
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
    add_search_options(parser, "cut")
    parser.add_argument(
        "--exact", action="store_true", help="exact optimum (at most 26 nodes with edges)"
    )
    parser.add_argument(
        "--score-steps", type=positive_int, default=5000, help="steps of --rounding score"
    )
    parser.add_argument(
        "--format",
        choices=("auto", "rudy", "edgelist"),
        default="auto",
        help="file format of GRAPH (auto: by suffix and content)",
    )
    parser.add_argument(
        "--optimum",
        type=float,
        help="known optimum, drawn in the figure; refused when it is negative, above the "
        "total positive weight, below the cut found, above the proven bound or not the exact "
        "optimum (the last three after the run: then the JSON is written, no figure)",
    )
    add_common_options(parser, device=False, threads=False)
    parser.set_defaults(func=run)


def _num(x: float, decimals: int) -> str:
    """``x`` with ``decimals`` decimals, or in exponent form beyond 1e12 (huge weights)."""
    return f"{x:.{decimals}f}" if abs(x) < 1e12 else f"{x:.10g}"


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def check_optimum(optimum: float, positive: float, graph: str) -> None:
    """Refuse, before the run, an ``--optimum`` no graph of total positive weight
    ``positive`` can have: not finite, negative (the empty cut weighs 0) or above ``positive``.
    """
    if not math.isfinite(optimum):
        raise InputError(f"--optimum must be a finite number, got {optimum}")
    if optimum < 0 and not _close(optimum, 0.0):
        raise InputError(
            f"--optimum {optimum:g} is negative: the empty cut already weighs 0, so the "
            "maximum cut is at least 0"
        )
    if optimum > positive and not _close(optimum, positive):
        raise InputError(
            f"--optimum {optimum:g} is above {positive:g}, the total positive edge weight of "
            f"{graph}: no cut reaches it"
        )


def optimum_problem(optimum: float, r: MaxCutResult) -> str | None:
    """Why ``--optimum`` contradicts the run ``r`` (``None`` when it does not): below the cut
    found, above the proven bound, or not the exact optimum."""
    if r.exact_cut is not None and not _close(optimum, r.exact_cut):
        return f"--optimum {optimum:g} is not the exact optimum {r.exact_cut:g} of this graph"
    if optimum < r.final_cut and not _close(optimum, r.final_cut):
        return (
            f"--optimum {optimum:g} is below the cut {r.final_cut:g} this run found: "
            "the optimum is at least that"
        )
    if r.bound_proven and optimum > r.upper_bound and not _close(optimum, r.upper_bound):
        return f"--optimum {optimum:g} is above the proven upper bound {r.upper_bound:g}"
    return None


def run(args: argparse.Namespace) -> int:
    """Load the graph, solve, print a summary, write JSON and figures.

    Exit codes: 0, 2 for bad input, 130 after Ctrl-C (the JSON of the best cut so far is still
    written), 1 when the derandomized cut falls below the GW expectation (a broken guarantee).
    """
    import dataclasses
    import sys
    import warnings

    # --time-limit counts the whole program: the interpreter's start, the imports, the parsing
    started = clock_start()

    from derand.maxcut.readers import load_graph
    from derand.maxcut.solve import MAX_SAMPLES, solve_maxcut

    if args.samples > MAX_SAMPLES:
        raise InputError(f"--samples must be <= {MAX_SAMPLES}, got {args.samples}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = load_graph(args.graph, fmt=args.format)
    for w in caught:
        say(args, f"warning: {w.message}")
    if args.rank is not None and args.rank > graph.n:
        raise InputError(f"--rank must be <= n = {graph.n}, got {args.rank}")
    if args.optimum is not None:
        check_optimum(args.optimum, float(graph.w[graph.w > 0].sum()), args.graph)
    import threading

    from derand.results import provenance

    # the JSON's provenance (package metadata, the platform: 0.1-0.3 s, cached) is read on a
    # thread beside the search, whose compiled kernels release the GIL
    reader = threading.Thread(target=provenance, daemon=True)
    reader.start()
    with pipeline_bar(args, "maxcut", "best cut") as (stage_cb, progress_cb):
        result = solve_maxcut(
            graph, rounding=args.rounding, samples=args.samples, local=args.local_search,
            search=args.search, threads=args.threads,
            time_limit=_left(args.time_limit, started, graph.n),
            exact=args.exact, seed=args.seed, rank=args.rank, score_steps=args.score_steps,
            search_moves=args.search_moves, prove=args.prove, callback=stage_cb,
            progress=progress_cb,
        )  # fmt: skip
    reader.join()
    result = dataclasses.replace(result, time_limit=args.time_limit)  # the user's, not _left's
    parameters = {
        "graph": args.graph,
        "format": args.format,
        "rounding": args.rounding,
        "samples": args.samples,
        "local_search": args.local_search,
        "search": args.search,
        "search_moves": args.search_moves,
        "time_limit": args.time_limit,
        "threads": args.threads,
        "prove": args.prove,
        "exact": args.exact,
        "rank": args.rank,
        "score_steps": args.score_steps,
        "optimum": args.optimum,
    }
    # shallow: asdict deep-copies the partition, 1 s per 200,000 nodes
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    document = envelope("maxcut", args, parameters, fields)
    optimum = args.optimum if args.optimum is not None else result.exact_cut
    if optimum is None and args.graph == "paper":
        optimum = PAPER_OPTIMUM
    problem = None if args.optimum is None else optimum_problem(args.optimum, result)

    def plots() -> dict[str, object]:
        if result.interrupted or problem is not None or result.skipped:
            return {}  # the figures show the rounding: none ran when it was skipped
        from derand.figures.maxcut import plot_maxcut  # matplotlib only when plotting

        return dict(plot_maxcut(result, optimum))

    for path in save_outputs(args, document, plots):
        say(args, f"wrote {path}")
    if problem is not None:
        raise InputError(problem + ("; no figure drawn" if args.plot is not None else ""))
    r = result
    say(args, f"graph {r.name}: n = {r.n}, m = {r.m}")
    kind = "proven bound" if r.bound_proven else "Lanczos bound (not proven)"
    if r.skipped:  # a time limit too short for the SDP: the search ran alone
        say(args, f"skipped {' and '.join(r.skipped)}: the time limit could not afford them")
        say(args, f"proven bound {_num(r.upper_bound, 4)}: {r.bound_note}")
    else:
        say(
            args,
            f"SDP value {_num(r.sdp_value, 4)} <= SDP <= {kind} {_num(r.upper_bound, 4)} "
            f"(rank {r.sdp_rank}, {r.sdp_sweeps} sweeps)",
        )
    if not r.bound_proven:
        say(args, f"bound: {r.bound_note}")
    broken = r.rounding == "derandomized" and not r.guarantee_holds and not r.interrupted
    broken = broken and not r.skipped  # no rounding ran, no guarantee to break
    if not r.skipped:
        gw_line = f"GW expectation {_num(r.gw_expected, 2)}"
        if r.gw_ratio_bound is not None:  # the 0.878 ratio needs nonnegative weights
            gw_line += f" (>= 0.878 x SDP = {_num(r.gw_ratio_bound, 2)})"
        say(args, gw_line + f"; best of {r.random_samples} random hyperplanes {r.random_best:g}")
    if r.skipped:
        pass
    elif r.rounding == "derandomized":
        check = "holds" if r.guarantee_holds else "VIOLATED"
        say(args, f"derandomized cut {r.derandomized_cut:g} (>= GW expectation: {check})")
    else:
        say(args, f"{r.rounding} cut {r.derandomized_cut:g} (no guarantee for this rounding)")
    if r.local_search:
        say(args, f"after local search ({r.search}, {r.threads} thread(s)) {r.final_cut:g}")
    if r.exact_cut is not None:
        below = r.exact_cut - r.final_cut
        tail = "the final cut is optimal" if below <= 0 else f"the final cut is {below:g} below"
        say(args, f"exact optimum {r.exact_cut:g} ({tail})")
    bound_name = "proven bound" if r.bound_proven else "Lanczos bound (not proven)"
    if r.final_cut >= r.upper_bound:
        ending = ": optimal" if r.bound_proven else ""
        say(args, f"final cut {r.final_cut:g} = the {bound_name}{ending}")
    else:
        say(
            args,
            f"final cut {r.final_cut:g}, within {100 * r.optimality_gap:.3f}% of the "
            f"{bound_name} {r.upper_bound:g}",
        )
    s = r.seconds
    say(
        args,
        f"time: sdp+bound {s['sdp']:.2f} s, rounding {s['rounding']:.2f} s, "
        f"local search {s['local_search']:.2f} s, total {s['total']:.2f} s",
    )
    if r.interrupted:
        print("derand maxcut: interrupted; kept the best cut so far", file=sys.stderr)
        return EXIT_INTERRUPTED
    if broken:
        print("derand maxcut: error: the derandomized cut is below the GW expectation",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


EXIT_RESERVE = (0.03, 0.015, 0.5, 4e-6)
"""What :func:`_left` keeps of ``--time-limit`` for the work after the search (the proof's
answer, the cut recomputed, the JSON written, the process's fast exit): ``a + b T + d n``
seconds for ``n`` nodes (the partition goes into the JSON), at most ``c + d n``."""


def _left(time_limit: float | None, started: float, n: int = 0) -> float | None:
    """What is left of ``--time-limit`` since ``started``, less :data:`EXIT_RESERVE`."""
    import time

    if time_limit is None:
        return None
    spent = time.perf_counter() - started
    a, b, c, d = EXIT_RESERVE
    return max(0.0, time_limit - spent - min(c, a + b * time_limit) - d * n)
