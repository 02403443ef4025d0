"""Seeds, counts and memory requests are checked before anything is allocated."""

from __future__ import annotations

import pytest

from derand.errors import InputError
from derand.limits import (
    MAX_SEED,
    available_memory,
    check_count,
    check_finite,
    check_seed,
    format_bytes,
    require_memory,
)


@pytest.mark.parametrize("seed", [0, 7, 3.0, MAX_SEED])
def test_valid_seeds(seed: object) -> None:
    assert check_seed(seed) == int(seed)  # type: ignore[call-overload]


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 10**20, 1.5, True, "3", float("nan")])
def test_invalid_seeds(seed: object) -> None:
    with pytest.raises(InputError, match="seed"):
        check_seed(seed)


def test_counts() -> None:
    assert check_count(5, "depth", high=10) == 5
    assert check_count(1e3, "steps", high=10**6) == 1000
    for bad in (0, 11, 2.5, "x", False, float("inf")):
        with pytest.raises(InputError, match="depth"):
            check_count(bad, "depth", high=10)


def test_finite() -> None:
    assert check_finite(0.5, "lam", low=0) == 0.5
    for bad in (float("nan"), float("inf"), -1.0, "1", None):
        with pytest.raises(InputError, match="lam"):
            check_finite(bad, "lam", low=0)


def test_memory_request_refused_with_needed_and_available() -> None:
    assert available_memory() > 0
    require_memory(1024, "a small buffer")
    with pytest.raises(InputError, match=r"needs about .* available"):
        require_memory(2.0**70, "a huge buffer")
    with pytest.raises(InputError):
        require_memory(float("inf"), "an infinite buffer")
    assert format_bytes(3 * 2**30) == "3.0 GiB"
    assert format_bytes(12) == "12 B"
