"""Domain code lists are parameters: the indicators read them from `p`, not from Python.

Each list (statuses counted as honoured or realised, the final-review purpose, the phases
with a monthly interview rhythm) is a dated `codes` parameter with a source; changing it with
`--set` changes the figures it governs, and the shipped values give the figures of before.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from engine.compute.pipeline import evaluate
from engine.load.extracts import read_extracts
from engine.load.rules import apply_edits, load_rules, parse_set
from engine.model.extracts import Extracts
from engine.model.results import RunResult

ROOT = Path(__file__).resolve().parent.parent
AS_OF = date(2025, 12, 31)
CODE_LISTS = {
    "accueil.realised_statuses": ("realise",),
    "equilibre.honoured_statuses": ("honore",),
    "equilibre.final_review_purposes": ("bilan_final",),
    "independants.honoured_statuses": ("honore",),
    "independants.monthly_interview_phases": ("developpement", "cessation"),
}


@pytest.fixture(scope="module")
def extracts() -> Extracts:
    return read_extracts(ROOT / "sample_data")


@pytest.fixture(scope="module")
def baseline(extracts: Extracts) -> RunResult:
    return evaluate(extracts, load_rules(), AS_OF)


def _figures(run: RunResult, dispositif: str) -> dict[str, Any]:
    return {c.convention_id: ({k: (i.numerator, i.denominator, i.value) for k, i in c.indicators.items()},
                              dict(c.reported), c.earned)
            for c in run.conventions if c.attrs["dispositif"] == dispositif}


def test_code_lists_are_dated_parameters_with_choices_and_sources() -> None:
    book = load_rules()
    for path, value in CODE_LISTS.items():
        param = book.param(path)
        assert param.type == "codes" and param.choices, path
        assert set(value) <= set(param.choices), path
        assert param.at(AS_OF) == value, path
        assert param.source.get("quote") and param.description, path


def test_no_code_literal_is_compared_in_the_indicators() -> None:
    """The codes now in parameters are no longer written in the indicator functions."""
    pattern = re.compile(r'== "(honore|realise|bilan_final)"|\["developpement", "cessation"\]')
    for file in sorted((ROOT / "indicators").glob("*.py")):
        assert not pattern.search(file.read_text(encoding="utf-8")), file.name


@pytest.mark.parametrize(("option", "dispositif", "changed"), [
    ("accueil.realised_statuses=realise,absent", "accueil", "diagnostics"),
    ("equilibre.honoured_statuses=honore,absent", "equilibre", "physical_meetings"),
    ("equilibre.final_review_purposes=suivi", "equilibre", "exits_without_bilan_final"),
    ("independants.honoured_statuses=absent", "independants", "monthly_interviews"),
    ("independants.monthly_interview_phases=developpement", "independants", "monthly_interviews"),
])
def test_each_code_list_governs_its_figures(extracts: Extracts, baseline: RunResult, option: str,
                                            dispositif: str, changed: str) -> None:
    edited = evaluate(extracts, apply_edits(load_rules(), [parse_set(option)]), AS_OF)
    before, after = _figures(baseline, dispositif), _figures(edited, dispositif)
    assert before != after, option

    def value(figures: dict[str, Any], cid: str) -> Any:
        indicators, reported, _ = figures[cid]
        return indicators.get(changed, reported.get(changed))

    assert any(value(before, cid) != value(after, cid) for cid in before), (option, changed)
