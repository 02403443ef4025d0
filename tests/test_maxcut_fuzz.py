"""Hostile graph files: every input parses or ends in one InputError line, quickly."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derand.cli import main
from derand.errors import InputError
from derand.maxcut.graph import Graph, load_graph, parse_spec

CORPUS = Path(__file__).parent / "corpus" / "maxcut"

TOKENS = st.one_of(
    st.integers(-5, 40).map(str),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e308", "1e400", "-1e-320", "0x10", "1_0", "", "#"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet="0123456789.-+eE xab#\t", max_size=6),
)
LINES = st.lists(TOKENS, min_size=0, max_size=4).map(" ".join)
FILES = st.lists(LINES, min_size=0, max_size=12).map("\n".join)


@settings(
    max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=FILES, suffix=st.sampled_from([".txt", ".edges"]))
def test_every_generated_file_parses_or_raises_input_error(
    tmp_path: Path, text: str, suffix: str
) -> None:
    path = tmp_path / f"g{suffix}"
    path.write_text(text)
    start = time.perf_counter()
    try:
        g = load_graph(str(path))
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(g, Graph) and g.n >= 1
    assert time.perf_counter() - start < 2.0


@settings(max_examples=200, deadline=2000)
@given(
    kind=st.sampled_from(["gnp", "regular", "torus", "other"]),
    items=st.lists(
        st.tuples(
            st.sampled_from(["n", "p", "d", "rows", "cols", "seed", "weights", "x"]),
            st.one_of(
                st.integers(-(2**66), 2**66).map(str),
                st.sampled_from(["0.1", "nan", "1e400", "one", "pm1", "normal", "", "-1"]),
            ),
        ),
        max_size=4,
    ),
)
def test_every_generator_spec_builds_or_raises_input_error(
    kind: str, items: list[tuple[str, str]]
) -> None:
    spec = f"{kind}:" + ",".join(f"{k}={v}" for k, v in items)
    start = time.perf_counter()
    try:
        g = parse_spec(spec)
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert g.n >= 1
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("path", sorted(CORPUS.iterdir()), ids=lambda p: p.name)
def test_corpus_exits_0_or_2_with_one_line(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    start = time.perf_counter()
    code = main(["maxcut", str(path), "--quiet", "--search-moves", "200", "--samples", "10"])
    err = capsys.readouterr().err.strip()
    assert code in (0, 2)
    if code == 2:
        assert len(err.splitlines()) == 1 and err.startswith("derand maxcut: error:")
        assert path.name in err or "weight" in err  # a parse error names the file
    assert time.perf_counter() - start < 10.0


@pytest.mark.parametrize(
    "spec",
    [
        "gnp:n=100000000,p=0.1",
        "torus:rows=100000,cols=100000",
        "gnp:n=10,p=0.5,seed=-1",
        "regular:n=10,d=3,seed=99999999999999999999999",
        "gnp:n=10,p=nan",
        "torus:rows=5,cols=5,weights=heavy",
    ],
)
def test_impossible_generator_specs_are_one_line_errors(
    spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    start = time.perf_counter()
    assert main(["maxcut", spec]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert time.perf_counter() - start < 5.0


def test_directory_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["maxcut", str(tmp_path)]) == 2
    assert "directory" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--rank", "100000"], ["--samples", "100000000000"]])
def test_impossible_sizes_are_one_line_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["maxcut", "paper", *argv])
    except SystemExit as exc:  # refused by the argument parser, as on the command line
        code = int(exc.code or 0)
    assert code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["a" * 5000, "a" * 5000 + "/g.txt"])
def test_a_file_name_too_long_is_one_short_line(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["maxcut", name]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and len(err) < 400


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "g.pipe"
    os.mkfifo(fifo)

    def write() -> None:
        fifo.write_text("4 3\n1 2 1\n2 3 1\n3 4 1\n")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert main(["maxcut", str(fifo), "--exact"]) == 0  # hung forever: read twice
    writer.join(5)
    assert "exact optimum 3 (the final cut is optimal)" in capsys.readouterr().out
