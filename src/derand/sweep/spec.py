"""Sweep specifications: a TOML grid of parameters times seeds over one command.

Example::

    command = "nn"
    seeds = [0, 1, 2]

    [fixed]            # the same in every cell
    preset = "multi-index"
    steps = 500

    [grid]             # the Cartesian product of these lists
    lam = [1e-4, 1e-3]
    width = [100, 400]
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from derand.errors import InputError
from derand.limits import check_count, check_input_file, check_seed
from derand.sweep.runners import Runner, get_runner

_TOP_LEVEL = {"command", "seeds", "fixed", "grid", "name"}

MAX_CELLS = 100_000
"""Most cells (grid points x seeds) one spec may define."""

MAX_SPEC_BYTES = 1 << 20
"""Largest spec file read (1 MiB): a spec is a few lines, not a data set."""

_TYPE_NAMES = {
    bool: "a boolean (true/false)",
    int: "an integer",
    float: "a number",
    str: "a string",
}


def _check_value(where: str, value: Any, expected: type | None) -> None:
    """A spec value is a TOML scalar of the parameter's type (or a list for list-valued ones)."""
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        raise InputError(f"{where}: TOML dates and times are not parameters, got {value}")
    if isinstance(value, dict):
        raise InputError(f"{where}: a table is not a parameter value")
    if isinstance(value, list):
        for item in value:
            _check_value(where, item, None)
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where} must be finite, got {value}")
    if expected is None:
        return
    ok = (
        isinstance(value, bool)
        if expected is bool
        else isinstance(value, (int, float)) and not isinstance(value, bool)
        if expected is float
        else isinstance(value, expected) and not isinstance(value, bool)
    )
    if not ok:
        raise InputError(
            f"{where} must be {_TYPE_NAMES.get(expected, expected.__name__)}, got {value!r}"
        )


def _check_values(source: str, runner: Runner, fixed: dict[str, Any], grid: dict[str, Any]) -> None:
    for name, value in fixed.items():
        _check_value(f"{source}: fixed.{name}", value, runner.types.get(name))
    for name, values in grid.items():
        for value in values:
            _check_value(f"{source}: grid.{name}", value, runner.types.get(name))


def _seeds(source: str, seeds: Any) -> list[int]:
    if isinstance(seeds, list):
        if not seeds:
            raise InputError(f"{source}: 'seeds' must be a non-empty list of integers or a count")
        if len(seeds) > MAX_CELLS:
            raise InputError(f"{source}: 'seeds' lists {len(seeds)} seeds; at most {MAX_CELLS}")
        for seed in seeds:
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise InputError(f"{source}: 'seeds' must be integers, got {seed!r}")
        return [check_seed(seed, f"{source}: seed") for seed in seeds]
    if isinstance(seeds, bool) or not isinstance(seeds, int):
        raise InputError(
            f"{source}: 'seeds' must be a non-empty list of integers or a count, got {seeds!r}"
        )
    return list(range(check_count(seeds, f"{source}: seeds (a count)", high=MAX_CELLS)))


@dataclass(frozen=True)
class Cell:
    """One run: a command, its parameters and a seed; ``id`` is stable across reruns."""

    id: str
    command: str
    params: dict[str, Any]
    seed: int

    def grid_key(self, grid_names: list[str]) -> tuple[Any, ...]:
        """The values of the grid parameters (for grouping over seeds)."""
        return tuple(self.params.get(name) for name in grid_names)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: ``command``, ``fixed`` parameters, ``grid`` lists, ``seeds``."""

    command: str
    fixed: dict[str, Any]
    grid: dict[str, list[Any]]
    seeds: list[int]
    name: str = "sweep"

    def cells(self) -> list[Cell]:
        """Every (grid point, seed) cell, grid points in spec order, then seeds."""
        names = list(self.grid)
        cells = []
        for values in itertools.product(*(self.grid[n] for n in names)):
            params = {**self.fixed, **dict(zip(names, values, strict=True))}
            for seed in self.seeds:
                cells.append(Cell(cell_id(self.command, params, seed), self.command, params, seed))
        return cells


def cell_id(command: str, params: Mapping[str, Any], seed: int) -> str:
    """A short stable hash of a cell's command, parameters and seed."""
    text = json.dumps({"command": command, "params": dict(params), "seed": seed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def parse_spec(data: Mapping[str, Any], source: str = "spec") -> SweepSpec:
    """Validate a spec mapping; every problem is an :class:`InputError` naming it."""
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        raise InputError(f"{source}: unknown key(s) {', '.join(unknown)}")
    if "command" not in data or not isinstance(data["command"], str):
        raise InputError(f"{source}: 'command' (a string) is required")
    runner = get_runner(data["command"])
    seeds = _seeds(source, data.get("seeds", [0]))
    if len(set(seeds)) != len(seeds):
        raise InputError(f"{source}: 'seeds' has duplicates")
    fixed = data.get("fixed", {})
    grid = data.get("grid", {})
    if not isinstance(fixed, dict) or not isinstance(grid, dict):
        raise InputError(f"{source}: [fixed] and [grid] must be tables")
    cells = len(seeds)
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise InputError(f"{source}: grid.{name} must be a non-empty list")
        cells *= len(values)
        if cells > MAX_CELLS:
            raise InputError(f"{source}: the grid times the seeds exceeds {MAX_CELLS} cells")
    both = sorted(set(fixed) & set(grid))
    if both:
        raise InputError(f"{source}: {', '.join(both)} in both [fixed] and [grid]")
    bad = sorted((set(fixed) | set(grid)) - runner.parameters)
    if bad:
        raise InputError(f"{source}: unknown parameter(s) for {data['command']}: {', '.join(bad)}")
    _check_values(source, runner, fixed, grid)
    for name, values in grid.items():
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise InputError(f"{source}: grid.{name} has duplicate values")
    name = data.get("name", "sweep")
    if not isinstance(name, str):
        raise InputError(f"{source}: 'name' must be a string, got {name!r}")
    spec = SweepSpec(
        command=data["command"],
        fixed=dict(fixed),
        grid={k: list(v) for k, v in grid.items()},
        seeds=seeds,
        name=name,
    )
    for cell in spec.cells()[:: len(spec.seeds)]:
        try:
            runner.check(cell.params)
        except InputError as exc:
            raise InputError(f"{source}: cell {cell.params}: {exc}") from None
    return spec


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a TOML spec (UTF-8, at most 1 MiB); syntax errors name the line.

    Returns
    -------
    SweepSpec
        The validated spec; every problem is one :class:`InputError` naming the file.

    Examples
    --------
    >>> load_spec("examples/sweep_nn.toml").command  # doctest: +SKIP
    'nn'
    """
    path = check_input_file(path, "sweep spec", max_bytes=MAX_SPEC_BYTES)
    with path.open("rb") as fh:
        raw = fh.read(MAX_SPEC_BYTES + 1)
    if len(raw) > MAX_SPEC_BYTES:  # it grew since the check
        raise InputError(f"{path}: a sweep spec is at most {MAX_SPEC_BYTES >> 20} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: malformed TOML: {exc}") from None
    return parse_spec(data, str(path))
