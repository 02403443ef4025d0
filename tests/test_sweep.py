"""``derand sweep``: specs, the local and Ray backends, resuming, failures, bad specs."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
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
    again = run_sweep(spec, tmp_path, workers=2)
    assert (again.ran, again.skipped) == (0, 4)
    assert rows(again.results_csv) == table


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
