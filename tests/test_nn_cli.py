"""``derand nn``: settings from presets, TOML and flags; bad input exits 2 with one line;
checkpoints are safe and resume exactly from any interruption."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from derand.cli import main
from derand.errors import InputError
from derand.nn import TrainConfig, train
from derand.nn.checkpoint import load_checkpoint

QUICK = ["--width", "16", "--steps", "50", "--n-test", "128", "--n-cert", "128", "--quiet"]
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def exit_code(args: list[str]) -> int:
    try:
        return main(args)
    except SystemExit as exc:
        return int(exc.code or 0)


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0], err
    return err[0]


def test_preset_with_overrides_writes_json_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "nn.json"
    code = main(["nn", "--preset", "fig3", *QUICK, "--json", str(out), "--plot", str(tmp_path)])
    assert code == 0
    doc = json.loads(out.read_text())
    for key in (
        "steps",
        "seconds",
        "stop_reason",
        "perp_ratio_initial",
        "perp_ratio_final",
        "perp_norm_final",
        "principal_angles_deg",
        "effective_rank",
        "test_loss",
        "certificate_log",
        "rates",
        "seed",
        "version",
    ):
        assert key in doc
    assert doc["steps"] == 50 and doc["parameters"]["width"] == 16
    assert doc["stop_reason"] == "steps"
    assert set(doc["certificate"]) >= {"grad_norm", "lambda_min", "lam", "K", "bound", "failures"}
    assert set(doc["compression"]) >= {"params_before", "params_after", "test_loss_after"}
    row = doc["log"][-1]
    assert {"M_tracked", "Q_tracked", "R", "q_perp", "cos_histogram", "lr_factor"} <= set(row)
    assert (tmp_path / "fig3_nn_trajectories.png").exists()
    assert (tmp_path / "nn_alignment.png").exists()


def test_toml_config_and_flag_priority(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text('preset = "multi-index"\nd = 8\nwidth = 12\nsteps = 30\nseed = 3\n')
    out = tmp_path / "nn.json"
    args = ["nn", "--config", str(config), "--steps", "20", "--no-certificate", "--quiet"]
    assert main([*args, "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["parameters"]["d"] == 8 and doc["parameters"]["k"] == 2
    assert doc["steps"] == 20 and doc["seed"] == 3 and doc["certificate"] is None


def test_example_config_runs(tmp_path: Path) -> None:
    out = tmp_path / "nn.json"
    args = ["nn", "--config", str(EXAMPLES / "run.toml"), "--steps", "40", "--width", "16"]
    assert main([*args, "--n-test", "128", "--n-cert", "128", "--quiet", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["steps"] <= 40


def test_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code(["nn", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 0.5/width)" in text and "(default: sosp)" in text
    assert "(default: None)" not in text


@pytest.mark.parametrize(
    ("args", "toml"),
    [
        (["--d", "3", "--k", "5"], None),
        (["--activation", "sigmoidish"], None),
        (["--lam", "-1"], None),
        (["--lam", "nan"], None),
        (["--freeze", "first-weight"], None),
        (["--resume"], None),
        (["--width", "1e11"], None),
        (["--depth", "100000"], None),
        (["--log-points", "100000000000"], None),
        (["--link", "hermite", "--degree", "200"], None),
        (["--seed", "-1"], None),
        (["--seed", "99999999999999999999999"], None),
        ([], "d = 3\nk = [\n"),
        ([], "d = 'three'\n"),
        ([], "widht = 3\n"),
        ([], "freeze = 3\n"),
        ([], "lam = 1e308\n"),
        ([], "teacher_U = [[1.0, 0.0], [0.0]]\nk = 2\n"),
        ([], "teacher_U = [['a', 'b']]\nk = 1\nd = 2\n"),
        ([], "seed = 1979-05-27\n"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str], toml: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra: list[str] = []
    if toml is not None:
        path = tmp_path / "bad.toml"
        path.write_text(toml)
        extra = ["--config", str(path)]
    assert exit_code(["nn", *QUICK, *args, *extra]) == 2
    one_line_error(capsys)


def test_toml_that_is_not_utf8_or_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(b"d = 3\nlink = '\xff\xfe'\n")
    assert exit_code(["nn", "--config", str(path), *QUICK]) == 2
    assert "UTF-8" in one_line_error(capsys)
    path.write_text("freeze = 3\n")
    assert exit_code(["nn", "--config", str(path), *QUICK]) == 2
    assert "freeze" in one_line_error(capsys)
    path.write_text("d = 3\nk = = 2\n")
    assert exit_code(["nn", "--config", str(path), *QUICK]) == 2
    assert "line 2" in one_line_error(capsys)


def test_divergence_exits_2_naming_the_stage(capsys: pytest.CaptureFixture[str]) -> None:
    code = exit_code(["nn", *QUICK, "--lr", "1e9", "--init", "standard", "--until", "steps"])
    assert code == 2
    assert "stage" in one_line_error(capsys)


def test_output_paths_are_checked_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    for option in ("--json", "--checkpoint"):
        assert exit_code(["nn", *QUICK, option, str(tmp_path)]) == 2
        assert "directory" in one_line_error(capsys)
        assert exit_code(["nn", *QUICK, option, str(tmp_path / "file" / "out")]) == 2
        assert "not a directory" in one_line_error(capsys)


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, "truncated"])
def test_resume_from_a_broken_checkpoint_exits_2(
    content: bytes | str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = tmp_path / "run.ckpt"
    if content == "truncated":
        train(
            TrainConfig(d=4, k=1, width=8, steps=5, until="steps", certificate=False),
            checkpoint=ckpt,
        )
        data = ckpt.read_bytes()
        ckpt.write_bytes(data[: len(data) // 2])
    else:
        assert isinstance(content, bytes)
        ckpt.write_bytes(content)
    assert exit_code(["nn", *QUICK, "--checkpoint", str(ckpt), "--resume"]) == 2
    one_line_error(capsys)


def test_resume_from_a_directory_exits_2(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="directory"):
        load_checkpoint(tmp_path)


class _Evil:
    """A pickle whose loading would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_a_malicious_checkpoint_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    as_pickle = tmp_path / "evil.pkl"
    as_pickle.write_bytes(pickle.dumps({"model": _Evil(marker)}))
    as_torch = tmp_path / "evil.pt"
    torch.save({"model": _Evil(marker), "step": 3}, as_torch)
    for path in (as_pickle, as_torch):
        with pytest.raises(InputError, match="checkpoint"):
            load_checkpoint(path)
        config = TrainConfig(d=4, k=1, width=8, steps=5, until="steps", certificate=False)
        with pytest.raises(InputError):
            train(config, checkpoint=path, resume=True)
    assert not marker.exists()


def test_a_checkpoint_from_other_settings_is_refused_in_one_line(tmp_path: Path) -> None:
    config = TrainConfig(d=4, k=1, width=8, steps=10, until="steps", certificate=False)
    ckpt = tmp_path / "run.ckpt"
    train(config, checkpoint=ckpt)
    with pytest.raises(InputError, match="other settings: lam") as info:
        other = TrainConfig(d=4, k=1, width=8, steps=10, lam=0.5, until="steps", certificate=False)
        train(other, checkpoint=ckpt, resume=True)
    assert "\n" not in str(info.value)
    saved, _ = load_checkpoint(ckpt)
    assert saved["width"] == 8


def _same_run(a: Any, b: Any) -> None:
    assert a.steps == b.steps and a.stop_reason == b.stop_reason
    assert a.model is not None and b.model is not None
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert a.log == b.log
    assert a.certificate_log == b.certificate_log
    assert a.n_perturbations == b.n_perturbations
    assert a.test_loss == b.test_loss and a.perp_norm_final == b.perp_norm_final
    if a.certificate is not None:
        assert b.certificate is not None and a.certificate.grad_norm == b.certificate.grad_norm


@pytest.mark.parametrize(
    "values",
    [
        # The default rule set (certificate checks, plateau schedule), PGD perturbing often.
        {"d": 5, "k": 1, "link": "tanh", "width": 16, "steps": 500, "until": "steps"},
        {
            "d": 5,
            "k": 2,
            "width": 16,
            "steps": 300,
            "until": "steps",
            "pgd_gate": "batch",
            "pgd_threshold": 0.5,
            "pgd_t_thres": 5,
            "pgd_radius": 0.01,
        },
        {
            "d": 5,
            "k": 2,
            "width": 12,
            "depth": 2,
            "optimizer": "adam",
            "steps": 300,
            "until": "steps",
            "n_train": 64,
            "batch": 16,
        },
        {"d": 6, "k": 1, "link": "tanh", "width": 32, "lam": 0.05, "steps": 3000},  # sosp
    ],
)
def test_resume_from_a_random_interrupt_is_bit_identical(
    values: dict[str, Any], tmp_path: Path
) -> None:
    config = TrainConfig.from_dict({**values, "n_test": 128, "n_cert": 512})
    full = train(config)
    stop = random.Random(str(values)).randrange(1, full.steps)
    ckpt = tmp_path / "run.ckpt"

    def interrupt(step: int, total: int) -> None:
        if step == stop:
            raise KeyboardInterrupt

    partial = train(config, checkpoint=ckpt, callback=interrupt)
    assert partial.interrupted and partial.steps == stop and ckpt.exists()
    resumed = train(config, checkpoint=ckpt, resume=True)
    assert not resumed.interrupted
    _same_run(full, resumed)


def test_readme_resume_example_works_as_written(tmp_path: Path) -> None:
    # A run checkpointed every N steps, interrupted, resumed without repeating the flag.
    ckpt = tmp_path / "run.ckpt"
    base = [
        "nn",
        "--preset",
        "fig3",
        "--width",
        "32",
        "--steps",
        "200",
        "--n-test",
        "128",
        "--n-cert",
        "256",
        "--quiet",
        "--checkpoint",
        str(ckpt),
    ]
    config = TrainConfig.from_preset("fig3", width=32, steps=200, n_test=128, n_cert=256)

    def ctrl_c(step: int, total: int) -> None:
        if step == 120:
            raise KeyboardInterrupt

    assert train(config, checkpoint=ckpt, callback=ctrl_c).interrupted
    out = tmp_path / "resumed.json"
    assert main([*base, "--checkpoint-every", "50", "--resume", "--json", str(out)]) == 0
    whole = tmp_path / "whole.json"
    assert main([*base[:-2], "--json", str(whole)]) == 0
    a, b = json.loads(out.read_text()), json.loads(whole.read_text())
    for key in ("steps", "perp_norm_final", "test_loss", "log", "certificate_log"):
        assert a[key] == b[key], key
    assert np.isclose(a["perp_ratio_final"], b["perp_ratio_final"], rtol=0, atol=0)


# Issue 17: resume, Ctrl-C, the checkpoint header, summary(), BOM ---------------------------

_TINY_RUN = ["--d", "4", "--k", "1", "--width", "8", "--steps", "5", "--n-test", "32"]


def test_resume_without_a_checkpoint_is_an_error_unless_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.ckpt"
    config = TrainConfig(d=4, k=1, width=8, steps=5, until="steps", certificate=False)
    with pytest.raises(InputError, match=r"not found.*if-exists"):
        train(config, checkpoint=missing, resume=True)
    with pytest.raises(InputError, match="resume must be"):
        train(config, checkpoint=missing, resume="yes")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="needs a checkpoint"):
        train(config, resume="if-exists")
    assert not missing.exists()
    fresh = train(config, checkpoint=missing, resume="if-exists")
    assert fresh.steps == 5 and missing.exists() and fresh.checkpoint == str(missing)
    args = ["nn", *_TINY_RUN, "--no-certificate", "--quiet", "--checkpoint"]
    other = tmp_path / "other.ckpt"
    assert exit_code([*args, str(other), "--resume"]) == 2
    assert "not found" in one_line_error(capsys) and not other.exists()
    assert exit_code([*args, str(other), "--resume-if-exists"]) == 0
    assert other.exists()
    assert exit_code([*args, str(other), "--resume-if-exists", "--steps", "8"]) == 0
    _, state = load_checkpoint(other)
    assert state["step"] == 8
    assert exit_code([*args, str(other), "--resume", "--resume-if-exists"]) == 2


def test_ctrl_c_says_that_and_where_a_checkpoint_was_saved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib
    from collections.abc import Iterator

    import derand.cli.nn as cli_nn

    @contextlib.contextmanager
    def interrupting(*args: Any, **kwargs: Any) -> Iterator[Any]:
        def update(step: int, total: int) -> None:
            if step >= 100:
                raise KeyboardInterrupt

        yield update

    monkeypatch.setattr(cli_nn, "progress", interrupting)
    ckpt = tmp_path / "run.ckpt"
    base = ["nn", "--d", "4", "--k", "1", "--width", "8", "--n-test", "32", "--no-certificate"]
    assert exit_code([*base, "--steps", "1000", "--checkpoint", str(ckpt)]) == 130
    err = capsys.readouterr().err
    assert f"interrupted at step 100; checkpoint saved to {ckpt}" in err and "--resume" in err
    _, state = load_checkpoint(ckpt)
    assert state["step"] == 100
    assert exit_code([*base, "--steps", "1000"]) == 130
    assert "no checkpoint saved" in capsys.readouterr().err


def _rewrite_header(path: Path, edit: Any) -> None:
    """Rewrite a checkpoint's JSON header through ``edit(header) -> header``."""
    with np.load(path, allow_pickle=False) as archive:
        members = {name: archive[name] for name in archive.files}
    header = json.loads(bytes(members["header"]).decode())
    text = edit(header) if callable(edit) else edit
    if not isinstance(text, str):
        text = json.dumps(text)
    members["header"] = np.frombuffer(text.encode(), dtype=np.uint8)
    with path.open("wb") as f:
        np.savez(f, **members)


def _set_state(key: str, value: Any) -> Any:
    def edit(header: dict[str, Any]) -> dict[str, Any]:
        items = header["state"]["__dict__"]
        for item in items:
            if item[0] == key:
                item[1] = value
        return header

    return edit


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("step", -5, "step must be an integer in"),
        ("step", 3.5, "step must be an integer"),
        ("step", "3", "step must be an integer"),
        ("step", True, "step must be an integer"),
        ("seconds", -1.0, "seconds must be a finite number"),
        ("seconds", "nan", "seconds must be a finite number"),
        ("wd_integral", None, "wd_integral must be"),
        ("K_last", -2.0, "K_last must be"),
        ("n_perturbations", -1, "n_perturbations must be"),
        ("n_perturbations", 10**12, "n_perturbations must be"),
        ("stop_reason", "done", "stop_reason must be one of"),
        ("work", [1.0, 0.0], "work must be"),
        ("work", [1.0, 0.0, 99], "work\\[2\\] must be"),
        ("log", [], "log must be non-empty"),
        ("log", 7, "log must be a list"),
        ("snapshot_steps", [1], "one step per snapshot"),
        ("schedule", {"__dict__": [["factor", 5.0]]}, "schedule.factor must be"),
        ("schedule", {"__dict__": [["factor", 0.5], ["n_decays", -1]]}, "n_decays must be"),
        ("model", [], "model must be a mapping"),
        ("data_gen", [1, 2], "data_gen must be a random-generator state"),
    ],
)
def test_a_checkpoint_with_an_edited_header_value_is_refused(
    key: str, value: Any, match: str, tmp_path: Path
) -> None:
    config = TrainConfig(d=4, k=1, width=8, steps=20, until="steps", certificate=False)
    ckpt = tmp_path / "run.ckpt"
    stopped = train(config, checkpoint=ckpt, callback=_stop_at(10))
    assert stopped.interrupted
    _rewrite_header(ckpt, _set_state(key, value))
    with pytest.raises(InputError, match=match) as info:
        train(config, checkpoint=ckpt, resume=True)
    assert "\n" not in str(info.value)


def _stop_at(step: int) -> Any:
    def callback(s: int, total: int) -> None:
        if s == step:
            raise KeyboardInterrupt

    return callback


@pytest.mark.parametrize("depth", [40, 100_000])
def test_a_deeply_nested_checkpoint_header_is_one_line(
    depth: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = tmp_path / "run.ckpt"
    config = TrainConfig(d=4, k=1, width=8, steps=5, until="steps", certificate=False)
    train(config, checkpoint=ckpt)
    nested = "[" * depth + "]" * depth
    _rewrite_header(
        ckpt,
        '{"format": "derand-nn-checkpoint", "version": 1, "config": {}, "state": ' + nested + "}",
    )
    with pytest.raises(InputError, match="nested"):
        load_checkpoint(ckpt)
    assert exit_code(["nn", *_TINY_RUN, "--quiet", "--checkpoint", str(ckpt), "--resume"]) == 2
    assert "nested" in one_line_error(capsys)


def test_summary_for_json_is_json_serialisable() -> None:
    config = TrainConfig(d=4, k=1, link="tanh", width=8, steps=30, until="steps", n_cert=64)
    result = train(config)
    assert result.certificate is not None
    summary = result.summary()
    text = json.dumps(summary, allow_nan=False)
    back = json.loads(text)
    assert back["certificate"]["grad_norm"] == result.certificate.grad_norm
    assert back["compression"]["rank"] == 1 and back["steps"] == 30
    assert all(isinstance(row["step"], int) for row in back["log"])


def test_a_toml_config_with_a_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'd = 4\nk = 1\nlink = "tanh"\nwidth = 8\nsteps = 5\n')
    out = tmp_path / "out.json"
    args = ["nn", "--config", str(path), "--n-test", "32", "--no-certificate", "--quiet"]
    assert main([*args, "--json", str(out)]) == 0
    assert json.loads(out.read_text())["parameters"]["width"] == 8


@pytest.mark.parametrize("preset", ["fig3", "multi-index"])
def test_the_certificate_panel_of_the_alignment_figure_shows_the_checks(preset: str) -> None:
    from derand.figures.nn import plot_nn

    config = TrainConfig.from_preset(preset, width=16, steps=40, n_test=64, n_cert=128)
    result = train(config)
    assert result.certificate is not None and not result.certificate_log  # no checks ran
    fig = plot_nn(result)["nn_alignment"]
    panel = fig.axes[1]  # type: ignore[attr-defined]
    assert "Certificate" in panel.get_title()
    labels = [line.get_label() for line in panel.lines]
    assert "final $\\rho$" in labels and "measured $\\|W_\\perp\\|_F$" in labels
    values = {line.get_label(): float(line.get_ydata()[0]) for line in panel.lines}
    assert values["final $\\rho$"] == pytest.approx(result.certificate.grad_norm)
    assert any("final: ρ" in t.get_text() for t in panel.texts)


def test_derand_nn_spares_the_process_the_dynamo_import() -> None:
    """torch.optim imports torch._dynamo on its first add_param_group (1.5-2 s); derand nn
    compiles nothing and skips it — and the optimiser still works."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from derand.cli import main\n"
        "code = main(['nn', '--preset', 'fig3', '--steps', '300', '--n-cert', '256', "
        "'--n-test', '256', '--quiet'])\n"
        "print(code, 'torch._dynamo' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "0 False"
