"""``--threads``: one setting for torch, OpenMP and BLAS, defaulting to OMP_NUM_THREADS."""

from __future__ import annotations

import json
import os
from pathlib import Path
from unittest import mock

import pytest
import torch
from threadpoolctl import threadpool_info

from derand.cli import main
from derand.threads import available_cpus, default_threads, use_threads


def test_default_is_omp_num_threads_then_the_fallback_then_the_cpus() -> None:
    with mock.patch.dict(os.environ, {"OMP_NUM_THREADS": "3"}):
        assert default_threads() == 3 and default_threads(1) == 3
    with mock.patch.dict(os.environ, {"OMP_NUM_THREADS": "not a number"}):
        assert default_threads(1) == 1 and default_threads() == available_cpus()


def test_use_threads_sets_torch_blas_and_the_environment() -> None:
    before = torch.get_num_threads()
    try:
        with mock.patch.dict(os.environ, {}):
            assert use_threads(2) == 2
            assert torch.get_num_threads() == 2 and os.environ["OMP_NUM_THREADS"] == "2"
            assert os.environ["OMP_WAIT_POLICY"]  # PASSIVE unless the user chose one
            assert all(pool["num_threads"] <= 2 for pool in threadpool_info())
    finally:
        use_threads(before)
    with pytest.raises(ValueError, match="threads"):
        use_threads(0)


def test_threads_are_recorded_in_the_json(tmp_path: Path) -> None:
    out = tmp_path / "toy.json"
    assert main(["toy", "--num", "3", "--threads", "1", "--json", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["threads"] == 1


def test_reproduce_ctrl_c_exits_130_and_keeps_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(config: object, tick: object) -> None:
        raise KeyboardInterrupt

    with mock.patch.dict("derand.reproduce.EXPERIMENTS", {"toy": interrupted}, clear=True):
        code = main(["reproduce", "--out", str(tmp_path), "--quiet", "--only", "toy"])
    assert code == 130
    assert json.loads((tmp_path / "results.json").read_text())["interrupted"] is True
    assert "interrupted" in capsys.readouterr().err
