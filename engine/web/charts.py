"""Bar charts as inline SVG, drawn on the server (no script, no external source).

Each chart is a list of rows (label, value text, bar lengths as fractions of the widest);
the template draws them with `<rect>` widths in percent. Lengths are for the eye only:
every figure shown beside a bar is the formatted exact amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Bar:
    """One row of a bar chart: a label, the texts shown, and bar lengths in percent (0–100)."""

    label: str
    text: str
    length: float
    reference: float | None = None
    negative: bool = False


def scale(values: Sequence[Decimal]) -> Decimal:
    """The widest absolute value (1 when all are nil), to scale bars against."""
    widest = max((abs(v) for v in values), default=Decimal(0))
    return widest if widest > 0 else Decimal(1)


def percent_of(value: Decimal, widest: Decimal) -> float:
    """A bar length in percent of the widest value (display only)."""
    return round(float(abs(value) / widest) * 100, 2)
