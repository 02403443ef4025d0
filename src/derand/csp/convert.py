"""From a user's object to a problem, and from a problem to the engine's objective.

Every problem reduces to one maximised :class:`~derand.rounding.QuadraticObjective`
``f(s) = -E(s)`` of its Ising form: ``f = value`` for a maximisation problem, ``f = -value``
for a minimisation problem (:func:`objective`, :func:`to_value`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from derand.csp.base import Problem, Sense
from derand.csp.dicut import DiCut
from derand.csp.ising import Ising
from derand.csp.qubo import QUBO, check_sense
from derand.csp.sat import MaxTwoSat
from derand.errors import InputError

if TYPE_CHECKING:
    from derand.rounding import QuadraticObjective

__all__ = ["as_problem", "from_dimod", "from_objective", "objective", "to_value"]


def objective(problem: Problem) -> QuadraticObjective:
    """The maximised objective ``f(s) = -E(s)`` of ``problem``'s Ising form.

    Returns
    -------
    QuadraticObjective
    """
    from derand.rounding import QuadraticObjective

    model = problem.ising()
    return QuadraticObjective.from_arrays(
        model.n, constant=-model.offset, h=-model.h, u=model.u, v=model.v, J=-model.J
    )


def from_objective(obj: Any, *, name: str = "objective") -> Ising:
    """The Ising model ``E = -f`` of a maximised objective (the inverse of :func:`objective`).

    Returns
    -------
    Ising
    """
    h, J = -np.asarray(obj.h), -np.asarray(obj.J)
    return Ising.from_arrays(
        obj.n, h=h, u=obj.u, v=obj.v, J=J, offset=-float(obj.constant), name=name
    )


def to_value(sense: Sense, f: float) -> float:
    """The problem's value of an assignment whose objective is ``f``."""
    return f if sense == "max" else -f


def from_dimod(bqm: Any, *, name: str = "bqm") -> Ising | QUBO:
    """A dimod ``BinaryQuadraticModel`` as an :class:`Ising` (vartype ``SPIN``) or a minimised
    :class:`QUBO` (``BINARY``), with the model's variable labels. dimod itself is not
    imported: any object with ``vartype``, ``variables``, ``linear``, ``quadratic`` and
    ``offset`` is read the same way.

    Returns
    -------
    Ising or QUBO
    """
    kind = getattr(getattr(bqm, "vartype", None), "name", None)
    if kind not in ("SPIN", "BINARY"):
        raise InputError(f"a BQM's vartype must be SPIN or BINARY, got {kind!r}")
    labels = list(bqm.variables)
    if not labels:
        raise InputError("the BQM has no variables")
    index = {label: k for k, label in enumerate(labels)}
    lin = np.array([float(bqm.linear[label]) for label in labels])
    pairs = list(bqm.quadratic.items())
    u = [index[a] for (a, _), _ in pairs]
    v = [index[b] for (_, b), _ in pairs]
    w = [float(c) for _, c in pairs]
    offset = float(bqm.offset)
    if kind == "SPIN":
        return Ising.from_arrays(len(labels), h=lin, u=u, v=v, J=w, offset=offset, name=name,
                                 labels=labels)  # fmt: skip
    return QUBO.from_arrays(len(labels), c=lin, u=u, v=v, q=w, offset=offset, sense="min",
                            name=name, labels=labels)  # fmt: skip


def as_problem(obj: Any, *, sense: Sense | None = None) -> Problem:
    """Accept a problem of this package, a dimod BQM, a networkx ``DiGraph`` (MAX-DICUT) or a
    QUBO dict ``{(i, j): q}`` (which needs ``sense``: ``"max"`` or ``"min"``).

    Returns
    -------
    Problem

    Examples
    --------
    >>> as_problem({(0, 1): -1.0}, sense="min").kind
    'qubo'
    """
    if isinstance(obj, (MaxTwoSat, DiCut, QUBO, Ising)):
        return obj
    if hasattr(obj, "vartype") and hasattr(obj, "quadratic") and hasattr(obj, "linear"):
        return from_dimod(obj)
    if hasattr(obj, "is_directed") and hasattr(obj, "edges"):
        return DiCut.from_networkx(obj)
    if isinstance(obj, Mapping):
        if sense is None:
            raise InputError("a QUBO dict needs sense='max' or sense='min'")
        return QUBO.from_dict(obj, sense=check_sense(sense))
    raise InputError(
        "expected MaxTwoSat, DiCut, QUBO, Ising, a dimod BQM, a networkx DiGraph or a "
        f"{{(i, j): q}} dict, got {type(obj).__name__}"
    )
