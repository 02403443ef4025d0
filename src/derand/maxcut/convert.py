"""Graphs from other objects: networkx graphs, scipy.sparse / dense matrices, edge lists.

:func:`as_graph` dispatches on the input and follows networkx's ``weight`` convention.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from derand.errors import InputError
from derand.maxcut.graph import Graph, from_edges

__all__ = ["as_graph", "from_edge_list", "from_networkx", "from_scipy"]


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
    import scipy.sparse as sp

    try:
        a = sp.csr_matrix(matrix, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"cannot read the adjacency matrix as real numbers ({exc})") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise InputError(
            f"adjacency matrix must be square, got {a.shape} (an edge list is a list of tuples)"
        )
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
    sparse = sys.modules.get("scipy.sparse")  # no sparse matrix exists before its import
    if (sparse is not None and sparse.issparse(obj)) or isinstance(obj, np.ndarray):
        graph = from_scipy(obj)
        return (graph if weight is not None else _unweighted(graph)), None
    if isinstance(obj, (list, tuple)):
        return from_edge_list(obj, weight=weight)
    raise InputError(
        "expected a Graph, a networkx graph, an adjacency matrix or an edge list, "
        f"got {type(obj).__name__}"
    )
