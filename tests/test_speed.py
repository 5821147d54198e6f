"""The fast paths taken for speed give the same answers as the exact ones."""

from __future__ import annotations

from datetime import date

import polars as pl

from engine.load.extracts import SOURCE_LINE, _duplicates, _runs_increasing

KEY = ["episode_id", "week_start"]


def _weeks(rows: list[tuple[str | None, date | None]]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema={"episode_id": pl.String, "week_start": pl.Date}, orient="row")
    return frame.with_row_index(SOURCE_LINE, offset=2).with_columns(pl.col(SOURCE_LINE).cast(pl.Int64))


def test_grouped_rows_in_any_episode_order_have_no_duplicate() -> None:
    rows = [("E10", date(2025, 1, 6)), ("E10", date(2025, 1, 13)), ("E2", date(2025, 1, 6)), ("E1", date(2025, 1, 6))]
    frame = _weeks(rows)
    assert _runs_increasing(frame, KEY)
    assert not _duplicates(frame, KEY).any()


def test_an_episode_coming_back_later_is_checked_exactly() -> None:
    rows = [("E1", date(2025, 1, 6)), ("E2", date(2025, 1, 6)), ("E1", date(2025, 1, 6)), ("E1", date(2025, 1, 13))]
    frame = _weeks(rows)
    assert not _runs_increasing(frame, KEY)
    assert _duplicates(frame, KEY).to_list() == [False, False, True, False]


def test_a_repeated_week_inside_a_run_is_a_duplicate() -> None:
    rows = [("E1", date(2025, 1, 6)), ("E1", date(2025, 1, 6)), ("E2", date(2025, 1, 6))]
    frame = _weeks(rows)
    assert not _runs_increasing(frame, KEY)
    assert _duplicates(frame, KEY).to_list() == [False, True, False]


def test_missing_key_parts_are_never_duplicates() -> None:
    rows = [(None, date(2025, 1, 6)), ("E1", None), (None, date(2025, 1, 6)), ("E1", None)]
    frame = _weeks(rows)
    assert not _duplicates(frame, KEY).any()


def test_a_national_page_aggregates_and_lists_the_conventions_most_at_stake(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import copy
    from pathlib import Path

    from engine.compute.pipeline import evaluate
    from engine.load.extracts import read_extracts
    from engine.load.rules import load_rules
    from engine.present.page import PAGE_CONVENTIONS, render_html
    from engine.present.results_json import results_json
    from engine.present.workbook import params_table

    root = Path(__file__).resolve().parent.parent
    book = load_rules(None)
    run = evaluate(read_extracts(root / "sample_data"), book, date(2025, 6, 30))
    results = results_json(run)
    many = []
    for d in range(40):  # 40 départements of the sample's conventions
        for c in results["conventions"]:
            c = copy.deepcopy(c)
            c["convention_id"] = f"D{d:02d}-{c['convention_id']}"
            c["territory"] = f"D{d:02d} {c['territory']}"
            many.append(c)
    national = {**results, "conventions": many}
    page = render_html(national, params=params_table(book, run.as_of))
    assert len(page.encode()) < 2_000_000
    assert "Plotly.newPlot" not in page and "plotly.js" not in page.lower()[:2000]
    assert f"Les {PAGE_CONVENTIONS} conventions aux soldes les plus élevés" in page
    from engine.model import format as fr

    assert f"Les {fr.integer(len(many) - PAGE_CONVENTIONS)} autres conventions" in page
    assert "Par territoire" in page and "Par structure" in page and "Par dispositif" in page
    # a department's page is unchanged: one bar per convention, plotly charts
    assert "Plotly.newPlot" in render_html(results, params=params_table(book, run.as_of))
