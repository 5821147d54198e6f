"""Hand-computed cases for the `accueil` indicators (framework.md §3, §5.1-5.4).

Calendar used below: January has 31 days, February 2025 has 28; 2025 has 365 days.
2025-01-10 + 42 days = 2025-02-21 (21 days to 31 Jan, 21 more); 2025-03-01 + 10 days =
2025-03-11.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import polars as pl
import pytest
from builders import frame, tables  # noqa: F401

from engine.model.contract import PROPOSALS, PUBLICS, TABLES
from indicators import accueil as ac
from indicators.common import aggregate

D = date.fromisoformat

P: dict[str, Any] = {
    "positioning_max_days": 42,
    "positioning_publics": ("nouvel_entrant", "corde_de_rappel"),
    "opportunity_max_days": 10,
    "opportunity_publics": ("decision_opportunite",),
    "realised_statuses": ("realise",),
    "absence_report_max_days": 2,
    "diagnostics_per_etp": 400,
}

SCORED = [ac.orientation_6w, ac.opportunity_10d, ac.diagnostics_volume]


# --------------------------------------------------------------------------- builders


def windows(*rows: tuple[str, str, str, str], etp: str = "1") -> pl.DataFrame:
    """Windows from (convention_id, period_start, period_end, as_of)."""
    return pl.DataFrame(
        [
            {
                "convention_id": cid,
                "period_start": D(start),
                "period_end": D(end),
                "window_start": D(start),
                "eval_end": min(D(as_of), D(end)),
                "etp": Decimal(etp),
                "diagnostics_target": None,
            }
            for cid, start, end, as_of in rows
        ],
        schema={
            "convention_id": pl.String(),
            "period_start": pl.Date(),
            "period_end": pl.Date(),
            "window_start": pl.Date(),
            "eval_end": pl.Date(),
            "etp": pl.Decimal(38, 6),
            "diagnostics_target": pl.Int64(),
        },
    )


def diag(
    did: str,
    public: str,
    request: str,
    appointment: str | None = None,
    status: str = "realise",
    positioning: str | None = None,
    proposal: str | None = None,
    absence_reported: str | None = None,
    cid: str = "AC1",
    ben: str | None = None,
) -> dict[str, Any]:
    return {
        "diagnostic_id": did,
        "beneficiary_id": ben or "B" + did,
        "convention_id": cid,
        "public": public,
        "request_date": request,
        "appointment_date": appointment,
        "status": status,
        "positioning_date": positioning,
        "orientation_proposal": proposal,
        "absence_reported_date": absence_reported,
    }


def by_unit(units: pl.DataFrame) -> dict[str, tuple[int, int]]:
    return {r["unit"]: (r["numerator"], r["denominator"]) for r in units.iter_rows(named=True)}


def totals(units: pl.DataFrame, w: pl.DataFrame) -> dict[str, tuple[int, int]]:
    return {
        r["convention_id"]: (r["numerator"], r["denominator"])
        for r in aggregate(units, w).iter_rows(named=True)
    }


YEAR = ("AC1", "2025-01-01", "2025-12-31")


def w_at(as_of: str) -> pl.DataFrame:
    return windows((*YEAR, as_of))


# --------------------------------------------------------------------------- orientation_6w


def test_orientation_42nd_day_compliant_43rd_late() -> None:
    """Appointments on 10 Jan 2025; as-of 30 Jun.
    D1 nouvel_entrant positioned 21 Feb: 21 Feb - 10 Jan = 42 days <= 42 -> 1/1.
    D2 corde_de_rappel positioned 22 Feb: 43 days > 42 -> 0/1.
    Total 1/2."""
    t = tables(
        diagnostics=[
            diag("D1", "nouvel_entrant", "2025-01-02", "2025-01-10", positioning="2025-02-21"),
            diag("D2", "corde_de_rappel", "2025-01-02", "2025-01-10", positioning="2025-02-22"),
        ]
    )
    w = w_at("2025-06-30")
    units = ac.orientation_6w(t, w, P)
    assert by_unit(units) == {"D1": (1, 1), "D2": (0, 1)}
    assert units.filter(pl.col("unit") == "D2")["delay_days"].item() == 43
    assert units.filter(pl.col("unit") == "D1")["deadline"].item() == D("2025-02-21")
    assert totals(units, w) == {"AC1": (1, 2)}


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        # deadline 21 Feb: on 21 Feb it has not passed (21 Feb < 21 Feb is false)
        ("2025-02-21", {"D4": (1, 1)}),
        # 22 Feb: 10 Jan + 42 = 21 Feb < 22 Feb -> D3 in scope, not positioned -> 0/1
        ("2025-02-22", {"D3": (0, 1), "D4": (1, 1)}),
    ],
)
def test_orientation_in_scope_once_positioned_or_deadline_passed(
    as_of: str, expected: dict[str, tuple[int, int]]
) -> None:
    """D3 realised on 10 Jan, never positioned: out of scope until its deadline (21 Feb) has
    passed, then 0/1. D4 realised on 10 Jan, positioned 1 Feb (22 days): in scope as soon as
    positioned, before its deadline -> 1/1."""
    t = tables(
        diagnostics=[
            diag("D3", "nouvel_entrant", "2025-01-02", "2025-01-10"),
            diag("D4", "nouvel_entrant", "2025-01-02", "2025-01-10", positioning="2025-02-01"),
        ]
    )
    assert by_unit(ac.orientation_6w(t, w_at(as_of), P)) == expected


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        ("2025-02-19", {}),  # positioning of 20 Feb not yet happened, deadline 21 Feb not passed
        ("2025-02-20", {"D5": (1, 1)}),  # positioned on eval_end: 41 days
    ],
)
def test_orientation_positioning_after_as_of_is_ignored(
    as_of: str, expected: dict[str, tuple[int, int]]
) -> None:
    """D5 realised 10 Jan, positioned 20 Feb (41 days). As of 19 Feb the positioning is in
    the future (ignored) and the deadline has not passed: not in scope."""
    t = tables(
        diagnostics=[
            diag("D5", "corde_de_rappel", "2025-01-02", "2025-01-10", positioning="2025-02-20")
        ]
    )
    assert by_unit(ac.orientation_6w(t, w_at(as_of), P)) == expected


def test_orientation_only_realised_appointments_of_the_window_and_publics() -> None:
    """As-of 30 Jun. Only D6 is a unit (realised 2 Mar, positioned 10 Apr: 39 days -> 1/1).
    Not units: D7 absent; D8 en_attente; D9 annule; D10 realised but appointment 5 Jul after
    as-of; D11 appointment 20 Dec 2024 before the window; D12 decision_opportunite (other
    indicator); D13 realise without appointment date (cannot be dated)."""
    t = tables(
        diagnostics=[
            diag("D6", "nouvel_entrant", "2025-02-20", "2025-03-02", positioning="2025-04-10"),
            diag("D7", "nouvel_entrant", "2025-02-20", "2025-03-02", status="absent"),
            diag("D8", "nouvel_entrant", "2025-02-20", "2025-03-02", status="en_attente"),
            diag("D9", "nouvel_entrant", "2025-02-20", "2025-03-02", status="annule"),
            diag("D10", "nouvel_entrant", "2025-06-20", "2025-07-05", positioning="2025-07-06"),
            diag("D11", "nouvel_entrant", "2024-12-01", "2024-12-20", positioning="2025-01-05"),
            diag("D12", "decision_opportunite", "2025-02-20", "2025-03-02"),
            diag("D13", "nouvel_entrant", "2025-02-20", None),
        ]
    )
    assert by_unit(ac.orientation_6w(t, w_at("2025-06-30"), P)) == {"D6": (1, 1)}


def test_orientation_uses_parameters() -> None:
    """positioning_max_days 30 and positioning_publics [nouvel_entrant]: D1 (42 days) is late,
    D2 (corde_de_rappel) is no longer in scope -> D1 0/1 only."""
    t = tables(
        diagnostics=[
            diag("D1", "nouvel_entrant", "2025-01-02", "2025-01-10", positioning="2025-02-21"),
            diag("D2", "corde_de_rappel", "2025-01-02", "2025-01-10", positioning="2025-01-20"),
        ]
    )
    p = {**P, "positioning_max_days": 30, "positioning_publics": ["nouvel_entrant"]}
    assert by_unit(ac.orientation_6w(t, w_at("2025-06-30"), p)) == {"D1": (0, 1)}


# --------------------------------------------------------------------------- opportunity_10d


def test_opportunity_10th_day_compliant_11th_late() -> None:
    """Requests on 1 Mar; as-of 30 Jun. O1 realised 11 Mar: 10 days <= 10 -> 1/1.
    O2 realised 12 Mar: 11 days -> 0/1. Total 1/2."""
    t = tables(
        diagnostics=[
            diag("O1", "decision_opportunite", "2025-03-01", "2025-03-11"),
            diag("O2", "decision_opportunite", "2025-03-01", "2025-03-12"),
        ]
    )
    w = w_at("2025-06-30")
    units = ac.opportunity_10d(t, w, P)
    assert by_unit(units) == {"O1": (1, 1), "O2": (0, 1)}
    assert units.filter(pl.col("unit") == "O2")["delay_days"].item() == 11
    assert totals(units, w) == {"AC1": (1, 2)}


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        ("2025-03-08", {}),  # nothing realised, no deadline passed (11 Mar)
        ("2025-03-11", {}),  # deadline 1 Mar + 10 = 11 Mar, not < 11 Mar
        ("2025-03-12", {"O3": (0, 1), "O5": (0, 1)}),  # deadline passed: pending and absent
    ],
)
def test_opportunity_not_in_scope_until_deadline_passed(
    as_of: str, expected: dict[str, tuple[int, int]]
) -> None:
    """O3 requested 1 Mar, still en_attente (no appointment); O5 requested 1 Mar, absent on
    5 Mar (a missed appointment is not realised): both enter, non-compliant, only once the
    deadline 11 Mar has passed (eval_end 12 Mar)."""
    t = tables(
        diagnostics=[
            diag("O3", "decision_opportunite", "2025-03-01", status="en_attente"),
            diag("O5", "decision_opportunite", "2025-03-01", "2025-03-05", status="absent"),
        ]
    )
    assert by_unit(ac.opportunity_10d(t, w_at(as_of), P)) == expected


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        # O6's appointment (1 Jul) has not happened yet, deadline 5 Jul not passed; O4's
        # request (2 Jul) does not exist yet
        ("2025-06-30", {}),
        # O6 realised 1 Jul: 6 days -> 1/1; O4 requested 2 Jul, deadline 12 Jul not passed
        ("2025-07-10", {"O6": (1, 1)}),
        # O4 never realised: 2 Jul + 10 = 12 Jul < 13 Jul -> 0/1
        ("2025-07-13", {"O4": (0, 1), "O6": (1, 1)}),
    ],
)
def test_opportunity_as_of_replay(as_of: str, expected: dict[str, tuple[int, int]]) -> None:
    """O6 requested 25 Jun, realised 1 Jul; O4 requested 2 Jul, never realised (annule)."""
    t = tables(
        diagnostics=[
            diag("O6", "decision_opportunite", "2025-06-25", "2025-07-01"),
            diag("O4", "decision_opportunite", "2025-07-02", "2025-07-04", status="annule"),
        ]
    )
    assert by_unit(ac.opportunity_10d(t, w_at(as_of), P)) == expected


def test_opportunity_request_before_window_and_other_publics() -> None:
    """O7 requested 28 Dec 2024 (before the window), realised 3 Jan: not a unit. D1
    (nouvel_entrant) is not a unit. opportunity_max_days 5: O8 (1 Mar -> 7 Mar, 6 days) late."""
    t = tables(
        diagnostics=[
            diag("O7", "decision_opportunite", "2024-12-28", "2025-01-03"),
            diag("D1", "nouvel_entrant", "2025-03-01", "2025-03-02"),
            diag("O8", "decision_opportunite", "2025-03-01", "2025-03-07"),
        ]
    )
    assert by_unit(ac.opportunity_10d(t, w_at("2025-06-30"), P)) == {"O8": (1, 1)}
    p = {**P, "opportunity_max_days": 5}
    assert by_unit(ac.opportunity_10d(t, w_at("2025-06-30"), p)) == {"O8": (0, 1)}


# --------------------------------------------------------------------------- diagnostics_volume


def test_diagnostics_volume_counts_realised_appointments_of_the_window() -> None:
    """As-of 31 Mar. Realised with appointment in [1 Jan, 31 Mar]: V1 (1 Jan, first day),
    V2 (31 Mar, eval_end), V3 (decision_opportunite, 15 Feb) -> 3. Not counted: V4 absent,
    V5 annule, V6 realised 1 Apr (after as-of), V7 realised 31 Dec 2024 (before the window),
    V8 of another convention (AC2: 1 unit there). Units carry numerator 1, denominator 0."""
    t = tables(
        diagnostics=[
            diag("V1", "nouvel_entrant", "2024-12-20", "2025-01-01"),
            diag("V2", "corde_de_rappel", "2025-03-20", "2025-03-31"),
            diag("V3", "decision_opportunite", "2025-02-10", "2025-02-15"),
            diag("V4", "nouvel_entrant", "2025-02-10", "2025-02-15", status="absent"),
            diag("V5", "nouvel_entrant", "2025-02-10", "2025-02-15", status="annule"),
            diag("V6", "nouvel_entrant", "2025-03-25", "2025-04-01"),
            diag("V7", "nouvel_entrant", "2024-12-20", "2024-12-31"),
            diag("V8", "nouvel_entrant", "2025-02-10", "2025-02-15", cid="AC2"),
        ]
    )
    w = windows((*YEAR, "2025-03-31"), ("AC2", "2025-01-01", "2025-12-31", "2025-03-31"))
    units = ac.diagnostics_volume(t, w, P)
    assert by_unit(units) == {"V1": (1, 0), "V2": (1, 0), "V3": (1, 0), "V8": (1, 0)}
    assert totals(units, w) == {"AC1": (3, 0), "AC2": (1, 0)}


def test_diagnostics_volume_target_is_prorated() -> None:
    """Target (framework §5.3) through the engine's `volume_target` and the rules' indicator:
    as-of 31 Mar 2025 on a 2025 period: window 1 Jan - 31 Mar = 90 days, period 365 days.
    - own target 400: 400 x 90 / 365 = 36000/365 = 7200/73;
    - no own target, etp 1.2: 400 x 1.2 = 480 -> 480 x 90 / 365 = 8640/73;
    - final (as-of 31 Dec): own target 471 -> 471 (no proration);
    - as-of before the period: 0 days -> 0."""
    from engine.compute.scoring import volume_target
    from engine.load.rules import load_rules

    book = load_rules()
    ind = book.indicators["accueil"]["diagnostics_volume"]
    per_etp = Fraction(book.resolve("accueil", D("2025-03-31"))[ind.target_parameter])
    assert per_etp == 400

    def row(target: int | None, etp: str, as_of: str) -> dict[str, Any]:
        return {
            "diagnostics_target": target,
            "etp": Decimal(etp),
            "period_start": D("2025-01-01"),
            "period_end": D("2025-12-31"),
            "window_start": D("2025-01-01"),
            "eval_end": min(D(as_of), D("2025-12-31")),
        }

    assert volume_target(ind, row(400, "1", "2025-03-31"), per_etp)[0] == Fraction(7200, 73)
    assert volume_target(ind, row(None, "1.2", "2025-03-31"), per_etp)[0] == Fraction(8640, 73)
    assert volume_target(ind, row(471, "1.2", "2025-12-31"), per_etp)[0] == 471
    assert volume_target(ind, row(400, "1", "2024-12-31"), per_etp)[0] == 0


# --------------------------------------------------------------------------- generic


@pytest.mark.parametrize("indicator", SCORED, ids=lambda f: f.__name__)
def test_empty_tables_give_empty_units_and_zero_totals(indicator: Any) -> None:
    """No rows at all: no unit, typed columns, aggregate 0 / 0."""
    w = w_at("2025-06-30")
    units = indicator(tables(), w, P)
    assert units.height == 0
    assert units.columns[:4] == ["convention_id", "unit", "numerator", "denominator"]
    assert units.schema["numerator"] == pl.Int64
    assert units.schema["denominator"] == pl.Int64
    assert totals(units, w) == {"AC1": (0, 0)}


@pytest.mark.parametrize("indicator", SCORED, ids=lambda f: f.__name__)
def test_as_of_before_period_start_counts_nothing(indicator: Any) -> None:
    """As-of 31 Dec 2024 on a 2025 period: eval_end < window_start, nothing counts."""
    t = tables(
        diagnostics=[
            diag("D1", "nouvel_entrant", "2024-11-02", "2024-11-10", positioning="2024-12-01"),
            diag("O1", "decision_opportunite", "2024-12-01", "2024-12-05"),
        ]
    )
    w = w_at("2024-12-31")
    units = indicator(t, w, P)
    assert units.height == 0
    assert totals(units, w) == {"AC1": (0, 0)}
    assert ac.reported(t, w, P).row(0, named=True)["requests"] == 0


# --------------------------------------------------------------------------- reported


def test_reported_figures() -> None:
    """AC1, window 1 Jan - 30 Jun 2025, as-of 31 Mar (eval_end).
    R1 nouvel_entrant, req 2 Jan, realised 10 Jan (8 d), positioned 21 Feb (42 d), equilibre.
    R2 corde_de_rappel, req 5 Jan, realised 20 Jan (15 d), positioned 5 Mar (44 d), emploi.
    R3 decision_opportunite, req 1 Mar, realised 4 Mar (3 d), no proposal.
    R4 nouvel_entrant, req 1 Mar, absent 3 Mar, reported 5 Mar (2 d: in time).
    R5 nouvel_entrant (same beneficiary as R4), req 6 Mar, absent 10 Mar, reported 13 Mar
       (3 d: late).
    R6 corde_de_rappel, req 20 Mar, absent 30 Mar, not reported: deadline 1 Apr >= 31 Mar
       -> pending.
    R7 nouvel_entrant, req 15 Mar, appointment 20 Mar annule.
    R8 nouvel_entrant, req 25 Mar, appointment 2 Apr (after as-of) realised: not an accueil.
    R9 nouvel_entrant, req 20 Dec 2024, realised 28 Dec 2024, positioned 15 Jan 2025
       (18 d): not an accueil of the window, but a positioning of it (new entrant, within
       6 weeks).
    R10 nouvel_entrant, req 2 Apr (after as-of): does not exist.
    R11 corde_de_rappel, req 1 Feb, realised 4 Feb (3 d), positioned 2 Apr (after as-of),
        proposal remobilisation_sociale.
    R12 nouvel_entrant, req 1 Jan, absent 1 Feb, reported 20 Jan (before the appointment:
        in time).
    requests (req in window) = R1..R7, R11, R12 = 9 (R8 req 25 Mar counts too) -> 10.
    accueils (appointment in window) = R1-R7, R11, R12 = 9; absences = R4, R5, R6, R12 = 4;
    cancellations = R7 = 1; beneficiaries = 9 accueils - 1 shared (R4/R5) = 8.
    diagnostics = R1, R2, R3, R11 = 4 (nouvel_entrant 1, corde_de_rappel 2, opportunite 1).
    positionings = R1, R2, R9 = 3; within 6 weeks = R1 (42), R9 (18) = 2;
    new entrants oriented = R1, R9 = 2.
    mean delay = (8 + 15 + 3 + 3) / 4 = 29 / 4.
    proposals: equilibre 1, emploi 1, remobilisation_sociale 1, missing 1.
    absences reported in time = R4, R12 = 2; pending = R6 = 1.
    AC2 (no diagnostic): zeros."""
    t = tables(
        diagnostics=[
            diag(
                "R1",
                "nouvel_entrant",
                "2025-01-02",
                "2025-01-10",
                positioning="2025-02-21",
                proposal="equilibre",
            ),
            diag(
                "R2",
                "corde_de_rappel",
                "2025-01-05",
                "2025-01-20",
                positioning="2025-03-05",
                proposal="emploi",
            ),
            diag("R3", "decision_opportunite", "2025-03-01", "2025-03-04"),
            diag(
                "R4",
                "nouvel_entrant",
                "2025-03-01",
                "2025-03-03",
                status="absent",
                absence_reported="2025-03-05",
                ben="BX",
            ),
            diag(
                "R5",
                "nouvel_entrant",
                "2025-03-06",
                "2025-03-10",
                status="absent",
                absence_reported="2025-03-13",
                ben="BX",
            ),
            diag("R6", "corde_de_rappel", "2025-03-20", "2025-03-30", status="absent"),
            diag("R7", "nouvel_entrant", "2025-03-15", "2025-03-20", status="annule"),
            diag("R8", "nouvel_entrant", "2025-03-25", "2025-04-02", positioning="2025-04-03"),
            diag("R9", "nouvel_entrant", "2024-12-20", "2024-12-28", positioning="2025-01-15"),
            diag("R10", "nouvel_entrant", "2025-04-02", "2025-04-03"),
            diag(
                "R11",
                "corde_de_rappel",
                "2025-02-01",
                "2025-02-04",
                positioning="2025-04-02",
                proposal="remobilisation_sociale",
            ),
            diag(
                "R12",
                "nouvel_entrant",
                "2025-01-01",
                "2025-02-01",
                status="absent",
                absence_reported="2025-01-20",
            ),
        ]
    )
    w = windows(
        ("AC1", "2025-01-01", "2025-06-30", "2025-03-31"),
        ("AC2", "2025-01-01", "2025-06-30", "2025-03-31"),
    )
    out = ac.reported(t, w, P)
    assert out["convention_id"].to_list() == ["AC1", "AC2"]
    assert all(dtype == pl.Int64 for name, dtype in out.schema.items() if name != "convention_id")
    rows = {r["convention_id"]: r for r in out.iter_rows(named=True)}
    expected = {
        "requests": 10,
        "accueils": 9,
        "absences": 4,
        "cancellations": 1,
        "beneficiaries": 8,
        "diagnostics": 4,
        "diagnostics_nouvel_entrant": 1,
        "diagnostics_corde_de_rappel": 2,
        "diagnostics_decision_opportunite": 1,
        "positionings": 3,
        "orientations_within_6w": 2,
        "new_entrants_oriented": 2,
        "mean_first_appointment_delay_days_numerator": 29,
        "mean_first_appointment_delay_days_denominator": 4,
        "proposals_emploi": 1,
        "proposals_equilibre": 1,
        "proposals_remobilisation_sociale": 1,
        "proposals_independants": 0,
        "proposals_autre": 0,
        "proposals_missing": 1,
        "absences_reported_in_time": 2,
        "absences_report_pending": 1,
    }
    assert rows["AC1"] == {"convention_id": "AC1", **expected}
    assert rows["AC2"] == {"convention_id": "AC2", **{k: 0 for k in expected}}
    assert {f"proposals_{c}" for c in PROPOSALS} | {f"diagnostics_{c}" for c in PUBLICS} <= set(
        expected
    )


def test_reported_absence_deadline_day() -> None:
    """absence_report_max_days 2, as-of 31 Mar. Absences on 10 Mar: A1 reported 12 Mar
    (2 days) in time; A2 reported 13 Mar (3 days) late; A3 reported 1 Apr (after as-of) =
    not reported, deadline 12 Mar < 31 Mar -> neither in time nor pending. A4 absent 29 Mar,
    not reported: deadline 31 Mar is not < 31 Mar -> pending. A5 absent 28 Mar, not
    reported: 30 Mar < 31 Mar -> late. So 5 absences, 1 in time, 1 pending.
    With the parameter at 3: A1, A2 in time; A5 (31 Mar) and A4 pending."""

    def absent(did: str, appointment: str, reported: str | None) -> dict[str, Any]:
        return diag(
            did, "nouvel_entrant", "2025-03-01", appointment, "absent", absence_reported=reported
        )

    t = tables(
        diagnostics=[
            absent("A1", "2025-03-10", "2025-03-12"),
            absent("A2", "2025-03-10", "2025-03-13"),
            absent("A3", "2025-03-10", "2025-04-01"),
            absent("A4", "2025-03-29", None),
            absent("A5", "2025-03-28", None),
        ]
    )
    w = w_at("2025-03-31")
    names = ["absences", "absences_reported_in_time", "absences_report_pending"]
    row = ac.reported(t, w, P).row(0, named=True)
    assert [row[n] for n in names] == [5, 1, 1]
    row = ac.reported(t, w, {**P, "absence_report_max_days": 3}).row(0, named=True)
    assert [row[n] for n in names] == [5, 2, 2]


# --------------------------------------------------------------------------- whole run


def test_evaluate_accueil_end_to_end() -> None:
    """One accueil convention through `engine.evaluate` with the rules of `rules/`:
    period 2025, diagnostics_target 8, amount 1000 €, as-of 31 Dec 2025 (final).
    Diagnostics: 4 realised (E1..E4) -> volume 4 / 8 -> quantitative 1/2.
    orientation_6w: E1 (10 d), E2 (50 d) -> 1/2 -> (1/2 - 0.5) / 0.4 = 0.
    opportunity_10d: E3 (5 d), E4 (9 d) -> 2/2 = 1 -> score 1.
    qualitative = 0.5 x 0 + 0.5 x 1 = 1/2; earned = 1000 x (0.5 x 1/2 + 0.5 x 1/2) = 500."""
    from engine.compute.pipeline import evaluate
    from engine.load.rules import load_rules
    from engine.model.extracts import Extracts

    conventions = frame(
        "conventions",
        [
            {
                "convention_id": "AC1",
                "structure": "MEMPA",
                "territory": "Arrageois",
                "dispositif": "accueil",
                "funding": "financement",
                "etp": "1",
                "diagnostics_target": 8,
                "amount_eur": "1000",
                "period_start": "2025-01-01",
                "period_end": "2025-12-31",
            }
        ],
    )
    t = tables(
        diagnostics=[
            diag("E1", "nouvel_entrant", "2025-02-01", "2025-02-05", positioning="2025-02-15"),
            diag("E2", "corde_de_rappel", "2025-02-01", "2025-02-05", positioning="2025-03-27"),
            diag("E3", "decision_opportunite", "2025-05-01", "2025-05-06"),
            diag("E4", "decision_opportunite", "2025-05-01", "2025-05-10"),
        ]
    )
    t["conventions"] = conventions
    extracts = Extracts(tables=t, rejected=pl.DataFrame(), counts={}, files={}, source="test")
    run = evaluate(extracts, load_rules(), D("2025-12-31"))
    c = run.convention("AC1")
    assert c.indicators["diagnostics_volume"].value == 4
    assert c.indicators["diagnostics_volume"].target == 8
    assert c.indicators["orientation_6w"].value == Fraction(1, 2)
    assert c.indicators["opportunity_10d"].value == 1
    assert c.quantitative_score == Fraction(1, 2)
    assert c.qualitative_score == Fraction(1, 2)
    assert c.earned == Decimal("500.00")
    assert c.reported["diagnostics"] == 4


# --------------------------------------------------------------------------- random cross-check


def _py_reference(t: dict[str, pl.DataFrame], w: pl.DataFrame, p: dict[str, Any]) -> dict:
    """§5.2/5.3 written literally, one diagnostic at a time."""
    win = {r["convention_id"]: r for r in w.iter_rows(named=True)}
    out: dict[str, dict[str, tuple[int, int]]] = {"o6": {}, "o10": {}, "vol": {}}
    for d in t["diagnostics"].iter_rows(named=True):
        if d["convention_id"] not in win:
            continue
        ws, end = win[d["convention_id"]]["window_start"], win[d["convention_id"]]["eval_end"]
        if d["request_date"] > end:
            continue
        appt = (
            d["appointment_date"]
            if d["appointment_date"] and d["appointment_date"] <= end
            else None
        )
        pos = (
            d["positioning_date"]
            if d["positioning_date"] and d["positioning_date"] <= end
            else None
        )
        realised = d["status"] == "realise" and appt is not None
        if realised and ws <= appt <= end:
            out["vol"][d["diagnostic_id"]] = (1, 0)
            if d["public"] in p["positioning_publics"]:
                deadline = appt + timedelta(days=p["positioning_max_days"])
                if pos is not None or deadline < end:
                    ok = pos is not None and (pos - appt).days <= p["positioning_max_days"]
                    out["o6"][d["diagnostic_id"]] = (int(ok), 1)
        if d["public"] in p["opportunity_publics"] and ws <= d["request_date"] <= end:
            deadline = d["request_date"] + timedelta(days=p["opportunity_max_days"])
            if realised or deadline < end:
                ok = realised and (appt - d["request_date"]).days <= p["opportunity_max_days"]
                out["o10"][d["diagnostic_id"]] = (int(ok), 1)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_random_data_matches_literal_definitions(seed: int) -> None:
    """Random diagnostics (all publics and statuses, missing dates, positionings before or
    long after the appointment) on two conventions and three as-of dates: every scored
    indicator matches `_py_reference` unit by unit."""
    rnd = random.Random(seed)
    base = D("2024-10-01")

    def day(lo: int, hi: int) -> date:
        return base + timedelta(days=rnd.randint(lo, hi))

    rows = []
    for i in range(150):
        req = day(0, 500)
        appt = req + timedelta(days=rnd.randint(-2, 25)) if rnd.random() < 0.9 else None
        pos = (
            appt + timedelta(days=rnd.randint(-3, 60))
            if appt is not None and rnd.random() < 0.8
            else None
        )
        rows.append(
            diag(
                f"D{i}",
                rnd.choice(PUBLICS),
                req.isoformat(),
                appt and appt.isoformat(),
                status=rnd.choice(
                    ["realise", "realise", "realise", "absent", "annule", "en_attente"]
                ),
                positioning=pos and pos.isoformat(),
                cid=rnd.choice(["A", "B", "Z"]),
            )
        )
    t = tables(diagnostics=rows)
    for as_of in ("2024-12-31", "2025-03-31", "2025-09-30", "2026-01-31"):
        w = windows(
            ("A", "2024-11-01", "2025-10-31", as_of), ("B", "2025-01-01", "2025-12-31", as_of)
        )
        w = w.filter(pl.col("eval_end") >= pl.col("window_start"))
        ref = _py_reference(t, w, P)
        assert by_unit(ac.orientation_6w(t, w, P)) == ref["o6"], as_of
        assert by_unit(ac.opportunity_10d(t, w, P)) == ref["o10"], as_of
        assert by_unit(ac.diagnostics_volume(t, w, P)) == ref["vol"], as_of


# --------------------------------------------------------------------------- synthetic data


def _conventions_text() -> pl.DataFrame:
    """Accueil lines of Annexe 4 (L207-215) as a text frame, as read from a CSV, plus one
    equilibre line the generator must ignore; ADEFI has no diagnostics_target (0.4 ETP)."""
    rows = [
        ("AC-MEMPA", "accueil", "1", "400"),
        ("AC-PBI", "accueil", "2", "800"),
        ("AC-MIPE", "accueil", "1,2", "471"),
        ("AC-MEILL", "accueil", "3", "1200"),
        ("AC-ADEFI", "accueil", "0.4", ""),
        ("EQ-X", "equilibre", "1", ""),
    ]
    return pl.DataFrame(
        {
            "convention_id": [r[0] for r in rows],
            "dispositif": [r[1] for r in rows],
            "etp": [r[2] for r in rows],
            "diagnostics_target": [r[3] or None for r in rows],
            "period_start": ["2025-01-01"] * len(rows),
            "period_end": ["31/12/2025"] * len(rows),
        }
    )


def test_synthetic_diagnostics_follow_the_contract_and_are_deterministic() -> None:
    """Same seed, same rows; another seed, other rows; contract schema and codes; unique
    pseudonymous ids; only accueil conventions; a mix of late, absent and after-June facts;
    realised diagnostics by 30 Jun within 0.6-1.4 x the prorated target (181/365)."""
    from engine.synthetic import accueil as synth

    conv = _conventions_text()
    d = synth.generate(conv, seed=3)["diagnostics"]
    assert d.equals(synth.generate(conv, seed=3)["diagnostics"])
    assert not d.equals(synth.generate(conv, seed=4)["diagnostics"])
    assert d.schema == TABLES["diagnostics"].schema
    assert d["diagnostic_id"].is_unique().all()
    assert d["diagnostic_id"].str.contains(r"^D\d{6,}$").all()
    assert d["beneficiary_id"].str.contains(r"^B\d{7,}$").all()
    assert d["beneficiary_id"].n_unique() < d.height  # a few come back
    for name in ("public", "status", "orientation_proposal"):
        codes = set(TABLES["diagnostics"].column(name).codes)
        assert set(d[name].drop_nulls()) <= codes
    assert set(d["convention_id"]) == {"AC-MEMPA", "AC-PBI", "AC-MIPE", "AC-MEILL", "AC-ADEFI"}
    assert (d["status"] == "absent").sum() > 0
    assert d.filter(pl.col("appointment_date") > D("2025-06-30")).height > 0
    assert (d["positioning_date"] - d["appointment_date"]).dt.total_days().max() > 42

    typed = _conventions_text().with_columns(
        pl.col("etp").str.replace(",", ".").cast(pl.Decimal(38, 6)),
        pl.col("diagnostics_target").cast(pl.Int64),
        pl.col("period_start").str.to_date(),
        pl.col("period_end").str.to_date("%d/%m/%Y"),
    )
    assert synth.generate(typed, seed=3)["diagnostics"].equals(d)

    w = windows(
        *[(cid, "2025-01-01", "2025-12-31", "2025-06-30") for cid in ("AC-MEMPA", "AC-MEILL")]
    )
    got = totals(ac.diagnostics_volume({"diagnostics": d}, w, P), w)
    for cid, target in (("AC-MEMPA", 400), ("AC-MEILL", 1200)):
        ratio = got[cid][0] / (target * 181 / 365)
        assert 0.6 < ratio < 1.4, (cid, ratio)
    o6 = totals(ac.orientation_6w({"diagnostics": d}, w, P), w)
    assert all(0 < num < den for num, den in o6.values())
    assert synth.generate(conv, seed=3, scale=0)["diagnostics"].height == 0
