"""The web application at the HTTP level (Starlette's TestClient): pages, errors, safety, concurrency.

One server over `sample_data/` at 2025-06-30 for the whole module (the extracts are read
once, as `parcours serve` does). Figures are checked against `run_whatif` on the same
extracts: with `equilibre.first_appointment_max_days = 10` the total moves by
−33 279,32 € (the figure `parcours whatif` prints for the same edit).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from engine.compute.whatif import run_whatif
from engine.load.variants import Variant
from engine.model import format as fmt
from engine.model.rulebook import Edit
from engine.web.app import CSP, MAX_UPLOAD, create_app
from engine.web.security import CSRF_COOKIE, hash_password, verify_password
from engine.web.server import is_loopback
from engine.web.service import Service

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
AS_OF = date(2025, 6, 30)
EDIT = "p.equilibre.first_appointment_max_days"


@pytest.fixture(scope="module")
def service() -> Service:
    return Service(SAMPLE, as_of=AS_OF)


@pytest.fixture(scope="module")
def client(service: Service) -> TestClient:
    return TestClient(create_app(service), raise_server_exceptions=False)


def _csrf(client: TestClient) -> str:
    """The form token of the page just served (the cookie holds its signed twin)."""
    page = client.get("/simulation")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "the simulation page carries a CSRF token"
    return found.group(1)


def _delta(html: str) -> Decimal:
    found = re.search(r'id="total-delta" data-value="([^"]+)"', html)
    assert found, "no total delta on the page"
    return Decimal(found.group(1))


def _french_error(response, status: int) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text[:500]
    assert 'lang="fr"' in response.text
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert response.headers["content-security-policy"] == CSP


# --------------------------------------------------------------------------- pages


@pytest.mark.parametrize("url", [
    "/", "/?dispositif=equilibre&tri=solde&ordre=desc", "/?signalement=reversement", "/convention/EQ-MEMPA-PF",
    "/regles", "/regles/parametre/equilibre.first_appointment_max_days", "/regles/decision/reversement",
    "/regles/indicateur/equilibre/first_appointment_15d", "/simulation", f"/simulation?{EDIT}=10", "/donnees",
    f"/simulation/dossier?{EDIT}=10", "/static/htmx.min.js",
])
def test_pages_answer_in_french_with_the_policy(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, response.text[:800]
    csp = response.headers["content-security-policy"]
    assert "http" not in csp and "unsafe" not in csp
    if url.startswith("/static"):
        return
    assert 'lang="fr"' in response.text
    assert "https://" not in response.text.replace("https://www.", "")  # no external asset


def test_dashboard_lists_every_convention_with_budget_lines(client: TestClient, service: Service) -> None:
    page = client.get("/").text
    run = service.baseline(AS_OF)
    for c in run.conventions:
        assert f">{c.convention_id}</a>" in page
    assert "C02-446A05" in page and "projection" in page
    assert "Disponible" in page and "915\u00a0067,73\u00a0€" in page


def test_dashboard_filters_and_sorts(client: TestClient) -> None:
    page = client.get("/?dispositif=accueil").text
    assert "AC-MEMPA" in page and "EQ-" not in page.split('id="conventions"')[1]
    rows = client.get("/?tri=acquis&ordre=desc").text.split('id="conventions"')[1]
    first = re.search(r'/convention/([A-Za-z0-9%-]+)', rows)
    assert first


def test_convention_page_shows_the_explanation(client: TestClient, service: Service) -> None:
    from engine.present.explain import explain

    data = explain(service.baseline(AS_OF), "EQ-MEMPA-PF")
    page = html.unescape(client.get("/convention/EQ-MEMPA-PF").text)
    for ind in data["indicators"]:
        assert ind["label"] in page
        for p in ind["parameters"]:
            assert f'/regles/parametre/{p["path"]}' in page
    for line in data["money"]["lines"]:
        assert line in page
    assert "Décisions appliquées" in page


def test_convention_under_the_simulations_edits(client: TestClient, service: Service) -> None:
    from engine.present.explain import explain

    run = service.run(AS_OF, Variant("x", (Edit("equilibre.first_appointment_max_days", "10"),)))
    expected = explain(run, "EQ-MEMPA-PLE")["money"]["earned_eur"]
    page = html.unescape(client.get(f"/convention/EQ-MEMPA-PLE?{EDIT}=10").text)
    assert 'id="variant-note"' in page and "modifié" in page
    assert re.search(r'id="earned">([^<]*)<', page).group(1) == fmt.eur(Decimal(expected))  # type: ignore[union-attr]
    assert explain(service.baseline(AS_OF), "EQ-MEMPA-PLE")["money"]["earned_eur"] != expected
    units = client.get(f"/convention/EQ-MEMPA-PLE/unites/first_appointment_15d?page=1&{EDIT}=10").text
    base_units = client.get("/convention/EQ-MEMPA-PLE/unites/first_appointment_15d?page=1").text
    assert units != base_units
    _french_error(client.get(f"/convention/EQ-MEMPA-PLE?{EDIT}=-1"), 400)


def test_missed_units_paged_and_csv(client: TestClient, service: Service) -> None:
    from engine.present.explain import explain

    data = explain(service.baseline(AS_OF), "EQ-MEMPA-PF", max_units=10**6)
    ind = next(i for i in data["indicators"] if i.get("missed", {}).get("total"))
    page = client.get(f"/convention/EQ-MEMPA-PF/unites/{ind['id']}?page=1")
    assert page.status_code == 200 and "page 1 sur" in page.text
    partial = client.get(f"/convention/EQ-MEMPA-PF/unites/{ind['id']}?page=1", headers={"HX-Request": "true"})
    assert "<html" not in partial.text and "page 1 sur" in partial.text
    csv = client.get(f"/convention/EQ-MEMPA-PF/unites/{ind['id']}.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.strip().splitlines()) == ind["missed"]["total"] + 1


def test_downloads(client: TestClient) -> None:
    results = client.get("/telecharger/results.json")
    assert results.status_code == 200 and results.json()["run"]["as_of"] == "2025-06-30"
    workbook = client.get("/telecharger/classeur.xlsx")
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"
    page = client.get("/telecharger/rapport.html")
    assert page.status_code == 200 and "<html" in page.text
    assert "attachment" in page.headers["content-disposition"]


def test_rule_page_lists_the_conventions_that_read_it(client: TestClient, service: Service) -> None:
    page = client.get("/regles/parametre/equilibre.first_appointment_max_days").text
    assert "first_appointment_15d" in page
    readers = [c.convention_id for c in service.baseline(AS_OF).conventions
               if "equilibre.first_appointment_max_days" in c.trace.parameters]
    assert readers and all(cid in page for cid in readers)
    assert "« " in page  # the quoted source


def test_data_page_with_rejected_rows(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    lines = (data / "episodes.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    broken = lines[1].split(",")
    broken[header.index("orientation_date")] = "pas-une-date"
    lines[1] = ",".join(broken)
    (data / "episodes.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    client = TestClient(create_app(Service(data, as_of=AS_OF)), raise_server_exceptions=False)
    page = client.get("/donnees").text
    assert "pas-une-date" in page and "episodes" in page
    stake = page.split('id="stake"')[1].split("</table>")[0]
    convention = broken[header.index("convention_id")]
    assert f">{convention}</a>" in stake
    csv = client.get("/donnees/lignes-ecartees.csv")
    assert csv.status_code == 200 and "pas-une-date" in csv.text


def test_extracts_read_again_when_a_file_changes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    reads: list[Path] = []

    def reader(path: Path):  # type: ignore[no-untyped-def]
        from engine.load.extracts import read_extracts

        reads.append(path)
        return read_extracts(path)

    service = Service(data, as_of=AS_OF, reader=reader)
    service.baseline(AS_OF)
    service.baseline(AS_OF)
    assert len(reads) == 1
    os.utime(data / "phases.csv", ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))  # same bytes
    service.baseline(AS_OF)
    assert len(reads) == 1
    text = (data / "budget_lines.csv").read_text(encoding="utf-8")
    (data / "budget_lines.csv").write_text(text + "\n", encoding="utf-8")
    service.baseline(AS_OF)
    assert len(reads) == 2


# --------------------------------------------------------------------------- simulation


def test_simulation_total_matches_whatif(client: TestClient, service: Service) -> None:
    expected = run_whatif(service.extracts, service.book, AS_OF,
                          Variant("--set", (Edit("equilibre.first_appointment_max_days", "10"),)))
    page = client.get(f"/simulation?{EDIT}=10")
    assert _delta(page.text) == Decimal(expected.comparison["totals"]["delta_eur"]) == Decimal("-33279.32")
    partial = client.get(f"/simulation/comparaison?{EDIT}=10", headers={"HX-Request": "true"})
    assert _delta(partial.text) == Decimal("-33279.32")
    assert partial.headers["HX-Push-Url"] == f"/simulation?{EDIT}=10"
    assert 'hx-swap-oob="true"' in partial.text


def test_out_of_range_value_gets_the_loaders_message(client: TestClient) -> None:
    page = client.get(f"/simulation?{EDIT}=-3").text
    field = re.search(r'id="err-f-equilibre-first_appointment_max_days"[^>]*>([^<]*)<', page)
    assert field and field.group(1) == "valeur -3 inférieure au minimum 0"
    assert 'id="total-delta"' not in page
    weight = client.get("/simulation?p.equilibre.scoring.exit_12m.target=1.5").text
    assert "supérieure au maximum 1" in weight
    both = client.get("/simulation?p.equilibre.quantitative_weight=0.4").text
    assert "doivent faire 1" in both


def test_many_edits_skip_each_edits_own_effect(client: TestClient) -> None:
    many = "&".join([f"{EDIT}=10", "p.equilibre.welcome_phase_max_days=20", "p.equilibre.portfolio_min_per_etp=50",
                     "p.equilibre.portfolio_max_per_etp=80", "p.equilibre.meetings_per_period=3",
                     "p.equilibre.max_renewals=2", "p.accueil.positioning_max_days=30",
                     "p.accueil.opportunity_max_days=12", "d.reversement=0"])
    page = client.get(f"/simulation?{many}")
    assert page.status_code == 200 and 'id="total-delta"' in page.text
    assert "effet seul" not in page.text.split('id="edit-effects"')[1].split("</ul>")[0]


def test_unchanged_fields_are_not_edits(client: TestClient) -> None:
    page = client.get("/simulation?p.equilibre.first_appointment_max_days=15&d.reversement=1").text
    assert 'id="no-edit"' in page


def test_decision_switch_and_from_date(client: TestClient, service: Service) -> None:
    page = client.get("/simulation?d.reversement=0&d.reversement=0").text
    assert 'id="total-delta"' in page
    dated = client.get(f"/simulation?{EDIT}=10&f.equilibre.first_appointment_max_days=2025-01-01").text
    expected = run_whatif(service.extracts, service.book, AS_OF, Variant("x", (
        Edit("equilibre.first_appointment_max_days", "10", from_date=date(2025, 1, 1)),)))
    assert _delta(dated) == Decimal(expected.comparison["totals"]["delta_eur"])
    bad = client.get(f"/simulation?{EDIT}=10&f.equilibre.first_appointment_max_days=2025-02-31").text
    assert "date d'effet invalide" in html.unescape(bad)


def test_variant_download_and_upload_round_trip(client: TestClient) -> None:
    query = f"{EDIT}=10&d.startup_neutralise_quantitative=0&nom=Essai"
    expected = _delta(client.get(f"/simulation?{query}").text)
    yaml_text = client.get(f"/simulation/variante.yaml?{query}").text
    assert "parameter: equilibre.first_appointment_max_days" in yaml_text
    assert "decision: startup_neutralise_quantitative" in yaml_text
    token = _csrf(client)
    back = client.post("/simulation/variante", data={"csrf": token},
                       files={"variante": ("v.yaml", yaml_text.encode(), "text/yaml")}, follow_redirects=False)
    assert back.status_code == 303, back.text[:500]
    landed = client.get(back.headers["location"])
    assert _delta(landed.text) == expected


def test_variant_file_is_a_valid_whatif_variant(client: TestClient, tmp_path: Path, service: Service) -> None:
    from engine.load.variants import load_variant

    path = tmp_path / "v.yaml"
    path.write_text(client.get(f"/simulation/variante.yaml?{EDIT}=10").text, encoding="utf-8")
    variant = load_variant(path)
    result = run_whatif(service.extracts, service.book, AS_OF, variant)
    assert Decimal(result.comparison["totals"]["delta_eur"]) == Decimal("-33279.32")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("url", "status", "words"), [
    ("/convention/INCONNUE", 404, "inconnue"),
    ("/convention/EQ-MEMPA-PFF", 404, "Vouliez-vous dire"),
    ("/convention/EQ-MEMPA-PF/unites/nope", 404, "Indicateur"),
    ("/convention/EQ-MEMPA-PF/unites/first_appointment_15d?page=abc", 400, "page"),
    ("/?date=2025-13-45", 400, "Date invalide"),
    ("/simulation?date=demain", 400, "Date invalide"),
    ("/convention/EQ-MEMPA-PF?date=31/02/2025", 400, "Date invalide"),
    ("/regles/parametre/equilibre.first_appointment_max_day", 404, "Vouliez-vous dire"),
    ("/regles/decision/nope", 404, "inconnue"),
    ("/regles/indicateur/equilibre/nope", 404, "inconnu"),
    ("/telecharger/..%2F..%2Fetc%2Fpasswd", 404, ""),
    ("/static/..%2F..%2Fapp.py", 404, ""),
    ("/nulle-part", 404, "n'existe pas"),
    ("/simulation/variante.yaml", 400, "Aucune modification"),
    (f"/simulation/variante.yaml?{EDIT}=-1", 400, "refusées"),
    ("/simulation/dossier", 400, "dossier"),
])
def test_errors_are_french_pages(client: TestClient, url: str, status: int, words: str) -> None:
    response = client.get(url)
    _french_error(response, status)
    assert words in html.unescape(response.text)


def test_wrong_method_is_a_french_page(client: TestClient) -> None:
    _french_error(client.get("/simulation/variante"), 405)
    _french_error(client.post("/", data={"x": "1"}), 405)


def test_logs_carry_no_beneficiary_id(client: TestClient, service: Service, caplog: pytest.LogCaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    beneficiaries = set(service.extracts.tables["episodes"]["beneficiary_id"].head(50).to_list())
    client.get("/convention/EQ-MEMPA-PF/unites/first_appointment_15d?page=1")
    client.get("/convention/EQ-MEMPA-PF/unites/first_appointment_15d.csv")
    monkeypatch.setattr("engine.web.app.explain", lambda *a, **k: (_ for _ in ()).throw(RuntimeError(
        f"boom {sorted(beneficiaries)[0]}")))
    assert client.get("/convention/EQ-MEMPA-PF").status_code == 500
    logged = caplog.text
    assert not any(b in logged for b in beneficiaries)


def test_post_without_csrf_is_refused(client: TestClient) -> None:
    response = client.post("/simulation/variante", files={"variante": ("v.yaml", b"name: x\n", "text/yaml")})
    _french_error(response, 403)
    assert "CSRF" in response.text
    forged = client.post("/simulation/variante", data={"csrf": "faux"},
                         files={"variante": ("v.yaml", b"name: x\n", "text/yaml")})
    _french_error(forged, 403)


def test_oversized_upload_is_refused(client: TestClient) -> None:
    token = _csrf(client)
    big = b"name: x\n# " + b"a" * (MAX_UPLOAD + 10) + b"\n"
    response = client.post("/simulation/variante", data={"csrf": token},
                           files={"variante": ("v.yaml", big, "text/yaml")})
    _french_error(response, 413)


@pytest.mark.parametrize(("content", "words"), [
    (b"name: [unclosed\n", "YAML invalide"),
    (b"- a\n- b\n", "une table est attendue"),
    (b"a: &x [1]\nb: *x\n", "alias"),
    (b"name: x\nchanges: !!python/object:os.system [ls]\n", "étiquette YAML refusée"),
    (b"name: !custom x\nchanges: []\n", "étiquette YAML refusée"),
    (b"\xff\xfe bad", "UTF-8"),
    (b"name: x\nchanges:\n  - {parameter: equilibre.first_appointment_max_day, value: 10}\n", "vouliez-vous dire"),
    (b"name: x\nchanges:\n  - {parameter: equilibre.first_appointment_max_days, value: -4}\n", "minimum"),
])
def test_malformed_upload_is_refused(client: TestClient, content: bytes, words: str) -> None:
    token = _csrf(client)
    response = client.post("/simulation/variante", data={"csrf": token},
                           files={"variante": ("v.yaml", content, "text/yaml")})
    _french_error(response, 400)
    assert words in html.unescape(response.text)


def test_upload_without_file_is_refused(client: TestClient) -> None:
    token = _csrf(client)
    _french_error(client.post("/simulation/variante", data={"csrf": token}), 400)


def test_internal_error_is_a_french_page_without_traceback(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestClient(create_app(service), raise_server_exceptions=False)

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret détail interne")

    monkeypatch.setattr("engine.web.app.results_json", boom)
    response = client.get("/")
    _french_error(response, 500)
    assert "secret" not in response.text


# --------------------------------------------------------------------------- access


def test_password_hash_round_trip() -> None:
    stored = hash_password("pas-de-calais")
    assert stored.startswith("scrypt$")
    assert verify_password("pas-de-calais", stored)
    assert not verify_password("autre", stored)
    assert not verify_password("x", "n'importe quoi")


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")


def test_serve_refuses_another_host_without_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from engine import cli

    monkeypatch.delenv("PARCOURS_PASSWORD_HASH", raising=False)
    monkeypatch.delenv("PARCOURS_PASSWORD_FILE", raising=False)
    result = CliRunner().invoke(cli.app, ["serve", str(SAMPLE), "--host", "0.0.0.0", "--port", "8799"])
    assert result.exit_code == 1
    assert "mot de passe" in result.output and "Traceback" not in result.output


def test_password_hash_from_a_file(tmp_path: Path) -> None:
    from engine.web.security import configured_hash

    file = tmp_path / "hash.txt"
    file.write_text(hash_password("x") + "\n", encoding="utf-8")
    assert configured_hash({"PARCOURS_PASSWORD_FILE": str(file)}) == file.read_text(encoding="utf-8").strip()
    assert configured_hash({"PARCOURS_PASSWORD_HASH": "scrypt$1"}) == "scrypt$1"
    assert configured_hash({}) is None


def test_exposed_server_needs_a_password(service: Service) -> None:
    with pytest.raises(ValueError):
        create_app(service, exposed=True)


def test_exposed_server_login(service: Service) -> None:
    client = TestClient(create_app(service, exposed=True, password_hash=hash_password("secret-42")),
                        raise_server_exceptions=False)
    first = client.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/connexion")
    login = client.get("/connexion")
    token = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
    _french_error(client.post("/connexion", data={"password": "secret-42"}), 403)  # no CSRF token
    wrong = client.post("/connexion", data={"password": "non", "csrf": token})
    assert wrong.status_code == 403 and "Mot de passe incorrect" in wrong.text
    assert client.get("/", follow_redirects=False).status_code == 303
    right = client.post("/connexion", data={"password": "secret-42", "csrf": token, "suite": "/regles"},
                        follow_redirects=False)
    assert right.status_code == 303 and right.headers["location"] == "/regles"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/").status_code == 200


def test_login_attempts_are_limited(service: Service) -> None:
    client = TestClient(create_app(service, exposed=True, password_hash=hash_password("secret-42")),
                        raise_server_exceptions=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/connexion").text).group(1)  # type: ignore[union-attr]
    for _ in range(5):
        assert client.post("/connexion", data={"password": "non", "csrf": token}).status_code == 403
    blocked = client.post("/connexion", data={"password": "secret-42", "csrf": token})
    _french_error(blocked, 429)


def test_csrf_cookie_is_http_only_and_strict(client: TestClient) -> None:
    fresh = TestClient(client.app)
    response = fresh.get("/regles")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(CSRF_COOKIE) and "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_loopback_server_answers_only_to_its_names(service: Service) -> None:
    from engine.web.server import LOOPBACK_NAMES

    client = TestClient(create_app(service, hosts=LOOPBACK_NAMES), base_url="http://127.0.0.1:8000")
    assert client.get("/regles").status_code == 200
    assert client.get("/regles", headers={"host": "localhost:8000"}).status_code == 200
    assert client.get("/regles", headers={"host": "[::1]:8000"}).status_code == 200
    _french_error(client.get("/regles", headers={"host": "attaquant.example:8000"}), 400)


def test_login_redirects_only_inside_the_application(service: Service) -> None:
    client = TestClient(create_app(service, exposed=True, password_hash=hash_password("s")),
                        raise_server_exceptions=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/connexion").text).group(1)  # type: ignore[union-attr]
    for target in ("//evil.example/", "/\\evil.example", "https://evil.example/", "javascript:alert(1)"):
        response = client.post("/connexion", data={"password": "s", "csrf": token, "suite": target},
                               follow_redirects=False)
        assert response.headers["location"] == "/", target


def test_sessions_do_not_share_edits(service: Service) -> None:
    one, two = TestClient(create_app(service)), TestClient(create_app(service))
    one.get(f"/simulation?{EDIT}=10")
    assert 'id="no-edit"' in two.get("/simulation").text
    assert 'id="no-edit"' in one.get("/simulation").text


# --------------------------------------------------------------------------- concurrency

EIGHT = [
    f"{EDIT}=10", f"{EDIT}=5", f"{EDIT}=20", "d.startup_neutralise_quantitative=0",
    "p.equilibre.scoring.first_appointment_15d.target=0.9", "d.reversement=0",
    f"{EDIT}=12&d.valorisation_line=0", "p.accueil.positioning_max_days=30",
]


def test_eight_concurrent_simulations_match_sequential_runs(client: TestClient) -> None:
    sequential = {q: client.get(f"/simulation?{q}").text for q in EIGHT}
    expected = {q: re.findall(r'data-value="[^"]+"|<td class="n[^"]*">[^<]*</td>', sequential[q]) for q in EIGHT}
    start = threading.Barrier(len(EIGHT))

    def one(query: str) -> tuple[str, list[str]]:
        start.wait()
        text = client.get(f"/simulation/comparaison?{query}", headers={"HX-Request": "true"}).text
        return query, re.findall(r'data-value="[^"]+"|<td class="n[^"]*">[^<]*</td>', text)

    with ThreadPoolExecutor(max_workers=len(EIGHT)) as pool:
        answers = dict(pool.map(one, EIGHT))
    for query in EIGHT:
        assert answers[query] == expected[query], query
    assert len({tuple(v) for v in answers.values()}) > 4  # the edits really differ
