"""The registry check: the conventions table against the framework and the totals the text states.

`check_registry(tables, book)` takes the tables read by `engine.load.extracts.read_extracts`
(`conventions`, and optionally `budget_lines` and `stated_totals`) and the rules, and returns
a short list of `Finding`s (French messages), nothing evaluated. Three families:

* **lines** — each convention line against the framework: places vs
  `equilibre.portfolio_max_per_etp` / `portfolio_min_per_etp` × ETP, an accueil diagnostics
  target vs `accueil.diagnostics_per_etp` × ETP, valorisation lines at 0 €, financed lines
  with an amount, paid ≤ amount, periods in order and inside the operation's stated period,
  `start_up` only on financed lines, budget lines known;
* **totals** — for every row of `stated_totals`, the sum of the lines of that thématique,
  operation or budget line: amount, places, diagnostics, participants, number of distinct
  structures and of dispositifs (operations);
* **budget** — per budget line, the sum of the lines and the stated proposal against
  `available_eur`.

Counting structures: a structure is a distinct `structure` name, compared after trimming,
lower-casing and collapsing spaces (so "MEMPA" with a valorised and a financed line is one
structure; "ADEFI - PLIE" and "ADEFI - Plateforme" are two). The message also gives the
number of distinct (structure, territory) pairs, the other way the text may count.

Optional columns, used when the frames have them (the contract may add them): in
`conventions`, `source` (the line of the text, e.g. `L216`); in `stated_totals`, `source`,
`operations` (number of dispositifs stated), `period_start` and `period_end` (the stated
period of an operation).

Every threshold comes from the `RuleBook`, resolved at each line's `period_start` (or at its
`period_end` when nothing is in force yet at its start). The sums are polars group-bys;
only the few offending rows become Python objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import polars as pl

from engine.model.contract import DECIMAL
from engine.model.errors import RulesError
from engine.model.money import CENT
from engine.model.rulebook import RuleBook

Level = Literal["erreur", "avertissement"]
ERROR: Level = "erreur"
WARNING: Level = "avertissement"

# (dispositif, parameter name) the line checks need: names only, values come from the book.
PORTFOLIO_MIN = ("equilibre", "portfolio_min_per_etp")
PORTFOLIO_MAX = ("equilibre", "portfolio_max_per_etp")
DIAGNOSTICS_PER_ETP = ("accueil", "diagnostics_per_etp")
LINE_PARAMS = (PORTFOLIO_MIN, PORTFOLIO_MAX, DIAGNOSTICS_PER_ETP)

SCOPE_NAMES = {
    "thematique": "Thématique",
    "operation": "Opération",
    "budget_line": "Ligne budgétaire",
}
REGISTRY_TABLES = ("conventions", "budget_lines", "stated_totals")


@dataclass(frozen=True)
class Finding:
    """One inconsistency of the registry.

    `subject` is a convention id, or `<scope>:<key>` for a stated total (e.g. `operation:4.1`)
    or `budget_line:<code>`; `found` is the figure of the lines, `expected` the figure of the
    framework or of the text; `source` where the figure is in the text (e.g. `L216`), or the
    rule's source when the line's is not known.
    """

    level: Level
    code: str
    subject: str
    message: str
    found: Any = None
    expected: Any = None
    source: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: decimals as strings, dates as ISO strings."""
        return {k: _plain(v) for k, v in asdict(self).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return value


# --------------------------------------------------------------------------- French numbers


def _group(digits: str) -> str:
    sign = "-" if digits.startswith("-") else ""
    digits = digits.lstrip("-")
    parts: list[str] = []
    while len(digits) > 3:
        parts.insert(0, digits[-3:])
        digits = digits[:-3]
    parts.insert(0, digits)
    return sign + " ".join(parts)


def eur(value: Decimal | int) -> str:
    """`59 220,00 €`."""
    text = f"{Decimal(value):.2f}"
    whole, cents = text.split(".")
    return f"{_group(whole)},{cents} €"


def num(value: Decimal | int | float) -> str:
    """`2 706`, `145,6`, `2,08` (no trailing zeros)."""
    d = Decimal(str(value))
    if d == d.to_integral():
        return _group(str(d.quantize(Decimal(1))))
    whole, frac = f"{d.normalize():f}".split(".")
    return f"{_group(whole)},{frac}"


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _cents(value: Any) -> Decimal:
    return _dec(value).quantize(CENT)


def _clean(value: Decimal) -> Decimal | int:
    """145.600000 -> Decimal('145.6'); 600.000000 -> 600."""
    if value == value.to_integral():
        return int(value)
    return Decimal(format(value.normalize(), "f"))


# --------------------------------------------------------------------------- context


@dataclass
class _Context:
    lines: pl.DataFrame  # conventions + resolved parameters + `_source`
    stated: pl.DataFrame
    budget: pl.DataFrame
    book: RuleBook
    findings: list[Finding]

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def rule_ref(self, dispositif: str, name: str) -> str | None:
        param = self.book.params.get(f"{dispositif}.{name}")
        if param is None:
            return None
        ref = param.source.get("ref")
        return str(ref) if ref else None


def _param_col(dispositif: str, name: str) -> str:
    return f"_p_{dispositif}_{name}"


def _resolve_params(conv: pl.DataFrame, book: RuleBook, findings: list[Finding]) -> pl.DataFrame:
    """One row per distinct (dispositif, period_start, period_end) with the parameters in force.

    A loop over distinct dates of the registry (a handful), never over beneficiaries.
    """
    keys = conv.select("dispositif", "period_start", "period_end").unique(maintain_order=True)
    rows: list[dict[str, Any]] = []
    missing: set[tuple[str, str]] = set()
    for dispositif, start, end in keys.iter_rows():
        row: dict[str, Any] = {"dispositif": dispositif, "period_start": start, "period_end": end}
        for disp, name in LINE_PARAMS:
            value = None
            path = f"{disp}.{name}"
            if disp == dispositif and path in book.params:
                for when in (start, end):
                    if when is None:
                        continue
                    try:
                        value = book.params[path].at(when)
                        break
                    except RulesError:
                        continue
                if value is None and (disp, name) not in missing:
                    missing.add((disp, name))
                    findings.append(
                        Finding(
                            WARNING,
                            "parametre_non_en_vigueur",
                            path,
                            f"Paramètre « {path} » sans valeur en vigueur sur la période "
                            f"{_d(start)} – {_d(end)} : contrôle correspondant non fait.",
                        )
                    )
            row[_param_col(disp, name)] = None if value is None else Decimal(str(value))
        rows.append(row)
    schema: dict[str, pl.DataType] = {
        "dispositif": pl.String(),
        "period_start": pl.Date(),
        "period_end": pl.Date(),
        **{_param_col(d, n): DECIMAL for d, n in LINE_PARAMS},
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def _d(value: date | None) -> str:
    return "?" if value is None else value.strftime("%d/%m/%Y")


def _prepare(tables: dict[str, pl.DataFrame], book: RuleBook, findings: list[Finding]) -> _Context:
    conv = tables["conventions"]
    if "source_line" in conv.columns:
        conv = conv.sort("source_line", maintain_order=True)
    if "source" not in conv.columns:
        conv = conv.with_columns(pl.lit(None, pl.String).alias("source"))
    params = _resolve_params(conv, book, findings)
    lines = conv.join(
        params,
        on=["dispositif", "period_start", "period_end"],
        how="left",
        nulls_equal=True,
        maintain_order="left",
    )
    stated = tables.get("stated_totals")
    if stated is None:
        stated = pl.DataFrame(schema={"scope": pl.String(), "key": pl.String()})
    for name, dtype in (
        ("label", pl.String()),
        ("amount_eur", DECIMAL),
        ("places", pl.Int64()),
        ("diagnostics", pl.Int64()),
        ("participants", pl.Int64()),
        ("structures", pl.Int64()),
        ("operations", pl.Int64()),
        ("period_start", pl.Date()),
        ("period_end", pl.Date()),
        ("source", pl.String()),
    ):
        if name not in stated.columns:
            stated = stated.with_columns(pl.lit(None, dtype).alias(name))
    budget = tables.get("budget_lines")
    if budget is None:
        budget = pl.DataFrame(schema={"budget_line": pl.String(), "available_eur": DECIMAL})
    if "available_eur" not in budget.columns:
        budget = budget.with_columns(pl.lit(None, DECIMAL).alias("available_eur"))
    return _Context(lines, stated, budget, book, findings)


def _who(row: dict[str, Any]) -> str:
    return f"Ligne {row['convention_id']} ({row['structure']}, {row['territory']})"


# --------------------------------------------------------------------------- line checks


def check_periods(ctx: _Context) -> None:
    """period_end before period_start (erreur)."""
    bad = ctx.lines.filter(pl.col("period_end") < pl.col("period_start"))
    for r in bad.iter_rows(named=True):
        ctx.add(
            Finding(
                ERROR,
                "periode_inversee",
                r["convention_id"],
                f"{_who(r)} : fin de période {_d(r['period_end'])} antérieure au début "
                f"{_d(r['period_start'])}.",
                r["period_end"],
                r["period_start"],
                r["source"],
            )
        )


def check_period_in_operation(ctx: _Context) -> None:
    """Flag a line whose period leaves the period its operation states (avertissement)."""
    stated = ctx.stated.filter(
        (pl.col("scope") == "operation")
        & (pl.col("period_start").is_not_null() | pl.col("period_end").is_not_null())
    ).select(
        pl.col("key").alias("operation"),
        pl.col("period_start").alias("_op_start"),
        pl.col("period_end").alias("_op_end"),
        pl.col("source").alias("_op_source"),
    )
    if stated.height == 0:
        return
    joined = ctx.lines.join(stated, on="operation", how="inner", maintain_order="left")
    bad = joined.filter(
        (pl.col("period_start") < pl.col("_op_start")) | (pl.col("period_end") > pl.col("_op_end"))
    )
    for r in bad.iter_rows(named=True):
        ctx.add(
            Finding(
                WARNING,
                "periode_hors_operation",
                r["convention_id"],
                f"{_who(r)} : période du {_d(r['period_start'])} au {_d(r['period_end'])}, "
                f"hors de la "
                f"période de l'opération {r['operation']} annoncée par le texte (du "
                f"{_d(r['_op_start'])} au {_d(r['_op_end'])}"
                + (f", {r['_op_source']}" if r["_op_source"] else "")
                + ").",
                f"{r['period_start']}/{r['period_end']}",
                f"{r['_op_start']}/{r['_op_end']}",
                r["source"] or r["_op_source"],
            )
        )


def _capacity(
    ctx: _Context,
    *,
    dispositif: str,
    column: str,
    per_etp: tuple[str, str],
    above: bool,
    code: str,
    noun: str,
    side: str,
    rule_text: str,
) -> None:
    """Compare a line's figure with parameter × ETP (above: erreur, avertissement within 1)."""
    p = pl.col(_param_col(*per_etp))
    bound = pl.col("etp") * p
    found = pl.col(column).cast(DECIMAL)
    cond = found > bound if above else found < bound
    bad = ctx.lines.filter(
        (pl.col("dispositif") == dispositif) & pl.col(column).is_not_null() & p.is_not_null() & cond
    ).with_columns(bound.alias("_bound"), (found - bound).alias("_gap"))
    ref = ctx.rule_ref(*per_etp)
    for r in bad.iter_rows(named=True):
        per = _dec(r[_param_col(*per_etp)])
        bound_v = _clean(_dec(r["_bound"]))
        rounding = above and _dec(r["_gap"]) < 1
        level = WARNING if (rounding or not above) else ERROR
        extra = " ; dépassement de moins d'une unité (arrondi au-dessus)" if rounding else ""
        ctx.add(
            Finding(
                level,
                code,
                r["convention_id"],
                f"{_who(r)} : {num(r[column])} {noun} pour {num(r['etp'])} ETP, {side} "
                f"{num(per)} {rule_text} × {num(r['etp'])} ETP = {num(bound_v)} {noun}"
                + (f" (règle {ref})" if ref else "")
                + f"{extra}.",
                r[column],
                bound_v,
                r["source"] or ref,
            )
        )


def check_places_above_max(ctx: _Context) -> None:
    """equilibre: places_max > portfolio_max_per_etp × ETP."""
    _capacity(
        ctx,
        dispositif="equilibre",
        column="places_max",
        per_etp=PORTFOLIO_MAX,
        above=True,
        code="places_au_dessus_du_maximum",
        noun="places",
        side="au-dessus du plafond de",
        rule_text="personnes par ETP",
    )


def check_places_below_min(ctx: _Context) -> None:
    """equilibre: places_max < portfolio_min_per_etp × ETP (avertissement)."""
    _capacity(
        ctx,
        dispositif="equilibre",
        column="places_max",
        per_etp=PORTFOLIO_MIN,
        above=False,
        code="places_sous_le_minimum",
        noun="places",
        side="en dessous du plancher de",
        rule_text="personnes par ETP",
    )


def check_diagnostics_above(ctx: _Context) -> None:
    """accueil: diagnostics_target > diagnostics_per_etp × ETP."""
    _capacity(
        ctx,
        dispositif="accueil",
        column="diagnostics_target",
        per_etp=DIAGNOSTICS_PER_ETP,
        above=True,
        code="diagnostics_au_dessus_de_l_etp",
        noun="diagnostics",
        side="au-dessus de",
        rule_text="diagnostics par ETP",
    )


def check_diagnostics_below(ctx: _Context) -> None:
    """accueil: diagnostics_target < diagnostics_per_etp × ETP (avertissement)."""
    _capacity(
        ctx,
        dispositif="accueil",
        column="diagnostics_target",
        per_etp=DIAGNOSTICS_PER_ETP,
        above=False,
        code="diagnostics_en_dessous_de_l_etp",
        noun="diagnostics",
        side="en dessous de",
        rule_text="diagnostics par ETP",
    )


def _simple(
    ctx: _Context,
    cond: pl.Expr,
    level: Level,
    code: str,
    text: Callable[[dict[str, Any]], str],
    found: str,
    expected: Any,
) -> None:
    for r in ctx.lines.filter(cond).iter_rows(named=True):
        value = r[found]
        wanted = expected(r) if callable(expected) else expected
        if found.endswith("_eur"):
            value = _cents(value)
            wanted = _cents(wanted) if isinstance(wanted, Decimal) else wanted
        ctx.add(
            Finding(
                level,
                code,
                r["convention_id"],
                f"{_who(r)} : {text(r)}",
                value,
                wanted,
                r["source"],
            )
        )


def check_funding(ctx: _Context) -> None:
    """Valorisation lines at 0 € (nothing paid); financed lines with an amount; paid ≤ amount."""
    valo = pl.col("funding") == "valorisation"
    zero = Decimal(0)
    _simple(
        ctx,
        valo & (pl.col("amount_eur") > 0),
        ERROR,
        "valorisation_avec_montant",
        lambda r: (
            f"ligne de valorisation (« - € ») avec un montant de {eur(r['amount_eur'])}, "
            f"attendu {eur(0)}."
        ),
        "amount_eur",
        zero,
    )
    _simple(
        ctx,
        valo & (pl.col("paid_eur") > 0),
        ERROR,
        "valorisation_avec_versement",
        lambda r: f"ligne de valorisation avec {eur(r['paid_eur'])} déjà versés, attendu {eur(0)}.",
        "paid_eur",
        zero,
    )
    _simple(
        ctx,
        (pl.col("funding") == "financement") & (pl.col("amount_eur") <= 0),
        ERROR,
        "financement_sans_montant",
        lambda r: (
            f"ligne de financement avec un montant de {eur(r['amount_eur'])}, attendu "
            "un montant positif."
        ),
        "amount_eur",
        "> 0",
    )
    _simple(
        ctx,
        ~valo & (pl.col("paid_eur") > pl.col("amount_eur")),
        ERROR,
        "verse_superieur_au_montant",
        lambda r: (
            f"{eur(r['paid_eur'])} déjà versés pour un montant retenu de {eur(r['amount_eur'])}."
        ),
        "paid_eur",
        lambda r: r["amount_eur"],
    )


def check_start_up(ctx: _Context) -> None:
    """start_up only on financed lines (avertissement: no money at stake)."""
    _simple(
        ctx,
        pl.col("start_up") & (pl.col("funding") != "financement"),
        WARNING,
        "demarrage_sur_valorisation",
        lambda r: (
            "« démarrage d'action » sur une ligne de valorisation : la clause ne "
            "s'applique qu'aux lignes financées."
        ),
        "start_up",
        False,
    )


def check_participants_target(ctx: _Context) -> None:
    """Participants lines need a target above 0 (otherwise they cannot be evaluated)."""
    _simple(
        ctx,
        (pl.col("dispositif") == "participants")
        & (pl.col("participants_target").is_null() | (pl.col("participants_target") <= 0)),
        WARNING,
        "objectif_participants_nul",
        lambda r: (
            f"objectif de participants {r['participants_target'] or 0} : la ligne ne "
            "pourra pas être évaluée."
        ),
        "participants_target",
        "> 0",
    )


def check_operation_in_thematique(ctx: _Context) -> None:
    """`operation` should sit in its `thematique` (e.g. 4.1 in thématique 4)."""
    cond = (
        pl.col("operation").is_not_null()
        & pl.col("thematique").is_not_null()
        & ~pl.col("operation").str.starts_with(pl.col("thematique") + ".")
    )
    _simple(
        ctx,
        cond,
        WARNING,
        "operation_hors_thematique",
        lambda r: (
            f"opération « {r['operation']} » rattachée à la thématique « {r['thematique']} »."
        ),
        "operation",
        lambda r: f"{r['thematique']}.*",
    )


def check_budget_line_known(ctx: _Context) -> None:
    """Check a line's budget line is one of `budget_lines` (when that table is given)."""
    if ctx.budget.height == 0:
        return
    known = ctx.budget["budget_line"]
    _simple(
        ctx,
        pl.col("budget_line").is_not_null() & ~pl.col("budget_line").is_in(known.implode()),
        WARNING,
        "ligne_budgetaire_inconnue",
        lambda r: f"ligne budgétaire « {r['budget_line']} » absente de budget_lines.",
        "budget_line",
        None,
    )
    _simple(
        ctx,
        pl.col("budget_line").is_null() & (pl.col("funding") == "financement"),
        WARNING,
        "sans_ligne_budgetaire",
        lambda r: f"ligne de financement de {eur(r['amount_eur'])} sans ligne budgétaire.",
        "budget_line",
        None,
    )


# --------------------------------------------------------------------------- totals


def _norm_structure() -> pl.Expr:
    return pl.col("structure").str.strip_chars().str.to_lowercase().str.replace_all(r"\s+", " ")


def _sums(lines: pl.DataFrame) -> pl.DataFrame:
    """Per scope and key: the sums of the lines (three group-bys, one per scope)."""
    diag = pl.when(pl.col("dispositif") == "accueil").then(
        pl.coalesce(
            pl.col("diagnostics_target").cast(DECIMAL),
            pl.col("etp") * pl.col(_param_col(*DIAGNOSTICS_PER_ETP)),
        )
    )
    base = lines.with_columns(
        diag.alias("_diag"),
        _norm_structure().alias("_structure"),
        pl.col("territory").str.strip_chars().str.to_lowercase().alias("_terr"),
    )
    parts: list[pl.DataFrame] = []
    for scope in SCOPE_NAMES:
        parts.append(
            base.filter(pl.col(scope).is_not_null())
            .group_by(pl.col(scope).alias("key"))
            .agg(
                pl.len().alias("n_lines"),
                pl.col("amount_eur").sum().alias("s_amount_eur"),
                pl.col("places_max").sum().alias("s_places"),
                pl.col("_diag").sum().alias("s_diagnostics"),
                pl.col("participants_target").sum().alias("s_participants"),
                pl.col("_structure").n_unique().cast(pl.Int64).alias("s_structures"),
                pl.struct("_structure", "_terr").n_unique().cast(pl.Int64).alias("s_pairs"),
                pl.col("operation").drop_nulls().n_unique().cast(pl.Int64).alias("s_operations"),
            )
            .with_columns(pl.lit(scope).alias("scope"))
        )
    return pl.concat(parts, how="vertical_relaxed")


# measure -> (stated column, sum column, level, code, formatter)
MEASURES: tuple[tuple[str, str, Level, str, Callable[[Any], str]], ...] = (
    ("amount_eur", "s_amount_eur", ERROR, "total_montant", eur),
    ("places", "s_places", ERROR, "total_places", lambda v: f"{num(v)} places"),
    ("diagnostics", "s_diagnostics", ERROR, "total_diagnostics", lambda v: f"{num(v)} diagnostics"),
    (
        "participants",
        "s_participants",
        ERROR,
        "total_participants",
        lambda v: f"{num(v)} participants",
    ),
    ("structures", "s_structures", WARNING, "nombre_structures", lambda v: f"{num(v)} structures"),
    (
        "operations",
        "s_operations",
        WARNING,
        "nombre_dispositifs",
        lambda v: f"{num(v)} dispositifs",
    ),
)


def _subject(scope: str, key: str) -> str:
    return f"{scope}:{key}"


def _title(scope: str, key: str) -> str:
    return f"{SCOPE_NAMES.get(scope, scope)} {key}"


def check_stated_totals(ctx: _Context) -> None:
    """Every figure of `stated_totals` against the sum of its lines."""
    if ctx.stated.height == 0:
        return
    sums = _sums(ctx.lines)
    joined = ctx.stated.join(sums, on=["scope", "key"], how="left", maintain_order="left")
    for r in joined.filter(pl.col("n_lines").is_null()).iter_rows(named=True):
        ctx.add(
            Finding(
                ERROR,
                "total_sans_ligne",
                _subject(r["scope"], r["key"]),
                f"{_title(r['scope'], r['key'])} : le texte annonce un total mais aucune ligne du "
                f"registre ne porte {r['scope']} = « {r['key']} ».",
                0,
                None,
                r["source"],
            )
        )
    have = joined.filter(pl.col("n_lines").is_not_null())
    for stated_col, sum_col, level, code, fmt in MEASURES:
        cond = pl.col(stated_col).is_not_null() & (
            pl.col(sum_col).cast(DECIMAL) != pl.col(stated_col).cast(DECIMAL)
        )
        for r in have.filter(cond).iter_rows(named=True):
            found, expected = r[sum_col], r[stated_col]
            if isinstance(found, Decimal) and stated_col == "amount_eur":
                found = found.quantize(CENT)
                expected = _dec(expected).quantize(CENT)
            elif isinstance(found, Decimal) and found == found.to_integral():
                found = int(found)
            gap = _dec(found) - _dec(expected)
            gap_text = eur(gap) if stated_col == "amount_eur" else num(gap)
            sign = "+" if gap > 0 else ""
            how = ""
            if stated_col == "structures":
                how = (
                    f" (noms de structure distincts ; {num(r['s_pairs'])} couples "
                    "structure-territoire)"
                )
            elif stated_col == "operations":
                how = " (opérations distinctes)"
            ctx.add(
                Finding(
                    level,
                    code,
                    _subject(r["scope"], r["key"]),
                    f"{_title(r['scope'], r['key'])} : les {r['n_lines']} ligne(s) "
                    "du registre donnent "
                    f"{fmt(found)}{how}, le texte annonce {fmt(expected)}"
                    + (f" ({r['source']})" if r["source"] else "")
                    + f" ; écart {sign}{gap_text}.",
                    found,
                    expected,
                    r["source"],
                )
            )


def check_budget(ctx: _Context) -> None:
    """Per budget line: sum of the lines, and the stated proposal, against `available_eur`."""
    if ctx.budget.height == 0:
        return
    sums = (
        ctx.lines.filter(pl.col("budget_line").is_not_null())
        .group_by("budget_line")
        .agg(pl.col("amount_eur").sum().alias("_sum"), pl.len().alias("_n"))
    )
    proposed = ctx.stated.filter(pl.col("scope") == "budget_line").select(
        pl.col("key").alias("budget_line"),
        pl.col("amount_eur").alias("_proposed"),
        pl.col("source").alias("_source"),
    )
    joined = ctx.budget.join(sums, on="budget_line", how="left", maintain_order="left").join(
        proposed, on="budget_line", how="left", maintain_order="left"
    )
    avail = pl.col("available_eur")
    for r in joined.filter(avail.is_not_null() & (pl.col("_sum") > avail)).iter_rows(named=True):
        found = _dec(r["_sum"]).quantize(CENT)
        expected = _dec(r["available_eur"]).quantize(CENT)
        ctx.add(
            Finding(
                ERROR,
                "budget_depasse",
                _subject("budget_line", r["budget_line"]),
                f"Ligne budgétaire {r['budget_line']} : les {r['_n']} ligne(s) du registre "
                "totalisent "
                f"{eur(found)}, au-delà du disponible de {eur(expected)} ; dépassement de "
                f"{eur(found - expected)}.",
                found,
                expected,
                r["_source"],
            )
        )
    for r in joined.filter(avail.is_not_null() & (pl.col("_proposed") > avail)).iter_rows(
        named=True
    ):
        found = _dec(r["_proposed"]).quantize(CENT)
        expected = _dec(r["available_eur"]).quantize(CENT)
        ctx.add(
            Finding(
                ERROR,
                "proposition_depasse_disponible",
                _subject("budget_line", r["budget_line"]),
                f"Ligne budgétaire {r['budget_line']} : la proposition annoncée de "
                f"{eur(found)} dépasse "
                f"le disponible de {eur(expected)}.",
                found,
                expected,
                r["_source"],
            )
        )


CHECKS: tuple[Callable[[_Context], None], ...] = (
    check_periods,
    check_period_in_operation,
    check_places_above_max,
    check_places_below_min,
    check_diagnostics_above,
    check_diagnostics_below,
    check_funding,
    check_start_up,
    check_participants_target,
    check_operation_in_thematique,
    check_budget_line_known,
    check_stated_totals,
    check_budget,
)


def check_registry(tables: dict[str, pl.DataFrame], book: RuleBook) -> list[Finding]:
    """Return every finding on the registry `tables`.

    `tables`: `conventions` (required), `budget_lines` and `stated_totals` (optional, may be
    empty), typed as `engine.load.extracts.read_extracts` returns them.
    """
    findings: list[Finding] = []
    ctx = _prepare(tables, book, findings)
    for check in CHECKS:
        check(ctx)
    return findings


def rejected_findings(rejected: pl.DataFrame) -> list[Finding]:
    """Registry rows set aside by the reader: each one is an erreur (the check cannot see it)."""
    rows = rejected.filter(pl.col("table").is_in(list(REGISTRY_TABLES)))
    return [
        Finding(
            ERROR,
            "ligne_ecartee",
            f"{r['table']}:{r['line']}",
            f"Fichier {r['file']}, ligne {r['line']}, colonne « {r['column']} » : {r['reason']} "
            "— ligne écartée, non contrôlée.",
            r["value"],
            None,
            None,
        )
        for r in rows.iter_rows(named=True)
    ]


def counts(findings: Iterable[Finding]) -> tuple[int, int]:
    """Count the findings: (number of erreurs, number of avertissements)."""
    items = list(findings)
    return (sum(f.level == ERROR for f in items), sum(f.level == WARNING for f in items))
