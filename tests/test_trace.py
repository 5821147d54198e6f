"""The trace recorded while computing agrees with every figure of the run.

On every convention of sample_data/ (two as-of dates) and of freshly generated data: each
indicator's fraction is the sum of its recorded units, each score follows from its
recorded step, the qualitative mean from its recorded terms, the earned amount and the
solde from their recorded money steps, to the cent, and `results.json` and `explain`
show those same values. Parameters recorded as read hold the value the rules give on the
convention's evaluation date.
"""

from __future__ import annotations

import shutil
from datetime import date
from fractions import Fraction
from pathlib import Path

import polars as pl
import pytest

from engine.compute.pipeline import evaluate
from engine.load.extracts import read_extracts
from engine.load.rules import apply_edits, load_rules, parse_set
from engine.model import money
from engine.model.results import ConventionResult, RunResult
from engine.present.explain import explain
from engine.present.results_json import results_json
from engine.synthetic.generate import generate, read_conventions

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    for name in ("conventions.csv", "budget_lines.csv", "stated_totals.csv"):
        shutil.copy(ROOT / "sample_data" / name, folder / name)
    generate(read_conventions(folder / "conventions.csv"), folder, seed=7, scale=0.3)
    return folder


def _runs(generated: Path) -> list[RunResult]:
    sample = read_extracts(ROOT / "sample_data")
    other = read_extracts(generated)
    book = load_rules()
    edited = apply_edits(book, [parse_set("equilibre.first_appointment_max_days=10"),
                                parse_set("decisions.startup_neutralise_quantitative=false")])
    return [evaluate(sample, book, date(2025, 6, 30)), evaluate(sample, book, date(2025, 12, 31)),
            evaluate(other, book, date(2025, 9, 30)), evaluate(sample, edited, date(2025, 6, 30))]


def _check_indicators(run: RunResult, c: ConventionResult) -> None:
    for res in c.indicators.values():
        units = run.units.get((c.attrs["dispositif"], res.id))
        if res.kind == "rate" and units is not None:
            own = units.filter(pl.col("convention_id") == c.convention_id)
            assert (res.numerator, res.denominator) == (int(own["numerator"].sum()), int(own["denominator"].sum()))
        if res.kind == "rate":
            assert res.value == (Fraction(res.numerator, res.denominator) if res.denominator else None)
            if res.raw_score is not None:
                assert res.raw_score == (res.value - res.floor) / (res.target - res.floor)
                assert res.score == min(Fraction(1), max(Fraction(0), res.raw_score))
                assert res.clamp == ("floor" if res.raw_score < 0 else "cap" if res.raw_score > 1 else None)
        if res.kind == "volume" and res.evaluable:
            assert res.raw_score == res.value / res.target and res.score == min(Fraction(1), res.raw_score)
            rule = res.target_rule
            base = Fraction(rule["column_value"]) if rule["base"] == "column" else rule["per_etp"] * rule["etp"]
            if "window_days" in rule:
                base *= Fraction(rule["window_days"], rule["period_days"])
            assert base == res.target
        for path in res.parameters:
            read = c.trace.parameters[path]
            assert read.value == run.book.params[path].at(c.eval_end)
            assert read.since == run.book.params[path].since(c.eval_end)


def _check_money(c: ConventionResult) -> None:
    steps = {s.id: s for s in c.trace.money}
    assert [s.id for s in c.trace.money][-1] == "solde"
    q = c.trace.qualitative
    assert q is not None
    evaluable = [t for t in q.terms if t.evaluable]
    if evaluable:
        assert sum((t.weight for t in evaluable), Fraction(0)) == 1
        assert q.score == sum((t.weight * t.score for t in evaluable), Fraction(0))
    if c.params["funding_model"] == "scores":
        for figure in ("quantitative_score", "qualitative_score", "quantitative_weight", "qualitative_weight"):
            step = steps[figure]
            assert step.result == getattr(c, figure)
            if step.set_by is None:
                assert step.result == step.inputs["computed"]
            else:
                assert step.set_by in c.decisions
        i = steps["earned"].inputs
        exact = money.frac(i["amount"]) * (i["quantitative_weight"] * i["quantitative_score"]
                                           + i["qualitative_weight"] * i["qualitative_score"])
        assert i["amount"] == c.amount
    else:
        due = steps["due"]
        assert due.result == due.inputs["share"] * due.inputs["eligible_total"]
        total = steps["eligible_total"]
        assert total.result == total.inputs["eligible_personnel"] * (1 + total.inputs["flat_rate"])
        earned = steps["earned"]
        cap = earned.inputs["cap_at_amount"]
        exact = min(money.frac(earned.inputs["amount"]), due.result) if cap else due.result
    assert steps["earned"].result["exact"] == exact == c.earned_exact
    assert steps["earned"].result["cents"] == money.to_cents(exact) == c.earned
    solde = steps["solde"]
    assert solde.result == solde.inputs["earned"] - solde.inputs["paid"] == c.solde


def test_trace_agrees_with_every_figure(generated: Path) -> None:
    checked = 0
    for run in _runs(generated):
        document = {c["convention_id"]: c for c in results_json(run)["conventions"]}
        for c in run.conventions:
            _check_indicators(run, c)
            _check_money(c)
            assert [d.rule for d in c.trace.decisions] == c.decisions
            out = document[c.convention_id]
            assert out["earned_eur"] == money.euros(c.trace.money_step("earned").result["cents"])
            assert out["solde_eur"] == money.euros(c.trace.money_step("solde").result)
            data = explain(run, c.convention_id)
            assert [s["id"] for s in data["money"]["steps"]] == [s.id for s in c.trace.money]
            for ind in data["indicators"]:
                assert [p["path"] for p in ind["parameters"]] == list(c.indicators[ind["id"]].parameters)
                assert ind["score"]["exact"] == money.fraction_text(c.indicators[ind["id"]].score)
            assert [d["id"] for d in data["decisions"]] == c.decisions
            checked += 1
    assert checked > 100


def test_decisions_record_the_facts_they_matched() -> None:
    run = evaluate(read_extracts(ROOT / "sample_data"), load_rules(), date(2025, 6, 30))
    steps = [s for c in run.conventions for s in c.trace.decisions]
    assert steps
    for c in run.conventions:
        for step in c.trace.decisions:
            fact = c.trace.facts[step.stage]
            assert step.matched and all(fact.get(k) == v for k, v in step.matched.items())
    valorisation = [s for s in steps if s.rule == "valorisation_line"]
    assert valorisation and all(s.matched["funding"] == "valorisation" for s in valorisation)
