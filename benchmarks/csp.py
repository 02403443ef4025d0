"""MAX-2-SAT, MAX-DICUT and QUBO (beyond the paper): derandomized rounding against its peers.

Three measurements per family, one markdown table each, all in one run:

1. **rounding**: the derandomized threshold rounding (no search) against the best of 1000
   random hyperplanes on the same SDP vectors, and the GW expectation it must beat;
2. **exact** (n = 60): the full pipeline (``time_limit`` 1 s) against the optimum that
   python-sat's RC2 proves (MAX-2-SAT directly; MAX-DICUT and QUBO through one auxiliary
   variable per positive product term);
3. **vs SA**: the pipeline (one search thread, ``time_limit = T``) and dwave-samplers'
   simulated annealing (one long anneal filling ``T``, as in ``maxcut_peers.py``) started at
   the same time, one process each -- one core each on a 2-core machine.

Needs the ``bench`` extra (``pip install -e '.[bench]'``: python-sat, dwave-samplers).

    python benchmarks/csp.py --quick                 # the README's short version (10 s)
    python benchmarks/csp.py --time-limit 30 --instances 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

from derand.csp import QUBO, DiCut, MaxTwoSat, parse_spec
from derand.csp.solve import solve_csp
from derand.results import machine_summary


def specs(family: str, n: int, count: int, base_seed: int, *, exact: bool = False) -> list[str]:
    """Generator specs of one family: MAX-2-SAT at m = 10 n (the low end of the MaxSAT
    Evaluation's random densities), digraphs of mean out-degree 10, Beasley QUBOs.

    With ``exact`` (the RC2 table): m = 5 n and out-degree 3, which RC2 proves in seconds; at
    m = 10 n it did not finish one n = 60 instance in 40 s on our 2-core machine."""
    out = []
    density, degree = (5, 3.0) if exact else (10, 10.0)
    for k in range(count):
        seed = base_seed + k
        if family == "max2sat":
            out.append(f"max2sat:n={n},m={density * n},seed={seed}")
        elif family == "dicut":
            out.append(f"digraph:n={n},p={min(1.0, degree / n):.6g},seed={seed}")
        else:
            out.append(f"beasley:n={n},density=0.1,seed={seed}")
    return out


FAMILIES = ("max2sat", "dicut", "qubo")


def load_average() -> str:
    """``uptime``-style load averages (1, 5, 15 min)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- 1. derandomized rounding vs best of 1000 ------------------------------------------------


def rounding_table(family: str, n: int, count: int, seed: int) -> str:
    lines = [
        f"**{family}, n = {n}: derandomized rounding vs best of 1000 random hyperplanes** "
        f"(no search; load {load_average()})",
        "",
        "| instance | terms | bound | GW expectation | best of 1000 | derandomized | "
        "derandomized - best | s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    wins = 0
    for spec in specs(family, n, count, seed):
        r = solve_csp(parse_spec(spec), local=False, samples=1000, seed=0)
        wins += r.derandomized_value >= r.random_best
        lines.append(
            f"| {spec} | {r.terms} | {r.bound:.1f} | {r.gw_expected:.1f} | {r.random_best:g} | "
            f"{r.derandomized_value:g} | {r.derandomized_value - r.random_best:+g} | "
            f"{r.seconds['total']:.2f} |"
        )
    lines += ["", f"- derandomized >= best of 1000: {wins} of {count}"]
    return "\n".join(lines)


# --- 2. exact optimum by RC2 -----------------------------------------------------------------


def rc2_optimum(problem: Any) -> float:
    """The optimum of a MAX-2-SAT, MAX-DICUT or (integer) QUBO problem by RC2."""
    from pysat.examples.rc2 import RC2Stratified
    from pysat.formula import WCNF

    wcnf = WCNF()
    n = problem.n
    offset = 0.0
    if isinstance(problem, MaxTwoSat):
        for a, b, w in zip(problem.a.tolist(), problem.b.tolist(), problem.w.tolist(), strict=True):
            clause = [x for x in (a, b) if x != 0]
            if clause and w > 0:
                wcnf.append(clause, weight=int(w))
        total = float(np.sum(problem.w))
    else:
        if isinstance(problem, DiCut):  # w [x_t and not x_h]
            arcs = zip(
                problem.tail.tolist(), problem.head.tolist(), problem.w.tolist(), strict=True
            )
            terms = [(t + 1, -(h + 1), w) for t, h, w in arcs]
            linear: list[tuple[int, float]] = []
        else:
            assert isinstance(problem, QUBO) and problem.sense == "max"
            pairs = zip(problem.u.tolist(), problem.v.tolist(), problem.q.tolist(), strict=True)
            terms = [(u + 1, v + 1, q) for u, v, q in pairs]
            linear = [(i + 1, c) for i, c in enumerate(problem.c.tolist()) if c != 0]
            offset = problem.offset
        aux = n
        for a, b, w in terms:
            if w > 0:  # y <= a and b, soft y
                aux += 1
                wcnf.append([-aux, a])
                wcnf.append([-aux, b])
                wcnf.append([aux], weight=int(w))
            elif w < 0:  # w [a and b] = w + |w| [not a or not b]
                offset += w
                wcnf.append([-a, -b], weight=int(-w))
        for i, c in linear:
            if c > 0:
                wcnf.append([i], weight=int(c))
            else:
                offset += c
                wcnf.append([-i], weight=int(-c))
        total = float(sum(w for w in wcnf.wght))
    with RC2Stratified(wcnf, solver="g4", adapt=True, exhaust=True, minz=True) as solver:
        solver.compute()
        cost = float(solver.cost)
    return total - cost + offset


CLI_KIND = {"max2sat": "sat", "dicut": "dicut", "qubo": "qubo"}


def cli_run(family: str, spec: str, seconds: float) -> tuple[dict[str, Any], float]:
    """``derand csp KIND SPEC --time-limit seconds`` as a whole process (the interpreter's
    start and every import inside the limit); returns its JSON result and its wall seconds."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.json")
        cmd = [sys.executable, "-m", "derand", "csp", CLI_KIND[family], spec,
               "--time-limit", f"{seconds:g}", "--quiet", "--json", out]  # fmt: skip
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.strip()}")
        with open(out) as fh:
            return json.load(fh), wall


def exact_table(family: str, n: int, count: int, seed: int) -> str:
    lines = [
        f"**{family}, n = {n}: the pipeline (1 s) vs the optimum proven by RC2** "
        f"(load {load_average()}; 'process': the whole `derand csp --time-limit 1` process)",
        "",
        "| instance | optimum (RC2) | RC2 s | derandomized | final | optimal | bound | s | "
        "process final | process optimal | process wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    hits = hits_cli = 0
    walls = []
    for spec in specs(family, n, count, seed, exact=True):
        problem = parse_spec(spec)
        t = time.perf_counter()
        opt = rc2_optimum(problem)
        t_rc2 = time.perf_counter() - t
        r = solve_csp(problem, time_limit=1.0, seed=0)
        tol = 1e-6 * max(1.0, abs(opt))
        hit = abs(r.final_value - opt) <= tol
        hits += hit
        doc, wall = cli_run(family, spec, 1.0)
        hit_cli = abs(float(doc["final_value"]) - opt) <= tol
        hits_cli += hit_cli
        walls.append(wall)
        lines.append(
            f"| {spec} | {opt:g} | {t_rc2:.2f} | {r.derandomized_value:g} | {r.final_value:g} | "
            f"{'yes' if hit else 'no'} | {r.bound:.1f} | {r.seconds['total']:.2f} | "
            f"{doc['final_value']:g} | {'yes' if hit_cli else 'no'} | {wall:.2f} |"
        )
    lines += [
        "",
        f"- optimal: {hits} of {count} in process; {hits_cli} of {count} as a whole process, "
        f"wall {min(walls):.2f}-{max(walls):.2f} s",
    ]
    return "\n".join(lines)


# --- 3. vs dwave-samplers' SA at equal wall time ---------------------------------------------


def anneal_once(bqm: Any, sweeps: int, seed: int, start: float) -> dict[str, Any]:
    """One dwave-samplers anneal of ``sweeps`` sweeps (its default geometric schedule), for
    models of millions of terms, where every call of :func:`maxcut_peers.anneal`'s chunked
    schedule pays seconds of set-up (≈ 5.5 s at 1.24 million terms) and so gets a few sweeps
    only. Its time is what it took: a time-to-value measurement, not a fixed budget."""
    from dwave.samplers import SimulatedAnnealingSampler

    res = SimulatedAnnealingSampler().sample(bqm, num_reads=1, num_sweeps=sweeps, seed=seed)
    energy = float(res.record.energy[0])
    return {"energy": energy, "state": np.array(res.record.sample[0]), "sweeps": float(sweeps),
            "trace": [(time.perf_counter() - start, energy)]}  # fmt: skip


def sa_anneal(
    spec: str, seconds: float, seed: int, clock: str = "generate", sweeps: int = 0
) -> dict[str, Any]:
    """:func:`maxcut_peers.anneal` on the problem's Ising form (or :func:`anneal_once` of
    ``sweeps`` sweeps when ``sweeps > 0``), filling ``seconds`` counted before the instance is
    generated (``clock="generate"``, as derand's) or after dimod's model is built
    (``clock="model"``: SA is not charged for building it)."""
    import dimod

    from maxcut_peers import anneal

    start = time.perf_counter()
    problem = parse_spec(spec)
    model = problem.ising()
    sign = -1.0 if problem.sense == "max" else 1.0  # value = sign * energy
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(
        model.h, (model.u, model.v, model.J), model.offset, dimod.SPIN
    )
    built = time.perf_counter() - start
    clock_start = start if clock == "generate" else time.perf_counter()
    if sweeps > 0:
        r = anneal_once(bqm, sweeps, seed, start=clock_start)
    else:
        r = anneal(bqm, seconds, seed, start=clock_start)
    # the final state's value recomputed from the problem's own data
    value = problem.evaluate(np.asarray(r["state"], np.int8))
    best = sign * r["energy"]
    value = max(value, best) if problem.sense == "max" else min(value, best)
    trace = [(t, sign * e) for t, e in r["trace"]]
    return {"value": float(value), "seconds": time.perf_counter() - clock_start,
            "sweeps": r["sweeps"], "built": built, "trace": trace}  # fmt: skip


def first_reach(trace: list[Any], target: float, maximise: bool = True) -> float | None:
    """The first time of ``trace`` (``[(seconds, value)]``) at which ``target`` was reached."""
    for t, v in trace:
        if (v >= target) if maximise else (v <= target):
            return float(t)
    return None


def derand_run(spec: str, seconds: float, seed: int, search: str = "sa") -> dict[str, Any]:
    # the clock starts before the instance is generated, as SA's does
    start = time.perf_counter()
    problem = parse_spec(spec)
    spent = time.perf_counter() - start
    r = solve_csp(
        problem, time_limit=max(0.0, seconds - spent), seed=seed, threads=1, search=search
    )
    # the first time the final value was reached (the trace counted from the worker's start)
    reached = spent + next((t for t, v in r.trace if v == r.final_value), r.seconds["total"])
    trace = [(spent + t, v) for t, v in r.trace]
    return {"n": r.n, "terms": r.terms, "bound": r.bound, "proven": r.bound_proven,
            "derand": r.derandomized_value, "random_best": r.random_best,
            "final": r.final_value, "seconds": time.perf_counter() - start, "reached": reached,
            "trace": trace, "holds": r.guarantee_holds, "engine": r.search_engine,
            "stages": r.seconds, "rounding": r.rounding_status, "generate": spent}  # fmt: skip


def run_pair(
    spec: str, seconds: float, seed: int, search: str = "sa", sa_clock: str = "generate",
    sa_sweeps: int = 0,
) -> dict[str, Any]:  # fmt: skip
    base = [sys.executable, __file__, "--worker-spec", spec, "--time-limit", str(seconds),
            "--seed", str(seed), "--search", search, "--sa-clock", sa_clock]  # fmt: skip
    if sa_sweeps:
        base += ["--sa-sweeps", str(sa_sweeps)]
    procs = {
        key: subprocess.Popen([*base, "--worker", key], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        for key in ("derand", "sa")
    }  # fmt: skip
    out: dict[str, Any] = {}
    for key, proc in procs.items():
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            out[key] = {"error": (stderr.strip().splitlines() or ["?"])[-1]}
        else:
            out[key] = json.loads(stdout)
    return out


def sa_table(
    family: str, n: int, count: int, seed: int, seconds: float, search: str = "sa",
    sa_clock: str = "generate", sa_sweeps: int = 0,
) -> str:  # fmt: skip
    clock = "from the start" if sa_clock == "generate" else "SA's after its model is built"
    if sa_sweeps:
        clock += f"; SA one anneal of {sa_sweeps} sweeps, its own time"
    lines = [
        f"**{family}, n = {n}: pipeline vs dwave-samplers SA, {seconds:g} s each ({clock}), "
        f"one core each** (load {load_average()})",
        "",
        "| instance | terms | bound | derandomized | final | SA | final - SA | "
        "derand reached final at s | derand reached SA's at s | SA reached derand's at s | "
        "derand s | SA s | SA model s | gap to bound |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    wins, rel, overran = 0, [], 0
    misses: list[str] = []
    for spec in specs(family, n, count, seed):
        r = run_pair(spec, seconds, 0, search, sa_clock, sa_sweeps)
        d, sa = r["derand"], r["sa"]
        if "error" in d or "error" in sa:
            lines.append(f"| {spec} | error: {d.get('error') or sa.get('error')} |")
            continue
        diff = d["final"] - sa["value"]
        win = diff >= 0
        wins += win
        rel.append(diff / abs(sa["value"]) if sa["value"] else 0.0)
        gap = (d["bound"] - d["final"]) / abs(d["bound"]) if d["bound"] else 0.0
        over = max(d["seconds"], sa["seconds"]) > 1.2 * seconds
        overran += over
        to_sa = first_reach(d["trace"], sa["value"])
        to_derand = first_reach(sa["trace"], d["final"])
        if not win:
            misses.append(f"{spec}: {'never' if to_sa is None else f'{to_sa:.2f} s'}")

        def fmt(t: float | None) -> str:
            return "never" if t is None else f"{t:.2f}"

        lines.append(
            f"| {spec} | {d['terms']} | {d['bound']:.1f} | {d['derand']:.0f} | {d['final']:.0f} | "
            f"{sa['value']:.0f} | {diff:+.0f} | {d['reached']:.2f} | {fmt(to_sa)} | "
            f"{fmt(to_derand)} | {d['seconds']:.1f} | "
            f"{sa['seconds']:.1f}{' (over budget)' if over else ''} | {sa['built']:.1f} | "
            f"{100 * gap:.3f}% |"
        )
    lines += ["", f"- final >= SA: {wins} of {len(rel)}; mean (final - SA) / |SA| "
              f"{100 * float(np.mean(rel)) if rel else 0.0:+.4f}%"]  # fmt: skip
    if misses:
        lines.append("- derand reached SA's value (non-wins): " + "; ".join(misses))
    if overran:
        lines.append(f"- {overran} row(s) over budget (> 1.2 x {seconds:g} s on one side): "
                     "not an equal-time comparison")  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the README's short version")
    parser.add_argument("--instances", type=int, default=5, help="instances per table")
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds (vs SA)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000, 2500],
                        help="n of the SA comparison")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("rounding", "exact", "sa"), nargs="+",
                        default=["rounding", "exact", "sa"])  # fmt: skip
    parser.add_argument("--exact-seed", type=int, default=200, help="first seed of the RC2 table")
    parser.add_argument("--families", choices=FAMILIES, nargs="+", default=list(FAMILIES))
    parser.add_argument("--search", choices=("sa", "bls", "tabu"), default="sa",
                        help="derand's search (default: by density)")  # fmt: skip
    parser.add_argument("--sa-clock", choices=("generate", "model"), default="generate",
                        help="SA's clock starts before the instance is generated (as derand's) "
                        "or after its dimod model is built")  # fmt: skip
    parser.add_argument("--sa-sweeps", type=int, default=0,
                        help="SA as one anneal of this many sweeps, timed as it runs (for "
                        "models of millions of terms, where each chunked call pays seconds "
                        "of set-up); 0: the chunked anneal filling the time")  # fmt: skip
    parser.add_argument("--worker", choices=("derand", "sa"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker == "derand":
            out = derand_run(args.worker_spec, args.time_limit, args.seed, args.search)
        else:
            out = sa_anneal(
                args.worker_spec, args.time_limit, args.seed, args.sa_clock, args.sa_sweeps
            )
        print(json.dumps(out))
        return 0
    count = 3 if args.quick else args.instances
    seconds = args.time_limit
    sizes = args.sizes
    print(f"machine: {machine_summary()}; load at start {load_average()}\n")
    # warm the compiled kernels so that no table pays for compilation
    solve_csp(parse_spec("max2sat:n=80,m=800,seed=99"), samples=10, search_moves=10)
    for family in args.families:
        if "rounding" in args.only:
            print(rounding_table(family, 200, count, 100 + args.seed), "\n", flush=True)
        if "exact" in args.only:
            print(exact_table(family, 60, count + 2, args.exact_seed + args.seed), "\n", flush=True)
        if "sa" in args.only:
            for n in sizes:
                rows = min(count, 2) if args.quick else count
                table = sa_table(
                    family, n, rows, 300 + args.seed, seconds, args.search, args.sa_clock,
                    args.sa_sweeps,
                )  # fmt: skip
                print(table, "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
