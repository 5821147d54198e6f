"""Cost-based money of `independants` (framework §5.5), to the cent, hand-computed.

earned = min(amount, share × Σ(gross × allocation, allocation >= 0.30) × (1 + 0.40)),
share = 0.40 (FSE+, outside the mining basin) or 0.30 (FTJ, mining basin); rounded once,
half-up, to the cent; solde = earned - paid.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import polars as pl
import pytest

from engine.compute.funding.costs import cost_chain
from engine.compute.pipeline import evaluate
from engine.load.rules import apply_edits, load_rules, parse_set
from engine.model import money
from engine.model.contract import TABLES, empty_frame
from engine.model.extracts import Extracts
from engine.model.trace import RecordingParams
from indicators.independants import eligible_costs

BOOK = load_rules()
AS_OF = date(2025, 12, 31)
P: dict[str, Any] = BOOK.resolve("independants", AS_OF)


def staff(*rows: tuple[str, str, str, str]) -> pl.DataFrame:
    """staff_costs rows from (convention_id, staff_id, gross_cost_eur, allocation_rate)."""
    return pl.DataFrame(
        [
            {
                "convention_id": c,
                "staff_id": s,
                "gross_cost_eur": Decimal(g),
                "allocation_rate": Decimal(a),
            }
            for c, s, g, a in rows
        ],
        schema=TABLES["staff_costs"].schema,
    )


def windows(*cids: str) -> pl.DataFrame:
    return pl.DataFrame({"convention_id": list(cids)}, schema={"convention_id": pl.String})


def earned(
    rows: list[tuple[str, str, str, str]], amount: str, mining_basin: bool, p: dict[str, Any] = P
) -> dict[str, Any]:
    """eligible_costs of convention C, then the engine's cost-based formula, rounded."""
    costs = eligible_costs({"staff_costs": staff(*rows)}, windows("C"), p).row(0, named=True)
    out, _ = cost_chain({"mining_basin": mining_basin}, costs, RecordingParams("independants", p, {}), Decimal(amount), [])
    out["earned"] = money.to_cents(out["earned_exact"])
    return out


# S1 45 000.00 × 1 = 45 000; S2 30 000.00 × 0.30 (exactly the minimum) = 9 000 -> eligible;
# S3 20 000.00 × 0.29 = 5 800 -> ineligible. Personnel 54 000; × 1.40 = 75 600.
STAFF = [
    ("C", "S1", "45000.00", "1"),
    ("C", "S2", "30000.00", "0.30"),
    ("C", "S3", "20000.00", "0.29"),
]


def test_fse_share_outside_the_mining_basin() -> None:
    """75 600 × 0.40 = 30 240.00 (amount 338 226.74 not reached)."""
    out = earned(STAFF, "338226.74", mining_basin=False)
    assert out["eligible_personnel"] == 54_000
    assert out["eligible_total"] == 75_600
    assert (out["share_parameter"], out["share"]) == ("department_share_fse", Fraction(2, 5))
    assert out["earned"] == Decimal("30240.00") and out["capped"] is False
    assert (out["staff_eligible"], out["staff_ineligible"]) == (2, 1)
    assert out["ineligible_staff"] == ["S3 (taux d'affectation 29 % < 30 %)"]


def test_ftj_share_in_the_mining_basin() -> None:
    """75 600 × 0.30 = 22 680.00."""
    out = earned(STAFF, "338226.74", mining_basin=True)
    assert (out["share_parameter"], out["share"]) == ("department_share_ftj", Fraction(3, 10))
    assert out["earned"] == Decimal("22680.00")


def test_capped_at_the_amount() -> None:
    """FSE+ due 30 240.00 > amount 20 000.00 -> 20 000.00, capped; FTJ 22 680 > 20 000 too."""
    fse = earned(STAFF, "20000.00", mining_basin=False)
    assert fse["due"] == 30_240 and fse["capped"] is True
    assert fse["earned"] == Decimal("20000.00")
    assert earned(STAFF, "20000.00", mining_basin=True)["earned"] == Decimal("20000.00")
    # exactly at the amount: not capped
    assert earned(STAFF, "30240.00", mining_basin=False)["capped"] is False


def test_to_the_cent_exact_products() -> None:
    """33 333.33 × 0.35 = 11 666.6655 (kept exact, 4 decimals); × 1.4 = 16 333.3317;
    FSE+ × 0.4 = 6 533.33268 -> 6 533.33; FTJ × 0.3 = 4 899.99951 -> 4 900.00."""
    rows = [("C", "S1", "33333.33", "0.35")]
    fse = earned(rows, "338226.74", mining_basin=False)
    assert fse["eligible_personnel"] == Fraction("11666.6655")
    assert fse["due"] == Fraction("6533.33268")
    assert fse["earned"] == Decimal("6533.33")
    ftj = earned(rows, "338226.74", mining_basin=True)
    assert ftj["due"] == Fraction("4899.99951")
    assert ftj["earned"] == Decimal("4900.00")


def test_half_cent_rounds_up_once() -> None:
    """1 000.25 × 1 × 1.4 = 1 400.35; FTJ × 0.3 = 420.105 -> 420.11 (half-up, not 420.10).
    Six decimals of allocation: 1 000.00 × 0.333333 = 333.333 × 1.4 = 466.6662;
    × 0.4 = 186.66648 -> 186.67 (no rounding of the product before the end)."""
    assert earned([("C", "S1", "1000.25", "1")], "1000000", True)["earned"] == Decimal("420.11")
    out = earned([("C", "S1", "1000.00", "0.333333")], "1000000", False)
    assert out["eligible_personnel"] == Fraction("333.333")
    assert out["earned"] == Decimal("186.67")


def test_min_allocation_is_a_parameter() -> None:
    """With min_allocation 0.29 (what-if), S3 becomes eligible: 54 000 + 5 800 = 59 800;
    × 1.4 = 83 720; × 0.4 = 33 488.00."""
    edited = apply_edits(BOOK, [parse_set("independants.min_allocation=0.29")])
    p = edited.resolve("independants", AS_OF)
    out = earned(STAFF, "338226.74", mining_basin=False, p=p)
    assert out["earned"] == Decimal("33488.00")
    assert out["staff_ineligible"] == 0 and out["ineligible_staff"] == []


def test_no_staff_declared_earns_nothing() -> None:
    out = earned([], "338226.74", mining_basin=False)
    assert out["eligible_personnel"] == 0 and out["earned"] == Decimal("0.00")


# --------------------------------------------------------------------------- whole run


def _conventions() -> pl.DataFrame:
    rows = [
        # FSE+ convention of the text: amount 338 226.74, advance + intermediate paid.
        ("PCA", "financement", "338226.74", "253670.06", False),
        # The avenant line, as if in the mining basin (FTJ share).
        ("PCA-AV", "financement", "79850.00", "47910.00", True),
        # A valued line: amount 0 -> 0 €.
        ("PCA-VAL", "valorisation", "0", "0", False),
    ]
    data = [
        {
            "convention_id": cid,
            "structure": "Pas-de-Calais Actif",
            "territory": "Départemental",
            "dispositif": "independants",
            "funding": funding,
            "etp": Decimal("1.2"),
            "amount_eur": Decimal(amount),
            "paid_eur": Decimal(paid),
            "period_start": date(2023, 7, 1),
            "period_end": date(2025, 12, 31),
            "start_up": False,
            "mining_basin": basin,
        }
        for cid, funding, amount, paid, basin in rows
    ]
    return pl.DataFrame(data, schema=TABLES["conventions"].schema)


def test_evaluate_pays_the_cost_based_amount_and_the_solde() -> None:
    """PCA (FSE+): 75 600 × 0.40 = 30 240.00; solde 30 240.00 - 253 670.06 = -223 430.06.
    PCA-AV (FTJ): S4 60 000 × 1 + S5 20 000 × 0.5 = 70 000; × 1.4 = 98 000; × 0.3 =
    29 400.00 <= 79 850; solde 29 400.00 - 47 910.00 = -18 510.00.
    PCA-VAL: amount 0 -> 0.00 whatever the costs. The rates are not evaluable (no phases)."""
    tables = {name: empty_frame(name) for name in TABLES}
    tables["conventions"] = _conventions()
    tables["staff_costs"] = staff(
        *[("PCA", s, g, a) for _, s, g, a in STAFF],
        ("PCA-AV", "S4", "60000", "1"),
        ("PCA-AV", "S5", "20000", "0.5"),
        ("PCA-VAL", "S6", "50000", "1"),
    )
    extracts = Extracts(tables=tables, rejected=pl.DataFrame(), counts={}, files={}, source="test")
    run = evaluate(extracts, BOOK, AS_OF)
    pca, av, val = (run.convention(c) for c in ("PCA", "PCA-AV", "PCA-VAL"))
    assert (pca.earned, pca.solde) == (Decimal("30240.00"), Decimal("-223430.06"))
    assert (av.earned, av.solde) == (Decimal("29400.00"), Decimal("-18510.00"))
    assert av.costs["share_parameter"] == "department_share_ftj"
    assert val.earned == Decimal("0.00")
    assert pca.final is True
    assert {i.id: i.evaluable for i in pca.indicators.values()} == {
        "diagnostic_phase": False,
        "monthly_interviews": False,
        "duration_limits": False,
    }
    assert pca.reported["oriented"] == 0


@pytest.mark.parametrize("rate", ["0.30", "0.300000"])
def test_exactly_thirty_percent_is_eligible(rate: str) -> None:
    """10 000 × 0.30 = 3 000 eligible; × 1.4 × 0.4 = 1 680.00."""
    out = earned([("C", "S1", "10000", rate)], "1000000", mining_basin=False)
    assert out["staff_eligible"] == 1 and out["earned"] == Decimal("1680.00")
