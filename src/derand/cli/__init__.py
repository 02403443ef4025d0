"""The ``derand`` command line: thin wrappers that parse, call the library, print and save.

Only the module of the command being run is imported (``derand --help`` imports none of
them), and each imports its library modules inside its run function, so that help and
argument errors answer without loading torch, matplotlib or scipy.

Errors are reported at this boundary: bad input (:class:`~derand.errors.InputError`), a
file-system error (``OSError``) and running out of memory each become one line on stderr
and exit code 2; Ctrl-C exits 130. Any other exception is a bug and keeps its traceback.
``derand --debug CMD ...`` or ``DERAND_DEBUG=1`` also prints the traceback of the errors
that are reported in one line.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
import time
import traceback
from collections.abc import Sequence
from types import ModuleType

from derand import __version__
from derand.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    HelpFormatter,
    OneLineArgumentParser,
    check_outputs,
    describe_os_error,
    one_line,
)
from derand.errors import InputError

COMMANDS: dict[str, str] = {
    "toy": "toy example: Figures 1 and 2 (bias frozen vs trainable)",
    "nn": "teacher-student lab: first-layer structure discovery (Figure 3)",
    "reproduce": "every figure of the paper in one report",
    "sweep": "parameter sweeps on a process pool or a Ray cluster",
    "jl": "derandomized Johnson-Lindenstrauss embedding with an exact certificate",
    "maxcut": "Max-Cut: derandomized Goemans-Williamson (Figures 4 and 5)",
    "csp": "MAX-2-SAT, MAX-DICUT, QUBO: derandomized rounding (beyond the paper)",
}
"""Command -> one-line help; the command's module is ``derand.cli.<command>``."""

EXIT_BROKEN_PIPE = 141

DESCRIPTION = """\
derand: a derandomization framework for structure discovery (Tsikouras et al., ICLR 2026).

Bad input exits 2 with one line on stderr; Ctrl-C exits 130 keeping what was finished.
Set DERAND_DEBUG=1 (or pass --debug) to see the traceback behind a one-line error.

examples:
  derand toy --plot results
  derand maxcut paper --exact
  derand --debug nn --preset fig3 --json results/nn.json
"""


def command_module(name: str) -> ModuleType:
    """The module implementing command ``name`` (imported on first use)."""
    return importlib.import_module(f"derand.cli.{name}")


def _selected(argv: Sequence[str]) -> str | None:
    """The command named on the command line (top-level options take no values)."""
    for token in argv:
        if token == "--":
            return None
        if not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


def build_parser(only: str | None = None, *, lazy: bool = False) -> OneLineArgumentParser:
    """The top-level parser with one subcommand per entry of :data:`COMMANDS`.

    With ``lazy=True`` only command ``only`` gets its options (and its module is imported);
    the others are listed with their one-line help, which is all ``derand --help`` shows.
    """
    parser = OneLineArgumentParser(
        prog="derand", description=DESCRIPTION, formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"derand {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="print the traceback behind one-line errors (also: DERAND_DEBUG=1)",
    )
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=OneLineArgumentParser
    )
    for name, summary in COMMANDS.items():
        if lazy and name != only:
            subparsers.add_parser(name, help=summary)
        else:
            command_module(name).register(subparsers)
    return parser


def _debug(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get("DERAND_DEBUG", "") not in (
        "",
        "0",
    )


def _fail(args: argparse.Namespace, message: str) -> int:
    if _debug(args):
        traceback.print_exc()
    print(f"derand {args.command}: error: {one_line(message)}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns the exit code (0 done, 2 bad input, 130 interrupted).

    Examples
    --------
    >>> main(["toy", "--num", "0"])  # doctest: +SKIP
    derand toy: error: argument --num: expected an integer in [1, 1000], got 0 (see --help)
    """
    if argv is None:  # the program itself: it exits when main returns
        global _as_program
        _as_program = True
        lean = _selected(sys.argv[1:]) in FAST_EXIT
        if lean:
            without_cffi()
        try:
            code = _main(sys.argv[1:])
        finally:
            # Spare the exit a full garbage collection over torch's millions of objects
            # (up to 1.5 s): they are freed with the process. Not done when called with argv.
            gc.freeze()
        if lean:
            fast_exit(code)
        return code
    return _main(argv)


_as_program = False  # set by main() called without argv: the process is the program's


def program_process() -> bool:
    """Whether this process is the program's own (:func:`main` called without ``argv``).

    Returns
    -------
    bool
    """
    return _as_program


def process_age() -> float:
    """Wall seconds since this process started (Linux ``/proc``, 10 ms resolution; 0.0
    where it cannot be read).

    Returns
    -------
    float
    """
    try:
        with open("/proc/self/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def clock_start() -> float:
    """The ``time.perf_counter()`` time a command's ``--time-limit`` counts from: the start
    of the process when :func:`main` runs as the program (the interpreter's start and every
    import count), else now (``main(argv)`` called from a longer-lived process).

    Returns
    -------
    float
    """
    now = time.perf_counter()
    return now - process_age() if _as_program else now


FAST_EXIT = frozenset({"maxcut", "csp"})
"""Commands whose process ends by :func:`fast_exit` after a normal return: their outputs are
written (atomically) and closed by then, and their time limit counts the whole process, which
the interpreter's own teardown (0.3-1 s with numba loaded, on a busy machine) would overrun."""


def without_cffi() -> None:
    """Make ``import cffi`` fail in this process, unless it was imported already.

    numba loads its cffi support (and with it pycparser) on the first compiled call when cffi
    is installed -- 0.1-0.3 s on a busy machine, for a feature no derand kernel uses. Only for
    the program itself (the console script running a :data:`FAST_EXIT` command), whose
    process nothing else shares; never when :func:`main` is called with ``argv``.
    """
    sys.modules.setdefault("cffi", None)  # type: ignore[arg-type]


NUMPY_EXTRAS = ("f2py", "testing", "ma", "polynomial", "ctypeslib", "char", "rec", "fft")
"""numpy's submodules that importing ``scipy.sparse`` loads without using them: scipy's
array-API layer copies every public attribute of numpy, which imports each lazily loaded
submodule (0.25-0.3 s of a 1-s budget on a busy 2-core machine; f2py alone loads a Fortran
parser and a charset detector)."""


def defer_numpy_extras() -> None:
    """Import numpy, and bind each of :data:`NUMPY_EXTRAS` not imported yet as a module whose
    code runs on its first attribute access (:class:`importlib.util.LazyLoader`).

    Transparent: ``numpy.testing.assert_allclose`` (say) still works, it is only loaded when
    it is first used. Only for the program itself (``derand csp`` as the console script),
    whose time limit counts its imports.
    """
    import importlib.util

    import numpy

    for name in NUMPY_EXTRAS:
        full = f"numpy.{name}"
        if full in sys.modules:
            continue
        spec = importlib.util.find_spec(full)
        if spec is None or spec.loader is None:
            continue
        loader = importlib.util.LazyLoader(spec.loader)
        spec.loader = loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        loader.exec_module(module)
        setattr(numpy, name, module)


def fast_exit(code: int) -> None:
    """Flush stdout and stderr, end this process's multiprocessing children, and leave at once
    with ``code`` (``os._exit``: no atexit handlers, no module teardown).

    Only for the program itself, after every output is written: atexit handlers do not run
    (derand registers none; multiprocessing's, which ends daemon children, is done here).
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more to say
            pass
    mp = sys.modules.get("multiprocessing")
    if mp is not None:
        for child in mp.active_children():
            child.kill()
            child.join(1.0)
    os._exit(code)


def _main(argv: Sequence[str]) -> int:
    arguments = list(argv)
    parser = build_parser(_selected(arguments), lazy=True)
    args = parser.parse_args(arguments)
    try:
        check_outputs(args)
        if hasattr(args, "threads"):
            from derand.threads import use_threads

            args.threads = use_threads(
                args.threads, fallback=getattr(args, "threads_fallback", None)
            )
        return int(args.func(args))
    except InputError as exc:
        return _fail(args, str(exc))
    except BrokenPipeError:  # stdout closed early (`derand ... | head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        return _fail(args, describe_os_error(exc))
    except MemoryError:
        return _fail(args, "out of memory: reduce the problem size")
    except KeyboardInterrupt:
        print(f"derand {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
