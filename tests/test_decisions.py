"""Decision rules run by durable_rules (engine/decisions/backend.py).

Pins the condition semantics (operators, nesting, missing fields), the firing order, the
error messages, and the isolation of runs: two rule sets on the same fact ids in the same
process never see each other's facts, and a run leaves no thread, state or ruleset behind.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.decisions import backend as decisions
from engine.decisions.backend import durable_ruleset, run_decisions, translate_condition
from engine.model.decision_rules import DecisionError, DecisionRule, DecisionRuleError, Outcome, validate_rule

ROOT = Path(__file__).resolve().parents[1]


def rule(rule_id: str, when: dict[str, Any], then: list[dict[str, Any]] | None = None,
         stage: str = "scoring", enabled: bool = True) -> DecisionRule:
    return DecisionRule(id=rule_id, stage=stage, when=when,
                        then=then if then is not None else [{"flag": rule_id}], enabled=enabled)


def fired(rules: list[DecisionRule], fact: dict[str, Any], stage: str = "scoring") -> list[str]:
    return run_decisions(rules, {"C1": fact}, stage)["C1"].fired


# --------------------------------------------------------------------------- translation


def test_durable_json_for_one_example() -> None:
    """The JSON handed to durable_rules, pinned: salience follows the list order."""
    rules = [
        rule("startup_clause", {"all": [{"fact": "start_up", "equals": True},
                                        {"fact": "funding_model", "in": ["scores"]},
                                        {"any": [{"fact": "solde_cents", "lt": 0},
                                                 {"fact": "final", "not_equals": True}]}]}),
    ]
    assert durable_ruleset(rules) == {
        "r0": {"all": [{"m": {"$and": [
            {"start_up": True},
            {"funding_model": "scores"},
            {"$or": [{"$lt": {"solde_cents": 0}}, {"$neq": {"final": True}}]},
        ]}}], "pri": 1},
        "parcours_sentinel": {"all": [{"m": {"_parcours_fact": True}}], "pri": 2},
    }


def test_translation_of_each_operator() -> None:
    assert translate_condition({"fact": "x", "equals": 1}) == {"x": 1}
    assert translate_condition({"fact": "x", "not_equals": "a"}) == {"$neq": {"x": "a"}}
    for op in ("lt", "lte", "gt", "gte"):
        assert translate_condition({"fact": "x", op: 2.5}) == {f"${op}": {"x": 2.5}}
    assert translate_condition({"fact": "x", "in": ["a", "b", "a"]}) == {
        "$or": [{"x": "a"}, {"x": "b"}]}
    assert translate_condition({"any": [{"fact": "x", "in": [3]}]}) == {"x": 3}


def test_run_does_not_mutate_the_rules() -> None:
    rules = [rule("r", {"all": [{"fact": "x", "in": [1, 2]}, {"fact": "y", "equals": True}]},
                  [{"set": "s", "value": 1}, {"flag": "f"}])]
    before = copy.deepcopy(rules)
    run_decisions(rules, {"C1": {"x": 1, "y": True}}, "scoring")
    run_decisions(rules, {"C1": {"x": 1, "y": True}}, "scoring")
    assert rules == before


# --------------------------------------------------------------------------- operators


@pytest.mark.parametrize(("leaf", "value", "expected"), [
    ({"equals": True}, True, True),
    ({"equals": True}, False, False),
    ({"equals": False}, False, True),
    ({"equals": "scores"}, "scores", True),
    ({"equals": "scores"}, "costs", False),
    ({"equals": "é l'été \"x\""}, "é l'été \"x\"", True),
    ({"equals": 3}, 3, True),
    ({"equals": 3}, 3.0, True),
    ({"equals": 3}, 4, False),
    ({"not_equals": "scores"}, "costs", True),
    ({"not_equals": "scores"}, "scores", False),
    ({"not_equals": True}, False, True),
    ({"not_equals": 0}, 0, False),
    ({"lt": 0}, -1, True),
    ({"lt": 0}, 0, False),
    ({"lt": 0}, -0.5, True),
    ({"lt": 0.5}, 0, True),
    ({"lte": 0}, 0, True),
    ({"lte": 0}, 1, False),
    ({"lte": 0.9}, 0.9, True),
    ({"gt": 0}, 1, True),
    ({"gt": 0}, 0, False),
    ({"gt": 0}, 0.001, True),
    ({"gt": -1}, -0.5, True),
    ({"gte": 70}, 70, True),
    ({"gte": 70}, 69.99, False),
    ({"gt": 2**40}, 2**41, True),
    ({"in": ["accueil", "equilibre"]}, "equilibre", True),
    ({"in": ["accueil", "equilibre"]}, "participants", False),
    ({"in": [1, 2.5]}, 2.5, True),
    ({"in": [1, 2.5]}, 2, False),
    ({"in": [True]}, True, True),
])
def test_each_operator(leaf: dict[str, Any], value: Any, expected: bool) -> None:
    rules = [rule("r", {"all": [{"fact": "x", **leaf}]})]
    assert fired(rules, {"x": value}) == (["r"] if expected else [])


@pytest.mark.parametrize("leaf", [
    {"equals": 1}, {"not_equals": 1}, {"lt": 1}, {"lte": 1}, {"gt": 1}, {"gte": 1},
    {"in": [1, 2]}, {"equals": True}, {"not_equals": "a"},
])
@pytest.mark.parametrize("fact", [{}, {"x": None}, {"other": 1}])
def test_missing_or_null_field_never_matches(leaf: dict[str, Any], fact: dict[str, Any]) -> None:
    """A leaf on an absent or null field is false whatever the operator (even not_equals)."""
    rules = [rule("r", {"all": [{"fact": "x", **leaf}]})]
    outcome = run_decisions(rules, {"C1": fact}, "scoring")["C1"]
    assert outcome == Outcome()


def test_missing_field_in_one_branch_of_any() -> None:
    rules = [rule("r", {"any": [{"fact": "x", "not_equals": 1}, {"fact": "y", "equals": 2}]})]
    assert fired(rules, {"y": 2}) == ["r"]
    assert fired(rules, {"y": 3}) == []


# --------------------------------------------------------------------------- nesting


NESTED = {"any": [
    {"all": [{"fact": "a", "equals": True}, {"fact": "n", "gte": 10}]},
    {"all": [{"fact": "kind", "in": ["x", "y"]},
             {"any": [{"fact": "n", "lt": 0}, {"fact": "b", "equals": "yes"}]}]},
]}


@pytest.mark.parametrize(("fact", "expected"), [
    ({"a": True, "n": 10}, True),
    ({"a": True, "n": 9}, False),
    ({"a": False, "n": 99, "kind": "x", "b": "yes"}, True),
    ({"kind": "y", "n": -1}, True),
    ({"kind": "z", "n": -1}, False),
    ({"kind": "x", "n": 5, "b": "no"}, False),
    ({"a": True, "n": 50, "kind": "x", "b": "yes"}, True),  # both branches: fires once
])
def test_all_any_nesting(fact: dict[str, Any], expected: bool) -> None:
    assert fired([rule("nested", NESTED)], fact) == (["nested"] if expected else [])


def test_all_of_any_and_same_field_range() -> None:
    either = {"any": [{"fact": "a", "equals": True}, {"fact": "b", "equals": True}]}
    rules = [rule("range", {"all": [{"fact": "n", "gte": 0}, {"fact": "n", "lt": 10}, either]})]
    assert fired(rules, {"n": 0, "a": True}) == ["range"]
    assert fired(rules, {"n": 9.5, "a": True, "b": True}) == ["range"]
    assert fired(rules, {"n": 10, "a": True}) == []
    assert fired(rules, {"n": 5}) == []


def test_a_rule_fires_once_per_fact_even_when_several_branches_match() -> None:
    """durable_rules runs the action of an `any` once per matching branch: deduplicated."""
    rules = [rule("r", {"any": [{"fact": "x", "equals": 1}, {"fact": "y", "equals": 1},
                                {"fact": "z", "in": [1, 1, 2]}]},
                  [{"flag": "f"}, {"warn": "w"}, {"set": "s", "value": 1}])]
    outcome = run_decisions(rules, {"C1": {"x": 1, "y": 1, "z": 1}}, "scoring")["C1"]
    assert outcome == Outcome(fired=["r"], flags=["f"], warnings=["w"], sets={"s": 1})


# --------------------------------------------------------------------------- order and actions


def test_firing_order_is_the_order_of_the_rules() -> None:
    """Rule ids are not in alphabetical order: the list (YAML) order decides, every time."""
    ids = ["zeta", "alpha", "mu", "beta", "omega", "delta"]
    rules = [rule(i, {"all": [{"fact": "x", "gte": 0}]}) for i in ids]
    for _ in range(20):
        assert fired(rules, {"x": 1}) == ids
    assert fired(list(reversed(rules)), {"x": 1}) == list(reversed(ids))


def test_later_rule_wins_on_set_and_flags_are_not_repeated() -> None:
    rules = [
        rule("neutral", {"all": [{"fact": "ev", "equals": False}]},
             [{"flag": "not_evaluable"}, {"set": "quantitative_score", "value": 0}]),
        rule("startup", {"all": [{"fact": "start_up", "equals": True}]},
             [{"flag": "not_evaluable"}, {"flag": "startup_neutralised"},
              {"set": "quantitative_score", "value": 1}, {"warn": "w1"}, {"warn": "w1"}]),
    ]
    outcome = run_decisions(rules, {"C1": {"ev": False, "start_up": True}}, "scoring")["C1"]
    assert outcome == Outcome(fired=["neutral", "startup"],
                              flags=["not_evaluable", "startup_neutralised"],
                              warnings=["w1"], sets={"quantitative_score": 1})


def test_stage_and_enabled_select_the_rules() -> None:
    rules = [
        rule("score", {"all": [{"fact": "x", "equals": 1}]}),
        rule("pay", {"all": [{"fact": "x", "equals": 1}]}, stage="payment"),
        rule("off", {"all": [{"fact": "x", "equals": 1}]}, enabled=False),
    ]
    assert fired(rules, {"x": 1}, "scoring") == ["score"]
    assert fired(rules, {"x": 1}, "payment") == ["pay"]
    with pytest.raises(DecisionError, match="« scorng » inconnue.*« scoring »"):
        run_decisions(rules, {"C1": {"x": 1}}, "scorng")


def test_fact_matching_nothing_gets_an_empty_outcome() -> None:
    rules = [rule("r", {"all": [{"fact": "x", "equals": 1}]})]
    facts = {"C1": {"x": 2}, "C2": {}, "C3": {"x": 1}, 4: {"x": 1}}
    outcomes = run_decisions(rules, facts, "scoring")
    assert list(outcomes) == ["C1", "C2", "C3", 4]
    assert outcomes["C1"] == Outcome() and outcomes["C2"] == Outcome()
    assert outcomes["C3"].fired == ["r"] and outcomes[4].fired == ["r"]
    assert run_decisions(rules, {}, "scoring") == {}
    assert run_decisions([], {"C1": {"x": 1}}, "scoring") == {"C1": Outcome()}


def test_unhandled_fact_without_sentinel_is_an_empty_outcome() -> None:
    """Without the sentinel rule durable raises MessageNotHandledException: caught, and that
    half-initialised state is not deleted (deleting it can crash the C engine)."""
    rules = [rule("r", {"all": [{"fact": "x", "equals": 1}]})]
    with decisions._Session(rules, sentinel=False) as session:
        assert session.evaluate("C1", {"x": 2}) == Outcome()
        assert session.evaluate("C2", {"x": 1}).fired == ["r"]
        # C2's state ran an action and was released at once; C1's never started, never deleted
        assert session._started == set()


# --------------------------------------------------------------------------- errors


def test_action_error_surfaces_as_decision_error(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = [rule("ok", {"all": [{"fact": "x", "gte": 0}]}),
             rule("boom", {"all": [{"fact": "x", "equals": 2}]})]
    real = decisions._apply_actions

    def failing(r: DecisionRule, outcome: Outcome) -> None:
        if r.id == "boom":
            raise ValueError("panne simulée")
        real(r, outcome)

    monkeypatch.setattr(decisions, "_apply_actions", failing)
    threads = threading.active_count()
    expected = "« boom » a échoué sur le fait « C2 » : ValueError: panne simulée"
    with pytest.raises(DecisionError, match=expected):
        run_decisions(rules, {"C1": {"x": 1}, "C2": {"x": 2}}, "scoring")
    assert threading.active_count() == threads
    # the failed run left nothing behind: the next one is clean
    assert run_decisions(rules, {"C1": {"x": 1}}, "scoring")["C1"].fired == ["ok"]


def test_engine_error_surfaces_as_decision_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Could not assert fact, error code: 302")

    monkeypatch.setattr(decisions._Host, "assert_fact", broken)
    rules = [rule("r", {"all": [{"fact": "x", "equals": 1}]})]
    with pytest.raises(DecisionError, match="le moteur de règles a échoué sur le fait « C1 »"):
        run_decisions(rules, {"C1": {"x": 1}}, "scoring")


@pytest.mark.parametrize(("when", "then", "expected"), [
    ({"all": [{"fact": "x", "equal": 1}]}, None,
     "règle « bad », when.all[0] : opérateur inconnu « equal » (vouliez-vous dire « equals » ?)"),
    ({"all": [{"fact": "x", "grt": 1}]}, None,
     "opérateur inconnu « grt » (vouliez-vous dire « gt » ?)"),
    ({"all": [{"fact": "x", "not_equal": 1}]}, None, "(vouliez-vous dire « not_equals » ?)"),
    ({"alll": [{"fact": "x", "equals": 1}]}, None,
     "règle « bad », when : clé inconnue « alll » (vouliez-vous dire « all » ?)"),
    ({"all": [{"any": [{"facts": "x", "equals": 1}]}]}, None,
     "when.all[0].any[0] : clé inconnue « facts » (vouliez-vous dire « fact » ?)"),
    ({"all": [{"fact": "x", "lt": "3"}]}, None, "when.all[0].lt : nombre attendu, trouvé \"3\""),
    ({"all": [{"fact": "x", "gt": True}]}, None, "nombre attendu, trouvé true"),
    ({"all": [{"fact": "x", "in": []}]}, None,
     "when.all[0].in : liste non vide de valeurs attendue"),
    ({"all": [{"fact": "x", "in": [1, "a"]}]}, None, "valeurs de types mélangés"),
    ({"all": [{"fact": "x", "equals": None}]}, None, "valeur null non permise"),
    ({"all": [{"fact": "x", "equals": 1, "lt": 2}]}, None, "un seul opérateur par condition"),
    ({"all": [{"fact": "x"}]}, None, "opérateur manquant après « fact »"),
    ({"all": [{"equals": 1}]}, None, "clé « fact » manquante"),
    ({"all": [{"fact": "id", "equals": "C1"}]}, None, "le nom « id » est réservé"),
    ({"all": [{"fact": "solde cents", "lt": 0}]}, None, "nom de champ invalide \"solde cents\""),
    ({"all": []}, None, "when.all : liste non vide de conditions attendue"),
    ({"all": [{"fact": "x", "equals": 1}], "any": [{"fact": "x", "equals": 1}]}, None,
     "« all » et « any » ensemble"),
    ({}, None, "règle « bad », when : condition attendue"),
    ({"all": [{"fact": "x", "equals": 1}]}, [{"flagg": "f"}],
     "règle « bad », then[0] : action inconnue « flagg » (vouliez-vous dire « flag » ?)"),
    ({"all": [{"fact": "x", "equals": 1}]}, [{"set": "s"}],
     "then[0] : « value » manquant pour « set »"),
    ({"all": [{"fact": "x", "equals": 1}]}, [{"set": "s", "valeu": 1}],
     "clé « valeu » inattendue pour « set » (vouliez-vous dire « value » ?)"),
    ({"all": [{"fact": "x", "equals": 1}]}, [{"flag": "f", "warn": "w"}],
     "une seule action par élément"),
    ({"all": [{"fact": "x", "equals": 1}]}, [], "then : liste non vide d'actions attendue"),
])
def test_invalid_rule_gives_french_message(when: dict[str, Any], then: list[dict[str, Any]] | None,
                                           expected: str) -> None:
    bad = rule("bad", when, then)
    problems = validate_rule(bad)
    assert any(expected in p for p in problems), problems
    good = rule("good", {"all": [{"fact": "x", "equals": 1}]})
    with pytest.raises(DecisionRuleError) as caught:
        run_decisions([good, bad], {"C1": {"x": 1}}, "scoring")
    assert expected in str(caught.value)
    assert "good" not in str(caught.value)


def test_all_problems_are_collected_in_one_pass() -> None:
    bad = DecisionRule(id="bad", stage="scorring",
                       when={"all": [{"fact": "x", "equal": 1}, {"fact": "y", "lt": "a"}]},
                       then=[{"flagg": "f"}])
    problems = validate_rule(bad)
    assert len(problems) == 4, problems
    assert problems[0] == ("règle « bad », stage : « scorring » inconnu (attendu : scoring, "
                           "payment) (vouliez-vous dire « scoring » ?)")


def test_valid_rule_has_no_problem() -> None:
    actions = [{"flag": "f"}, {"warn": "w"}, {"set": "s", "value": 0.5}]
    assert validate_rule(rule("ok", NESTED, actions)) == []


def test_duplicate_rule_ids_are_refused() -> None:
    rules = [rule("r", {"all": [{"fact": "x", "equals": 1}]})] * 2
    with pytest.raises(DecisionRuleError, match="identifiant en double"):
        run_decisions(rules, {"C1": {"x": 1}}, "scoring")


@pytest.mark.parametrize(("leaf", "value", "expected"), [
    # durable_rules would compare "10" < 9 as text (true) and "true" == true as equal
    ({"lt": 9}, "10", "champ « x » : texte \"10\" alors que la règle « r » attend un nombre"),
    ({"equals": True}, "true", "texte \"true\" alors que la règle « r » attend un booléen"),
    ({"equals": 1}, True, "booléen true alors que la règle « r » attend un nombre"),
    ({"in": ["a"]}, 1, "nombre 1 alors que la règle « r » attend un texte"),
    ({"gt": 0}, float("nan"), "valeur nan non permise"),
    ({"gt": 0}, Decimal("1.5"), "convertissez les montants en centimes"),
])
def test_fact_of_the_wrong_kind_is_an_error(leaf: dict[str, Any], value: Any,
                                            expected: str) -> None:
    rules = [rule("r", {"all": [{"fact": "x", **leaf}]})]
    with pytest.raises(DecisionError) as caught:
        run_decisions(rules, {"C1": {"x": value, "unused": object()}}, "scoring")
    assert expected in str(caught.value)
    assert "fait « C1 »" in str(caught.value)


def _no_engine(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("durable_rules must not be reached")


@pytest.mark.parametrize(("when", "expected"), [
    # 512 values of one field make the C engine probe a full hash table forever
    ({"fact": "n", "in": list(range(600))}, "600 combinaisons, 600 comparaisons"),
    # every `any` inside an `all` is expanded: 2**9 combinations
    ({"all": [{"any": [{"fact": f"x{j}", "equals": 1}, {"fact": f"y{j}", "equals": 1}]}
              for j in range(9)]}, "512 combinaisons, 18 comparaisons"),
])
def test_too_large_condition_is_refused_before_the_engine(
        monkeypatch: pytest.MonkeyPatch, when: dict[str, Any], expected: str) -> None:
    monkeypatch.setattr(decisions, "_Session", _no_engine)
    big = rule("big", when)
    assert any(expected in p and "condition trop grande" in p for p in validate_rule(big))
    with pytest.raises(DecisionRuleError, match="condition trop grande"):
        run_decisions([big], {"C1": {"n": 1}}, "scoring")


def test_too_many_comparisons_in_one_stage_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decisions, "_Session", _no_engine)
    rules = [rule(f"r{k}", {"fact": "n", "in": list(range(10 * k, 10 * k + 10))})
             for k in range(30)]
    assert all(validate_rule(r) == [] for r in rules)
    with pytest.raises(DecisionRuleError, match="300 comparaisons, 256 au plus"):
        run_decisions(rules, {"C1": {"n": 1}}, "scoring")
    assert run_decisions(rules, {"C1": {"n": 1}}, "payment") == {"C1": Outcome()}


def test_engine_limit_on_simultaneous_matches_is_explained() -> None:
    """A fact satisfying 64 distinct tests at once (63 rules + the sentinel pass) overflows
    durable's evaluation stack (error 303): a DecisionError that says why; nothing is left
    behind, the next run works."""
    rules = [rule(f"r{k}", {"fact": "n", "gte": k}) for k in range(64)]
    assert fired(rules[:63], {"n": 100}) == [f"r{k}" for k in range(63)]
    with pytest.raises(DecisionError, match="error code: 303 — trop de conditions satisfaites"):
        run_decisions(rules, {"C1": {"n": 100}}, "scoring")
    assert fired(rules, {"n": 5}) == [f"r{k}" for k in range(6)]


def test_bad_fact_ids_are_refused() -> None:
    rules = [rule("r", {"all": [{"fact": "x", "equals": 1}]})]
    with pytest.raises(DecisionError, match="identifiant de fait invalide 'a\"b'"):
        run_decisions(rules, {'a"b': {"x": 1}}, "scoring")
    with pytest.raises(DecisionError, match="« 1 » en double"):
        run_decisions(rules, {1: {"x": 1}, "1": {"x": 1}}, "scoring")


def test_fact_ids_with_accents_and_slashes_work() -> None:
    rules = [rule("r", {"all": [{"fact": "x", "equals": "é"}]})]
    outcomes = run_decisions(rules, {"CP-2024/587 é": {"x": "é"}, "b": {"x": "e"}}, "scoring")
    assert outcomes["CP-2024/587 é"].fired == ["r"] and outcomes["b"].fired == []


# --------------------------------------------------------------------------- isolation


def _threshold_rules(threshold: int) -> list[DecisionRule]:
    return [
        rule("low_volume", {"all": [{"fact": "volume", "lt": threshold}]},
             [{"flag": "low_volume"}, {"set": "quantitative_score", "value": threshold}]),
        rule("reversement", {"all": [{"fact": "solde_cents", "lt": 0}]}, [{"flag": "reversement"}]),
    ]


FACTS = {f"C{i}": {"volume": i * 10, "solde_cents": 50 - i * 20} for i in range(6)}


def _expected(threshold: int) -> dict[str, Outcome]:
    """volume = 10 i, solde = 50 - 20 i: low_volume when 10 i < threshold, reversement i >= 3."""
    out = {}
    for i in range(6):
        outcome = Outcome()
        if i * 10 < threshold:
            outcome.fired.append("low_volume")
            outcome.flags.append("low_volume")
            outcome.sets["quantitative_score"] = threshold
        if 50 - i * 20 < 0:
            outcome.fired.append("reversement")
            outcome.flags.append("reversement")
        out[f"C{i}"] = outcome
    return out


def test_baseline_and_variant_do_not_see_each_other() -> None:
    baseline, variant = _threshold_rules(25), _threshold_rules(45)
    expected_baseline, expected_variant = _expected(25), _expected(45)
    assert expected_baseline != expected_variant
    for _ in range(5):  # alternating runs, same fact ids, same process
        assert run_decisions(baseline, FACTS, "scoring") == expected_baseline
        assert run_decisions(variant, FACTS, "scoring") == expected_variant


def test_two_hosts_alive_at_once_interleaved() -> None:
    baseline, variant = _threshold_rules(25), _threshold_rules(45)
    expected_baseline, expected_variant = _expected(25), _expected(45)
    with decisions._Session(baseline) as one, decisions._Session(variant) as two:
        assert one.name != two.name
        got_one, got_two = {}, {}
        for fact_id, fact in FACTS.items():  # same sid asserted in both, one after the other
            got_two[fact_id] = two.evaluate(fact_id, fact)
            got_one[fact_id] = one.evaluate(fact_id, fact)
    assert got_one == expected_baseline
    assert got_two == expected_variant


def test_same_rules_twice_give_identical_outcomes() -> None:
    rules = _threshold_rules(25) + [rule("nested", NESTED)]
    facts = {**FACTS, "N": {"a": True, "n": 10, "kind": "x", "b": "yes"}}
    first = run_decisions(rules, facts, "scoring")
    second = run_decisions(rules, facts, "scoring")
    assert first == second
    assert first["N"].fired == ["nested"]


def test_concurrent_runs_from_threads_are_serialised() -> None:
    rules = _threshold_rules(25)
    results: list[dict[str, Outcome]] = []

    def work() -> None:
        for _ in range(10):
            results.append(run_decisions(rules, FACTS, "scoring"))

    workers = [threading.Thread(target=work) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(results) == 40 and all(r == _expected(25) for r in results)


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def test_many_runs_leak_no_thread_no_state_and_stay_fast() -> None:
    """200 runs of 20 facts: thread count unchanged, memory flat (an undeleted durable state
    costs about 80 KB: 4000 of them would be about 320 MB), well under a second per run."""
    rules = _threshold_rules(25) + [rule("nested", NESTED)]
    facts = {f"C{i}": {"volume": i, "solde_cents": -i, "a": True, "n": i} for i in range(20)}
    run_decisions(rules, facts, "scoring")  # warm-up
    threads = threading.active_count()
    has_proc = os.path.exists("/proc/self/statm")
    rss = _rss_kb() if has_proc else 0
    start = time.perf_counter()
    first = run_decisions(rules, facts, "scoring")
    for _ in range(199):
        assert run_decisions(rules, facts, "scoring") == first
    elapsed = time.perf_counter() - start
    assert threading.active_count() == threads
    assert not [t for t in threading.enumerate() if isinstance(t, threading.Timer)]
    assert elapsed < 20, elapsed
    if has_proc:
        assert _rss_kb() - rss < 40_000, _rss_kb() - rss


def test_one_hundred_facts_run_well_under_a_second() -> None:
    rules = _threshold_rules(500) + [rule("nested", NESTED)] + [
        rule(f"extra_{k}", {"all": [{"fact": "n", "gte": k}]}, [{"warn": f"w{k}"}])
        for k in range(10)
    ]
    facts = {f"C{i:03d}": {"volume": i * 7, "solde_cents": 5000 - 100 * i, "a": i % 2 == 0,
                           "n": i % 15, "kind": "xyz"[i % 3], "b": "yes"} for i in range(100)}
    run_decisions(rules, facts, "scoring")
    start = time.perf_counter()
    outcomes = run_decisions(rules, facts, "scoring")
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, elapsed
    assert len(outcomes) == 100
    # C014: volume 98 < 500, solde 3600, a true and n = 14 >= 10, n >= every k
    assert outcomes["C014"].fired == ["low_volume", "nested"] + [f"extra_{k}" for k in range(10)]
    # C060: volume 420 < 500, solde -1000, kind x and b yes, n = 0
    assert outcomes["C060"].fired == ["low_volume", "reversement", "nested", "extra_0"]


def test_no_background_thread_is_started() -> None:
    before = set(threading.enumerate())
    run_decisions(_threshold_rules(25), FACTS, "scoring")
    time.sleep(0.3)  # durable's own timers would start after 0.1 s
    assert set(threading.enumerate()) == before


# --------------------------------------------------------------------------- the repository's rules


def test_repository_decision_rules_validate_and_run() -> None:
    data = yaml.safe_load((ROOT / "rules" / "decisions.yaml").read_text(encoding="utf-8"))
    specs = (data or {}).get("decisions")
    if not isinstance(specs, dict):
        pytest.skip("rules/decisions.yaml has no `decisions` table")
    rules = [DecisionRule(id=k, stage=v["stage"], when=v["when"], then=v["then"],
                          enabled=v.get("enabled", True)) for k, v in specs.items()]
    for r in rules:
        assert validate_rule(r) == [], r.id
    fact = {"funding_model": "scores", "start_up": True,
            "startup_policy": "neutralise_quantitative", "final": True, "solde_cents": -1,
            "funding": "valorisation"}
    interim = {**fact, "final": False}
    outcomes = {stage: run_decisions(rules, {"C1": fact, "C2": interim}, stage)
                for stage in ("scoring", "payment")}
    json.dumps({k: {c: vars(o) for c, o in v.items()} for k, v in outcomes.items()})  # plain data
    if "startup_neutralise_quantitative" in specs:
        assert "startup_neutralise_quantitative" in outcomes["scoring"]["C1"].fired
    if "reversement" in specs:
        # a final run flags the amount to recover; an interim run only warns of a projected one
        assert "reversement" in outcomes["payment"]["C1"].fired
        assert "reversement" not in outcomes["payment"]["C2"].fired
        assert "projected_reversement" in outcomes["payment"]["C2"].warnings


def test_more_facts_than_the_engine_holds_states():
    """The C engine keeps at most 1,024 states per ruleset: a national run has more conventions.

    Each finished fact's state is released at once, so 2,500 facts run, each with its own outcome.
    """
    rule = DecisionRule(id="late", stage="scoring", when={"all": [{"fact": "late", "gt": 0}]},
                        then=[{"flag": "late"}])
    facts = {f"C{i:05d}": {"late": i % 2} for i in range(2500)}
    out = run_decisions([rule], facts, "scoring")
    assert len(out) == 2500
    assert sum(1 for o in out.values() if o.flags == ["late"]) == 1250
    assert out["C00001"].fired == ["late"] and out["C00002"].fired == []


# --------------------------------------------------------------------------- exceptions and explanations


def _setter(rule_id: str, value: int, exception_to: tuple[str, ...] = (),
            stage: str = "scoring", enabled: bool = True) -> DecisionRule:
    return DecisionRule(id=rule_id, stage=stage, when={"all": [{"fact": "x", "gte": 0}]},
                        then=[{"set": "score", "value": value}], exception_to=exception_to,
                        enabled=enabled)


def test_an_exception_keeps_its_value_whatever_the_order() -> None:
    base, special = _setter("base", 0), _setter("special", 1, ("base",))
    for order in ([base, special], [special, base]):
        outcome = run_decisions(order, {"C1": {"x": 1}}, "scoring")["C1"]
        assert outcome.fired == [r.id for r in order]  # firing order is kept
        assert outcome.sets == {"score": 1}
        assert outcome.changed == {"special": {"score": 1}}


def test_exceptions_are_transitive_even_through_a_disabled_rule() -> None:
    a = _setter("a", 0)
    b = _setter("b", 1, ("a",), enabled=False)
    c = _setter("c", 2, ("b",))
    for order in ([a, b, c], [c, b, a], [b, c, a]):
        outcome = run_decisions(order, {"C1": {"x": 1}}, "scoring")["C1"]
        assert outcome.sets == {"score": 2} and outcome.changed == {"c": {"score": 2}}


def test_without_an_exception_the_later_rule_keeps_its_value() -> None:
    outcome = run_decisions([_setter("one", 0), _setter("two", 5)], {"C1": {"x": 1}}, "scoring")["C1"]
    assert outcome.sets == {"score": 5} and outcome.changed == {"two": {"score": 5}}


def test_matched_records_the_fact_values_the_engine_saw() -> None:
    rules = [
        rule("startup", {"all": [{"fact": "start_up", "equals": True},
                                 {"any": [{"fact": "solde_cents", "lt": 0},
                                          {"fact": "final", "equals": False}]}]},
             [{"flag": "f"}, {"set": "quantitative_score", "value": 1}]),
        rule("quiet", {"all": [{"fact": "start_up", "equals": False}]}),
    ]
    facts = {"C1": {"start_up": True, "final": False, "solde_cents": None, "other": 3},
             "C2": {"start_up": False}}
    out = run_decisions(rules, facts, "scoring")
    assert out["C1"].matched == {"startup": {"start_up": True, "solde_cents": None, "final": False}}
    assert out["C1"].changed == {"startup": {"quantitative_score": 1}}
    assert out["C2"].matched == {"quiet": {"start_up": False}} and out["C2"].changed == {}
    json.dumps({k: vars(o) for k, o in out.items()})  # plain data, for the trace


def test_exception_to_is_validated() -> None:
    assert "exception_to[0] : une règle ne peut pas être une exception à elle-même" in " ".join(
        validate_rule(_setter("s", 1, ("s",))))
    assert any("identifiant de règle attendu" in p for p in validate_rule(_setter("s", 1, ("",))))
