"""MAX-DICUT: split the nodes into a source side ``S`` and the rest; an arc ``i -> j`` of
weight ``w`` counts when ``i in S`` and ``j not in S``; the counted weight is maximised.

Node ``i`` is in ``S`` when ``s_i = +1``; the arc's indicator is
``x_i (1 - x_j) = (1 + s_i - s_j - s_i s_j) / 4``.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from derand.csp.base import Sense, as_ints, as_reals, check_labels, check_size, check_spins
from derand.csp.ising import Ising
from derand.errors import InputError
from derand.limits import check_seed

if TYPE_CHECKING:
    from derand.maxcut.graph import Graph

__all__ = ["DiCut", "orient"]


@dataclass(frozen=True)
class DiCut:
    """A weighted directed graph; :meth:`evaluate` is the weight of arcs leaving ``S``.

    Attributes
    ----------
    n : int
    tail, head : ndarray of int64
        Arcs ``tail -> head``, no self-loops, each ordered pair once.
    w : ndarray of float64
        Finite weights (negative ones allowed; no ratio is then claimed).
    name : str
    labels : tuple or None
    """

    n: int
    tail: NDArray[np.int64] = field(repr=False)
    head: NDArray[np.int64] = field(repr=False)
    w: NDArray[np.float64] = field(repr=False)
    name: str = "dicut"
    labels: tuple[Hashable, ...] | None = field(default=None, repr=False)

    kind: ClassVar[str] = "dicut"
    sense: ClassVar[Sense] = "max"

    @classmethod
    def from_arcs(
        cls,
        n: int,
        tail: Any,
        head: Any,
        w: Any = None,
        *,
        name: str = "dicut",
        labels: Sequence[Hashable] | None = None,
    ) -> DiCut:
        """Validate and build; self-loops (never counted) are dropped and repeated arcs summed,
        each with a warning.

        Returns
        -------
        DiCut

        Examples
        --------
        >>> g = DiCut.from_arcs(3, [0, 1], [1, 2], [1.0, 2.0])
        >>> g.evaluate([1, -1, -1]), g.evaluate([1, 1, -1])
        (1.0, 2.0)
        """
        n = check_size(n, "MAX-DICUT")
        t, h = as_ints(tail, "arc tails"), as_ints(head, "arc heads")
        if t.shape != h.shape:
            raise InputError("arc tails and heads have different lengths")
        ww = np.ones(t.size) if w is None else as_reals(w, "arc weights", t.size)
        bad = np.flatnonzero((t < 0) | (t >= n) | (h < 0) | (h >= n))
        if bad.size:
            k = int(bad[0])
            raise InputError(f"arc ({t[k]}, {h[k]}) names a node out of range, n = {n}")
        loops = t == h
        if loops.any():
            warnings.warn(f"dropped {int(loops.sum())} self-loop(s)", stacklevel=2)
            t, h, ww = t[~loops], h[~loops], ww[~loops]
        key = t * np.int64(n) + h
        uniq, inverse = np.unique(key, return_inverse=True)
        if uniq.size < key.size:
            warnings.warn(f"summed {key.size - uniq.size} repeated arc(s)", stacklevel=2)
        summed = np.zeros(uniq.size)
        np.add.at(summed, inverse, ww)
        if not np.all(np.isfinite(summed)):
            raise InputError("summed arc weights overflow")
        return cls(n=n, tail=uniq // n, head=uniq % n, w=summed, name=name,
                   labels=check_labels(labels, n))  # fmt: skip

    @classmethod
    def from_networkx(cls, g: Any, *, weight: str = "weight") -> DiCut:
        """From a networkx ``DiGraph`` (or ``MultiDiGraph``: parallel arcs summed); node
        ``k`` is the ``k``-th of ``g.nodes()`` and keeps its label; missing weights count 1.

        Returns
        -------
        DiCut

        Examples
        --------
        >>> import networkx as nx
        >>> DiCut.from_networkx(nx.DiGraph([("a", "b"), ("b", "c")])).labels
        ('a', 'b', 'c')
        """
        if not (hasattr(g, "is_directed") and g.is_directed()):
            raise InputError("MAX-DICUT needs a directed graph (networkx DiGraph)")
        nodes = list(g.nodes())
        index = {node: k for k, node in enumerate(nodes)}
        arcs = list(g.edges(data=True))
        try:
            w = [float(d.get(weight, 1.0)) for _, _, d in arcs]
        except (TypeError, ValueError) as exc:
            raise InputError(f"arc attribute {weight!r} must be a number ({exc})") from None
        return cls.from_arcs(
            max(1, len(nodes)), [index[a] for a, _, _ in arcs], [index[b] for _, b, _ in arcs],
            w, name=str(getattr(g, "name", "") or "networkx"), labels=nodes or None,
        )  # fmt: skip

    @property
    def m(self) -> int:
        """Number of arcs."""
        return int(self.tail.size)

    @property
    def terms(self) -> int:
        """Number of arcs."""
        return self.m

    def evaluate(self, s: NDArray[Any]) -> float:
        """Weight of the arcs from ``S = {i : s_i = +1}`` to its complement."""
        spins = check_spins(s, self.n)
        return float(np.sum(self.w[(spins[self.tail] > 0) & (spins[self.head] < 0)]))

    def ising(self) -> Ising:
        """The Ising form, ``E(s) = -dicut(s)``.

        Returns
        -------
        Ising
        """
        q = 0.25 * self.w
        h = np.bincount(self.tail, q, self.n) - np.bincount(self.head, q, self.n)
        return Ising.from_arrays(
            self.n, h=-h, u=self.tail, v=self.head, J=q, offset=-float(np.sum(q)),
            name=self.name, labels=self.labels,
        )  # fmt: skip

    def answer(self, s: NDArray[Any]) -> dict[Hashable, Any]:
        """``{label: True when in the source side S}``."""
        spins = check_spins(s, self.n)
        labels = self.labels if self.labels is not None else range(self.n)
        return {k: bool(x > 0) for k, x in zip(labels, spins, strict=True)}

    def details(self, s: NDArray[Any]) -> dict[str, Any]:
        """The directed cut, the size of ``S`` and the total arc weight."""
        spins = check_spins(s, self.n)
        return {
            "dicut": self.evaluate(spins),
            "source_side": int(np.sum(spins > 0)),
            "total_weight": float(np.sum(self.w)),
        }


def orient(graph: Graph, *, seed: int = 0) -> DiCut:
    """Orient each edge of an undirected graph (e.g. a Gset instance) at random: ``u -> v`` or
    ``v -> u`` with probability 1/2 each, from ``numpy.random.default_rng(seed)``.

    Returns
    -------
    DiCut

    Examples
    --------
    >>> from derand.maxcut import torus
    >>> orient(torus(4, 4), seed=1).m
    32
    """
    seed = check_seed(seed, "orientation seed")
    flip = np.random.default_rng(seed).random(graph.m) < 0.5
    tail = np.where(flip, graph.v, graph.u)
    head = np.where(flip, graph.u, graph.v)
    return DiCut.from_arcs(graph.n, tail, head, graph.w, name=f"{graph.name}/orient{seed}")
