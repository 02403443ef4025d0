"""Per-layer learning rates that follow the parametrisation (paper §4, default settings).

With the authors' mean-field initialisation (first layer W ~ N(0, 1/d), output weights
a ~ N(0, 1/width²)) the output is ``f(x) = Σ_i a_i σ(w_i·x + b_i)`` with ``a_i = ã_i / width``.
A gradient step on ``w_i`` is then proportional to ``a_i``, i.e. to ``1/width``: a fixed
learning rate freezes the first layer as the student gets wider. The mean-field analyses of
two-layer networks (Mei, Montanari & Nguyen, PNAS 2018; Chizat & Bach, NeurIPS 2018) take the
rate of the first layer proportional to the width, and the maximal-update parametrisation
(μP; Yang & Hu, ICML 2021, Table 3) extends that to every layer of a deep network:

==================  ==========================  =====================
layer group         SGD / PGD                   Adam
==================  ==========================  =====================
first-layer W, b    η · width                   η
hidden weights      η                           η / width
hidden biases       η · width                   η
output weights      η / width                   η / width
==================  ==========================  =====================

(the authors' initialisation is μP's: 1/fan-in for the input and hidden layers, 1/fan-in² for
the output). Every layer then moves by O(η) per step whatever the width, so one base rate η
works across widths and depths, and training every layer (the theorem's setting) is stable.
"""

from __future__ import annotations

from dataclasses import dataclass

from derand.nn.config import TrainConfig


@dataclass(frozen=True)
class LayerRates:
    """Learning rates of each parameter group.

    Attributes
    ----------
    first_weight, first_bias, hidden_weight, hidden_bias, output : float
        The rate of each group (groups that are frozen are listed all the same).
    rule : str
        ``"mup"`` (the table in this module's docstring), ``"none"`` (every group ``lr``), with
        ``"+overrides"`` when a per-group rate was given.
    """

    first_weight: float
    first_bias: float
    hidden_weight: float
    hidden_bias: float
    output: float
    rule: str


def layer_rates(config: TrainConfig) -> LayerRates:
    """The learning rate of each layer group for ``config``.

    Parameters
    ----------
    config : TrainConfig
        Uses ``lr`` (base rate η, or its default), ``lr_scaling``, ``init``, ``optimizer``,
        ``width`` and the absolute overrides ``lr_first_weight``, ``lr_first_bias``,
        ``lr_hidden`` and ``lr_output``.

    Returns
    -------
    LayerRates

    Examples
    --------
    >>> from derand.nn import TrainConfig
    >>> r = layer_rates(TrainConfig(width=500, lr=0.05))
    >>> r.first_weight, r.hidden_weight, r.output
    (25.0, 0.05, 0.0001)
    """
    eta = config.effective_lr
    n = float(config.width)
    if not config.uses_mup:
        rates = [eta] * 5
    elif config.optimizer == "adam":
        rates = [eta, eta, eta / n, eta, eta / n]
    else:
        rates = [eta * n, eta * n, eta, eta * n, eta / n]
    overrides = [
        config.lr_first_weight,
        config.lr_first_bias,
        config.lr_hidden,
        config.lr_hidden,
        config.lr_output,
    ]
    final = [r if o is None else o for r, o in zip(rates, overrides, strict=True)]
    rule = "mup" if config.uses_mup else "none"
    if any(o is not None for o in overrides):
        rule += "+overrides"
    return LayerRates(
        first_weight=final[0],
        first_bias=final[1],
        hidden_weight=final[2],
        hidden_bias=final[3],
        output=final[4],
        rule=rule,
    )
