"""The decision language (start-up clause, not-evaluable policy, reversement…), as data.

A decision rule is data (loaded from `rules/decisions.yaml` by `engine.load.rules`): a
condition tree over the flat fact of one convention and a list of actions. This module holds
the rule and fact types and their checks, and touches no engine: the durable_rules backend
(`engine.decisions.backend.run_decisions`) translates the enabled rules of one stage into a
durable_rules ruleset, asserts one fact per convention and returns, for every fact, an
`Outcome` (which rules fired, with the fact values they matched, and what they did).

Condition tree (data, never evaluated as code)::

    {"all": [cond, ...]}  {"any": [cond, ...]}           (nestable)
    {"fact": "start_up", "equals": true}                  (leaf, exactly one operator)
    operators: equals, not_equals (bool, number or text), lt, lte, gt, gte (numbers),
               in (non-empty list of values of one kind)

Actions: ``{"flag": code}`` adds a flag, ``{"warn": code}`` adds a warning code,
``{"set": name, "value": v}`` sets an adjustment.

Exceptions (Catala-style): a rule may declare ``exception_to: [other_rule_id, ...]``. When
both fire on a fact and both set a figure, the exception's value is kept, whatever the firing
order; the relation is transitive. Without it, two fired rules setting the same figure keep
the later one's value (firing order): the loader refuses such a pair in the rules tree unless
one is an exception to the other or their conditions exclude each other (`excludes`).

Facts (`FactDef`): the fields the rules may name are declared once, with their kind and the
stage that provides them; `fact_problem` checks one leaf against its declaration.

Semantics pinned by tests/test_decisions.py:

- a leaf on a field the fact does not have, or whose value is null, is false whatever the
  operator (so ``not_equals`` does not match a missing value);
- a field whose value is not of the kind the leaf expects (text compared with a number,
  ``"true"`` compared with a boolean) is an error, never a silent match: durable_rules
  itself would coerce (it compares ``"10" < 9`` as text, ``"true" == true`` as equal);
- each rule fires at most once per fact, in the order of `rules` (the YAML order);
- each fact is evaluated on its own (one durable state per fact, ``sid`` = fact id).

The engine's own sharp edges (threads, global tables, crashes) are described, and handled,
in `engine.decisions.backend`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.model.errors import ParcoursError
from engine.model.text import suggest

__all__ = [
    "ACTIONS",
    "FACT_TYPES",
    "OPERATORS",
    "STAGES",
    "DecisionError",
    "DecisionRule",
    "DecisionRuleError",
    "FactDef",
    "Outcome",
    "condition_facts",
    "exception_closure",
    "excludes",
    "fact_problem",
    "validate_rule",
]

STAGES = ("scoring", "payment")
OPERATORS = ("equals", "not_equals", "lt", "lte", "gt", "gte", "in")
#: The kinds a fact may be declared with: those `_kind` gives a JSON scalar.
FACT_TYPES = ("booléen", "nombre", "texte")
_NUMERIC_OPERATORS = frozenset({"lt", "lte", "gt", "gte"})
_GROUPS = ("all", "any")
ACTIONS = ("flag", "warn", "set")
_CONDITION_KEYS = _GROUPS + ("fact",) + OPERATORS

# Field names: no leading "_" or "$" (durable and this module use them), and never a field
# of durable's state document, which the rules would match again after every action.
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESERVED_FIELDS = frozenset({"id", "sid", "exception"})
_MAX_INT = 2**63 - 1
# Size limits, well inside the C engine's: it expands every `any` nested in an `all` into
# one expression per combination (error 113 past about 2**15), and it stores the tests of a
# ruleset in a 512-bucket open-addressing table that it probes forever once full (512
# values of one field never return; 511 give error 303).
_MAX_VARIANTS = 256  # combinations of one rule's condition
_MAX_ALTERNATIVES = 256  # leaves of the rules of one run, each value of an `in` counted


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DecisionRule:
    """One decision rule as loaded from YAML: a condition tree and the actions it triggers."""

    id: str
    stage: str
    when: Mapping[str, Any]
    then: Sequence[Mapping[str, Any]]
    description: str = ""
    source: Mapping[str, Any] | None = None
    enabled: bool = True
    #: Rules this one is an exception to: when both fire, this rule's `set` values are kept.
    exception_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class FactDef:
    """One declared fact: a field of the flat fact of a convention that rules may name.

    `stage` is the first stage that provides it (a `scoring` fact is seen by both stages, a
    `payment` fact only by the payment rules); `dispositifs` lists the dispositifs whose
    conventions carry it (empty: every dispositif); `optional` says that some conventions
    may lack it even so (a fact a convention does not have never matches).
    """

    name: str
    type: str
    description: str
    stage: str
    dispositifs: tuple[str, ...] = ()
    optional: bool = False
    file: str = ""
    line: int = 0


@dataclass
class Outcome:
    """What the decision rules did to one fact.

    `fired`: the rules that fired, in firing order. `matched`: per fired rule, the value of
    every fact its condition names as the engine saw it (None: absent or null). `sets`: the
    figures set, with their final value; `changed`: per rule, the figures whose final value
    it gave (a rule whose every `set` was overridden by an exception is not listed).
    `matched` and `changed` explain the decision and follow from `fired`, the rules and the
    fact: they take no part in comparing two outcomes.
    """

    fired: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sets: dict[str, Any] = field(default_factory=dict)
    matched: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)
    changed: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)


class DecisionError(ParcoursError):
    """The decision rules could not be run (engine failure, action failure, bad facts)."""


class DecisionRuleError(DecisionError):
    """A decision rule is malformed (unknown operator or key, wrong value type)."""


# --------------------------------------------------------------------------- validation


def _kind(value: Any) -> str | None:
    """Return the comparison kind of a JSON scalar (booléen, nombre, texte), else None."""
    if isinstance(value, bool):
        return "booléen"
    if isinstance(value, int):
        return "nombre" if abs(value) <= _MAX_INT else None
    if isinstance(value, float):
        return "nombre" if math.isfinite(value) else None
    if isinstance(value, str):
        return "texte"
    return None


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if _kind(value) or value is None else repr(value)


def validate_rule(rule: DecisionRule) -> list[str]:
    """Every problem of one rule (French, naming the rule and the key); empty when fine."""
    problems: list[str] = []

    def add(where: str, message: str) -> None:
        problems.append(f"règle « {rule.id} », {where} : {message}")

    if not isinstance(rule.id, str) or not rule.id.strip():
        problems.append(f"règle {rule.id!r} : identifiant vide ou non textuel")
    if rule.stage not in STAGES:
        add("stage", f"« {rule.stage} » inconnu (attendu : {', '.join(STAGES)})"
            + suggest(rule.stage, STAGES))
    if not isinstance(rule.enabled, bool):
        add("enabled", f"vrai ou faux attendu, trouvé {_show(rule.enabled)}")
    _check_condition(rule.when, "when", add)
    if not problems:
        variants, alternatives = _size(rule.when)
        if variants > _MAX_VARIANTS or alternatives > _MAX_ALTERNATIVES:
            add("when", f"condition trop grande pour le moteur ({variants} combinaisons, "
                f"{alternatives} comparaisons ; {_MAX_VARIANTS} au plus de chaque) : "
                "scindez la règle")
    _check_actions(rule.then, add)
    _check_exceptions(rule, add)
    return problems


def _check_exceptions(rule: DecisionRule, add: Callable[[str, str], None]) -> None:
    targets = rule.exception_to
    if not isinstance(targets, list | tuple):
        add("exception_to", f"liste d'identifiants de règles attendue, trouvé {_show(targets)}")
        return
    for index, target in enumerate(targets):
        if not isinstance(target, str) or not target.strip():
            add(f"exception_to[{index}]", f"identifiant de règle attendu, trouvé {_show(target)}")
        elif target == rule.id:
            add(f"exception_to[{index}]", "une règle ne peut pas être une exception à elle-même")


def leaves(node: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """(fact, operator, operand) of every leaf of a valid condition tree, in order."""
    for group in _GROUPS:
        if group in node:
            return [leaf for item in node[group] for leaf in leaves(item)]
    op = next(k for k in node if k != "fact")
    return [(node["fact"], op, node[op])]


def condition_facts(node: Mapping[str, Any]) -> list[str]:
    """The facts a valid condition tree names, each once, in order of appearance."""
    return list(dict.fromkeys(name for name, _, _ in leaves(node)))


def exception_closure(rules: Sequence[DecisionRule]) -> dict[str, frozenset[str]]:
    """Per rule id, every rule it is an exception to, directly or through other rules.

    A rule appears in its own set only when its exceptions loop (refused by the loader);
    a malformed `exception_to` (reported by `validate_rule`) counts as none.
    """
    direct = {rule.id: {t for t in rule.exception_to if isinstance(t, str)}
              if isinstance(rule.exception_to, list | tuple) else set() for rule in rules}
    closure: dict[str, frozenset[str]] = {}
    for start in direct:
        seen: set[str] = set()
        todo = list(direct[start])
        while todo:
            target = todo.pop()
            if target not in seen:
                seen.add(target)
                todo.extend(direct.get(target, ()))
        closure[start] = frozenset(seen)
    return closure


def set_figures(rule: DecisionRule) -> list[str]:
    """The figures a valid rule sets (its `set` actions), in order."""
    return [str(a["set"]) for a in rule.then if isinstance(a, Mapping) and "set" in a]


def _required_values(node: Mapping[str, Any]) -> dict[str, set[str]]:
    """Per fact, the values a condition requires it to have.

    Read from the `equals`/`in` leaves of the top-level `all` (or a lone leaf); values are
    compared as JSON, so 1 and true differ.
    """
    items = node["all"] if "all" in node else [node] if "fact" in node else []
    required: dict[str, set[str]] = {}
    for item in items:
        if "fact" not in item:
            continue
        op = next(k for k in item if k != "fact")
        if op not in ("equals", "in"):
            continue
        values = {json.dumps(v) for v in (item[op] if op == "in" else [item[op]])}
        name = item["fact"]
        required[name] = required[name] & values if name in required else values
    return required


def excludes(one: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """True when two valid conditions can never both hold on one fact.

    Sound, not complete: they exclude each other when both require (by `equals` or `in` in
    their top-level `all`) one fact to take values from disjoint sets, e.g.
    ``not_evaluable_policy equals neutral`` and ``… equals zero``.
    """
    first, second = _required_values(one), _required_values(other)
    return any(not (first[name] & second[name]) for name in first.keys() & second.keys())


def fact_problem(fact: FactDef, op: str, operand: Any) -> str | None:
    """Why a valid leaf `fact op operand` does not fit the declared fact, or None."""
    if op in _NUMERIC_OPERATORS:
        if fact.type != "nombre":
            return (f"« {op} » compare des nombres, or le fait « {fact.name} » est de type "
                    f"{fact.type}")
        return None
    values = list(operand) if op == "in" else [operand]
    for value in values:
        kind = _kind(value)
        if kind != fact.type:
            return (f"le fait « {fact.name} » est de type {fact.type}, la valeur {_show(value)} "
                    f"est de type {kind} : la condition ne serait jamais vraie")
    return None


def _size(node: Mapping[str, Any]) -> tuple[int, int]:
    """Count (combinations, comparisons) of a valid condition, as durable expands it."""
    if "all" in node or "any" in node:
        sizes = [_size(item) for item in node["all" if "all" in node else "any"]]
        alternatives = sum(a for _, a in sizes)
        if "any" in node:
            return sum(v for v, _ in sizes), alternatives
        return math.prod(v for v, _ in sizes), alternatives
    op = next(k for k in node if k != "fact")
    count = len(set(map(json.dumps, node[op]))) if op == "in" else 1
    return count, count


def _check_condition(node: Any, where: str, add: Callable[[str, str], None]) -> None:
    if not isinstance(node, Mapping) or not node:
        add(where, "condition attendue : {all: [...]}, {any: [...]} "
            "ou {fact: ..., <opérateur>: ...}")
        return
    keys = [str(k) for k in node]
    groups = [k for k in keys if k in _GROUPS]
    if groups:
        for key in keys:
            if key not in _GROUPS:
                add(where, f"clé « {key} » inattendue à côté de « {groups[0]} »"
                    + suggest(key, _GROUPS))
        if len(groups) > 1:
            add(where, "« all » et « any » ensemble : imbriquez l'un dans l'autre")
        for group in groups:
            items = node[group]
            if not isinstance(items, list | tuple) or not items:
                add(f"{where}.{group}", "liste non vide de conditions attendue")
                continue
            for index, item in enumerate(items):
                _check_condition(item, f"{where}.{group}[{index}]", add)
        return
    if "fact" not in keys:
        unknown = [k for k in keys if k not in OPERATORS]
        for key in unknown:
            add(where, f"clé inconnue « {key} »" + suggest(key, _CONDITION_KEYS))
        if not unknown:
            add(where, "clé « fact » manquante (le champ du fait à comparer)")
        return
    _check_leaf(node, where, add)


def _check_leaf(node: Mapping[str, Any], where: str, add: Callable[[str, str], None]) -> None:
    name = node["fact"]
    if not isinstance(name, str) or not _FIELD_NAME.match(name):
        add(f"{where}.fact", f"nom de champ invalide {_show(name)} (lettres, chiffres et _, "
            "commençant par une lettre)")
    elif name in _RESERVED_FIELDS:
        add(f"{where}.fact", f"le nom « {name} » est réservé au moteur de règles")
    operators = [str(k) for k in node if k != "fact"]
    unknown = [k for k in operators if k not in OPERATORS]
    for key in unknown:
        add(where, f"opérateur inconnu « {key} »" + suggest(key, OPERATORS)
            + f" (attendu : {', '.join(OPERATORS)})")
    known = [k for k in operators if k in OPERATORS]
    if not operators:
        add(where, f"opérateur manquant après « fact » (attendu : {', '.join(OPERATORS)})")
    if len(known) > 1:
        add(where, f"un seul opérateur par condition, trouvé {', '.join(known)} : "
            "combinez-les dans un « all »")
    for op in known:
        _check_operand(op, node[op], f"{where}.{op}", add)


def _check_operand(op: str, value: Any, where: str, add: Callable[[str, str], None]) -> None:
    if op == "in":
        if not isinstance(value, list | tuple) or not value:
            add(where, "liste non vide de valeurs attendue")
            return
        kinds = {_kind(v) for v in value}
        if None in kinds:
            bad = next(v for v in value if _kind(v) is None)
            add(where, f"valeur {_show(bad)} non permise (booléen, nombre ou texte attendu)")
        elif len(kinds) > 1:
            add(where, f"valeurs de types mélangés ({', '.join(sorted(k or '' for k in kinds))})")
        return
    kind = _kind(value)
    if op in _NUMERIC_OPERATORS:
        if kind != "nombre":
            add(where, f"nombre attendu, trouvé {_show(value)}")
    elif kind is None:
        add(where, f"valeur {_show(value)} non permise (booléen, nombre ou texte attendu ; "
            "un champ absent ou nul ne satisfait aucune condition)")


def _check_actions(then: Any, add: Callable[[str, str], None]) -> None:
    if not isinstance(then, list | tuple) or not then:
        add("then", "liste non vide d'actions attendue ({flag: ...}, {warn: ...}, "
            "{set: ..., value: ...})")
        return
    for index, action in enumerate(then):
        where = f"then[{index}]"
        if not isinstance(action, Mapping) or not action:
            add(where, "action attendue : {flag: code}, {warn: code} ou {set: nom, value: valeur}")
            continue
        keys = [str(k) for k in action]
        verbs = [k for k in keys if k in ACTIONS]
        if len(verbs) != 1:
            if not verbs:
                unknown = [k for k in keys if k != "value"]
                for key in unknown or keys:
                    add(where, f"action inconnue « {key} »" + suggest(key, ACTIONS)
                        + f" (attendu : {', '.join(ACTIONS)})")
            else:
                add(where, f"une seule action par élément, trouvé {', '.join(verbs)}")
            continue
        verb = verbs[0]
        allowed = ("set", "value") if verb == "set" else (verb,)
        for key in keys:
            if key not in allowed:
                add(where, f"clé « {key} » inattendue pour « {verb} »" + suggest(key, allowed))
        target = action[verb]
        if not isinstance(target, str) or not _FIELD_NAME.match(target):
            add(f"{where}.{verb}", f"code invalide {_show(target)} (lettres, chiffres et _, "
                "commençant par une lettre)")
        if verb == "set":
            if "value" not in action:
                add(where, "« value » manquant pour « set »")
            elif _kind(action["value"]) is None:
                add(f"{where}.value", f"valeur {_show(action['value'])} non permise "
                    "(booléen, nombre ou texte attendu)")


