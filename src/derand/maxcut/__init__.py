"""Max-Cut by derandomized Goemans-Williamson rounding with a certified bound (DESIGN.md s2)."""

from derand.maxcut.exact import ExactResult, exact_maxcut
from derand.maxcut.graph import (
    Graph,
    from_edges,
    from_networkx,
    from_scipy,
    gnp,
    load_graph,
    paper_graph,
    random_regular,
    read_edgelist,
    read_rudy,
    torus,
    write_rudy,
)
from derand.maxcut.local_search import LocalSearchResult, local_search
from derand.maxcut.rounding import (
    best_of_random,
    derandomized_rounding,
    expected_cut,
    expected_cut_and_grad,
    gw_expectation,
    score_function_rounding,
)
from derand.maxcut.sdp import SDPResult, dual_bound, solve_sdp
from derand.maxcut.solve import MaxCutResult, solve_maxcut

__all__ = [
    "ExactResult",
    "Graph",
    "LocalSearchResult",
    "MaxCutResult",
    "SDPResult",
    "best_of_random",
    "derandomized_rounding",
    "dual_bound",
    "exact_maxcut",
    "expected_cut",
    "expected_cut_and_grad",
    "from_edges",
    "from_networkx",
    "from_scipy",
    "gnp",
    "gw_expectation",
    "load_graph",
    "local_search",
    "paper_graph",
    "random_regular",
    "read_edgelist",
    "read_rudy",
    "score_function_rounding",
    "solve_maxcut",
    "solve_sdp",
    "torus",
    "write_rudy",
]
