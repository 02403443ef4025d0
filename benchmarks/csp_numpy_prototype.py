"""The numpy prototype of issue 19, rewritten faithfully, against the compiled pipeline.

The issue's first measurements came from a throw-away numpy script: the SDP with a truth vector
by the mixing method (one row update at a time, numpy), the closed-form expectation of the
threshold rounding (bivariate normal terms by scipy's Owen's T) ascended from the best of a few
skewed starts ``t = g0 c`` by scipy's L-BFGS, then the best of 1000 random hyperplanes. This file
is that pipeline, written again from the maths (it imports nothing from derand but the problem
generators and the objective's data), so that the claim "the whole pipeline is >= 5x faster
than the prototype" can be measured rather than remembered.

For each family at n = 200 (MAX-2-SAT m = 10 n, digraphs of mean out-degree 10, Beasley QUBOs
of density 0.1) it runs, back to back in one process:

* ``prototype``: the numpy pipeline above (no search, as in the issue);
* ``derand (no search)``: ``solve_csp(local=False)`` -- SDP, proven bound, threshold rounding,
  best of 1000: the like-for-like comparison;
* ``derand (full)``: ``solve_csp()`` with its default budgets, the search included (once).

The first two are alternated ``--repeat`` times per instance; the speed-up is the ratio of the
median CPU times (see the epilog of ``--help``), with the wall-clock ratio beside it.

    python benchmarks/csp_numpy_prototype.py --instances 5 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np
import scipy.optimize as so
import scipy.sparse as sp
from scipy.special import ndtr, owens_t

from derand.csp import parse_spec
from derand.csp.convert import objective

EPILOG = """timing: the speed-up is the ratio of the median process CPU times (every thread's CPU
time counts, spinning BLAS threads included), the two pipelines alternated on each instance.
BLAS runs on one thread by default for both: the products are tiny, and on a shared 2-core
machine OpenBLAS's second thread, still spinning after one pipeline's last product, took CPU
from the next one (derand's pipeline: 0.036 s of CPU alone, 0.057-0.077 s right after the
prototype, whose own CPU time halved on one BLAS thread)."""

G0 = (3.5, 2.5, 1.73, 1.15, 0.67, 0.32)


def mixing_sdp(
    n1: int, rows: Any, p: int, seed: int, tol: float = 1e-8, sweeps: int = 5000
) -> np.ndarray:
    """``max <C, V V^T>`` over unit rows by the mixing method, one row at a time (numpy)."""
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((n1, p))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    C, idx = rows
    scale = max(1.0, 2.0 * float(np.abs(C.data).sum()))
    prev = float(np.sum(V * (C @ V)))
    for sweep in range(sweeps):
        for i in range(n1):
            cols, vals = idx[i]
            if cols.size == 0:
                continue
            g = vals @ V[cols]
            norm = float(np.linalg.norm(g))
            if norm > 1e-300:
                V[i] = g / norm
        if sweep % 10 == 9:
            value = float(np.sum(V * (C @ V)))
            if value - prev < 10 * tol * scale:
                break
            prev = value
    return V


def bvn(h: np.ndarray, k: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``P(X <= h, Y <= k)`` for standard normals of correlation ``r`` (Owen's T)."""
    h = np.where(np.abs(h) < 1e-9, np.where(h < 0, -1e-9, 1e-9), h)
    k = np.where(np.abs(k) < 1e-9, np.where(k < 0, -1e-9, 1e-9), k)
    s = np.sqrt((1 - r) * (1 + r))
    ah, ak = (k - r * h) / (h * s), (h - r * k) / (k * s)
    beta = np.where(h * k > 0, 0.0, np.where((h * k < 0) | (h + k < 0), 0.5, 0.0))
    return 0.5 * (ndtr(h) + ndtr(k)) - owens_t(h, ah) - owens_t(k, ak) - beta


class Expectation:
    """``E f(sign(U mu + tau + sigma-noise))`` in ``x = (mu, tau) / sigma``, and its gradient."""

    def __init__(self, obj: Any, U: np.ndarray) -> None:
        self.obj, self.p = obj, U.shape[1]
        self.norm = np.maximum(np.linalg.norm(U, axis=1), 1e-12)
        self.U = U
        unit = U / self.norm[:, None]
        self.r = np.clip(np.sum(unit[obj.u] * unit[obj.v], axis=1), -1 + 1e-12, 1 - 1e-12)

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        o, r = self.obj, self.r
        a = (self.U @ x[: self.p] + x[self.p :]) / self.norm
        h, k = a[o.u], a[o.v]
        # E[s_u s_v] = 1 - 2 P(s_u != s_v)
        differ = ndtr(h) + ndtr(k) - 2.0 * bvn(h, k, r)
        value = o.constant + o.h @ (2 * ndtr(a) - 1) + o.J @ (1 - 2 * differ)
        s = np.sqrt(1 - r * r)
        ph, pk = (
            np.exp(-0.5 * h * h) / np.sqrt(2 * np.pi),
            np.exp(-0.5 * k * k) / np.sqrt(2 * np.pi),
        )
        dh = -2 * o.J * ph * (1 - 2 * ndtr((k - r * h) / s))
        dk = -2 * o.J * pk * (1 - 2 * ndtr((h - r * k) / s))
        da = np.bincount(o.u, dh, o.n) + np.bincount(o.v, dk, o.n)
        da += o.h * 2 * np.exp(-0.5 * a * a) / np.sqrt(2 * np.pi)
        dt = da / self.norm
        return float(value), np.concatenate([self.U.T @ dt, dt])


def prototype(spec: str, seed: int = 0, clock: Any = time.perf_counter) -> dict[str, float]:
    """The numpy pipeline; returns its values and the seconds of its phases by ``clock``."""
    t0 = clock()
    prob = parse_spec(spec)
    obj = objective(prob)
    n = obj.n
    # homogenise: pairs (i, n) with weight h_i; C = J / 2 symmetric
    u = np.concatenate([obj.u, np.flatnonzero(obj.h)])
    v = np.concatenate([obj.v, np.full(np.count_nonzero(obj.h), n)])
    w = np.concatenate([obj.J, obj.h[obj.h != 0]])
    rows, cols = np.concatenate([u, v]), np.concatenate([v, u])
    C = sp.csr_matrix((np.concatenate([w, w]) / 2, (rows, cols)), shape=(n + 1, n + 1))
    idx = [(C.indices[C.indptr[i] : C.indptr[i + 1]], C.data[C.indptr[i] : C.indptr[i + 1]])
           for i in range(n + 1)]  # fmt: skip
    p = min(n + 1, 24, int(np.ceil(np.sqrt(2 * (n + 1)))) + 1)
    V = mixing_sdp(n + 1, (C, idx), p, seed)
    t_sdp = clock() - t0
    vt = V[n]
    c = V[:n] @ vt
    U = V[:n] - c[:, None] * vt[None, :]
    E = Expectation(obj, U)
    starts = [np.concatenate([np.zeros(p), g * c]) for g in G0]
    vals = [E(x)[0] for x in starts]
    x0 = starts[int(np.argmax(vals))]
    res = so.minimize(lambda x: tuple(-t for t in E(x)), x0, jac=True, method="L-BFGS-B",
                      options={"maxiter": 300, "gtol": 1e-9})  # fmt: skip
    x = res.x if -res.fun >= max(vals) else x0
    s = np.where(U @ x[:p] + x[p:] >= 0, 1, -1)
    derand = float(prob.evaluate(s.astype(np.int8)))
    t_round = clock() - t0 - t_sdp
    # best of 1000 random hyperplanes, read relative to the truth vector
    rng = np.random.default_rng(seed + 1)
    S = np.sign(V @ rng.standard_normal((p, 1000)))
    S[S == 0] = 1
    S = S[:n] * S[n]
    scores = obj.constant + obj.h @ S + obj.J @ (S[obj.u] * S[obj.v])
    best = float(prob.evaluate(S[:, int(np.argmax(scores))].astype(np.int8)))
    return {"derand": derand, "random_best": best, "sdp_s": t_sdp, "round_s": t_round,
            "total_s": clock() - t0}  # fmt: skip


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )  # fmt: skip
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed runs of each pipeline per instance, alternated (median)",
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS threads for both pipelines (0: the library's default)",
    )
    parser.add_argument(
        "--cpu", type=int, default=None, help="pin the process to this CPU (os.sched_setaffinity)"
    )
    parser.add_argument(
        "--no-full", action="store_true", help="skip the full pipeline (search included) column"
    )
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if args.blas_threads <= 0:
        return _run(args)
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):  # restored after
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from derand.csp.solve import solve_csp

    n, reps = args.n, max(1, args.repeat)
    families = {
        "max2sat": lambda k: f"max2sat:n={n},m={10 * n},seed={500 + k}",
        "dicut": lambda k: f"digraph:n={n},p={10 / n:.6g},seed={500 + k}",
        "qubo": lambda k: f"beasley:n={n},density=0.1,seed={500 + k}",
    }
    solve_csp(parse_spec("max2sat:n=80,m=800,seed=99"), samples=10, search_moves=10)  # warm
    prototype("max2sat:n=60,m=600,seed=99")  # scipy's first calls
    print(f"load at start {_load()}; BLAS threads {args.blas_threads or 'default'}, "
          f"{reps} alternated runs per pipeline, medians; CPU s = process CPU time\n")  # fmt: skip
    print(
        "| instance | prototype SDP / rounding / best of 1000 / total CPU s | derandomized "
        "(prototype) | derand SDP + proof / rounding + best of 1000 (wall) / total CPU s | "
        "derandomized (derand) | speed-up CPU (wall) | derand full s | final (full) | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    every: list[float] = []
    same = 0
    for family, spec_of in families.items():
        ratios = []
        for k in range(args.instances):
            spec = spec_of(k)
            protos, fast, cpu_p, cpu_d, wall_p, wall_d = [], [], [], [], [], []
            for _ in range(reps):  # alternated: prototype, derand, prototype, ...
                c, t = time.process_time(), time.perf_counter()
                protos.append(prototype(spec, clock=time.process_time))
                cpu_p.append(time.process_time() - c)
                wall_p.append(time.perf_counter() - t)
                c, t = time.process_time(), time.perf_counter()
                fast.append(solve_csp(parse_spec(spec), local=False, seed=0))
                cpu_d.append(time.process_time() - c)
                wall_d.append(time.perf_counter() - t)
            if len({r.derandomized_value for r in fast}) != 1:
                raise RuntimeError(f"{spec}: derand's runs differ")
            proto, r = protos[0], fast[0]
            same += int(proto["derand"] == r.derandomized_value)
            med = {key: float(np.median([q[key] for q in protos])) for key in proto}
            ratio = float(np.median(cpu_p) / np.median(cpu_d))
            ratios.append(ratio)
            wall_ratio = float(np.median(wall_p) / np.median(wall_d))
            best_s = med["total_s"] - med["sdp_s"] - med["round_s"]
            sdp_s = float(np.median([q.seconds["sdp"] for q in fast]))
            round_s = float(np.median([q.seconds["rounding"] for q in fast]))
            full_s, full_v = "-", "-"
            if not args.no_full:
                t = time.perf_counter()
                full = solve_csp(parse_spec(spec), seed=0)
                full_s, full_v = f"{time.perf_counter() - t:.2f}", f"{full.final_value:g}"
            print(f"| {spec} | {med['sdp_s']:.3f} / {med['round_s']:.3f} / {best_s:.3f} / "
                  f"{float(np.median(cpu_p)):.3f} | {proto['derand']:g} | {sdp_s:.3f} / "
                  f"{round_s:.3f} / {float(np.median(cpu_d)):.3f} | {r.derandomized_value:g} | "
                  f"{ratio:.1f}x ({wall_ratio:.1f}x) | {full_s} | {full_v} | "
                  f"{os.getloadavg()[0]:.2f} |", flush=True)  # fmt: skip
        every += ratios
        print(f"| **{family}: speed-up {min(ratios):.1f}x to {max(ratios):.1f}x "
              f"(median {float(np.median(ratios)):.1f}x)** ||||||||| ")  # fmt: skip
    print(
        f"\nall: speed-up {min(every):.1f}x to {max(every):.1f}x, median "
        f"{float(np.median(every)):.1f}x; >= 5x on {sum(x >= 5 for x in every)}/{len(every)}; "
        f"same derandomized value on {same}/{len(every)}"
    )
    print(f"\nload at the end {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
