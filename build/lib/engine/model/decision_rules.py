"""Decision rules (start-up clause, not-evaluable policy, reversement…) run by durable_rules.

This is the only module that touches durable_rules. A decision rule is data (loaded from
`rules/decisions.yaml` by `engine.rules`): a condition tree over the flat fact of one
convention and a list of actions. `run_decisions` translates the enabled rules of one stage
into a durable_rules JSON ruleset, asserts one fact per convention and returns, for every
fact, which rules fired and what they did.

Condition tree (data, never evaluated as code)::

    {"all": [cond, ...]}  {"any": [cond, ...]}           (nestable)
    {"fact": "start_up", "equals": true}                  (leaf, exactly one operator)
    operators: equals, not_equals (bool, number or text), lt, lte, gt, gte (numbers),
               in (non-empty list of values of one kind)

Actions: ``{"flag": code}`` adds a flag, ``{"warn": code}`` adds a warning code,
``{"set": name, "value": v}`` sets an adjustment (the later rule wins).

Semantics pinned by tests/test_decisions.py:

- a leaf on a field the fact does not have, or whose value is null, is false whatever the
  operator (so ``not_equals`` does not match a missing value);
- a field whose value is not of the kind the leaf expects (text compared with a number,
  ``"true"`` compared with a boolean) is an error, never a silent match: durable_rules
  itself would coerce (it compares ``"10" < 9`` as text, ``"true" == true`` as equal);
- each rule fires at most once per fact, in the order of `rules` (the YAML order);
- each fact is evaluated on its own (one durable state per fact, ``sid`` = fact id).

durable_rules' sharp edges, and what this module does about them:

- ``Host.__init__`` starts two self-rearming ``threading.Timer`` loops (``_run``) that
  dispatch actions and timers in the background: `_Host` disables them; actions then run
  synchronously inside ``assert_fact``.
- The C engine keeps rulesets in a global table: each run registers its own ruleset under a
  unique name and deletes it (``delete_ruleset``) in a ``finally``.
- ``Ruleset`` mutates the definition it is given (``del rule['run']``): it gets a deep copy.
- A fact that matches no rule raises ``MessageNotHandledException``, and the C engine then
  leaves that state half-initialised: ``delete_state`` on it frees uninitialised pointers
  (segmentation fault, depending on the heap). Every fact therefore carries a marker field
  matched by a last, no-op sentinel rule, so every state has run an action and can be
  deleted; a state that still ended up unhandled is left to ``delete_ruleset`` (it leaks
  about 80 KB, it does not crash).
- States are not freed by ``delete_ruleset`` (about 80 KB per fact): each state is deleted.
- The state document (``sid``, ``id``, ``$s``) is itself matched by the rules after every
  action: a condition it satisfies (on ``id`` or ``sid``) loops forever. Such field names
  are refused, and the sentinel matches the marker, not ``id``.
- An ``any`` (``$or``) fires its action once per matching branch: firings are deduplicated.
- An exception in an action is swallowed (written to the state as ``exception``): actions
  record their errors, which are raised as `DecisionError` after the assertion.
- Hard limits of the C engine: a condition's `any`s are expanded into every combination
  (error 113 past about 2**15); 512 tests of one field make ruleset creation loop forever;
  a fact satisfying more than 63 distinct tests at once overflows a stack (error 303).
  Conditions and stages are size-checked before durable is reached; engine error codes are
  explained in the French message.
- The state JSON is built without escaping: a fact id holding a double quote or a backslash
  corrupts it (its state can no longer be deleted); such ids are refused.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.model.errors import ParcoursError

__all__ = [
    "ACTIONS",
    "OPERATORS",
    "STAGES",
    "DecisionError",
    "DecisionRule",
    "DecisionRuleError",
    "Outcome",
    "validate_rule",
]

STAGES = ("scoring", "payment")
# Operator of a leaf -> durable_rules operator (None: equality is written {field: value}).
_DURABLE_OPERATORS: dict[str, str | None] = {
    "equals": None,
    "not_equals": "$neq",
    "lt": "$lt",
    "lte": "$lte",
    "gt": "$gt",
    "gte": "$gte",
}
OPERATORS = (*_DURABLE_OPERATORS, "in")
_NUMERIC_OPERATORS = frozenset({"lt", "lte", "gt", "gte"})
_GROUPS = ("all", "any")
ACTIONS = ("flag", "warn", "set")
_CONDITION_KEYS = _GROUPS + ("fact",) + OPERATORS

# Field names: no leading "_" or "$" (durable and this module use them), and never a field
# of durable's state document, which the rules would match again after every action.
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESERVED_FIELDS = frozenset({"id", "sid", "exception"})
_MARKER = "_parcours_fact"
_SENTINEL = "parcours_sentinel"
_BAD_ID_CHARS = re.compile(r'["\\\x00-\x1f]')
_MAX_INT = 2**63 - 1
_MAX_PROBLEMS = 20
# Size limits, well inside the C engine's: it expands every `any` nested in an `all` into
# one expression per combination (error 113 past about 2**15), and it stores the tests of a
# ruleset in a 512-bucket open-addressing table that it probes forever once full (512
# values of one field never return; 511 give error 303).
_MAX_VARIANTS = 256  # combinations of one rule's condition
_MAX_ALTERNATIVES = 256  # leaves of the rules of one run, each value of an `in` counted
# Error codes of durable_rules_engine worth explaining.
_ENGINE_HINTS = {
    "113": "condition trop complexe pour le moteur (trop de combinaisons de « any »)",
    "302": "trop de champs dans un fait pour le moteur",
    "303": "trop de conditions satisfaites à la fois par un même fait (64 au plus pour le "
           "moteur) : regroupez les règles ou répartissez-les entre les étapes",
}

# The C engine is global and not thread-safe: one run at a time.
_ENGINE_LOCK = threading.Lock()


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


@dataclass
class Outcome:
    """What the decision rules did to one fact."""

    fired: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sets: dict[str, Any] = field(default_factory=dict)


class DecisionError(ParcoursError):
    """The decision rules could not be run (engine failure, action failure, bad facts)."""


class DecisionRuleError(DecisionError):
    """A decision rule is malformed (unknown operator or key, wrong value type)."""


# --------------------------------------------------------------------------- validation


def _suggest(word: object, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" (vouliez-vous dire « {close[0]} » ?)" if close else ""


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
            + _suggest(rule.stage, STAGES))
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
    return problems


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
                    + _suggest(key, _GROUPS))
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
            add(where, f"clé inconnue « {key} »" + _suggest(key, _CONDITION_KEYS))
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
        add(where, f"opérateur inconnu « {key} »" + _suggest(key, OPERATORS)
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
                    add(where, f"action inconnue « {key} »" + _suggest(key, ACTIONS)
                        + f" (attendu : {', '.join(ACTIONS)})")
            else:
                add(where, f"une seule action par élément, trouvé {', '.join(verbs)}")
            continue
        verb = verbs[0]
        allowed = ("set", "value") if verb == "set" else (verb,)
        for key in keys:
            if key not in allowed:
                add(where, f"clé « {key} » inattendue pour « {verb} »" + _suggest(key, allowed))
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


