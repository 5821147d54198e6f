"""Money shown as it is computed: half-up to the cent, never « -0.00 » (issue 13, item 6).

`paid_eur 53700.004` against 53 700,00 € earned gave `solde_eur "-0.00"`; `53700.545` was
shown `53700.54` (half-even) while the money rounds half-up (`53700.55`).
"""

from __future__ import annotations

import csv
import json
import shutil
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.model.format import eur
from engine.model.money import cents, euros, to_cents
from engine.present.page import fr_number
from engine.present.workbook import eur as workbook_eur

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
AS_OF = "2025-06-30"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("-0.004"), "0.00"),
        (Decimal("-0.00"), "0.00"),
        (Decimal("53700.00") - Decimal("53700.004"), "0.00"),
        (Decimal("-0.005"), "-0.01"),  # half away from zero
        (Decimal("53700.545"), "53700.55"),
        (Decimal("53700.544"), "53700.54"),
        (Decimal("0.125"), "0.13"),
        (Decimal("-2.675"), "-2.68"),
        (Decimal("12"), "12.00"),
    ],
)
def test_euros_half_up_never_negative_zero(value: Decimal, text: str) -> None:
    """`euros` is the contract's money text; the display formatter agrees with it."""
    assert euros(value) == text
    assert str(cents(value)) == text
    assert workbook_eur(str(value)) == Decimal(text)
    assert str(workbook_eur(str(value))) == text  # the workbook writes this value, not a -0
    shown = text.replace(".", ",")
    assert eur(value, sep="").replace("\u2212", "-") == shown + "€"
    assert fr_number(value).replace("\u00a0", "") == shown


@pytest.mark.parametrize(
    ("exact", "text"),
    [(Fraction(-1, 1000), "0.00"), (Fraction(-1, 200), "-0.01"), (Fraction(1, 200), "0.01"),
     (Fraction(107401, 2), "53700.50"), (Fraction(-1, 3), "-0.33")],
)
def test_to_cents_never_negative_zero(exact: Fraction, text: str) -> None:
    assert str(to_cents(exact)) == text


def test_sub_cent_paid_gives_no_negative_zero_solde(tmp_path: Path) -> None:
    """EQ-MEMPA-PLE earns 53 700,00 €; with 53 700,004 € paid its solde is 0,00 €, not -0,00."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    path = data / "conventions.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["convention_id"] == "EQ-MEMPA-PLE":
            row["paid_eur"] = "53700.004"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["evaluate", str(data), "--as-of", AS_OF, "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    money = [
        value
        for c in document["conventions"]
        for key, value in c.items()
        if key.endswith("_eur") and isinstance(value, str)
    ]
    assert money and not any(value.startswith("-0.00") for value in money)
    kept = {c["convention_id"]: c for c in document["conventions"]}
    if "EQ-MEMPA-PLE" in kept:  # a sub-cent amount may instead be set aside by the reader
        assert kept["EQ-MEMPA-PLE"]["earned_eur"] == "53700.00"
        assert kept["EQ-MEMPA-PLE"]["solde_eur"] == "0.00"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "-0,00" not in page and "\u22120,00" not in page
