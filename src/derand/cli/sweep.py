"""``derand sweep``: a grid of parameters x seeds over one command, locally or on Ray."""

from __future__ import annotations

import argparse
from pathlib import Path

from derand.cli.common import (
    EXIT_INTERRUPTED,
    HelpFormatter,
    add_common_options,
    bounded_int,
    progress,
    say,
)
from derand.sweep import BACKENDS

DESCRIPTION = """\
Run every cell of a TOML sweep spec (grid of parameters x seeds over one command), each cell
one call of the library function behind that command, and gather one CSV table and a
markdown summary (mean and std over seeds per grid point). Finished cells are kept under
OUT/cells/: a rerun skips them; failed cells are recorded with their error and retried on
the next run. When every cell is already done nothing is started: no worker, no Ray cluster
(--address is then not contacted, and the output says so); the tables are gathered again.
Ctrl-C stops at once: finished cells are kept, the cells running at that moment are
recorded as interrupted (a rerun runs them again), and no worker outlives the sweep, even
when it is killed.

spec format:
  command = "nn"          # a sweepable command
  seeds = [0, 1, 2]       # or a count: seeds = 3
  [fixed]                 # parameters shared by every cell
  preset = "multi-index"
  [grid]                  # lists; the sweep is their Cartesian product
  lam = [1e-4, 1e-3]
Values are TOML values of the parameter's type: booleans are true/false, not strings.
At most 100000 cells (grid points x seeds).

examples:
  derand sweep examples/sweep_nn.toml --out results/sweep
  derand sweep examples/sweep_nn.toml --backend ray                  # local Ray instance
  derand sweep examples/sweep_nn.toml --backend ray --address auto   # an existing cluster
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``sweep`` command."""
    parser = subparsers.add_parser(
        "sweep",
        help="parameter sweeps on a process pool or a Ray cluster",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("spec", type=Path, help="sweep spec (TOML)")
    parser.add_argument("--backend", choices=BACKENDS, default="local", help="where cells run")
    parser.add_argument("--address", help="Ray cluster address (default: start a local one)")
    parser.add_argument("--out", type=Path, default=Path("results/sweep"), help="output folder")
    parser.add_argument(
        "--workers", type=bounded_int(1, 1024), help="parallel cells (default: CPUs)"
    )
    parser.add_argument(
        "--threads",
        type=bounded_int(1, 1024),
        default=1,
        help="CPU threads of each cell (torch and BLAS; recorded in each cell's JSON)",
    )
    add_common_options(parser, seed=False, device=False, threads=False, outputs=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the sweep and print where the table is."""
    from derand.sweep import load_spec, run_sweep

    spec = load_spec(args.spec)
    with progress(args, len(spec.cells()), "cells") as callback:
        outcome = run_sweep(
            spec,
            args.out,
            backend=args.backend,
            address=args.address,
            workers=args.workers,
            threads=args.threads,
            callback=callback,
        )
    say(
        args,
        f"{outcome.total} cells: {outcome.ran} run now ({outcome.failed} failed), "
        f"{outcome.skipped} already done, in {outcome.seconds:.1f} s",
    )
    if not outcome.started and outcome.total:
        where = "Ray cluster" if args.backend == "ray" else "worker"
        contacted = f" ({args.address} was not contacted)" if args.address is not None else ""
        say(
            args,
            f"every cell was already done under {args.out}: no {where} was needed"
            f"{contacted}; the tables were gathered from the cells on disk",
        )
    say(args, f"wrote {outcome.results_csv} and {outcome.summary_md}")
    if outcome.interrupted:
        say(
            args,
            f"interrupted: finished cells are kept, {outcome.stopped} running cell(s) recorded "
            "as interrupted; rerun to continue",
        )
        return EXIT_INTERRUPTED
    return 1 if outcome.failed else 0
