"""Hand-computed cases for the `equilibre` indicators (framework.md §2, §5.1-5.3).

Calendar used below: 2025-01-01 is a Wednesday; the Mondays of January 2025 are the
6th, 13th, 20th and 27th; 2024-12-30 is a Monday; 2025-02-02 is a Sunday.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from builders import frame, tables  # noqa: F401

from indicators import equilibre as eq
from indicators.common import (
    add_months,
    aggregate,
    aggregate_occupancy,
    whole_months,
)

D = date.fromisoformat

P: dict[str, Any] = {
    "first_appointment_max_days": 15,
    "welcome_phase_max_days": 15,
    "welcome_min_physical_appointments": 1,
    "physical_modes": ["physique"],
    "honoured_statuses": ["honore"],
    "final_review_purposes": ["bilan_final"],
    "weekly_hours_min": 15,
    "max_months": 12,
    "contract_months": 6,
    "max_renewals": 1,
    "dynamic_exit_reasons": ["emploi", "formation", "creation_activite", "parcours_emploi_ft"],
    "ceu_checklist": [
        "objectives_defined",
        "action_plan",
        "weekly_hours_planned",
        "signed_by_both",
    ],
    "meetings_per_period": 12,
    "meetings_period_months": 6,
    "portfolio_min_per_etp": 55,
    "portfolio_max_per_etp": 70,
}

SCORED = [
    eq.first_appointment_15d,
    eq.contractualisation,
    eq.weekly_15h,
    eq.exit_12m,
    eq.ceu_quality,
    eq.occupancy,
]


# --------------------------------------------------------------------------- builders


def windows(
    *rows: tuple[str, str, str, str],
    etp: str = "1",
    places_max: int | None = 70,
) -> pl.DataFrame:
    """Windows from (convention_id, period_start, period_end, as_of)."""
    data = []
    for cid, start, end, as_of in rows:
        data.append(
            {
                "convention_id": cid,
                "period_start": D(start),
                "period_end": D(end),
                "window_start": D(start),
                "eval_end": min(D(as_of), D(end)),
                "etp": Decimal(etp),
                "places_max": places_max,
            }
        )
    return pl.DataFrame(
        data,
        schema={
            "convention_id": pl.String(),
            "period_start": pl.Date(),
            "period_end": pl.Date(),
            "window_start": pl.Date(),
            "eval_end": pl.Date(),
            "etp": pl.Decimal(38, 6),
            "places_max": pl.Int64(),
        },
    )


def ep(
    eid: str, orientation: str, exit: str | None = None, reason: str | None = None, cid: str = "EQ1"
) -> dict[str, Any]:
    return {
        "episode_id": eid,
        "beneficiary_id": "B" + eid,
        "convention_id": cid,
        "orientation_date": orientation,
        "exit_date": exit,
        "exit_reason": reason,
    }


_ids = iter(range(1, 1_000_000))


def rdv(
    eid: str, day: str, mode: str = "physique", status: str = "honore", purpose: str = "suivi"
) -> dict[str, Any]:
    return {
        "appointment_id": f"A{next(_ids)}",
        "episode_id": eid,
        "date": day,
        "mode": mode,
        "status": status,
        "purpose": purpose,
    }


def ctr(
    cid: str,
    eid: str,
    signed: str,
    start: str,
    end: str = "2026-12-31",
    target: float | None = None,
    kind: str = "initial",
    **items: Any,
) -> dict[str, Any]:
    return {
        "contract_id": cid,
        "episode_id": eid,
        "kind": kind,
        "signed_date": signed,
        "start_date": start,
        "end_date": end,
        "weekly_hours_target": target,
        **items,
    }


def week(eid: str, monday: str, hours: float, exempt: bool = False) -> dict[str, Any]:
    return {"episode_id": eid, "week_start": monday, "hours": hours, "exempt": exempt}


def by_unit(units: pl.DataFrame) -> dict[str, tuple[int, int]]:
    return {r["unit"]: (r["numerator"], r["denominator"]) for r in units.iter_rows(named=True)}


def totals(units: pl.DataFrame, w: pl.DataFrame) -> dict[str, tuple[int, int]]:
    agg = aggregate(units, w)
    return {
        r["convention_id"]: (r["numerator"], r["denominator"]) for r in agg.iter_rows(named=True)
    }


W_2025 = ("EQ1", "2025-01-01", "2025-12-31")


# --------------------------------------------------------------------------- calendar helpers


def test_add_months_clamps_to_month_end() -> None:
    """29 Feb 2024 + 12 months = 28 Feb 2025; 31 Aug 2024 + 6 months = 28 Feb 2025;
    31 Jan 2024 + 1 month = 29 Feb 2024 (leap); 31 Jan 2025 + 1 month = 28 Feb 2025."""
    df = pl.DataFrame(
        {
            "d": [D("2024-02-29"), D("2024-08-31"), D("2024-01-31"), D("2025-01-31")],
            "n": [12, 6, 1, 1],
        }
    )
    out = df.select(fixed=add_months(pl.col("d"), 12), var=add_months(pl.col("d"), pl.col("n")))
    assert out["fixed"][0] == D("2025-02-28")
    assert out["var"].to_list() == [
        D("2025-02-28"),
        D("2025-02-28"),
        D("2024-02-29"),
        D("2025-02-28"),
    ]


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        ("2025-01-15", "2025-04-14", 3),  # 15 Jan + 3 months = 15 Apr <= 14 Apr + 1 day
        ("2025-01-15", "2025-04-13", 2),  # 15 Apr > 14 Apr: only 2 whole months
        ("2025-01-01", "2025-03-31", 3),
        ("2025-01-31", "2025-02-27", 1),  # 31 Jan + 1 month = 28 Feb (clamped) <= 28 Feb
        ("2025-01-31", "2025-02-26", 0),
        ("2025-03-31", "2025-03-31", 0),  # one day
        ("2025-03-31", "2025-03-30", 0),  # empty span
    ],
)
def test_whole_months(start: str, end: str, months: int) -> None:
    """Whole months in [start, end] = largest n with start + n months <= end + 1 day."""
    out = pl.DataFrame({"s": [D(start)], "e": [D(end)]}).select(
        m=whole_months(pl.col("s"), pl.col("e"))
    )
    assert out["m"].dtype == pl.Int64
    assert out["m"][0] == months


# --------------------------------------------------------------------------- first_appointment_15d


def test_first_appointment_deadline_day_vs_day_after() -> None:
    """Window 2025, as-of 30 Jun; all oriented 10 Jan, deadline 10 Jan + 15 = 25 Jan.
    E1 honoured physical on 25 Jan: delay 15 <= 15 -> compliant.
    E2 honoured physical on 26 Jan: delay 16 > 15 -> late.
    E3 honoured phone on 12 Jan (not physical), physical on 30 Jan: first = 30 Jan, delay 20.
    E4 physical absent on 11 Jan, honoured on 20 Jan: first = 20 Jan, delay 10 -> compliant.
    E5 honoured physical on 8 Jan, before orientation, nothing after: none; 25 Jan < 30 Jun
       -> in scope, not compliant.
    Total 2 / 5."""
    t = tables(
        episodes=[ep(e, "2025-01-10") for e in ("E1", "E2", "E3", "E4", "E5")],
        appointments=[
            rdv("E1", "2025-01-25"),
            rdv("E2", "2025-01-26"),
            rdv("E3", "2025-01-12", mode="telephone"),
            rdv("E3", "2025-01-30"),
            rdv("E4", "2025-01-11", status="absent"),
            rdv("E4", "2025-01-20"),
            rdv("E5", "2025-01-08"),
        ],
    )
    w = windows((*W_2025[:3], "2025-06-30"))
    units = eq.first_appointment_15d(t, w, P)
    assert by_unit(units) == {"E1": (1, 1), "E2": (0, 1), "E3": (0, 1), "E4": (1, 1), "E5": (0, 1)}
    e1 = units.filter(pl.col("unit") == "E1").row(0, named=True)
    assert e1["deadline"] == D("2025-01-25")
    assert e1["delay_days"] == 15
    assert units.filter(pl.col("unit") == "E3")["delay_days"][0] == 20
    assert units.filter(pl.col("unit") == "E5")["first_appointment_date"][0] is None
    assert totals(units, w) == {"EQ1": (2, 5)}


@pytest.mark.parametrize(("as_of", "expected"), [("2025-01-25", (1, 1)), ("2025-01-26", (1, 2))])
def test_first_appointment_in_scope_only_once_deadline_passed(
    as_of: str, expected: tuple[int, int]
) -> None:
    """E1 oriented 10 Jan, no appointment: deadline 25 Jan; in scope only when
    25 Jan < eval_end, i.e. from eval_end = 26 Jan (then late).
    E2 oriented 20 Jan, physical on 22 Jan: in scope as soon as it happened, compliant.
    as-of 25 Jan -> 1/1; as-of 26 Jan -> 1/2."""
    t = tables(
        episodes=[ep("E1", "2025-01-10"), ep("E2", "2025-01-20")],
        appointments=[rdv("E2", "2025-01-22")],
    )
    w = windows((*W_2025[:3], as_of))
    assert totals(eq.first_appointment_15d(t, w, P), w) == {"EQ1": expected}


def test_first_appointment_as_of_and_scope() -> None:
    """as-of 31 Jan.
    E1 oriented 10 Jan, physical on 1 Feb (after as-of: did not happen yet);
       deadline 25 Jan < 31 Jan -> in scope, not compliant.
    E2 oriented 20 Jan, physical on 1 Feb: not happened, deadline 4 Feb not passed -> out.
    E3 oriented 20 Dec 2024 (before the window) -> out.
    E4 oriented 1 Feb (after as-of) -> out.
    E5 of convention EQ9 (not in the windows) -> out.
    Total 0 / 1."""
    t = tables(
        episodes=[
            ep("E1", "2025-01-10"),
            ep("E2", "2025-01-20"),
            ep("E3", "2024-12-20"),
            ep("E4", "2025-02-01"),
            ep("E5", "2025-01-02", cid="EQ9"),
        ],
        appointments=[
            rdv("E1", "2025-02-01"),
            rdv("E2", "2025-02-01"),
            rdv("E3", "2024-12-21"),
            rdv("E4", "2025-02-01"),
            rdv("E5", "2025-01-03"),
        ],
    )
    w = windows((*W_2025[:3], "2025-01-31"))
    units = eq.first_appointment_15d(t, w, P)
    assert by_unit(units) == {"E1": (0, 1)}
    assert totals(units, w) == {"EQ1": (0, 1)}


def test_first_appointment_uses_parameters() -> None:
    """With first_appointment_max_days = 20 and physical_modes = [physique, visio]:
    E1 oriented 10 Jan, honoured visio on 30 Jan: delay 20 <= 20 -> compliant. 1 / 1."""
    t = tables(episodes=[ep("E1", "2025-01-10")], appointments=[rdv("E1", "2025-01-30", "visio")])
    w = windows((*W_2025[:3], "2025-06-30"))
    p = {**P, "first_appointment_max_days": 20, "physical_modes": ["physique", "visio"]}
    assert totals(eq.first_appointment_15d(t, w, p), w) == {"EQ1": (1, 1)}


# --------------------------------------------------------------------------- contractualisation


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        ("2025-01-25", {}),  # welcome end 25 Jan, not < 25 Jan: out of scope
        ("2025-01-26", {"E1": (0, 1), "E2": (1, 1)}),  # E1's contract signed 10 Feb: not yet
        ("2025-02-09", {"E1": (0, 1), "E2": (1, 1)}),
        ("2025-02-10", {"E1": (1, 1), "E2": (1, 1)}),  # signed on eval_end: counts
    ],
)
def test_contractualisation(as_of: str, expected: dict[str, tuple[int, int]]) -> None:
    """E1 and E2 oriented 10 Jan: welcome phase end 10 Jan + 15 = 25 Jan; in scope once
    25 Jan < eval_end. E1's contract is signed 10 Feb (after the welcome phase: still
    compliant once signed, §5.2 asks only signed_date <= eval_end); E2's on 20 Jan.
    E3 oriented 30 Dec 2024 (before the window) never counts."""
    t = tables(
        episodes=[ep("E1", "2025-01-10"), ep("E2", "2025-01-10"), ep("E3", "2024-12-30")],
        contracts=[
            ctr("C1", "E1", signed="2025-02-10", start="2025-02-10"),
            ctr("C2", "E2", signed="2025-01-20", start="2025-01-20"),
            ctr("C3", "E3", signed="2025-01-05", start="2025-01-05"),
        ],
    )
    w = windows((*W_2025[:3], as_of))
    units = eq.contractualisation(t, w, P)
    assert by_unit(units) == expected
    if expected:
        e2 = units.filter(pl.col("unit") == "E2").row(0, named=True)
        assert e2["welcome_phase_end"] == D("2025-01-25")
        assert e2["sign_delay_days"] == 10
        assert e2["contracts_signed"] == 1


# --------------------------------------------------------------------------- weekly_15h


def test_weekly_window_edges_and_missing_week() -> None:
    """Window 1 Jan - 30 Jun 2025, as-of 31 Jan (Friday). Contract signed 20 Dec 2024,
    start 2 Dec 2024: span = 1 Jan (window start) .. 31 Jan.
    Weeks wholly inside: Mondays 6, 13, 20 Jan (30 Dec - 5 Jan crosses the window start,
    27 Jan - 2 Feb crosses eval_end) -> 3 weeks.
    6 Jan 15 h (reaches 15: compliant), 13 Jan 14.5 h (no), 20 Jan no row = 0 h (no).
    The rows of 30 Dec (40 h) and 27 Jan (40 h) are outside the scope.
    Exit on 15 Feb is after as-of: ignored. -> 1 / 3, 1 week missing its row."""
    t = tables(
        episodes=[ep("E1", "2024-12-01", exit="2025-02-15", reason="emploi")],
        contracts=[ctr("C1", "E1", signed="2024-12-20", start="2024-12-02")],
        weekly_activity=[
            week("E1", "2024-12-30", 40),
            week("E1", "2025-01-06", 15),
            week("E1", "2025-01-13", 14.5),
            week("E1", "2025-01-27", 40),
        ],
    )
    w = windows(("EQ1", "2025-01-01", "2025-06-30", "2025-01-31"))
    units = eq.weekly_15h(t, w, P)
    assert by_unit(units) == {"E1": (1, 3)}
    row = units.row(0, named=True)
    assert row["span_start"] == D("2025-01-01")
    assert row["span_end"] == D("2025-01-31")
    assert row["weeks_missing_rows"] == 1
    assert row["weeks_exempt"] == 0
    assert totals(units, w) == {"EQ1": (1, 3)}


def test_weekly_week_across_exit_and_exempt_week() -> None:
    """as-of 30 Jun. E1: contract start 6 Jan, exit Wednesday 22 Jan: span 6 - 22 Jan;
    weeks 6 and 13 Jan (20 - 26 Jan crosses the exit) -> 2 weeks: 20 h, 16 h -> 2 / 2;
    the 30 h of 20 Jan are not counted.
    E3: same, exit Saturday 25 Jan: the week 20 - 26 Jan misses its Sunday -> 2 weeks,
    20 h and 20 h -> 2 / 2 (the 20 Jan row is not counted).
    E2: contract start 6 Jan, exit Sunday 2 Feb -> weeks 6, 13, 20, 27 Jan (27 Jan - 2 Feb
    ends on the exit day: inside). 6 Jan exempt (0 h), 13 Jan exempt with 40 h, 20 Jan
    15 h, 27 Jan 3 h. Exempt weeks leave the scope: 1 / 2.
    Total 5 / 6."""
    t = tables(
        episodes=[
            ep("E1", "2025-01-02", exit="2025-01-22", reason="abandon"),
            ep("E2", "2025-01-02", exit="2025-02-02", reason="emploi"),
            ep("E3", "2025-01-02", exit="2025-01-25", reason="emploi"),
        ],
        contracts=[
            ctr("C1", "E1", signed="2025-01-03", start="2025-01-06"),
            ctr("C2", "E2", signed="2025-01-03", start="2025-01-06"),
            ctr("C3", "E3", signed="2025-01-03", start="2025-01-06"),
        ],
        weekly_activity=[
            week("E3", "2025-01-06", 20),
            week("E3", "2025-01-13", 20),
            week("E3", "2025-01-20", 20),
            week("E1", "2025-01-06", 20),
            week("E1", "2025-01-13", 16),
            week("E1", "2025-01-20", 30),
            week("E2", "2025-01-06", 0, exempt=True),
            week("E2", "2025-01-13", 40, exempt=True),
            week("E2", "2025-01-20", 15),
            week("E2", "2025-01-27", 3),
        ],
    )
    w = windows((*W_2025[:3], "2025-06-30"))
    units = eq.weekly_15h(t, w, P)
    assert by_unit(units) == {"E1": (2, 2), "E2": (1, 2), "E3": (2, 2)}
    e2 = units.filter(pl.col("unit") == "E2").row(0, named=True)
    assert (e2["weeks_in_span"], e2["weeks_exempt"], e2["weeks_missing_rows"]) == (4, 2, 0)
    assert totals(units, w) == {"EQ1": (5, 6)}


def test_weekly_all_weeks_exempt_or_no_whole_week_is_not_a_unit() -> None:
    """E1: span 6 - 12 Jan (exit Sunday 12 Jan), its only week exempt -> 0 weeks in scope.
    E2: contract start Tuesday 7 Jan, exit Sunday 12 Jan: no whole week.
    Neither is a unit; aggregate 0 / 0."""
    t = tables(
        episodes=[
            ep("E1", "2025-01-02", exit="2025-01-12", reason="autre"),
            ep("E2", "2025-01-02", exit="2025-01-12", reason="autre"),
        ],
        contracts=[
            ctr("C1", "E1", signed="2025-01-03", start="2025-01-06"),
            ctr("C2", "E2", signed="2025-01-03", start="2025-01-07"),
        ],
        weekly_activity=[week("E1", "2025-01-06", 2, exempt=True)],
    )
    w = windows((*W_2025[:3], "2025-06-30"))
    units = eq.weekly_15h(t, w, P)
    assert units.height == 0
    assert totals(units, w) == {"EQ1": (0, 0)}


def test_weekly_reduced_target_contract_in_force_on_monday() -> None:
    """as-of Sunday 2 Feb: weeks 6, 13, 20, 27 Jan.
    C1 (start 6 Jan) sets a reduced target of 10 h; C2 (renewal, start Wednesday 22 Jan)
    has no target -> weekly_hours_min 15.
    Contract in force on each Monday (latest start_date <= Monday):
    6 Jan C1 10 h vs 10 -> yes; 13 Jan C1 12 h -> yes; 20 Jan C1 (C2 starts on the 22nd)
    12 h -> yes; 27 Jan C2 14 h vs 15 -> no. -> 3 / 4; 3 weeks on an individual target."""
    t = tables(
        episodes=[ep("E1", "2025-01-02")],
        contracts=[
            ctr("C1", "E1", signed="2025-01-03", start="2025-01-06", end="2025-01-21", target=10),
            ctr("C2", "E1", signed="2025-01-20", start="2025-01-22", kind="renouvellement"),
        ],
        weekly_activity=[
            week("E1", "2025-01-06", 10),
            week("E1", "2025-01-13", 12),
            week("E1", "2025-01-20", 12),
            week("E1", "2025-01-27", 14),
        ],
    )
    w = windows((*W_2025[:3], "2025-02-02"))
    units = eq.weekly_15h(t, w, P)
    assert by_unit(units) == {"E1": (3, 4)}
    assert units["weeks_individual_target"][0] == 3


def test_weekly_two_contracts_same_start_last_signed_wins() -> None:
    """C1 (signed 3 Jan, no target -> 15 h) and C2 (signed 4 Jan, target 10 h) both start
    6 Jan: the last signed, C2, is in force. Weeks 6 and 13 Jan with 12 h -> 2 / 2."""
    t = tables(
        episodes=[ep("E1", "2025-01-02")],
        contracts=[
            ctr("C1", "E1", signed="2025-01-03", start="2025-01-06"),
            ctr("C2", "E1", signed="2025-01-04", start="2025-01-06", target=10),
        ],
        weekly_activity=[week("E1", "2025-01-06", 12), week("E1", "2025-01-13", 12)],
    )
    w = windows((*W_2025[:3], "2025-01-19"))
    assert by_unit(eq.weekly_15h(t, w, P)) == {"E1": (2, 2)}


@pytest.mark.parametrize(("as_of", "expected"), [("2025-02-02", (0, 4)), ("2025-02-16", (3, 6))])
def test_weekly_contract_signed_after_as_of(as_of: str, expected: tuple[int, int]) -> None:
    """E1: C1 signed 20 Dec, start 6 Jan, no target (15 h); C2 signed 10 Feb, start 13 Jan,
    target 5 h. 8 h logged on 6, 13, 20, 27 Jan; nothing after.
    as-of 2 Feb: C2 does not exist yet -> weeks 6-27 Jan all vs 15 h -> 0 / 4.
    as-of 16 Feb: C2 exists and is in force from 13 Jan -> 6 Jan 8 vs 15 no; 13, 20, 27 Jan
    8 vs 5 yes; 3 and 10 Feb no row = 0 h vs 5 no -> 3 / 6.
    E2: its only contract is signed 5 Feb, after the first as-of: not a unit then; at
    as-of 16 Feb it is one (start 10 Feb, week 10 Feb with no row: 0 / 1)."""
    t = tables(
        episodes=[ep("E1", "2024-12-15"), ep("E2", "2025-01-20")],
        contracts=[
            ctr("C1", "E1", signed="2024-12-20", start="2025-01-06"),
            ctr("C2", "E1", signed="2025-02-10", start="2025-01-13", target=5),
            ctr("C3", "E2", signed="2025-02-05", start="2025-02-10"),
        ],
        weekly_activity=[
            week("E1", m, 8) for m in ("2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27")
        ],
    )
    w = windows((*W_2025[:3], as_of))
    units = eq.weekly_15h(t, w, P)
    assert by_unit(units)["E1"] == expected
    assert ("E2" in by_unit(units)) == (as_of == "2025-02-16")
    if as_of == "2025-02-16":
        assert by_unit(units)["E2"] == (0, 1)


def test_weekly_decimal_minimum() -> None:
    """weekly_hours_min given as Decimal('7.5'): 7.5 h reaches it, 7.4 h does not -> 1 / 2."""
    t = tables(
        episodes=[ep("E1", "2025-01-02")],
        contracts=[ctr("C1", "E1", signed="2025-01-03", start="2025-01-06")],
        weekly_activity=[week("E1", "2025-01-06", 7.5), week("E1", "2025-01-13", 7.4)],
    )
    w = windows((*W_2025[:3], "2025-01-19"))
    units = eq.weekly_15h(t, w, {**P, "weekly_hours_min": Decimal("7.5")})
    assert by_unit(units) == {"E1": (1, 2)}


# --------------------------------------------------------------------------- exit_12m


def test_exit_12m_cohort_and_compliance() -> None:
    """Window 2025, as-of 31 Dec 2025; mark = orientation + 12 months (clamped).
    E1 oriented 29 Feb 2024 -> mark 28 Feb 2025; exit 28 Feb 2025 emploi -> compliant.
    E2 oriented 29 Feb 2024 -> mark 28 Feb 2025; exit 1 Mar 2025 emploi: after the mark -> no.
    E3 oriented 31 Mar 2024 -> mark 31 Mar 2025; exit 1 Oct 2024 formation -> compliant
       (exit before the window, but the mark is in it).
    E4 oriented 10 May 2024; exit 1 Nov 2024 demenagement: not dynamic -> no.
    E5 oriented 15 Jun 2024, no exit -> no.
    E6 oriented 31 Dec 2023 -> mark 31 Dec 2024, before the window -> out.
    E7 oriented 15 Jan 2025 -> mark 15 Jan 2026, after eval_end -> out.
    Total 2 / 5."""
    t = tables(
        episodes=[
            ep("E1", "2024-02-29", "2025-02-28", "emploi"),
            ep("E2", "2024-02-29", "2025-03-01", "emploi"),
            ep("E3", "2024-03-31", "2024-10-01", "formation"),
            ep("E4", "2024-05-10", "2024-11-01", "demenagement"),
            ep("E5", "2024-06-15"),
            ep("E6", "2023-12-31", "2024-06-01", "emploi"),
            ep("E7", "2025-01-15"),
        ]
    )
    w = windows((*W_2025[:3], "2025-12-31"))
    units = eq.exit_12m(t, w, P)
    assert by_unit(units) == {"E1": (1, 1), "E2": (0, 1), "E3": (1, 1), "E4": (0, 1), "E5": (0, 1)}
    assert units.filter(pl.col("unit") == "E1")["mark"][0] == D("2025-02-28")
    assert units.filter(pl.col("unit") == "E3")["mark"][0] == D("2025-03-31")
    assert totals(units, w) == {"EQ1": (2, 5)}


@pytest.mark.parametrize(
    ("window", "as_of", "expected"),
    [
        (("2025-01-01", "2025-06-30"), "2025-02-27", {}),  # mark 28 Feb not reached yet
        (("2025-01-01", "2025-06-30"), "2025-02-28", {"E1": (1, 1)}),  # mark = eval_end
        (("2025-03-01", "2025-06-30"), "2025-06-30", {}),  # mark before the window
    ],
)
def test_exit_mark_month_end_clamping(
    window: tuple[str, str], as_of: str, expected: dict[str, tuple[int, int]]
) -> None:
    """With max_months = 6: E1 oriented 31 Aug 2024 -> mark 31 Aug + 6 months = 28 Feb 2025
    (clamped); exit 20 Feb 2025 parcours_emploi_ft -> compliant when in the cohort."""
    t = tables(episodes=[ep("E1", "2024-08-31", "2025-02-20", "parcours_emploi_ft")])
    w = windows(("EQ1", *window, as_of))
    units = eq.exit_12m(t, w, {**P, "max_months": 6})
    assert by_unit(units) == expected
    if expected:
        assert units["mark"][0] == D("2025-02-28")


def test_exit_12m_exit_after_as_of_is_no_exit() -> None:
    """E1 oriented 15 Jan 2024 -> mark 15 Jan 2025. Window 1 Jan - 30 Jun 2025, as-of 31 Jan.
    E1 exit 10 Jan 2025 emploi -> compliant. E2 oriented 20 Jan 2024 (mark 20 Jan 2025),
    exit dated 5 Feb 2025 (after as-of; and after the mark) -> no exit -> not compliant.
    1 / 2."""
    t = tables(
        episodes=[
            ep("E1", "2024-01-15", "2025-01-10", "emploi"),
            ep("E2", "2024-01-20", "2025-02-05", "emploi"),
        ]
    )
    w = windows(("EQ1", "2025-01-01", "2025-06-30", "2025-01-31"))
    units = eq.exit_12m(t, w, P)
    assert by_unit(units) == {"E1": (1, 1), "E2": (0, 1)}
    assert units.filter(pl.col("unit") == "E2")["exit_date"][0] is None


# --------------------------------------------------------------------------- ceu_quality


def test_ceu_quality() -> None:
    """Window 2025, as-of 30 Jun. Checklist of 4 items.
    C1 signed 10 Jan, all 4 met -> 4/4. C2 signed 12 Jan, items empty (null) -> 0/4.
    C3 signed 30 Jun (= eval_end), objectives_defined + signed_by_both -> 2/4.
    C4 signed 31 Dec 2024 (before the window) -> out. C5 signed 1 Jul (after as-of) -> out.
    Total 6 / 12."""
    all_met = dict(
        objectives_defined=True, action_plan=True, weekly_hours_planned=True, signed_by_both=True
    )
    empty = dict(
        objectives_defined=None, action_plan=None, weekly_hours_planned=None, signed_by_both=None
    )
    t = tables(
        episodes=[ep("E1", "2024-12-01"), ep("E2", "2025-01-02")],
        contracts=[
            ctr("C1", "E1", signed="2025-01-10", start="2025-01-10", **all_met),
            ctr("C2", "E2", signed="2025-01-12", start="2025-01-12", **empty),
            ctr(
                "C3",
                "E2",
                signed="2025-06-30",
                start="2025-07-12",
                kind="renouvellement",
                objectives_defined=True,
                signed_by_both=True,
            ),
            ctr("C4", "E1", signed="2024-12-31", start="2025-01-01", **all_met),
            ctr("C5", "E1", signed="2025-07-01", start="2025-07-01", **all_met),
        ],
    )
    w = windows(("EQ1", "2025-01-01", "2025-12-31", "2025-06-30"))
    units = eq.ceu_quality(t, w, P)
    assert by_unit(units) == {"C1": (4, 4), "C2": (0, 4), "C3": (2, 4)}
    c3 = units.filter(pl.col("unit") == "C3").row(0, named=True)
    assert c3["items_missing"] == ["action_plan", "weekly_hours_planned"]
    assert c3["episode_id"] == "E2"
    assert totals(units, w) == {"EQ1": (6, 12)}


def test_ceu_quality_unknown_checklist_item() -> None:
    """A checklist item that is not a contract column is a clear error (in French)."""
    w = windows((*W_2025[:3], "2025-06-30"))
    with pytest.raises(ValueError, match="ceu_checklist"):
        eq.ceu_quality(tables(), w, {**P, "ceu_checklist": ["objectifs"]})


# --------------------------------------------------------------------------- occupancy


def test_occupancy_day_counts() -> None:
    """Window 1 Jan - 31 Mar 2025 (period to 30 Jun, as-of 31 Mar): 31 + 28 + 31 = 90 days.
    E1 oriented 1 Dec 2024, no exit: 1 Jan - 31 Mar = 90 days.
    E2 1 Feb - exit 10 Feb: 10 days (both included).
    E3 oriented 31 Mar: 1 day.
    E4 exit 31 Dec 2024: out. E5 oriented 1 Mar, exit 10 Apr (after as-of): 1 - 31 Mar = 31.
    E6 oriented 1 Apr (after as-of): out.
    Numerator 90 + 10 + 1 + 31 = 132, denominator 90 (average 1.47 episodes a day)."""
    t = tables(
        episodes=[
            ep("E1", "2024-12-01"),
            ep("E2", "2025-02-01", "2025-02-10", "emploi"),
            ep("E3", "2025-03-31"),
            ep("E4", "2024-06-01", "2024-12-31", "emploi"),
            ep("E5", "2025-03-01", "2025-04-10", "formation"),
            ep("E6", "2025-04-01"),
        ]
    )
    w = windows(("EQ1", "2025-01-01", "2025-06-30", "2025-03-31"))
    units = eq.occupancy(t, w, P)
    assert by_unit(units) == {"E1": (90, 0), "E2": (10, 0), "E3": (1, 0), "E5": (31, 0)}
    agg = aggregate_occupancy(units, w)
    assert agg.to_dicts() == [{"convention_id": "EQ1", "numerator": 132, "denominator": 90}]


def test_aggregate_occupancy_full_years_and_empty() -> None:
    """Full 2024 (leap year) = 366 days, full 2025 = 365; no unit -> numerator 0."""
    w = windows(
        ("A", "2024-01-01", "2024-12-31", "2025-06-30"),
        ("B", "2025-01-01", "2025-12-31", "2026-01-01"),
    )
    units = eq.occupancy(tables(), w, P)
    assert aggregate_occupancy(units, w).to_dicts() == [
        {"convention_id": "A", "numerator": 0, "denominator": 366},
        {"convention_id": "B", "numerator": 0, "denominator": 365},
    ]


# --------------------------------------------------------------------------- aggregate


def test_aggregate_keeps_window_order_and_fills_zero() -> None:
    """Two windows; units only for B (1/1 + 0/1) -> B 1/2, A 0/0; order of `windows`."""
    w = windows(
        ("B", "2025-01-01", "2025-12-31", "2025-06-30"),
        ("A", "2025-01-01", "2025-12-31", "2025-06-30"),
    )
    units = pl.DataFrame(
        {
            "convention_id": ["B", "B"],
            "unit": ["E1", "E2"],
            "numerator": [1, 0],
            "denominator": [1, 1],
        },
        schema={
            "convention_id": pl.String,
            "unit": pl.String,
            "numerator": pl.Int64,
            "denominator": pl.Int64,
        },
    )
    agg = aggregate(units, w)
    assert agg.schema == pl.Schema(
        {"convention_id": pl.String, "numerator": pl.Int64, "denominator": pl.Int64}
    )
    assert agg.rows() == [("B", 1, 2), ("A", 0, 0)]


@pytest.mark.parametrize("indicator", SCORED, ids=lambda f: f.__name__)
def test_empty_tables_give_empty_units_and_zero_totals(indicator: Any) -> None:
    """No rows at all: no unit, typed columns, aggregate 0 / 0."""
    w = windows((*W_2025[:3], "2025-06-30"))
    units = indicator(tables(), w, P)
    assert units.height == 0
    assert units.columns[:4] == ["convention_id", "unit", "numerator", "denominator"]
    assert units.schema["numerator"] == pl.Int64
    assert units.schema["denominator"] == pl.Int64
    assert totals(units, w) == {"EQ1": (0, 0)}


@pytest.mark.parametrize("indicator", SCORED, ids=lambda f: f.__name__)
def test_no_float_in_units(indicator: Any) -> None:
    """Results hold integers, dates, codes and booleans only: no binary float column."""
    t = tables(
        episodes=[ep("E1", "2024-01-10", "2025-01-09", "emploi"), ep("E2", "2025-01-02")],
        appointments=[rdv("E2", "2025-01-05")],
        contracts=[ctr("C1", "E2", signed="2025-01-06", start="2025-01-06", target=7.5)],
        weekly_activity=[week("E2", "2025-01-06", 9.5)],
    )
    w = windows((*W_2025[:3], "2025-06-30"))
    units = indicator(t, w, P)
    assert units.height > 0
    assert not any(dtype.is_float() for dtype in units.schema.values())


# --------------------------------------------------------------------------- reported


def test_reported_counts() -> None:
    """Window 1 Jan - 30 Jun 2025, as-of 31 Mar (eval_end). EQ1: etp 1.5, places_max 4.
    Active span in window, whole months, physical meetings (honoured, physique, in the
    window and inside the episode):
    E1 oriented 1 Jan, no exit: 1 Jan - 31 Mar, 3 months; physical 5 Jan and 5 Feb count,
       phone 10 Feb, absent 1 Mar and honoured 2 Apr (after as-of) do not -> 2.
    E2 oriented 15 Jan 2024, no exit: 3 months; 20 Dec 2024 outside window, 31 Mar counts
       -> 1; mark 15 Jan 2025 < 31 Mar -> past max months without exit.
    E3 oriented 15 Jan, exit 14 Mar emploi: 15 Jan - 14 Mar = 2 months (15 Jan + 2 months
       = 15 Mar <= 14 Mar + 1); honoured physical bilan_final on 14 Mar -> 1 meeting, and
       its exit has a bilan.
    E4 oriented 1 Nov 2024, exit 10 Feb abandon: 1 Jan - 10 Feb = 1 month; bilan_final
       absent on 10 Feb, honoured on 11 Feb (after the exit) -> exit without bilan; the
       11 Feb meeting is after the exit -> 0 meetings.
    E5 oriented 1 Mar 2024, exit 1 May 2025 (after as-of: no exit): 3 months; mark 1 Mar
       2025 < 31 Mar -> past max.
    E6 oriented 1 Jun 2024, exit 15 Dec 2024: nothing in the window.
    E7 oriented 31 Mar: 1 day, 0 months.
    E8 oriented 15 Feb 2024, exit 31 Mar (= eval_end) autre, no bilan: 3 months; exit
       without bilan; active on eval_end; not "without exit".
    months = 3+3+2+1+3+0+0+3 = 15; expected = 12 x 15 / 6 = 180 / 6 = 30.
    physical_meetings = 2+1+1 = 4; past max = E2, E5 = 2; exits without bilan = E4, E8 = 2;
    active at eval_end = E1, E2, E5, E7, E8 = 5; portfolio_max = 70 x 1.5 = 105 -> not above;
    5 > places_max 4 -> above.
    EQ2 (no episode, etp 0, places_max null): zeros, portfolio_max 0, above_places_max null."""
    t = tables(
        episodes=[
            ep("E1", "2025-01-01"),
            ep("E2", "2024-01-15"),
            ep("E3", "2025-01-15", "2025-03-14", "emploi"),
            ep("E4", "2024-11-01", "2025-02-10", "abandon"),
            ep("E5", "2024-03-01", "2025-05-01", "emploi"),
            ep("E6", "2024-06-01", "2024-12-15", "emploi"),
            ep("E7", "2025-03-31"),
            ep("E8", "2024-02-15", "2025-03-31", "autre"),
        ],
        appointments=[
            rdv("E1", "2025-01-05"),
            rdv("E1", "2025-02-05"),
            rdv("E1", "2025-02-10", mode="telephone"),
            rdv("E1", "2025-03-01", status="absent"),
            rdv("E1", "2025-04-02"),
            rdv("E2", "2024-12-20"),
            rdv("E2", "2025-03-31"),
            rdv("E3", "2025-03-14", purpose="bilan_final"),
            rdv("E4", "2025-02-10", status="absent", purpose="bilan_final"),
            rdv("E4", "2025-02-11", purpose="bilan_final"),
        ],
    )
    w = pl.concat(
        [
            windows(("EQ1", "2025-01-01", "2025-06-30", "2025-03-31"), etp="1.5", places_max=4),
            windows(("EQ2", "2025-01-01", "2025-06-30", "2025-03-31"), etp="0", places_max=None),
        ]
    )
    out = eq.reported(t, w, P)
    rows = {r["convention_id"]: r for r in out.iter_rows(named=True)}
    assert rows["EQ1"] == {
        "convention_id": "EQ1",
        "physical_meetings": 4,
        "physical_meetings_expected": 30,
        "physical_meetings_expected_numerator": 180,
        "physical_meetings_expected_denominator": 6,
        "months_active": 15,
        "episodes_past_max_months_without_exit": 2,
        "exits_without_bilan_final": 2,
        "active_at_eval_end": 5,
        "portfolio_max": Decimal("105"),
        "above_portfolio_max": False,
        "above_places_max": True,
    }
    assert rows["EQ2"] == {
        "convention_id": "EQ2",
        "physical_meetings": 0,
        "physical_meetings_expected": 0,
        "physical_meetings_expected_numerator": 0,
        "physical_meetings_expected_denominator": 6,
        "months_active": 0,
        "episodes_past_max_months_without_exit": 0,
        "exits_without_bilan_final": 0,
        "active_at_eval_end": 0,
        "portfolio_max": Decimal("0"),
        "above_portfolio_max": False,
        "above_places_max": None,
    }
    assert out["portfolio_max"].dtype == pl.Decimal(38, 6)
    assert not any(dtype.is_float() for dtype in out.schema.values())


# --------------------------------------------------------------------------- random cross-check


def _py_add_months(d: date, n: int) -> date:
    """Plain-Python calendar month addition, clamped to the month's end."""
    import calendar

    y, m = divmod(d.year * 12 + d.month - 1 + n, 12)
    return date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def _py_reference(t: dict[str, pl.DataFrame], w: pl.DataFrame, p: dict[str, Any]) -> dict:
    """The §5.2/5.3 definitions written literally, one episode and one week at a time."""
    from datetime import timedelta

    win = {r["convention_id"]: r for r in w.iter_rows(named=True)}
    eps = [e for e in t["episodes"].iter_rows(named=True) if e["convention_id"] in win]
    appts = t["appointments"].iter_rows(named=True)
    by_ep_appts: dict[str, list[dict]] = {}
    for a in appts:
        by_ep_appts.setdefault(a["episode_id"], []).append(a)
    by_ep_ctr: dict[str, list[dict]] = {}
    for c in t["contracts"].iter_rows(named=True):
        by_ep_ctr.setdefault(c["episode_id"], []).append(c)
    act = {
        (a["episode_id"], a["week_start"]): a for a in t["weekly_activity"].iter_rows(named=True)
    }
    out: dict[str, dict[str, tuple[int, int]]] = {
        k: {} for k in ("fa", "ct", "wk", "ex", "ceu", "occ")
    }
    for e in eps:
        wd = win[e["convention_id"]]
        ws, end = wd["window_start"], wd["eval_end"]
        eid, o = e["episode_id"], e["orientation_date"]
        if o > end:
            continue
        ex = e["exit_date"] if e["exit_date"] is not None and e["exit_date"] <= end else None
        reason = e["exit_reason"] if ex is not None else None
        in_win = ws <= o <= end
        # first appointment
        firsts = [
            a["date"]
            for a in by_ep_appts.get(eid, [])
            if a["status"] == "honore"
            and a["mode"] in p["physical_modes"]
            and o <= a["date"] <= end
        ]
        first = min(firsts) if firsts else None
        dl = o + timedelta(days=p["first_appointment_max_days"])
        if in_win and (first is not None or dl < end):
            ok = first is not None and (first - o).days <= p["first_appointment_max_days"]
            out["fa"][eid] = (int(ok), 1)
        # contractualisation
        ctrs = [c for c in by_ep_ctr.get(eid, []) if c["signed_date"] <= end]
        if in_win and o + timedelta(days=p["welcome_phase_max_days"]) < end:
            out["ct"][eid] = (int(bool(ctrs)), 1)
        # exit 12 months
        mark = _py_add_months(o, p["max_months"])
        if ws <= mark <= end:
            ok = ex is not None and ex <= mark and reason in p["dynamic_exit_reasons"]
            out["ex"][eid] = (int(ok), 1)
        # ceu
        for c in ctrs:
            if ws <= c["signed_date"] <= end:
                met = sum(bool(c[i]) for i in p["ceu_checklist"])
                out["ceu"][c["contract_id"]] = (met, len(p["ceu_checklist"]))
        # occupancy
        a0, a1 = max(o, ws), min(ex or end, end)
        if a1 >= a0:
            out["occ"][eid] = ((a1 - a0).days + 1, 0)
        # weekly
        if ctrs:
            s0 = max(min(c["start_date"] for c in ctrs), ws)
            s1 = min(ex or end, end)
            m = s0 + timedelta(days=(7 - s0.weekday()) % 7)
            num = den = 0
            while m + timedelta(days=6) <= s1:
                row = act.get((eid, m))
                if not (row and row["exempt"]):
                    force = max(
                        (c for c in ctrs if c["start_date"] <= m),
                        key=lambda c: (c["start_date"], c["signed_date"], c["contract_id"]),
                    )
                    target = force["weekly_hours_target"]
                    target = float(p["weekly_hours_min"]) if target is None else target
                    den += 1
                    num += (row["hours"] if row else 0.0) >= target
                m += timedelta(days=7)
            if den:
                out["wk"][eid] = (num, den)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_random_data_matches_literal_definitions(seed: int) -> None:
    """Random episodes, appointments, contracts (some with reduced or zero targets, ties on
    start dates, signed after as-of) and weekly rows (some exempt, some missing, a few not
    on a Monday); every scored indicator must match the literal one-at-a-time reading of
    §5.2/5.3 (`_py_reference`) unit by unit."""
    import random
    from datetime import timedelta

    rnd = random.Random(seed)
    base = D("2024-01-01")

    def day(lo: int, hi: int) -> date:
        return base + timedelta(days=rnd.randint(lo, hi))

    eps, appts, ctrs, acts = [], [], [], []
    for i in range(60):
        eid = f"E{i}"
        o = day(0, 700)
        ex = o + timedelta(days=rnd.randint(0, 500)) if rnd.random() < 0.5 else None
        reason = rnd.choice(["emploi", "formation", "abandon", "autre"]) if ex else None
        eps.append(
            ep(eid, o.isoformat(), ex and ex.isoformat(), reason, rnd.choice(["A", "B", "Z"]))
        )
        for _ in range(rnd.randint(0, 4)):
            appts.append(
                rdv(
                    eid,
                    (o + timedelta(days=rnd.randint(-5, 60))).isoformat(),
                    mode=rnd.choice(["physique", "physique", "telephone"]),
                    status=rnd.choice(["honore", "honore", "absent"]),
                )
            )
        starts = []
        for j in range(rnd.randint(0, 3)):
            st = o + timedelta(days=rnd.choice([rnd.randint(0, 200), 10]))
            starts.append(st)
            ctrs.append(
                ctr(
                    f"C{i}_{j}",
                    eid,
                    signed=(st - timedelta(days=rnd.randint(-20, 5))).isoformat(),
                    start=st.isoformat(),
                    target=rnd.choice([None, None, 10.0, 0.0, 7.5]),
                    objectives_defined=rnd.choice([True, False, None]),
                    action_plan=rnd.choice([True, False]),
                    signed_by_both=rnd.choice([True, None]),
                )
            )
        if starts:
            m = min(starts) - timedelta(days=min(starts).weekday())
            for k in range(rnd.randint(0, 60)):
                if rnd.random() < 0.8:
                    wk = m + timedelta(days=7 * k + (1 if rnd.random() < 0.03 else 0))
                    acts.append(
                        week(
                            eid,
                            wk.isoformat(),
                            rnd.choice([0, 5, 7.5, 10, 14.9, 15, 20]),
                            exempt=rnd.random() < 0.1,
                        )
                    )
    t = tables(episodes=eps, appointments=appts, contracts=ctrs, weekly_activity=acts)
    for as_of in ("2024-09-30", "2025-03-31", "2025-12-31"):
        w = windows(
            ("A", "2024-07-01", "2025-06-30", as_of), ("B", "2025-01-01", "2025-12-31", as_of)
        )
        w = w.filter(pl.col("eval_end") >= pl.col("window_start"))
        ref = _py_reference(t, w, P)
        got = {
            "fa": eq.first_appointment_15d(t, w, P),
            "ct": eq.contractualisation(t, w, P),
            "wk": eq.weekly_15h(t, w, P),
            "ex": eq.exit_12m(t, w, P),
            "ceu": eq.ceu_quality(t, w, P),
            "occ": eq.occupancy(t, w, P),
        }
        for key, units in got.items():
            assert by_unit(units) == ref[key], (key, as_of)


@pytest.mark.parametrize("indicator", SCORED, ids=lambda f: f.__name__)
def test_as_of_before_period_start_counts_nothing(indicator: Any) -> None:
    """as-of 31 Dec 2024 for a 2025 period: eval_end < window_start, the window is empty:
    no unit, aggregate 0 / 0 (occupancy: 0 days)."""
    t = tables(
        episodes=[ep("E1", "2024-01-10", "2025-01-09", "emploi"), ep("E2", "2024-12-02")],
        appointments=[rdv("E2", "2024-12-05")],
        contracts=[ctr("C1", "E2", signed="2024-12-06", start="2024-12-06")],
    )
    w = windows(("EQ1", "2025-01-01", "2025-12-31", "2024-12-31"))
    units = indicator(t, w, P)
    assert units.height == 0
    assert totals(units, w) == {"EQ1": (0, 0)}
    assert aggregate_occupancy(units, w).rows() == [("EQ1", 0, 0)]
    out = eq.reported(t, w, P)
    assert out["physical_meetings"][0] == 0 and out["months_active"][0] == 0
