"""docs/architecture.md's "your own problem in 30 lines" runs and shows what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def test_your_own_problem_example_runs() -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)
    result = namespace["result"]
    cert = namespace["cert"]
    assert result.status == "converged"  # type: ignore[attr-defined]
    assert result.solution == pytest.approx(1.0, abs=1e-3)  # type: ignore[attr-defined]
    assert result.value == pytest.approx(0.0, abs=1e-6)  # type: ignore[attr-defined]
    assert result.guarantee_holds  # type: ignore[attr-defined]
    assert abs(result.x[0]) <= cert.bound_measured  # type: ignore[attr-defined]
    assert len(blocks[0].strip().splitlines()) <= 40
