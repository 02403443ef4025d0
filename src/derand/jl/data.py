"""The ``DATA`` argument of ``derand jl``: a named data set, a file, or a generator spec.

- ``digits``: scikit-learn's 8x8 digits (1797 x 64), shipped with scikit-learn.
- ``PATH.npy`` / ``PATH.npz`` (first array, or the one named ``X``) / ``PATH.csv`` (numbers
  separated by commas, optional ``#`` comments; malformed lines are reported by number).
- ``uniform:n=100,d=500,seed=42``: uniform [0, 1) entries, rows normalised to unit length
  (the authors' JL data, paper §5.2).
- ``gaussian:n=1000,d=300,seed=0``: i.i.d. N(0, 1) entries.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from derand.errors import InputError

Array = NDArray[np.float64]

GENERATORS = ("uniform", "gaussian")
_GENERATOR_DEFAULTS = {"n": 100, "d": 500, "seed": 0}
MAX_GENERATED = 200_000_000


@dataclass(frozen=True)
class Dataset:
    """Loaded data and a short description of where it came from."""

    X: Array
    name: str


def parse_generator(spec: str) -> tuple[str, dict[str, int]]:
    """Parse ``kind:key=value,...`` into the kind and integer parameters ``n``, ``d``, ``seed``."""
    kind, _, rest = spec.partition(":")
    if kind not in GENERATORS:
        raise InputError(f"unknown generator {kind!r}; choose one of {', '.join(GENERATORS)}")
    params = dict(_GENERATOR_DEFAULTS)
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or key not in params:
            raise InputError(
                f"bad generator parameter {item!r} in {spec!r}; expected n=INT, d=INT, seed=INT"
            )
        try:
            params[key] = int(value)
        except ValueError:
            raise InputError(f"{key} must be an integer in {spec!r}, got {value!r}") from None
    if params["n"] < 1 or params["d"] < 1:
        raise InputError(f"n and d must be >= 1 in {spec!r}")
    if params["n"] * params["d"] > MAX_GENERATED:
        raise InputError(f"{spec!r} asks for more than {MAX_GENERATED} numbers")
    return kind, params


def generate(kind: str, n: int, d: int, seed: int) -> Array:
    """Generate ``uniform`` (rows normalised) or ``gaussian`` data with ``numpy`` ``seed``."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        X = rng.random((n, d))
        return np.asarray(X / np.linalg.norm(X, axis=1, keepdims=True), dtype=np.float64)
    if kind == "gaussian":
        return np.asarray(rng.standard_normal((n, d)), dtype=np.float64)
    raise InputError(f"unknown generator {kind!r}")


def read_csv(path: Path) -> Array:
    """Read a numeric CSV; errors name the line. A non-numeric first line is a header."""
    rows: list[list[float]] = []
    width: int | None = None
    try:
        with path.open(newline="") as fh:
            for lineno, record in enumerate(csv.reader(fh), start=1):
                cells = [c.strip() for c in record]
                if not cells or all(c == "" for c in cells) or cells[0].startswith("#"):
                    continue
                try:
                    values = [float(c) for c in cells]
                except ValueError:
                    if not rows and width is None and lineno == 1:
                        continue  # header
                    bad = next(c for c in cells if not _is_float(c))
                    raise InputError(f"{path}: line {lineno}: not a number: {bad!r}") from None
                if width is None:
                    width = len(values)
                elif len(values) != width:
                    raise InputError(
                        f"{path}: line {lineno}: expected {width} columns, got {len(values)}"
                    )
                rows.append(values)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text CSV file") from None
    if not rows:
        raise InputError(f"{path}: no numeric rows")
    return np.asarray(rows, dtype=np.float64)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_numpy(path: Path) -> Array:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: cannot read as {path.suffix}: {exc}") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            if not names:
                raise InputError(f"{path}: the .npz file holds no arrays")
            arr = loaded["X"] if "X" in names else loaded[names[0]]
    else:
        arr = loaded
    try:
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{path}: array of dtype {arr.dtype} is not numeric") from None


def load_data(spec: str) -> Dataset:
    """Load ``DATA`` as described in the module docstring; validates shape and finiteness."""
    if spec == "digits":
        from sklearn.datasets import load_digits

        X = np.asarray(load_digits().data, dtype=np.float64)
        name = "digits"
    elif (spec.split(":", 1)[0] in GENERATORS and ":" in spec) or spec in GENERATORS:
        kind, params = parse_generator(spec)
        X = generate(kind, params["n"], params["d"], params["seed"])
        name = f"{kind}:n={params['n']},d={params['d']},seed={params['seed']}"
    else:
        path = Path(spec)
        if not path.exists():
            raise InputError(
                f"{spec!r} is not a file, 'digits', or a generator spec like "
                "'uniform:n=100,d=500,seed=42'"
            )
        suffix = path.suffix.lower()
        if suffix in (".npy", ".npz"):
            X = _read_numpy(path)
        elif suffix == ".csv":
            X = read_csv(path)
        else:
            raise InputError(f"{path}: unsupported file type {suffix!r}; use .npy, .npz or .csv")
        name = str(path)
    if X.ndim == 1:
        raise InputError(f"{name}: data must be 2-d (points x features), got a 1-d array")
    if X.ndim != 2:
        raise InputError(f"{name}: data must be 2-d (points x features), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise InputError(f"{name}: data contains NaN or infinity")
    return Dataset(X=X, name=name)
