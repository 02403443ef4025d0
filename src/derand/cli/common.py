"""Conventions shared by every ``derand`` command.

``--seed``, ``--device {cpu,cuda,auto}``, ``--json PATH``, ``--plot DIR``; a progress bar on
stderr for anything longer than a second; bad input exits 2 with one line on stderr; results
are written atomically.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from tqdm import tqdm

from derand import __version__
from derand.device import DEVICE_CHOICES
from derand.errors import InputError
from derand.results import provenance, save_figure, write_json

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the examples in descriptions as written and shows defaults."""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def add_common_options(parser: argparse.ArgumentParser, *, device: bool = True) -> None:
    """Add ``--seed``, ``--device``, ``--json``, ``--plot`` and ``--quiet``."""
    group = parser.add_argument_group("common options")
    group.add_argument("--seed", type=int, default=0, help="random seed (recorded in results)")
    if device:
        group.add_argument(
            "--device", choices=DEVICE_CHOICES, default="cpu", help="torch device for the run"
        )
    group.add_argument("--json", type=Path, metavar="PATH", help="write the result as JSON")
    group.add_argument("--plot", type=Path, metavar="DIR", help="write figures as PNG into DIR")
    group.add_argument("--quiet", action="store_true", help="no progress bar, no summary")


@contextmanager
def progress(
    args: argparse.Namespace, total: int, desc: str
) -> Iterator[Callable[[int, int], None]]:
    """A ``callback(done, total)`` driving a tqdm bar on stderr.

    The bar appears after one second, only on a terminal, and not with ``--quiet``.
    """
    bar = tqdm(
        total=total,
        desc=desc,
        file=sys.stderr,
        delay=1.0,
        disable=args.quiet or not sys.stderr.isatty(),
        leave=False,
        dynamic_ncols=True,
    )

    def update(done: int, new_total: int) -> None:
        if new_total != bar.total:
            bar.total = new_total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


def envelope(
    command: str, args: argparse.Namespace, parameters: Mapping[str, Any], result: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON document of a run: its result fields, seed, parameters, versions."""
    return {
        "command": command,
        **result,
        "seed": getattr(args, "seed", None),
        "version": __version__,
        "parameters": dict(parameters),
        "environment": provenance(),
    }


def check_outputs(args: argparse.Namespace) -> None:
    """Fail before any work when ``--json``, ``--plot`` or ``--out`` cannot be written."""
    json_path = getattr(args, "json", None)
    if json_path is not None and json_path.is_dir():
        raise InputError(f"--json {json_path} is a directory")
    for option in ("plot", "out"):
        folder = getattr(args, option, None)
        if folder is not None and folder.exists() and not folder.is_dir():
            raise InputError(f"--{option} {folder} exists and is not a directory")


def save_outputs(
    args: argparse.Namespace, document: Mapping[str, Any], figures: Callable[[], Mapping[str, Any]]
) -> list[Path]:
    """Write ``--json`` and ``--plot`` outputs atomically; returns the paths written."""
    written: list[Path] = []
    if args.json is not None:
        written.append(write_json(args.json, document))
    if args.plot is not None:
        for name, fig in figures().items():
            written.append(save_figure(fig, args.plot / f"{name}.png"))
    return written


def say(args: argparse.Namespace, text: str) -> None:
    """Print a summary line on stdout unless ``--quiet``."""
    if not args.quiet:
        print(text)
