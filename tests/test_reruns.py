"""Reruns give the same bytes (issue 13, item 8), and what-if stays bounded (item 2).

`report.xlsx` carries the run's as-of date as its creation date (xlsxwriter stamps zip
entries in 1980 already), `report.html` names its charts from their content, and
`results.json` records DATA as its resolved path, however it was typed.
"""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine.compute.whatif as whatif_module
from engine.cli import app
from engine.compute.whatif import NOT_MEASURED, run_whatif
from engine.load.extracts import read_extracts
from engine.load.rules import load_rules
from engine.load.variants import Variant
from engine.model.rulebook import Edit

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
AS_OF = "2025-06-30"
runner = CliRunner()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_evaluate_twice_gives_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    first, second = tmp_path / "first", tmp_path / "second"
    typed = ["./sample_data/", str(SAMPLE)]  # relative with a trailing slash, then absolute
    for data, out in zip(typed, (first, second), strict=True):
        result = runner.invoke(app, ["evaluate", data, "--as-of", AS_OF, "--out", str(out)])
        assert result.exit_code == 0, result.output
    files = _files(first)
    assert {"results.json", "report.xlsx", "report.html"} <= set(files)
    assert files == _files(second)
    assert f'"source": "{SAMPLE.resolve()}"' in files["results.json"].decode()
    with zipfile.ZipFile(first / "report.xlsx") as book:
        stamps = {info.date_time for info in book.infolist()}
        assert len(stamps) == 1 and next(iter(stamps))[0] == 1980  # xlsxwriter's fixed stamp, not the clock
        assert "<dcterms:created xsi:type=\"dcterms:W3CDTF\">2025-06-30T00:00:00Z" in book.read(
            "docProps/core.xml"
        ).decode()
    assert "graphique-" in files["report.html"].decode()
    # a rerun over the previous run gives the same bytes again
    result = runner.invoke(app, ["evaluate", str(SAMPLE), "--as-of", AS_OF, "--out", str(first)])
    assert result.exit_code == 0, result.output
    assert _files(first) == files


def test_whatif_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    runs = []
    for name in ("first", "second"):
        out = tmp_path / name
        result = runner.invoke(app, ["whatif", str(SAMPLE), "--as-of", AS_OF, "--out", str(out),
                                     "--set", "equilibre.first_appointment_max_days=10",
                                     "--set", "equilibre.scoring.exit_12m.target=0.5"])
        assert result.exit_code == 0, result.output
        runs.append(_files(out))
    assert {"comparison.json", "report.xlsx", "report.html", "baseline/results.json",
            "variant/results.json", "variant/report.xlsx", "variant/report.html"} <= set(runs[0])
    assert runs[0] == runs[1]


def test_edit_effects_are_measured_up_to_a_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond the cap, no extra evaluation per edit: the edit says its effect was not measured."""
    monkeypatch.setattr(whatif_module, "MAX_ISOLATED_EFFECTS", 1)
    calls = []
    real = whatif_module.evaluate

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(whatif_module, "evaluate", counting)
    book = load_rules()
    edits = (
        Edit(path="equilibre.first_appointment_max_days", value=10, origin="test"),
        Edit(path="equilibre.first_appointment_max_days", value=12, origin="test"),
        Edit(path="equilibre.first_appointment_max_days", value=14, origin="test"),
    )
    result = run_whatif(read_extracts(SAMPLE), book, date(2025, 6, 30), Variant(name="trois", edits=edits))
    assert len(calls) == 3  # baseline, variant, and the first edit alone; not one per edit
    notes = [e["effect"] for e in result.comparison["edits"]]
    assert notes[1:] == [NOT_MEASURED, NOT_MEASURED]
    assert result.comparison["edits"][0]["delta_eur"] is not None
