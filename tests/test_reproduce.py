"""``derand reproduce`` on reduced sizes: every file, every figure referenced, same numbers."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from derand.cli import main
from derand.cli.reproduce import EXPERIMENT_NAMES, _Display
from derand.errors import InputError
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
    "csp": {"n": 20, "clauses": 60, "samples": 50},
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
        "beyond_csp_max2sat_ascent.png",
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
    assert all(r["guarantee"] for r in doc["results"]["csp_max2sat"])
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


# --- --only into a folder holding a report: merged, never replaced, no stale figures -----


def _fake(name: str, value: float, figure: bool = True) -> Any:
    """A cheap experiment: one section, one number, one figure file."""

    def experiment(config: ReproduceConfig, tick: Any) -> tuple[Section, dict[str, Any]]:
        """A fake experiment."""
        tick("only stage", 0, 1)
        files = []
        if figure:
            path = config.out / f"fig_{name}.png"
            path.write_bytes(b"\x89PNG " + name.encode())
            files.append(path)
        section = Section(f"Section {name}", [f"value {value}"], [Table(["v"], [[str(value)]])],
                          files, headline=("claim", f"{value}", "—"))  # fmt: skip
        return section, {f"{name}_numbers": {"value": value}}

    return experiment


def _report(out: Path) -> tuple[str, dict[str, Any]]:
    return (out / "report.md").read_text(), json.loads((out / "results.json").read_text())


def test_only_merges_into_an_existing_report_keeping_the_other_sections(tmp_path: Path) -> None:
    fakes = {"a": _fake("a", 1.0), "b": _fake("b", 2.0), "c": _fake("c", 3.0)}
    with mock.patch.dict("derand.reproduce.EXPERIMENTS", fakes, clear=True):
        reproduce(ReproduceConfig(out=tmp_path, quick=True, seeds=1))
        first_md, first = _report(tmp_path)
        # the same settings, b rerun with another result: a and c are kept as they were
        EXPERIMENTS["b"] = _fake("b", 20.0)  # restored with the rest when the patch ends
        result = reproduce(ReproduceConfig(out=tmp_path, quick=True, seeds=1, only=("b",)))
    md, doc = _report(tmp_path)
    assert [s.title for s in result.sections] == ["Section a", "Section b", "Section c"]
    assert doc["results"] == {"a_numbers": {"value": 1.0}, "b_numbers": {"value": 20.0},
                              "c_numbers": {"value": 3.0}}  # fmt: skip
    assert list(doc["experiments"]) == ["a", "b", "c"]
    assert "value 20.0" in md and "value 1.0" in md and "value 3.0" in md
    assert "kept from the earlier run with the same settings: Section a, Section c" in md
    for name in "abc":
        assert f"](fig_{name}.png)" in md and (tmp_path / f"fig_{name}.png").is_file()
    assert first["experiments"]["a"] == doc["experiments"]["a"]
    assert first_md != md
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3


def test_only_with_other_settings_is_refused_before_any_work(tmp_path: Path) -> None:
    ran: list[str] = []

    def spy(config: ReproduceConfig, tick: Any) -> None:
        ran.append("b")

    fakes = {"a": _fake("a", 1.0), "b": spy}
    with mock.patch.dict("derand.reproduce.EXPERIMENTS", fakes, clear=True):
        reproduce(ReproduceConfig(out=tmp_path, quick=True, seeds=1, only=("a",)))
        before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
        for other in (
            ReproduceConfig(out=tmp_path, quick=False, seeds=1, only=("b",)),
            ReproduceConfig(out=tmp_path, quick=True, seeds=2, only=("b",)),
            ReproduceConfig(out=tmp_path, quick=True, seeds=1, only=("b",),
                            overrides={"nn": {"steps": 5}}),
        ):  # fmt: skip
            with pytest.raises(InputError, match="holds the report of a quick run with 1 seed"):
                reproduce(other)
    assert not ran
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_report_that_cannot_be_merged_is_refused_with_only_and_replaced_without(
    tmp_path: Path,
) -> None:
    (tmp_path / "results.json").write_text('{"results": {"x": 1}}')  # derand 0.1.0's format
    with mock.patch.dict("derand.reproduce.EXPERIMENTS", {"a": _fake("a", 1.0)}, clear=True):
        with pytest.raises(InputError, match="cannot be merged with --only"):
            reproduce(ReproduceConfig(out=tmp_path, quick=True, seeds=1, only=("a",)))
        (tmp_path / "results.json").write_text("{not json")
        with pytest.raises(InputError, match="unreadable"):
            reproduce(ReproduceConfig(out=tmp_path, quick=True, seeds=1, only=("a",)))
        reproduce(ReproduceConfig(out=tmp_path, quick=True, seeds=1))  # every experiment
    assert _report(tmp_path)[1]["results"] == {"a_numbers": {"value": 1.0}}


def test_no_stale_figure_is_left_and_other_files_are_not_touched(tmp_path: Path) -> None:
    fakes = {"a": _fake("a", 1.0), "b": _fake("b", 2.0)}
    with mock.patch.dict("derand.reproduce.EXPERIMENTS", fakes, clear=True):
        reproduce(ReproduceConfig(out=tmp_path, quick=True, seeds=1))
    (tmp_path / "mine.png").write_bytes(b"the user's")
    # b now draws no figure: its old figure must go; a figure the report never wrote stays
    fakes = {"a": _fake("a", 1.0), "b": _fake("b", 2.0, figure=False)}
    with mock.patch.dict("derand.reproduce.EXPERIMENTS", fakes, clear=True):
        reproduce(ReproduceConfig(out=tmp_path, quick=True, seeds=1, only=("b",)))
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["fig_a.png", "mine.png"]
    # a kept experiment whose figure was deleted by hand: refused, not a broken report
    (tmp_path / "fig_a.png").unlink()
    with mock.patch.dict("derand.reproduce.EXPERIMENTS", fakes, clear=True):
        with pytest.raises(InputError, match=r"figure fig_a\.png of the kept experiment 'a'"):
            reproduce(ReproduceConfig(out=tmp_path, quick=True, seeds=1, only=("b",)))


def test_only_on_the_real_report_rewrites_one_experiment(
    quick_run: tuple[Path, ReproduceResult, list[Progress]], tmp_path: Path
) -> None:
    out, full, _ = quick_run
    shutil.copytree(out, tmp_path, dirs_exist_ok=True)
    before = json.loads((tmp_path / "results.json").read_text())
    config = ReproduceConfig(out=tmp_path, quick=True, seeds=2, overrides=TINY, only=("toy",))
    result = reproduce(config)
    doc = json.loads((tmp_path / "results.json").read_text())
    assert [s.title for s in result.sections] == [s.title for s in full.sections]
    assert set(doc["results"]) == set(before["results"])
    assert {k: v for k, v in doc["experiments"].items() if k != "toy"} == {
        k: v for k, v in before["experiments"].items() if k != "toy"
    }
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(
        p.name for p in out.glob("*.png")
    )


def test_cli_only_into_a_report_of_other_settings_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with mock.patch.dict("derand.reproduce.EXPERIMENTS", {"toy": _fake("toy", 1.0)}, clear=True):
        assert main(["reproduce", "--quick", "--seeds", "1", "--out", str(tmp_path),
                     "--quiet"]) == 0  # fmt: skip
        assert main(["reproduce", "--seeds", "1", "--only", "toy", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and "merging would mix settings" in err[0]
