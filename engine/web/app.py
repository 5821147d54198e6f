"""`parcours serve`: the web application (Starlette, Jinja2 templates, htmx; everything shipped).

Pages (French): Tableau de bord `/`, Convention `/convention/{id}`, Règles `/regles`,
Simulation `/simulation`, Données `/donnees`, Historique `/historique` (the run register,
read-only: `engine.web.history`). Every figure comes from a run, its trace
(`engine.present.explain`) or a comparison (`engine.compute.whatif.compare`), formatted by
`engine.model.format`; the pages do no arithmetic of their own.

Safety: see `engine.web.security`. Each response carries a Content-Security-Policy with no
external source; an error is a French page with its status code and never a traceback;
nothing typed in the browser names a file (downloads have fixed names, uploads are read in
memory, size-limited, with the project's safe YAML loader, aliases refused).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
import polars as pl
import yaml
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from engine.load.variants import VariantError, parse_variant
from engine.load.yaml_loader import LineDict, _Loader
from engine.model import format as fmt
from engine.model.errors import ParcoursError, Problem
from engine.present.explain import COLUMN_LABELS, UnknownConvention, cite, explain
from engine.present.results_json import results_json
from engine.web import forms, history
from engine.web.charts import Bar, percent_of, scale
from engine.web.security import CSRF_COOKIE, SESSION_AGE, SESSION_COOKIE, Guard
from engine.web.service import Service

HERE = Path(__file__).resolve().parent
log = logging.getLogger("parcours.web")

#: Largest variant file accepted (bytes) and largest request body.
MAX_UPLOAD = 64 * 1024
MAX_BODY = 128 * 1024
UNITS_PAGE = 25
#: The only YAML tags a variant file may carry (explicitly or not): plain data.
PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp",
                                                          "map", "seq"))

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

ERROR_TITLES = {
    400: "Demande incorrecte",
    403: "Accès refusé",
    404: "Page introuvable",
    405: "Méthode non permise",
    409: "Déjà enregistrée",
    413: "Fichier trop volumineux",
    429: "Trop de tentatives",
    500: "Erreur interne",
}

SORTS = {
    "convention": "convention_id", "structure": "structure", "territoire": "territory",
    "dispositif": "dispositif", "montant": "amount_eur", "acquis": "earned_eur", "verse": "paid_eur",
    "solde": "solde_eur", "quanti": "quantitative_score", "quali": "qualitative_score",
}
DOWNLOADS = {"results.json": "results.json", "classeur.xlsx": "report.xlsx", "rapport.html": "report.html"}
MEDIA = {
    "results.json": "application/json",
    "classeur.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "rapport.html": "text/html; charset=utf-8",
}


# --------------------------------------------------------------------------- templates


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        eur=fmt.eur, signed_eur=fmt.signed_eur, percent=fmt.percent, number=fmt.number,
        integer=fmt.integer, date_fr=fmt.date_fr, show=fmt.show, yes_no=fmt.yes_no, cite=cite,
        field_id=forms.field_id, sign=_sign, column=lambda key: COLUMN_LABELS.get(key, key),
        cell=_cell, fx=_fraction,
    )
    return env


def _sign(value: Any) -> str:
    """`pos`, `neg` or `zero`: a CSS class for a difference."""
    amount = Decimal(str(value or 0))
    return "pos" if amount > 0 else "neg" if amount < 0 else "zero"


def _fraction(value: Any) -> Any:
    """An exact `n/d` text as a Fraction (other values unchanged), for the formatter."""
    if isinstance(value, str) and value.strip():
        try:
            return Fraction(value)
        except (ValueError, ZeroDivisionError):
            return value
    return value


def _cell(value: Any) -> str:
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        return fmt.date_fr(value)
    return fmt.show(value)


# --------------------------------------------------------------------------- the application


class Web:
    """The application's state: the service, the guard, the templates."""

    def __init__(self, service: Service, guard: Guard, exposed: bool, hosts: frozenset[str] | None = None,
                 register: str | None = None):
        self.hosts = hosts
        self.register = history.Register(register)
        self.service = service
        self.guard = guard
        self.exposed = exposed
        self.env = _environment()

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        """Render a template with the common context."""
        context.setdefault("as_of", self.service.default_as_of)
        text = self.env.get_template(name).render(
            request=request, csrf=getattr(request.state, "csrf", ""), exposed=self.exposed,
            signed_in=getattr(request.state, "signed_in", False), nav=context.pop("nav", ""),
            default_as_of=self.service.default_as_of, **context,
        )
        return HTMLResponse(text, status_code=status)

    def as_of(self, request: Request) -> date:
        """The evaluation date asked for (`?date=`), else the server's."""
        text = (request.query_params.get("date") or "").strip()
        if not text:
            return self.service.default_as_of
        for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                return datetime.strptime(text, pattern).date()
            except ValueError:
                continue
        raise HTTPException(400, f"Date invalide « {text[:40]} » : attendu AAAA-MM-JJ ou JJ/MM/AAAA.")


def _date_query(web: Web, when: date) -> str:
    return "" if when == web.service.default_as_of else urlencode({"date": when.isoformat()})


# --------------------------------------------------------------------------- dashboard


def _dashboard(web: Web, request: Request) -> Response:
    when = web.as_of(request)
    run = web.service.baseline(when)
    data = results_json(run)
    rows = data["conventions"]
    q = request.query_params
    chosen = {key: (q.get(key) or "").strip() for key in ("dispositif", "territoire", "structure", "signalement")}
    options = {
        "dispositif": sorted({r["dispositif"] for r in rows}),
        "territoire": sorted({str(r["territory"]) for r in rows}),
        "structure": sorted({str(r["structure"]) for r in rows}),
        "signalement": sorted({code for r in rows for code in r["labels"]}),
    }
    labels = {code: text for r in rows for code, text in r["labels"].items()}
    shown = [
        r for r in rows
        if (not chosen["dispositif"] or r["dispositif"] == chosen["dispositif"])
        and (not chosen["territoire"] or str(r["territory"]) == chosen["territoire"])
        and (not chosen["structure"] or str(r["structure"]) == chosen["structure"])
        and (not chosen["signalement"] or chosen["signalement"] in r["labels"])
    ]
    sort = q.get("tri") or "convention"
    if sort not in SORTS:
        sort = "convention"
    descending = q.get("ordre") == "desc"
    key = SORTS[sort]

    def sort_key(row: dict[str, Any]) -> tuple[int, Any]:
        value = row.get(key)
        if value is None:
            return (1, 0)
        if key.endswith("_eur"):
            return (0, Decimal(value))
        return (0, value if not isinstance(value, str) else value.lower())

    shown.sort(key=sort_key, reverse=descending)
    from engine.compute.whatif import compare

    itself = compare(run, run)  # the run against itself: per budget line, earned against available
    lines = itself["by_budget_line"]
    widest = scale([Decimal(x) for line in lines for x in (line["baseline_earned_eur"], line["available_eur"] or 0)])
    bars = [
        {
            "line": line,
            "earned": percent_of(Decimal(line["baseline_earned_eur"]), widest),
            "available": percent_of(Decimal(line["available_eur"]), widest) if line["available_eur"] else None,
        }
        for line in lines
    ]
    base = {k: v for k, v in chosen.items() if v}
    if when != web.service.default_as_of:
        base["date"] = when.isoformat()

    def sort_link(column: str) -> str:
        order = "asc" if column != sort or descending else "desc"
        return "?" + urlencode({**base, "tri": column, "ordre": order})

    totals = itself["totals"]
    return web.page(
        request, "dashboard.html", nav="tableau", as_of=when, run=data, rows=shown, total_rows=len(rows),
        options=options, chosen=chosen, labels=labels, bars=bars, totals=totals, sort=sort,
        descending=descending, sort_link=sort_link, date_query=_date_query(web, when),
        skipped=data["skipped"], dispositif_labels=run.book.labels, source_name=Path(run.extracts.source).name,
    )


# --------------------------------------------------------------------------- convention


def _explained(web: Web, request: Request, convention_id: str, units: int = UNITS_PAGE) -> tuple[date, dict[str, Any]]:
    """The explanation of a convention, under the rules in force or under the query's edits."""
    when = web.as_of(request)
    edits = forms.read_edits(web.service.book, request.query_params, when)
    if not edits.ok:
        raise HTTPException(400, "Des modifications de règles de l'adresse sont refusées : "
                                 + " ; ".join([f.error for f in edits.fields if f.error] + edits.problems))
    try:
        run = web.service.run(when, edits.variant if edits.edits else None)
    except VariantError as error:
        raise HTTPException(400, "Modifications refusées : " + " ; ".join(p.message for p in error.problems)) from None
    try:
        return when, explain(run, convention_id, max_units=units)
    except UnknownConvention as error:
        raise HTTPException(404, str(error)) from None


def _convention(web: Web, request: Request) -> Response:
    convention_id = request.path_params["convention_id"]
    when, data = _explained(web, request, convention_id)
    query = forms.read_edits(web.service.book, request.query_params, when).query()
    return web.page(request, "convention.html", nav="tableau", as_of=when, data=data, edit_query=query,
                    flag_labels=web.service.book.flag_labels,
                    date_query=_date_query(web, when), page_size=UNITS_PAGE)


def _units(web: Web, request: Request) -> Response:
    convention_id = request.path_params["convention_id"]
    indicator = request.path_params["indicator"]
    try:
        page = max(1, int(request.query_params.get("page") or 1))
    except ValueError:
        raise HTTPException(400, "Numéro de page invalide.") from None
    if page > 10_000:
        raise HTTPException(400, "Numéro de page invalide.")
    when, data = _explained(web, request, convention_id, units=page * UNITS_PAGE)
    ind = next((i for i in data["indicators"] if i["id"] == indicator and "missed" in i), None)
    if ind is None:
        raise HTTPException(404, f"Indicateur « {indicator[:60]} » sans unités pour cette convention.")
    missed = ind["missed"]
    rows = missed["shown"][(page - 1) * UNITS_PAGE:]
    pages = max(1, -(-missed["total"] // UNITS_PAGE))
    partial = request.headers.get("HX-Request") == "true"
    return web.page(request, "_units_table.html" if partial else "units.html", nav="tableau", as_of=when,
                    data=data, ind=ind, rows=rows, page=page, pages=pages, date_query=_date_query(web, when),
                    cid=convention_id, page_size_rows=UNITS_PAGE,
                    edit_query=forms.read_edits(web.service.book, request.query_params, when).query())


def _units_csv(web: Web, request: Request) -> Response:
    convention_id = request.path_params["convention_id"]
    indicator = request.path_params["indicator"]
    when, data = _explained(web, request, convention_id, units=10**9)
    ind = next((i for i in data["indicators"] if i["id"] == indicator and "missed" in i), None)
    if ind is None:
        raise HTTPException(404, f"Indicateur « {indicator[:60]} » sans unités pour cette convention.")
    rows = ind["missed"]["shown"]
    out = io.StringIO()
    columns = list(dict.fromkeys(k for r in rows for k in r)) or ["unit"]
    writer = csv.writer(out)
    writer.writerow([COLUMN_LABELS.get(c, c) for c in columns])
    for r in rows:
        writer.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    name = f"unites-{_safe(convention_id)}-{_safe(indicator)}-{when.isoformat()}.csv"
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)[:60]


# --------------------------------------------------------------------------- rules


def _dispositif_label(web: Web, dispositif: str) -> str:
    return str(web.service.book.labels.get(dispositif, dispositif))


def _source(web: Web, source: Any) -> dict[str, Any]:
    return web.service.book.source_view(source)


def _rules(web: Web, request: Request) -> Response:
    book = web.service.book
    when = web.as_of(request)
    groups: dict[str, dict[str, Any]] = {}
    for param in book.params.values():
        group = groups.setdefault(param.dispositif, {"label": _dispositif_label(web, param.dispositif),
                                                     "params": [], "indicators": []})
        try:
            value = fmt.show(param.at(when))
        except ParcoursError:
            value = "pas encore en vigueur"
        group["params"].append({"param": param, "value": value})
    for dispositif, indicators in book.indicators.items():
        group = groups.setdefault(dispositif, {"label": _dispositif_label(web, dispositif), "params": [],
                                               "indicators": []})
        group["indicators"] = list(indicators.values())
    return web.page(request, "rules.html", nav="regles", as_of=when, groups=groups, decisions=book.decisions,
                    date_query=_date_query(web, when))


def _param_page(web: Web, request: Request) -> Response:
    book = web.service.book
    path = request.path_params["path"]
    param = book.params.get(path)
    if param is None:
        from engine.model.text import closest

        close = closest(path, list(book.params), cutoff=0.6)
        hint = f" Vouliez-vous dire « {close} » ?" if close else ""
        raise HTTPException(404, f"Paramètre « {path[:80]} » inconnu.{hint}")
    when = web.as_of(request)
    try:
        in_force: str = fmt.show(param.at(when))
        since = param.since(when)
    except ParcoursError:
        in_force, since = "pas encore en vigueur", None
    uses = web.service.uses(when).get(path, [])
    indicators = sorted({u["what"] for u in uses if u["kind"] == "indicator"})
    conventions = sorted({u["convention_id"] for u in uses})
    declared = [ind for ind in book.indicators.get(param.dispositif, {}).values()
                if ind.target_parameter and f"{param.dispositif}.{ind.target_parameter}" == path]
    return web.page(request, "param.html", nav="regles", as_of=when, param=param, in_force=in_force, since=since,
                    source=_source(web, param.source), uses=uses, indicators=indicators, conventions=conventions,
                    declared=declared, label=_dispositif_label(web, param.dispositif),
                    editable=forms.editable(param), date_query=_date_query(web, when))


def _decision_page(web: Web, request: Request) -> Response:
    book = web.service.book
    rule_id = request.path_params["rule_id"]
    rule = next((r for r in book.decisions if r.id == rule_id), None)
    if rule is None:
        raise HTTPException(404, f"Règle de décision « {rule_id[:80]} » inconnue.")
    when = web.as_of(request)
    run = web.service.baseline(when)
    fired = [c.convention_id for c in run.conventions if any(d.rule == rule_id for d in c.trace.decisions)]
    where = book.decision_lines.get(rule_id, ("", 0))
    return web.page(request, "decision.html", nav="regles", as_of=when, rule=rule, source=_source(web, rule.source),
                    fired=fired, where=where, when_json=json.dumps(rule.when, ensure_ascii=False, indent=1,
                                                                   default=str),
                    then_json=json.dumps(list(rule.then), ensure_ascii=False, indent=1, default=str),
                    date_query=_date_query(web, when))


def _indicator_page(web: Web, request: Request) -> Response:
    book = web.service.book
    dispositif = request.path_params["dispositif"]
    ind_id = request.path_params["indicator"]
    ind = book.indicators.get(dispositif, {}).get(ind_id)
    if ind is None:
        raise HTTPException(404, f"Indicateur « {dispositif[:40]}.{ind_id[:60]} » inconnu.")
    when = web.as_of(request)
    run = web.service.baseline(when)
    reads: list[str] = []
    conventions: list[str] = []
    for c in run.conventions:
        res = c.indicators.get(ind_id)
        if res is not None and c.attrs["dispositif"] == dispositif:
            conventions.append(c.convention_id)
            reads.extend(p for p in res.parameters if p not in reads)
    return web.page(request, "indicator.html", nav="regles", as_of=when, ind=ind, source=_source(web, ind.source),
                    params=[book.params[p] for p in reads if p in book.params], conventions=conventions,
                    label=_dispositif_label(web, dispositif), date_query=_date_query(web, when))


# --------------------------------------------------------------------------- simulation


def _comparison_context(web: Web, when: date, edits: forms.Edits) -> dict[str, Any]:
    if not edits.edits or not edits.ok:
        return {"comparison": None}
    try:
        result = web.service.simulate(when, edits.variant)
    except VariantError as error:
        forms.place(edits, error.problems)
        return {"comparison": None}
    comparison = result.comparison
    providers: dict[str, dict[str, Decimal]] = {}
    for row in comparison["conventions"]:
        entry = providers.setdefault(str(row["structure"]), {"baseline": Decimal(0), "variant": Decimal(0),
                                                             "delta": Decimal(0)})
        entry["baseline"] += Decimal(row["baseline_earned_eur"])
        entry["variant"] += Decimal(row["variant_earned_eur"])
        entry["delta"] += Decimal(row["delta_eur"])
    by_structure = sorted(providers.items(), key=lambda item: (item[1]["delta"], item[0]))
    widest = scale([v["delta"] for _, v in by_structure])
    bars = [Bar(name, fmt.signed_eur(v["delta"]), percent_of(v["delta"], widest), negative=v["delta"] < 0)
            for name, v in by_structure if v["delta"] != 0]
    edited_paths = {e["path"] for e in comparison["edits"]}
    book = web.service.book
    described = []
    for e in comparison["edits"]:
        param = book.params.get(e["path"])
        rule = next((r for r in book.decisions if f"decisions.{r.id}" == e["path"]), None)
        before: Any = None
        if param is not None:
            try:
                before = param.at(when)
            except ParcoursError:
                before = None
        elif rule is not None:
            before = rule.enabled
        described.append({**e, "param": param, "rule": rule, "before": before,
                          "source": _source(web, (param.source if param else rule.source if rule else None))})
    return {"comparison": comparison, "by_structure": by_structure, "structure_bars": bars,
            "edited_paths": edited_paths, "described": described}


def _simulation(web: Web, request: Request) -> Response:
    when = web.as_of(request)
    edits = forms.read_edits(web.service.book, request.query_params, when)
    context = _comparison_context(web, when, edits)
    query = edits.query()
    date_part = _date_query(web, when)
    link = "/simulation?" + "&".join(p for p in (date_part, query) if p)
    partial = request.headers.get("HX-Request") == "true" and request.url.path.endswith("/comparaison")
    template = "simulation_result.html" if partial else "simulation.html"
    response = web.page(request, template, nav="simulation", as_of=when, edits=edits, link=link,
                        query=query, date_query=date_part, partial=partial, **context)
    if partial:
        response.headers["HX-Push-Url"] = link
    return response


def _dossier(web: Web, request: Request) -> Response:
    when = web.as_of(request)
    edits = forms.read_edits(web.service.book, request.query_params, when)
    context = _comparison_context(web, when, edits)
    if context["comparison"] is None:
        raise HTTPException(400, "Aucune modification valide à présenter : le dossier de séance "
                                 "se prépare depuis une simulation.")
    return web.page(request, "dossier.html", nav="simulation", as_of=when, edits=edits,
                    rules_sha256=web.service.book.sha256, today=date.today(), **context)


def _variant_download(web: Web, request: Request) -> Response:
    when = web.as_of(request)
    edits = forms.read_edits(web.service.book, request.query_params, when)
    if not edits.edits:
        raise HTTPException(400, "Aucune modification à enregistrer : changez au moins une valeur.")
    if not edits.ok:
        raise HTTPException(400, "Des valeurs sont refusées : corrigez-les avant d'enregistrer la variante.")
    text = forms.variant_yaml(edits, when)
    return Response(text, media_type="application/x-yaml; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="variante-{when.isoformat()}.yaml"'})


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"Envoi trop volumineux (au plus {limit // 1024} Kio).")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"Envoi trop volumineux (au plus {limit // 1024} Kio).")
        chunks.append(chunk)
    return b"".join(chunks)


async def _form(web: Web, request: Request) -> Any:
    body = await _read_body(request, MAX_BODY)
    request._body = body  # noqa: SLF001 - Starlette reads the form from the cached body
    try:
        form = await request.form(max_files=1, max_fields=50, max_part_size=MAX_UPLOAD + 1)
    except Exception:  # noqa: BLE001 - a malformed multipart body is the sender's mistake
        raise HTTPException(400, "Formulaire illisible.") from None
    if not web.guard.csrf_ok(request.cookies.get(CSRF_COOKIE), str(form.get("csrf") or "")):
        raise HTTPException(403, "Jeton de sécurité (CSRF) manquant ou périmé : rechargez la page et recommencez.")
    return form


def read_variant_text(text: str, name: str = "variante téléversée") -> tuple[Any, list[Problem]]:
    """Read a variant file's text with the project's safe loader, refusing aliases and tags."""
    problems: list[Problem] = []
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            mark = event.start_mark
            line = mark.line + 1 if mark is not None else 0
            if isinstance(event, yaml.AliasEvent):
                problems.append(Problem(name, line, "", "les alias YAML ne sont pas acceptés"))
                return None, problems
            tag = getattr(event, "tag", None)
            if tag and tag not in PLAIN_TAGS:
                problems.append(Problem(name, line, "", f"étiquette YAML refusée « {tag} »"))
                return None, problems
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or "syntaxe"
        problems.append(Problem(name, mark.line + 1 if mark else 0, "", f"YAML invalide : {problem}"))
        return None, problems
    loader = _Loader(text)
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problems.append(Problem(name, mark.line + 1 if mark else 0, "", "YAML invalide"))
        return None, problems
    finally:
        loader.dispose()
    problems.extend(Problem(name, line, key, "clé en double") for line, key in loader.duplicates)
    return data, problems


async def _variant_upload(web: Web, request: Request) -> Response:
    form = await _form(web, request)
    upload = form.get("variante")
    if not isinstance(upload, UploadFile):
        raise HTTPException(400, "Aucun fichier de variante reçu.")
    raw = await upload.read(MAX_UPLOAD + 1)
    if len(raw) > MAX_UPLOAD:
        raise HTTPException(413, f"Fichier de variante trop volumineux (au plus {MAX_UPLOAD // 1024} Kio).")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, "Fichier de variante illisible : encodage UTF-8 attendu.") from None
    data, problems = read_variant_text(text)
    variant = None
    if not problems and isinstance(data, LineDict | dict):
        variant = parse_variant(problems, "variante téléversée", data)
    elif not problems:
        problems.append(Problem("variante téléversée", 0, "",
                                "une table est attendue : name, author, purpose, changes"))
    if variant is not None and not problems:
        try:
            from engine.load.variants import edited_book

            edited_book(web.service.book, variant)
        except VariantError as error:
            problems.extend(error.problems)
    if problems or variant is None:
        return web.page(request, "error.html", status=400, status_code=400, title="Variante refusée",
                        message="Le fichier de variante est refusé :", problems=[str(p) for p in problems])
    when = web.as_of(request)
    query = forms.variant_query(web.service.book, variant)
    date_part = _date_query(web, when)
    return RedirectResponse("/simulation?" + "&".join(p for p in (date_part, query) if p), status_code=303)


# --------------------------------------------------------------------------- data


def _data(web: Web, request: Request) -> Response:
    extracts = web.service.extracts
    rejected = extracts.rejected
    reasons = (
        rejected.group_by(["table", "reason"]).agg(pl.len().alias("rows"))
        .sort(["table", "rows"], descending=[False, True]).to_dicts()
        if rejected.height else []
    )
    when = web.as_of(request)
    touched = web.service.touched()
    stake = []
    if touched:
        run = web.service.baseline(when)
        for c in run.conventions:
            if c.convention_id in touched:
                stake.append({"convention_id": c.convention_id, "structure": c.attrs.get("structure"),
                              "rows": touched[c.convention_id], "amount": c.amount, "earned": c.earned})
    return web.page(request, "data.html", nav="donnees", counts=extracts.counts, files=extracts.files,
                    stake=stake, as_of=when, date_query=_date_query(web, when),
                    reasons=reasons, rejected=rejected.head(200).to_dicts(), rejected_total=rejected.height,
                    source=Path(extracts.source).name)


def _rejected_csv(web: Web, request: Request) -> Response:
    rejected = web.service.extracts.rejected
    return Response(rejected.write_csv(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="lignes-ecartees.csv"'})


# --------------------------------------------------------------------------- downloads


def _download(web: Web, request: Request) -> Response:
    name = request.path_params["name"]
    if name not in DOWNLOADS:
        raise HTTPException(404, f"Téléchargement « {name[:60]} » inconnu.")
    when = web.as_of(request)
    run = web.service.baseline(when)
    if name == "results.json":
        from engine.present.writer import json_bytes

        body: bytes = json_bytes(results_json(run))  # as `results.json` is written
    else:
        from engine.present.writer import write_run

        with tempfile.TemporaryDirectory(prefix="parcours-web-") as folder:
            write_run(run, Path(folder))
            body = (Path(folder) / DOWNLOADS[name]).read_bytes()
    stem, ext = name.rsplit(".", 1)
    headers = {"Content-Disposition": f'attachment; filename="{stem}-{when.isoformat()}.{ext}"'}
    return Response(body, media_type=MEDIA[name], headers=headers)


# --------------------------------------------------------------------------- sign-in


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _login_form(web: Web, request: Request) -> Response:
    return web.page(request, "login.html", nav="", message="", next=_next(request))


def _local(target: str) -> str:
    """`target` when it is a path of this application, else `/` (no redirection elsewhere)."""
    ok = target.startswith("/") and not target.startswith("//") and "\\" not in target and ":" not in target
    return target if ok else "/"


def _next(request: Request) -> str:
    return _local(request.query_params.get("suite") or "/")


async def _login(web: Web, request: Request) -> Response:
    form = await _form(web, request)
    client = _client(request)
    if web.guard.blocked(client):
        raise HTTPException(429, "Trop de tentatives de connexion : réessayez dans un quart d'heure.")
    if not web.guard.check_password(str(form.get("password") or "")):
        web.guard.failed(client)
        log.warning("connexion refusée")
        return web.page(request, "login.html", status=403, nav="", message="Mot de passe incorrect.", next="/")
    response = RedirectResponse(_local(str(form.get("suite") or "/")), status_code=303)
    response.set_cookie(SESSION_COOKIE, web.guard.session_value(), max_age=SESSION_AGE, httponly=True,
                        samesite="strict", path="/")
    return response


async def _logout(web: Web, request: Request) -> Response:
    await _form(web, request)
    response = RedirectResponse("/connexion", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --------------------------------------------------------------------------- errors and middleware


def _error_response(web: Web, request: Request, status: int, message: str) -> Response:
    try:
        response = web.page(request, "error.html", status=status, status_code=status,
                            title=ERROR_TITLES.get(status, "Erreur"), message=message, problems=[])
    except Exception:  # noqa: BLE001 - the error page itself must not fail
        response = HTMLResponse(f"<!DOCTYPE html><html lang='fr'><body><h1>{status}</h1></body></html>",
                                status_code=status)
    response.headers.update(HEADERS)
    return response


def _handlers(web: Web) -> dict[Any, Callable[..., Any]]:
    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", "")
        default = {404: "Cette page n'existe pas.", 405: "Cette adresse ne s'utilise pas ainsi."}
        text = detail if isinstance(detail, str) and detail and detail != ERROR_TITLES.get(status) else ""
        if not text or text in ("Not Found", "Method Not Allowed"):
            text = default.get(status, ERROR_TITLES.get(status, "Erreur."))
        return _error_response(web, request, status, text)

    async def server_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, ParcoursError):
            log.error("erreur de calcul sur %s : %s", request.url.path, type(exc).__name__)
            return _error_response(web, request, 500, str(exc))
        log.error("erreur interne sur %s : %s", request.url.path, type(exc).__name__)
        return _error_response(web, request, 500, "Une erreur interne est survenue ; elle a été consignée. "
                                                  "Rechargez la page ou revenez au tableau de bord.")

    return {HTTPException: http_error, Exception: server_error, 500: server_error}


def _host_name(header: str) -> str:
    """The name in a `Host` header, without its port: `127.0.0.1`, `localhost`, `[::1]`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0]


class _Security(BaseHTTPMiddleware):
    def __init__(self, app: Any, web: Web):
        super().__init__(app)
        self.web = web

    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        web = self.web
        if web.hosts is not None:
            if _host_name(request.headers.get("host") or "") not in web.hosts:
                return _error_response(web, request, 400, "Adresse du serveur inattendue : ouvrez l'application "
                                                          "par l'adresse affichée au démarrage.")
        token = web.guard.csrf_token(request.cookies.get(CSRF_COOKIE))
        new_cookie = None
        if token is None:
            token, new_cookie = web.guard.new_csrf()
        request.state.csrf = token
        signed_in = web.guard.valid_session(request.cookies.get(SESSION_COOKIE))
        request.state.signed_in = signed_in
        path = request.url.path
        open_paths = path.startswith("/static/") or path == "/connexion"
        if web.exposed and not signed_in and not open_paths:
            if request.method == "GET":
                response: Response = RedirectResponse("/connexion?" + urlencode({"suite": path}), status_code=303)
            else:
                response = _error_response(web, request, 403, "Connexion requise.")
        else:
            response = await call_next(request)
        for key, value in HEADERS.items():
            response.headers.setdefault(key, value)
        if path.startswith("/static/"):
            response.headers["Cache-Control"] = "public, max-age=3600"
        if new_cookie is not None:
            response.set_cookie(CSRF_COOKIE, new_cookie, httponly=True, samesite="strict", path="/")
        return response


def create_app(service: Service, *, exposed: bool = False, password_hash: str | None = None,
               secret: bytes | None = None, hosts: frozenset[str] | None = None,
               register: str | None = None) -> Starlette:
    """The web application over `service`; `exposed` (another address than loopback) needs a password.

    `hosts`, when given, are the only `Host` headers answered (a loopback server answers
    only to its own names, which defeats DNS rebinding from a web page). `register`: the URL of
    the run register the « Historique » pages read (None: no register).
    """
    if exposed and not password_hash:
        raise ValueError("an exposed server needs a password hash")
    web = Web(service, Guard(password_hash, secret), exposed, hosts, register)

    def sync(view: Callable[[Web, Request], Response]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            from starlette.concurrency import run_in_threadpool

            return await run_in_threadpool(view, web, request)

        return endpoint

    def asynchronous(view: Callable[[Web, Request], Awaitable[Response]]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await view(web, request)

        return endpoint

    routes = [
        Route("/", sync(_dashboard)),
        Route("/convention/{convention_id}", sync(_convention)),
        Route("/convention/{convention_id}/unites/{indicator}.csv", sync(_units_csv)),
        Route("/convention/{convention_id}/unites/{indicator}", sync(_units)),
        Route("/regles", sync(_rules)),
        Route("/regles/parametre/{path}", sync(_param_page)),
        Route("/regles/decision/{rule_id}", sync(_decision_page)),
        Route("/regles/indicateur/{dispositif}/{indicator}", sync(_indicator_page)),
        Route("/simulation", sync(_simulation)),
        Route("/simulation/comparaison", sync(_simulation)),
        Route("/simulation/dossier", sync(_dossier)),
        Route("/simulation/variante.yaml", sync(_variant_download)),
        Route("/simulation/variante", asynchronous(_variant_upload), methods=["POST"]),
        Route("/donnees", sync(_data)),
        Route("/donnees/lignes-ecartees.csv", sync(_rejected_csv)),
        Route("/historique", sync(history.history)),
        Route("/historique/comparer", sync(history.compare_page)),
        Route("/historique/evaluation/{run_id}", sync(history.run_page)),
        Route("/historique/enregistrer", asynchronous(history.record), methods=["POST"]),
        Route("/telecharger/{name}", sync(_download)),
        Route("/connexion", sync(_login_form), methods=["GET"]),
        Route("/connexion", asynchronous(_login), methods=["POST"]),
        Route("/deconnexion", asynchronous(_logout), methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(_Security, web=web)],
                     exception_handlers=_handlers(web), debug=False)
