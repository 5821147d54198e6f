"""Indicators of `participants` — actions funded for a number of participants or families.

Source: deliberation n°2024-587: coaching familial (« accompagner 50 familles », L164-172),
Accompagner autrement 3.16 (« l'accompagnement de 100 personnes », L184-186), Actions
d'insertion innovantes 3.14 (« 170 personnes », L188-190), FAJ collectif 4.1 (L198-200);
the number per line is in Annexe 4 (L240-255) and in the conventions' `participants_target`.
Definitions in `framework.md` §5.3; as-of replay §5.1: an entry after `eval_end` has not
happened yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from indicators.common import finish_units, in_window, table, window_frame

Tables = Mapping[str, pl.DataFrame]
Params = Mapping[str, Any]


def _entries_in_window(tables: Tables, windows: pl.DataFrame) -> pl.LazyFrame:
    """Entries of the window conventions with `entry_date` in `[window_start, eval_end]`."""
    return (
        table(tables, "participants")
        .select("participant_id", "convention_id", "entry_date")
        .join(window_frame(windows), on="convention_id", how="inner")
        .filter(in_window(pl.col("entry_date")))
    )


def participants_volume(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Nombre de participants: distinct participants with `entry_date` in the window (§5.3).

    Units are the distinct `participant_id` of each convention with at least one entry in
    the window (a participant entering twice counts once); numerator 1, denominator 0 (a
    volume: value = sum of numerators). The target (`participants_target` prorated to the
    window) is computed by the scoring from the rules.
    """
    units = (
        _entries_in_window(tables, windows)
        .group_by("convention_id", "participant_id")
        .agg(
            first_entry_date=pl.col("entry_date").min(),
            entries_in_window=pl.len().cast(pl.Int64),
        )
        .with_columns(
            unit=pl.col("participant_id"),
            numerator=pl.lit(1, pl.Int64),
            denominator=pl.lit(0, pl.Int64),
        )
    )
    return finish_units(units, ["first_entry_date", "entries_in_window"])


def reported(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Reported-only counts of `participants`, one row per convention of `windows` (Int64).

    `entries`: entry rows dated in the window; `participants`: distinct participants among
    them (the value of `participants_volume`); `repeat_entries = entries - participants`.
    """
    per_convention = (
        _entries_in_window(tables, windows)
        .group_by("convention_id")
        .agg(
            entries=pl.len().cast(pl.Int64),
            participants=pl.col("participant_id").n_unique().cast(pl.Int64),
        )
    )
    return (
        windows.lazy()
        .select("convention_id")
        .join(per_convention, on="convention_id", how="left", maintain_order="left")
        .with_columns(pl.col("entries", "participants").fill_null(0).cast(pl.Int64))
        .with_columns(repeat_entries=pl.col("entries") - pl.col("participants"))
        .collect()
    )
