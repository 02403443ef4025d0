"""Structure discovery with default flags over a grid of teacher–student settings (paper §4).

Each setting changes only what defines the problem (d, k, the link, the student's depth and
activation, which layers are trained, the optimiser); everything else is ``derand nn``'s
default: ``--until sosp`` with its step and time caps, the μP learning rates, the warm-up and
plateau schedule, λ = 0.5/width. One table: ‖W_⊥‖/‖W‖ from start to end, the principal
angles, steps, seconds, why the run stopped, and the final certificate on ‖W_⊥‖_F (ρ, λ_min,
the Theorem 4.1 bound where its hypotheses hold, else the first failing one) beside the
measured ‖W_⊥‖_F. The plain-ReLU student and non-Gaussian inputs lie outside the theorem and
are marked so. "≤ 0.1 at step" is the first log point where ‖W_⊥‖/‖W‖ <= 0.1 (seconds
estimated from the run's steps per second).

    python benchmarks/nn_grid.py [--only NAME ...] [--time-limit S] [--threads T]
        [--optimizer pgd|sgd|adam] [--smooth-only] [--extra]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import torch

from derand.nn import TrainConfig, train
from derand.results import machine_summary

GRID: dict[str, dict[str, Any]] = {
    "d10 k1 L1 relu-iota tanh out-frozen": {
        "d": 10,
        "k": 1,
        "link": "tanh",
        "depth": 1,
        "activation": "relu-iota",
        "freeze": ["output"],
    },
    "d10 k2 L2 gelu product": {
        "d": 10,
        "k": 2,
        "link": "product",
        "depth": 2,
        "activation": "gelu",
    },
    "d10 k2 L1 tanh sum-tanh": {"d": 10, "k": 2, "link": "sum-tanh", "activation": "tanh"},
    "d30 k1 L1 gelu hermite": {"d": 30, "k": 1, "link": "hermite", "activation": "gelu"},
    "d30 k2 L1 relu-iota product": {"d": 30, "k": 2, "link": "product"},
    "d30 k2 L2 gelu sum-tanh": {
        "d": 30,
        "k": 2,
        "link": "sum-tanh",
        "depth": 2,
        "activation": "gelu",
    },
    "d30 k4 L1 silu sum-tanh": {"d": 30, "k": 4, "link": "sum-tanh", "activation": "silu"},
    "d30 k4 L3 tanh sum-tanh": {
        "d": 30,
        "k": 4,
        "link": "sum-tanh",
        "depth": 3,
        "activation": "tanh",
    },
    "d30 k2 L2 silu sum-tanh out-frozen adam": {
        "d": 30,
        "k": 2,
        "link": "sum-tanh",
        "depth": 2,
        "activation": "silu",
        "freeze": ["output"],
        "optimizer": "adam",
    },
    "d100 k1 L3 gelu tanh": {"d": 100, "k": 1, "link": "tanh", "depth": 3, "activation": "gelu"},
    "d100 k2 L1 relu-iota sum-tanh": {"d": 100, "k": 2, "link": "sum-tanh"},
    "d100 k4 L2 relu-iota sum-tanh adam": {
        "d": 100,
        "k": 4,
        "link": "sum-tanh",
        "depth": 2,
        "optimizer": "adam",
    },
    "new-user example: d30 k3 L2 gelu seed 7": {
        "d": 30,
        "k": 3,
        "link": "sum-tanh",
        "depth": 2,
        "activation": "gelu",
        "seed": 7,
    },
    "ablation (outside the theorem): plain relu": {"d": 30, "k": 2, "activation": "relu"},
    "outside the theorem: uniform x": {"d": 30, "k": 2, "input_dist": "uniform"},
    "outside the theorem: rademacher x": {"d": 30, "k": 2, "input_dist": "rademacher"},
}

EXTRA: dict[str, dict[str, Any]] = {
    "d16 k1 L1 tanh hermite-3": {"d": 16, "k": 1, "link": "hermite", "degree": 3,
                                 "activation": "tanh"},
    "d20 k3 L1 gelu sum-tanh": {"d": 20, "k": 3, "link": "sum-tanh", "activation": "gelu"},
    "d40 k2 L1 silu product": {"d": 40, "k": 2, "link": "product", "activation": "silu"},
    "d50 k1 L2 tanh tanh": {"d": 50, "k": 1, "link": "tanh", "depth": 2, "activation": "tanh"},
    "d64 k2 L1 relu-iota sum-tanh huber": {"d": 64, "k": 2, "link": "sum-tanh", "loss": "huber"},
    "d24 k1 L1 relu-iota tanh logistic": {"d": 24, "k": 1, "link": "tanh", "loss": "logistic"},
    "d80 k3 L1 gelu sum-tanh": {"d": 80, "k": 3, "link": "sum-tanh", "activation": "gelu"},
    "d12 k2 L3 silu product": {"d": 12, "k": 2, "link": "product", "depth": 3,
                               "activation": "silu"},
    "d48 k1 L1 relu-iota hermite-2 seed 3": {"d": 48, "k": 1, "link": "hermite", "seed": 3},
    "d36 k2 L2 relu-iota sum-tanh sgd": {"d": 36, "k": 2, "link": "sum-tanh", "depth": 2,
                                         "optimizer": "sgd"},
}  # fmt: skip
"""Ten settings outside :data:`GRID` (``--extra``): other dimensions, links, degrees, depths,
losses and seeds, chosen before they were run, to check the defaults off the grid."""


def certificate_cell(result: Any) -> tuple[str, str, str]:
    """(ρ, λ_min, bound or the first failing hypothesis) of the final certificate."""
    c = result.certificate
    if c is None:
        return "—", "—", "—"
    if c.bound is not None:
        bound = f"**{c.bound:.3g}**"
    else:
        reason = c.failures[0] if c.failures else "n/a"
        bound = "n/a: " + reason.split(":")[0]
    return f"{c.grad_norm:.2g}", f"{c.lambda_min:.2g}", bound


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="substrings of the settings to run")
    parser.add_argument("--time-limit", type=float, default=120.0, help="cap per setting (s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--optimizer",
        choices=["pgd", "sgd", "adam"],
        help="run every setting with this optimiser and its default rule (rates, λ, schedule)",
    )
    parser.add_argument(
        "--smooth-only", action="store_true", help="skip the settings outside the theorem"
    )
    parser.add_argument(
        "--extra", action="store_true", help="run the ten settings of EXTRA instead of GRID"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {machine_summary()}; torch {torch.__version__}, {args.threads} thread(s)")
    print(f"load average before: {os.getloadavg()[0]:.2f} (absolute times measured under load)")
    print()
    print(
        "| setting | ‖W_⊥‖/‖W‖ start → end | ≤ 0.1 at step (≈ s) | principal angles (°) "
        "| steps | seconds | stop | PGD | test loss | ρ | λ_min | Theorem 4.1 bound "
        "| measured ‖W_⊥‖_F | initial ‖W_⊥‖_F | outcome | certified (proven K) |"
    )
    print("|---|---|---|---|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---|---|")
    for name, values in (EXTRA if args.extra else GRID).items():
        if args.only and not any(s in name for s in args.only):
            continue
        if args.smooth_only and "outside the theorem" in name:
            continue
        if args.optimizer is not None:
            values = {**values, "optimizer": args.optimizer}
        config = TrainConfig.from_dict({**values, "time_limit": args.time_limit})
        start = time.perf_counter()
        r = train(config)
        seconds = time.perf_counter() - start
        angles = ", ".join(f"{a:.1f}" for a in r.principal_angles_deg)
        rho, lmin, bound = certificate_cell(r)
        reached = next((row["step"] for row in r.log if row["perp_ratio"] <= 0.1), None)
        when = "never" if reached is None else f"{reached} (≈ {r.seconds * reached / r.steps:.0f})"
        print(
            f"| {name} | {r.perp_ratio_initial:.3f} → {r.perp_ratio_final:.4f} | {when} "
            f"| {angles} | {r.steps} | {seconds:.1f} | {r.stop_reason} | {r.n_perturbations} "
            f"| {r.test_loss:.3g} | {rho} | {lmin} | {bound} | {r.perp_norm_final:.3g} "
            f"| {r.perp_norm_initial:.3g} | {r.outcome} ({r.directions_found}/{r.config.k}, "
            f"{r.explained:.0%} explained) | {r.certified} |",
            flush=True,
        )
    print()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
