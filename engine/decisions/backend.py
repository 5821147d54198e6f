"""The durable_rules backend: the only module that touches the C extension.

`run_decisions` translates the enabled rules of one stage (the decision language of
`engine.model.decision_rules`) into a durable_rules JSON ruleset, asserts one fact per
convention and returns one `Outcome` per fact: the rules that fired in firing order, the fact
values each one matched, the flags and warnings, and the figures set. When two fired rules set
the same figure, the value of the one that is (transitively) an exception to the other is
kept, whatever the order; otherwise the later one's.

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
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import durable_rules_engine
from durable import engine as durable_engine

from engine.model.decision_rules import (
    _MAX_ALTERNATIVES,
    _NUMERIC_OPERATORS,
    STAGES,
    DecisionError,
    DecisionRule,
    DecisionRuleError,
    Outcome,
    _kind,
    _show,
    _size,
    condition_facts,
    exception_closure,
    leaves,
    validate_rule,
)
from engine.model.text import suggest

# Operator of a leaf -> durable_rules operator (None: equality is written {field: value}).
_DURABLE_OPERATORS: dict[str, str | None] = {
    "equals": None,
    "not_equals": "$neq",
    "lt": "$lt",
    "lte": "$lte",
    "gt": "$gt",
    "gte": "$gte",
}
# The marker field every fact carries, matched by the last, no-op sentinel rule.
_MARKER = "_parcours_fact"
_SENTINEL = "parcours_sentinel"
# Characters that corrupt durable's unescaped state JSON when they appear in a fact id.
_BAD_ID_CHARS = re.compile(r'["\\\x00-\x1f]')
_MAX_PROBLEMS = 20
# Error codes of durable_rules_engine worth explaining.
_ENGINE_HINTS = {
    "113": "condition trop complexe pour le moteur (trop de combinaisons de « any »)",
    "302": "trop de champs dans un fait pour le moteur",
    "303": "trop de conditions satisfaites à la fois par un même fait (64 au plus pour le "
           "moteur) : regroupez les règles ou répartissez-les entre les étapes",
}
# The C engine is global and not thread-safe: one run at a time.
_ENGINE_LOCK = threading.Lock()


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
    """Apply the actions of one fired rule to the outcome of one fact.

    Flags and warnings are added at once; the values a rule sets are recorded under
    `outcome.changed[rule.id]` and settled by `_settle` once every rule has fired.
    """
    for action in rule.then:
        if "flag" in action:
            if action["flag"] not in outcome.flags:
                outcome.flags.append(action["flag"])
        elif "warn" in action:
            if action["warn"] not in outcome.warnings:
                outcome.warnings.append(action["warn"])
        else:
            outcome.changed.setdefault(rule.id, {})[action["set"]] = action["value"]


def _settle(outcome: Outcome, beats: Mapping[str, frozenset[str]]) -> None:
    """Settle the figures the fired rules set: `sets` and the effective `changed`.

    For each figure the holder is the last rule, in firing order, that set it, unless an
    earlier setter is (transitively) an exception to it: an exception's value is kept
    whatever the order.
    """
    proposed = outcome.changed
    holders: dict[str, str] = {}
    for rule_id in outcome.fired:
        for figure in proposed.get(rule_id, {}):
            holder = holders.get(figure)
            if holder is None or rule_id not in beats.get(holder, frozenset()):
                holders[figure] = rule_id
    outcome.sets = {figure: proposed[rule_id][figure] for figure, rule_id in holders.items()}
    changed: dict[str, dict[str, Any]] = {}
    for rule_id in outcome.fired:
        kept = {f: v for f, v in proposed.get(rule_id, {}).items() if holders.get(f) == rule_id}
        if kept:
            changed[rule_id] = kept
    outcome.changed = changed


class _Session:
    """One durable host and one uniquely named ruleset, alive for one run; use with `with`."""

    def __init__(self, rules: Sequence[DecisionRule], *, sentinel: bool = True,
                 exceptions: Mapping[str, frozenset[str]] | None = None) -> None:
        self.rules = list(rules)
        self._beats = exceptions if exceptions is not None else exception_closure(self.rules)
        self._fields: dict[str, Mapping[str, Any]] = {}
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
        names = condition_facts(rule.when)

        def action(c: Any) -> None:
            sid = str(c.s["sid"])
            self._started.add(sid)
            try:
                outcome = self._outcomes[sid]
                if rule.id in outcome.fired:  # an `any` fires once per matching branch
                    return
                outcome.fired.append(rule.id)
                seen = self._fields.get(sid, {})
                outcome.matched[rule.id] = {name: seen.get(name) for name in names}
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
        self._fields[sid] = dict(fields)
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
        self._fields.pop(sid, None)
        _settle(outcome, self._beats)
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
    expected = [(rule.id, name, _expected_kind(op, operand))
                for rule in rules for name, op, operand in leaves(rule.when)]
    names = sorted({name for _, name, _ in expected})
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
        for rule_id, name, wanted in expected:
            value = fields.get(name)
            kind = _kind(value)
            if kind is not None and kind != wanted:
                problems.append(f"fait « {sid} », champ « {name} » : {kind} {_show(value)} "
                                f"alors que la règle « {rule_id} » attend un {wanted}")
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
    `rules`; when two fired rules set the same figure, an exception (`exception_to`, followed
    through every rule of `rules`, enabled or not) keeps its value, else the later one does.
    Raises `DecisionRuleError` for malformed rules and `DecisionError` for bad facts
    or a failure inside the engine or an action.
    """
    if stage not in STAGES:
        raise DecisionError(f"étape de décision « {stage} » inconnue (attendu : "
                            f"{', '.join(STAGES)})" + suggest(stage, STAGES))
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
    with _ENGINE_LOCK, _Session(selected, exceptions=exception_closure(rules)) as session:
        for fact_id in facts:
            outcomes[fact_id] = session.evaluate(str(fact_id), sent[str(fact_id)])
    return outcomes
