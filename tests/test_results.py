"""JSON conversion, atomic writes and device selection."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from derand.device import resolve_device
from derand.errors import InputError
from derand.results import jsonable, write_json, write_text


@dataclasses.dataclass
class Example:
    array: np.ndarray
    tensor: torch.Tensor
    value: float
    path: Path


def test_jsonable_converts_everything() -> None:
    obj = Example(np.arange(3), torch.tensor([1.5]), float("nan"), Path("a/b"))
    converted = jsonable({"x": obj, "n": np.int64(4), "f": np.float32(0.5), "b": np.bool_(True)})
    assert converted == {
        "x": {"array": [0, 1, 2], "tensor": [1.5], "value": None, "path": "a/b"},
        "n": 4,
        "f": 0.5,
        "b": True,
    }
    json.dumps(converted, allow_nan=False)


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "r.json"
    write_json(target, {"a": 1})
    write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    write_text(tmp_path / "t.txt", "hello")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["r.json", "sub", "t.txt"]


def test_failed_write_keeps_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda"}
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            resolve_device("cuda")
    with pytest.raises(InputError):
        resolve_device("tpu")
