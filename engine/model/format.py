"""The one French formatter: numbers, euros, percentages and dates as people here read them.

Pure functions over exact values (Fraction, Decimal, int; a float only where a caller has
nothing better), used by every stage that words something for a person: explanations,
console, workbook, page, and the registry's findings. Rounding for display is half-up, like
the money; the money itself is never rounded here (`engine.model.money.to_cents` does it once).

- `number(1234.5)` → `1 234,5` (grouping with a space, decimal comma, no trailing zeros);
- `number(x, places=2, fixed=True)` → exactly two decimals;
- `eur(Decimal("6562.5"))` → `6 562,50 €`; `percent(Fraction(1, 3))` → `33,33 %`;
- `date_fr(date(2025, 6, 30))` or `date_fr("2025-06-30")` → `30/06/2025`;
- negative numbers carry a minus sign (U+2212), never `-0`.

`SPACE` is the grouping separator: a no-break space, so that `1 234 €` never wraps.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

SPACE = "\u00a0"
MINUS = "\u2212"
NONE = "—"


def _decimal(value: Fraction | Decimal | int | float | str) -> Decimal:
    if isinstance(value, Fraction):
        return Decimal(value.numerator) / Decimal(value.denominator)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value).strip().replace(",", "."))


def _group(whole: str, sep: str) -> str:
    head = len(whole) % 3 or 3
    return sep.join([whole[:head], *(whole[i : i + 3] for i in range(head, len(whole), 3))])


def number(value: Fraction | Decimal | int | float | str | None, places: int = 4, *,
           fixed: bool = False, sep: str = SPACE) -> str:
    """A number in French: at most `places` decimals (exactly `places` when `fixed`)."""
    if value is None:
        return NONE
    try:
        dec = _decimal(value)
    except (InvalidOperation, ValueError):
        return str(value)
    quantum = Decimal(1).scaleb(-places)
    text = f"{abs(dec).quantize(quantum, rounding=ROUND_HALF_UP):f}"
    if "." in text and not fixed:
        text = text.rstrip("0").rstrip(".")
    whole, _, frac = text.partition(".")
    negative = dec < 0 and any(ch not in "0." for ch in text)
    return (MINUS if negative else "") + _group(whole, sep) + ("," + frac if frac else "")


def integer(value: int | Decimal | Fraction | float | None, *, sep: str = SPACE) -> str:
    """A count: `1 538` (rounded half-up when it is not whole)."""
    return number(value, 0, sep=sep)


def eur(value: Fraction | Decimal | int | float | str | None, *, sep: str = SPACE) -> str:
    """Euros to the cent: `6 562,50 €` (a value with more decimals is rounded half-up for display)."""
    if value is None:
        return NONE
    return f"{number(value, 2, fixed=True, sep=sep)}{sep}€"


def signed_eur(value: Fraction | Decimal | int | float | str | None, *, sep: str = SPACE) -> str:
    """A difference in euros, always signed: `+1 200,00 €`, `−350,00 €`, `0,00 €`."""
    if value is None:
        return NONE
    text = eur(value, sep=sep)
    return text if text.startswith(MINUS) or _decimal(value) == 0 else "+" + text


def percent(value: Fraction | Decimal | int | float | str | None, places: int = 2, *,
            fixed: bool = False, sep: str = SPACE) -> str:
    """A ratio as a percentage: `42,11 %`; a string is an exact fraction `n/d` or a decimal."""
    if value is None:
        return NONE
    ratio = Fraction(value) if isinstance(value, str) and "/" in value else _decimal(value)
    return f"{number(Fraction(ratio) * 100, places, fixed=fixed, sep=sep)}{sep}%"


def date_fr(value: date | str | None) -> str:
    """A date as `JJ/MM/AAAA`; an ISO text is converted, any other text returned as it is."""
    if value is None or value == "":
        return NONE
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    try:
        return date.fromisoformat(str(value)[:10]).strftime("%d/%m/%Y")
    except ValueError:
        return str(value)


def yes_no(value: bool | None) -> str:
    """`oui` / `non` (`—` when unknown)."""
    return NONE if value is None else ("oui" if value else "non")


def show(value: Any, *, sep: str = SPACE) -> str:
    """Any value of a rule or a result, for a person: numbers, dates, booleans, lists."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, tuple | list):
        return ", ".join(show(v, sep=sep) for v in value) if value else NONE
    if isinstance(value, Fraction | Decimal | float | int):
        return number(value, sep=sep)
    if isinstance(value, date):
        return date_fr(value)
    return str(value)


def status_sentence(label: str, final: int, projected: int) -> str:
    """« mixte : 8 convention(s) définitive(s), 23 en projection », as every output says it."""
    if final and projected:
        return f"{label} : {final} convention(s) définitive(s), {projected} en projection"
    if final:
        return f"{label} : les {final} conventions sont définitives (période terminée)"
    return f"{label} : les {projected} conventions sont en projection (période en cours)"


_SUPERSCRIPT = re.compile(r"\^\{([^{}]*)\}")


def quote_text(quote: object) -> str:
    """A quoted sentence as people read it: the deliberation's LaTeX superscripts (`1^{er}`) as `1er`.

    Quotes stay verbatim in the rules (they are checked against the text's lines); this is the
    one place they are worded for display.
    """
    return _SUPERSCRIPT.sub(r"\1", str(quote or ""))


def ref_text(ref: object) -> str:
    """A source reference: a deliberation line as it is (`L462`), an interpretation's anchor as a section."""
    text = str(ref or "")
    return f"section {text}" if text.startswith("#") else text


def cite(source: Mapping[str, object] | None, *, document: bool = True) -> str:
    """A source in one line: `Délibération …, L462 : « … »`, interpretations marked.

    `source` is a source view (`engine.model.rulebook.source_view`) or a row with `ref`,
    `quote`, `interpretation` (and `document_title`); `document=False` leaves the title out.
    """
    if not source:
        return ""
    parts = [str(source.get("document_title") or source.get("document") or "")] if document else []
    if source.get("ref"):
        parts.append(ref_text(source["ref"]))
    text = ", ".join(p for p in parts if p)
    if source.get("quote"):
        text += f" : « {quote_text(source['quote'])} »" if text else f"« {quote_text(source['quote'])} »"
    if source.get("interpretation"):
        text += " (interprétation)"
    return text.strip()
