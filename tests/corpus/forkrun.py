"""Run ``derand`` command lines fast and isolated: import once, fork one child per case.

Used by ``tests/test_corpus.py``. Reads a JSON list of cases ``{"id", "argv", "cwd"}`` on
stdin and writes one JSON line per case: ``{"id", "code", "seconds", "timed_out"}``; the
case's stdout and stderr are left in ``stdout.txt`` and ``stderr.txt`` in its ``cwd``.

The parent imports the package, limits torch to one thread (so that no thread pool exists to
be broken by ``fork``) and runs one tiny case of each command, so that the children start
warm (imports, JIT compilation and first-call set-up are paid once, not per case: the time
limit applies to the case itself). Each child has a memory limit (``RLIMIT_AS``) and is killed
at ``--timeout`` seconds, so a case that would hang or exhaust the machine fails alone. Exit
code 1 means an exception escaped ``main`` (its traceback is on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import time
import traceback


def _child(argv: list[str], cwd: str, memory: int) -> None:
    code = 1
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        os.chdir(cwd)
        for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
            target = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        from derand.cli import main

        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _start(case: dict[str, object], memory: int) -> int:
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        _child(list(case["argv"]), str(case["cwd"]), memory)  # type: ignore[call-overload]
    return pid


def run_all(cases: list[dict[str, object]], timeout: float, memory: int, jobs: int) -> None:
    """Run ``cases`` with at most ``jobs`` children at a time; print one JSON line each."""
    waiting = list(reversed(cases))
    running: dict[int, tuple[dict[str, object], float]] = {}
    while waiting or running:
        while waiting and len(running) < jobs:
            case = waiting.pop()
            running[_start(case, memory)] = (case, time.monotonic())
        time.sleep(0.01)
        for pid, (case, start) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            timed_out = not done and time.monotonic() - start > timeout
            if timed_out:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            if done or timed_out:
                del running[pid]
                record = {
                    "id": case["id"],
                    "code": None if timed_out else os.waitstatus_to_exitcode(status),
                    "seconds": time.monotonic() - start,
                    "timed_out": timed_out,
                }
                print(json.dumps(record), flush=True)


WARM_UP = [
    ["maxcut", "paper", "--quiet"],
    ["jl", "uniform:n=12,d=20,seed=1", "--k", "3", "--iters", "5", "--draws", "3", "--quiet"],
    ["nn", "--d", "4", "--k", "1", "--width", "8", "--steps", "5", "--n-test", "32",
     "--no-certificate", "--log-points", "3", "--link", "tanh", "--quiet"],
]  # fmt: skip


def _warm_up() -> None:
    import torch

    from derand.cli import main

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    for argv in WARM_UP:
        assert main(argv) == 0, argv


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--memory-gib", type=float, default=8.0)
    parser.add_argument("--jobs", type=int, default=2)
    options = parser.parse_args()
    cases = json.load(sys.stdin)
    _warm_up()
    run_all(cases, options.timeout, int(options.memory_gib * 2**30), options.jobs)


if __name__ == "__main__":
    main()
