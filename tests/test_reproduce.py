"""``derand reproduce`` on reduced sizes: every file, every figure referenced, same numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from derand.cli import main
from derand.report import Section, Table, to_html, to_markdown
from derand.reproduce import ReproduceConfig, fmt, reproduce, stats

TINY_NN = {"steps": 60, "width": 16, "n_test": 128, "n_cert": 128, "log_points": 6}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("repro")
    config = ReproduceConfig(out=out, quick=True, seeds=2, overrides={"nn": TINY_NN})
    return out, reproduce(config)


def test_writes_every_file_and_references_every_figure(quick_run: tuple[Path, object]) -> None:
    out, _ = quick_run
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
    assert doc["seeds"] == 2 and {"toy", "nn_fig3", "nn_multi_index"} <= set(doc["results"])
    assert len(doc["results"]["nn_fig3"]) == 2
    assert "mean ± std" in report or "±" in report


def test_rerun_reproduces_the_numbers(quick_run: tuple[Path, object], tmp_path: Path) -> None:
    out, _ = quick_run
    again = reproduce(ReproduceConfig(out=tmp_path, quick=True, seeds=2, overrides={"nn": TINY_NN}))
    first = json.loads((out / "results.json").read_text())["results"]
    second = json.loads((tmp_path / "results.json").read_text())["results"]

    def strip(obj: object) -> object:
        if isinstance(obj, dict):
            # "trace" holds (seconds, best cut) pairs: wall-clock times, like "seconds"
            return {k: strip(v) for k, v in obj.items() if not re.search("seconds|time|trace", k)}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    assert strip(first) == strip(second)
    assert again.seconds > 0


def test_stats_and_format() -> None:
    s = stats([1.0, 2.0, 3.0])
    assert s == {"mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0, "n": 3}
    assert fmt([1.0, 2.0, 3.0]) == "2 ± 1 [1, 3]"
    assert fmt([0.5]) == "0.5"


def test_report_rendering_escapes_and_embeds(tmp_path: Path) -> None:
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG fake")
    sections = [Section("T <1>", ["**bold** and `code` & more"], [Table(["h"], [["x|y"]])], [png])]
    md = to_markdown("R", ["intro"], sections, tmp_path)
    assert "![a](a.png)" in md and "| x|y |" in md
    html = to_html("R", ["intro"], sections)
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
