"""Training checkpoints that cannot run code: numeric arrays in an ``.npz`` plus a JSON header.

A checkpoint is a zip archive written by :func:`numpy.savez` holding only numeric arrays
(parameters, optimizer moments, random-generator states, the Lanczos warm start) and one
``header`` array of UTF-8 bytes with a JSON document (format name and version, the settings,
the step, the logs and the scalar state). It is read with ``allow_pickle=False``: no pickle is
ever unpickled, so a crafted file can at worst be refused. A checkpoint made with other
settings is refused with the names of the settings that differ.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from derand.errors import InputError
from derand.results import write_bytes

FORMAT = "derand-nn-checkpoint"
VERSION = 1
_ARRAY_PREFIX = "a/"
MAX_NESTING = 32
"""Deepest nesting of lists and mappings a checkpoint header may have (a real one: about 8)."""


def _encode(value: Any, arrays: dict[str, np.ndarray], path: str) -> Any:
    """JSON-ready ``value`` with every tensor or array moved into ``arrays``."""
    if isinstance(value, Tensor):
        key = f"{_ARRAY_PREFIX}{len(arrays)}"
        arrays[key] = value.detach().cpu().numpy().copy()
        return {"__array__": key, "dtype": str(value.dtype).removeprefix("torch.")}
    if isinstance(value, np.ndarray):
        key = f"{_ARRAY_PREFIX}{len(arrays)}"
        arrays[key] = value
        return {"__array__": key, "dtype": "numpy"}
    if isinstance(value, dict):
        return {
            "__dict__": [
                [_encode(k, arrays, path), _encode(v, arrays, path)] for k, v in value.items()
            ]
        }
    if isinstance(value, (list, tuple)):
        return [_encode(v, arrays, path) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot checkpoint a {type(value).__name__} at {path}")


def _decode(value: Any, arrays: Any) -> Any:
    if isinstance(value, dict):
        if "__array__" in value:
            array = arrays[str(value["__array__"])]
            if array.dtype == object:  # pragma: no cover - allow_pickle=False refuses these
                raise ValueError("object array")
            if value.get("dtype") == "numpy":
                return array
            return torch.from_numpy(np.array(array))
        if "__dict__" in value:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in value["__dict__"]}
        raise ValueError("unexpected mapping")
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


def checkpoint_bytes(config: dict[str, Any], state: dict[str, Any]) -> bytes:
    """Serialise a training ``state`` (tensors, numbers, strings, lists, dicts) and its
    ``config`` into the checkpoint format."""
    arrays: dict[str, np.ndarray] = {}
    header = {
        "format": FORMAT,
        "version": VERSION,
        "config": config,
        "state": _encode(state, arrays, "state"),
    }
    text = json.dumps(header, allow_nan=True).encode()
    buffer = io.BytesIO()
    members: dict[str, Any] = {"header": np.frombuffer(text, dtype=np.uint8), **arrays}
    savez: Any = np.savez
    savez(buffer, **members)
    return buffer.getvalue()


def save_checkpoint(path: Path, config: dict[str, Any], state: dict[str, Any]) -> None:
    """Write a checkpoint atomically (temporary file, then rename)."""
    write_bytes(path, checkpoint_bytes(config, state))


def load_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config, state)`` from a checkpoint, or :class:`InputError` in one line.

    Empty, truncated, foreign (e.g. a pickle) and directory paths are refused; nothing in
    the file is executed.
    """
    if path.is_dir():
        raise InputError(f"checkpoint {path} is a directory")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "header" not in archive.files:
                raise InputError(f"checkpoint {path} is not a derand checkpoint (no header)")
            header = json.loads(bytes(archive["header"].astype(np.uint8)).decode())
            if _nesting(header) > MAX_NESTING:
                raise InputError(
                    f"checkpoint {path} is not a derand checkpoint (its header is nested "
                    f"deeper than {MAX_NESTING} levels)"
                )
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise InputError(f"checkpoint {path} is not a derand checkpoint")
            if header.get("version") != VERSION:
                raise InputError(
                    f"checkpoint {path} has format version {header.get('version')!r}; "
                    f"this derand reads version {VERSION}"
                )
            arrays = {name: archive[name] for name in archive.files if name != "header"}
        state = _decode(header["state"], arrays)
        config = header["config"]
    except InputError:
        raise
    except RecursionError:
        raise InputError(
            f"checkpoint {path} is not a derand checkpoint (its header is nested too deeply)"
        ) from None
    except FileNotFoundError:
        raise InputError(f"checkpoint {path} not found") from None
    except PermissionError:
        raise InputError(f"checkpoint {path} cannot be read (permission denied)") from None
    except (
        OSError,
        ValueError,
        EOFError,
        KeyError,
        TypeError,
        UnicodeDecodeError,
        zipfile.BadZipFile,
    ) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            f"checkpoint {path} is not a readable derand checkpoint ({reason})"
        ) from None
    if not isinstance(config, dict) or not isinstance(state, dict):
        raise InputError(f"checkpoint {path} is not a derand checkpoint")
    return config, state


def _nesting(value: Any) -> int:
    """Depth of nested lists and mappings in a JSON value, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_NESTING:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _bad(path: Path, key: str, expected: str, value: Any) -> InputError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:60] + "…"
    return InputError(f"checkpoint {path}: {key} must be {expected}, got {shown}")


def _count(path: Path, state: dict[str, Any], key: str, high: int) -> int:
    value = state.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise _bad(path, key, f"an integer in [0, {high}]", value)
    return value


def _number(path: Path, key: str, value: Any, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise _bad(path, key, "a finite number >= 0" + (" or null" if optional else ""), value)
    return float(value)


STOP_REASONS = ("sosp", "plateau", "steps", "max-steps", "time-limit", "interrupted")


def check_state(path: Path, state: dict[str, Any], steps: int) -> None:
    """Refuse a training state whose header values have the wrong type or range.

    ``steps`` is the run's step cap: the checkpoint's step must lie in ``[0, steps]``, the
    logged steps in ``[0, step]``, counters and times be finite and non-negative, the stop
    reason one of :data:`STOP_REASONS` (or null) and every tensor where a tensor belongs.
    Raises :class:`InputError` in one line naming the value.
    """
    missing = sorted(
        key
        for key in (
            "step",
            "seconds",
            "model",
            "optimizer",
            "data_gen",
            "noise_gen",
            "schedule",
            "wd_integral",
            "log",
            "certificate_log",
            "snapshots",
            "snapshot_steps",
            "K_last",
            "lanczos_v",
            "stop_reason",
            "work",
            "n_perturbations",
        )
        if key not in state
    )
    if missing:
        raise InputError(f"checkpoint {path} lacks {', '.join(missing)}")
    step = _count(path, state, "step", steps)
    _number(path, "seconds", state["seconds"])
    _number(path, "wd_integral", state["wd_integral"])
    _number(path, "K_last", state["K_last"], optional=True)
    _count(path, state, "n_perturbations", 2 * step + 2)
    if state["stop_reason"] is not None and state["stop_reason"] not in STOP_REASONS:
        raise _bad(path, "stop_reason", f"one of {', '.join(STOP_REASONS)}", state["stop_reason"])
    work = state["work"]
    if not isinstance(work, list) or len(work) != 3:
        raise _bad(path, "work", "a list [train, checks, last expensive step]", work)
    _number(path, "work[0]", work[0])
    _number(path, "work[1]", work[1])
    if isinstance(work[2], bool) or not isinstance(work[2], int) or not 0 <= work[2] <= step:
        raise _bad(path, "work[2]", f"an integer in [0, {step}]", work[2])
    for key in ("model", "optimizer", "schedule"):
        if not isinstance(state[key], dict):
            raise _bad(path, key, "a mapping", state[key])
    for name, value in state["model"].items():
        if not isinstance(name, str) or not isinstance(value, Tensor):
            raise _bad(path, f"model[{name!r}]", "a tensor", value)
    for key in ("data_gen", "noise_gen"):
        value = state[key]
        if not isinstance(value, Tensor) or value.dtype != torch.uint8 or value.ndim != 1:
            raise _bad(path, key, "a random-generator state (a uint8 tensor)", value)
    v = state["lanczos_v"]
    if v is not None and (not isinstance(v, Tensor) or v.ndim != 1):
        raise _bad(path, "lanczos_v", "a vector or null", v)
    schedule = state["schedule"]
    factor = schedule.get("factor")
    if (
        isinstance(factor, bool)
        or not isinstance(factor, (int, float))
        or not (0 < factor <= 1 and math.isfinite(factor))
    ):
        raise _bad(path, "schedule.factor", "a number in (0, 1]", factor)
    _count(path, schedule, "n_decays", 10_000)
    _count(path, schedule, "since", step)
    for key in ("log", "certificate_log"):
        rows = state[key]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise _bad(path, key, "a list of rows", rows)
        for row in rows:
            s = row.get("step")
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= step:
                raise _bad(path, f"{key} step", f"an integer in [0, {step}]", s)
    for row in state["log"]:
        for name in ("perp_norm", "wd_integral", "lr_factor"):
            _number(path, f"log {name}", row.get(name))
    if not state["log"] and step > 0:
        raise _bad(path, "log", "non-empty after step 0", state["log"])
    snapshot_steps = state["snapshot_steps"]
    if not isinstance(snapshot_steps, list) or not isinstance(state["snapshots"], list):
        raise _bad(path, "snapshots", "lists", snapshot_steps)
    if len(snapshot_steps) != len(state["snapshots"]):
        raise _bad(path, "snapshot_steps", "one step per snapshot", len(snapshot_steps))
    for s in snapshot_steps:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= step:
            raise _bad(path, "snapshot_steps", f"integers in [0, {step}]", s)
