"""The driver of the reproduction: the experiments in order, the report and results.json."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from derand import __version__
from derand.errors import InputError
from derand.report import Report, Section, Table, summary_table, to_html, to_markdown
from derand.reproduce.common import (
    Progress,
    ReproduceConfig,
    ReproduceResult,
    Tick,
)
from derand.reproduce.csp import csp_experiment
from derand.reproduce.gset import gset_experiment
from derand.reproduce.jl import jl_digits_experiment, jl_experiment
from derand.reproduce.maxcut import maxcut_experiment
from derand.reproduce.nn import nn_fig3_experiment, nn_multi_index_experiment
from derand.reproduce.toy import toy_experiment
from derand.results import jsonable, machine_summary, provenance, write_json, write_text
from derand.threads import default_threads

EXPERIMENTS: dict[str, Callable[[ReproduceConfig, Tick], tuple[Section, dict[str, Any]] | None]] = {
    "toy": toy_experiment,
    "nn-fig3": nn_fig3_experiment,
    "maxcut": maxcut_experiment,
    "jl": jl_experiment,
    "nn-multi-index": nn_multi_index_experiment,
    "jl-digits": jl_digits_experiment,
    "gset": gset_experiment,
    "csp": csp_experiment,
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

    With ``only`` (some experiments) into a folder that holds a report of the same settings
    (``quick``, ``seeds``, ``gset_dir``, ``device``, overrides), the report is merged: the
    experiments run now replace their sections, numbers and figures, the others are kept
    from ``results.json`` as they were. A report of other settings, or one that cannot be
    read back, is an :class:`~derand.errors.InputError` before any work (merging would mix
    settings in one report). A run of every experiment replaces the report. Either way the
    figures of the previous report that the new one does not show are removed, so no stale
    figure is left next to it.

    Parameters
    ----------
    config : ReproduceConfig
        What to run and where to write.
    callback : callable, optional
        ``callback(progress)`` with a :class:`Progress` at the start of every stage.

    Returns
    -------
    ReproduceResult
        The report's sections (kept ones included), every number, the files written, the
        wall time, ``interrupted``.

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
    names = [name for name in EXPERIMENTS if not config.only or name in config.only]
    previous = _previous(config)
    kept = {} if not config.only else _kept_entries(config, previous, names)
    start = time.perf_counter()
    config.out.mkdir(parents=True, exist_ok=True)
    entries: dict[str, _Entry] = {}
    numbers: dict[str, Any] = {}
    interrupted = False
    for i, name in enumerate(names):
        experiment = EXPERIMENTS[name]
        title = _title(experiment)

        def tick(stage: str, step: int, steps: int, *, _i: int = i, _title: str = title) -> None:
            if callback is not None:
                callback(Progress(_title, _i, len(names), stage, step, steps))

        try:
            outcome = experiment(config, tick)
        except KeyboardInterrupt:
            interrupted = True
            break
        if outcome is not None:
            entries[name] = _Entry(outcome[0], outcome[1])
        _write_report(config, entries, kept, previous, time.perf_counter() - start, False)
    seconds = time.perf_counter() - start
    sections, numbers, files = _write_report(config, entries, kept, previous, seconds, interrupted)
    return ReproduceResult(sections, numbers, files, seconds, interrupted)


@dataclass
class _Entry:
    """One experiment in the report: its section and its numbers (keys of ``results``)."""

    section: Section
    numbers: dict[str, Any]


_SETTINGS = ("quick", "seeds", "gset_dir", "device", "overrides")
"""What a merged report must share: the numbers of one report come from one setting."""
_MAX_RESULTS_BYTES = 256 * 2**20


def _settings(config: ReproduceConfig) -> dict[str, Any]:
    values = {
        "quick": config.quick,
        "seeds": config.seeds,
        "gset_dir": config.gset_dir,
        "device": config.device,
        "overrides": config.overrides,
    }
    return dict(jsonable(values))


def _describe(settings: Mapping[str, Any]) -> str:
    text = (
        f"{'quick' if settings.get('quick') else 'full'} run with {settings.get('seeds')} seed(s)"
    )
    if settings.get("gset_dir") is not None:
        text += f", Gset from {settings['gset_dir']}"
    if settings.get("device", "cpu") != "cpu":
        text += f" on {settings['device']}"
    if settings.get("overrides"):
        text += f", overrides {json.dumps(settings['overrides'], sort_keys=True)}"
    return text


def _previous(config: ReproduceConfig) -> dict[str, Any] | None:
    """The ``results.json`` already in ``config.out`` as written by :func:`reproduce`; ``None``
    when there is none; with ``only``, one that cannot be merged is an InputError."""
    path = config.out / "results.json"
    if not path.exists():
        return None
    problem = ""
    document: Any = None
    try:
        if path.stat().st_size > _MAX_RESULTS_BYTES:
            problem = f"larger than {_MAX_RESULTS_BYTES >> 20} MiB"
        else:
            document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problem = f"unreadable ({type(exc).__name__})"
    if not problem and not (
        isinstance(document, dict)
        and isinstance(document.get("experiments"), dict)
        and isinstance(document.get("results"), dict)
    ):
        problem = "not a report of this derand version (no per-experiment sections)"
    if problem:
        if config.only:
            raise InputError(
                f"--out {config.out} holds a results.json that cannot be merged with --only "
                f"({problem}); run every experiment there, or choose another --out"
            )
        return None
    assert isinstance(document, dict)
    settings = _settings(config)
    old = {key: document.get(key) for key in _SETTINGS}
    if config.only and old != settings:
        raise InputError(
            f"--out {config.out} holds the report of a {_describe(old)}; this --only run is a "
            f"{_describe(settings)}: merging would mix settings in one report; use the same "
            "settings, run every experiment, or choose another --out"
        )
    return document


def _section_from(data: Any, out: Path) -> Section:
    return Section(
        title=str(data["title"]),
        paragraphs=[str(p) for p in data["paragraphs"]],
        tables=[Table(list(t["header"]), [list(r) for r in t["rows"]]) for t in data["tables"]],
        figures=[out / str(name) for name in data["figures"]],
        headline=None if data.get("headline") is None else tuple(data["headline"]),
    )


def _section_to(section: Section) -> dict[str, Any]:
    data = dict(jsonable(section))
    data["figures"] = [Path(f).name for f in section.figures]
    return data


def _kept_entries(
    config: ReproduceConfig, previous: dict[str, Any] | None, names: list[str]
) -> dict[str, _Entry]:
    """The experiments of the previous report that this run does not rerun."""
    if previous is None:
        return {}
    kept: dict[str, _Entry] = {}
    results = previous["results"]
    for name, entry in previous["experiments"].items():
        if name in names or name not in EXPERIMENTS:
            continue
        try:
            section = _section_from(entry["section"], config.out)
            numbers = {key: results[key] for key in entry["numbers"]}
        except (KeyError, TypeError, ValueError):
            raise InputError(
                f"--out {config.out}: results.json has a damaged entry for {name!r}; run every "
                "experiment there, or choose another --out"
            ) from None
        missing = [f.name for f in section.figures if not f.is_file()]
        if missing:
            raise InputError(
                f"--out {config.out}: the figure {missing[0]} of the kept experiment {name!r} "
                f"is missing; add {name} to --only, or choose another --out"
            )
        kept[name] = _Entry(section, numbers)
    return kept


def _write_report(
    config: ReproduceConfig,
    entries: dict[str, _Entry],
    kept: dict[str, _Entry],
    previous: dict[str, Any] | None,
    seconds: float,
    interrupted: bool,
) -> tuple[list[Section], dict[str, Any], list[Path]]:
    """Write ``results.json``, ``report.md`` and ``report.html`` for the sections so far (the
    experiments run now, and those kept from the previous report); remove the previous
    report's figures that the new one does not show."""
    ordered = {
        name: entries.get(name) or kept[name]
        for name in EXPERIMENTS
        if name in entries or name in kept
    }
    sections = [entry.section for entry in ordered.values()]
    numbers: dict[str, Any] = {}
    for entry in ordered.values():
        numbers.update(entry.numbers)
    state = f"interrupted by Ctrl-C after {len(entries)} experiment(s); " if interrupted else ""
    intro = [
        "Reproduction of *A Derandomization Framework for Structure Discovery* (Tsikouras, "
        "Pantis, Mitliagkas, Tzamos; ICLR 2026) by derand "
        f"{__version__}: {'quick' if config.quick else 'full'} run, {state}{config.seeds} "
        f"seed(s) per experiment, {seconds:.0f} s in all on {machine_summary()}.",
        "Numbers are mean ± standard deviation [min, max] over seeds. Rerunning with the "
        "same settings on the same machine gives the same numbers (timings aside).",
    ]
    if kept:
        titles = ", ".join(entry.section.title for entry in kept.values())
        intro.append(
            f"This run (`--only {' '.join(config.only)}`) rewrote {len(entries)} section(s); "
            f"kept from the earlier run with the same settings: {titles}."
        )
    document = {
        **_settings(config),
        "threads": default_threads(),
        "interrupted": interrupted,
        "seconds": seconds,
        "version": __version__,
        "environment": provenance(),
        "experiments": {
            name: {"section": _section_to(entry.section), "numbers": sorted(entry.numbers)}
            for name, entry in ordered.items()
        },
        "results": numbers,
    }
    report = Report("derand: reproduction report", intro, sections, summary_table(sections))
    files = [
        *(f for s in sections for f in s.figures),
        write_json(config.out / "results.json", document),
        write_text(config.out / "report.md", to_markdown(report, config.out)),
        write_text(config.out / "report.html", to_html(report, config.out)),
    ]
    _remove_stale_figures(config.out, previous, {f.name for s in sections for f in s.figures})
    return sections, numbers, files


def _remove_stale_figures(out: Path, previous: dict[str, Any] | None, shown: set[str]) -> None:
    """Delete the figures the previous report listed and the new one does not show; only
    names that report wrote (plain ``*.png`` names in ``out``) are touched."""
    if previous is None:
        return
    for entry in previous["experiments"].values():
        try:
            figures = [str(name) for name in entry["section"]["figures"]]
        except (KeyError, TypeError):
            continue
        for name in figures:
            if name in shown or Path(name).name != name or not name.endswith(".png"):
                continue
            try:
                (out / name).unlink()
            except FileNotFoundError:
                pass
