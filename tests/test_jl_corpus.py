"""The JL corpus of hostile inputs (``tests/corpus/jl``): exit 0 or 2 with one line, no row lost.

Each file runs through ``derand jl FILE --k 2`` and each line of ``args.txt`` as a command
line, in this process. An input ends either in success with every CSV row kept and finite
numbers in the JSON, or in exit 2 with exactly one line on stderr (no traceback), within 10 s.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import time
from pathlib import Path

import pytest

from derand.cli import main

CORPUS = Path(__file__).parent / "corpus" / "jl"
SECONDS = 10.0

FILES = sorted(p for p in CORPUS.iterdir() if p.name != "args.txt") if CORPUS.exists() else []
LINES = (
    [
        line
        for line in (CORPUS / "args.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    if CORPUS.exists()
    else []
)
MUST_REFUSE = {
    "bad_magic.npy", "complex.npy", "empty.csv", "empty_cell_first_row.csv",
    "empty_cell_later_row.csv", "field_128k.csv", "header_claims_1e12.npy",
    "header_claims_1e12.npz", "inf.csv", "nan.csv", "nan.npy", "no_arrays.npz", "not_a_zip.npz",
    "not_utf8.csv", "object.npy", "object_array.npz", "one_d.npy", "one_row.csv", "ragged.csv",
    "semicolons.csv", "structured.npy", "three_d.npy", "truncated.npy", "empty_rows.npy",
}  # fmt: skip
MUST_ACCEPT = {
    "bom.csv", "header.csv", "inline_comment_first_row.csv", "inline_comment_later_row.csv",
    "pair_1e-12_apart.npy", "scaled_1e-150.npy", "scaled_1e150.npy", "scaled_1e20.npy",
}  # fmt: skip


def _finite(value: object) -> bool:
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return True


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, float]:
    start = time.perf_counter()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err, time.perf_counter() - start


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_corpus_file(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    argv = ["jl", str(path), "--k", "2", "--iters", "20", "--draws", "3", "--json", str(out)]
    code, stdout, stderr, seconds = _run(argv, capsys)
    assert code in (0, 2), stderr
    assert seconds < SECONDS
    assert "Traceback" not in stderr
    if code == 2:
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert path.name not in MUST_ACCEPT, stderr
        return
    assert path.name not in MUST_REFUSE, stdout
    document = json.loads(out.read_text())
    assert _finite(document) and not re.search(r"\bnan\b", stdout, re.IGNORECASE)
    assert math.isfinite(document["max_distortion"]) and document["max_distortion"] < 1.0
    if path.suffix == ".csv":
        rows = sum(bool(re.search(r"\d", line)) for line in path.read_text("utf-8").splitlines())
        assert document["n_input"] == rows


@pytest.mark.parametrize("line", LINES)
def test_corpus_command_line(line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, stderr, seconds = _run(["jl", *shlex.split(line), "--quiet"], capsys)
    assert code in (0, 2) and seconds < SECONDS
    assert "Traceback" not in stderr
    if code == 2:
        assert len(stderr.strip().splitlines()) == 1, stderr
    if "seed=-1" in line or "seed=9999" in line or "1000000000" in line:
        assert code == 2, line
    if "n=3,d=100000" in line:  # 3 pairs: the active set is sized by them, not by 30000
        assert code == 0, stderr


def test_scaled_copies_give_the_same_embedding_quality(capsys: pytest.CaptureFixture[str]) -> None:
    """1e-150, 1e20 and 1e150 times the same points: the same certified distortion."""
    from derand.jl import DerandomizedJL, load_data

    values = [
        DerandomizedJL(2, n_iter=60).fit(load_data(str(CORPUS / name)).X).max_distortion_
        for name in ("scaled_1e-150.npy", "scaled_1e20.npy", "scaled_1e150.npy")
    ]
    assert all(math.isfinite(v) for v in values)
    assert max(values) - min(values) < 1e-6
