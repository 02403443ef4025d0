"""Write the corpus of hostile inputs under ``tests/corpus/`` (deterministic; rerun to refresh).

Each folder holds the files for one reader; ``args.txt`` in a folder lists hostile command
lines (one per line, shell-quoted, ``#`` comments) for the same command. The files are
committed: this script documents how each was made and recreates them byte for byte.

    python tests/corpus/make_corpus.py
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent

# A small, fast nn run; every nn TOML case starts from it and adds one hostile setting.
NN_SMALL = (
    'd = 4\nk = 1\nlink = "tanh"\nwidth = 8\nsteps = 5\nn_test = 32\n'
    "certificate = false\nlog_points = 3\n"
)


def text(folder: str, name: str, body: str) -> None:
    (HERE / folder / name).write_text(body, encoding="utf-8", newline="")


def raw(folder: str, name: str, body: bytes) -> None:
    (HERE / folder / name).write_bytes(body)


def archive(members: dict[str, bytes]) -> bytes:
    """A zip archive (an .npz, a torch checkpoint) with fixed timestamps: byte-for-byte stable."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, payload in members.items():
            zipped.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), payload)
    return buffer.getvalue()


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """A valid .npy v1.0 header claiming ``shape``, with no data after it."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")


class Evil:
    """Unpickling this writes the file ``PWNED`` in the working folder."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, ("open('PWNED', 'w').write('code ran')",))


def maxcut() -> None:
    text("maxcut", "rudy_header_only.txt", "5 3\n")
    text("maxcut", "rudy_too_few_edges.txt", "3 3\n1 2 1\n")
    text("maxcut", "rudy_too_many_edges.txt", "3 1\n1 2 1\n2 3 1\n")
    text("maxcut", "rudy_bad_token.txt", "3 2\n1 2 x\n2 3 1\n")
    text("maxcut", "rudy_node_zero.txt", "3 2\n0 1 1\n1 2 1\n")
    text("maxcut", "rudy_node_out_of_range.txt", "3 2\n1 9 1\n1 2 1\n")
    text("maxcut", "rudy_node_beyond_int64.txt", "3 2\n1 99999999999999999999 1\n1 2 1\n")
    text("maxcut", "rudy_n_beyond_int64.txt", "99999999999999999999 1\n1 2 1\n")
    text("maxcut", "rudy_n_huge.txt", "100000000000 1\n1 2 1\n")
    text("maxcut", "rudy_negative_n.txt", "-3 1\n1 2 1\n")
    text("maxcut", "rudy_float_ids.txt", "3 2\n1.5 2 1\n2 3 1\n")
    text("maxcut", "rudy_nan_weight.txt", "3 2\n1 2 nan\n2 3 1\n")
    text("maxcut", "rudy_inf_weight.txt", "3 2\n1 2 inf\n2 3 1\n")
    text("maxcut", "rudy_weight_1e308.txt", "3 3\n1 2 1e308\n2 3 1e308\n1 3 -1e308\n")
    text("maxcut", "rudy_weight_1e200.txt", "4 4\n1 2 1e200\n2 3 1e200\n3 4 1e200\n1 4 1e200\n")
    text("maxcut", "rudy_self_loop.txt", "3 2\n1 1 1\n2 3 1\n")
    text("maxcut", "rudy_duplicate_edge.txt", "3 2\n1 2 1\n1 2 1\n")
    text("maxcut", "rudy_crlf.txt", "3 2\r\n1 2 1\r\n2 3 1\r\n")
    text("maxcut", "rudy_bom.txt", "\ufeff3 2\n1 2 1\n2 3 1\n")
    text("maxcut", "empty.txt", "")
    text("maxcut", "comments_only.txt", "# nothing here\n\n# still nothing\n")
    text("maxcut", "edgelist_negative_id.edges", "0 1\n-1 2\n")
    text("maxcut", "edgelist_beyond_int64.edges", "0 1\n1 99999999999999999999\n")
    text("maxcut", "edgelist_huge_id.edges", "0 1\n1 100000000000\n")
    text("maxcut", "edgelist_four_columns.edges", "0 1 1 1\n")
    raw("maxcut", "not_utf8.txt", b"3 2\n1 2 1\n2 3 \xff\xfe\n")
    raw("maxcut", "binary.txt", bytes(range(256)) * 4)
    # issue 17: weights without a positive one (the max cut is 0, the bound must be 0 too)
    text("maxcut", "weights_all_zero.txt", "3 2\n1 2 0\n2 3 0\n")
    text("maxcut", "weights_negative_zero.txt", "3 2\n1 2 -0.0\n2 3 -0\n")
    text("maxcut", "weights_all_negative.txt", "3 3\n1 2 -1\n2 3 -2\n1 3 -1\n")
    text("maxcut", "weights_mixed_optimum_zero.txt", "3 3\n1 2 1\n1 3 -5\n2 3 -5\n")
    # issue 17: one edge at the top of the float range (bounds overflowed when scaled back)
    text("maxcut", "rudy_one_edge_1.797e308.txt", "2 1\n1 2 1.797e308\n")
    text("maxcut", "edgelist_one_edge_float_max.edges", "0 1 1.7976931348623157e308\n")
    text("maxcut", "rudy_one_edge_1.797e308_isolated.txt", "5 1\n2 4 1.797e308\n")
    # issue 17: what Python's int()/float() accept but a graph file must not
    text("maxcut", "rudy_underscore_weight.txt", "3 2\n1 2 1_000\n2 3 1\n")
    text("maxcut", "rudy_underscore_count.txt", "1_0 1\n1 2 1\n")
    text("maxcut", "rudy_arabic_indic_digits.txt", "3 2\n1 \u0662 1\n2 3 1\n")
    text("maxcut", "rudy_fullwidth_digits.txt", "\uff13 1\n1 2 1\n")
    text("maxcut", "edgelist_arabic_indic_weight.edges", "0 1 \u0661\u0662\n")
    text("maxcut", "edgelist_spaced_sign.edges", "0 1 - 1\n")
    raw("maxcut", "nul_byte.txt", b"3 2\n1 2 1\x00\n2 3 1\n")
    # issue 17: a UTF-8 BOM is accepted, as by the CSV reader of derand jl
    text("maxcut", "edgelist_bom.edges", "\ufeff0 1\n1 2 2\n")
    # issue 17: 200,000 isolated nodes cost nothing (took 77 s)
    text("maxcut", "rudy_isolated_200000.txt", "200000 1\n1 2 1\n")
    text("maxcut", "edgelist_isolated_200000.edges", "0 199999 1\n")


def jl() -> None:
    text("jl", "bom.csv", "\ufeff1,2,3\n4,5,6\n7,8,9\n1,0,1\n")
    text("jl", "empty_cell_first_row.csv", "1,,3\n4,5,6\n7,8,9\n1,0,1\n")
    text("jl", "empty_cell_later_row.csv", "1,2,3\n4,,6\n7,8,9\n1,0,1\n")
    text("jl", "inline_comment_first_row.csv", "1,2,3 # first\n4,5,6\n7,8,9\n1,0,1\n")
    text("jl", "inline_comment_later_row.csv", "1,2,3\n4,5,6 # here\n7,8,9\n1,0,1\n")
    text("jl", "header.csv", "x,y,z\n1,2,3\n4,5,6\n7,8,9\n1,0,1\n")
    text("jl", "ragged.csv", "1,2,3\n4,5\n7,8,9\n")
    text("jl", "nan.csv", "1,2,3\n4,nan,6\n7,8,9\n1,0,1\n")
    text("jl", "inf.csv", "1,2,3\n4,inf,6\n7,8,9\n1,0,1\n")
    text("jl", "empty.csv", "")
    text("jl", "one_row.csv", "1,2,3\n")
    text("jl", "semicolons.csv", "1;2;3\n4;5;6\n7;8;9\n1;0;1\n")
    text("jl", "field_128k.csv", "1," + "9" * (128 * 1024) + ",3\n4,5,6\n7,8,9\n1,0,1\n")
    raw("jl", "not_utf8.csv", b"1,2,3\n4,5,\xff\n7,8,9\n")
    rng = np.random.default_rng(0)
    points = rng.standard_normal((12, 20))
    np.save(HERE / "jl" / "complex.npy", points + 1j * points)
    np.save(HERE / "jl" / "object.npy", np.array([[1.0, "a"], [2.0, None]], dtype=object))
    np.save(HERE / "jl" / "one_d.npy", points[0])
    np.save(HERE / "jl" / "three_d.npy", points.reshape(3, 4, 20))
    np.save(HERE / "jl" / "nan.npy", np.where(points > 2, np.nan, points))
    np.save(HERE / "jl" / "bool.npy", points > 0)
    np.save(HERE / "jl" / "structured.npy", np.zeros(4, dtype=[("a", "<f8"), ("b", "<i4")]))
    np.save(HERE / "jl" / "empty_rows.npy", np.zeros((0, 20)))
    pair = points.copy()
    pair[1] = pair[0] + 1e-12
    np.save(HERE / "jl" / "pair_1e-12_apart.npy", pair)
    np.save(HERE / "jl" / "scaled_1e20.npy", points * 1e20)
    np.save(HERE / "jl" / "scaled_1e150.npy", points * 1e150)
    np.save(HERE / "jl" / "scaled_1e-150.npy", points * 1e-150)
    raw("jl", "header_claims_1e12.npy", npy_header((1_000_000, 1_000_000)))
    raw("jl", "truncated.npy", npy_header((100, 20)) + b"\x00" * 64)
    raw("jl", "bad_magic.npy", b"\x93NUMPX\x01\x00garbage")
    raw("jl", "object_array.npz", archive({"X.npy": npy(np.array([[1.0, "a"]], dtype=object))}))
    raw("jl", "no_arrays.npz", archive({}))
    raw("jl", "header_claims_1e12.npz", archive({"X.npy": npy_header((1_000_000, 1_000_000))}))
    raw("jl", "not_a_zip.npz", b"PK\x03\x04 definitely not a zip")


def nn() -> None:
    raw("nn", "not_utf8.toml", NN_SMALL.encode() + b'link = "\xff\xfe"\n')
    text("nn", "malformed.toml", NN_SMALL + "lam = [1e-4\n")
    text("nn", "freeze_3.toml", NN_SMALL + "freeze = 3\n")
    text("nn", "freeze_string.toml", NN_SMALL + 'freeze = "output"\n')
    two = NN_SMALL.replace("k = 1", "k = 2")
    text("nn", "teacher_U_ragged.toml", two + "teacher_U = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0]]\n")
    text("nn", "teacher_U_strings.toml", NN_SMALL + 'teacher_U = [["a", "b", "c", "d"]]\n')
    text("nn", "teacher_U_wrong_shape.toml", NN_SMALL + "teacher_U = [[1.0, 0.0]]\n")
    text("nn", "teacher_U_nan.toml", NN_SMALL + "teacher_U = [[nan, 0.0, 0.0, 1.0]]\n")
    text("nn", "lam_1e308.toml", NN_SMALL + "lam = 1e308\n")
    text("nn", "lam_inf.toml", NN_SMALL + "lam = inf\n")
    text("nn", "lr_nan.toml", NN_SMALL + "lr = nan\n")
    text("nn", "date.toml", NN_SMALL + "lam = 1979-05-27\n")
    text("nn", "unknown_key.toml", NN_SMALL + "widht = 3\n")
    text("nn", "seed_negative.toml", NN_SMALL + "seed = -1\n")
    text("nn", "seed_huge.toml", NN_SMALL + "seed = 99999999999999999999\n")
    text("nn", "width_huge.toml", NN_SMALL.replace("width = 8", "width = 100000000000"))
    text("nn", "depth_huge.toml", NN_SMALL + "depth = 100000\n")
    text("nn", "degree_200.toml", NN_SMALL.replace('"tanh"', '"hermite"') + "degree = 200\n")
    text("nn", "steps_string.toml", NN_SMALL.replace("steps = 5", 'steps = "5"'))
    text("nn", "certificate_string.toml", NN_SMALL.replace("false", '"false"'))
    text("nn", "preset_unknown.toml", NN_SMALL + 'preset = "nope"\n')
    text("nn", "small.toml", NN_SMALL)  # a valid run: the checkpoint cases resume from it
    raw("nn", "checkpoint_empty.pt", b"")
    raw("nn", "checkpoint_garbage.pt", bytes(range(256)) * 8)
    raw("nn", "checkpoint_truncated.pt", b"PK\x03\x04" + b"\x00" * 60)
    raw("nn", "checkpoint_evil.pt", pickle.dumps(Evil(), protocol=2))
    evil = {"archive/data.pkl": pickle.dumps(Evil(), protocol=2), "archive/version": b"3\n"}
    raw("nn", "checkpoint_evil_zip.pt", archive(evil))
    text("nn", "bom.toml", "\ufeff" + NN_SMALL)  # accepted, as the other readers do
    raw("nn", "checkpoint_step_negative.pt", checkpoint({"step": -5}))
    raw("nn", "checkpoint_step_string.pt", checkpoint({"step": "5"}))
    raw("nn", "checkpoint_seconds_negative.pt", checkpoint({"seconds": -1.0}))
    raw("nn", "checkpoint_stop_reason_unknown.pt", checkpoint({"stop_reason": "done"}))
    raw("nn", "checkpoint_factor_huge.pt", checkpoint({"schedule": _mapping(factor=1e300)}))
    deep = "[" * 100_000 + "]" * 100_000
    raw("nn", "checkpoint_nested_deep.pt", checkpoint_header('{"state": ' + deep + "}"))
    raw(
        "nn", "checkpoint_nested_64.pt", checkpoint_header('{"state": ' + "[" * 64 + "]" * 64 + "}")
    )


def _mapping(**values: object) -> dict[str, object]:
    """A mapping as the checkpoint header encodes it."""
    return {"__dict__": [[k, v] for k, v in values.items()]}


def checkpoint_header(body: str) -> bytes:
    """A checkpoint archive whose header is ``body`` with the format fields prepended."""
    prefix = '{"format": "derand-nn-checkpoint", "version": 1, "config": {}, '
    header = np.frombuffer((prefix + body.removeprefix("{")).encode(), dtype=np.uint8)
    return archive({"header.npy": npy(header)})


def checkpoint(edits: dict[str, object]) -> bytes:
    """A well-formed checkpoint of a 5-step run of ``small.toml`` with ``edits`` to its state:
    every value but the edited one is in range, so the edit alone must be refused."""
    state: dict[str, object] = {
        "step": 5,
        "seconds": 0.1,
        "model": _mapping(),
        "optimizer": _mapping(),
        "data_gen": {"__array__": "a/0", "dtype": "uint8"},
        "noise_gen": {"__array__": "a/1", "dtype": "uint8"},
        "schedule": _mapping(factor=1.0, n_decays=0, since=0),
        "wd_integral": 0.0,
        "log": [
            _mapping(step=0, perp_norm=1.0, wd_integral=0.0, lr_factor=1.0, test_loss=1.0),
        ],
        "certificate_log": [],
        "snapshots": [],
        "snapshot_steps": [],
        "K_last": None,
        "lanczos_v": None,
        "stop_reason": None,
        "work": [1.0, 0.0, 0],
        "n_perturbations": 0,
        **edits,
    }
    header = {
        "format": "derand-nn-checkpoint",
        "version": 1,
        "config": {},
        "state": _mapping(**state),
    }
    gen = np.zeros(5056, dtype=np.uint8)
    members = {
        "header.npy": npy(np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)),
        "a/0.npy": npy(gen),
        "a/1.npy": npy(gen),
    }
    return archive(members)


def sweep() -> None:
    maxcut_paper = 'command = "maxcut"\nseeds = [0]\n[fixed]\ngraph = "paper"\n'
    paper = '\n[fixed]\ngraph = "paper"\n'
    text("sweep", "valid.toml", maxcut_paper + "local_search = false\n")
    text("sweep", "bool_string.toml", maxcut_paper + 'local_search = "false"\n')
    text("sweep", "bool_number.toml", maxcut_paper + "exact = 1\n")
    text("sweep", "date.toml", maxcut_paper + "samples = 1979-05-27\n")
    text("sweep", "time.toml", maxcut_paper + "[grid]\nsamples = [07:32:00]\n")
    text("sweep", "datetime_name.toml", "name = 1979-05-27T07:32:00Z\n" + maxcut_paper)
    text("sweep", "k_five.toml", 'command = "jl"\n[fixed]\ndata = "digits"\nk = "five"\n')
    text("sweep", "nn_k_five.toml", 'command = "nn"\n[fixed]\nk = "five"\n')
    text("sweep", "seeds_1e12.toml", 'command = "maxcut"\nseeds = 1e12' + paper)
    text("sweep", "seeds_count_huge.toml", 'command = "maxcut"\nseeds = 1000000000000' + paper)
    text("sweep", "seeds_negative.toml", 'command = "maxcut"\nseeds = [-1]' + paper)
    beyond = 'command = "maxcut"\nseeds = [99999999999999999999]'
    text("sweep", "seeds_beyond_int64.toml", beyond + paper)
    text("sweep", "seeds_strings.toml", 'command = "maxcut"\nseeds = ["0"]' + paper)
    big = "[grid]\nsamples = [" + ", ".join(str(i) for i in range(1, 1001)) + "]\n"
    text("sweep", "grid_too_large.toml", 'command = "maxcut"\nseeds = 1000' + paper + big)
    text("sweep", "nan_value.toml", 'command = "jl"\n[fixed]\ndata = "digits"\nk = 5\nlr = nan\n')
    text("sweep", "nested_table.toml", 'command = "maxcut"\n[fixed.graph]\nn = 3\n')
    text("sweep", "name_not_string.toml", "name = 3\n" + maxcut_paper)
    text("sweep", "unknown_command.toml", 'command = "rm"\n')
    text("sweep", "unknown_parameter.toml", maxcut_paper + "bogus = 1\n")
    text("sweep", "missing_command.toml", "seeds = [0]\n")
    text("sweep", "malformed.toml", maxcut_paper + "[grid\n")
    text("sweep", "empty.toml", "")
    text("sweep", "grid_not_list.toml", 'command = "maxcut"\n[grid]\ngraph = "paper"\n')
    twice = 'command = "maxcut"\n[grid]\ngraph = ["paper", "paper"]\n'
    text("sweep", "grid_duplicates.toml", twice)
    text("sweep", "bom.toml", "\ufeff" + maxcut_paper)
    raw("sweep", "not_utf8.toml", maxcut_paper.encode() + b'rounding = "\xff\xfe"\n')
    raw("sweep", "binary.toml", bytes(range(256)) * 4)


def outputs() -> None:
    """Valid inputs for ``outputs/args.txt`` (an output naming an input of the same run: must
    be refused, the input intact) and ``outputs/args_stdout.txt`` (``--json -`` and
    ``/dev/stdout``: stdout must hold the JSON document alone)."""
    text("outputs", "graph.txt", "1 2 1\n2 3 1\n3 1 1\n")
    text("outputs", "points.csv", "1,2\n3,4\n5,7\n")
    text("outputs", "settings.toml", NN_SMALL)
    # a sweep spec named like the summary a sweep writes into --out
    text("outputs", "summary.md", 'command = "maxcut"\nseeds = [0]\n[fixed]\ngraph = "paper"\n')
    # a results.json of derand 0.1.0 (no per-experiment sections): --only cannot merge into it
    text("outputs", "results.json", '{"quick": true, "seeds": 1, "results": {"toy": {}}}\n')


if __name__ == "__main__":
    for folder in ("maxcut", "jl", "nn", "sweep", "outputs"):
        (HERE / folder).mkdir(exist_ok=True)
    maxcut()
    jl()
    nn()
    sweep()
    outputs()
