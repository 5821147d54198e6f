"""One evaluation run: extracts + rules + as-of date → indicators, decisions, money.

The pipeline, for every dispositif that has rules:
1. windows: each convention's `[period_start, eval_end]`, `eval_end = min(as_of, period_end)`;
2. parameters in force on each convention's `eval_end` (conventions sharing an `eval_end`
   are computed together);
3. indicators: `indicators/<dispositif>.py`, one function per indicator id of the rules,
   each returning the units it counted (kept for explanations), aggregated per convention;
4. scores (exact fractions), then the decision rules of stage `scoring` (durable_rules);
5. money, then the decision rules of stage `payment`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from fractions import Fraction
from types import ModuleType
from typing import Any

import polars as pl

from engine.decisions.backend import run_decisions
from engine.model import money
from engine.model.decision_rules import Outcome
from engine.model.extracts import Extracts
from engine.model.results import ConventionResult, IndicatorResult, RunResult
from engine.model.rulebook import IndicatorDef, RuleBook
from indicators import accueil, common, equilibre, independants, participants

SETTABLE = ("quantitative_score", "qualitative_score", "quantitative_weight", "qualitative_weight")


def windows_frame(conventions: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Evaluation windows: `[period_start, min(as_of, period_end)]` per convention."""
    return conventions.with_columns(
        window_start=pl.col("period_start"),
        eval_end=pl.min_horizontal(pl.col("period_end"), pl.lit(as_of, dtype=pl.Date)),
    )


#: The indicator functions of each dispositif: `indicators/<dispositif>.py`, one function per indicator id.
INDICATOR_MODULES: dict[str, ModuleType] = {
    "accueil": accueil, "equilibre": equilibre, "independants": independants, "participants": participants,
}


def _indicator_functions(dispositif: str) -> ModuleType:
    return INDICATOR_MODULES[dispositif]


def _aggregate(module: Any, ind: IndicatorDef, units: pl.DataFrame, windows: pl.DataFrame) -> pl.DataFrame:
    """Per-convention numerator and denominator of one indicator.

    `aggregate_<id>` of the dispositif's module or of indicators.common when one exists
    (e.g. occupancy: days in the window), else the sums of the units.
    """
    custom: Callable[..., pl.DataFrame] | None = (
        getattr(module, f"aggregate_{ind.id}", None) or getattr(common, f"aggregate_{ind.id}", None)
    )
    if custom is not None:
        return custom(units, windows)
    return common.aggregate(units, windows)


def evaluate(extracts: Extracts, book: RuleBook, as_of: date) -> RunResult:
    """Run the whole evaluation; no I/O."""
    conventions = extracts.tables["conventions"]
    results: list[ConventionResult] = []
    units_by: dict[tuple[str, str], list[pl.DataFrame]] = {}
    skipped: list[tuple[str, str, str]] = []
    supported = set(book.dispositifs())
    for row in conventions.filter(~pl.col("dispositif").is_in(list(supported))).iter_rows(named=True):
        skipped.append((row["convention_id"], row["dispositif"],
                        "pas encore de règles pour ce dispositif"))
    windows_all = windows_frame(conventions.filter(pl.col("dispositif").is_in(list(supported))), as_of)
    not_started = windows_all.filter(pl.col("eval_end") < pl.col("window_start"))
    for row in not_started.iter_rows(named=True):
        skipped.append((row["convention_id"], row["dispositif"],
                        f"période commençant le {row['period_start'].strftime('%d/%m/%Y')}, "
                        "après la date d'évaluation"))
    windows_all = windows_all.filter(pl.col("eval_end") >= pl.col("window_start"))
    for (dispositif, eval_end), windows in windows_all.group_by(["dispositif", "eval_end"], maintain_order=True):
        p = book.resolve(str(dispositif), eval_end)  # type: ignore[arg-type]
        module = _indicator_functions(str(dispositif))
        per_indicator: dict[str, dict[str, tuple[int, int]]] = {}
        for ind in book.indicators[str(dispositif)].values():
            if ind.kind == "reported":
                continue
            units = getattr(module, ind.id)(extracts.tables, windows, p)
            units_by.setdefault((str(dispositif), ind.id), []).append(units)
            agg = _aggregate(module, ind, units, windows)
            per_indicator[ind.id] = {
                r["convention_id"]: (int(r["numerator"]), int(r["denominator"])) for r in agg.iter_rows(named=True)
            }
        costs: dict[str, dict[str, Any]] = {}
        if p.get("funding_model") == "costs":
            for r in module.eligible_costs(extracts.tables, windows, p).iter_rows(named=True):
                costs[r["convention_id"]] = {k: v for k, v in r.items() if k != "convention_id"}
        reported_fn = getattr(module, "reported", None)
        reported: dict[str, dict[str, Any]] = {}
        if reported_fn is not None:
            for r in reported_fn(extracts.tables, windows, p).iter_rows(named=True):
                reported[r["convention_id"]] = {k: v for k, v in r.items() if k != "convention_id"}
        for row in windows.iter_rows(named=True):
            results.append(_score(book, str(dispositif), row, per_indicator, reported.get(row["convention_id"], {}),
                                  p, as_of, costs.get(row["convention_id"])))
    _decide_and_pay(book, results)
    order = {cid: i for i, cid in enumerate(conventions["convention_id"].to_list())}
    results.sort(key=lambda c: order[c.convention_id])
    units = {key: pl.concat(frames, how="diagonal_relaxed") for key, frames in units_by.items()}
    return RunResult(as_of=as_of, book=book, extracts=extracts, conventions=results, units=units, skipped=skipped)


def _score(book: RuleBook, dispositif: str, row: dict[str, Any],
           per_indicator: Mapping[str, Mapping[str, tuple[int, int]]],
           reported: dict[str, Any], p: Mapping[str, Any], as_of: date,
           costs: dict[str, Any] | None = None) -> ConventionResult:
    cid = row["convention_id"]
    indicators: dict[str, IndicatorResult] = {}
    qual_scores: dict[str, Fraction | None] = {}
    qual_weights: dict[str, Fraction] = {}
    quantitative: Fraction | None = None
    quantitative_evaluable = False
    for ind in book.indicators[dispositif].values():
        if ind.kind == "reported":
            continue
        num, den = per_indicator.get(ind.id, {}).get(cid, (0, 0))
        res = IndicatorResult(id=ind.id, kind=ind.kind, part=ind.part, numerator=num, denominator=den)
        if ind.kind == "rate":
            res.evaluable = den > 0
            res.value = Fraction(num, den) if den else None
            if ind.part == "qualitative":
                res.target = money.frac(p[f"scoring.{ind.id}.target"])
                res.floor = money.frac(p[f"scoring.{ind.id}.floor"])
                res.score = money.rate_score(num, den, res.target, res.floor)
                qual_scores[ind.id] = res.score
                qual_weights[ind.id] = money.frac(p[f"scoring.{ind.id}.weight"])
        else:  # volume
            res.value = Fraction(num, den) if den else Fraction(num)
            per_unit = money.frac(p[ind.target_parameter]) if ind.target_parameter else Fraction(0)
            res.target = _volume_target(ind, row, per_unit)
            res.score = money.volume_score(res.value, res.target)
            res.evaluable = res.score is not None
            if ind.part == "quantitative":
                quantitative, quantitative_evaluable = res.score, res.evaluable
                res.weight = Fraction(1)
        indicators[ind.id] = res
    qualitative, effective = money.weighted_mean(qual_scores, qual_weights)
    for ind_id, weight in effective.items():
        indicators[ind_id].weight = weight
    amount = Decimal(row["amount_eur"]) if row["funding"] == "financement" else Decimal(0)
    if p.get("funding_model") == "costs":
        costs = _cost_based(row, costs or {}, p, amount)
    else:
        costs = {}
    return ConventionResult(
        attrs=row, window_start=row["window_start"], eval_end=row["eval_end"],
        final=as_of >= row["period_end"], indicators=indicators, reported=reported,
        quantitative_score=quantitative, qualitative_score=qualitative,
        quantitative_weight=money.frac(p["quantitative_weight"]),
        qualitative_weight=money.frac(p["qualitative_weight"]),
        amount=amount, earned_exact=Fraction(0), earned=Decimal(0),
        paid=Decimal(row.get("paid_eur") or 0), solde=Decimal(0), flags=[], warnings=[], decisions=[],
        params={"startup_policy": p.get("startup_policy"), "not_evaluable_policy": p.get("not_evaluable_policy"),
                "quantitative_evaluable": quantitative_evaluable, "qualitative_evaluable": qualitative is not None,
                "funding_model": p.get("funding_model", "scores")},
        costs=costs,
    )


def _cost_based(row: Mapping[str, Any], costs: dict[str, Any], p: Mapping[str, Any], amount: Decimal) -> dict[str, Any]:
    """Cost-based funding (framework §5.5): min(amount, share × personnel × (1 + flat_rate)).

    `costs` comes from the dispositif's `eligible_costs` function (its
    `eligible_personnel_eur`: sum of gross cost × allocation over eligible staff).
    """
    personnel = money.frac(costs.get("eligible_personnel_eur") or 0)
    share_name = "department_share_ftj" if row.get("mining_basin") else "department_share_fse"
    share = money.frac(p[share_name])
    flat_rate = money.frac(p["flat_rate"])
    eligible_total = personnel * (1 + flat_rate)
    due = share * eligible_total
    out = dict(costs)
    out.update(eligible_personnel=personnel, flat_rate=flat_rate, eligible_total=eligible_total,
               share_parameter=share_name, share=share, due=due, capped=due > money.frac(amount),
               earned_exact=min(money.frac(amount), due))
    return out


def _volume_target(ind: IndicatorDef, row: Mapping[str, Any], per_unit: Fraction) -> Fraction:
    """Target of a volume indicator (framework §5.3).

    The convention's own `target_column` when it is filled (e.g. `diagnostics_target`), else
    `<target_parameter> × etp`; prorated to the window (days in the window / days in the
    period, both inclusive) when the indicator says `prorate: true`.
    """
    own = row.get(ind.target_column) if ind.target_column else None
    target = Fraction(int(own)) if own is not None else per_unit * money.frac(row["etp"])
    if ind.prorate:
        window_days = max(0, (row["eval_end"] - row["window_start"]).days + 1)
        period_days = (row["period_end"] - row["period_start"]).days + 1
        target = target * Fraction(window_days, period_days)
    return target


def _scalar(value: Any) -> Any:
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float | Decimal | Fraction):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _fact(c: ConventionResult) -> dict[str, Any]:
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


def _apply(c: ConventionResult, outcome: Outcome) -> None:
    c.decisions.extend(outcome.fired)
    c.flags.extend(f for f in outcome.flags if f not in c.flags)
    c.warnings.extend(w for w in outcome.warnings if w not in c.warnings)
    for key, value in outcome.sets.items():
        setattr(c, key, money.frac(str(value)))


def _decide_and_pay(book: RuleBook, results: list[ConventionResult]) -> None:
    facts = {c.convention_id: _fact(c) for c in results}
    outcomes = run_decisions(book.decisions, facts, stage="scoring")
    for c in results:
        _apply(c, outcomes[c.convention_id])
        if c.params["funding_model"] == "costs":
            c.earned_exact = c.costs["earned_exact"]
            c.earned = money.to_cents(c.earned_exact)
        else:
            quantitative = c.quantitative_score if c.quantitative_score is not None else Fraction(0)
            qualitative = c.qualitative_score if c.qualitative_score is not None else Fraction(0)
            c.earned_exact, c.earned = money.earned(c.amount, c.quantitative_weight, quantitative,
                                                    c.qualitative_weight, qualitative)
        c.solde = c.earned - c.paid
    for c in results:
        facts[c.convention_id].update(
            earned_cents=int(c.earned * 100), paid_cents=int(c.paid * 100), solde_cents=int(c.solde * 100),
        )
        if c.costs:
            facts[c.convention_id].update(
                staff_eligible=int(c.costs.get("staff_eligible") or 0),
                staff_ineligible=int(c.costs.get("staff_ineligible") or 0),
                cost_capped=bool(c.costs.get("capped")),
            )
    outcomes = run_decisions(book.decisions, facts, stage="payment")
    for c in results:
        _apply(c, outcomes[c.convention_id])
