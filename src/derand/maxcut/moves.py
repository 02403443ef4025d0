"""Max-Cut moves in plain numpy: the reference the compiled engine is tested against.

Used directly for graphs too small to be worth compiling (see
:data:`derand.maxcut.local_search.SMALL_N`). The flip gain of node ``i`` for a +-1 vector
``x`` is ``x_i (A x)_i``: the change of the cut when ``i`` changes side.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from derand.maxcut.graph import Graph

__all__ = ["flip_gains", "one_flip", "tabu_search"]


def flip_gains(graph: Graph, x: NDArray[np.generic]) -> NDArray[np.float64]:
    """Gains ``x * (A x)`` of flipping each node of the +-1 vector ``x``.

    Returns
    -------
    ndarray of float64
        ``cut(x with i flipped) - cut(x)`` for each node ``i``.

    Examples
    --------
    >>> import numpy as np
    >>> from derand.maxcut import from_edges
    >>> g = from_edges(2, np.array([0]), np.array([1]))
    >>> flip_gains(g, np.array([1, 1])).tolist()
    [1.0, 1.0]
    """
    xf = np.asarray(x, np.float64)
    indptr, indices, data = graph.csr()  # numpy only (the ahead-of-time search imports no scipy)
    field = np.zeros(graph.n)
    rows = indptr[1:] > indptr[:-1]
    if data.size:
        field[rows] = np.add.reduceat(data * xf[indices], indptr[:-1][rows])
    out: NDArray[np.float64] = xf * field
    return out


def one_flip(graph: Graph, s: NDArray[np.int8], *, max_rounds: int = 10_000) -> NDArray[np.int8]:
    """Greedy 1-flip to a local optimum (no single flip improves the cut).

    Each round flips, at once, an independent set of improving nodes (a node whose gain is the
    largest among its improving neighbours), so a round never lowers the cut.

    Returns
    -------
    ndarray of int8
        A +-1 vector whose cut is ``>=`` that of ``s`` and where every flip gain is ``<= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from derand.maxcut import from_edges
    >>> g = from_edges(3, np.array([0, 1]), np.array([1, 2]))
    >>> g.cut_value(one_flip(g, np.ones(3, np.int8)))
    2.0
    """
    adj = graph.adjacency()
    x = s.astype(np.float64).copy()
    tol = 1e-12 * max(1.0, float(np.max(np.abs(graph.w)))) if graph.m else 0.0
    for _ in range(max_rounds):
        gain = x * (adj @ x)
        improving = gain > tol
        if not improving.any():
            break
        key = np.where(improving, gain + np.arange(graph.n) * 1e-12 * tol, -np.inf)
        eu, ev = graph.u, graph.v
        lose = np.zeros(graph.n, bool)
        both = improving[eu] & improving[ev]
        lose[eu[both & (key[eu] < key[ev])]] = True
        lose[ev[both & (key[ev] < key[eu])]] = True
        flip = improving & ~lose
        x[flip] = -x[flip]
    return x.astype(np.int8)


def tabu_search(
    graph: Graph,
    s: NDArray[np.int8],
    *,
    max_moves: int = 20_000,
    tenure: int | None = None,
    seed: int = 0,
) -> NDArray[np.int8]:
    """Tabu search with incremental gains (a Python loop: for small graphs and tests).

    Flips the best non-tabu node, or a tabu one that beats the best cut (aspiration); a
    flipped node is tabu for ``tenure`` moves (default ``min(n // 4, 20) + U[0, 5)``).

    Returns
    -------
    ndarray of int8
        The best partition visited (never worse than ``s``).

    Examples
    --------
    >>> from derand.maxcut import paper_graph
    >>> import numpy as np
    >>> g = paper_graph()
    >>> g.cut_value(tabu_search(g, np.ones(g.n, np.int8), max_moves=500))
    41.0
    """
    rng = np.random.default_rng(seed)
    adj = graph.adjacency()
    indptr, indices, data = adj.indptr, adj.indices, adj.data
    x = s.astype(np.float64).copy()
    gain = x * (adj @ x)
    cut = graph.cut_value(x)
    best_cut, best_x = cut, x.copy()
    base = max(1, min(graph.n // 4, 20)) if tenure is None else tenure
    tabu_until = np.zeros(graph.n, np.int64)
    tol = 1e-9 * max(1.0, float(np.max(np.abs(graph.w)))) if graph.m else 0.0
    for move in range(1, max_moves + 1):
        allowed = np.where(tabu_until < move, gain, -np.inf)
        i = int(np.argmax(allowed))
        j = int(np.argmax(gain))
        if gain[j] > 0 and cut + gain[j] > best_cut + tol:
            i = j  # aspiration
        if not np.isfinite(allowed[i]) and i != j:
            break
        lo, hi = indptr[i], indptr[i + 1]
        nb = indices[lo:hi]
        cut += gain[i]
        x[i] = -x[i]
        gain[nb] += 2.0 * data[lo:hi] * x[nb] * x[i]
        gain[i] = -gain[i]
        tabu_until[i] = move + base + int(rng.integers(0, 5))
        if cut > best_cut + tol:
            best_cut, best_x = cut, x.copy()
    return best_x.astype(np.int8)
