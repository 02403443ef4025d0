"""Command-line conventions: --help everywhere, one-line errors with exit code 2, outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from derand.cli import COMMANDS, build_parser, main

COMMAND_NAMES = sorted(
    build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "derand", *args], capture_output=True, text=True, timeout=300
    )


def test_every_command_module_is_registered() -> None:
    assert len(COMMAND_NAMES) == len(COMMANDS)
    assert "toy" in COMMAND_NAMES


@pytest.mark.parametrize("command", [None, *COMMAND_NAMES])
def test_help(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"] if command is None else [command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage:" in out and "examples:" in out


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["nonsense"],
        ["toy", "--num", "x"],
        ["toy", "--num", "0"],
        ["toy", "--lam-min", "-1"],
        ["toy", "--lam-min", "nan"],
        ["toy", "--lam-min", "5", "--lam-max", "1"],
        ["toy", "--unknown-flag"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "error" in lines[0]


def test_bad_arguments_in_a_real_process() -> None:
    proc = run_cli("toy", "--num", "-3")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_toy_writes_json_and_figures(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    code = main(["toy", "--num", "5", "--json", str(out), "--plot", str(tmp_path), "--quiet"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert len(doc["lams"]) == 5 and len(doc["frozen_w"]) == 5
    assert doc["seed"] == 0 and doc["version"]
    assert doc["environment"]["torch"].startswith("2.13")
    assert doc["parameters"]["num"] == 5
    assert (tmp_path / "fig1_toy_frozen_bias.png").stat().st_size > 1000
    assert (tmp_path / "fig2_toy_trainable_bias.png").stat().st_size > 1000
    assert not list(tmp_path.glob(".*.tmp"))


def test_plot_target_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    proc = run_cli("toy", "--num", "2", "--plot", str(target))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1


def test_version() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("derand ")
