"""The `parcours` command line: a thin Typer layer over functions that return data.

User-facing text is French. Exit status: 0 done; 1 the run could not be done (one clear
message, no stack trace); 2 bad usage (Typer's own).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer import _click
from typer.core import TyperGroup

from engine.model import format as fr
from engine.model.decision_rules import DecisionError
from engine.model.errors import ExtractError, ParcoursError
from engine.model.format import status_sentence
from engine.model.oserror import os_error_fr
from engine.model.text import suggest
from engine.present.cli_french import install as install_french
from engine.present.cli_types import install as install_plain_types
from engine.register.cli import Recorder, RegisterOpt, payments_app, runs_app

install_french()
install_plain_types()

# polars' allocator (jemalloc): one arena shared by polars' threads (the pages freed by the
# reading are reused by the computation instead of sitting in another thread's arena) and
# freed pages handed back within 0.2 s keep the peak memory 10-15 % lower at the same speed
# (measured at 200 k and 2 M episodes, `make bench`). polars reads the variable when it is
# first imported, which this module defers (nothing above imports it), and puts its own
# defaults before it. A value set by the user comes after ours, so it wins. A value that
# starts with polars' defaults was written by a parent process that imported polars (a
# test, the benchmark): ours then takes their place, what followed them is kept.
ALLOCATOR = "narenas:1,dirty_decay_ms:200,muzzy_decay_ms:0"
_POLARS_ALLOCATOR = "dirty_decay_ms:500,muzzy_decay_ms:1000"


def _allocator(inherited: str | None) -> str:
    """The allocator setting for this process, from the one found in the environment."""
    if not inherited:
        return ALLOCATOR
    if inherited.startswith(_POLARS_ALLOCATOR):
        return ALLOCATOR + inherited[len(_POLARS_ALLOCATOR):]
    return f"{ALLOCATOR},{inherited}"


os.environ["_RJEM_MALLOC_CONF"] = _allocator(os.environ.get("_RJEM_MALLOC_CONF"))


class _FrenchGroup(TyperGroup):
    """The verbs' group: an unknown verb is named in French with the closest verb."""

    def resolve_command(self, ctx: _click.Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except _click.exceptions.UsageError as error:
            if args:
                error.message = error.message.rstrip(".") + suggest(args[0], self.commands) + "."
            raise


app = typer.Typer(
    name="parcours",
    cls=_FrenchGroup,
    help="parcours — évaluation des conventions d'accompagnement des bénéficiaires du RSA (règles en données).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    suggest_commands=False,
    options_metavar="[OPTIONS]",
    subcommand_metavar="VERBE [ARGUMENTS]...",
)
app.add_typer(runs_app, name="runs")
app.add_typer(payments_app, name="payments")
console = Console()
if not console.is_terminal:
    console = Console(width=160)
err = Console(stderr=True)
if not err.is_terminal:
    err = Console(stderr=True, width=160)

T = TypeVar("T")


DATE_FORMS = "AAAA-MM-JJ ou JJ/MM/AAAA"


def _parse_date(value: str, option: str = "--as-of") -> date:
    """A date written as the help says: `2025-06-30` or `30/06/2025`, nothing else."""
    import re

    text = value.strip()
    iso = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    french = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", text)
    if iso:
        year, month, day = (int(g) for g in iso.groups())
    elif french:
        day, month, year = (int(g) for g in french.groups())
    else:
        raise typer.BadParameter(f"date « {value} » illisible (attendu {DATE_FORMS}).",
                                 param_hint=f"« {option} »")
    try:
        return date(year, month, day)
    except ValueError:
        raise typer.BadParameter(
            f"la date « {value} » n'existe pas ({_impossible(year, month, day)}).",
            param_hint=f"« {option} »") from None


def _impossible(year: int, month: int, day: int) -> str:
    import calendar

    if not 1 <= month <= 12:
        return f"il n'y a pas de mois {month}"
    last = calendar.monthrange(year, month)[1]
    return f"le mois {month:02d}/{year} a {last} jours"


def _guard(action: Callable[[], T]) -> T:
    """Run `action`; turn a user mistake into one French message and exit status 1."""
    try:
        return action()
    except (ParcoursError, DecisionError) as error:
        err.print(f"[bold red]Erreur[/] : {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except OSError as error:
        where = f" : « {error.filename} »" if error.filename else ""
        err.print(f"[bold red]Erreur[/] : {escape(os_error_fr(error) + where)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


DataArg = Annotated[Path, typer.Argument(help="Dossier d'extraits (CSV, Parquet) ou classeur .xlsx.",
                                         metavar="DONNÉES", show_default=False)]
AsOf = Annotated[str, typer.Option("--as-of", metavar="DATE",
                                   help=f"Date d'évaluation ({DATE_FORMS}).")]
OutOpt = Annotated[Path, typer.Option("--out", metavar="DOSSIER", help="Dossier où écrire les résultats.")]
RulesOpt = Annotated[Path | None, typer.Option("--rules", metavar="DOSSIER",
                                               help="Dossier de règles (par défaut : rules/ du projet).")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", metavar="CHEMIN=VALEUR",
                                                  help="Modifier un paramètre (répétable).")]
ProfileOpt = Annotated[
    Path | None,
    typer.Option("--profile", metavar="FICHIER",
                 help="Profil de source (YAML) pour lire un export aux en-têtes différents."),
]
VariantOpt = Annotated[
    Path | None,
    typer.Option("--variant", metavar="FICHIER",
                 help="Fichier de variante (YAML : nom, auteur, objet et modifications)."),
]


def _book(rules: Path | None, sets: list[str] | None, variant: Path | None = None) -> Any:
    from engine.load.rules import load_rules
    from engine.load.variants import edited_book, variant_from_options

    return edited_book(load_rules(rules), variant_from_options(sets, variant))


def _book_and_modules(rules: Path | None, sets: list[str] | None, variant: Path | None) -> Any:
    """`_book`, then the computation's and the report writers' modules imported.

    This runs while the extracts are read: pure Python beside polars' reading, which leaves
    the interpreter free.
    """
    book = _book(rules, sets, variant)
    import engine.compute.pipeline  # noqa: F401
    import engine.present.page  # noqa: F401
    import engine.present.workbook  # noqa: F401

    return book


@app.command()
def evaluate(
    data: DataArg,
    as_of: AsOf,
    out: OutOpt = Path("out"),
    rules: RulesOpt = None,
    set_: SetOpt = None,
    profile: ProfileOpt = None,
    variant: VariantOpt = None,
    record: Annotated[str | None, typer.Option("--record", help="Enregistrer l'évaluation sous ce libellé.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Remplacer l'évaluation de même libellé.")] = False,
    register: RegisterOpt = None,
) -> None:
    """Évaluation trimestrielle ou finale : indicateurs, décisions, montants et solde par convention."""
    when = _parse_date(as_of)
    recorder = Recorder.open(record, replace, register, data) if record or register else None

    def run() -> list[Path]:
        from concurrent.futures import ThreadPoolExecutor

        from engine.load.extracts import read_extracts
        from engine.present.writer import exclusive_output, write_run

        with exclusive_output(out):  # --out checked and locked before anything is read
            # The rules (pure Python) are read while polars reads the extracts (GIL released):
            # both at once on two cores. A rules error is still told first.
            with ThreadPoolExecutor(max_workers=1) as pool:
                loading = pool.submit(_book_and_modules, rules, set_, variant)
                with console.status("Lecture des extraits…", spinner="dots") if console.is_terminal else _null():
                    try:
                        extracts = read_extracts(data, profile)
                    except BaseException:
                        loading.result()
                        raise
                book = loading.result()
            from engine.compute.pipeline import evaluate as run_evaluation

            extracts = recorder.paid(extracts, when) if recorder else extracts
            with console.status("Calcul des indicateurs et des montants…") if console.is_terminal else _null():
                result = run_evaluation(extracts, book, when)
            if recorder:
                recorder.record(result)
            with console.status("Écriture des rapports…") if console.is_terminal else _null():
                written = write_run(result, out)
        _summary(result)
        return written

    written = _guard(run)
    console.print("\n[bold]Fichiers écrits :[/]")
    for path in written:
        console.print(f"  {path}")


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def _pct(value: Any) -> str:
    return fr.percent(value, 1, fixed=True)


def _signals(c: Any, labels: Any) -> str:
    shown = [f for f in c.flags if f != "projection"]
    text = "; ".join(labels.get(f, f) for f in shown)
    if c.warnings:
        text += ("; " if text else "") + f"{len(c.warnings)} alerte(s)"
    return text


def run_status(conventions: Any, book: Any) -> tuple[str, int, int]:
    """The run's status from its conventions': (label, number final, number projected).

    A convention is « définitif » when its period has ended by the as-of date
    (results.json `final`), else « projection »; a run with both is « mixte ».
    """
    final = sum(1 for c in conventions if c.final)
    projected = len(conventions) - final
    kind = "final" if final and not projected else "projection" if not final else "mixed"
    return book.code_label("status", kind), final, projected




CONSOLE_CONVENTIONS = 20
"""Conventions listed on the console at most; beyond, the totals per budget line and the
conventions most at stake (largest soldes in absolute value), the rest in the reports."""


def _budget_lines(result: Any) -> None:
    """One line per budget line: conventions, amount, earned, paid, solde (exact sums)."""
    from decimal import Decimal

    lines: dict[str, list[Any]] = {}
    for c in result.conventions:
        lines.setdefault(str(c.attrs.get("budget_line") or "(sans ligne budgétaire)"), []).append(c)
    table = Table(show_lines=False, header_style="bold")
    for col, justify in (("Ligne budgétaire", "left"), ("Conventions", "right"), ("Montant", "right"),
                         ("Acquis", "right"), ("Versé", "right"), ("Solde", "right")):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for line, convs in lines.items():
        def total(attr: str, convs: list[Any] = convs) -> Decimal:
            return sum((getattr(c, attr) for c in convs), Decimal(0))

        table.add_row(line, fr.integer(len(convs)), fr.eur(total("amount")), fr.eur(total("earned")),
                      fr.eur(total("paid")), fr.eur(total("solde")))
    console.print(table)


def _summary(result: Any) -> None:
    book = result.book
    label, n_final, n_projected = run_status(result.conventions, book)
    status = status_sentence(label, n_final, n_projected)
    console.print(f"\n[bold]Évaluation au {fr.date_fr(result.as_of)} — {status}[/]", highlight=False)
    counts = result.extracts.counts
    read = ", ".join(f"{book.code_label('tables', t)} {fr.integer(c['kept'])}/{fr.integer(c['rows'])}"
                     for t, c in counts.items())
    rejected = sum(c["rejected"] for c in counts.values())
    console.print(f"Lignes retenues / lues : {read} ; écartées : {fr.integer(rejected)}", highlight=False)
    table = Table(show_lines=False, header_style="bold")
    for col, justify in (("Convention", "left"), ("Structure", "left"), ("Statut", "left"),
                         ("Quanti.", "right"), ("Quali.", "right"), ("Montant", "right"),
                         ("Acquis", "right"), ("Versé", "right"), ("Solde", "right"), ("Signalements", "left")):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    shown = result.conventions
    if len(shown) > CONSOLE_CONVENTIONS:
        _budget_lines(result)
        ranked = sorted(range(len(shown)), key=lambda i: (-abs(shown[i].solde), -shown[i].amount, i))
        keep = set(ranked[:CONSOLE_CONVENTIONS])
        shown = [c for i, c in enumerate(shown) if i in keep]
        console.print(f"Les {CONSOLE_CONVENTIONS} conventions aux soldes les plus élevés (en valeur absolue) :",
                      highlight=False)
    for c in shown:
        solde = fr.eur(c.solde) if c.solde >= 0 else f"[red]{fr.eur(c.solde)}[/]"
        status = book.code_label("status", "final" if c.final else "projection")
        table.add_row(c.convention_id, str(c.attrs["structure"]), status,
                      _pct(c.quantitative_score), _pct(c.qualitative_score), fr.eur(c.amount),
                      fr.eur(c.earned), fr.eur(c.paid), solde, _signals(c, book.flag_labels))
    console.print(table)
    if len(shown) < len(result.conventions):
        console.print(f"Les {fr.integer(len(result.conventions) - len(shown))} autres conventions sont détaillées"
                      " dans report.xlsx, report.html et results.json.", highlight=False)
    total_earned = sum(c.earned for c in result.conventions)
    total_solde = sum(c.solde for c in result.conventions)
    console.print(f"Total acquis : {fr.eur(total_earned)} ; total solde : {fr.eur(total_solde)}", highlight=False)
    if n_projected:
        console.print("Conventions en projection : période en cours à la date d'évaluation, montants"
                      " projetés, solde non définitif.", highlight=False)
    console.print("Le détail des alertes et des indicateurs est dans report.xlsx et report.html ; "
                  "« parcours explain » détaille une convention.", highlight=False)
    for cid, dispositif, reason in result.skipped:
        console.print(f"[yellow]Convention {cid} ({dispositif}) non évaluée : {reason}.[/]")


RULES_FORMATS = ("table", "csv", "json")


@app.command("rules")
def rules_cmd(
    rules: RulesOpt = None,
    at: Annotated[str | None, typer.Option(
        "--at", metavar="DATE",
        help=f"Valeurs en vigueur à cette date ({DATE_FORMS} ; par défaut : aujourd'hui).",
    )] = None,
    fmt: Annotated[str, typer.Option(
        "--format", metavar="table|csv|json",
        help="Sortie : table (tableaux à lire), csv ou json (pour un tableur ou un script).",
    )] = "table",
) -> None:
    """Affiche les paramètres par dispositif : chemin, description, valeur en vigueur, historique, unité, source."""
    when = _parse_date(at, "--at") if at else date.today()
    if fmt not in RULES_FORMATS:
        raise typer.BadParameter(f"format « {fmt} » inconnu (attendu : table, csv ou json).",
                                 param_hint="« --format »")

    def run() -> None:
        from engine.load.rules import load_rules

        book = load_rules(rules)
        if fmt == "table":
            _rules_listing(book, when)
            return
        rows, decisions = _rules_rows(book, when)
        if fmt == "json":
            import json

            typer.echo(json.dumps({"as_of": when.isoformat(), "root": str(book.root),
                                   "sha256": book.sha256, "parameters": rows,
                                   "decisions": decisions}, ensure_ascii=False, indent=2))
        else:
            import csv

            writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["path"],
                                    lineterminator="\n")
            writer.writeheader()
            writer.writerows({k: fr.yes_no(v) if isinstance(v, bool) else v for k, v in row.items()}
                             for row in rows)

    _guard(run)


def _set_text(value: Any) -> str:
    """A value as `--set CHEMIN=VALEUR` takes it (`oui`/`non`, `a,b`, `0.9`)."""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, tuple | list):
        return ",".join(_set_text(v) for v in value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _value_fr(book: Any, value: Any) -> str:
    """A parameter's value for a person: French numbers, codes with their labels."""
    if isinstance(value, tuple | list):
        return ", ".join(_value_fr(book, v) for v in value) if value else fr.NONE
    if isinstance(value, str):
        label = book.code_label("values", value)
        return value if label == value else f"{value} ({label})"
    return fr.show(value)


def _rules_rows(book: Any, when: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One row per parameter (the value in force on `when`) and one per decision rule."""
    rows = []
    for path, param in sorted(book.params.items()):
        in_force = [(d, v) for d, v in param.values if d <= when]
        source = param.source or {}
        rows.append({
            "path": path,
            "dispositif": param.dispositif,
            "description": param.description,
            "value": _set_text(in_force[-1][1]) if in_force else "",
            "value_fr": _value_fr(book, in_force[-1][1]) if in_force else fr.NONE,
            "since": in_force[-1][0].isoformat() if in_force else "",
            "history": " ; ".join(f"{d.isoformat()} → {_set_text(v)}" for d, v in param.values),
            "unit": param.unit,
            "ref": source.get("ref", ""),
            "quote": source.get("quote", ""),
            "interpretation": bool(source.get("interpretation")),
        })
    decisions = [{
        "id": rule.id,
        "label": book.code_label("decisions", rule.id),
        "stage": rule.stage,
        "stage_fr": book.code_label("stages", rule.stage),
        "enabled": rule.enabled,
        "description": rule.description,
        "ref": (rule.source or {}).get("ref", ""),
        "quote": (rule.source or {}).get("quote", ""),
    } for rule in book.decisions]
    return rows, decisions


def _rules_listing(book: Any, when: date) -> None:
    """`parcours rules`: one table per dispositif (its label), then the decision rules.

    The parameter path is never wrapped nor cut (it is pasted into `--set`): its column
    is as wide as the longest path; the description and the source wrap instead.
    """
    from rich.text import Text

    day = fr.date_fr(when)
    console.print(Text(f"Règles en vigueur au {day} — dossier {book.root}", style="bold"))
    rows, decisions = _rules_rows(book, when)
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["dispositif"], []).append(row)
    widest = max((len(r["path"]) for r in rows), default=10)
    for dispositif, params in groups.items():
        label = book.labels.get(dispositif) or book.folders.get(dispositif) or dispositif
        table = Table(title=f"{label} ({dispositif})", title_justify="left", header_style="bold",
                      show_lines=True)
        table.add_column("Paramètre (chemin pour --set)", no_wrap=True, min_width=widest,
                         overflow="ignore")
        table.add_column("Description", ratio=3, overflow="fold")
        table.add_column(f"Valeur au {day}", ratio=2, overflow="fold")
        table.add_column("Depuis", no_wrap=True)
        table.add_column("Unité", ratio=1, overflow="fold")
        table.add_column("Source", ratio=3, overflow="fold")
        for row in params:
            value = row["value_fr"]
            if row["history"].count("→") > 1:
                value += "\nhistorique : " + row["history"]
            since = fr.date_fr(row["since"]) if row["since"] else "(pas encore en vigueur)"
            cite = fr.cite(row, document=False)
            table.add_row(Text(row["path"]), Text(row["description"]), Text(value), since,
                          Text(row["unit"]), Text(cite))
        console.print(table)
    if decisions:
        table = Table(title="Règles de décision", title_justify="left", header_style="bold",
                      show_lines=True)
        table.add_column("Règle", no_wrap=True, overflow="ignore")
        table.add_column("Étape", no_wrap=True)
        table.add_column("Active", no_wrap=True)
        table.add_column("Description", ratio=3, overflow="fold")
        table.add_column("Source", ratio=2, overflow="fold")
        for rule in decisions:
            table.add_row(Text(rule["id"]), rule["stage_fr"], fr.yes_no(rule["enabled"]),
                          Text(rule["description"]), Text(fr.cite(rule, document=False)))
        console.print(table)
    console.print(f"{len(rows)} paramètres, {len(decisions)} règles de décision ;"
                  f" empreinte {book.sha256[:12]}", highlight=False)


@app.command()
def check(
    data: DataArg,
    profile: ProfileOpt = None,
    fmt: Annotated[str, typer.Option("--format", metavar="text|json",
                                     help="Sortie : text (tableaux) ou json.")] = "text",
    rules: RulesOpt = None,
) -> None:
    """Lit et valide les extraits, puis contrôle le registre des conventions, sans rien évaluer.

    Contrôles : lignes face au cadre (places, diagnostics par ETP, valorisation à 0 €…), sommes
    des lignes face aux totaux annoncés, propositions face au disponible des lignes budgétaires.
    Sortie 0 s'il n'y a que des avertissements, 1 s'il y a une erreur.
    """
    if fmt not in ("text", "json"):
        err.print(f"[bold red]Erreur[/] : format « {fmt} » inconnu (attendu : text ou json).",
                  highlight=False)
        raise typer.Exit(2)

    def run() -> tuple[Any, Any, list[Any]]:
        from engine.compute.registry import check_registry, rejected_findings
        from engine.load.extracts import read_extracts
        from engine.load.rules import load_rules

        book = load_rules(rules)
        extracts = read_extracts(data, profile)
        findings = rejected_findings(extracts.rejected) + check_registry(extracts.tables, book)
        return book, extracts, findings

    book, extracts, findings = _guard(run)
    from rich.text import Text

    from engine.compute.registry import counts as finding_counts

    n_errors, n_warnings = finding_counts(findings)
    rejected = sum(c["rejected"] for c in extracts.counts.values())
    if fmt == "json":
        import json

        typer.echo(json.dumps({
            "source": extracts.source,
            "counts": extracts.counts,
            "rejected_rows": rejected,
            "errors": n_errors,
            "warnings": n_warnings,
            "findings": [f.as_dict() for f in findings],
        }, ensure_ascii=False, indent=2))
    else:
        table = Table(title="Extraits lus", header_style="bold")
        for col in ("Table", "Lignes", "Retenues", "Écartées"):
            table.add_column(col, justify="right" if col != "Table" else "left")
        for name, c in extracts.counts.items():
            table.add_row(book.code_label("tables", name), fr.integer(c["rows"]), fr.integer(c["kept"]),
                          fr.integer(c["rejected"]))
        console.print(table)
        if rejected:
            console.print(f"{rejected} ligne(s) écartée(s) : relancer `parcours evaluate` pour les"
                          " écrire dans rejected/.", highlight=False)
        if findings:
            found = Table(title="Contrôle du registre", title_justify="left", header_style="bold",
                          show_lines=True)
            for col in ("Niveau", "Code", "Objet", "Constat", "Source"):
                found.add_column(col, overflow="fold")
            for f in findings:
                style = "bold red" if f.level == "erreur" else "yellow"
                found.add_row(Text(f.level, style=style), Text(f.code), Text(f.subject),
                              Text(f.message), Text(f.source or "—"))
            console.print(found)
        console.print(f"Contrôle du registre : {n_errors} erreur(s), {n_warnings}"
                      " avertissement(s).", highlight=False)
    if n_errors:
        raise typer.Exit(1)


@app.command()
def generate(
    out: OutOpt,
    conventions: Annotated[
        Path, typer.Option("--conventions", metavar="FICHIER",
                           help="conventions.csv des lignes à simuler.")
    ] = Path("sample_data/conventions.csv"),
    scale: Annotated[float, typer.Option(metavar="NOMBRE",
                                         help="Échelle (1 = portefeuilles de l'annexe 4).")] = 1.0,
    seed: Annotated[int, typer.Option(metavar="ENTIER", help="Graine du générateur.")] = 2025,
    fmt: Annotated[str, typer.Option("--format", metavar="csv|parquet",
                                     help="Format des extraits : csv ou parquet.")] = "csv",
) -> None:
    """Génère des extraits synthétiques (pseudonymes) pour des conventions données."""
    import math

    if not math.isfinite(scale) or scale < 0:
        err.print(f"[bold red]Erreur[/] : échelle « {scale:g} » invalide (--scale : un nombre positif"
                  " ou nul, 1 = portefeuilles de l'annexe 4).", highlight=False)
        raise typer.Exit(2)
    if fmt not in ("csv", "parquet"):
        err.print(f"[bold red]Erreur[/] : format « {fmt} » inconnu (attendu : csv ou parquet).",
                  highlight=False)
        raise typer.Exit(2)

    def run() -> dict[str, int]:
        import polars as pl

        from engine.synthetic.generate import generate as gen
        from engine.synthetic.generate import read_conventions

        frame = read_conventions(conventions)
        try:
            return gen(frame, out, seed=seed, scale=scale, fmt=fmt)
        except (ValueError, pl.exceptions.PolarsError) as error:  # the generator's own French
            detail = str(error) if isinstance(error, ValueError) else "valeurs illisibles"
            raise ExtractError(f"Fichier {conventions} : génération impossible ({detail}).") from None

    counts = _guard(run)
    for table, n in counts.items():
        console.print(f"{table} : {n} lignes")


WhatifOut = Annotated[
    Path, typer.Option("--out", metavar="DOSSIER",
                       help="Dossier où écrire baseline/ (référence), variant/ (variante),"
                            " comparison.json et les rapports.")
]
ConventionOpt = Annotated[
    str, typer.Option("--convention", metavar="IDENTIFIANT",
                      help="Identifiant de la convention à expliquer.")
]
UnitsOpt = Annotated[
    int, typer.Option("--units", metavar="ENTIER",
                      help="Nombre maximal d'unités en défaut listées par indicateur.")
]


@app.command()
def whatif(
    data: DataArg,
    as_of: AsOf,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    out: WhatifOut = Path("out/whatif"),
    rules: RulesOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Compare les montants des règles en vigueur et de règles modifiées (--set, --variant)."""
    when = _parse_date(as_of)
    if not set_ and variant is None:
        err.print("[bold red]Erreur[/] : indiquer la modification à simuler : --set CHEMIN=VALEUR"
                  " (répétable) ou --variant FICHIER.yaml.", highlight=False)
        raise typer.Exit(2)

    def run() -> list[Path]:
        from engine.compute.whatif import run_whatif
        from engine.load.extracts import read_extracts
        from engine.load.rules import load_rules
        from engine.load.variants import edited_book, variant_from_options
        from engine.present.writer import exclusive_output, write_whatif

        with exclusive_output(out):  # --out checked and locked before anything is read
            book = load_rules(rules)
            edits = variant_from_options(set_, variant)
            assert edits is not None
            edited_book(book, edits)  # a refused edit stops here, before the extracts are read
            with console.status("Lecture des extraits…") if console.is_terminal else _null():
                extracts = read_extracts(data, profile)
            status = "Calcul de la référence et de la variante…"
            with console.status(status) if console.is_terminal else _null():
                result = run_whatif(extracts, book, when, edits)
            written = write_whatif(result, out)
        _whatif_summary(result)
        return written

    written = _guard(run)
    console.print("\n[bold]Fichiers écrits :[/]")
    for path in written:
        console.print(f"  {path}", highlight=False)




def gainers_losers(comparison: Any) -> str:
    """« Conventions : 3 gagnent, 8 perdent, 20 inchangées ; structures : … » (comparison.json)."""
    from decimal import Decimal

    deltas = [Decimal(r["delta_eur"]) for r in comparison["conventions"]]
    providers = comparison["providers"]
    return (f"Conventions : {sum(d > 0 for d in deltas)} gagnent, {sum(d < 0 for d in deltas)} perdent,"
            f" {sum(d == 0 for d in deltas)} inchangées ; structures (somme de leurs conventions) :"
            f" {len(providers['gaining'])} gagnent, {len(providers['losing'])} perdent,"
            f" {len(providers['unchanged'])} inchangées")


def _whatif_summary(result: Any) -> None:
    """Console summary of a what-if: per convention, per budget line, winners and losers."""
    from rich.text import Text

    from engine.compute.whatif import NO_EFFECT

    comp = result.comparison
    info = result.info
    title = "Variante" if info is None or info.name == "--set" else f"Variante « {info.name} »"
    if info is not None and info.author:
        title += f" ({info.author})"
    console.print(Text(f"\n{title} au {result.baseline.as_of.strftime('%d/%m/%Y')}", style="bold"))
    if info is not None and info.purpose:
        console.print(Text(info.purpose))
    for edit in comp["edits"]:
        since = f" à partir du {edit['from']}" if edit.get("from") else ""
        effect = ""
        if edit.get("effect") == NO_EFFECT:
            effect = f" — {NO_EFFECT}"
        elif edit.get("effect"):
            effect = f" — {edit['effect']}"
        elif edit.get("delta_eur") is not None:
            effect = (f" — effet seul : {fr.signed_eur(edit['delta_eur'])} sur"
                      f" {edit['conventions_changed']} convention(s)")
        console.print(Text(f"  • {edit['path']} = {_set_text(edit['value'])}{since}{effect}"))
    table = Table(title="Par convention", title_justify="left", header_style="bold")
    for col, justify in (("Convention", "left"), ("Structure", "left"), ("Référence", "right"),
                         ("Variante", "right"), ("Écart", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in comp["conventions"]:
        table.add_row(Text(row["convention_id"]), Text(str(row["structure"])),
                      fr.eur(row["baseline_earned_eur"]),
                      fr.eur(row["variant_earned_eur"]), fr.signed_eur(row["delta_eur"]))
    console.print(table)
    lines = Table(title="Par ligne budgétaire", title_justify="left", header_style="bold")
    from engine.present.workbook import REMAINING_DEFINITION, REMAINING_LABEL

    for col in ("Ligne", "Référence", "Variante", "Écart", "Disponible", REMAINING_LABEL):
        lines.add_column(col, justify="left" if col == "Ligne" else "right")
    for row in comp["by_budget_line"]:
        available = row.get("available_eur")
        lines.add_row(Text(str(row["budget_line"] or "(sans ligne)")),
                      fr.eur(row["baseline_earned_eur"]),
                      fr.eur(row["variant_earned_eur"]),
                      fr.signed_eur(row["delta_eur"]), fr.eur(available) if available else "—",
                      fr.eur(row["remaining_eur"]) if row.get("remaining_eur") else "—")
    console.print(lines)
    console.print(REMAINING_DEFINITION, highlight=False)
    console.print(gainers_losers(comp), highlight=False)
    totals = comp["totals"]
    console.print(f"[bold]Écart total : {fr.signed_eur(totals['delta_eur'])}[/] (référence"
                  f" {fr.eur(totals['baseline_earned_eur'])}, variante"
                  f" {fr.eur(totals['variant_earned_eur'])})", highlight=False)
    if result.no_effect:
        console.print(f"[yellow]La variante ne change aucun montant ({NO_EFFECT}).[/]")


@app.command()
def explain(
    data: DataArg,
    as_of: AsOf,
    convention: ConventionOpt,
    fmt: Annotated[str, typer.Option("--format", metavar="text|json",
                                     help="Sortie : text (texte) ou json.")] = "text",
    units: UnitsOpt = 20,
    rules: RulesOpt = None,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Explique le montant d'une convention : indicateurs, règles et sources, décisions, calcul."""
    when = _parse_date(as_of)
    if fmt not in ("text", "json"):
        err.print(f"[bold red]Erreur[/] : format « {fmt} » inconnu (attendu : text ou json).",
                  highlight=False)
        raise typer.Exit(2)

    def run() -> str:
        import json

        from engine.compute.pipeline import evaluate as run_evaluation
        from engine.load.extracts import read_extracts
        from engine.present.explain import UnknownConvention, render_text
        from engine.present.explain import explain as explain_convention

        book = _book(rules, set_, variant)
        extracts = read_extracts(data, profile)
        result = run_evaluation(extracts, book, when)
        try:
            data_ = explain_convention(result, convention, max_units=units)
        except UnknownConvention as error:
            err.print(f"[bold red]Erreur[/] : {escape(str(error))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        if fmt == "json":
            return json.dumps(data_, ensure_ascii=False, indent=2)
        return render_text(data_)

    typer.echo(_guard(run))


@app.command()
def serve(
    data: DataArg,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Date d'évaluation par défaut (AAAA-MM-JJ ;"
                                              " sinon aujourd'hui ou la dernière fin de période).")] = None,
    rules: RulesOpt = None,
    host: Annotated[str, typer.Option("--host", help="Adresse d'écoute (127.0.0.1 par défaut ; une autre"
                                      " adresse exige un mot de passe : PARCOURS_PASSWORD_HASH).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port d'écoute.")] = 8000,
    register: RegisterOpt = None,
) -> None:
    """Ouvre l'application web : tableau de bord, conventions, règles, simulation, données, historique."""
    when = _parse_date(as_of) if as_of else None

    def run() -> None:
        from engine.web.server import serve as run_server

        run_server(data, as_of=when, rules=rules, host=host, port=port, say=console.print, fail=err.print,
                   register=register)

    _guard(run)


def main() -> None:
    """Entry point of the `parcours` script.

    Once the command is over, with its files closed and renamed, the process leaves without
    the interpreter's teardown of every module and object (about 0.15 s after a large run):
    the exit handlers (`atexit`) run first and the output streams are flushed, so nothing
    is lost. Only a plain exit status leaves so; anything else exits the usual way.
    """
    try:
        app()
        status: object = 0
    except KeyboardInterrupt:  # pragma: no cover
        err.print("Interrompu.")
        status = 1
    except SystemExit as done:
        status = done.code
    _leave(status)


def _leave(status: object) -> None:
    import threading

    code = 0 if status is None else status
    if not isinstance(code, int) or threading.active_count() > 1:
        sys.exit(code)  # type: ignore[arg-type]  # a message (str) or a status, as SystemExit took it
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: the usual exit tells it
        sys.exit(code)
    os._exit(code)
