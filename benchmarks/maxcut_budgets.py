"""Max-Cut at fixed budgets, one solver at a time: derand's CLI, MQLib and dwave-samplers SA.

Every run is a separate process measured from outside (whole-process wall time: interpreter
start, imports, reading the graph and the exit count), single-threaded, and the runs go back to
back -- never two solvers at once -- so each has one core of its own. One JSON line per run is
appended to ``--results``; a run already there is skipped, so an interrupted benchmark resumes.
``--report`` reads one or more result files and prints the tables: cuts, wins/ties/losses of
derand against each peer, mean % of the best known cut, and the distribution of derand's
whole-process wall time over its budget.

    python benchmarks/maxcut_budgets.py --gset-dir /work/shared/data/gset --all-gset \
        --budgets 1 5 --solvers derand --results results/budgets.jsonl
    python benchmarks/maxcut_budgets.py --report results/budgets.jsonl

derand: ``derand maxcut FILE --time-limit T --seed S --json OUT`` (its cut is recomputed from
the partition in OUT); BURER2002: ``MQLib -fM FILE -h BURER2002 -r T -s S``; SA: the long
anneal of :mod:`maxcut_peers` (``--worker sa``), whose budget counts from its process start.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOLVERS = ("derand", "burer", "sa")
GSET = [f"G{k}" for k in [*range(1, 68), 70, 72, 77, 81]]


def load_average() -> str:
    """``uptime``-style load averages (1, 5, 15 min)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _derand_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("derand")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "derand"]


def run_one(solver: str, path: Path, budget: float, seed: int, mqlib: Path | None) -> dict:
    """One run of ``solver`` on the graph file ``path``: its cut, wall time and trace."""
    with tempfile.TemporaryDirectory() as tmp:
        if solver == "derand":
            out = Path(tmp) / "r.json"
            cmd = [*_derand_cmd(), "maxcut", str(path), "--time-limit", f"{budget:g}",
                   "--seed", str(seed), "--json", str(out), "--quiet"]  # fmt: skip
        elif solver == "burer":
            if mqlib is None:
                raise SystemExit("maxcut_budgets: --mqlib is needed for burer")
            cmd = [str(mqlib), "-fM", str(path), "-h", "BURER2002", "-r", f"{budget:g}",
                   "-s", str(seed + 1)]  # fmt: skip
        else:
            cmd = [sys.executable, str(HERE / "maxcut_peers.py"), "--worker", "sa",
                   "--worker-spec", str(path), "--time-limit", f"{budget:g}",
                   "--seed", str(seed)]  # fmt: skip
        load = load_average()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        row: dict[str, Any] = {"wall": wall, "load": load, "rc": proc.returncode}
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
            return {**row, "error": tail[0]}
        if solver == "derand":
            row.update(_derand_row(out, path))
        elif solver == "burer":
            from maxcut_peers import parse_mqlib

            row.update(parse_mqlib(proc.stdout))
        else:
            r = json.loads(proc.stdout)
            row.update({"cut": r["cut"], "trace": r["trace"]})
        return row


def _derand_row(out: Path, path: Path) -> dict[str, Any]:
    import numpy as np

    from derand.maxcut.readers import load_graph

    doc = json.loads(out.read_text())
    r = doc.get("result", doc)
    g = load_graph(str(path))
    recomputed = g.cut_value(np.asarray(r["partition"], np.int8))
    return {
        "cut": recomputed, "reported": r["final_cut"], "bound": r["upper_bound"],
        "proven": r["bound_proven"], "seconds": r["seconds"], "moves": r["search_moves"],
        "trace": r["trace"],
    }  # fmt: skip


def run(args: argparse.Namespace) -> int:
    done: set[tuple[str, float, str, int]] = set()
    if args.results.exists():
        for line in args.results.read_text().splitlines():
            d = json.loads(line)
            done.add((d["instance"], d["budget"], d["solver"], d["seed"]))
    names = GSET if args.all_gset else args.instances
    for budget in args.budgets:
        for name in names:
            path = args.gset_dir / f"{name}.txt" if name.startswith("G") else Path(name)
            for solver in args.solvers:
                key = (name, budget, solver, args.seed)
                if key in done:
                    continue
                row = run_one(solver, path, budget, args.seed, args.mqlib)
                rec = {"instance": name, "budget": budget, "solver": solver, "seed": args.seed,
                       **row}  # fmt: skip
                with open(args.results, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                cut = row.get("cut", row.get("error"))
                print(f"{name} {budget:g} s {solver}: {cut} wall {row['wall']:.2f} "
                      f"load {row['load']}", file=sys.stderr, flush=True)  # fmt: skip
    return 0


def report(files: list[Path], wide: bool = False) -> str:
    """Tables of the runs in ``files`` (later lines replace earlier ones of the same run): per
    budget a summary line and a table, or with ``wide`` the summary lines and one table with
    a column per budget and solver (the best cut of each budget in bold)."""
    from derand.maxcut.datasets import gset_best_known

    known = {k: float(v["best_known"]) for k, v in gset_best_known().items()}
    runs: dict[tuple[str, float, str], dict[str, Any]] = {}
    for f in files:
        for line in f.read_text().splitlines():
            d = json.loads(line)
            name = d["instance"] if d["instance"].startswith("G") else Path(d["instance"]).stem
            runs[(name, d["budget"], d["solver"])] = d
    lines = []
    for budget in sorted({b for _, b, _ in runs}):
        at = {(n, s): d for (n, b, s), d in runs.items() if b == budget}
        names = sorted({n for n, _ in at}, key=lambda n: (len(n), n))
        solvers = [s for s in SOLVERS if any(k[1] == s for k in at)]
        ok = {k: d for k, d in at.items() if "error" not in d}
        loads = [float(d["load"].split()[0]) for d in at.values() if d.get("load", "?") != "?"]
        parts = [f"**{budget:g} s**"]
        if "derand" in solvers:
            for peer in (s for s in solvers if s != "derand"):
                pairs = [(ok[(n, "derand")]["cut"], ok[(n, peer)]["cut"]) for n in names
                         if (n, "derand") in ok and (n, peer) in ok]  # fmt: skip
                w = sum(a > b for a, b in pairs)
                t = sum(a == b for a, b in pairs)
                parts.append(f"derand vs {peer} {w}/{t}/{len(pairs) - w - t} (win/tie/loss, "
                             f"{100 * (w + t) / max(1, len(pairs)):.0f} % >=)")  # fmt: skip
        for s in solvers:
            ratios = [ok[(n, s)]["cut"] / known[n] for n in names if (n, s) in ok and n in known]
            errors = sum(1 for n in names if (n, s) in at and (n, s) not in ok)
            if ratios:
                tail = f" ({errors} errors)" if errors else ""
                parts.append(f"mean % of best known {s} {100 * statistics.fmean(ratios):.3f} "
                             f"over {len(ratios)}{tail}")  # fmt: skip
        for s in solvers:
            over = sorted(ok[(n, s)]["wall"] / budget for n in names if (n, s) in ok)
            if over:
                p95 = over[min(len(over) - 1, math.ceil(0.95 * len(over)) - 1)]
                parts.append(f"{s} wall/budget median {statistics.median(over):.3f}, "
                             f"95th pct {p95:.3f}, max {over[-1]:.3f}, "
                             f"> 1.05: {sum(x > 1.05 for x in over)}")  # fmt: skip
        if "derand" in solvers:
            pr = [ok[(n, "derand")] for n in names if (n, "derand") in ok]
            parts.append(f"derand bound proven {sum(bool(d['proven']) for d in pr)}/{len(pr)}, "
                         f"reported cut = recomputed "
                         f"{sum(d['cut'] == d['reported'] for d in pr)}/{len(pr)}")  # fmt: skip
        if loads:
            parts.append(f"load (1-min, at each start) {min(loads):.1f}-{max(loads):.1f}, "
                         f"median {statistics.median(loads):.1f}")  # fmt: skip
        lines.append("- " + "; ".join(parts))
        if wide:
            continue
        head = ["instance", "best known", *solvers]
        lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for n in names:
            cells = [n, f"{known[n]:.0f}" if n in known else "-"]
            best = max((ok[(n, s)]["cut"] for s in solvers if (n, s) in ok), default=math.nan)
            for s in solvers:
                d = at.get((n, s))
                if d is None:
                    cells.append("")
                elif "error" in d:
                    cells.append("error")
                else:
                    c = _cut(d["cut"])
                    cells.append(f"**{c}**" if d["cut"] == best else c)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if wide:
        lines += _wide_table(runs, known)
    return "\n".join(lines)


def _cut(x: float) -> str:
    return f"{x:.0f}" if x == round(x) else f"{x:.2f}"


def _wide_table(runs: dict[tuple[str, float, str], dict[str, Any]], known: dict[str, float]
                ) -> list[str]:  # fmt: skip
    budgets = sorted({b for _, b, _ in runs})
    cols = [(b, s) for b in budgets for s in SOLVERS if any(k[1:] == (b, s) for k in runs)]
    names = sorted({n for n, _, _ in runs}, key=lambda n: (len(n), n))
    head = ["instance", "best known", *[f"{s} {b:g} s" for b, s in cols]]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in names:
        cells = [n, f"{known[n]:.0f}" if n in known else "-"]
        for b, s in cols:
            d = runs.get((n, b, s))
            if d is None or "error" in d:
                cells.append("" if d is None else "error")
                continue
            best = max(runs[(n, b, t)]["cut"] for t in SOLVERS
                       if (n, b, t) in runs and "error" not in runs[(n, b, t)])  # fmt: skip
            c = _cut(d["cut"])
            cells.append(f"**{c}**" if d["cut"] == best else c)
        out.append("| " + " | ".join(cells) + " |")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("instances", nargs="*", default=["G1", "G14", "G18", "G22", "G43"])
    parser.add_argument("--all-gset", action="store_true", help="all 71 Gset instances")
    parser.add_argument("--gset-dir", type=Path, default=Path("/work/shared/data/gset"))
    parser.add_argument("--budgets", type=float, nargs="+", default=[1.0, 5.0])
    parser.add_argument("--solvers", nargs="+", choices=SOLVERS, default=list(SOLVERS))
    parser.add_argument("--mqlib", type=Path, help="a built MQLib binary (bin/MQLib)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=Path("budgets.jsonl"))
    parser.add_argument("--report", type=Path, nargs="+", help="print the tables of these files")
    parser.add_argument("--wide", action="store_true", help="--report: one table, all budgets")
    args = parser.parse_args()
    if args.report:
        print(report(args.report, wide=args.wide))
        return 0
    sys.path.insert(0, str(HERE))
    os.environ.setdefault("PYTHONPATH", str(HERE))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
