"""Property-based fuzzing of the JL readers: every input ends in data or one InputError.

Random CSV text (numbers, separators, comments, byte-order marks, quotes, junk) and random
``.npy`` / ``.npz`` bytes (valid headers with hostile shapes and dtypes, truncated or mutated
files) go through :func:`derand.jl.load_data`. The reader must return finite 2-d float64
data, keeping every data row of a CSV, or raise :class:`~derand.errors.InputError` — never
another exception, never a silently dropped row — and answer quickly.
"""

from __future__ import annotations

import io
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derand.errors import InputError
from derand.jl import load_data

CELLS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
    st.sampled_from(["", " ", "nan", "inf", "-inf", "1e400", "x", "1;2", '"3"', "0x10", "1_0"]),
    st.text(alphabet="0123456789.eE+- abc#;\"'\t", max_size=12),
)
LINE = st.lists(CELLS, min_size=1, max_size=5).map(",".join)
EXTRA = st.sampled_from(["", " # note", "#", "   "])


def _is_name(cell: str) -> bool:
    cell = cell.strip()
    if len(cell) >= 2 and cell[0] == cell[-1] and cell[0] in "\"'":
        cell = cell[1:-1].strip()
    try:
        float(cell)
    except ValueError:
        return any(c.isascii() and (c.isalpha() or c == "_") for c in cell)
    return False


def _expected_rows(text: str) -> int:
    """Data rows a correct reader keeps: content lines, less a first line of names."""
    lines = [ln.split("#", 1)[0].strip() for ln in text.lstrip("\ufeff").splitlines()]
    content = [ln for ln in lines if ln]
    if not content:
        return 0
    header = all(_is_name(cell) for cell in content[0].split(","))
    return len(content) - (1 if header else 0)


def _check(path: Path) -> np.ndarray | None:
    start = time.perf_counter()
    try:
        X = load_data(str(path)).X
    except InputError as exc:
        assert "\n" not in str(exc)
        X = None
    assert time.perf_counter() - start < 5.0
    if X is not None:
        assert X.ndim == 2 and X.dtype == np.float64 and np.all(np.isfinite(X))
    return X


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(st.tuples(LINE, EXTRA), min_size=0, max_size=8),
    bom=st.booleans(),
    crlf=st.booleans(),
)
def test_csv_reader(tmp_path: Path, lines: list[tuple[str, str]], bom: bool, crlf: bool) -> None:
    text = ("\r\n" if crlf else "\n").join(line + extra for line, extra in lines)
    text = ("\ufeff" if bom else "") + text
    path = tmp_path / "fuzz.csv"
    path.write_text(text, encoding="utf-8", newline="")
    X = _check(path)
    if X is not None:
        assert X.shape[0] == _expected_rows(text)


def _npy_header(shape: tuple[int, ...], descr: str) -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=st.lists(st.integers(0, 10**7), min_size=0, max_size=3).map(tuple),
    descr=st.sampled_from(["<f8", "<f4", "<i8", "|b1", "<c16", "|O", "<U3", "|V8", ">f8", "<f2"]),
    payload=st.binary(max_size=256),
    as_npz=st.booleans(),
)
def test_npy_reader(
    tmp_path: Path, shape: tuple[int, ...], descr: str, payload: bytes, as_npz: bool
) -> None:
    body = _npy_header(shape, descr) + payload
    if as_npz:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            zf.writestr("X.npy", body)
        path = tmp_path / "fuzz.npz"
        path.write_bytes(buffer.getvalue())
    else:
        path = tmp_path / "fuzz.npy"
        path.write_bytes(body)
    X = _check(path)
    if X is not None:
        assert descr not in ("<c16", "|O")


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_valid_files(tmp_path: Path, data: st.DataObject) -> None:
    """A valid .npy/.npz with bytes flipped, cut or appended."""
    X = np.arange(24.0).reshape(6, 4)
    buffer = io.BytesIO()
    kind = data.draw(st.sampled_from(["npy", "npz", "compressed"]))
    as_npz = kind != "npy"
    if kind == "compressed":
        np.savez_compressed(buffer, X=X)
    elif as_npz:
        np.savez(buffer, X=X)
    else:
        np.save(buffer, X)
    raw = bytearray(buffer.getvalue())
    for _ in range(data.draw(st.integers(0, 4))):
        where = data.draw(st.integers(0, len(raw) - 1))
        raw[where] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    raw = raw[:cut] + data.draw(st.binary(max_size=16))
    path = tmp_path / ("m.npz" if as_npz else "m.npy")
    path.write_bytes(bytes(raw))
    _check(path)
