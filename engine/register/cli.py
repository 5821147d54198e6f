"""The register's verbs: `parcours runs …`, `parcours payments …`, and `evaluate --record`.

User-facing text is French. `--register` takes a file (SQLite) or a SQLAlchemy URL; without
it, $PARCOURS_REGISTER, else `registre.sqlite` (beside the data folder for `evaluate`, in the
current folder for the other verbs). A new register is created at the current schema
automatically; an older one is refused until `parcours runs migrate`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from engine.model.decision_rules import DecisionError
from engine.model.errors import ParcoursError
from engine.model.format import date_fr, eur, number, percent, show, signed_eur
from engine.model.oserror import os_error_fr

if TYPE_CHECKING:
    from engine.model.extracts import Extracts
    from engine.model.results import RunResult

console = Console()
if not console.is_terminal:
    console = Console(width=160)
err = Console(stderr=True)
if not err.is_terminal:
    err = Console(stderr=True, width=160)

T = TypeVar("T")

RegisterOpt = Annotated[
    str | None,
    typer.Option(
        "--register",
        help="Registre : fichier SQLite ou URL (postgresql+psycopg://…) ;"
        " par défaut $PARCOURS_REGISTER, sinon registre.sqlite.",
    ),
]
FormatOpt = Annotated[str, typer.Option("--format", help="text ou json.")]

runs_app = typer.Typer(
    help="Registre des évaluations : liste, détail, comparaison, vérification, migration.",
    invoke_without_command=True,
    no_args_is_help=False,
)
payments_app = typer.Typer(help="Versements effectués (mandats) : saisie, import CSV, liste.", no_args_is_help=True)


def guard(action: Callable[[], T]) -> T:
    """Run `action`; a user mistake becomes one French message and exit status 1."""
    try:
        return action()
    except (ParcoursError, DecisionError) as error:
        err.print(f"[bold red]Erreur[/] : {escape(str(error))}", highlight=False)
        raise typer.Exit(1) from None
    except OSError as error:
        err.print(f"[bold red]Erreur[/] : {os_error_fr(error)} ({escape(str(error.filename or ''))})", highlight=False)
        raise typer.Exit(1) from None


def _format(fmt: str) -> str:
    if fmt not in ("text", "json"):
        err.print(f"[bold red]Erreur[/] : format « {fmt} » inconnu (attendu : text ou json).", highlight=False)
        raise typer.Exit(2)
    return fmt


def _json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


# --------------------------------------------------------------------------- evaluate --record


@dataclass
class Recorder:
    """What `evaluate` needs from the register: paid from recorded payments, then the recording.

    Created before the extracts are read, so that a taken label or an old register stops the
    run at once.
    """

    label: str | None
    replace: bool
    url: str
    engine: Any = None
    paid_origin: dict[str, str] = field(default_factory=dict)
    payments_count: dict[str, int] = field(default_factory=dict)

    @classmethod
    def open(cls, label: str | None, replace: bool, register: str | None, data: Path) -> Recorder:
        """Open (or create) the register and check the label; exit 1 with a French message."""
        from engine.register.db import RegisterError, open_register, register_url

        url = register_url(register, data)

        def run() -> Recorder:
            from engine.register.store import label_taken

            engine = open_register(url, create=True)
            if label is not None and not label.strip():
                raise RegisterError("Le libellé de --record est vide : donner par exemple --record « T2 2025 ».")
            taken = label_taken(engine, label) if label else None
            if taken is not None and not replace:
                raise RegisterError(
                    f"Une évaluation « {label} » est déjà enregistrée (n° {taken}) dans"
                    f" {_shown(url)} : choisir un autre libellé, ou --replace pour la remplacer"
                    " (l'ancienne est gardée comme remplacée)."
                )
            return cls(label=label, replace=replace, url=url, engine=engine)

        return guard(run)

    def paid(self, extracts: Extracts, as_of: date) -> Extracts:
        """The extracts with `paid_eur` from the register's payments up to `as_of`, where it has some."""
        from engine.register.payments import apply_paid
        from engine.register.store import paid_from_register

        recorded = guard(lambda: paid_from_register(self.engine, as_of))
        self.paid_origin = {cid: "registre" for cid in recorded}
        self.payments_count = {cid: n for cid, (_, n) in recorded.items()}
        if recorded:
            known = set(extracts.tables["conventions"]["convention_id"].to_list())
            used = [cid for cid in recorded if cid in known]
            console.print(
                f"Versés : {len(used)} convention(s) d'après les versements du registre"
                f" (au {date_fr(as_of)}), les autres d'après l'extrait (paid_eur).",
                highlight=False,
            )
        return apply_paid(extracts, {cid: total for cid, (total, _) in recorded.items()})

    def record(self, result: RunResult) -> int | None:
        """Record the run under the label (nothing when only --register was given)."""
        if self.label is None:
            return None
        from engine.load.rules import load_payments
        from engine.register.store import record_run

        label = self.label

        def run() -> int:
            schedules = load_payments(result.book.root)
            return record_run(
                self.engine,
                result,
                label,
                replace=self.replace,
                paid_origin=self.paid_origin,
                payments_count=self.payments_count,
                schedules=schedules,
            )

        run_id = guard(run)
        console.print(
            f"[bold]Évaluation enregistrée[/] : n° {run_id} « {label} » dans {_shown(self.url)}.", highlight=False
        )
        return run_id


# --------------------------------------------------------------------------- runs


def _engine(register: str | None, create: bool = False) -> Any:
    from engine.register.db import open_register, register_url

    return open_register(register_url(register), create=create)


def _shown(url: str) -> str:
    from engine.register.db import shown

    return shown(url)


@runs_app.callback()
def runs_list(ctx: typer.Context, register: RegisterOpt = None, fmt: FormatOpt = "text") -> None:
    """Liste les évaluations enregistrées (les remplacées comprises)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"register": register}
        return
    _format(fmt)
    from engine.register.store import list_runs

    found = guard(lambda: list_runs(_engine(register)))
    if fmt == "json":
        _json(found)
        return
    table = Table(title="Évaluations enregistrées", title_justify="left", header_style="bold")
    for col, justify in (
        ("N°", "right"),
        ("Libellé", "left"),
        ("Au", "left"),
        ("Nature", "left"),
        ("État", "left"),
        ("Enregistrée le", "left"),
        ("Par", "left"),
        ("Conventions", "right"),
        ("Acquis", "right"),
        ("Versé", "right"),
        ("Solde", "right"),
        ("Règles", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in found:
        state = "en vigueur" if r["status"] == "current" else f"remplacée par n° {r['superseded_by']}"
        table.add_row(
            str(r["id"]),
            Text(r["label"]),
            date_fr(r["as_of"]),
            "finale" if r["final"] else "intermédiaire",
            state,
            r["recorded_at"].replace("T", " "),
            Text(r["recorded_by"]),
            str(r["n_conventions"]),
            eur(r["earned_eur"]),
            eur(r["paid_eur"]),
            eur(r["solde_eur"]),
            r["rules_sha256"][:12],
        )
    console.print(table)
    if not found:
        console.print("Aucune évaluation enregistrée : parcours evaluate DONNÉES --as-of DATE --record « LIBELLÉ ».")


def _register(ctx: typer.Context, register: str | None) -> str | None:
    return register or (ctx.obj or {}).get("register")


def _next_text(nxt: dict[str, Any] | None) -> str:
    if not nxt:
        return "—"
    amount = nxt.get("amount_eur")
    if nxt.get("action") == "reverser":
        money = f"{eur(amount)} à reverser"
    elif nxt.get("action") == "aucun":
        money = "rien à verser"
    else:
        money = f"{eur(amount)} à verser" if amount is not None else "montant fixé par la convention"
    due = f", au plus tard le {date_fr(nxt['due_by'])}" if nxt.get("due_by") else ""
    projected = " (projection)" if nxt.get("projection") else ""
    return f"{nxt['label']} : {money}{due}{projected}"


@runs_app.command("show")
def runs_show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="N° ou libellé de l'évaluation.")],
    register: RegisterOpt = None,
    fmt: FormatOpt = "text",
) -> None:
    """Détail d'une évaluation : manifeste, chiffres par convention, prochain versement, lignes écartées."""
    _format(fmt)
    from engine.register.store import get_run

    run = guard(lambda: get_run(_engine(_register(ctx, register)), run_id))
    if fmt == "json":
        run = dict(run)
        run.pop("results", None)
        _json(run)
        return
    kind = "finale (solde)" if run["final"] else "intermédiaire (projection)"
    state = "en vigueur" if run["status"] == "current" else f"remplacée par n° {run['superseded_by']}"
    console.print(
        Text(
            f"Évaluation n° {run['id']} « {run['label']} » — {kind} au {date_fr(run['as_of'])} ({state})", style="bold"
        )
    )
    console.print(
        Text(
            f"Enregistrée le {run['recorded_at'].replace('T', ' ')} (UTC) par {run['recorded_by']} ;"
            f" parcours {run['version']} ; extraits {run['source']}"
        )
    )
    manifest = run["manifest"]
    console.print(
        Text(
            f"Règles : empreinte {run['rules_sha256'][:12]}, "
            f"{sum(1 for f in run['files'] if f['kind'] == 'rules')} fichier(s) gardés dans le registre"
        )
    )
    for edit in manifest.get("edits", []):
        since = f" à partir du {date_fr(edit['from'])}" if edit.get("from") else ""
        console.print(Text(f"  • modification {edit['path']} = {show(edit['value'])}{since} ({edit['origin']})"))
    tables = ", ".join(f"{t} {c['kept']}/{c['rows']}" for t, c in run["tables"].items())
    console.print(Text(f"Lignes retenues / lues : {tables} ; écartées : {len(run['rejected_rows'])}"))
    table = Table(header_style="bold")
    for col, justify in (
        ("Convention", "left"),
        ("Structure", "left"),
        ("Quanti.", "right"),
        ("Quali.", "right"),
        ("Acquis", "right"),
        ("Versé", "right"),
        ("Solde", "right"),
        ("Prochain versement", "left"),
    ):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for c in run["conventions"]:
        solde = Decimal(c["solde_eur"])
        paid = eur(c["paid_eur"]) + (" (registre)" if c["paid_origin"] == "registre" else "")
        table.add_row(
            Text(c["convention_id"]),
            Text(c["structure"]),
            percent(c["quantitative_score"], 1),
            percent(c["qualitative_score"], 1),
            eur(c["earned_eur"]),
            paid,
            Text(eur(solde), style="red" if solde < 0 else ""),
            Text(_next_text(c["next_instalment"])),
        )
    console.print(table)
    console.print(
        f"Total acquis : {eur(run['earned_eur'])} ; versé : {eur(run['paid_eur'])} ; solde : {eur(run['solde_eur'])}",
        highlight=False,
    )
    if run["rejected_rows"]:
        console.print(
            f"{len(run['rejected_rows'])} ligne(s) écartée(s) gardée(s) dans le registre"
            " (--format json pour le détail)."
        )


def _cause_text(cause: dict[str, Any]) -> str:
    kind = cause["cause"]
    if kind == "règles":
        parts = cause.get("parameters") or []
        decisions = cause.get("decisions") or []
        return "règles (" + ", ".join([*parts, *(f"décision {d}" for d in decisions)]) + ")"
    if kind == "données":
        return "données (" + ", ".join(cause.get("files") or []) + ")"
    return f"{kind} ({cause.get('detail', '')})"


@runs_app.command("compare")
def runs_compare(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="Évaluation A (n° ou libellé).")],
    b: Annotated[str, typer.Argument(help="Évaluation B (n° ou libellé).")],
    register: RegisterOpt = None,
    fmt: FormatOpt = "text",
    all_: Annotated[bool, typer.Option("--all", help="Montrer aussi les conventions inchangées.")] = False,
) -> None:
    """Compare deux évaluations : écarts par convention (indicateurs, montants) et leurs causes."""
    _format(fmt)
    from engine.register.compare import compare_runs

    comp = guard(lambda: compare_runs(_engine(_register(ctx, register)), a, b))
    if fmt == "json":
        _json(comp)
        return
    ra, rb = comp["a"], comp["b"]
    console.print(
        Text(
            f"A : n° {ra['id']} « {ra['label']} » au {date_fr(ra['as_of'])} — "
            f"B : n° {rb['id']} « {rb['label']} » au {date_fr(rb['as_of'])}",
            style="bold",
        )
    )
    causes = comp["causes"]
    if causes["date"]:
        console.print(Text(f"Date changée : {date_fr(causes['date']['a'])} → {date_fr(causes['date']['b'])}"))
    data = causes["data"]
    if data["files"]:
        console.print(Text("Données changées : " + ", ".join(f"{f['file']} ({f['status']})" for f in data["files"])))
        for t in data["tables"]:
            delta = t["rows_delta"]
            moved = f"{delta:+d} ligne(s)" if delta else "même nombre de lignes"
            console.print(
                Text(
                    f"  • {t['table']} : {number(t['rows_a'])} → {number(t['rows_b'])} lignes ({moved} ;"
                    f" écartées {t['rejected_a']} → {t['rejected_b']})"
                )
            )
    else:
        console.print("Données : identiques (mêmes empreintes des fichiers).")
    rules = causes["rules"]
    if rules["parameters"] or rules["decisions"]:
        console.print(Text("Règles changées :"))
        for p in rules["parameters"]:
            console.print(Text(f"  • {p['path']} : {show(p['a'])} → {show(p['b'])} {p['unit']} ({p['status']})"))
        for d in rules["decisions"]:
            console.print(Text(f"  • règle de décision {d['id']} : {d['status']}"))
    elif rules["files_changed"]:
        console.print("Règles : fichiers modifiés, mais aucune valeur en vigueur ne change.")
    else:
        console.print("Règles : identiques.")
    table = Table(title="Par convention", title_justify="left", header_style="bold", show_lines=True)
    for col, justify in (
        ("Convention", "left"),
        ("Acquis A", "right"),
        ("Acquis B", "right"),
        ("Écart", "right"),
        ("Solde B", "right"),
        ("Indicateurs", "left"),
        ("Causes", "left"),
    ):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for c in comp["conventions"]:
        if not c["changed"] and not all_:
            continue
        m = c["money"]
        inds = (
            "\n".join(
                f"{i['indicator']} : {number(i['value_a'])} → {number(i['value_b'])}"
                + (
                    f" ({i['numerator_a']}/{i['denominator_a']} → {i['numerator_b']}/{i['denominator_b']})"
                    if i.get("denominator_b") is not None or i.get("denominator_a") is not None
                    else ""
                )
                for i in c["indicators"]
            )
            or "—"
        )
        table.add_row(
            Text(c["convention_id"]),
            eur(m["earned"]["a"]),
            eur(m["earned"]["b"]),
            signed_eur(m["earned"]["delta"]),
            eur(m["solde"]["b"]),
            Text(inds),
            Text("\n".join(_cause_text(x) for x in c["causes"]) or "—"),
        )
    console.print(table)
    t = comp["totals_delta"]
    changed = sum(1 for c in comp["conventions"] if c["changed"])
    console.print(
        f"{changed} convention(s) changée(s) ; écart total acquis {signed_eur(t['earned'])},"
        f" versé {signed_eur(t['paid'])}, solde {signed_eur(t['solde'])}",
        highlight=False,
    )


@runs_app.command("verify")
def runs_verify(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="N° ou libellé de l'évaluation.")],
    data: Annotated[Path, typer.Argument(help="Dossier d'extraits (CSV, Parquet) ou classeur .xlsx.")],
    register: RegisterOpt = None,
    fmt: FormatOpt = "text",
    profile: Annotated[Path | None, typer.Option("--profile", help="Profil de source (YAML).")] = None,
) -> None:
    """Refait une évaluation avec ses règles enregistrées sur les extraits donnés ; dit si tout est identique.

    Sortie 0 si chaque chiffre est identique, 1 sinon.
    """
    _format(fmt)
    from engine.register.compare import verify_run

    report = guard(lambda: verify_run(_engine(_register(ctx, register)), run_id, data, profile))
    if fmt == "json":
        _json(report)
    else:
        r = report["run"]
        head = f"Évaluation n° {r['id']} « {r['label']} » au {date_fr(r['as_of'])}, refaite sur {data}"
        console.print(Text(head, style="bold"))
        for i in report["inputs"]:
            if i["status"] != "identique":
                console.print(
                    Text(
                        f"  • fichier {i['file']} : {i['status']} (empreinte enregistrée"
                        f" {(i['stored'] or '—')[:12]}, donnée {(i['given'] or '—')[:12]})"
                    )
                )
        if report["identical"]:
            same = "mêmes fichiers" if report["inputs_identical"] else "fichiers différents, mêmes chiffres"
            console.print(f"[green]Identique[/] : chaque chiffre est retrouvé ({same}).", highlight=False)
        else:
            console.print(
                f"[red]Différent[/] : {len(report['differences'])} chiffre(s) ne sont pas retrouvés.", highlight=False
            )
            for d in report["differences"][:30]:
                console.print(
                    Text(f"  • {d['where']} : enregistré {show(d['stored'])}, recalculé {show(d['recomputed'])}")
                )
    if not report["identical"]:
        raise typer.Exit(1)


@runs_app.command("migrate")
def runs_migrate(ctx: typer.Context, register: RegisterOpt = None) -> None:
    """Met le schéma du registre à la version de ce programme (sauvegarder le fichier avant)."""
    from engine.register.db import migrate, register_url

    url = register_url(_register(ctx, register))
    before, after = guard(lambda: migrate(url))
    if before == after:
        console.print(f"Registre {_shown(url)} déjà à la version {after}.", highlight=False)
    else:
        console.print(f"Registre {_shown(url)} : version {before or '(nouveau)'} → {after}.", highlight=False)


# --------------------------------------------------------------------------- payments


@payments_app.command("record")
def payments_record(
    convention: Annotated[str, typer.Option("--convention", help="Identifiant de la convention.")],
    amount: Annotated[str, typer.Option("--amount", help="Montant versé (145 437,50 ou 145437.50).")],
    paid_on: Annotated[str, typer.Option("--date", help="Date du versement (JJ/MM/AAAA ou AAAA-MM-JJ).")],
    reference: Annotated[str, typer.Option("--reference", help="Référence (n° de mandat).")],
    register: RegisterOpt = None,
) -> None:
    """Enregistre un versement effectué (date, convention, montant, référence)."""
    from engine.register.payments import parse_amount, parse_day
    from engine.register.store import record_payments

    value = parse_amount(amount)
    day = parse_day(paid_on)
    if value is None:
        err.print(
            f"[bold red]Erreur[/] : montant invalide « {amount} » (attendu par exemple 145 437,50).", highlight=False
        )
        raise typer.Exit(2)
    if day is None:
        err.print(
            f"[bold red]Erreur[/] : date invalide « {paid_on} » (attendu JJ/MM/AAAA ou AAAA-MM-JJ).", highlight=False
        )
        raise typer.Exit(2)
    guard(
        lambda: record_payments(
            _engine(register, create=True),
            [{"convention_id": convention, "paid_on": day, "amount": value, "reference": reference}],
            origin="saisie",
        )
    )
    console.print(
        f"Versement enregistré : {convention}, {eur(value)} le {date_fr(day)} (réf. {reference}).", highlight=False
    )


@payments_app.command("import")
def payments_import(
    file: Annotated[Path, typer.Argument(help="CSV des mandats (; ou ,, virgule décimale).")],
    register: RegisterOpt = None,
) -> None:
    """Importe un CSV de mandats : colonnes convention, date, montant, référence (tout ou rien)."""
    from engine.register.payments import read_mandates
    from engine.register.store import record_payments

    def run() -> tuple[int, Decimal]:
        items = read_mandates(file)
        n = record_payments(_engine(register, create=True), items, origin=file.name)
        return n, sum((i["amount"] for i in items), Decimal(0))

    n, total = guard(run)
    console.print(f"{n} versement(s) importé(s) de {file} pour {eur(total)}.", highlight=False)


@payments_app.command("list")
def payments_list(
    register: RegisterOpt = None,
    fmt: FormatOpt = "text",
    convention: Annotated[str | None, typer.Option("--convention", help="Une convention.")] = None,
) -> None:
    """Liste les versements enregistrés."""
    _format(fmt)
    from engine.register.store import list_payments

    found = guard(lambda: list_payments(_engine(register), convention))
    if fmt == "json":
        _json(found)
        return
    table = Table(title="Versements enregistrés", title_justify="left", header_style="bold")
    for col, justify in (
        ("Convention", "left"),
        ("Date", "left"),
        ("Montant", "right"),
        ("Référence", "left"),
        ("Origine", "left"),
        ("Saisi par", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for p in found:
        table.add_row(
            Text(p["convention_id"]),
            date_fr(p["paid_on"]),
            eur(p["amount_eur"]),
            Text(p["reference"]),
            Text(p["origin"]),
            Text(p["recorded_by"]),
        )
    console.print(table)
    total = sum((Decimal(p["amount_eur"]) for p in found), Decimal(0))
    console.print(f"{len(found)} versement(s), {eur(total)}.", highlight=False)
