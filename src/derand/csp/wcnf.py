"""DIMACS CNF and WCNF readers (the MaxSAT Evaluation formats) for MAX-2-SAT.

Accepted:

* ``p cnf N M``: plain CNF, every clause of weight 1;
* ``p wcnf N M [TOP]`` (before 2022): ``w l1 [l2] 0`` per line, clauses of weight ``>= TOP``
  hard;
* the 2022+ format without a ``p`` line: ``h l1 [l2] 0`` hard, ``w l1 [l2] 0`` soft.

One clause per line, ended by ``0``; comment lines start with ``c``; a line ``%`` ends the
file (SATLIB's CNF files). Clauses of more than two literals are refused with their line
number. Hard clauses are refused with ``hard="refuse"``; with ``hard="weight"`` (the default)
each weighs ``max(TOP, 1 + total soft weight)`` (the 2022 format has no TOP: ``1 + total soft
weight``), so that meeting every hard clause outweighs all soft clauses -- the reported
soft cost is exact for an assignment that meets them all (``hard_satisfied`` says whether it
does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from derand.csp.base import MAX_VARIABLES
from derand.csp.sat import MaxTwoSat
from derand.csp.textio import MAX_INPUT_BYTES, parse_float, parse_int, read_text, rows
from derand.errors import InputError

__all__ = ["HARD_MODES", "parse_wcnf", "read_wcnf"]

HARD_MODES = ("weight", "refuse")
Hard = Literal["weight", "refuse"]


def read_wcnf(
    path: str | Path, *, hard: Hard = "weight", max_bytes: int = MAX_INPUT_BYTES
) -> MaxTwoSat:
    """Read a CNF or WCNF file of clauses with at most two literals.

    Raises
    ------
    InputError
        With the line number: a bad header, a clause of three or more literals, a literal out
        of range, a clause not ended by 0, a negative or non-numeric weight, a clause count
        that differs from the header, a hard clause with ``hard="refuse"``.

    Returns
    -------
    MaxTwoSat
        Variables ``1 .. N`` as labels.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "f.wcnf"
    >>> _ = path.write_text("h 1 2 0\\n3 -1 0\\n1 -2 0\\n")
    >>> f = read_wcnf(path)
    >>> f.n, f.w.tolist(), f.hard.tolist()
    (2, [5.0, 3.0, 1.0], [True, False, False])
    """
    if hard not in HARD_MODES:
        raise InputError(f"hard must be one of {HARD_MODES}, got {hard!r}")
    target = Path(path)
    text = read_text(target, "CNF/WCNF file", max_bytes=max_bytes)
    try:
        return parse_wcnf(text, hard=hard, name=target.stem)
    except InputError as exc:
        raise InputError(f"{target}: {exc}") from None


def parse_wcnf(text: str, *, hard: Hard = "weight", name: str = "wcnf") -> MaxTwoSat:
    """Parse CNF/WCNF text (see :func:`read_wcnf`).

    Returns
    -------
    MaxTwoSat
    """
    header: tuple[str, int, int, float | None] | None = None
    seen_clause = False
    a: list[int] = []
    b: list[int] = []
    w: list[float] = []
    is_hard: list[bool] = []
    first_hard_line = 0
    top_var = 0
    for lineno, tokens in rows(text, comments=("c",)):
        head = tokens[0]
        if head == "%":
            break
        if head == "p":
            if header is not None or seen_clause:
                raise InputError(f"line {lineno}: the 'p' line must come once, before clauses")
            header = _header(tokens, lineno)
            continue
        seen_clause = True
        if header is None:  # 2022 format: 'h' or a weight first
            if head == "h":
                weight, hard_clause = float("nan"), True
            else:
                weight, hard_clause = _weight(head, lineno), False
            lits = tokens[1:]
        elif header[0] == "cnf":
            weight, hard_clause, lits = 1.0, False, tokens
        else:
            if head == "h":
                raise InputError(f"line {lineno}: an 'h' clause in a file with a 'p wcnf' line")
            weight = _weight(head, lineno)
            top = header[3]
            hard_clause = top is not None and weight >= top
            lits = tokens[1:]
        if not lits or lits[-1] != "0":
            raise InputError(f"line {lineno}: a clause must end with 0 (one clause per line)")
        body = [parse_int(tok, lineno, "literal") for tok in lits[:-1]]
        if any(x == 0 for x in body):
            raise InputError(f"line {lineno}: 0 inside a clause (one clause per line)")
        if len(body) > 2:
            raise InputError(
                f"line {lineno}: a clause of {len(body)} literals; MAX-2-SAT takes at most 2"
            )
        limit = header[1] if header is not None else MAX_VARIABLES
        for x in body:
            if abs(x) > limit:
                raise InputError(f"line {lineno}: literal {x} is out of range (n = {limit})")
            top_var = max(top_var, abs(x))
        if hard_clause:
            if hard == "refuse":
                raise InputError(
                    f"line {lineno}: a hard clause; derand weights hard clauses only with "
                    "hard='weight' (--hard weight)"
                )
            first_hard_line = first_hard_line or lineno
        a.append(body[0] if body else 0)
        b.append(body[1] if len(body) == 2 else 0)
        w.append(weight)
        is_hard.append(hard_clause)
    if header is not None and header[2] != len(a):
        raise InputError(f"the 'p' line says {header[2]} clauses, the file has {len(a)}")
    if not a and header is None:
        raise InputError("no clauses and no 'p' line")
    weights = np.array(w, np.float64)
    flags = np.array(is_hard, bool)
    soft_total = float(np.sum(weights[~flags]))
    if flags.any():
        top = header[3] if header is not None else None
        hard_weight = max(top if top is not None else 0.0, 1.0 + soft_total)
        if not np.isfinite(hard_weight):
            raise InputError("the total soft weight overflows")
        weights[flags] = hard_weight
    n = header[1] if header is not None else max(1, top_var)
    if n < 1:
        n = 1
    return MaxTwoSat.from_arrays(n, a, b, weights, hard=flags, name=name)


def _header(tokens: list[str], lineno: int) -> tuple[str, int, int, float | None]:
    if len(tokens) < 2 or tokens[1] not in ("cnf", "wcnf"):
        raise InputError(f"line {lineno}: header must be 'p cnf N M' or 'p wcnf N M [TOP]'")
    kind = tokens[1]
    expected = (4,) if kind == "cnf" else (4, 5)
    if len(tokens) not in expected:
        raise InputError(
            f"line {lineno}: header must be "
            + ("'p cnf N M'" if kind == "cnf" else "'p wcnf N M [TOP]'")
            + f", got {' '.join(tokens)!r}"
        )
    n = parse_int(tokens[2], lineno, "variable count")
    m = parse_int(tokens[3], lineno, "clause count")
    if not 0 <= n <= MAX_VARIABLES or m < 0:
        raise InputError(f"line {lineno}: header needs 0 <= N <= 2**31 - 1 and M >= 0")
    top = parse_float(tokens[4], lineno, "top weight") if len(tokens) == 5 else None
    if top is not None and top <= 0:
        raise InputError(f"line {lineno}: top weight must be positive, got {tokens[4]}")
    return kind, n, m, top


def _weight(token: str, lineno: int) -> float:
    value = parse_float(token, lineno, "clause weight")
    if value < 0:
        raise InputError(f"line {lineno}: clause weight {token} is negative")
    return value
