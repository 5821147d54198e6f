"""Scenario tests written by policy staff: `tests/scenarios/*.yaml` (format in README.md).

Each file tells a short story (a convention, a few beneficiaries and their dates), an
`as_of` date, optional rule changes, and the figures expected: indicators as fractions,
scores, euros, flags. The tables are written as tiny CSV files and read back through
`engine.load.extracts.read_extracts`, so the whole pipeline runs (reading, checks, indicators,
decisions, money); each `variants` entry runs through `engine.compute.whatif.run_whatif`.
Every difference between expected and computed is reported, in French, in one failure.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from engine.compute.pipeline import evaluate
from engine.compute.whatif import run_whatif
from engine.load.extracts import read_extracts
from engine.load.rules import _suggest, load_rules
from engine.load.variants import Variant, edited_book, parse_variant
from engine.load.yaml_loader import SCENARIO_LIMITS, LineDict, read_yaml
from engine.model.contract import TABLES
from engine.model.errors import Problem
from engine.model.extracts import Extracts
from engine.model.results import ConventionResult, RunResult
from engine.model.rulebook import RuleBook

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SCENARIO_KEYS = ("name", "description", "as_of", "tables", "changes", "expect", "variants")
CONVENTION_KEYS = (
    "indicators",
    "quantitative_score",
    "qualitative_score",
    "amount_eur",
    "earned_eur",
    "paid_eur",
    "solde_eur",
    "flags",
    "warnings",
    "decisions",
)
INDICATOR_KEYS = ("numerator", "denominator", "score", "evaluable")
MONEY = ("amount_eur", "earned_eur", "paid_eur", "solde_eur")


class ScenarioError(Exception):
    """A scenario file is malformed; the message lists every problem (file, line)."""


@dataclass
class Case:
    """One set of expectations: the baseline, or one variant of it."""

    label: str
    variant: Variant | None
    expect: Any
    delta_eur: str | None = None


@dataclass
class Scenario:
    """A scenario file, read and checked."""

    path: Path
    name: str
    as_of: date
    tables: dict[str, list[dict[str, Any]]]
    changes: Variant | None
    cases: list[Case] = field(default_factory=list)


# --------------------------------------------------------------------------- reading


def _line(node: Any, key: str) -> int:
    return node.lines.get(key, node.line) if isinstance(node, LineDict) else 0


def load_scenario(path: Path) -> Scenario:
    """Read a scenario file with line numbers; raise ScenarioError listing every problem."""
    file = path.name
    data, problems = read_yaml(path, file, SCENARIO_LIMITS)
    if data is None and problems:
        raise ScenarioError("\n".join(str(p) for p in problems))
    if not isinstance(data, LineDict):
        raise ScenarioError(f"{file} : une table est attendue ({', '.join(SCENARIO_KEYS)})")
    for key in data:
        if key not in SCENARIO_KEYS:
            problems.append(
                Problem(
                    file,
                    _line(data, key),
                    str(key),
                    f"clé inconnue (attendu : {', '.join(SCENARIO_KEYS)})"
                    + _suggest(str(key), SCENARIO_KEYS),
                )
            )
    for key in ("name", "as_of", "tables", "expect"):
        if key not in data:
            problems.append(Problem(file, data.line, key, f"« {key} » manquant"))
    as_of = data.get("as_of")
    if "as_of" in data and not isinstance(as_of, date):
        problems.append(
            Problem(
                file,
                _line(data, "as_of"),
                "as_of",
                f"date invalide « {as_of} » (attendu AAAA-MM-JJ)",
            )
        )
    tables: dict[str, list[dict[str, Any]]] = {}
    raw_tables = data.get("tables") or {}
    if not isinstance(raw_tables, LineDict):
        problems.append(
            Problem(
                file,
                _line(data, "tables"),
                "tables",
                "une table par extrait est attendue (conventions, episodes…)",
            )
        )
        raw_tables = LineDict()
        raw_tables.line, raw_tables.lines = 0, {}
    for name, rows in raw_tables.items():
        if name not in TABLES:
            problems.append(
                Problem(
                    file,
                    _line(raw_tables, name),
                    f"tables.{name}",
                    "extrait inconnu" + _suggest(str(name), TABLES),
                )
            )
            continue
        if not isinstance(rows, list):
            problems.append(
                Problem(
                    file,
                    _line(raw_tables, name),
                    f"tables.{name}",
                    "liste de lignes attendue (« - colonne: valeur »)",
                )
            )
            continue
        columns = [c.name for c in TABLES[name].columns]
        for i, row in enumerate(rows):
            if not isinstance(row, LineDict):
                problems.append(
                    Problem(
                        file,
                        _line(raw_tables, name),
                        f"tables.{name}[{i}]",
                        "ligne attendue sous la forme « colonne: valeur »",
                    )
                )
                continue
            for col in row:
                if col not in columns:
                    problems.append(
                        Problem(
                            file,
                            _line(row, col),
                            f"tables.{name}.{col}",
                            "colonne inconnue" + _suggest(str(col), columns),
                        )
                    )
        tables[str(name)] = [dict(r) for r in rows if isinstance(r, LineDict)]
    if "conventions" not in tables:
        problems.append(
            Problem(
                file,
                _line(data, "tables"),
                "tables.conventions",
                "la table « conventions » est obligatoire",
            )
        )
    changes = None
    if "changes" in data:
        node = LineDict(name="changes du scénario", changes=data["changes"])
        node.line, node.lines = _line(data, "changes"), {"changes": _line(data, "changes")}
        changes = parse_variant(problems, file, node)
    cases = [Case("règles du scénario", None, data.get("expect"))]
    _check_expect(problems, file, data.get("expect"), "expect")
    variants = data.get("variants") or []
    if not isinstance(variants, list):
        problems.append(
            Problem(
                file,
                _line(data, "variants"),
                "variants",
                "liste de variantes attendue (« - name: … »)",
            )
        )
        variants = []
    for i, node in enumerate(variants):
        variant = parse_variant(problems, file, node, extra_keys=("expect", "delta_eur"))
        if variant is None:
            continue
        if "expect" not in node and "delta_eur" not in node:
            problems.append(
                Problem(
                    file,
                    _line(node, "name"),
                    f"variants[{i}]",
                    "« expect » ou « delta_eur » manquant",
                )
            )
        _check_expect(problems, file, node.get("expect"), f"variants[{i}].expect")
        delta = node.get("delta_eur")
        cases.append(
            Case(
                f"variante « {variant.name} »",
                variant,
                node.get("expect"),
                None if delta is None else str(delta),
            )
        )
    if problems:
        raise ScenarioError(f"Scénario {file} refusé :\n" + "\n".join(f"  - {p}" for p in problems))
    return Scenario(
        path=path, name=str(data["name"]), as_of=as_of, tables=tables, changes=changes, cases=cases
    )


def _check_expect(problems: list[Problem], file: str, expect: Any, where: str) -> None:
    if expect is None:
        return
    if not isinstance(expect, LineDict):
        problems.append(Problem(file, 0, where, "une table par convention est attendue"))
        return
    for cid, spec in expect.items():
        if not isinstance(spec, LineDict):
            problems.append(
                Problem(
                    file,
                    _line(expect, cid),
                    f"{where}.{cid}",
                    "une table est attendue (indicators, earned_eur…)",
                )
            )
            continue
        for key in spec:
            if key not in CONVENTION_KEYS:
                problems.append(
                    Problem(
                        file,
                        _line(spec, key),
                        f"{where}.{cid}.{key}",
                        f"clé inconnue (attendu : {', '.join(CONVENTION_KEYS)})"
                        + _suggest(str(key), CONVENTION_KEYS),
                    )
                )
        for ind, value in (spec.get("indicators") or {}).items():
            if isinstance(value, LineDict):
                for key in value:
                    if key not in INDICATOR_KEYS:
                        problems.append(
                            Problem(
                                file,
                                _line(value, key),
                                f"{where}.{cid}.indicators.{ind}.{key}",
                                "clé inconnue" + _suggest(str(key), INDICATOR_KEYS),
                            )
                        )
            elif not (isinstance(value, str) and value.count("/") == 1):
                problems.append(
                    Problem(
                        file,
                        _line(spec["indicators"], ind),
                        f"{where}.{cid}.indicators.{ind}",
                        f"fraction « n/d » attendue (ex. 3/4), trouvé « {value} »",
                    )
                )


# --------------------------------------------------------------------------- running


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_tables(tables: dict[str, list[dict[str, Any]]], folder: Path) -> Path:
    """Write each table as `<name>.csv` (columns in the order they first appear)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        columns: list[str] = []
        for row in rows:
            columns.extend(c for c in row if c not in columns)
        with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_cell(row.get(c)) for c in columns])
    return folder


def read_scenario_extracts(scenario: Scenario, folder: Path) -> Extracts:
    """Write the scenario's tables to `folder` and read them back; every row must be kept."""
    extracts = read_extracts(write_tables(scenario.tables, folder))
    if extracts.rejected.height:
        reasons = [
            f"{r['table']} ligne {r['line']}, {r['column']} « {r['value']} » : {r['reason']}"
            for r in extracts.rejected.iter_rows(named=True)
        ]
        raise ScenarioError(
            f"Scénario {scenario.path.name} : lignes écartées à la lecture :\n  - "
            + "\n  - ".join(reasons)
        )
    return extracts


def _fraction(value: Any) -> Fraction:
    if isinstance(value, float):
        return Fraction(str(value))
    return Fraction(str(value).replace(",", ".").strip())


def compare_expected(run: RunResult, expect: Any, label: str) -> list[str]:
    """Every difference between `expect` and `run`, in French (empty when all match)."""
    diffs: list[str] = []
    for cid, spec in (expect or {}).items():
        try:
            c: ConventionResult = run.convention(str(cid))
        except KeyError:
            diffs.append(f"{label} : convention « {cid} » absente des résultats")
            continue
        where = f"{label}, {cid}"
        for ind_id, want in (spec.get("indicators") or {}).items():
            res = c.indicators.get(str(ind_id))
            if res is None:
                diffs.append(
                    f"{where} : indicateur « {ind_id} » inconnu"
                    + _suggest(str(ind_id), c.indicators)
                )
                continue
            if isinstance(want, str):
                num, den = (int(x) for x in want.split("/"))
                want = {"numerator": num, "denominator": den}
            got = f"{res.numerator}/{res.denominator}"
            for key in ("numerator", "denominator"):
                if key in want and int(want[key]) != getattr(res, key):
                    diffs.append(
                        f"{where}, {ind_id} : attendu {want.get('numerator', '?')}/"
                        f"{want.get('denominator', '?')}, obtenu {got}"
                    )
                    break
            if "evaluable" in want and bool(want["evaluable"]) != res.evaluable:
                diffs.append(
                    f"{where}, {ind_id} : évaluable attendu {want['evaluable']},"
                    f" obtenu {res.evaluable}"
                )
            if "score" in want and (res.score is None or _fraction(want["score"]) != res.score):
                diffs.append(
                    f"{where}, {ind_id} : score attendu {want['score']}, obtenu {res.score}"
                )
        for key in ("quantitative_score", "qualitative_score"):
            if key in spec:
                got_score = getattr(c, key)
                if got_score is None or _fraction(spec[key]) != got_score:
                    diffs.append(f"{where} : {key} attendu {spec[key]}, obtenu {got_score}")
        for key in MONEY:
            if key in spec:
                got_eur = getattr(c, key.removesuffix("_eur"))
                if Decimal(str(spec[key])) != got_eur:
                    diffs.append(f"{where} : {key} attendu {spec[key]}, obtenu {got_eur}")
        for key in ("flags", "warnings"):
            if key in spec and sorted(spec[key] or []) != sorted(getattr(c, key)):
                diffs.append(
                    f"{where} : {key} attendus {sorted(spec[key] or [])},"
                    f" obtenus {sorted(getattr(c, key))}"
                )
        if "decisions" in spec and list(spec["decisions"] or []) != c.decisions:
            diffs.append(
                f"{where} : décisions attendues {list(spec['decisions'] or [])},"
                f" obtenues {c.decisions}"
            )
    return diffs


def run_scenario(scenario: Scenario, folder: Path, book: RuleBook | None = None) -> list[str]:
    """Run every case of `scenario`; return the differences found (French)."""
    book = edited_book(book or load_rules(), scenario.changes)
    extracts = read_scenario_extracts(scenario, folder)
    diffs: list[str] = []
    baseline = evaluate(extracts, book, scenario.as_of)
    for case in scenario.cases:
        if case.variant is None:
            diffs += compare_expected(baseline, case.expect, case.label)
            continue
        result = run_whatif(extracts, book, scenario.as_of, case.variant, per_edit=False)
        diffs += compare_expected(result.variant, case.expect, case.label)
        if case.delta_eur is not None and Decimal(case.delta_eur) != Decimal(
            result.comparison["totals"]["delta_eur"]
        ):
            diffs.append(
                f"{case.label} : écart total attendu {case.delta_eur},"
                f" obtenu {result.comparison['totals']['delta_eur']}"
            )
    return diffs


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_scenario(path: Path, tmp_path: Path) -> None:
    scenario = load_scenario(path)
    diffs = run_scenario(scenario, tmp_path / "extraits")
    assert not diffs, f"Scénario « {scenario.name} » ({path.name}) :\n" + "\n".join(diffs)


def test_there_are_scenarios() -> None:
    assert len(list(SCENARIOS.glob("*.yaml"))) >= 4


def test_a_misspelt_scenario_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "faute.yaml"
    path.write_text(
        "name: faute de frappe\n"
        "as_of: 2025-06-31\n"
        "tables:\n"
        "  conventions:\n"
        "    - {convention_id: C1, dispositf: equilibre}\n"
        "  episode: []\n"
        "expect:\n"
        "  C1:\n"
        "    earned: '10.00'\n"
        "    indicators: {first_appointment_15d: 3}\n"
        "variants:\n"
        "  - name: v\n"
        "    changes: [{parameter: equilibre.first_appointment_max_days, valeur: 10}]\n"
        "    expect: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    text = str(error.value)
    assert "ligne 2, clé « as_of » : date invalide « 2025-06-31 »" in text
    assert (
        "ligne 5, clé « tables.conventions.dispositf » : colonne inconnue"
        " (vouliez-vous dire « dispositif » ?)" in text
    )
    assert "clé « tables.episode » : extrait inconnu (vouliez-vous dire « episodes » ?)" in text
    assert "ligne 9, clé « expect.C1.earned »" in text and "« earned_eur » ?" in text
    assert "fraction « n/d » attendue (ex. 3/4), trouvé « 3 »" in text
    assert "ligne 13, clé « changes[0].valeur »" in text and "« value » ?" in text


def test_a_wrong_expectation_is_reported_in_french(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIOS / "premier_rendez_vous_15_ou_16_jours.yaml")
    scenario.cases = [
        Case(
            "règles du scénario",
            None,
            {
                "EQ-TEST": {
                    "indicators": {"first_appointment_15d": "4/4"},
                    "earned_eur": "1.00",
                    "flags": ["reversement"],
                }
            },
        )
    ]
    diffs = run_scenario(scenario, tmp_path)
    assert diffs == [
        "règles du scénario, EQ-TEST, first_appointment_15d : attendu 4/4, obtenu 3/4",
        "règles du scénario, EQ-TEST : earned_eur attendu 1.00, obtenu 6562.50",
        "règles du scénario, EQ-TEST : flags attendus ['reversement'], obtenus []",
    ]
