"""Strict ASCII numbers for graph files and generator specs.

Python's :func:`int` and :func:`float` also read ``1_000``, surrounding spaces and non-ASCII
digits (``'\u0661\u0662'`` is 12 to them); a graph file that holds such tokens is refused instead.
"""

from __future__ import annotations

import re

__all__ = ["INTEGER", "parse_float", "parse_int", "shown"]

INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


def shown(tok: str) -> str:
    """``repr(tok)``, cut at 30 characters, for error messages."""
    return repr(tok if len(tok) <= 30 else tok[:30] + "...")


def parse_int(tok: str) -> int | None:
    """``tok`` as an int when it is ``[+-]digits`` in ASCII, else ``None``.

    Stricter than :func:`int`, which also reads ``1_000``, surrounding spaces and non-ASCII
    digits such as ``'\u0661\u0662'``.

    Examples
    --------
    >>> parse_int("-12"), parse_int("1_000"), parse_int("\u0661\u0662"), parse_int("1.0")
    (-12, None, None, None)
    """
    if len(tok) > 40 or not INTEGER.fullmatch(tok):
        return None
    return int(tok)


def parse_float(tok: str) -> float | None:
    """``tok`` as a float when it is an ASCII decimal number (``1``, ``-2.5``, ``1e-3``) or
    ``nan``/``inf``/``infinity`` (any case, optional sign), else ``None``.

    Stricter than :func:`float`, which also reads ``1_000`` and non-ASCII digits.

    Examples
    --------
    >>> parse_float("2.5e3"), parse_float("1_000"), parse_float("\u0663.5"), parse_float("-inf")
    (2500.0, None, None, -inf)
    """
    if _FLOAT.fullmatch(tok) or _NON_FINITE.fullmatch(tok):
        return float(tok)
    return None
