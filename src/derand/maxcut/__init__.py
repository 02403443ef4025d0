"""Max-Cut by derandomized Goemans-Williamson rounding with a proven bound (paper, Max-Cut).

Quick start::

    import networkx as nx
    from derand.maxcut import solve_maxcut

    result = solve_maxcut(nx.petersen_graph(), time_limit=5)
    S, T = result.sides()
    print(result.final_cut, result.upper_bound, result.bound_proven)

The stages are clients of the engine: :mod:`derand.maxcut.sdp` (the SDP of ``C = -A/4`` in
:mod:`derand.sdp`), :mod:`derand.maxcut.rounding` (:mod:`derand.rounding` on the cut), then
the compiled local search (:mod:`derand.maxcut.local_search`).
"""

from typing import TYPE_CHECKING, Any

# Imported at once (numpy only): ``local_search`` is also the name of its module, which
# importing the module would otherwise bind here in the function's place.
from derand.maxcut.local_search import LocalSearchResult, local_search

if TYPE_CHECKING:
    from derand.maxcut.convert import as_graph, from_edge_list, from_networkx, from_scipy
    from derand.maxcut.datasets import GSET_NAMES, gset_best_known, load_gset, paper_graph
    from derand.maxcut.exact import ExactResult, exact_maxcut
    from derand.maxcut.generators import gnp, random_regular, torus
    from derand.maxcut.graph import Graph, from_edges
    from derand.maxcut.readers import load_graph, read_edgelist, read_rudy, write_rudy
    from derand.maxcut.sdp import solve_sdp
    from derand.maxcut.solve import MaxCutResult, resolve_seed, solve_maxcut

_WHERE = {
    "as_graph": "derand.maxcut.convert",
    "from_edge_list": "derand.maxcut.convert",
    "from_networkx": "derand.maxcut.convert",
    "from_scipy": "derand.maxcut.convert",
    "GSET_NAMES": "derand.maxcut.datasets",
    "gset_best_known": "derand.maxcut.datasets",
    "load_gset": "derand.maxcut.datasets",
    "paper_graph": "derand.maxcut.datasets",
    "ExactResult": "derand.maxcut.exact",
    "exact_maxcut": "derand.maxcut.exact",
    "gnp": "derand.maxcut.generators",
    "random_regular": "derand.maxcut.generators",
    "torus": "derand.maxcut.generators",
    "Graph": "derand.maxcut.graph",
    "from_edges": "derand.maxcut.graph",
    "load_graph": "derand.maxcut.readers",
    "read_edgelist": "derand.maxcut.readers",
    "read_rudy": "derand.maxcut.readers",
    "write_rudy": "derand.maxcut.readers",
    "solve_sdp": "derand.maxcut.sdp",
    "MaxCutResult": "derand.maxcut.solve",
    "resolve_seed": "derand.maxcut.solve",
    "solve_maxcut": "derand.maxcut.solve",
}
"""Where each public name lives. They are imported on first access (PEP 562), so that a
module of the package -- the command line's reader, the ahead-of-time search -- does not pay
for scipy, numba and torch, which the SDP and the rounding import."""


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'derand.maxcut' has no attribute {name!r}")


__all__ = [
    "GSET_NAMES",
    "ExactResult",
    "Graph",
    "LocalSearchResult",
    "MaxCutResult",
    "as_graph",
    "exact_maxcut",
    "from_edge_list",
    "from_edges",
    "from_networkx",
    "from_scipy",
    "gnp",
    "gset_best_known",
    "load_graph",
    "load_gset",
    "local_search",
    "paper_graph",
    "random_regular",
    "read_edgelist",
    "read_rudy",
    "resolve_seed",
    "solve_maxcut",
    "solve_sdp",
    "torus",
    "write_rudy",
]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
