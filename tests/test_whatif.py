"""What-if runs (`parcours whatif`, `--variant`, engine/compute/whatif.py) and `parcours rules`.

The fixture merges the four scenario stories of tests/scenarios (four conventions, hand
computed there) and adds a `budget_lines` table. With `first_appointment_max_days = 10`:
EQ-TEST 3/4 → 2/4 on time, 6 562,50 € → 5 000,00 € (−1 562,50); EQ-START 2/2 → 1/2 (11
days is late), qualitative 1/2 → 0, 15 000 € → 10 000 € (−5 000); EQ-REV and EQ-EXIT
unchanged. Budget line C02-TEST (available 50 000 €): 26 562,50 → 20 000,00, remaining
30 000,00; C01-AUTRE (EQ-EXIT, absent from budget_lines): 7 000 both ways, no available.
"""

from __future__ import annotations

import json
import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from test_scenarios import SCENARIOS, load_scenario, write_tables
from typer.testing import CliRunner

from engine import cli
from engine.compute.pipeline import evaluate
from engine.compute.whatif import NO_EFFECT, run_whatif, totals_check
from engine.load.extracts import read_extracts
from engine.load.rules import DEFAULT_RULES_DIR, load_rules
from engine.load.variants import VariantError, load_variant, variant_from_options
from engine.present.results_json import results_json

AS_OF = "2025-06-30"
runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wide consoles, so that Rich never wraps a message or a table cell in the tests."""
    monkeypatch.setattr(cli, "console", Console(width=400))
    monkeypatch.setattr(cli, "err", Console(stderr=True, width=400))


def merged_tables() -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(SCENARIOS.glob("*.yaml")):
        for name, rows in load_scenario(path).tables.items():
            for row in rows:
                row = dict(row)
                if name == "appointments":
                    row["appointment_id"] = f"{row['episode_id']}-{row['appointment_id']}"
                if name == "conventions" and row["convention_id"] == "EQ-EXIT":
                    row["budget_line"] = "C01-AUTRE"
                tables.setdefault(name, []).append(row)
    tables["budget_lines"] = [
        {"budget_line": "C02-TEST", "label": "Ligne test", "available_eur": "50000.00"}
    ]
    return tables


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_tables(merged_tables(), tmp_path / "data")


def invoke(*args: str) -> Any:
    result = runner.invoke(cli.app, [str(a) for a in args])
    assert "Traceback" not in result.output + (result.stderr or "")
    return result


def flat(text: str) -> str:
    """The text with table borders removed and whitespace collapsed."""
    return " ".join(re.sub("[│┃]", " ", text).split())


# --------------------------------------------------------------------------- the figures


def test_whatif_equals_a_rules_tree_edited_on_disk(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke(
        "whatif",
        data,
        "--as-of",
        AS_OF,
        "--set",
        "equilibre.first_appointment_max_days=10",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    baseline = json.loads((out / "baseline" / "results.json").read_text(encoding="utf-8"))
    variant = json.loads((out / "variant" / "results.json").read_text(encoding="utf-8"))

    # Independent computation: the rules tree copied and its YAML edited on disk.
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    params = rules / "equilibre" / "parameters.yaml"
    text = params.read_text(encoding="utf-8")
    block = re.search(r"  first_appointment_max_days:\n(?:    .*\n)+", text)
    assert block is not None
    edited = block.group(0).replace("values: {2024-12-09: 15}", "values: {2024-12-09: 10}")
    assert edited != block.group(0)
    params.write_text(text.replace(block.group(0), edited), encoding="utf-8")
    extracts = read_extracts(data)
    on_disk = results_json(evaluate(extracts, load_rules(rules), _date(AS_OF)))
    plain = results_json(evaluate(extracts, load_rules(), _date(AS_OF)))

    assert variant["conventions"] == on_disk["conventions"]
    assert baseline["conventions"] == plain["conventions"]  # the baseline is untouched
    assert variant["run"]["overrides"] == {"equilibre.first_appointment_max_days": 10}
    assert baseline["run"]["overrides"] == {}

    comparison = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    rows = {r["convention_id"]: r for r in comparison["conventions"]}
    assert {
        cid: (r["baseline_earned_eur"], r["variant_earned_eur"], r["delta_eur"])
        for cid, r in rows.items()
    } == {
        "EQ-START": ("15000.00", "10000.00", "-5000.00"),
        "EQ-TEST": ("6562.50", "5000.00", "-1562.50"),
        "EQ-REV": ("5000.00", "5000.00", "0.00"),
        "EQ-EXIT": ("7000.00", "7000.00", "0.00"),
    }
    assert comparison["overrides"] == {"equilibre.first_appointment_max_days": 10}
    assert comparison["by_budget_line"] == [
        {
            "budget_line": "C02-TEST",
            "baseline_earned_eur": "26562.50",
            "variant_earned_eur": "20000.00",
            "delta_eur": "-6562.50",
            "available_eur": "50000.00",
            "remaining_eur": "30000.00",
        },
        {
            "budget_line": "C01-AUTRE",
            "baseline_earned_eur": "7000.00",
            "variant_earned_eur": "7000.00",
            "delta_eur": "0.00",
            "available_eur": None,
            "remaining_eur": None,
        },
    ]
    assert comparison["totals"] == {
        "baseline_earned_eur": "33562.50",
        "variant_earned_eur": "27000.00",
        "delta_eur": "-6562.50",
    }
    assert comparison["providers"]["losing"] == ["Nouvelle structure", "Structure test"]
    assert comparison["providers"]["gaining"] == []
    assert totals_check(comparison)

    console = flat(result.output)
    assert "EQ-TEST Structure test 6 562,50 € 5 000,00 € −1 562,50 €" in console
    assert "C02-TEST 26 562,50 € 20 000,00 € −6 562,50 € 50 000,00 € 30 000,00 €" in console
    assert ("Conventions : 0 gagnent, 2 perdent, 2 inchangées ; structures (somme de leurs"
            " conventions) : 0 gagnent, 2 perdent, 2 inchangées") in console
    assert "Reste de l'enveloppe = disponible de la ligne budgétaire − acquis de la variante." in console
    assert "Écart total : −6 562,50 €" in console


def _date(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)


def test_the_book_is_not_touched_and_extracts_are_read_once(data: Path) -> None:
    book = load_rules()
    extracts = read_extracts(data)
    variant = variant_from_options(["equilibre.first_appointment_max_days=10"], None)
    assert variant is not None
    result = run_whatif(extracts, book, _date(AS_OF), variant)
    assert book.params["equilibre.first_appointment_max_days"].values[0][1] == 15
    assert book.edits == ()
    assert result.baseline.extracts is result.variant.extracts
    assert result.variant.book.params["equilibre.first_appointment_max_days"].values[0][1] == 10


@pytest.mark.parametrize(
    "sets",
    [
        ["equilibre.first_appointment_max_days=30"],
        ["equilibre.scoring.exit_12m.target=0.5", "equilibre.weekly_hours_min=20"],
        ["equilibre.quantitative_weight=0.3", "equilibre.qualitative_weight=0.7"],
        ["equilibre.startup_policy=qualitative_only", "equilibre.portfolio_min_per_etp=40"],
    ],
)
def test_deltas_add_up_to_the_cent(data: Path, sets: list[str]) -> None:
    variant = variant_from_options(sets, None)
    assert variant is not None
    result = run_whatif(read_extracts(data), load_rules(), _date(AS_OF), variant)
    comp = result.comparison
    assert totals_check(comp)
    conv = sum(Decimal(r["delta_eur"]) for r in comp["conventions"])
    assert conv == Decimal(comp["totals"]["variant_earned_eur"]) - Decimal(
        comp["totals"]["baseline_earned_eur"]
    )
    for row in comp["conventions"]:
        assert Decimal(row["variant_earned_eur"]) - Decimal(row["baseline_earned_eur"]) == Decimal(
            row["delta_eur"]
        )


def test_deltas_add_up_on_the_sample_data() -> None:
    sample = Path(__file__).resolve().parents[1] / "sample_data"
    if not (sample / "conventions.csv").is_file():
        pytest.skip("sample_data/ absent")
    variant = variant_from_options(
        ["equilibre.first_appointment_max_days=10", "equilibre.scoring.weekly_15h.floor=0.2"], None
    )
    assert variant is not None
    result = run_whatif(read_extracts(sample), load_rules(), _date(AS_OF), variant)
    assert totals_check(result.comparison)
    assert Decimal(result.comparison["totals"]["delta_eur"]) == sum(
        c.earned for c in result.variant.conventions
    ) - sum(c.earned for c in result.baseline.conventions)


# --------------------------------------------------------------------------- effect per edit


def test_an_edit_without_effect_is_reported(data: Path, tmp_path: Path) -> None:
    result = invoke(
        "whatif",
        data,
        "--as-of",
        AS_OF,
        "--out",
        tmp_path / "o",
        "--set",
        "equilibre.first_appointment_max_days=10",
        "--set",
        "equilibre.portfolio_max_per_etp=80",
    )
    assert result.exit_code == 0, result.output
    comp = json.loads((tmp_path / "o" / "comparison.json").read_text(encoding="utf-8"))
    first, second = comp["edits"]
    assert (first["delta_eur"], first["conventions_changed"], first["effect"]) == (
        "-6562.50",
        2,
        None,
    )
    assert (second["delta_eur"], second["conventions_changed"], second["effect"]) == (
        "0.00",
        0,
        NO_EFFECT,
    )
    assert f"equilibre.portfolio_max_per_etp = 80 — {NO_EFFECT}" in result.output
    assert "effet seul : −6 562,50 € sur 2 convention(s)" in flat(result.output)


def test_a_variant_without_any_effect_says_so(data: Path, tmp_path: Path) -> None:
    variant = tmp_path / "v.yaml"
    variant.write_text(
        "name: Délai à partir de juillet\nchanges:\n"
        "  - {parameter: equilibre.first_appointment_max_days, value: 10,"
        " from: 2025-07-01}\n",
        encoding="utf-8",
    )
    result = invoke("whatif", data, "--as-of", AS_OF, "--variant", variant, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert f"La variante ne change aucun montant ({NO_EFFECT})" in result.output
    comp = json.loads((tmp_path / "o" / "comparison.json").read_text(encoding="utf-8"))
    assert comp["edits"][0]["from"] == "2025-07-01"
    assert comp["totals"]["delta_eur"] == "0.00"


def test_edits_valid_only_together(data: Path) -> None:
    """Weights must sum to 1: each change alone is refused, so its own effect is not isolable.

    EQ-TEST: 10 000 × (0,4 × 1 + 0,6 × 0,3125) = 5 875,00 (was 6 562,50).
    """
    variant = variant_from_options(
        ["equilibre.quantitative_weight=0.4", "equilibre.qualitative_weight=0.6"], None
    )
    assert variant is not None
    result = run_whatif(read_extracts(data), load_rules(), _date(AS_OF), variant)
    assert result.variant.convention("EQ-TEST").earned == Decimal("5875.00")
    assert [e["delta_eur"] for e in result.comparison["edits"]] == [None, None]
    assert "non isolable" in result.comparison["edits"][0]["effect"]


# --------------------------------------------------------------------------- variant files


VARIANT = """\
name: Délai de 10 jours
author: Direction de l'insertion
purpose: Mesurer l'effet d'un délai de premier rendez-vous ramené à 10 jours
changes:
  - parameter: equilibre.first_appointment_max_days
    value: 10
    from: 2025-01-01
  - decision: reversement
    enabled: false
"""


def test_variant_file(data: Path, tmp_path: Path) -> None:
    path = tmp_path / "variante.yaml"
    path.write_text(VARIANT, encoding="utf-8")
    variant = load_variant(path)
    assert variant.name == "Délai de 10 jours" and variant.author == "Direction de l'insertion"
    assert [(e.path, e.value, str(e.from_date)) for e in variant.edits] == [
        ("equilibre.first_appointment_max_days", 10, "2025-01-01"),
        ("decisions.reversement", False, "None"),
    ]
    assert variant.edits[0].origin == f"{path}, ligne 5"
    result = invoke("whatif", data, "--as-of", AS_OF, "--variant", path, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    comp = json.loads((tmp_path / "o" / "comparison.json").read_text(encoding="utf-8"))
    assert comp["variant"]["name"] == "Délai de 10 jours"
    assert comp["totals"]["delta_eur"] == "-6562.50"
    assert comp["edits"][1]["effect"] == NO_EFFECT  # the reversement flag is no money
    values = dict(
        json.loads((tmp_path / "o" / "variant" / "results.json").read_text())["run"]["overrides"]
    )
    assert values == {"equilibre.first_appointment_max_days": 10, "decisions.reversement": False}
    assert "Variante « Délai de 10 jours » (Direction de l'insertion)" in result.output


def test_evaluate_with_a_variant(data: Path, tmp_path: Path) -> None:
    path = tmp_path / "variante.yaml"
    path.write_text(VARIANT, encoding="utf-8")
    result = invoke("evaluate", data, "--as-of", AS_OF, "--variant", path, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "o" / "results.json").read_text(encoding="utf-8"))
    earned = {c["convention_id"]: c["earned_eur"] for c in results["conventions"]}
    assert earned["EQ-TEST"] == "5000.00"
    rev = next(c for c in results["conventions"] if c["convention_id"] == "EQ-REV")
    assert rev["solde_eur"] == "-1000.00" and "reversement" not in rev["flags"]
    assert results["run"]["edits"][0]["origin"] == f"{path}, ligne 5"


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "name: x\nautor: moi\nchanges: [{parameter: equilibre.max_months, value: 13}]\n",
            ["ligne 2, clé « autor » : clé inconnue", "(vouliez-vous dire « author » ?)"],
        ),
        (
            "name: x\nchanges:\n  - parameter: equilibre.max_months\n    valeur: 13\n",
            [
                "ligne 4, clé « changes[0].valeur »",
                "(vouliez-vous dire « value » ?)",
                "ligne 3, clé « changes[0].value » :"
                " « value » manquant pour « equilibre.max_months »",
            ],
        ),
        (
            "name: x\nchanges:\n"
            "  - {parameter: equilibre.max_months, value: 13, from: 2025-02-30}\n",
            [
                "ligne 3, clé « changes[0].from » :"
                " date d'effet invalide « 2025-02-30 » (attendu AAAA-MM-JJ)"
            ],
        ),
        (
            "name: x\nchanges:\n  - {decision: reversement}\n",
            ["clé « changes[0].enabled » : « enabled » manquant (true ou false)"],
        ),
        (
            "name: x\nchanges:\n  - {decision: reversement, enabled: peut-être}\n",
            ["true ou false attendu, trouvé « peut-être »"],
        ),
        (
            "author: moi\n",
            ["clé « name » : « name » manquant", "clé « changes » : « changes » manquant"],
        ),
        ("name: x\nchanges: []\n", ["liste de modifications attendue (au moins une)"]),
        (
            "name: x\nchanges:\n  - {paramter: equilibre.max_months, value: 13}\n",
            ["(vouliez-vous dire « parameter » ?)", "« parameter » (ou « decision ») manquant"],
        ),
        (
            "name: x\nname: y\nchanges: [{parameter: equilibre.max_months, value: 13}]\n",
            ["ligne 2, clé « name » : clé en double"],
        ),
        ("name: [x\n", ["YAML invalide"]),
        ("- a\n- b\n", ["une table est attendue : name, author, purpose, changes"]),
    ],
)
def test_a_malformed_variant_file_is_refused_with_file_and_line(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = tmp_path / "v.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(VariantError) as error:
        load_variant(path)
    message = str(error.value)
    assert message.startswith("Fichier de variante refusé (")
    for part in expected:
        assert part in message


# --------------------------------------------------------------------------- refusals (CLI)


@pytest.mark.parametrize(
    "sets, expected",
    [
        (
            ["equilibre.first_apointment_max_days=10"],
            "clé « equilibre.first_apointment_max_days » : paramètre inconnu"
            " (vouliez-vous dire « equilibre.first_appointment_max_days » ?)",
        ),
        (["equilibre.first_appointment_max_days=-3"], "valeur -3 inférieure au minimum 0"),
        (["equilibre.first_appointment_max_days=dix"], "entier attendu, trouvé « dix »"),
        (["equilibre.quantitative_weight=1.5"], "valeur 1.5 supérieure au maximum 1"),
        (["equilibre.qualitative_weight=0.7"], "ils font 1.2"),
        (
            ["equilibre.startup_policy=neutraliser_quantitative"],
            "hors de la liste (neutralise_quantitative, qualitative_only)"
            " (vouliez-vous dire « neutralise_quantitative » ?)",
        ),
        (["equilibre.scoring.exit_12m.floor=0.5"], "strictement inférieur à la cible"),
        (["equilibre.first_appointment_max_days"], "forme attendue PARAMÈTRE=VALEUR"),
    ],
)
def test_bad_edits_are_refused_clearly(
    data: Path, tmp_path: Path, sets: list[str], expected: str
) -> None:
    args = [a for s in sets for a in ("--set", s)]
    for command in ("whatif", "evaluate"):
        result = invoke(command, data, "--as-of", AS_OF, *args, "--out", tmp_path / command)
        assert result.exit_code == 1, result.output
        message = flat(result.stderr)
        assert message.startswith("Erreur : Modification refusée (1 problème(s))")
        assert expected in message
        assert not (tmp_path / command).exists()


def test_a_bad_edit_is_refused_before_the_extracts_are_read(tmp_path: Path) -> None:
    result = invoke("whatif", tmp_path / "absent", "--as-of", AS_OF, "--set", "equilibre.x=1")
    assert result.exit_code == 1
    assert "paramètre inconnu" in result.stderr and "introuvable" not in result.stderr


def test_unknown_decision_in_a_variant(data: Path, tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text(
        "name: Sans reversement\nchanges:\n  - {decision: reversment, enabled: false}\n",
        encoding="utf-8",
    )
    result = invoke("whatif", data, "--as-of", AS_OF, "--variant", path, "--out", tmp_path / "o")
    assert result.exit_code == 1
    assert flat(result.stderr) == (
        f"Erreur : Variante « Sans reversement » refusée (1 problème(s)) : - {path}, ligne 3,"
        " clé « decisions.reversment » : règle de décision inconnue"
        " (vouliez-vous dire « reversement » ?)"
    )


def test_missing_variant_file(data: Path, tmp_path: Path) -> None:
    result = invoke("whatif", data, "--as-of", AS_OF, "--variant", tmp_path / "nope.yaml")
    assert result.exit_code == 1
    assert "fichier de variante introuvable" in result.stderr


def test_whatif_without_an_edit_is_bad_usage(data: Path) -> None:
    result = invoke("whatif", data, "--as-of", AS_OF)
    assert result.exit_code == 2
    assert "--set CHEMIN=VALEUR" in result.stderr and "--variant" in result.stderr


# --------------------------------------------------------------------------- parcours rules


def test_rules_grouped_by_dispositif() -> None:
    result = invoke("rules", "--at", "2025-03-01")
    assert result.exit_code == 0, result.output
    out = result.output
    book = load_rules()
    for dispositif, label in book.labels.items():
        assert f"{label} ({dispositif})" in out
    assert "Règles de décision" in out
    line = next(x for x in out.splitlines() if "equilibre.first_appointment_max_days" in x)
    assert "15" in line and "09/12/2024" in line and "L462" in line
    # parameters appear under their own dispositif's table
    accueil = out.index(f"{book.labels['accueil']} (accueil)")
    equilibre = out.index(f"{book.labels['equilibre']} (equilibre)")
    assert accueil < out.index("accueil.positioning_max_days") < equilibre
    # the stage in French, never the code
    assert "notation" in out and "paiement" in out
    assert not re.search(r"│ (scoring|payment) ", out)


@pytest.mark.parametrize("width", [80, 120, 200])
def test_rules_table_never_cuts_a_path(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every parameter's full path is on one line of the table, whatever the width."""
    monkeypatch.setattr(cli, "console", Console(width=width, force_terminal=False))
    result = runner.invoke(cli.app, ["rules"])
    assert result.exit_code == 0, result.output
    book = load_rules()
    lines = result.output.splitlines()
    for path in book.params:
        assert any(re.search(rf"(^|\s){re.escape(path)}(\s|$)", x) for x in lines), path


def test_rules_csv_and_json_give_full_paths() -> None:
    import csv
    import io

    result = invoke("rules", "--format", "csv")
    assert result.exit_code == 0, result.output
    found = [x for x in result.output.splitlines() if "first_appointment_max_days" in x]
    assert found and found[0].startswith("equilibre.first_appointment_max_days,")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert {r["path"] for r in rows} == set(load_rules().params)
    row = next(r for r in rows if r["path"] == "equilibre.first_appointment_max_days")
    assert row["value"] == "15" and row["unit"] == "jours calendaires" and row["ref"] == "L462"
    assert row["description"].startswith("Délai maximal")
    data = json.loads(invoke("rules", "--format", "json").output)
    assert {p["path"] for p in data["parameters"]} == set(load_rules().params)
    stages = {d["stage_fr"] for d in data["decisions"]}
    assert stages <= {"notation", "paiement"} and stages
    bad = invoke("rules", "--format", "xml")
    assert bad.exit_code == 2 and "format « xml » inconnu" in flat(bad.output + (bad.stderr or ""))


def test_rules_history_and_date(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    params = rules / "equilibre" / "parameters.yaml"
    text = params.read_text(encoding="utf-8")
    old = (
        "    values: {2024-12-09: 15}\n"
        '    source: {document: deliberation-cp-2024-587, ref: L462, quote: "Organiser'
    )
    assert text.count(old) == 1
    params.write_text(
        text.replace(old, old.replace("{2024-12-09: 15}", "{2024-12-09: 15, 2025-07-01: 10}")),
        encoding="utf-8",
    )
    for at, value, since in (
        ("2025-03-01", "15", "2024-12-09"),
        ("01/08/2025", "10", "2025-07-01"),
    ):
        result = invoke("rules", "--rules", rules, "--at", at, "--format", "json")
        assert result.exit_code == 0, result.output
        row = next(p for p in json.loads(result.output)["parameters"]
                   if p["path"] == "equilibre.first_appointment_max_days")
        assert (row["value"], row["since"]) == (value, since)
        assert row["history"] == "2024-12-09 → 15 ; 2025-07-01 → 10"
    before = invoke("rules", "--at", "2024-01-01")
    line = next(
        x for x in before.output.splitlines() if "equilibre.first_appointment_max_days" in x
    )
    assert "—" in line and "(pas encore en vigueur)" in line


def test_rules_on_a_broken_tree_lists_every_problem(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    params = rules / "equilibre" / "parameters.yaml"
    text = params.read_text(encoding="utf-8")
    text = text.replace(
        "    unit: jours calendaires\n    type: integer\n",
        "    unit: jours calendaires\n    type: entier\n",
        1,
    )
    text = text.replace("  max_months:\n    description:", "  max_months:\n    descripton:", 1)
    params.write_text(text, encoding="utf-8")
    result = invoke("rules", "--rules", rules)
    assert result.exit_code == 1
    message = flat(result.stderr)
    assert "type « entier » inconnu" in message
    assert "clé « equilibre.max_months.descripton » : clé inconnue" in message
    assert "(vouliez-vous dire « description » ?)" in message
