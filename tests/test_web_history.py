"""The « Historique » and « Comparer deux évaluations » pages at the HTTP level (TestClient).

A register with three quarterly runs (tests/history_support.py: rows added between T1 and
T2, a rule edited between T2 and T3); every amount on the pages is checked against the
register (`store.get_run`) and `compare_runs`, formatted by the one formatter. Also: no
register, an empty (not yet created) register, unknown run ids (French 404), a register at
an old schema version (French message naming the migration), and the read-only promise
(serving never creates the register file).
"""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from history_support import PARAM, record_quarters
from starlette.testclient import TestClient

from engine.model import format as fmt
from engine.register import store
from engine.register.compare import compare_runs
from engine.register.db import open_register
from engine.web.app import CSP, create_app
from engine.web.service import Service

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


@pytest.fixture(scope="module")
def service() -> Service:
    return Service(SAMPLE, as_of=date(2025, 6, 30))


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return record_quarters(tmp_path_factory.mktemp("history"))


@pytest.fixture(scope="module")
def client(service: Service, url: str) -> TestClient:
    return TestClient(create_app(service, register=url), raise_server_exceptions=False)


def _french(response, status: int = 200) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text[:800]
    assert 'lang="fr"' in response.text
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert response.headers["content-security-policy"] == CSP
    return html.unescape(response.text)


def service_labels(dispositif: str) -> dict[str, str]:
    from engine.load.rules import load_rules

    return {k: v.label for k, v in load_rules().indicators[dispositif].items()}


def _runs(url: str) -> list[dict]:  # type: ignore[type-arg]
    engine = open_register(url)
    try:
        return store.list_runs(engine)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- without runs


def test_no_register_configured(service: Service) -> None:
    page = _french(TestClient(create_app(service)).get("/historique"))
    assert 'id="no-register"' in page and "--register" in page
    assert "Historique" in page


def test_empty_register_is_an_empty_history_and_is_not_created(service: Service, tmp_path: Path) -> None:
    file = tmp_path / "registre.sqlite"
    client = TestClient(create_app(service, register=f"sqlite:///{file}"))
    page = _french(client.get("/historique"))
    assert 'id="empty-register"' in page and "Aucune évaluation enregistrée" in page
    page = _french(client.get("/historique/comparer"))
    assert "rien à comparer" in page
    _french(client.get("/historique/evaluation/1"), 404)
    assert not file.exists()  # the application only reads


def test_register_at_an_old_schema_version_is_a_french_page(service: Service, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registre.sqlite'}"
    open_register(url, create=True).dispose()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0000_old'"))
    engine.dispose()
    client = TestClient(create_app(service, register=url), raise_server_exceptions=False)
    page = _french(client.get("/historique"), 500)
    assert "version de schéma" in page


# --------------------------------------------------------------------------- three runs


def test_history_lists_the_three_runs_with_their_totals(client: TestClient, url: str) -> None:
    page = _french(client.get("/historique"))
    table = page.split('id="runs"')[1].split("</table>")[0]
    for run in _runs(url):
        assert f">{run['label']}</a>" in table
        assert fmt.date_fr(run["as_of"]) in table
        for key in ("earned_eur", "paid_eur", "solde_eur"):
            assert fmt.eur(run[key]) in table
    assert table.count("en vigueur") == 3 and "agent.test" in table and "intermédiaire" in table


def test_evolution_of_one_convention(client: TestClient, url: str) -> None:
    engine = open_register(url)
    try:
        stored = [next(c for c in store.get_run(engine, r["id"])["conventions"] if c["convention_id"] == "EQ-MEMPA-PLE")
                  for r in store.list_runs(engine)]
    finally:
        engine.dispose()
    page = _french(client.get("/historique?convention=EQ-MEMPA-PLE"))
    assert '<option value="EQ-MEMPA-PLE" selected' in page
    charts = page.split('id="evolution"')[1].split('id="series"')[0]
    assert charts.count("<svg") == 12  # four figures, three runs
    for c in stored:
        assert fmt.eur(c["earned_eur"]) in charts and fmt.eur(c["solde_eur"]) in charts
        assert fmt.percent(c["quantitative_score"]) in charts
    assert [fmt.eur(c["earned_eur"]) for c in stored] == re.findall(
        r'Montant acquis, T\d 2025 : ([^"]+)"', charts)
    # every convention's earned amount per run, and the change from the first to the last
    row = page.split('id="by-convention"')[1].split("EQ-MEMPA-PLE</a>")[1].split("</tr>")[0]
    change = Decimal(stored[-1]["earned_eur"]) - Decimal(stored[0]["earned_eur"])
    assert fmt.signed_eur(change) in row


def test_unknown_convention_in_the_history_is_a_french_404(client: TestClient) -> None:
    page = _french(client.get("/historique?convention=NOPE"), 404)
    assert "NOPE" in page


def test_run_page(client: TestClient, url: str) -> None:
    run = _runs(url)[1]
    page = _french(client.get(f"/historique/evaluation/{run['id']}"))
    assert f"« {run['label']} »" in page and fmt.eur(run["earned_eur"]) in page
    assert "participants" in page.split('id="run-tables"')[1]


@pytest.mark.parametrize("path", ["/historique/evaluation/999", "/historique/comparer?a=1&b=999",
                                  "/historique/comparer?a=999&b=1"])
def test_unknown_run_is_a_french_404(client: TestClient, path: str) -> None:
    page = _french(client.get(path), 404)
    assert "Aucune évaluation n° 999" in page


@pytest.mark.parametrize("path", ["/historique/evaluation/abc", "/historique/comparer?a=x&b=1"])
def test_malformed_run_id_is_a_french_400(client: TestClient, path: str) -> None:
    _french(client.get(path), 400)


# --------------------------------------------------------------------------- compare


def test_compare_form_defaults_to_the_last_two_runs(client: TestClient, url: str) -> None:
    runs = _runs(url)
    page = _french(client.get("/historique/comparer"))
    assert f'<option value="{runs[1]["id"]}" selected' in page.split('id="run-a"')[1].split("</select>")[0]
    assert f'<option value="{runs[2]["id"]}" selected' in page.split('id="run-b"')[1].split("</select>")[0]
    assert 'id="compare"' not in page


def test_compare_t1_t2_names_the_data_and_the_date(client: TestClient, url: str) -> None:
    a, b = (r["id"] for r in _runs(url)[:2])
    engine = open_register(url)
    try:
        expected = compare_runs(engine, a, b)
    finally:
        engine.dispose()
    page = _french(client.get(f"/historique/comparer?a={a}&b={b}"))
    causes = page.split('id="causes"')[1].split("</div>")[0]
    assert "31/03/2025 → 30/06/2025" in causes
    assert "participants.csv (modifié)" in causes and "+5 ligne(s)" in causes
    assert "Règles : identiques" in causes
    assert re.search(r'id="delta-earned" data-value="([^"]+)"', page).group(1) == expected["totals_delta"]["earned"]  # type: ignore[union-attr]
    lievin = page.split('id="conv-PA-CCAS-LIEVIN"')[1].split("</tr>")[0]
    conv = next(c for c in expected["conventions"] if c["convention_id"] == "PA-CCAS-LIEVIN")
    assert fmt.signed_eur(conv["money"]["earned"]["delta"]) in lievin
    assert "Données" in lievin and "participants.csv" in lievin and "Date" in lievin
    changed = [c for c in expected["conventions"] if c["changed"]]
    assert page.split('id="compare"')[1].count('<tr id="conv-') == len(changed)


def test_compare_t2_t3_names_the_rule(client: TestClient, url: str) -> None:
    b, c = (r["id"] for r in _runs(url)[1:])
    engine = open_register(url)
    try:
        expected = compare_runs(engine, b, c)
    finally:
        engine.dispose()
    page = _french(client.get(f"/historique/comparer?a={b}&b={c}"))
    causes = page.split('id="causes"')[1].split("</div>")[0]
    assert f'href="/regles/parametre/{PARAM}"' in causes and "15 → 20" in causes
    assert "Données : identiques" in causes
    moved = [x for x in expected["conventions"] if any(k["cause"] == "règles" for k in x["causes"])]
    assert moved and all(x["dispositif"] == "equilibre" for x in moved)
    row = page.split(f'id="conv-{moved[0]["convention_id"]}"')[1].split("</tr>")[0]
    assert "Règles" in row and PARAM in row
    labels = service_labels(moved[0]["dispositif"])
    for ind in moved[0]["indicators"]:
        assert f"{labels[ind['indicator']]} :" in row  # the indicator's French label, not its id
    assert fmt.signed_eur(moved[0]["money"]["earned"]["delta"]) in row


def test_compare_every_convention_with_tout(client: TestClient, url: str) -> None:
    a, b = (r["id"] for r in _runs(url)[:2])
    engine = open_register(url)
    try:
        expected = compare_runs(engine, a, b)
    finally:
        engine.dispose()
    page = _french(client.get(f"/historique/comparer?a={a}&b={b}&tout=1"))
    assert page.split('id="compare"')[1].count('<tr id="conv-') == len(expected["conventions"])


def test_navigation_shows_historique(client: TestClient) -> None:
    page = _french(client.get("/"))
    assert 'href="/historique"' in page


# --------------------------------------------------------------------------- recording from the application


def _token(client: TestClient) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/historique").text)
    assert found
    return found.group(1)


def test_record_this_evaluation(service: Service, tmp_path: Path) -> None:
    file = tmp_path / "registre.sqlite"
    url = f"sqlite:///{file}"
    client = TestClient(create_app(service, register=url), raise_server_exceptions=False)
    assert "Enregistrer cette évaluation" in client.get("/").text
    page = _french(client.get("/historique?date=2025-03-31"))
    assert 'id="record-date" type="date" name="date" value="2025-03-31"' in page
    token = _token(client)
    _french(client.post("/historique/enregistrer", data={"label": "T2 2025", "date": "2025-06-30"}), 403)
    assert not file.exists()
    _french(client.post("/historique/enregistrer", data={"csrf": token, "label": "  ", "date": "2025-06-30"}), 400)
    _french(client.post("/historique/enregistrer", data={"csrf": token, "label": "T2", "date": "30 juin"}), 400)
    done = client.post("/historique/enregistrer", data={"csrf": token, "label": "T2 2025", "date": "2025-06-30"},
                       follow_redirects=False)
    assert done.status_code == 303, done.text[:500]
    assert done.headers["location"] == "/historique/evaluation/1"
    runs = _runs(url)
    assert [(r["label"], r["as_of"]) for r in runs] == [("T2 2025", "2025-06-30")]
    assert runs[0]["recorded_by"].endswith("(application)")
    baseline = service.baseline(date(2025, 6, 30))
    assert Decimal(runs[0]["earned_eur"]) == sum((c.earned for c in baseline.conventions), Decimal(0))
    again = _french(client.post("/historique/enregistrer",
                                data={"csrf": token, "label": "T2 2025", "date": "2025-09-30"}), 409)
    assert "déjà enregistrée (n° 1)" in again
    assert len(_runs(url)) == 1
    page = _french(client.get("/historique"))
    assert ">T2 2025</a>" in page


def test_record_takes_paid_from_the_registers_payments(service: Service, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registre.sqlite'}"
    engine = open_register(url, create=True)
    try:
        store.record_payments(engine, [{"convention_id": "IND-PDCA-AV2025", "paid_on": date(2025, 2, 14),
                                        "amount": Decimal("47910.00"), "reference": "MANDAT-1"}], "test")
    finally:
        engine.dispose()
    client = TestClient(create_app(service, register=url), raise_server_exceptions=False)
    done = client.post("/historique/enregistrer", data={"csrf": _token(client), "label": "Solde 2025",
                                                        "date": "2025-12-31"}, follow_redirects=False)
    assert done.status_code == 303, done.text[:500]
    engine = open_register(url)
    try:
        run = store.get_run(engine, "Solde 2025")
    finally:
        engine.dispose()
    pdca = next(c for c in run["conventions"] if c["convention_id"] == "IND-PDCA-AV2025")
    assert pdca["paid_origin"] == "registre" and pdca["paid_eur"] == "47910.00"
    assert run["final"]


def test_record_without_a_register_is_refused(service: Service) -> None:
    client = TestClient(create_app(service), raise_server_exceptions=False)
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/simulation").text)
    assert found
    page = _french(client.post("/historique/enregistrer", data={"csrf": found.group(1), "label": "X"}), 400)
    assert "--register" in page
