"""``derand sweep``: specs, the local and Ray backends, resuming, failures, bad specs."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from derand.cli import main
from derand.errors import InputError
from derand.sweep import load_spec, parse_spec, run_sweep

TINY = {
    "command": "nn",
    "seeds": [0, 1],
    "fixed": {
        "d": 4,
        "k": 1,
        "link": "tanh",
        "width": 8,
        "steps": 20,
        "n_test": 64,
        "certificate": False,
        "log_points": 4,
    },
    "grid": {"lam": [1e-4, 1e-2]},
}


def rows(path: Path) -> list[dict[str, str]]:
    """The table without its timing columns (which differ from run to run)."""
    table = list(csv.DictReader(io.StringIO(path.read_text())))
    return [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in table]


def test_spec_cells_are_the_grid_times_seeds() -> None:
    spec = parse_spec(TINY)
    cells = spec.cells()
    assert len(cells) == 4
    assert [(c.params["lam"], c.seed) for c in cells] == [
        (1e-4, 0),
        (1e-4, 1),
        (1e-2, 0),
        (1e-2, 1),
    ]
    assert len({c.id for c in cells}) == 4
    assert parse_spec(TINY).cells()[0].id == cells[0].id  # stable ids


def test_local_sweep_resume_and_summary(tmp_path: Path) -> None:
    spec = parse_spec(TINY)
    seen: list[tuple[int, int]] = []
    outcome = run_sweep(spec, tmp_path, workers=2, callback=lambda d, t: seen.append((d, t)))
    assert (outcome.total, outcome.ran, outcome.skipped, outcome.failed) == (4, 4, 0, 0)
    assert seen[-1] == (4, 4)
    table = rows(outcome.results_csv)
    assert len(table) == 4 and all(r["status"] == "ok" for r in table)
    assert {"perp_ratio_final", "test_loss", "lam", "seed"} <= set(table[0])
    summary = outcome.summary_md.read_text()
    assert "| lam | ok / cells |" in summary and "2 / 2" in summary and "±" in summary
    assert outcome.started
    again = run_sweep(spec, tmp_path, workers=2)
    assert (again.ran, again.skipped, again.started) == (0, 4, False)
    assert rows(again.results_csv) == table


def test_a_cached_sweep_on_ray_says_that_no_cluster_was_contacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every cell done: nothing to run, so `--address auto` is not checked. The honest answer
    is to say so (not to fail: gathering the tables offline is what a rerun is for), and a
    sweep with a cell left to run and no cluster fails with one line."""
    import derand.sweep.execute as execute

    spec = tmp_path / "spec.toml"
    spec.write_text('command = "maxcut"\nseeds = 1\n[fixed]\ngraph = "paper"\n'
                    'local_search = false\n[grid]\nsamples = [5, 10]\n')  # fmt: skip
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--quiet"]) == 0

    def no_cluster(*args: object, **kwargs: object) -> None:
        raise InputError("no Ray cluster at auto")

    monkeypatch.setattr(execute, "_RayPool", no_cluster)
    argv = ["sweep", str(spec), "--out", str(out), "--backend", "ray", "--address", "auto"]
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "no Ray cluster was needed (auto was not contacted)" in said
    assert "2 cells: 0 run now (0 failed), 2 already done" in said
    (out / "cells" / next(p.name for p in (out / "cells").iterdir())).unlink()
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == "derand sweep: error: no Ray cluster at auto"


def test_failed_cell_is_recorded_and_others_finish(tmp_path: Path) -> None:
    spec = parse_spec({**TINY, "grid": {"lr": [0.5, 1e30]}, "seeds": [0]})
    outcome = run_sweep(spec, tmp_path, workers=1)
    assert (outcome.ran, outcome.failed) == (2, 1)
    table = rows(outcome.results_csv)
    assert [r["status"] for r in table] == ["ok", "failed"]
    assert "diverged" in table[1]["error"]
    assert "Failed cells" in outcome.summary_md.read_text()
    record = json.loads(next((tmp_path / "cells").glob("*.json")).read_text())
    assert record["command"] == "nn"


def test_ray_backend_gives_the_same_table_as_local(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    spec = parse_spec(TINY)
    local = run_sweep(spec, tmp_path / "local", workers=2)
    remote = run_sweep(spec, tmp_path / "ray", backend="ray", workers=2)
    assert remote.ran == 4 and remote.failed == 0
    assert rows(remote.results_csv) == rows(local.results_csv)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('command = "nope"\n', "unknown command"),
        ('command = "nn"\n[grid]\nwidht = [1, 2]\n', "unknown parameter"),
        ('command = "nn"\nseeds = []\n', "seeds"),
        ('command = "nn"\n[grid]\nlam = 3\n', "non-empty list"),
        ('command = "nn"\n[fixed]\nk = 50\n', "cannot exceed"),
        ('command = "nn"\n[grid\n', "malformed TOML"),
        ('cmd = "nn"\n', "unknown key"),
    ],
)
def test_bad_specs(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        load_spec(path)


def test_cli_bad_spec_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "spec.toml"
    path.write_text('command = "nn"\nseeds = 2\n[grid]\nbogus = [1]\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bogus" in err[0]


@pytest.mark.parametrize(
    ("name", "command", "cells"),
    [("sweep_nn.toml", "nn", 12), ("sweep_maxcut.toml", "maxcut", 30), ("sweep_jl.toml", "jl", 18)],
)
def test_example_specs_are_valid(name: str, command: str, cells: int) -> None:
    spec = load_spec(Path(__file__).parents[1] / "examples" / name)
    assert spec.command == command and len(spec.cells()) == cells


def test_maxcut_and_jl_cells_run(tmp_path: Path) -> None:
    from derand.sweep import run_cell

    maxcut = parse_spec(
        {
            "command": "maxcut",
            "seeds": [0],
            "grid": {"graph": ["paper"], "rounding": ["derandomized", "random"]},
        }
    )
    jl = parse_spec(
        {
            "command": "jl",
            "seeds": [0],
            "fixed": {"data": "uniform:n=20,d=30,seed=1", "k": 5, "n_iter": 30},
            "grid": {"method": ["derandomized", "pca"]},
        }
    )
    records = [run_cell(dataclasses.asdict(c)) for c in maxcut.cells() + jl.cells()]
    assert [r["status"] for r in records] == ["ok"] * 4, [r["error"] for r in records]
    assert records[0]["metrics"]["final_cut"] == 41
    assert records[0]["metrics"]["guarantee_holds"] is True
    assert 0 <= records[2]["metrics"]["max_distortion"] < 10
    with pytest.raises(InputError, match="graph"):
        parse_spec({"command": "maxcut", "fixed": {"rounding": "random"}})
    with pytest.raises(InputError, match="method"):
        parse_spec({"command": "jl", "fixed": {"data": "digits", "method": "nope"}})


def test_interrupt_keeps_finished_cells(tmp_path: Path) -> None:
    spec = parse_spec(TINY)

    def stop_after_first(done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    outcome = run_sweep(spec, tmp_path, workers=1, callback=stop_after_first)
    assert outcome.interrupted and outcome.ran == 1
    assert len(rows(outcome.results_csv)) == 1
    rest = run_sweep(spec, tmp_path, workers=2)
    assert (rest.skipped, rest.ran) == (1, 3)


# --- hostile specs: one line naming the key ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('command = "maxcut"\n[fixed]\ngraph = "paper"\nlocal_search = "false"\n', "boolean"),
        ('command = "maxcut"\n[grid]\ngraph = ["paper"]\nexact = [0, 1]\n', "boolean"),
        ('command = "maxcut"\n[fixed]\ngraph = "paper"\nsamples = "many"\n', "samples"),
        ('command = "jl"\n[fixed]\ndata = "digits"\nk = "five"\n', "k must be an integer"),
        ('command = "nn"\n[fixed]\nk = "five"\n', "k"),
        ('command = "nn"\n[fixed]\ncertificate = "false"\n', "certificate"),
        ('command = "nn"\n[fixed]\nlam = 1979-05-27\n', "dates and times"),
        ('command = "nn"\n[grid]\nlam = [07:32:00]\n', "dates and times"),
        ('command = "nn"\nname = 1979-05-27T07:32:00Z\n', "name"),
        ('command = "nn"\n[fixed]\nlam = nan\n', "finite"),
        ('command = "nn"\n[fixed.lam]\nx = 1\n', "table"),
        ('command = "nn"\nseeds = 1e12\n', "seeds"),
        ('command = "nn"\nseeds = 1000000000000\n', "seeds"),
        ('command = "nn"\nseeds = -3\n', "seeds"),
        ('command = "nn"\nseeds = [0, -1]\n', "seed"),
        ('command = "nn"\nseeds = [0, 99999999999999999999]\n', "seed"),
        ('command = "nn"\nseeds = [true]\n', "seeds"),
        (
            'command = "nn"\nseeds = 1000\n[grid]\nlam = ['
            + ", ".join(map(str, range(1, 200)))
            + "]\n",
            "100000 cells",
        ),
        ('command = "nn"\nseeds = [0, 0]\n', "duplicates"),
        ("command = 3\n", "command"),
    ],
)
def test_hostile_specs_are_one_line(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=match) as info:
        load_spec(path)
    assert "\n" not in str(info.value)


def test_spec_that_is_not_utf8_or_too_large(tmp_path: Path) -> None:
    path = tmp_path / "spec.toml"
    path.write_bytes(b'command = "nn"\nname = "\xff\xfe"\n')
    with pytest.raises(InputError, match="not UTF-8"):
        load_spec(path)
    path.write_bytes(b'command = "nn"\n' + b"# padding\n" * 120_000)
    with pytest.raises(InputError, match="at most"):
        load_spec(path)


def test_real_booleans_are_accepted() -> None:
    spec = parse_spec(
        {"command": "maxcut", "fixed": {"graph": "paper", "local_search": False}, "seeds": 2}
    )
    assert spec.cells()[0].params["local_search"] is False


def test_corrupt_cell_records_are_rerun_not_fatal(tmp_path: Path) -> None:
    spec = parse_spec({"command": "maxcut", "fixed": {"graph": "paper"}, "seeds": [0]})
    cells = tmp_path / "cells"
    cells.mkdir()
    (cells / f"{spec.cells()[0].id}.json").write_text("[1, 2]")
    outcome = run_sweep(spec, tmp_path, workers=1)
    assert (outcome.ran, outcome.failed) == (1, 0)
    assert rows(outcome.results_csv)[0]["status"] == "ok"


# --- Ctrl-C and kill -9: prompt stop, kept cells, no orphans -------------------------------

LONG_NN = {
    "d": 4,
    "k": 1,
    "link": "tanh",
    "width": 8,
    "n_test": 64,
    "certificate": False,
    "log_points": 3,
}


def _spec_file(tmp_path: Path, steps: list[int], seeds: list[int]) -> Path:
    fixed = "\n".join(f"{k} = {json.dumps(v)}" for k, v in LONG_NN.items())
    text = f'command = "nn"\nseeds = {seeds}\n[fixed]\n{fixed}\n[grid]\nsteps = {steps}\n'
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _start_sweep(spec: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "derand", "sweep", str(spec), "--out", str(out), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell job
    )


@needs_proc
def test_ctrl_c_stops_promptly_keeps_finished_cells_and_leaves_no_worker(tmp_path: Path) -> None:
    spec = _spec_file(tmp_path, steps=[5, 10**6], seeds=[0, 1])
    out = tmp_path / "out"
    proc = _start_sweep(spec, out)
    try:
        fast = [c for c in load_spec(spec).cells() if c.params["steps"] == 5]
        done = [out / "cells" / f"{c.id}.json" for c in fast]
        assert _wait(lambda: all(p.exists() for p in done), 120), "the fast cells never finished"
        workers = _children(proc.pid)
        time.sleep(0.5)  # the long cells are running now
        start = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C at a terminal does: the whole group
        stdout, stderr = proc.communicate(timeout=30)
        stopped_after = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert stopped_after <= 2.0, f"took {stopped_after:.2f} s to stop"
    assert "Traceback" not in stderr
    assert "2 running cell(s) recorded as interrupted" in stdout
    table = rows(out / "results.csv")
    assert sorted(r["status"] for r in table) == ["interrupted", "interrupted", "ok", "ok"]
    assert all(r["steps"] == "5" for r in table if r["status"] == "ok")
    assert _wait(lambda: not any(_alive(p) for p in workers), 5), "a worker outlived the sweep"
    assert not list(out.rglob("*.tmp"))


@needs_proc
def test_no_worker_survives_kill_9_of_the_sweep(tmp_path: Path) -> None:
    spec = _spec_file(tmp_path, steps=[10**6], seeds=[0, 1])
    proc = _start_sweep(spec, tmp_path / "out")
    try:
        assert _wait(lambda: len(_children(proc.pid)) >= 2, 60), "no workers started"
        time.sleep(2.0)  # the workers are past their start-up and running cells
        workers = _children(proc.pid)
        assert workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    survivors = lambda: [p for p in workers if _alive(p)]  # noqa: E731
    assert _wait(lambda: not survivors(), 10), f"orphaned workers: {survivors()}"


def test_local_ray_instance_has_no_dashboard_and_token_auth() -> None:
    ray = pytest.importorskip("ray")
    from ray._raylet import AuthenticationMode, get_authentication_mode

    from derand.sweep.execute import local_ray_options

    options = local_ray_options(1)
    assert options["include_dashboard"] is False and "dashboard_host" not in options
    if os.environ.get("RAY_AUTH_MODE", "token").lower() != "token" or ray.is_initialized():
        pytest.skip("RAY_AUTH_MODE is set otherwise here, or Ray is already running")
    context = ray.init(**options)
    try:
        assert not context.dashboard_url
        assert get_authentication_mode() == AuthenticationMode.TOKEN
    finally:
        ray.shutdown()
