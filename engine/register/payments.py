"""Payments: the schedules of the rules applied to a convention, and `paid` from the register.

Pure functions, no database: `apply_paid` gives the extracts with `paid_eur` replaced by the
sum of the payments recorded in the register (the pipeline is untouched);
`instalment_amounts` and `next_instalment` read a convention's schedule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import polars as pl

from engine.load.rules import PaymentSchedule
from engine.model.errors import ExtractError
from engine.model.extracts import Extracts
from engine.model.money import euros, to_cents

CONDITION_LABELS = {
    "signature": "à la signature",
    "intermediate_report": "sur bilan intermédiaire",
    "final_report": "sur bilan final (solde)",
    "date": "à date fixe",
}


def apply_paid(extracts: Extracts, paid: Mapping[str, Decimal]) -> Extracts:
    """The extracts with `paid_eur` of the conventions in `paid` replaced; the others kept."""
    if not paid:
        return extracts
    conventions = extracts.tables["conventions"]
    dtype = conventions.schema["paid_eur"]
    recorded = pl.DataFrame(
        {"convention_id": list(paid), "_paid": [str(v) for v in paid.values()]},
        schema={"convention_id": pl.String, "_paid": pl.String},
    ).with_columns(pl.col("_paid").cast(dtype))
    replaced = (
        conventions.join(recorded, on="convention_id", how="left", maintain_order="left")
        .with_columns(paid_eur=pl.coalesce("_paid", "paid_eur"))
        .drop("_paid")
    )
    return replace(extracts, tables={**extracts.tables, "conventions": replaced})


def schedule_for(
    schedules: Mapping[str, Sequence[PaymentSchedule]], dispositif: str, attrs: Mapping[str, Any]
) -> PaymentSchedule | None:
    """The schedule of a convention: the first whose `applies_to` matches its row, else the default."""
    default = None
    for schedule in schedules.get(dispositif, ()):
        if not schedule.applies_to:
            default = default or schedule
        elif all(str(attrs.get(column) or "") in values for column, values in schedule.applies_to.items()):
            return schedule
    return default


def instalment_amounts(schedule: PaymentSchedule, amount: Decimal) -> list[Decimal | None]:
    """Each instalment's amount to the cent (None when the text leaves it to the convention).

    A share is of the schedule's `total_eur` when it has one, else of the convention's amount,
    rounded half-up once; the solde (`rest`) is the base minus the instalments before it, so
    that the instalments add up to the base exactly.
    """
    base = schedule.total_eur if schedule.total_eur is not None else amount
    out: list[Decimal | None] = []
    for inst in schedule.instalments:
        if inst.rest:
            known = [a for a in out if a is not None]
            out.append(base - sum(known, Decimal(0)) if len(known) == len(out) else None)
        elif inst.share is not None:
            out.append(to_cents(Fraction(base) * Fraction(inst.share)))
        elif inst.amount_eur is not None:
            out.append(inst.amount_eur)
        else:
            out.append(None)
    return out


def next_instalment(
    schedule: PaymentSchedule | None,
    *,
    amount: Decimal,
    earned: Decimal,
    paid: Decimal,
    final: bool,
    payments_count: int,
) -> dict[str, Any]:
    """The next payment of a convention (JSON-ready, French labels).

    Final run: the solde, `earned - paid`, to pay (`verser`) or to recover (`reverser`).
    Interim run: the first instalment the payments so far do not cover, and how much of it
    is left; once every instalment before the solde is covered, the solde as projected.
    """
    solde = earned - paid
    rest = next((i for i in schedule.instalments if i.rest), None) if schedule else None
    base: dict[str, Any] = {
        "schedule": schedule.id if schedule else None,
        "schedule_label": schedule.label if schedule else None,
    }
    if final or schedule is None:
        action = "verser" if solde > 0 else "reverser" if solde < 0 else "aucun"
        return {
            **base,
            "instalment": rest.id if rest else "solde",
            "label": rest.label if rest else "Solde",
            "condition": "final_report",
            "amount_eur": euros(abs(solde)),
            "solde_eur": euros(solde),
            "action": action,
            "projection": not final,
            "due_by": rest.due_by.isoformat() if rest and rest.due_by else None,
        }
    amounts = instalment_amounts(schedule, amount)
    cumulated = Decimal(0)
    for index, (inst, value) in enumerate(zip(schedule.instalments, amounts, strict=True)):
        if inst.rest:
            break
        if value is None:
            if index >= payments_count:
                return {
                    **base,
                    "instalment": inst.id,
                    "label": inst.label,
                    "condition": inst.condition,
                    "amount_eur": None,
                    "action": "verser",
                    "projection": False,
                    "due_by": inst.due_by.isoformat() if inst.due_by else None,
                    "note": "montant fixé par la convention (non précisé par le texte)",
                }
            continue
        cumulated += value
        if cumulated > paid:
            return {
                **base,
                "instalment": inst.id,
                "label": inst.label,
                "condition": inst.condition,
                "amount_eur": euros(cumulated - paid),
                "action": "verser",
                "projection": False,
                "due_by": inst.due_by.isoformat() if inst.due_by else None,
            }
    return {
        **base,
        "instalment": rest.id if rest else "solde",
        "label": rest.label if rest else "Solde",
        "condition": "final_report",
        "amount_eur": euros(abs(solde)),
        "solde_eur": euros(solde),
        "action": "verser" if solde > 0 else "reverser" if solde < 0 else "aucun",
        "projection": True,
        "due_by": rest.due_by.isoformat() if rest and rest.due_by else None,
    }


# --------------------------------------------------------------------------- CSV of mandates

COLUMNS = {
    "convention_id": ("convention_id", "convention", "id_convention"),
    "paid_on": ("paid_on", "date", "date_paiement", "date_mandat", "date_versement"),
    "amount": ("amount_eur", "montant", "montant_eur", "montant_mandat"),
    "reference": ("reference", "référence", "mandat", "numero_mandat", "numéro_mandat", "n_mandat"),
}


def read_mandates(path: Path) -> list[dict[str, Any]]:
    """Payments from a French CSV of mandates (`;` or `,`, decimal comma, JJ/MM/AAAA or ISO dates).

    Columns (case and accents as written): convention (or convention_id), date (or
    date_paiement), montant (or montant_eur), référence (or mandat). Raises ExtractError
    naming the file, line and column of every bad value; nothing is returned half-read.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise ExtractError(f"Fichier {path} illisible ({error.strerror or error}).") from None
    except UnicodeDecodeError:
        raise ExtractError(f"Fichier {path} : encodage non UTF-8 (enregistrer le CSV en UTF-8).") from None
    first = text.splitlines()[0] if text.strip() else ""
    separator = ";" if first.count(";") >= first.count(",") else ","
    try:
        frame = pl.read_csv(text.encode(), separator=separator, infer_schema=False)
    except pl.exceptions.PolarsError as error:
        raise ExtractError(f"Fichier {path} : CSV illisible ({error}).") from None
    headers = {c.strip().lower(): c for c in frame.columns}
    chosen: dict[str, str] = {}
    for key, names in COLUMNS.items():
        found = next((headers[n] for n in names if n in headers), None)
        if found is None:
            raise ExtractError(
                f"Fichier {path}, ligne 1 : colonne « {names[1]} » manquante (attendu :"
                f" {', '.join(n for n in (names[1], names[0]))} ; colonnes lues : {', '.join(frame.columns)})."
            )
        chosen[key] = found
    raw = frame.select(**{k: pl.col(v).str.strip_chars() for k, v in chosen.items()}).with_row_index("line", offset=2)
    parsed = raw.with_columns(
        amount_value=pl.col("amount")
        .str.replace_all(r"[\s\u00a0\u202f€]", "")
        .str.replace(",", ".", literal=True)
        .cast(pl.Decimal(18, 2), strict=False),
        date_value=pl.coalesce(
            pl.col("paid_on").str.to_date("%d/%m/%Y", strict=False),
            pl.col("paid_on").str.to_date("%Y-%m-%d", strict=False),
        ),
    )
    problems = pl.concat(
        [
            parsed.filter(pl.col("convention_id").is_null() | (pl.col("convention_id") == "")).select(
                "line", column=pl.lit(chosen["convention_id"]), value=pl.lit(""), reason=pl.lit("convention manquante")
            ),
            parsed.filter(pl.col("date_value").is_null()).select(
                "line",
                column=pl.lit(chosen["paid_on"]),
                value=pl.col("paid_on").fill_null(""),
                reason=pl.lit("date invalide (attendu JJ/MM/AAAA ou AAAA-MM-JJ)"),
            ),
            parsed.filter(pl.col("amount_value").is_null()).select(
                "line",
                column=pl.lit(chosen["amount"]),
                value=pl.col("amount").fill_null(""),
                reason=pl.lit("montant invalide (attendu par exemple 145 437,50)"),
            ),
            parsed.filter(pl.col("reference").is_null() | (pl.col("reference") == "")).select(
                "line", column=pl.lit(chosen["reference"]), value=pl.lit(""), reason=pl.lit("référence manquante")
            ),
        ]
    ).sort("line")
    if problems.height:
        shown = [
            f"  - ligne {r['line']}, colonne « {r['column']} » : {r['reason']}"
            + (f" (« {r['value']} »)" if r["value"] else "")
            for r in problems.head(20).iter_rows(named=True)
        ]
        more = f"\n  … et {problems.height - 20} autre(s)" if problems.height > 20 else ""
        raise ExtractError(
            f"Fichier {path} : {problems.height} problème(s), aucun versement enregistré :\n" + "\n".join(shown) + more
        )
    duplicates = parsed.filter(pl.struct("convention_id", "reference").is_duplicated())
    if duplicates.height:
        lines = ", ".join(str(n) for n in duplicates["line"].to_list()[:10])
        raise ExtractError(
            f"Fichier {path} : même convention et même référence sur plusieurs lignes ({lines}) ;"
            " aucun versement enregistré."
        )
    return [
        {
            "convention_id": r["convention_id"],
            "paid_on": r["date_value"],
            "amount": Decimal(r["amount_value"]),
            "reference": r["reference"],
            "line": r["line"],
        }
        for r in parsed.select("convention_id", "date_value", "amount_value", "reference", "line").to_dicts()
    ]


def parse_amount(text: str) -> Decimal | None:
    """An amount typed by a user: `145 437,50`, `145437.50 €`; None when it is not one."""
    from decimal import InvalidOperation

    cleaned = "".join(ch for ch in text if ch not in " \u00a0\u202f€").replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value.quantize(Decimal("0.01")) if value.is_finite() and value == value.quantize(Decimal("0.01")) else None


def parse_day(text: str) -> date | None:
    """A date typed by a user: JJ/MM/AAAA or AAAA-MM-JJ; None when it is not one."""
    from datetime import datetime

    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None
