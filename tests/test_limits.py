"""Seeds, counts and memory requests are checked before anything is allocated."""

from __future__ import annotations

from pathlib import Path

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


def test_check_input_file(tmp_path: Path) -> None:
    import os

    from derand.limits import check_input_file

    good = tmp_path / "data.csv"
    good.write_text("1,2\n")
    assert check_input_file(good, "data file") == good
    link = tmp_path / "link.csv"
    link.symlink_to(good)
    assert check_input_file(link, "data file") == link
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cases = [
        (tmp_path / "missing.csv", "not found"),
        (tmp_path, "is a directory"),
        (fifo, "is a FIFO"),  # opening it would block forever
        (Path("/dev/null"), "is a device"),
        (good / "below", "not a directory"),
    ]
    for path, match in cases:
        with pytest.raises(InputError, match=match):
            check_input_file(path, "data file")
    with pytest.raises(InputError, match="at most"):
        check_input_file(good, "data file", max_bytes=2)


def test_sweep_spec_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    from derand.sweep import load_spec

    fifo = tmp_path / "spec.toml"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="FIFO"):
        load_spec(fifo)
