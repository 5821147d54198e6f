"""The registry check (engine/compute/registry.py) and `parcours check`.

A small consistent registry gives no finding; each test plants one inconsistency and expects
exactly that finding. Then the shipped sample registry (the whole of Annexe 4) and the CLI.

The base registry (framework values: 55-70 personnes/ETP, 400 diagnostics/ETP):

| id    | dispositif   | funding      | ETP | places / diag. / part. | amount | op.  | budget |
|-------|--------------|--------------|-----|------------------------|--------|------|--------|
| EQ-A  | equilibre    | financement  | 2   | 140 places (= 70 × 2)  | 500    | 1.2  | B1     |
| EQ-B  | equilibre    | valorisation | 1   | 70 places  (= 70 × 1)  | 0      | 1.2  | B1     |
| AC-C  | accueil      | valorisation | 1   | 400 diag.  (= 400 × 1) | 0      | 1.1  | B1     |
| PA-D  | participants | financement  | 0   | 10 participants        | 300    | 3.1  | B2     |

Stated: thématique 1 = 500 € (2 dispositifs: 1.1 and 1.2); operation 1.2 = 500 €, 210 places,
2 structures (S1, S2); operation 1.1 = 400 diagnostics, 1 structure; operation 3.1 = 300 €,
10 participants; budget line B1 = 500 €. Available: B1 1 000 €, B2 300 €.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.compute.registry import Finding, check_registry
from engine.load.extracts import read_extracts
from engine.load.rules import apply_edits, load_rules
from engine.model.contract import TABLES
from engine.model.format import eur
from engine.model.format import number as num
from engine.model.rulebook import Edit, RuleBook

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
Y25 = (date(2025, 1, 1), date(2025, 12, 31))


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return load_rules()


def _frame(
    table: str, rows: list[dict[str, Any]], extra: dict[str, pl.DataType] | None = None
) -> pl.DataFrame:
    schema = dict(TABLES[table].schema)
    schema.update(extra or {})
    defaults = {c.name: c.default for c in TABLES[table].columns if c.default is not None}
    full = [{**defaults, **{k: None for k in schema if k not in defaults}, **r} for r in rows]
    for r in full:
        for k, dtype in schema.items():
            if dtype == pl.Decimal(38, 6) and r[k] is not None:
                r[k] = Decimal(str(r[k]))
    return pl.DataFrame(full, schema=schema, orient="row")


def _line(cid: str, **kw: Any) -> dict[str, Any]:
    row = {
        "convention_id": cid,
        "territory": "T",
        "period_start": Y25[0],
        "period_end": Y25[1],
        "paid_eur": 0,
        "thematique": "1",
        "budget_line": "B1",
    }
    row.update(kw)
    return row


def base() -> dict[str, list[dict[str, Any]]]:
    """The consistent registry of the module docstring, as editable rows."""
    return {
        "conventions": [
            _line(
                "EQ-A",
                structure="S1",
                dispositif="equilibre",
                funding="financement",
                etp=2,
                places_max=140,
                amount_eur=500,
                paid_eur=250,
                operation="1.2",
            ),
            _line(
                "EQ-B",
                structure="S2",
                dispositif="equilibre",
                funding="valorisation",
                etp=1,
                places_max=70,
                amount_eur=0,
                operation="1.2",
            ),
            _line(
                "AC-C",
                structure="S1",
                dispositif="accueil",
                funding="valorisation",
                etp=1,
                diagnostics_target=400,
                amount_eur=0,
                operation="1.1",
            ),
            _line(
                "PA-D",
                structure="S3",
                dispositif="participants",
                funding="financement",
                etp=0,
                participants_target=10,
                amount_eur=300,
                paid_eur=150,
                thematique="3",
                operation="3.1",
                budget_line="B2",
            ),
        ],
        "stated_totals": [
            {"scope": "thematique", "key": "1", "amount_eur": 500, "operations": 2},
            {
                "scope": "operation",
                "key": "1.2",
                "amount_eur": 500,
                "places": 210,
                "structures": 2,
                "source": "L158",
                "period_start": Y25[0],
                "period_end": Y25[1],
            },
            {"scope": "operation", "key": "1.1", "diagnostics": 400, "structures": 1},
            {"scope": "operation", "key": "3.1", "amount_eur": 300, "participants": 10},
            {"scope": "budget_line", "key": "B1", "amount_eur": 500},
        ],
        "budget_lines": [
            {"budget_line": "B1", "available_eur": 1000},
            {"budget_line": "B2", "available_eur": 300},
        ],
    }


STATED_EXTRA: dict[str, pl.DataType] = {
    "operations": pl.Int64(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "source": pl.String(),
}


def tables(rows: dict[str, list[dict[str, Any]]]) -> dict[str, pl.DataFrame]:
    return {
        "conventions": _frame("conventions", rows["conventions"]),
        "stated_totals": _frame("stated_totals", rows["stated_totals"], STATED_EXTRA),
        "budget_lines": _frame("budget_lines", rows["budget_lines"]),
    }


def edit(rows: dict[str, list[dict[str, Any]]], table: str, key: str, **changes: Any) -> None:
    """Change the row of `table` whose id (convention_id, key or budget_line) is `key`."""
    field = {"conventions": "convention_id", "stated_totals": "key", "budget_lines": "budget_line"}[
        table
    ]
    [row] = [r for r in rows[table] if r[field] == key]
    row.update(changes)


def run(rows: dict[str, list[dict[str, Any]]], book: RuleBook) -> list[Finding]:
    return check_registry(tables(rows), book)


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [(f.code, f.subject, f.message) for f in findings]
    return findings[0]


# --------------------------------------------------------------------------- the consistent base


def test_consistent_registry_has_no_finding(book: RuleBook) -> None:
    assert run(base(), book) == []


def test_without_stated_totals_or_budget_lines(book: RuleBook) -> None:
    """Only the line checks run when the optional tables are empty."""
    t = tables(base())
    t["stated_totals"] = t["stated_totals"].clear()
    t["budget_lines"] = t["budget_lines"].clear()
    assert check_registry(t, book) == []
    del t["stated_totals"], t["budget_lines"]
    assert check_registry(t, book) == []


# --------------------------------------------------------------------------- one planted problem


def test_sum_off_by_one_euro(book: RuleBook) -> None:
    """Operation 1.2 stated 501 €, lines 500 + 0 = 500 €."""
    rows = base()
    edit(rows, "stated_totals", "1.2", amount_eur=Decimal("501"))
    f = only(run(rows, book))
    assert (f.level, f.code, f.subject) == ("erreur", "total_montant", "operation:1.2")
    assert (f.found, f.expected, f.source) == (Decimal("500.00"), Decimal("501.00"), "L158")
    assert "500,00\u00a0€" in f.message and "501,00\u00a0€" in f.message and "\u22121,00\u00a0€" in f.message
    assert f.message.startswith("Opération 1.2")


def test_places_above_max_per_etp(book: RuleBook) -> None:
    """EQ-A: 150 places for 2 ETP > 70 × 2 = 140 (stated places moved to 220 to keep the sum)."""
    rows = base()
    edit(rows, "conventions", "EQ-A", places_max=150)
    edit(rows, "stated_totals", "1.2", places=220)
    f = only(run(rows, book))
    assert (f.level, f.code, f.subject, f.found, f.expected) == (
        "erreur",
        "places_au_dessus_du_maximum",
        "EQ-A",
        150,
        140,
    )
    assert "150 places" in f.message and "70 personnes par ETP" in f.message
    assert f.source == "L461"  # the rule's source when the line's is unknown


def test_places_rounded_up_is_a_warning(book: RuleBook) -> None:
    """2.08 ETP × 70 = 145.6: 146 places exceed by less than one place (the AMIE line of L222)."""
    rows = base()
    edit(rows, "conventions", "EQ-A", etp=Decimal("2.08"), places_max=146)
    edit(rows, "stated_totals", "1.2", places=216)
    f = only(run(rows, book))
    assert (f.level, f.code, f.found, f.expected) == (
        "avertissement",
        "places_au_dessus_du_maximum",
        146,
        Decimal("145.6"),
    )
    assert "145,6 places" in f.message and "arrondi" in f.message


def test_places_below_min_per_etp(book: RuleBook) -> None:
    """EQ-B: 50 places for 1 ETP < 55 × 1."""
    rows = base()
    edit(rows, "conventions", "EQ-B", places_max=50)
    edit(rows, "stated_totals", "1.2", places=190)
    f = only(run(rows, book))
    assert (f.level, f.code, f.subject, f.found, f.expected) == (
        "avertissement",
        "places_sous_le_minimum",
        "EQ-B",
        50,
        55,
    )


def test_parameters_come_from_the_rule_book(book: RuleBook) -> None:
    """With portfolio_max_per_etp set to 60: 140 places for 2 ETP > 120, 70 for 1 ETP > 60."""
    edited = apply_edits(book, [Edit("equilibre.portfolio_max_per_etp", 60)])
    findings = run(base(), edited)
    assert [(f.code, f.subject, f.found, f.expected) for f in findings] == [
        ("places_au_dessus_du_maximum", "EQ-A", 140, 120),
        ("places_au_dessus_du_maximum", "EQ-B", 70, 60),
    ]
    assert "60 personnes par ETP" in findings[0].message


def test_valorisation_line_with_an_amount(book: RuleBook) -> None:
    """EQ-B valorised with 100 € (stated totals moved to 600 € so the sums hold)."""
    rows = base()
    edit(rows, "conventions", "EQ-B", amount_eur=100)
    for key in ("1", "1.2", "B1"):
        edit(rows, "stated_totals", key, amount_eur=600)
    f = only(run(rows, book))
    assert (f.level, f.code, f.subject, f.found, f.expected) == (
        "erreur",
        "valorisation_avec_montant",
        "EQ-B",
        Decimal("100"),
        Decimal("0"),
    )
    assert "100,00\u00a0€" in f.message


def test_budget_over_available(book: RuleBook) -> None:
    """B1: lines 500 € against 400 € available."""
    rows = base()
    edit(rows, "budget_lines", "B1", available_eur=400)
    findings = run(rows, book)
    # the stated proposal (500 €) is over the 400 € available too: two findings, both on B1
    assert [(f.level, f.code, f.subject) for f in findings] == [
        ("erreur", "budget_depasse", "budget_line:B1"),
        ("erreur", "proposition_depasse_disponible", "budget_line:B1"),
    ]
    assert (findings[0].found, findings[0].expected) == (Decimal("500.00"), Decimal("400.00"))
    assert "dépassement de 100,00\u00a0€" in findings[0].message


def test_budget_over_available_without_stated_proposal(book: RuleBook) -> None:
    rows = base()
    edit(rows, "budget_lines", "B1", available_eur=400)
    rows["stated_totals"] = [r for r in rows["stated_totals"] if r["scope"] != "budget_line"]
    f = only(run(rows, book))
    assert (f.code, f.subject) == ("budget_depasse", "budget_line:B1")


def test_diagnostics_target_above_per_etp(book: RuleBook) -> None:
    """AC-C: 410 diagnostics for 1 ETP > 400 × 1 (stated 410 to keep the sum)."""
    rows = base()
    edit(rows, "conventions", "AC-C", diagnostics_target=410)
    edit(rows, "stated_totals", "1.1", diagnostics=410)
    f = only(run(rows, book))
    assert (f.level, f.code, f.subject, f.found, f.expected, f.source) == (
        "erreur",
        "diagnostics_au_dessus_de_l_etp",
        "AC-C",
        410,
        400,
        "L326",
    )


def test_diagnostics_target_below_per_etp(book: RuleBook) -> None:
    rows = base()
    edit(rows, "conventions", "AC-C", diagnostics_target=390)
    edit(rows, "stated_totals", "1.1", diagnostics=390)
    f = only(run(rows, book))
    assert (f.level, f.code, f.found, f.expected) == (
        "avertissement",
        "diagnostics_en_dessous_de_l_etp",
        390,
        400,
    )


def test_default_diagnostics_target_counts_in_the_total(book: RuleBook) -> None:
    """No target on AC-C: 400 × 1 ETP counts; stated 401 → one total finding only."""
    rows = base()
    edit(rows, "conventions", "AC-C", diagnostics_target=None)
    edit(rows, "stated_totals", "1.1", diagnostics=401)
    f = only(run(rows, book))
    assert (f.code, f.subject, f.found, f.expected) == (
        "total_diagnostics",
        "operation:1.1",
        400,
        401,
    )


def test_structure_count_wrong(book: RuleBook) -> None:
    """Operation 1.2 stated 3 structures; the lines name S1 and S2."""
    rows = base()
    edit(rows, "stated_totals", "1.2", structures=3)
    f = only(run(rows, book))
    assert (f.level, f.code, f.subject, f.found, f.expected) == (
        "avertissement",
        "nombre_structures",
        "operation:1.2",
        2,
        3,
    )


def test_structures_are_names_trimmed_and_case_folded(book: RuleBook) -> None:
    """' s1 ' and 'S1' are one structure; the territory does not split it (but is reported)."""
    rows = base()
    edit(rows, "conventions", "EQ-B", structure=" s1 ", territory="Autre")
    edit(rows, "stated_totals", "1.2", structures=2)
    f = only(run(rows, book))
    assert (f.found, f.expected) == (1, 2)
    assert "2 couples structure-territoire" in f.message


def test_places_and_participants_totals(book: RuleBook) -> None:
    rows = base()
    edit(rows, "stated_totals", "1.2", places=211)
    edit(rows, "stated_totals", "3.1", participants=12)
    assert [(f.code, f.subject, f.found, f.expected) for f in run(rows, book)] == [
        ("total_places", "operation:1.2", 210, 211),
        ("total_participants", "operation:3.1", 10, 12),
    ]


def test_number_of_dispositifs(book: RuleBook) -> None:
    """Thématique 1 stated 3 dispositifs; its lines sit in operations 1.1 and 1.2."""
    rows = base()
    edit(rows, "stated_totals", "1", operations=3)
    f = only(run(rows, book))
    assert (f.level, f.code, f.subject, f.found, f.expected) == (
        "avertissement",
        "nombre_dispositifs",
        "thematique:1",
        2,
        3,
    )


def test_stated_total_without_lines(book: RuleBook) -> None:
    rows = base()
    rows["stated_totals"].append({"scope": "operation", "key": "9.9", "amount_eur": 1})
    f = only(run(rows, book))
    assert (f.level, f.code, f.subject) == ("erreur", "total_sans_ligne", "operation:9.9")


def test_financed_line_without_amount(book: RuleBook) -> None:
    rows = base()
    edit(rows, "conventions", "PA-D", amount_eur=0, paid_eur=0)
    edit(rows, "stated_totals", "3.1", amount_eur=0)
    f = only(run(rows, book))
    assert (f.level, f.code, f.subject) == ("erreur", "financement_sans_montant", "PA-D")


def test_paid_above_amount(book: RuleBook) -> None:
    rows = base()
    edit(rows, "conventions", "PA-D", paid_eur=301)
    f = only(run(rows, book))
    assert (f.level, f.code, f.found, f.expected) == (
        "erreur",
        "verse_superieur_au_montant",
        Decimal("301"),
        Decimal("300"),
    )


def test_paid_on_a_valorisation_line(book: RuleBook) -> None:
    rows = base()
    edit(rows, "conventions", "EQ-B", paid_eur=10)
    f = only(run(rows, book))
    assert (f.level, f.code) == ("erreur", "valorisation_avec_versement")


def test_start_up_on_a_valorisation_line(book: RuleBook) -> None:
    rows = base()
    edit(rows, "conventions", "EQ-B", start_up=True)
    f = only(run(rows, book))
    assert (f.level, f.code, f.subject) == ("avertissement", "demarrage_sur_valorisation", "EQ-B")


def test_inverted_period(book: RuleBook) -> None:
    """The reader sets such a row aside; the check still catches it in frames built otherwise."""
    rows = base()
    edit(rows, "conventions", "PA-D", period_start=date(2025, 6, 1), period_end=date(2025, 5, 31))
    f = only(run(rows, book))
    assert (f.level, f.code, f.subject) == ("erreur", "periode_inversee", "PA-D")


def test_line_outside_its_operation_period(book: RuleBook) -> None:
    """Operation 1.2 states 2025; EQ-B runs into 2026."""
    rows = base()
    edit(rows, "conventions", "EQ-B", period_end=date(2026, 3, 31))
    f = only(run(rows, book))
    assert (f.level, f.code, f.subject) == ("avertissement", "periode_hors_operation", "EQ-B")
    assert "L158" in f.message


def test_unknown_budget_line(book: RuleBook) -> None:
    rows = base()
    edit(rows, "conventions", "PA-D", budget_line="B9")
    f = only(run(rows, book))
    assert (f.level, f.code, f.subject) == ("avertissement", "ligne_budgetaire_inconnue", "PA-D")


def test_participants_target_zero(book: RuleBook) -> None:
    rows = base()
    edit(rows, "conventions", "PA-D", participants_target=0)
    edit(rows, "stated_totals", "3.1", participants=0)
    f = only(run(rows, book))
    assert (f.level, f.code) == ("avertissement", "objectif_participants_nul")


def test_operation_outside_its_thematique(book: RuleBook) -> None:
    rows = base()
    edit(rows, "conventions", "PA-D", thematique="4")
    f = only(run(rows, book))
    assert (f.code, f.subject) == ("operation_hors_thematique", "PA-D")


def test_findings_serialise_to_json(book: RuleBook) -> None:
    rows = base()
    edit(rows, "stated_totals", "1.2", amount_eur=Decimal("501"))
    [f] = run(rows, book)
    data = json.loads(json.dumps(f.as_dict()))
    assert data == {
        "level": "erreur",
        "code": "total_montant",
        "subject": "operation:1.2",
        "message": f.message,
        "found": "500.00",
        "expected": "501.00",
        "source": "L158",
    }


def test_french_numbers() -> None:
    assert eur(Decimal("59220")) == "59\u00a0220,00\u00a0€"
    assert eur(Decimal("-20")) == "\u221220,00\u00a0€"
    assert num(Decimal("145.600000")) == "145,6"
    assert num(2706) == "2\u00a0706"


# --------------------------------------------------------------------------- the shipped registry

# Annexe 4 as transcribed in sample_data/, read as `parcours check` reads it. The text's own
# inconsistencies, each with its line: see sample_data/README.md.
SAMPLE_FINDINGS = [
    (
        "avertissement",
        "places_au_dessus_du_maximum",
        "EQ-AMIE-PLE",
    ),  # L222: 146 > 2,08 × 70 = 145,6
    ("erreur", "diagnostics_au_dessus_de_l_etp", "AC-PIF"),  # L211: 610 > 1,5 × 400 = 600
    ("avertissement", "diagnostics_en_dessous_de_l_etp", "AC-MIPE"),  # L209: 471 < 1,2 × 400
    ("avertissement", "diagnostics_en_dessous_de_l_etp", "AC-TOUSPARRAINS"),  # L210: 671 < 680
    ("avertissement", "diagnostics_en_dessous_de_l_etp", "AC-IDFORMATION"),  # L212: 471 < 480
    ("erreur", "total_montant", "thematique:4"),  # L255, L979: 59 220 vs 6 200 + 13 000 + 40 000
    ("erreur", "total_montant", "operation:4.1"),  # L200
    ("erreur", "total_montant", "budget_line:C02-428C01"),  # L994
    ("avertissement", "nombre_structures", "operation:1.2"),  # L158: 12 stated, 11 names
]


@pytest.fixture(scope="module")
def sample_tables() -> dict[str, pl.DataFrame]:
    if not (SAMPLE / "conventions.csv").is_file():
        pytest.skip("sample_data/ absent")
    return read_extracts(SAMPLE).tables


def test_sample_registry_transcribes_the_whole_annexe(
    sample_tables: dict[str, pl.DataFrame],
) -> None:
    conv = sample_tables["conventions"]
    per_op = dict(conv.group_by("operation").agg(pl.len()).sort("operation").iter_rows())
    assert per_op == {"1.1": 8, "1.2": 15, "1.3": 1, "1.4": 1, "3.1": 1, "3.2": 2, "4.1": 3}
    per_th = conv.group_by("thematique").agg(pl.col("amount_eur").sum()).sort("thematique")
    assert [(t, int(a)) for t, a in per_th.iter_rows()] == [
        ("1", 712000),
        ("3", 99998),
        ("4", 59200),
    ]


def test_sample_registry_findings(sample_tables: dict[str, pl.DataFrame], book: RuleBook) -> None:
    findings = check_registry(sample_tables, book)
    core = [(f.level, f.code, f.subject) for f in findings if f.code != "periode_hors_operation"]
    assert core == SAMPLE_FINDINGS
    by_subject = {f.subject: f for f in findings}
    assert (by_subject["operation:4.1"].found, by_subject["operation:4.1"].expected) == (
        Decimal("59200.00"),
        Decimal("59220.00"),
    )
    assert (by_subject["operation:1.2"].found, by_subject["operation:1.2"].expected) == (11, 12)
    assert (by_subject["AC-PIF"].found, by_subject["AC-PIF"].expected) == (610, 600)


def test_sample_registry_with_the_optional_columns(
    sample_tables: dict[str, pl.DataFrame], book: RuleBook
) -> None:
    """With `source`, `operations` and the operations' periods (contract extensions): the
    findings are sourced to their line, plus the seven lines of operation 1.2 that run to
    31/12/2025 while L158 states 1 January – 30 June 2025."""
    t = sample_tables
    findings = check_registry(t, book)
    periods = [f.subject for f in findings if f.code == "periode_hors_operation"]
    assert periods == [
        "EQ-MEMPA-PF",
        "EQ-PBI-PF",
        "EQ-MIPE-PF",
        "EQ-TOUSPARRAINS-PF",
        "EQ-PIF-PF",
        "EQ-IDFORMATION-PF",
        "EQ-ADEFI-PF",
    ]
    rest = [(f.level, f.code, f.subject) for f in findings if f.code != "periode_hors_operation"]
    assert rest == SAMPLE_FINDINGS
    sources = {f.subject: f.source for f in findings}
    assert sources["EQ-AMIE-PLE"] == "L222" and sources["AC-PIF"] == "L211"
    assert sources["operation:4.1"] == "L200" and sources["operation:1.2"] == "L158"


# --------------------------------------------------------------------------- the CLI


runner = CliRunner()


def test_cli_check_sample_exits_1_on_errors() -> None:
    if not (SAMPLE / "conventions.csv").is_file():
        pytest.skip("sample_data/ absent")
    result = runner.invoke(app, ["check", str(SAMPLE)])
    assert result.exit_code == 1, result.output
    for _, code, _subject in SAMPLE_FINDINGS:
        assert code in result.output
    assert "4 erreur(s), 12 avertissement(s)" in result.output


def test_cli_check_json() -> None:
    if not (SAMPLE / "conventions.csv").is_file():
        pytest.skip("sample_data/ absent")
    result = runner.invoke(app, ["check", str(SAMPLE), "--format", "json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    core = [(f["level"], f["code"], f["subject"]) for f in data["findings"]
            if f["code"] != "periode_hors_operation"]
    assert core == SAMPLE_FINDINGS
    assert (data["errors"], data["warnings"]) == (4, 12)
    assert data["counts"]["conventions"] == {"rows": 31, "kept": 31, "rejected": 0}


def _write(folder: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables(rows).items():
        frame.select(c.name for c in TABLES[name].columns).write_csv(folder / f"{name}.csv")


def test_cli_check_warnings_only_exits_0(tmp_path: Path) -> None:
    rows = base()
    edit(rows, "stated_totals", "1.2", structures=3)
    _write(tmp_path / "data", rows)
    result = runner.invoke(app, ["check", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert (
        "nombre_structures" in result.output and "0 erreur(s), 1 avertissement(s)" in result.output
    )


def test_cli_check_clean_registry_exits_0(tmp_path: Path) -> None:
    _write(tmp_path / "data", base())
    result = runner.invoke(app, ["check", str(tmp_path / "data"), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["findings"] == []


def test_cli_check_rejected_registry_row_is_an_error(tmp_path: Path) -> None:
    """A conventions row the reader sets aside (end before start) cannot be checked: erreur."""
    rows = base()
    edit(rows, "conventions", "PA-D", period_start=date(2025, 6, 1), period_end=date(2025, 5, 31))
    rows["stated_totals"] = [r for r in rows["stated_totals"] if r["key"] != "3.1"]
    _write(tmp_path / "data", rows)
    result = runner.invoke(app, ["check", str(tmp_path / "data"), "--format", "json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert [(f["code"], f["subject"]) for f in data["findings"]] == [
        ("ligne_ecartee", "conventions:5")
    ]


def test_cli_check_unreadable_input_exits_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path / "absent")])
    assert result.exit_code == 1
    assert "introuvables" in result.output


def test_cli_check_unknown_format_exits_2() -> None:
    result = runner.invoke(app, ["check", str(SAMPLE), "--format", "xml"])
    assert result.exit_code == 2
