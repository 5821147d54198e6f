"""Everything a run writes: `results.json` (outputs.md) and the rows set aside.

One module writes files, so that the rest of the engine returns data only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from fractions import Fraction
from importlib import metadata
from typing import Any

from engine.model.money import CENT, euros, fraction_text, to_cents
from engine.model.results import ConventionResult, IndicatorResult, RunResult
from engine.model.trace import ConventionTrace


def version() -> str:
    """The installed parcours version."""
    try:
        return metadata.version("parcours")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def _number(value: Fraction | Decimal | None) -> float | None:
    return None if value is None else float(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal | Fraction):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    return value


def indicator_json(res: IndicatorResult) -> dict[str, Any]:
    """One indicator as outputs.md shows it."""
    out: dict[str, Any] = {"kind": res.kind}
    if res.kind == "reported":
        out.update(evaluable=res.evaluable, value=_number(res.value))
        if res.denominator is not None:
            out.update(numerator=res.numerator, denominator=res.denominator, value_exact=fraction_text(res.value))
        out["parameters"] = list(res.parameters)
        return out
    if res.kind == "rate":
        out.update(numerator=res.numerator, denominator=res.denominator, value=_number(res.value))
    else:
        out.update(value=_number(res.value), target=_number(res.target))
        if res.denominator:
            out.update(value_numerator=res.numerator, value_denominator=res.denominator)
    out["evaluable"] = res.evaluable
    if res.kind == "rate" and res.target is not None:
        out.update(target=_number(res.target), floor=_number(res.floor))
    if res.part in ("qualitative", "quantitative"):
        out.update(score=_number(res.score), weight=_number(res.weight))
        out["score_exact"] = fraction_text(res.score)
    out.update({k: _json_value(v) for k, v in res.extra.items()})
    if res.raw_score is not None:
        out["raw_score_exact"] = fraction_text(res.raw_score)
    out["parameters"] = list(res.parameters)
    return out


def _ratio_columns(c: ConventionResult) -> set[str]:
    """Reported columns that are the two halves of a mean: shown under `indicators`, not as counts."""
    return {f"{res.id}_{half}" for res in c.indicators.values() if res.kind == "reported"
            for half in ("numerator", "denominator")}


def convention_json(c: ConventionResult, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One convention as outputs.md shows it, with traceability extras.

    `labels` gives the French wording (from the rules) of its flags and warnings.
    """
    labels = labels or {}
    a = c.attrs
    return {
        "convention_id": c.convention_id,
        "structure": a["structure"],
        "territory": a["territory"],
        "dispositif": a["dispositif"],
        "funding": a["funding"],
        "budget_line": a.get("budget_line"),
        "thematique": a.get("thematique"),
        "operation": a.get("operation"),
        "period_start": a["period_start"].isoformat(),
        "period_end": a["period_end"].isoformat(),
        "window": {"start": c.window_start.isoformat(), "end": c.eval_end.isoformat()},
        "final": c.final,
        "indicators": {k: indicator_json(v) for k, v in c.indicators.items()},
        "reported": {k: _json_value(v) for k, v in c.reported.items() if k not in _ratio_columns(c)},
        "quantitative_score": _number(c.quantitative_score),
        "qualitative_score": _number(c.qualitative_score),
        "quantitative_weight": float(c.quantitative_weight),
        "qualitative_weight": float(c.qualitative_weight),
        "amount_eur": euros(c.amount),
        "earned_eur": euros(c.earned),
        "earned_exact": fraction_text(c.earned_exact),
        "paid_eur": euros(c.paid),
        "solde_eur": euros(c.solde),
        "flags": list(c.flags),
        "warnings": list(c.warnings),
        "labels": {code: labels.get(code, code) for code in [*c.flags, *c.warnings]},
        "decisions": list(c.decisions),
        **({"costs": costs_json(c.costs)} if c.costs else {}),
        "trace": trace_json(c.trace),
    }


def _exact_json(value: Any) -> Any:
    """A traced value: exact numbers as `n/d` text (money as its cents), the rest as JSON."""
    if isinstance(value, Fraction):
        return fraction_text(value)
    if isinstance(value, Decimal):
        cents = value.quantize(CENT)
        return str(cents) if cents == value else format(value.normalize(), "f")
    if isinstance(value, Mapping):
        return {str(k): _exact_json(v) for k, v in value.items()}
    return _json_value(value)


def trace_json(trace: ConventionTrace) -> dict[str, Any]:
    """The convention's trace, as recorded: parameters read, qualitative mean, decisions, money steps.

    Exact values are written as text (`"5/16"`, `"6562.50"`) so that nothing is rounded on the way.
    """
    q = trace.qualitative
    return {
        "parameters": {path: {"value": _json_value(r.value), "since": r.since.isoformat() if r.since else None}
                       for path, r in trace.parameters.items()},
        "qualitative": None if q is None else {
            "terms": [{"indicator": t.indicator, "rule_weight": fraction_text(t.base_weight),
                       "weight": fraction_text(t.weight), "score": fraction_text(t.score)} for t in q.terms],
            "score": fraction_text(q.score),
        },
        "decisions": [{"rule": d.rule, "stage": d.stage, "matched": _json_value(dict(d.matched)),
                       "flags": list(d.flags), "warnings": list(d.warnings), "sets": _json_value(dict(d.sets))}
                      for d in trace.decisions],
        "money": [{"step": m.id, "inputs": _exact_json(m.inputs), "result": _exact_json(m.result),
                   **({"parameters": list(m.parameters)} if m.parameters else {}),
                   **({"set_by": m.set_by} if m.set_by else {})} for m in trace.money],
    }


def costs_json(costs: dict[str, Any]) -> dict[str, Any]:
    """The cost-based arithmetic of a convention (framework §5.5): euros to the cent, exact values beside."""
    def cents(value: Any) -> str:
        return euros(to_cents(Fraction(value if not isinstance(value, str) else Decimal(value))))

    out: dict[str, Any] = {
        "declared_personnel_eur": cents(costs.get("declared_personnel_eur") or 0),
        "eligible_personnel_eur": cents(costs["eligible_personnel"]),
        "ineligible_personnel_eur": cents(costs.get("ineligible_personnel_eur") or 0),
        "staff_eligible": costs.get("staff_eligible"),
        "staff_ineligible": costs.get("staff_ineligible"),
        "ineligible_staff": _json_value(costs.get("ineligible_staff") or []),
        "flat_rate": float(costs["flat_rate"]),
        "eligible_total_eur": cents(costs["eligible_total"]),
        "share_parameter": costs["share_parameter"],
        "share": float(costs["share"]),
        "due_eur": cents(costs["due"]),
        "due_exact": fraction_text(costs["due"]),
        "capped_at_amount": bool(costs["capped"]),
    }
    return out


def results_json(run: RunResult) -> dict[str, Any]:
    """The whole `results.json` document."""
    return {
        "run": {
            "as_of": run.as_of.isoformat(),
            "final": run.final,
            "rules_sha256": run.book.sha256,
            "inputs_sha256": dict(run.extracts.files),
            "overrides": {e.path: _json_value(e.value) for e in run.book.edits},
            "edits": [
                {"path": e.path, "value": _json_value(e.value),
                 "from": e.from_date.isoformat() if e.from_date else None, "origin": e.origin}
                for e in run.book.edits
            ],
            "version": version(),
            "source": run.extracts.source,
        },
        "inputs": {name: dict(counts) for name, counts in run.extracts.counts.items()},
        "skipped": [{"convention_id": cid, "dispositif": d, "reason": reason} for cid, d, reason in run.skipped],
        "conventions": [convention_json(c, run.book.flag_labels) for c in run.conventions],
    }


