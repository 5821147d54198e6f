"""`parcours explain` and engine/present/explain.py on hand-computed cases.

The main case is tests/scenarios/premier_rendez_vous_15_ou_16_jours.yaml: four people
oriented on 6 Jan 2025, first physical appointment on day 3, 10, 15 and 16 → 3/4 on time,
score (0,75 − 0,5)/(0,9 − 0,5) = 0,625; no contract → contractualisation 0/4, score 0;
qualitative (0,625 + 0)/2 = 0,3125; occupancy 704/181 against 55 × 0,06 = 3,3 → 1;
earned 10 000 × (0,5 × 1 + 0,5 × 0,3125) = 6 562,50; paid 5 000; solde 1 562,50.
The only late episode is E4 (deadline 21 Jan, first appointment 22 Jan, 16 days).
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from test_scenarios import SCENARIOS, load_scenario, read_scenario_extracts, write_tables
from typer.testing import CliRunner

from engine import cli
from engine.compute.pipeline import evaluate
from engine.load.extracts import read_extracts
from engine.load.rules import load_rules
from engine.load.variants import edited_book, variant_from_options
from engine.model.results import RunResult
from engine.present.explain import UnknownConvention, number, render_text
from engine.present.explain import explain as explain_data

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
FIRST = SCENARIOS / "premier_rendez_vous_15_ou_16_jours.yaml"


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "console", Console(width=400))
    monkeypatch.setattr(cli, "err", Console(stderr=True, width=400))


def run_of(path: Path, folder: Path, sets: list[str] | None = None) -> RunResult:
    scenario = load_scenario(path)
    book = edited_book(load_rules(), variant_from_options(sets, None))
    return evaluate(read_scenario_extracts(scenario, folder), book, scenario.as_of)


def _plain(value: Any) -> Any:
    """The explanation with no-break spaces (the formatter's grouping) read as plain spaces."""
    if isinstance(value, str):
        return value.replace("\u00a0", " ")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def explain(run: RunResult, convention_id: str, **options: Any) -> dict[str, Any]:
    return _plain(explain_data(run, convention_id, **options))


def indicator(data: dict[str, Any], ind_id: str) -> dict[str, Any]:
    return next(i for i in data["indicators"] if i["id"] == ind_id)


def test_explain_first_appointment_case(tmp_path: Path) -> None:
    data = explain(run_of(FIRST, tmp_path), "EQ-TEST")
    json.dumps(data)  # JSON-ready
    first = indicator(data, "first_appointment_15d")
    assert first["label"] == "Respect des 15 jours pour le 1er rendez-vous"
    assert (first["source"]["ref"], first["source"]["quote"]) == (
        "L470",
        "1. Respect des 15 jours pour le 1^{er} rendez-vous",
    )
    assert first["fraction"] == "3/4"
    assert first["score"]["exact"] == "5/8" and first["weight"]["exact"] == "1/2"
    assert first["score_text"] == (
        "(valeur 0,75 − plancher 0,5) / (cible 0,9 − plancher 0,5) = 0,625"
    )
    params = {p["path"]: p for p in first["parameters"]}
    assert list(params)[:2] == ["equilibre.first_appointment_max_days", "equilibre.physical_modes"]
    max_days = params["equilibre.first_appointment_max_days"]
    assert (max_days["value"], max_days["unit"], max_days["since"]) == (
        15,
        "jours calendaires",
        "2024-12-09",
    )
    assert max_days["source"]["ref"] == "L462"
    assert (
        max_days["source"]["quote"] == "Organiser le rendez-vous dans un délai de 15 jours maximum"
    )
    assert {
        "equilibre.scoring.first_appointment_15d.target",
        "equilibre.scoring.first_appointment_15d.floor",
    } <= set(params)
    assert first["missed"] == {
        "total": 1,
        "more": 0,
        "shown": [
            {
                "unit": "E4",
                "numerator": 0,
                "denominator": 1,
                "orientation_date": "2025-01-06",
                "deadline": "2025-01-21",
                "first_appointment_date": "2025-01-22",
                "delay_days": 16,
            }
        ],
        "lines": [
            "E4 — orientation : 06/01/2025 ; échéance : 21/01/2025 ; 1er rendez-vous : 22/01/2025 ;"
            " délai (jours) : 16"
        ],
    }

    contract = indicator(data, "contractualisation")
    assert contract["fraction"] == "0/4" and contract["missed"]["total"] == 4
    assert contract["score_text"].endswith("= −1,25 → ramené à 0")
    weekly = indicator(data, "weekly_15h")
    assert not weekly["evaluable"] and weekly["fraction"] == "0/0"

    money = data["money"]
    assert (money["amount_eur"], money["earned_eur"], money["paid_eur"], money["solde_eur"]) == (
        "10000.00",
        "6562.50",
        "5000.00",
        "1562.50",
    )
    assert money["earned_exact"] == "13125/2"
    assert money["qualitative_score"]["exact"] == "5/16"
    assert "Score qualitatif = 0,5 × 0,625 + 0,5 × 0 = 0,3125" in money["lines"][0]
    assert (
        "Score quantitatif (« Taux d'occupation du portefeuille (moyenne de personnes accompagnées"
        " par jour) ») = 1"
    ) in money["lines"]
    assert (
        "Montant acquis = montant 10 000,00 € × (0,5 × 1 + 0,5 × 0,3125) = 6 562,5 €"
        " → arrondi au centime : 6 562,50 €"
    ) in money["lines"]
    assert data["decisions"] == [] and data["flags"] == []


def test_render_text_shows_the_late_episode_the_source_and_the_amount(tmp_path: Path) -> None:
    text = _plain(render_text(explain_data(run_of(FIRST, tmp_path), "EQ-TEST")))
    assert "Convention EQ-TEST — Structure test, Arrageois" in text
    assert (
        "Dispositif : Accompagnement équilibré social-professionnel ; type de ligne : Financement\n"
    ) in text
    assert "financement : financement" not in text and "(equilibre)" not in text
    assert "Évaluation finale (solde) au 30/06/2025" in text
    assert "Résultat : 3/4 = 75 %" in text
    assert ("L462 : « Organiser le rendez-vous dans un délai de 15 jours maximum »") in text
    assert (
        "     - E4 — orientation : 06/01/2025 ; échéance : 21/01/2025 ; 1er rendez-vous : 22/01/2025 ;"
        " délai (jours) : 16\n"
    ) in text
    # the deliberation's LaTeX superscript is kept in the quote, shown as plain text
    assert "L470 : « 1. Respect des 15 jours pour le 1er rendez-vous »" in text and "^{" not in text
    assert "Modes de rendez-vous comptés comme rencontre physique : physique [equilibre.physical_modes]" in text
    assert (
        "section #lignes-de-valorisation : « Une ligne de valorisation est évaluée sur les mêmes"
        " indicateurs qu'une ligne de financement, avec un montant de 0 €. » (interprétation)"
    ) in text
    assert "Unités en défaut (1) :" in text
    assert "Solde = acquis − versé = 6 562,50 € − 5 000,00 € = 1 562,50 €" in text
    assert (
        "Indicateurs non évaluables laissés hors de la moyenne : « Respect des 15h hebdomadaires »,"
        " « Taux de sorties dynamiques à 12 mois », « Qualité des Contrats d'Engagement Unique »"
    ) in text
    assert (
        "  (Part quantitative de la participation financière : 0,5 part [equilibre.quantitative_weight]"
        " — Délibération"
    ) in text


def test_late_units_are_capped(tmp_path: Path) -> None:
    data = explain(run_of(FIRST, tmp_path), "EQ-TEST", max_units=2)
    missed = indicator(data, "contractualisation")["missed"]
    assert (missed["total"], len(missed["shown"]), missed["more"]) == (4, 2, 2)
    assert [r["unit"] for r in missed["shown"]] == ["E1", "E2"]
    assert "     … et 2 autre(s)" in _plain(render_text(data))


def test_explain_under_an_edit(tmp_path: Path) -> None:
    """With 10 days, E3 (15 days) and E4 (16 days) are late: 2/4, score 0, 5 000,00 €."""
    data = explain(run_of(FIRST, tmp_path, ["equilibre.first_appointment_max_days=10"]), "EQ-TEST")
    first = indicator(data, "first_appointment_15d")
    assert first["fraction"] == "2/4"
    assert [r["unit"] for r in first["missed"]["shown"]] == ["E3", "E4"]
    param = first["parameters"][0]
    assert (param["value"], param["edited"]) == (10, True)
    assert data["overrides"] == {"equilibre.first_appointment_max_days": 10}
    assert data["money"]["earned_eur"] == "5000.00"
    text = _plain(render_text(data))
    assert "Règles modifiées pour ce calcul : equilibre.first_appointment_max_days = 10" in text
    assert "10 jours calendaires (modifié)" in text


def test_decisions_that_fired_are_explained(tmp_path: Path) -> None:
    data = explain(run_of(SCENARIOS / "demarrage_action.yaml", tmp_path), "EQ-START")
    [decision] = data["decisions"]
    assert decision["id"] == "startup_neutralise_quantitative"
    assert decision["source"]["ref"] == "L467"
    assert decision["description"].startswith("Démarrage d'action")
    assert decision["label"] == "démarrage, part quantitative neutralisée"
    assert decision["actions"] == [
        "signalement « démarrage : part quantitative neutralisée »",
        "score quantitatif fixé à 1",
    ]
    assert decision["matched_text"] == [
        "mode de financement = scores (part quantitative / part qualitative)",
        "démarrage d'action = oui",
        "option de démarrage = part quantitative neutralisée",
    ]
    lines = data["money"]["lines"]
    assert (
        "Score quantitatif (« Taux d'occupation du portefeuille (moyenne de personnes accompagnées"
        " par jour) ») = 0,0121"
    ) in lines
    assert (
        "Score quantitatif fixé à 1 par la règle « démarrage, part quantitative neutralisée »"
        " [startup_neutralise_quantitative]"
    ) in lines
    occupancy = indicator(data, "occupancy")
    assert occupancy["target_text"] == "55 par ETP [equilibre.portfolio_min_per_etp] × 2 ETP = 110"
    text = _plain(render_text(data))
    assert (
        "  - Démarrage, part quantitative neutralisée [startup_neutralise_quantitative] : Démarrage"
    ) in text
    assert (
        "    car : mode de financement = scores (part quantitative / part qualitative) ;"
        " démarrage d'action = oui ; option de démarrage = part quantitative neutralisée\n"
    ) in text
    assert "  Signalements : démarrage : part quantitative neutralisée\n" in text
    assert occupancy["score"]["exact"] == "24/1991"


def test_reversement_is_explained(tmp_path: Path) -> None:
    data = explain(run_of(SCENARIOS / "reversement.yaml", tmp_path), "EQ-REV")
    assert data["money"]["solde_text"] == (
        "5 000,00 € − 6 000,00 € = −1 000,00 € (somme à reverser)"
    )
    assert [d["id"] for d in data["decisions"]] == ["reversement"]
    assert data["decisions"][0]["matched_text"] == ["évaluation finale = oui", "solde = −1 000,00 €"]
    assert data["decisions"][0]["actions"] == ["signalement « reversement (solde négatif) »"]
    assert data["decisions"][0]["source"]["document"] == "interpretations"
    first = indicator(data, "first_appointment_15d")
    # R2 had only a phone call: no physical appointment, late once the 15 days have passed
    assert [
        (r["unit"], r["first_appointment_date"], r["delay_days"]) for r in first["missed"]["shown"]
    ] == [("R1", "2025-01-27", 21), ("R2", None, None)]


def test_cost_based_convention(tmp_path: Path) -> None:
    """Eligible personnel 50 000 (S2 at 25 % < 30 % is left out); × 1,4 = 70 000; × 40 % =
    28 000, below the 30 000 of the convention: earned 28 000,00."""
    tables = {
        "conventions": [
            {
                "convention_id": "IND-1",
                "structure": "PDC Actif",
                "territory": "Boulonnais",
                "dispositif": "independants",
                "funding": "financement",
                "etp": 1,
                "amount_eur": "30000.00",
                "paid_eur": "10000.00",
                "period_start": "2025-01-01",
                "period_end": "2025-06-30",
                "mining_basin": "false",
            }
        ],
        "staff_costs": [
            {
                "convention_id": "IND-1",
                "staff_id": "S1",
                "gross_cost_eur": "50000",
                "allocation_rate": "1",
            },
            {
                "convention_id": "IND-1",
                "staff_id": "S2",
                "gross_cost_eur": "20000",
                "allocation_rate": "0.25",
            },
        ],
    }
    extracts = read_extracts(write_tables(tables, tmp_path / "d"))
    data = explain(evaluate(extracts, load_rules(), date(2025, 6, 30)), "IND-1")
    money = data["money"]
    assert money["model"] == "costs"
    assert money["earned_eur"] == "28000.00" and money["solde_eur"] == "18000.00"
    assert money["lines"] == [
        "Coûts de personnel éligibles : 50 000,00 € (1 salarié(s) retenu(s), 1 écarté(s))",
        "Total éligible = personnel × (1 + forfait 40 %) = 70 000,00 €",
        "Part du Département (FSE+) : 40 % → 28 000,00 €",
        "Montant acquis = min(montant conventionné 30 000,00 €, 28 000,00 €) = 28 000,00 €",
    ]
    # every parameter the money steps read, in the order of the chain
    assert [p["path"] for p in money["parameters"]] == [
        "independants.funded_lines",
        "independants.min_allocation",
        "independants.flat_rate",
        "independants.share_parameter_elsewhere",
        "independants.department_share_fse",
        "independants.cap_at_amount",
    ]
    assert [s["id"] for s in money["steps"]] == [
        "amount", "eligible_personnel", "eligible_total", "due", "earned", "solde"]
    assert money["ineligible_staff"] == ["S2 (taux d'affectation 25 % < 30 %)"]
    text = _plain(render_text(data))
    assert "DES COÛTS DÉCLARÉS AU MONTANT" in text and "Salariés écartés : S2" in text


def test_parameters_used_are_those_the_computation_read() -> None:
    """The trace records what each indicator asked for (no reading of its code)."""
    from engine.load.extracts import read_extracts as read

    run = evaluate(read(ROOT / "sample_data"), load_rules(), date(2025, 6, 30))
    by_dispositif = {c.attrs["dispositif"]: c for c in run.conventions}
    accueil = by_dispositif["accueil"].indicators
    assert accueil["orientation_6w"].parameters[:2] == ("accueil.positioning_max_days", "accueil.positioning_publics")
    equilibre = by_dispositif["equilibre"].indicators
    assert equilibre["exit_12m"].parameters[:2] == ("equilibre.max_months", "equilibre.dynamic_exit_reasons")
    assert equilibre["occupancy"].parameters == ("equilibre.portfolio_min_per_etp",)
    assert "equilibre.weekly_hours_min" in equilibre["weekly_15h"].parameters
    assert {"equilibre.scoring.exit_12m.target", "equilibre.scoring.exit_12m.floor",
            "equilibre.scoring.exit_12m.weight"} <= set(equilibre["exit_12m"].parameters)
    # an indicator never lists a parameter it did not read
    assert "equilibre.weekly_hours_min" not in equilibre["first_appointment_15d"].parameters


def test_unknown_convention(tmp_path: Path) -> None:
    run = run_of(FIRST, tmp_path)
    with pytest.raises(UnknownConvention) as error:
        explain(run, "EQ-TES")
    assert str(error.value) == (
        "Convention « EQ-TES » inconnue dans ces extraits (1 convention(s)"
        " évaluée(s)). Vouliez-vous dire « EQ-TEST » ?"
    )


def test_number_formatting() -> None:
    from fractions import Fraction

    assert number(Fraction(13125, 2), 6) == "6\u00a0562,5"  # a no-break space: « 6 562,5 » never wraps
    assert number(Fraction(-5, 4)) == "−1,25"
    assert number(Fraction(1, 3)) == "0,3333"
    assert number(Fraction(0)) == "0"


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write_tables(load_scenario(FIRST).tables, tmp_path / "data")


def test_cli_text(data_dir: Path) -> None:
    result = runner.invoke(
        cli.app, ["explain", str(data_dir), "--as-of", "2025-06-30", "--convention", "EQ-TEST"]
    )
    assert result.exit_code == 0, result.output
    assert "E4 — orientation : 06/01/2025 ; échéance : 21/01/2025" in result.output
    assert "6 562,50 €" in _plain(result.output)


def test_cli_json(data_dir: Path) -> None:
    result = runner.invoke(
        cli.app,
        [
            "explain",
            str(data_dir),
            "--as-of",
            "2025-06-30",
            "--convention",
            "EQ-TEST",
            "--format",
            "json",
            "--units",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert indicator(data, "first_appointment_15d")["fraction"] == "3/4"
    assert indicator(data, "contractualisation")["missed"]["more"] == 3
    assert data["money"]["earned_eur"] == "6562.50"


def test_cli_unknown_convention(data_dir: Path) -> None:
    result = runner.invoke(
        cli.app, ["explain", str(data_dir), "--as-of", "2025-06-30", "--convention", "EQ-TES"]
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.strip() == (
        "Erreur : Convention « EQ-TES » inconnue dans ces extraits"
        " (1 convention(s) évaluée(s)). Vouliez-vous dire « EQ-TEST » ?"
    )


def test_cli_bad_format(data_dir: Path) -> None:
    result = runner.invoke(
        cli.app,
        [
            "explain",
            str(data_dir),
            "--as-of",
            "2025-06-30",
            "--convention",
            "EQ-TEST",
            "--format",
            "pdf",
        ],
    )
    assert result.exit_code == 2
    assert "format « pdf » inconnu" in result.stderr


def test_cli_explain_with_a_bad_edit(data_dir: Path) -> None:
    result = runner.invoke(
        cli.app,
        [
            "explain",
            str(data_dir),
            "--as-of",
            "2025-06-30",
            "--convention",
            "EQ-TEST",
            "--set",
            "equilibre.max_mois=3",
        ],
    )
    assert result.exit_code == 1
    assert "vouliez-vous dire « equilibre.max_months » ?" in result.stderr


# --------------------------------------------------------------------------- every sample convention


def _sources_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for ind in data["indicators"]:
        found += [ind["source"], *(p["source"] for p in ind["parameters"])]
    found += [d["source"] for d in data["decisions"]]
    found += [p["source"] for p in data["money"]["parameters"]]
    return found


#: Words of the internal English notes the interpretations used to be quoted from.
ENGLISH = ("None evaluable", "negative solde", "Indicator score", "by default", "default equal",
           " the ", " of the ", "(interpretation)", "Weights:", "Start-up clause", "flag ")


def test_no_explanation_of_the_sample_shows_english_or_raw_codes() -> None:
    """Every convention of sample_data, JSON and text: sources are the deliberation or the
    project's interpretations (in French), the line type and codes read in French, and no code
    shows in the prose outside the brackets that keep ids and paths for traceability."""
    book = load_rules()
    run = evaluate(read_extracts(ROOT / "sample_data"), book, date(2025, 6, 30))
    codes = {code for kind in book.code_labels.values() for code, label in kind.items()
             if "_" in code and label != code}
    codes |= {r.id for r in book.decisions} | set(book.flag_labels)
    labels = sorted({i.label for inds in book.indicators.values() for i in inds.values()}, key=len, reverse=True)
    assert len(run.conventions) == 31
    for c in run.conventions:
        data = explain_data(run, c.convention_id)
        for source in _sources_of(data):
            assert source["document"] in {"deliberation-cp-2024-587", "interpretations"}, c.convention_id
            if source["document"] == "interpretations":
                assert source["ref"].startswith("#") and source["interpretation"], c.convention_id
        text = _plain(render_text(data))
        assert "financement : financement" not in text
        line = text.splitlines()[1]
        assert line.startswith("Dispositif : ") and (
            "type de ligne : Financement" in line or "type de ligne : Valorisation" in line), line
        assert "^{" not in text, c.convention_id
        for word in ENGLISH:
            assert word not in text, (c.convention_id, word)
        prose = re.sub(r"\[[^\]]*\]", "", text)  # ids and paths in brackets are kept on purpose
        for label in labels:  # indicator labels are the rules' own wording
            prose = prose.replace(label, "")
        found = {w for w in re.findall(r"[a-z0-9]+(?:_[a-z0-9]+)+", prose) if w in codes}
        assert not found, (c.convention_id, sorted(found))
        for prose_field in (data["money"]["lines"], *(d["actions"] + d["matched_text"] for d in data["decisions"])):
            assert not {w for t in prose_field for w in re.findall(r"[a-z0-9]+(?:_[a-z0-9]+)+", re.sub(
                r"\[[^\]]*\]", "", t)) if w in codes}, (c.convention_id, prose_field)


def test_a_unit_that_missed_lists_only_the_criteria_it_did_not_meet() -> None:
    """exit_12m: a dynamic exit after the 12-month mark missed on the mark, not on the reason."""
    run = evaluate(read_extracts(ROOT / "sample_data"), load_rules(), date(2025, 6, 30))
    seen = 0
    for c in run.conventions:
        if c.attrs["dispositif"] != "equilibre":
            continue
        missed = indicator(explain_data(run, c.convention_id, max_units=1000), "exit_12m")["missed"]
        for row, line in zip(missed["shown"], missed["lines"], strict=True):
            assert "sortie dynamique oui" not in line and " oui" not in line, line
            if row["dynamic_exit"] and not row["exited_by_mark"]:
                assert line.endswith("non rempli : sortie au plus tard au repère des 12 mois"), line
                seen += 1
            if not row["dynamic_exit"]:
                assert "motif de sortie dynamique" in line, line
    assert seen
