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
import zipfile
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
