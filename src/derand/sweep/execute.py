"""Running a sweep's cells on a local process pool or on Ray, resumably.

Each finished cell is written at once to ``OUT/cells/<id>.json`` (atomically), so a rerun
skips it and Ctrl-C loses only the cells in flight. A failing cell is recorded with its error
and does not stop the others; reruns try failed cells again. At the end (also after Ctrl-C)
all records of the spec's cells are gathered into ``results.csv`` and ``summary.md``.

Ctrl-C stops a sweep at once: the cells running at that moment are killed and recorded as
``interrupted`` (a rerun runs them again). Local workers live in their own process group, so
a Ctrl-C at the terminal reaches only the sweep, which then stops them; and they watch their
parent (``PR_SET_PDEATHSIG`` on Linux, plus a thread polling the parent's pid), so that they
exit even when the sweep itself is killed with SIGKILL.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
import statistics
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from derand.errors import InputError
from derand.results import write_json, write_text
from derand.sweep import BACKENDS
from derand.sweep.runners import get_runner
from derand.sweep.spec import Cell, SweepSpec
from derand.threads import available_cpus, use_threads

Record = dict[str, Any]

PARENT_POLL_SECONDS = 0.5
"""How often a worker checks that the sweep that started it is still alive."""


def run_cell(cell: Record) -> Record:
    """Run one cell in this process (a worker); never raises for a failing run."""
    start = time.perf_counter()
    record: Record = {
        "cell": cell["id"],
        "command": cell["command"],
        "seed": cell["seed"],
        "params": cell["params"],
        "threads": int(cell.get("threads", 1)),
        "status": "ok",
        "error": None,
        "metrics": {},
    }
    try:
        runner = get_runner(cell["command"])
        use_threads(int(cell.get("threads", 1)))  # torch is not imported for this
        record["metrics"] = runner.run(cell["params"], cell["seed"])
    except Exception as exc:  # a failed cell is a result, not a crash of the sweep
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        record["traceback"] = traceback.format_exc()
    record["seconds"] = time.perf_counter() - start
    return record


def _stopped_record(cell: Record, status: str, error: str, seconds: float) -> Record:
    return {
        "cell": cell["id"],
        "command": cell["command"],
        "seed": cell["seed"],
        "params": cell["params"],
        "status": status,
        "error": error,
        "metrics": {},
        "seconds": seconds,
    }


def _die_with_parent(parent: int) -> None:
    """Make this worker exit when process ``parent`` exits, however it exits."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="derand-parent-watch", daemon=True).start()


def _worker_main(conn: Any, parent: int, threads: int) -> None:
    """A local worker: run the cells sent on ``conn`` until told to stop (``None``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)  # read by torch and BLAS when they load
    try:
        os.setpgid(0, 0)  # own process group: the terminal's Ctrl-C does not reach us
    except OSError:
        pass
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _die_with_parent(parent)
    while True:
        try:
            cell = conn.recv()
        except (EOFError, OSError):
            return
        if cell is None:
            return
        conn.send(run_cell(cell))


@dataclass
class _Worker:
    process: Any
    conn: Any


class _LocalPool:
    """Worker processes fed one cell at a time; knows which cell each one runs."""

    def __init__(self, cells: Sequence[Record], workers: int, threads: int = 1) -> None:
        import multiprocessing

        self._threads = threads
        self._context = multiprocessing.get_context("spawn")
        self._queue: deque[Record] = deque(cells)
        self._size = max(1, min(workers, len(cells)))
        self._idle: list[_Worker] = []
        self._busy: dict[int, tuple[_Worker, Record, float]] = {}
        self._all: list[_Worker] = []

    def _start(self) -> _Worker:
        parent_conn, child_conn = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main, args=(child_conn, os.getpid(), self._threads), daemon=True
        )
        # The child starts with SIGINT blocked (a mask survives fork and exec) until it has
        # left our process group; a Ctrl-C meanwhile is delivered to us when we unblock.
        worker = _Worker(process, parent_conn)
        main = threading.current_thread() is threading.main_thread()
        if main and hasattr(signal, "pthread_sigmask"):
            old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                process.start()
                self._all.append(worker)  # known to close() before a Ctrl-C can land
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
        else:
            process.start()
            self._all.append(worker)
        child_conn.close()
        return worker

    def in_flight(self) -> list[tuple[Record, float]]:
        """The cells running now, with their start times."""
        return [(cell, started) for _, cell, started in self._busy.values()]

    def _assign(self) -> None:
        while self._queue and len(self._busy) < self._size:
            worker = self._idle.pop() if self._idle else self._start()
            cell = self._queue.popleft()
            try:
                worker.conn.send(cell)
            except OSError:  # it died while idle: run the cell on a fresh worker
                self._queue.appendleft(cell)
                self._kill(worker)
                continue
            self._busy[id(worker)] = (worker, cell, time.perf_counter())
        while self._idle and not self._queue:  # nothing left for them: let them go
            worker = self._idle.pop()
            try:
                worker.conn.send(None)
            except OSError:
                pass

    def __iter__(self) -> Iterator[Record]:
        from multiprocessing.connection import wait

        self._assign()
        while self._busy:
            ready = wait([w.conn for w, _, _ in self._busy.values()])
            for key, (worker, cell, started) in list(self._busy.items()):
                if worker.conn not in ready:
                    continue
                del self._busy[key]
                try:
                    record: Record = worker.conn.recv()
                except (EOFError, OSError):
                    worker.process.join(1.0)
                    code = worker.process.exitcode
                    self._kill(worker)
                    record = _stopped_record(
                        cell,
                        "failed",
                        f"worker process died (exit code {code})",
                        time.perf_counter() - started,
                    )
                else:
                    self._idle.append(worker)
                yield record
                self._assign()

    @staticmethod
    def _kill(worker: _Worker) -> None:
        pid = worker.process.pid
        if pid is None:
            return
        try:
            os.killpg(pid, signal.SIGKILL)  # the worker and anything it started
        except OSError:
            pass
        try:
            os.kill(pid, signal.SIGKILL)  # not yet in its own group
        except OSError:
            pass
        worker.conn.close()

    def close(self) -> None:
        """Stop every worker now: running cells are killed, idle workers told to exit."""
        busy = {id(w) for w, _, _ in self._busy.values()}
        for worker in self._all:
            if id(worker) in busy:
                self._kill(worker)
            else:
                try:
                    worker.conn.send(None)
                except OSError:
                    pass
        deadline = time.monotonic() + 1.0
        for worker in self._all:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                self._kill(worker)
                worker.process.join(1.0)
            if not worker.conn.closed:
                worker.conn.close()
        self._busy.clear()
        self._all.clear()
        self._idle.clear()


class _RayPool:
    """Ray tasks, at most ``workers`` in flight so that Ctrl-C stops only running cells."""

    def __init__(
        self, cells: Sequence[Record], workers: int | None, address: str | None, threads: int = 1
    ) -> None:
        try:
            import ray
        except ImportError:
            raise InputError("the ray backend needs Ray: pip install 'derand[ray]'") from None
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            if address is None:
                ray.init(**local_ray_options(workers or available_cpus()))
            else:
                ray.init(address=address, log_to_driver=False)
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._size = max(1, workers)
        self._queue: deque[Record] = deque(cells)
        self._remote = ray.remote(num_cpus=threads)(run_cell)
        self._pending: dict[Any, tuple[Record, float]] = {}

    def in_flight(self) -> list[tuple[Record, float]]:
        """The cells submitted and not finished, with their submission times."""
        return list(self._pending.values())

    def __iter__(self) -> Iterator[Record]:
        while self._queue or self._pending:
            while self._queue and len(self._pending) < self._size:
                cell = self._queue.popleft()
                self._pending[self._remote.remote(cell)] = (cell, time.perf_counter())
            done, _ = self._ray.wait(list(self._pending), num_returns=1, timeout=0.5)
            for ref in done:
                del self._pending[ref]
                yield self._ray.get(ref)

    def close(self) -> None:
        """Cancel what is in flight; shut down a Ray instance this sweep started."""
        for ref in self._pending:
            self._ray.cancel(ref, force=True)
        self._pending.clear()
        if self._started:
            self._ray.shutdown()


def local_ray_options(workers: int) -> dict[str, Any]:
    """``ray.init`` options for the local Ray instance a sweep starts.

    No dashboard (an HTTP server); Ray 2.60 turns on its token authentication for a new
    local instance unless ``RAY_AUTH_MODE`` says otherwise. Ray's own gRPC servers (GCS,
    raylet, object manager) listen on all interfaces whatever the node address: Ray maps
    ``127.0.0.1`` given as ``_node_ip_address`` back to the machine's address, so
    loopback-only binding is not available and the token is what keeps other hosts out. On
    an untrusted network prefer the ``local`` backend.

    Returns
    -------
    dict
        Keyword arguments for ``ray.init``.

    Examples
    --------
    >>> local_ray_options(2)["include_dashboard"]
    False
    """
    return {"num_cpus": workers, "include_dashboard": False, "log_to_driver": False}


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep did: cells in all, run now, skipped as done, failed, and the outputs.

    ``stopped`` counts the cells that were running when Ctrl-C came (recorded as
    ``interrupted``; a rerun runs them again). ``started`` says whether any worker was
    started: with every cell already done, no process pool is started and no Ray cluster
    contacted (an ``address`` is then not checked), and the tables are gathered from the
    cells on disk.
    """

    total: int
    ran: int
    skipped: int
    failed: int
    interrupted: bool
    results_csv: Path
    summary_md: Path
    seconds: float
    stopped: int = 0
    started: bool = False


_RECORD_KEYS = {"cell", "command", "seed", "params", "status", "error", "metrics", "seconds"}


def _read_record(path: Path) -> Record | None:
    """A cell record from ``path``, or ``None`` when it is missing or not a record."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not _RECORD_KEYS <= set(record):
        return None
    if not isinstance(record["params"], dict) or not isinstance(record["metrics"], dict):
        return None
    return record


def _load_done(path: Path) -> Record | None:
    record = _read_record(path)
    return record if record is not None and record["status"] == "ok" else None


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
    threads: int = 1,
    callback: Callable[[int, int], None] | None = None,
) -> SweepOutcome:
    """Run every cell of ``spec`` not already finished under ``out``; gather the table.

    Parameters
    ----------
    spec : SweepSpec
        The validated grid.
    out : path
        Output folder: ``cells/`` (one JSON per finished cell), ``results.csv``,
        ``summary.md`` and ``spec.json``.
    backend : {"local", "ray"}
        ``local``: a process pool on this machine. ``ray``: one Ray task per cell, on the
        cluster at ``address`` or on a local Ray instance started for the sweep.
    workers : int, optional
        Parallel cells (default: the CPU count, or the Ray cluster's CPUs).
    threads : int
        CPU threads of each cell (torch and BLAS); 1 by default, so that cells do not compete
        for cores and give the same numbers on any machine.
    callback : callable, optional
        ``callback(done, total)`` after each cell.
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise InputError("--address is only for the ray backend")
    if workers is not None and workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    if threads < 1:
        raise InputError(f"threads must be >= 1, got {threads}")
    start = time.perf_counter()
    out = Path(out)
    cells_dir = out / "cells"
    cells = spec.cells()
    write_json(out / "spec.json", asdict(spec))
    todo = [c for c in cells if _load_done(cells_dir / f"{c.id}.json") is None]
    skipped = len(cells) - len(todo)
    ran = failed = stopped = 0
    interrupted = False
    if callback is not None:
        callback(skipped, len(cells))
    payload = [{**asdict(c), "threads": threads} for c in todo]
    pool: _LocalPool | _RayPool | None = None
    in_flight: list[tuple[Record, float]] = []
    try:
        if payload:
            pool = (
                _LocalPool(payload, workers or available_cpus(), threads)
                if backend == "local"
                else _RayPool(payload, workers, address, threads)
            )
            for record in pool:
                write_json(cells_dir / f"{record['cell']}.json", record)
                ran += 1
                failed += record["status"] != "ok"
                if callback is not None:
                    callback(skipped + ran, len(cells))
    except KeyboardInterrupt:
        interrupted = True
        in_flight = pool.in_flight() if pool is not None else []
    finally:
        if pool is not None:
            pool.close()
    now = time.perf_counter()
    for running, started in in_flight:
        record = _stopped_record(running, "interrupted", "interrupted (Ctrl-C)", now - started)
        write_json(cells_dir / f"{record['cell']}.json", record)
        stopped += 1
    records = [_read_record(cells_dir / f"{cell.id}.json") for cell in cells]
    found = [record for record in records if record is not None]
    csv_path = write_text(out / "results.csv", results_table(found))
    md_path = write_text(out / "summary.md", summary_markdown(spec, found))
    return SweepOutcome(
        total=len(cells),
        ran=ran,
        skipped=skipped,
        failed=failed,
        interrupted=interrupted,
        results_csv=csv_path,
        summary_md=md_path,
        seconds=time.perf_counter() - start,
        stopped=stopped,
        started=pool is not None,
    )


def _columns(records: Sequence[Record]) -> tuple[list[str], list[str]]:
    params: list[str] = []
    metrics: list[str] = []
    for r in records:
        params += [k for k in r["params"] if k not in params]
        metrics += [k for k in r["metrics"] if k not in metrics]
    return params, metrics


def results_table(records: Sequence[Record]) -> str:
    """One CSV row per cell: cell, command, seed, status, error, seconds, params, metrics."""
    params, metrics = _columns(records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    metric_names = [f"metric.{m}" if m in params else m for m in metrics]
    writer.writerow(
        ["cell", "command", "seed", "status", "error", "seconds", *params, *metric_names]
    )
    for r in records:
        writer.writerow(
            [
                r["cell"],
                r["command"],
                r["seed"],
                r["status"],
                r["error"] or "",
                f"{r['seconds']:.3f}",
            ]
            + [_text(r["params"].get(p)) for p in params]
            + [_text(r["metrics"].get(m)) for m in metrics]
        )
    return buffer.getvalue()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def _mean_std(values: list[float]) -> str:
    if not values:
        return "—"
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.4g} ± {std:.2g}"


def summary_markdown(spec: SweepSpec, records: Sequence[Record]) -> str:
    """Mean ± standard deviation over seeds of every numeric metric, per grid point."""
    by_id = {r["cell"]: r for r in records}
    grid_names = list(spec.grid)
    _, metrics = _columns(records)
    numeric = [
        m
        for m in metrics
        if any(
            isinstance(r["metrics"].get(m), (int, float))
            and not isinstance(r["metrics"].get(m), bool)
            for r in records
        )
    ]
    groups: dict[tuple[Any, ...], list[Cell]] = {}
    for cell in spec.cells():
        groups.setdefault(cell.grid_key(grid_names), []).append(cell)
    lines = [
        f"# {spec.name}: `{spec.command}` over {len(groups)} grid point(s) x "
        f"{len(spec.seeds)} seed(s)",
        "",
        f"Fixed: `{json.dumps(spec.fixed, sort_keys=True)}`. Each entry is mean ± standard "
        "deviation over the seeds that finished.",
        "",
        "| " + " | ".join([*grid_names, "ok / cells", *numeric]) + " |",
        "|" + "---|" * (len(grid_names) + 1 + len(numeric)),
    ]
    for key, cells in groups.items():
        done = [by_id[c.id] for c in cells if c.id in by_id and by_id[c.id]["status"] == "ok"]
        row = [_text(v) for v in key] + [f"{len(done)} / {len(cells)}"]
        for m in numeric:
            values = [
                float(r["metrics"][m])
                for r in done
                if isinstance(r["metrics"].get(m), (int, float))
                and math.isfinite(float(r["metrics"][m]))
            ]
            row.append(_mean_std(values))
        lines.append("| " + " | ".join(row) + " |")
    failures = [r for r in records if r["status"] != "ok"]
    if failures:
        lines += ["", "Failed cells:", ""]
        lines += [f"- `{r['cell']}` seed {r['seed']} {r['params']}: {r['error']}" for r in failures]
    return "\n".join(lines) + "\n"
