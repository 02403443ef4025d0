"""Student networks: MLPs of any depth and width with smooth activations (paper §4).

The first layer ``W x + b`` is the object of Theorem 4.1. ``ReLU_ι(x) = log(1 + e^{ιx})/ι``
(softplus with temperature ι) is the paper's smooth ReLU; plain ReLU is available only as a
labelled ablation, since the theorem needs a smooth objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from derand.errors import InputError
from derand.nn.config import ACTIVATIONS, INITS, LAYER_NAMES, SMOOTH_ACTIVATIONS

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "LAYER_NAMES",
    "SMOOTH_ACTIVATIONS",
    "Student",
    "activation_function",
]


def activation_function(name: str, iota: float = 2.0) -> Callable[[Tensor], Tensor]:
    """The activation called ``name``; ``relu-iota`` is softplus with temperature ``iota``."""
    if name == "relu-iota":
        if not (iota > 0 and math.isfinite(iota)):
            raise InputError(f"iota must be a finite number > 0, got {iota}")
        return lambda z: nn.functional.softplus(z, beta=iota)
    table: dict[str, Callable[[Tensor], Tensor]] = {
        "tanh": torch.tanh,
        "gelu": nn.functional.gelu,
        "silu": nn.functional.silu,
        "relu": torch.relu,
    }
    if name not in table:
        raise InputError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return table[name]


class Student(nn.Module):
    """``f(x) = a · σ(L_depth(... σ(W x + b)))``: ``depth`` hidden layers of ``width`` units.

    Parameters
    ----------
    d, width, depth : int
        Input dimension, hidden width and number of hidden layers (>= 1).
    activation : str
        One of ``ACTIVATIONS``; ``iota`` is the temperature of ``relu-iota``.
    init : {"authors", "standard"}
        ``"authors"``: first-layer W ~ N(0, 1/d), biases and output weights ~ N(0, 1/width²)
        (the paper's code, mean-field scale); hidden layers N(0, 1/width).
        ``"standard"``: PyTorch's default (Kaiming-uniform) initialisation.
    output_bias : bool
        Whether the output layer has a bias.
    generator : torch.Generator
        Randomness for the initialisation.
    """

    def __init__(
        self,
        d: int,
        width: int,
        *,
        depth: int = 1,
        activation: str = "relu-iota",
        iota: float = 2.0,
        init: str = "authors",
        output_bias: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if d < 1 or width < 1 or depth < 1:
            raise InputError(f"need d, width, depth >= 1, got {d}, {width}, {depth}")
        if init not in INITS:
            raise InputError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        self.activation_name = activation
        self.iota = float(iota)
        self.act = activation_function(activation, iota)
        self.first = nn.Linear(d, width)
        self.hidden = nn.ModuleList([nn.Linear(width, width) for _ in range(depth - 1)])
        self.output = nn.Linear(width, 1, bias=output_bias)
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        with torch.no_grad():
            if init == "authors":
                self._normal_(self.first.weight, 1.0 / math.sqrt(d), gen)
                self._normal_(self.first.bias, 1.0 / width, gen)
                for layer in self.hidden_layers():
                    self._normal_(layer.weight, 1.0 / math.sqrt(width), gen)
                    self._normal_(layer.bias, 1.0 / width, gen)
                self._normal_(self.output.weight, 1.0 / width, gen)
            else:
                for module in [self.first, *self.hidden_layers(), self.output]:
                    bound = 1.0 / math.sqrt(module.in_features)
                    module.weight.copy_(
                        (torch.rand(module.weight.shape, generator=gen) * 2 - 1) * bound
                    )
                    if module.bias is not None:
                        module.bias.copy_(
                            (torch.rand(module.bias.shape, generator=gen) * 2 - 1) * bound
                        )
            if self.output.bias is not None:
                self.output.bias.zero_()

    def hidden_layers(self) -> list[nn.Linear]:
        """The hidden ``Linear`` layers after the first, in order."""
        return [layer for layer in self.hidden if isinstance(layer, nn.Linear)]

    @staticmethod
    def _normal_(t: Tensor, std: float, gen: torch.Generator) -> None:
        t.copy_(torch.randn(t.shape, generator=gen) * std)

    def forward(self, x: Tensor) -> Tensor:
        """Predictions of shape (n,) for inputs (n, d)."""
        h = self.act(self.first(x))
        for layer in self.hidden_layers():
            h = self.act(layer(h))
        out: Tensor = self.output(h).squeeze(-1)
        return out

    def layer_parameters(self) -> dict[str, list[Tensor]]:
        """Parameters grouped as ``first-weight``, ``first-bias``, ``hidden``, ``output``."""
        return {
            "first-weight": [self.first.weight],
            "first-bias": [self.first.bias],
            "hidden": [p for layer in self.hidden for p in layer.parameters()],
            "output": list(self.output.parameters()),
        }
