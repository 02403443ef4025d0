"""Shipped instances: the authors' 15-node graph and the 71 Gset graphs with best-known cuts."""

from __future__ import annotations

import numpy as np

from derand.errors import InputError
from derand.maxcut.graph import Graph, from_edges

__all__ = ["GSET_NAMES", "gset_best_known", "load_gset", "paper_graph", "paper_graph_torch"]


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
