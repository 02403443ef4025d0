"""Command-line conventions: --help everywhere, one-line errors with exit code 2, outputs.

File-system errors, seeds, memory and output paths are checked at the command-line boundary:
each ends in one line on stderr naming the path or the option, exit code 2, before any work.
A genuine bug keeps its traceback; ``--debug`` / ``DERAND_DEBUG=1`` show it for every error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from derand.cli import COMMANDS, build_parser, command_module, main
from derand.errors import InputError

COMMAND_NAMES = sorted(COMMANDS)
SEEDED = ["toy", "nn", "jl", "maxcut"]  # the commands with --seed
SMALL = {  # a fast valid run of each seeded command
    "toy": ["toy", "--num", "2", "--grid", "21"],
    "maxcut": ["maxcut", "paper", "--samples", "10", "--no-local-search"],
    "jl": ["jl", "uniform:n=12,d=20,seed=1", "--k", "3", "--iters", "5", "--draws", "3"],
    "nn": [
        "nn", "--d", "4", "--k", "1", "--width", "8", "--steps", "5", "--n-test", "32",
        "--no-certificate", "--log-points", "3", "--link", "tanh",
    ],
}  # fmt: skip


def run_cli(
    *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "derand", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=None if env is None else {**os.environ, **env},
    )


def exit_code(args: list[str]) -> int:
    try:
        return main(args)
    except SystemExit as exc:
        return int(exc.code or 0)


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in err
    return lines[0]


def unprivileged() -> tuple[str, ...]:
    """A command prefix under which file permissions apply (root ignores them)."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    prefix = (setpriv, "--bounding-set=-dac_override,-dac_read_search", "--")
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot drop capabilities here: permissions cannot be tested")
    return prefix


def test_every_command_module_is_registered() -> None:
    full = build_parser()._subparsers._group_actions[0]  # type: ignore[union-attr]
    assert sorted(full.choices) == COMMAND_NAMES
    # the one-line help shown by `derand --help` is the one each command registers
    assert {a.dest: a.help for a in full._choices_actions} == COMMANDS
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
        ["toy", "--num", "1e11"],
        ["toy", "--num", "99999999999999999999999"],
        ["toy", "--grid", "5"],
        ["toy", "--lam-min", "-1"],
        ["toy", "--lam-min", "nan"],
        ["toy", "--lam-min", "5", "--lam-max", "1"],
        ["toy", "--unknown-flag"],
        ["sweep", "x.toml", "--workers", "100000"],
        ["reproduce", "--seeds", "1e12"],
        ["maxcut", "paper", "--samples", "1e11"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_code(args) == 2
    assert "error" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("command", SEEDED)
@pytest.mark.parametrize("seed", ["-1", "99999999999999999999999", "1.5", "nan", ""])
def test_bad_seeds_are_one_line(
    command: str, seed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_code([*SMALL[command], "--seed", seed]) == 2
    assert "--seed" in one_error_line(capsys.readouterr().err)


def test_bounded_int_and_float() -> None:
    from derand.cli.common import bounded_float, bounded_int, positive_int

    depth = bounded_int(1, 100)
    assert depth("7") == 7 and depth("1e2") == 100
    for bad in ("0", "101", "1.5", "inf", "nan", "x", "", "1e400", "9" * 40):
        with pytest.raises(argparse.ArgumentTypeError):
            depth(bad)
    with pytest.raises(argparse.ArgumentTypeError):
        positive_int("1e10")
    unit = bounded_float(0.0, 1.0)
    assert unit("0.25") == 0.25
    for bad in ("nan", "inf", "-0.1", "2", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            unit(bad)


def test_bad_arguments_in_a_real_process() -> None:
    proc = run_cli("toy", "--num", "-3")
    assert proc.returncode == 2
    one_error_line(proc.stderr)


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
    one_error_line(proc.stderr)


def test_version() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("derand ")


# --- file-system errors at the boundary, in real processes -------------------------------


def test_directory_where_a_file_is_expected(tmp_path: Path) -> None:
    proc = run_cli("maxcut", str(tmp_path), "--no-local-search")
    assert proc.returncode == 2
    assert str(tmp_path) in one_error_line(proc.stderr)


def test_json_under_a_file_is_refused_before_the_work(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    proc = run_cli(*SMALL["maxcut"], "--json", str(tmp_path / "file" / "r.json"))
    assert proc.returncode == 2
    line = one_error_line(proc.stderr)
    assert "--json" in line and "not a directory" in line
    assert proc.stdout == ""  # nothing ran


def test_unreadable_input_and_read_only_output_folder(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    prefix = unprivileged()
    base = tmp_path_factory.mktemp("perm")
    secret = base / "graph.txt"
    secret.write_text("2 1\n1 2 1\n")
    secret.chmod(0)
    proc = run_cli("maxcut", str(secret), prefix=prefix)
    assert proc.returncode == 2
    assert str(secret) in one_error_line(proc.stderr)
    locked = base / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    for option, target in (("--json", locked / "r.json"), ("--plot", locked / "figs")):
        proc = run_cli(*SMALL["maxcut"], option, str(target), prefix=prefix)
        assert proc.returncode == 2
        line = one_error_line(proc.stderr)
        assert option in line and "permission denied" in line and proc.stdout == ""


@pytest.mark.parametrize(
    "exc",
    [
        PermissionError(13, "Permission denied", "/some/where.json"),
        IsADirectoryError(21, "Is a directory", "/some/dir"),
        NotADirectoryError(20, "Not a directory", "/a/file/x"),
        OSError(30, "Read-only file system", "/mnt/ro/x.json"),
        OSError(28, "No space left on device", "/full/x.json"),
    ],
)
def test_os_errors_during_the_run_are_one_line_naming_the_path(
    exc: OSError, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(args: argparse.Namespace) -> int:
        raise exc

    monkeypatch.setattr(command_module("toy"), "run", fail)
    assert main(["toy"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("derand toy: error: ") and str(exc.filename) in line


def test_memory_error_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(args: argparse.Namespace) -> int:
        raise MemoryError

    monkeypatch.setattr(command_module("toy"), "run", fail)
    assert main(["toy"]) == 2
    assert "out of memory" in one_error_line(capsys.readouterr().err)


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def buggy(args: argparse.Namespace) -> int:
        return 1 // 0

    monkeypatch.setattr(command_module("toy"), "run", buggy)
    with pytest.raises(ZeroDivisionError):
        main(["toy"])


def test_a_bug_shows_a_traceback_in_a_real_process(tmp_path: Path) -> None:
    # a TypeError deep in the library is not input: it must not be hidden in one line
    script = (
        "import sys, derand.cli.toy as t\n"
        "t.run = lambda args: {}['missing']\n"
        "from derand.cli import main\nsys.exit(main(['toy']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "KeyError" in proc.stderr


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback_behind_a_one_line_error(tmp_path: Path, how: str) -> None:
    args = ["maxcut", str(tmp_path / "missing.txt")]
    plain = run_cli(*args)
    assert plain.returncode == 2
    one_error_line(plain.stderr)
    debug = (
        run_cli("--debug", *args) if how == "flag" else run_cli(*args, env={"DERAND_DEBUG": "1"})
    )
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr and "InputError" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip()


# --- honest outputs ----------------------------------------------------------------------


def test_output_paths_are_checked_before_the_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[bool] = []
    monkeypatch.setattr(command_module("toy"), "run", lambda args: ran.append(True) or 0)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "file").write_text("x")
    cases = [
        ["--json", str(tmp_path)],  # a directory
        ["--json", str(fifo)],  # a FIFO that no process reads: it would block forever
        ["--json", str(tmp_path / "file" / "x.json")],  # parent is a file
        ["--plot", str(tmp_path / "file")],  # a file where a folder is expected
        ["--plot", str(tmp_path / "file" / "sub")],
    ]
    for extra in cases:
        assert main(["toy", *extra]) == 2, extra
        assert extra[0] in one_error_line(capsys.readouterr().err)
    assert not ran
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # never replaced


def test_checkpoint_directory_is_refused_before_training(tmp_path: Path) -> None:
    proc = run_cli(*SMALL["nn"], "--steps", "100000", "--checkpoint", str(tmp_path))
    assert proc.returncode == 2
    assert "--checkpoint" in one_error_line(proc.stderr)


def test_json_through_a_symlink_keeps_the_link_and_the_mode(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("{}")
    real.chmod(0o600)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert main([*SMALL["toy"], "--json", str(link), "--quiet"]) == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text())["command"] == "toy"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


def test_new_output_gets_the_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        assert main([*SMALL["toy"], "--json", str(tmp_path / "r.json"), "--quiet"]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o640


def test_input_error_from_the_library_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(args: argparse.Namespace) -> int:
        raise InputError("first line\nsecond line")

    monkeypatch.setattr(command_module("toy"), "run", fail)
    assert main(["toy"]) == 2
    assert one_error_line(capsys.readouterr().err) == ("derand toy: error: first line; second line")


# --- outputs never replace an input; JSON to stdout and to streams -----------------------


@pytest.mark.parametrize(
    ("argv", "output", "input_label"),
    [
        (["maxcut", "{in}", "--samples", "5", "--no-local-search"], "--json", "GRAPH"),
        (["jl", "{in}", "--k", "1", "--iters", "5", "--draws", "3"], "--json", "DATA"),
        (["nn", "--config", "{in}", "--steps", "5"], "--json", "--config"),
        (["nn", "--config", "{in}", "--steps", "5"], "--checkpoint", "--config"),
    ],
)
@pytest.mark.parametrize("alias", ["same", "hardlink", "symlink", "dotted"])
def test_an_output_naming_an_input_is_refused_and_the_input_kept(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    output: str,
    input_label: str,
    alias: str,
) -> None:
    text = {
        "GRAPH": "1 2 1\n2 3 1\n3 1 1\n",
        "DATA": "1,2\n3,4\n5,7\n",
        "--config": "d = 4\n",
    }[input_label]
    source = tmp_path / "input.txt"
    if input_label == "DATA":
        source = source.with_suffix(".csv")
    source.write_text(text)
    target = {
        "same": source,
        "hardlink": tmp_path / "hard",
        "symlink": tmp_path / "link",
        "dotted": tmp_path / "." / "x" / ".." / source.name,
    }[alias]
    (tmp_path / "x").mkdir()
    if alias == "hardlink":
        os.link(source, target)
    elif alias == "symlink":
        target.symlink_to(source)
    line = [a.replace("{in}", str(source)) for a in argv]
    assert main([*line, output, str(target)]) == 2
    error = one_error_line(capsys.readouterr().err)
    assert output in error and input_label in error and "input" in error
    assert source.read_text() == text


def test_a_sweep_spec_inside_out_under_an_output_name_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "summary.md"  # the name of the summary the sweep writes into --out
    spec.write_text('command = "toy"\nseeds = 1\n[grid]\nnum = [2]\n')
    assert main(["sweep", str(spec), "--out", str(tmp_path)]) == 2
    error = one_error_line(capsys.readouterr().err)
    assert "--out" in error and "SPEC" in error and "summary.md" in error
    assert spec.read_text().startswith("command")


def test_two_outputs_naming_one_file_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "x.json")
    assert main([*SMALL["nn"], "--json", out, "--checkpoint", out]) == 2
    error = one_error_line(capsys.readouterr().err)
    assert "--json" in error and "--checkpoint" in error
    assert not (tmp_path / "x.json").exists()


def test_nn_checkpoint_may_be_read_and_rewritten_by_resume(tmp_path: Path) -> None:
    ckpt = str(tmp_path / "run.ckpt")
    assert main([*SMALL["nn"], "--checkpoint", ckpt, "--quiet"]) == 0
    assert main([*SMALL["nn"], "--checkpoint", ckpt, "--resume", "--quiet"]) == 0


def test_json_dash_writes_the_document_alone_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([*SMALL["toy"], "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["command"] == "toy"  # stdout is the JSON document alone
    assert "bias frozen" in err  # the summary moved to stderr
    assert list(tmp_path.iterdir()) == []  # no file named "-"
    assert main([*SMALL["toy"], "--json", "./-", "--quiet"]) == 0  # a file named - stays possible
    assert json.loads((tmp_path / "-").read_text())["command"] == "toy"


@pytest.mark.parametrize("target", ["/dev/stdout", "/proc/self/fd/1"])
def test_json_to_dev_stdout_works_on_a_pipe_and_on_a_redirected_file(
    tmp_path: Path, target: str
) -> None:
    if not os.path.exists(target):
        pytest.skip(f"{target} does not exist here")
    piped = run_cli(*SMALL["toy"], "--json", target)
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["command"] == "toy" and "bias frozen" in piped.stderr
    out = tmp_path / "out.json"
    with out.open("w") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "derand", *SMALL["toy"], "--json", target],
            stdout=fh,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["command"] == "toy"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_json_to_a_device_and_to_a_read_fifo_is_written_directly(tmp_path: Path) -> None:
    assert main([*SMALL["toy"], "--json", "/dev/null", "--quiet"]) == 0
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is there: no blocking
    try:
        assert main([*SMALL["toy"], "--json", str(fifo), "--quiet"]) == 0
        os.set_blocking(reader, True)
        chunks = []
        while chunk := os.read(reader, 1 << 16):  # until derand closed its end
            chunks.append(chunk)
    finally:
        os.close(reader)
    assert json.loads(b"".join(chunks))["command"] == "toy"
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # never replaced by a file


# --- Ctrl-C: every phase ends at once, keeping what was finished -------------------------

JL_LONG = ["jl", "gaussian:n=1500,d=40,seed=0", "--k", "5", "--draws", "1000", "--workers", "1"]
"""A jl run whose fit (3000 iterations) and whose figure baseline (1000 certified draws of
1.1 million pairs) each take far longer than the bound below on any machine."""
SIGINT_BOUND_S = 10.0
"""Seconds from SIGINT to exit: 2 s is the target (about 0.1-0.8 s measured at load 8 on 2
cores); 10 s leaves room for a loaded test machine and is still far below the minutes the
figure's baselines took when Ctrl-C did not stop them."""

_MARKED_RUN = """
import contextlib, pathlib, sys
import derand.cli.jl as jl
progress = jl.progress
@contextlib.contextmanager
def marked(*args, **kwargs):
    with progress(*args, **kwargs) as update:
        def tick(done, total):
            pathlib.Path(sys.argv[1]).touch()  # an iteration of the fit is done
            update(done, total)
        yield tick
jl.progress = marked
from derand.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _interrupt_when(
    ready: Path, argv: list[str], *, marker: Path | None = None, delay: float = 0.0
) -> tuple[int, float, str]:
    """Run ``derand argv`` (marking the fit's iterations at ``marker``), send SIGINT once
    ``ready`` exists (+ ``delay``), return the exit code, the seconds to exit and stderr."""
    import signal
    import time

    command = [sys.executable, "-c", _MARKED_RUN, str(marker or ready.parent / "m"), *argv]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the phase to interrupt never started"
            time.sleep(0.02)
        time.sleep(delay)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        return proc.returncode, time.monotonic() - sent, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ctrl_c_in_the_jl_fit_with_plot_writes_the_json_and_exits_at_once(
    tmp_path: Path,
) -> None:
    out, figs, marker = tmp_path / "r.json", tmp_path / "figs", tmp_path / "fitting"
    # --tol 0: the fit never stops on a stalled certificate, so the SIGINT meets it fitting
    argv = [*JL_LONG, "--iters", "3000", "--tol", "0", "--json", str(out), "--plot", str(figs),
            "--quiet"]  # fmt: skip
    code, seconds, err = _interrupt_when(marker, argv, marker=marker, delay=0.5)
    assert code == 130, err
    assert seconds < SIGINT_BOUND_S, f"{seconds:.1f} s from SIGINT to exit"
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and doc["history"]["stopped"] == "interrupted"
    assert "figures not drawn" in err and "Traceback" not in err
    assert not figs.exists() or not any(figs.iterdir())  # no figure computed after Ctrl-C
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "figs") == ["fitting", "r.json"]


def test_ctrl_c_while_the_figures_are_made_exits_at_once_keeping_the_json(
    tmp_path: Path,
) -> None:
    out, figs = tmp_path / "r.json", tmp_path / "figs"
    argv = [*JL_LONG, "--iters", "5", "--json", str(out), "--plot", str(figs), "--quiet"]
    code, seconds, err = _interrupt_when(out, argv, delay=0.5)  # the JSON comes first
    assert code == 130, err
    assert seconds < SIGINT_BOUND_S, f"{seconds:.1f} s from SIGINT to exit"
    assert err.strip().splitlines()[-1] == "derand jl: interrupted"
    assert json.loads(out.read_text())["command"] == "jl"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "figs") == ["m", "r.json"]
