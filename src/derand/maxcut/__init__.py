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

from derand.maxcut.exact import ExactResult, exact_maxcut
from derand.maxcut.graph import (
    GSET_NAMES,
    Graph,
    as_graph,
    from_edges,
    from_networkx,
    from_scipy,
    gnp,
    gset_best_known,
    load_graph,
    load_gset,
    paper_graph,
    random_regular,
    read_edgelist,
    read_rudy,
    torus,
    write_rudy,
)
from derand.maxcut.local_search import LocalSearchResult, local_search
from derand.maxcut.sdp import solve_sdp
from derand.maxcut.solve import MaxCutResult, solve_maxcut

__all__ = [
    "GSET_NAMES",
    "ExactResult",
    "Graph",
    "LocalSearchResult",
    "MaxCutResult",
    "as_graph",
    "exact_maxcut",
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
    "solve_maxcut",
    "solve_sdp",
    "torus",
    "write_rudy",
]
