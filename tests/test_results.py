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


# --- honest outputs: symlinks, permissions, non-regular targets, interrupted writes ------


def test_write_through_a_symlink(tmp_path: Path) -> None:
    from derand.results import write_bytes

    real = tmp_path / "data" / "real.txt"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_bytes(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    dangling = tmp_path / "dangling.txt"
    dangling.symlink_to(tmp_path / "data" / "created.txt")
    write_bytes(dangling, b"made")
    assert (tmp_path / "data" / "created.txt").read_bytes() == b"made"
    assert dangling.is_symlink()


def test_permissions_are_kept(tmp_path: Path) -> None:
    import os
    import stat

    from derand.results import write_bytes

    target = tmp_path / "secret.json"
    target.write_bytes(b"{}")
    target.chmod(0o600)
    write_bytes(target, b"[]")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    old = os.umask(0o077)
    try:
        write_bytes(tmp_path / "fresh.json", b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "fresh.json").stat().st_mode) == 0o600


def test_non_regular_targets_are_refused_and_left_alone(tmp_path: Path) -> None:
    import os
    import stat

    from derand.results import check_output_file, write_bytes

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target in (fifo, Path("/dev/null"), tmp_path):
        with pytest.raises(InputError, match=r"refusing|directory"):
            write_bytes(target, b"x")
        with pytest.raises(InputError):
            check_output_file(target, "--json")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


def test_check_output_paths(tmp_path: Path) -> None:
    from derand.results import check_output_dir, check_output_file

    (tmp_path / "file").write_text("x")
    check_output_file(tmp_path / "new" / "deeper" / "r.json", "--json")  # creatable
    check_output_file(tmp_path / "file", "--json")  # an existing regular file
    check_output_dir(tmp_path / "new" / "figs", "--plot")
    check_output_dir(tmp_path, "--plot")
    with pytest.raises(InputError, match="not a directory"):
        check_output_file(tmp_path / "file" / "r.json", "--json")
    with pytest.raises(InputError, match="not a directory"):
        check_output_dir(tmp_path / "file", "--plot")
    with pytest.raises(InputError, match="is a directory"):
        check_output_file(tmp_path, "--json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing was created


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, OSError])
def test_interrupted_write_leaves_no_temp_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupt: type[BaseException]
) -> None:
    import os

    from derand.results import write_bytes

    target = tmp_path / "r.json"
    target.write_bytes(b"old")

    def fail(fd: int) -> None:
        raise interrupt(28, "No space left on device") if interrupt is OSError else interrupt()

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(interrupt) as info:
        write_bytes(target, b"new" * 1000)
    if interrupt is OSError:
        assert info.value.filename == str(target)  # ENOSPC names the file
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_provenance_does_not_import_torch() -> None:
    import subprocess
    import sys

    script = (
        "import sys\nfrom derand.results import provenance, write_json\n"
        "p = provenance()\n"
        "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, sorted(sys.modules)\n"
        "assert p['torch'].startswith('2.13'), p\nprint('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
