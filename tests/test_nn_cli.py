"""``derand nn``: settings from presets, TOML and flags; bad configs exit 2; Ctrl-C keeps work."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from derand.cli import main
from derand.nn import TrainConfig, train

QUICK = ["--width", "16", "--steps", "50", "--n-test", "128", "--n-cert", "128", "--quiet"]


def exit_code(args: list[str]) -> int:
    try:
        return main(args)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_preset_with_overrides_writes_json_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "nn.json"
    code = main(["nn", "--preset", "fig3", *QUICK, "--json", str(out), "--plot", str(tmp_path)])
    assert code == 0
    doc = json.loads(out.read_text())
    for key in (
        "steps",
        "seconds",
        "perp_ratio_initial",
        "perp_ratio_final",
        "perp_norm_final",
        "principal_angles_deg",
        "effective_rank",
        "test_loss",
        "seed",
        "version",
    ):
        assert key in doc
    assert doc["steps"] == 50 and doc["parameters"]["width"] == 16
    assert set(doc["certificate"]) >= {"grad_norm", "lambda_min", "lam", "K_estimate", "bound"}
    assert set(doc["compression"]) >= {
        "params_before",
        "params_after",
        "test_loss_before",
        "test_loss_after",
    }
    assert (tmp_path / "fig3_nn_trajectories.png").exists()
    assert (tmp_path / "nn_alignment.png").exists()


def test_toml_config_and_flag_priority(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text('preset = "multi-index"\nd = 8\nwidth = 12\nsteps = 30\nseed = 3\n')
    out = tmp_path / "nn.json"
    code = main(
        [
            "nn",
            "--config",
            str(config),
            "--steps",
            "20",
            "--no-certificate",
            "--quiet",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["parameters"]["d"] == 8 and doc["parameters"]["k"] == 2
    assert doc["steps"] == 20 and doc["seed"] == 3 and doc["certificate"] is None


@pytest.mark.parametrize(
    ("args", "toml"),
    [
        (["--d", "3", "--k", "5"], None),
        (["--activation", "sigmoidish"], None),
        (["--lam", "-1"], None),
        (["--freeze", "first-weight"], None),
        (["--resume"], None),
        ([], "d = 3\nk = [\n"),
        ([], "d = 'three'\n"),
        ([], "widht = 3\n"),
    ],
)
def test_bad_configs_exit_2_with_one_line(
    args: list[str], toml: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra: list[str] = []
    if toml is not None:
        path = tmp_path / "bad.toml"
        path.write_text(toml)
        extra = ["--config", str(path)]
    assert exit_code(["nn", *args, *extra, *QUICK]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0]


def test_malformed_toml_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("d = 3\nk = = 2\n")
    assert exit_code(["nn", "--config", str(path), *QUICK]) == 2
    assert "line 2" in capsys.readouterr().err


def test_interrupt_saves_checkpoint_and_resume_completes(tmp_path: Path) -> None:
    config = TrainConfig.from_dict(
        {
            "d": 5,
            "k": 1,
            "link": "tanh",
            "width": 8,
            "steps": 400,
            "n_test": 64,
            "certificate": False,
            "dtype": "float64",
            "log_points": 10,
        }
    )
    full = train(config)
    ckpt = tmp_path / "run.pt"

    def interrupt(step: int, total: int) -> None:
        if step == 200:
            raise KeyboardInterrupt

    partial = train(config, checkpoint=ckpt, callback=interrupt)
    assert partial.interrupted and partial.steps == 200 and ckpt.exists()
    resumed = train(config, checkpoint=ckpt, resume=True)
    assert not resumed.interrupted and resumed.steps == 400
    assert resumed.perp_norm_final == full.perp_norm_final
    assert dataclasses.asdict(config) == resumed.config
