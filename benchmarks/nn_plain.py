"""A plain PyTorch script doing the math of ``derand nn``'s default training loop.

What one writes from the PyTorch tutorials: an ``nn.Sequential`` student with the mean-field
initialisation, autograd, ``torch.optim.SGD`` with the same per-layer rates (μP: first layer
η·width, hidden weights η, hidden biases η·width, output η/width) and the same linear
warm-up, MSE plus λ‖W‖² on the first layer, fresh Gaussian samples every step from the same
teacher. No metrics, no certificate. ``benchmarks/nn.py`` times it against ``derand.nn.train``.

    python benchmarks/nn_plain.py --d 30 --k 2 --width 256 --depth 2 --steps 2000
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn


def plain_run(
    *, d: int, k: int, width: int, depth: int, steps: int, batch: int = 100, eta: float = 0.05,
    lam: float | None = None, warmup: int = 100, seed: int = 0,
    result: dict[str, float] | None = None,
) -> float:  # fmt: skip
    """Train as ``derand nn --until steps`` would (without its logging); returns seconds.

    Seeded: the teacher, the initialisation and the samples all come from ``seed``, so two
    calls with the same arguments train the same model (``result``, when given, receives the
    final ``loss`` and ``w_norm`` to show it, and ``cpu_seconds``: the loop's CPU time).
    """
    lam = 0.5 / width if lam is None else lam
    torch.manual_seed(seed)  # nn.Linear's and nn.init's draws: the same model for a seed
    gen = torch.Generator().manual_seed(seed)
    U = torch.linalg.qr(torch.randn(d, k, generator=gen))[0].T.contiguous()
    act = nn.Softplus(beta=2.0)
    layers: list[nn.Module] = [nn.Linear(d, width), act]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), act]
    layers.append(nn.Linear(width, 1, bias=False))
    model = nn.Sequential(*layers)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():  # mean-field (μP) initialisation
        nn.init.normal_(linears[0].weight, std=1 / math.sqrt(d))
        nn.init.normal_(linears[0].bias, std=1 / width)
        for layer in linears[1:-1]:
            nn.init.normal_(layer.weight, std=1 / math.sqrt(width))
            nn.init.normal_(layer.bias, std=1 / width)
        nn.init.normal_(linears[-1].weight, std=1 / width)
    groups = [{"params": [linears[0].weight, linears[0].bias], "lr": eta * width}]
    for layer in linears[1:-1]:
        groups += [
            {"params": [layer.weight], "lr": eta},
            {"params": [layer.bias], "lr": eta * width},
        ]
    groups.append({"params": [linears[-1].weight], "lr": eta / width})
    base = [g["lr"] for g in groups]
    opt = torch.optim.SGD(groups)
    first = linears[0]
    start = time.perf_counter()
    cpu_start = time.process_time()
    for step in range(steps):
        factor = min(1.0, (step + 1) / warmup)
        for group, rate in zip(opt.param_groups, base, strict=True):
            group["lr"] = rate * factor
        x = torch.randn(batch, d, generator=gen)
        y = torch.tanh(x @ U.T).sum(1)
        loss = ((model(x).squeeze(-1) - y) ** 2).mean() + lam * (first.weight**2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    if result is not None:
        result["cpu_seconds"] = cpu
        result["loss"] = float(loss.detach())
        result["w_norm"] = float(first.weight.detach().norm())
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name, default in [
        ("d", 30),
        ("k", 2),
        ("width", 256),
        ("depth", 1),
        ("steps", 2000),
        ("seed", 0),
    ]:
        parser.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seconds = plain_run(
        d=args.d, k=args.k, width=args.width, depth=args.depth, steps=args.steps, seed=args.seed
    )
    print(f"{args.steps} steps in {seconds:.2f} s")


if __name__ == "__main__":
    main()
