"""Compile the NN lab's compiled training steps (:mod:`derand.nn._kernel`) into numba's cache.

numba caches the kernel next to its source; the first run after an install would otherwise
compile it on its own clock (4-8 s here, more than half of a ``--preset fig3`` run).
``make install`` runs ``python -m derand.nn.warmup`` once, after the Max-Cut warm-up.
"""

from __future__ import annotations

import itertools
import time

__all__ = ["warm_up"]


def warm_up() -> float:
    """Run two steps of each compiled training step (the row kernel at d = 2, the BLAS
    kernel at d = 8) in each dtype it supports.

    Each call goes through :func:`derand.nn.train` with a tiny student, so the kernel is
    compiled (or loaded from the cache) for exactly the argument types of a real run.

    Returns
    -------
    float
        Seconds the warm-up took.

    Examples
    --------
    >>> warm_up() >= 0.0
    True
    """
    from derand.nn import TrainConfig, train
    from derand.nn.config import DType

    start = time.perf_counter()
    dtypes: tuple[DType, ...] = ("float32", "float64")
    for d, dtype in itertools.product((2, 8), dtypes):  # both kernels
        config = TrainConfig(
            d=d, k=1, width=4, until="steps", steps=2, certificate=False, dtype=dtype
        )
        result = train(config)
        if result.step_kernel == "torch":  # pragma: no cover - a guard for future rules
            raise RuntimeError("the warm-up's configuration no longer uses the compiled step")
    return time.perf_counter() - start


if __name__ == "__main__":  # pragma: no cover - run by `make install`
    from derand.threads import use_threads

    use_threads(1)  # before torch loads: its waiting threads sleep, and a tiny run needs one
    print(f"derand: NN training step compiled or loaded in {warm_up():.1f} s")
