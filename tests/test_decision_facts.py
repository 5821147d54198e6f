"""Declared decision facts and explicit exceptions (rules/decisions.yaml `facts:`, `exception_to:`).

- the facts the pipeline hands the decision rules on sample_data are exactly the declared
  ones, each at its stage, of its type, carried by the dispositifs it names;
- the loader refuses an undeclared fact (file, line, closest name), a scoring rule naming a
  payment fact, an operand of the wrong type, two rules setting one figure without saying
  which one wins, and an `exception_to` naming an unknown rule;
- every decision of sample_data records the fact values it matched and the figures it set.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import engine.compute.pipeline as pipeline
from engine.load.extracts import read_extracts
from engine.load.rules import DEFAULT_RULES_DIR, load_rules
from engine.model.decision_rules import DecisionRule, Outcome, _kind
from engine.model.errors import RulesError
from engine.model.results import RunResult

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
AS_OF = date(2025, 6, 30)
D = "decisions.yaml"


@pytest.fixture(scope="module")
def captured() -> tuple[RunResult, list[tuple[str, dict[str, dict[str, Any]], dict[Any, Outcome]]]]:
    """A real evaluation of sample_data, with every call of run_decisions recorded."""
    calls: list[tuple[str, dict[str, dict[str, Any]], dict[Any, Outcome]]] = []
    real = pipeline.run_decisions

    def recording(rules: Sequence[DecisionRule], facts: Mapping[Any, Mapping[str, Any]],
                  stage: str) -> dict[Any, Outcome]:
        copied = {str(k): dict(v) for k, v in facts.items()}  # the pipeline adds to them later
        outcomes = real(rules, facts, stage)
        calls.append((stage, copied, outcomes))
        return outcomes

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "run_decisions", recording)
        result = pipeline.evaluate(read_extracts(SAMPLE), load_rules(), AS_OF)
    return result, calls


def test_the_facts_provided_are_the_facts_declared(captured: Any) -> None:
    result, calls = captured
    declared = load_rules().facts
    assert [stage for stage, _, _ in calls] == ["scoring", "payment"]
    by_stage = {stage: facts for stage, facts, _ in calls}
    assert len(by_stage["scoring"]) == len(result.conventions) > 20
    for stage, facts in by_stage.items():
        for cid, fact in facts.items():
            for name, value in fact.items():
                if name.startswith("_"):  # the engine's internal marker, never a rule's fact
                    continue
                assert name in declared, f"{stage}: fait « {name} » fourni par {cid}, non déclaré"
                decl = declared[name]
                if stage == "scoring":
                    assert decl.stage == "scoring", f"« {name} » déclaré « payment », fourni au scoring"
                if decl.dispositifs:
                    assert fact["dispositif"] in decl.dispositifs, (name, cid)
                assert value is None or _kind(value) == decl.type, (name, cid, value, decl.type)
    dispositifs = {c.attrs["dispositif"] for c in result.conventions}
    for name, decl in declared.items():
        facts = by_stage[decl.stage]
        concerned = [f for f in facts.values()
                     if not decl.dispositifs or f["dispositif"] in decl.dispositifs]
        if decl.optional:
            continue
        assert set(decl.dispositifs) <= dispositifs, (name, decl.dispositifs)
        assert concerned, f"fait « {name} » déclaré, aucune convention de ses dispositifs"
        missing = [f["convention_id"] for f in concerned if name not in f]
        assert not missing, f"fait « {name} » ({decl.stage}) absent de {missing}"
    # the payment stage sees the scoring facts too, and the payment facts only there
    payment_only = {n for n, d in declared.items() if d.stage == "payment"}
    assert all(not payment_only & set(f) for f in by_stage["scoring"].values())
    assert all({"earned_cents", "solde_cents", "start_up"} <= set(f) for f in by_stage["payment"].values())


def test_every_fired_rule_records_what_it_matched_and_set(captured: Any) -> None:
    result, calls = captured
    book = load_rules()
    rules = {r.id: r for r in book.decisions}
    fired_any = 0
    for _stage, facts, outcomes in calls:
        for cid, outcome in outcomes.items():
            assert set(outcome.matched) == set(outcome.fired), cid
            for rule_id in outcome.fired:
                fired_any += 1
                names = _names(rules[rule_id].when)
                assert list(outcome.matched[rule_id]) == names
                assert outcome.matched[rule_id] == {n: facts[str(cid)].get(n) for n in names}
            merged: dict[str, Any] = {}
            for rule_id, figures in outcome.changed.items():
                assert rule_id in outcome.fired
                assert not set(figures) & set(merged), "a figure has one winner"
                merged.update(figures)
            assert merged == outcome.sets
    assert fired_any > 30
    # the start-up clause neutralises the quantitative part on the start-up conventions
    startup = [c for c in result.conventions if "startup_neutralise_quantitative" in c.decisions]
    assert startup
    scoring = calls[0][2]
    for c in startup:
        outcome = scoring[c.convention_id]
        assert outcome.matched["startup_neutralise_quantitative"] == {
            "funding_model": "scores", "start_up": True, "startup_policy": "neutralise_quantitative"}
        assert outcome.changed["startup_neutralise_quantitative"] == {"quantitative_score": 1}
        assert c.quantitative_score == 1


def _names(node: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for group in ("all", "any"):
        for item in node.get(group, []):
            out += [n for n in _names(item) if n not in out]
    if "fact" in node and node["fact"] not in out:
        out.append(node["fact"])
    return out


# --------------------------------------------------------------------------- the loader


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, root)
    return root


def _edit(root: Path, old: str, new: str, rel: str = D) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(root: Path, needle: str, rel: str = D) -> int:
    for i, line in enumerate((root / rel).read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


def _problems(root: Path) -> list[Any]:
    with pytest.raises(RulesError) as info:
        load_rules(root)
    assert "Traceback" not in str(info.value)
    return list(info.value.problems)


def test_shipped_facts_are_declared_with_their_stage() -> None:
    facts = load_rules().facts
    assert facts["start_up"].type == "booléen" and facts["start_up"].stage == "scoring"
    assert facts["solde_cents"].stage == "payment" and facts["solde_cents"].type == "nombre"
    assert facts["exits_without_bilan_final"].dispositifs == ("equilibre",)
    assert facts["staff_ineligible"].optional
    assert all(f.description.strip() for f in facts.values())


@pytest.mark.parametrize(
    ("case", "old", "new", "needle", "key", "message"),
    [
        ("misspelt fact", "        - {fact: start_up, equals: true}\n        - {fact: startup_policy, equals: neutralise_quantitative}",
         "        - {fact: start_upp, equals: true}\n        - {fact: startup_policy, equals: neutralise_quantitative}",
         "start_upp", "decisions.startup_neutralise_quantitative.when.all[1].fact",
         "fait « start_upp » non déclaré dans « facts: » (vouliez-vous dire « start_up » ?)"),
        ("payment fact at scoring", "when: {all: [{fact: exits_without_bilan_final, gt: 0}]}",
         "when: {all: [{fact: solde_cents, lt: 0}]}", "fact: solde_cents, lt: 0}]}",
         "decisions.exits_without_final_review.when.all[0].fact",
         "le fait « solde_cents » n'est connu qu'à l'étape « payment »"),
        ("text on a boolean", "        - {fact: start_up, equals: true}\n        - {fact: startup_policy, equals: neutralise_quantitative}",
         "        - {fact: start_up, equals: \"yes\"}\n        - {fact: startup_policy, equals: neutralise_quantitative}",
         "equals: \"yes\"", "decisions.startup_neutralise_quantitative.when.all[1].equals",
         "le fait « start_up » est de type booléen, la valeur \"yes\" est de type texte"),
        ("number compared with text", "when: {all: [{fact: funding, equals: valorisation}]}",
         "when: {all: [{fact: funding, gt: 0}]}", "fact: funding, gt: 0",
         "decisions.valorisation_line.when.all[0].gt", "« gt » compare des nombres, or le fait « funding » est de type texte"),
        ("in of the wrong kind", "when: {all: [{fact: final, equals: false}]}",
         "when: {all: [{fact: final, in: [0, 1]}]}", "fact: final, in: [0, 1]",
         "decisions.interim_projection.when.all[0].in", "est de type booléen, la valeur 0 est de type nombre"),
        ("unknown exception", "exception_to: [quantitative_not_evaluable_neutral, quantitative_not_evaluable_zero]",
         "exception_to: [quantitative_not_evaluable_neutral, quantitative_not_evaluable_zer]", "    exception_to: [",
         "decisions.startup_neutralise_quantitative.exception_to[1]",
         "règle « quantitative_not_evaluable_zer » inconnue (vouliez-vous dire « quantitative_not_evaluable_zero » ?)"),
        ("exception across stages", "exception_to: [quantitative_not_evaluable_neutral, quantitative_not_evaluable_zero]",
         "exception_to: [quantitative_not_evaluable_neutral, quantitative_not_evaluable_zero, reversement]", "    exception_to: [",
         "decisions.startup_neutralise_quantitative.exception_to[2]", "une exception ne vaut qu'entre règles d'une même étape"),
        ("exception to itself", "exception_to: [quantitative_not_evaluable_neutral, quantitative_not_evaluable_zero]",
         "exception_to: [startup_neutralise_quantitative]", "    exception_to: [",
         "decisions.startup_neutralise_quantitative", "une exception à elle-même"),
        ("unknown fact type", "  start_up: {type: booléen,", "  start_up: {type: booleen,", "start_up: {type: booleen",
         "facts.start_up.type", "(vouliez-vous dire « booléen » ?)"),
        ("unknown fact key", "  final: {type: booléen, stage: scoring,", "  final: {type: booléen, stag: payment, stage: scoring,",
         "final: {type: booléen, stag", "facts.final.stag", "vouliez-vous dire « stage »"),
    ],
)
def test_each_bad_fact_or_exception_is_reported(tmp_path: Path, case: str, old: str, new: str,
                                                needle: str, key: str, message: str) -> None:
    root = _tree(tmp_path)
    _edit(root, old, new)
    problems = _problems(root)
    matching = [p for p in problems if message in p.message and p.key == key]
    assert matching, [str(p) for p in problems]
    assert matching[0].file.endswith(D)
    assert matching[0].line == _line_of(root, needle), str(matching[0])


def test_two_rules_setting_one_figure_must_say_which_wins(tmp_path: Path) -> None:
    """Without `exception_to`, the start-up clause and the not-evaluable policy both set the
    quantitative score: refused, naming both rules and the figure, at the later rule."""
    root = _tree(tmp_path)
    _edit(root, "    exception_to: [quantitative_not_evaluable_neutral, quantitative_not_evaluable_zero]\n", "")
    problems = [p for p in _problems(root) if "fixent toutes deux" in p.message]
    assert {p.key for p in problems} == {"decisions.startup_neutralise_quantitative"}
    assert len(problems) == 2
    first = problems[0]
    assert first.line == _line_of(root, "  startup_neutralise_quantitative:")
    assert "« quantitative_not_evaluable_neutral » (rules/decisions.yaml, ligne " in first.message
    assert "« quantitative_score »" in first.message and "exception_to" in first.message
    assert "quantitative_not_evaluable_zero" in problems[1].message


def test_conditions_that_exclude_each_other_need_no_exception(tmp_path: Path) -> None:
    """neutral / zero exclude each other (not_evaluable_policy); two start-up rules that do not
    exclude each other and set one figure are refused; an exception one way settles it."""
    root = _tree(tmp_path)
    load_rules(root)  # qualitative_not_evaluable_neutral / _zero both set qualitative_score
    _edit(root, "      - {set: quantitative_weight, value: 0}\n",
          "      - {set: quantitative_weight, value: 0}\n      - {set: quantitative_score, value: 1}\n")
    _edit(root, "        - {fact: startup_policy, equals: qualitative_only}\n", "")
    problems = [p for p in _problems(root) if "fixent toutes deux" in p.message]
    assert {p.key for p in problems} == {"decisions.startup_qualitative_only"}, problems
    assert any("« startup_neutralise_quantitative »" in p.message for p in problems)
    _edit(root, "  startup_qualitative_only:\n    stage: scoring\n",
          "  startup_qualitative_only:\n    stage: scoring\n"
          "    exception_to: [startup_neutralise_quantitative]\n")
    book = load_rules(root)  # transitively an exception to the not-evaluable rules too
    rule = next(r for r in book.decisions if r.id == "startup_qualitative_only")
    assert rule.exception_to == ("startup_neutralise_quantitative",)


def test_exception_keeps_its_value_whatever_the_file_order(tmp_path: Path) -> None:
    """Moving the start-up clause before the not-evaluable rules changes no figure."""
    from engine.decisions.backend import run_decisions

    book = load_rules()
    rules = list(book.decisions)
    startup = next(r for r in rules if r.id == "startup_neutralise_quantitative")
    moved = [startup] + [r for r in rules if r is not startup]
    fact = {"funding_model": "scores", "start_up": True, "startup_policy": "neutralise_quantitative",
            "quantitative_weight": 0.5, "quantitative_evaluable": False, "qualitative_weight": 0.5,
            "qualitative_evaluable": True}
    for policy in ("neutral", "zero"):
        facts = {"C1": {**fact, "not_evaluable_policy": policy}}
        for order in (rules, moved):
            outcome = run_decisions(order, facts, "scoring")["C1"]
            assert outcome.sets == {"quantitative_score": 1}, (policy, [r.id for r in order])
            assert outcome.changed == {"startup_neutralise_quantitative": {"quantitative_score": 1}}
            assert set(outcome.fired) == {f"quantitative_not_evaluable_{policy}",
                                          "startup_neutralise_quantitative"}
            assert outcome.matched[f"quantitative_not_evaluable_{policy}"]["not_evaluable_policy"] == policy


def test_exception_to_may_be_one_id_and_must_be_ids(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    _edit(root, "exception_to: [quantitative_not_evaluable_neutral, quantitative_not_evaluable_zero]",
          "exception_to: quantitative_not_evaluable_neutral")
    problems = [p for p in _problems(root) if "fixent toutes deux" in p.message]
    assert len(problems) == 1 and "quantitative_not_evaluable_zero" in problems[0].message
    _edit(root, "exception_to: quantitative_not_evaluable_neutral", "exception_to: 3")
    problems = [p for p in _problems(root) if p.key == "decisions.startup_neutralise_quantitative"]
    assert any("liste d'identifiants de règles attendue, trouvé 3" in p.message for p in problems)
    assert problems[0].line == _line_of(root, "    exception_to: 3")


def test_exceptions_that_loop_are_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    _edit(root, "  quantitative_not_evaluable_neutral:\n    stage: scoring\n",
          "  quantitative_not_evaluable_neutral:\n    stage: scoring\n"
          "    exception_to: [startup_neutralise_quantitative]\n")
    problems = [p for p in _problems(root) if "exceptions en boucle" in p.message]
    assert {p.key for p in problems} == {"decisions.quantitative_not_evaluable_neutral.exception_to",
                                         "decisions.startup_neutralise_quantitative.exception_to"}
    lines = {p.line for p in problems}
    assert _line_of(root, "    exception_to: [startup_neutralise_quantitative]") in lines
