"""Speed of ``derand nn`` against plain PyTorch doing the same math, and Figure 3 end to end.

Three tables, each measured in this one run (one torch thread everywhere):

1. Training steps per second of ``derand.nn.train`` — default settings, logging on (60 log
   points with the order parameters), certificate checks off, ``--until steps`` — against
   ``benchmarks/nn_plain.py`` (the same rates, warm-up, loss and sampling with autograd and
   ``torch.optim.SGD``), round robin, medians of ``--repeats`` of the wall time and of the CPU
   time per step. Settings include the large one (d = 100, width 1000, depth 3).
2. Where the time of the large setting goes (torch profiler, one step of each loop).
3. ``derand nn --preset fig3`` as a separate process (start-up, 20,000 steps, the
   certificate) against ``benchmarks/nn_authors_fig3.py``, a reconstruction of the authors'
   Figure 3 script from the paper's description, on the same 20,000 steps.

    python benchmarks/nn.py [--steps 2000] [--repeats 3] [--skip-fig3] [--skip-loops]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from derand.nn import TrainConfig, train
from derand.results import machine_summary
from nn_plain import plain_run

HERE = Path(__file__).resolve().parent
SETTINGS: dict[str, dict[str, Any]] = {
    "default (d=30, k=2, width 256)": {"d": 30, "k": 2, "width": 256, "depth": 1},
    "depth 2 (d=30, k=2, width 256)": {"d": 30, "k": 2, "width": 256, "depth": 2},
    "d=100, k=4, width 256": {"d": 100, "k": 4, "width": 256, "depth": 1},
    "large (d=100, width 1000, depth 3)": {"d": 100, "k": 2, "width": 1000, "depth": 3},
}


def ours(values: dict[str, Any], steps: int, *, checks: bool) -> tuple[float, float, str]:
    """Wall seconds of the loop (``result.seconds``), CPU seconds per step (from the end of
    the first step to the end of the last, through the progress callback) and the step
    kernel."""
    config = TrainConfig(
        **values, link="sum-tanh", activation="relu-iota", until="steps", steps=steps,
        certificate=checks,
    )  # fmt: skip
    marks: dict[int, float] = {}

    def callback(step: int, cap: int) -> None:
        if step == 1 or step == cap:
            marks[step] = time.process_time()

    result = train(config, callback=callback)
    cpu_step = (marks[steps] - marks[1]) / (steps - 1)
    return result.seconds, cpu_step, result.step_kernel


def loop_table(steps: int, repeats: int) -> None:
    """Round robin (each repeat runs plain, then derand, back to back); medians of
    ``repeats`` of the wall time and of the CPU time per step, with the 1-minute load."""
    print("| setting | steps | derand step | plain PyTorch (steps/s, wall) "
          "| derand, logging on (steps/s, wall) | speed-up (wall) "
          "| plain (CPU µs/step) | derand (CPU µs/step) | speed-up (CPU) | load |")  # fmt: skip
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for name, values in SETTINGS.items():
        n = steps if values["width"] < 1000 else max(steps // 4, 100)
        plain_wall, plain_cpu, mine_wall, mine_cpu, loads = [], [], [], [], []
        kernel = "?"
        for _ in range(repeats):
            loads.append(os.getloadavg()[0])
            info: dict[str, float] = {}
            plain_wall.append(plain_run(**values, steps=n, result=info))
            plain_cpu.append(info["cpu_seconds"] / n)
            wall_s, cpu_step, kernel = ours(values, n, checks=False)
            mine_wall.append(wall_s)
            mine_cpu.append(cpu_step)
        pw, mw = statistics.median(plain_wall), statistics.median(mine_wall)
        pc, mc = statistics.median(plain_cpu), statistics.median(mine_cpu)
        print(
            f"| {name} | {n} | {kernel} | {n / pw:,.0f} | {n / mw:,.0f} | {pw / mw:.2f}x "
            f"| {pc * 1e6:,.0f} | {mc * 1e6:,.0f} | {pc / mc:.2f}x "
            f"| {min(loads):.1f}–{max(loads):.1f} |",
            flush=True,
        )


def profile_large() -> None:
    from torch.profiler import profile

    values = SETTINGS["large (d=100, width 1000, depth 3)"]
    with profile() as prof:
        ours(values, 20, checks=False)
    print("derand, 20 steps of the large setting (self CPU time):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))
    with profile() as prof:
        plain_run(**values, steps=20)
    print("plain PyTorch, 20 steps of the large setting (self CPU time):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


RATIO = re.compile(r"\|\|W_perp\|\|/\|\|W\|\|(?::| =) (?:[0-9.]+ -> )?([0-9.]+)")


def wall(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds of the whole process, its CPU seconds (user + system: what the load of
    other jobs changes least) and the final ‖W_⊥‖/‖W‖ it printed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    found = RATIO.findall(done.stdout + done.stderr)
    return seconds, cpu, found[-1] if found else "?"


def fig3_table(repeats: int) -> None:
    """Whole processes, round robin (each repeat runs every command once, back to back, so a
    change of the load hits all of them alike); medians (and best) of ``repeats``, with the
    1-minute load average before each repeat."""
    derand = [sys.executable, "-m", "derand", "nn", "--preset", "fig3"]
    authors = [sys.executable, str(HERE / "nn_authors_fig3.py")]
    same_rule = ["--perturbation", "ball", "--t-thres", "100", "--gate", "all"]
    commands = {
        "authors' script (reconstruction), their noise N(0, 0.005²) per entry": authors,
        "authors' script with derand's PGD rule (ball of radius 0.005, t_thres 100)": [
            *authors,
            *same_rule,
        ],
        "derand nn --preset fig3 (with the certificate)": derand,
        "derand nn --preset fig3 --no-certificate": [*derand, "--no-certificate"],
        "derand nn --preset fig3 --backend fused-torch (the torch step)": [
            *derand,
            "--backend",
            "fused-torch",
        ],
    }
    runs: dict[str, list[tuple[float, float, str]]] = {name: [] for name in commands}
    loads: list[float] = []
    for _ in range(repeats):
        loads.append(os.getloadavg()[0])
        for name, cmd in commands.items():
            runs[name].append(wall(cmd))
    print(f"load average (1 min) before each repeat: {', '.join(f'{x:.2f}' for x in loads)}")
    print(
        "| process | wall (s), median | wall, best | CPU time (s), median | CPU, best | ‖W_⊥‖/‖W‖ |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    wall_med = {name: statistics.median(r[0] for r in rs) for name, rs in runs.items()}
    cpu_med = {name: statistics.median(r[1] for r in rs) for name, rs in runs.items()}
    for name, rs in runs.items():
        print(
            f"| {name} | {wall_med[name]:.2f} | {min(r[0] for r in rs):.2f} "
            f"| {cpu_med[name]:.2f} | {min(r[1] for r in rs):.2f} | {rs[0][2]} |"
        )
    names = list(commands)
    for label, med in (("wall", wall_med), ("CPU time", cpu_med)):
        reference = med[names[1]]
        print(
            f"\n{label} (medians): derand with its certificate is {reference / med[names[2]]:.2f}x "
            f"the speed of the reconstruction with the same rule "
            f"({med[names[0]] / med[names[2]]:.2f}x the one with the authors' noise); "
            f"without the certificate {reference / med[names[3]]:.2f}x; "
            f"with the torch step {reference / med[names[4]]:.2f}x.",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="medians of this many runs")
    parser.add_argument("--skip-fig3", action="store_true", help="skip the end-to-end table")
    parser.add_argument("--skip-loops", action="store_true", help="skip the loop table")
    parser.add_argument("--profile", action="store_true", help="profile the large setting")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {machine_summary()}; torch {torch.__version__}, 1 thread")
    print(f"load average before: {os.getloadavg()[0]:.2f} (absolute times measured under load)")
    print()
    if not args.skip_loops:
        loop_table(args.steps, args.repeats)
    if args.profile:
        print()
        profile_large()
    if not args.skip_fig3:
        print()
        fig3_table(args.repeats)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
