"""End to end: `parcours evaluate` on the shipped sample, as a user runs it.

- results.json follows outputs.md (money strings with two decimals, decisions per convention,
  counts that add up), and the reports are written beside it;
- a French office export of the same extracts (`;`, decimal comma, DD/MM/YYYY, oui/non,
  Windows-1252) gives exactly the same figures;
- bad rows added to the extracts are set aside with reasons and counted, and every other
  figure stays what it was.
"""

from __future__ import annotations

import json
import re
import shutil
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.model.contract import TABLES
from engine.model.format import eur as fr_eur

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
AS_OF = "2025-06-30"
runner = CliRunner()


def _evaluate(data: Path, out: Path) -> dict:
    result = runner.invoke(app, ["evaluate", str(data), "--as-of", AS_OF, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def _figures(results: dict) -> list[dict]:
    """What a run says about each convention, without the run manifest (hashes differ)."""
    return results["conventions"]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _evaluate(SAMPLE, tmp_path_factory.mktemp("baseline"))


def test_results_follow_the_output_contract(baseline: dict, tmp_path: Path) -> None:
    run = baseline["run"]
    assert run["as_of"] == AS_OF and run["final"] is False  # some lines run to 31/12/2025
    assert re.fullmatch(r"[0-9a-f]{64}", run["rules_sha256"])
    assert set(run["inputs_sha256"]) >= {"conventions.csv", "episodes.csv", "weekly_activity.csv"}
    assert run["overrides"] == {} and run["version"]
    for name, counts in baseline["inputs"].items():
        assert counts["rows"] == counts["kept"] + counts["rejected"], name
    conventions = baseline["conventions"]
    ids = pl.read_csv(SAMPLE / "conventions.csv", infer_schema=False)["convention_id"].to_list()
    assert [c["convention_id"] for c in conventions] == ids
    money = re.compile(r"-?\d+\.\d{2}")
    for c in conventions:
        for key in ("amount_eur", "earned_eur", "paid_eur", "solde_eur"):
            assert money.fullmatch(c[key]), (c["convention_id"], key, c[key])
        assert Decimal(c["solde_eur"]) == Decimal(c["earned_eur"]) - Decimal(c["paid_eur"])
        assert isinstance(c["decisions"], list)
        for ind in c["indicators"].values():
            assert "evaluable" in ind
            if ind["kind"] == "rate":
                assert isinstance(ind["numerator"], int) and isinstance(ind["denominator"], int)
                assert (ind["value"] is None) == (ind["denominator"] == 0)
        if c["funding"] == "valorisation":
            assert c["amount_eur"] == c["earned_eur"] == "0.00"
            assert "valorisation_line" in c["decisions"]
    # every dispositif of the registry is evaluated, none skipped
    assert {c["dispositif"] for c in conventions} == {"accueil", "equilibre", "independants", "participants"}
    assert baseline["skipped"] == []
    # the sample has a start-up line and a line with money to recover (its period ended on 30/06)
    by_id = {c["convention_id"]: c for c in conventions}
    assert "startup_neutralise_quantitative" in by_id["EQ-TOUSPARRAINS-PF"]["decisions"]
    assert by_id["EQ-TOUSPARRAINS-PF"]["quantitative_score"] == 1.0
    recovering = [c for c in conventions if Decimal(c["solde_eur"]) < 0]
    assert recovering and all(
        ("reversement" in c["flags"]) == c["final"] for c in recovering
    )


def test_reports_are_written_beside_the_results(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["evaluate", str(SAMPLE), "--as-of", AS_OF, "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("results.json", "report.xlsx", "report.html"):
        assert (out / name).is_file() and str(out / name) in result.output.replace("\n", "")


def _french_office_copy(src: Path, dst: Path) -> None:
    """Rewrite every CSV as French office software exports it, column by column per the contract."""
    dst.mkdir()
    for path in sorted(src.glob("*.csv")):
        table = TABLES[path.stem]
        frame = pl.read_csv(path, infer_schema=False)
        exprs = []
        for name in frame.columns:
            kind = table.column(name).kind if name in table.schema else "text"
            col = pl.col(name)
            if kind == "date":
                col = col.str.replace(r"^(\d{4})-(\d{2})-(\d{2})$", "$3/$2/$1")
            elif kind in ("decimal", "hours"):
                col = col.str.replace(".", ",", literal=True)
            elif kind == "bool":
                col = col.replace({"true": "oui", "false": "non"})
            exprs.append(col.alias(name))
        text = frame.select(exprs).write_csv(separator=";")
        (dst / path.name).write_bytes(text.encode("cp1252"))


def test_french_office_export_gives_the_same_figures(baseline: dict, tmp_path: Path) -> None:
    french = tmp_path / "french"
    _french_office_copy(SAMPLE, french)
    sample = (french / "conventions.csv").read_bytes()
    assert b";" in sample and "Hénin".encode("cp1252") in sample  # really cp1252, really `;`
    assert b"53700,00" in sample or b"53700,0" in sample
    results = _evaluate(french, tmp_path / "out")
    assert _figures(results) == _figures(baseline)
    assert {k: v["rejected"] for k, v in results["inputs"].items()} == {
        k: 0 for k in baseline["inputs"]
    }


def test_bad_rows_are_set_aside_and_change_nothing_else(baseline: dict, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    with (data / "episodes.csv").open("a", encoding="utf-8") as f:
        f.write("EBAD1,BX1,EQ-MEMPA-PLE,2025-02-30,,\n")  # impossible date
        f.write("EBAD2,BX2,EQ-NOWHERE,2025-02-03,,\n")  # unknown convention
        f.write("EBAD3,BX3,EQ-MEMPA-PLE,2025-03-10,2025-03-01,emploi\n")  # exit before orientation
    with (data / "appointments.csv").open("a", encoding="utf-8") as f:
        f.write("ABAD1,EBAD3,2025-03-11,physique,honore,suivi\n")  # its episode was set aside
        f.write("ABAD2,E0000001,2025-03-11,pigeon,honore,suivi\n")  # unknown mode
    with (data / "weekly_activity.csv").open("a", encoding="utf-8") as f:
        f.write("E0000001,2025-03-11,10,false\n")  # not a Monday
        f.write("E0000002,2025-03-10,200,false\n")  # hours out of range
    out = tmp_path / "out"
    results = _evaluate(data, out)
    assert _figures(results) == _figures(baseline)
    inputs = results["inputs"]
    assert inputs["episodes"]["rejected"] == 3
    assert inputs["appointments"]["rejected"] == 2
    assert inputs["weekly_activity"]["rejected"] == 2
    for name, counts in inputs.items():
        assert counts["rows"] == counts["kept"] + counts["rejected"], name
        assert counts["kept"] == baseline["inputs"][name]["kept"], name
    rejected = pl.read_csv(out / "rejected" / "episodes.csv")
    assert set(rejected.columns) >= {"file", "line", "column", "value", "reason"}
    assert rejected["column"].to_list().count("orientation_date") >= 1
    appointments = pl.read_csv(out / "rejected" / "appointments.csv")
    assert any("écarté" in r for r in appointments["reason"].to_list())


def test_user_mistakes_give_one_french_message_and_exit_1(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["evaluate", str(tmp_path / "nope"), "--as-of", AS_OF, "--out", str(tmp_path)])
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    frame = pl.read_csv(data / "episodes.csv", infer_schema=False).drop("orientation_date")
    frame.write_csv(data / "episodes.csv")
    result = runner.invoke(app, ["evaluate", str(data), "--as-of", AS_OF, "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "episodes.csv" in result.output and "orientation_date" in result.output
    assert "Traceback" not in result.output
    bad_date = runner.invoke(app, ["evaluate", str(SAMPLE), "--as-of", "31/13/2025", "--out", str(tmp_path)])
    assert bad_date.exit_code == 2


def test_conventions_not_started_are_listed_not_evaluated(tmp_path: Path) -> None:
    """At 30/11/2024 only the two thématique 3 lines starting on 01/11/2024 have begun."""
    out = tmp_path / "out"
    result = runner.invoke(app, ["evaluate", str(SAMPLE), "--as-of", "2024-11-30", "--out", str(out)])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [c["convention_id"] for c in results["conventions"]] == ["T3-AIFOR", "T3-ADEFI"]
    skipped = {s["convention_id"]: s["reason"] for s in results["skipped"]}
    assert len(skipped) == 29
    assert "01/12/2024" in skipped["T3-AMISCOPEAUX"] and "01/01/2025" in skipped["EQ-MEMPA-PLE"]


def test_cost_based_arithmetic_is_in_results_and_page(tmp_path: Path) -> None:
    """Pas-de-Calais Actif: results.json and the page carry the cost arithmetic, and it adds up:
    eligible × (1 + flat rate) × share, capped at the amount, is what was earned."""
    out = tmp_path / "out"
    results = _evaluate_at(SAMPLE, out, "2025-12-31")
    (c,) = [c for c in results["conventions"] if c["dispositif"] == "independants"]
    k = c["costs"]
    eligible = Decimal(k["eligible_personnel_eur"])
    assert Decimal(k["declared_personnel_eur"]) == eligible + Decimal(k["ineligible_personnel_eur"])
    exact = Fraction(k["due_exact"])
    assert abs(exact - Fraction(eligible) * Fraction(str(1 + k["flat_rate"])) * Fraction(str(k["share"]))) < Fraction(1, 100)
    assert Decimal(c["earned_eur"]) == min(Decimal(c["amount_eur"]), Decimal(k["due_eur"]))
    assert k["staff_ineligible"] == len(k["ineligible_staff"]) >= 1
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="couts"' in page and "Financement sur coûts déclarés" in page
    sheet = openpyxl.load_workbook(out / "report.xlsx")["Coûts déclarés"]
    header = [cell.value for cell in sheet[1]]
    row = {h: cell.value for h, cell in zip(header, sheet[2], strict=False)}
    assert row["Convention"] == c["convention_id"]
    assert round(Decimal(str(row["Part due"])), 2) == Decimal(k["due_eur"])
    assert round(Decimal(str(row["Acquis"])), 2) == Decimal(c["earned_eur"])
    assert row["Personnels exclus"] == "; ".join(k["ineligible_staff"])
    assert fr_eur(k["due_eur"]) in page and fr_eur(k["eligible_personnel_eur"]) in page


def _evaluate_at(data: Path, out: Path, as_of: str) -> dict:
    result = runner.invoke(app, ["evaluate", str(data), "--as-of", as_of, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads((out / "results.json").read_text(encoding="utf-8"))
