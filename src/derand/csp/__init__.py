"""Beyond the paper: derandomized rounding for MAX-2-SAT, MAX-DICUT and QUBO / Ising.

Quick start::

    from derand.csp import random_max2sat, solve_csp

    result = solve_csp(random_max2sat(200, 2000, seed=1), time_limit=5)
    print(result.final_value, result.bound, result.gap, result.guarantee_holds)


Every problem reduces to one maximised quadratic +-1 objective with linear terms; the
pipeline (:func:`solve_csp`) solves its SDP with a truth vector, proves a bound, rounds the
vectors by the derandomized threshold rounding (at least the Goemans-Williamson expectation,
checked per run) and polishes the result with the compiled Max-Cut search.
"""

from derand.csp.base import Problem
from derand.csp.convert import as_problem, from_dimod, objective
from derand.csp.dicut import DiCut, orient
from derand.csp.generators import beasley_qubo, parse_spec, random_digraph, random_max2sat
from derand.csp.ising import Ising
from derand.csp.qubo import QUBO
from derand.csp.qubo_io import read_bqp, read_qubo
from derand.csp.sat import MaxTwoSat
from derand.csp.solve import CSPResult, solve_csp
from derand.csp.wcnf import read_wcnf

__all__ = [
    "QUBO",
    "CSPResult",
    "DiCut",
    "Ising",
    "MaxTwoSat",
    "Problem",
    "as_problem",
    "beasley_qubo",
    "from_dimod",
    "objective",
    "orient",
    "parse_spec",
    "random_digraph",
    "random_max2sat",
    "read_bqp",
    "read_qubo",
    "read_wcnf",
    "solve_csp",
]
