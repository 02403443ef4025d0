"""Ours: Max-Cut on Gset instances, against the best known cuts."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Sequence
from typing import Any

from derand.report import Section, Table
from derand.reproduce.common import ReproduceConfig, Tick, _kept
from derand.reproduce.maxcut import _maxcut_numbers


def _gset_instances(
    config: ReproduceConfig, names: Sequence[str]
) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """``(name, graph, known)`` for each instance: from ``gset_dir`` when it is given (files
    ``G1.txt``, ... and an optional ``best_known.csv``), else the instances shipped with derand."""
    import csv

    from derand.maxcut import gset_best_known, load_graph

    if config.gset_dir is None:
        shipped = gset_best_known()
        for name in names:
            yield name, load_graph(f"gset:{name}"), dict(shipped[name])
        return
    known: dict[str, dict[str, str]] = {}
    table = config.gset_dir / "best_known.csv"
    if table.exists():
        with table.open() as fh:
            known = {row["instance"]: row for row in csv.DictReader(fh)}
    for name in names:
        path = config.gset_dir / f"{name}.txt"
        if path.exists():
            row = known.get(name, {})
            values = {k: float(row[k]) if row.get(k) else None for k in ("best_known", "sdp_value")}
            yield name, load_graph(str(path)), values


def gset_experiment(config: ReproduceConfig, tick: Tick) -> tuple[Section, dict[str, Any]] | None:
    """Ours: MAXCUT on Gset instances against the best known cuts and published SDP values."""
    from derand.maxcut import solve_maxcut

    default = ["G1"] if config.quick else ["G1", "G14", "G22"]
    names = list(config.overrides.get("maxcut", {}).get("gset", default))
    if not names:
        return None
    rows, numbers = [], {}
    ratios: list[float] = []
    proven = 0
    for i, (name, graph, known) in enumerate(_gset_instances(config, names)):
        tick(f"{name} (n = {graph.n})", i, len(names))
        r = _kept(solve_maxcut(graph, seed=0))
        best = known["best_known"] if known.get("best_known") is not None else math.nan
        sdp = known["sdp_value"] if known.get("sdp_value") is not None else math.nan
        rows.append(
            [
                name,
                f"{r.n}",
                f"{sdp:.1f}",
                f"{r.sdp_value:.1f}",
                f"{r.upper_bound:.1f}",
                f"{r.gw_expected:.1f}",
                f"{r.random_best:.0f}",
                f"{r.derandomized_cut:.0f}",
                f"{r.final_cut:.0f}",
                f"{best:.0f}",
                f"{100 * r.final_cut / best:.2f} %",
                f"{r.seconds['total']:.1f}",
            ]
        )
        numbers[name] = _maxcut_numbers(r)
        ratios.append(r.final_cut / best)
        proven += bool(r.bound_proven)
    section = Section(
        "Ours: MAXCUT on Gset",
        [
            "**Not in the paper.** Default settings, seed 0; best known cuts and published SDP "
            "values from "
            + (
                "the table shipped with derand."
                if config.gset_dir is None
                else f"`{config.gset_dir / 'best_known.csv'}`."
            )
        ],
        [
            Table(
                [
                    "instance",
                    "n",
                    "published SDP",
                    "our SDP",
                    "certified bound",
                    "GW expectation",
                    "best of 1000 random",
                    "derandomized",
                    "after local search",
                    "best known",
                    "of best known",
                    "seconds",
                ],
                rows,
            )
        ],
        headline=(
            "(not in the paper) a cut and a proven bound on Gset",
            f"final / best known {100 * statistics.fmean(ratios):.2f} % on "
            f"{', '.join(numbers)}; bound proven on {proven}/{len(numbers)}",
            "best known cuts from the literature",
        ),
    )
    return section, {"maxcut_gset": numbers}
