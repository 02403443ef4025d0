"""Max-Cut graphs: readers round-trip, generators, the paper instance, malformed files."""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from derand.errors import InputError
from derand.maxcut.exact import exact_maxcut
from derand.maxcut.graph import (
    MAX_GRAPH_FILE_BYTES,
    Graph,
    as_graph,
    file_limit,
    from_edges,
    from_networkx,
    from_scipy,
    gnp,
    load_graph,
    paper_graph,
    paper_graph_torch,
    parse_float,
    parse_int,
    random_regular,
    read_edgelist,
    read_rudy,
    read_text,
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
    damaged = tmp_path / "damaged.txt"  # a rudy header over a missing weight and a wrong count
    damaged.write_text("3 1\n1 2 1\n2 3\n")
    with pytest.raises(InputError, match="line 1: ambiguous"):
        load_graph(str(damaged))
    assert load_graph(str(damaged), fmt="edgelist").m == 3
    with pytest.raises(InputError, match="line 3"):
        load_graph(str(damaged), fmt="rudy")
    with pytest.raises(InputError, match="directory"):
        load_graph(str(tmp_path))


def _writer(path: str, payload: bytes) -> threading.Thread:
    def write() -> None:
        with contextlib.suppress(BrokenPipeError), open(path, "wb") as fh:
            fh.write(payload)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


RUDY = b"3 2\n1 2 1\n2 3 2.5\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
@pytest.mark.parametrize("fmt", ["auto", "rudy"])
def test_named_pipe_is_read_once(tmp_path: Path, fmt: str) -> None:
    fifo = tmp_path / "g.fifo"
    os.mkfifo(fifo)
    writer = _writer(str(fifo), RUDY)
    g = load_graph(str(fifo), fmt=fmt)  # hung forever: the sniffing read the pipe twice
    writer.join(5)
    assert (g.n, g.m, g.total_weight()) == (3, 2, 3.5)


def test_process_substitution_is_read_once() -> None:
    """``<(...)`` is a /dev/fd path to a pipe: it gave a false 'the file is empty'."""
    if not Path("/dev/fd").is_dir():
        pytest.skip("no /dev/fd")
    r, w = os.pipe()
    try:
        writer = _writer(f"/dev/fd/{w}", RUDY)
        writer.join(5)
        os.close(w)
        w = -1
        g = load_graph(f"/dev/fd/{r}")
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    assert (g.n, g.m) == (3, 2)


def test_an_endless_stream_stops_at_the_size_cap_naming_the_file() -> None:
    if not Path("/dev/fd").is_dir():
        pytest.skip("no /dev/fd")
    r, w = os.pipe()
    stop = threading.Event()

    def endless() -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set():
                os.write(w, b"1 2 1\n" * 1000)

    thread = threading.Thread(target=endless, daemon=True)
    thread.start()
    try:
        with pytest.raises(InputError, match=rf"/dev/fd/{r}: more than 64.0 KiB read"):
            read_text(f"/dev/fd/{r}", max_bytes=65536)
    finally:
        stop.set()
        os.close(r)
        thread.join(5)
        os.close(w)


def test_a_regular_file_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(RUDY * 100)
    with pytest.raises(InputError, match=r"big.txt is 1.8 KiB; a graph file may have at most"):
        read_text(path, max_bytes=1000)
    assert 0 < file_limit() <= MAX_GRAPH_FILE_BYTES


@pytest.mark.parametrize(
    ("tok", "value"),
    [("12", 12), ("-3", -3), ("+4", 4), ("007", 7), ("1_000", None), ("\u0661\u0662", None),
     ("\uff13", None), (" 1", None), ("1.0", None), ("1e3", None), ("", None), ("1" * 41, None)],
)  # fmt: skip
def test_parse_int_is_strict_ascii(tok: str, value: int | None) -> None:
    assert parse_int(tok) == value
    if value is not None:
        assert value == int(tok)  # agrees with Python where both accept


@pytest.mark.parametrize(
    ("tok", "value"),
    [("2.5", 2.5), ("-.5", -0.5), ("1e-3", 1e-3), ("3.", 3.0), ("+1E+2", 100.0),
     ("1_000", None), ("\u0663.5", None), ("0x10", None), ("1e", None), (".", None),
     ("- 1", None), ("\uff11", None)],
)  # fmt: skip
def test_parse_float_is_strict_ascii(tok: str, value: float | None) -> None:
    assert parse_float(tok) == value
    assert parse_float("nan") != parse_float("nan") and parse_float("-Infinity") == -np.inf


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("3 2\n1 2 1_000\n2 3 1\n", "line 2: weight '1_000' is not a number"),
        ("1_0 1\n1 2 1\n", "line 1: node count '1_0' is not an integer"),
        ("3 2\n1 \u0662 1\n2 3 1\n", "line 2: node id '\u0662' is not an integer"),
        ("\uff13 1\n1 2 1\n", "is not an integer"),
        ("3 1\n1 2 1\n\ufeff", "line 3"),  # a BOM anywhere but at the start is text
    ],
)
def test_what_python_reads_as_numbers_is_refused(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "g.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=where):
        read_rudy(path)


def test_utf8_bom_is_accepted_like_the_jl_csv_reader(tmp_path: Path) -> None:
    plain, bom = tmp_path / "a.txt", tmp_path / "b.txt"
    plain.write_bytes(RUDY)
    bom.write_bytes(b"\xef\xbb\xbf" + RUDY)
    assert same(read_rudy(bom), read_rudy(plain)) and same(load_graph(str(bom)), read_rudy(plain))
    edges = tmp_path / "c.edges"
    edges.write_bytes(b"\xef\xbb\xbf0 1\n1 2 2\n")
    assert read_edgelist(edges).total_weight() == 3.0


def test_nul_bytes_and_utf16_are_not_text(tmp_path: Path) -> None:
    path = tmp_path / "g.txt"
    path.write_bytes(b"3 1\n1 2 1\x00\n")
    with pytest.raises(InputError, match=r"g\.txt is not a text file"):
        load_graph(str(path))
    path.write_bytes("3 1\n1 2 1\n".encode("utf-16"))
    with pytest.raises(InputError, match=r"g\.txt is not a"):
        load_graph(str(path))


def test_generator_specs_read_integers_strictly() -> None:
    for spec in ("gnp:n=1_000,p=0.1", "gnp:n=\u0662\u0660,p=0.5", "gnp:n=20,p=\uff10.5"):
        with pytest.raises(InputError, match="must be"):
            load_graph(spec)


def test_networkx_weight_attribute_and_unweighted() -> None:
    nx = pytest.importorskip("networkx")
    h = nx.Graph()
    h.add_edge("a", "b", weight=2.0, capacity=7.0)
    h.add_edge("b", "c", capacity=3.0)
    assert from_networkx(h).w.tolist() == [2.0, 1.0]  # missing weight counts 1
    assert from_networkx(h, weight="capacity").w.tolist() == [7.0, 3.0]
    assert from_networkx(h, weight=None).w.tolist() == [1.0, 1.0]
    h.add_edge("c", "d", weight="heavy")
    with pytest.raises(InputError, match="'heavy' is not a number"):
        from_networkx(h)
    assert from_networkx(h, weight=None).m == 3


def test_edge_lists_follow_networkx() -> None:
    g, labels = as_graph([(0, 1), (1, 2, 2.5), (2, 0, {"weight": -1.0, "capacity": 4.0})])
    assert labels is None and (g.n, g.m) == (3, 3)
    assert g.cut_value(np.array([1, -1, 1])) == 1.0 + 2.5
    g, _ = as_graph([(0, 1, {"capacity": 4.0})], weight="capacity")
    assert g.w.tolist() == [4.0]
    g, labels = as_graph([("x", "y", 3.0), ("y", "z")], weight=None)
    assert labels == ["x", "y", "z"] and g.w.tolist() == [1.0, 1.0]
    g, labels = as_graph([(5, 3)])  # labels in order of first appearance, as networkx
    assert labels == [5, 3] and g.n == 2
    nx = pytest.importorskip("networkx")
    edges = [(0, 1, 2.0), (1, 2, 1.0), (0, 3, 4.0)]
    h = nx.Graph()
    h.add_weighted_edges_from(edges)
    assert same(as_graph(edges)[0], from_networkx(h))


@pytest.mark.parametrize(
    ("edges", "match"),
    [
        ([(0, 1, 2, 3)], "expected"),
        ([(0,)], "expected"),
        (["ab"], "expected"),
        ([(0, 1), (1, 0)], "duplicate edge"),
        ([(0, 1, "x")], "not a number"),
        ([(0, 1, float("nan"))], "not finite"),
        ([([0], 1)], "not hashable"),
        ([], "empty"),
    ],
)
def test_bad_edge_lists_raise_input_error(edges: list[object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        as_graph(edges)


def test_weight_none_for_graphs_and_matrices() -> None:
    g = gnp(10, 0.5, seed=1, weights="normal")
    assert np.all(as_graph(g, weight=None)[0].w == 1.0) and as_graph(g)[0] is g
    assert np.all(as_graph(g.adjacency(), weight=None)[0].w == 1.0)
    with pytest.raises(InputError, match="weight must be"):
        as_graph(g, weight=3)  # type: ignore[arg-type]


OLD_NAMES = (
    "Graph as_graph from_edges from_networkx from_scipy gnp gset_best_known load_graph load_gset "
    "paper_graph paper_graph_torch parse_spec random_regular read_edgelist read_rudy torus "
    "write_rudy GSET_NAMES WEIGHTS EDGELIST_SUFFIXES MAX_NODES"
).split()


def test_the_graph_module_still_exports_every_name_it_had() -> None:
    import derand.maxcut as package
    import derand.maxcut.graph as module

    for name in OLD_NAMES:
        assert getattr(module, name) is not None, name
        if name in package.__all__:
            assert getattr(package, name) is getattr(module, name), name
    names = set(module.__all__) | set(module._MOVED)  # the moved ones load on first access
    assert names >= set(OLD_NAMES) | {"from_edge_list"}


@pytest.mark.parametrize(
    "module", ["graph", "convert", "datasets", "generators", "readers", "tokens"]
)
def test_each_graph_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    import subprocess
    import sys

    code = f"import derand.maxcut.{module}; from derand.maxcut.graph import load_graph, gnp"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
