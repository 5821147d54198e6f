"""Hand-computed cases for the `independants` indicators (framework.md §4, §5.1, §5.5).

Month rule (§5.1): a span lasts at most N months when its last day comes before
`start + N months` (calendar months clamped to the month's end): 15 Jan – 14 Apr is 3
months, 15 Jan – 15 Apr is more; 30 Nov + 3 months = 28 Feb (clamped from 30 Feb).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from builders import frame, tables  # noqa: F401

from engine.load.extracts import read_extracts
from engine.load.rules import load_rules
from engine.model.contract import TABLES, Before, RequiredWhen
from engine.synthetic.independants import TABLE_NAMES, generate
from indicators import independants as ind
from indicators.common import aggregate

D = date.fromisoformat
ROOT = Path(__file__).resolve().parent.parent
SEED_TEXT = ROOT.parent / "shared" / "seed" / "deliberation-cp-2024-587.txt"

BOOK = load_rules()
P: dict[str, Any] = BOOK.resolve("independants", D("2025-06-30"))


# --------------------------------------------------------------------------- builders


def windows(*rows: tuple[str, str, str, str]) -> pl.DataFrame:
    """Windows from (convention_id, period_start, period_end, as_of)."""
    return pl.DataFrame(
        [
            {
                "convention_id": cid,
                "period_start": D(start),
                "period_end": D(end),
                "window_start": D(start),
                "eval_end": min(D(as_of), D(end)),
                "etp": Decimal("1"),
                "mining_basin": False,
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
            "mining_basin": pl.Boolean(),
        },
    )


def ep(eid: str, orientation: str = "2023-07-01", cid: str = "IND1") -> dict[str, Any]:
    return {
        "episode_id": eid,
        "beneficiary_id": "B" + eid,
        "convention_id": cid,
        "orientation_date": orientation,
    }


_ids = iter(range(1, 1_000_000))


def rdv(eid: str, day: str, mode: str = "telephone", status: str = "honore") -> dict[str, Any]:
    return {
        "appointment_id": f"A{next(_ids)}",
        "episode_id": eid,
        "date": day,
        "mode": mode,
        "status": status,
    }


def ph(pid: str, eid: str, phase: str, start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {
        "phase_id": pid,
        "episode_id": eid,
        "phase": phase,
        "start_date": start,
        "end_date": end,
        **extra,
    }


def by_unit(units: pl.DataFrame) -> dict[str, tuple[int, int]]:
    return {r["unit"]: (r["numerator"], r["denominator"]) for r in units.iter_rows(named=True)}


def unit_row(units: pl.DataFrame, unit: str) -> dict[str, Any]:
    return units.filter(pl.col("unit") == unit).row(0, named=True)


W_2025 = ("IND1", "2025-01-01", "2025-12-31")


# --------------------------------------------------------------------------- rules


def test_rules_loaded_with_costs_model_and_unscored_rates() -> None:
    """Three rate indicators beside the money (part none), cost-based funding, 1 / 0 weights."""
    inds = BOOK.indicators["independants"]
    assert set(inds) == {"diagnostic_phase", "monthly_interviews", "duration_limits"}
    assert {(i.kind, i.part) for i in inds.values()} == {("rate", "none")}
    assert P["funding_model"] == "costs"
    assert (P["quantitative_weight"], P["qualitative_weight"]) == (1, 0)
    assert P["development_cerp_months"] == ("3", "6", "9", "12")
    assert P["cessation_cerp_months"] == ("3", "6")
    # In force from the start of the operation (L847: 01/07/2023); the avenant from 2025.
    early = BOOK.resolve("independants", D("2023-07-01"))
    assert early["amendment_eur"] == 0 and P["amendment_eur"] == Decimal("79850")
    assert (P["flat_rate"], P["min_allocation"]) == (Decimal("0.4"), Decimal("0.3"))


def test_every_quote_is_on_its_line() -> None:
    """Each source citing the deliberation quotes text found verbatim on line `ref`."""
    if not SEED_TEXT.exists():
        pytest.skip("texte de la délibération absent")
    lines = SEED_TEXT.read_text(encoding="utf-8").splitlines()
    sources = [p.source for p in BOOK.params.values() if p.dispositif == "independants"]
    sources += [i.source for i in BOOK.indicators["independants"].values()]
    checked = 0
    for source in sources:
        if source["document"] != "deliberation-cp-2024-587":
            continue
        line = int(re.fullmatch(r"L(\d+)", source["ref"]).group(1))  # type: ignore[union-attr]
        assert source["quote"] in lines[line - 1], (source["ref"], source["quote"])
        checked += 1
    assert checked >= 20


# --------------------------------------------------------------------------- diagnostic_phase


def test_diagnostic_exactly_three_months_and_one_day_more() -> None:
    """Window 2025, as-of 30 Jun. Interviews count inside [start, end], both included.
    D1 15 Jan – 14 Apr: 15 Jan + 3 months = 15 Apr; 14 Apr < 15 Apr -> 3 months; interviews
       15 Jan, 20 Feb, 14 Apr (first and last day) = 3 >= 3 -> compliant.
    D2 15 Jan – 15 Apr: 15 Apr is not < 15 Apr -> longer than 3 months, 3 interviews -> no.
    D3 15 Jan – 14 Apr, interviews 20 Jan, 20 Feb honoured, 20 Mar absent, 15 Apr honoured
       (the day after the end): 2 < 3 -> no.
    D4 30 Nov 2024 – 27 Feb 2025: 30 Nov + 3 months = 28 Feb (clamped); 27 Feb < 28 Feb,
       3 interviews -> compliant. D5 30 Nov 2024 – 28 Feb 2025 -> no.
    D6 ends 31 Dec 2024 (before the window), D7 ends 1 Jul 2025 (after eval_end): no unit.
    Total 2 / 5."""
    t = tables(
        episodes=[ep(e) for e in ("E1", "E2", "E3", "E4", "E5", "E6", "E7")],
        phases=[
            ph("D1", "E1", "diagnostic", "2025-01-15", "2025-04-14"),
            ph("D2", "E2", "diagnostic", "2025-01-15", "2025-04-15"),
            ph("D3", "E3", "diagnostic", "2025-01-15", "2025-04-14"),
            ph("D4", "E4", "diagnostic", "2024-11-30", "2025-02-27"),
            ph("D5", "E5", "diagnostic", "2024-11-30", "2025-02-28"),
            ph("D6", "E6", "diagnostic", "2024-10-01", "2024-12-31"),
            ph("D7", "E7", "diagnostic", "2025-04-02", "2025-07-01"),
        ],
        appointments=[
            *[rdv("E1", d) for d in ("2025-01-15", "2025-02-20", "2025-04-14")],
            *[rdv("E2", d) for d in ("2025-01-15", "2025-02-20", "2025-04-14")],
            rdv("E3", "2025-01-20"),
            rdv("E3", "2025-02-20"),
            rdv("E3", "2025-03-20", status="absent"),
            rdv("E3", "2025-04-15"),
            *[rdv("E4", d, mode="physique") for d in ("2024-12-01", "2025-01-10", "2025-02-27")],
            *[rdv("E5", d, mode="visio") for d in ("2024-12-01", "2025-01-10", "2025-02-27")],
        ],
    )
    w = windows((*W_2025, "2025-06-30"))
    units = ind.diagnostic_phase(t, w, P)
    assert by_unit(units) == {
        "D1": (1, 1),
        "D2": (0, 1),
        "D3": (0, 1),
        "D4": (1, 1),
        "D5": (0, 1),
    }
    d1, d2, d3 = (unit_row(units, u) for u in ("D1", "D2", "D3"))
    assert (d1["limit_date"], d1["months_elapsed"], d1["interviews"]) == (D("2025-04-15"), 3, 3)
    assert (d2["within_duration"], d2["enough_interviews"]) == (False, True)
    assert (d3["within_duration"], d3["interviews"]) == (True, 2)
    assert unit_row(units, "D4")["limit_date"] == D("2025-02-28")
    assert aggregate(units, w).row(0) == ("IND1", 2, 5)


def test_diagnostic_interview_modes_and_as_of() -> None:
    """D1 15 Jan – 14 Apr with interviews 20 Jan (physique), 20 Feb (telephone), 20 Mar (ecrit).
    Default modes (all): 3 -> compliant. interview_modes = [physique]: 1 -> not compliant.
    As of 13 Apr the phase has not ended yet (14 Apr > eval_end): no unit."""
    t = tables(
        episodes=[ep("E1")],
        phases=[ph("D1", "E1", "diagnostic", "2025-01-15", "2025-04-14")],
        appointments=[
            rdv("E1", "2025-01-20", mode="physique"),
            rdv("E1", "2025-02-20", mode="telephone"),
            rdv("E1", "2025-03-20", mode="ecrit"),
        ],
    )
    w = windows((*W_2025, "2025-06-30"))
    assert by_unit(ind.diagnostic_phase(t, w, P)) == {"D1": (1, 1)}
    physical_only = {**P, "interview_modes": ("physique",)}
    assert by_unit(ind.diagnostic_phase(t, w, physical_only)) == {"D1": (0, 1)}
    assert ind.diagnostic_phase(t, windows((*W_2025, "2025-04-13")), P).height == 0


# --------------------------------------------------------------------------- monthly_interviews


def _monthly_tables() -> dict[str, pl.DataFrame]:
    return tables(
        episodes=[ep("E1"), ep("E2"), ep("E3")],
        phases=[
            ph("DG", "E1", "diagnostic", "2024-10-15", "2025-01-14"),
            ph("P1", "E1", "developpement", "2025-01-15", "2025-07-14"),
            ph("C1", "E2", "cessation", "2025-03-01", "2025-05-31"),
            ph("X1", "E3", "developpement", "2025-07-01", "2025-12-31"),
        ],
        appointments=[
            rdv("E1", "2025-01-20"),  # January is not whole inside P1 (it starts on the 15th)
            rdv("E1", "2025-02-03"),
            # March: no interview at all
            rdv("E1", "2025-04-10", status="absent"),  # April: only a missed appointment
            rdv("E1", "2025-05-02"),
            rdv("E1", "2025-05-28", mode="physique"),
            rdv("E1", "2025-06-30"),  # the last day of June, and of the window as of 30 Jun
            rdv("E2", "2025-03-31"),
            rdv("E2", "2025-04-01", status="annule"),
            rdv("E2", "2025-05-15", mode="collectif"),
        ],
    )


def test_monthly_interviews_whole_months_and_a_month_without_interview() -> None:
    """Window 2025, as-of 30 Jun.
    P1 (développement 15 Jan – 14 Jul): whole months inside the phase and [1 Jan, 30 Jun]:
       Feb, Mar, Apr, May, Jun (Jan starts before the phase, Jul ends after both).
       Feb 1 interview -> ok; Mar 0 -> no; Apr only an absence -> no; May 2 -> ok;
       Jun 1 (30 Jun) -> ok: 3 / 5.
    C1 (cessation 1 Mar – 31 May): Mar (31 Mar) ok; Apr (cancelled only) no; May ok: 2 / 3.
    X1 starts 1 Jul, after eval_end: no unit. The diagnostic phase DG never has units.
    Total 5 / 8."""
    t = _monthly_tables()
    w = windows((*W_2025, "2025-06-30"))
    units = ind.monthly_interviews(t, w, P)
    assert by_unit(units) == {
        "P1:2025-02": (1, 1),
        "P1:2025-03": (0, 1),
        "P1:2025-04": (0, 1),
        "P1:2025-05": (1, 1),
        "P1:2025-06": (1, 1),
        "C1:2025-03": (1, 1),
        "C1:2025-04": (0, 1),
        "C1:2025-05": (1, 1),
    }
    assert unit_row(units, "P1:2025-05")["interviews"] == 2
    assert unit_row(units, "P1:2025-05")["month"] == D("2025-05-01")
    assert aggregate(units, w).row(0) == ("IND1", 5, 8)


def test_monthly_interviews_as_of_cuts_the_last_month() -> None:
    """As of 29 Jun, June is not whole inside the window: P1 has Feb..May (2 / 4), C1 3 units
    (2 / 3). With interviews_per_month = 2 only P1 May (2 interviews) is compliant: 1 / 7."""
    t = _monthly_tables()
    w = windows((*W_2025, "2025-06-29"))
    units = ind.monthly_interviews(t, w, P)
    assert sorted(by_unit(units)) == [
        "C1:2025-03",
        "C1:2025-04",
        "C1:2025-05",
        "P1:2025-02",
        "P1:2025-03",
        "P1:2025-04",
        "P1:2025-05",
    ]
    assert aggregate(units, w).row(0) == ("IND1", 4, 7)
    twice = ind.monthly_interviews(t, w, {**P, "interviews_per_month": 2})
    assert aggregate(twice, w).row(0) == ("IND1", 1, 7)


# --------------------------------------------------------------------------- duration_limits


def test_duration_renewal_reaching_exactly_18_months_and_one_day_more() -> None:
    """Window 2025, as-of 31 Dec. Development = first development start to last development
    end, the renewal included; limit `start + 18 months`.
    E1 diagnostic 1 – 14 Jan 2024, CERP 15 Jan 2024 – 14 Jan 2025 (12 months), renewal
       15 Jan – 14 Jul 2025 (6 months): 15 Jan 2024 + 18 months = 15 Jul 2025 > 14 Jul
       -> 18 months exactly, ok; operation 1 Jan 2024 – 14 Jul 2025 < 1 Oct 2025 ok.
    E2 same with the renewal ending 15 Jul 2025 (18 months + 1 day): not < 15 Jul -> no."""
    t = tables(
        episodes=[ep("E1"), ep("E2")],
        phases=[
            ph("G1", "E1", "diagnostic", "2024-01-01", "2024-01-14"),
            ph("A1", "E1", "developpement", "2024-01-15", "2025-01-14"),
            ph("R1", "E1", "developpement", "2025-01-15", "2025-07-14", renewal=True),
            ph("G2", "E2", "diagnostic", "2024-01-01", "2024-01-14"),
            ph("A2", "E2", "developpement", "2024-01-15", "2025-01-14"),
            ph("R2", "E2", "developpement", "2025-01-15", "2025-07-15", renewal=True),
        ],
    )
    units = ind.duration_limits(t, windows((*W_2025, "2025-12-31")), P)
    assert by_unit(units) == {"E1": (1, 1), "E2": (0, 1)}
    e1, e2 = unit_row(units, "E1"), unit_row(units, "E2")
    assert (e1["development_start"], e1["development_end"]) == (D("2024-01-15"), D("2025-07-14"))
    assert (e1["development_months"], e1["phases"]) == (18, 3)
    assert (e2["development_ok"], e2["operation_ok"], e2["cessation_ok"]) == (False, True, True)


def test_duration_operation_of_21_months_and_22() -> None:
    """Operation = first phase start to last phase end; limit `start + 21 months`.
    E3 diagnostic 15 Oct 2023 – 14 Jan 2024, development 15 Jan 2024 – 14 Jul 2025
       (18 months exactly): 15 Oct 2023 + 21 months = 15 Jul 2025 > 14 Jul -> ok.
    E4 diagnostic 15 Sep 2023 – 14 Dec 2023, development 15 Jan 2024 – 14 Jul 2025:
       15 Sep 2023 + 21 months = 15 Jun 2025 <= 14 Jul 2025 -> 22 months, not ok
       (development alone, 18 months, is ok)."""
    t = tables(
        episodes=[ep("E3"), ep("E4")],
        phases=[
            ph("G3", "E3", "diagnostic", "2023-10-15", "2024-01-14"),
            ph("A3", "E3", "developpement", "2024-01-15", "2025-07-14"),
            ph("G4", "E4", "diagnostic", "2023-09-15", "2023-12-14"),
            ph("A4", "E4", "developpement", "2024-01-15", "2025-07-14"),
        ],
    )
    units = ind.duration_limits(t, windows((*W_2025, "2025-12-31")), P)
    assert by_unit(units) == {"E3": (1, 1), "E4": (0, 1)}
    e3, e4 = unit_row(units, "E3"), unit_row(units, "E4")
    assert (e3["operation_months"], e3["operation_ok"]) == (21, True)
    assert (e4["operation_months"], e4["operation_ok"], e4["development_ok"]) == (22, False, True)


def test_duration_cessation_scope_and_as_of() -> None:
    """Cessation limit `start + 6 months`: E5 1 Jan – 30 Jun 2025 (< 1 Jul) ok; E6 1 Jan –
    1 Jul 2025 no. E7's only phase ended 31 Dec 2024, before the window: not in scope.
    E8 development 1 Jul 2024 – 30 Jun 2025 then a renewal 1 Jul 2025 – 31 Jan 2026
    (19 months in all): as of 30 Jun the renewal has not started, so 12 months -> ok;
    as of 31 Dec it counts with its declared end: 1 Jul 2024 + 18 months = 1 Jan 2026
    <= 31 Jan 2026 -> no."""
    t = tables(
        episodes=[ep(e) for e in ("E5", "E6", "E7", "E8")],
        phases=[
            ph("C5", "E5", "cessation", "2025-01-01", "2025-06-30"),
            ph("C6", "E6", "cessation", "2025-01-01", "2025-07-01"),
            ph("C7", "E7", "cessation", "2024-07-01", "2024-12-31"),
            ph("A8", "E8", "developpement", "2024-07-01", "2025-06-30"),
            ph("R8", "E8", "developpement", "2025-07-01", "2026-01-31", renewal=True),
        ],
    )
    mid = ind.duration_limits(t, windows((*W_2025, "2025-06-30")), P)
    assert by_unit(mid) == {"E5": (1, 1), "E6": (0, 1), "E8": (1, 1)}
    assert unit_row(mid, "E6")["cessation_ok"] is False
    end = ind.duration_limits(t, windows((*W_2025, "2025-12-31")), P)
    assert by_unit(end) == {"E5": (1, 1), "E6": (0, 1), "E8": (0, 1)}
    assert unit_row(end, "E8")["development_end"] == D("2026-01-31")


# --------------------------------------------------------------------------- reported


def test_reported_counts_of_l935() -> None:
    """Window 2025, as-of 30 Jun; a second convention IND2 with nothing.
    oriented: E1 (10 Jan), E2 (1 Jun) in the window; E0 (2024) and E9 (1 Jul, after eval_end,
      does not exist yet) not -> 2.
    diagnostics_ended: G1 ends 9 Apr, G0 ends 2024 -> 1.
    development_started: A1 (10 Apr, 3-month CERP 10 Apr – 9 Jul) -> 1, and the renewal R0
      (1 Jan, 7 months: 1 Jan + 6 months = 1 Jul <= 31 Jul -> too long) -> renewals 1,
      renewals_too_long 1.
    cessation_started: C2 (1 Jun – 30 Jun, 1 month: not 3 or 6) -> 1, CERP not listed 1
      (A1: 10 Apr + 3 months = 10 Jul = 9 Jul + 1 day -> listed).
    Results of phases ended in the window: A0 (ended 31 Mar) profit 1000 -> 1500 (increased),
      left_rsa; C2 ended 30 Jun: business_closed, resumed_insertion. A1 ends after eval_end:
      its flags do not count yet. -> profit_increased 1, left_rsa 1, business_closed 1,
      resumed_insertion 1."""
    t = tables(
        episodes=[
            ep("E0", "2024-03-01"),
            ep("E1", "2025-01-10"),
            ep("E2", "2025-06-01"),
            ep("E9", "2025-07-01"),
        ],
        phases=[
            ph("G0", "E0", "diagnostic", "2024-03-05", "2024-06-04"),
            ph(
                "A0",
                "E0",
                "developpement",
                "2024-06-05",
                "2025-03-31",
                profit_before="1000",
                profit_after="1500",
                left_rsa=True,
            ),
            ph("R0", "E0", "developpement", "2025-01-01", "2025-07-31", renewal=True),
            ph("G1", "E1", "diagnostic", "2025-01-10", "2025-04-09"),
            ph("A1", "E1", "developpement", "2025-04-10", "2025-07-09", left_rsa=True),
            ph(
                "C2",
                "E2",
                "cessation",
                "2025-06-01",
                "2025-06-30",
                business_closed=True,
                resumed_insertion=True,
            ),
        ],
    )
    w = windows((*W_2025, "2025-06-30"), ("IND2", "2025-01-01", "2025-12-31", "2025-06-30"))
    out = ind.reported(t, w, P)
    rows = {r["convention_id"]: r for r in out.iter_rows(named=True)}
    assert rows["IND1"] == {
        "convention_id": "IND1",
        "oriented": 2,
        "diagnostics_ended": 1,
        "development_started": 1,
        "development_renewals_started": 1,
        "cessation_started": 1,
        "profit_increased": 1,
        "resumed_insertion": 1,
        "business_closed": 1,
        "left_rsa": 1,
        "cerp_duration_not_listed": 1,
        "renewals_too_long": 1,
    }
    assert all(v == 0 for k, v in rows["IND2"].items() if k != "convention_id")
    assert out.schema["oriented"] == pl.Int64


# --------------------------------------------------------------------------- eligible costs


def test_eligible_costs_threshold_is_inclusive() -> None:
    """S1 40 000 × 1 = 40 000; S2 10 000 × 0.30 (exactly the minimum) = 3 000 -> eligible;
    S3 10 000 × 0.29 = 2 900 -> ineligible, listed in French. Eligible 43 000, 2 staff;
    declared 45 900. IND2 has no staff: 0, empty list."""
    t = tables(
        staff_costs=[
            {"convention_id": "IND1", "staff_id": s, "gross_cost_eur": g, "allocation_rate": a}
            for s, g, a in (("S1", "40000", "1"), ("S2", "10000", "0.30"), ("S3", "10000", "0.29"))
        ]
    )
    w = windows((*W_2025, "2025-12-31"), ("IND2", "2025-01-01", "2025-12-31", "2025-12-31"))
    out = {r["convention_id"]: r for r in ind.eligible_costs(t, w, P).iter_rows(named=True)}
    assert out["IND1"]["eligible_personnel_eur"] == Decimal("43000")
    assert out["IND1"]["ineligible_personnel_eur"] == Decimal("2900")
    assert out["IND1"]["declared_personnel_eur"] == Decimal("45900")
    assert (out["IND1"]["staff_eligible"], out["IND1"]["staff_ineligible"]) == (2, 1)
    assert out["IND1"]["ineligible_staff"] == ["S3 (taux d'affectation 29 % < 30 %)"]
    assert out["IND2"]["eligible_personnel_eur"] == 0
    assert (out["IND2"]["staff_eligible"], out["IND2"]["ineligible_staff"]) == (0, [])


# --------------------------------------------------------------------------- synthetic data


CONVENTIONS = pl.DataFrame(
    {
        "convention_id": ["IND-PCA", "IND-PCA-AV", "EQ-X"],
        "dispositif": ["independants", "independants", "equilibre"],
        "etp": ["3", "1,2", "2"],
        "period_start": ["2023-07-01", "01/01/2025", "2025-01-01"],
        "period_end": ["2025-12-31", "2025-12-31", "2025-06-30"],
    }
)


def test_synthetic_data_follows_the_contract_and_is_deterministic() -> None:
    """Same seed -> same frames; contract dtypes, keys, row checks and parents hold; ids are
    prefixed `IND-`; every convention has one staff member at 30 % and one below."""
    out = generate(CONVENTIONS, seed=7)
    again = generate(CONVENTIONS, seed=7)
    other = generate(CONVENTIONS, seed=8)
    assert set(out) == set(TABLE_NAMES)
    assert all(out[k].equals(again[k]) for k in out)
    assert not out["episodes"].equals(other["episodes"])
    for name, df in out.items():
        table = TABLES[name]
        assert df.schema == pl.Schema(table.schema), name
        assert df.height > 0, name
        if table.key:
            assert df.select(table.key).is_duplicated().sum() == 0, name
        for col in table.columns:
            if col.required:
                assert df[col.name].null_count() == 0, (name, col.name)
            if col.codes:
                assert set(df[col.name].drop_nulls()) <= set(col.codes), (name, col.name)
        for check in table.checks:
            if isinstance(check, Before):
                assert df.filter(pl.col(check.later) < pl.col(check.earlier)).height == 0
            if isinstance(check, RequiredWhen) and check.equals is None:
                assert (
                    df.filter(
                        pl.col(check.when).is_not_null() & pl.col(check.column).is_null()
                    ).height
                    == 0
                )
    eps = out["episodes"]
    assert set(eps["convention_id"]) == {"IND-PCA", "IND-PCA-AV"}
    assert eps["episode_id"].str.starts_with("IND-E").all()
    assert out["appointments"]["episode_id"].is_in(eps["episode_id"].implode()).all()
    assert out["phases"]["episode_id"].is_in(eps["episode_id"].implode()).all()
    staff = (
        out["staff_costs"]
        .group_by("convention_id")
        .agg(
            at_min=(pl.col("allocation_rate") == Decimal("0.3")).sum(),
            below=(pl.col("allocation_rate") < Decimal("0.3")).sum(),
        )
    )
    assert staff.sort("convention_id").rows() == [("IND-PCA", 1, 1), ("IND-PCA-AV", 1, 1)]
    assert set(out["phases"]["phase"]) == {"diagnostic", "developpement", "cessation"}
    assert out["phases"]["renewal"].any()
    none = generate(CONVENTIONS.filter(pl.col("dispositif") == "equilibre"), seed=7)
    assert all(df.height == 0 for df in none.values())


def test_synthetic_data_reads_back_without_rejection(tmp_path: Path) -> None:
    """Written as CSV with a conventions file, the extracts read back with nothing set aside
    and the indicators run on them."""
    conv = CONVENTIONS.filter(pl.col("dispositif") == "independants").with_columns(
        structure=pl.lit("Pas-de-Calais Actif"),
        territory=pl.lit("Départemental"),
        funding=pl.lit("financement"),
        amount_eur=pl.lit("338226.74"),
    )
    conv.write_csv(tmp_path / "conventions.csv")
    for name, df in generate(conv, seed=3, scale=0.5).items():
        df.write_csv(tmp_path / f"{name}.csv")
    extracts = read_extracts(tmp_path)
    assert all(c["rejected"] == 0 for c in extracts.counts.values()), extracts.counts
    w = windows(("IND-PCA", "2023-07-01", "2025-12-31", "2025-06-30"))
    for fn in (ind.diagnostic_phase, ind.monthly_interviews, ind.duration_limits):
        units = fn(extracts.tables, w, P)
        num, den = aggregate(units, w).row(0)[1:]
        assert 0 < num < den
