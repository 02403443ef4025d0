"""One place that turns a method name into an embedding estimator (CLI, sweeps, reports).

The estimators are imported on use, so that importing this module (the CLI does) stays cheap.
"""

from __future__ import annotations

import re
from typing import Any

from derand.errors import InputError

METHODS = ("derandomized", "gaussian", "sparse", "pca", "best-of-N")
_BEST_OF = re.compile(r"best-of-(\d+)$")


def parse_method(method: str, n_draws: int = 100) -> tuple[str, int]:
    """``(name, n_draws)``: ``best-of-100`` is ``("best-of-N", 100)``; others keep ``n_draws``."""
    if method in METHODS:
        return method, n_draws
    match = _BEST_OF.match(method)
    if match and int(match.group(1)) >= 1:
        return "best-of-N", int(match.group(1))
    raise InputError(
        f"unknown method {method!r}; choose derandomized, gaussian, sparse, pca or best-of-N "
        "(N >= 1, e.g. best-of-100)"
    )


def make_embedding(
    method: str,
    n_components: int,
    *,
    objective: str = "pairs",
    random_state: int | None = None,
    device: str = "cpu",
    n_draws: int = 100,
    **options: Any,
) -> Any:
    """The estimator for ``method``; ``options`` go to :class:`DerandomizedJL` only."""
    from derand.jl.baselines import PCAJL, BestOfGaussianJL, GaussianJL, SparseJL
    from derand.jl.estimator import DerandomizedJL

    name, draws = parse_method(method, n_draws)
    common: dict[str, Any] = {"n_components": n_components, "objective": objective}
    if name == "derandomized":
        return DerandomizedJL(**common, random_state=random_state, device=device, **options)
    if name == "gaussian":
        return GaussianJL(**common, random_state=random_state)
    if name == "sparse":
        return SparseJL(**common, random_state=random_state)
    if name == "pca":
        return PCAJL(**common)
    return BestOfGaussianJL(**common, n_draws=draws, random_state=random_state)
