"""Result plumbing: JSON conversion, provenance, output-path checks and atomic writes.

Writes are atomic (a temporary file next to the target, then a rename), go through symbolic
links to the file they point at, keep an existing file's permission bits, never replace a
directory, device, FIFO or socket, and leave no temporary file behind on any failure,
Ctrl-C included. JSON may also go to a stream: ``-`` is standard output, and a character
device, FIFO or socket (``/dev/stdout``, ``/dev/null``, ``>(jq .)``) is written directly,
with no temporary file and no rename. This module imports neither numpy nor torch: it
converts their objects only when the caller has already loaded them.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import math
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from derand.errors import InputError

__all__ = [
    "STDOUT",
    "check_output_dir",
    "check_output_file",
    "is_stdout",
    "is_stream",
    "jsonable",
    "machine_summary",
    "provenance",
    "save_figure",
    "write_bytes",
    "write_json",
    "write_text",
]


STDOUT = "-"
"""The output path that means standard output (for JSON)."""

_OPEN_STREAMS: dict[str, int] = {}
"""FIFOs opened by :func:`check_output_file` (so that a missing reader is found before the
work), by resolved path; :func:`write_json` writes into them and closes them."""


def _std_stream(path: str | os.PathLike[str]) -> TextIO | None:
    """``sys.stdout`` or ``sys.stderr`` when ``path`` is ``-`` or the same file as one of
    them (``/dev/stdout``, ``/proc/self/fd/1``, the file stdout is redirected to)."""
    if os.fspath(path) == STDOUT:
        return sys.stdout
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    for stream in (sys.stdout, sys.stderr):
        try:
            if os.path.samestat(st, os.fstat(stream.fileno())):
                return stream
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            continue
    return None


def is_stdout(path: str | os.PathLike[str] | None) -> bool:
    """Whether writing to ``path`` writes to this process's standard output.

    Examples
    --------
    >>> is_stdout("-"), is_stdout(None)
    (True, False)
    """
    return path is not None and _std_stream(path) is sys.stdout


def _is_stream_mode(mode: int) -> bool:
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def is_stream(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is written as a stream: ``-``, standard output or error, or a
    character device, FIFO or socket (``/dev/null``, a pipe).

    Examples
    --------
    >>> is_stream("-"), is_stream("/dev/null")
    (True, True)
    """
    if _std_stream(path) is not None:
        return True
    try:
        return _is_stream_mode(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _open_stream(path: str | os.PathLike[str], label: str) -> int:
    """A write descriptor on the device/FIFO/socket at ``path``; a FIFO without a reader is
    an :class:`InputError` (opening it would wait for one forever)."""
    key = os.path.realpath(path)
    if key in _OPEN_STREAMS:
        return _OPEN_STREAMS[key]
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise InputError(f"{label} is a FIFO that no process reads") from None
        raise InputError(f"{label}: {str(exc.strerror).lower()}") from None
    os.set_blocking(fd, True)
    _OPEN_STREAMS[key] = fd
    return fd


def jsonable(obj: Any) -> Any:
    """Convert dataclasses, numpy arrays/scalars, tensors and paths to JSON-ready objects.

    Non-finite floats become ``None`` so that the output is strict JSON.

    Returns
    -------
    object
        Nested dicts, lists, strings, ints, floats, bools and ``None`` only.

    Examples
    --------
    >>> jsonable({"x": float("nan"), "p": Path("a")})
    {'x': None, 'p': 'a'}
    """
    np = sys.modules.get("numpy")  # numpy objects exist only once numpy is loaded
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        if all(type(v) is int for v in obj):  # a partition: nothing to convert (fast path)
            return list(obj)
        return [jsonable(v) for v in obj]
    if np is not None and isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, bool) or (np is not None and isinstance(obj, np.bool_)):
        return bool(obj)
    if isinstance(obj, int) or (np is not None and isinstance(obj, np.integer)):
        return int(obj)
    if isinstance(obj, float) or (np is not None and isinstance(obj, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # torch.Tensor without importing torch
        return jsonable(obj.detach().cpu().numpy())
    return obj


_VERSIONS: dict[str, str] = {}
"""Versions read from installed metadata, once per process (0.03 s each)."""


def _version(package: str) -> str:
    module = sys.modules.get(package)
    if module is not None and hasattr(module, "__version__"):
        return str(module.__version__)
    if package not in _VERSIONS:
        from importlib import metadata

        try:
            _VERSIONS[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            _VERSIONS[package] = "not installed"
    return _VERSIONS[package]


def provenance() -> dict[str, str]:
    """Versions of derand, Python and the numerical stack, and the platform.

    Packages this run did not load are reported from their installed metadata, so that
    asking for provenance never imports torch.

    Returns
    -------
    dict
        ``derand``, ``python``, ``numpy``, ``scipy``, ``torch``, ``platform``, ``machine``.

    Examples
    --------
    >>> sorted(provenance())[:2]
    ['derand', 'machine']
    """
    import platform

    from derand import __version__

    if "platform" not in _PLATFORM:  # once per process: platform() reads the interpreter
        _PLATFORM.update(platform=platform.platform(), machine=platform.machine())
    return {
        "derand": __version__,
        "python": sys.version.split()[0],
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "torch": _version("torch"),
        **_PLATFORM,
    }


_PLATFORM: dict[str, str] = {}


def machine_summary() -> str:
    """One line describing this machine for benchmark tables: CPU model, cores, memory."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as fh:
            kib = int(next(line.split()[1] for line in fh if line.startswith("MemTotal")))
        memory = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{memory}, Python {sys.version.split()[0]}"


def _umask() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no thread-safe way to read it elsewhere: set it back at once
    os.umask(mask)
    return mask


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISREG(mode):
        return "a file"
    return "not a regular file"


def _check_creatable(folder: Path, label: str) -> None:
    """``folder`` exists as a writable directory or can be created under one."""
    probe = folder
    while not os.path.lexists(probe):
        if probe.parent == probe:
            break
        probe = probe.parent
    try:
        st = os.stat(probe)
    except OSError as exc:
        raise InputError(f"{label}: cannot use {probe}: {str(exc.strerror).lower()}") from None
    if not stat.S_ISDIR(st.st_mode):
        where = label if probe == folder else f"{label}: {probe}"
        raise InputError(f"{where} is {_kind(st.st_mode)}, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        reason = "read-only file system" if _read_only_fs(probe) else "permission denied"
        raise InputError(f"{label}: cannot write into {probe} ({reason})")


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def check_output_file(
    path: str | os.PathLike[str], option: str = "output", *, stream: bool = False
) -> None:
    """Raise :class:`InputError` unless a file can be written at ``path``; replaces nothing.

    Call it before the work starts. A symbolic link is followed (the write goes to the file
    it points at); the target must be absent or a writable regular file, and its folder
    must be (or be creatable as) a writable directory. With ``stream=True`` (JSON) ``-``,
    a writable character device, FIFO or socket is accepted too: it is written as a stream
    (a FIFO is opened here, so that one without a reader is refused before the work).

    Examples
    --------
    >>> check_output_file("/dev/null", "--checkpoint")
    Traceback (most recent call last):
    ...
    derand.errors.InputError: --checkpoint /dev/null is a device; refusing to replace it
    >>> check_output_file("/dev/null", "--json", stream=True)
    """
    label = f"{option} {path}"
    if stream and _std_stream(path) is not None:
        return
    target = Path(os.path.realpath(path))
    try:
        st = os.stat(target)
    except FileNotFoundError:
        pass
    except OSError as exc:  # ENOTDIR (a parent is a file), EACCES, ELOOP, ENAMETOOLONG
        raise InputError(f"{label}: {str(exc.strerror).lower()}") from None
    else:
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{label} is a directory")
        if stream and _is_stream_mode(st.st_mode):
            if not os.access(target, os.W_OK):
                raise InputError(f"{label} is not writable")
            if stat.S_ISFIFO(st.st_mode):
                _open_stream(path, label)
            return
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{label} is {_kind(st.st_mode)}; refusing to replace it")
        if not os.access(target, os.W_OK):
            raise InputError(f"{label} is not writable")
    _check_creatable(target.parent, label)


def check_output_dir(path: str | os.PathLike[str], option: str = "output folder") -> None:
    """Raise :class:`InputError` unless ``path`` is (or can be created as) a writable folder.

    Examples
    --------
    >>> check_output_dir("/dev/null", "--plot")
    Traceback (most recent call last):
    ...
    derand.errors.InputError: --plot /dev/null is a device, not a directory
    """
    _check_creatable(Path(os.path.realpath(path)), f"{option} {path}")


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file next to it, then a rename.

    A symbolic link is written through (its target is replaced atomically, the link stays);
    an existing file keeps its permission bits, a new one gets ``0o666 & ~umask``; a
    directory, device, FIFO or socket at ``path`` is refused with :class:`InputError` and
    left alone. On any failure (Ctrl-C included) the previous file is intact and the
    temporary file is removed.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_bytes(folder / "a.txt", b"hello")
    >>> (folder / "a.txt").read_bytes()
    b'hello'
    """
    target = Path(os.path.realpath(path))
    try:
        st = os.stat(target)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    else:
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path} is {_kind(st.st_mode)}; refusing to replace it")
        mode = stat.S_IMODE(st.st_mode)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.urandom(4).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.filename is None:  # e.g. ENOSPC: name the file
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    try:  # make the rename durable; not every file system lets a folder be opened
        dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` (through :func:`jsonable`) as indented JSON.

    A regular file is written atomically (:func:`write_bytes`). ``-`` (or a path that is
    this process's standard output or error) goes to that stream, and a character device,
    FIFO or socket is written directly, without a temporary file: see :func:`is_stream`.

    Returns
    -------
    Path
        ``path``, as given.

    Examples
    --------
    >>> import tempfile
    >>> write_json(Path(tempfile.mkdtemp()) / "r.json", {"a": 1}).name
    'r.json'
    """
    target = Path(path)
    text = json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n"
    stream = _std_stream(path)
    if stream is not None:
        stream.write(text)
        stream.flush()
        return target
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        mode = 0
    if not _is_stream_mode(mode):
        write_bytes(target, text.encode())
        return target
    fd = _open_stream(path, str(path))
    _OPEN_STREAMS.pop(os.path.realpath(path), None)
    try:
        view = memoryview(text.encode())
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    return target


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write text atomically (as :func:`write_bytes`); returns ``path``."""
    target = Path(path)
    write_bytes(target, text.encode())
    return target


def save_figure(fig: Any, path: str | os.PathLike[str], *, dpi: int = 150) -> Path:
    """Save a matplotlib figure as PNG atomically; returns ``path``."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    target = Path(path)
    write_bytes(target, buffer.getvalue())
    return target
