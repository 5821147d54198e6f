"""The web application in a real browser: Playwright for Python driving the system's Chromium.

No browser is downloaded: the test uses Debian's `chromium` (installed with apt-get when
missing, as the report test does) and skips only when that fails. A live uvicorn serves
`sample_data/` on 127.0.0.1 (a free port) for the module; a second one, built as an
exposed server with a password hash, checks the login. Screenshots of every page at
1280 px and 390 px are written to out/screenshots/ (git-ignored test artefacts).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402
from test_reports import chromium  # noqa: E402

from engine.web.app import create_app  # noqa: E402
from engine.web.security import hash_password  # noqa: E402
from engine.web.service import Service  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
SHOTS = ROOT / "out" / "screenshots"
AS_OF = date(2025, 6, 30)
FIELD = "#in-f-equilibre-first_appointment_max_days"
ERROR = "#err-f-equilibre-first_appointment_max_days"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """uvicorn in a thread on 127.0.0.1, stopped at the end of the module."""

    def __init__(self, app: Any):
        import uvicorn

        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *args: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def service() -> Service:
    return Service(SAMPLE, as_of=AS_OF)


@pytest.fixture(scope="module")
def base(service: Service) -> Iterator[str]:
    with _Server(create_app(service)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    binary = chromium()
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=binary, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True, locale="fr-FR")
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    yield tab
    context.close()
    blocked = [p for p in problems if "Content Security Policy" in p or "Refused" in p]
    assert not blocked, blocked


def _whatif_delta(tmp_path: Path) -> str:
    """`parcours whatif sample_data --as-of 2025-06-30 --set equilibre.first_appointment_max_days=10`."""
    out = tmp_path / "whatif"
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from engine.cli import main; sys.argv[0] = 'parcours'; main()",
         "whatif", str(SAMPLE), "--as-of", "2025-06-30", "--set", "equilibre.first_appointment_max_days=10",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return str(json.loads((out / "comparison.json").read_text(encoding="utf-8"))["totals"]["delta_eur"])


def _shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_simulation_delta_equals_whatif(page: Page, base: str, tmp_path: Path) -> None:
    expected = _whatif_delta(tmp_path)
    page.goto(f"{base}/")
    assert page.locator("h1").first.inner_text().startswith("Tableau de bord")
    page.get_by_role("link", name="Simulation").first.click()
    page.wait_for_url("**/simulation")
    page.click("summary:has-text('Paramètres — equilibre')")
    page.fill(FIELD, "10")
    page.press(FIELD, "Tab")
    delta = page.locator("#total-delta")
    delta.wait_for(timeout=30_000)
    assert delta.get_attribute("data-value") == expected == "-33279.32"
    assert "\u221233\u00a0279,32\u00a0€" in delta.inner_text()
    page.wait_for_function("() => location.search.includes('first_appointment_max_days=10')")


def test_out_of_range_value_shows_the_french_message(page: Page, base: str) -> None:
    page.goto(f"{base}/simulation")
    page.click("summary:has-text('Paramètres — equilibre')")
    page.fill(FIELD, "-3")
    page.press(FIELD, "Tab")
    page.wait_for_function(f"() => document.querySelector('{ERROR}').textContent.includes('minimum')")
    assert page.locator(ERROR).inner_text() == "valeur -3 inférieure au minimum 0"
    assert page.locator("#refused").is_visible()


def test_variant_download_and_upload(page: Page, base: str, tmp_path: Path) -> None:
    page.goto(f"{base}/simulation?p.equilibre.first_appointment_max_days=10&d.startup_neutralise_quantitative=0")
    expected = page.locator("#total-delta").get_attribute("data-value")
    with page.expect_download() as info:
        page.click("#download-variant")
    saved = tmp_path / "variante.yaml"
    info.value.save_as(saved)
    assert "equilibre.first_appointment_max_days" in saved.read_text(encoding="utf-8")
    page.goto(f"{base}/simulation")
    assert page.locator("#no-edit").is_visible()
    page.set_input_files("#variante", str(saved))
    page.click("#upload-form button[type=submit]")
    page.locator("#total-delta").wait_for(timeout=30_000)
    assert page.locator("#total-delta").get_attribute("data-value") == expected
    assert page.locator(FIELD).input_value() == "10"


def test_convention_source_leads_to_its_rule_page(page: Page, base: str) -> None:
    page.goto(f"{base}/")
    page.click("a[href^='/convention/EQ-MEMPA-PF']")
    page.wait_for_url("**/convention/EQ-MEMPA-PF")
    link = page.locator("a.source-link").first
    path = link.get_attribute("href")
    assert path and path.startswith("/regles/parametre/")
    link.click()
    page.wait_for_url(f"**{path}")
    assert page.locator("#rule-title").is_visible()
    assert page.locator("blockquote").first.inner_text().startswith("«")


def test_missed_units_open_in_place_and_page(page: Page, base: str) -> None:
    page.goto(f"{base}/convention/EQ-MEMPA-PF")
    page.click("#ind-first_appointment_15d summary")
    table = page.locator("#units-first_appointment_15d table.units-table")
    table.wait_for(timeout=30_000)
    assert table.locator("tbody tr").count() == 7
    assert "page 1 sur 1" in page.locator("#units-first_appointment_15d .pager").inner_text()


def test_dashboard_filter_and_sort(page: Page, base: str) -> None:
    page.goto(f"{base}/")
    page.select_option("#dispositif", "accueil")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**dispositif=accueil**")
    ids = page.locator("#conventions tbody td.id a").all_inner_texts()
    assert ids and all(i.startswith("AC-") for i in ids)
    page.click("#conventions th a:has-text('Acquis')")
    page.wait_for_url("**tri=acquis**")
    assert page.locator("#conventions tbody td.id a").count() == len(ids)


def test_exposed_server_asks_for_the_password(browser: Browser, service: Service) -> None:
    app = create_app(service, exposed=True, password_hash=hash_password("mot-de-passe-essai"))
    with _Server(app) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        tab.goto(f"{url}/simulation")
        tab.wait_for_url("**/connexion*")
        tab.fill("#password", "faux")
        tab.click("button[type=submit]")
        assert tab.locator("#login-error").inner_text() == "Mot de passe incorrect."
        assert tab.goto(f"{url}/regles").url.startswith(f"{url}/connexion")
        _shoot(tab, "connexion")
        tab.fill("#password", "mot-de-passe-essai")
        tab.click("button[type=submit]")
        tab.wait_for_url(f"{url}/regles")
        tab.goto(f"{url}/simulation")
        assert tab.url == f"{url}/simulation"
        context.close()


def test_screenshots_of_every_page(page: Page, base: str) -> None:
    pages = {
        "tableau-de-bord": "/",
        "convention": "/convention/EQ-MEMPA-PF",
        "unites": "/convention/EQ-MEMPA-PF/unites/first_appointment_15d?page=1",
        "regles": "/regles",
        "parametre": "/regles/parametre/equilibre.first_appointment_max_days",
        "indicateur": "/regles/indicateur/equilibre/first_appointment_15d",
        "decision": "/regles/decision/reversement",
        "simulation": "/simulation?p.equilibre.first_appointment_max_days=10",
        "dossier": "/simulation/dossier?p.equilibre.first_appointment_max_days=10",
        "donnees": "/donnees",
        "erreur": "/convention/INCONNUE",
    }
    for name, path in pages.items():
        page.goto(f"{base}{path}")
        _shoot(page, name)
        assert (SHOTS / f"{name}-390.png").stat().st_size > 1000
    shutil.rmtree(SHOTS / "tmp", ignore_errors=True)
