"""Steps per second of derand's training loop vs a plain PyTorch loop doing the same math.

The plain loop is what one writes from the PyTorch tutorials: an ``nn.Sequential`` student,
``torch.optim.SGD`` with per-group learning rates, the same teacher sampling, loss, weight
decay and PGD rule (gradient norm check every step, uniform-ball perturbation). Both run the
same number of steps on the same settings, in one process, one after the other.

    python benchmarks/nn.py [--steps N] [--repeats R]
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

from derand.core import uniform_ball
from derand.nn import PRESETS, TrainConfig, train
from derand.results import machine_summary

SETTINGS = {
    "fig3": dict(PRESETS["fig3"]),
    "multi-index": dict(PRESETS["multi-index"]),
    "large (d=100, width 1000, depth 3)": {
        **PRESETS["multi-index"],
        "d": 100,
        "k": 2,
        "depth": 3,
        "lr": 1.0,
    },
}


def plain_loop(config: TrainConfig) -> float:
    """A textbook PyTorch loop with the same math; returns seconds."""
    torch.manual_seed(config.seed)
    teacher = config.teacher()
    gen = torch.Generator().manual_seed(config.seed + 1)
    act = nn.Softplus(beta=config.iota)
    layers: list[nn.Module] = [nn.Linear(config.d, config.width), act]
    for _ in range(config.depth - 1):
        layers += [nn.Linear(config.width, config.width), act]
    layers.append(nn.Linear(config.width, 1, bias=False))
    model = nn.Sequential(*layers)
    first = model[0]
    assert isinstance(first, nn.Linear)
    model[-1].weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=config.lr)
    last_perturbation = -math.inf
    start = time.perf_counter()
    for step in range(config.steps):
        x = torch.randn(config.batch, config.d, generator=gen)
        y = teacher.h(x @ teacher.U.float().T)
        loss = ((model(x).squeeze(-1) - y) ** 2).mean() + config.lam * (first.weight**2).sum()
        opt.zero_grad()
        loss.backward()
        grad_norm = torch.sqrt(sum((p.grad**2).sum() for p in params))  # type: ignore[union-attr]
        if grad_norm < config.pgd_threshold and step - last_perturbation > config.pgd_t_thres:
            with torch.no_grad():
                noise = uniform_ball([p.shape for p in params], config.pgd_radius, generator=gen)
                for p, xi in zip(params, noise, strict=True):
                    p.add_(xi.to(p.dtype))
            last_perturbation = step
        else:
            opt.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000, help="steps per run")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"machine: {machine_summary()}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print()
    print("| setting | steps | plain PyTorch (steps/s) | derand (steps/s) | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for name, values in SETTINGS.items():
        config = TrainConfig.from_dict(
            {**values, "steps": args.steps, "certificate": False, "log_points": 2}
        )
        plain = min(plain_loop(config) for _ in range(args.repeats))
        ours = min(train(config).seconds for _ in range(args.repeats))
        print(
            f"| {name} | {args.steps} | {args.steps / plain:,.0f} | {args.steps / ours:,.0f} "
            f"| {plain / ours:.2f}x |"
        )


if __name__ == "__main__":
    main()
