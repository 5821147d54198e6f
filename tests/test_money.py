"""Exact money: half-up rounding once, scores as fractions."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from engine.model.money import earned, rate_score, to_cents, volume_score, weighted_mean


@pytest.mark.parametrize(
    ("amount", "cents"),
    [
        (Fraction(12345, 1000), Decimal("12.35")),   # 12.345 -> half-up
        (Fraction(12344999, 1000000), Decimal("12.34")),
        (Fraction(5, 1000), Decimal("0.01")),        # 0.005 -> 0.01 (banker's would give 0.00)
        (Fraction(25, 1000), Decimal("0.03")),       # 0.025 -> 0.03 (banker's: 0.02)
        (Fraction(-25, 1000), Decimal("-0.03")),     # half away from zero
        (Fraction(1, 3), Decimal("0.33")),
        (Fraction(2, 3), Decimal("0.67")),
    ],
)
def test_half_up_to_the_cent(amount, cents):
    assert to_cents(amount) == cents


def test_rate_score_clamps_between_floor_and_target():
    """value 8/10 = 0.8, floor 0.5, target 0.9: (0.8-0.5)/(0.9-0.5) = 0.3/0.4 = 3/4."""
    target, floor = Fraction(9, 10), Fraction(1, 2)
    assert rate_score(8, 10, target, floor) == Fraction(3, 4)
    assert rate_score(10, 10, target, floor) == 1
    assert rate_score(4, 10, target, floor) == 0
    assert rate_score(0, 0, target, floor) is None


def test_volume_score_and_not_evaluable():
    assert volume_score(Fraction(110), Fraction(100)) == 1
    assert volume_score(Fraction(55), Fraction(110)) == Fraction(1, 2)
    assert volume_score(Fraction(3), Fraction(0)) is None


def test_weighted_mean_renormalises_over_evaluable():
    """Scores 1, 1/2, None with weights 1/5 each: (1 + 1/2) / 2 = 3/4."""
    w = {k: Fraction(1, 5) for k in "abc"}
    score, eff = weighted_mean({"a": Fraction(1), "b": Fraction(1, 2), "c": None}, w)
    assert score == Fraction(3, 4)
    assert eff == {"a": Fraction(1, 2), "b": Fraction(1, 2), "c": 0}
    assert weighted_mean({"a": None}, w) == (None, {"a": 0})


def test_earned_is_rounded_once_at_the_end():
    """53 700 × (1/2 × 1/3 + 1/2 × 1/3) = 17 900 exactly; with 0.7/3: 53700 × 7/30 = 12 530."""
    exact, cents = earned(Decimal("53700.00"), Fraction(1, 2), Fraction(1, 3), Fraction(1, 2), Fraction(1, 3))
    assert exact == 17900 and cents == Decimal("17900.00")
    # 0.01 × (1/2 × 1/2 + 1/2 × 0) = 0.0025 -> 0.00; rounding intermediate steps would differ nowhere here,
    # but 10.01 × 1/8 = 1.25125 -> 1.25
    _, cents = earned(Decimal("10.01"), Fraction(1, 2), Fraction(1, 4), Fraction(1, 2), Fraction(0))
    assert cents == Decimal("1.25")
    # 0.03 × 1/2 = 0.015 -> 0.02 (half-up)
    _, cents = earned(Decimal("0.03"), Fraction(1, 2), Fraction(1), Fraction(1, 2), Fraction(0))
    assert cents == Decimal("0.02")
