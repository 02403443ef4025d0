"""The exact certificate's tiles as Ray tasks (paper §5.2: n = 10^6 points is 5·10^11 pairs).

The pairs are cut into the same tiles as on one machine (:mod:`derand.jl.pairs`); shards of
consecutive tiles run as Ray tasks (one CPU each, one BLAS thread) and return per-tile
partial results, which the driver reduces in tile order. Each tile is computed by the same
code with the same inputs wherever it runs, so the report equals the local one bit for bit
on machines of the same type (BLAS kernels are chosen per CPU model).

Ray is started the way ``derand sweep`` starts it: an existing cluster by its address, or a
local instance without dashboard for the run (Ray enables token authentication for a new
local instance; its servers still listen on all interfaces, so on an untrusted network use
the local backend).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from derand.errors import InputError
from derand.jl.pairs import PairData, Projected, TileResults, certify_tiles, tile_pairs

SHARD_PAIRS = 200_000_000
"""Pairs per Ray task (about a minute of one core); more shards than CPUs balance the load."""


def local_ray_options(workers: int) -> dict[str, Any]:
    """``ray.init`` options for a local Ray instance (the same as ``derand sweep`` uses).

    Returns
    -------
    dict
        Keyword arguments for ``ray.init``: ``workers`` CPUs, no dashboard, no log forwarding.

    Examples
    --------
    >>> local_ray_options(2)["num_cpus"]
    2
    """
    return {"num_cpus": workers, "include_dashboard": False, "log_to_driver": False}


@contextmanager
def ray_session(address: str | None, workers: int) -> Iterator[Any]:
    """Connect to the Ray cluster at ``address``, or start a local instance for the run.

    Yields the ``ray`` module; a local instance started here is shut down on exit.
    """
    try:
        import ray
    except ImportError:
        raise InputError("the ray backend needs Ray: pip install 'derand[ray]'") from None
    started = not ray.is_initialized()
    if started:
        if address is None:
            ray.init(**local_ray_options(workers))
        else:
            try:
                ray.init(address=address, log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise InputError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _certify_shard(
    data: PairData,
    proj: Projected,
    tiles: list[tuple[int, int, int, int]],
    n_worst: int,
    keep_values: bool,
) -> TileResults:
    """One Ray task: the certificate partials of consecutive tiles, on one thread."""
    return certify_tiles(data, proj, tiles, n_worst=n_worst, keep_values=keep_values, workers=1)


def shards(
    tiles: Sequence[tuple[int, int, int, int]], per_shard: int = SHARD_PAIRS, minimum: int = 1
) -> list[list[tuple[int, int, int, int]]]:
    """Consecutive tiles grouped into shards of about ``per_shard`` pairs (at least
    ``minimum`` shards when there are enough tiles)."""
    total = sum(tile_pairs(t) for t in tiles)
    target = max(1, min(per_shard, -(-total // max(1, minimum))))
    out: list[list[tuple[int, int, int, int]]] = [[]]
    size = 0
    for t in tiles:
        if out[-1] and size + tile_pairs(t) > target:
            out.append([])
            size = 0
        out[-1].append(t)
        size += tile_pairs(t)
    return [s for s in out if s]


def certify_tiles_ray(
    data: PairData,
    proj: Projected,
    tiles: Sequence[tuple[int, int, int, int]],
    *,
    n_worst: int,
    keep_values: bool,
    workers: int,
    address: str | None,
    callback: Callable[[int, int], None] | None,
    total: int,
) -> list[TileResults]:
    """Certificate partials of ``tiles`` computed as Ray tasks, in shard order.

    Returns
    -------
    list of TileResults
        One per shard; :func:`derand.jl.pairs.reduce_tiles` combines them.
    """
    with ray_session(address, workers) as ray:
        cpus = max(1, int(ray.cluster_resources().get("CPU", workers)))
        groups = shards(tiles, minimum=4 * cpus)
        remote = ray.remote(num_cpus=1)(_certify_shard)
        data_ref = ray.put(data)
        proj_ref = ray.put(proj)
        pending = {
            remote.remote(data_ref, proj_ref, group, n_worst, keep_values): index
            for index, group in enumerate(groups)
        }
        results: dict[int, TileResults] = {}
        done = 0
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    index = pending.pop(ref)
                    results[index] = ray.get(ref)
                    done += sum(tile_pairs(t) for t in groups[index])
                    if callback is not None:
                        callback(done, total)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
    return [results[i] for i in range(len(groups))]


def estimate_seconds(seconds_per_tile: float, n: int, tile: int, cores: int) -> float:
    """Wall time of a certificate of n points on ``cores`` cores, from one tile's time.

    Returns
    -------
    float
        ``seconds_per_tile * tiles / cores`` with ``tiles = b (b + 1) / 2``, ``b = ceil(n / tile)``.

    Examples
    --------
    >>> estimate_seconds(1.0, 4096, 2048, 3)
    1.0
    """
    b = -(-n // tile)
    return seconds_per_tile * (b * (b + 1) // 2) / max(1, cores)
