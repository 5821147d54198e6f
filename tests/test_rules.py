"""The rules loader: the shipped tree loads; each broken file gives file, line, key, reason."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from engine.load.rules import DEFAULT_RULES_DIR, apply_edits, load_rules, parse_set
from engine.model.errors import RulesError
from engine.model.rulebook import Edit


def test_shipped_rules_load_and_cite_sources():
    book = load_rules()
    p = book.param("equilibre.first_appointment_max_days")
    assert p.at(date(2025, 6, 30)) == 15
    assert p.source["ref"] == "L462"
    assert "15 jours" in p.source["quote"]
    for param in book.params.values():
        assert param.source.get("quote"), param.path
        assert param.source.get("ref"), param.path
    assert {"first_appointment_15d", "contractualisation", "weekly_15h", "exit_12m", "ceu_quality",
            "occupancy"} <= set(book.indicators["equilibre"])
    assert book.resolve("equilibre", date(2025, 3, 31))["scoring.exit_12m.target"] == Decimal("0.3")


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, root)
    return root


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(root: Path, rel: str, needle: str) -> int:
    for i, line in enumerate((root / rel).read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


P = "equilibre/parameters.yaml"
S = "equilibre/scoring.yaml"


@pytest.mark.parametrize(
    ("case", "rel", "old", "new", "needle", "key", "message"),
    [
        ("unknown key with typo", P, "    unit: jours calendaires\n    type: integer\n    min: 0\n    values: {2024-12-09: 15}",
         "    unit: jours calendaires\n    typ: integer\n    min: 0\n    values: {2024-12-09: 15}", "typ: integer",
         "equilibre.first_appointment_max_days.typ", "vouliez-vous dire « type »"),
        ("wrong type", P, "values: {2024-12-09: 15}\n    source: {document: deliberation-cp-2024-587, ref: L462, quote: \"Organiser",
         "values: {2024-12-09: quinze}\n    source: {document: deliberation-cp-2024-587, ref: L462, quote: \"Organiser",
         "quinze", "equilibre.first_appointment_max_days.values.2024-12-09", "entier attendu"),
        ("bad date", P, "values: {2024-12-09: 55}", "values: {2024-13-45: 55}", "2024-13-45",
         "equilibre.portfolio_min_per_etp.values", "date d'effet invalide"),
        ("missing source", P, "    source: {document: deliberation-cp-2024-587, ref: L461, quote: \"Portefeuilles 55 à 70 personnes par ETP\"}\n  portfolio_max_per_etp:",
         "  portfolio_max_per_etp:", "  portfolio_min_per_etp:", "equilibre.portfolio_min_per_etp", "source manquante"),
        ("empty quote", P, "quote: \"Organiser le rendez-vous dans un délai de 15 jours maximum\"", "quote: \"\"",
         "ref: L462, quote: \"\"", "equilibre.first_appointment_max_days.source.quote", "« quote » manquant"),
        ("duplicate key", P, "  dynamic_exit_reasons:", "  max_months:  # doublon\n    description: doublon\n  dynamic_exit_reasons:",
         "max_months:  # doublon", "max_months", "clé en double"),
        ("floor above target", S, "values: {2024-12-09: 0.1}", "values: {2024-12-09: 0.35}", None,
         "equilibre.scoring.exit_12m.floor", "strictement inférieur à la cible"),
        ("weights not summing to 1", S, "values: {2024-12-09: 0.5}\n    source: {document: deliberation-cp-2024-587, ref: L467, quote: \"Part qualitative",
         "values: {2024-12-09: 0.6}\n    source: {document: deliberation-cp-2024-587, ref: L467, quote: \"Part qualitative",
         None, "equilibre.quantitative_weight", "doivent faire 1"),
        ("out of range", S, "values: {2024-12-09: 0.9}", "values: {2024-12-09: 1.9}", "1.9",
         "equilibre.scoring.first_appointment_15d.target.values.2024-12-09", "supérieure au maximum 1"),
        ("unknown code", S, "values: {2024-12-09: neutral}", "values: {2024-12-09: neutre}", "neutre",
         "equilibre.not_evaluable_policy.values.2024-12-09", "vouliez-vous dire « neutral »"),
        ("invalid yaml", P, "  max_months:\n", "  max_months:\n   - [unclosed\n", None, "", "YAML invalide"),
    ],
)
def test_each_broken_rule_file_is_reported(tmp_path, case, rel, old, new, needle, key, message):
    """One broken file per failure mode: the problem names the file, line and key."""
    root = _tree(tmp_path)
    _edit(root, rel, old, new)
    with pytest.raises(RulesError) as info:
        load_rules(root)
    problems = info.value.problems
    matching = [p for p in problems if message in p.message and p.key == key]
    assert matching, [str(p) for p in problems]
    problem = matching[0]
    assert problem.file.endswith(rel), str(problem)
    if needle:
        assert problem.line == _line_of(root, rel, needle), str(problem)
    assert "Traceback" not in str(info.value)


def test_all_problems_collected_in_one_pass(tmp_path):
    root = _tree(tmp_path)
    _edit(root, P, "    type: integer\n    min: 0\n    values: {2024-12-09: 15}", "    typ: integer\n    min: 0\n    values: {2024-12-09: 15}")
    _edit(root, S, "values: {2024-12-09: 0.1}", "values: {2024-12-09: 0.35}")
    with pytest.raises(RulesError) as info:
        load_rules(root)
    files = {p.file.split("/")[-1] for p in info.value.problems}
    assert {"parameters.yaml", "scoring.yaml"} <= files


def test_missing_rules_folder(tmp_path):
    with pytest.raises(RulesError, match="introuvable"):
        load_rules(tmp_path / "nope")


def test_edits_make_a_checked_copy():
    book = load_rules()
    edited = apply_edits(book, [parse_set("equilibre.first_appointment_max_days=10")])
    assert edited.param("equilibre.first_appointment_max_days").at(date(2025, 6, 30)) == 10
    assert book.param("equilibre.first_appointment_max_days").at(date(2025, 6, 30)) == 15
    dated = apply_edits(book, [Edit("equilibre.first_appointment_max_days", 20, from_date=date(2025, 4, 1))])
    p = dated.param("equilibre.first_appointment_max_days")
    assert (p.at(date(2025, 3, 31)), p.at(date(2025, 4, 1))) == (15, 20)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("equilibre.first_apointment_max_days=10", "vouliez-vous dire « equilibre.first_appointment_max_days »"),
        ("equilibre.first_appointment_max_days=-3", "inférieure au minimum 0"),
        ("equilibre.first_appointment_max_days=dix", "entier attendu"),
        ("equilibre.scoring.exit_12m.floor=0.5", "strictement inférieur à la cible"),
        ("equilibre.qualitative_weight=0.6", "doivent faire 1"),
        ("equilibre.first_appointment_max_days", "forme attendue"),
    ],
)
def test_bad_edits_are_refused(option, message):
    with pytest.raises(RulesError) as info:
        apply_edits(load_rules(), [parse_set(option)])
    assert message in str(info.value)


def test_every_flag_and_warning_has_its_french_wording(tmp_path):
    """The wording of flags and warnings is data (decisions.yaml `labels:`); a code a rule can
    set without a label is refused, naming the rule."""
    book = load_rules()
    codes = {a.get("flag") or a.get("warn") for r in book.decisions for a in r.then} - {None}
    assert codes <= set(book.flag_labels)
    assert book.flag_labels["reversement"] == "reversement (solde négatif)"
    root = _tree(tmp_path)
    _edit(root, "decisions.yaml", "  reversement: reversement (solde négatif)\n", "")
    with pytest.raises(RulesError) as info:
        load_rules(root)
    assert any(p.key == "decisions.reversement" and "libellé" in p.message for p in info.value.problems)
