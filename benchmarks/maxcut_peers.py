"""Peers for the Max-Cut benchmarks: dwave-samplers' simulated annealing at its strongest, and
MQLib's best heuristics when a built MQLib binary is given.

SA: one long anneal whose sweep count fills the wall-time budget: the sweep rate is measured on
a short anneal, a geometric beta schedule over dwave's default beta range is laid over all the
sweeps the budget allows, and the anneal runs in chunks that continue from the previous
chunk's final state (``initial_states``), so the clock can be checked between chunks.

MQLib (Dunning, Gupta & Silberholz, "What works best when?", INFORMS J. Computing 2018):
``bin/MQLib -fM FILE -h HEURISTIC -r SECONDS -s SEED``, single-threaded; its output holds the
history of new best cuts, so time-to-target comes for free. BURER2002 (rank-2 relaxation +
local search) was the best of its 37 heuristics; PALUBECKIS2004bMST2 (iterated tabu search)
is among the next.

Run as a script, this is the time-to-target benchmark over several budgets::

    python benchmarks/maxcut_peers.py G1 G14 G18 --budgets 1 5 30 --mqlib ~/MQLib/bin/MQLib \
        --plot results/peers

For each instance and budget the solvers run in pairs, one process and one core each, side
by side (derand with SA, then the two MQLib heuristics); a table of cuts, one of the seconds
each solver needed to reach the best cut of the others (time-to-target), and, with
``--plot``, one figure of best cut against time per instance.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from derand.cli import process_age
from derand.maxcut.graph import Graph


def sa_available() -> bool:
    """True when dwave-samplers is installed (the optional ``bench`` extra)."""
    try:
        import dwave.samplers  # noqa: F401
    except ImportError:
        return False
    return True


def anneal(
    bqm: Any, seconds: float, seed: int, chunks: int = 40, start: float | None = None
) -> dict[str, Any]:
    """One geometric anneal over dwave's default beta range that lasts ``seconds`` of wall
    time, counted from ``start`` (``time.perf_counter()``; default now): chunks of sweeps,
    each continuing from the previous chunk's state, sized from the measured sweep rate --
    SA at its strongest for a fixed budget.

    Returns the lowest energy seen, the final state, the sweeps and the trace of (seconds,
    lowest energy so far) at each improvement.
    """
    from dwave.samplers import SimulatedAnnealingSampler
    from dwave.samplers.sa.sampler import default_beta_range

    if start is None:
        start = time.perf_counter()
    hot, cold = default_beta_range(bqm)
    sampler = SimulatedAnnealingSampler()
    labels = list(range(bqm.num_variables))
    res = sampler.sample(bqm, num_reads=1, num_sweeps=1, beta_range=(hot, hot), seed=seed)
    state = np.array(res.record.sample[0])
    best = float(res.record.energy[0])
    trace = [(time.perf_counter() - start, best)]
    beta, done, chunk, c, rate = hot, 1, 10, 0, 0.0
    while True:
        left = seconds - (time.perf_counter() - start)
        if left <= 0:
            break
        t0 = time.perf_counter()
        if c == 0:
            part = np.full(chunk, hot)
        else:
            remaining = max(1, int(rate * left))
            part = np.geomspace(beta, cold, remaining + 1)[1 : chunk + 1]
        res = sampler.sample(
            bqm, num_reads=1, beta_schedule_type="custom", beta_schedule=part,
            initial_states=(state[None, :], labels), seed=seed + 1 + c,
        )  # fmt: skip
        rate = part.size / max(1e-9, time.perf_counter() - t0)
        chunk = max(10, int(rate * seconds / chunks))
        state = np.array(res.record.sample[0])
        energy = float(res.record.energy[0])
        if energy < best:
            best = energy
            trace.append((time.perf_counter() - start, best))
        done += part.size
        beta = float(part[-1])
        c += 1
        if beta >= cold:
            break
    return {"energy": best, "state": state, "sweeps": float(done), "trace": trace}


def sa_long_anneal(graph: Graph, seconds: float, seed: int, chunks: int = 40) -> dict[str, Any]:
    """Best cut of one :func:`anneal` that lasts ``seconds`` of wall time.

    Max-Cut is the Ising problem ``min sum w_ij s_i s_j`` with ``cut = (W - E) / 2``.
    """
    import dimod

    start = time.perf_counter()
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(
        np.zeros(graph.n), (graph.u, graph.v, graph.w), 0.0, dimod.SPIN
    )
    total_w = graph.total_weight()
    r = anneal(bqm, seconds, seed, chunks, start)
    return {"cut": (total_w - r["energy"]) / 2.0, "seconds": time.perf_counter() - start,
            "sweeps": r["sweeps"],
            "trace": [(t, (total_w - e) / 2.0) for t, e in r["trace"]]}  # fmt: skip


# --- the harness shared by maxcut_gset.py and maxcut_families.py -------------------------------


_STARTED = time.perf_counter() - process_age()  # the process's start on the perf_counter clock


def derand_worker(spec: str, seconds: float, seed: int, threads: int) -> dict[str, Any]:
    """Run ``solve_maxcut`` with a time limit on one graph; the numbers of one table row.

    The budget counts from the worker's start (imports and loading the graph included) and
    keeps the same reserve for the exit as ``derand maxcut --time-limit``; ``trace`` times
    count from the worker's start too.
    """
    from derand.maxcut.graph import load_graph
    from derand.maxcut.solve import solve_maxcut

    g = load_graph(spec)
    offset = time.perf_counter() - _STARTED
    left = max(0.0, seconds - offset - min(0.6, 0.04 * seconds))
    r = solve_maxcut(g, seed=seed, time_limit=left, threads=threads)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {
        "n": r.n, "m": r.m, "sdp": r.sdp_value, "bound": r.upper_bound,
        "proven": r.bound_proven, "lanczos": r.upper_bound_lanczos, "note": r.bound_note,
        "derand": r.derandomized_cut, "final": r.final_cut, "cut": r.final_cut,
        "seconds": r.seconds["total"], "stages": r.seconds, "peak_gib": peak,
        "trace": [(t + offset, c) for t, c in r.trace],
    }  # fmt: skip


def sa_worker(spec: str, seconds: float, seed: int) -> dict[str, Any]:
    """dwave-samplers' annealing on one graph (see :func:`sa_long_anneal`); like derand's, its
    budget and trace count from the worker's start."""
    from derand.maxcut.graph import load_graph

    g = load_graph(spec)
    offset = time.perf_counter() - _STARTED
    r = sa_long_anneal(g, max(0.0, seconds - offset - min(0.6, 0.04 * seconds)), seed)
    r["trace"] = [(t + offset, c) for t, c in r["trace"]]
    return r


def run_pair(script: str, spec: str, seconds: float, seed: int, threads: int, sa: bool) -> dict:
    """Start derand and SA at the same time, one process each, and wait for both.

    With ``threads = 1`` each gets one core of a 2-core machine for the same wall time.
    ``wall`` is each process's whole wall time, measured from outside.
    """
    base = [sys.executable, script, "--worker-spec", spec, "--time-limit", str(seconds),
            "--seed", str(seed), "--threads", str(threads)]  # fmt: skip
    commands = {"derand": [*base, "--worker", "derand"]}
    if sa:
        commands["sa"] = [*base, "--worker", "sa"]
    return _run_together(commands, json.loads)


def _run_together(commands: dict[str, list[str]], parse: Any) -> dict[str, Any]:
    """Start every command at once, wait for all; ``parse(stdout)`` of each, with ``wall``."""
    start = time.perf_counter()
    procs = {key: subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True) for key, cmd in commands.items()}  # fmt: skip
    out: dict[str, Any] = {}
    for key, proc in procs.items():
        stdout, stderr = proc.communicate()
        wall = time.perf_counter() - start  # an upper bound for the later ones: they ran at once
        if proc.returncode != 0:
            tail = stderr.strip().splitlines()[-1:] if stderr.strip() else ["?"]
            out[key] = {"error": tail[0]}
        else:
            out[key] = {**parse(stdout), "wall": wall}
    return out


# --- MQLib ------------------------------------------------------------------------------------

MQLIB_HEURISTICS = ("BURER2002", "PALUBECKIS2004bMST2")


def write_rudy(graph: Graph, path: Path) -> None:
    """Write ``graph`` as a Gset/rudy file (``n m`` then ``i j w``, 1-based): MQLib's format."""
    with open(path, "w") as fh:
        fh.write(f"{graph.n} {graph.m}\n")
        for a, b, w in zip(graph.u.tolist(), graph.v.tolist(), graph.w.tolist(), strict=True):
            fh.write(f"{a + 1} {b + 1} {w:.17g}\n")


def parse_mqlib(stdout: str) -> dict[str, Any]:
    """MQLib's first output line: ``limit,heuristic,"file",best,seconds,[v:t;v:t;...]``."""
    line = next(ln for ln in stdout.splitlines() if ln.strip())
    head, _, history = line.partition("[")
    fields = head.rstrip(",").split(",")
    trace = []
    for item in history.rstrip("]").split(";"):
        if ":" in item:
            value, t = item.split(":")
            trace.append((float(t), float(value)))
    return {"cut": float(fields[-2]), "seconds": float(fields[-1]), "trace": trace}


def run_mqlib_pair(binary: Path, graph: Graph, seconds: float, seed: int) -> dict[str, Any]:
    """The two MQLib heuristics side by side, one process each, ``-r seconds``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "graph.txt"
        write_rudy(graph, path)
        commands = {
            h: [str(binary), "-fM", str(path), "-h", h, "-r", f"{seconds:g}", "-s", str(seed + 1)]
            for h in MQLIB_HEURISTICS
        }
        return _run_together(commands, parse_mqlib)


# --- time to target ---------------------------------------------------------------------------


def time_to(trace: list[tuple[float, float]], target: float) -> float:
    """Seconds at which ``trace`` (``(seconds, best cut)``) first reaches ``target``; inf if
    never."""
    for t, c in trace:
        if c >= target - 1e-9:
            return float(t)
    return math.inf


def ttt_table(rows: list[tuple[str, float, dict[str, Any]]]) -> str:
    """Markdown: per instance and budget, each solver's cut and the seconds it needed to reach
    the best cut of the *others* in the same budget (``-`` when it never did)."""
    solvers = sorted({k for _, _, r in rows for k in r}, key=_order)
    head = ["instance", "budget s", *[f"{k} cut" for k in solvers],
            *[f"{k} s to others' best" for k in solvers]]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, budget, r in rows:
        ok = {k: v for k, v in r.items() if "error" not in v}
        cuts = [f"{ok[k]['cut']:.0f}" if k in ok else "error" for k in solvers]
        ttts = []
        for k in solvers:
            others = [ok[o]["cut"] for o in ok if o != k]
            if k not in ok or not others:
                ttts.append("-")
                continue
            t = time_to(ok[k]["trace"], max(others))
            ttts.append("-" if math.isinf(t) else f"{t:.2f}")
        lines.append("| " + " | ".join([name, f"{budget:g}", *cuts, *ttts]) + " |")
    return "\n".join(lines)


def summary(rows: list[tuple[str, float, dict[str, Any]]], known: dict[str, float]) -> str:
    """Per budget: derand's wins/ties/losses against each peer, mean % of best known, and the
    largest whole-process wall time of derand over its budget."""
    out = []
    for budget in sorted({b for _, b, _ in rows}):
        at = [(n, r) for n, b, r in rows if b == budget and "error" not in r.get("derand", {})]
        if not at:
            continue
        parts = [f"**{budget:g} s** ({len(at)} instances)"]
        peers = sorted({k for _, r in at for k in r if k != "derand"}, key=_order)
        for p in peers:
            pairs = [(r["derand"]["cut"], r[p]["cut"]) for _, r in at if _ok(r, p)]
            w = sum(d > c for d, c in pairs)
            t = sum(d == c for d, c in pairs)
            parts.append(f"vs {p} {w}/{t}/{len(pairs) - w - t} (win/tie/loss)")
        for k in ["derand", *peers]:
            ratios = [r[k]["cut"] / known[n] for n, r in at if n in known and _ok(r, k)]
            if ratios:
                parts.append(f"mean % of best known {k} {100 * sum(ratios) / len(ratios):.2f}")
        walls = [r["derand"]["wall"] / budget for _, r in at]
        parts.append(f"derand whole-process wall / budget at most {max(walls):.3f}")
        out.append("- " + "; ".join(parts))
    return "\n".join(out)


def _ok(r: dict[str, Any], key: str) -> bool:
    return key in r and "error" not in r[key]


def _order(key: str) -> tuple[int, str]:
    return ({"derand": 0, "sa": 1}.get(key, 2), key)


def plot_curves(rows: list[tuple[str, float, dict[str, Any]]], out_dir: Path) -> list[Path]:
    """One PNG per instance: best cut against time, every solver, every budget."""
    from matplotlib.figure import Figure

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in dict.fromkeys(n for n, _, _ in rows):
        fig = Figure(figsize=(6.4, 4.0))
        ax = fig.add_subplot()
        for _, budget, r in (row for row in rows if row[0] == name):
            for k, v in sorted(r.items(), key=lambda kv: _order(kv[0])):
                if "error" in v or not v["trace"]:
                    continue
                ts = [t for t, _ in v["trace"]] + [budget]
                cs = [c for _, c in v["trace"]] + [v["trace"][-1][1]]
                ax.step(ts, cs, where="post", label=f"{k}, {budget:g} s")
        ax.set_xscale("log")
        ax.set_xlabel("seconds (log)")
        ax.set_ylabel("best cut")
        ax.set_title(f"{name}: best cut against time")
        lo = [v["cut"] for n, _, r in rows if n == name for v in r.values() if "error" not in v]
        if lo:
            ax.set_ylim(0.99 * min(lo), 1.001 * max(lo))
        ax.legend(fontsize=7)
        path = out_dir / f"peers_{name.replace(':', '_').replace(',', '_')}.png"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        paths.append(path)
    return paths


def load_average() -> str:
    """``uptime``-style load averages (1, 5, 15 min)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def worker_main(args: argparse.Namespace) -> int:
    """The ``--worker`` entry of the benchmark scripts: print one JSON object."""
    if args.worker == "derand":
        print(json.dumps(derand_worker(args.worker_spec, args.time_limit, args.seed, args.threads)))
    else:
        print(json.dumps(sa_worker(args.worker_spec, args.time_limit, args.seed)))
    return 0


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per instance")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="derand search threads")
    parser.add_argument("--no-sa", action="store_true", help="skip dwave-samplers")
    parser.add_argument("--results", type=Path, help="append one JSON line per instance here")
    parser.add_argument("--worker", choices=("derand", "sa"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-spec", help=argparse.SUPPRESS)


def row_cells(name: str, r: dict[str, Any], best: float | None) -> tuple[list[str], dict]:
    """Markdown cells of one instance and its numbers for the summary."""
    d, sa = r["derand"], r.get("sa")
    if "error" in d:
        return [name, "-", "-", "-", "-", "-", "-", "-", "-", f"error: {d['error']}"], {}
    sa_cut = None if not sa or "error" in sa else float(sa["cut"])
    excess = (d["bound"] - d["lanczos"]) / abs(d["lanczos"]) if d["lanczos"] else 0.0
    cells = [
        name, str(d["n"]), "-" if best is None else f"{best:.0f}", f"{d['sdp']:.2f}",
        (f"{d['bound']:.2f}" if d["proven"] else f"{d['bound']:.2f} (Lanczos)"),
        f"{100 * excess:+.5f}%", f"{d['derand']:.0f}", f"{d['final']:.0f}",
        "-" if best is None else f"{100 * d['final'] / best:.2f}%",
        "-" if sa_cut is None else f"{sa_cut:.0f}",
        "-" if sa_cut is None else f"{d['final'] - sa_cut:+.0f}",
        f"{d['seconds']:.1f}", f"{d['peak_gib']:.2f}",
    ]  # fmt: skip
    stats = {"ratio": None if best is None else d["final"] / best, "sa": sa_cut,
             "final": d["final"], "proven": d["proven"], "excess": excess}  # fmt: skip
    return cells, stats


HEADER = (
    "| instance | n | best known | SDP | bound (proven) | bound - Lanczos | derandomized | "
    "final | final / best | SA, same time | final - SA | s | peak GiB |"
)


def table(rows: list[tuple[str, dict[str, Any], float | None]]) -> str:
    """The markdown table with its summary rows."""
    lines = [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    stats = []
    for name, r, best in rows:
        cells, st = row_cells(name, r, best)
        lines.append("| " + " | ".join(cells) + " |")
        if st:
            stats.append(st)
    ratios = [s["ratio"] for s in stats if s["ratio"] is not None]
    with_sa = [s for s in stats if s["sa"] is not None]
    wins = sum(s["final"] >= s["sa"] for s in with_sa)
    lines.append("")
    if ratios:
        lines.append(f"- mean final / best known: {100 * sum(ratios) / len(ratios):.3f}% "
                     f"over {len(ratios)} instances")  # fmt: skip
    if with_sa:
        lines.append(f"- derand final >= SA: {wins} of {len(with_sa)} instances")
    proven = sum(bool(s["proven"]) for s in stats)
    lines.append(f"- bound proven: {proven} of {len(stats)}; largest excess over the Lanczos "
                 f"bound {100 * max((s['excess'] for s in stats), default=0):.6f}%")  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    """Time-to-target over several budgets: derand, SA and (with ``--mqlib``) MQLib."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("instances", nargs="*", default=["G1", "G14", "G18", "G22", "G43"])
    parser.add_argument("--budgets", type=float, nargs="+", default=[1.0, 5.0, 30.0])
    parser.add_argument("--gset-dir", type=Path, help="read G<k>.txt from here")
    parser.add_argument("--mqlib", type=Path, help="a built MQLib binary (bin/MQLib)")
    parser.add_argument("--plot", type=Path, help="write cut-against-time PNGs here")
    add_worker_options(parser)
    args = parser.parse_args()
    if args.worker is not None:
        return worker_main(args)
    if args.mqlib is not None and not os.access(args.mqlib, os.X_OK):
        print(f"maxcut_peers: error: --mqlib {args.mqlib} is not an executable", file=sys.stderr)
        return 2

    from derand.maxcut.graph import gset_best_known, load_graph
    from derand.results import machine_summary

    known = {k: float(v["best_known"]) for k, v in gset_best_known().items()}
    sa = not args.no_sa and sa_available()
    rows: list[tuple[str, float, dict[str, Any]]] = []
    load_before = load_average()
    for name in args.instances:
        spec = str(args.gset_dir / f"{name}.txt") if args.gset_dir else f"gset:{name}"
        if not name.startswith("G"):
            spec = name
        graph = load_graph(spec)
        for budget in args.budgets:
            r = run_pair(__file__, spec, budget, args.seed, args.threads, sa)
            if args.mqlib is not None:
                r.update(run_mqlib_pair(args.mqlib, graph, budget, args.seed))
            rows.append((name, budget, r))
            if args.results is not None:
                with open(args.results, "a") as fh:
                    fh.write(json.dumps({"instance": name, "budget": budget, **r}) + "\n")
            cuts = {k: v.get("cut", v.get("error")) for k, v in r.items()}
            print(f"{name} {budget:g} s: {json.dumps(cuts)} load {load_average()}",
                  file=sys.stderr, flush=True)  # fmt: skip
    print(f"Machine: {machine_summary()}; load average before {load_before}, "
          f"after {load_average()}.")  # fmt: skip
    print("Pairs side by side, one process and one core each: derand (1 search thread) with "
          "SA, then the MQLib heuristics.\n")  # fmt: skip
    print(ttt_table(rows))
    print()
    print(summary(rows, known))
    if args.plot is not None:
        for path in plot_curves(rows, args.plot):
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
