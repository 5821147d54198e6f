"""Every figure of results.json on sample_data/ is the one the engine gave before the layers
and the trace (tests/golden/sample_figures.json, written by the flat engine of commit 58f1938).

What moved, on purpose (issue 9, output contract): the reported-only indicators now sit under
`indicators` (`kind: reported`, `evaluable`, `value`, and `numerator`/`denominator` for a
ratio or a mean, no score); the two halves of the mean first-appointment delay left
`reported` for `indicators.mean_first_appointment_delay_days`. Added (extensions, not
changes): each indicator's `parameters` (paths read) and `raw_score_exact`, and each
convention's `trace`. Everything else is compared as it was, key by key, for every
convention at three as-of dates.

The whole year (issue 14): sample_data/ now runs to each convention's period end (extract
date 2025-12-31; every row an extract at 2025-09-30 held is kept as it was, the activity of
the last quarter added after it: `parcours generate … --kept-until 2025-09-30`). Every
figure at 2025-03-31 and 2025-06-30 is unchanged; only the entry 2025-12-31 of the golden
file was regenerated (the final run now sees the last quarter). `inputs` (rows read per
table) are those of the whole-year extract, the same at every as-of date: they are compared
with the 2025-12-31 entry (the two earlier entries keep the counts of the extract they were
written from).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from engine.compute.pipeline import evaluate
from engine.load.extracts import read_extracts
from engine.load.rules import load_rules
from engine.present.results_json import results_json

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = json.loads((ROOT / "tests" / "golden" / "sample_figures.json").read_text(encoding="utf-8"))
MEAN = "mean_first_appointment_delay_days"
ADDED = {"parameters", "raw_score_exact"}


@pytest.fixture(scope="module")
def extracts():
    return read_extracts(ROOT / "sample_data")


@pytest.mark.parametrize("as_of", sorted(GOLDEN))
def test_every_figure_is_unchanged(extracts, as_of: str) -> None:
    before = GOLDEN[as_of]
    after = results_json(evaluate(extracts, load_rules(), date.fromisoformat(as_of)))
    assert after["skipped"] == before["skipped"]
    assert after["inputs"] == GOLDEN["2025-12-31"]["inputs"]
    now = {c["convention_id"]: c for c in after["conventions"]}
    assert list(now) == list(before["conventions"]) or sorted(now) == sorted(before["conventions"])
    compared = 0
    for cid, old in before["conventions"].items():
        new = now[cid]
        for key, value in old.items():
            if key == "indicators":
                for ind_id, figures in value.items():
                    now_figures = new["indicators"][ind_id]
                    assert set(now_figures) - set(figures) <= ADDED, (as_of, cid, ind_id)
                    assert {k: now_figures[k] for k in figures} == figures, (as_of, cid, ind_id)
                    compared += 1
            elif key == "reported":
                moved = {f"{MEAN}_numerator", f"{MEAN}_denominator"}
                assert {k: v for k, v in value.items() if k not in moved} == new["reported"], (as_of, cid)
                if f"{MEAN}_numerator" in value:
                    mean = new["indicators"][MEAN]
                    assert (mean["numerator"], mean["denominator"]) == (
                        value[f"{MEAN}_numerator"], value[f"{MEAN}_denominator"])
                    assert mean["kind"] == "reported" and "score" not in mean and "weight" not in mean
            else:
                assert new[key] == value, (as_of, cid, key)
            compared += 1
    assert compared > 500
