"""The driver of the reproduction: the experiments in order, the report and results.json."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from derand import __version__
from derand.errors import InputError
from derand.report import Report, Section, summary_table, to_html, to_markdown
from derand.reproduce.common import (
    Progress,
    ReproduceConfig,
    ReproduceResult,
    Tick,
)
from derand.reproduce.gset import gset_experiment
from derand.reproduce.jl import jl_digits_experiment, jl_experiment
from derand.reproduce.maxcut import maxcut_experiment
from derand.reproduce.nn import nn_fig3_experiment, nn_multi_index_experiment
from derand.reproduce.toy import toy_experiment
from derand.results import machine_summary, provenance, write_json, write_text
from derand.threads import default_threads

EXPERIMENTS: dict[str, Callable[[ReproduceConfig, Tick], tuple[Section, dict[str, Any]] | None]] = {
    "toy": toy_experiment,
    "nn-fig3": nn_fig3_experiment,
    "maxcut": maxcut_experiment,
    "jl": jl_experiment,
    "nn-multi-index": nn_multi_index_experiment,
    "jl-digits": jl_digits_experiment,
    "gset": gset_experiment,
}
"""Paper figures first, then ours; an experiment may return ``None`` (nothing to run)."""


def _title(experiment: Callable[..., Any]) -> str:
    """The first line of an experiment's docstring: what the progress display shows."""
    return (experiment.__doc__ or experiment.__name__).strip().splitlines()[0].rstrip(".")


def reproduce(
    config: ReproduceConfig, *, callback: Callable[[Progress], None] | None = None
) -> ReproduceResult:
    """Run every experiment; write figures, ``results.json``, ``report.md``, ``report.html``.

    The report and ``results.json`` are rewritten after each experiment, so what finished is
    on disk while the rest runs. Ctrl-C stops the whole run (also in the middle of a training
    run or a solve, whose partial result is not reported): the files then hold the finished
    experiments, and the result says ``interrupted``.

    Parameters
    ----------
    config : ReproduceConfig
        What to run and where to write.
    callback : callable, optional
        ``callback(progress)`` with a :class:`Progress` at the start of every stage.

    Returns
    -------
    ReproduceResult
        The sections, every number, the files written, the wall time, ``interrupted``.

    Examples
    --------
    >>> from pathlib import Path
    >>> result = reproduce(ReproduceConfig(Path("results"), quick=True))  # doctest: +SKIP
    >>> result.files[-1].name  # doctest: +SKIP
    'report.html'
    """
    if config.seeds < 1:
        raise InputError(f"seeds must be >= 1, got {config.seeds}")
    if config.gset_dir is not None and not config.gset_dir.is_dir():
        raise InputError(f"--gset-dir {config.gset_dir} is not a directory")
    unknown = sorted(set(config.only) - set(EXPERIMENTS))
    if unknown:
        raise InputError(
            f"unknown experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}"
        )
    selected = [f for name, f in EXPERIMENTS.items() if not config.only or name in config.only]
    start = time.perf_counter()
    config.out.mkdir(parents=True, exist_ok=True)
    sections: list[Section] = []
    numbers: dict[str, Any] = {}
    files: list[Path] = []
    interrupted = False
    for i, experiment in enumerate(selected):
        title = _title(experiment)

        def tick(stage: str, step: int, steps: int, *, _i: int = i, _title: str = title) -> None:
            if callback is not None:
                callback(Progress(_title, _i, len(selected), stage, step, steps))

        try:
            outcome = experiment(config, tick)
        except KeyboardInterrupt:
            interrupted = True
            break
        if outcome is not None:
            sections.append(outcome[0])
            numbers.update(outcome[1])
        files = _write_report(config, sections, numbers, time.perf_counter() - start, False)
    seconds = time.perf_counter() - start
    if interrupted:
        files = _write_report(config, sections, numbers, seconds, True)
    return ReproduceResult(sections, numbers, files, seconds, interrupted)


def _write_report(
    config: ReproduceConfig,
    sections: list[Section],
    numbers: dict[str, Any],
    seconds: float,
    interrupted: bool,
) -> list[Path]:
    """Write ``results.json``, ``report.md`` and ``report.html`` for the sections so far."""
    finished = len(sections)
    state = f"interrupted by Ctrl-C after {finished} experiment(s); " if interrupted else ""
    intro = [
        "Reproduction of *A Derandomization Framework for Structure Discovery* (Tsikouras, "
        "Pantis, Mitliagkas, Tzamos; ICLR 2026) by derand "
        f"{__version__}: {'quick' if config.quick else 'full'} run, {state}{config.seeds} "
        f"seed(s) per experiment, {seconds:.0f} s in all on {machine_summary()}.",
        "Numbers are mean ± standard deviation [min, max] over seeds. Rerunning with the "
        "same settings on the same machine gives the same numbers (timings aside).",
    ]
    document = {
        "quick": config.quick,
        "seeds": config.seeds,
        "gset_dir": config.gset_dir,
        "device": config.device,
        "threads": default_threads(),
        "interrupted": interrupted,
        "seconds": seconds,
        "version": __version__,
        "environment": provenance(),
        "results": numbers,
    }
    report = Report("derand: reproduction report", intro, sections, summary_table(sections))
    return [
        *(f for s in sections for f in s.figures),
        write_json(config.out / "results.json", document),
        write_text(config.out / "report.md", to_markdown(report, config.out)),
        write_text(config.out / "report.html", to_html(report, config.out)),
    ]
