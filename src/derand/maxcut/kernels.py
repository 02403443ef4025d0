"""The Max-Cut pipeline's kernels: compiled ahead of time at install, else numba's JIT.

Each group of kernels (:data:`GROUPS`) has one source, a module of numba ``@njit`` functions:
the search (:mod:`derand.maxcut.engine`), the SDP's sweeps and colouring
(:mod:`derand.sdp._mixing`) and the rounding's expectation (:mod:`derand.rounding._kernel`).
``make install`` (``python -m derand.maxcut.warmup``) also compiles each group's entry points
ahead of time with ``numba.pycc`` into a plain extension module next to its source (host CPU,
the GIL released as in the JIT's ``nogil``), together with a stamp: the SHA-256 of the
sources it was compiled from, numpy's version and the processor's. A run then imports those
modules (a millisecond each) instead of numba (0.3-0.7 s) and its on-disk cache (0.3-1 s),
which matters most at a one-second budget. When a module is missing, fails to import, or its
stamp no longer matches (an edited source, another numpy, another CPU), that group runs on
the JIT instead -- the same code, so the same results for the same seed (tests check both
paths).

Numba's ``pycc`` is deprecated upstream but still shipped; if it goes, the build reports why
and every run uses the JIT.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from derand.maxcut import layout

__all__ = [
    "AOT_NAME",
    "GROUPS",
    "Group",
    "Kernels",
    "aot_module",
    "build_all",
    "build_aot",
    "compiled",
    "is_current",
    "search_kernels",
]

AOT_NAME = "_engine_aot"
"""The search kernels' extension module compiled ahead of time (in the package directory)."""
_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent  # src/derand

_A, _F, _B, _U = "i8[::1]", "f8[::1]", "i1[::1]", "u8[::1]"
SIGNATURES = {
    "run_chunk": (
        f"b1(i8, {_A}, {_A}, {_F}, {_B}, {_B}, {_F}, {_F}, {_A}, {_F}, {_A}, {_A}, {_A}, "
        f"{_A}, {_A}, {_A}, {_A}, {_A}, {_A}, {_F}, {_U}, {_F}, i8)"
    ),
    "anneal_sweeps": f"i8({_A}, {_A}, {_F}, {_B}, {_B}, {_F}, {_F}, {_U}, {_F}, f8)",
}
"""The exported entry points and their argument types: exactly those of a real run (CSR in
int64/float64, partitions in int8, C-contiguous); every argument is passed."""

SDP_SIGNATURES = {
    "mixing_sweeps": f"f8({_A}, {_A}, {_F}, {_A}, f8[:, ::1], i8)",
    "greedy_colours": f"i8[::1]({_A}, {_A}, {_A})",
}
"""The SDP's entry points (:mod:`derand.sdp._mixing`): CSR in int64/float64, ``V`` (n, p)
C-contiguous."""
ROUNDING_SIGNATURES = {
    "fill_tables": f"void({_F}, {_A}, {_F}, {_F}, {_F})",
    "disagreement_and_grad": f"f8({_A}, {_A}, {_F}, {_F}, {_F}, b1, {_F}, {_A}, {_F}, {_F}, {_F})",
}
"""The rounding's entry points (:mod:`derand.rounding._kernel`)."""


@dataclass(frozen=True)
class Group:
    """One group of kernels compiled ahead of time into one extension module.

    Attributes
    ----------
    aot : str
        The extension module's name, in the package of ``source``.
    source : str
        The numba module the kernels are compiled from (the JIT fallback).
    files : tuple of str
        The files (relative to the ``derand`` package) the stamp hashes: the source and
        every module whose compiled functions it calls or whose constants it reads.
    signatures : dict
        The exported entry points and their argument types.
    """

    aot: str
    source: str
    files: tuple[str, ...]
    signatures: dict[str, str]

    @property
    def package(self) -> str:
        """The package both modules live in."""
        return self.source.rpartition(".")[0]

    @property
    def directory(self) -> Path:
        """The package's directory."""
        return _ROOT.joinpath(*self.package.split(".")[1:])


GROUPS = {
    "search": Group(
        AOT_NAME, "derand.maxcut.engine", ("maxcut/engine.py", "maxcut/layout.py"), SIGNATURES
    ),
    "sdp": Group("_mixing_aot", "derand.sdp._mixing", ("sdp/_mixing.py",), SDP_SIGNATURES),
    "rounding": Group(
        "_kernel_aot", "derand.rounding._kernel", ("rounding/_kernel.py", "core/_bvn.py"),
        ROUNDING_SIGNATURES,
    ),
}  # fmt: skip
"""Every group of kernels compiled ahead of time, by name."""


@dataclass(frozen=True)
class Kernels:
    """The search kernels a run calls, with the state layout they work on.

    Attributes
    ----------
    run_chunk, anneal_sweeps : callable
        :func:`derand.maxcut.engine.run_chunk` and :func:`~derand.maxcut.engine.anneal_sweeps`,
        compiled ahead of time or by numba's JIT.
    compiled : str
        ``"aot"`` or ``"jit"``.
    """

    run_chunk: Callable[..., Any]
    anneal_sweeps: Callable[..., Any]
    compiled: str
    METHODS: ClassVar[dict[str, int]] = layout.METHODS
    I_MOVES: ClassVar[int] = layout.I_MOVES
    F_BEST: ClassVar[int] = layout.F_BEST
    build_state: ClassVar[Callable[..., dict[str, Any]]] = staticmethod(layout.build_state)

    def __getattr__(self, name: str) -> Any:
        """Anything else of :mod:`derand.maxcut.engine` (a kernel not compiled ahead of time,
        a constant of its layout) comes from the JIT module."""
        if name.startswith("__"):
            raise AttributeError(name)
        from derand.maxcut import engine

        return getattr(engine, name)


def _paths(directory: Path, group: Group) -> tuple[Path, Path]:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return directory / f"{group.aot}{suffix}", directory / f"{group.aot}.stamp"


def host_cpu() -> str:
    """The processor a module compiled for ``host`` is tied to: the machine type and a hash
    of the first feature-flags line of ``/proc/cpuinfo`` (``platform.processor()`` where there
    is none), so that a package directory shared by machines with other instruction sets (a
    cluster's home directory) never loads a module built for another CPU.

    Returns
    -------
    str
    """
    import platform

    features = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith(("flags", "Features")):
                    features = line
                    break
    except OSError:
        pass
    return f"{platform.machine()}-{hashlib.sha256(features.encode()).hexdigest()[:16]}"


def source_stamp(group: str = "search") -> str:
    """What a group's ahead-of-time module must have been compiled from and for: the SHA-256
    of its sources (:attr:`Group.files`), numpy's version and the processor
    (:func:`host_cpu`).

    Returns
    -------
    str
    """
    digest = hashlib.sha256()
    for name in GROUPS[group].files:
        digest.update((_ROOT / name).read_bytes())
    return f"{digest.hexdigest()} numpy-{np.__version__} cpu-{host_cpu()}"


_aot: dict[str, ModuleType | None] = {}  # cached per group: the module or None


def aot_module(group: str = "search") -> ModuleType | None:
    """A group's ahead-of-time compiled kernels, or ``None`` (not built, stale, or not
    loadable).

    Returns
    -------
    module or None
    """
    if group in _aot:
        return _aot[group]
    spec = GROUPS[group]
    module: ModuleType | None = None
    try:
        if is_current(group):
            module = importlib.import_module(f"{spec.package}.{spec.aot}")
    except ImportError:
        module = None
    _aot[group] = module
    return module


def is_current(group: str = "search") -> bool:
    """Whether a group's ahead-of-time module is built and its stamp matches (without
    importing it, nor the package it lives in: that may import scipy).

    Returns
    -------
    bool
    """
    if group in _aot:
        return _aot[group] is not None
    spec = GROUPS[group]
    so, stamp = _paths(spec.directory, spec)
    try:
        return so.exists() and stamp.read_text().strip() == source_stamp(group)
    except OSError:
        return False


def compiled(group: str, prefer: str = "auto") -> tuple[Any, str]:
    """A group's kernels: the ahead-of-time module when it is there and current
    (``prefer="auto"``), else the numba module they are compiled from (always with
    ``prefer="jit"``), and which of the two (``"aot"`` or ``"jit"``).

    Returns
    -------
    (module, str)

    Examples
    --------
    >>> kernels, how = compiled("sdp", "jit")
    >>> how, kernels.__name__
    ('jit', 'derand.sdp._mixing')
    """
    module = aot_module(group) if prefer == "auto" else None
    if module is not None:
        return module, "aot"
    return importlib.import_module(GROUPS[group].source), "jit"


def search_kernels(prefer: str = "auto") -> Kernels:
    """The kernels a search runs on: the ahead-of-time module when it is there and current
    (``prefer="auto"``), else numba's JIT (always with ``prefer="jit"``).

    Returns
    -------
    Kernels

    Examples
    --------
    >>> search_kernels("jit").compiled
    'jit'
    """
    module = aot_module() if prefer == "auto" else None
    if module is not None:
        return Kernels(module.run_chunk, module.anneal_sweeps, "aot")
    from derand.maxcut import engine

    return Kernels(engine.run_chunk, engine.anneal_sweeps, "jit")


def build_aot(directory: Path | None = None, group: str = "search") -> Path:
    """Compile a group's kernels ahead of time into ``directory`` (default: its package's).

    The module is compiled in a temporary directory and moved into place with its stamp, so a
    run never sees half a module. Needs numba (with ``numba.pycc``) and a C compiler.

    Returns
    -------
    Path
        The extension module written.

    Raises
    ------
    OSError
        The directory is not writable.
    Exception
        Whatever ``numba.pycc`` raises when it cannot compile (no C compiler, a numba without
        ``pycc``).
    """
    import shutil
    import tempfile

    spec = GROUPS[group]
    target = spec.directory if directory is None else Path(directory)
    so, stamp = _paths(target, spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycc's deprecation warning
        pycc: Any = importlib.import_module("numba.pycc")
        pycc_compiler: Any = importlib.import_module("numba.pycc.compiler")
        flags_base: Any = importlib.import_module("numba.core.compiler").Flags

        source = importlib.import_module(spec.source)

    class _NoGil(flags_base):  # type: ignore[misc]
        """pycc's compile flags with the GIL released (the JIT kernels are ``nogil``)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.release_gil = True

    with tempfile.TemporaryDirectory(prefix="derand-aot-") as tmp:
        cc = pycc.CC(spec.aot, source_module=source)
        cc.output_dir = tmp
        cc.target_cpu = "host"  # compiled where it runs, as the JIT does
        for name, signature in spec.signatures.items():
            cc.export(name, signature)(getattr(source, name).py_func)
        saved = pycc_compiler.Flags
        pycc_compiler.Flags = _NoGil
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cc.compile()
        finally:
            pycc_compiler.Flags = saved
        built = Path(tmp) / cc.output_file
        partial = so.with_name(so.name + f".{os.getpid()}.part")
        shutil.copyfile(built, partial)
        stamp.unlink(missing_ok=True)  # no stamp, no use, while the module is replaced
        os.replace(partial, so)
        stamp.write_text(source_stamp(group) + "\n")
    _aot.pop(group, None)
    return so


def build_all(directory: Path | None = None) -> list[str]:
    """:func:`build_aot` for every group (into ``directory`` when given, else each into its
    package, where a current module is kept); a group that fails is reported and left to the
    JIT.

    Returns
    -------
    list of str
        One line per group.
    """
    lines = []
    for group in GROUPS:
        start = time.perf_counter()
        if directory is None and is_current(group):
            lines.append(f"{group} kernels compiled ahead of time: up to date")
            continue
        try:
            path = build_aot(directory, group)
        except Exception as exc:  # any failure leaves the JIT, which always works
            lines.append(
                f"{group} kernels not compiled ahead of time ({type(exc).__name__}: {exc}); "
                "runs use the JIT"
            )
        else:
            seconds = time.perf_counter() - start
            lines.append(f"{group} kernels compiled ahead of time in {seconds:.1f} s: {path}")
    return lines


if __name__ == "__main__":  # pragma: no cover - run by `make install`
    for line in build_all():
        print(f"derand: {line}")
