"""Reports for finance and policy staff: `report.xlsx` and `report.html`, built from data.

The run below is written by hand: three conventions, two dispositifs (`equilibre`,
`accueil`), two budget lines, one reversement (EQ-BETA-LENS: earned 20 000,00 € − paid
25 000,00 € = −5 000,00 €) and one what-if comparison.

Totals, by hand:
- C02-446A05 (EQ-ALPHA-ARR + EQ-BETA-LENS): amount 53 700,00 + 40 000,00 = 93 700,00;
  earned 46 714,50 + 20 000,00 = 66 714,50; paid 26 850,00 + 25 000,00 = 51 850,00;
  solde 19 864,50 − 5 000,00 = 14 864,50.
- C01-444H02 (AC-GAMMA-BOUL): 1 234 567,89 / 1 111 111,11 / 617 283,95 / 493 827,16.
- overall: 1 328 267,89 / 1 177 825,61 / 669 133,95 / 508 691,66.
- what-if deltas: +1 296,70, −500,00, 0,00 → +796,70 (all of it on C02-446A05).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openpyxl
import polars as pl
import pytest
from plotly.offline import get_plotlyjs

from engine.load.rules import load_rules
from engine.model.format import eur as fr_eur
from engine.model.format import percent
from engine.present.page import write_html
from engine.present.workbook import MONEY_FIELDS, params_table, write_workbook

ROOT = Path(__file__).resolve().parent.parent
ARTEFACTS = ROOT / "out" / "test-artefacts"
NBSP = "\u00a0"


# --------------------------------------------------------------------------- the hand-made run


def rate(num: int, den: int, target: float, floor: float, weight: float) -> dict[str, Any]:
    value = num / den if den else None
    score = None if value is None else min(1.0, max(0.0, (value - floor) / (target - floor)))
    return {
        "kind": "rate",
        "numerator": num,
        "denominator": den,
        "value": value,
        "evaluable": den > 0,
        "target": target,
        "floor": floor,
        "score": score,
        "weight": weight,
    }


def volume(value: float, target: float) -> dict[str, Any]:
    return {
        "kind": "volume",
        "value": value,
        "target": target,
        "evaluable": True,
        "score": min(1.0, value / target),
        "weight": 1.0,
    }


def convention(
    cid: str,
    structure: str,
    territory: str,
    dispositif: str,
    line: str,
    indicators: dict[str, Any],
    money: tuple[str, str, str, str],
    **extra: Any,
) -> dict[str, Any]:
    amount, earned, paid, solde = money
    return {
        "convention_id": cid,
        "structure": structure,
        "territory": territory,
        "dispositif": dispositif,
        "funding": "financement",
        "budget_line": line,
        "thematique": None,
        "operation": None,
        "period_start": "2025-01-01",
        "period_end": "2025-06-30",
        "window": {"start": "2025-01-01", "end": "2025-06-30"},
        "final": True,
        "indicators": indicators,
        "reported": extra.pop("reported", {}),
        "quantitative_score": extra.pop("quantitative_score", 1.0),
        "qualitative_score": extra.pop("qualitative_score", 0.8),
        "quantitative_weight": 0.5,
        "qualitative_weight": 0.5,
        "amount_eur": amount,
        "earned_eur": earned,
        "earned_exact": earned,
        "paid_eur": paid,
        "solde_eur": solde,
        "flags": (flags := extra.pop("flags", [])),
        "warnings": (warnings := extra.pop("warnings", [])),
        # the wording results.json carries, from rules/decisions.yaml `labels:`
        "labels": {code: BOOK.flag_labels[code] for code in [*flags, *warnings]},
        "decisions": extra.pop("decisions", []),
    }


BOOK = load_rules()


def make_results() -> dict[str, Any]:
    eq = {
        "first_appointment_15d": rate(150, 160, 0.9, 0.5, 0.2),
        "contractualisation": rate(70, 100, 0.9, 0.5, 0.2),
        "weekly_15h": rate(0, 0, 0.8, 0.4, 0.0),
        "exit_12m": rate(12, 60, 0.3, 0.1, 0.3),
        "ceu_quality": rate(300, 320, 0.9, 0.5, 0.3),
        "occupancy": volume(57.25, 55.0),
    }
    eq_beta = copy.deepcopy(eq)
    eq_beta["first_appointment_15d"] = rate(40, 100, 0.9, 0.5, 0.2)
    eq_beta["occupancy"] = volume(30.5, 55.0)
    ac = {
        "orientation_6w": rate(90, 100, 0.9, 0.5, 0.5),
        "opportunity_10d": rate(45, 60, 0.9, 0.5, 0.5),
        "diagnostics_volume": volume(420.0, 500.0),
    }
    return {
        "run": {
            "as_of": "2025-06-30",
            "final": True,
            "rules_sha256": "ab" * 32,
            "inputs_sha256": {"conventions.csv": "cd" * 32, "episodes.csv": "ef" * 32},
            "overrides": {},
            "edits": [],
            "version": "0.1.0",
            "source": "sample_data",
        },
        "inputs": {
            "conventions": {"rows": 3, "kept": 3, "rejected": 0},
            "episodes": {"rows": 102, "kept": 100, "rejected": 2},
        },
        "skipped": [],
        "conventions": [
            convention(
                "EQ-ALPHA-ARR",
                "ALPHA",
                "Arrageois",
                "equilibre",
                "C02-446A05",
                eq,
                ("53700.00", "46714.50", "26850.00", "19864.50"),
                reported={"physical_meetings": 410, "above_portfolio_max": False},
                decisions=[],
            ),
            convention(
                "EQ-BETA-LENS",
                "BETA",
                "Lens-Liévin",
                "equilibre",
                "C02-446A05",
                eq_beta,
                ("40000.00", "20000.00", "25000.00", "-5000.00"),
                quantitative_score=0.5545,
                qualitative_score=0.4455,
                flags=["reversement"],
                warnings=["exits_without_final_review"],
                decisions=["exits_without_final_review", "reversement"],
            ),
            convention(
                "AC-GAMMA-BOUL",
                "GAMMA",
                "Boulonnais",
                "accueil",
                "C01-444H02",
                ac,
                ("1234567.89", "1111111.11", "617283.95", "493827.16"),
                flags=["startup_neutralised"],
                decisions=["startup_neutralise_quantitative"],
            ),
        ],
    }


def make_comparison() -> dict[str, Any]:
    return {
        "overrides": {"equilibre.first_appointment_max_days": 30},
        "conventions": [
            {
                "convention_id": "EQ-ALPHA-ARR",
                "baseline_earned_eur": "46714.50",
                "variant_earned_eur": "48011.20",
                "delta_eur": "1296.70",
            },
            {
                "convention_id": "EQ-BETA-LENS",
                "baseline_earned_eur": "20000.00",
                "variant_earned_eur": "19500.00",
                "delta_eur": "-500.00",
            },
            {
                "convention_id": "AC-GAMMA-BOUL",
                "baseline_earned_eur": "1111111.11",
                "variant_earned_eur": "1111111.11",
                "delta_eur": "0.00",
            },
        ],
        "by_budget_line": [
            {
                "budget_line": "C02-446A05",
                "baseline_earned_eur": "66714.50",
                "variant_earned_eur": "67511.20",
                "delta_eur": "796.70",
                "available_eur": "915067.73",
                "remaining_eur": "847556.53",
            },
            {
                "budget_line": "C01-444H02",
                "baseline_earned_eur": "1111111.11",
                "variant_earned_eur": "1111111.11",
                "delta_eur": "0.00",
                "available_eur": "620612.11",
                "remaining_eur": "-490499.00",
            },
        ],
    }


def make_variant() -> dict[str, Any]:
    variant = make_results()
    variant["run"]["overrides"] = {"equilibre.first_appointment_max_days": 30}
    new = {"EQ-ALPHA-ARR": ("48011.20", "21161.20"), "EQ-BETA-LENS": ("19500.00", "-5500.00")}
    for c in variant["conventions"]:
        if c["convention_id"] in new:
            c["earned_eur"], c["solde_eur"] = new[c["convention_id"]]
    return variant


def row(
    path: str,
    kind: str,
    description: str,
    value: str,
    ref: str,
    quote: str,
    *,
    interpretation: bool = False,
    unit: str = "",
    target_parameter: str | None = None,
    part: str | None = None,
) -> dict[str, Any]:
    return {
        "path": path,
        "kind": kind,
        "dispositif": path.split(".")[0],
        "description": description,
        "value": value,
        "since": "2024-12-09" if kind == "paramètre" else "",
        "history": "",
        "unit": unit,
        "document": "deliberation-cp-2024-587",
        "document_title": "Délibération n°2024-587",
        "ref": ref,
        "quote": quote,
        "interpretation": interpretation,
        "edited": False,
        "target_parameter": target_parameter,
        "part": part,
    }


def make_params() -> list[dict[str, Any]]:
    ind = "indicateur"
    return [
        row("equilibre", "dispositif", "Accompagnement équilibré social-professionnel", "", "", ""),
        row("accueil", "dispositif", "Accueil des BRSA", "", "", ""),
        row(
            "equilibre.indicators.first_appointment_15d",
            ind,
            "Respect des 15 jours pour le 1er rendez-vous",
            "taux",
            "L470",
            "1. Respect des 15 jours pour le 1er rendez-vous",
            part="qualitative",
        ),
        row(
            "equilibre.indicators.contractualisation",
            ind,
            "Taux de contractualisation",
            "taux",
            "L470",
            "2. Taux de contractualisation",
            part="qualitative",
        ),
        row(
            "equilibre.indicators.weekly_15h",
            ind,
            "Respect des 15h hebdomadaires",
            "taux",
            "L470",
            "3. Respect des 15h/hebdomadaire",
            part="qualitative",
        ),
        row(
            "equilibre.indicators.exit_12m",
            ind,
            "Taux de sorties dynamiques à 12 mois",
            "taux",
            "L470",
            "4. Taux de sorties à 12 mois",
            part="qualitative",
        ),
        row(
            "equilibre.indicators.ceu_quality",
            ind,
            "Qualité des Contrats d'Engagement Unique",
            "taux",
            "L470",
            "5. Qualité des Contrat d'Engagement Unique",
            part="qualitative",
        ),
        row(
            "equilibre.indicators.occupancy",
            ind,
            "Taux d'occupation du portefeuille",
            "volume",
            "L461",
            "Portefeuilles 55 à 70 personnes par ETP",
            part="quantitative",
            target_parameter="portfolio_min_per_etp",
        ),
        row(
            "equilibre.portfolio_min_per_etp",
            "paramètre",
            "Portefeuille minimal par ETP",
            "55",
            "L461",
            "Portefeuilles 55 à 70 personnes par ETP",
            unit="personnes/ETP",
        ),
        row(
            "equilibre.first_appointment_max_days",
            "paramètre",
            "Délai maximal du 1er rendez-vous",
            "15",
            "L457",
            "un premier rendez-vous dans les 15 jours",
            unit="jours",
        ),
        row(
            "equilibre.scoring.first_appointment_15d.target",
            "paramètre",
            "Cible",
            "0.9",
            "§5.4",
            "defaults: first_appointment_15d 0.90/0.50",
            interpretation=True,
            unit="taux",
        ),
        row(
            "equilibre.scoring.first_appointment_15d.floor",
            "paramètre",
            "Plancher",
            "0.5",
            "§5.4",
            "defaults: first_appointment_15d 0.90/0.50",
            interpretation=True,
            unit="taux",
        ),
        row(
            "accueil.indicators.orientation_6w",
            ind,
            "Orientation sous 6 semaines",
            "taux",
            "L320",
            "positionnement dans les 6 semaines",
            part="qualitative",
        ),
        row(
            "accueil.indicators.opportunity_10d",
            ind,
            "Opportunité sous 10 jours",
            "taux",
            "L322",
            "dans les 10 jours",
            part="qualitative",
        ),
        row(
            "decisions.reversement",
            "règle",
            "Solde négatif — somme à reverser par la structure",
            "active",
            "§5.4",
            "a negative solde is an amount to recover (flag reversement)",
        ),
    ]


def make_rejected() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "table": ["episodes", "episodes"],
            "file": ["episodes.csv", "episodes.csv"],
            "line": [12, 57],
            "column": ["orientation_date", "convention_id"],
            "value": ["2025-02-30", '=HYPERLINK("x")'],
            "reason": ["date invalide « 2025-02-30 »", "convention inconnue"],
        }
    )


def decimal_totals(convs: list[dict[str, Any]]) -> dict[str, Decimal]:
    return {k: sum((Decimal(c[k]) for c in convs), Decimal(0)) for k in MONEY_FIELDS}


def cents(value: Any) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.01"))


def french(amount: str) -> str:
    """Independent French formatting of a money string: `-1234567.89` → `−1 234 567,89 €` (U+2212)."""
    sign, digits = ("\u2212", amount[1:]) if amount.startswith("-") else ("", amount)
    whole, frac = digits.split(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return f"{sign}{NBSP.join(groups)},{frac}{NBSP}€"


# --------------------------------------------------------------------------- workbook


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xlsx") / "report.xlsx"
    return write_workbook(
        make_results(),
        path,
        params=make_params(),
        rejected=make_rejected(),
        comparison=make_comparison(),
        variant=make_variant(),
    )


def test_workbook_sheets(workbook: Path) -> None:
    wb = openpyxl.load_workbook(workbook, data_only=True)
    # a what-if workbook opens on the comparison, then the variant's report, then the baseline's
    report = ["Synthèse", "equilibre", "accueil", "Lignes écartées", "Paramètres", "Exécution"]
    assert wb.sheetnames == ["Comparaison", *(f"Var. {n}" for n in report), *(f"Réf. {n}" for n in report)]
    for ws in wb.worksheets:
        assert ws.freeze_panes in ("A2", "B2"), ws.title
        assert ws.auto_filter.ref, ws.title


def test_workbook_without_comparison_has_no_comparison_sheet(tmp_path: Path) -> None:
    path = write_workbook(
        make_results(), tmp_path / "r.xlsx", params=[], rejected=make_rejected().clear()
    )
    wb = openpyxl.load_workbook(path)
    assert "Comparaison" not in wb.sheetnames
    assert wb["Lignes écartées"]["A3"].value == "Aucune ligne écartée."


def _table(ws: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
    rows = list(ws.iter_rows(values_only=True))
    return [str(h) for h in rows[0]], rows[1:]


def test_synthese_rows_and_totals_reconcile_to_the_cent(workbook: Path) -> None:
    results = make_results()
    ws = openpyxl.load_workbook(workbook, data_only=True)["Réf. Synthèse"]
    headers, rows = _table(ws)
    for h in (
        "Convention",
        "Structure",
        "Territoire",
        "Dispositif",
        "Financement / valorisation",
        "Ligne budgétaire",
        "Score quantitatif",
        "Score qualitatif",
        "Montant conventionné",
        "Acquis",
        "Déjà versé",
        "Solde",
        "Signalements",
    ):
        assert h in headers
    assert "Statut" in headers
    col = {
        name: headers.index(label)
        for name, label in zip(
            MONEY_FIELDS, ("Montant conventionné", "Acquis", "Déjà versé", "Solde"), strict=True
        )
    }
    data = [r for r in rows if r[0] in {c["convention_id"] for c in results["conventions"]}]
    assert [r[0] for r in data] == ["EQ-ALPHA-ARR", "EQ-BETA-LENS", "AC-GAMMA-BOUL"]
    for r, c in zip(data, results["conventions"], strict=True):
        for name, j in col.items():
            assert isinstance(r[j], int | float)  # a real number, not text
            assert cents(r[j]) == Decimal(c[name])
    assert "reversement" in data[1][headers.index("Signalements")]
    total = next(r for r in rows if r[0] == "Total général")
    expected = decimal_totals(results["conventions"])
    assert expected["earned_eur"] == Decimal("1177825.61")
    for name, j in col.items():
        assert cents(total[j]) == expected[name]
    line_col = headers.index("Ligne budgétaire")
    per_line = {r[line_col]: r for r in rows if r[0] == "Total ligne budgétaire"}
    assert set(per_line) == {"C02-446A05", "C01-444H02"}
    for line, r in per_line.items():
        convs = [c for c in results["conventions"] if c["budget_line"] == line]
        for name, j in col.items():
            assert cents(r[j]) == decimal_totals(convs)[name]
    assert cents(per_line["C02-446A05"][col["solde_eur"]]) == Decimal("14864.50")
    checks = [
        v for r in rows if r[0] and str(r[0]).startswith("Total") for v in r if v == "contrôle OK"
    ]
    assert len(checks) == 3
    # the autofilter covers the conventions only, not the totals below
    assert ws.auto_filter.ref.endswith("4")


def test_synthese_formats(workbook: Path) -> None:
    ws = openpyxl.load_workbook(workbook)["Réf. Synthèse"]
    headers = [c.value for c in ws[1]]
    earned = ws.cell(row=2, column=headers.index("Acquis") + 1)
    assert "€" in earned.number_format and "0.00" in earned.number_format
    score = ws.cell(row=2, column=headers.index("Score qualitatif") + 1)
    assert score.number_format.endswith("%")
    formula = next(
        c.value
        for r in ws.iter_rows()
        for c in r
        if isinstance(c.value, str) and "SUMIFS" in c.value
    )
    assert formula.startswith("=IF(AND(ROUND(SUMIFS(")


def test_dispositif_sheet_has_every_indicator(workbook: Path) -> None:
    ws = openpyxl.load_workbook(workbook, data_only=True)["Réf. equilibre"]
    headers, rows = _table(ws)
    assert headers[:4] == ["Convention", "Structure", "Territoire", "Indicateur"]
    for h in (
        "Numérateur",
        "Dénominateur",
        "Valeur",
        "Cible",
        "Plancher",
        "Score",
        "Poids",
        "Source",
    ):
        assert h in headers
    first = next(r for r in rows if r[0] == "EQ-ALPHA-ARR" and r[3] == "first_appointment_15d")
    assert first[headers.index("Numérateur")] == 150 and first[headers.index("Dénominateur")] == 160
    assert first[headers.index("Valeur")] == pytest.approx(0.9375)
    assert first[headers.index("Cible")] == pytest.approx(0.9)
    assert "L470" in first[headers.index("Source")]
    weekly = next(r for r in rows if r[0] == "EQ-ALPHA-ARR" and r[3] == "weekly_15h")
    assert weekly[headers.index("Évaluable")] == "non" and weekly[headers.index("Valeur")] is None
    assert {r[3] for r in rows if r[0] == "EQ-ALPHA-ARR"} >= {"occupancy", "physical_meetings"}


def test_comparison_sheet(workbook: Path) -> None:
    ws = openpyxl.load_workbook(workbook, data_only=True)["Comparaison"]
    headers, rows = _table(ws)
    delta = headers.index("Écart")
    beta = next(r for r in rows if r[0] == "EQ-BETA-LENS")
    assert cents(beta[delta]) == Decimal("-500.00") and beta[headers.index("Sens")] == "perd"
    total = next(r for r in rows if r[0] == "Total")
    assert cents(total[delta]) == Decimal("796.70")
    line = next(r for r in rows if r[0] == "C02-446A05")
    assert cents(line[7]) == Decimal("915067.73") and cents(line[8]) == Decimal("847556.53")
    gainers = {r[0]: r[7] for r in rows if r[0] in ("ALPHA", "BETA", "GAMMA")}
    assert gainers == {"ALPHA": "gagne", "BETA": "perd", "GAMMA": "inchangé"}
    assert any(r[0] == "equilibre.first_appointment_max_days" for r in rows)


def test_rejected_params_and_run_sheets(workbook: Path) -> None:
    wb = openpyxl.load_workbook(workbook, data_only=True)
    headers, rows = _table(wb["Réf. Lignes écartées"])
    assert headers == ["Table", "Fichier", "Ligne", "Colonne", "Valeur", "Motif"]
    assert rows[0] == (
        "episodes",
        "episodes.csv",
        12,
        "orientation_date",
        "2025-02-30",
        "date invalide « 2025-02-30 »",
    )
    assert rows[1][4] == '=HYPERLINK("x")'  # kept as text, never turned into a formula
    headers, rows = _table(wb["Réf. Paramètres"])
    assert headers[:5] == ["Chemin", "Nature", "Dispositif", "Description", "Valeur en vigueur"]
    assert "Citation" in headers and "Interprétation" in headers
    assert any(r[0] == "equilibre.first_appointment_max_days" and r[4] == "15" for r in rows)
    headers, rows = _table(wb["Réf. Exécution"])
    values = {(r[0], r[1]): r[2] for r in rows}
    assert values[("Calcul", "Date d'évaluation")].date() == date(2025, 6, 30)
    assert values[("Calcul", "Empreinte des règles (SHA-256)")] == "ab" * 32
    assert values[("Entrées", "episodes — lignes écartées")] == 2
    assert values[("Fichier lu (SHA-256)", "episodes.csv")] == "ef" * 32


# --------------------------------------------------------------------------- parameter table


def _fake_book() -> SimpleNamespace:
    """A book-shaped object (the parameter table reads attributes only)."""
    param = SimpleNamespace(
        path="equilibre.first_appointment_max_days",
        description="Délai maximal",
        unit="jours",
        values=((date(2024, 12, 9), 15), (date(2025, 7, 1), 10)),
        source={
            "document": "deliberation-cp-2024-587",
            "ref": "L457",
            "quote": "dans les 15 jours",
        },
    )
    codes = SimpleNamespace(
        path="equilibre.physical_modes",
        description="Modes physiques",
        unit="codes",
        values=((date(2025, 1, 1), ("site", "domicile")),),
        source={"document": "framework", "ref": "§5.2", "interpretation": True},
    )
    ind = SimpleNamespace(
        id="first_appointment_15d",
        kind="rate",
        part="qualitative",
        label="Respect des 15 jours",
        target_parameter=None,
        source={"document": "deliberation-cp-2024-587", "ref": "L470", "quote": "1. Respect"},
    )
    rule = SimpleNamespace(
        id="reversement",
        stage="payment",
        description="Solde négatif",
        enabled=True,
        source={"document": "framework", "ref": "§5.4"},
    )
    return SimpleNamespace(
        params={param.path: param, codes.path: codes},
        indicators={"equilibre": {ind.id: ind}},
        decisions=(rule,),
        labels={"equilibre": "Accompagnement équilibré"},
        documents={"deliberation-cp-2024-587": {"title": "Délibération n°2024-587"}},
        edits=(SimpleNamespace(path="equilibre.first_appointment_max_days"),),
    )


def test_params_table_values_in_force_and_sources() -> None:
    rows = {r["path"]: r for r in params_table(_fake_book(), date(2025, 6, 30))}  # type: ignore[arg-type]
    days = rows["equilibre.first_appointment_max_days"]
    assert (days["value"], days["since"], days["unit"], days["ref"]) == (
        "15",
        "2024-12-09",
        "jours",
        "L457",
    )
    assert days["document_title"] == "Délibération n°2024-587" and days["edited"] is True
    assert days["interpretation"] is False and "2025-07-01 → 10" in days["history"]
    codes = rows["equilibre.physical_modes"]
    assert codes["value"] == "site, domicile" and codes["interpretation"] is True
    assert (
        rows["equilibre.indicators.first_appointment_15d"]["description"] == "Respect des 15 jours"
    )
    assert rows["decisions.reversement"]["kind"] == "règle"
    assert rows["equilibre"]["description"] == "Accompagnement équilibré"
    later = {r["path"]: r for r in params_table(_fake_book(), date(2025, 7, 1))}  # type: ignore[arg-type]
    assert later["equilibre.first_appointment_max_days"]["value"] == "10"
    before = {r["path"]: r for r in params_table(_fake_book(), date(2024, 1, 1))}  # type: ignore[arg-type]
    assert before["equilibre.first_appointment_max_days"]["value"] == "—"


def test_params_table_on_the_real_rules() -> None:
    pytest.importorskip(
        "engine.decisions", reason="engine.decisions absent de cet arbre de travail"
    )
    from engine.load.rules import load_rules

    rows = params_table(load_rules(), date(2025, 6, 30))
    paths = {r["path"] for r in rows}
    assert "equilibre.first_appointment_max_days" in paths
    assert "equilibre.indicators.first_appointment_15d" in paths
    for r in rows:
        if r["kind"] == "paramètre":
            assert r["ref"] and isinstance(r["value"], str), r["path"]


# --------------------------------------------------------------------------- page


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    return write_html(
        make_results(),
        path,
        params=make_params(),
        comparison=make_comparison(),
        variant=make_variant(),
    )


def test_french_formatting() -> None:
    assert fr_eur("1234567.89") == f"1{NBSP}234{NBSP}567,89{NBSP}€"
    assert fr_eur("-5000.00") == f"\u22125{NBSP}000,00{NBSP}€"
    assert fr_eur("0.00") == f"0,00{NBSP}€"
    assert percent(0.9375, 1) == f"93,8{NBSP}%"
    assert french("-1234567.89") == fr_eur("-1234567.89")


def test_page_content(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    results, comparison = make_results(), make_comparison()
    for c in results["conventions"]:
        assert c["convention_id"] in text
        for name in MONEY_FIELDS:
            assert french(c[name]) in text, (c["convention_id"], name)
    for amount in ("1328267.89", "1177825.61", "669133.95", "508691.66", "93700.00", "14864.50"):
        assert french(amount) in text, amount
    for r in comparison["conventions"] + comparison["by_budget_line"]:
        for key in ("baseline_earned_eur", "variant_earned_eur", "delta_eur"):
            assert french(r[key]) in text
    assert french("915067.73") in text and french("796.70") in text
    # the source of each indicator beside its figures
    assert "« 1. Respect des 15 jours pour le 1er rendez-vous »" in text
    assert "Portefeuilles 55 à 70 personnes par ETP" in text
    assert "reversement (solde négatif)" in text


def test_page_is_self_contained(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"<(script|img|iframe|embed)\b[^>]*\bsrc\s*=", text, re.I)
    assert not re.search(r"<link\b", text, re.I)
    assert not re.search(r"url\(\s*['\"]?https?:", text, re.I)
    assert not re.search(r"@import", text, re.I)
    bundle = get_plotlyjs()
    assert text.count(bundle[:2000]) == 1  # the plotly.js bundle, inlined once
    assert text.count("Plotly.newPlot(") >= 3
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert "@media print" in text


def test_page_escapes_text(tmp_path: Path) -> None:
    results = make_results()
    results["conventions"][0]["structure"] = "<script>alert(1)</script>"
    results["conventions"][0]["territory"] = 'A & "B"'
    text = write_html(results, tmp_path / "r.html", params=make_params()).read_text(
        encoding="utf-8"
    )
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "A &amp; &quot;B&quot;" in text


# --------------------------------------------------------------------------- headless Chromium


def chromium() -> str:
    """Debian's chromium: found, or installed by the test set-up when missing (else skip)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    apt = shutil.which("apt-get")
    if apt is None or (hasattr(os, "geteuid") and os.geteuid() != 0):
        pytest.skip("chromium absent et impossible à installer (pas d'apt-get ou pas root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", "chromium"]):
        done = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=900, check=False
        )
        if done.returncode != 0:
            pytest.skip(
                f"installation de chromium impossible ({' '.join(cmd[1:])}) : {done.stderr[-300:]}"
            )
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("chromium introuvable après installation")
    return "/usr/bin/chromium"


def _headless(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_page_renders_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    binary = chromium()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(page, ARTEFACTS / "report.html")
    target = (ARTEFACTS / "report.html").as_uri()
    png = ARTEFACTS / "report.png"
    pdf = ARTEFACTS / "report.pdf"
    for stale in (png, pdf):
        stale.unlink(missing_ok=True)
    started = time.monotonic()
    shot = _headless(
        binary,
        tmp_path / "profile-png",
        f"--screenshot={png}",
        "--window-size=1280,2000",
        "--hide-scrollbars",
        target,
    )
    assert png.is_file(), shot.stderr[-2000:]
    printed = _headless(
        binary, tmp_path / "profile-pdf", f"--print-to-pdf={pdf}", "--no-pdf-header-footer", target
    )
    assert pdf.is_file(), printed.stderr[-2000:]
    elapsed = time.monotonic() - started
    (ARTEFACTS / "chromium-seconds.txt").write_text(f"{elapsed:.1f}\n", encoding="utf-8")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 2000)
    assert len(data) > 60_000  # a blank page compresses to a few kilobytes
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 30_000


# --------------------------------------------------------------------------- a real run


def test_reports_of_the_sample_run_reconcile(tmp_path: Path) -> None:
    """Both reports of `sample_data/` (any run works: they read data only)."""
    if not (ROOT / "sample_data").is_dir():
        pytest.skip("sample_data/ absent")
    pytest.importorskip(
        "engine.decisions", reason="engine.decisions absent de cet arbre de travail"
    )
    from engine.compute.pipeline import evaluate
    from engine.load.extracts import read_extracts
    from engine.load.rules import load_rules
    from engine.present.results_json import results_json

    when = date(2025, 6, 30)
    book = load_rules()
    extracts = read_extracts(ROOT / "sample_data")
    results = results_json(evaluate(extracts, book, when))
    params = params_table(book, when)
    xlsx = write_workbook(
        results, tmp_path / "report.xlsx", params=params, rejected=extracts.rejected
    )
    page = write_html(results, tmp_path / "report.html", params=params).read_text(encoding="utf-8")
    ws = openpyxl.load_workbook(xlsx, data_only=True)["Synthèse"]
    headers, rows = _table(ws)
    total = next(r for r in rows if r[0] == "Total général")
    expected = decimal_totals(results["conventions"])
    for name, label in zip(
        MONEY_FIELDS, ("Montant conventionné", "Acquis", "Déjà versé", "Solde"), strict=True
    ):
        assert cents(total[headers.index(label)]) == expected[name]
        assert french(str(expected[name])) in page
    for c in results["conventions"]:
        assert c["convention_id"] in page and french(c["earned_eur"]) in page


# --------------------------------------------------------------------------- what-if order, status


def test_whatif_page_opens_on_the_comparison(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    comparison = text.index('id="variante"')
    variant = text.index('id="rapport-variante"')
    baseline = text.index('id="rapport-reference"')
    assert comparison < variant < text.index('id="v-chiffres"') < baseline < text.index('id="r-chiffres"')
    assert "Reste de l&#x27;enveloppe = disponible de la ligne budgétaire − acquis de la variante." in text
    assert f"847{NBSP}556,53{NBSP}€" in text  # remaining_eur of comparison.json, not recomputed
    assert "Conventions : 1 gagnent, 1 perdent, 1 inchangées ; structures" in text


def test_every_whatif_sheet_says_which_run_it_shows(workbook: Path) -> None:
    wb = openpyxl.load_workbook(workbook)
    for ws in wb.worksheets:
        footer = ws.oddFooter.left.text or ""
        if ws.title == "Comparaison":
            assert footer.startswith("Comparaison : Variante"), footer
        elif ws.title.startswith("Var. "):
            assert footer.startswith("Variante") and "rapport complet" in footer, footer
        else:
            assert ws.title.startswith("Réf. ") and footer.startswith("Référence"), (ws.title, footer)
        assert ws.page_setup.orientation == "landscape" and ws.print_title_rows == "$1:$1"
