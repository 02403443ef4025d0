"""The whole process of ``derand maxcut`` within its budget: the fast rudy reader, the budget
counted from the process's start, the fast exit and numba without cffi."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from derand.errors import InputError
from derand.maxcut.readers import _numbers, _rudy, _rudy_fast, load_graph, read_rudy


def _strict(path: Path):  # type: ignore[no-untyped-def]
    return _rudy(path, _numbers(path.read_text()))


def _same(a, b) -> bool:  # type: ignore[no-untyped-def]
    return bool(
        a.n == b.n and a.name == b.name and np.array_equal(a.u, b.u)
        and np.array_equal(a.v, b.v) and np.array_equal(a.w, b.w)
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_the_fast_rudy_reader_reads_what_the_strict_parser_reads(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    pairs = {(int(a), int(b)) for a, b in rng.integers(1, n + 1, (60, 2)) if a != b}
    pairs = {(min(p), max(p)) for p in pairs}
    kinds = [
        lambda: str(int(rng.integers(-3, 4))),
        lambda: f"{rng.normal():.6g}",
        lambda: f"{rng.normal():.3e}",
        lambda: f"+{rng.integers(0, 9)}.5",
        lambda: f"-.{rng.integers(0, 9)}",
    ]
    end = "\r\n" if seed % 2 else "\n"
    lines = [f"{n} {len(pairs)}"]
    for a, b in sorted(pairs):
        w = kinds[int(rng.integers(len(kinds)))]()
        ids = (str(a), f"+{b}") if seed % 3 == 0 else (str(a), str(b))
        lines.append(f"{ids[0]}\t{ids[1]}  {w}")
    path = tmp_path / "g.txt"
    path.write_text(end.join(lines) + end * int(rng.integers(0, 3)))
    fast = _rudy_fast(path, path.read_text())
    assert fast is not None  # a plain file: read at numpy speed
    assert _same(fast, _strict(path))
    assert _same(load_graph(str(path)), fast) and _same(read_rudy(path), fast)


@pytest.mark.parametrize(
    "text",
    [
        "3 2\n1 2 1\n# a comment\n2 3 1\n",  # a comment
        "3 2\n1 2 1\n\n2 3 1\n",  # a blank line inside
        "3 2\n1 2 1.0\n2 3\n",  # a short line
        "3 2\n1 2 1 4\n2 3\n",  # the right token count, the wrong lines
        "3 2\n1.0 2 1\n2 3 1\n",  # an id that is not an integer
        "3 2\n1 2 1e999\n2 3 1\n",  # an infinite weight
        "3 2\n1 2 1\n2 4 1\n",  # an id out of range
        "3 2\n1 2 1\n2 1 1\n",  # a duplicate edge
        "3 1\n1 2 1\n2 3 1\n",  # the wrong edge count
        "3 2\n1 2 1-\n2 3 1\n",  # not a number
    ],
)
def test_anything_but_a_plain_file_gets_the_strict_parser_and_its_message(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "g.txt"
    path.write_text(text)
    try:
        expected = _strict(path)
    except InputError as exc:
        with pytest.raises(InputError) as got:
            read_rudy(path)
        assert str(got.value) == f"{path}: {exc}"
        with pytest.raises(InputError):
            load_graph(str(path))
    else:
        assert _same(read_rudy(path), expected)


def _run(code: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
    )


def test_the_budget_counts_from_the_start_of_the_program_only() -> None:
    done = _run(
        "import time; time.sleep(0.3)\n"
        "import derand.cli as cli\n"
        "from derand.cli.maxcut import _left\n"
        "t = time.perf_counter(); before = cli.clock_start()\n"
        "cli._as_program = True; age = cli.process_age(); start = cli.clock_start()\n"
        "print(t - before, age, t - start, _left(10.0, start))"
    )
    called, age, program, left = map(float, done.stdout.split())
    assert abs(called) < 0.1  # main(argv) from a longer-lived process: counted from now
    assert 0.28 <= age < 30.0  # the sleep, the interpreter's start and the imports
    assert program >= 0.28 and left <= 10.0 - 0.28  # the program's: counted from its start


def test_the_program_exits_at_once_with_its_outputs_written_and_children_ended(
    tmp_path: Path,
) -> None:
    out = tmp_path / "r.json"
    pid = tmp_path / "child.pid"
    code = (
        "import multiprocessing as mp, sys, time\n"
        "def sleeper(): time.sleep(60)\n"
        "if __name__ == '__main__':\n"
        "    ctx = mp.get_context('fork'); p = ctx.Process(target=sleeper, daemon=True)\n"
        f"    p.start(); open({str(pid)!r}, 'w').write(str(p.pid))\n"
        "    import derand.cli as cli\n"
        f"    sys.argv = ['derand', 'maxcut', 'paper', '--json', {str(out)!r}]\n"
        "    cli.main()\n"
        "    print('not reached')\n"
    )
    script = tmp_path / "prog.py"
    script.write_text(code)
    t = time.perf_counter()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert time.perf_counter() - t < 60  # the child was not waited for
    assert done.returncode == 0, done.stderr
    assert "not reached" not in done.stdout  # left by os._exit, after main's work
    assert "final cut 41" in done.stdout  # the summary was flushed first
    assert json.loads(out.read_text())["final_cut"] == 41.0
    child = int(pid.read_text())
    status = Path(f"/proc/{child}/status")
    if status.exists():  # gone, or a zombie until init reaps it
        assert "zombie" in status.read_text() or not status.exists()


def test_cffi_is_hidden_only_from_the_program_itself() -> None:
    from derand.cli import main

    assert main(["maxcut", "paper", "--quiet"]) == 0
    assert sys.modules.get("cffi", "absent") is not None  # main(argv) leaves it importable
    done = _run(
        "import sys, derand.cli as cli\n"
        "cli.without_cffi()\n"
        "try:\n    import cffi\nexcept ImportError:\n    print('hidden')\n"
    )
    assert done.stdout.strip() == "hidden"
