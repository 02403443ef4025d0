"""Certified max pairwise distortion of DerandomizedJL vs every baseline (paper §5.2).

One run, one markdown table: digits (all 1797 points) at k = 10, 20, 30, the authors'
synthetic set (``uniform:n=100,d=500,seed=42``, k = 30, their ``norms`` objective) and a
large random set (``gaussian:n=10000,d=100,seed=0``, k = 40). Every number is the exact
maximum over all training pairs (or norms); times are wall-clock seconds for ``fit``
including the certificate. Machine information is printed first.

    python benchmarks/jl.py [--quick] [--draws N] [--large-draws N] [--threads T]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import warnings
from typing import Any

import numpy as np
import torch

from derand import __version__
from derand.jl import (
    PCAJL,
    BestOfGaussianJL,
    DerandomizedJL,
    GaussianJL,
    SparseJL,
    load_data,
)

CASES: list[tuple[str, int, str]] = [
    ("digits", 10, "pairs"),
    ("digits", 20, "pairs"),
    ("digits", 30, "pairs"),
    ("uniform:n=100,d=500,seed=42", 30, "norms"),
    ("gaussian:n=10000,d=100,seed=0", 40, "pairs"),
]


def machine() -> str:
    """One line describing the machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), numpy {np.__version__}, "
        f"Python {platform.python_version()}, derand {__version__}"
    )


def num(value: float) -> str:
    """Four decimals, or scientific notation below 1e-3."""
    return f"{value:.4f}" if value >= 1e-3 else f"{value:.1e}"


def fit(est: Any, X: np.ndarray) -> tuple[float, float]:
    """(certified max distortion, seconds)."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    return float(est.max_distortion_), time.perf_counter() - start


def main() -> None:
    """Run every case and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--draws", type=int, default=100, help="best-of-N Gaussian draws")
    parser.add_argument(
        "--large-draws", type=int, default=100, help="best-of-N draws on the large set"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch threads (use fewer when other jobs share the cores)",
    )
    parser.add_argument("--quick", action="store_true", help="digits k=20 and uniform only")
    args = parser.parse_args()
    torch.set_num_threads(max(1, args.threads))
    print(f"machine: {machine()}\n")
    cases = [CASES[1], CASES[3]] if args.quick else CASES
    header = (
        "| data | n | d | k | objective | derandomized (ours) | gaussian | sparse "
        "| best-of-N gaussian | PCA (rescaled) | ours / best-of-N | ours / PCA |"
    )
    print(header)
    print("|---" * 12 + "|")
    for spec, k, objective in cases:
        X = load_data(spec).X
        large = X.shape[0] > 5000
        draws = args.large_draws if large else args.draws
        ours, t_ours = fit(DerandomizedJL(k, objective=objective, random_state=0), X)
        gauss, t_g = fit(GaussianJL(k, objective=objective, random_state=0), X)
        sparse, t_s = fit(SparseJL(k, objective=objective, random_state=0), X)
        best, t_b = fit(BestOfGaussianJL(k, n_draws=draws, objective=objective, random_state=0), X)
        pca, t_p = fit(PCAJL(k, objective=objective), X)
        name = spec if len(spec) < 24 else spec.split(",seed")[0]
        print(
            f"| {name} | {X.shape[0]} | {X.shape[1]} | {k} | {objective} "
            f"| **{num(ours)}** ({t_ours:.1f} s) | {num(gauss)} ({t_g:.1f} s) "
            f"| {num(sparse)} ({t_s:.1f} s) | {num(best)} (N={draws}, {t_b:.1f} s) "
            f"| {num(pca)} ({t_p:.1f} s) | {num(ours / best)} | {num(ours / pca)} |",
            flush=True,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\npeak resident memory of the whole run: {peak:.2f} GiB")


if __name__ == "__main__":
    main()
