"""Hand-computed cases for the `participants` indicators (framework.md §1, §5.3-5.4).

Calendar used below: 1 Nov 2024 - 31 Oct 2025 holds 365 days; 1 Nov 2024 - 30 Jun 2025 holds
30 + 31 + 31 + 28 + 31 + 30 + 31 + 30 = 242 days.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import polars as pl
import pytest
from builders import frame, tables  # noqa: F401

from engine.model.contract import TABLES
from indicators import participants as pa
from indicators.common import aggregate

D = date.fromisoformat
P: dict[str, Any] = {}


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
            }
            for cid, start, end, as_of in rows
        ],
        schema={
            "convention_id": pl.String(),
            "period_start": pl.Date(),
            "period_end": pl.Date(),
            "window_start": pl.Date(),
            "eval_end": pl.Date(),
        },
    )


def entry(pid: str, day: str, cid: str = "PA1") -> dict[str, Any]:
    return {"participant_id": pid, "convention_id": cid, "entry_date": day}


def by_unit(units: pl.DataFrame) -> dict[tuple[str, str], tuple[int, int]]:
    return {
        (r["convention_id"], r["unit"]): (r["numerator"], r["denominator"])
        for r in units.iter_rows(named=True)
    }


PERIOD = ("2024-11-01", "2025-10-31")


def test_distinct_participants_entry_after_as_of_and_before_window() -> None:
    """PA1 window 1 Nov 2024 - 30 Jun 2025 (as-of). Entries:
    P1 on 1 Nov 2024 (first day) and 5 Mar: one participant, 2 entries;
    P2 on 30 Jun (eval_end): counted;
    P3 on 15 Oct 2024 (before the window) and 3 Feb: counted once, first entry in window 3 Feb;
    P4 on 20 Oct 2024 only: not counted;
    P5 on 1 Jul (after as-of): not counted;
    P1 in PA2 on 10 Jan: counted in PA2, not in PA1.
    PA1 value = 3 (P1, P2, P3); PA2 = 1; PA3 (no entry) = 0."""
    t = tables(
        participants=[
            entry("P1", "2024-11-01"),
            entry("P1", "2025-03-05"),
            entry("P2", "2025-06-30"),
            entry("P3", "2024-10-15"),
            entry("P3", "2025-02-03"),
            entry("P4", "2024-10-20"),
            entry("P5", "2025-07-01"),
            entry("P1", "2025-01-10", cid="PA2"),
        ]
    )
    w = windows(
        ("PA1", *PERIOD, "2025-06-30"),
        ("PA2", *PERIOD, "2025-06-30"),
        ("PA3", *PERIOD, "2025-06-30"),
    )
    units = pa.participants_volume(t, w, P)
    assert by_unit(units) == {
        ("PA1", "P1"): (1, 0),
        ("PA1", "P2"): (1, 0),
        ("PA1", "P3"): (1, 0),
        ("PA2", "P1"): (1, 0),
    }
    details = {
        r["unit"]: (r["first_entry_date"], r["entries_in_window"])
        for r in units.filter(pl.col("convention_id") == "PA1").iter_rows(named=True)
    }
    assert details == {
        "P1": (D("2024-11-01"), 2),
        "P2": (D("2025-06-30"), 1),
        "P3": (D("2025-02-03"), 1),
    }
    agg = {r[0]: (r[1], r[2]) for r in aggregate(units, w).rows()}
    assert agg == {"PA1": (3, 0), "PA2": (1, 0), "PA3": (0, 0)}

    out = pa.reported(t, w, P)
    assert out.rows(named=True) == [
        {"convention_id": "PA1", "entries": 4, "participants": 3, "repeat_entries": 1},
        {"convention_id": "PA2", "entries": 1, "participants": 1, "repeat_entries": 0},
        {"convention_id": "PA3", "entries": 0, "participants": 0, "repeat_entries": 0},
    ]
    # The as-of date moves: on 1 Jul P5 enters.
    later = pa.participants_volume(t, windows(("PA1", *PERIOD, "2025-07-01")), P)
    assert set(later["unit"]) == {"P1", "P2", "P3", "P5"}


def test_empty_and_before_period() -> None:
    """No rows: no unit, typed columns. As-of 31 Oct 2024 on a period starting 1 Nov:
    nothing counts."""
    w = windows(("PA1", *PERIOD, "2025-06-30"))
    units = pa.participants_volume(tables(), w, P)
    assert units.height == 0
    assert units.columns[:4] == ["convention_id", "unit", "numerator", "denominator"]
    assert units.schema["numerator"] == pl.Int64 and units.schema["denominator"] == pl.Int64
    t = tables(participants=[entry("P1", "2024-10-15")])
    w = windows(("PA1", *PERIOD, "2024-10-31"))
    assert pa.participants_volume(t, w, P).height == 0
    assert pa.reported(t, w, P).row(0) == ("PA1", 0, 0, 0)


@pytest.mark.parametrize(
    ("target", "as_of", "expected"),
    [
        (100, "2025-06-30", Fraction(100 * 242, 365)),  # 24200/365 = 4840/73
        (100, "2025-10-31", Fraction(100)),  # final: whole period
        (100, "2026-03-31", Fraction(100)),  # eval_end capped at period_end
        (100, "2024-10-31", Fraction(0)),  # before the period: 0 days
        (None, "2025-06-30", Fraction(0)),  # no target: 0 -> not evaluable
    ],
)
def test_participants_target_is_prorated(
    target: int | None, as_of: str, expected: Fraction
) -> None:
    """participants_volume target = participants_target x window days / period days (§5.3),
    through the engine's `volume_target` and the indicator as the rules declare it."""
    from engine.compute.scoring import volume_target
    from engine.load.rules import load_rules

    ind = load_rules().indicators["participants"]["participants_volume"]
    assert (ind.kind, ind.part, ind.target_column, ind.prorate) == (
        "volume",
        "quantitative",
        "participants_target",
        True,
    )
    row = {
        "participants_target": target,
        "etp": Decimal("1"),
        "period_start": D(PERIOD[0]),
        "period_end": D(PERIOD[1]),
        "window_start": D(PERIOD[0]),
        "eval_end": min(D(as_of), D(PERIOD[1])),
    }
    assert volume_target(ind, row, Fraction(0))[0] == expected


def test_evaluate_participants_end_to_end() -> None:
    """Through `engine.evaluate` with the rules of `rules/`, as-of 31 Oct 2025 (final):
    PA1 target 100, amount 30 000 €, paid 15 000 €: 80 distinct participants (P0..P79, P0
    entering twice) -> score 80/100 = 4/5; weights 1.0 / 0.0 -> earned 30 000 x 4/5 = 24 000,
    solde 9 000. PA2 target 0, amount 1 000 €: not evaluable -> neutral policy, score 1,
    flag quantitative_not_evaluable, earned 1 000."""
    from engine.compute.pipeline import evaluate
    from engine.load.rules import load_rules
    from engine.model.extracts import Extracts

    def convention(cid: str, target: int, amount: str, paid: str) -> dict[str, Any]:
        return {
            "convention_id": cid,
            "structure": "AIFOR",
            "territory": "Montreuillois",
            "dispositif": "participants",
            "funding": "financement",
            "etp": "0",
            "participants_target": target,
            "amount_eur": amount,
            "paid_eur": paid,
            "period_start": PERIOD[0],
            "period_end": PERIOD[1],
        }

    t = tables(
        participants=[entry(f"P{i}", "2025-01-15") for i in range(80)] + [entry("P0", "2025-02-15")]
    )
    t["conventions"] = frame(
        "conventions",
        [convention("PA1", 100, "30000", "15000"), convention("PA2", 0, "1000", "0")],
    )
    extracts = Extracts(tables=t, rejected=pl.DataFrame(), counts={}, files={}, source="test")
    run = evaluate(extracts, load_rules(), D("2025-10-31"))
    c = run.convention("PA1")
    assert c.indicators["participants_volume"].value == 80
    assert c.indicators["participants_volume"].target == 100
    assert c.quantitative_score == Fraction(4, 5)
    assert (c.quantitative_weight, c.qualitative_weight) == (1, 0)
    assert c.earned == Decimal("24000.00")
    assert c.solde == Decimal("9000.00")
    assert c.reported == {"entries": 81, "participants": 80, "repeat_entries": 1}
    c2 = run.convention("PA2")
    assert c2.quantitative_score == 1
    assert "quantitative_not_evaluable" in c2.flags
    assert c2.earned == Decimal("1000.00")


def test_synthetic_participants_follow_the_contract_and_are_deterministic() -> None:
    """Annexe 4 participants lines (L242-245) as text: deterministic, contract schema, ids
    `P…`, a few repeated entries and entries before the period; distinct participants by the
    final date within 0.6-1.1 x the target for the lines ending before the extract date."""
    from engine.synthetic import participants as synth

    conv = pl.DataFrame(
        {
            "convention_id": ["PA-AIFOR", "PA-COPEAUX", "PA-ADEFI", "AC-X"],
            "dispositif": ["participants", "participants", "participants", "accueil"],
            "participants_target": ["100", "30", "140", ""],
            "period_start": ["2024-11-01", "2024-12-01", "2024-11-01", "2025-01-01"],
            "period_end": ["2025-10-31", "2025-11-30", "2025-10-31", "2025-12-31"],
        }
    )
    d = synth.generate(conv, seed=5)["participants"]
    assert d.equals(synth.generate(conv, seed=5)["participants"])
    assert d.schema == TABLES["participants"].schema
    assert d["participant_id"].str.contains(r"^P\d{6,}$").all()
    assert set(d["convention_id"]) == {"PA-AIFOR", "PA-COPEAUX", "PA-ADEFI"}
    assert d["participant_id"].n_unique() < d.height
    assert d.filter(pl.col("entry_date") < D("2024-11-01")).height > 0
    assert d.filter(pl.col("entry_date") > D("2025-06-30")).height > 0
    w = windows(("PA-ADEFI", *PERIOD, "2025-09-30"))
    value = aggregate(pa.participants_volume({"participants": d}, w, P), w)["numerator"][0]
    assert 0.6 * 140 * 334 / 365 < value < 1.1 * 140
