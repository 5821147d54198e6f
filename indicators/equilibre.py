"""Indicators of `equilibre` — accompagnement équilibré social-professionnel.

Source: deliberation n°2024-587, Annexe "L'accompagnement équilibré social-professionnel"
(`seed/deliberation-cp-2024-587.txt`, L449-470); rules and defaults in `framework.md` §2,
definitions in §5.1-5.3. One function per indicator, named after its id. Each scored
indicator returns a *units* frame (see `indicators.common`): `convention_id`, `unit`,
`numerator`, `denominator` (Int64) and detail columns for an auditor; `reported` returns
the reported-only counts, one row per convention.

Every threshold comes from the parameters `p` (the rules in force); none is written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from engine.model.contract import decimal_lit
from indicators.common import (
    add_days,
    add_months,
    appointments_as_of,
    contracts_as_of,
    days_between,
    episodes_as_of,
    finish_units,
    first_monday_on_or_after,
    honoured_physical,
    in_window,
    inclusive_days,
    param_codes,
    param_decimal,
    param_hours,
    param_int,
    table,
    whole_months,
)

Tables = Mapping[str, pl.DataFrame]
Params = Mapping[str, Any]


def _first_physical_appointment(tables: Tables, episodes: pl.LazyFrame, p: Params) -> pl.LazyFrame:
    """Per episode, the date of its first appointment (§5.2).

    Earliest appointment with `status = honore`, a mode in `physical_modes`,
    `date >= orientation_date` and (as-of) `date <= eval_end`.
    """
    return (
        appointments_as_of(
            tables,
            episodes.select("episode_id", "orientation_date", "eval_end"),
            honoured_physical(p),
        )
        .filter(pl.col("date") >= pl.col("orientation_date"))
        .group_by("episode_id")
        .agg(first_appointment_date=pl.col("date").min())
    )


def first_appointment_15d(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Respect des 15 jours pour le 1er rendez-vous (L470, indicator 1).

    Rule L462: « Organiser le rendez-vous dans un délai de 15 jours maximum ». Units are the
    episodes oriented in the window, in scope once their first honoured physical appointment
    happened (on or before `eval_end`) or `orientation_date + first_appointment_max_days <
    eval_end`; compliant (numerator 1) when that appointment is at most
    `first_appointment_max_days` calendar days after orientation; denominator 1 (§5.2).
    """
    max_days = param_int(p, "first_appointment_max_days")
    episodes = episodes_as_of(tables, windows).filter(in_window(pl.col("orientation_date")))
    delay = pl.col("delay_days")
    units = (
        episodes.join(_first_physical_appointment(tables, episodes, p), on="episode_id", how="left")
        .with_columns(
            deadline=add_days(pl.col("orientation_date"), max_days),
            delay_days=days_between(pl.col("orientation_date"), pl.col("first_appointment_date")),
        )
        .filter(
            pl.col("first_appointment_date").is_not_null()
            | (pl.col("deadline") < pl.col("eval_end"))
        )
        .with_columns(compliant=(delay.is_not_null() & (delay <= max_days)))
        .with_columns(
            unit=pl.col("episode_id"),
            numerator=pl.col("compliant").cast(pl.Int64),
            denominator=pl.lit(1, pl.Int64),
        )
    )
    return finish_units(
        units,
        ["orientation_date", "deadline", "first_appointment_date", "delay_days", "compliant"],
    )


def contractualisation(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Taux de contractualisation (L470, indicator 2).

    Rule L462: « Signer le 1er Contrat d'Engagement Unique » during the welcome phase
    (« durée maximum 15 jours »). Units are the episodes oriented in the window with
    `orientation_date + welcome_phase_max_days < eval_end`; compliant when at least one
    contract of the episode has `signed_date <= eval_end` (§5.2 as written: a contract
    signed after the welcome phase still counts; `sign_delay_days` shows when it was
    signed); denominator 1.
    """
    welcome_days = param_int(p, "welcome_phase_max_days")
    episodes = (
        episodes_as_of(tables, windows)
        .filter(in_window(pl.col("orientation_date")))
        .with_columns(welcome_phase_end=add_days(pl.col("orientation_date"), welcome_days))
        .filter(pl.col("welcome_phase_end") < pl.col("eval_end"))
    )
    signed = (
        contracts_as_of(tables, episodes)
        .group_by("episode_id")
        .agg(
            first_signed_date=pl.col("signed_date").min(),
            contracts_signed=pl.len().cast(pl.Int64),
        )
    )
    units = (
        episodes.join(signed, on="episode_id", how="left")
        .with_columns(
            contracts_signed=pl.col("contracts_signed").fill_null(0),
            sign_delay_days=days_between(pl.col("orientation_date"), pl.col("first_signed_date")),
            compliant=pl.col("first_signed_date").is_not_null(),
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
            "orientation_date",
            "welcome_phase_end",
            "first_signed_date",
            "sign_delay_days",
            "contracts_signed",
            "compliant",
        ],
    )


def weekly_15h(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Respect des 15h/hebdomadaire (L470, indicator 3).

    Rule L457: « Assurer le suivi hebdomadaire des actions mises en œuvre par le BRSA
    (minimum 15h/semaine) ». Units are the episodes with a contract signed on or before
    `eval_end`; their span runs from the earliest such contract's `start_date` to
    `exit_date` (or `eval_end`), cut to the window. Denominator = the Monday–Sunday weeks
    wholly inside the span and not marked `exempt`; numerator = those whose hours reach the
    target of the contract in force on the Monday (latest `start_date` on or before it), else
    `weekly_hours_min`. A week without an activity row counts as 0 hours (§5.2).

    How it scales (~2M episodes, ~100M weekly rows): the span is cut into contract
    *segments* (a contract is in force on the Mondays from its `start_date` to the day
    before the next contract's), whose weeks are counted by arithmetic, never generated.
    Only the activity rows are looked at, each once: joined to its episode's segments
    (a small build side) and kept when its Monday lies in one. Per segment,
    weeks without a row = weeks − rows, and they are compliant only when the target is
    <= 0 (0 h reaches it). This equals generating every week, as-of joining it on the
    contracts and left-joining the activity (the tests check it against that literal
    per-week computation on random data). Relies on the contract's key: at most one
    activity row per episode and week (rows not dated on a Monday are ignored).
    """
    hours_min = param_hours(p, "weekly_hours_min")
    # The frames below are each used by several steps: they are computed once. `ep`
    # numbers the episodes, a cheaper key than `episode_id` for the joins and groupings
    # that do not involve the activity rows.
    episodes = episodes_as_of(tables, windows).with_row_index("ep").collect().lazy()
    contracts = (
        contracts_as_of(tables, episodes)
        .select(
            "ep", "episode_id", "contract_id", "signed_date", "start_date", "weekly_hours_target"
        )
        .collect()
        .lazy()
    )

    # Span of each episode, cut to the window; only episodes with at least one whole week.
    spans = (
        contracts.group_by("ep")
        .agg(first_start_date=pl.col("start_date").min())
        .join(episodes, on="ep", how="inner")
        .with_columns(
            span_start=pl.max_horizontal("first_start_date", "window_start"),
            span_end=pl.min_horizontal(pl.coalesce("exit_date", "eval_end"), pl.col("eval_end")),
        )
        .with_columns(
            first_monday=first_monday_on_or_after(pl.col("span_start")),
            last_monday=add_days(pl.col("span_end"), -6),  # a week ending on span_end
        )
        .filter(pl.col("first_monday") <= pl.col("last_monday"))
        .collect()
        .lazy()
    )

    # Contract segments: the Mondays on which each contract is in force, inside the span.
    # Two contracts starting the same day: the first one's segment is empty, so the last
    # signed one (then the greatest contract_id) is in force.
    segments = (
        contracts.sort("ep", "start_date", "signed_date", "contract_id")
        .with_columns(  # the next row's start, if it is the same episode's (cheaper than over)
            next_start_date=pl.when(pl.col("ep").shift(-1) == pl.col("ep")).then(
                pl.col("start_date").shift(-1)
            )
        )
        .join(spans.select("ep", "first_monday", "last_monday"), on="ep", how="inner")
        .select(
            "ep",
            "episode_id",
            seg_first_monday=pl.max_horizontal(
                "first_monday", first_monday_on_or_after(pl.col("start_date"))
            ),
            seg_last_day=pl.min_horizontal("last_monday", add_days(pl.col("next_start_date"), -1)),
            target=pl.col("weekly_hours_target").fill_null(hours_min),
            individual_target=pl.col("weekly_hours_target").is_not_null(),
        )
        .filter(pl.col("seg_first_monday") <= pl.col("seg_last_day"))
        .with_columns(
            seg_weeks=days_between(pl.col("seg_first_monday"), pl.col("seg_last_day")) // 7 + 1
        )
        .with_row_index("seg")
        .collect()
        .lazy()
    )

    # The activity rows of the weeks of each segment. The rows outside every segment's
    # Mondays (e.g. the history before the window) are dropped before the join, by the
    # earliest and latest segment bounds: half the rows of a national extract.
    week_start = pl.col("week_start")
    exempt = pl.col("exempt").fill_null(False)
    first_monday, last_day = segments.select(
        pl.col("seg_first_monday").min(), pl.col("seg_last_day").max()
    ).collect().row(0)
    rows = (
        table(tables, "weekly_activity")
        .select("episode_id", "week_start", "hours", "exempt")
        .filter(
            week_start.is_between(pl.lit(first_monday, pl.Date), pl.lit(last_day, pl.Date))
            & (week_start.dt.weekday() == 1)
        )
        .join(
            segments.select("episode_id", "seg", "seg_first_monday", "seg_last_day", "target"),
            on="episode_id",
            how="inner",
        )
        .filter(
            week_start.is_between(pl.col("seg_first_monday"), pl.col("seg_last_day"))
            & (week_start.dt.weekday() == 1)
        )
        .group_by("seg")
        .agg(
            rows=pl.len().cast(pl.Int64),
            exempt=exempt.sum().cast(pl.Int64),
            met=(~exempt & (pl.col("hours") >= pl.col("target"))).sum().cast(pl.Int64),
        )
        .collect(engine="streaming")
        .lazy()
    )

    per_episode = (
        segments.join(rows, on="seg", how="left")
        .with_columns(pl.col("rows", "exempt", "met").fill_null(0))
        .with_columns(
            missing=pl.col("seg_weeks") - pl.col("rows"),
            in_scope=pl.col("seg_weeks") - pl.col("exempt"),
        )
        .with_columns(
            compliant=pl.col("met")
            + pl.when(pl.col("target") <= 0).then(pl.col("missing")).otherwise(0),
            individual=pl.when("individual_target").then(pl.col("in_scope")).otherwise(0),
        )
        .group_by("ep")
        .agg(
            weeks_in_span=pl.col("seg_weeks").sum().cast(pl.Int64),
            weeks_exempt=pl.col("exempt").sum().cast(pl.Int64),
            weeks_missing_rows=pl.col("missing").sum().cast(pl.Int64),
            weeks_individual_target=pl.col("individual").sum().cast(pl.Int64),
            weeks_compliant=pl.col("compliant").sum().cast(pl.Int64),
            weeks_in_scope=pl.col("in_scope").sum().cast(pl.Int64),
        )
    )

    units = (
        spans.join(per_episode, on="ep", how="inner")
        .filter(pl.col("weeks_in_scope") > 0)
        .with_columns(
            unit=pl.col("episode_id"),
            numerator=pl.col("weeks_compliant"),
            denominator=pl.col("weeks_in_scope"),
        )
    )
    return finish_units(
        units,
        [
            "first_start_date",
            "span_start",
            "span_end",
            "weeks_in_span",
            "weeks_exempt",
            "weeks_missing_rows",
            "weeks_individual_target",
            "weeks_compliant",
        ],
    )


def exit_12m(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Taux de sorties à 12 mois (L470, indicator 4).

    Rule L464: « valable 6 mois, renouvelable 6 mois » and, after the 12 months, a
    « sortie dynamique » or another path. Units are the episodes whose mark
    `orientation_date + max_months` (calendar months, clamped) falls in the window; compliant
    when the episode left on or before the mark with a reason in `dynamic_exit_reasons`;
    denominator 1 (§5.2). An exit after `eval_end` is no exit yet.
    """
    max_months = param_int(p, "max_months")
    dynamic = param_codes(p, "dynamic_exit_reasons")
    units = (
        episodes_as_of(tables, windows)
        .with_columns(mark=add_months(pl.col("orientation_date"), max_months))
        .filter(in_window(pl.col("mark")))
        .with_columns(
            exited_by_mark=pl.col("exit_date").is_not_null()
            & (pl.col("exit_date") <= pl.col("mark")),
            dynamic_exit=pl.col("exit_reason").is_in(dynamic).fill_null(False),
        )
        .with_columns(compliant=pl.col("exited_by_mark") & pl.col("dynamic_exit"))
        .with_columns(
            unit=pl.col("episode_id"),
            numerator=pl.col("compliant").cast(pl.Int64),
            denominator=pl.lit(1, pl.Int64),
        )
    )
    return finish_units(
        units,
        [
            "orientation_date",
            "mark",
            "exit_date",
            "exit_reason",
            "exited_by_mark",
            "dynamic_exit",
            "compliant",
        ],
    )


def ceu_quality(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Qualité des Contrats d'Engagement Unique (L470, indicator 5).

    Units are the contracts with `signed_date` in the window; numerator = items of
    `ceu_checklist` met (a boolean column of the contract; empty counts as not met),
    denominator = number of checklist items (§5.2).
    """
    checklist = param_codes(p, "ceu_checklist")
    known = set(table(tables, "contracts").collect_schema().names())
    unknown = [c for c in checklist if c not in known]
    if unknown:
        raise ValueError(
            "paramètre `ceu_checklist` : colonne(s) inconnue(s) de la table contracts : "
            + ", ".join(unknown)
        )
    met = [pl.col(c).fill_null(False) for c in checklist]
    numerator = pl.sum_horizontal([m.cast(pl.Int64) for m in met]) if met else pl.lit(0, pl.Int64)
    # The items missing as bits (item i: bit i), then their names, listed once per pattern
    # found rather than once per contract.
    pattern = (
        pl.sum_horizontal([(~m).cast(pl.Int64) * (1 << i) for i, m in enumerate(met)])
        if met
        else pl.lit(0, pl.Int64)
    )
    bit_set = [(pl.col("missing_pattern") & (1 << i)) != 0 for i in range(len(checklist))]
    missing = (
        pl.concat_list(
            [pl.when(bit).then(pl.lit(c)) for bit, c in zip(bit_set, checklist, strict=True)]
        ).list.drop_nulls()
        if met
        else pl.lit([], pl.List(pl.String))
    )
    episodes = episodes_as_of(tables, windows)
    contracts = (
        contracts_as_of(tables, episodes)
        .filter(in_window(pl.col("signed_date")))
        .with_columns(missing_pattern=pattern)
    )
    names = contracts.select("missing_pattern").unique().with_columns(items_missing=missing)
    units = contracts.join(names, on="missing_pattern", how="left").with_columns(
        unit=pl.col("contract_id"),
        numerator=numerator,
        denominator=pl.lit(len(checklist), pl.Int64),
    )
    return finish_units(units, ["episode_id", "kind", "signed_date", "items_missing"])


def _active_span(episodes: pl.LazyFrame) -> pl.LazyFrame:
    """Add each episode's active span cut to the window and its inclusive day count.

    An episode is active from `orientation_date` to `exit_date` (both included) or to
    `eval_end` (§5.3); `active_days` is 0 when the span misses the window.
    """
    return episodes.with_columns(
        active_start=pl.max_horizontal("orientation_date", "window_start"),
        active_end=pl.min_horizontal(pl.coalesce("exit_date", "eval_end"), pl.col("eval_end")),
    ).with_columns(active_days=inclusive_days(pl.col("active_start"), pl.col("active_end")))


def occupancy(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Occupancy: average number of active episodes per day over the window (§5.3).

    Rule L461: « 55 à 70 personnes par ETP » (target `portfolio_min_per_etp × etp`, computed
    by the scoring). Units are the episodes active on at least one day of the window;
    numerator = active days in the window, denominator 0: use
    `indicators.common.aggregate_occupancy`, whose denominator is the window's day count.
    """
    units = (
        _active_span(episodes_as_of(tables, windows))
        .filter(pl.col("active_days") > 0)
        .with_columns(
            unit=pl.col("episode_id"),
            numerator=pl.col("active_days"),
            denominator=pl.lit(0, pl.Int64),
        )
    )
    return finish_units(units, ["orientation_date", "exit_date", "active_start", "active_end"])


def reported(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Reported-only counts of `equilibre`, one row per convention of `windows` (not scored).

    - `physical_meetings`: honoured physical appointments dated in the window and inside
      their episode's active span (rule L462, « 12 rdv sur la durée de l'accompagnement »);
    - `months_active`: sum over episodes of the whole calendar months elapsed in their active
      span cut to the window (`common.whole_months`);
      `physical_meetings_expected_numerator = meetings_per_period × months_active`,
      `physical_meetings_expected_denominator = meetings_period_months` (the exact expected
      count, *interpretation* "2 per month elapsed"), `physical_meetings_expected` = the
      integer part of that fraction;
    - `episodes_past_max_months_without_exit`: no exit on or before `eval_end` and
      `orientation_date + max_months < eval_end` (rule L464);
    - `exits_without_bilan_final`: exits in the window with no honoured `bilan_final`
      appointment (any mode) dated on or before the exit (rule L464, « L'entretien du bilan
      final est obligatoire »);
    - `active_at_eval_end`: episodes active on `eval_end` (oriented on or before it, no exit
      before it: an exit on `eval_end` still counts that day, as for occupancy);
    - `portfolio_max = portfolio_max_per_etp × etp` (exact decimal, rule L461),
      `above_portfolio_max = active_at_eval_end > portfolio_max`,
      `above_places_max = active_at_eval_end > places_max` (null when `places_max` is null).
    """
    per_period = param_int(p, "meetings_per_period")
    period_months = param_int(p, "meetings_period_months")
    max_months = param_int(p, "max_months")
    portfolio_max_per_etp = param_decimal(p, "portfolio_max_per_etp")

    episodes = _active_span(episodes_as_of(tables, windows))
    per_episode = episodes.with_columns(
        months_active=pl.when(pl.col("active_days") > 0)
        .then(whole_months(pl.col("active_start"), pl.col("active_end")))
        .otherwise(0),
        past_max=pl.col("exit_date").is_null()
        & (add_months(pl.col("orientation_date"), max_months) < pl.col("eval_end")),
        exit_in_window=pl.col("exit_date").is_not_null() & in_window(pl.col("exit_date")),
        active_at_eval_end=pl.col("exit_date").is_null()
        | (pl.col("exit_date") >= pl.col("eval_end")),
    )
    # Two narrow joins, each of the few appointments it counts: never every appointment
    # with every episode column.
    meetings = (
        appointments_as_of(
            tables,
            episodes.select(
                "episode_id",
                "convention_id",
                "orientation_date",
                "exit_date",
                "window_start",
                "eval_end",
            ),
            honoured_physical(p),
        )
        .filter(
            in_window(pl.col("date"))
            & (pl.col("date") >= pl.col("orientation_date"))
            & (pl.col("date") <= pl.coalesce("exit_date", "eval_end"))
        )
        .group_by("convention_id")
        .agg(physical_meetings=pl.len().cast(pl.Int64))
    )
    with_bilan = (
        appointments_as_of(
            tables,
            episodes.select("episode_id", "exit_date", "eval_end").filter(
                pl.col("exit_date").is_not_null()
            ),
            pl.col("status").is_in(param_codes(p, "honoured_statuses"))
            & pl.col("purpose").is_in(param_codes(p, "final_review_purposes")),
        )
        .filter(pl.col("date") <= pl.col("exit_date"))
        .select("episode_id")
        .unique()
        .with_columns(has_bilan_final=pl.lit(True))
    )
    counts = (
        per_episode.join(with_bilan, on="episode_id", how="left")
        .group_by("convention_id")
        .agg(
            months_active=pl.col("months_active").sum().cast(pl.Int64),
            episodes_past_max_months_without_exit=pl.col("past_max").sum().cast(pl.Int64),
            exits_without_bilan_final=(
                pl.col("exit_in_window") & pl.col("has_bilan_final").is_null()
            )
            .sum()
            .cast(pl.Int64),
            active_at_eval_end=pl.col("active_at_eval_end").sum().cast(pl.Int64),
        )
    )
    int_columns = [
        "physical_meetings",
        "months_active",
        "episodes_past_max_months_without_exit",
        "exits_without_bilan_final",
        "active_at_eval_end",
    ]
    expected_num = pl.col("months_active") * per_period
    return (
        windows.lazy()
        .select("convention_id", "etp", "places_max")
        .join(meetings, on="convention_id", how="left", maintain_order="left")
        .join(counts, on="convention_id", how="left", maintain_order="left")
        .with_columns([pl.col(c).fill_null(0).cast(pl.Int64) for c in int_columns])
        .with_columns(
            physical_meetings_expected=(expected_num // period_months).cast(pl.Int64),
            physical_meetings_expected_numerator=expected_num.cast(pl.Int64),
            physical_meetings_expected_denominator=pl.lit(period_months, pl.Int64),
            portfolio_max=pl.col("etp") * decimal_lit(portfolio_max_per_etp),
        )
        .with_columns(
            above_portfolio_max=pl.col("active_at_eval_end") > pl.col("portfolio_max"),
            above_places_max=pl.col("active_at_eval_end") > pl.col("places_max"),
        )
        .select(
            "convention_id",
            "physical_meetings",
            "physical_meetings_expected",
            "physical_meetings_expected_numerator",
            "physical_meetings_expected_denominator",
            "months_active",
            "episodes_past_max_months_without_exit",
            "exits_without_bilan_final",
            "active_at_eval_end",
            "portfolio_max",
            "above_portfolio_max",
            "above_places_max",
        )
        .collect()
    )
