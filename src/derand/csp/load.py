"""Resolve the command line's INPUT for each kind of problem: a file or a generator spec."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

from derand.csp.base import Problem, Sense
from derand.csp.generators import SPECS, parse_spec
from derand.csp.qubo import QUBO
from derand.csp.textio import rows
from derand.errors import InputError

__all__ = ["KINDS", "load_problem"]

KINDS = ("sat", "dicut", "qubo")
Kind = Literal["sat", "dicut", "qubo"]
_SPEC_OF = {"sat": "max2sat", "dicut": "digraph", "qubo": "beasley"}


def load_problem(
    kind: Kind,
    source: str,
    *,
    fmt: str = "auto",
    hard: Literal["weight", "refuse"] = "weight",
    sense: Sense | None = None,
    index: int = 1,
    orient_seed: int = 0,
) -> Problem:
    """The problem named by ``source`` for ``kind``.

    * ``sat``: a CNF/WCNF file or ``max2sat:...``;
    * ``dicut``: ``digraph:...``, an arc list (``--format arcs``, or a file ending in
      ``.arcs``), or any graph ``derand maxcut`` reads (Gset/rudy file, ``gset:G1``,
      ``gnp:...``) with each edge oriented at random by ``orient_seed``;
    * ``qubo``: a sparse ``i j q`` file (minimised unless ``sense``), an OR-Library bqp file
      (instance ``index``, maximised unless ``sense``) or ``beasley:...`` (maximised).

    Returns
    -------
    Problem
    """
    if kind not in KINDS:
        raise InputError(f"kind must be one of {KINDS}, got {kind!r}")
    head = source.split(":", 1)[0]
    if ":" in source and head in SPECS:
        if head != _SPEC_OF[kind]:
            raise InputError(f"generator {head!r} makes no {kind} problem; use {_SPEC_OF[kind]}:")
        problem = parse_spec(source)
        if sense is not None and isinstance(problem, QUBO):
            return replace(problem, sense=sense)
        return problem
    if kind == "sat":
        from derand.csp.wcnf import read_wcnf

        return read_wcnf(_file(source), hard=hard)
    if kind == "dicut":
        path = Path(source)
        if fmt == "arcs" or (fmt == "auto" and path.suffix.lower() == ".arcs"):
            from derand.csp.arcs_io import read_arcs

            return read_arcs(_file(source))
        from derand.csp.dicut import orient
        from derand.maxcut.graph import load_graph

        graph_fmt = fmt if fmt in ("rudy", "edgelist") else "auto"
        return orient(load_graph(source, fmt=graph_fmt), seed=orient_seed)
    from derand.csp.qubo_io import parse_bqp, parse_qubo
    from derand.csp.textio import read_text

    path = _file(source)
    if fmt not in ("auto", "qubo", "bqp"):
        raise InputError(f"--format for qubo must be auto, qubo or bqp, got {fmt!r}")
    text = read_text(path, "QUBO file")
    if fmt == "auto":
        first = next(rows(text, comments=("#", "c")), None)
        fmt = "bqp" if first is not None and len(first[1]) == 1 else "qubo"
    try:
        if fmt == "bqp":
            q = parse_bqp(text, index=index, name=path.stem)
            if sense is not None and sense != q.sense:
                q = replace(q, sense=sense)
            return q
        return parse_qubo(text, sense=sense or "min", name=path.stem)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def _file(source: str) -> Path:
    path = Path(source)
    if not path.exists():
        raise InputError(f"{source}: no such file (nor a generator spec)")
    return path
