"""The ``derand`` command line: thin wrappers that parse, call the library, print and save."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from derand import __version__
from derand.cli import jl, maxcut, nn, reproduce, sweep, toy
from derand.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    HelpFormatter,
    OneLineArgumentParser,
    check_outputs,
)
from derand.errors import InputError

COMMANDS = (toy, nn, reproduce, sweep, jl, maxcut)

DESCRIPTION = """\
derand: a derandomization framework for structure discovery (Tsikouras et al., ICLR 2026).

examples:
  derand toy --plot results
  derand toy --json results/toy.json
"""


def build_parser() -> OneLineArgumentParser:
    """The top-level parser with one subcommand per module in ``COMMANDS``."""
    parser = OneLineArgumentParser(
        prog="derand", description=DESCRIPTION, formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"derand {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=OneLineArgumentParser
    )
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns the exit code (2 for bad input, 130 when interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_outputs(args)
        return int(args.func(args))
    except InputError as exc:
        print(f"derand {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"derand {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
