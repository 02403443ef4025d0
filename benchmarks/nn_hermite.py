"""Single-index Hermite teachers He₂–He₄ with default flags (issue 22's recovery target).

For each degree and input dimension: ``derand nn --link hermite --degree D --d N --k 1``
with every other setting at its default (``--until sosp``, the μP rates, λ = 0.5/width and
its lowering at collapsed points), under ``--time-limit``. One table: the angle between the
student's top singular direction and the teacher's, the outcome, the variance explained by
the student and by the best predictor on the span found (:mod:`derand.nn.span`), ‖W_⊥‖/‖W‖,
steps, seconds and the stop. Recovered means an angle of at most 10°.

    python benchmarks/nn_hermite.py [--degrees 2 3 4] [--dims 16 32 64] [--time-limit S]
"""

from __future__ import annotations

import argparse
import os

import torch

from derand.nn import TrainConfig, train
from derand.results import machine_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--degrees", type=int, nargs="*", default=[2, 3, 4])
    parser.add_argument("--dims", type=int, nargs="*", default=[16, 32, 64])
    parser.add_argument("--time-limit", type=float, default=120.0, help="cap per run (s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {machine_summary()}; torch {torch.__version__}, 1 thread")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print()
    print(
        "| teacher | d | angle (°) | recovered | outcome | explained | span found explains "
        "| ‖W_⊥‖/‖W‖ | steps | s | stop | λ lowered |"
    )
    print("|---|---:|---:|---|---|---:|---:|---|---:|---:|---|---:|")
    hits = total = 0
    for degree in args.degrees:
        for d in args.dims:
            config = TrainConfig(
                d=d, k=1, link="hermite", degree=degree, seed=args.seed,
                time_limit=args.time_limit,
            )  # fmt: skip
            r = train(config)
            angle = r.principal_angles_deg[0]
            total += 1
            hits += angle <= 10.0
            span = "—" if r.span_fit is None else f"{r.span_fit['found_explained']:.1%}"
            lowered = sum(1 for e in r.collapse_escapes if "lam" in e)
            print(
                f"| He{degree} | {d} | {angle:.1f} | {'yes' if angle <= 10 else 'no'} "
                f"| {r.outcome} | {r.explained:.1%} | {span} "
                f"| {r.perp_ratio_initial:.3f} → {r.perp_ratio_final:.3f} | {r.steps} "
                f"| {r.seconds:.0f} | {r.stop_reason} | {lowered} |",
                flush=True,
            )
    print()
    print(f"recovered (angle ≤ 10°): {hits} of {total}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
