"""An objective with linear fields as Max-Cut on ``n + 1`` nodes, for the compiled search.

With a truth node ``t = n`` and partition ``p = (s, +1)``, ``s_i s_t = s_i``, so

    f(s) = C + sum_i h_i s_i s_t + sum_e J_e s_u s_v = cut(p) + C - W / 2,

where the graph has edges ``(i, t)`` of weight ``-2 h_i`` and ``(u, v)`` of weight ``-2 J_e``
(``cut(p) = W/2 - sum_e (w_e / 2) p_u p_v``, ``W`` the total weight). A partition ``p`` found
by the search maps back to ``s_i = p_i p_t`` (flipping every node keeps the cut).

The weights are multiplied by the smallest power of two up to 8 that makes them all integers
(exact in floating point), when there is one: clause, arc and QUBO coefficients that are
integers give halves and quarters here, and the compiled annealer tabulates its acceptance
probabilities for integer weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from derand.maxcut.graph import Graph, from_edges

__all__ = ["from_partition", "maxcut_graph", "to_partition"]


def maxcut_graph(
    n: int, constant: float, h: Any, u: Any, v: Any, J: Any, *, name: str = "csp"
) -> tuple[Graph, float, float]:
    """The Max-Cut graph of ``f(s) = constant + h.s + sum J s_u s_v``, its shift and scale.

    Returns
    -------
    (Graph, float, float)
        The graph on ``n + 1`` nodes (truth node ``n``), ``shift`` and ``scale`` with
        ``f(s) = graph.cut_value(to_partition(s)) / scale + shift``.

    Examples
    --------
    >>> g, shift, scale = maxcut_graph(2, 1.0, [0.25, 0.0], [0], [1], [-1.0])
    >>> s = np.array([1, -1])
    >>> scale, g.cut_value(to_partition(s)) / scale + shift  # 1 + 0.25 + 1
    (2.0, 2.25)
    """
    hh = np.asarray(h, np.float64)
    uu, vv = np.asarray(u, np.int64), np.asarray(v, np.int64)
    jj = np.asarray(J, np.float64)
    fields = np.flatnonzero(hh != 0)
    pairs = jj != 0
    eu = np.concatenate([fields, uu[pairs]])
    ev = np.concatenate([np.full(fields.size, n, np.int64), vv[pairs]])
    w = np.concatenate([-2.0 * hh[fields], -2.0 * jj[pairs]])
    scale = 1.0
    for k in (1.0, 2.0, 4.0, 8.0):
        if np.all(k * w == np.round(k * w)) and np.all(np.abs(k * w) < 2.0**52):
            scale = k
            break
    graph = from_edges(n + 1, eu, ev, scale * w, name=name)
    return graph, float(constant) - 0.5 * float(np.sum(w)), scale


def to_partition(s: NDArray[Any]) -> NDArray[np.int8]:
    """``(s, +1)``: the truth node on the ``+1`` side.

    Returns
    -------
    ndarray of int8
    """
    return np.concatenate([np.asarray(s, np.int8), np.ones(1, np.int8)])


def from_partition(p: NDArray[Any]) -> NDArray[np.int8]:
    """``s_i = p_i p_t`` for a partition of the ``n + 1`` nodes.

    Returns
    -------
    ndarray of int8
    """
    arr = np.asarray(p, np.int8)
    out: NDArray[np.int8] = (arr[:-1] * arr[-1]).astype(np.int8)
    return out
