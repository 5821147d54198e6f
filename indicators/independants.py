"""Indicators and eligible costs of `independants` — Pas-de-Calais Actif (dispositif 1.7).

Source: deliberation n°2024-587, Annexe N°2 "Accompagnement des bénéficiaires du RSA ayant
une activité indépendante" (`seed/deliberation-cp-2024-587.txt`, L843-935); rules and
defaults in `framework.md` §4, definitions in §5.1 and §5.5.

Phases come from the `phases` table. An *interview* is an appointment of the episode with
`status = honore` and a mode in `interview_modes` (any mode by default), dated inside the
phase and on or before `eval_end` (as-of replay). A phase exists once it started on or
before `eval_end`; its `end_date` is the declared end of its CERP.

A span *lasts at most N months* when its last day comes before `start + N months`
(calendar months clamped to the month's end, §5.1): 15 Jan – 14 Apr lasts 3 months,
15 Jan – 15 Apr lasts more.

The three rate indicators are reported beside the money (`part: none`): the amount follows
the declared personnel costs (`eligible_costs`, §5.5), not the indicators. Every threshold
comes from the parameters `p`; none is written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import polars as pl

from engine.model.contract import decimal_lit
from indicators.common import (
    add_days,
    add_months,
    appointments_as_of,
    episodes_as_of,
    finish_units,
    in_window,
    param_codes,
    param_decimal,
    param_int,
    table,
    whole_months,
)

Tables = Mapping[str, pl.DataFrame]
Params = Mapping[str, Any]

#: Exact product of two `Decimal(38, 6)` columns: polars keeps the larger operand scale
#: for a product, so one operand is widened to 12 decimals first (6 + 6, nothing lost).
PRODUCT = pl.Decimal(38, 12)

PHASE_COLUMNS = (
    "phase_id",
    "episode_id",
    "phase",
    "start_date",
    "end_date",
    "renewal",
    "profit_before",
    "profit_after",
    "business_closed",
    "resumed_insertion",
    "left_rsa",
)


# --------------------------------------------------------------------------- inputs


def _phases_as_of(tables: Tables, episodes: pl.LazyFrame) -> pl.LazyFrame:
    """Phases of `episodes` that started on or before their `eval_end`, with the episode columns.

    Columns: the `phases` columns, then `convention_id`, `orientation_date`, `exit_date`,
    `window_start`, `eval_end`.
    """
    return (
        table(tables, "phases")
        .select(*PHASE_COLUMNS)
        .join(
            episodes.select(
                "episode_id",
                "convention_id",
                "orientation_date",
                "exit_date",
                "window_start",
                "eval_end",
            ),
            on="episode_id",
            how="inner",
        )
        .filter(pl.col("start_date") <= pl.col("eval_end"))
    )


def _interviews(tables: Tables, episodes: pl.LazyFrame, p: Params) -> pl.LazyFrame:
    """Select the interviews of `episodes`: honoured, in `interview_modes`, by `eval_end`.

    Columns: `episode_id`, `date`.
    """
    modes = param_codes(p, "interview_modes")
    return (
        appointments_as_of(tables, episodes)
        .filter(pl.col("status").is_in(param_codes(p, "honoured_statuses")) & pl.col("mode").is_in(modes))
        .select("episode_id", "date")
    )


def _lasts_at_most(start: pl.Expr, end: pl.Expr, months: int) -> pl.Expr:
    """`[start, end]` lasts at most `months` calendar months: `end < start + months` (§5.1)."""
    return end < add_months(start, months)


def _cerp_months(p: Params, key: str) -> list[int]:
    """Return a list-of-months parameter written as codes (`["3", "6"]`) as ints."""
    months = []
    for code in param_codes(p, key):
        try:
            months.append(int(code))
        except ValueError:
            raise ValueError(
                f"paramètre `{key}` : des nombres de mois entiers sont attendus, reçu {code!r}"
            ) from None
    return months


# --------------------------------------------------------------------------- rates


def diagnostic_phase(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Diagnostics in 3 months with 3 interviews (rule L881, CERP n°1; framework §5.5).

    Units are the `diagnostic` phases whose `end_date` lies in the window; compliant
    (numerator 1) when the phase lasted at most `diagnostic_months` (`end_date <
    start_date + diagnostic_months`) and held at least `diagnostic_min_interviews`
    interviews dated in `[start_date, end_date]`; denominator 1.
    """
    months = param_int(p, "diagnostic_months")
    min_interviews = param_int(p, "diagnostic_min_interviews")
    episodes = episodes_as_of(tables, windows)
    phases = _phases_as_of(tables, episodes).filter(
        (pl.col("phase") == "diagnostic") & in_window(pl.col("end_date"))
    )
    counts = (
        _interviews(tables, episodes, p)
        .join(phases.select("phase_id", "episode_id", "start_date", "end_date"), on="episode_id")
        .filter(pl.col("date").is_between(pl.col("start_date"), pl.col("end_date")))
        .group_by("phase_id")
        .agg(interviews=pl.len().cast(pl.Int64))
    )
    units = (
        phases.join(counts, on="phase_id", how="left")
        .with_columns(
            interviews=pl.col("interviews").fill_null(0),
            limit_date=add_months(pl.col("start_date"), months),
            months_elapsed=whole_months(pl.col("start_date"), pl.col("end_date")),
            within_duration=_lasts_at_most(pl.col("start_date"), pl.col("end_date"), months),
        )
        .with_columns(enough_interviews=pl.col("interviews") >= min_interviews)
        .with_columns(compliant=pl.col("within_duration") & pl.col("enough_interviews"))
        .with_columns(
            unit=pl.col("phase_id"),
            numerator=pl.col("compliant").cast(pl.Int64),
            denominator=pl.lit(1, pl.Int64),
        )
    )
    return finish_units(
        units,
        [
            "episode_id",
            "start_date",
            "end_date",
            "limit_date",
            "months_elapsed",
            "interviews",
            "within_duration",
            "enough_interviews",
            "compliant",
        ],
    )


def monthly_interviews(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """One interview a month in phase 2 (rule L920, « un entretien par mois »; §5.5).

    For each `developpement` or `cessation` phase, the units are the calendar months
    (1st to last day) whose days all lie inside both the phase (`[start_date, end_date]`,
    the declared end) and the window (`[window_start, eval_end]`); compliant when the month
    holds at least `interviews_per_month` interviews of the episode; denominator 1.
    A unit is named `<phase_id>:<YYYY-MM>`.
    """
    per_month = param_int(p, "interviews_per_month")
    episodes = episodes_as_of(tables, windows)
    span_start = pl.col("span_start")
    span_end = pl.col("span_end")
    # First month starting on or after span_start; last month ending on or before span_end.
    first_month = (
        pl.when(span_start.dt.day() == 1)
        .then(span_start)
        .otherwise(add_months(span_start.dt.month_start(), 1))
    )
    last_month = (
        pl.when(span_end == span_end.dt.month_end())
        .then(span_end.dt.month_start())
        .otherwise(add_months(span_end.dt.month_start(), -1))
    )

    def month_index(d: pl.Expr) -> pl.Expr:
        return d.dt.year().cast(pl.Int64) * 12 + d.dt.month().cast(pl.Int64)

    months = (
        _phases_as_of(tables, episodes)
        .filter(pl.col("phase").is_in(param_codes(p, "monthly_interview_phases")))
        .with_columns(
            span_start=pl.max_horizontal("start_date", "window_start"),
            span_end=pl.min_horizontal("end_date", "eval_end"),
        )
        .with_columns(first_month=first_month, last_month=last_month)
        .with_columns(
            n_months=pl.max_horizontal(
                month_index(pl.col("last_month")) - month_index(pl.col("first_month")) + 1,
                pl.lit(0, pl.Int64),
            )
        )
        .filter(pl.col("n_months") > 0)
        .with_columns(k=pl.int_ranges(0, pl.col("n_months")))
        .explode("k")
        .with_columns(month=add_months(pl.col("first_month"), pl.col("k")))
    )
    counts = (
        _interviews(tables, episodes, p)
        .with_columns(month=pl.col("date").dt.month_start())
        .group_by("episode_id", "month")
        .agg(interviews=pl.len().cast(pl.Int64))
    )
    units = (
        months.join(counts, on=["episode_id", "month"], how="left")
        .with_columns(interviews=pl.col("interviews").fill_null(0))
        .with_columns(compliant=pl.col("interviews") >= per_month)
        .with_columns(
            unit=pl.format("{}:{}", pl.col("phase_id"), pl.col("month").dt.strftime("%Y-%m")),
            numerator=pl.col("compliant").cast(pl.Int64),
            denominator=pl.lit(1, pl.Int64),
        )
    )
    return finish_units(
        units, ["episode_id", "phase_id", "phase", "month", "interviews", "compliant"]
    )


def duration_limits(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Maximum durations of a path (rules L904, L916, L925; framework §5.5).

    Units are the episodes with a phase overlapping the window. Counting every phase of the
    episode that started on or before `eval_end` (with its declared end date), compliant
    when development (first `developpement` start to last `developpement` end, the renewal
    included) lasts at most `development_max_months`, cessation (same over `cessation`
    phases) at most `cessation_max_months`, and the whole operation (first phase start to
    last phase end) at most `operation_max_months`; a part the episode does not have is
    met. Denominator 1.
    """
    dev_max = param_int(p, "development_max_months")
    cess_max = param_int(p, "cessation_max_months")
    op_max = param_int(p, "operation_max_months")
    phases = _phases_as_of(tables, episodes_as_of(tables, windows))
    in_scope = (
        phases.filter(pl.col("end_date") >= pl.col("window_start")).select("episode_id").unique()
    )
    dev = pl.col("phase") == "developpement"
    cess = pl.col("phase") == "cessation"
    spans = (
        phases.join(in_scope, on="episode_id", how="semi")
        .group_by("episode_id", "convention_id")
        .agg(
            phases=pl.len().cast(pl.Int64),
            operation_start=pl.col("start_date").min(),
            operation_end=pl.col("end_date").max(),
            development_start=pl.col("start_date").filter(dev).min(),
            development_end=pl.col("end_date").filter(dev).max(),
            cessation_start=pl.col("start_date").filter(cess).min(),
            cessation_end=pl.col("end_date").filter(cess).max(),
        )
    )

    def within(part: str, months: int) -> pl.Expr:
        start, end = pl.col(f"{part}_start"), pl.col(f"{part}_end")
        return start.is_null() | _lasts_at_most(start, end, months)

    def elapsed(part: str) -> pl.Expr:
        return whole_months(pl.col(f"{part}_start"), pl.col(f"{part}_end"))

    units = (
        spans.with_columns(
            development_months=elapsed("development"),
            cessation_months=elapsed("cessation"),
            operation_months=elapsed("operation"),
            development_ok=within("development", dev_max),
            cessation_ok=within("cessation", cess_max),
            operation_ok=within("operation", op_max),
        )
        .with_columns(
            compliant=pl.col("development_ok") & pl.col("cessation_ok") & pl.col("operation_ok")
        )
        .with_columns(
            unit=pl.col("episode_id"),
            numerator=pl.col("compliant").cast(pl.Int64),
            denominator=pl.lit(1, pl.Int64),
        )
    )
    return finish_units(
        units,
        [
            "phases",
            "development_start",
            "development_end",
            "development_months",
            "development_ok",
            "cessation_start",
            "cessation_end",
            "cessation_months",
            "cessation_ok",
            "operation_start",
            "operation_end",
            "operation_months",
            "operation_ok",
            "compliant",
        ],
    )


# --------------------------------------------------------------------------- reported


REPORTED_COUNTS = (
    "oriented",
    "diagnostics_ended",
    "development_started",
    "development_renewals_started",
    "cessation_started",
    "profit_increased",
    "resumed_insertion",
    "business_closed",
    "left_rsa",
    "cerp_duration_not_listed",
    "renewals_too_long",
)


def reported(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Reported-only counts of `independants` (L935), one row per convention of `windows`.

    - `oriented`: episodes with `orientation_date` in the window (« bénéficiaires orientés »);
    - `diagnostics_ended`: `diagnostic` phases with `end_date` in the window (« diagnostics
      réalisés »);
    - `development_started`: `developpement` phases, renewals excluded, with `start_date` in
      the window (« accompagnements au développement »); `development_renewals_started` the
      renewals; `cessation_started` the `cessation` phases;
    - `profit_increased`, `resumed_insertion`, `business_closed`, `left_rsa`: distinct
      episodes with a phase whose `end_date` lies in the window and that has
      `profit_after > profit_before` (both filled) or the flag set (« entreprises dont le
      résultat a augmenté », « repris des démarches d'insertion », « entreprises radiées »,
      « sortis du dispositif RSA »);
    - `cerp_duration_not_listed`: non-renewal `developpement` and `cessation` phases started
      in the window whose CERP does not last exactly one of `development_cerp_months` /
      `cessation_cerp_months` (N months exactly: `end_date + 1 day = start_date + N months`;
      rules L900, L918);
    - `renewals_too_long`: renewals started in the window lasting more than
      `development_renewal_months` (rule L902).
    """
    dev_months = _cerp_months(p, "development_cerp_months")
    cess_months = _cerp_months(p, "cessation_cerp_months")
    renewal_months = param_int(p, "development_renewal_months")

    episodes = episodes_as_of(tables, windows)
    oriented = (
        episodes.filter(in_window(pl.col("orientation_date")))
        .group_by("convention_id")
        .agg(oriented=pl.len().cast(pl.Int64))
    )

    phases = _phases_as_of(tables, episodes)
    phase, renewal = pl.col("phase"), pl.col("renewal").fill_null(False)
    started = in_window(pl.col("start_date"))
    ended = in_window(pl.col("end_date"))
    after_end = add_days(pl.col("end_date"), 1)

    def exactly_one_of(months: list[int]) -> pl.Expr:
        if not months:
            return pl.lit(False)
        return pl.any_horizontal([add_months(pl.col("start_date"), m) == after_end for m in months])

    listed = (
        pl.when(phase == "developpement")
        .then(exactly_one_of(dev_months))
        .otherwise(exactly_one_of(cess_months))
    )
    is_dev, is_cess = phase == "developpement", phase == "cessation"

    def episodes_where(condition: pl.Expr) -> pl.Expr:
        return pl.col("episode_id").filter(ended & condition).n_unique().cast(pl.Int64)

    per_phase = phases.group_by("convention_id").agg(
        diagnostics_ended=((phase == "diagnostic") & ended).sum().cast(pl.Int64),
        development_started=(is_dev & ~renewal & started).sum().cast(pl.Int64),
        development_renewals_started=(is_dev & renewal & started).sum().cast(pl.Int64),
        cessation_started=(is_cess & started).sum().cast(pl.Int64),
        profit_increased=episodes_where(
            (pl.col("profit_after") > pl.col("profit_before")).fill_null(False)
        ),
        resumed_insertion=episodes_where(pl.col("resumed_insertion").fill_null(False)),
        business_closed=episodes_where(pl.col("business_closed").fill_null(False)),
        left_rsa=episodes_where(pl.col("left_rsa").fill_null(False)),
        cerp_duration_not_listed=((is_cess | (is_dev & ~renewal)) & started & ~listed)
        .sum()
        .cast(pl.Int64),
        renewals_too_long=(
            is_dev
            & renewal
            & started
            & ~_lasts_at_most(pl.col("start_date"), pl.col("end_date"), renewal_months)
        )
        .sum()
        .cast(pl.Int64),
    )
    return (
        windows.lazy()
        .select("convention_id")
        .join(oriented, on="convention_id", how="left", maintain_order="left")
        .join(per_phase, on="convention_id", how="left", maintain_order="left")
        .select(
            "convention_id",
            *[pl.col(c).fill_null(0).cast(pl.Int64) for c in REPORTED_COUNTS],
        )
        .collect()
    )


# --------------------------------------------------------------------------- money


def _percent_text(value: pl.Expr) -> pl.Expr:
    """Format a rate in 0..1 (Decimal) as a French percentage text: 0.295 -> `29,5`."""
    text = (value.cast(PRODUCT) * pl.lit(100, PRODUCT)).cast(pl.String)
    return (
        text.str.strip_chars_end("0").str.strip_chars_end(".").str.replace(".", ",", literal=True)
    )


def _percent(value: Decimal) -> str:
    """Format a Python Decimal rate as a French percentage text: 0.30 -> `30`."""
    return format((value * 100).normalize(), "f").replace(".", ",")


def eligible_costs(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Eligible personnel costs of each window convention (rule L933; framework §5.5).

    « sont éligibles les dépenses de personnels intervenant directement sur l'objet de
    l'action » and « le taux d'affectation minimum est de 30% »: over the `staff_costs`
    rows of the convention, `eligible_personnel_eur = Σ gross_cost_eur × allocation_rate`
    for the staff with `allocation_rate >= min_allocation` (exact decimals, 12 places);
    the others are counted in `staff_ineligible` and listed, in French, in
    `ineligible_staff` (`"S3 (taux d'affectation 25 % < 30 %)"`), their share in
    `ineligible_personnel_eur`. `declared_personnel_eur` = Σ gross cost × allocation over
    every row. The engine turns it into money (`engine.evaluate._cost_based`):
    `min(amount, share × personnel × (1 + flat_rate))`. One row per convention of
    `windows`, in its order; 0 and an empty list when the convention declared no staff.

    `staff_costs` has no date: the costs are those the extract declares (the final report),
    whatever `as_of`.
    """
    min_allocation = param_decimal(p, "min_allocation")
    rate = pl.col("allocation_rate")
    eligible = rate >= decimal_lit(min_allocation)
    zero = pl.lit(0, PRODUCT)
    staff = (
        table(tables, "staff_costs")
        .select("convention_id", "staff_id", "gross_cost_eur", "allocation_rate")
        .join(windows.lazy().select("convention_id"), on="convention_id", how="semi")
        .with_columns(
            allocated=pl.col("gross_cost_eur").cast(PRODUCT) * rate,
            eligible=eligible,
            reason=pl.format(
                "{} (taux d'affectation {} % < {} %)",
                pl.col("staff_id"),
                _percent_text(rate),
                pl.lit(_percent(min_allocation)),
            ),
        )
        .sort("convention_id", "staff_id")
        .group_by("convention_id", maintain_order=True)
        .agg(
            eligible_personnel_eur=pl.col("allocated").filter("eligible").sum(),
            ineligible_personnel_eur=pl.col("allocated").filter(~pl.col("eligible")).sum(),
            declared_personnel_eur=pl.col("allocated").sum(),
            staff_eligible=pl.col("eligible").sum().cast(pl.Int64),
            staff_ineligible=(~pl.col("eligible")).sum().cast(pl.Int64),
            ineligible_staff=pl.col("reason").filter(~pl.col("eligible")),
        )
    )
    money = ("eligible_personnel_eur", "ineligible_personnel_eur", "declared_personnel_eur")
    return (
        windows.lazy()
        .select("convention_id")
        .join(staff, on="convention_id", how="left", maintain_order="left")
        .select(
            "convention_id",
            *[pl.col(c).cast(PRODUCT).fill_null(zero) for c in money],
            *[
                pl.col(c).fill_null(0).cast(pl.Int64)
                for c in ("staff_eligible", "staff_ineligible")
            ],
            pl.col("ineligible_staff").fill_null(pl.lit([], pl.List(pl.String))),
        )
        .collect()
    )
