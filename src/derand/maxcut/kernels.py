"""The Max-Cut search kernels: compiled ahead of time at install, else numba's JIT.

The kernels have one source, :mod:`derand.maxcut.engine` (numba ``@njit``). ``make install``
(``python -m derand.maxcut.warmup``) also compiles its two entry points, ``run_chunk`` and
``anneal_sweeps``, ahead of time with ``numba.pycc`` into a plain extension module next to it
(``_engine_aot``, host CPU, the GIL released as in the JIT's ``nogil``), together with a stamp:
the SHA-256 of the sources it was compiled from, numpy's version and the processor's. A run
then imports that module (a millisecond) instead of numba (0.3-0.4 s) and its on-disk cache
(0.3 s), which matters most at a one-second budget. When the module is missing, fails to
import, or its stamp no longer matches (an edited ``engine.py``, another numpy, another CPU),
the JIT runs instead -- the same code, so the same moves for the same seed (a test checks
both paths).

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

__all__ = ["AOT_NAME", "Kernels", "aot_module", "build_aot", "search_kernels"]

AOT_NAME = "_engine_aot"
"""The extension module compiled ahead of time (in the package directory)."""
_HERE = Path(__file__).resolve().parent
_SOURCES = ("engine.py", "layout.py")

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


def _paths(directory: Path) -> tuple[Path, Path]:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return directory / f"{AOT_NAME}{suffix}", directory / f"{AOT_NAME}.stamp"


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


def source_stamp() -> str:
    """What an ahead-of-time module must have been compiled from and for: the SHA-256 of the
    kernel sources, numpy's version and the processor (:func:`host_cpu`).

    Returns
    -------
    str
    """
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((_HERE / name).read_bytes())
    return f"{digest.hexdigest()} numpy-{np.__version__} cpu-{host_cpu()}"


_aot: list[ModuleType | None] = []  # cached: [module or None]


def aot_module() -> ModuleType | None:
    """The ahead-of-time compiled kernels, or ``None`` (not built, stale, or not loadable).

    Returns
    -------
    module or None
    """
    if _aot:
        return _aot[0]
    module: ModuleType | None = None
    so, stamp = _paths(_HERE)
    try:
        if so.exists() and stamp.read_text().strip() == source_stamp():
            module = importlib.import_module(f"derand.maxcut.{AOT_NAME}")
    except (OSError, ImportError):
        module = None
    _aot.append(module)
    return module


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


def build_aot(directory: Path | None = None) -> Path:
    """Compile the search kernels ahead of time into ``directory`` (default: the package's).

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

    target = _HERE if directory is None else Path(directory)
    so, stamp = _paths(target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycc's deprecation warning
        pycc: Any = importlib.import_module("numba.pycc")
        pycc_compiler: Any = importlib.import_module("numba.pycc.compiler")
        flags_base: Any = importlib.import_module("numba.core.compiler").Flags

        from derand.maxcut import engine

    class _NoGil(flags_base):  # type: ignore[misc]
        """pycc's compile flags with the GIL released (the JIT kernels are ``nogil``)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.release_gil = True

    with tempfile.TemporaryDirectory(prefix="derand-aot-") as tmp:
        cc = pycc.CC(AOT_NAME, source_module=engine)
        cc.output_dir = tmp
        cc.target_cpu = "host"  # compiled where it runs, as the JIT does
        for name, signature in SIGNATURES.items():
            cc.export(name, signature)(getattr(engine, name).py_func)
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
        stamp.write_text(source_stamp() + "\n")
    _aot.clear()
    return so


if __name__ == "__main__":  # pragma: no cover - run by derand.maxcut.warmup
    start = time.perf_counter()
    print(f"derand: wrote {build_aot()} in {time.perf_counter() - start:.1f} s")
