"""Property-based fuzzing of the command-line arguments of all six commands.

Each example is a small valid run of a command with one to three options replaced by values
from a vocabulary of hostile ones (negative, huge, NaN, empty, paths that are folders,
devices, FIFOs or under a file, ...). ``derand.cli.main`` runs in this process; every example
must end in exit code 0 or 2 (argparse's ``SystemExit(2)`` counts), with exactly one line on
stderr when it fails, no exception escaping (a traceback) and within 10 seconds.

Hypothesis runs derandomized with a bounded number of examples, so the suite is the same on
every run and takes well under a minute. Each command runs once before the fuzzing, so that
imports and JIT compilation are not counted in a case's time. ``derand reproduce`` runs with
its experiment list emptied: what is fuzzed is its argument and output handling, not the
experiments (tested in ``test_reproduce.py``). Sweeps run a one-cell spec whose cell is
already done, except where an ``--out`` value makes them run it.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derand.cli import main

SECONDS_PER_CASE = 10

NUMBERS = [
    "-1", "0", "1", "2", "1.5", "1e11", "99999999999999999999999", "nan", "inf", "-inf",
    "", "x", "1_000", "0x10", "../",
]  # fmt: skip
FILES = [
    "out.json", "sub/deeper/out.json", "adir", "/dev/null", "fifo", "afile.txt/x.json",
    "link.json", "../", "", "-",
]  # fmt: skip
"""Output files (``-``: stdout). Outputs naming inputs are in ``tests/corpus/outputs``: here
they would replace the shared playground's files."""
FOLDERS = ["figs", "adir", "afile.txt", "/dev/null", "afile.txt/sub", "../figs", "fifo"]
SEEDS = ["-1", "0", "7", "99999999999999999999999", "9223372036854775807", "1.5", "nan", ""]
FLAG = None

BASE: dict[str, list[str]] = {
    "toy": ["toy", "--num", "2", "--grid", "21"],
    "maxcut": ["maxcut", "paper", "--samples", "5", "--no-local-search", "--score-steps", "20"],
    "jl": ["jl", "uniform:n=12,d=20,seed=1", "--k", "3", "--iters", "5", "--draws", "3"],
    "nn": [
        "nn", "--d", "4", "--k", "1", "--width", "8", "--steps", "5", "--n-test", "32",
        "--no-certificate", "--log-points", "3", "--link", "tanh",
    ],
    "sweep": ["sweep", "spec.toml", "--out", "done", "--workers", "1"],
    "reproduce": ["reproduce", "--quick", "--out", "report", "--seeds", "1"],
}  # fmt: skip

COMMON = {"--seed": SEEDS, "--json": FILES, "--plot": FOLDERS, "--quiet": FLAG}
VOCABULARY: dict[str, dict[str, list[str] | None]] = {
    "toy": {
        "--num": NUMBERS,
        "--grid": [*NUMBERS, "11", "5000"],
        "--lam-min": [*NUMBERS, "1e-300", "1e300"],
        "--lam-max": [*NUMBERS, "1e-300", "1e300"],
        **COMMON,
    },
    "maxcut": {
        "@": ["paper", "adir", "afile.txt", "missing.txt", "/dev/null", "", "../", "gnp:", "x:y"],
        "--samples": NUMBERS,
        "--rank": NUMBERS,
        "--score-steps": NUMBERS,
        "--tabu-moves": ["-1", "0", "x", "1e11", "nan", ""],
        "--rounding": ["derandomized", "random", "best-of-N", "score", "bogus", ""],
        "--format": ["auto", "rudy", "edgelist", "csv", ""],
        "--optimum": ["41", "nan", "inf", "x", ""],
        "--exact": FLAG,
        "--local-search": FLAG,
        **COMMON,
    },
    "jl": {
        "@": ["uniform:n=12,d=20,seed=1", "adir", "afile.txt", "missing.npy", "", "../", "x:y"],
        "--k": NUMBERS,
        "--iters": NUMBERS,
        "--draws": NUMBERS,
        "--method": [
            "derandomized",
            "gaussian",
            "sparse",
            "pca",
            "best-of-3",
            "best-of-0",
            "best-of-x",
            "bogus",
            "",
        ],
        "--objective": ["pairs", "norms", "bogus", ""],
        "--device": ["cpu", "auto", "tpu", ""],
        "--baselines": FLAG,
        **COMMON,
    },
    "nn": {
        "--d": ["-1", "0", "x", "1.5", "", "1e11"],
        "--k": ["-1", "0", "x", "5", "", "1e11"],
        "--width": ["-1", "0", "x", "", "1e11", "nan"],
        "--steps": ["-1", "0", "x", "", "1e11", "3"],
        "--lam": ["-1", "nan", "inf", "x", "", "0"],
        "--lr": ["-1", "nan", "inf", "x", "", "0"],
        "--link": ["tanh", "bogus", ""],
        "--dtype": ["float32", "float64", "float16", ""],
        "--optimizer": ["pgd", "sgd", "adam", "bogus"],
        "--freeze": ["output", "bogus", ""],
        "--config": ["adir", "missing.toml", "afile.txt", "/dev/null", ""],
        "--checkpoint": ["ckpt.pt", "adir", "afile.txt/x.pt", "/dev/null", "fifo", ""],
        "--resume": FLAG,
        "--device": ["cpu", "auto", "tpu", ""],
        **COMMON,
    },
    "sweep": {
        "@": ["spec.toml", "adir", "afile.txt", "missing.toml", "/dev/null", "", "bad.toml"],
        "--out": ["done", "afile.txt", "/dev/null", "afile.txt/sub", "fifo", "adir"],
        "--workers": ["-1", "0", "x", "", "1e11", "99999999999999999999999", "2"],
        "--backend": ["local", "bogus", ""],
        "--address": ["auto", "127.0.0.1:1", ""],
        "--quiet": FLAG,
    },
    "reproduce": {
        "--out": ["report", "afile.txt", "/dev/null", "afile.txt/sub", "fifo", "adir", "../r"],
        "--seeds": NUMBERS,
        "--gset-dir": ["adir", "afile.txt", "missing", "", "/dev/null"],
        "--quick": FLAG,
        "--quiet": FLAG,
    },
}

SPEC = 'command = "maxcut"\nseeds = [0]\n[fixed]\ngraph = "paper"\nlocal_search = false\n'


@pytest.fixture(scope="module")
def playground(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A working folder two levels deep (so ``../`` stays inside) with hostile neighbours."""
    root = tmp_path_factory.mktemp("fuzz")
    cwd = root / "a" / "b"
    cwd.mkdir(parents=True)
    (cwd / "adir").mkdir()
    (cwd / "afile.txt").write_text("this is not a graph, a matrix or TOML\n")
    os.mkfifo(cwd / "fifo")
    (cwd / "real.json").write_text("{}")
    (cwd / "link.json").symlink_to(cwd / "real.json")
    (cwd / "spec.toml").write_text(SPEC)
    (cwd / "bad.toml").write_bytes(b'command = "maxcut"\nname = "\xff"\n')
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        # one valid run of each command first: the time bound is for a case, not for the
        # first call's imports and JIT compilation
        for command, argv in BASE.items():
            with mock.patch.dict("derand.reproduce.EXPERIMENTS", {}, clear=True):
                assert main([*argv, "--quiet"]) == 0, command
        yield cwd
    finally:
        os.chdir(previous)


class Hung(BaseException):
    """Raised by the alarm: not an ``Exception``, so no handler of ours can swallow it."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hung(f"no answer within {SECONDS_PER_CASE} s")


def run_case(argv: list[str]) -> tuple[int, str]:
    """Exit code and stderr of one in-process run."""
    err = io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS_PER_CASE)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except BaseException as exc:
        raise AssertionError(f"{argv}: {type(exc).__name__}: {exc}") from exc
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, err.getvalue()


@st.composite
def arguments(draw: st.DrawFn, command: str) -> list[str]:
    argv = list(BASE[command])
    vocabulary = VOCABULARY[command]
    options = draw(
        st.lists(st.sampled_from(sorted(vocabulary)), min_size=1, max_size=3, unique=True)
    )
    for option in options:
        values = vocabulary[option]
        if values is FLAG:
            argv.append(option)
        elif option == "@":
            argv[1] = draw(st.sampled_from(values))
        else:
            argv += [option, draw(st.sampled_from(values))]
    return argv


def check(argv: list[str]) -> None:
    code, err = run_case(argv)
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1, (argv, lines)
        assert "error" in lines[0] and "Traceback" not in err, (argv, err)


FUZZ = settings(
    max_examples=20,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("command", ["toy", "maxcut", "jl", "nn"])
def test_fuzz_run_commands(command: str, playground: Path) -> None:
    @FUZZ
    @given(arguments(command))
    def fuzz(argv: list[str]) -> None:
        check(argv)

    fuzz()


def test_fuzz_sweep(playground: Path) -> None:
    @settings(FUZZ, max_examples=15)
    @given(arguments("sweep"))
    def fuzz(argv: list[str]) -> None:
        check(argv)

    fuzz()


def test_fuzz_reproduce(playground: Path) -> None:
    @FUZZ
    @given(arguments("reproduce"))
    def fuzz(argv: list[str]) -> None:
        with mock.patch.dict("derand.reproduce.EXPERIMENTS", {}, clear=True):
            check(argv)

    fuzz()


def test_fuzz_vocabulary_reaches_errors_and_successes(playground: Path) -> None:
    """The harness itself: a known-good and a known-bad case per command."""
    for argv in BASE.values():
        with mock.patch.dict("derand.reproduce.EXPERIMENTS", {}, clear=True):
            assert run_case([*argv, "--quiet"])[0] == 0, argv
        code, err = run_case([*argv, "--no-such-option"])
        assert code == 2 and len(err.strip().splitlines()) == 1
