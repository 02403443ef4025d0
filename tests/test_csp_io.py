"""Readers of the CSP formats: well-formed files read right, malformed ones named by line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from derand.csp import read_bqp, read_qubo, read_wcnf
from derand.csp.generators import parse_spec
from derand.errors import InputError


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_old_wcnf_with_top(tmp_path: Path) -> None:
    path = write(
        tmp_path, "f.wcnf", "c comment\np wcnf 3 4 10\n10 1 2 0\n2 -1 0\n3 -2 3 0\n1 -3 0\n"
    )
    f = read_wcnf(path)
    assert f.n == 3 and f.m == 4
    assert f.hard.tolist() == [True, False, False, False]
    assert f.w.tolist() == [10.0, 2.0, 3.0, 1.0]  # top = 10 > 1 + soft total 6
    assert f.labels == (1, 2, 3)
    details = f.details(np.array([1, -1, -1]))
    assert details["hard_satisfied"] == 1 and details["soft_unsatisfied_weight"] == 2.0


def test_new_wcnf_hard_weight_and_refusal(tmp_path: Path) -> None:
    path = write(tmp_path, "f.wcnf", "c new format\nh 1 -2 0\n4 2 0\n5 -1 0\n")
    f = read_wcnf(path)
    assert f.w.tolist() == [10.0, 4.0, 5.0]  # 1 + total soft weight
    with pytest.raises(InputError, match=r"line 2: a hard clause"):
        read_wcnf(path, hard="refuse")


def test_plain_cnf_and_satlib_end(tmp_path: Path) -> None:
    path = write(tmp_path, "f.cnf", "p cnf 2 3\n1 2 0\n-1 0\n-2 -1 0\n%\n0\n")
    f = read_wcnf(path)
    assert f.w.tolist() == [1.0, 1.0, 1.0] and f.evaluate(np.array([-1, 1])) == 3.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p cnf 3 1\n1 2 3 0\n", r"line 2: a clause of 3 literals"),
        ("p cnf 2 1\n1 3 0\n", r"line 2: literal 3 is out of range"),
        ("p cnf 2 2\n1 2 0\n", r"says 2 clauses, the file has 1"),
        ("p cnf 2 1\n1 2\n", r"line 2: a clause must end with 0"),
        ("p wcnf 2 1\n-1 1 0\n", r"line 2: clause weight -1 is negative"),
        ("p wcnf 2 1\n1_0 1 0\n", r"line 2: clause weight '1_0' is not a number"),
        ("p wcnf 2 1\nnan 1 0\n", r"line 2: clause weight 'nan' is not a number"),
        ("h 1 0\n1 1_0 0\n", r"line 2: literal '1_0' is not an integer"),
        ("p cnf x 1\n", r"line 1: variable count 'x' is not an integer"),
        ("p wcnf 2 1\nh 1 0\n", r"line 2: an 'h' clause in a file with a 'p wcnf' line"),
        ("1 2 0\np cnf 2 1\n", r"line 2: the 'p' line must come once"),
        ("p sat 2 1\n", r"line 1: header must be"),
        ("", r"no clauses"),
    ],
)
def test_malformed_wcnf(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "bad.wcnf", text)
    with pytest.raises(InputError, match=message) as info:
        read_wcnf(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_non_ascii_and_size_cap(tmp_path: Path) -> None:
    path = write(tmp_path, "u.cnf", "p cnf 2 1\n1 \u0663 0\n".encode())
    with pytest.raises(InputError, match=r"line 2: a byte outside ASCII"):
        read_wcnf(path)
    path = write(tmp_path, "big.cnf", "p cnf 2 1\n1 2 0\n" + "c " * 100)
    with pytest.raises(InputError, match="at most"):
        read_wcnf(path, max_bytes=50)
    with pytest.raises(InputError, match="directory"):
        read_wcnf(tmp_path)


def test_sparse_qubo_with_and_without_header(tmp_path: Path) -> None:
    path = write(tmp_path, "q.qubo", "c qbsolv\np qubo 0 4 1 2\n0 0 -1\n0 3 2.5\n3 0 0.5\n")
    Q = read_qubo(path, sense="min")
    assert Q.n == 4 and Q.labels is None and Q.q.tolist() == [3.0]
    assert Q.value_of_bits([1, 0, 0, 1]) == 2.0
    free = read_qubo(write(tmp_path, "f.txt", "5 5 1\n5 9 -2\n"), sense="max")
    assert free.labels == (5, 9) and free.answer(np.array([1, -1])) == {5: 1, 9: 0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 1\n", r"line 1: expected 'i j q'"),
        ("0 -1 2\n", r"line 1: variable id -1 is out of range"),
        ("0 1 inf\n", r"line 1: coefficient 'inf' is not a number"),
        ("0 1 1e999\n", r"line 1: coefficient 1e999 overflows"),
        ("p qubo 0 2 1 1\n0 0 1\n", r"header says 1 diagonal and 1 off-diagonal"),
        ("p qubo 0 2 0 1\n0 2 1\n", r"line 2: variable id 2 is out of range \[0, 2\)"),
        ("0 1 1\np qubo 0 2 0 1\n", r"line 2: the 'p qubo' header must come first"),
    ],
)
def test_malformed_qubo(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_qubo(write(tmp_path, "bad.qubo", text), sense="min")


BQP = "2\n3 3\n1 1 5\n1 2 -3\n2 3 4\n2 3\n1 1 -1\n1 2 2\n2 1 2\n"


def test_bqp_instances_by_index(tmp_path: Path) -> None:
    path = write(tmp_path, "bqp3", BQP)
    first = read_bqp(path)
    assert first.name == "bqp3-1" and first.n == 3 and first.sense == "max"
    # symmetric Q: x^T Q x = 5 x1 - 6 x1 x2 + 8 x2 x3
    assert first.value_of_bits([1, 1, 1]) == 7.0 and first.value_of_bits([1, 1, 0]) == -1.0
    second = read_bqp(path, index=2)
    assert second.n == 2 and second.value_of_bits([1, 1]) == 3.0  # (1,2) listed both ways
    assert second.labels == (1, 2)
    with pytest.raises(InputError, match="instance 3 asked, the file holds 2"):
        read_bqp(path, index=3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\n2 2\n1 2 1\n2 1 3\n", r"line 4: q\(2,1\) = 3.0 but line 3 gave q\(1,2\) = 1.0"),
        ("1\n2 2\n1 2 1\n1 2 1\n", r"line 4: entry \(1, 2\) repeats line 3"),
        ("1\n2 2\n1 3 1\n", r"line 3: variable id out of range 1 .. 2"),
        ("1\n2 3\n1 2 1\n", r"the file ends before its 3 entries"),
        ("x\n", r"line 1: instance count 'x' is not an integer"),
        ("1\n2\n", r"line 2: expected 'n nnz'"),
    ],
)
def test_malformed_bqp(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_bqp(write(tmp_path, "bad.bqp", text))


def test_generator_specs() -> None:
    f = parse_spec("max2sat:n=50,m=300,seed=2,units=5,weights=int")
    assert f.n == 50 and f.m == 305
    g = parse_spec("digraph:n=40,p=0.1,seed=1")
    assert g.n == 40 and np.all(g.tail != g.head)
    Q = parse_spec("beasley:n=30,density=0.2,seed=4,low=-5,high=5")
    assert Q.sense == "max" and np.all(np.abs(Q.c) <= 5)
    assert parse_spec("max2sat:n=20,seed=3").m == 200  # the default density m = 10 n
    for bad, message in [
        ("nope:n=3", "unknown generator"),
        ("max2sat:n=3,k=2", "bad generator parameter"),
        ("max2sat:m=3", "needs n"),
        ("digraph:n=10,p=x", "p must be a number"),
        ("max2sat:n=1_0", "n must be an integer"),
    ]:
        with pytest.raises(InputError, match=message):
            parse_spec(bad)
