"""The one writer: atomic files, a run swapped in whole, one run at a time per `--out`.

Issue 13, item 7: a run killed at any moment leaves `--out` as the previous complete run
or the new complete run, never a mix, never invalid JSON; a second run to the same
`--out` is refused at once, in French; `--out` is checked before anything is read.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.model.oserror import os_error_fr
from engine.present.writer import (
    OutputError,
    atomic_path,
    check_out,
    exclusive_output,
    staged_output,
    write_json,
)
from engine.synthetic.generate import generate, read_conventions

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
AS_OF = "2025-06-30"
runner = CliRunner()
CLI = [sys.executable, "-c", "from engine.cli import main; main()"]
ENGLISH = ("File exists", "No such file", "Permission denied", "Errno", "Traceback", "Is a directory")


def _no_english(text: str) -> None:
    for words in ENGLISH:
        assert words not in text, text


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path → bytes)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


# --------------------------------------------------------------------------- one file


def test_atomic_file_keeps_the_previous_version_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_json({"a": 1}, path)
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text('{"a": 2, "trunc')
        raise RuntimeError("killed while writing")
    assert json.loads(path.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_atomic_file_replaces_in_one_step(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_json({"a": 1}, path)
    write_json({"a": 2}, path)
    assert json.loads(path.read_text()) == {"a": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


# --------------------------------------------------------------------------- the folder


def test_staged_output_replaces_ours_and_keeps_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "rejected").mkdir(parents=True)
    (out / "results.json").write_text("{}")
    (out / "rejected" / "episodes.csv").write_text("old")
    (out / "whatif").mkdir()
    (out / "whatif" / "comparison.json").write_text("{}")
    (out / "notes.txt").write_text("mes notes")
    with staged_output(out) as stage:
        write_json({"new": True}, stage / "results.json")
        assert json.loads((out / "results.json").read_text()) == {}  # not yet swapped in
    assert json.loads((out / "results.json").read_text()) == {"new": True}
    assert not (out / "rejected").exists()  # ours: replaced as a whole
    assert (out / "whatif" / "comparison.json").exists()  # not ours: carried over
    assert (out / "notes.txt").read_text() == "mes notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder, no lock left


def test_failed_run_leaves_the_previous_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text('{"previous": true}')
    with pytest.raises(RuntimeError), staged_output(out) as stage:
        (stage / "results.json").write_text('{"half')
        raise RuntimeError("boom")
    assert _snapshot(out) == {"results.json": b'{"previous": true}'}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_next_run_cleans_what_a_killed_run_left(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (tmp_path / ".out.tmp-999-abcd").mkdir()
    (tmp_path / ".out.tmp-999-abcd" / "results.json").write_text("{")
    (tmp_path / ".out.old-998").mkdir()  # a swap interrupted between its two renames
    (tmp_path / ".out.old-998" / "results.json").write_text('{"previous": true}')
    with exclusive_output(out):
        assert _snapshot(out) == {"results.json": b'{"previous": true}'}  # restored
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("file", "c'est un fichier, pas un dossier"),
        ("foreign", "ne contient pas de résultats de parcours"),
        ("parent-file", "est un fichier, pas un dossier"),
        ("broken-link", "lien symbolique cassé"),
        ("unwritable", "écriture interdite"),
    ],
)
def test_out_is_checked_before_anything_is_read(tmp_path: Path, monkeypatch, setup: str, words: str) -> None:
    out = tmp_path / "out"
    if setup == "file":
        out.write_text("x")
    elif setup == "foreign":
        out.mkdir()
        (out / "thesis.docx").write_text("x")
    elif setup == "parent-file":
        (tmp_path / "p").write_text("x")
        out = tmp_path / "p" / "out"
    elif setup == "broken-link":
        out.symlink_to(tmp_path / "nowhere")
    else:
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path else real(p, mode))
    with pytest.raises(OutputError, match=words):
        check_out(out)
    # the CLI refuses before reading the extracts: DATA does not even exist
    result = runner.invoke(app, ["evaluate", str(tmp_path / "absent"), "--as-of", AS_OF, "--out", str(out)])
    assert result.exit_code == 1
    assert words in result.output
    assert "Données introuvables" not in result.output
    _no_english(result.output)


def test_os_errors_are_told_in_french() -> None:
    for code in (errno.EEXIST, errno.ENOENT, errno.EACCES, errno.EISDIR, errno.ENOSPC, errno.EROFS):
        text = os_error_fr(OSError(code, os.strerror(code)))
        _no_english(text)
        assert text != os.strerror(code)
    assert os_error_fr(OSError(errno.EEXIST, "File exists")) == "existe déjà"
    assert "EBADF" in os_error_fr(OSError(errno.EBADF, "Bad file descriptor"))


# --------------------------------------------------------------------------- one run at a time


def test_second_run_to_the_same_out_is_refused_at_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    lock = tmp_path / "out.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    os.write(fd, b"4242\n")
    fcntl.flock(fd, fcntl.LOCK_EX)  # another run holds --out
    try:
        result = runner.invoke(app, ["evaluate", str(SAMPLE), "--as-of", AS_OF, "--out", str(out)])
        assert result.exit_code == 1
        assert "une autre exécution y écrit déjà (processus 4242)" in result.output
        _no_english(result.output)
        assert not out.exists()
        whatif = runner.invoke(app, ["whatif", str(SAMPLE), "--as-of", AS_OF, "--out", str(out),
                                     "--set", "equilibre.first_appointment_max_days=10"])
        assert whatif.exit_code == 1 and "une autre exécution" in whatif.output
    finally:
        os.close(fd)
    result = runner.invoke(app, ["evaluate", str(SAMPLE), "--as-of", AS_OF, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "results.json").read_text())["run"]["as_of"] == AS_OF


# --------------------------------------------------------------------------- real processes


@pytest.fixture(scope="module")
def department(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A department-scale extract (the 15 lines of annex 4 at scale 1, as `parcours bench`)."""
    folder = tmp_path_factory.mktemp("departement")
    generate(read_conventions(SAMPLE / "conventions.csv"), folder, seed=2025, scale=1.0, fmt="parquet")
    for name in ("conventions.csv", "budget_lines.csv", "stated_totals.csv"):
        if (SAMPLE / name).exists():
            shutil.copy(SAMPLE / name, folder / name)
    return folder


def _start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.Popen([*CLI, *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    process = _start(*args)
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_two_concurrent_runs_one_succeeds_the_other_is_refused(department: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = _start("whatif", str(department), "--as-of", AS_OF, "--out", str(out),
                   "--set", "equilibre.first_appointment_max_days=10")
    lock = tmp_path / "out.lock"
    while first.poll() is None and not (lock.exists() and lock.read_text().strip() == str(first.pid)):
        time.sleep(0.02)  # wait until the first run holds --out (not a timing assertion)
    second = _run("evaluate", str(department), "--as-of", AS_OF, "--out", str(out))
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert second.returncode == 1
    assert f"une autre exécution y écrit déjà (processus {first.pid})" in second.stderr + second.stdout
    _no_english(second.stderr + second.stdout)
    assert "Traceback" not in stderr
    assert json.loads((out / "comparison.json").read_text())["as_of"] == AS_OF
    assert not lock.exists()


def _check_complete(out: Path, expected: list[dict[str, bytes]]) -> int:
    """`out` is exactly one of the `expected` complete runs; return which."""
    found = _snapshot(out)
    for name, data in found.items():
        if name.endswith(".json"):
            json.loads(data)  # never invalid JSON
    for index, snapshot in enumerate(expected):
        if found == snapshot:
            return index
    raise AssertionError(f"mixed or partial output: {sorted(found)}")


def test_killed_runs_leave_the_previous_or_the_new_run(department: Path, tmp_path: Path) -> None:
    """SIGKILL `parcours evaluate` at 20 seeded random moments; `--out` is never a mix."""
    dates = ["2025-06-30", "2025-03-31"]
    complete = []
    for as_of in dates:  # the two complete runs, written in folders of their own
        folder = tmp_path / f"complete-{as_of}"
        started = time.monotonic()
        done = _run("evaluate", str(department), "--as-of", as_of, "--out", str(folder))
        duration = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        complete.append(_snapshot(folder))
    assert complete[0] != complete[1]
    out = tmp_path / "out"
    shutil.copytree(tmp_path / f"complete-{dates[0]}", out)
    rng = random.Random(13)
    state, outcomes = 0, []
    for _ in range(20):
        target = 1 - state  # each run writes the other date over the current one
        process = _start("evaluate", str(department), "--as-of", dates[target], "--out", str(out))
        # from the imports (lock taken at ~40 %) through reading, computing, writing the
        # staging folder (~65-80 %), the swap (~80 %) and the summary printed after it
        time.sleep(rng.uniform(0.35, 0.95) * duration)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=300)
        state = _check_complete(out, complete)
        outcomes.append(state == target)
    # the next complete run cleans what the killed ones left beside --out
    done = _run("evaluate", str(department), "--as-of", dates[0], "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert _check_complete(out, complete) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".out", "out"))) == ["out"]
    assert not all(outcomes)  # some kills fell before the swap …


def test_json_is_written_as_the_standard_library_indents_it() -> None:
    """`json_bytes` (orjson) gives `json.dumps(..., ensure_ascii=False, indent=2)`'s text."""
    import json

    from engine.present.writer import json_bytes

    document = {"convention": "EQ-1", "libellé": "Équilibre « social-pro »", "n": [1, 2, {"x": None}],
                "taux": 0.8125, "vide": {}, "liste_vide": [], "vrai": True, "gros": 12345678901234567890,
                "contrôle": "a\u001fb\u2028c"}
    assert json_bytes(document) == (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    huge = {"n": 10**30}  # beyond orjson: the standard library writes it
    assert json_bytes(huge) == (json.dumps(huge, indent=2) + "\n").encode("utf-8")
