"""Max-Cut on Gset: SDP and certified bound, GW, best-of-1000, derandomized, polished.

Prints one markdown table measured in one run, with the machine it ran on. Each instance runs
in its own subprocess so that its peak memory (max RSS) is its own. When ``dwave-samplers`` is
installed, its simulated annealing gets the same wall time as our full pipeline.

    python benchmarks/maxcut_gset.py --gset-dir ../shared/data/gset G1 G14 G22 G81
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT = ("G1", "G14", "G22", "G81")


def sa_same_time(path: Path, seconds: float, seed: int) -> tuple[float, float] | None:
    """Best cut of dwave-samplers' simulated annealing within ``seconds`` (None if absent)."""
    try:
        from dwave.samplers import SimulatedAnnealingSampler
    except ImportError:
        return None
    from derand.maxcut.graph import read_rudy

    g = read_rudy(path)
    # max cut <=> min sum w_ij s_i s_j: cut = (W - sum w s s) / 2
    j = {(int(a), int(b)): float(c) for a, b, c in zip(g.u, g.v, g.w, strict=True)}
    sampler = SimulatedAnnealingSampler()
    start = time.perf_counter()
    best = -float("inf")
    t0 = time.perf_counter()
    sampler.sample_ising({}, j, num_reads=1, num_sweeps=1000, seed=seed)
    per_read = max(1e-3, time.perf_counter() - t0)
    k = 0
    while time.perf_counter() - start < seconds:
        reads = max(1, int((seconds - (time.perf_counter() - start)) / per_read))
        res = sampler.sample_ising({}, j, num_reads=min(reads, 64), num_sweeps=1000, seed=seed + k)
        k += 1
        energy = float(res.first.energy)
        best = max(best, (g.total_weight() - energy) / 2.0)
    return best, time.perf_counter() - start


def worker(path: Path, seed: int) -> dict[str, Any]:
    """Run the default pipeline on one file; returns the row's numbers."""
    from derand.maxcut.graph import read_rudy
    from derand.maxcut.solve import solve_maxcut

    t0 = time.perf_counter()
    g = read_rudy(path)
    read_s = time.perf_counter() - t0
    r = solve_maxcut(g, seed=seed)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {
        "n": r.n,
        "m": r.m,
        "sdp": r.sdp_value,
        "bound": r.upper_bound,
        "gw": r.gw_expected,
        "random_best": r.random_best,
        "derand": r.derandomized_cut,
        "final": r.final_cut,
        "guarantee": r.guarantee_holds,
        "seconds": {**r.seconds, "read": read_s},
        "peak_gib": peak,
    }


def fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def pct(value: float, ref: float | None) -> str:
    return "-" if ref is None else f"{100 * (value - ref) / ref:+.4f}%"


def ratio(value: float, ref: float | None) -> str:
    return "-" if ref is None else f"{100 * value / ref:.2f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", nargs="*", default=list(DEFAULT))
    parser.add_argument("--gset-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-sa", action="store_true", help="skip dwave-samplers")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.seed)))
        return 0

    from derand.results import machine_summary

    known: dict[str, dict[str, str]] = {}
    with open(args.gset_dir / "best_known.csv") as fh:
        for row in csv.DictReader(fh):
            known[row["instance"]] = row
    header = (
        "| instance | n | m | SDP (ours) | published SDP | SDP dev. | bound | bound over | "
        "GW E[cut] | best of 1000 | derandomized | polished | best known | polished/best | "
        "SA same time | s: SDP+bound | s: rounding | s: local search | s: total | peak GiB |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for name in args.instances:
        path = args.gset_dir / f"{name}.txt"
        proc = subprocess.run(
            [sys.executable, __file__, "--gset-dir", str(args.gset_dir), "--worker", str(path),
             "--seed", str(args.seed)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            print(f"{name}: failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            continue
        r = json.loads(proc.stdout)
        info = known.get(name, {})
        pub = float(info["sdp_value"]) if info.get("sdp_value") else None
        best = float(info["best_known"]) if info.get("best_known") else None
        sa = None if args.no_sa else sa_same_time(path, r["seconds"]["total"], args.seed)
        s = r["seconds"]
        cells = [
            name, str(r["n"]), str(r["m"]), fmt(r["sdp"]), fmt(pub), pct(r["sdp"], pub),
            fmt(r["bound"]), pct(r["bound"], pub), fmt(r["gw"], 1), fmt(r["random_best"], 0),
            fmt(r["derand"], 0), fmt(r["final"], 0), fmt(best, 0), ratio(r["final"], best),
            "-" if sa is None else fmt(sa[0], 0), fmt(s["sdp"]), fmt(s["rounding"]),
            fmt(s["local_search"]), fmt(s["total"]), fmt(r["peak_gib"]),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    print(f"Machine: {machine_summary()}")
    print()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
