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
        ("gaussian:n=0,d=3", ">= 1"),
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
        ("1,2\n# comment\n3,4\n5,,6\n", "line 4"),
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
    with pytest.raises(InputError, match="cannot read"):
        load_data(str(tmp_path / "broken.npy"))
