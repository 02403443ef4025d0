"""Running a sweep's cells on a local process pool or on Ray, resumably.

Each finished cell is written at once to ``OUT/cells/<id>.json`` (atomically), so a rerun
skips it and Ctrl-C loses only the cells in flight. A failing cell is recorded with its error
and does not stop the others; reruns try failed cells again. At the end (also after Ctrl-C)
all records of the spec's cells are gathered into ``results.csv`` and ``summary.md``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing
import os
import statistics
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from derand.errors import InputError
from derand.results import write_json, write_text
from derand.sweep.runners import get_runner
from derand.sweep.spec import Cell, SweepSpec

BACKENDS = ("local", "ray")
Record = dict[str, Any]


def run_cell(cell: Record) -> Record:
    """Run one cell in this process (a worker); never raises for a failing run."""
    import torch

    torch.set_num_threads(1)  # one core per cell: no oversubscription, same numbers anywhere
    start = time.perf_counter()
    record: Record = {
        "cell": cell["id"],
        "command": cell["command"],
        "seed": cell["seed"],
        "params": cell["params"],
        "status": "ok",
        "error": None,
        "metrics": {},
    }
    try:
        record["metrics"] = get_runner(cell["command"]).run(cell["params"], cell["seed"])
    except Exception as exc:  # a failed cell is a result, not a crash of the sweep
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        record["traceback"] = traceback.format_exc()
    record["seconds"] = time.perf_counter() - start
    return record


def _local(cells: Sequence[Record], workers: int) -> Iterator[Record]:
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        futures = [pool.submit(run_cell, cell) for cell in cells]
        for future in as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _ray(cells: Sequence[Record], workers: int, address: str | None) -> Iterator[Record]:
    try:
        import ray
    except ImportError:
        raise InputError("the ray backend needs Ray: pip install 'derand[ray]'") from None
    started = not ray.is_initialized()
    if started:
        if address is None:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(run_cell)
    pending = [remote.remote(cell) for cell in cells]
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep did: cells in all, run now, skipped as done, failed, and the outputs."""

    total: int
    ran: int
    skipped: int
    failed: int
    interrupted: bool
    results_csv: Path
    summary_md: Path
    seconds: float


def _load_done(path: Path) -> Record | None:
    try:
        record: Record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("status") == "ok" else None


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
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
        Parallel cells (default: the CPU count); each cell uses one torch thread.
    callback : callable, optional
        ``callback(done, total)`` after each cell.
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise InputError("--address is only for the ray backend")
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    start = time.perf_counter()
    out = Path(out)
    cells_dir = out / "cells"
    cells = spec.cells()
    write_json(out / "spec.json", asdict(spec))
    todo = [c for c in cells if _load_done(cells_dir / f"{c.id}.json") is None]
    skipped = len(cells) - len(todo)
    ran = failed = 0
    interrupted = False
    if callback is not None:
        callback(skipped, len(cells))
    payload = [asdict(c) for c in todo]
    try:
        if payload:
            stream = (
                _local(payload, workers) if backend == "local" else _ray(payload, workers, address)
            )
            for record in stream:
                write_json(cells_dir / f"{record['cell']}.json", record)
                ran += 1
                failed += record["status"] != "ok"
                if callback is not None:
                    callback(skipped + ran, len(cells))
    except KeyboardInterrupt:
        interrupted = True
    records = []
    for cell in cells:
        path = cells_dir / f"{cell.id}.json"
        if path.exists():
            records.append(json.loads(path.read_text()))
    csv_path = write_text(out / "results.csv", results_table(records))
    md_path = write_text(out / "summary.md", summary_markdown(spec, records))
    return SweepOutcome(
        total=len(cells),
        ran=ran,
        skipped=skipped,
        failed=failed,
        interrupted=interrupted,
        results_csv=csv_path,
        summary_md=md_path,
        seconds=time.perf_counter() - start,
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
