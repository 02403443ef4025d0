"""The numpy prototype of issue 19 (``benchmarks/csp_numpy_prototype.py``), the peer of the
speed-up claim: its closed form against Monte Carlo and finite differences, its determinism,
its phases timed by the clock it is given, and the benchmark's table on a small instance."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from derand.csp import objective, parse_spec


def _prototype() -> Any:
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "csp_numpy_prototype.py"
    if not path.exists():
        pytest.skip("benchmarks/ is not shipped here")
    spec = importlib.util.spec_from_file_location("csp_numpy_prototype", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_prototype_expectation_against_monte_carlo_and_finite_differences() -> None:
    proto = _prototype()
    prob = parse_spec("max2sat:n=8,m=30,seed=3")
    obj = objective(prob)
    rng = np.random.default_rng(0)
    p = 3
    U = rng.standard_normal((obj.n, p))
    E = proto.Expectation(obj, U)
    x = rng.normal(scale=0.7, size=p + obj.n)
    value, grad = E(x)
    # s_i = sign(u_i . (z + mu) + tau_i), z ~ N(0, I)
    z = rng.standard_normal((200_000, p))
    S = np.where((z + x[:p]) @ U.T + x[p:] >= 0, 1.0, -1.0)
    mc = obj.constant + S @ obj.h + (S[:, obj.u] * S[:, obj.v]) @ obj.J
    assert abs(value - float(mc.mean())) < 5 * float(mc.std()) / np.sqrt(len(mc)) + 1e-9
    h = 1e-6
    fd = np.array(
        [(E(x + h * e)[0] - E(x - h * e)[0]) / (2 * h) for e in np.eye(x.size)]
    )  # fmt: skip
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)


def test_prototype_is_deterministic_and_timed_by_its_clock() -> None:
    proto = _prototype()
    spec = "max2sat:n=12,m=60,seed=4"
    ticks = itertools.count()

    def clock() -> float:
        return float(next(ticks))

    a = proto.prototype(spec, clock=clock)
    b = proto.prototype(spec)
    assert (a["derand"], a["random_best"]) == (b["derand"], b["random_best"])
    # the fake clock is read at the start, after the SDP, after the rounding and at the end
    assert (a["sdp_s"], a["round_s"], a["total_s"]) == (1.0, 1.0, 3.0)
    prob = parse_spec(spec)
    best = max(
        prob.evaluate(np.array(s, np.int8)) for s in itertools.product([-1, 1], repeat=12)
    )  # fmt: skip
    assert a["derand"] <= best and a["random_best"] <= best


def test_benchmark_table_on_a_small_instance(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    proto = _prototype()
    argv = ["csp_numpy_prototype.py", "--instances", "1", "--n", "30", "--repeat", "2",
            "--no-full"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    from threadpoolctl import threadpool_info

    before = [(i["filepath"], i["num_threads"]) for i in threadpool_info()]
    assert proto.main() == 0
    # the benchmark's one-BLAS-thread limit ends with its run
    assert [(i["filepath"], i["num_threads"]) for i in threadpool_info()] == before
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| max2sat:n=30")]
    assert len(rows) == 1 and "x (" in rows[0]
    assert "BLAS threads 1, 2 alternated runs" in out
    assert "same derandomized value on" in out and "/3" in out
