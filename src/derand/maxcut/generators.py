"""Random graph generators (G(n, p), random regular, tori) and ``kind:key=value`` specs."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from derand.errors import InputError
from derand.limits import check_count, check_finite, check_seed, require_memory
from derand.maxcut.graph import MAX_NODES, Graph, from_edges
from derand.maxcut.tokens import parse_float, parse_int

__all__ = ["SPEC_KINDS", "WEIGHTS", "gnp", "parse_spec", "random_regular", "torus"]


def gnp(n: int, p: float, *, seed: int = 0, weights: str = "one") -> Graph:
    """Erdos-Renyi G(n, p); ``weights`` is one of :data:`WEIGHTS`.

    Returns
    -------
    Graph

    Examples
    --------
    >>> gnp(10, 0.5, seed=1).n
    10
    """
    _check_weights(weights)
    n = check_count(n, "gnp: n", low=2, high=MAX_NODES)
    p = check_finite(p, "gnp: p", low=0.0, high=1.0)
    seed = check_seed(seed, "gnp: seed")
    require_memory(40.0 * n * (n - 1) / 2, f"gnp with n = {n}")
    rng = np.random.default_rng(seed)
    iu, ju = np.triu_indices(n, k=1)
    keep = rng.random(iu.shape[0]) < p
    u, v = iu[keep], ju[keep]
    w = _weights(rng, u.shape[0], weights)
    return from_edges(n, u, v, w, name=f"gnp(n={n},p={p},seed={seed})")


def random_regular(n: int, d: int, *, seed: int = 0, weights: str = "one") -> Graph:
    """A random d-regular simple graph (configuration model with restarts).

    Returns
    -------
    Graph

    Examples
    --------
    >>> random_regular(10, 3).m
    15
    """
    _check_weights(weights)
    n = check_count(n, "regular: n", low=2, high=MAX_NODES)
    d = check_count(d, "regular: d", low=1, high=n - 1)
    seed = check_seed(seed, "regular: seed")
    if (n * d) % 2:
        raise InputError(f"regular graph needs n*d even, got n = {n}, d = {d}")
    require_memory(80.0 * n * d, f"a {d}-regular graph on {n} nodes")
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        stubs = rng.permutation(np.repeat(np.arange(n), d))
        a, b = stubs[0::2], stubs[1::2]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        if np.any(lo == hi) or np.unique(lo * n + hi).size != lo.size:
            continue
        w = _weights(rng, lo.shape[0], weights)
        return from_edges(n, lo, hi, w, name=f"regular(n={n},d={d},seed={seed})")
    raise InputError(f"could not sample a simple {d}-regular graph on {n} nodes")


def torus(rows: int, cols: int, *, seed: int = 0, weights: str = "pm1") -> Graph:
    """A 2-D toroidal grid ``rows x cols``, by default with random +-1 weights (like Gset G48).

    Returns
    -------
    Graph

    Examples
    --------
    >>> torus(3, 4).m
    24
    """
    _check_weights(weights)
    rows = check_count(rows, "torus: rows", low=3, high=MAX_NODES)
    cols = check_count(cols, "torus: cols", low=3, high=MAX_NODES)
    seed = check_seed(seed, "torus: seed")
    require_memory(160.0 * rows * cols, f"a {rows} x {cols} torus")
    rng = np.random.default_rng(seed)
    idx = np.arange(rows * cols).reshape(rows, cols)
    right = np.roll(idx, -1, axis=1)
    down = np.roll(idx, -1, axis=0)
    u = np.concatenate([idx.ravel(), idx.ravel()])
    v = np.concatenate([right.ravel(), down.ravel()])
    w = _weights(rng, u.shape[0], weights)
    return from_edges(rows * cols, u, v, w, name=f"torus({rows}x{cols},seed={seed})")


WEIGHTS = ("one", "pm1", "uniform", "normal")
"""Weight kinds of the generators: 1, random signs, U(0, 1), standard normal."""


def _check_weights(kind: str) -> None:
    if kind not in WEIGHTS:
        raise InputError(f"weights must be one of {', '.join(WEIGHTS)}, got {kind!r}")


def _weights(rng: np.random.Generator, m: int, kind: str) -> NDArray[np.float64]:
    if kind == "one":
        return np.ones(m)
    if kind == "pm1":
        return rng.choice(np.array([-1.0, 1.0]), size=m)
    if kind == "uniform":
        return rng.random(m)
    if kind == "normal":
        return rng.standard_normal(m)
    raise InputError(f"weights must be one of {', '.join(WEIGHTS)}, got {kind!r}")


_SPEC_KEYS = {
    "gnp": {"n", "p", "seed", "weights"},
    "regular": {"n", "d", "seed", "weights"},
    "torus": {"rows", "cols", "seed", "weights"},
}
SPEC_KINDS = tuple(_SPEC_KEYS)
"""The generator kinds of :func:`parse_spec`."""


def parse_spec(spec: str) -> Graph:
    """A generated graph from ``kind:key=value,...``, e.g. ``gnp:n=200,p=0.1,seed=1``.

    Returns
    -------
    Graph

    Examples
    --------
    >>> parse_spec("regular:n=10,d=3,seed=2").m
    15
    """
    kind, _, rest = spec.partition(":")
    if kind not in _SPEC_KEYS:
        raise InputError(f"unknown generator {kind!r}; expected one of {sorted(_SPEC_KEYS)}")
    params: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in _SPEC_KEYS[kind]:
            raise InputError(
                f"bad generator parameter {item!r} for {kind}; keys: {sorted(_SPEC_KEYS[kind])}"
            )
        params[key] = value

    def get_int(key: str, default: int | None = None) -> int:
        if key not in params:
            if default is None:
                raise InputError(f"generator {kind} needs {key}=...")
            return default
        value = parse_int(params[key])
        if value is None:
            raise InputError(f"{kind}: {key} must be an integer, got {params[key]!r}")
        return value

    seed = get_int("seed", 0)
    weights = params.get("weights", "one")
    if kind == "gnp":
        if "p" not in params:
            raise InputError("generator gnp needs p=...")
        p = parse_float(params["p"])
        if p is None:
            raise InputError(f"gnp: p must be a number, got {params['p']!r}")
        return gnp(get_int("n"), p, seed=seed, weights=weights)
    if kind == "regular":
        return random_regular(get_int("n"), get_int("d"), seed=seed, weights=weights)
    return torus(get_int("rows"), get_int("cols"), seed=seed, weights=params.get("weights", "pm1"))
