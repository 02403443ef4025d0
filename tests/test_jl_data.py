"""The DATA argument of ``derand jl``: digits, files, generator specs, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from derand.errors import InputError
from derand.jl.data import load_data, parse_generator


def test_digits() -> None:
    data = load_data("digits")
    assert data.X.shape == (1797, 64) and data.name == "digits"


def test_uniform_is_the_authors_data() -> None:
    a = load_data("uniform:n=100,d=500,seed=42").X
    assert a.shape == (100, 500)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)
    assert a.min() >= 0
    raw = np.random.default_rng(42).random((100, 500))
    assert np.allclose(a, raw / np.linalg.norm(raw, axis=1, keepdims=True))
    assert np.array_equal(a, load_data("uniform:n=100,d=500,seed=42").X)


def test_gaussian_spec() -> None:
    X = load_data("gaussian:n=50,d=7,seed=3").X
    assert X.shape == (50, 7)
    assert np.array_equal(X, np.random.default_rng(3).standard_normal((50, 7)))
    assert parse_generator("gaussian:d=4") == ("gaussian", {"n": 100, "d": 4, "seed": 0})


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("uniform:n=abc", "integer"),
        ("uniform:m=3", "bad generator parameter"),
        ("gaussian:n=0,d=3", r"must be in \[1,"),
        ("gaussian:n=10,d=3,seed=-1", "seed"),
        ("gaussian:n=10,d=3,seed=99999999999999999999999", "seed"),
        ("uniform:n=100000000,d=100000", "n in"),
        ("nosuchthing", "not a file"),
    ],
)
def test_bad_specs(spec: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        load_data(spec)


def test_npy_npz_csv_round_trip(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(6, 3))
    np.save(tmp_path / "a.npy", X)
    np.savez(tmp_path / "b.npz", other=np.zeros(2), X=X)
    np.savetxt(tmp_path / "c.csv", X, delimiter=",", header="a,b,c", comments="")
    for name in ("a.npy", "b.npz", "c.csv"):
        assert np.allclose(load_data(str(tmp_path / name)).X, X)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1,2,3\n4,5\n", "line 2: expected 3 columns, got 2"),
        ("1,2,3\n4,x,6\n", "line 2: not a number: 'x'"),
        ("1,2\n# comment\n3,4\n5,,6\n", "line 4: an empty cell"),
        ("1,,3\n4,5,6\n", "line 1: an empty cell"),
        ("1,2,3\n4,nan,6\n", "line 2: NaN"),
        ("1," + "9" * (128 * 1024) + ",3\n4,5,6\n", "line 1: a number beyond the float64"),
        ("1;2;3\n4;5;6\n", "line 1: not a number"),
        ("", "no numeric rows"),
    ],
)
def test_malformed_csv_names_the_line(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        load_data(str(path))


def test_nan_and_shape_errors(tmp_path: Path) -> None:
    (tmp_path / "nan.csv").write_text("1,2\nnan,3\n")
    with pytest.raises(InputError, match="NaN or infinity"):
        load_data(str(tmp_path / "nan.csv"))
    np.save(tmp_path / "v.npy", np.ones(4))
    with pytest.raises(InputError, match="2-d"):
        load_data(str(tmp_path / "v.npy"))
    (tmp_path / "x.txt").write_text("1")
    with pytest.raises(InputError, match="unsupported"):
        load_data(str(tmp_path / "x.txt"))
    (tmp_path / "broken.npy").write_bytes(b"not numpy")
    with pytest.raises(InputError, match=r"not a valid \.npy"):
        load_data(str(tmp_path / "broken.npy"))


@pytest.mark.parametrize(
    "text",
    [
        "\ufeff1,2,3\n4,5,6\n7,8,9\n",
        "1,2,3 # the first row\n4,5,6\n7,8,9\n",
        "x,y,z\n1,2,3\n4,5,6 # inline\n\n7,8,9\n",
        '"1","2","3"\r\n4,5,6\r\n7, 8 ,9\r\n',
    ],
    ids=["bom", "inline-comment-first-row", "header-and-comments", "quotes-crlf-spaces"],
)
def test_csv_keeps_every_row(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(text, encoding="utf-8", newline="")
    assert load_data(str(path)).X.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_hostile_numpy_files_are_refused(tmp_path: Path) -> None:
    import struct
    import zipfile

    X = np.random.default_rng(0).normal(size=(5, 3))
    np.save(tmp_path / "complex.npy", X + 1j * X)
    np.save(tmp_path / "object.npy", np.array([[1.0, "a"]], dtype=object), allow_pickle=True)
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    claim = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")
    (tmp_path / "huge.npy").write_bytes(claim)
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as zf:
        zf.writestr("X.npy", claim)
    np.savez(tmp_path / "objects.npz", X=np.array([[1.0, None]], dtype=object))
    (tmp_path / "dir.csv").mkdir()
    cases = {
        "complex.npy": "complex",
        "object.npy": "object arrays",
        "huge.npy": "truncated",
        "huge.npz": "truncated",
        "objects.npz": "object arrays",
        "dir.csv": "directory",
    }
    for name, match in cases.items():
        with pytest.raises(InputError, match=match):
            load_data(str(tmp_path / name))


def test_an_npz_member_flagged_encrypted_is_one_line(tmp_path: Path) -> None:
    # found by the fuzz test: zipfile raises RuntimeError ("password required") for it
    path = tmp_path / "x.npz"
    np.savez(path, X=np.ones((3, 2)))
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = raw.find(signature)
        raw[at + offset] |= 1  # general-purpose flag bit 0: encrypted
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"not a valid \.npz"):
        load_data(str(path))
