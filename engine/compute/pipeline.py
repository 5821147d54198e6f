"""One evaluation run: extracts + rules + as-of date → indicators, decisions, money.

The pipeline, for every dispositif that has rules:
1. windows: each convention's `[period_start, eval_end]`, `eval_end = min(as_of, period_end)`;
2. parameters in force on each convention's `eval_end` (conventions sharing an `eval_end`
   are computed together), handed out through a `RecordingParams` that logs every read;
3. indicators: `indicators/<dispositif>.py`, one function per indicator id of the rules,
   each returning the units it counted (kept for explanations), aggregated per convention;
4. scores (`engine.compute.scoring`), then the decision rules of stage `scoring`;
5. money (`engine.compute.funding`, the model named by `funding_model`), then the decision
   rules of stage `payment`.

Each step is recorded in the convention's trace (`engine.model.trace`) as it is taken.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from types import ModuleType
from typing import Any

import polars as pl

from engine.compute import facts as decision_facts
from engine.compute.funding import MODELS
from engine.compute.funding.costs import cost_chain
from engine.compute.funding.scores import line_amount
from engine.compute.scoring import score_convention
from engine.decisions.backend import run_decisions
from engine.model import money
from engine.model.extracts import Extracts
from engine.model.results import ConventionResult, RunResult
from engine.model.rulebook import IndicatorDef, RuleBook
from engine.model.trace import ConventionTrace, MoneyStep, RecordingParams
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


def recording_params(book: RuleBook, dispositif: str, when: date) -> RecordingParams:
    """The parameters of `dispositif` in force on `when`, logging every read."""
    values = book.resolve(dispositif, when)
    since = {p.name: p.since(when) for p in book.params.values() if p.dispositif == dispositif}
    return RecordingParams(dispositif, values, since)


def _by_convention(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    rows = frame.iter_rows(named=True)
    return {r["convention_id"]: {k: v for k, v in r.items() if k != "convention_id"} for r in rows}


REUSE = "_computed"
"""Attribute of a `RunResult` holding what `evaluate(..., reuse=run)` may take back: per
(dispositif, eval_end, computation), the parameter paths it read, their values, and its
result (an indicator's units and per-convention figures, the costs, the reported counts)."""


class _Reuse:
    """The computations of a previous run on the same extracts and date, taken back when they read the same values."""

    def __init__(self, previous: RunResult | None, extracts: Extracts, as_of: date, book: RuleBook):
        usable = (previous is not None and previous.extracts is extracts and previous.as_of == as_of
                  and previous.book.indicators == book.indicators)
        self.before: dict[tuple[Any, ...], tuple[list[str], dict[str, Any], Any]] = (
            getattr(previous, REUSE, {}) if usable else {}
        )
        self.now: dict[tuple[Any, ...], tuple[list[str], dict[str, Any], Any]] = {}

    def call(self, key: tuple[Any, ...], p: RecordingParams, values: Mapping[str, Any],
             compute: Callable[[], Any]) -> tuple[Any, list[str]]:
        """`compute()` under a recording scope, or its previous result when every parameter it read is unchanged.

        A computation reads its parameters through `p` only, so the same values read give the
        same result (a dated edit counts by the value in force on the group's `eval_end`). The
        reads are replayed on `p`, so that the trace records them (with their `since`) as if computed.
        """
        hit = self.before.get(key)
        prefix = len(p.dispositif) + 1
        if hit is not None:
            paths, seen, result = hit
            if all(_same(values.get(path[prefix:], _MISSING), value) for path, value in seen.items()):
                with p.recording() as read:
                    for path in paths:
                        p[path[prefix:]]
                self.now[key] = hit
                return result, read
        with p.recording() as read:
            result = compute()
        self.now[key] = (list(read), {path: values.get(path[prefix:], _MISSING) for path in read}, result)
        return result, read


_MISSING = object()


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and bool(a == b)


def evaluate(extracts: Extracts, book: RuleBook, as_of: date, *, reuse: RunResult | None = None) -> RunResult:
    """Run the whole evaluation; no I/O.

    `reuse`: a run on the same extracts (the same object) and date, e.g. the baseline of a
    what-if. Each indicator (and the costs, the reported counts) whose parameters read in
    that run have the same values under `book` is taken from it instead of computed again;
    scores, decisions and money are always computed. The result is the same as without `reuse`.
    """
    cache = _Reuse(reuse, extracts, as_of, book)
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
        dispositif = str(dispositif)
        when: date = eval_end  # type: ignore[assignment]
        values = book.resolve(dispositif, when)
        since = {q.name: q.since(when) for q in book.params.values() if q.dispositif == dispositif}
        p = RecordingParams(dispositif, values, since)
        module = INDICATOR_MODULES[dispositif]
        per_indicator: dict[str, dict[str, tuple[int, int]]] = {}
        read_by: dict[str, list[str]] = {}
        for ind in book.indicators[dispositif].values():
            if ind.kind == "reported":
                continue

            def indicator(ind: IndicatorDef = ind, module: ModuleType = module,
                          windows: pl.DataFrame = windows, p: RecordingParams = p) -> Any:
                units = getattr(module, ind.id)(extracts.tables, windows, p)
                agg = _aggregate(module, ind, units, windows)
                figures = {r["convention_id"]: (int(r["numerator"]), int(r["denominator"]))
                           for r in agg.iter_rows(named=True)}
                return units, figures

            (units, per_indicator[ind.id]), read_by[ind.id] = cache.call(
                (dispositif, when, "indicator", ind.id), p, values, indicator)
            units_by.setdefault((dispositif, ind.id), []).append(units)
        costs: dict[str, dict[str, Any]] = {}
        cost_reads: list[str] = []
        with p.recording() as policy:
            funding_model = str(p["funding_model"])
        if funding_model == "costs":
            def eligible(module: ModuleType = module, windows: pl.DataFrame = windows,
                         p: RecordingParams = p) -> dict[str, dict[str, Any]]:
                return _by_convention(module.eligible_costs(extracts.tables, windows, p))

            costs, cost_reads = cache.call((dispositif, when, "costs"), p, values, eligible)
        reported_fn = getattr(module, "reported", None)
        reported: dict[str, dict[str, Any]] = {}
        if reported_fn is not None:
            def counts(fn: Callable[..., pl.DataFrame] = reported_fn, windows: pl.DataFrame = windows,
                       p: RecordingParams = p) -> dict[str, dict[str, Any]]:
                return _by_convention(fn(extracts.tables, windows, p))

            reported, read = cache.call((dispositif, when, "reported"), p, values, counts)
            for ind in book.indicators[dispositif].values():
                if ind.kind == "reported":
                    read_by[ind.id] = read
            policy = [*policy, *read]  # the reported figures are decision facts too
        for row in windows.iter_rows(named=True):
            results.append(_score(book, dispositif, row, per_indicator, read_by, reported.get(row["convention_id"], {}),
                                  p, as_of, funding_model, policy, costs.get(row["convention_id"]), cost_reads))
    _decide_and_pay(book, results)
    order = {cid: i for i, cid in enumerate(conventions["convention_id"].to_list())}
    results.sort(key=lambda c: order[c.convention_id])
    units = {key: pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
             for key, frames in units_by.items()}
    run = RunResult(as_of=as_of, book=book, extracts=extracts, conventions=results, units=units, skipped=skipped)
    setattr(run, REUSE, cache.now)
    return run


def _score(book: RuleBook, dispositif: str, row: dict[str, Any],
           per_indicator: Mapping[str, Mapping[str, tuple[int, int]]], read_by: Mapping[str, list[str]],
           reported: dict[str, Any], p: RecordingParams, as_of: date, funding_model: str, policy: list[str],
           costs: dict[str, Any] | None, cost_reads: list[str]) -> ConventionResult:
    scores = score_convention(book.indicators[dispositif], row, per_indicator, reported, p, read_by)
    trace = ConventionTrace()
    with p.recording() as weights_read:
        quantitative_weight = money.frac(p["quantitative_weight"])
        qualitative_weight = money.frac(p["qualitative_weight"])
    with p.recording() as read:
        startup_policy = p.get("startup_policy")
        not_evaluable_policy = p.get("not_evaluable_policy")
    policy = [*policy, *weights_read, *read]
    amount, amount_step = line_amount(row, p)
    trace.money.append(amount_step)
    cost_figures: dict[str, Any] = {}
    if funding_model == "costs":
        cost_figures, steps = cost_chain(row, costs or {}, p, amount, cost_reads)
        trace.money.extend(steps)
    quantitative = scores.quantitative
    trace.qualitative = scores.qualitative
    trace.computed = {"quantitative_score": quantitative, "quantitative_indicator": scores.quantitative_indicator,
                      "qualitative_score": scores.qualitative.score,
                      "quantitative_weight": quantitative_weight, "qualitative_weight": qualitative_weight,
                      "weight_parameters": tuple(weights_read), "policy_parameters": tuple(policy)}
    paths = [path for res in scores.indicators.values() for path in res.parameters]
    paths += [path for step in trace.money for path in step.parameters] + policy
    trace.parameters = p.reads(list(dict.fromkeys(paths)))
    return ConventionResult(
        attrs=row, window_start=row["window_start"], eval_end=row["eval_end"],
        final=as_of >= row["period_end"], indicators=scores.indicators, reported=dict(reported),
        quantitative_score=quantitative, qualitative_score=scores.qualitative.score,
        quantitative_weight=quantitative_weight, qualitative_weight=qualitative_weight,
        amount=amount, earned_exact=money.frac(0), earned=Decimal(0),
        paid=Decimal(row.get("paid_eur") or 0), solde=Decimal(0), flags=[], warnings=[], decisions=[],
        params={"startup_policy": startup_policy, "not_evaluable_policy": not_evaluable_policy,
                "quantitative_evaluable": quantitative is not None,
                "qualitative_evaluable": scores.qualitative.score is not None,
                "funding_model": funding_model},
        costs=cost_figures, trace=trace,
    )


def _decide_and_pay(book: RuleBook, results: list[ConventionResult]) -> None:
    rules = {r.id: r for r in book.decisions}
    facts = {c.convention_id: decision_facts.scoring_fact(c) for c in results}
    outcomes = run_decisions(book.decisions, facts, stage="scoring")
    for c in results:
        decision_facts.record(c, outcomes[c.convention_id], rules, "scoring", facts[c.convention_id])
        MODELS[c.params["funding_model"]](c)
        c.solde = c.earned - c.paid
        c.trace.money.append(MoneyStep("solde", {"earned": c.earned, "paid": c.paid}, c.solde))
    payment = {c.convention_id: decision_facts.payment_fact(c, facts[c.convention_id]) for c in results}
    outcomes = run_decisions(book.decisions, payment, stage="payment")
    for c in results:
        decision_facts.record(c, outcomes[c.convention_id], rules, "payment", payment[c.convention_id])
