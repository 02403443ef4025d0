"""``derand reproduce`` on reduced sizes: every file, every figure referenced, same numbers."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from derand.cli import main
from derand.cli.reproduce import EXPERIMENT_NAMES, _Display
from derand.report import Report, Section, Table, to_html, to_markdown
from derand.reproduce import (
    EXPERIMENTS,
    Progress,
    ReproduceConfig,
    ReproduceResult,
    _kept,
    fmt,
    reproduce,
    stats,
)

TINY_NN = {"steps": 60, "width": 16, "n_test": 128, "n_cert": 128, "log_points": 6}
TINY = {
    "nn": TINY_NN,
    "maxcut": {"n": 60, "score_steps": 200, "gset": ["G11"]},
    "jl": {"authors_data": "uniform:n=40,d=60,seed=42", "authors_k": 10, "digits_n": 80,
           "n_iter": 200},
}  # fmt: skip


@pytest.fixture(scope="module")
def quick_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, ReproduceResult, list[Progress]]:
    """The whole reproduction once, on tiny sizes (the other tests reuse it)."""
    out = tmp_path_factory.mktemp("repro")
    seen: list[Progress] = []
    config = ReproduceConfig(out=out, quick=True, seeds=2, overrides=TINY)
    return out, reproduce(config, callback=seen.append), seen


def test_writes_every_file_and_references_every_figure(
    quick_run: tuple[Path, ReproduceResult, list[Progress]],
) -> None:
    out, result, _ = quick_run
    assert not result.interrupted
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert {
        "fig1_toy_frozen_bias.png",
        "fig2_toy_trainable_bias.png",
        "fig3_nn_trajectories.png",
    } <= set(pngs)
    report = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for name in pngs:
        assert f"]({name})" in report
        assert f'alt="{Path(name).stem}"' in html
    assert html.count("data:image/png;base64,") == len(pngs)
    assert 'src="' + "fig" not in html  # self-contained: no external images
    doc = json.loads((out / "results.json").read_text())
    assert doc["seeds"] == 2 and doc["threads"] == 1 and doc["interrupted"] is False
    assert set(doc["results"]) >= {"toy", "nn_fig3", "nn_multi_index", "maxcut_gset"}
    assert len(doc["results"]["nn_fig3"]) == 2
    assert "±" in report
    summary = report[report.index("## Summary") : report.index("## Contents")]
    assert "| Figure 3: structure discovery" in summary and "λ = 0 control" in summary
    assert '<h2 id="summary">' in html


def test_progress_names_every_experiment_and_seed(
    quick_run: tuple[Path, ReproduceResult, list[Progress]],
) -> None:
    _, _, seen = quick_run
    assert [p.index for p in seen] == sorted(p.index for p in seen)
    assert {p.index for p in seen} == set(range(len(EXPERIMENTS)))
    assert all(p.total == len(EXPERIMENTS) and 0 <= p.step < p.steps for p in seen)
    stages = [p.stage for p in seen]
    assert "training, seed 2 of 2" in stages and "G11 (n = 800)" in stages


def test_rerun_reproduces_the_numbers(
    quick_run: tuple[Path, ReproduceResult, list[Progress]], tmp_path: Path
) -> None:
    out, _, _ = quick_run
    config = ReproduceConfig(
        out=tmp_path, quick=True, seeds=2, overrides=TINY, only=("toy", "maxcut")
    )
    again = reproduce(config)
    first = json.loads((out / "results.json").read_text())["results"]
    second = json.loads((tmp_path / "results.json").read_text())["results"]

    def strip(obj: object) -> object:
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if not re.search("seconds|time|trace", k)}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    assert set(second) == {"toy", "maxcut_paper", "maxcut_paper_score", "maxcut_gnp"}
    assert all(strip(first[k]) == strip(second[k]) for k in second)
    assert again.seconds > 0


def test_ctrl_c_stops_the_run_and_keeps_the_finished_experiments(tmp_path: Path) -> None:
    def interrupt_at_maxcut(progress: Progress) -> None:
        if progress.index == 1:
            raise KeyboardInterrupt

    config = ReproduceConfig(out=tmp_path, quick=True, seeds=1, overrides=TINY,
                             only=("toy", "maxcut", "jl"))  # fmt: skip
    result = reproduce(config, callback=interrupt_at_maxcut)
    assert result.interrupted and [s.title for s in result.sections] == [
        "Figures 1–2: the toy example"
    ]
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["interrupted"] is True and set(doc["results"]) == {"toy"}
    assert "interrupted by Ctrl-C after 1 experiment" in (tmp_path / "report.md").read_text()


def test_a_run_stopped_by_ctrl_c_is_not_reported_as_finished() -> None:
    @dataclass
    class Stopped:
        interrupted: bool

    assert _kept(Stopped(False)).interrupted is False
    with pytest.raises(KeyboardInterrupt):
        _kept(Stopped(True))


def test_one_log_line_per_stage_when_not_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    display = _Display(argparse.Namespace(quiet=False))
    display(Progress("Figure 3", 1, 7, "training, seed 1 of 3", 0, 3))
    display.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2/7 Figure 3: training, seed 1 of 3" in err


def test_stats_and_format() -> None:
    s = stats([1.0, 2.0, 3.0])
    assert s == {"mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0, "n": 3}
    assert fmt([1.0, 2.0, 3.0]) == "2 ± 1 [1, 3]"
    assert fmt([0.5]) == "0.5"


def test_report_rendering_escapes_and_embeds(tmp_path: Path) -> None:
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG fake")
    sections = [Section("T <1>", ["**bold** and `code` & more"], [Table(["h"], [["x|y"]])], [png])]
    report = Report("R", ["intro"], sections, Table(["headline"], [["1"]]))
    md = to_markdown(report, tmp_path)
    assert "![a](a.png)" in md and "| x\\|y |" in md and "- [T <1>](#t-1)" in md
    html = to_html(report, tmp_path)
    assert '<h2 id="t-1">' in html and "<td>x|y</td>" in html and "<th>headline</th>" in html
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert "&amp; more" in html and "T &lt;1&gt;" in html


def test_cli_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["reproduce", "--out", str(target)]) == 2
    assert (
        main(["reproduce", "--gset-dir", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
        == 2
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2


def test_cli_names_match_the_experiments() -> None:
    assert tuple(EXPERIMENTS) == EXPERIMENT_NAMES
