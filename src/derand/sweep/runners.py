"""What one sweep cell runs: the library function behind each ``derand`` command.

A runner validates a cell's parameters and returns flat, JSON-ready metrics. Registering a
command here is all it takes to make it sweepable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from derand.errors import InputError

Metrics = dict[str, float | int | str | bool | None]


@dataclass(frozen=True)
class Runner:
    """A sweepable command.

    Attributes
    ----------
    parameters : frozenset of str
        The parameter names a spec may set (``seed`` comes from the spec's seeds).
    check : callable
        ``check(params)`` raises :class:`InputError` for invalid parameters, before any run.
    run : callable
        ``run(params, seed) -> metrics``: one run of the library function.
    """

    parameters: frozenset[str]
    check: Callable[[Mapping[str, Any]], None]
    run: Callable[[Mapping[str, Any], int], Metrics]


def _nn_config(params: Mapping[str, Any], seed: int) -> Any:
    from derand.nn import PRESETS, TrainConfig

    values = dict(params)
    preset = values.pop("preset", None)
    if preset is not None:
        if preset not in PRESETS:
            raise InputError(f"unknown nn preset {preset!r}; choose one of {', '.join(PRESETS)}")
        values = {**PRESETS[preset], **values}
    return TrainConfig.from_dict({**values, "seed": seed})


def _nn_check(params: Mapping[str, Any]) -> None:
    _nn_config(params, 0).validate()


def _nn_run(params: Mapping[str, Any], seed: int) -> Metrics:
    from derand.nn import train

    result = train(_nn_config(params, seed))
    angles = result.principal_angles_deg
    cert = result.certificate or {}
    return {
        "perp_ratio_initial": result.perp_ratio_initial,
        "perp_ratio_final": result.perp_ratio_final,
        "perp_norm_final": result.perp_norm_final,
        "max_principal_angle_deg": max(angles),
        "min_principal_angle_deg": min(angles),
        "effective_rank": result.effective_rank,
        "test_loss": result.test_loss,
        "grad_norm": cert.get("grad_norm"),
        "lambda_min": cert.get("lambda_min"),
        "bound": cert.get("bound"),
        "compressed_test_loss": result.compression["test_loss_after"],
        "train_seconds": result.seconds,
    }


def _nn_parameters() -> frozenset[str]:
    from derand.nn import TrainConfig

    return frozenset(
        {f.name for f in dataclasses.fields(TrainConfig) if f.name != "seed"} | {"preset"}
    )


RUNNERS: dict[str, Callable[[], Runner]] = {
    "nn": lambda: Runner(_nn_parameters(), _nn_check, _nn_run),
}
"""Command name -> runner factory (imports stay lazy so that workers load what they use)."""


def get_runner(command: str) -> Runner:
    """The runner for ``command``, or :class:`InputError` naming the known ones."""
    if command not in RUNNERS:
        raise InputError(f"unknown command {command!r}; sweepable: {', '.join(sorted(RUNNERS))}")
    return RUNNERS[command]()
