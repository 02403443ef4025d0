"""``derand csp``: JSON, summary, one-line errors with exit code 2, Ctrl-C, start-up cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from derand.cli import main

HEAVY = ("torch", "matplotlib", "scipy.sparse.linalg", "sklearn", "numba", "tqdm")


@pytest.mark.parametrize("args", [["csp", "--help"], ["csp", "sat", "x.cnf", "--bogus"]])
def test_help_and_argument_errors_import_nothing_heavy(args: list[str]) -> None:
    script = (
        "import sys\nfrom derand.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('derand.cli.csp', *HEAVY))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n" + script],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "['derand.cli.csp']"


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["csp", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "derand csp sat" in text and "beyond the paper" in text.lower()


def test_sat_json_and_model_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "f.wcnf"
    path.write_text("c tiny\np wcnf 3 5 100\n100 1 2 0\n3 -1 0\n2 -2 0\n1 3 -1 0\n4 -3 0\n")
    out = tmp_path / "r.json"
    code = main(["csp", "sat", str(path), "--json", str(out), "--assignment", "--samples", "50"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["command"] == "csp" and doc["kind"] == "max2sat" and doc["bound_proven"]
    assert doc["final_value"] == 108.0 and doc["details"]["hard_satisfied"] == 1
    assert doc["assignment"] == {"1": False, "2": True, "3": False}
    assert doc["seed"] == 0 and doc["parameters"]["hard"] == "weight"
    assert doc["guarantee_holds"] and doc["final_value"] <= doc["bound"]
    assert {"sdp", "rounding", "local_search", "total"} <= set(doc["seconds"])
    stdout = capsys.readouterr().out
    assert "v -1 2 -3 0" in stdout and "within" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sat", "{bad}"], "line 2: a clause of 3 literals"),
        (["sat", "{hard}", "--hard", "refuse"], "line 1: a hard clause"),
        (["sat", "digraph:n=5,p=0.5"], "makes no sat problem"),
        (["qubo", "{bad}"], "line 1: expected 'i j q'"),
        (["dicut", "nowhere.txt"], "no such file"),
        (["sat", "max2sat:n=1"], "max2sat: n must be in"),
        (["qubo", "{bqp}", "--index", "2"], "instance 2 asked, the file holds 1"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    files = {
        "{bad}": ("bad.cnf", "p cnf 3 1\n1 2 3 0\n"),
        "{hard}": ("h.wcnf", "h 1 0\n"),
        "{bqp}": ("one.bqp", "1\n2 1\n1 2 3\n"),
    }
    real = []
    for a in args:
        if a in files:
            name, text = files[a]
            if args[0] == "qubo" and a == "{bad}":
                name, text = "bad.qubo", "0 1\n"
            (tmp_path / name).write_text(text)
            real.append(str(tmp_path / name))
        else:
            real.append(a)
    assert main(["csp", *real]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith("derand csp: error:")


@pytest.mark.parametrize("search", ["bls", "tabu"])
def test_ctrl_c_writes_json_and_exits_130(
    search: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import derand.csp.solve
    import derand.maxcut.local_search

    if search == "bls":  # the Max-Cut search on n + 1 nodes
        module: object = sys.modules["derand.maxcut.local_search"]
        name = "local_search"
    else:  # the linear-scan tabu search (imported by name into derand.csp.solve)
        module, name = derand.csp.solve, "tabu_search"
    original = getattr(module, name)

    def interrupted(*args: object, callback: object = None, **kwargs: object) -> object:
        def stop(*cb_args: object) -> None:
            callback(*cb_args)  # type: ignore[operator]
            raise KeyboardInterrupt

        return original(*args, callback=stop, **kwargs)

    monkeypatch.setattr(module, name, interrupted)
    out = tmp_path / "i.json"
    spec = "digraph:n=90,p=0.1,seed=3"
    code = main(["csp", "dicut", spec, "--json", str(out), "--search-moves", "999999",
                 "--search", search])  # fmt: skip
    assert code == 130
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and doc["final_value"] <= doc["bound"]
    assert doc["search_engine"] == ("maxcut-bls" if search == "bls" else "tabu-scan")
    assert "interrupted" in capsys.readouterr().err


def test_dicut_from_gset_style_file_with_orientation(tmp_path: Path) -> None:
    path = tmp_path / "g.txt"
    path.write_text("4 4\n1 2 1\n2 3 1\n3 4 1\n4 1 1\n")
    out1, out2 = tmp_path / "a.json", tmp_path / "b.json"
    assert (
        main(["csp", "dicut", str(path), "--orient-seed", "1", "--json", str(out1), "--quiet"]) == 0
    )
    assert (
        main(["csp", "dicut", str(path), "--orient-seed", "1", "--json", str(out2), "--quiet"]) == 0
    )
    a, b = json.loads(out1.read_text()), json.loads(out2.read_text())
    assert a["solution"] == b["solution"] and a["final_value"] == b["final_value"] >= 1.0
    assert a["parameters"]["orient_seed"] == 1


def test_qubo_bqp_file_and_time_limit(tmp_path: Path) -> None:
    path = tmp_path / "bqp3"
    path.write_text("2\n3 3\n1 1 5\n1 2 -3\n2 3 4\n2 1\n1 1 -1\n")
    out = tmp_path / "q.json"
    code = main(["csp", "qubo", str(path), "--index", "1", "--time-limit", "2", "--json",
                 str(out), "--quiet"])  # fmt: skip
    assert code == 0
    doc = json.loads(out.read_text())
    # x^T Q x = 5 x1 - 6 x1 x2 + 8 x2 x3: the optimum is x = (0, 1, 1)
    assert doc["name"] == "bqp3-1" and doc["sense"] == "max" and doc["final_value"] == 8.0
    assert doc["assignment"] == {"1": 0, "2": 1, "3": 1} and doc["bound"] >= 8.0
