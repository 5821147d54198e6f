"""The `parcours` command line: a thin Typer layer over functions that return data.

User-facing text is French. Exit status: 0 done; 1 the run could not be done (one clear
message, no stack trace); 2 bad usage (Typer's own).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from engine.model.decision_rules import DecisionError
from engine.model.errors import ExtractError, RulesError

app = typer.Typer(
    name="parcours",
    help="parcours — évaluation des conventions d'accompagnement des bénéficiaires du RSA (règles en données).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
if not console.is_terminal:
    console = Console(width=160)
err = Console(stderr=True)
if not err.is_terminal:
    err = Console(stderr=True, width=160)

T = TypeVar("T")


def _parse_date(value: str) -> date:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            from datetime import datetime

            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise typer.BadParameter(f"date invalide « {value} » (attendu AAAA-MM-JJ ou JJ/MM/AAAA)")


def _guard(action: Callable[[], T]) -> T:
    """Run `action`; turn a user mistake into one French message and exit status 1."""
    try:
        return action()
    except (ExtractError, RulesError, DecisionError) as error:
        err.print(f"[bold red]Erreur[/] : {error}", highlight=False)
        raise typer.Exit(1) from None
    except OSError as error:
        err.print(f"[bold red]Erreur[/] : {error.strerror or error} ({error.filename or ''})", highlight=False)
        raise typer.Exit(1) from None


DataArg = Annotated[Path, typer.Argument(help="Dossier d'extraits (CSV, Parquet) ou classeur .xlsx.")]
AsOf = Annotated[str, typer.Option("--as-of", help="Date d'évaluation (AAAA-MM-JJ).")]
OutOpt = Annotated[Path, typer.Option("--out", help="Dossier où écrire les résultats.")]
RulesOpt = Annotated[Path | None, typer.Option("--rules", help="Dossier de règles (par défaut : rules/ du projet).")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Modifier un paramètre : CHEMIN=VALEUR (répétable).")]
ProfileOpt = Annotated[
    Path | None,
    typer.Option("--profile", help="Profil de source (YAML) pour lire un export aux en-têtes différents."),
]
VariantOpt = Annotated[
    Path | None,
    typer.Option("--variant", help="Fichier de variante (YAML : name, author, purpose, changes)."),
]


def _book(rules: Path | None, sets: list[str] | None, variant: Path | None = None) -> Any:
    from engine.load.rules import load_rules
    from engine.load.variants import edited_book, variant_from_options

    return edited_book(load_rules(rules), variant_from_options(sets, variant))


@app.command()
def evaluate(
    data: DataArg,
    as_of: AsOf,
    out: OutOpt = Path("out"),
    rules: RulesOpt = None,
    set_: SetOpt = None,
    profile: ProfileOpt = None,
    variant: VariantOpt = None,
) -> None:
    """Évaluation trimestrielle ou finale : indicateurs, décisions, montants et solde par convention."""
    when = _parse_date(as_of)

    def run() -> list[Path]:
        from engine.compute.pipeline import evaluate as run_evaluation
        from engine.load.extracts import read_extracts
        from engine.present.writer import write_run

        book = _book(rules, set_, variant)
        with console.status("Lecture des extraits…", spinner="dots") if console.is_terminal else _null():
            extracts = read_extracts(data, profile)
        with console.status("Calcul des indicateurs et des montants…") if console.is_terminal else _null():
            result = run_evaluation(extracts, book, when)
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
    return "—" if value is None else f"{float(value) * 100:.1f} %".replace(".", ",")


def _eur(value: Any) -> str:
    text = f"{value:,.2f}".replace(",", " ").replace(".", ",")
    return f"{text} €"


def _signals(c: Any, labels: Any) -> str:
    shown = [f for f in c.flags if f != "projection"]
    text = "; ".join(labels.get(f, f) for f in shown)
    if c.warnings:
        text += ("; " if text else "") + f"{len(c.warnings)} alerte(s)"
    return text


def _summary(result: Any) -> None:
    kind = "finale (solde)" if result.final else "intermédiaire (projection)"
    console.print(f"\n[bold]Évaluation {kind} au {result.as_of.strftime('%d/%m/%Y')}[/]")
    counts = result.extracts.counts
    read = ", ".join(f"{t} {c['kept']}/{c['rows']}" for t, c in counts.items())
    rejected = sum(c["rejected"] for c in counts.values())
    console.print(f"Lignes retenues / lues : {read} ; écartées : {rejected}")
    table = Table(show_lines=False, header_style="bold")
    for col, justify in (("Convention", "left"), ("Structure", "left"),
                         ("Quanti.", "right"), ("Quali.", "right"), ("Montant", "right"),
                         ("Acquis", "right"), ("Versé", "right"), ("Solde", "right"), ("Signalements", "left")):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for c in result.conventions:
        solde = _eur(c.solde) if c.solde >= 0 else f"[red]{_eur(c.solde)}[/]"
        table.add_row(c.convention_id, str(c.attrs["structure"]),
                      _pct(c.quantitative_score), _pct(c.qualitative_score), _eur(c.amount),
                      _eur(c.earned), _eur(c.paid), solde, _signals(c, result.book.flag_labels))
    console.print(table)
    total_earned = sum(c.earned for c in result.conventions)
    total_solde = sum(c.solde for c in result.conventions)
    console.print(f"Total acquis : {_eur(total_earned)} ; total solde : {_eur(total_solde)}")
    if not result.final:
        console.print("Évaluation intermédiaire : les montants sont une projection, le solde n'est pas définitif.")
    console.print("Le détail des alertes et des indicateurs est dans report.xlsx et report.html ; "
                  "`parcours explain` détaille une convention.")
    for cid, dispositif, reason in result.skipped:
        console.print(f"[yellow]Convention {cid} ({dispositif}) non évaluée : {reason}.[/]")


@app.command("rules")
def rules_cmd(
    rules: RulesOpt = None,
    at: Annotated[str | None, typer.Option("--at", help="Valeurs en vigueur à cette date (AAAA-MM-JJ).")] = None,
) -> None:
    """Affiche les paramètres par dispositif : valeur en vigueur, historique, unité, source."""
    when = _parse_date(at) if at else date.today()

    def run() -> None:
        from engine.load.rules import load_rules

        _rules_listing(load_rules(rules), when)

    _guard(run)


def _show(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _cite(source: Any) -> Any:
    from rich.text import Text

    text = f"{source.get('ref', '')} « {source.get('quote', '')} »"
    if source.get("interpretation"):
        text += " (interprétation)"
    return Text(text)


def _rules_listing(book: Any, when: date) -> None:
    """`parcours rules`: one table per dispositif (its label), then the decision rules."""
    from rich.text import Text

    day = when.strftime("%d/%m/%Y")
    console.print(f"[bold]Règles en vigueur au {day}[/] — dossier {book.root}")
    groups: dict[str, list[Any]] = {}
    for _, param in sorted(book.params.items()):
        groups.setdefault(param.dispositif, []).append(param)
    for dispositif, params in groups.items():
        label = book.labels.get(dispositif) or book.folders.get(dispositif) or dispositif
        table = Table(title=f"{label} ({dispositif})", title_justify="left", header_style="bold",
                      show_lines=False)
        for col in ("Paramètre", f"Valeur au {day}", "Depuis", "Historique", "Unité", "Source"):
            table.add_column(col, overflow="fold")
        for param in params:
            in_force = [(d, v) for d, v in param.values if d <= when]
            if in_force:
                value, since = _show(in_force[-1][1]), in_force[-1][0].isoformat()
            else:
                value, since = "—", f"(à partir du {param.values[0][0].isoformat()})"
            history = "" if len(param.values) == 1 else "\n".join(
                f"{d.isoformat()} → {_show(v)}" for d, v in param.values)
            table.add_row(Text(param.path), Text(value), since, Text(history), Text(param.unit),
                          _cite(param.source))
        console.print(table)
    if book.decisions:
        table = Table(title="Règles de décision", title_justify="left", header_style="bold")
        for col in ("Règle", "Étape", "Active", "Description", "Source"):
            table.add_column(col, overflow="fold")
        for rule in book.decisions:
            table.add_row(Text(rule.id), rule.stage, "oui" if rule.enabled else "non",
                          Text(rule.description), _cite(rule.source or {}))
        console.print(table)
    console.print(f"{len(book.params)} paramètres, {len(book.decisions)} règles de décision ;"
                  f" empreinte {book.sha256[:12]}")


@app.command()
def check(
    data: DataArg,
    profile: ProfileOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="text ou json.")] = "text",
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

    def run() -> tuple[Any, list[Any]]:
        from engine.compute.registry import check_registry, rejected_findings
        from engine.load.extracts import read_extracts
        from engine.load.rules import load_rules

        book = load_rules(rules)
        extracts = read_extracts(data, profile)
        findings = rejected_findings(extracts.rejected) + check_registry(extracts.tables, book)
        return extracts, findings

    extracts, findings = _guard(run)
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
            table.add_row(name, str(c["rows"]), str(c["kept"]), str(c["rejected"]))
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
        Path, typer.Option("--conventions", help="conventions.csv des lignes à simuler.")
    ] = Path("sample_data/conventions.csv"),
    scale: Annotated[float, typer.Option(help="Échelle (1 = portefeuilles de l'annexe 4).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Graine du générateur.")] = 2025,
    fmt: Annotated[str, typer.Option("--format", help="csv ou parquet.")] = "csv",
) -> None:
    """Génère des extraits synthétiques (pseudonymes) pour des conventions données."""

    def run() -> dict[str, int]:
        from engine.synthetic.generate import generate as gen
        from engine.synthetic.generate import read_conventions

        if not conventions.is_file():
            raise ExtractError(f"Fichier {conventions} introuvable.")
        return gen(read_conventions(conventions), out, seed=seed, scale=scale, fmt=fmt)

    counts = _guard(run)
    for table, n in counts.items():
        console.print(f"{table} : {n} lignes")


WhatifOut = Annotated[
    Path, typer.Option("--out", help="Dossier où écrire baseline/, variant/ et comparison.json.")
]
ConventionOpt = Annotated[
    str, typer.Option("--convention", help="Identifiant de la convention à expliquer.")
]
UnitsOpt = Annotated[
    int, typer.Option("--units", help="Nombre maximal d'unités en défaut listées par indicateur.")
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
        from engine.present.writer import write_whatif

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


def _signed(value: Any) -> str:
    from decimal import Decimal

    amount = Decimal(value)
    return ("+" if amount > 0 else "") + _eur(amount)


def _whatif_summary(result: Any) -> None:
    """Console summary of a what-if: per convention, per budget line, winners and losers."""
    from decimal import Decimal

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
            effect = (f" — effet seul : {_signed(edit['delta_eur'])} sur"
                      f" {edit['conventions_changed']} convention(s)")
        console.print(Text(f"  • {edit['path']} = {_show(edit['value'])}{since}{effect}"))
    table = Table(title="Par convention", title_justify="left", header_style="bold")
    for col, justify in (("Convention", "left"), ("Structure", "left"), ("Référence", "right"),
                         ("Variante", "right"), ("Écart", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in comp["conventions"]:
        table.add_row(Text(row["convention_id"]), Text(str(row["structure"])),
                      _eur(Decimal(row["baseline_earned_eur"])),
                      _eur(Decimal(row["variant_earned_eur"])), _signed(row["delta_eur"]))
    console.print(table)
    lines = Table(title="Par ligne budgétaire", title_justify="left", header_style="bold")
    for col in ("Ligne", "Référence", "Variante", "Écart", "Disponible", "Reste après variante"):
        lines.add_column(col, justify="left" if col == "Ligne" else "right")
    for row in comp["by_budget_line"]:
        available = row.get("available_eur")
        lines.add_row(Text(str(row["budget_line"] or "(sans ligne)")),
                      _eur(Decimal(row["baseline_earned_eur"])),
                      _eur(Decimal(row["variant_earned_eur"])),
                      _signed(row["delta_eur"]), _eur(Decimal(available)) if available else "—",
                      _eur(Decimal(row["remaining_eur"])) if row.get("remaining_eur") else "—")
    console.print(lines)
    providers = comp["providers"]
    console.print(f"Structures qui gagnent : {len(providers['gaining'])} ; qui perdent :"
                  f" {len(providers['losing'])} ; inchangées : {len(providers['unchanged'])}")
    totals = comp["totals"]
    console.print(f"[bold]Écart total : {_signed(totals['delta_eur'])}[/] (référence"
                  f" {_eur(Decimal(totals['baseline_earned_eur']))}, variante"
                  f" {_eur(Decimal(totals['variant_earned_eur']))})", highlight=False)
    if result.no_effect:
        console.print(f"[yellow]La variante ne change aucun montant ({NO_EFFECT}).[/]")


@app.command()
def explain(
    data: DataArg,
    as_of: AsOf,
    convention: ConventionOpt,
    fmt: Annotated[str, typer.Option("--format", help="text ou json.")] = "text",
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
            err.print(f"[bold red]Erreur[/] : {error}", highlight=False)
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
) -> None:
    """Ouvre l'application web : tableau de bord, conventions, règles, simulation, données."""
    when = _parse_date(as_of) if as_of else None

    def run() -> None:
        from engine.web.server import serve as run_server

        run_server(data, as_of=when, rules=rules, host=host, port=port, say=console.print, fail=err.print)

    _guard(run)


def main() -> None:
    """Entry point of the `parcours` script."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        err.print("Interrompu.")
        sys.exit(1)
