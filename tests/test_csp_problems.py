"""MAX-2-SAT, MAX-DICUT, QUBO and Ising: every conversion checked on every assignment."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from derand.csp import QUBO, DiCut, Ising, MaxTwoSat
from derand.csp.convert import as_problem, from_dimod
from derand.csp.generators import beasley_qubo, random_digraph, random_max2sat
from derand.csp.reduction import from_partition, maxcut_graph, to_partition
from derand.errors import InputError


def all_spins(n: int) -> np.ndarray:
    return np.array(list(itertools.product([-1, 1], repeat=n)), np.int8)


def naive_sat(clauses: list[list[int]], weights: list[float], s: np.ndarray) -> float:
    total = 0.0
    for clause, w in zip(clauses, weights, strict=True):
        if any((lit > 0) == (s[abs(lit) - 1] > 0) for lit in clause):
            total += w
    return total


def random_qubo(rng: np.random.Generator, n: int, sense: str) -> tuple[QUBO, dict]:
    entries: dict[tuple[int, int], float] = {}
    for _ in range(3 * n):
        i, j = (int(x) for x in rng.integers(0, n, 2))
        entries[(i, j)] = entries.get((i, j), 0.0) + float(rng.normal())
    return QUBO.from_dict(entries, sense=sense), entries  # type: ignore[arg-type]


@pytest.mark.parametrize("sense", ["max", "min"])
@pytest.mark.parametrize("seed", range(4))
def test_qubo_to_ising_and_back_on_every_assignment(sense: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 11))
    Q, entries = random_qubo(rng, n, sense)
    S = all_spins(Q.n)
    X = (S > 0).astype(float)
    labels = list(Q.labels or range(Q.n))
    index = {lab: k for k, lab in enumerate(labels)}
    direct = np.array(
        [sum(q * x[index[i]] * x[index[j]] for (i, j), q in entries.items()) for x in X]
    )
    values = np.array([Q.evaluate(s) for s in S])
    np.testing.assert_allclose(values, direct, atol=1e-9)
    E = Q.ising().energies(S)
    np.testing.assert_allclose(E, values if sense == "min" else -values, atol=1e-9)
    back = Q.ising().to_qubo(sense)  # type: ignore[arg-type]
    np.testing.assert_allclose([back.evaluate(s) for s in S], values, atol=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_ising_to_qubo_and_back(seed: int) -> None:
    rng = np.random.default_rng(10 + seed)
    n = int(rng.integers(2, 11))
    h = {k: float(rng.normal()) for k in range(n)}
    J = {(int(a), int(b)): float(rng.normal()) for a, b in rng.integers(0, n, (2 * n, 2))}
    model = Ising.from_dicts(h, J, offset=0.7)
    S = all_spins(model.n)
    labels = list(model.labels or range(model.n))
    index = {lab: k for k, lab in enumerate(labels)}
    direct = [
        0.7 + sum(b * s[index[k]] for k, b in h.items())
        + sum(c * s[index[a]] * s[index[b]] for (a, b), c in J.items())
        for s in S
    ]  # fmt: skip
    E = model.energies(S)
    np.testing.assert_allclose(E, direct, atol=1e-9)
    for sense in ("min", "max"):
        Q = model.to_qubo(sense)  # type: ignore[arg-type]
        vals = np.array([Q.evaluate(s) for s in S])
        np.testing.assert_allclose(vals, E if sense == "min" else -E, atol=1e-9)
        np.testing.assert_allclose(Q.ising().energies(S), E, atol=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_max2sat_clauses_on_every_assignment(seed: int) -> None:
    rng = np.random.default_rng(20 + seed)
    n = int(rng.integers(2, 11))
    clauses: list[list[int]] = []
    for _ in range(4 * n):
        size = int(rng.integers(0, 3))
        clauses.append(
            [int(rng.integers(1, n + 1)) * int(rng.choice([-1, 1])) for _ in range(size)]
        )
    clauses += [[1, 1], [1, -1], [-2, -2]]  # a repeated literal, a tautology
    weights = [float(w) for w in rng.integers(1, 5, len(clauses))]
    f = MaxTwoSat.from_clauses(clauses, weights, n=n)
    S = all_spins(n)
    direct = np.array([naive_sat(clauses, weights, s) for s in S])
    np.testing.assert_allclose([f.evaluate(s) for s in S], direct)
    np.testing.assert_allclose(-f.ising().energies(S), direct, atol=1e-9)
    np.testing.assert_allclose([f.ising().to_qubo("max").evaluate(s) for s in S], direct, atol=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_dicut_on_every_assignment(seed: int) -> None:
    g = random_digraph(int(3 + 2 * seed), 0.4, seed=seed, weights="uniform")
    S = all_spins(g.n)
    direct = [
        sum(w for t, h, w in zip(g.tail, g.head, g.w, strict=True) if s[t] > 0 > s[h]) for s in S
    ]
    np.testing.assert_allclose([g.evaluate(s) for s in S], direct)
    np.testing.assert_allclose(-g.ising().energies(S), direct, atol=1e-9)


@pytest.mark.parametrize(
    "problem",
    [random_max2sat(8, 40, seed=1, units=5, weights="int"), random_max2sat(7, 30, seed=2),
     random_digraph(9, 0.3, seed=2), beasley_qubo(10, 0.5, seed=3)],
    ids=["max2sat-units", "max2sat", "dicut", "qubo"],
)  # fmt: skip
def test_maxcut_reduction_on_every_assignment(problem: object) -> None:
    model = problem.ising()  # type: ignore[attr-defined]
    g, shift, scale = maxcut_graph(model.n, -model.offset, -model.h, model.u, model.v, -model.J)
    assert g.n == model.n + 1 and np.all(g.w == np.round(g.w))  # integer data: integer weights
    for s in all_spins(model.n):
        p = to_partition(s)
        assert g.cut_value(p) / scale + shift == pytest.approx(-model.energy(s), abs=1e-9)
        assert g.cut_value(-p) == pytest.approx(g.cut_value(p))
        np.testing.assert_array_equal(from_partition(-p), s)


def test_labels_are_kept_and_dicts_read_like_dimod() -> None:
    Q = QUBO.from_dict({("b", "a"): 2.0, ("a", "b"): 1.0, ("a", "a"): -1.0}, sense="min")
    assert Q.labels == ("b", "a") and Q.q.tolist() == [3.0]
    assert Q.answer(np.array([1, -1])) == {"b": 1, "a": 0}
    assert as_problem(Q) is Q
    with pytest.raises(InputError, match="sense"):
        as_problem({(0, 1): 1.0})
    m = Ising.from_arrays(2, u=[0, 0], v=[0, 1], J=[2.0, 1.0])  # s_0 s_0 = 1: the offset
    assert m.offset == 2.0 and m.J.tolist() == [1.0]


def test_bad_problems_are_refused() -> None:
    with pytest.raises(InputError, match="at most 2"):
        MaxTwoSat.from_clauses([[1, 2, 3]])
    with pytest.raises(InputError, match="negative"):
        MaxTwoSat.from_clauses([[1]], [-1.0])
    with pytest.raises(InputError, match="not finite"):
        Ising.from_arrays(2, h=[np.nan, 0.0])
    with pytest.raises(InputError, match="out of range"):
        DiCut.from_arcs(2, [0], [5])
    with pytest.raises(InputError, match="sense"):
        QUBO.from_dict({(0, 1): 1.0}, sense="maximise")  # type: ignore[arg-type]


def test_dimod_bqm_both_vartypes() -> None:
    dimod = pytest.importorskip("dimod")
    bqm = dimod.BinaryQuadraticModel({"x": 1.0, "y": -2.0}, {("x", "y"): 3.0}, 0.5, dimod.BINARY)
    Q = from_dimod(bqm)
    assert isinstance(Q, QUBO) and Q.sense == "min" and Q.labels == ("x", "y")
    spin = bqm.change_vartype(dimod.SPIN, inplace=False)
    model = from_dimod(spin)
    assert isinstance(model, Ising)
    for s in all_spins(2):
        sample = {"x": int(s[0] > 0), "y": int(s[1] > 0)}
        assert Q.evaluate(s) == pytest.approx(bqm.energy(sample))
        assert model.energy(s) == pytest.approx(spin.energy({"x": int(s[0]), "y": int(s[1])}))
    assert from_dimod(model.to_dimod()).energy(np.array([1, -1])) == pytest.approx(
        model.energy(np.array([1, -1]))
    )
