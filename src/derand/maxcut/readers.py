"""Graph files: rudy/Gset and edge-list readers, the rudy writer, and :func:`load_graph`.

A file is read once, in chunks, with its size bound checked while reading, so named pipes,
``/dev/stdin`` and process substitutions work, and endless streams (``/dev/zero``, ``yes``)
end in one :class:`~derand.errors.InputError` naming the file. Errors name the line.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from pathlib import Path

import numpy as np

from derand.errors import InputError
from derand.limits import MEMORY_FRACTION, available_memory, format_bytes
from derand.maxcut.datasets import load_gset, paper_graph
from derand.maxcut.generators import SPEC_KINDS, parse_spec
from derand.maxcut.graph import MAX_NODES, Graph, from_edges
from derand.maxcut.tokens import INTEGER, parse_float, parse_int, shown

__all__ = [
    "EDGELIST_SUFFIXES",
    "MAX_GRAPH_FILE_BYTES",
    "PARSE_BYTES_PER_BYTE",
    "file_limit",
    "load_graph",
    "read_edgelist",
    "read_rudy",
    "read_text",
    "write_rudy",
]

MAX_GRAPH_FILE_BYTES = 2**30
"""Largest graph file read (1 GiB). Parsing needs about :data:`PARSE_BYTES_PER_BYTE` bytes of
memory per byte of text, so a smaller limit applies when less memory is available: at most
80 % of the available memory divided by that factor."""

PARSE_BYTES_PER_BYTE = 40
"""Memory the text parser needs per byte of input (token lists of Python strings)."""

_CHUNK = 1 << 20


def file_limit() -> int:
    """Bytes a graph file may have now: :data:`MAX_GRAPH_FILE_BYTES`, or less when memory is
    short (see there)."""
    by_memory = int(MEMORY_FRACTION * available_memory() / PARSE_BYTES_PER_BYTE)
    return max(0, min(MAX_GRAPH_FILE_BYTES, by_memory))


def read_text(path: str | Path, *, max_bytes: int | None = None) -> str:
    """The text of a graph file, read once, in chunks, with the size bound checked while reading.

    Works for regular files, named pipes, ``/dev/stdin`` and process substitutions (each is read
    exactly once). A UTF-8 byte-order mark at the start is dropped (as the CSV reader of
    ``derand jl`` does). Reading stops at the first chunk that is not UTF-8 or holds a NUL
    byte (so ``/dev/zero`` and ``/dev/urandom`` are refused at once) and as soon as more than
    ``max_bytes`` (default :func:`file_limit`) have arrived (an endless stream).

    Raises
    ------
    InputError
        Naming ``path``: not readable, a directory, over the size bound, not UTF-8 text.

    Returns
    -------
    str
    """
    path = Path(path)
    limit = file_limit() if max_bytes is None else max_bytes
    shown = format_bytes(limit)
    decoder = codecs.getincrementaldecoder("utf-8")()
    parts: list[str] = []
    total = 0
    try:
        if path.is_dir():
            raise InputError(f"{path} is a directory, not a graph file")
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if stat.S_ISREG(st.st_mode) and st.st_size > limit:
                raise InputError(
                    f"{path} is {format_bytes(st.st_size)}; a graph file may have at most "
                    f"{shown} (1 GiB, less when memory is short)"
                )
            while True:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total > limit:
                    raise InputError(
                        f"{path}: more than {shown} read, the most a graph file may have "
                        "(1 GiB, less when memory is short); an endless stream?"
                    )
                if b"\0" in chunk:
                    raise InputError(f"{path} is not a text file (it holds NUL bytes)")
                parts.append(decoder.decode(chunk))
            parts.append(decoder.decode(b"", final=True))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a UTF-8 text file") from None
    text = "".join(parts)
    return text[1:] if text.startswith("\ufeff") else text


def _numbers(text: str) -> list[tuple[int, list[str]]]:
    """Non-empty, non-comment lines of a text as (1-based line number, tokens)."""
    out: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        body = line.split("#", 1)[0].strip()
        if body:
            out.append((lineno, body.split()))
    return out


def _parse_int(tok: str, lineno: int, what: str) -> int:
    value = parse_int(tok)
    if value is None:
        if len(tok) > 40 and INTEGER.fullmatch(tok):
            raise InputError(f"line {lineno}: {what} {shown(tok)} is out of range (|id| <= 2**40)")
        raise InputError(f"line {lineno}: {what} {shown(tok)} is not an integer")
    if not -MAX_NODES <= value <= MAX_NODES:
        raise InputError(f"line {lineno}: {what} {tok} is out of range (|id| <= 2**40)")
    return value


def _parse_float(tok: str, lineno: int) -> float:
    value = parse_float(tok)
    if value is None:
        raise InputError(f"line {lineno}: weight {shown(tok)} is not a number")
    if not np.isfinite(value):
        raise InputError(f"line {lineno}: weight {shown(tok)} is not finite")
    return value


def read_rudy(path: str | Path) -> Graph:
    """Read a Gset/rudy file: a header ``n m`` then ``m`` lines ``i j w`` with 1-based ids.

    Raises
    ------
    InputError
        On a missing or malformed header, a wrong edge count, non-numbers, NaN/inf, ids out of
        range or duplicate edges; the message names the line.

    Returns
    -------
    Graph

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "g.txt"
    >>> _ = path.write_text("3 2\\n1 2 1\\n2 3 -1\\n")
    >>> read_rudy(path).w.tolist()
    [1.0, -1.0]
    """
    path = Path(path)
    text = read_text(path)
    fast = _rudy_fast(path, text)
    if fast is not None:
        return fast
    rows = _numbers(text)
    try:
        return _rudy(path, rows)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


_PLAIN = re.compile(r"[0-9+\-.eE \t\r\n]*")
"""The characters of a plain rudy file (no comments, no words): the fast path's domain."""


def _rudy_fast(path: Path, text: str) -> Graph | None:
    """The common rudy file at numpy speed (Gset's G81: 0.05 s instead of 0.6 s), or ``None``
    when ``text`` is anything but plain -- ASCII numbers only, no comments, no blank line
    inside, exactly ``i j w`` on every line after the header ``n m``, integer ids, finite
    weights. ``None`` hands the text to the strict line-by-line parser, which accepts the same
    plain files with the same result and names the line of any fault."""
    if not _PLAIN.fullmatch(text):
        return None
    lines = text.rstrip().split("\n")
    head = lines[0].split()
    if len(head) != 2:
        return None
    n, m = parse_int(head[0]), parse_int(head[1])
    if n is None or m is None or n < 1 or m < 0 or len(lines) != m + 1 or n > MAX_NODES:
        return None
    body = lines[1:]
    if any(len(line.split()) != 3 for line in body):
        return None
    if m == 0:
        return None
    toks = text.split()
    try:  # int() of these characters reads exactly [+-]digits, as the strict parser does
        u = np.array(list(map(int, toks[2::3])), np.int64)
        v = np.array(list(map(int, toks[3::3])), np.int64)
        w = np.array(toks[4::3], dtype=np.float64)
    except (ValueError, OverflowError):
        return None
    if not np.all(np.isfinite(w)) or max(np.abs(u).max(), np.abs(v).max()) > MAX_NODES:
        return None
    lines_of = np.arange(2, m + 2, dtype=np.int64)
    try:
        return from_edges(n, u - 1, v - 1, w, name=path.stem, lines=lines_of)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def _rudy(path: Path, rows: list[tuple[int, list[str]]]) -> Graph:
    if not rows:
        raise InputError("the file is empty")
    lineno, head = rows[0]
    if len(head) != 2:
        raise InputError(f"line {lineno}: header must be 'n m', got {' '.join(head)!r}")
    n = _parse_int(head[0], lineno, "node count")
    m = _parse_int(head[1], lineno, "edge count")
    if n < 1 or m < 0:
        raise InputError(f"line {lineno}: header needs n >= 1 and m >= 0, got {n} {m}")
    body = rows[1:]
    if len(body) != m:
        where = body[m][0] if len(body) > m else (body[-1][0] if body else lineno)
        raise InputError(f"line {where}: header says {m} edges but the file has {len(body)}")
    u = np.empty(m, np.int64)
    v = np.empty(m, np.int64)
    w = np.empty(m, np.float64)
    lines = np.empty(m, np.int64)
    for k, (ln, toks) in enumerate(body):
        if len(toks) != 3:
            raise InputError(f"line {ln}: expected 'i j w', got {' '.join(toks)!r}")
        u[k] = _parse_int(toks[0], ln, "node id") - 1
        v[k] = _parse_int(toks[1], ln, "node id") - 1
        w[k] = _parse_float(toks[2], ln)
        lines[k] = ln
    return from_edges(n, u, v, w, name=path.stem, lines=lines)


def read_edgelist(path: str | Path) -> Graph:
    """Read a plain edge list: lines ``u v [w]`` (0-based ids, weight 1 if absent, ``#`` comments).

    ``n`` is one more than the largest id. Errors name the line, as in :func:`read_rudy`.

    Returns
    -------
    Graph

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "g.edges"
    >>> _ = path.write_text("0 1\\n1 2 2.5\\n")
    >>> read_edgelist(path).total_weight()
    3.5
    """
    path = Path(path)
    rows = _numbers(read_text(path))
    try:
        return _edgelist(path, rows)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def _edgelist(path: Path, rows: list[tuple[int, list[str]]]) -> Graph:
    if not rows:
        raise InputError("the file has no edges")
    m = len(rows)
    u = np.empty(m, np.int64)
    v = np.empty(m, np.int64)
    w = np.ones(m, np.float64)
    lines = np.empty(m, np.int64)
    for k, (ln, toks) in enumerate(rows):
        if len(toks) not in (2, 3):
            raise InputError(f"line {ln}: expected 'u v [w]', got {' '.join(toks)!r}")
        u[k] = _parse_int(toks[0], ln, "node id")
        v[k] = _parse_int(toks[1], ln, "node id")
        if len(toks) == 3:
            w[k] = _parse_float(toks[2], ln)
        if u[k] < 0 or v[k] < 0:
            raise InputError(f"line {ln}: negative node id")
        lines[k] = ln
    n = int(max(u.max(), v.max())) + 1
    return from_edges(n, u, v, w, name=path.stem, lines=lines)


def write_rudy(graph: Graph, path: str | Path) -> Path:
    """Write ``graph`` in rudy format (1-based ids); weights written with ``repr`` precision.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from derand.maxcut.generators import torus
    >>> path = write_rudy(torus(3, 3), pathlib.Path(tempfile.mkdtemp()) / "t.txt")
    >>> read_rudy(path).m
    18
    """
    path = Path(path)
    lines = [f"{graph.n} {graph.m}"]
    lines += [
        f"{a + 1} {b + 1} {c!r}" if c != int(c) else f"{a + 1} {b + 1} {int(c)}"
        for a, b, c in zip(graph.u.tolist(), graph.v.tolist(), graph.w.tolist(), strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


EDGELIST_SUFFIXES = (".edges", ".edgelist", ".el")


def load_graph(source: str, *, fmt: str = "auto") -> Graph:
    """Resolve a graph argument: ``paper``, ``gset:G1`` (shipped), a generator spec, or a file.

    ``fmt`` is ``rudy``, ``edgelist`` or ``auto``: files ending in ``.edges``, ``.edgelist`` or
    ``.el`` are edge lists; otherwise a file whose first data line has two tokens and whose
    other lines all have three (or whose line count matches the header) is rudy, and one whose
    first line has two tokens and whose other lines mix two and three is refused as ambiguous
    (``fmt`` decides it).

    Returns
    -------
    Graph

    Examples
    --------
    >>> load_graph("gset:G14").n, load_graph("torus:rows=3,cols=4").m
    (800, 24)
    """
    if fmt not in ("auto", "rudy", "edgelist"):
        raise InputError(f"format must be auto, rudy or edgelist, got {fmt!r}")
    if source == "paper":
        return paper_graph()
    if source.startswith("gset:"):
        return load_gset(source[5:])
    if source.split(":", 1)[0] in SPEC_KINDS and ":" in source:
        return parse_spec(source)
    path = Path(source)
    shown = source if len(source) <= 200 else source[:200] + "..."
    try:
        exists, folder = path.exists(), path.is_dir()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise InputError(f"{shown}: cannot read: {reason}") from None
    if not exists:
        raise InputError(f"{shown}: no such file (nor 'paper' or a generator spec)")
    if folder:
        raise InputError(f"{shown} is a directory")
    text = read_text(path)  # read once: a pipe cannot be read twice
    if fmt == "auto" and path.suffix.lower() in EDGELIST_SUFFIXES:
        fmt = "edgelist"
    if fmt != "edgelist":  # a plain rudy file (auto would take it for one too)
        fast = _rudy_fast(path, text)
        if fast is not None:
            return fast
    rows = _numbers(text)
    if fmt == "auto":
        fmt = "edgelist"
        if rows and len(rows[0][1]) == 2:
            rest = rows[1:]
            head = rows[0][1][1]
            if all(len(t) == 3 for _, t in rest) or parse_int(head) == len(rest):
                fmt = "rudy"
            elif any(len(t) == 3 for _, t in rest):
                # a damaged rudy file must not be read as a different graph
                raise InputError(
                    f"{path}: line {rows[0][0]}: ambiguous: a rudy header 'n m' whose edge "
                    "lines are not all 'i j w', or an edge list mixing 'u v' and 'u v w'; "
                    "pass --format rudy or --format edgelist"
                )
    try:
        return _rudy(path, rows) if fmt == "rudy" else _edgelist(path, rows)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
