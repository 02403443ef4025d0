"""What one sweep cell runs: the library function behind each ``derand`` command.

A runner validates a cell's parameters and returns flat, JSON-ready metrics. Registering a
command here is all it takes to make it sweepable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    types : mapping of str to type
        The TOML type each parameter must have (``bool``, ``int``, ``float``, ``str``),
        checked by the spec before ``check``: ``local_search = "false"`` is an error, not
        a true value. Parameters not listed are left to ``check``.
    """

    parameters: frozenset[str]
    check: Callable[[Mapping[str, Any]], None]
    run: Callable[[Mapping[str, Any], int], Metrics]
    types: Mapping[str, type] = field(default_factory=dict)


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
    _nn_config(params, 0)  # validated when built


def _nn_run(params: Mapping[str, Any], seed: int) -> Metrics:
    from derand.nn import train

    result = train(_nn_config(params, seed))
    angles = result.principal_angles_deg
    cert = result.certificate
    return {
        "perp_ratio_initial": result.perp_ratio_initial,
        "perp_ratio_final": result.perp_ratio_final,
        "perp_norm_final": result.perp_norm_final,
        "max_principal_angle_deg": max(angles),
        "min_principal_angle_deg": min(angles),
        "effective_rank": result.effective_rank,
        "test_loss": result.test_loss,
        "grad_norm": None if cert is None else cert.grad_norm,
        "lambda_min": None if cert is None else cert.lambda_min,
        "bound": None if cert is None else cert.bound,
        "compressed_test_loss": result.compression.test_loss_after,
        "train_seconds": result.seconds,
        "stop_reason": result.stop_reason,
        "steps": result.steps,
    }


def _nn_parameters() -> frozenset[str]:
    from derand.nn import TrainConfig

    return frozenset(
        {f.name for f in dataclasses.fields(TrainConfig) if f.name != "seed"} | {"preset"}
    )


_MAXCUT_TYPES: dict[str, type] = {
    "graph": str,
    "rounding": str,
    "samples": int,
    "local_search": bool,
    "exact": bool,
    "rank": int,
    "score_steps": int,
    "search": str,
    "search_moves": int,
    "threads": int,
    "time_limit": float,
}
_MAXCUT_PARAMETERS = frozenset(_MAXCUT_TYPES)


def _maxcut_call(params: Mapping[str, Any], seed: int) -> Any:
    from derand.maxcut import load_graph, solve_maxcut

    return solve_maxcut(
        load_graph(str(params["graph"])),
        rounding=params.get("rounding", "derandomized"),
        samples=int(params.get("samples", 1000)),
        local=bool(params.get("local_search", True)),
        exact=bool(params.get("exact", False)),
        rank=params.get("rank"),
        score_steps=int(params.get("score_steps", 5000)),
        search=str(params.get("search", "sa")),
        search_moves=params.get("search_moves"),
        threads=int(params.get("threads", 1)),
        time_limit=params.get("time_limit"),
        seed=seed,
    )


def _maxcut_check(params: Mapping[str, Any]) -> None:
    from derand.maxcut import load_graph
    from derand.maxcut.solve import ROUNDINGS

    if "graph" not in params:
        raise InputError("maxcut cells need a 'graph' (a path, 'paper' or a generator spec)")
    load_graph(str(params["graph"]))
    if params.get("rounding", "derandomized") not in ROUNDINGS:
        raise InputError(f"rounding must be one of {', '.join(ROUNDINGS)}")


def _maxcut_run(params: Mapping[str, Any], seed: int) -> Metrics:
    r = _maxcut_call(params, seed)
    return {
        "n": r.n,
        "m": r.m,
        "sdp_value": r.sdp_value,
        "upper_bound": r.upper_bound,
        "bound_proven": r.bound_proven,
        "gw_expected": r.gw_expected,
        "random_best": r.random_best,
        "derandomized_cut": r.derandomized_cut,
        "guarantee_holds": r.guarantee_holds,
        "final_cut": r.final_cut,
        "exact_cut": r.exact_cut,
        "optimality_gap": r.optimality_gap,
        "total_seconds": r.seconds["total"],
    }


_JL_OPTIONS = ("n_iter", "sigma", "tau_final", "inner_iter", "init")
_JL_TYPES: dict[str, type] = {
    "data": str,
    "k": int,
    "method": str,
    "objective": str,
    "draws": int,
    "n_iter": int,
    "sigma": str,
    "tau_final": float,
    "inner_iter": int,
    "init": str,
}
_JL_PARAMETERS = frozenset(_JL_TYPES)


def _jl_estimator(params: Mapping[str, Any], seed: int) -> Any:
    from derand.jl.methods import make_embedding

    method = str(params.get("method", "derandomized"))
    options = {name: params[name] for name in _JL_OPTIONS if name in params}
    return make_embedding(
        method,
        int(params.get("k", 20)),
        objective=str(params.get("objective", "pairs")),
        random_state=seed,
        n_draws=int(params.get("draws", 100)),
        **(options if method == "derandomized" else {}),
    )


def _jl_check(params: Mapping[str, Any]) -> None:
    if "data" not in params:
        raise InputError("jl cells need 'data' (digits, a path or a generator spec)")
    _jl_estimator(params, 0)


def _jl_run(params: Mapping[str, Any], seed: int) -> Metrics:
    from derand.jl import load_data

    X = load_data(str(params["data"])).X
    est = _jl_estimator(params, seed).fit(X)
    report = est.distortion_
    return {
        "n": report.n,
        "pairs": report.pairs,
        "max_distortion": report.max_distortion,
        "rescaled_max_distortion": est.rescaled_max_distortion_,
        "mean_distortion": report.mean_distortion,
        "fit_seconds": est.fit_seconds_,
    }


RUNNERS: dict[str, Callable[[], Runner]] = {
    "nn": lambda: Runner(_nn_parameters(), _nn_check, _nn_run),
    "maxcut": lambda: Runner(_MAXCUT_PARAMETERS, _maxcut_check, _maxcut_run, _MAXCUT_TYPES),
    "jl": lambda: Runner(_JL_PARAMETERS, _jl_check, _jl_run, _JL_TYPES),
}
"""Command name -> runner factory (imports stay lazy so that workers load what they use)."""


def get_runner(command: str) -> Runner:
    """The runner for ``command``, or :class:`InputError` naming the known ones."""
    if command not in RUNNERS:
        raise InputError(f"unknown command {command!r}; sweepable: {', '.join(sorted(RUNNERS))}")
    return RUNNERS[command]()
