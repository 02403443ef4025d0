"""Random instances of each family, and ``kind:key=value,...`` specs for the command line.

* ``max2sat:n=120,m=1200,seed=0[,units=0,weights=one|int]``: random 2-CNF, each clause over
  two distinct variables drawn uniformly, each literal's sign a fair coin (``units`` more
  clauses of one literal); ``weights=int`` draws integer weights in ``1 .. 10``. The random
  MAX-2-SAT instances of the MaxSAT Evaluations have about 10 to 22 clauses per variable;
  the default ``m`` is ``10 n``.
* ``digraph:n=200,p=0.05,seed=0[,weights=one|uniform|int]``: every ordered pair ``i -> j`` an
  arc with probability ``p``.
* ``beasley:n=250,density=0.1,seed=0[,low=-100,high=100]``: Beasley's (1998) construction of
  the OR-Library bqp instances: each entry ``q_ij`` of the upper triangle, diagonal included,
  nonzero with probability ``density``, a uniform integer in ``[low, high]``; ``Q``
  symmetric, ``max x^T Q x``.
"""

from __future__ import annotations

import numpy as np

from derand.csp.base import MAX_VARIABLES
from derand.csp.dicut import DiCut
from derand.csp.qubo import QUBO
from derand.csp.sat import MaxTwoSat
from derand.errors import InputError
from derand.limits import check_count, check_finite, check_seed, require_memory

__all__ = ["SPECS", "beasley_qubo", "parse_spec", "random_digraph", "random_max2sat"]

MAX_TERMS = 10**9
"""Most clauses or arcs a generator makes."""


def random_max2sat(
    n: int, m: int | None = None, *, seed: int = 0, units: int = 0, weights: str = "one"
) -> MaxTwoSat:
    """A random 2-CNF formula (see the module).

    Returns
    -------
    MaxTwoSat

    Examples
    --------
    >>> f = random_max2sat(20, 100, seed=1)
    >>> f.n, f.m
    (20, 100)
    """
    n = check_count(n, "max2sat: n", low=2, high=MAX_VARIABLES)
    m = 10 * n if m is None else check_count(m, "max2sat: m", low=0, high=MAX_TERMS)
    units = check_count(units, "max2sat: units", low=0, high=MAX_TERMS)
    seed = check_seed(seed, "max2sat: seed")
    if weights not in ("one", "int"):
        raise InputError(f"max2sat: weights must be one or int, got {weights!r}")
    require_memory(60.0 * (m + units), f"a 2-CNF formula of {m + units} clauses")
    rng = np.random.default_rng(seed)
    x = rng.integers(0, n, size=m)
    y = (x + rng.integers(1, n, size=m)) % n  # a second variable, distinct from the first
    signs = rng.choice(np.array([-1, 1]), size=(2, m))
    a = np.concatenate(
        [signs[0] * (x + 1), rng.choice([-1, 1], units) * rng.integers(1, n + 1, units)]
    )
    b = np.concatenate([signs[1] * (y + 1), np.zeros(units, np.int64)])
    w = np.ones(m + units) if weights == "one" else rng.integers(1, 11, m + units).astype(float)
    name = f"max2sat(n={n},m={m},seed={seed}" + (f",units={units}" if units else "") + ")"
    return MaxTwoSat.from_arrays(n, a, b, w, name=name)


def random_digraph(n: int, p: float, *, seed: int = 0, weights: str = "one") -> DiCut:
    """A random directed graph: each ordered pair an arc with probability ``p``.

    Returns
    -------
    DiCut

    Examples
    --------
    >>> random_digraph(30, 0.1, seed=2).n
    30
    """
    n = check_count(n, "digraph: n", low=2, high=MAX_VARIABLES)
    p = check_finite(p, "digraph: p", low=0.0, high=1.0)
    seed = check_seed(seed, "digraph: seed")
    if weights not in ("one", "uniform", "int"):
        raise InputError(f"digraph: weights must be one, uniform or int, got {weights!r}")
    expected = p * n * (n - 1)
    require_memory(40.0 * (expected + 6.0 * np.sqrt(expected + 1.0)) + 8.0 * n, "the digraph")
    rng = np.random.default_rng(seed)
    m = int(rng.binomial(n * (n - 1), p))
    pairs = rng.choice(n * (n - 1), size=m, replace=False) if m else np.zeros(0, np.int64)
    tail = pairs // (n - 1)
    head = pairs % (n - 1)
    head = head + (head >= tail)  # skip the diagonal
    if weights == "one":
        w = np.ones(m)
    elif weights == "uniform":
        w = rng.random(m)
    else:
        w = rng.integers(1, 11, m).astype(float)
    return DiCut.from_arcs(n, tail, head, w, name=f"digraph(n={n},p={p},seed={seed})")


def beasley_qubo(
    n: int, density: float = 0.1, *, seed: int = 0, low: int = -100, high: int = 100
) -> QUBO:
    """A QUBO built as Beasley built the OR-Library bqp instances (see the module), maximised.

    Returns
    -------
    QUBO

    Examples
    --------
    >>> Q = beasley_qubo(50, seed=3)
    >>> Q.n, Q.sense
    (50, 'max')
    """
    n = check_count(n, "beasley: n", low=2, high=10**6)
    density = check_finite(density, "beasley: density", low=0.0, high=1.0)
    seed = check_seed(seed, "beasley: seed")
    low = int(check_finite(low, "beasley: low", low=-1e9, high=1e9))
    high = int(check_finite(high, "beasley: high", low=-1e9, high=1e9))
    if low > high:
        raise InputError(f"beasley: low {low} > high {high}")
    require_memory(24.0 * n * (n + 1) / 2 * (1 + 2 * density), f"a QUBO with n = {n}")
    rng = np.random.default_rng(seed)
    # the kept entries of the upper triangle (diagonal included) in row-major order, drawn as
    # np.triu_indices(n) would enumerate them, without building those index arrays
    rows = np.arange(n, dtype=np.int64)
    offset = rows * n - rows * (rows - 1) // 2  # flat index of (i, i)
    flat = np.flatnonzero(rng.random(n * (n + 1) // 2) < density)
    i = np.searchsorted(offset, flat, side="right") - 1
    j = i + (flat - offset[i])
    q = rng.integers(low, high + 1, size=i.size).astype(np.float64)
    q = np.where(i == j, q, 2.0 * q)  # symmetric Q: q_ij x_i x_j + q_ji x_j x_i
    return QUBO.from_arrays(n, u=i, v=j, q=q, sense="max",
                            name=f"beasley(n={n},density={density},seed={seed})")  # fmt: skip


SPECS = {
    "max2sat": {"n", "m", "seed", "units", "weights"},
    "digraph": {"n", "p", "seed", "weights"},
    "beasley": {"n", "density", "seed", "low", "high"},
}
"""Generator -> its keys."""


def parse_spec(spec: str) -> MaxTwoSat | DiCut | QUBO:
    """A generated instance from ``kind:key=value,...`` (see the module).

    Returns
    -------
    MaxTwoSat, DiCut or QUBO

    Examples
    --------
    >>> parse_spec("max2sat:n=30,m=200,seed=1").m
    200
    """
    kind, _, rest = spec.partition(":")
    if kind not in SPECS:
        raise InputError(f"unknown generator {kind!r}; expected one of {sorted(SPECS)}")
    params: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in SPECS[kind]:
            raise InputError(
                f"bad generator parameter {item!r} for {kind}; keys: {sorted(SPECS[kind])}"
            )
        params[key] = value

    def integer(key: str, default: int | None = None) -> int:
        if key not in params:
            if default is None:
                raise InputError(f"generator {kind} needs {key}=...")
            return default
        text = params[key]
        if not text.lstrip("+-").isascii() or not text.lstrip("+-").isdigit():
            raise InputError(f"{kind}: {key} must be an integer, got {text!r}")
        return int(text)

    def real(key: str, default: float | None = None) -> float:
        if key not in params:
            if default is None:
                raise InputError(f"generator {kind} needs {key}=...")
            return default
        from derand.csp.textio import parse_float

        try:
            return parse_float(params[key], 0, key)
        except InputError:
            raise InputError(f"{kind}: {key} must be a number, got {params[key]!r}") from None

    seed = integer("seed", 0)
    if kind == "max2sat":
        n = integer("n")
        m = integer("m") if "m" in params else None
        return random_max2sat(n, m, seed=seed, units=integer("units", 0),
                              weights=params.get("weights", "one"))  # fmt: skip
    if kind == "digraph":
        return random_digraph(integer("n"), real("p"), seed=seed,
                              weights=params.get("weights", "one"))  # fmt: skip
    return beasley_qubo(integer("n"), real("density", 0.1), seed=seed,
                        low=integer("low", -100), high=integer("high", 100))  # fmt: skip
