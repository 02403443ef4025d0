"""The weighted undirected graph of Max-Cut: the :class:`Graph` type and :func:`from_edges`.

Weights may be negative (Gset toroidal instances use +-1). :func:`from_edges` validates edge
arrays, raising :class:`~derand.errors.InputError` naming the offending line; self-loops are
dropped with a warning (they never contribute to a cut).

The readers, conversions, generators and datasets live in their own modules
(:mod:`~derand.maxcut.readers`, :mod:`~derand.maxcut.convert`,
:mod:`~derand.maxcut.generators`, :mod:`~derand.maxcut.datasets`); their public names are
re-exported here, so ``from derand.maxcut.graph import load_graph`` keeps working.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from derand.errors import InputError
from derand.limits import check_count, require_memory

if TYPE_CHECKING:  # scipy is imported by the methods that return its matrices
    import scipy.sparse as sp

__all__ = [
    "MAX_NODES",
    "Graph",
    "from_edges",
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
        import scipy.sparse as sp

        rows = np.concatenate([self.u, self.v])
        cols = np.concatenate([self.v, self.u])
        data = np.concatenate([self.w, self.w])
        return sp.csr_matrix((data, (rows, cols)), shape=(self.n, self.n))

    def csr(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """The arrays ``(indptr, indices, data)`` of :meth:`adjacency`, in its order (rows,
        then columns ascending), built by numpy alone (no scipy import).

        Returns
        -------
        (ndarray of int64, ndarray of int64, ndarray of float64)
        """
        rows = np.concatenate([self.u, self.v])
        cols = np.concatenate([self.v, self.u])
        order = np.lexsort((cols, rows))
        indptr = np.zeros(self.n + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=self.n), out=indptr[1:])
        data = np.concatenate([self.w, self.w])[order].astype(np.float64)
        return indptr, cols[order].astype(np.int64), data

    def laplacian(self) -> sp.csr_matrix:
        """The weighted Laplacian ``L = Diag(A 1) - A`` (CSR)."""
        import scipy.sparse as sp

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


_MOVED = {
    "as_graph": "derand.maxcut.convert",
    "from_edge_list": "derand.maxcut.convert",
    "from_networkx": "derand.maxcut.convert",
    "from_scipy": "derand.maxcut.convert",
    "GSET_NAMES": "derand.maxcut.datasets",
    "gset_best_known": "derand.maxcut.datasets",
    "load_gset": "derand.maxcut.datasets",
    "paper_graph": "derand.maxcut.datasets",
    "paper_graph_torch": "derand.maxcut.datasets",
    "WEIGHTS": "derand.maxcut.generators",
    "gnp": "derand.maxcut.generators",
    "parse_spec": "derand.maxcut.generators",
    "random_regular": "derand.maxcut.generators",
    "torus": "derand.maxcut.generators",
    "EDGELIST_SUFFIXES": "derand.maxcut.readers",
    "MAX_GRAPH_FILE_BYTES": "derand.maxcut.readers",
    "file_limit": "derand.maxcut.readers",
    "load_graph": "derand.maxcut.readers",
    "read_edgelist": "derand.maxcut.readers",
    "read_rudy": "derand.maxcut.readers",
    "read_text": "derand.maxcut.readers",
    "write_rudy": "derand.maxcut.readers",
    "parse_float": "derand.maxcut.tokens",
    "parse_int": "derand.maxcut.tokens",
}
"""Names that live in the readers, conversions, generators and datasets modules, importable
from here too (``from derand.maxcut.graph import load_graph``); loaded on first access, since
each of those modules imports :class:`Graph` from this one."""


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'derand.maxcut.graph' has no attribute {name!r}")
