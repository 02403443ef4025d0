"""The ``DATA`` argument of ``derand jl``: a named data set, a file, or a generator spec.

- ``digits``: scikit-learn's 8x8 digits (1797 x 64), shipped with scikit-learn.
- ``PATH.npy`` / ``PATH.npz`` (the array named ``X``, or the first) / ``PATH.csv`` (numbers
  separated by commas; an optional header line of names; ``#`` starts a comment, also after
  the numbers on a line; a UTF-8 byte-order mark is ignored).
- ``uniform:n=100,d=500,seed=42``: uniform [0, 1) entries, rows normalised to unit length
  (the authors' JL data, paper §5.2).
- ``gaussian:n=1000,d=300,seed=0``: i.i.d. N(0, 1) entries.

Every reader either returns all the rows of the file or raises
:class:`~derand.errors.InputError` naming the file (and the line, for CSV): an empty cell, a
ragged or non-numeric row, NaN or infinity, complex or object arrays (never unpickled), and a
``.npy`` header whose array would not fit in memory (checked before anything is allocated).
"""

from __future__ import annotations

import math
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from tokenize import TokenError
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from derand.errors import InputError
from derand.limits import check_count, check_seed, require_memory

Array = NDArray[np.float64]

GENERATORS = ("uniform", "gaussian")
_GENERATOR_DEFAULTS = {"n": 100, "d": 500, "seed": 0}
MAX_POINTS = 10_000_000
MAX_FEATURES = 10_000_000
MAX_GENERATED = 200_000_000
"""Most numbers a generator spec may ask for (n * d; 1.6 GB in float64)."""

_SHOW = 40  # characters of a bad cell shown in an error
_HAS_LETTER = re.compile(r"[A-Za-z_]")

_HEADER_ERRORS = (ValueError, SyntaxError, EOFError, TokenError, TypeError, KeyError, OverflowError)
"""What numpy's .npy header parser raises for a malformed header."""


@dataclass(frozen=True)
class Dataset:
    """Loaded data and a short description of where it came from."""

    X: Array
    name: str


def parse_generator(spec: str) -> tuple[str, dict[str, int]]:
    """Parse ``kind:key=value,...`` into the kind and integer parameters ``n``, ``d``, ``seed``.

    Returns
    -------
    tuple of (str, dict)
        The generator and its parameters, range-checked.

    Examples
    --------
    >>> parse_generator("gaussian:n=10,d=3")
    ('gaussian', {'n': 10, 'd': 3, 'seed': 0})
    """
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
        if len(value) > 30:
            raise InputError(f"{key} = {value[:_SHOW]}... in {spec!r} is out of range")
        try:
            params[key] = int(value)
        except ValueError:
            raise InputError(f"{key} must be an integer in {spec!r}, got {value!r}") from None
    params["n"] = check_count(params["n"], f"n in {spec!r}", high=MAX_POINTS)
    params["d"] = check_count(params["d"], f"d in {spec!r}", high=MAX_FEATURES)
    params["seed"] = check_seed(params["seed"], f"seed in {spec!r}")
    if params["n"] * params["d"] > MAX_GENERATED:
        raise InputError(f"{spec!r} asks for more than {MAX_GENERATED} numbers")
    require_memory(16.0 * params["n"] * params["d"], f"the data {spec!r}")
    return kind, params


def generate(kind: str, n: int, d: int, seed: int) -> Array:
    """Generate ``uniform`` (rows normalised) or ``gaussian`` data with ``numpy`` ``seed``.

    Returns
    -------
    ndarray of shape (n, d)

    Examples
    --------
    >>> generate("uniform", 2, 3, 0).shape
    (2, 3)
    """
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        X = rng.random((n, d))
        return np.asarray(X / np.linalg.norm(X, axis=1, keepdims=True), dtype=np.float64)
    if kind == "gaussian":
        return np.asarray(rng.standard_normal((n, d)), dtype=np.float64)
    raise InputError(f"unknown generator {kind!r}")


def _cell(text: str) -> str:
    cell = text.strip()
    if len(cell) >= 2 and cell[0] == cell[-1] and cell[0] in "\"'":
        cell = cell[1:-1].strip()
    return cell


def _parse_float(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _shown(cell: str) -> str:
    return repr(cell if len(cell) <= _SHOW else cell[:_SHOW] + "...")


def read_csv(path: Path) -> Array:
    """Read a numeric CSV; every row is kept or the error names its line.

    The first line is a header when none of its cells is a number and each holds a letter
    (``x,y,feature_3``); ``#`` starts a comment anywhere on a line; blank lines are skipped.
    Anything else that is not a number is an error naming its line.

    Returns
    -------
    ndarray of shape (rows, columns)

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as fh:
    ...     _ = fh.write("a,b\\n1,2 # first\\n3,4\\n")
    >>> read_csv(Path(fh.name)).tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    >>> os.remove(fh.name)
    """
    rows: list[list[float]] = []
    width: int | None = None
    seen_content = False
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for lineno, line in enumerate(fh, start=1):
                body = line.split("#", 1)[0].strip()
                if not body:
                    continue
                cells = [_cell(c) for c in body.split(",")]
                values = [_parse_float(c) for c in cells]
                if not seen_content:
                    seen_content = True
                    if all(
                        v is None and _HAS_LETTER.search(c)
                        for c, v in zip(cells, values, strict=True)
                    ):
                        continue  # a header: names, no number
                if any(v is None for v in values):
                    bad = next(c for c, v in zip(cells, values, strict=True) if v is None)
                    what = "an empty cell" if bad == "" else f"not a number: {_shown(bad)}"
                    raise InputError(f"{path}: line {lineno}: {what}")
                numbers = [float(v) for v in values if v is not None]
                if not all(math.isfinite(v) for v in numbers):
                    bad = next(
                        c for c, v in zip(cells, numbers, strict=True) if not math.isfinite(v)
                    )
                    literal = bad.lower().lstrip("+-") in ("nan", "inf", "infinity")
                    what = "NaN or infinity" if literal else "a number beyond the float64 range"
                    raise InputError(f"{path}: line {lineno}: {what}: {_shown(bad)}")
                if width is None:
                    width = len(numbers)
                elif len(numbers) != width:
                    raise InputError(
                        f"{path}: line {lineno}: expected {width} columns, got {len(numbers)}"
                    )
                rows.append(numbers)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not rows:
        raise InputError(f"{path}: no numeric rows")
    return np.asarray(rows, dtype=np.float64)


def _check_header(fh: IO[bytes], where: str, size: int) -> None:
    """Read a .npy header from ``fh`` (``size`` bytes in all) and refuse, before anything is
    allocated, what cannot be loaded safely or at all."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise InputError(f"{where}: unsupported .npy version {version}")
    except _HEADER_ERRORS as exc:
        raise InputError(f"{where}: not a valid .npy array: {exc}") from None
    if dtype.hasobject:
        raise InputError(f"{where}: object arrays are refused (they would need unpickling)")
    if dtype.kind == "c":
        raise InputError(f"{where}: complex data is refused (points must be real)")
    if dtype.kind not in "biuf":
        raise InputError(f"{where}: array of dtype {dtype} is not numeric")
    count = math.prod(int(s) for s in shape)
    nbytes = count * dtype.itemsize
    if size - fh.tell() < nbytes:
        raise InputError(
            f"{where}: truncated: the header claims {count} values ({nbytes} bytes), "
            f"the file holds {max(0, size - fh.tell())} bytes of data"
        )
    require_memory(nbytes + 8.0 * count, f"{where} ({' x '.join(map(str, shape))} values)")


def _read_numpy(path: Path) -> Array:
    try:
        if path.suffix.lower() == ".npy":
            with path.open("rb") as fh:
                _check_header(fh, str(path), path.stat().st_size)
            arr = np.load(path, allow_pickle=False)
        else:
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith(".npy")]
                if not names:
                    raise InputError(f"{path}: the .npz file holds no arrays")
                member = "X.npy" if "X.npy" in names else names[0]
                with archive.open(member) as fh:
                    _check_header(fh, f"{path}[{member[:-4]}]", archive.getinfo(member).file_size)
            with np.load(path, allow_pickle=False) as loaded:
                arr = loaded[member[:-4]]
    except InputError:
        raise
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
        # RuntimeError: zipfile's "encrypted, password required" for a member flagged so
        raise InputError(f"{path}: not a valid .npz archive: {exc}") from None
    except (ValueError, EOFError) as exc:
        raise InputError(f"{path}: cannot read as {path.suffix}: {exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return _as_real(arr, path)


def _as_real(arr: Any, path: Path) -> Array:
    if not isinstance(arr, np.ndarray):  # pragma: no cover - np.load returns arrays here
        raise InputError(f"{path}: not an array")
    if arr.dtype.hasobject or arr.dtype.kind == "c":
        raise InputError(f"{path}: complex or object data is refused")
    try:
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{path}: array of dtype {arr.dtype} is not numeric") from None


def load_data(spec: str) -> Dataset:
    """Load ``DATA`` as described in the module docstring; validates shape and finiteness.

    Returns
    -------
    Dataset
        The points (float64, 2-d, finite) and a name.

    Examples
    --------
    >>> load_data("gaussian:n=5,d=3,seed=1").X.shape
    (5, 3)
    """
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
        if path.is_dir():
            raise InputError(f"{path}: is a directory, not a data file")
        suffix = path.suffix.lower()
        if suffix in (".npy", ".npz"):
            X = _read_numpy(path)
        elif suffix == ".csv":
            X = read_csv(path)
        else:
            raise InputError(f"{path}: unsupported file type {suffix!r}; use .npy, .npz or .csv")
        name = str(path)
    if X.ndim != 2:
        raise InputError(f"{name}: data must be 2-d (points x features), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise InputError(f"{name}: data contains NaN or infinity")
    return Dataset(X=X, name=name)
