"""The register's pages: « Historique » (recorded runs, per-convention evolution) and « Comparer ».

The application reads the register (`parcours serve --register`, else $PARCOURS_REGISTER,
else `registre.sqlite` beside the data, as the CLI does) without migrating it; a register not
created yet is an empty history, one at another schema version is a French error page naming
the command to run. Its one write is « Enregistrer cette évaluation » (POST with the CSRF
token, a label, a date): the run at that date under the rules in force, `paid` from the
register's payments as `evaluate --record` takes it, refused in French when the label is
taken; a new register file is created then (and only then). Every figure comes from
the register (`engine.register.store`) or from `engine.register.compare.compare_runs`; the
pages only format them with `engine.model.format`.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engine.model import format as fmt
from engine.web.charts import Bar, percent_of, scale

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from engine.web.app import Web

#: The figures whose evolution is drawn per convention: (key, French title, kind).
SERIES = (
    ("earned_eur", "Montant acquis", "eur"),
    ("solde_eur", "Solde (acquis − versé)", "eur"),
    ("quantitative_score", "Score quantitatif", "score"),
    ("qualitative_score", "Score qualitatif", "score"),
)


class Register:
    """The register the application reads (an URL, or none); its engine opened once, read-only."""

    def __init__(self, url: str | None):
        self.url = url
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def shown(self) -> str:
        """The register's URL for a page (without any password)."""
        from engine.register.db import shown

        return shown(self.url) if self.url else ""

    def for_writing(self) -> Engine:
        """The register's engine, creating a new register at the current schema if needed."""
        from engine.register.db import open_register

        assert self.url is not None
        with self._lock:
            if self._engine is None:
                self._engine = open_register(self.url, create=True)
            return self._engine

    def engine(self) -> Engine | None:
        """The register's engine, or None while there is no register (RegisterError when unusable)."""
        if self.url is None:
            return None
        with self._lock:
            if self._engine is None:
                from engine.register.db import open_register, register_exists

                if not register_exists(self.url):
                    return None
                self._engine = open_register(self.url, create=False)
            return self._engine


def _runs(web: Web) -> tuple[Engine | None, list[dict[str, Any]]]:
    engine = web.register.engine()
    if engine is None:
        return None, []
    from engine.register.store import list_runs

    return engine, list_runs(engine)


def _run_name(run: dict[str, Any]) -> str:
    return f"n° {run['id']} — {run['label']} (au {fmt.date_fr(run['as_of'])})"


def _money_bars(rows: list[dict[str, Any]], key: str) -> list[Bar]:
    values = [Decimal(r[key] or 0) for r in rows]
    references = [Decimal(r["amount_eur"] or 0) for r in rows] if key == "earned_eur" else []
    widest = scale([*values, *references])
    return [
        Bar(label=r["label"], text=fmt.eur(v), length=percent_of(v, widest),
            reference=percent_of(references[i], widest) if references else None, negative=v < 0)
        for i, (r, v) in enumerate(zip(rows, values, strict=True))
    ]


def _score_bars(rows: list[dict[str, Any]], key: str) -> list[Bar]:
    out = []
    for r in rows:
        value = r[key]
        if value is None:
            out.append(Bar(label=r["label"], text="non évalué", length=0))
        else:
            length = percent_of(Decimal(str(value)), Decimal(1))
            out.append(Bar(label=r["label"], text=fmt.percent(value), length=length))
    return out


def history(web: Web, request: Request) -> Response:
    """« Historique »: the recorded runs, and the evolution of one convention over the current runs."""
    engine, runs = _runs(web)
    points: list[dict[str, Any]] = []
    if engine is not None and runs:
        from engine.register.store import convention_history

        points = convention_history(engine)
    current = sorted((r for r in runs if r["status"] == "current"), key=lambda r: (r["as_of"], r["id"]))
    conventions: dict[str, dict[str, Any]] = {}
    for p in points:
        entry = conventions.setdefault(p["convention_id"], {"convention_id": p["convention_id"],
                                                            "structure": p["structure"],
                                                            "dispositif": p["dispositif"], "by_run": {}})
        entry["by_run"][p["run_id"]] = p
    chosen = (request.query_params.get("convention") or "").strip()
    if chosen and chosen not in conventions:
        raise HTTPException(404, f"Convention « {chosen[:60]} » absente des évaluations enregistrées.")
    if not chosen and conventions:  # the convention whose earned amount moved most over the runs
        def moved(cid: str) -> Decimal:
            values = [Decimal(p["earned_eur"]) for p in conventions[cid]["by_run"].values()]
            return max(values) - min(values)

        chosen = max(sorted(conventions), key=moved)
    charts = []
    series: list[dict[str, Any]] = []
    if chosen:
        series = [p for p in points if p["convention_id"] == chosen]
        for key, title, kind in SERIES:
            bars = _money_bars(series, key) if kind == "eur" else _score_bars(series, key)
            charts.append({"key": key, "title": title, "kind": kind, "bars": bars})
    table = []
    for cid in sorted(conventions):
        entry = conventions[cid]
        cells = [entry["by_run"].get(r["id"]) for r in current]
        known = [c for c in cells if c is not None]
        change = (Decimal(known[-1]["earned_eur"]) - Decimal(known[0]["earned_eur"])) if len(known) > 1 else None
        table.append({**entry, "cells": cells, "change": change})
    return web.page(
        request, "history.html", nav="historique", record_date=web.as_of(request), runs=runs, current=current,
        charts=charts,
        chosen=chosen, chosen_entry=conventions.get(chosen), series=series, table=table,
        register=web.register.shown(), configured=web.register.url is not None, has_register=engine is not None,
        run_name=_run_name,
    )


def _run_id(text: str | None, runs: list[dict[str, Any]], what: str) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 12:
        raise HTTPException(400, f"Numéro d'évaluation {what} invalide « {text[:40]} » : un nombre est attendu.")
    run_id = int(text)
    if not any(r["id"] == run_id for r in runs):
        raise HTTPException(404, f"Aucune évaluation n° {run_id} dans le registre (évaluation {what}).")
    return run_id


def run_page(web: Web, request: Request) -> Response:
    """One recorded run: its figures per convention, as the register keeps them."""
    engine, runs = _runs(web)
    run_id = _run_id(request.path_params["run_id"], runs, "demandée")
    if engine is None or run_id is None:
        raise HTTPException(404, "Aucune évaluation dans le registre.")
    from engine.register.store import get_run

    run = get_run(engine, run_id)
    replaced_by = next((r for r in runs if r["id"] == run["superseded_by"]), None)
    return web.page(request, "history_run.html", nav="historique", run=run, replaced_by=replaced_by,
                    run_name=_run_name)


def _indicator_label(web: Web, dispositif: str | None, indicator: str) -> tuple[str, bool]:
    """The French label of an indicator and whether its value is a share (shown as a percentage)."""
    found = web.service.book.indicators.get(dispositif or "", {}).get(indicator)
    if found is None:
        return indicator, False
    return found.label, found.kind == "rate" or found.unit == "taux"


def _cause_lines(web: Web, convention: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    paid = convention["money"]["paid"]
    for cause in convention["causes"]:
        kind = cause["cause"]
        if kind == "date":
            out.append({"kind": "Date", "text": cause["detail"]})
        elif kind == "règles":
            out.append({"kind": "Règles", "parameters": cause.get("parameters") or [],
                        "text": "; ".join(f"règle de décision {d}" for d in cause.get("decisions") or [])})
        elif kind == "données":
            out.append({"kind": "Données", "text": ", ".join(cause.get("files") or [])})
        elif kind == "versements":
            out.append({"kind": "Versements", "text": f"versé {fmt.eur(paid['a'])} puis {fmt.eur(paid['b'])}"})
        else:
            out.append({"kind": "Convention", "text": str(cause.get("detail") or "")})
    return out


def compare_page(web: Web, request: Request) -> Response:
    """« Comparer deux évaluations »: per convention, each indicator's and each amount's change, and why."""
    engine, runs = _runs(web)
    q = request.query_params
    a = _run_id(q.get("a"), runs, "A")
    b = _run_id(q.get("b"), runs, "B")
    current = sorted((r for r in runs if r["status"] == "current"), key=lambda r: (r["as_of"], r["id"]))
    default_a = current[-2]["id"] if len(current) > 1 else (current[0]["id"] if current else None)
    default_b = current[-1]["id"] if current else None
    every = q.get("tout") == "1"
    comparison = None
    rows: list[dict[str, Any]] = []
    summary: dict[str, dict[str, Any]] = {}
    if engine is not None and a is not None and b is not None:
        from engine.register.compare import compare_runs

        comparison = compare_runs(engine, a, b)
        by_id = {r["id"]: r for r in runs}
        summary = {"a": by_id[a], "b": by_id[b]}
        for c in comparison["conventions"]:
            if not c["changed"] and not every:
                continue
            indicators = []
            for ind in c["indicators"]:
                label, share = _indicator_label(web, c["dispositif"], ind["indicator"])
                shown = fmt.percent if share else fmt.number
                indicators.append({
                    **ind, "label": label,
                    "a_text": shown(ind["value_a"]) if ind["value_a"] is not None else "—",
                    "b_text": shown(ind["value_b"]) if ind["value_b"] is not None else "—",
                    "delta_text": ("+" if (ind["value_delta"] or 0) > 0 else "") + shown(ind["value_delta"])
                    if ind["value_delta"] is not None else "",
                })
            scored = [i for i in indicators if i["score_delta"]]
            others = [i for i in indicators if not i["score_delta"]]
            rows.append({**c, "scored": scored, "others": others, "cause_lines": _cause_lines(web, c)})
    return web.page(
        request, "history_compare.html", nav="historique", runs=runs, a=a if a is not None else default_a,
        b=b if b is not None else default_b, comparison=comparison, rows=rows, summary=summary, every=every,
        asked=a is not None and b is not None, run_name=_run_name, has_register=engine is not None,
        register=web.register.shown(),
        changed=sum(1 for c in (comparison or {}).get("conventions", []) if c["changed"]),
    )


#: Longest label accepted (the register's column holds 200 characters).
MAX_LABEL = 120


def _record(web: Web, label: str, when: Any) -> int:
    """Evaluate at `when` with the register's payments and record the run under `label`."""
    from engine.compute.pipeline import evaluate
    from engine.load.rules import load_payments
    from engine.register.payments import apply_paid
    from engine.register.store import label_taken, paid_from_register, record_run, who

    engine = web.register.for_writing()
    taken = label_taken(engine, label)
    if taken is not None:
        raise HTTPException(409, f"Une évaluation « {label} » est déjà enregistrée (n° {taken}) : choisir un"
                                 " autre libellé (la remplacer se fait en ligne de commande, avec --replace).")
    recorded = paid_from_register(engine, when)
    extracts = apply_paid(web.service.extracts, {cid: total for cid, (total, _) in recorded.items()})
    book = web.service.book
    run = evaluate(extracts, book, when)
    return record_run(engine, run, label, user=f"{who()} (application)",
                      paid_origin={cid: "registre" for cid in recorded},
                      payments_count={cid: n for cid, (_, n) in recorded.items()},
                      schedules=load_payments(book.root))


async def record(web: Web, request: Request) -> Response:
    """« Enregistrer cette évaluation »: POST label and date; to the recorded run's page."""
    from starlette.concurrency import run_in_threadpool

    from engine.register.db import RegisterError
    from engine.web.app import _form

    form = await _form(web, request)
    if web.register.url is None:
        raise HTTPException(400, "Aucun registre n'est associé à cette application : la lancer avec"
                                 " parcours serve DONNÉES --register FICHIER.")
    label = " ".join(str(form.get("label") or "").split())
    if not label:
        raise HTTPException(400, "Libellé manquant : donner par exemple « T2 2025 ».")
    if len(label) > MAX_LABEL:
        raise HTTPException(400, f"Libellé trop long (au plus {MAX_LABEL} caractères).")
    text = str(form.get("date") or "").strip()
    from datetime import date as _date

    try:
        when = _date.fromisoformat(text) if text else web.service.default_as_of
    except ValueError:
        raise HTTPException(400, f"Date invalide « {text[:40]} » : attendu AAAA-MM-JJ.") from None
    try:
        run_id = await run_in_threadpool(_record, web, label, when)
    except RegisterError as error:  # e.g. the same label recorded at the same moment by another
        raise HTTPException(409, str(error)) from None
    return RedirectResponse(f"/historique/evaluation/{run_id}", status_code=303)
