"""Indicators of `accueil` — Dynamisation des parcours : accueil des BRSA (diagnostics).

Source: deliberation n°2024-587, Annexe « Dynamisation des Parcours : Accueil des BRSA »
(`seed/deliberation-cp-2024-587.txt`, L314-328); rules and defaults in `framework.md` §3,
definitions in §5.1-5.3. One function per indicator, named after its id; each returns a
*units* frame (see `indicators.common`); `reported` returns the reported-only figures of
L328, one row per convention.

A diagnostic belongs to a convention through `convention_id`. As-of replay (§5.1): a
diagnostic requested after `eval_end` does not exist yet; an appointment, a positioning or an
absence report dated after `eval_end` has not happened yet (an appointment after `eval_end`
is neither realised nor missed, whatever the status says today).

Every threshold and list of publics comes from the parameters `p`; none is written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from engine.model.contract import PROPOSALS, PUBLICS
from indicators.common import (
    add_days,
    days_between,
    finish_units,
    in_window,
    param_codes,
    param_int,
    table,
    window_frame,
)

Tables = Mapping[str, pl.DataFrame]
Params = Mapping[str, Any]


def diagnostics_as_of(tables: Tables, windows: pl.DataFrame) -> pl.LazyFrame:
    """Diagnostics of the window conventions as they stood at `eval_end` (§5.1).

    Keeps the diagnostics with `request_date <= eval_end`; nulls the dates after `eval_end`
    (`appointment_date`, `positioning_date`, `absence_reported_date`). Adds `realised`
    (`status = realise` with an appointment on or before `eval_end`) and `absent`
    (`status = absent`, same condition).
    Columns: the diagnostic's, plus `window_start`, `eval_end`.
    """
    eval_end = pl.col("eval_end")

    def as_of(name: str) -> pl.Expr:
        return pl.when(pl.col(name) <= eval_end).then(pl.col(name)).alias(name)

    happened = pl.col("appointment_date").is_not_null()
    return (
        table(tables, "diagnostics")
        .select(
            "diagnostic_id",
            "beneficiary_id",
            "convention_id",
            "public",
            "request_date",
            "appointment_date",
            "status",
            "positioning_date",
            "orientation_proposal",
            "absence_reported_date",
        )
        .join(window_frame(windows), on="convention_id", how="inner")
        .filter(pl.col("request_date") <= eval_end)
        .with_columns(
            as_of("appointment_date"), as_of("positioning_date"), as_of("absence_reported_date")
        )
        .with_columns(
            realised=happened & (pl.col("status") == "realise"),
            absent=happened & (pl.col("status") == "absent"),
        )
    )


def orientation_6w(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Orientations dans un délai de 6 semaines (L328; rule L321).

    « Lors d'une première orientation, un délai de 6 semaines entre le rendez-vous et le
    positionnement [...] devra être respecté. » Units are the realised diagnostics of a public
    in `positioning_publics` with `appointment_date` in the window; in scope once positioned
    (on or before `eval_end`) or `appointment_date + positioning_max_days < eval_end`;
    compliant when `positioning_date - appointment_date <= positioning_max_days`;
    denominator 1 (§5.2).
    """
    max_days = param_int(p, "positioning_max_days")
    publics = param_codes(p, "positioning_publics")
    delay = pl.col("delay_days")
    units = (
        diagnostics_as_of(tables, windows)
        .filter(
            pl.col("public").is_in(publics)
            & pl.col("realised")
            & in_window(pl.col("appointment_date"))
        )
        .with_columns(
            deadline=add_days(pl.col("appointment_date"), max_days),
            delay_days=days_between(pl.col("appointment_date"), pl.col("positioning_date")),
        )
        .filter(
            pl.col("positioning_date").is_not_null() | (pl.col("deadline") < pl.col("eval_end"))
        )
        .with_columns(compliant=delay.is_not_null() & (delay <= max_days))
        .with_columns(
            unit=pl.col("diagnostic_id"),
            numerator=pl.col("compliant").cast(pl.Int64),
            denominator=pl.lit(1, pl.Int64),
        )
    )
    return finish_units(
        units,
        ["public", "appointment_date", "deadline", "positioning_date", "delay_days", "compliant"],
    )


def opportunity_10d(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Rendez-vous dans les 10 jours pour une décision d'opportunité (rule L321).

    « Lors d'une décision d'opportunité le rendez-vous devra être effectué dans les 10 jours
    suivant l'expression de la manifestation du bénéficiaire. » Units are the diagnostics of a
    public in `opportunity_publics` with `request_date` in the window; in scope once realised
    (appointment on or before `eval_end`) or `request_date + opportunity_max_days <
    eval_end`; compliant when realised with `appointment_date - request_date <=
    opportunity_max_days` (an absence or a cancellation is not a realised appointment);
    denominator 1 (§5.2).
    """
    max_days = param_int(p, "opportunity_max_days")
    publics = param_codes(p, "opportunity_publics")
    delay = pl.col("delay_days")
    units = (
        diagnostics_as_of(tables, windows)
        .filter(pl.col("public").is_in(publics) & in_window(pl.col("request_date")))
        .with_columns(
            deadline=add_days(pl.col("request_date"), max_days),
            realised_date=pl.when("realised").then(pl.col("appointment_date")),
        )
        .with_columns(delay_days=days_between(pl.col("request_date"), pl.col("realised_date")))
        .filter(pl.col("realised") | (pl.col("deadline") < pl.col("eval_end")))
        .with_columns(compliant=delay.is_not_null() & (delay <= max_days))
        .with_columns(
            unit=pl.col("diagnostic_id"),
            numerator=pl.col("compliant").cast(pl.Int64),
            denominator=pl.lit(1, pl.Int64),
        )
    )
    return finish_units(
        units,
        [
            "public",
            "request_date",
            "deadline",
            "status",
            "realised_date",
            "delay_days",
            "compliant",
        ],
    )


def diagnostics_volume(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Nombre de diagnostics réalisés (L328; volume L326 « soit 400 diagnostics »), §5.3.

    Units are the realised diagnostics (`status = realise`) with `appointment_date` in the
    window, every public; numerator 1, denominator 0 (a volume: value = sum of numerators).
    The target (`diagnostics_target`, else `diagnostics_per_etp × etp`, prorated to the
    window) is computed by the scoring from the rules.
    """
    units = (
        diagnostics_as_of(tables, windows)
        .filter(pl.col("realised") & in_window(pl.col("appointment_date")))
        .with_columns(
            unit=pl.col("diagnostic_id"),
            numerator=pl.lit(1, pl.Int64),
            denominator=pl.lit(0, pl.Int64),
        )
    )
    return finish_units(units, ["public", "request_date", "appointment_date"])


def reported(tables: Tables, windows: pl.DataFrame, p: Params) -> pl.DataFrame:
    """Reported-only figures of `accueil` (L328), one row per convention of `windows`.

    All are Int64 counts over the window `[window_start, eval_end]`, as-of `eval_end`:

    - `requests`: diagnostics with `request_date` in the window (orientations and requests
      received by the platform);
    - `accueils` (« Nombre d'accueils »): diagnostics with `appointment_date` in the window,
      whatever their status (the welcome appointments organised: realised, missed, cancelled
      or still pending); of them `absences` (`status = absent`) and `cancellations`
      (`status = annule`);
    - `beneficiaries` (« Nombre de bénéficiaires »): distinct `beneficiary_id` of the accueils;
    - `diagnostics` (« Nombre de diagnostic »): realised accueils (the value of
      `diagnostics_volume`), and `diagnostics_<public>` for each public of the contract;
    - `positionings`: diagnostics of a public in `positioning_publics` with `positioning_date`
      in the window; `orientations_within_6w` (« Nombre d'orientations dans un délai de 6
      semaines »): those with `positioning_date - appointment_date <= positioning_max_days`
      (counted on the positioning date, whereas the scored `orientation_6w` follows the
      cohort of appointments of the window); `new_entrants_oriented` (« Nombre de nouveaux
      entrants orientés »): diagnostics of public `nouvel_entrant` with `positioning_date` in
      the window;
    - `mean_first_appointment_delay_days_numerator` / `_denominator` (« Délai moyen du
      premier rendez-vous »): sum of `appointment_date - request_date` in days over the
      realised accueils, and their number (the mean is numerator / denominator, §5.2);
    - `proposals_<code>` (« Proposition d'orientation »): realised accueils whose
      `orientation_proposal` is `<code>`, for each code of the contract, and
      `proposals_missing` for those without a proposal;
    - `absences_reported_in_time`: absences with `absence_reported_date` on or before
      `eval_end` and at most `absence_report_max_days` after the appointment (rule L322,
      « Informer dans les plus brefs délais l'absence à rendez-vous »);
      `absences_report_pending`: absences not reported yet whose deadline
      `appointment_date + absence_report_max_days` has not passed (`>= eval_end`); the
      other absences were reported late or not at all.
    """
    positioning_days = param_int(p, "positioning_max_days")
    positioning_publics = param_codes(p, "positioning_publics")
    report_days = param_int(p, "absence_report_max_days")

    diag = diagnostics_as_of(tables, windows).with_columns(
        accueil=pl.col("appointment_date").is_not_null() & in_window(pl.col("appointment_date")),
        positioned=pl.col("positioning_date").is_not_null() & in_window(pl.col("positioning_date")),
        first_delay=days_between(pl.col("request_date"), pl.col("appointment_date")),
        positioning_delay=days_between(pl.col("appointment_date"), pl.col("positioning_date")),
        report_delay=days_between(pl.col("appointment_date"), pl.col("absence_reported_date")),
    )
    accueil, realised, absent = pl.col("accueil"), pl.col("realised"), pl.col("absent")
    done = accueil & realised
    missed = accueil & absent
    first_orientation = pl.col("positioned") & pl.col("public").is_in(positioning_publics)
    report_delay = pl.col("report_delay")

    def count(condition: pl.Expr, name: str) -> pl.Expr:
        return condition.fill_null(False).sum().cast(pl.Int64).alias(name)

    counts = [
        count(in_window(pl.col("request_date")), "requests"),
        count(accueil, "accueils"),
        count(missed, "absences"),
        count(accueil & (pl.col("status") == "annule"), "cancellations"),
        pl.col("beneficiary_id").filter(accueil).n_unique().cast(pl.Int64).alias("beneficiaries"),
        count(done, "diagnostics"),
        *[count(done & (pl.col("public") == code), f"diagnostics_{code}") for code in PUBLICS],
        count(first_orientation, "positionings"),
        count(
            first_orientation & (pl.col("positioning_delay") <= positioning_days),
            "orientations_within_6w",
        ),
        count(
            pl.col("positioned") & (pl.col("public") == "nouvel_entrant"), "new_entrants_oriented"
        ),
        pl.col("first_delay")
        .filter(done)
        .sum()
        .cast(pl.Int64)
        .alias("mean_first_appointment_delay_days_numerator"),
        count(done, "mean_first_appointment_delay_days_denominator"),
        *[
            count(done & (pl.col("orientation_proposal") == code), f"proposals_{code}")
            for code in PROPOSALS
        ],
        count(done & pl.col("orientation_proposal").is_null(), "proposals_missing"),
        count(
            missed & report_delay.is_not_null() & (report_delay <= report_days),
            "absences_reported_in_time",
        ),
        count(
            missed
            & report_delay.is_null()
            & (add_days(pl.col("appointment_date"), report_days) >= pl.col("eval_end")),
            "absences_report_pending",
        ),
    ]
    names = [c.meta.output_name() for c in counts]
    per_convention = diag.group_by("convention_id").agg(counts)
    return (
        windows.lazy()
        .select("convention_id")
        .join(per_convention, on="convention_id", how="left", maintain_order="left")
        .with_columns([pl.col(n).fill_null(0).cast(pl.Int64) for n in names])
        .select("convention_id", *names)
        .collect()
    )
