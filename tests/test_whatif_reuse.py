"""A what-if re-evaluates only what an edit can change, with results identical to a full run.

`evaluate(..., reuse=baseline)` takes back each indicator (and the costs, the reported
counts) whose parameters read in the baseline have the same values under the edited rules;
everything is compared with a full evaluation of the edited rules: results.json (figures,
scores, decisions, money, traces) and the units frames.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from engine.compute.pipeline import REUSE, evaluate
from engine.compute.whatif import run_whatif
from engine.load.extracts import read_extracts
from engine.load.rules import apply_edits, load_rules
from engine.load.variants import Variant
from engine.model.rulebook import Edit
from engine.present.results_json import results_json

ROOT = Path(__file__).resolve().parent.parent
AS_OF = date(2025, 6, 30)

EDITS = {
    "first appointment delay": [Edit("equilibre.first_appointment_max_days", 10)],
    "decision rule switched off": [Edit("decisions.reversement", False)],
    "dated change in force": [Edit("equilibre.first_appointment_max_days", 5, from_date=date(2025, 3, 1))],
    "dated change not yet in force": [Edit("equilibre.first_appointment_max_days", 5, from_date=date(2026, 1, 1))],
    "scoring target": [Edit("equilibre.scoring.weekly_15h.target", 0.5)],
    "volume target": [Edit("equilibre.portfolio_min_per_etp", 100)],
    "accueil delay and weekly hours": [Edit("accueil.positioning_max_days", 3), Edit("equilibre.weekly_hours_min", 10)],
    "independants": [Edit("independants.diagnostic_min_interviews", 1)],
}


@pytest.fixture(scope="module")
def baseline() -> Any:
    if not (ROOT / "sample_data").is_dir():
        pytest.skip("sample_data/ absent")
    book = load_rules(None)
    return evaluate(read_extracts(ROOT / "sample_data"), book, AS_OF)


def _same_runs(full: Any, fast: Any) -> None:
    assert results_json(fast) == results_json(full)
    assert fast.units.keys() == full.units.keys()
    for key, frame in full.units.items():
        assert fast.units[key].equals(frame), key


@pytest.mark.parametrize("name", list(EDITS))
def test_reuse_gives_the_full_results(baseline: Any, name: str) -> None:
    edited = apply_edits(baseline.book, EDITS[name])
    full = evaluate(baseline.extracts, edited, AS_OF)
    fast = evaluate(baseline.extracts, edited, AS_OF, reuse=baseline)
    _same_runs(full, fast)


def test_only_the_indicators_reading_an_edited_parameter_are_computed(
    baseline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import indicators.equilibre as equilibre

    called: list[str] = []
    for name in ("first_appointment_15d", "weekly_15h", "occupancy"):
        original = getattr(equilibre, name)

        def spy(*args: Any, _original: Any = original, _name: str = name) -> Any:
            called.append(_name)
            return _original(*args)

        monkeypatch.setattr(equilibre, name, spy)
    edited = apply_edits(baseline.book, EDITS["first appointment delay"])
    evaluate(baseline.extracts, edited, AS_OF, reuse=baseline)
    assert set(called) == {"first_appointment_15d"}
    called.clear()
    edited = apply_edits(baseline.book, EDITS["decision rule switched off"])
    evaluate(baseline.extracts, edited, AS_OF, reuse=baseline)
    assert called == []


def test_reuse_needs_the_same_extracts_and_date(baseline: Any) -> None:
    other = read_extracts(ROOT / "sample_data")
    edited = apply_edits(baseline.book, EDITS["first appointment delay"])
    assert getattr(baseline, REUSE)
    _same_runs(evaluate(other, edited, AS_OF), evaluate(other, edited, AS_OF, reuse=baseline))
    earlier = date(2025, 3, 31)
    _same_runs(evaluate(baseline.extracts, edited, earlier),
               evaluate(baseline.extracts, edited, earlier, reuse=baseline))


def test_run_whatif_equals_two_full_runs(baseline: Any) -> None:
    variant = Variant(name="x", edits=tuple(EDITS["dated change in force"] + EDITS["decision rule switched off"]))
    result = run_whatif(baseline.extracts, baseline.book, AS_OF, variant)
    edited = apply_edits(baseline.book, variant.edits)
    _same_runs(evaluate(baseline.extracts, edited, AS_OF), result.variant)
