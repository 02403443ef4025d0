"""Weighted undirected graphs for Max-Cut: one :class:`Graph` type, readers and generators.

Weights may be negative (Gset toroidal instances use +-1). Readers raise
:class:`~derand.errors.InputError` naming the offending line; self-loops are dropped with a
warning (they never contribute to a cut).
"""

from __future__ import annotations

import codecs
import os
import re
import stat
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from derand.errors import InputError
from derand.limits import (
    MEMORY_FRACTION,
    available_memory,
    check_count,
    check_finite,
    check_seed,
    format_bytes,
    require_memory,
)

__all__ = [
    "Graph",
    "as_graph",
    "from_edge_list",
    "from_edges",
    "from_networkx",
    "from_scipy",
    "gnp",
    "gset_best_known",
    "load_graph",
    "load_gset",
    "paper_graph",
    "paper_graph_torch",
    "parse_spec",
    "random_regular",
    "read_edgelist",
    "read_rudy",
    "torus",
    "write_rudy",
]


MAX_NODES = 2**40
"""Largest node count accepted (ids must also fit in int64)."""


@dataclass(frozen=True)
class Graph:
    """An undirected weighted graph with ``n`` nodes and edges ``(u[k], v[k], w[k])``, u < v.

    Attributes
    ----------
    n : int
        Number of nodes, labelled ``0 .. n-1``.
    u, v : ndarray of int64
        Edge endpoints with ``u < v``; no duplicates, no self-loops.
    w : ndarray of float64
        Finite edge weights (may be negative).
    name : str
        A label for reports.
    """

    n: int
    u: NDArray[np.int64] = field(repr=False)
    v: NDArray[np.int64] = field(repr=False)
    w: NDArray[np.float64] = field(repr=False)
    name: str = "graph"

    @property
    def m(self) -> int:
        """Number of edges."""
        return int(self.u.shape[0])

    def adjacency(self) -> sp.csr_matrix:
        """The symmetric weighted adjacency matrix (CSR, float64)."""
        rows = np.concatenate([self.u, self.v])
        cols = np.concatenate([self.v, self.u])
        data = np.concatenate([self.w, self.w])
        return sp.csr_matrix((data, (rows, cols)), shape=(self.n, self.n))

    def laplacian(self) -> sp.csr_matrix:
        """The weighted Laplacian ``L = Diag(A 1) - A`` (CSR)."""
        a = self.adjacency()
        deg = np.asarray(a.sum(axis=1)).ravel()
        return sp.csr_matrix(sp.diags(deg) - a)

    def cut_value(self, s: NDArray[Any]) -> float:
        """Cut weight ``sum_{uv} w_uv (1 - s_u s_v) / 2`` of a +-1 vector ``s``."""
        s = np.asarray(s)
        if s.shape != (self.n,):
            raise InputError(f"partition has shape {s.shape}, expected ({self.n},)")
        return float(np.sum(self.w[s[self.u] != s[self.v]]))

    def total_weight(self) -> float:
        """Sum of all edge weights."""
        return float(np.sum(self.w))


def from_edges(
    n: int,
    u: NDArray[Any],
    v: NDArray[Any],
    w: NDArray[Any] | None = None,
    *,
    name: str = "graph",
    lines: NDArray[np.int64] | None = None,
    duplicates: Literal["error", "sum"] = "error",
) -> Graph:
    """Validate and build a :class:`Graph` from 0-based edge arrays.

    Self-loops are dropped with a warning. Ids out of ``[0, n)`` and non-finite weights raise
    :class:`InputError`; when ``lines`` (source line numbers, one per edge) is given, the
    message names the line. Duplicate edges (in either orientation) raise too, or, with
    ``duplicates="sum"``, are merged into one edge carrying the summed weight (with a warning).

    Returns
    -------
    Graph

    Examples
    --------
    >>> import numpy as np
    >>> g = from_edges(3, np.array([0, 1]), np.array([1, 2]), np.array([1.0, 2.5]))
    >>> g.n, g.m, g.total_weight()
    (3, 2, 3.5)
    """
    n = check_count(n, "number of nodes", high=MAX_NODES)
    require_memory(64.0 * n, f"a graph with {n} nodes")
    try:
        uu = np.asarray(u, dtype=np.int64).ravel()
        vv = np.asarray(v, dtype=np.int64).ravel()
        ww = np.ones(uu.shape, np.float64) if w is None else np.asarray(w, np.float64).ravel()
    except (OverflowError, TypeError, ValueError) as exc:
        raise InputError(f"edges must be integer ids and real weights ({exc})") from None
    if not (uu.shape == vv.shape == ww.shape):
        raise InputError("edge arrays u, v, w have different lengths")
    line_of = lines

    def where(k: int) -> str:
        return "" if line_of is None else f"line {int(line_of[k])}: "

    bad = np.flatnonzero((uu < 0) | (uu >= n) | (vv < 0) | (vv >= n))
    if bad.size:
        k = int(bad[0])
        raise InputError(f"{where(k)}node id out of range in edge ({uu[k]}, {vv[k]}), n = {n}")
    bad = np.flatnonzero(~np.isfinite(ww))
    if bad.size:
        k = int(bad[0])
        raise InputError(f"{where(k)}weight {ww[k]} is not finite")
    loops = uu == vv
    if loops.any():
        warnings.warn(f"dropped {int(loops.sum())} self-loop(s)", stacklevel=2)
        keep = ~loops
        uu, vv, ww = uu[keep], vv[keep], ww[keep]
        if lines is not None:
            lines = lines[keep]
    lo, hi = np.minimum(uu, vv), np.maximum(uu, vv)
    order = np.lexsort((hi, lo))
    lo, hi, ww = lo[order], hi[order], ww[order]
    same = (np.diff(lo) == 0) & (np.diff(hi) == 0)
    if same.any():
        if duplicates != "sum":
            k = int(order[np.flatnonzero(same)[0] + 1])
            raise InputError(f"{where(k)}duplicate edge ({min(uu[k], vv[k])}, {max(uu[k], vv[k])})")
        first = np.concatenate([[True], ~same])
        group = np.cumsum(first) - 1
        summed = np.zeros(int(group[-1]) + 1)
        np.add.at(summed, group, ww)
        warnings.warn(f"summed the weights of {int(same.sum())} repeated edge(s)", stacklevel=2)
        lo, hi, ww = lo[first], hi[first], summed
        if not np.all(np.isfinite(ww)):
            raise InputError("summed edge weights overflow")
    return Graph(n=int(n), u=lo, v=hi, w=ww, name=name)


MAX_GRAPH_FILE_BYTES = 2**30
"""Largest graph file read (1 GiB). Parsing needs about :data:`PARSE_BYTES_PER_BYTE` bytes of
memory per byte of text, so a smaller limit applies when less memory is available: at most
80 % of the available memory divided by that factor."""

PARSE_BYTES_PER_BYTE = 40
"""Memory the text parser needs per byte of input (token lists of Python strings)."""

_CHUNK = 1 << 20
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


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


def _show(tok: str) -> str:
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
    if len(tok) > 40 or not _INT.fullmatch(tok):
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


def _parse_int(tok: str, lineno: int, what: str) -> int:
    value = parse_int(tok)
    if value is None:
        if len(tok) > 40 and _INT.fullmatch(tok):
            raise InputError(f"line {lineno}: {what} {_show(tok)} is out of range (|id| <= 2**40)")
        raise InputError(f"line {lineno}: {what} {_show(tok)} is not an integer")
    if not -MAX_NODES <= value <= MAX_NODES:
        raise InputError(f"line {lineno}: {what} {tok} is out of range (|id| <= 2**40)")
    return value


def _parse_float(tok: str, lineno: int) -> float:
    value = parse_float(tok)
    if value is None:
        raise InputError(f"line {lineno}: weight {_show(tok)} is not a number")
    if not np.isfinite(value):
        raise InputError(f"line {lineno}: weight {_show(tok)} is not finite")
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
    rows = _numbers(read_text(path))
    try:
        return _rudy(path, rows)
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


def from_scipy(matrix: Any, *, name: str = "sparse") -> Graph:
    """A graph from a square scipy.sparse matrix or dense array of edge weights.

    A symmetric matrix is an undirected graph (``w_ij = A_ij``, upper triangle). A matrix
    that is not symmetric is read as a directed graph and symmetrised with a warning:
    ``w_ij = A_ij + A_ji``, since a cut separates both arcs. The diagonal is ignored.

    Returns
    -------
    Graph

    Examples
    --------
    >>> import numpy as np
    >>> from_scipy(np.array([[0, 2.0], [2.0, 0]])).w.tolist()
    [2.0]
    """
    try:
        a = sp.csr_matrix(matrix, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"cannot read the adjacency matrix as real numbers ({exc})") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise InputError(f"adjacency matrix must be square, got {a.shape}")
    if a.nnz and not np.all(np.isfinite(a.data)):
        raise InputError("adjacency matrix has NaN or infinite entries")
    if a.nnz and abs(a - a.T).max() > 1e-12 * max(1.0, abs(a).max()):
        warnings.warn("adjacency matrix is not symmetric: read as directed, A + A^T", stacklevel=2)
        a = sp.csr_matrix(a + a.T)
    upper = sp.triu(a, k=1).tocoo()
    keep = upper.data != 0
    return from_edges(
        max(1, a.shape[0]), upper.row[keep], upper.col[keep], upper.data[keep], name=name
    )


def _edge_weight(data: Any, weight: str | None, where: str) -> float:
    """The weight of one edge from its attribute mapping (networkx) or number (edge list)."""
    if weight is None:
        return 1.0
    value = data.get(weight, 1.0) if isinstance(data, Mapping) else data
    if isinstance(value, (str, bytes)) or value is None:
        raise InputError(f"{where}: edge weight {value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{where}: edge weight {value!r} is not a number ({exc})") from None


def from_networkx(g: Any, *, weight: str | None = "weight", name: str = "networkx") -> Graph:
    """A graph from a networkx graph; node ``k`` is the ``k``-th of ``g.nodes()``.

    ``weight`` names the edge attribute holding the weight, as in networkx: ``"weight"`` by
    default (a missing attribute counts 1), another name such as ``"capacity"`` to read that
    attribute instead, ``None`` for an unweighted graph (every edge 1, attributes ignored).
    Directed graphs are symmetrised (``w_uv`` + ``w_vu``, both arcs cross a cut) and repeated
    edges of multigraphs summed, each with a warning.

    Returns
    -------
    Graph

    Examples
    --------
    >>> import networkx as nx
    >>> h = nx.Graph([(0, 1, {"weight": 2.0, "capacity": 5.0})])
    >>> [from_networkx(h, weight=k).w.tolist() for k in ("weight", "capacity", None)]
    [[2.0], [5.0], [1.0]]
    """
    index = {node: k for k, node in enumerate(g.nodes())}
    edges = list(g.edges(data=True))
    u = np.array([index[a] for a, _, _ in edges], np.int64)
    v = np.array([index[b] for _, b, _ in edges], np.int64)
    w = np.array([_edge_weight(d, weight, f"edge ({a!r}, {b!r})") for a, b, d in edges], np.float64)
    if g.is_directed():
        warnings.warn("directed graph: symmetrised, opposite arcs summed", stacklevel=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the symmetrisation warning above says it all
        graph = from_edges(max(len(index), 1), u, v, w, name=name, duplicates="sum")
    if g.is_multigraph() and not g.is_directed() and graph.m < len(edges):
        warnings.warn(
            f"summed the weights of {len(edges) - graph.m} repeated edge(s)", stacklevel=2
        )
    return graph


def from_edge_list(
    edges: Iterable[Any], *, weight: str | None = "weight", name: str = "edges"
) -> tuple[Graph, list[Any] | None]:
    """A graph from an edge list: tuples ``(u, v)``, ``(u, v, w)`` or ``(u, v, {attrs})``.

    The nodes are the endpoints in order of first appearance (as ``networkx.Graph(edges)``
    has them); any hashable labels work. A third element that is a number is the weight; a
    mapping is an attribute dictionary read with ``weight`` as in :func:`from_networkx`;
    ``weight=None`` makes every edge weigh 1. Duplicate edges (either orientation) raise
    :class:`InputError`; self-loops are dropped with a warning.

    Returns
    -------
    (Graph, list or None)
        The graph and the node labels in index order (``None`` when they are ``0 .. n-1`` in
        that order).

    Examples
    --------
    >>> g, labels = from_edge_list([("a", "b", 2.0), ("b", "c")])
    >>> g.w.tolist(), labels
    ([2.0, 1.0], ['a', 'b', 'c'])
    """
    index: dict[Any, int] = {}
    us: list[int] = []
    vs: list[int] = []
    ws: list[float] = []
    for k, item in enumerate(edges):
        if (
            isinstance(item, (str, bytes))
            or not isinstance(item, Sequence)
            or len(item) not in (2, 3)
        ):
            raise InputError(f"edge {k}: expected (u, v) or (u, v, w), got {item!r:.60}")
        a, b = item[0], item[1]
        for node in (a, b):
            try:
                index.setdefault(node, len(index))
            except TypeError:
                raise InputError(f"edge {k}: node {node!r:.40} is not hashable") from None
        us.append(index[a])
        vs.append(index[b])
        ws.append(1.0 if len(item) == 2 else _edge_weight(item[2], weight, f"edge {k}"))
    if not index:
        raise InputError("the edge list is empty")
    labels = list(index)
    graph = from_edges(
        len(labels), np.array(us, np.int64), np.array(vs, np.int64), np.array(ws), name=name
    )
    plain = all(type(x) is int for x in labels) and labels == list(range(len(labels)))
    return graph, None if plain else labels


def _unweighted(graph: Graph) -> Graph:
    return Graph(n=graph.n, u=graph.u, v=graph.v, w=np.ones(graph.m), name=graph.name)


def as_graph(obj: Any, *, weight: str | None = "weight") -> tuple[Graph, list[Any] | None]:
    """Accept a :class:`Graph`, a networkx graph, a scipy.sparse / dense adjacency matrix or an
    edge list (a list or tuple of ``(u, v)``, ``(u, v, w)`` or ``(u, v, {attrs})``).

    ``weight`` follows networkx: the edge attribute to read (networkx graphs and attribute
    dictionaries of edge lists; default ``"weight"``, a missing attribute counts 1), or
    ``None`` for an unweighted graph: every edge weighs 1, whatever the input (for a matrix,
    every nonzero entry of the symmetrised matrix is an edge of weight 1).

    Returns
    -------
    (Graph, list or None)
        The graph and its node labels in index order (``None`` when the labels are
        ``0 .. n-1``).

    Examples
    --------
    >>> import networkx as nx
    >>> g, labels = as_graph(nx.path_graph(["a", "b", "c"]))
    >>> g.m, labels
    (2, ['a', 'b', 'c'])
    >>> as_graph([(0, 1, 3.0), (1, 2, -1.0)], weight=None)[0].w.tolist()
    [1.0, 1.0]
    """
    if weight is not None and not isinstance(weight, str):
        raise InputError(f"weight must be an attribute name or None, got {weight!r}")
    if isinstance(obj, Graph):
        return (obj if weight is not None else _unweighted(obj)), None
    if hasattr(obj, "nodes") and hasattr(obj, "edges") and hasattr(obj, "is_directed"):
        labels = list(obj.nodes())
        graph = from_networkx(obj, weight=weight, name=str(getattr(obj, "name", "") or "networkx"))
        return graph, labels
    if sp.issparse(obj) or isinstance(obj, np.ndarray):
        graph = from_scipy(obj)
        return (graph if weight is not None else _unweighted(graph)), None
    if isinstance(obj, (list, tuple)):
        return from_edge_list(obj, weight=weight)
    raise InputError(
        "expected a Graph, a networkx graph, an adjacency matrix or an edge list, "
        f"got {type(obj).__name__}"
    )


def gnp(n: int, p: float, *, seed: int = 0, weights: str = "one") -> Graph:
    """Erdos-Renyi G(n, p); ``weights`` is one of :data:`WEIGHTS`.

    Returns
    -------
    Graph

    Examples
    --------
    >>> gnp(10, 0.5, seed=1).n
    10
    """
    _check_weights(weights)
    n = check_count(n, "gnp: n", low=2, high=MAX_NODES)
    p = check_finite(p, "gnp: p", low=0.0, high=1.0)
    seed = check_seed(seed, "gnp: seed")
    require_memory(40.0 * n * (n - 1) / 2, f"gnp with n = {n}")
    rng = np.random.default_rng(seed)
    iu, ju = np.triu_indices(n, k=1)
    keep = rng.random(iu.shape[0]) < p
    u, v = iu[keep], ju[keep]
    w = _weights(rng, u.shape[0], weights)
    return from_edges(n, u, v, w, name=f"gnp(n={n},p={p},seed={seed})")


def random_regular(n: int, d: int, *, seed: int = 0, weights: str = "one") -> Graph:
    """A random d-regular simple graph (configuration model with restarts).

    Returns
    -------
    Graph

    Examples
    --------
    >>> random_regular(10, 3).m
    15
    """
    _check_weights(weights)
    n = check_count(n, "regular: n", low=2, high=MAX_NODES)
    d = check_count(d, "regular: d", low=1, high=n - 1)
    seed = check_seed(seed, "regular: seed")
    if (n * d) % 2:
        raise InputError(f"regular graph needs n*d even, got n = {n}, d = {d}")
    require_memory(80.0 * n * d, f"a {d}-regular graph on {n} nodes")
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        stubs = rng.permutation(np.repeat(np.arange(n), d))
        a, b = stubs[0::2], stubs[1::2]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        if np.any(lo == hi) or np.unique(lo * n + hi).size != lo.size:
            continue
        w = _weights(rng, lo.shape[0], weights)
        return from_edges(n, lo, hi, w, name=f"regular(n={n},d={d},seed={seed})")
    raise InputError(f"could not sample a simple {d}-regular graph on {n} nodes")


def torus(rows: int, cols: int, *, seed: int = 0, weights: str = "pm1") -> Graph:
    """A 2-D toroidal grid ``rows x cols``, by default with random +-1 weights (like Gset G48).

    Returns
    -------
    Graph

    Examples
    --------
    >>> torus(3, 4).m
    24
    """
    _check_weights(weights)
    rows = check_count(rows, "torus: rows", low=3, high=MAX_NODES)
    cols = check_count(cols, "torus: cols", low=3, high=MAX_NODES)
    seed = check_seed(seed, "torus: seed")
    require_memory(160.0 * rows * cols, f"a {rows} x {cols} torus")
    rng = np.random.default_rng(seed)
    idx = np.arange(rows * cols).reshape(rows, cols)
    right = np.roll(idx, -1, axis=1)
    down = np.roll(idx, -1, axis=0)
    u = np.concatenate([idx.ravel(), idx.ravel()])
    v = np.concatenate([right.ravel(), down.ravel()])
    w = _weights(rng, u.shape[0], weights)
    return from_edges(rows * cols, u, v, w, name=f"torus({rows}x{cols},seed={seed})")


WEIGHTS = ("one", "pm1", "uniform", "normal")
"""Weight kinds of the generators: 1, random signs, U(0, 1), standard normal."""


def _check_weights(kind: str) -> None:
    if kind not in WEIGHTS:
        raise InputError(f"weights must be one of {', '.join(WEIGHTS)}, got {kind!r}")


def _weights(rng: np.random.Generator, m: int, kind: str) -> NDArray[np.float64]:
    if kind == "one":
        return np.ones(m)
    if kind == "pm1":
        return rng.choice(np.array([-1.0, 1.0]), size=m)
    if kind == "uniform":
        return rng.random(m)
    if kind == "normal":
        return rng.standard_normal(m)
    raise InputError(f"weights must be one of {', '.join(WEIGHTS)}, got {kind!r}")


# Upper-triangle edges of the authors' instance, precomputed from ``torch.manual_seed(42)``;
# ``paper_graph_torch`` recomputes them (a test checks the two agree).
_PAPER_U = (
    "0 0 0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 2 2 2 2 2 2 3 3 3 3 3 3 4 4 4 4 4 4 5 5 5 5 5 6 6 6 6 6 6 6 "
    "7 7 7 7 7 7 7 8 8 8 9 10 10 11 12"
)
_PAPER_V = (
    "2 4 6 9 11 13 2 3 5 6 7 9 10 11 12 13 14 3 4 6 8 9 11 4 5 6 7 12 14 5 7 8 9 13 14 6 8 10 12 "
    "13 7 8 9 10 12 13 14 8 9 10 11 12 13 14 9 12 14 14 12 13 14 14"
)


def paper_graph() -> Graph:
    """The authors' 15-node instance (62 edges, maximum cut 41), without importing torch.

    Identical to :func:`paper_graph_torch`: ``torch.manual_seed(42)``,
    ``A = rand(15, 15) < 0.6``, diagonal zeroed, upper triangle symmetrised.

    Returns
    -------
    Graph

    Examples
    --------
    >>> paper_graph().m
    62
    """
    u = np.array(_PAPER_U.split(), np.int64)
    v = np.array(_PAPER_V.split(), np.int64)
    return from_edges(15, u, v, None, name="paper")


def paper_graph_torch() -> Graph:
    """The authors' construction, run through torch (slow to import; used to verify).

    Returns
    -------
    Graph
        Equal to :func:`paper_graph` (a test checks it).

    Examples
    --------
    >>> paper_graph_torch().m  # doctest: +SKIP
    62
    """
    import torch

    gen = torch.Generator().manual_seed(42)  # same stream as torch.manual_seed(42)
    a = (torch.rand(15, 15, generator=gen) < 0.6).numpy()
    a = np.triu(a, k=1)
    u, v = np.nonzero(a)
    return from_edges(15, u, v, None, name="paper")


_SPEC_KEYS = {
    "gnp": {"n", "p", "seed", "weights"},
    "regular": {"n", "d", "seed", "weights"},
    "torus": {"rows", "cols", "seed", "weights"},
}


def parse_spec(spec: str) -> Graph:
    """A generated graph from ``kind:key=value,...``, e.g. ``gnp:n=200,p=0.1,seed=1``.

    Returns
    -------
    Graph

    Examples
    --------
    >>> parse_spec("regular:n=10,d=3,seed=2").m
    15
    """
    kind, _, rest = spec.partition(":")
    if kind not in _SPEC_KEYS:
        raise InputError(f"unknown generator {kind!r}; expected one of {sorted(_SPEC_KEYS)}")
    params: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in _SPEC_KEYS[kind]:
            raise InputError(
                f"bad generator parameter {item!r} for {kind}; keys: {sorted(_SPEC_KEYS[kind])}"
            )
        params[key] = value

    def get_int(key: str, default: int | None = None) -> int:
        if key not in params:
            if default is None:
                raise InputError(f"generator {kind} needs {key}=...")
            return default
        value = parse_int(params[key])
        if value is None:
            raise InputError(f"{kind}: {key} must be an integer, got {params[key]!r}")
        return value

    seed = get_int("seed", 0)
    weights = params.get("weights", "one")
    if kind == "gnp":
        if "p" not in params:
            raise InputError("generator gnp needs p=...")
        p = parse_float(params["p"])
        if p is None:
            raise InputError(f"gnp: p must be a number, got {params['p']!r}")
        return gnp(get_int("n"), p, seed=seed, weights=weights)
    if kind == "regular":
        return random_regular(get_int("n"), get_int("d"), seed=seed, weights=weights)
    return torus(get_int("rows"), get_int("cols"), seed=seed, weights=params.get("weights", "pm1"))


GSET_NAMES = tuple([f"G{k}" for k in range(1, 68)] + ["G70", "G72", "G77", "G81"])
"""The 71 Gset instances shipped with derand (see ``derand/maxcut/data/README.md``)."""


def load_gset(name: str) -> Graph:
    """One of the 71 Gset instances shipped inside the package (``"G1"`` ... ``"G81"``).

    Helmberg & Rendl's benchmark, generated with rudy; provenance and licence in
    ``derand/maxcut/data/README.md``. No download: the instances are in the wheel.

    Returns
    -------
    Graph

    Examples
    --------
    >>> g = load_gset("G1")
    >>> g.n, g.m
    (800, 19176)
    """
    if name not in GSET_NAMES:
        raise InputError(
            f"unknown Gset instance {name!r}; expected one of G1..G67, G70, G72, G77, G81"
        )
    from importlib.resources import files

    with files("derand.maxcut").joinpath("data/gset.npz").open("rb") as fh:
        data = np.load(fh)
        counts = data[f"{name}_counts"]
        v = data[f"{name}_v"].astype(np.int64)
        w = np.where(data[f"{name}_w"], 1.0, -1.0)
    u = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    return Graph(n=int(counts.size), u=u, v=v, w=w, name=name)


def gset_best_known() -> dict[str, dict[str, float | None]]:
    """Best known cuts and published SDP values of the shipped Gset instances.

    Returns
    -------
    dict
        ``{"G1": {"n": 800, "m": 19176, "best_known": 11624.0, "sdp_value": 12083.2}, ...}``
        (``sdp_value`` is ``None`` where no published value was found).

    Examples
    --------
    >>> gset_best_known()["G1"]["best_known"]
    11624.0
    """
    import csv
    from importlib.resources import files

    text = files("derand.maxcut").joinpath("data/gset_best_known.csv").read_text()
    out: dict[str, dict[str, float | None]] = {}
    for row in csv.DictReader(text.splitlines()):
        out[row["instance"]] = {
            "n": float(row["n"]),
            "m": float(row["m"]),
            "best_known": float(row["best_known"]),
            "sdp_value": float(row["sdp_value"]) if row["sdp_value"] else None,
        }
    return out


EDGELIST_SUFFIXES = (".edges", ".edgelist", ".el")


def load_graph(source: str, *, fmt: str = "auto") -> Graph:
    """Resolve a graph argument: ``paper``, ``gset:G1`` (shipped), a generator spec, or a file.

    ``fmt`` is ``rudy``, ``edgelist`` or ``auto``: files ending in ``.edges``, ``.edgelist`` or
    ``.el`` are edge lists; otherwise a file whose first data line has two tokens and whose
    other lines all have three (or whose line count matches the header) is rudy.

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
    if source.split(":", 1)[0] in _SPEC_KEYS and ":" in source:
        return parse_spec(source)
    path = Path(source)
    if not path.exists():
        raise InputError(f"{source}: no such file (nor 'paper' or a generator spec)")
    if path.is_dir():
        raise InputError(f"{source} is a directory")
    rows = _numbers(read_text(path))  # read once: a pipe cannot be read twice
    if fmt == "auto" and path.suffix.lower() in EDGELIST_SUFFIXES:
        fmt = "edgelist"
    if fmt == "auto":
        fmt = "edgelist"
        if rows and len(rows[0][1]) == 2:
            rest = rows[1:]
            head = rows[0][1][1]
            if all(len(t) == 3 for _, t in rest) or parse_int(head) == len(rest):
                fmt = "rudy"
    try:
        return _rudy(path, rows) if fmt == "rudy" else _edgelist(path, rows)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
