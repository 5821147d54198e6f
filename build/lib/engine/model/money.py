"""Exact arithmetic from indicator results to euros (framework §5.4).

Scores are `Fraction`s (ratios of integers and decimals, never binary floats); euros are
rounded once, at the end, to the cent, half-up (half away from zero).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from math import floor

CENT = Decimal("0.01")


def frac(value: Decimal | int | str | Fraction) -> Fraction:
    """An exact Fraction from a Decimal, an int, a decimal string or a Fraction."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, str):
        return Fraction(Decimal(value.replace(",", ".")))
    return Fraction(value)


def rate_score(numerator: int, denominator: int, target: Fraction, floor_: Fraction) -> Fraction | None:
    """clamp((value - floor) / (target - floor), 0, 1); None when the denominator is 0."""
    if denominator == 0:
        return None
    value = Fraction(numerator, denominator)
    score = (value - floor_) / (target - floor_)
    return min(Fraction(1), max(Fraction(0), score))


def volume_score(value: Fraction | None, target: Fraction) -> Fraction | None:
    """min(1, value / target); None when the target is 0 (not evaluable)."""
    if value is None or target <= 0:
        return None
    return min(Fraction(1), value / target)


def weighted_mean(
    scores: dict[str, Fraction | None], weights: dict[str, Fraction]
) -> tuple[Fraction | None, dict[str, Fraction]]:
    """Mean of the evaluable scores, weights renormalised over them.

    Returns the score (None when nothing is evaluable or all weights are 0) and the
    effective weight of each indicator (0 for those left out).
    """
    evaluable = {k: s for k, s in scores.items() if s is not None}
    total = sum((weights[k] for k in evaluable), Fraction(0))
    if not evaluable or total == 0:
        return None, {k: Fraction(0) for k in scores}
    effective = {k: (weights[k] / total if k in evaluable else Fraction(0)) for k in scores}
    return sum((effective[k] * s for k, s in evaluable.items()), Fraction(0)), effective


def to_cents(amount: Fraction) -> Decimal:
    """Round an exact amount to the cent, half-up (half away from zero), once."""
    hundredths = amount * 100
    sign = -1 if hundredths < 0 else 1
    cents = sign * floor(abs(hundredths) + Fraction(1, 2))
    return (Decimal(cents) / 100).quantize(CENT)


def earned(amount: Decimal, quantitative_weight: Fraction, quantitative: Fraction,
           qualitative_weight: Fraction, qualitative: Fraction) -> tuple[Fraction, Decimal]:
    """Amount × (qw × quantitative + lw × qualitative): the exact value and the cents."""
    exact = frac(amount) * (quantitative_weight * quantitative + qualitative_weight * qualitative)
    return exact, to_cents(exact)


def euros(value: Decimal) -> str:
    """Money as the output contract writes it: a string with exactly two decimals."""
    return str(value.quantize(CENT))


def fraction_text(value: Fraction | None) -> str | None:
    """A Fraction as `n/d` (or `n`), for traceability in reports."""
    if value is None:
        return None
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
