"""Max-Cut by derandomized Goemans-Williamson rounding with a proven bound (paper, Max-Cut).

Quick start::

    import networkx as nx
    from derand.maxcut import solve_maxcut

    result = solve_maxcut(nx.petersen_graph(), time_limit=5)
    S, T = result.sides()
    print(result.final_cut, result.upper_bound, result.bound_proven)
"""

from derand.maxcut.bound import ProvenBound, check_psd, prove_bound
from derand.maxcut.convert import as_graph, from_edge_list, from_networkx, from_scipy
from derand.maxcut.datasets import GSET_NAMES, gset_best_known, load_gset, paper_graph
from derand.maxcut.exact import ExactResult, exact_maxcut
from derand.maxcut.generators import gnp, random_regular, torus
from derand.maxcut.graph import Graph, from_edges
from derand.maxcut.local_search import LocalSearchResult, local_search
from derand.maxcut.readers import load_graph, read_edgelist, read_rudy, write_rudy
from derand.maxcut.rounding import (
    best_of_random,
    derandomized_rounding,
    expected_cut,
    expected_cut_and_grad,
    gw_expectation,
    score_function_rounding,
)
from derand.maxcut.sdp import SDPResult, dual_bound, dual_vector, solve_sdp
from derand.maxcut.solve import MaxCutResult, resolve_seed, solve_maxcut

__all__ = [
    "GSET_NAMES",
    "ExactResult",
    "Graph",
    "LocalSearchResult",
    "MaxCutResult",
    "ProvenBound",
    "SDPResult",
    "as_graph",
    "best_of_random",
    "check_psd",
    "derandomized_rounding",
    "dual_bound",
    "dual_vector",
    "exact_maxcut",
    "expected_cut",
    "expected_cut_and_grad",
    "from_edge_list",
    "from_edges",
    "from_networkx",
    "from_scipy",
    "gnp",
    "gset_best_known",
    "gw_expectation",
    "load_graph",
    "load_gset",
    "local_search",
    "paper_graph",
    "prove_bound",
    "random_regular",
    "read_edgelist",
    "read_rudy",
    "resolve_seed",
    "score_function_rounding",
    "solve_maxcut",
    "solve_sdp",
    "torus",
    "write_rudy",
]
