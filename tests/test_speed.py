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
