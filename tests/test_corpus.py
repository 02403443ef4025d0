"""The corpus of hostile inputs: every case ends in exit 0 or 2 with one line, within 10 s.

``tests/corpus/<reader>/`` holds the nasty files for one reader (rudy and edge-list graphs,
CSV and npy/npz data, nn TOML settings and checkpoints, sweep specs; see ``make_corpus.py``)
and ``args.txt`` hostile command lines for the same command. Each case runs through the
matching command in its own folder (a forked child of a process that imported the package
once, with a memory limit; see ``corpus/forkrun.py``) and must

- exit with 0 or 2, never 1 (an exception escaped) and never time out (10 s, after start-up);
- on exit 2 print exactly one line on stderr and no traceback;
- on exit 0 print no NaN (none in the summary, no null among the numbers of the JSON
  result), no violated guarantee and no warning, and keep every CSV row (``n_input``);
- refuse (exit 2) the cases in ``MUST_REFUSE`` (seeds outside ``[0, 2**63 - 1]``),
- never run code from a checkpoint (the evil ones write ``PWNED`` when unpickled), and
- never change an input file it was given (a checkpoint resumed from aside).

``outputs/`` holds valid inputs and full command lines (the command first): in ``args.txt``
an output names an input of the same run or another output (each must be refused, naming
both options); in ``args_stdout.txt`` the JSON goes to stdout (``-``, ``/dev/stdout``), which
must then hold the JSON document alone.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus"
SECONDS = 10.0

MUST_REFUSE = {
    "maxcut: gnp:n=50,p=0.1,seed=99999999999999999999999",
    "jl: uniform:n=20,d=30,seed=99999999999999999999999 --k 3",
    "nn/seed_negative.toml",
    "nn/seed_huge.toml",
    "nn: --d 4 --k 1 --width 8 --steps 5 --n-test 32 --no-certificate --teacher-seed -1",
    # issue 17: --resume without a checkpoint; checkpoint headers with values out of range
    "nn: --d 4 --k 1 --width 8 --steps 5 --n-test 32 --no-certificate --checkpoint missing.ckpt "
    "--resume",
    "nn/checkpoint_step_negative.pt",
    "nn/checkpoint_step_string.pt",
    "nn/checkpoint_seconds_negative.pt",
    "nn/checkpoint_stop_reason_unknown.pt",
    "nn/checkpoint_factor_huge.pt",
    "nn/checkpoint_nested_deep.pt",
    "nn/checkpoint_nested_64.pt",
}
MUST_ACCEPT = {"nn/bom.toml"}
"""Valid inputs a careless reader refuses: these must end in exit 0."""
"""Accepted by a careless reader, but out of range: these must end in exit 2."""


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    files: tuple[Path, ...]


def _file_case(folder: str, path: Path) -> Case:
    name = path.name
    if folder == "maxcut":
        argv = ["maxcut", name]
    elif folder == "jl":
        argv = ["jl", name, "--k", "2", "--iters", "20", "--draws", "3", "--json", "out.json"]
    elif folder == "nn" and path.suffix == ".pt":
        argv = ["nn", "--config", "small.toml", "--checkpoint", name, "--resume"]
        return Case(f"nn/{name}", argv, (path, CORPUS / "nn" / "small.toml"))
    elif folder == "nn":
        argv = ["nn", "--config", name]
    else:
        argv = ["sweep", name, "--out", "out", "--workers", "1"]
    return Case(f"{folder}/{name}", argv, (path,))


def _outputs_cases() -> list[Case]:
    folder = CORPUS / "outputs"
    inputs = tuple(p for p in sorted(folder.iterdir()) if not p.name.startswith("args"))
    cases = []
    for listing in ("args.txt", "args_stdout.txt"):
        for line in (folder / listing).read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                kind = "outputs" if listing == "args.txt" else "stdout"
                cases.append(Case(f"{kind}: {line}", shlex.split(line), inputs))
    return cases


def _cases() -> list[Case]:
    cases = _outputs_cases()
    for folder in ("maxcut", "jl", "nn", "sweep"):
        for path in sorted((CORPUS / folder).iterdir()):
            if path.name == "args.txt":
                for line in path.read_text().splitlines():
                    if line.strip() and not line.startswith("#"):
                        argv = [folder, *shlex.split(line)]
                        cases.append(Case(f"{folder}: {line}", argv, ()))
            elif path.is_file():
                cases.append(_file_case(folder, path))
    return cases


CASES = _cases()


def _run_all(root: Path) -> dict[str, dict[str, object]]:
    jobs = []
    for i, case in enumerate(CASES):
        cwd = root / f"case{i:03d}"
        cwd.mkdir()
        for source in case.files:
            shutil.copyfile(source, cwd / source.name)
        jobs.append({"id": case.id, "argv": case.argv, "cwd": str(cwd)})
    runner = [sys.executable, str(CORPUS / "forkrun.py"), "--timeout", str(SECONDS)]
    proc = subprocess.run(runner, input=json.dumps(jobs), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results: dict[str, dict[str, object]] = {}
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        results[record["id"]] = record
    for job in jobs:
        results.setdefault(job["id"], {"id": job["id"], "code": None, "missing": True})
        results[job["id"]]["cwd"] = job["cwd"]
    return results


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    return _run_all(tmp_path_factory.mktemp("corpus"))


def _data_rows(path: Path) -> int:
    return sum(bool(re.search(r"\d", line)) for line in path.read_text("utf-8").splitlines())


def _null_among_numbers(value: object) -> bool:
    """A JSON list holding numbers and nulls: NaN turned into null on the way out."""
    if isinstance(value, dict):
        return any(_null_among_numbers(v) for v in value.values())
    if isinstance(value, list):
        numbers = any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        return (numbers and None in value) or any(_null_among_numbers(v) for v in value)
    return False


def problems(case: Case, record: dict[str, object]) -> list[str]:
    """What is wrong with one case's outcome (an empty list: clean)."""
    cwd = Path(str(record["cwd"]))
    out = (cwd / "stdout.txt").read_text(errors="replace") if (cwd / "stdout.txt").exists() else ""
    err = (cwd / "stderr.txt").read_text(errors="replace") if (cwd / "stderr.txt").exists() else ""
    found = []
    if record.get("timed_out"):
        found.append(f"no answer within {SECONDS:g} s")
    elif record.get("missing"):
        found.append("the runner lost this case")
    elif record["code"] not in (0, 2):
        found.append(f"exit {record['code']}: {err.strip().splitlines()[-1:]}")
    if "Traceback" in err:
        found.append("a traceback on stderr")
    if record["code"] == 2 and len(err.strip().splitlines()) != 1:
        found.append(f"{len(err.strip().splitlines())} lines on stderr")
    if record["code"] == 0 and case.id in MUST_REFUSE:
        found.append("exit 0 for an input that must be refused")
    if record["code"] != 0 and case.id in MUST_ACCEPT:
        found.append(f"exit {record['code']} for an input that must be accepted")
    if record["code"] == 0:
        if re.search(r"\w+Warning\b", err):
            found.append("exit 0 with a warning on stderr: " + err.strip().splitlines()[0][-80:])
        if (cwd / "out.json").exists() and _null_among_numbers(
            json.loads((cwd / "out.json").read_text())
        ):
            found.append("exit 0 with NaN in the JSON result")
        if "VIOLATED" in out:
            found.append("exit 0 with a violated guarantee")
        if re.search(r"\bnan\b", out, re.IGNORECASE):
            found.append("exit 0 with NaN in the summary")
        if case.argv[0] == "jl" and case.argv[1].endswith(".csv"):
            where = out if case.id.startswith("stdout:") else (cwd / "out.json").read_text()
            document = json.loads(where)
            expected = _data_rows(cwd / case.argv[1])
            if document["n_input"] != expected:
                found.append(f"exit 0 with {document['n_input']} of {expected} rows")
    if (cwd / "PWNED").exists():
        found.append("CODE FROM THE CHECKPOINT RAN")
    for source in case.files:
        if source.suffix != ".pt" and (cwd / source.name).read_bytes() != source.read_bytes():
            found.append(f"the input {source.name} was changed")
    if case.id.startswith("outputs:"):
        if record["code"] != 2:
            found.append(f"exit {record['code']} for an output naming an input of the run")
        elif not re.search(r"--(json|checkpoint|out)\b.*(--config|GRAPH|DATA|SPEC|--json|"
                           r"--checkpoint|results\.json)", err):  # fmt: skip
            found.append("the error does not name both options: " + err.strip()[-120:])
    if case.id.startswith("stdout:") and record["code"] == 0:
        try:
            document = json.loads(out)
        except ValueError:
            found.append("stdout is not one JSON document: " + out[:80])
        else:
            if document.get("command") != case.argv[0]:
                found.append("the JSON on stdout is not the run's")
        if (cwd / "-").exists():
            found.append("a file named - was written")
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus_case(case: Case, results: dict[str, dict[str, object]]) -> None:
    found = problems(case, results[case.id])
    assert not found, f"{case.argv}: {'; '.join(found)}"


def test_corpus_is_what_make_corpus_writes(tmp_path: Path) -> None:
    """The committed files are the generator's output (nothing edited by hand or lost)."""
    pytest.importorskip("numpy")
    copy = tmp_path / "corpus"
    shutil.copytree(CORPUS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, str(copy / "make_corpus.py")], check=True)
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            assert (copy / path.relative_to(CORPUS)).read_bytes() == path.read_bytes(), path
