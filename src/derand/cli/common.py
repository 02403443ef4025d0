"""Conventions shared by every ``derand`` command.

``--seed``, ``--device {cpu,cuda,auto}``, ``--json PATH``, ``--plot DIR``; a progress bar on
stderr for anything longer than a second; bad input exits 2 with one line on stderr; every
output path is checked before the work starts; results are written atomically.

This module is imported to build the parser, so it imports nothing heavy: tqdm, numpy and
torch are loaded only by the functions that use them.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from derand import __version__
from derand.device import DEVICE_CHOICES
from derand.errors import InputError
from derand.limits import check_seed

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

MAX_COUNT = 10**9
"""Upper bound of :func:`positive_int`: no count of this package is meaningful beyond it.
Options with a smaller meaningful range use :func:`bounded_int` with their own bound."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples in descriptions as written and shows each default once: not for
    options without one (``None``, flags) and not where the help already states it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            default is None
            or default is argparse.SUPPRESS
            or isinstance(default, bool)
            or "default" in text
            or not action.option_strings
        ):
            return text
        return f"{text} (default: {default})"


def one_line(message: str) -> str:
    """``message`` with its lines joined by ``"; "``: an error is always one line."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return "; ".join(lines) if lines else "unknown error"


def _parse_integer(text: str) -> int:
    """An integer written as ``12``, ``-3`` or, when it is exactly integral, ``1e6``."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not (math.isfinite(value) and value.is_integer()):
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(value)


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """argparse type: an integer in ``[low, high]`` (``1e6`` is accepted for 1000000).

    Parameters
    ----------
    low, high : int
        Inclusive bounds; ``high`` is what is meaningful for the option (a depth, a number
        of steps or draws), so that a typo cannot start a run that never ends.

    Returns
    -------
    callable
        ``type=`` for ``add_argument``; out-of-range values are one-line usage errors.

    Examples
    --------
    >>> depth = bounded_int(1, 1000)
    >>> depth("12"), depth("1e3")
    (12, 1000)
    >>> depth("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected an integer in [1, 1000], got 0
    """

    def parse(text: str) -> int:
        value = _parse_integer(text)
        if not low <= value <= high:
            shown = value if abs(value) < 10**30 else f"{text} (out of range)"
            raise argparse.ArgumentTypeError(f"expected an integer in [{low}, {high}], got {shown}")
        return value

    parse.__name__ = f"integer in [{low}, {high}]"
    return parse


def bounded_float(low: float, high: float) -> Callable[[str], float]:
    """argparse type: a finite float in ``[low, high]`` (NaN and infinities are refused).

    Examples
    --------
    >>> bounded_float(0, 1)("0.5")
    0.5
    """

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(
                f"expected a finite number in [{low:g}, {high:g}], got {text}"
            )
        return value

    parse.__name__ = f"number in [{low:g}, {high:g}]"
    return parse


positive_int = bounded_int(1, MAX_COUNT)
"""argparse type: an integer in ``[1, 10**9]``."""


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def seed_type(text: str) -> int:
    """argparse type: a seed, an integer in ``[0, 2**63 - 1]`` (:func:`derand.limits.check_seed`).

    Examples
    --------
    >>> seed_type("7")
    7
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    try:
        return check_seed(value, "the seed")
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_search_options(parser: argparse.ArgumentParser, what: str) -> None:
    """The options every SDP -> rounding -> search pipeline takes (``derand maxcut``,
    ``derand csp``): ``--local-search``, ``--search``, ``--search-moves``, ``--time-limit``,
    ``--threads``, ``--prove`` and ``--rank``; ``what`` names the rounded object in the help."""
    parser.add_argument(
        "--local-search",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"polish the rounded {what} (reported separately)",
    )
    parser.add_argument(
        "--search",
        choices=("sa", "bls", "tabu", "greedy", "rank2"),
        default="sa",
        help="polishing: annealing + Breakout Local Search, BLS, tabu, 1-flip, or rank-2",
    )
    parser.add_argument(
        "--search-moves",
        type=positive_int,
        help="budget of each search run: sweeps for sa, cycles for rank2, flips otherwise "
        "(default: by size)",
    )
    parser.add_argument(
        "--time-limit",
        type=positive_float,
        metavar="SECONDS",
        help="wall-time budget of the whole run (default: fixed budgets, deterministic)",
    )
    parser.add_argument(
        "--threads", type=positive_int, default=1, help="independent search runs at once"
    )
    parser.add_argument(
        "--prove",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="prove the upper bound by a sparse LDL^T (else the Lanczos bound)",
    )
    parser.add_argument("--rank", type=positive_int, help="SDP rank p (default ~sqrt(2n))")


def add_common_options(
    parser: argparse.ArgumentParser,
    *,
    seed: bool = True,
    device: bool = True,
    threads: bool = True,
    threads_default: int | None = None,
    outputs: bool = True,
) -> None:
    """Add the common options: ``--seed``, ``--device``, ``--threads``, ``--json``, ``--plot``
    and ``--quiet`` (each flag leaves out one that the command does not have or defines in
    its own way). ``--threads`` defaults to ``OMP_NUM_THREADS``, else ``threads_default``,
    else the CPUs available."""
    group = parser.add_argument_group("common options")
    if seed:
        group.add_argument(
            "--seed", type=seed_type, default=0, help="random seed in [0, 2**63 - 1] (recorded)"
        )
    if device:
        group.add_argument(
            "--device", choices=DEVICE_CHOICES, default="cpu", help="torch device for the run"
        )
    if threads:
        group.add_argument(
            "--threads",
            type=bounded_int(1, 1024),
            default=None,
            help="CPU threads for torch and BLAS (default: $OMP_NUM_THREADS, else "
            + (f"{threads_default}" if threads_default else "the CPUs available")
            + "; recorded)",
        )
        parser.set_defaults(threads_fallback=threads_default)
    if outputs:
        group.add_argument(
            "--json",
            metavar="PATH",
            help="write the result as JSON; '-' (or /dev/stdout) writes it to stdout and then "
            "the summary goes to stderr",
        )
        group.add_argument("--plot", type=Path, metavar="DIR", help="write figures as PNG into DIR")
    group.add_argument("--quiet", action="store_true", help="no progress bar, no summary")


@contextmanager
def pipeline_bar(
    args: argparse.Namespace, desc: str, label: str
) -> Iterator[tuple[Callable[[str, int, int], None], Callable[[float, float, float], None]]]:
    """``(callback, progress)`` for an SDP -> rounding -> search pipeline (``solve_maxcut``,
    ``solve_csp``): a tqdm bar on stderr named after the current stage, with the best value
    (``label``) and the certified gap; after one second, only on a terminal, not with
    ``--quiet``."""
    if args.quiet or not sys.stderr.isatty():  # no bar: tqdm is not imported (0.04 s)
        yield (lambda _stage, _done, _total: None), (lambda _value, _bound, _seconds: None)
        return
    from tqdm import tqdm

    bar = tqdm(
        total=1000, desc=desc, file=sys.stderr, delay=1.0, leave=False, dynamic_ncols=True,
        disable=args.quiet or not sys.stderr.isatty(),
        bar_format="{desc}{percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}",
    )  # fmt: skip

    def stage(name: str, done: int, total: int) -> None:
        bar.set_description(name, refresh=False)
        bar.update(int(1000 * done / max(1, total)) - bar.n)

    def best(value: float, bound: float, _seconds: float) -> None:
        gap = abs(bound - value) / abs(bound) if bound else abs(bound - value)
        bar.set_postfix_str(f"{label} {value:g}, gap <= {100 * gap:.3f}%")

    try:
        yield stage, best
    finally:
        bar.close()


@contextmanager
def progress(
    args: argparse.Namespace, total: int, desc: str
) -> Iterator[Callable[[int, int], None]]:
    """A ``callback(done, total)`` driving a tqdm bar on stderr.

    The bar appears after one second, only on a terminal, and not with ``--quiet``.
    """
    from tqdm import tqdm

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
    from derand.results import provenance

    return {
        "command": command,
        **result,
        "seed": getattr(args, "seed", None),
        "threads": getattr(args, "threads", None),
        "version": __version__,
        "parameters": dict(parameters),
        "environment": provenance(),
    }


OUTPUT_FILES = ("json", "checkpoint")
"""Options naming a file a command writes (checked by :func:`check_outputs`)."""
OUTPUT_DIRS = ("plot", "out")
"""Options naming a folder a command writes into."""

INPUTS: dict[str, tuple[tuple[str, str], ...]] = {
    "maxcut": (("graph", "GRAPH"),),
    "jl": (("data", "DATA"),),
    "nn": (("config", "--config"),),
    "sweep": (("spec", "SPEC"),),
}
"""Per command, the arguments (dest, how the error names it) that name an input file; an
output of the same run must not be one of them (:func:`check_outputs`). ``nn --checkpoint``
is read by ``--resume`` and written again: that one file is meant to be both."""

FOLDER_FILES: dict[str, tuple[str, ...]] = {
    "sweep": ("spec.json", "results.csv", "summary.md"),
    "reproduce": ("results.json", "report.md", "report.html"),
}
"""Per command, the files it writes under ``--out``, checked against the inputs too."""


def _same_file(a: str, b: str) -> bool:
    """The same file: the same inode when both exist, else the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return os.path.realpath(a) == os.path.realpath(b)


def _check_no_input_replaced(args: argparse.Namespace) -> None:
    """An output that is an input of the run, or another output, is an :class:`InputError`
    naming both options."""
    from derand.results import is_stream

    command = getattr(args, "command", "")
    inputs = []
    for dest, label in INPUTS.get(command, ()):
        value = getattr(args, dest, None)
        if value is not None and os.path.lexists(value):
            inputs.append((label, os.fspath(value)))
    outputs = []
    for option in OUTPUT_FILES:
        value = getattr(args, option, None)
        if value is not None and not is_stream(value):
            outputs.append((f"--{option}", os.fspath(value)))
    out = getattr(args, "out", None)
    if out is not None:
        for name in FOLDER_FILES.get(command, ()):
            outputs.append((f"--out {out} (its {name})", os.path.join(out, name)))
    for k, (label, path) in enumerate(outputs):
        shown = label if "(its" in label else f"{label} {path}"
        for in_label, in_path in inputs:
            if _same_file(path, in_path):
                raise InputError(
                    f"{shown} is {in_label} {in_path}, an input of this run; "
                    "refusing to replace it (choose another output path)"
                )
        for other_label, other in outputs[k + 1 :]:
            if _same_file(path, other):
                raise InputError(f"{shown} and {other_label} {other} are the same file")


def check_outputs(args: argparse.Namespace) -> None:
    """Fail before any work when an output option cannot be written.

    ``--json`` and ``--checkpoint`` must name a writable regular file or a new file in a
    writable (or creatable) folder; ``--json`` may also be ``-`` (stdout) or a stream (a
    character device, a FIFO with a reader, a socket). ``--plot`` and ``--out`` must be a
    writable or creatable folder. Symbolic links are followed; devices, FIFOs and
    directories are never replaced, and no output may be an input of the same run (the
    same inode or resolved path) or another output. When the JSON goes to stdout, the
    summary lines go to stderr (``args.summary_to_stderr``).
    """
    from derand.results import check_output_dir, check_output_file, is_stdout

    for option in OUTPUT_FILES:
        path = getattr(args, option, None)
        if path is not None:
            check_output_file(path, f"--{option}", stream=option == "json")
    for option in OUTPUT_DIRS:
        path = getattr(args, option, None)
        if path is not None:
            check_output_dir(path, f"--{option}")
    _check_no_input_replaced(args)
    args.summary_to_stderr = is_stdout(getattr(args, "json", None))


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system error: the path(s) it names and the reason.

    Examples
    --------
    >>> describe_os_error(IsADirectoryError(errno.EISDIR, "Is a directory", "data"))
    'data: is a directory'
    """
    reason = exc.strerror or (exc.args[0] if exc.args else type(exc).__name__)
    reason = str(reason)
    if exc.errno == errno.ENOTDIR:
        reason = "a component of the path is not a directory"
    reason = reason[:1].lower() + reason[1:]
    names = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return one_line(f"{' -> '.join(names)}: {reason}" if names else reason)


def save_outputs(
    args: argparse.Namespace,
    document: Mapping[str, Any],
    figures: Callable[[], Mapping[str, Any]],
    *,
    interrupted: bool | None = None,
) -> list[Path]:
    """Write ``--json`` and ``--plot`` outputs (atomically where they are files); returns the
    paths written, standard output left out.

    After Ctrl-C (``interrupted``; by default the document's ``interrupted`` field) only the
    JSON is written: it holds every number the figures would show, and drawing them (or
    fitting their baselines) would keep computing for seconds to minutes after the user
    asked to stop. A line on stderr says so.
    """
    from derand.results import is_stdout, save_figure, write_json

    if interrupted is None:
        interrupted = document.get("interrupted") is True
    written: list[Path] = []
    if args.json is not None:
        path = write_json(args.json, document)
        if not is_stdout(args.json):
            written.append(path)
    if args.plot is not None and interrupted:
        print(
            f"derand {getattr(args, 'command', '')}: interrupted: figures not drawn into "
            f"{args.plot} (rerun to draw them"
            + ("; the JSON holds their numbers)" if args.json is not None else ")"),
            file=sys.stderr,
        )
    elif args.plot is not None:
        for name, fig in figures().items():
            written.append(save_figure(fig, args.plot / f"{name}.png"))
    return written


def say(args: argparse.Namespace, text: str) -> None:
    """Print a summary line unless ``--quiet``: on stdout, or on stderr when the JSON goes to
    stdout (``--json -``), so that stdout holds the JSON document alone."""
    if not args.quiet:
        print(text, file=sys.stderr if getattr(args, "summary_to_stderr", False) else sys.stdout)
