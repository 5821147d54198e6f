"""The facts the decision rules see, one flat mapping per convention and stage, and what fired.

`scoring_fact` is built from a scored convention (before the money), `payment_facts` adds
the money figures (cents) once it is computed. `record` applies an `Outcome` of the
decision layer to a convention and records each rule that fired as a `DecisionStep`, with
the values of the facts its condition tests, as the engine saw them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from engine.model import money
from engine.model.decision_rules import DecisionRule, Outcome
from engine.model.results import ConventionResult
from engine.model.trace import DecisionStep


def _scalar(value: Any) -> Any:
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float | Decimal | Fraction):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def scoring_fact(c: ConventionResult) -> dict[str, Any]:
    """The fact of one convention for the `scoring` stage."""
    fact: dict[str, Any] = {
        "convention_id": c.convention_id,
        "dispositif": c.attrs["dispositif"],
        "funding": c.attrs["funding"],
        "start_up": bool(c.attrs.get("start_up")),
        "mining_basin": bool(c.attrs.get("mining_basin")),
        "final": c.final,
        "not_started": c.eval_end < c.window_start,
        "startup_policy": c.params["startup_policy"],
        "not_evaluable_policy": c.params["not_evaluable_policy"],
        "qualitative_evaluable": c.params["qualitative_evaluable"],
        "quantitative_evaluable": c.params["quantitative_evaluable"],
        "funding_model": c.params["funding_model"],
        "quantitative_weight": float(c.quantitative_weight),
        "qualitative_weight": float(c.qualitative_weight),
    }
    for key, value in c.reported.items():
        fact.setdefault(key, _scalar(value))
    return fact


def payment_fact(c: ConventionResult, scoring: Mapping[str, Any]) -> dict[str, Any]:
    """The fact of one convention for the `payment` stage: the scoring fact plus the money."""
    fact = dict(scoring)
    fact.update(earned_cents=int(c.earned * 100), paid_cents=int(c.paid * 100), solde_cents=int(c.solde * 100))
    if c.costs:
        fact.update(
            staff_eligible=int(c.costs.get("staff_eligible") or 0),
            staff_ineligible=int(c.costs.get("staff_ineligible") or 0),
            cost_capped=bool(c.costs.get("capped")),
        )
    return fact


def condition_facts(node: Mapping[str, Any]) -> Iterator[str]:
    """The fact names a condition tree tests, in order."""
    for group in ("all", "any"):
        if group in node:
            for item in node[group]:
                yield from condition_facts(item)
            return
    if "fact" in node:
        yield str(node["fact"])


def record(c: ConventionResult, outcome: Outcome, rules: Mapping[str, DecisionRule], stage: str,
           fact: Mapping[str, Any]) -> None:
    """Apply what the decision rules did to `c`, and record each rule that fired."""
    c.trace.facts[stage] = dict(fact)
    for rule_id in outcome.fired:
        rule = rules[rule_id]
        names = dict.fromkeys(condition_facts(rule.when))
        c.trace.decisions.append(DecisionStep(
            rule=rule_id, stage=stage,
            matched={name: fact.get(name) for name in names},
            flags=tuple(a["flag"] for a in rule.then if "flag" in a),
            warnings=tuple(a["warn"] for a in rule.then if "warn" in a),
            sets={a["set"]: a["value"] for a in rule.then if "set" in a},
        ))
    c.decisions.extend(outcome.fired)
    c.flags.extend(f for f in outcome.flags if f not in c.flags)
    c.warnings.extend(w for w in outcome.warnings if w not in c.warnings)
    for key, value in outcome.sets.items():
        setattr(c, key, money.frac(str(value)))
