"""``derand jl``: JSON fields, baselines, figures, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from derand.cli import main

FIELDS = (
    "n", "d", "k", "pairs", "method", "objective", "max_distortion", "rescaled_max_distortion",
    "mean_distortion", "seconds", "seed", "version", "sigma_mode", "final_sigma",
)  # fmt: skip


def test_json_fields_and_baselines(tmp_path: Path) -> None:
    out = tmp_path / "jl.json"
    code = main(
        ["jl", "gaussian:n=40,d=12,seed=1", "--k", "4", "--iters", "40", "--baselines",
         "--draws", "5", "--json", str(out), "--quiet"]
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out.read_text())
    for key in FIELDS:
        assert key in doc, key
    assert (doc["n"], doc["d"], doc["k"], doc["pairs"]) == (40, 12, 4, 780)
    assert doc["method"] == "derandomized" and doc["objective"] == "pairs"
    assert set(doc["baselines"]) == {"gaussian", "sparse", "pca", "best-of-5"}
    for b in doc["baselines"].values():
        assert b["max_distortion"] > 0 and b["pairs"] == 780
        assert 0 < b["rescaled_max_distortion"] <= b["max_distortion"] + 1e-12
    assert 0 < len(doc["history"]["sigma"]) <= 40
    assert doc["max_distortion"] == pytest.approx(doc["rescaled_max_distortion"])


def test_holdout_reports_test_and_cross_pairs(tmp_path: Path) -> None:
    out = tmp_path / "jl.json"
    code = main(
        ["jl", "gaussian:n=40,d=12,seed=1", "--k", "4", "--iters", "30", "--holdout", "0.25",
         "--baselines", "--draws", "3", "--json", str(out), "--quiet"]
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out.read_text())
    assert (doc["n_train"], doc["holdout"]["n_test"]) == (30, 10)
    h = doc["holdout"]
    assert (h["train_pairs"], h["test_pairs"], h["cross_pairs"]) == (435, 45, 300)
    assert h["train_max"] == pytest.approx(doc["max_distortion"], rel=1e-12)
    for b in doc["baselines"].values():
        assert b["holdout"]["cross_pairs"] == 300


def test_norms_objective_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["jl", "uniform:n=30,d=40,seed=42", "--k", "5", "--objective", "norms", "--iters",
         "30", "--draws", "3", "--plot", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    assert (tmp_path / "fig6_jl_max_distortion.png").stat().st_size > 1000
    assert (tmp_path / "fig7_jl_sigma.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "30 norms" in out and "(exact)" in out


@pytest.mark.parametrize("method", ["gaussian", "sparse", "pca", "best-of-3"])
def test_methods(method: str, tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    assert (
        main(["jl", "digits", "--k", "5", "--method", method, "--json", str(out), "--quiet"]) == 0
    )
    doc = json.loads(out.read_text())
    assert doc["method"] == method and doc["n"] == 1797 and doc["pairs"] == 1797 * 1796 // 2


def _write(tmp_path: Path, name: str, X: np.ndarray) -> str:
    path = tmp_path / name
    np.savetxt(path, X, delimiter=",")
    return str(path)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("nan", "NaN"),
        ("inf", "NaN or infinity"),
        ("holdout", "--holdout"),
        ("draws", "--draws"),
        ("k_zero", "--k"),
        ("single", "1 sample"),
        ("all_equal", "all points are equal"),
        ("malformed", "line 2"),
        ("method", "--method"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    case: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(tmp_path, "good.csv", np.arange(12.0).reshape(4, 3) ** 2)
    args = {
        "nan": [_write(tmp_path, "n.csv", np.array([[1.0, np.nan, 2], [1, 2, 3]])), "--k", "1"],
        "inf": [_write(tmp_path, "i.csv", np.array([[1.0, np.inf, 2], [1, 2, 3]])), "--k", "1"],
        "holdout": [good, "--k", "1", "--holdout", "1.5"],
        "draws": [good, "--k", "1", "--draws", "1000000000"],
        "k_zero": [good, "--k", "0"],
        "single": [_write(tmp_path, "s.csv", np.ones((1, 3))), "--k", "1"],
        "all_equal": [_write(tmp_path, "e.csv", np.ones((5, 3))), "--k", "1"],
        "malformed": [str(tmp_path / "bad.csv"), "--k", "1"],
        "method": [good, "--k", "1", "--method", "best-of-x"],
    }[case]
    (tmp_path / "bad.csv").write_text("1,2,3\n4,5\n")
    try:
        code = main(["jl", *args, "--quiet"])
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "error" in lines[0] and message in lines[0]


def test_real_process_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("1,2,3\n4,oops,6\n")
    proc = subprocess.run(
        [sys.executable, "-m", "derand", "jl", str(path), "--k", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "line 2" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ctrl_c_keeps_the_best_certified_m(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import contextlib
    from collections.abc import Callable, Iterator

    import derand.cli.jl as cli_jl

    @contextlib.contextmanager
    def interrupting(*_: object) -> Iterator[Callable[[int, int], None]]:
        def callback(done: int, total: int) -> None:
            if done == 12:
                raise KeyboardInterrupt

        yield callback

    monkeypatch.setattr(cli_jl, "progress", interrupting)
    out = tmp_path / "jl.json"
    code = main(["jl", "gaussian:n=30,d=8,seed=0", "--k", "3", "--json", str(out)])
    assert code == 130
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and len(doc["history"]["sigma"]) == 12
    assert doc["max_distortion"] <= min(doc["history"]["certified_max_distortion"]) + 1e-6
    assert "interrupted" in capsys.readouterr().out


def test_early_stopping_and_stretch_options_reach_the_estimator(tmp_path: Path) -> None:
    out = tmp_path / "es.json"
    code = main(
        ["jl", "gaussian:n=60,d=12,seed=1", "--k", "4", "--early-stopping",
         "--validation-fraction", "0.2", "--cap-gain", "--stretch-slack", "2",
         "--active-size", "500", "--json", str(out), "--quiet"]
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out.read_text())
    history = doc["history"]
    assert len(history["validation_max_distortion"]) == len(history["certified_max_distortion"])
    assert max(history["active_size"]) <= 500
    assert doc["parameters"]["stretch_slack"] == 2.0 and doc["parameters"]["early_stopping"]
    assert doc["pairs"] == 60 * 59 // 2  # the certificate covers the validation points too


def test_neighbour_z_reaches_the_estimator(tmp_path: Path) -> None:
    out = tmp_path / "nz.json"
    code = main(
        ["jl", "gaussian:n=50,d=10,seed=2", "--k", "3", "--neighbour-z", "2.5",
         "--iters", "200", "--json", str(out), "--quiet"]
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["parameters"]["neighbour_z"] == 2.5
    assert doc["max_distortion"] < 1.0


def test_negative_neighbour_z_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["jl", "gaussian:n=20,d=6,seed=0", "--k", "2", "--neighbour-z", "-1"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "neighbour_z" in err and len(err.splitlines()) == 1


def test_fast_settings_reach_the_estimator(tmp_path: Path) -> None:
    out = tmp_path / "fast.json"
    code = main(
        ["jl", "gaussian:n=80,d=12,seed=3", "--k", "4", "--fast", "--active-size", "700",
         "--json", str(out), "--quiet"]
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["parameters"]["fast"] and max(doc["history"]["active_size"]) <= 700
    assert max(doc["history"]["active_size"]) > 0
    assert doc["max_distortion"] < 1.0
    # the settings used are recorded resolved: the preset's, with the explicit override
    used = doc["parameters"]["fit_settings"]
    assert used["active_size"] == 700 and used["inner_iter"] == 10 and used["tol"] == 0.01


def test_auto_settings_are_recorded_resolved(tmp_path: Path) -> None:
    out = tmp_path / "auto.json"
    code = main(["jl", "gaussian:n=40,d=8,seed=1", "--k", "3", "--json", str(out), "--quiet"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["parameters"]["active_size"] is None  # not given on the command line
    used = doc["parameters"]["fit_settings"]
    assert isinstance(used["active_size"], int) and isinstance(used["scan_size"], int)
    assert used["tol"] is not None and used["tau_final"] > 0


@pytest.mark.parametrize("value", ["-0.5", "2", "nan"])
def test_bad_tol_is_one_line_and_exit_2(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["jl", "gaussian:n=20,d=6,seed=0", "--k", "2", "--tol", value])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "--tol" in err and len(err.splitlines()) == 1
