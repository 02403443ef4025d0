"""Start-up: help and argument errors answer without loading the numerical stack.

``derand --help``, a command's ``--help`` and an argument error must not import torch,
matplotlib, scipy's sparse linear algebra or scikit-learn (each costs from 0.2 s to over a
second). Checked in fresh interpreters with ``python -X importtime``, which lists every
module imported.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "matplotlib", "scipy.sparse.linalg", "sklearn", "numba", "ray", "tqdm")

CASES = [
    ["--help"],
    ["--version"],
    [],
    ["nonsense"],
    ["maxcut", "--help"],
    ["maxcut", "paper", "--bogus"],
    ["maxcut", "paper", "--seed", "-1"],
    ["toy", "--help"],
    ["toy", "--num", "x"],
    ["sweep", "--help"],
    ["sweep", "spec.toml", "--workers", "0"],
    ["reproduce", "--help"],
    ["reproduce", "--seeds", "0"],
]


def imported_modules(args: list[str]) -> tuple[int, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "derand", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return proc.returncode, names


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a) or "(none)")
def test_no_heavy_imports(args: list[str]) -> None:
    code, names = imported_modules(args)
    assert code in (0, 2)
    assert "derand.cli" in names
    heavy = sorted(n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY))
    assert not heavy, heavy


def test_building_the_lazy_parser_imports_one_command_module() -> None:
    script = (
        "import sys\nfrom derand.cli import build_parser\n"
        "build_parser('maxcut', lazy=True)\n"
        "print(sorted(m for m in sys.modules if m.startswith('derand.cli.')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['derand.cli.common', 'derand.cli.maxcut']"
