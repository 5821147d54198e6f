"""The run register, on SQLite and on a real PostgreSQL server (same tests, same code).

Three quarterly runs of sample_data/ are recorded, with rows added to an extract between the
first two and a rule edited between the last two (modified copies in tmp_path); `compare`
finds each cause; `verify` is identical on the same extracts and names the changed file on a
modified one. A label is recorded once (`--replace` keeps the old run, superseded); a killed
recording (SIGKILL at several moments) leaves the register as it was; two processes recording
at once both succeed, or one gets a clear French refusal; the schema version is checked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from register_support import new_database, postgres_server
from typer.testing import CliRunner

from engine.cli import app
from engine.compute.pipeline import evaluate
from engine.load.extracts import read_extracts
from engine.load.rules import load_payments, load_rules
from engine.register import db, store
from engine.register.compare import compare_runs, verify_run
from engine.register.db import RegisterError, open_register

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
RULES = ROOT / "rules"
runner = CliRunner()
#: Rows of the sample's participants.csv (the whole-year extract: 1 090).
PARTICIPANTS = sum(1 for _ in (SAMPLE / "participants.csv").open(encoding="utf-8")) - 1


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    with postgres_server() as base:
        yield base


_counter = iter(range(10_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registre.sqlite'}"
    base = request.getfixturevalue("pg_server")
    return new_database(base, f"reg_{os.getpid()}_{next(_counter)}")


@pytest.fixture(scope="module")
def quarters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Q1 on the sample; Q2 with participants added; Q3 with the same data and a rule edited."""
    base = tmp_path_factory.mktemp("quarters")
    q1 = base / "data_q1"
    shutil.copytree(SAMPLE, q1)
    q2 = base / "data_q2"
    shutil.copytree(SAMPLE, q2)
    with (q2 / "participants.csv").open("a", encoding="utf-8") as f:
        for n in range(1, 6):
            f.write(f"P9{n:05d},PA-CCAS-LIEVIN,2025-05-{n + 10:02d}\n")
    rules_q3 = base / "rules_q3"
    shutil.copytree(RULES, rules_q3)
    params = rules_q3 / "equilibre" / "parameters.yaml"
    text = params.read_text(encoding="utf-8")
    edited = re.sub(r"(  first_appointment_max_days:\n(?:    .*\n)*?    values: )\{2024-12-09: 15\}",
                    r"\1{2024-12-09: 15, 2025-07-01: 20}", text, count=1)
    assert edited != text
    params.write_text(edited, encoding="utf-8")
    return {"q1": q1, "q2": q2, "rules_q3": rules_q3}


def _record(url: str, data: Path, as_of: date, label: str, rules: Path | None = None, replace: bool = False) -> int:
    engine = open_register(url, create=True)
    try:
        book = load_rules(rules)
        run = evaluate(read_extracts(data), book, as_of)
        return store.record_run(engine, run, label, replace=replace, schedules=load_payments(book.root))
    finally:
        engine.dispose()


def _counts(url: str) -> dict[str, int]:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() or 0)
                    for t in db.metadata.sorted_tables}
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- three quarters


def test_three_quarters_compared_and_verified(url: str, quarters: dict[str, Path]) -> None:
    q1 = _record(url, quarters["q1"], date(2025, 3, 31), "T1 2025")
    q2 = _record(url, quarters["q2"], date(2025, 6, 30), "T2 2025")
    q3 = _record(url, quarters["q2"], date(2025, 9, 30), "T3 2025", rules=quarters["rules_q3"])
    engine = open_register(url)
    runs = store.list_runs(engine)
    assert [r["label"] for r in runs] == ["T1 2025", "T2 2025", "T3 2025"]
    assert all(r["status"] == "current" and not r["final"] for r in runs)

    shown = store.get_run(engine, q2)
    assert shown["tables"]["participants"]["rows"] == PARTICIPANTS + 5
    assert {f["name"] for f in shown["files"] if f["kind"] == "rules"} >= {"index.yaml", "equilibre/parameters.yaml"}
    lievin = next(c for c in shown["conventions"] if c["convention_id"] == "PA-CCAS-LIEVIN")
    assert lievin["figures"]["indicators"]["participants_volume"]["kind"] == "volume"
    assert Decimal(lievin["earned_eur"]) - Decimal(lievin["paid_eur"]) == Decimal(lievin["solde_eur"])
    with engine.connect() as conn:
        numerators = conn.execute(sa.select(db.run_indicators.c.numerator).where(
            db.run_indicators.c.run_id == q2, db.run_indicators.c.convention_id == "EQ-MEMPA-PLE",
            db.run_indicators.c.indicator_id == "first_appointment_15d")).scalar()
    assert numerators is not None and numerators > 0

    # Q1 → Q2: the date, and the data (participants.csv, five rows added), not the rules
    c12 = compare_runs(engine, q1, q2)
    assert c12["causes"]["date"] == {"a": "2025-03-31", "b": "2025-06-30"}
    assert [f["file"] for f in c12["causes"]["data"]["files"]] == ["participants.csv"]
    assert c12["causes"]["data"]["tables"] == [{
        "table": "participants", "rows_a": PARTICIPANTS, "rows_b": PARTICIPANTS + 5, "rows_delta": 5,
        "kept_a": PARTICIPANTS, "kept_b": PARTICIPANTS + 5,
        "rejected_a": 0, "rejected_b": 0}]
    assert c12["causes"]["rules"]["parameters"] == [] and not c12["causes"]["rules"]["files_changed"]
    lievin12 = next(c for c in c12["conventions"] if c["convention_id"] == "PA-CCAS-LIEVIN")
    assert {x["cause"] for x in lievin12["causes"]} == {"date", "données"}
    assert lievin12["indicators"][0]["indicator"] == "participants_volume"

    # Q2 → Q3: the date and the rules (one parameter, in force at Q3's as-of only), not the data
    c23 = compare_runs(engine, q2, q3)
    assert c23["causes"]["data"]["files"] == [] and c23["causes"]["data"]["tables"] == []
    params = c23["causes"]["rules"]["parameters"]
    assert [(p["path"], p["a"], p["b"]) for p in params] == [("equilibre.first_appointment_max_days", 15, 20)]
    for conv in c23["conventions"]:
        causes = {x["cause"] for x in conv["causes"]}
        assert "données" not in causes
        if conv["dispositif"] == "equilibre" and conv["changed"]:
            rules_cause = next((x for x in conv["causes"] if x["cause"] == "règles"), None)
            assert rules_cause and rules_cause["parameters"] == ["equilibre.first_appointment_max_days"]
        if conv["dispositif"] != "equilibre":
            assert "règles" not in causes
    assert any(c["changed"] and c["dispositif"] == "equilibre" for c in c23["conventions"])
    total = sum(Decimal(c["money"]["earned"]["delta"]) for c in c23["conventions"])
    assert Decimal(c23["totals_delta"]["earned"]) == total

    # verify: identical on the same extracts (Q3 with its own stored rules too), names the file otherwise
    same = verify_run(engine, q2, quarters["q2"])
    assert same["identical"] and same["inputs_identical"], same["differences"][:3]
    again = verify_run(engine, q3, quarters["q2"])
    assert again["identical"], again["differences"][:3]
    other = verify_run(engine, q2, quarters["q1"])
    assert not other["identical"]
    assert [i["file"] for i in other["inputs"] if i["status"] != "identique"] == ["participants.csv"]
    assert any(d["where"].startswith("PA-CCAS-LIEVIN.") for d in other["differences"])
    engine.dispose()


def test_a_label_is_recorded_once_and_replace_keeps_the_old_run(url: str) -> None:
    first = _record(url, SAMPLE, date(2025, 6, 30), "T2 2025")
    with pytest.raises(RegisterError, match="déjà enregistrée"):
        _record(url, SAMPLE, date(2025, 6, 30), "T2 2025")
    second = _record(url, SAMPLE, date(2025, 6, 30), "T2 2025", replace=True)
    engine = open_register(url)
    runs = store.list_runs(engine)
    assert [(r["id"], r["status"], r["superseded_by"]) for r in runs] == [
        (first, "superseded", second), (second, "current", None)]
    assert store.get_run(engine, "T2 2025")["id"] == second
    assert store.get_run(engine, str(first))["status"] == "superseded"
    with pytest.raises(RegisterError, match="vouliez-vous dire « T2 2025 »"):
        store.get_run(engine, "T2 2052")
    engine.dispose()


# --------------------------------------------------------------------------- the command line


def test_cli_record_list_show_compare_verify(url: str, tmp_path: Path, quarters: dict[str, Path]) -> None:
    out = tmp_path / "out"
    base = ["--register", url]
    r = runner.invoke(app, ["evaluate", str(SAMPLE), "--as-of", "2025-06-30", "--out", str(out),
                            "--record", "T2 2025", *base])
    assert r.exit_code == 0, r.output
    assert "Évaluation enregistrée : n° 1 « T2 2025 »" in r.output
    r = runner.invoke(app, ["evaluate", str(SAMPLE), "--as-of", "2025-06-30", "--out", str(out),
                            "--record", "T2 2025", *base])
    assert r.exit_code == 1
    assert "déjà enregistrée" in r.output and "--replace" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["evaluate", str(SAMPLE), "--as-of", "2025-12-31", "--out", str(out),
                            "--record", "Final 2025", *base])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["runs", *base])
    assert r.exit_code == 0 and "T2 2025" in r.output and "Final 2025" in r.output and "intermédiaire" in r.output
    r = runner.invoke(app, ["runs", *base, "--format", "json"])
    assert [x["label"] for x in json.loads(r.output)] == ["T2 2025", "Final 2025"]
    r = runner.invoke(app, ["runs", "show", "Final 2025", *base, "--format", "json"])
    assert r.exit_code == 0, r.output
    final = json.loads(r.output)
    assert final["final"] is True
    avenant = next(c for c in final["conventions"] if c["convention_id"] == "IND-PDCA-AV2025")
    nxt = avenant["next_instalment"]
    assert nxt["schedule"] == "avenant_1_2_etp" and nxt["instalment"] == "solde" and not nxt["projection"]
    solde = Decimal(avenant["solde_eur"])
    assert Decimal(nxt["solde_eur"]) == solde
    assert nxt["action"] == ("verser" if solde > 0 else "reverser" if solde < 0 else "aucun")
    r = runner.invoke(app, ["runs", "show", "2", *base])
    assert r.exit_code == 0 and "Prochain versement" in r.output and "finale" in r.output
    r = runner.invoke(app, ["runs", "compare", "T2 2025", "Final 2025", *base])
    assert r.exit_code == 0, r.output
    assert "Date changée : 30/06/2025 → 31/12/2025" in r.output and "Données : identiques" in r.output
    r = runner.invoke(app, ["runs", "compare", "1", "2", *base, "--format", "json"])
    assert json.loads(r.output)["causes"]["date"]["b"] == "2025-12-31"
    r = runner.invoke(app, ["runs", "verify", "1", str(SAMPLE), *base])
    assert r.exit_code == 0 and "Identique" in r.output, r.output
    r = runner.invoke(app, ["runs", "verify", "1", str(quarters["q2"]), *base])
    assert r.exit_code == 1 and "participants.csv" in r.output and "Différent" in r.output, r.output
    r = runner.invoke(app, ["runs", "show", "9", *base])
    assert r.exit_code == 1 and "Aucune évaluation" in r.output


def test_recorded_payments_replace_paid_eur(url: str, tmp_path: Path) -> None:
    mandates = tmp_path / "mandats.csv"
    mandates.write_text("convention;date;montant;référence\n"
                        "IND-PDCA-AV2025;15/02/2025;47 910,00;M-2025-0001\n"
                        "PA-CCAS-LIEVIN;01/03/2025;30 000,00 €;M-2025-0002\n"
                        "PA-CCAS-LIEVIN;01/09/2025;2500,5;M-2025-0003\n", encoding="utf-8")
    base = ["--register", url]
    r = runner.invoke(app, ["payments", "import", str(mandates), *base])
    assert r.exit_code == 0 and "3 versement(s) importé(s)" in r.output, r.output
    r = runner.invoke(app, ["payments", "import", str(mandates), *base])
    assert r.exit_code == 1 and "déjà enregistré" in r.output
    r = runner.invoke(app, ["payments", "record", "--convention", "T4-IMPACTOVAL", "--amount", "20 000,00",
                            "--date", "2025-04-02", "--reference", "M-2025-0004", *base])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["evaluate", str(SAMPLE), "--as-of", "2025-06-30", "--out", str(tmp_path / "o"),
                            "--record", "T2 2025", *base])
    assert r.exit_code == 0, r.output
    run = store.get_run(open_register(url), "T2 2025")
    by = {c["convention_id"]: c for c in run["conventions"]}
    assert (by["PA-CCAS-LIEVIN"]["paid_eur"], by["PA-CCAS-LIEVIN"]["paid_origin"]) == ("30000.00", "registre")
    assert (by["IND-PDCA-AV2025"]["paid_eur"], by["IND-PDCA-AV2025"]["paid_origin"]) == ("47910.00", "registre")
    assert (by["T3-AIFOR"]["paid_eur"], by["T3-AIFOR"]["paid_origin"]) == ("15000.00", "extrait")
    assert run["manifest"]["paid_from_register"]["PA-CCAS-LIEVIN"] == "30000.00"
    r = runner.invoke(app, ["runs", "verify", "T2 2025", str(SAMPLE), *base])
    assert r.exit_code == 0 and "Identique" in r.output, r.output
    r = runner.invoke(app, ["payments", "list", *base, "--format", "json"])
    assert [p["amount_eur"] for p in json.loads(r.output)] == ["47910.00", "30000.00", "2500.50", "20000.00"]


# --------------------------------------------------------------------------- safety

SCRIPT = r'''
import sys, time
from datetime import date
from pathlib import Path
from engine.compute.pipeline import evaluate
from engine.load.extracts import read_extracts
from engine.load.rules import load_rules
from engine.register import store
from engine.register.db import RegisterError, open_register

url, label, stage, marker, go = sys.argv[1:6]

def checkpoint(name):
    if name == stage:
        Path(marker).write_text(name)
        while not Path(go).exists():
            time.sleep(0.05)

store._checkpoint = checkpoint
run = evaluate(read_extracts(sys.argv[6]), load_rules(), date(2025, 6, 30))
try:
    engine = open_register(url, create=True)
    print(store.record_run(engine, run, label))
except RegisterError as error:
    print(error, file=sys.stderr)
    sys.exit(1)
'''


def _start(tmp_path: Path, url: str, label: str, stage: str, name: str) -> tuple[subprocess.Popen[str], Path, Path]:
    script = tmp_path / "record.py"
    script.write_text(SCRIPT, encoding="utf-8")
    marker, go = tmp_path / f"{name}.reached", tmp_path / f"{name}.go"
    proc = subprocess.Popen([sys.executable, str(script), url, label, stage, str(marker), str(go), str(SAMPLE)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    return proc, marker, go


def _wait(proc: subprocess.Popen[str], marker: Path) -> None:
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)


@pytest.mark.parametrize("stage", ["run", "conventions", "commit"])
def test_a_killed_record_records_nothing(url: str, tmp_path: Path, stage: str) -> None:
    _record(url, SAMPLE, date(2025, 3, 31), "T1 2025")
    before = _counts(url)
    proc, marker, _ = _start(tmp_path, url, "T2 2025", stage, "a")
    _wait(proc, marker)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _counts(url) == before
    engine = open_register(url)
    assert [r["label"] for r in store.list_runs(engine)] == ["T1 2025"]
    engine.dispose()
    assert _record(url, SAMPLE, date(2025, 6, 30), "T2 2025") > 0  # the register still works


def test_two_processes_recording_at_once(url: str, tmp_path: Path) -> None:
    open_register(url, create=True).dispose()
    # two labels: both succeed (the second waits for the first's transaction)
    a, marker_a, go_a = _start(tmp_path, url, "T2 2025", "conventions", "a")
    _wait(a, marker_a)  # A is inside its transaction
    b, marker_b, go_b = _start(tmp_path, url, "T2 2025 bis", "start", "b")
    _wait(b, marker_b)  # B is about to begin its own
    go_b.write_text("go")
    time.sleep(0.5)
    go_a.write_text("go")
    _, err_a = a.communicate(timeout=120)
    _, err_b = b.communicate(timeout=120)
    assert a.returncode == 0 and b.returncode == 0, (err_a, err_b)
    # one label: one succeeds, the other is refused in French
    c, marker_c, go_c = _start(tmp_path, url, "T3 2025", "commit", "c")
    _wait(c, marker_c)
    d, marker_d, go_d = _start(tmp_path, url, "T3 2025", "start", "d")
    _wait(d, marker_d)
    go_d.write_text("go")
    time.sleep(0.5)
    go_c.write_text("go")
    _, err_c = c.communicate(timeout=120)
    _, err_d = d.communicate(timeout=120)
    assert c.returncode == 0, err_c
    assert d.returncode == 1
    assert "« T3 2025 »" in err_d and "Traceback" not in err_d
    assert "déjà enregistrée" in err_d or "vient d'être enregistrée" in err_d
    engine = open_register(url)
    assert sorted(r["label"] for r in store.list_runs(engine)) == ["T2 2025", "T2 2025 bis", "T3 2025"]
    engine.dispose()


def test_schema_version_is_checked(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RegisterError, match="introuvable|vide"):
        open_register(url)
    open_register(url, create=True).dispose()  # a new register is created at the current version
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = db.make_engine(url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []
    monkeypatch.setattr(db, "head_revision", lambda: "0002")
    with pytest.raises(RegisterError, match="parcours runs migrate"):
        open_register(url)
    monkeypatch.undo()
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(RegisterError, match="plus récente"):
        open_register(url)
    engine.dispose()
    r = runner.invoke(app, ["runs", "--register", url])
    assert r.exit_code == 1 and "plus récente" in r.output


def test_migrate_verb_and_default_register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(db.ENV_VAR, raising=False)
    r = runner.invoke(app, ["runs"])
    assert r.exit_code == 1 and "registre.sqlite introuvable" in r.output.replace("\n", "")
    r = runner.invoke(app, ["runs", "migrate"])
    assert r.exit_code == 0 and "(nouveau) → 0001" in r.output, r.output
    r = runner.invoke(app, ["runs", "migrate"])
    assert "déjà à la version 0001" in r.output
    assert db.register_url(None, tmp_path / "data") == f"sqlite:///{tmp_path / 'registre.sqlite'}"
    monkeypatch.setenv(db.ENV_VAR, "postgresql+psycopg://u@h/b")
    assert db.register_url(None, tmp_path / "data") == "postgresql+psycopg://u@h/b"


def test_rejected_rows_and_counts_are_kept(url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    with (data / "participants.csv").open("a", encoding="utf-8") as f:
        f.write("P999999,PA-CCAS-LIEVIN,31/13/2025\n")
    run_id = _record(url, data, date(2025, 6, 30), "T2 2025")
    engine = open_register(url)
    run = store.get_run(engine, run_id)
    assert run["tables"]["participants"] == {"rows": PARTICIPANTS + 1, "kept": PARTICIPANTS, "rejected": 1}
    assert [(r["table_name"], r["line"], r["column_name"]) for r in run["rejected_rows"]] == [
        ("participants", PARTICIPANTS + 2, "entry_date")]  # header, then the rows
    assert run["rejected_rows"][0]["reason"]
    engine.dispose()


def test_stored_rules_that_no_longer_load_are_reported(url: str) -> None:
    run_id = _record(url, SAMPLE, date(2025, 6, 30), "T2 2025")
    engine = open_register(url)
    with db.writing(engine).begin() as conn:
        conn.execute(sa.update(db.run_files).where(db.run_files.c.run_id == run_id,
                                                   db.run_files.c.name == "equilibre/parameters.yaml")
                     .values(content="parameters: [\n"))
    with pytest.raises(RegisterError, match=r"(?s)évaluation n° 1 « T2 2025 » .* ne se chargent pas .*parameters\.yaml"):
        verify_run(engine, run_id, SAMPLE)
    with db.writing(engine).begin() as conn:
        conn.execute(sa.update(db.run_files).where(db.run_files.c.run_id == run_id,
                                                   db.run_files.c.name == "equilibre/parameters.yaml")
                     .values(name="../evil.yaml"))
    with pytest.raises(RegisterError, match="registre altéré"):
        compare_runs(engine, run_id, run_id)
    engine.dispose()
