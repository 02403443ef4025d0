"""The Examples sections of derand.maxcut's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "derand.maxcut.graph", "derand.maxcut.sdp", "derand.maxcut.rounding",
    "derand.maxcut.local_search", "derand.maxcut.moves", "derand.sdp.proof",
    "derand.maxcut.solve", "derand.maxcut.exact", "derand.figures.maxcut", "derand.core._bvn",
    "derand.sdp.mixing", "derand.rounding.objective", "derand.core.gaussian",
    "derand.core.driver", "derand.core.methods", "derand.core.certificate",
]  # fmt: skip


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
