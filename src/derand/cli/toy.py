"""``derand toy``: the paper's Figures 1 and 2."""

from __future__ import annotations

import argparse
import dataclasses

from derand.cli.common import (
    HelpFormatter,
    add_common_options,
    bounded_int,
    envelope,
    positive_float,
    progress,
    save_outputs,
    say,
)
from derand.errors import InputError

DESCRIPTION = """\
Global minimiser of E[(ReLU^3(w x + b) - 1)^2] + lam w^2, x ~ N(0, 1), over a log grid of lam,
with the bias frozen at 0 (Figure 1) and trainable (Figure 2). The expectation is exact
(closed form); the global minimum is found by a dense grid plus local refinement.

examples:
  derand toy --plot results
  derand toy --lam-min 1e-3 --lam-max 10 --num 30 --json results/toy.json
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``toy`` command."""
    parser = subparsers.add_parser(
        "toy",
        help="toy example: Figures 1 and 2 (bias frozen vs trainable)",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--lam-min", type=positive_float, default=1e-4, help="smallest lam")
    parser.add_argument("--lam-max", type=positive_float, default=10.0, help="largest lam")
    parser.add_argument(
        "--num", type=bounded_int(1, 1000), default=41, help="lam values (log-spaced)"
    )
    parser.add_argument(
        "--grid", type=bounded_int(11, 4001), default=301, help="grid points per axis"
    )
    add_common_options(parser, device=False, threads_default=1)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the toy sweep, print a summary, write JSON and figures."""
    import numpy as np

    from derand.figures.toy import plot_toy, run_toy

    if args.lam_min > args.lam_max:
        raise InputError(f"--lam-min {args.lam_min} is larger than --lam-max {args.lam_max}")
    lams = np.geomspace(args.lam_min, args.lam_max, args.num)
    with progress(args, args.num, "toy") as callback:
        result = run_toy(lams, grid_size=args.grid, callback=callback)
    parameters = {
        "lam_min": args.lam_min,
        "lam_max": args.lam_max,
        "num": args.num,
        "grid": args.grid,
    }
    document = envelope("toy", args, parameters, dataclasses.asdict(result))
    for path in save_outputs(args, document, lambda: plot_toy(result)):
        say(args, f"wrote {path}")
    nonzero = [lam for lam, w in zip(result.lams, result.frozen_w, strict=True) if w > 0]
    say(
        args,
        f"bias frozen:    w* > 0 for lam <= {max(nonzero):.4g}"
        if nonzero
        else "bias frozen:    w* = 0 for every lam on the grid",
    )
    say(args, f"                threshold lam = {result.lam_threshold:.6g} (w* = 0 above it)")
    say(
        args,
        f"bias trainable: max |w*| = {max(abs(w) for w in result.trainable_w):.2e}, "
        f"b* in [{min(result.trainable_b):.6f}, {max(result.trainable_b):.6f}]",
    )
    say(args, f"time: {result.seconds:.2f} s for {len(result.lams)} values of lam")
    return 0
