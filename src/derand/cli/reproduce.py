"""``derand reproduce``: every figure of the paper, several seeds, one report."""

from __future__ import annotations

import argparse
from pathlib import Path

from derand.cli.common import HelpFormatter, add_common_options, bounded_int, progress, say

DESCRIPTION = """\
Run every figure of the paper (toy Figures 1-2, NN Figure 3, MAXCUT Figures 4-5, JL Figures
6-7) over several seeds, with the baselines beside our numbers, and write under OUT: each
figure as PNG, results.json with every number, report.md and a self-contained report.html.
--quick shrinks the sizes to finish in a few minutes (it is what `make demo` runs).

examples:
  derand reproduce --quick
  derand reproduce --out results/full --seeds 5
  derand reproduce --gset-dir ../shared/data/gset     # adds MAXCUT on Gset instances
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``reproduce`` command."""
    parser = subparsers.add_parser(
        "reproduce",
        help="every figure of the paper in one report",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="reduced sizes, a few minutes")
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder")
    parser.add_argument("--seeds", type=bounded_int(1, 100), default=3, help="seeds per experiment")
    parser.add_argument("--gset-dir", type=Path, help="Gset folder for the extra MAXCUT runs")
    add_common_options(parser, seed=False, outputs=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run everything and say where the report is."""
    from derand.reproduce import EXPERIMENTS, ReproduceConfig, reproduce

    config = ReproduceConfig(
        out=args.out, quick=args.quick, seeds=args.seeds, gset_dir=args.gset_dir
    )
    with progress(args, len(EXPERIMENTS), "experiments") as callback:
        result = reproduce(config, callback=callback)
    for section in result.sections:
        say(args, f"- {section.title}")
    say(
        args,
        f"wrote {len(result.files)} files under {args.out} in {result.seconds:.0f} s; "
        f"open {args.out / 'report.html'}",
    )
    return 0
