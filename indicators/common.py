"""Shared helpers of the indicators: parameters, as-of replay, calendar arithmetic, aggregation.

The time conventions are those of `framework.md` §5.1:

- the evaluation window of a convention is `[window_start, eval_end]`, both ends included;
- as-of replay: every dated fact after `eval_end` is ignored (an exit after it is no exit yet,
  an appointment after it did not happen, a contract signed after it does not exist);
- days are counted inclusively, months are calendar months clamped to the month's end
  (polars `dt.offset_by("<n>mo")`: 31 Jan + 1 month = 28/29 Feb), weeks run Monday to Sunday.

An indicator function returns a *units* frame: one row per counted unit with
`convention_id`, `unit`, `numerator`, `denominator` (Int64) and detail columns;
`aggregate` / `aggregate_occupancy` turn it into one row per convention of the windows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import polars as pl

from engine.model.contract import TABLES

#: The columns every units frame starts with.
UNIT_COLUMNS: tuple[str, ...] = ("convention_id", "unit", "numerator", "denominator")


# --------------------------------------------------------------------------- parameters


def param_int(p: Mapping[str, Any], key: str) -> int:
    """Return parameter `key` as an int (a day, month or meeting count)."""
    value = p[key]
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"paramètre `{key}` : un nombre entier est attendu, reçu {value!r}")
    return int(value)


def param_hours(p: Mapping[str, Any], key: str) -> float:
    """Return an hours parameter as a float, the dtype of the `hours` columns it is compared with.

    Hours never turn into money: they are only compared with thresholds.
    """
    value = p[key]
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"paramètre `{key}` : un nombre d'heures est attendu, reçu {value!r}")
    return float(value)


def param_decimal(p: Mapping[str, Any], key: str) -> Decimal:
    """Return a parameter that takes part in exact arithmetic (e.g. with an ETP) as a Decimal."""
    value = p[key]
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"paramètre `{key}` : un nombre est attendu, reçu {value!r}")
    return Decimal(str(value))


def param_codes(p: Mapping[str, Any], key: str) -> list[str]:
    """Return a list-of-codes parameter as a list of strings."""
    value = p[key]
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"paramètre `{key}` : une liste de codes est attendue, reçu {value!r}")
    return [str(v) for v in value]


# --------------------------------------------------------------------------- calendar


def add_days(date: pl.Expr, days: int | pl.Expr) -> pl.Expr:
    """`date` plus `days` calendar days.

    Computed on the physical day number (Int32 days since 1970-01-01): much faster than
    adding a polars Duration, same result.
    """
    if not isinstance(days, pl.Expr):
        days = pl.lit(days, pl.Int32)
    return (date.cast(pl.Int32) + days.cast(pl.Int32)).cast(pl.Date)


def add_months(date: pl.Expr, months: int | pl.Expr) -> pl.Expr:
    """`date` plus `months` calendar months, clamped to the month's end (§5.1).

    31 Jan + 1 month = 28 Feb (29 in a leap year); 29 Feb 2024 + 12 months = 28 Feb 2025.
    """
    if isinstance(months, int):
        return date.dt.offset_by(f"{months}mo")
    return date.dt.offset_by(pl.format("{}mo", months))


def days_between(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """`end - start` in days (Int64); null when either date is null."""
    return (end - start).dt.total_days().cast(pl.Int64)


def inclusive_days(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """Count the days of `[start, end]`, both included; 0 when the span is empty (§5.1)."""
    return pl.max_horizontal(days_between(start, end) + 1, pl.lit(0, pl.Int64))


def first_monday_on_or_after(date: pl.Expr) -> pl.Expr:
    """Return the first Monday on or after `date` (polars weekday: Monday = 1 … Sunday = 7)."""
    shift = ((8 - date.dt.weekday().cast(pl.Int64)) % 7).cast(pl.Int64)
    return add_days(date, shift)


def whole_months(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """Count the whole calendar months elapsed in `[start, end]` (both included), as Int64.

    It is the largest `n >= 0` with `start + n months <= end + 1 day` (clamped months, §5.1):
    15 Jan – 14 Apr holds 3 months, 15 Jan – 13 Apr holds 2, 1 Jan – 31 Mar holds 3.
    0 when the span is empty.
    """
    after_end = add_days(end, 1)

    def month_index(d: pl.Expr) -> pl.Expr:
        return d.dt.year().cast(pl.Int64) * 12 + d.dt.month().cast(pl.Int64)

    n0 = month_index(after_end) - month_index(start)
    overshoot = (add_months(start, n0) > after_end).cast(pl.Int64)
    return pl.max_horizontal(n0 - overshoot, pl.lit(0, pl.Int64))


def in_window(date: pl.Expr) -> pl.Expr:
    """`date` lies in the evaluation window `[window_start, eval_end]` (both included)."""
    return date.is_between(pl.col("window_start"), pl.col("eval_end"), closed="both")


# --------------------------------------------------------------------------- as-of inputs


def table(tables: Mapping[str, pl.DataFrame], name: str) -> pl.LazyFrame:
    """Table `name` as a lazy frame, an empty frame with the contract schema when absent."""
    frame = tables.get(name)
    if frame is None:
        return pl.LazyFrame(schema=TABLES[name].schema)
    return frame.lazy()


def window_frame(windows: pl.DataFrame) -> pl.LazyFrame:
    """Return the window of each convention: `convention_id`, `window_start`, `eval_end`."""
    return windows.lazy().select("convention_id", "window_start", "eval_end")


def episodes_as_of(tables: Mapping[str, pl.DataFrame], windows: pl.DataFrame) -> pl.LazyFrame:
    """Episodes of the window conventions as they stood at `eval_end` (as-of replay, §5.1).

    Episodes oriented after `eval_end` do not exist yet; an exit after `eval_end` is no
    exit yet (`exit_date` and `exit_reason` set to null). Columns: `episode_id`,
    `convention_id`, `orientation_date`, `exit_date`, `exit_reason`, `window_start`, `eval_end`.
    """
    exited = pl.col("exit_date") <= pl.col("eval_end")
    return (
        table(tables, "episodes")
        .select("episode_id", "convention_id", "orientation_date", "exit_date", "exit_reason")
        .join(window_frame(windows), on="convention_id", how="inner")
        .filter(pl.col("orientation_date") <= pl.col("eval_end"))
        .with_columns(
            exit_date=pl.when(exited).then(pl.col("exit_date")),
            exit_reason=pl.when(exited).then(pl.col("exit_reason")),
        )
    )


def appointments_as_of(
    tables: Mapping[str, pl.DataFrame], episodes: pl.LazyFrame, where: pl.Expr | None = None
) -> pl.LazyFrame:
    """Appointments of `episodes` dated on or before their `eval_end`, with the episode columns.

    `where`, a condition on the appointment's own columns (`date`, `mode`, `status`, `purpose`),
    keeps only the appointments an indicator looks at, before they meet the episodes: at scale,
    much cheaper than joining them all and filtering after.
    """
    appointments = table(tables, "appointments").select(
        "episode_id", "date", "mode", "status", "purpose"
    )
    if where is not None:
        appointments = appointments.filter(where)
    return appointments.join(episodes, on="episode_id", how="inner").filter(
        pl.col("date") <= pl.col("eval_end")
    )


def honoured_physical(p: Mapping[str, Any]) -> pl.Expr:
    """Select honoured physical meetings.

    A mode in `physical_modes` and a status in `honoured_statuses` (`honore`).
    """
    physical = pl.col("mode").is_in(param_codes(p, "physical_modes"))
    return physical & pl.col("status").is_in(param_codes(p, "honoured_statuses"))


def contracts_as_of(tables: Mapping[str, pl.DataFrame], episodes: pl.LazyFrame) -> pl.LazyFrame:
    """Contracts of `episodes` signed on or before their `eval_end`, with the episode columns."""
    return (
        table(tables, "contracts")
        .drop("source_line", strict=False)
        .join(episodes, on="episode_id", how="inner")
        .filter(pl.col("signed_date") <= pl.col("eval_end"))
    )


# --------------------------------------------------------------------------- units


def finish_units(units: pl.LazyFrame, details: Sequence[str]) -> pl.DataFrame:
    """Collect a units frame: the unit columns with their dtypes, then `details`, sorted."""
    return (
        units.select(
            pl.col("convention_id").cast(pl.String),
            pl.col("unit").cast(pl.String),
            pl.col("numerator").cast(pl.Int64),
            pl.col("denominator").cast(pl.Int64),
            *details,
        )
        .sort("convention_id", "unit")
        .collect()
    )


def aggregate(units: pl.DataFrame, windows: pl.DataFrame) -> pl.DataFrame:
    """Sum a units frame per convention: `convention_id`, `numerator`, `denominator` (Int64).

    One row per convention of `windows`, in the order of `windows`; 0 / 0 when it has no unit.
    """
    sums = (
        units.lazy()
        .group_by("convention_id")
        .agg(pl.col("numerator").sum(), pl.col("denominator").sum())
    )
    return (
        windows.lazy()
        .select("convention_id")
        .join(sums, on="convention_id", how="left", maintain_order="left")
        .with_columns(
            pl.col("numerator").fill_null(0).cast(pl.Int64),
            pl.col("denominator").fill_null(0).cast(pl.Int64),
        )
        .collect()
    )


def aggregate_occupancy(units: pl.DataFrame, windows: pl.DataFrame) -> pl.DataFrame:
    """Aggregate `occupancy` units: numerator = active episode-days, denominator = window days.

    The denominator is the inclusive day count of `[window_start, eval_end]` (1 Jan – 31 Mar
    = 90), so `numerator / denominator` is the average number of active episodes per day.
    """
    days = windows.lazy().select(
        "convention_id",
        window_days=inclusive_days(pl.col("window_start"), pl.col("eval_end")),
    )
    return (
        aggregate(units, windows)
        .lazy()
        .join(days, on="convention_id", how="left", maintain_order="left")
        .select(
            "convention_id",
            "numerator",
            pl.col("window_days").fill_null(0).cast(pl.Int64).alias("denominator"),
        )
        .collect()
    )
