"""The input contract (shared/spec/extracts.md) as data: tables, columns, types, codes.

This module is the single place where the extract tables are described. The reader
(`engine.extracts`) validates against it, the indicators rely on the dtypes it promises
and the sample-data generator writes files that follow it.

Column kinds and the polars dtype a kept row has after reading:

| kind      | polars dtype        | notes                                                      |
|-----------|---------------------|------------------------------------------------------------|
| text      | pl.String           | stripped; empty string = missing                          |
| code      | pl.String           | must be one of `codes`                                     |
| date      | pl.Date             | `YYYY-MM-DD` or `DD/MM/YYYY`                              |
| bool      | pl.Boolean          | true/false, 1/0, oui/non, vrai/faux; empty = `default`    |
| int       | pl.Int64            |                                                            |
| decimal   | pl.Decimal(38, 6)   | exact: money, ETP, rates (decimal comma or point)         |
| hours     | pl.Float64          | weekly hours, compared with thresholds, never summed to €  |

Beyond the kinds, two flags make a column stricter than `extracts.md` says in words:

- `identifier`: the ids of rows and people (every `*_id` column). An id is at most
  `ID_MAX_LENGTH` (200) characters, with no character of `ID_FORBIDDEN`: no double quote,
  no backslash, no control character (Unicode Cc: tab, new line, NUL…), no invisible format
  character (Cf: zero-width space, bidi marks, BOM) and no line or paragraph separator. Any
  other character is allowed (letters with accents, digits, spaces inside, `-_./:#`…). These
  are the ids the decision layer can carry as fact ids; a row with a bad id is set aside
  with its line like any other bad value. A reference to a parent (`Table.parents`, e.g.
  `episodes.convention_id`) is checked through its parent: only the ids of kept parent
  rows are accepted, so a bad id there is set aside as an unknown parent.
- `money`: an amount in euros; it must be a whole number of cents (at most two decimals
  that are not zero: `53700.50` and `53700.500` are cents, `53700.545` is not).

Any text cell longer than `TEXT_MAX_LENGTH` characters is a bad value too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import polars as pl

Kind = Literal["text", "code", "date", "bool", "int", "decimal", "hours"]

DECIMAL = pl.Decimal(38, 6)

ID_MAX_LENGTH = 200
# The characters an identifier may not hold (a Rust regex class, as polars reads it).
ID_FORBIDDEN = r'[\p{Cc}\p{Cf}\p{Zl}\p{Zp}"\\]'
TEXT_MAX_LENGTH = 4_000

DTYPES: dict[str, pl.DataType] = {
    "text": pl.String(),
    "code": pl.String(),
    "date": pl.Date(),
    "bool": pl.Boolean(),
    "int": pl.Int64(),
    "decimal": DECIMAL,
    "hours": pl.Float64(),
}


def decimal_lit(value: Decimal | int | float | str) -> pl.Expr:
    """An exact decimal literal (the contract's `DECIMAL`), made from its text.

    `pl.lit(Decimal(...))` builds it through a numpy array: polars would then import numpy
    (about 60 ms) for one number.
    """
    return pl.lit(format(Decimal(str(value)), "f")).cast(DECIMAL)


@dataclass(frozen=True)
class Column:
    """One column of an extract table."""

    name: str
    kind: Kind
    required: bool = False
    codes: tuple[str, ...] = ()
    default: object = None
    min: float | None = None
    max: float | None = None
    unique: bool = False
    # ISO weekday a date must fall on (1 = Monday), e.g. weekly_activity.week_start.
    weekday: int | None = None
    # an id of a row or a person: at most ID_MAX_LENGTH characters, none of ID_FORBIDDEN
    identifier: bool = False
    # an amount in euros: a whole number of cents
    money: bool = False


@dataclass(frozen=True)
class Before:
    """Row check: the date `later` must not be before the date `earlier`.

    Skipped when either date is missing or unreadable. The problem is reported on `later`;
    `reason` is French, with the placeholders `{later}` and `{earlier}` (the values read).
    """

    earlier: str
    later: str
    reason: str


@dataclass(frozen=True)
class RequiredWhen:
    """Row check: `column` must be filled when `when` is set (or, with `equals`, has that code).

    The problem is reported on `column`; `reason` is French.
    """

    column: str
    when: str
    reason: str
    equals: str | None = None


RowCheck = Before | RequiredWhen


@dataclass(frozen=True)
class Table:
    """One extract table: its columns, key and parent references."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    # column -> (parent table, parent key column)
    parents: dict[str, tuple[str, str]] = field(default_factory=dict)
    # cross-column checks within one row (see `Before`, `RequiredWhen`)
    checks: tuple[RowCheck, ...] = ()

    def column(self, name: str) -> Column:
        """Return the column called `name`."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def schema(self) -> dict[str, pl.DataType]:
        """The polars schema of the kept rows."""
        return {c.name: DTYPES[c.kind] for c in self.columns}


DISPOSITIFS = ("accueil", "equilibre", "independants", "participants")
FUNDING = ("financement", "valorisation")
EXIT_REASONS = (
    "emploi",
    "formation",
    "creation_activite",
    "parcours_emploi_ft",
    "remobilisation_sociale",
    "demenagement",
    "fin_de_droits",
    "abandon",
    "sanction",
    "autre",
)
MODES = ("physique", "telephone", "visio", "collectif", "ecrit")
APPOINTMENT_STATUS = ("honore", "absent", "annule")
PURPOSES = ("accueil", "suivi", "bilan_final", "diagnostic")
CONTRACT_KINDS = ("initial", "renouvellement")
PUBLICS = ("nouvel_entrant", "corde_de_rappel", "decision_opportunite")
DIAGNOSTIC_STATUS = ("realise", "absent", "annule", "en_attente")
PROPOSALS = ("emploi", "equilibre", "remobilisation_sociale", "independants", "autre")
PHASES = ("diagnostic", "developpement", "cessation")
SCOPES = ("thematique", "operation", "budget_line")

C = Column

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "conventions",
            (
                C("convention_id", "text", identifier=True, required=True, unique=True),
                C("structure", "text", required=True),
                C("territory", "text", required=True),
                C("dispositif", "code", required=True, codes=DISPOSITIFS),
                C("funding", "code", required=True, codes=FUNDING),
                C("etp", "decimal", required=True, min=0),
                C("places_max", "int", min=0),
                C("diagnostics_target", "int", min=0),
                C("participants_target", "int", min=0),
                C("amount_eur", "decimal", money=True, required=True, min=0),
                C("paid_eur", "decimal", money=True, default=0, min=0),
                C("period_start", "date", required=True),
                C("period_end", "date", required=True),
                C("budget_line", "text"),
                C("start_up", "bool", default=False),
                C("thematique", "text"),
                C("operation", "text"),
                C("mining_basin", "bool", default=False),
                # Extension: where the line stands in the deliberation (e.g. `L216`), for traceability.
                C("source", "text"),
            ),
            key=("convention_id",),
            checks=(
                Before(
                    "period_start",
                    "period_end",
                    "fin de période « {later} » antérieure au début de période « {earlier} »",
                ),
                RequiredWhen(
                    "places_max",
                    "dispositif",
                    "nombre de places obligatoire pour le dispositif « equilibre »",
                    equals="equilibre",
                ),
                RequiredWhen(
                    "participants_target",
                    "dispositif",
                    "objectif de participants obligatoire pour le dispositif « participants »",
                    equals="participants",
                ),
            ),
        ),
        Table(
            "budget_lines",
            (
                C("budget_line", "text", required=True, unique=True),
                C("label", "text"),
                C("imputation", "text"),
                C("ae_eur", "decimal", money=True),
                C("available_eur", "decimal", money=True),
            ),
            key=("budget_line",),
        ),
        Table(
            "stated_totals",
            (
                C("scope", "code", required=True, codes=SCOPES),
                C("key", "text", required=True),
                C("label", "text"),
                C("amount_eur", "decimal", money=True),
                C("places", "int", min=0),
                C("diagnostics", "int", min=0),
                C("participants", "int", min=0),
                C("structures", "int", min=0),
                # Extensions: number of dispositifs/operations stated, the stated period, the line cited.
                C("operations", "int", min=0),
                C("period_start", "date"),
                C("period_end", "date"),
                C("source", "text"),
            ),
            key=("scope", "key"),
        ),
        Table(
            "episodes",
            (
                C("episode_id", "text", identifier=True, required=True, unique=True),
                C("beneficiary_id", "text", identifier=True, required=True),
                C("convention_id", "text", identifier=True, required=True),
                C("orientation_date", "date", required=True),
                C("exit_date", "date"),
                C("exit_reason", "code", codes=EXIT_REASONS),
            ),
            key=("episode_id",),
            parents={"convention_id": ("conventions", "convention_id")},
            checks=(
                Before(
                    "orientation_date",
                    "exit_date",
                    "date de sortie « {later} » antérieure à la date d'orientation « {earlier} »",
                ),
                RequiredWhen(
                    "exit_reason",
                    "exit_date",
                    "motif de sortie obligatoire quand une date de sortie est renseignée",
                ),
            ),
        ),
        Table(
            "appointments",
            (
                C("appointment_id", "text", identifier=True, required=True, unique=True),
                C("episode_id", "text", identifier=True, required=True),
                C("date", "date", required=True),
                C("mode", "code", required=True, codes=MODES),
                C("status", "code", required=True, codes=APPOINTMENT_STATUS),
                C("purpose", "code", codes=PURPOSES, default="suivi"),
            ),
            key=("appointment_id",),
            parents={"episode_id": ("episodes", "episode_id")},
        ),
        Table(
            "contracts",
            (
                C("contract_id", "text", identifier=True, required=True, unique=True),
                C("episode_id", "text", identifier=True, required=True),
                C("kind", "code", required=True, codes=CONTRACT_KINDS),
                C("signed_date", "date", required=True),
                C("start_date", "date", required=True),
                C("end_date", "date", required=True),
                C("objectives_defined", "bool", default=False),
                C("action_plan", "bool", default=False),
                C("weekly_hours_planned", "bool", default=False),
                C("signed_by_both", "bool", default=False),
                C("weekly_hours_target", "hours", min=0, max=168),
            ),
            key=("contract_id",),
            parents={"episode_id": ("episodes", "episode_id")},
            checks=(
                Before(
                    "start_date",
                    "end_date",
                    "date de fin « {later} » antérieure à la date de début « {earlier} »",
                ),
            ),
        ),
        Table(
            "weekly_activity",
            (
                C("episode_id", "text", identifier=True, required=True),
                C("week_start", "date", required=True, weekday=1),
                C("hours", "hours", required=True, min=0, max=168),
                C("exempt", "bool", default=False),
            ),
            key=("episode_id", "week_start"),
            parents={"episode_id": ("episodes", "episode_id")},
        ),
        Table(
            "diagnostics",
            (
                C("diagnostic_id", "text", identifier=True, required=True, unique=True),
                C("beneficiary_id", "text", identifier=True, required=True),
                C("convention_id", "text", identifier=True, required=True),
                C("public", "code", required=True, codes=PUBLICS),
                C("request_date", "date", required=True),
                C("appointment_date", "date"),
                C("status", "code", required=True, codes=DIAGNOSTIC_STATUS),
                C("positioning_date", "date"),
                C("orientation_proposal", "code", codes=PROPOSALS),
                C("absence_reported_date", "date"),
            ),
            key=("diagnostic_id",),
            parents={"convention_id": ("conventions", "convention_id")},
        ),
        Table(
            "phases",
            (
                C("phase_id", "text", identifier=True, required=True, unique=True),
                C("episode_id", "text", identifier=True, required=True),
                C("phase", "code", required=True, codes=PHASES),
                C("start_date", "date", required=True),
                C("end_date", "date", required=True),
                C("renewal", "bool", default=False),
                C("profit_before", "decimal", money=True),
                C("profit_after", "decimal", money=True),
                C("business_closed", "bool", default=False),
                C("resumed_insertion", "bool", default=False),
                C("left_rsa", "bool", default=False),
            ),
            key=("phase_id",),
            parents={"episode_id": ("episodes", "episode_id")},
            checks=(
                Before(
                    "start_date",
                    "end_date",
                    "fin de phase « {later} » antérieure au début de phase « {earlier} »",
                ),
            ),
        ),
        Table(
            "staff_costs",
            (
                C("convention_id", "text", identifier=True, required=True),
                C("staff_id", "text", identifier=True, required=True),
                C("gross_cost_eur", "decimal", money=True, required=True, min=0),
                C("allocation_rate", "decimal", required=True, min=0, max=1),
            ),
            key=("convention_id", "staff_id"),
            parents={"convention_id": ("conventions", "convention_id")},
        ),
        Table(
            "participants",
            (
                C("participant_id", "text", identifier=True, required=True),
                C("convention_id", "text", identifier=True, required=True),
                C("entry_date", "date", required=True),
            ),
            # No key: a participant may enter more than once; the indicator counts distinct ids.
            parents={"convention_id": ("conventions", "convention_id")},
        ),
    )
}

# Parents are read before children, so that a row whose parent was set aside is set aside too.
READ_ORDER: tuple[str, ...] = (
    "conventions",
    "budget_lines",
    "stated_totals",
    "episodes",
    "appointments",
    "contracts",
    "weekly_activity",
    "diagnostics",
    "phases",
    "staff_costs",
    "participants",
)


def empty_frame(table: str) -> pl.DataFrame:
    """An empty frame with the schema of `table` (for a table a run does not have)."""
    return pl.DataFrame(schema=TABLES[table].schema)
