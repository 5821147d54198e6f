"""Every code a person sees has a French label in rules/labels.yaml (issue 10).

Decision ids (« Règles appliquées »), code values of the parameters (criteria, options),
extract tables, dispositifs, stages and the reported counts of the sample run.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from engine.load.rules import load_rules
from engine.model.contract import TABLES

ROOT = Path(__file__).resolve().parent.parent


def test_rules_codes_have_labels() -> None:
    book = load_rules()
    labels = book.code_labels
    assert {d.id for d in book.decisions} <= set(labels["decisions"])
    assert {d.stage for d in book.decisions} <= set(labels["stages"])
    assert set(book.indicators) <= set(labels["dispositifs"])
    assert set(TABLES) <= set(labels["tables"])
    values: set[str] = set()
    for param in book.params.values():
        for _, value in param.values:
            items = value if isinstance(value, list | tuple) else [value]
            values |= {v for v in items if isinstance(v, str) and not v.isdigit()}
        values |= {c for c in param.choices or () if not c.isdigit()}
    assert values <= set(labels["values"]), sorted(values - set(labels["values"]))
    assert all(len(f"Var. {label}") <= 31 for label in labels["dispositifs"].values())


def test_reported_counts_have_labels() -> None:
    if not (ROOT / "sample_data").is_dir():
        pytest.skip("sample_data/ absent")
    from engine.compute.pipeline import evaluate
    from engine.load.extracts import read_extracts

    book = load_rules()
    run = evaluate(read_extracts(ROOT / "sample_data"), book, date(2025, 6, 30))
    counts = {k for c in run.conventions for k in c.reported}
    assert counts <= set(book.code_labels["counts"]), sorted(counts - set(book.code_labels["counts"]))
