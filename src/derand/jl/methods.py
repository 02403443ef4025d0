"""One place that turns a method name into an embedding estimator (CLI, sweeps, reports).

The estimators are imported on use, so that importing this module (the CLI does) stays cheap.
"""

from __future__ import annotations

import re
from typing import Any

from derand.errors import InputError
from derand.limits import check_count, check_seed

METHODS = ("derandomized", "gaussian", "sparse", "pca", "numax", "best-of-N")
_BEST_OF = re.compile(r"best-of-(\d+)$")
MAX_DRAWS = 100_000
"""Most draws of a best-of-N baseline (each is one exact pass over all pairs)."""


def parse_method(method: str, n_draws: int = 100) -> tuple[str, int]:
    """``(name, n_draws)``: ``best-of-100`` is ``("best-of-N", 100)``; others keep ``n_draws``.

    Returns
    -------
    tuple of (str, int)
        The method's name in :data:`METHODS` and the number of Gaussian draws.

    Examples
    --------
    >>> parse_method("best-of-100")
    ('best-of-N', 100)
    """
    if method in METHODS:
        return method, n_draws
    match = _BEST_OF.match(method)
    if match:
        if len(match.group(1)) > 12:
            raise InputError(f"best-of-N: N must be in [1, {MAX_DRAWS}], got {match.group(1)}")
        return "best-of-N", check_count(int(match.group(1)), "best-of-N: N", high=MAX_DRAWS)
    raise InputError(
        f"unknown method {method!r}; choose derandomized, gaussian, sparse, pca, numax or "
        "best-of-N (N >= 1, e.g. best-of-100)"
    )


def random_state_for(seed: int | None) -> Any:
    """A scikit-learn ``random_state`` for any seed in [0, 2**63 - 1].

    Seeds below 2**32 are passed as they are (as scikit-learn would use them); larger ones
    seed a ``RandomState`` through numpy's ``SeedSequence``.

    Returns
    -------
    int, RandomState or None

    Examples
    --------
    >>> random_state_for(7)
    7
    """
    if seed is None:
        return None
    value = check_seed(seed)
    if value < 2**32:
        return value
    import numpy as np

    return np.random.RandomState(np.random.MT19937(np.random.SeedSequence(value)))


def make_embedding(
    method: str,
    n_components: int | str,
    *,
    eps: float = 0.1,
    objective: str = "pairs",
    random_state: int | None = None,
    n_draws: int = 100,
    rescale: bool = False,
    n_jobs: int | None = None,
    backend: str = "local",
    address: str | None = None,
    **options: Any,
) -> Any:
    """The estimator for ``method``; ``options`` go to :class:`DerandomizedJL` only.

    ``rescale`` applies to the random baselines (PCA and ours are always rescaled).

    Returns
    -------
    estimator
        An unfitted scikit-learn transformer.

    Examples
    --------
    >>> make_embedding("pca", 5)
    PCAJL(n_components=5)
    """
    from derand.jl.baselines import PCAJL, BestOfGaussianJL, GaussianJL, NuMaxJL, SparseJL
    from derand.jl.estimator import DerandomizedJL

    name, draws = parse_method(method, n_draws)
    random_state = random_state_for(random_state)
    common: dict[str, Any] = {
        "n_components": n_components,
        "eps": eps,
        "objective": objective,
        "n_jobs": n_jobs,
        "backend": backend,
        "address": address,
    }
    if name == "derandomized":
        return DerandomizedJL(**common, random_state=random_state, **options)
    if name == "gaussian":
        return GaussianJL(**common, rescale=rescale, random_state=random_state)
    if name == "sparse":
        return SparseJL(**common, rescale=rescale, random_state=random_state)
    if name == "pca":
        return PCAJL(**common)
    if name == "numax":
        if objective != "pairs":
            raise InputError("numax embeds pairs only (objective 'pairs')")
        del common["objective"]
        return NuMaxJL(**common)
    n_draws = check_count(draws, "n_draws", high=MAX_DRAWS)
    return BestOfGaussianJL(**common, n_draws=n_draws, rescale=rescale, random_state=random_state)
