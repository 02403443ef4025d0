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

import hashlib
import itertools
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from derand.errors import InputError
from derand.sweep.runners import get_runner

_TOP_LEVEL = {"command", "seeds", "fixed", "grid", "name"}


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
    seeds = data.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = list(range(seeds))
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise InputError(f"{source}: 'seeds' must be a non-empty list of integers or a count")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"{source}: 'seeds' has duplicates")
    fixed = data.get("fixed", {})
    grid = data.get("grid", {})
    if not isinstance(fixed, dict) or not isinstance(grid, dict):
        raise InputError(f"{source}: [fixed] and [grid] must be tables")
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise InputError(f"{source}: grid.{name} must be a non-empty list")
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise InputError(f"{source}: grid.{name} has duplicate values")
    both = sorted(set(fixed) & set(grid))
    if both:
        raise InputError(f"{source}: {', '.join(both)} in both [fixed] and [grid]")
    bad = sorted((set(fixed) | set(grid)) - runner.parameters)
    if bad:
        raise InputError(f"{source}: unknown parameter(s) for {data['command']}: {', '.join(bad)}")
    spec = SweepSpec(
        command=data["command"],
        fixed=dict(fixed),
        grid={k: list(v) for k, v in grid.items()},
        seeds=list(seeds),
        name=str(data.get("name", "sweep")),
    )
    for cell in spec.cells()[:: len(spec.seeds)]:
        try:
            runner.check(cell.params)
        except InputError as exc:
            raise InputError(f"{source}: cell {cell.params}: {exc}") from None
    return spec


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a TOML spec; syntax errors name the line."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"sweep spec {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: malformed TOML: {exc}") from None
    return parse_spec(data, str(path))
