"""Max-Cut graphs: readers round-trip, generators, the paper instance, malformed files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from derand.errors import InputError
from derand.maxcut.exact import exact_maxcut
from derand.maxcut.graph import (
    Graph,
    from_edges,
    from_networkx,
    from_scipy,
    gnp,
    load_graph,
    paper_graph,
    paper_graph_torch,
    random_regular,
    read_edgelist,
    read_rudy,
    torus,
    write_rudy,
)


def same(a: Graph, b: Graph) -> bool:
    return (
        a.n == b.n
        and np.array_equal(a.u, b.u)
        and np.array_equal(a.v, b.v)
        and np.allclose(a.w, b.w, rtol=0, atol=0)
    )


def test_paper_instance_matches_torch_and_has_optimum_41() -> None:
    g = paper_graph()
    assert (g.n, g.m) == (15, 62)
    assert same(g, paper_graph_torch())
    assert exact_maxcut(g).cut == 41.0


def test_rudy_round_trip_with_negative_and_fractional_weights(tmp_path: Path) -> None:
    g = gnp(30, 0.3, seed=4, weights="pm1")
    g = from_edges(g.n, g.u, g.v, g.w * np.linspace(0.5, 2.25, g.m))
    back = read_rudy(write_rudy(g, tmp_path / "g.txt"))
    assert same(g, back)


def test_edgelist_comments_default_weight_and_loader(tmp_path: Path) -> None:
    path = tmp_path / "e.edges"
    path.write_text("# a comment\n0 1\n1 2 2.5  # trailing\n\n2 0 -1\n")
    g = read_edgelist(path)
    assert g.n == 3 and g.m == 3
    assert g.cut_value(np.array([1, -1, 1])) == 1.0 + 2.5
    assert same(load_graph(str(path)), g)


def test_networkx_and_scipy_readers() -> None:
    nx = pytest.importorskip("networkx")
    g = gnp(20, 0.4, seed=1, weights="pm1")
    h = nx.Graph()
    h.add_nodes_from(range(g.n))
    h.add_weighted_edges_from(zip(g.u.tolist(), g.v.tolist(), g.w.tolist(), strict=True))
    assert same(from_networkx(h), g)
    assert same(from_scipy(g.adjacency()), g)
    assert same(from_scipy(g.adjacency().toarray()), g)


def test_generators_and_specs() -> None:
    r = random_regular(40, 3, seed=2)
    assert r.m == 60 and np.all(np.bincount(np.r_[r.u, r.v]) == 3)
    t = torus(5, 6, seed=0)
    assert t.n == 30 and t.m == 60 and set(np.unique(t.w)) <= {-1.0, 1.0}
    assert same(load_graph("gnp:n=30,p=0.2,seed=5"), gnp(30, 0.2, seed=5))
    assert load_graph("torus:rows=4,cols=4").m == 32
    assert load_graph("regular:n=10,d=4,seed=1,weights=pm1").m == 20
    for bad in ("gnp:n=3", "gnp:n=x,p=0.1", "gnp:q=1", "foo:n=3", "regular:n=5,d=3"):
        with pytest.raises(InputError):
            load_graph(bad)


def test_self_loops_dropped_with_warning() -> None:
    with pytest.warns(UserWarning, match="self-loop"):
        g = from_edges(3, np.array([0, 1, 2]), np.array([0, 2, 1]) * 0 + np.array([0, 2, 0]))
    assert g.m == 2


RUDY_CASES = [
    ("", "empty"),
    ("3\n", "line 1"),
    ("3 x\n1 2 1\n", "line 1"),
    ("3 2\n1 2 1\n", "line 2"),
    ("3 1\n1 2 1\n2 3 1\n", "line 3"),
    ("3 1\n1 2\n", "line 2"),
    ("3 1\n1 a 1\n", "line 2"),
    ("3 1\n1 2 z\n", "line 2"),
    ("3 1\n1 2 nan\n", "line 2"),
    ("3 1\n1 2 inf\n", "line 2"),
    ("3 1\n1 4 1\n", "line 2"),
    ("3 1\n0 2 1\n", "line 2"),
    ("3 2\n1 2 1\n2 1 1\n", "line 3"),
]


@pytest.mark.parametrize(("text", "where"), RUDY_CASES)
def test_malformed_rudy_names_the_line(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=where):
        read_rudy(path)


EDGELIST_CASES = [
    ("0 1\n1\n", "line 2"),
    ("0 1\n1 2 3 4\n", "line 2"),
    ("0 1\n1 -2\n", "line 2"),
    ("0 1\n# c\n1 0\n", "line 3"),
    ("0 1 nan\n", "line 1"),
]


@pytest.mark.parametrize(("text", "where"), EDGELIST_CASES)
def test_malformed_edgelist_names_the_line(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad.edges"
    path.write_text(text)
    with pytest.raises(InputError, match=where):
        read_edgelist(path)


def test_self_loop_in_file_warns(tmp_path: Path) -> None:
    path = tmp_path / "loop.txt"
    path.write_text("3 2\n1 1 1\n1 2 1\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = read_rudy(path)
    assert g.m == 1 and any("self-loop" in str(w.message) for w in caught)


def test_scipy_reader_symmetrises_a_directed_matrix_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="not symmetric"):
        g = from_scipy(sp.csr_matrix(np.array([[0, 1.0, 0], [2.0, 0, 0], [0, 3.0, 0]])))
    assert g.u.tolist() == [0, 1] and g.v.tolist() == [1, 2] and g.w.tolist() == [3.0, 3.0]
    with pytest.raises(InputError, match="square"):
        from_scipy(np.ones((2, 3)))


def test_load_graph_format_detection(tmp_path: Path) -> None:
    g = gnp(12, 0.4, seed=3)
    rudy = write_rudy(g, tmp_path / "g.txt")
    assert same(load_graph(str(rudy)), g)
    assert same(load_graph(str(rudy), fmt="rudy"), g)
    plain = tmp_path / "g.dat"
    plain.write_text("0 1\n1 2\n2 3\n")
    assert load_graph(str(plain)).m == 3
    assert load_graph(str(plain), fmt="edgelist").n == 4
    with pytest.raises(InputError, match="format"):
        load_graph(str(plain), fmt="csv")
    with pytest.raises(InputError, match="directory"):
        load_graph(str(tmp_path))
