"""The workbook prints (issue 10): page set-up on every sheet, Synthèse on at most 2 pages.

openpyxl reads back the page set-up of every sheet of the sample run's workbook; LibreOffice
(headless; installed by the test when missing, as the page test installs Chromium) converts it
to PDF, and the pages whose header names « Synthèse » are counted with pdftotext.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import openpyxl
import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTEFACTS = ROOT / "out" / "test-artefacts"


@pytest.fixture(scope="module")
def sample_workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / "sample_data").is_dir():
        pytest.skip("sample_data/ absent")
    from engine.compute.pipeline import evaluate
    from engine.load.extracts import read_extracts
    from engine.load.rules import load_rules
    from engine.present.results_json import results_json
    from engine.present.workbook import params_table, write_workbook

    when = date(2025, 6, 30)
    book = load_rules()
    extracts = read_extracts(ROOT / "sample_data")
    results = results_json(evaluate(extracts, book, when))
    return write_workbook(results, tmp_path_factory.mktemp("xlsx") / "report.xlsx",
                          params=params_table(book, when), rejected=extracts.rejected)


def test_every_sheet_is_set_up_for_printing(sample_workbook: Path) -> None:
    wb = openpyxl.load_workbook(sample_workbook)
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert ws.page_setup.fitToWidth in (None, 1) and ws.page_setup.fitToHeight == 0, ws.title
        assert ws.print_title_rows == "$1:$1", ws.title
        header = (ws.oddHeader.left.text or "") + (ws.oddHeader.center.text or "") + (ws.oddHeader.right.text or "")
        assert "parcours" in header and ws.title in header and "30/06/2025" in header, header
        assert "mixte : 8 convention(s) définitive(s), 23 en projection" in header
        assert "&P" in (ws.oddFooter.right.text or "") and "&N" in (ws.oddFooter.right.text or "")
    names = wb.sheetnames
    assert not any(n.startswith("Dispositif ") for n in names)
    assert "Équilibre social-pro" in names


def test_counts_are_integers_and_status_is_shown(sample_workbook: Path) -> None:
    wb = openpyxl.load_workbook(sample_workbook)
    ws = wb["Équilibre social-pro"]
    headers = [c.value for c in ws[1]]
    value = headers.index("Valeur")
    months = next(r for r in ws.iter_rows(min_row=2) if r[3].value == "months_active")
    assert months[4].value == "mois d'accompagnement"
    assert months[value].number_format == "#,##0"
    assert "Statut" in headers
    syn = wb["Synthèse"]
    heads = [c.value for c in syn[1]]
    statuses = {r[heads.index("Statut")].value for r in syn.iter_rows(min_row=2, max_row=32)}
    assert statuses == {"définitif", "projection"}
    rules = {r[heads.index("Règles appliquées")].value for r in syn.iter_rows(min_row=2, max_row=32)}
    assert not any("valorisation_line" in (r or "") or "interim_projection" in (r or "") for r in rules)


def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or (hasattr(os, "geteuid") and os.geteuid() != 0):
        pytest.skip("LibreOffice absent et impossible à installer (pas d'apt-get ou pas root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends",
                                  "libreoffice-calc-nogui", "poppler-utils"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800, check=False)
        if done.returncode != 0:
            pytest.skip(f"installation de LibreOffice impossible : {done.stderr[-300:]}")
    found = shutil.which("soffice")
    if not found:
        pytest.skip("soffice introuvable après installation")
    return found


def test_synthese_prints_on_at_most_two_pages(sample_workbook: Path, tmp_path: Path) -> None:
    binary = soffice()
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext absent (poppler-utils)")
    done = subprocess.run(
        [binary, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to", "pdf",
         "--outdir", str(tmp_path), str(sample_workbook)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    pdf = tmp_path / "report.pdf"
    assert pdf.is_file(), done.stderr[-1000:]
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(pdf, ARTEFACTS / "report-xlsx.pdf")
    pages = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout.split("\f")
    synthese = [p for p in pages if p.strip() and "Synthèse" in p.splitlines()[0] + p[:400]]
    assert 1 <= len(synthese) <= 2, f"{len(synthese)} pages"
    assert "Total général" in "".join(synthese)
