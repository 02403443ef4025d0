"""``derand reproduce``: every figure of the paper, several seeds, one report."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from derand.cli.common import (
    EXIT_INTERRUPTED,
    HelpFormatter,
    add_common_options,
    bounded_int,
    say,
)

EXPERIMENT_NAMES = (
    "toy", "nn-fig3", "maxcut", "jl", "nn-multi-index", "jl-digits", "gset", "csp",
)  # fmt: skip
"""The names of ``derand.reproduce.EXPERIMENTS`` (kept here so that --help stays light)."""

if TYPE_CHECKING:
    from derand.reproduce import Progress

DESCRIPTION = """\
Run every figure of the paper (toy Figures 1-2, NN Figure 3, MAXCUT Figures 4-5, JL Figures
6-7) and our extra experiments (a multiple-index teacher, JL on all digit pairs, MAXCUT on
Gset) over several seeds, with the baselines beside our numbers, and write under OUT: each
figure as PNG, results.json with every number, report.md and a self-contained report.html.
The report is rewritten after each experiment; Ctrl-C stops the whole run, keeps the report
of what finished and exits 130. --quick shrinks the sizes to finish in a few minutes (it is
what `make demo` runs).

--only into a folder that holds a report merges: the experiments named are rerun and replace
their sections, numbers and figures; the others are kept as results.json recorded them. That
report must have the same settings (--quick, --seeds, --gset-dir, --device), else the run is
refused before any work (one report, one setting): use another --out, or run everything.
A run without --only replaces the report. Figures of the old report that the new one does
not show are removed.

examples:
  derand reproduce --quick
  derand reproduce --out results/full --seeds 5
  derand reproduce --quick --only maxcut gset          # some experiments only
  derand reproduce --gset-dir ../shared/data/gset     # Gset files from another folder
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
    parser.add_argument(
        "--gset-dir",
        type=Path,
        help="folder of Gset files (G1.txt, ...) and best_known.csv (default: those shipped)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=EXPERIMENT_NAMES,
        metavar="NAME",
        help=f"run only these experiments ({', '.join(EXPERIMENT_NAMES)})",
    )
    add_common_options(parser, seed=False, outputs=False, threads_default=1)
    parser.set_defaults(func=run)


class _Display:
    """Two bars on a terminal (experiments; the stages of the current one), else one log
    line per stage with the elapsed time."""

    def __init__(self, args: argparse.Namespace) -> None:
        from tqdm import tqdm

        self.quiet = bool(args.quiet)
        self.tty = sys.stderr.isatty()
        self.start = time.perf_counter()
        self.bars: list[Any] = []
        if self.tty and not self.quiet:
            common = {"file": sys.stderr, "dynamic_ncols": True, "leave": False}
            self.bars = [
                tqdm(total=1, desc="experiments", position=0, **common),
                tqdm(
                    total=1, desc="", position=1, bar_format="  {desc}{bar}| {n}/{total}", **common
                ),
            ]

    def __call__(self, progress: Progress) -> None:
        if self.quiet:
            return
        if not self.bars:
            elapsed = time.perf_counter() - self.start
            print(
                f"[{elapsed:7.1f} s] {progress.index + 1}/{progress.total} "
                f"{progress.experiment}: {progress.stage}",
                file=sys.stderr,
                flush=True,
            )
            return
        outer, inner = self.bars
        outer.total = progress.total
        outer.set_description(progress.experiment[:40], refresh=False)
        outer.update(progress.index - outer.n)
        inner.total = progress.steps
        inner.set_description(progress.stage[:60], refresh=False)
        inner.update(progress.step - inner.n)

    def close(self) -> None:
        for bar in reversed(self.bars):
            bar.close()


def run(args: argparse.Namespace) -> int:
    """Run everything and say where the report is."""
    from derand.reproduce import ReproduceConfig, reproduce

    config = ReproduceConfig(
        out=args.out,
        quick=args.quick,
        seeds=args.seeds,
        gset_dir=args.gset_dir,
        device=args.device,
        only=tuple(args.only or ()),
    )
    display = _Display(args)
    try:
        result = reproduce(config, callback=display)
    finally:
        display.close()
    for section in result.sections:
        say(args, f"- {section.title}")
    say(
        args,
        f"wrote {len(result.files)} files under {args.out} in {result.seconds:.0f} s; "
        f"open {args.out / 'report.html'}",
    )
    if result.interrupted:
        print(
            f"derand reproduce: interrupted; the report holds the {len(result.sections)} "
            "experiment(s) that finished",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return 0
