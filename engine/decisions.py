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

import copy
import difflib
import json
import math
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import durable_rules_engine
from durable import engine as durable_engine

__all__ = [
    "ACTIONS",
    "OPERATORS",
    "STAGES",
    "DecisionError",
    "DecisionRule",
    "DecisionRuleError",
    "Outcome",
    "durable_ruleset",
    "run_decisions",
    "translate_condition",
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


class DecisionError(Exception):
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


# --------------------------------------------------------------------------- translation


def translate_condition(when: Mapping[str, Any]) -> dict[str, Any]:
    """Translate a validated condition tree into a durable_rules expression (`m` pattern)."""
    if "all" in when or "any" in when:
        group = "all" if "all" in when else "any"
        parts = [translate_condition(item) for item in when[group]]
        if len(parts) == 1:
            return parts[0]
        return {"$and" if group == "all" else "$or": parts}
    name = when["fact"]
    op = next(k for k in when if k != "fact")
    value = when[op]
    if op == "in":
        values = list(dict.fromkeys(value))
        if len(values) == 1:
            return {name: values[0]}
        return {"$or": [{name: v} for v in values]}
    durable_op = _DURABLE_OPERATORS[op]
    if durable_op is None:
        return {name: value}
    return {durable_op: {name: value}}


def durable_ruleset(rules: Sequence[DecisionRule]) -> dict[str, dict[str, Any]]:
    """Build the durable_rules JSON ruleset (no actions) of validated rules, in firing order.

    Rule `i` is named ``r<i>`` and has salience ``pri = i + 1`` (durable runs the lowest
    `pri` first); the sentinel, matching every fact through its marker field, comes last.
    """
    definition: dict[str, dict[str, Any]] = {}
    for index, rule in enumerate(rules):
        definition[f"r{index}"] = {
            "all": [{"m": translate_condition(rule.when)}],
            "pri": index + 1,
        }
    definition[_SENTINEL] = {"all": [{"m": {_MARKER: True}}], "pri": len(rules) + 1}
    return definition


def _leaves(node: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(field, operator, operand) of every leaf of a validated condition tree."""
    for group in _GROUPS:
        if group in node:
            for item in node[group]:
                yield from _leaves(item)
            return
    op = next(k for k in node if k != "fact")
    yield node["fact"], op, node[op]


def _expected_kind(op: str, operand: Any) -> str:
    if op in _NUMERIC_OPERATORS:
        return "nombre"
    if op == "in":
        return _kind(operand[0]) or ""
    return _kind(operand) or ""


# --------------------------------------------------------------------------- durable session


def _hint(error: BaseException) -> str:
    match = re.search(r"error code: (\d+)", str(error))
    hint = _ENGINE_HINTS.get(match.group(1)) if match else None
    return f" — {hint}" if hint else ""


class _Host(durable_engine.Host):
    """A durable_rules host without its background dispatch threads.

    ``Host.__init__`` calls ``_run``, which starts two ``threading.Timer`` loops that
    re-arm themselves forever. Actions are run synchronously by ``assert_fact`` instead.
    """

    def _run(self) -> None:
        return None


def _apply_actions(rule: DecisionRule, outcome: Outcome) -> None:
    """Apply the actions of one fired rule to the outcome of one fact."""
    for action in rule.then:
        if "flag" in action:
            if action["flag"] not in outcome.flags:
                outcome.flags.append(action["flag"])
        elif "warn" in action:
            if action["warn"] not in outcome.warnings:
                outcome.warnings.append(action["warn"])
        else:
            outcome.sets[action["set"]] = action["value"]


class _Session:
    """One durable host and one uniquely named ruleset, alive for one run; use with `with`."""

    def __init__(self, rules: Sequence[DecisionRule], *, sentinel: bool = True) -> None:
        self.rules = list(rules)
        self.name = f"parcours_decisions_{uuid.uuid4().hex}"
        self.definition = durable_ruleset(self.rules)
        if not sentinel:
            del self.definition[_SENTINEL]
        self._outcomes: dict[str, Outcome] = {}
        self._started: set[str] = set()  # sids whose state ran an action: safe to delete
        self._errors: list[tuple[str, str, BaseException]] = []
        self._host: _Host | None = _Host()
        self._ruleset: durable_engine.Ruleset | None = None
        runnable = copy.deepcopy(self.definition)  # durable's Ruleset deletes 'run'
        for index, rule in enumerate(self.rules):
            runnable[f"r{index}"]["run"] = self._action(rule)
        if _SENTINEL in runnable:
            runnable[_SENTINEL]["run"] = self._sentinel_action
        try:
            self._host.register_rulesets({self.name: runnable})
            self._ruleset = self._host.get_ruleset(self.name)
        except Exception as error:
            self._host = None
            raise DecisionError("le moteur de règles a refusé les règles de décision : "
                                f"{error}{_hint(error)}") from error

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _action(self, rule: DecisionRule) -> Callable[[Any], None]:
        def action(c: Any) -> None:
            sid = str(c.s["sid"])
            self._started.add(sid)
            try:
                outcome = self._outcomes[sid]
                if rule.id in outcome.fired:  # an `any` fires once per matching branch
                    return
                outcome.fired.append(rule.id)
                _apply_actions(rule, outcome)
            except Exception as error:  # durable would swallow it: keep it for the caller
                self._errors.append((rule.id, sid, error))

        return action

    def _sentinel_action(self, c: Any) -> None:
        self._started.add(str(c.s["sid"]))

    def evaluate(self, sid: str, fields: Mapping[str, Any]) -> Outcome:
        """Assert one fact (its own durable state `sid`) and return what the rules did."""
        assert self._host is not None, "session fermée"
        outcome = self._outcomes.setdefault(sid, Outcome())
        message = {**fields, "sid": sid, "id": sid, _MARKER: True}
        try:
            state = self._host.assert_fact(self.name, message)
        except durable_engine.MessageNotHandledException:
            state = None  # no rule matched: the outcome stays empty
        except Exception as error:
            raise DecisionError(f"le moteur de règles a échoué sur le fait « {sid} » : "
                                f"{error}{_hint(error)}") from error
        if self._errors:
            rule_id, fact_id, failure = self._errors[0]
            raise DecisionError(
                f"la règle de décision « {rule_id} » a échoué sur le fait « {fact_id} » : "
                f"{type(failure).__name__}: {failure}") from failure
        if isinstance(state, dict) and state.get("exception"):
            raise DecisionError(
                f"le moteur de règles a signalé une erreur sur le fait « {sid} » : "
                f"{state['exception']}")
        self._release(sid)
        return outcome

    def _release(self, sid: str) -> None:
        """Delete a finished fact's state at once: the C engine holds 1,024 states per ruleset."""
        if sid in self._started and self._ruleset is not None:
            self._ruleset.delete_state(sid)
            self._started.discard(sid)

    def close(self) -> None:
        """Delete every state that can safely be deleted, then the ruleset."""
        host, ruleset, self._host, self._ruleset = self._host, self._ruleset, None, None
        if host is None or ruleset is None:
            return
        try:
            for sid in sorted(self._started):
                try:
                    ruleset.delete_state(sid)
                except Exception:  # noqa: BLE001 - best effort, the ruleset goes next
                    pass
        finally:
            durable_rules_engine.delete_ruleset(ruleset._handle)


# --------------------------------------------------------------------------- run


def _fact_problems(
    rules: Sequence[DecisionRule], facts: Mapping[Any, Mapping[str, Any]],
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Check the facts; return the problems and, per sid, the fields sent to durable.

    Only the fields the rules name are read and sent; a null field is left out (absent).
    """
    leaves = [(rule.id, name, _expected_kind(op, operand))
              for rule in rules for name, op, operand in _leaves(rule.when)]
    names = sorted({name for _, name, _ in leaves})
    problems: list[str] = []
    sent: dict[str, dict[str, Any]] = {}
    for fact_id, fact in facts.items():
        sid = str(fact_id)
        if not sid or _BAD_ID_CHARS.search(sid) or len(sid) > 200:
            problems.append(f"identifiant de fait invalide {fact_id!r} (non vide, 200 caractères "
                            "au plus, sans guillemet, barre oblique inverse ni caractère de "
                            "contrôle)")
            continue
        if sid in sent:
            problems.append(f"identifiant de fait « {sid} » en double")
            continue
        if not isinstance(fact, Mapping):
            problems.append(f"fait « {sid} » : table de valeurs attendue, "
                            f"trouvé {type(fact).__name__}")
            continue
        fields = {name: fact[name] for name in names if fact.get(name) is not None}
        for name, value in fields.items():
            if _kind(value) is None:
                problems.append(f"fait « {sid} », champ « {name} » : valeur {_show(value)} "
                                "non permise (booléen, nombre fini ou texte attendu ; convertissez "
                                "les montants en centimes entiers)")
        for rule_id, name, expected in leaves:
            value = fields.get(name)
            kind = _kind(value)
            if kind is not None and kind != expected:
                problems.append(f"fait « {sid} », champ « {name} » : {kind} {_show(value)} "
                                f"alors que la règle « {rule_id} » attend un {expected}")
        sent[sid] = fields
    return list(dict.fromkeys(problems)), sent


def _raise_all(error: type[DecisionError], header: str, problems: Sequence[str]) -> None:
    shown = list(problems[:_MAX_PROBLEMS])
    if len(problems) > _MAX_PROBLEMS:
        shown.append(f"… et {len(problems) - _MAX_PROBLEMS} autre(s)")
    raise error(header + "\n" + "\n".join(f"- {p}" for p in shown))


def run_decisions(rules: Sequence[DecisionRule], facts: Mapping[Any, Mapping[str, Any]],
                  stage: str) -> dict[Any, Outcome]:
    """Run the enabled rules of `stage` on each fact; one `Outcome` per fact id.

    `facts` maps a fact id (the convention id) to a flat mapping of JSON scalars; only the
    fields the rules name are read. Rules fire at most once per fact, in the order of
    `rules`. Raises `DecisionRuleError` for malformed rules and `DecisionError` for bad facts
    or a failure inside the engine or an action.
    """
    if stage not in STAGES:
        raise DecisionError(f"étape de décision « {stage} » inconnue (attendu : "
                            f"{', '.join(STAGES)})" + _suggest(stage, STAGES))
    selected = [r for r in rules if r.enabled is True and r.stage == stage]
    problems = [p for rule in selected for p in validate_rule(rule)]
    seen: set[str] = set()
    for rule in selected:
        if rule.id in seen:
            problems.append(f"règle « {rule.id} » : identifiant en double à l'étape « {stage} »")
        seen.add(rule.id)
    total = sum(_size(rule.when)[1] for rule in selected) if not problems else 0
    if total > _MAX_ALTERNATIVES:
        problems.append(f"règles de l'étape « {stage} » trop nombreuses pour le moteur ({total} "
                        f"comparaisons, {_MAX_ALTERNATIVES} au plus)")
    if problems:
        _raise_all(DecisionRuleError, f"règles de décision invalides (étape « {stage} ») :",
                   problems)
    fact_problems, sent = _fact_problems(selected, facts)
    if fact_problems:
        _raise_all(DecisionError,
                   f"faits invalides pour les règles de décision (étape « {stage} ») :",
                   fact_problems)
    if not selected:
        return {fact_id: Outcome() for fact_id in facts}
    outcomes: dict[Any, Outcome] = {}
    with _ENGINE_LOCK, _Session(selected) as session:
        for fact_id in facts:
            outcomes[fact_id] = session.evaluate(str(fact_id), sent[str(fact_id)])
    return outcomes
