"""From indicator units to scores (framework §5.3–5.4), each step recorded as it is taken.

- a **rate** is `numerator/denominator`; scored (qualitative part) as
  `clamp((value − floor)/(target − floor), 0, 1)`, not evaluable when nothing is counted;
- a **volume** is `value/target`, scored `min(1, value/target)`, not evaluable when its
  target is 0; its target is the convention's own column or a per-ETP parameter × ETP,
  prorated to the window when the rules say so;
- a **reported** indicator has a value (a count, or a ratio/mean of two counts) and no score;
- the qualitative score is the mean of the evaluable rate scores, weights renormalised over
  them (`QualitativeStep`).

Every parameter read goes through `RecordingParams`, so each indicator's `parameters`
are the ones its computation asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any

from engine.model import money
from engine.model.results import IndicatorResult
from engine.model.rulebook import IndicatorDef
from engine.model.trace import QualitativeStep, QualitativeTerm, RecordingParams


@dataclass
class Scores:
    """The scored indicators of one convention and the two parts' scores."""

    indicators: dict[str, IndicatorResult]
    quantitative: Fraction | None
    quantitative_indicator: str | None
    qualitative: QualitativeStep


def volume_target(ind: IndicatorDef, row: Mapping[str, Any], per_unit: Fraction) -> tuple[Fraction, dict[str, Any]]:
    """Target of a volume indicator (framework §5.3) and how it was set.

    The convention's own `target_column` when it is filled (e.g. `diagnostics_target`), else
    `<target_parameter> × etp`; prorated to the window (days in the window / days in the
    period, both inclusive) when the indicator says `prorate: true`.
    """
    own = row.get(ind.target_column) if ind.target_column else None
    rule: dict[str, Any]
    if own is not None:
        target = Fraction(int(own))
        rule = {"base": "column", "column": ind.target_column, "column_value": int(own)}
    else:
        etp = money.frac(row["etp"])
        target = per_unit * etp
        rule = {"base": "per_etp", "parameter": f"{ind.dispositif}.{ind.target_parameter}",
                "per_etp": per_unit, "etp": etp}
    rule["before_prorate"] = target
    if ind.prorate:
        window_days = max(0, (row["eval_end"] - row["window_start"]).days + 1)
        period_days = (row["period_end"] - row["period_start"]).days + 1
        target = target * Fraction(window_days, period_days)
        rule.update(window_days=window_days, period_days=period_days)
    return target, rule


def _rate(ind: IndicatorDef, num: int, den: int, p: RecordingParams) -> IndicatorResult:
    res = IndicatorResult(id=ind.id, kind=ind.kind, part=ind.part, numerator=num, denominator=den,
                          evaluable=den > 0, value=Fraction(num, den) if den else None)
    if ind.part == "qualitative":
        res.target = money.frac(p[f"scoring.{ind.id}.target"])
        res.floor = money.frac(p[f"scoring.{ind.id}.floor"])
        res.base_weight = money.frac(p[f"scoring.{ind.id}.weight"])
        if res.value is not None:
            res.raw_score = (res.value - res.floor) / (res.target - res.floor)
            res.score = money.rate_score(num, den, res.target, res.floor)
            res.clamp = "floor" if res.raw_score < 0 else "cap" if res.raw_score > 1 else None
    return res


def _volume(ind: IndicatorDef, num: int, den: int, row: Mapping[str, Any], p: RecordingParams) -> IndicatorResult:
    res = IndicatorResult(id=ind.id, kind=ind.kind, part=ind.part, numerator=num, denominator=den,
                          value=Fraction(num, den) if den else Fraction(num))
    own = row.get(ind.target_column) if ind.target_column else None
    per_unit = money.frac(p[ind.target_parameter]) if ind.target_parameter and own is None else Fraction(0)
    res.target, res.target_rule = volume_target(ind, row, per_unit)
    res.score = money.volume_score(res.value, res.target)
    res.evaluable = res.score is not None
    if res.evaluable and res.value is not None and res.target:
        res.raw_score = res.value / res.target
        res.clamp = "cap" if res.raw_score > 1 else None
    if ind.part == "quantitative":
        res.weight = res.base_weight = Fraction(1)
    return res


def _reported(ind: IndicatorDef, reported: Mapping[str, Any]) -> IndicatorResult:
    """A reported-only indicator: a count (`value_column`, summed when a list) or a ratio of two."""
    res = IndicatorResult(id=ind.id, kind=ind.kind, part=ind.part)
    if ind.numerator_column and ind.denominator_column:
        num = int(reported.get(ind.numerator_column) or 0)
        den = int(reported.get(ind.denominator_column) or 0)
        res.numerator, res.denominator = num, den
        res.value = Fraction(num, den) if den else None
        res.evaluable = den > 0
    elif ind.value_columns:
        present = [c for c in ind.value_columns if reported.get(c) is not None]
        res.evaluable = bool(present)
        res.value = Fraction(sum(int(reported[c]) for c in present)) if present else None
    return res


def score_convention(indicators: Mapping[str, IndicatorDef], row: Mapping[str, Any],
                     units: Mapping[str, Mapping[str, tuple[int, int]]], reported: Mapping[str, Any],
                     p: RecordingParams, read_by: Mapping[str, list[str]]) -> Scores:
    """Score every indicator of one convention; `read_by[id]` = paths its function read."""
    cid = row["convention_id"]
    results: dict[str, IndicatorResult] = {}
    quantitative: Fraction | None = None
    quantitative_id: str | None = None
    for ind in indicators.values():
        with p.recording() as scope:
            if ind.kind == "reported":
                res = _reported(ind, reported)
            else:
                num, den = units.get(ind.id, {}).get(cid, (0, 0))
                res = _rate(ind, num, den, p) if ind.kind == "rate" else _volume(ind, num, den, row, p)
        res.parameters = tuple(dict.fromkeys([*read_by.get(ind.id, []), *scope]))
        if ind.kind == "volume" and ind.part == "quantitative":
            quantitative, quantitative_id = res.score, ind.id
        results[ind.id] = res
    qualitative = qualitative_mean(results)
    for term in qualitative.terms:
        results[term.indicator].weight = term.weight
    return Scores(results, quantitative, quantitative_id, qualitative)


def qualitative_mean(results: Mapping[str, IndicatorResult]) -> QualitativeStep:
    """Mean of the evaluable qualitative rate scores, weights renormalised over them."""
    rated = {k: r for k, r in results.items() if r.kind == "rate" and r.part == "qualitative"}
    scores = {k: r.score for k, r in rated.items()}
    weights = {k: r.base_weight or Fraction(0) for k, r in rated.items()}
    score, effective = money.weighted_mean(scores, weights)
    total = sum((weights[k] for k, s in scores.items() if s is not None), Fraction(0))
    terms = tuple(QualitativeTerm(k, weights[k], effective[k], scores[k]) for k in rated)
    return QualitativeStep(terms=terms, weight_total=total, score=score)


def since(values: tuple[tuple[date, Any], ...], when: date) -> date | None:
    """The effective date of the value in force on `when`."""
    found = [d for d, _ in values if d <= when]
    return max(found) if found else None
