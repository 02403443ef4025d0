"""Hostile input to ``derand nn``: fuzzed TOML configs and command lines, and a corpus of nasty
files. Every input ends in success or exit 2 with one line — never a traceback — quickly."""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derand.cli import main
from derand.cli.nn import load_toml
from derand.errors import InputError
from derand.nn.config import TrainConfig

CORPUS = sorted((Path(__file__).parent / "corpus" / "nn_configs").glob("*.toml"))
FIELDS = [
    "d", "k", "link", "noise", "degree", "teacher_U", "width", "depth", "activation", "iota",
    "freeze", "lam", "batch", "n_test", "lr", "lr_warmup", "lr_decay", "until", "steps", "seed",
    "time_limit", "log_points", "certificate", "n_cert", "optimizer", "input_dist", "bogus",
]  # fmt: skip


def run_cli(args: list[str]) -> tuple[int, list[str], float]:
    """Exit code, stderr lines and seconds of ``derand <args>``."""
    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(args)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, err.getvalue().strip().splitlines(), time.perf_counter() - start


def toml_value(value: Any) -> str:
    """A TOML literal for the scalars and (nested) lists the strategies produce."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2, 3, -1, 10**11, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["tanh", "gelu", "output", "sosp", "adam", "hermite", "uniform"]),
    st.booleans(),
)
values = st.one_of(
    scalars, st.lists(scalars, max_size=3), st.lists(st.lists(scalars, max_size=3), max_size=3)
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), values, max_size=6))
def test_fuzzed_toml_configs_build_or_fail_in_one_line(table: dict[str, Any]) -> None:
    text = "".join(f"{key} = {toml_value(value)}\n" for key, value in table.items())
    try:
        config = TrainConfig.from_dict(load_toml_text(text))
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert config.width >= 1 and config.k <= config.d


def load_toml_text(text: str) -> dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.toml"
        path.write_text(text, encoding="utf-8")
        return load_toml(path)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_fuzzed_bytes_as_toml_read_or_fail_in_one_line(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.toml"
        path.write_bytes(data)
        try:
            table = load_toml(path)
            TrainConfig.from_dict(table)
        except InputError as exc:
            assert "\n" not in str(exc)


# Values per flag: bad ones, and valid ones that keep a run small (a few steps, tiny sizes).
FLAG_VALUES: dict[str, list[str]] = {
    "--d": ["0", "-3", "1e11", "abc", "3", "100001", "99999999999999999999"],
    "--k": ["0", "4", "2", "x"],
    "--width": ["0", "1e11", "-1", "8", "100000000000", "1000001"],
    "--depth": ["0", "100000", "65", "2"],
    "--batch": ["0", "1e11", "100000000001", "7"],
    "--n-test": ["0", "100000000001", "32"],
    "--n-cert": ["0", "100000000001", "16"],
    "--log-points": ["1", "100000000000", "3"],
    "--lam": ["nan", "inf", "-1", "1e308", "0", "0.01"],
    "--lr": ["nan", "0", "-1", "inf", "1e30", "0.1"],
    "--degree": ["200", "0", "31", "3"],
    "--link": ["hermite", "product", "nope"],
    "--activation": ["relu", "gelu", "sigmoid"],
    "--seed": ["-1", "99999999999999999999", "7", "1.5"],
    "--freeze": ["first-weight", "output", "nope"],
    "--lr-decay": ["0", "2", "nan", "0.5"],
    "--time-limit": ["0", "nan", "-1", "5"],
    "--input-dist": ["uniform", "rademacher", "cauchy"],
    "--noise": ["nan", "-1", "0.1"],
}
BASE = ["nn", "--until", "steps", "--steps", "3", "--width", "8", "--n-test", "32",
        "--n-cert", "32", "--log-points", "3", "--no-certificate", "--quiet"]  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(FLAG_VALUES)), st.integers(0, 10), max_size=4))
def test_fuzzed_command_lines_end_in_success_or_one_line(choice: dict[str, int]) -> None:
    args = list(BASE)
    for flag, index in choice.items():
        options = FLAG_VALUES[flag]
        args += [flag, options[index % len(options)]]
    code, err, seconds = run_cli(args)
    assert code in (0, 2), (args, err)
    if code == 2:
        assert len(err) == 1 and "error" in err[0], (args, err)
    assert seconds < 10, (args, seconds)


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_corpus_of_nasty_configs_exits_2_with_one_line(path: Path) -> None:
    code, err, seconds = run_cli(["nn", "--config", str(path), "--quiet"])
    assert code == 2, err
    assert len(err) == 1 and "error" in err[0], err
    assert seconds < 10
