"""The README's Python quick-start for Max-Cut runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_maxcut_python_snippet_runs(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("networkx")
    text = README.read_text()
    section = text[text.index("### `derand maxcut`") :]
    section = section[section.index("#### From Python") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    exec(compile(code.group(1), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "True" in out and "proven" in out
