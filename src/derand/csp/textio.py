"""Reading a user's text file: once, under a size cap, ASCII only, numbers written plainly.

Python's ``int`` and ``float`` accept more than the file formats do (``1_000``, ``nan``,
``inf``, non-ASCII digits such as ``'٣'``); the parsers here take only ``[+-]digits`` and
decimal or exponent notation, and every error is one line naming the line number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from derand.errors import InputError
from derand.limits import check_input_file, require_memory

__all__ = ["MAX_INPUT_BYTES", "parse_float", "parse_int", "read_text", "rows"]

MAX_INPUT_BYTES = 512 * 2**20
"""Largest input file read (512 MiB; the largest OR-Library bqp file is about 44 MB)."""

_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


def read_text(path: str | Path, what: str, *, max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The whole file as text, read once; non-ASCII bytes are refused with their line.

    Raises
    ------
    InputError
        A missing file, a directory, a device or FIFO, a file over ``max_bytes``, a byte
        outside ASCII.

    Returns
    -------
    str
    """
    target = check_input_file(path, what, max_bytes=max_bytes)
    require_memory(24.0 * max(1, target.stat().st_size), f"reading {target}")
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {target}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # it grew since the check
        raise InputError(f"{what} {target} is larger than {max_bytes} bytes")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{target}: line {line}: a byte outside ASCII") from None


def rows(text: str, comments: tuple[str, ...] = ("c", "#")) -> Iterator[tuple[int, list[str]]]:
    """``(line number, tokens)`` of the non-blank lines whose first token does not start with
    one of ``comments``.

    Examples
    --------
    >>> list(rows("c hi\\n\\n1 2 0\\n"))
    [(3, ['1', '2', '0'])]
    """
    for lineno, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if tokens and not tokens[0].startswith(comments):
            yield lineno, tokens


def parse_int(token: str, lineno: int, what: str) -> int:
    """An integer written ``[+-]digits`` (at most 19 digits), or :class:`InputError`.

    Examples
    --------
    >>> parse_int("-12", 3, "literal")
    -12
    >>> parse_int("1_000", 3, "literal")
    Traceback (most recent call last):
    ...
    derand.errors.InputError: line 3: literal '1_000' is not an integer
    """
    if not _INT.match(token):
        raise InputError(f"line {lineno}: {what} {token!r} is not an integer")
    if len(token.lstrip("+-")) > 19:
        raise InputError(f"line {lineno}: {what} {token} is out of range")
    return int(token)


def parse_float(token: str, lineno: int, what: str) -> float:
    """A finite number in decimal or exponent notation, or :class:`InputError`.

    Examples
    --------
    >>> parse_float("2.5e1", 1, "weight")
    25.0
    >>> parse_float("nan", 1, "weight")
    Traceback (most recent call last):
    ...
    derand.errors.InputError: line 1: weight 'nan' is not a number
    """
    if not _FLOAT.match(token):
        raise InputError(f"line {lineno}: {what} {token!r} is not a number")
    value = float(token)
    if value in (float("inf"), float("-inf")):
        raise InputError(f"line {lineno}: {what} {token} overflows")
    return value
