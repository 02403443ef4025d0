"""QUBO readers: a sparse ``i j q`` text format and the OR-Library ``bqp`` format.

Sparse text (``read_qubo``): one entry ``i j q`` per line, adding ``q x_i x_j`` (``i == j``:
linear; ``(i, j)`` and ``(j, i)`` summed, as dimod's ``from_qubo`` reads a dict); comment lines
start with ``#`` or ``c``. An optional qbsolv header ``p qubo 0 MAXNODES NNODES NCOUPLERS``
fixes the variables to ``0 .. MAXNODES-1`` and the entry counts; without it the variables are
the ids that appear, in increasing order, and keep them as labels.

OR-Library (``read_bqp``, Beasley 1998): the first number is the count of instances; each
instance is ``n nnz`` followed by ``nnz`` lines ``i j q`` (1-based) of a symmetric matrix
``Q``; the problem is to **maximise** ``sum_ij q_ij x_i x_j``. An off-diagonal entry listed
once stands for both ``q_ij`` and ``q_ji``; listing both with the same value is accepted,
with different values refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from derand.csp.base import MAX_VARIABLES, Sense
from derand.csp.qubo import QUBO, check_sense
from derand.csp.textio import MAX_INPUT_BYTES, parse_float, parse_int, read_text, rows
from derand.errors import InputError

__all__ = ["parse_bqp", "parse_qubo", "read_bqp", "read_qubo"]


def read_qubo(path: str | Path, *, sense: Sense, max_bytes: int = MAX_INPUT_BYTES) -> QUBO:
    """Read a sparse ``i j q`` QUBO file (see the module).

    Raises
    ------
    InputError
        With the line number: not three tokens, a negative or non-integer id, a coefficient
        that is not a plain finite number, header counts that do not match.

    Returns
    -------
    QUBO

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "q.txt"
    >>> _ = path.write_text("# a comment\\n3 3 -1\\n3 7 2\\n")
    >>> Q = read_qubo(path, sense="min")
    >>> Q.labels, Q.c.tolist(), Q.q.tolist()
    ((3, 7), [-1.0, 0.0], [2.0])
    """
    target = Path(path)
    text = read_text(target, "QUBO file", max_bytes=max_bytes)
    try:
        return parse_qubo(text, sense=sense, name=target.stem)
    except InputError as exc:
        raise InputError(f"{target}: {exc}") from None


def parse_qubo(text: str, *, sense: Sense, name: str = "qubo") -> QUBO:
    """Parse sparse ``i j q`` text (see :func:`read_qubo`).

    Returns
    -------
    QUBO
    """
    sense = check_sense(sense)
    header: tuple[int, int, int] | None = None
    ii: list[int] = []
    jj: list[int] = []
    qq: list[float] = []
    first = True
    for lineno, tokens in rows(text, comments=("#", "c")):
        if tokens[0] == "p":
            if not first:
                raise InputError(f"line {lineno}: the 'p qubo' header must come first")
            header = _qbsolv_header(tokens, lineno)
            first = False
            continue
        first = False
        if len(tokens) != 3:
            raise InputError(f"line {lineno}: expected 'i j q', got {' '.join(tokens)!r}")
        i = parse_int(tokens[0], lineno, "variable id")
        j = parse_int(tokens[1], lineno, "variable id")
        limit = header[0] if header is not None else MAX_VARIABLES
        for x in (i, j):
            if not 0 <= x < limit:
                raise InputError(f"line {lineno}: variable id {x} is out of range [0, {limit})")
        ii.append(i)
        jj.append(j)
        qq.append(parse_float(tokens[2], lineno, "coefficient"))
    if not ii and header is None:
        raise InputError("no entries")
    i_arr, j_arr = np.array(ii, np.int64), np.array(jj, np.int64)
    if header is not None:
        n, diagonal, couplers = header
        found_diag = int(np.sum(i_arr == j_arr))
        if found_diag != diagonal or i_arr.size - found_diag != couplers:
            raise InputError(
                f"the header says {diagonal} diagonal and {couplers} off-diagonal entries, "
                f"the file has {found_diag} and {i_arr.size - found_diag}"
            )
        return QUBO.from_arrays(n, u=i_arr, v=j_arr, q=qq, sense=sense, name=name)
    ids = np.unique(np.concatenate([i_arr, j_arr]))
    u = np.searchsorted(ids, i_arr)
    v = np.searchsorted(ids, j_arr)
    return QUBO.from_arrays(int(ids.size), u=u, v=v, q=qq, sense=sense, name=name,
                            labels=[int(x) for x in ids])  # fmt: skip


def _qbsolv_header(tokens: list[str], lineno: int) -> tuple[int, int, int]:
    if len(tokens) != 6 or tokens[1] != "qubo":
        raise InputError(
            f"line {lineno}: header must be 'p qubo 0 MAXNODES NNODES NCOUPLERS', "
            f"got {' '.join(tokens)!r}"
        )
    values = [parse_int(tok, lineno, "header field") for tok in tokens[2:]]
    topology, n, diagonal, couplers = values
    if topology != 0:
        raise InputError(f"line {lineno}: only the unconstrained topology '0' is supported")
    if not 1 <= n <= MAX_VARIABLES or diagonal < 0 or couplers < 0:
        raise InputError(f"line {lineno}: header counts out of range")
    return n, diagonal, couplers


def read_bqp(path: str | Path, *, index: int = 1, max_bytes: int = MAX_INPUT_BYTES) -> QUBO:
    """Instance ``index`` (1-based, as in ``bqp50-1``) of an OR-Library bqp file, maximised.

    Raises
    ------
    InputError
        With the line number: a bad count, header or entry, an id outside ``1 .. n``, a
        repeated entry or ``q_ij != q_ji``, fewer instances than ``index``.

    Returns
    -------
    QUBO
        Named ``<file stem>-<index>``, variables labelled ``1 .. n``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "bqp2"
    >>> _ = path.write_text("1\\n2 2\\n1 1 3\\n1 2 -2\\n")
    >>> Q = read_bqp(path)
    >>> Q.value_of_bits([1, 1]), Q.sense
    (-1.0, 'max')
    """
    target = Path(path)
    text = read_text(target, "bqp file", max_bytes=max_bytes)
    try:
        return parse_bqp(text, index=index, name=target.stem)
    except InputError as exc:
        raise InputError(f"{target}: {exc}") from None


def parse_bqp(text: str, *, index: int = 1, name: str = "bqp") -> QUBO:
    """Parse OR-Library bqp text (see :func:`read_bqp`).

    Returns
    -------
    QUBO
    """
    if isinstance(index, bool) or not isinstance(index, int) or index < 1:
        raise InputError(f"the instance index is 1-based, got {index!r}")
    lines = rows(text, comments=("#",))
    try:
        lineno, tokens = next(lines)
    except StopIteration:
        raise InputError("the file is empty") from None
    if len(tokens) != 1:
        raise InputError(f"line {lineno}: expected the number of instances")
    count = parse_int(tokens[0], lineno, "instance count")
    if count < 1:
        raise InputError(f"line {lineno}: the instance count must be >= 1")
    if index > count:
        raise InputError(f"instance {index} asked, the file holds {count}")
    for k in range(1, index + 1):
        try:
            lineno, tokens = next(lines)
        except StopIteration:
            raise InputError(f"the file ends before instance {k}") from None
        if len(tokens) != 2:
            raise InputError(f"line {lineno}: expected 'n nnz' for instance {k}")
        n = parse_int(tokens[0], lineno, "variable count")
        nnz = parse_int(tokens[1], lineno, "entry count")
        if not 1 <= n <= MAX_VARIABLES or nnz < 0:
            raise InputError(f"line {lineno}: needs n >= 1 and nnz >= 0")
        entries: dict[tuple[int, int], tuple[float, int, int]] = {}
        for _ in range(nnz):
            try:
                lineno, tokens = next(lines)
            except StopIteration:
                raise InputError(f"instance {k}: the file ends before its {nnz} entries") from None
            if k < index:
                continue  # earlier instances are skipped, not parsed
            if len(tokens) != 3:
                raise InputError(f"line {lineno}: expected 'i j q', got {' '.join(tokens)!r}")
            i = parse_int(tokens[0], lineno, "variable id")
            j = parse_int(tokens[1], lineno, "variable id")
            q = parse_float(tokens[2], lineno, "coefficient")
            if not (1 <= i <= n and 1 <= j <= n):
                raise InputError(f"line {lineno}: variable id out of range 1 .. {n}")
            key = (min(i, j), max(i, j))
            if key in entries:
                old, oi, ol = entries[key]
                if oi == i or i == j:
                    raise InputError(f"line {lineno}: entry ({i}, {j}) repeats line {ol}")
                if old != q:
                    raise InputError(
                        f"line {lineno}: q({i},{j}) = {q} but line {ol} gave q({j},{i}) = {old}"
                    )
                continue
            entries[key] = (q, i, lineno)
        if k == index:
            keys = list(entries)
            u = np.array([a for a, _ in keys], np.int64) - 1
            v = np.array([b for _, b in keys], np.int64) - 1
            vals = np.array([entries[key][0] for key in keys], np.float64)
            vals = np.where(u == v, vals, 2.0 * vals)  # q_ij x_i x_j + q_ji x_j x_i
            return QUBO.from_arrays(n, u=u, v=v, q=vals, sense="max",
                                    name=f"{name}-{index}", labels=range(1, n + 1))  # fmt: skip
    raise AssertionError("unreachable")  # pragma: no cover
