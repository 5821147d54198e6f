"""The durable_rules backend: the only module that touches the C extension.

See `engine.model.decision_rules` for the decision language and the engine's sharp edges.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import durable_rules_engine
from durable import engine as durable_engine

from engine.model.decision_rules import (
    _BAD_ID_CHARS,
    _DURABLE_OPERATORS,
    _ENGINE_HINTS,
    _ENGINE_LOCK,
    _GROUPS,
    _MARKER,
    _MAX_ALTERNATIVES,
    _MAX_PROBLEMS,
    _NUMERIC_OPERATORS,
    _SENTINEL,
    STAGES,
    DecisionError,
    DecisionRule,
    DecisionRuleError,
    Outcome,
    _kind,
    _show,
    _size,
    _suggest,
    validate_rule,
)

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
