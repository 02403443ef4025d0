"""``derand csp``: MAX-2-SAT, MAX-DICUT and QUBO by derandomized threshold rounding (beyond
the paper), with a certified gap."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from derand.cli import clock_start, defer_numpy_extras, program_process
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
    seed_type,
)
from derand.errors import InputError

if TYPE_CHECKING:
    from derand.csp.solve import CSPResult

SUMMARY = "MAX-2-SAT, MAX-DICUT, QUBO: derandomized rounding (beyond the paper)"

DESCRIPTION = """\
Beyond the paper: the derandomization lemma applied to Boolean objectives on pairs of
variables. The problem becomes a quadratic +-1 objective with linear terms; its SDP over
n + 1 unit vectors (one for "true") gives a bound proven by an LDL^T of the dual certificate;
the derandomized threshold rounding sign(U z + t) ascends the closed-form expectation to a
deterministic assignment, checked to be at least the Goemans-Williamson expectation; then
a compiled search polishes it within the time budget: with --search sa (the default) a
one-flip tabu search with restarts on dense problems (a dense QUBO), otherwise annealing +
Breakout Local Search on the Max-Cut graph of n + 1 nodes; --search tabu always the former.
--time-limit counts the whole run, the start-up included. Every result carries its certified
optimality gap. Ctrl-C keeps the best assignment so far with its bound, writes --json and
exits 130; bad input exits 2.

KIND and INPUT:
  sat    a DIMACS CNF or WCNF file (p cnf / p wcnf N M [TOP] / the 2022 format with 'h'
         hard clauses), at most 2 literals per clause; or max2sat:n=120,m=1200,seed=0
         [,units=0,weights=one|int]. Hard clauses weigh max(TOP, 1 + total soft weight)
         (--hard weight) or are refused (--hard refuse).
  dicut  digraph:n=200,p=0.05,seed=0[,weights=one|uniform|int]; an arc list 'tail head [w]'
         (--format arcs or a .arcs file); or any graph of 'derand maxcut' (a Gset/rudy file,
         gset:G1 .. gset:G81, gnp:..., torus:...) with each edge oriented at random by
         --orient-seed. Node k of a maxcut-style graph is index k (Gset node k + 1).
  qubo   a sparse 'i j q' file (q x_i x_j per line, i == j linear; minimised unless --sense
         max), an OR-Library bqp file (instance --index; maximised, as the library states),
         or beasley:n=250,density=0.1,seed=0 (Beasley's construction, maximised).

examples:
  derand csp sat instance.wcnf --time-limit 10 --json results/sat.json
  derand csp sat max2sat:n=200,m=2000,seed=1
  derand csp dicut gset:G1 --orient-seed 3 --threads 2
  derand csp dicut digraph:n=500,p=0.02,seed=0 --no-local-search
  derand csp qubo bqp250 --index 3 --time-limit 5
  derand csp qubo model.qubo --sense min --assignment
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``csp`` command."""
    parser = subparsers.add_parser(
        "csp", help=SUMMARY, description=DESCRIPTION, formatter_class=HelpFormatter
    )
    parser.add_argument(
        "kind", metavar="KIND", choices=("sat", "dicut", "qubo"), help="sat, dicut or qubo"
    )
    parser.add_argument("input", metavar="INPUT", help="file or generator spec (see above)")
    parser.add_argument(
        "--format",
        choices=("auto", "qubo", "bqp", "arcs", "rudy", "edgelist"),
        default="auto",
        help="file format: qubo|bqp for qubo; arcs|rudy|edgelist for dicut (auto: by content)",
    )
    parser.add_argument(
        "--hard", choices=("weight", "refuse"), default="weight", help="hard clauses of a WCNF file"
    )
    parser.add_argument(
        "--sense",
        choices=("max", "min"),
        help="QUBO sense (default: min for 'i j q' files, max for bqp)",
    )
    parser.add_argument(
        "--index", type=positive_int, default=1, help="instance of an OR-Library bqp file (1-based)"
    )
    parser.add_argument(
        "--orient-seed",
        type=seed_type,
        default=0,
        help="seed of the random orientation of an undirected graph",
    )
    parser.add_argument(
        "--samples",
        type=positive_int,
        default=1000,
        help="random roundings of the best-of-N baseline",
    )
    add_search_options(parser, "assignment")
    parser.add_argument(
        "--assignment", action="store_true", help="print the assignment (sat: a DIMACS 'v' line)"
    )
    add_common_options(parser, device=False, threads=False, outputs=False)
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the result as JSON")
    parser.set_defaults(func=run, plot=None)


def run(args: argparse.Namespace) -> int:
    """Load, solve, print a summary, write JSON.

    Exit codes: 0; 2 for bad input; 130 after Ctrl-C (the JSON of the best assignment so far
    is written); 1 when the derandomized value falls below the GW expectation.
    """
    import dataclasses
    import sys
    import warnings

    # --time-limit counts the interpreter's start, the imports and the parsing too
    started = clock_start()
    if program_process():
        defer_numpy_extras()

    from derand.csp.load import load_problem
    from derand.csp.solve import MAX_SAMPLES, solve_csp

    if args.samples > MAX_SAMPLES:
        raise InputError(f"--samples must be <= {MAX_SAMPLES}, got {args.samples}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        problem = load_problem(
            args.kind, args.input, fmt=args.format, hard=args.hard, sense=args.sense,
            index=args.index, orient_seed=args.orient_seed,
        )  # fmt: skip
    for w in caught:
        say(args, f"warning: {w.message}")
    if args.rank is not None and args.rank > problem.n + 1:
        raise InputError(f"--rank must be <= n + 1 = {problem.n + 1}, got {args.rank}")
    with pipeline_bar(args, "csp", "best") as (stage_cb, progress_cb):
        result = solve_csp(
            problem, time_limit=_left(args.time_limit, started), threads=args.threads,
            seed=args.seed,
            samples=args.samples, local=args.local_search, prove=args.prove, search=args.search,
            search_moves=args.search_moves, rank=args.rank, callback=stage_cb,
            progress=progress_cb,
        )  # fmt: skip
    result = dataclasses.replace(result, time_limit=args.time_limit)  # the user's, not _left's
    parameters = {
        "kind": args.kind, "input": args.input, "format": args.format, "hard": args.hard,
        "sense": args.sense, "index": args.index, "orient_seed": args.orient_seed,
        **result.parameters, "time_limit": args.time_limit,
    }  # fmt: skip
    from derand.results import jsonable

    document = envelope("csp", args, parameters, jsonable(result))
    for path in save_outputs(args, document, dict):
        say(args, f"wrote {path}")
    _summary(args, result)
    if result.interrupted:
        print("derand csp: interrupted; kept the best assignment so far", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not result.guarantee_holds and "rounding" not in result.skipped:
        print("derand csp: error: the derandomized value is worse than the GW expectation",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _left(time_limit: float | None, started: float) -> float | None:
    """What is left of ``--time-limit`` since ``started``, less 4 % (at least 0.05 s, at most
    0.6 s) kept for writing the output and the interpreter's exit (as ``derand maxcut``
    does)."""
    import time

    if time_limit is None:
        return None
    spent = time.perf_counter() - started
    return max(0.0, time_limit - spent - max(0.05, min(0.6, 0.04 * time_limit)))


def _summary(args: argparse.Namespace, r: CSPResult) -> None:
    better = "<=" if r.sense == "max" else ">="
    say(args, f"{r.kind} {r.name}: n = {r.n}, {r.terms} terms, {r.sense}imise")
    if "sdp" in r.skipped:  # a time limit too short for the SDP: the search ran alone
        say(args, "skipped the SDP and the rounding: the time limit could not afford them")
        say(args, f"optimum {better} proven bound {r.bound:.6g} ({r.bound_note})")
        say(args, f"after local search ({r.search}, {r.threads} thread(s)) {r.final_value:g}")
        _tail(args, r)
        return
    kind = "proven bound" if r.bound_proven else "Lanczos bound (not proven)"
    say(args, f"SDP value {r.sdp_value:.6g}; optimum {better} {kind} {r.bound:.6g} "
              f"(rank {r.sdp_rank}, {r.sdp_sweeps} sweeps)")  # fmt: skip
    if not r.bound_proven:
        say(args, f"bound: {r.bound_note}")
    gw = f"GW expectation {r.gw_expected:.6g}"
    if r.gw_ratio is not None:
        gw += f" (>= {r.gw_ratio:.3f} x SDP value for nonnegative weights)"
    say(args, gw + f"; best of {r.random_samples} random roundings {r.random_best:g}")
    if "rounding" in r.skipped:  # the share was too short: sign(c), no guarantee claimed
        say(args, f"rounding skipped (time limit): the start sign(c) {r.derandomized_value:g}")
    else:
        check = "holds" if r.guarantee_holds else "VIOLATED"
        say(args, f"derandomized {r.derandomized_value:g} (at least the GW expectation: "
                  f"{check}; {r.iterations} iterations, {r.rounding_status})")  # fmt: skip
    if r.local_search:
        say(args, f"after local search ({r.search}, {r.threads} thread(s)) {r.final_value:g}")
    _tail(args, r)


def _tail(args: argparse.Namespace, r: CSPResult) -> None:
    """The summary's last lines: clauses, the final value and its gap, times, assignment."""
    if r.kind == "max2sat":
        d = r.details
        say(args, f"soft clauses unsatisfied: weight {d['soft_unsatisfied_weight']:g}; "
                  f"hard clauses met {d['hard_satisfied']}/{d['hard_clauses']}")  # fmt: skip
    say(args, f"final {r.final_value:g}, within {100 * r.gap:.4f}% of the "
              f"{'proven' if r.bound_proven else 'Lanczos'} bound")  # fmt: skip
    s = r.seconds
    say(args, f"time: sdp+bound {s['sdp']:.2f} s, rounding {s['rounding']:.2f} s, "
              f"local search {s['local_search']:.2f} s, total {s['total']:.2f} s")  # fmt: skip
    if args.assignment and not args.quiet:
        if r.kind == "max2sat":
            lits = [str(k if v else -int(k)) for k, v in r.assignment.items()]  # type: ignore[call-overload]
            print("v " + " ".join(lits) + " 0")
        else:
            print(" ".join(f"{k}={int(v)}" for k, v in r.assignment.items()))
