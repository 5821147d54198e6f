"""« Historique » and « Comparer deux évaluations » in a real browser (Playwright, system Chromium).

A live server over sample_data/ reads a register with three quarterly runs
(tests/history_support.py). The test opens Historique, picks a convention, goes to the
comparison, picks T1 and T2, and reads the causes; then records the final run from the
dashboard's « Enregistrer cette évaluation » (a second time with the same label: refused in
French); screenshots at 1280 px and 390 px go to
out/screenshots/ (historique-*, historique-evaluation-*, comparer-*), and at 390 px no page
is wider than the screen (tables scroll in their own frame).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
from history_support import record_quarters  # noqa: E402
from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402
from test_reports import chromium  # noqa: E402
from test_web_browser import SHOTS, _Server, _shoot  # noqa: E402

from engine.web.app import create_app  # noqa: E402
from engine.web.service import Service  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = record_quarters(tmp_path_factory.mktemp("history-browser"))
    with _Server(create_app(Service(SAMPLE, as_of=date(2025, 6, 30)), register=url)) as address:
        yield address


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
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text)
           if m.type == "error" and "Failed to load resource" not in m.text else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.on("response", lambda r: problems.append(f"{r.status} {r.url}")
           if r.status >= 400 and r.status != 409 and not r.url.endswith("/favicon.ico") else None)
    yield tab
    context.close()
    assert not problems, problems  # no script error, no CSP refusal, no missing asset


def _fits_390(page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 900})
    width = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert width <= 390, f"page {page.url} is {width} px wide at 390 px"


def test_history_then_compare(page: Page, base: str) -> None:
    page.goto(f"{base}/")
    page.click("nav >> text=Historique")
    assert page.url == f"{base}/historique"
    assert page.locator("#runs tbody tr").count() == 3
    page.select_option("#convention", "EQ-MEMPA-PLE")
    page.click("#evolution-form button")
    assert "convention=EQ-MEMPA-PLE" in page.url
    assert page.locator("#evolution svg").count() == 12
    assert page.locator("#chart-earned_eur .bar-row").count() == 3
    _shoot(page, "historique")
    _fits_390(page)

    page.click("#runs tbody tr:nth-child(2) td:nth-child(2) a")
    assert "/historique/evaluation/" in page.url
    assert "T2 2025" in page.locator("h1").inner_text()
    _shoot(page, "historique-evaluation")
    _fits_390(page)

    page.goto(f"{base}/historique")
    page.click("text=Comparer deux évaluations")
    assert page.url == f"{base}/historique/comparer"
    page.select_option("#run-a", label="n° 1 — T1 2025 (au 31/03/2025)")
    page.select_option("#run-b", label="n° 2 — T2 2025 (au 30/06/2025)")
    page.click("#compare-form button")
    causes = page.locator("#causes").inner_text()
    assert "31/03/2025 → 30/06/2025" in causes and "participants.csv (modifié)" in causes
    assert page.locator("#compare tbody tr").count() > 1
    lievin = page.locator("#conv-PA-CCAS-LIEVIN").inner_text()
    assert "Données" in lievin and "participants.csv" in lievin
    _shoot(page, "comparer")
    _fits_390(page)

    page.select_option("#run-a", label="n° 2 — T2 2025 (au 30/06/2025)")
    page.select_option("#run-b", label="n° 3 — T3 2025 (au 30/09/2025)")
    page.click("#compare-form button")
    assert "equilibre.first_appointment_max_days" in page.locator("#causes").inner_text()
    _shoot(page, "comparer-regles")
    assert (SHOTS / "comparer-390.png").stat().st_size > 1000


def test_record_this_evaluation_from_the_dashboard(page: Page, base: str) -> None:
    page.goto(f"{base}/?date=2025-12-31")
    page.click("text=Enregistrer cette évaluation")
    assert page.locator("#enregistrer").get_attribute("open") is not None
    assert page.locator("#record-date").input_value() == "2025-12-31"
    page.fill("#record-label", "Solde 2025")
    _shoot(page, "historique-enregistrer")
    page.click("#enregistrer button")
    assert "/historique/evaluation/4" in page.url
    assert "« Solde 2025 » au 31/12/2025" in page.locator("h1").inner_text()
    assert "finale" in page.locator("h1").inner_text()
    page.goto(f"{base}/historique?date=2025-12-31")
    page.fill("#record-label", "Solde 2025")
    page.click("#enregistrer button")
    assert "déjà enregistrée (n° 4)" in page.locator("main").inner_text()
