"""A directed arc list for MAX-DICUT: lines ``tail head [weight]`` (weight 1 if absent).

Comment lines start with ``#`` or ``c``. The nodes are the ids that appear, in increasing
order, and keep them as labels; repeated arcs are summed and self-loops dropped (warnings).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from derand.csp.base import MAX_VARIABLES
from derand.csp.dicut import DiCut
from derand.csp.textio import MAX_INPUT_BYTES, parse_float, parse_int, read_text, rows
from derand.errors import InputError

__all__ = ["parse_arcs", "read_arcs"]


def read_arcs(path: str | Path, *, max_bytes: int = MAX_INPUT_BYTES) -> DiCut:
    """Read a directed arc list (see the module).

    Returns
    -------
    DiCut

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "g.arcs"
    >>> _ = path.write_text("1 2\\n2 7 2.5\\n")
    >>> g = read_arcs(path)
    >>> g.labels, g.w.tolist()
    ((1, 2, 7), [1.0, 2.5])
    """
    target = Path(path)
    text = read_text(target, "arc list", max_bytes=max_bytes)
    try:
        return parse_arcs(text, name=target.stem)
    except InputError as exc:
        raise InputError(f"{target}: {exc}") from None


def parse_arcs(text: str, *, name: str = "arcs") -> DiCut:
    """Parse arc-list text (see :func:`read_arcs`).

    Returns
    -------
    DiCut
    """
    tails: list[int] = []
    heads: list[int] = []
    weights: list[float] = []
    for lineno, tokens in rows(text, comments=("#", "c")):
        if len(tokens) not in (2, 3):
            raise InputError(
                f"line {lineno}: expected 'tail head [weight]', got {' '.join(tokens)!r}"
            )
        a = parse_int(tokens[0], lineno, "node id")
        b = parse_int(tokens[1], lineno, "node id")
        for x in (a, b):
            if not 0 <= x <= MAX_VARIABLES:
                raise InputError(f"line {lineno}: node id {x} is out of range [0, 2**31 - 1]")
        tails.append(a)
        heads.append(b)
        weights.append(parse_float(tokens[2], lineno, "weight") if len(tokens) == 3 else 1.0)
    if not tails:
        raise InputError("no arcs")
    t, h = np.array(tails, np.int64), np.array(heads, np.int64)
    ids = np.unique(np.concatenate([t, h]))
    return DiCut.from_arcs(int(ids.size), np.searchsorted(ids, t), np.searchsorted(ids, h),
                           weights, name=name, labels=[int(x) for x in ids])  # fmt: skip
