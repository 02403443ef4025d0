"""Peers for the Max-Cut benchmarks: dwave-samplers' simulated annealing at its strongest.

One long anneal whose sweep count fills the wall-time budget: the sweep rate is measured on a
short anneal, a geometric beta schedule over dwave's default beta range is laid over all the
sweeps the budget allows, and the anneal runs in chunks that continue from the previous
chunk's final state (``initial_states``), so the clock can be checked between chunks.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from derand.maxcut.graph import Graph


def sa_available() -> bool:
    """True when dwave-samplers is installed (the optional ``bench`` extra)."""
    try:
        import dwave.samplers  # noqa: F401
    except ImportError:
        return False
    return True


def sa_long_anneal(graph: Graph, seconds: float, seed: int, chunks: int = 40) -> dict[str, float]:
    """Best cut of one geometric-schedule anneal that lasts ``seconds`` of wall time.

    Max-Cut is the Ising problem ``min sum w_ij s_i s_j`` with ``cut = (W - E) / 2``.
    """
    import dimod
    from dwave.samplers import SimulatedAnnealingSampler
    from dwave.samplers.sa.sampler import default_beta_range

    start = time.perf_counter()
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(
        np.zeros(graph.n), (graph.u, graph.v, graph.w), 0.0, dimod.SPIN
    )
    hot, cold = default_beta_range(bqm)
    sampler = SimulatedAnnealingSampler()
    total_w = graph.total_weight()
    labels = list(range(graph.n))
    res = sampler.sample(bqm, num_reads=1, num_sweeps=1, beta_range=(hot, hot), seed=seed)
    state = np.array(res.record.sample[0])
    best = (total_w - float(res.record.energy[0])) / 2.0
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
        best = max(best, (total_w - float(res.record.energy[0])) / 2.0)
        done += part.size
        beta = float(part[-1])
        c += 1
        if beta >= cold:
            break
    return {"cut": best, "seconds": time.perf_counter() - start, "sweeps": float(done)}


# --- the harness shared by maxcut_gset.py and maxcut_families.py -------------------------------


def derand_worker(spec: str, seconds: float, seed: int, threads: int) -> dict[str, Any]:
    """Run ``solve_maxcut`` with a time limit on one graph; the numbers of one table row."""
    from derand.maxcut.graph import load_graph
    from derand.maxcut.solve import solve_maxcut

    g = load_graph(spec)
    r = solve_maxcut(g, seed=seed, time_limit=seconds, threads=threads)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {
        "n": r.n, "m": r.m, "sdp": r.sdp_value, "bound": r.upper_bound,
        "proven": r.bound_proven, "lanczos": r.upper_bound_lanczos, "note": r.bound_note,
        "derand": r.derandomized_cut, "final": r.final_cut, "seconds": r.seconds["total"],
        "stages": r.seconds, "peak_gib": peak, "trace": r.trace,
    }  # fmt: skip


def sa_worker(spec: str, seconds: float, seed: int) -> dict[str, Any]:
    """dwave-samplers' annealing on one graph for ``seconds`` (see :func:`sa_long_anneal`)."""
    from derand.maxcut.graph import load_graph

    return sa_long_anneal(load_graph(spec), seconds, seed)


def run_pair(script: str, spec: str, seconds: float, seed: int, threads: int, sa: bool) -> dict:
    """Start derand and SA at the same time, one process each, and wait for both.

    With ``threads = 1`` each gets one core of a 2-core machine for the same wall time.
    """
    base = [sys.executable, script, "--worker-spec", spec, "--time-limit", str(seconds),
            "--seed", str(seed), "--threads", str(threads)]  # fmt: skip
    procs = {"derand": subprocess.Popen([*base, "--worker", "derand"], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)}  # fmt: skip
    if sa:
        procs["sa"] = subprocess.Popen([*base, "--worker", "sa"], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)  # fmt: skip
    out: dict[str, Any] = {}
    for key, proc in procs.items():
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            tail = stderr.strip().splitlines()[-1:] if stderr.strip() else ["?"]
            out[key] = {"error": tail[0]}
        else:
            out[key] = json.loads(stdout)
    return out


def load_average() -> str:
    """``uptime``-style load averages."""
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "?"


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
