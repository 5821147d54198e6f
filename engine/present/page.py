"""The page with charts (`report.html`): one self-contained file, built from data only.

The page reads the `results.json` dict (outputs.md), the parameter table
(`engine.report_xlsx.params_table`) and, for a what-if, the `comparison.json` dict and the
variant's results. It opens offline: the plotly.js bundle is inlined once in the page
head, the style sheet is inline, and a Content-Security-Policy forbids any other source.
Every piece of text is escaped; numbers are written the French way (`1 234,56 €`, with
no-break spaces); a print style sheet lays it out on A4 landscape pages.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import plotly.io as pio
from plotly.offline import get_plotlyjs

from engine.model import format as fr
from engine.model.format import status_sentence
from engine.present.workbook import (
    REMAINING_DEFINITION,
    REMAINING_LABEL,
    budget_line_of,
    budget_line_totals,
    cite,
    code_label,
    dispositif_label,
    dispositifs,
    eur,
    gainers_losers,
    index_params,
    indicator_ids,
    indicator_source,
    run_status,
    status_of,
    totals,
)

__all__ = ["render_html", "write_html"]

NBSP = fr.SPACE
PAGE_WIDTH = 1040  # pixels: A4 landscape minus margins, so the screen and the print agree
COLORS = {
    "amount": "#9DB4CF",
    "earned": "#1F3A5F",
    "paid": "#E3A33B",
    "gain": "#2E8B57",
    "loss": "#C0392B",
    "target": "#111111",
    "floor": "#888888",
    "partial": "#E3A33B",
    "none": "#BBBBBB",
    "reported": "#5B7DB1",
}
PLOTLY_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "displayModeBar": False,
    "staticPlot": False,
}

CSS = """
:root { --ink:#1d2733; --muted:#5b6675; --line:#d8dee6; --accent:#1F3A5F; --bg:#f6f8fb; }
* { box-sizing: border-box; }
body { margin:0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans",
       Arial, sans-serif; color:var(--ink); background:var(--bg); font-size:13px; line-height:1.4; }
main { max-width:1240px; margin:0 auto; padding:16px 12px 40px; }
header.page { background:var(--accent); color:#fff; padding:18px 20px; border-radius:6px; }
header.page h1 { margin:0 0 4px; font-size:22px; }
header.page p { margin:0; opacity:.9; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px;
         background:#fff; color:var(--accent); font-weight:600; margin-left:6px; }
.badge.projection { background:#E3A33B; color:#1d2733; }
nav { margin:10px 0; font-size:12px; }
nav a { color:var(--accent); margin-right:12px; }
section { background:#fff; border:1px solid var(--line); border-radius:6px; padding:14px 18px;
          margin:14px 0; }
h2 { font-size:17px; margin:0 0 10px; color:var(--accent); }
h3 { font-size:15px; margin:16px 0 8px; }
h4 { font-size:13px; margin:0 0 4px; }
.cards { display:grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap:10px; }
.card { border:1px solid var(--line); border-radius:6px; padding:10px 12px; background:#fbfcfe; }
.card .label { color:var(--muted); font-size:12px; }
.card .value { font-size:19px; font-weight:650; overflow-wrap:anywhere; }
.card .note { color:var(--muted); font-size:11px; }
table { border-collapse:collapse; width:100%; font-size:11.5px; }
.wide { overflow-x:auto; }
th, td { border-bottom:1px solid var(--line); padding:4px 5px; text-align:left;
         vertical-align:top; }
th { background:#eef2f7; font-weight:600; }
td.n, th.n { text-align:right; font-variant-numeric: tabular-nums; }
td.m { text-align:right; white-space:nowrap; font-variant-numeric: tabular-nums; }
td.id { white-space:nowrap; }
tr.sub td { border-top:none; padding-top:0; }
tr.main td { border-bottom:none; }
figure { margin:0; }
tfoot td { font-weight:650; background:#f3f6fa; }
tr.neg td { background:#fdf3f1; }
tr.neg td.solde { color:#C0392B; font-weight:600; }
small, .muted { color:var(--muted); }
.flag { display:inline-block; background:#eef2f7; border-radius:4px; padding:0 4px; margin:1px 0;
        font-size:11px; }
.flag.alert { background:#fdf0dc; }
.flag.reversement { background:#f9dcd8; }
.indicator { display:grid; grid-template-columns: minmax(0, 320px) minmax(0, 1fr); gap:12px;
             padding:10px 0; border-top:1px solid var(--line); }
.chart, .chart > div, .js-plotly-plot { max-width:100%; min-width:0; }
section, main, .wide { min-width:0; max-width:100%; }
.badge.mixed { background:#F2D7A6; color:#1d2733; }
h2.run { font-size:20px; border-bottom:2px solid var(--accent); padding-bottom:4px; margin-top:28px; }
@media (max-width: 900px) {
  .indicator { grid-template-columns: minmax(0, 1fr); }
  header.page h1 { font-size:18px; }
  section { padding:10px 10px; }
  main { padding:8px 6px 30px; }
  table { display:block; overflow-x:auto; max-width:100%; }
}
blockquote { margin:6px 0; padding:4px 8px; border-left:3px solid var(--accent); background:#f7f9fc;
             font-style:italic; }
.cite { font-size:12px; }
.params { font-size:11px; color:var(--muted); margin:4px 0 0; padding-left:16px; }
.chart { width:100%; }
footer { color:var(--muted); font-size:11px; text-align:center; margin-top:20px; }
@page { size: A4 landscape; margin: 10mm; }
@media print {
  body { background:#fff; font-size:10px; -webkit-print-color-adjust:exact;
         print-color-adjust:exact; }
  main { padding:0; max-width:none; width:1040px; }
  nav, .modebar-container { display:none !important; }
  section { border:none; padding:4px 0; margin:6px 0; break-inside:auto; }
  h2 { break-after:avoid; }
  .indicator, .card, tr, figure, .costblock { break-inside:avoid; }
  .wide { overflow:visible; }
  table { font-size:8.5px; }
  th, td { padding:2px 3px; }
  tfoot { display:table-row-group; }
  thead { display:table-header-group; }
  header.page { border-radius:0; }
}
"""


# --------------------------------------------------------------------------- French numbers


def _money(value: Any) -> str:
    """Money of the contract (a string with two decimals, None is 0) in French."""
    return fr.eur(eur(value))


def _pct(value: Any, places: int = 1) -> str:
    return fr.percent(value, places, fixed=True)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


# --------------------------------------------------------------------------- charts


class _Figure:
    """A plotly figure as plain data: the few `graph_objects.Figure` methods the charts use.

    plotly's own objects validate every property (about 40 ms a figure, most of a report's
    time); the charts here are fixed code, so plotly.io renders the plain data unvalidated.
    `marker_color`-style keywords are nested as plotly's magic underscores are.
    """

    _COMPOUND = ("marker", "title", "line", "font")

    def __init__(self) -> None:
        self.data: list[dict[str, Any]] = []
        self.layout: dict[str, Any] = {"xaxis": {}, "yaxis": {}}

    @classmethod
    def _nest(cls, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in kwargs.items():
            head, _, rest = key.partition("_")
            if rest and head in cls._COMPOUND:
                out.setdefault(head, {})[rest] = value
            else:
                out[key] = value
        return out

    def add_bar(self, **kwargs: Any) -> None:
        self.data.append({"type": "bar", **self._nest(kwargs)})

    def add_scatter(self, **kwargs: Any) -> None:
        self.data.append({"type": "scatter", **self._nest(kwargs)})

    def update_xaxes(self, **kwargs: Any) -> None:
        self.layout["xaxis"].update(self._nest(kwargs))

    def update_yaxes(self, **kwargs: Any) -> None:
        self.layout["yaxis"].update(self._nest(kwargs))

    def update_layout(self, **kwargs: Any) -> None:
        self.layout.update(self._nest(kwargs))

    def to_plotly_json(self) -> dict[str, Any]:
        return {"data": self.data, "layout": self.layout}


@cache
def _template() -> dict[str, Any]:
    """The `plotly_white` template as plain data, built once (validating it per figure is slow)."""
    return pio.templates["plotly_white"].to_plotly_json()


def _figure_html(fig: _Figure, width: int, height: int) -> str:
    figure = fig.to_plotly_json()
    figure["layout"].update(
        autosize=True,
        height=height,
        template=_template(),
        separators=f",{NBSP}",
        margin={"l": 80, "r": 20, "t": 40, "b": 110},
        font={"family": "system-ui, Arial, sans-serif", "size": 11},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        uniformtext={"minsize": 9, "mode": "hide"},  # a label too small for its bar is hidden
    )
    return pio.to_html(
        figure, full_html=False, include_plotlyjs=False, config=PLOTLY_CONFIG, validate=False,
        div_id=_chart_id(figure), default_width="100%", default_height=f"{height}px",
    )


def _chart_id(figure: dict[str, Any]) -> str:
    """A chart's element id from its content: the same figures give the same page bytes.

    plotly draws a random id otherwise. Two charts of one page differ by their title or
    data, so their ids differ too.
    """
    digest = hashlib.sha256(json.dumps(figure, sort_keys=True, default=str).encode()).hexdigest()
    return f"graphique-{_CHART_SCOPE[0]}{digest[:16]}"


# The report the charts being drawn belong to: a what-if page holds the variant's and the
# baseline's, whose unchanged charts are alike (set by `_report_sections`).
_CHART_SCOPE = [""]


def _label(c: Mapping[str, Any]) -> str:
    return _e(c.get("convention_id"))


def _indicator_chart(convs: Sequence[Mapping[str, Any]], ind_id: str) -> str:
    """Bars of the indicator's value per convention, with its target (and floor) marks."""
    x, y, colors, hover, targets, floors = [], [], [], [], [], []
    rate = True
    for c in convs:
        ind = c.get("indicators", {}).get(ind_id)
        if ind is None:
            continue
        rate = (ind.get("kind") or ("rate" if "numerator" in ind else "volume")) == "rate"
        value, target, floor, score = (
            ind.get("value"),
            ind.get("target"),
            ind.get("floor"),
            ind.get("score"),
        )
        x.append(_label(c))
        y.append(value)
        targets.append(target)
        floors.append(floor)
        if score is None:
            colors.append(COLORS["reported"] if ind.get("evaluable") else COLORS["none"])
        elif score >= 1:
            colors.append(COLORS["gain"])
        elif score <= 0:
            colors.append(COLORS["loss"])
        else:
            colors.append(COLORS["partial"])
        shown = _pct(value) if rate else fr.number(value, 2)
        detail = (
            f"{ind.get('numerator')}/{ind.get('denominator')}"
            if rate
            else f"cible {fr.number(target, 2)}"
        )
        state = "non évaluable" if not ind.get("evaluable") else f"note {_pct(score, 0)}"
        hover.append(
            f"{_e(c.get('structure'))} — {_e(c.get('territory'))}<br>{shown} ({detail}) · {state}"
        )
    fig = _Figure()
    meaning = (("gain", "cible atteinte"), ("partial", "entre plancher et cible"),
               ("loss", "au plancher ou en dessous"), ("reported", "évaluable, non noté"),
               ("none", "non évaluable"))
    for key, text in meaning:  # one legend entry per colour present, in its colour
        if COLORS[key] in colors:
            fig.add_bar(x=[x[0]], y=[None], marker_color=COLORS[key], name=text, hoverinfo="skip",
                        legendgroup=key)
    fig.add_bar(
        x=x,
        y=y,
        marker_color=colors,
        showlegend=False,
        name="valeur",
        hovertext=hover,
        hoverinfo="text",
        text=[
            "" if v is None or len(x) > 12 else _pct(v) if rate else fr.number(v, 1, fixed=True) for v in y
        ],
        textposition="inside",
        insidetextanchor="start",
        textangle=0,
        textfont={"size": 11, "color": "#ffffff"},
    )
    mark = max(8, min(34, 420 // max(len(x), 1)))  # the width of a bar, roughly
    missing = [xi for xi, v in zip(x, y, strict=True) if v is None]
    if missing:
        fig.add_scatter(
            x=missing,
            y=[0] * len(missing),
            mode="text",
            text=["non évaluable"] * len(missing),
            textposition="top center",
            showlegend=False,
            hoverinfo="skip",
        )
    if any(t is not None for t in targets):
        fig.add_scatter(
            x=x,
            y=targets,
            mode="markers",
            name="cible",
            marker={
                "symbol": "line-ew-open",
                "size": mark,
                "color": COLORS["target"],
                "line": {"width": 3, "color": COLORS["target"]},
            },
            hoverinfo="skip",
        )
    if any(f is not None for f in floors):
        fig.add_scatter(
            x=x,
            y=floors,
            mode="markers",
            name="plancher",
            marker={
                "symbol": "line-ew-open",
                "size": mark,
                "color": COLORS["floor"],
                "line": {"width": 2, "color": COLORS["floor"]},
            },
            hoverinfo="skip",
        )
    top = max([v for v in y + targets if v is not None] or [1])
    fig.update_yaxes(
        tickformat=".0%" if rate else ",.0f",
        range=[0, max(1.05, top * 1.15) if rate else top * 1.2],
        title_text="valeur" if not rate else None,
    )
    fig.update_xaxes(tickangle=-35)
    fig.update_layout(showlegend=True, bargap=0.35, barmode="overlay")
    return _figure_html(fig, 650, 320)


def _money_chart(convs: Sequence[Mapping[str, Any]]) -> str:
    """Draw grouped bars per convention with money: amount, earned, already paid.

    Valorisation lines (every amount 0 €) are left out of the chart: they are listed below it.
    """
    convs = [c for c in convs if any(eur(c.get(k)) for k in ("amount_eur", "earned_eur", "paid_eur"))]
    x = [_label(c) for c in convs]
    fig = _Figure()
    for key, name, color in (
        ("amount_eur", "Montant conventionné", COLORS["amount"]),
        ("earned_eur", "Acquis", COLORS["earned"]),
        ("paid_eur", "Déjà versé", COLORS["paid"]),
    ):
        values = [float(eur(c.get(key))) for c in convs]
        hover = [f"{_e(c.get('structure'))} — {name} : {_money(c.get(key))}" for c in convs]
        fig.add_bar(x=x, y=values, name=name, marker_color=color, hovertext=hover, hoverinfo="text")
    fig.update_yaxes(tickformat=",.0f", ticksuffix=f"{NBSP}€")
    fig.update_xaxes(tickangle=-35)
    fig.update_layout(barmode="group", bargap=0.25)
    return _figure_html(fig, 980, 420)


def _delta_chart(rows: Sequence[Mapping[str, Any]], about: Mapping[str, Mapping[str, Any]]) -> str:
    """Bars of the variant's delta per convention, green when it gains, red when it loses."""
    x = [_e(r.get("convention_id")) for r in rows]
    deltas = [eur(r.get("delta_eur")) for r in rows]
    hover = [
        f"{_e(about.get(str(r.get('convention_id')), {}).get('structure'))} : "
        f"{_money(r.get('baseline_earned_eur'))} → {_money(r.get('variant_earned_eur'))}"
        f" ({_money(r.get('delta_eur'))})"
        for r in rows
    ]
    fig = _Figure()
    fig.add_bar(
        x=x,
        y=[float(d) for d in deltas],
        hovertext=hover,
        hoverinfo="text",
        name="écart",
        marker_color=[
            COLORS["gain"] if d > 0 else COLORS["loss"] if d < 0 else COLORS["none"] for d in deltas
        ],
        text=[_money(d) if len(x) <= 12 else "" for d in deltas],
        textposition="inside",
        textangle=0,
        textfont={"size": 11, "color": "#ffffff"},
    )
    fig.update_yaxes(tickformat=",.0f", ticksuffix=f"{NBSP}€", zeroline=True, zerolinecolor="#333")
    fig.update_xaxes(tickangle=-35)
    fig.update_layout(showlegend=False)
    return _figure_html(fig, 980, 380)


# --------------------------------------------------------------------------- page parts


def _th_n(*labels: str) -> str:
    return "".join(f'<th class="n">{_e(label)}</th>' for label in labels)


def _flags(c: Mapping[str, Any]) -> str:
    labels = c.get("labels") or {}
    out = []
    for f in c.get("flags", []):
        if f == "projection":  # said once, at the top of the page
            continue
        cls = "flag reversement" if f == "reversement" else "flag"
        out.append(f'<span class="{cls}">{_e(labels.get(f, f))}</span>')
    for w in c.get("warnings", []):
        out.append(f'<span class="flag alert">{_e(labels.get(w, w))}</span>')
    return " ".join(out)


def _cards(items: Iterable[tuple[str, str, str]]) -> str:
    cells = "".join(
        f'<div class="card"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div>'
        f'<div class="note">{_e(note)}</div></div>'
        for label, value, note in items
    )
    return f'<div class="cards">{cells}</div>'


def _headline(results: Mapping[str, Any], comparison: Mapping[str, Any] | None) -> str:
    convs = results.get("conventions", [])
    sums = totals(convs)
    negatives = [eur(c.get("solde_eur")) for c in convs if eur(c.get("solde_eur")) < 0]
    inputs = results.get("inputs") or {}
    rejected = sum(int(v.get("rejected") or 0) for v in inputs.values())
    read = sum(int(v.get("rows") or 0) for v in inputs.values())
    items = [
        (
            "Conventions évaluées",
            fr.integer(len(convs)),
            f"{len(dispositifs(results))} dispositif(s)",
        ),
        ("Montant conventionné", _money(sums["amount_eur"]), "somme des conventions"),
        (
            "Acquis",
            _money(sums["earned_eur"]),
            f"{_pct(float(sums['earned_eur'] / sums['amount_eur']))} du montant"
            if sums["amount_eur"]
            else "",
        ),
        ("Déjà versé", _money(sums["paid_eur"]), "avances et acomptes"),
        ("Solde", _money(sums["solde_eur"]), "acquis − déjà versé"),
        (
            "À reverser",
            _money(sum(negatives, Decimal(0))),
            f"{len(negatives)} convention(s) en solde négatif",
        ),
        ("Lignes écartées", fr.integer(rejected), f"sur {fr.integer(read)} lignes lues"),
    ]
    if comparison is not None:
        delta = sum(
            (eur(r.get("delta_eur")) for r in comparison.get("conventions", [])), Decimal(0)
        )
        items.append(("Écart de la variante", _money(delta), "variante − référence (acquis)"))
    else:
        items.append(
            (
                "Paramètres modifiés",
                fr.integer(len(results.get("run", {}).get("overrides") or {})),
                "par rapport aux règles publiées",
            )
        )
    return f'<section id="chiffres"><h2>Chiffres clés</h2>{_cards(items)}</section>'


def _money_cells(values: Mapping[str, Decimal]) -> str:
    return "".join(
        f'<td class="m{" solde" if k == "solde_eur" else ""}">{_e(_money(values[k]))}</td>'
        for k in ("amount_eur", "earned_eur", "paid_eur", "solde_eur")
    )


def _conventions_table(results: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]],
                       shown: Sequence[Mapping[str, Any]] | None = None) -> str:
    head = (
        "Convention",
        "Structure",
        "Territoire",
        "Dispositif",
        "Ligne",
        "Statut",
        "Score quanti.",
        "Score quali.",
        "Montant",
        "Acquis",
        "Déjà versé",
        "Solde",
    )
    numeric = {"Score quanti.", "Score quali.", "Montant", "Acquis", "Déjà versé", "Solde"}
    thead = "".join(f'<th class="{"n" if h in numeric else ""}">{_e(h)}</th>' for h in head)
    rows = []
    every = results.get("conventions", [])
    listed = every if shown is None else shown
    for c in listed:
        money = {k: eur(c.get(k)) for k in ("amount_eur", "earned_eur", "paid_eur", "solde_eur")}
        neg = " neg" if money["solde_eur"] < 0 else ""
        funding = code_label(params, "funding", c.get("funding"))
        flags = _flags(c)
        rows.append(
            f'<tr class="{"main" if flags else ""}{neg}"><td class="id">'
            f"<strong>{_e(c.get('convention_id'))}</strong></td>"
            f"<td>{_e(c.get('structure'))}</td><td>{_e(c.get('territory'))}</td>"
            f"<td>{_e(code_label(params, 'dispositifs', c.get('dispositif')))}<br><small>{_e(funding)}</small></td>"
            f'<td class="id">{_e(budget_line_of(c))}</td>'
            f'<td>{_e(status_of(c, params))}</td>'
            f'<td class="n">{_e(_pct(c.get("quantitative_score")))}</td>'
            f'<td class="n">{_e(_pct(c.get("qualitative_score")))}</td>'
            f"{_money_cells(money)}</tr>"
        )
        if flags:
            rows.append(f'<tr class="sub{neg}"><td colspan="12">{flags}</td></tr>')
    foot = []
    for line, sums in budget_line_totals(results):
        foot.append(f'<tr><td colspan="8">Total ligne {_e(line)}</td>{_money_cells(sums)}</tr>')
    foot.append(
        '<tr><td colspan="8">Total général</td>'
        f"{_money_cells(totals(results.get('conventions', [])))}"
        "</tr>"
    )
    title = "Conventions"
    rest = ""
    if len(listed) < len(every):
        title = f"Les {len(listed)} conventions aux soldes les plus élevés (en valeur absolue)"
        rest = (f'<p class="muted">Les {fr.integer(len(every) - len(listed))} autres conventions sont dans '
                "report.xlsx (feuille « Synthèse », une ligne par convention) et results.json ; "
                "les totaux ci-dessous portent sur toutes les conventions.</p>")
    return (
        f'<section id="conventions"><h2>{_e(title)}</h2>{rest}'
        f'<div class="wide"><table><thead><tr>{thead}</tr></thead><tbody>{"".join(rows)}</tbody>'
        f"<tfoot>{''.join(foot)}</tfoot></table></div>"
        '<p class="muted">Montants exacts arrondis une fois au centime ; '
        "les totaux sont leur somme exacte. "
        "Identifiants pseudonymes.</p></section>"
    )


def _money_section(results: Mapping[str, Any]) -> str:
    convs = results.get("conventions", [])
    if not convs:
        return ""
    valorisation = [c for c in convs
                    if not any(eur(c.get(k)) for k in ("amount_eur", "earned_eur", "paid_eur"))]
    note = (f'<p class="muted">Hors graphique : {len(valorisation)} ligne(s) de valorisation à 0 € ('
            + ", ".join(_e(c.get("convention_id")) for c in valorisation) + ").</p>") if valorisation else ""
    return (
        '<section id="montants"><h2>Acquis au regard du montant conventionné, par convention</h2>'
        f'<figure class="chart">{_money_chart(convs)}</figure>{note}</section>'
    )


def _costs_section(results: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]]) -> str:
    """Cost-based conventions (Pas-de-Calais Actif): the arithmetic from declared costs to euros."""
    convs = [c for c in results.get("conventions", []) if c.get("costs")]
    if not convs:
        return ""
    blocks = []
    for c in convs:
        k = c["costs"]
        share_src = cite(params.get(f"{c.get('dispositif')}.{k.get('share_parameter')}"))
        ineligible = "".join(f"<li>{_e(s)}</li>" for s in k.get("ineligible_staff") or [])
        blocks.append(
            f"<div class=\"costblock\"><h3>{_e(c.get('convention_id'))} — {_e(c.get('structure'))}</h3>"
            "<div class=\"wide\"><table><tbody>"
            "<tr><th>Dépenses de personnel déclarées</th>"
            f"<td class=\"m\">{_money(k.get('declared_personnel_eur'))}</td>"
            f"<td>{_e(k.get('staff_eligible'))} personne(s) éligible(s), "
            f"{_e(k.get('staff_ineligible'))} exclue(s)</td></tr>"
            "<tr><th>Dépenses de personnel éligibles</th>"
            f"<td class=\"m\">{_money(k.get('eligible_personnel_eur'))}</td>"
            f"<td>taux d'affectation au moins égal au minimum</td></tr>"
            f"<tr><th>+ forfait autres dépenses ({_pct(k.get('flat_rate'), 0)})</th>"
            f"<td class=\"m\">{_money(k.get('eligible_total_eur'))}</td><td>total éligible</td></tr>"
            f"<tr><th>× part du Département ({_pct(k.get('share'), 0)})</th>"
            f"<td class=\"m\">{_money(k.get('due_eur'))}</td>"
            f"<td>{_e(share_src)}</td></tr>"
            f"<tr><th>Acquis (plafonné au montant {_money(c.get('amount_eur'))})</th>"
            f"<td class=\"m\">{_money(c.get('earned_eur'))}</td>"
            f"<td>{'plafonné' if k.get('capped_at_amount') else 'sous le plafond'}</td></tr>"
            f"<tr><th>− déjà versé</th><td class=\"m\">{_money(c.get('paid_eur'))}</td><td></td></tr>"
            f"<tr><th>Solde</th><td class=\"m\">{_money(c.get('solde_eur'))}</td><td></td></tr>"
            "</tbody></table></div>"
            + (f"<p>Personnels exclus :</p><ul>{ineligible}</ul>" if ineligible else "")
            + "</div>"
        )
    return ('<section id="couts"><h2>Financement sur coûts déclarés</h2>'
            "<p>Montant acquis = min(montant, part × dépenses de personnel éligibles × (1 + forfait)), "
            "arrondi une fois au centime.</p>" + "".join(blocks) + "</section>")


def _ind_cell(ind: Mapping[str, Any] | None) -> str:
    if ind is None:
        return '<td class="n muted">—</td>'
    rate = (ind.get("kind") or ("rate" if "numerator" in ind else "volume")) == "rate"
    if not ind.get("evaluable"):
        main = "non évaluable"
    else:
        main = _pct(ind.get("value")) if rate else fr.number(ind.get("value"), 2)
    detail = (
        f"{ind.get('numerator')}/{ind.get('denominator')}"
        if rate
        else f"cible {fr.number(ind.get('target'), 2)}"
    )
    if ind.get("score") is not None:
        detail += f" · note {_pct(ind.get('score'), 0)}"
    return f'<td class="n">{_e(main)}<br><small>{_e(detail)}</small></td>'


def _param_lines(src: Mapping[str, Any]) -> str:
    items = []
    for p in src["parameters"]:
        name = str(p.get("path", "")).rsplit(".", 1)[-1]
        name = {"target": "cible", "floor": "plancher", "weight": "poids"}.get(name, name)
        value = str(p.get("value_fr") or p.get("value") or "")
        citation = cite(p)
        items.append(
            f"<li>{_e(name)} = {_e(value)} {_e(p.get('unit') or '')}"
            + (f' — <span title="{_e(citation)}">{_e(p.get("ref"))}</span>' if citation else "")
            + ("" if not p.get("edited") else " <strong>(modifié)</strong>")
            + "</li>"
        )
    return f'<ul class="params">{"".join(items)}</ul>' if items else ""


def _dispositif_section(
    results: Mapping[str, Any], dispositif: str, params: Mapping[str, Mapping[str, Any]],
    shown: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    convs = [c for c in results.get("conventions", []) if c.get("dispositif") == dispositif]
    listed = convs if shown is None else [c for c in shown if c.get("dispositif") == dispositif]
    scaled = shown is not None
    ids = indicator_ids(results, dispositif)
    sources = {i: indicator_source(params, dispositif, i) for i in ids}
    head = "".join(
        f'<th class="n">{_e(sources[i]["label"])}<br>'
        f"<small>{_e((sources[i]['source'] or {}).get('ref') or i)}"
        "</small></th>"
        for i in ids
    )
    rows = "".join(
        f"<tr><td><strong>{_e(c.get('convention_id'))}</strong><br><small>{_e(c.get('structure'))}</small></td>"
        + "".join(_ind_cell(c.get("indicators", {}).get(i)) for i in ids)
        + "</tr>"
        for c in listed
    )
    blocks = []
    for i in ids:
        src = sources[i]
        own = src["source"] or {}
        quote = own.get("quote") or ""
        kind = own.get("value") or ""
        ref = own.get("ref") or ""
        doc = own.get("document_title") or own.get("document") or ""
        interpretation = " (interprétation)" if own.get("interpretation") else ""
        citation = (
            f'<blockquote class="cite">« {_e(fr.quote_text(quote))} »</blockquote>'
            if quote
            else f'<p class="cite">{_e(src["citation"])}</p>'
        )
        blocks.append(
            f'<div class="indicator" id="ind-{_e(dispositif)}-{_e(i)}"><div>'
            f'<h4>{_e(src["label"])}</h4><div class="muted"><code>{_e(i)}</code>'
            + (f" · {_e(kind)}" if kind else "")
            + "</div>"
            + citation
            + (
                f'<div class="cite muted">Source : {_e(doc)} {_e(ref)}{_e(interpretation)}</div>'
                if doc or ref
                else ""
            )
            + f"{_param_lines(src)}</div>"
            + f'<figure class="chart">{_histogram(convs, i) if scaled else _indicator_chart(convs, i)}</figure></div>'
        )
    title = dispositif_label(params, dispositif)
    return (
        f'<section id="dispositif-{_e(dispositif)}"><h2>Indicateurs — {_e(title)}</h2>'
        f'<p class="muted">Dispositif <code>{_e(dispositif)}</code> ; chaque indicateur '
        "avec le texte dont il vient, sa cible et son plancher. "
        + ("Graphiques : nombre de conventions par tranche de valeur de l'indicateur.</p>" if scaled else
           "Barres : vert = cible atteinte, "
           "orange = entre plancher et cible, "
           "rouge = au plancher ou en dessous, bleu = évaluable mais non noté (rapporté), "
           "gris = non évaluable.</p>")
        + (f'<p class="muted">{len(listed)} conventions sur {fr.integer(len(convs))} dans le tableau '
           "(les soldes les plus élevés) ; les graphiques répartissent toutes les conventions par valeur ; "
           "le détail complet est dans report.xlsx.</p>" if len(listed) < len(convs) else "")
        + f'<div class="wide"><table><thead><tr><th>Convention</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
        f"{''.join(blocks)}</section>"
    )


def _decisions_section(results: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]]) -> str:
    fired: dict[str, int] = {}
    for c in results.get("conventions", []):
        for rule in c.get("decisions", []):
            fired[rule] = fired.get(rule, 0) + 1
    if not fired:
        return ""
    rows = "".join(
        f"<tr><td>{_e(code_label(params, 'decisions', rule))}<br><small><code>{_e(rule)}</code></small></td>"
        f"<td>{_e((params.get(f'decisions.{rule}') or {}).get('description'))}"
        f'</td><td class="n">{n}</td><td>{_e(cite(params.get(f"decisions.{rule}")))}</td></tr>'
        for rule, n in fired.items()
    )
    return (
        '<section id="decisions"><h2>Règles de décision appliquées</h2><div class="wide"><table><thead><tr>'
        '<th>Règle</th><th>Effet</th><th class="n">Conventions</th><th>Source</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div></section>"
    )


def _comparison_section(
    results: Mapping[str, Any],
    comparison: Mapping[str, Any],
    variant: Mapping[str, Any] | None,
    params: Mapping[str, Mapping[str, Any]],
) -> str:
    about = {
        c["convention_id"]: c
        for c in [*(variant or {}).get("conventions", []), *results.get("conventions", [])]
    }
    overrides = "".join(
        f"<li><code>{_e(path)}</code> = <strong>{_e(value)}</strong>"
        + (f" — {_e((params.get(path) or {}).get('description'))}" if params.get(path) else "")
        + (
            f" <small>(en vigueur : {_e((params.get(path) or {}).get('value'))})</small>"
            if params.get(path) and not params[path].get("edited")
            else ""
        )
        + "</li>"
        for path, value in (comparison.get("overrides") or {}).items()
    )
    rows_data = list(comparison.get("conventions", []))
    var_by_id = {c["convention_id"]: c for c in (variant or {}).get("conventions", [])}
    rows = []
    by_structure: dict[str, Decimal] = {}
    for r in rows_data:
        cid = r.get("convention_id")
        delta = eur(r.get("delta_eur"))
        structure = str(about.get(cid, {}).get("structure") or cid)
        by_structure[structure] = by_structure.get(structure, Decimal(0)) + delta
        v = var_by_id.get(cid, {})
        cls = ' class="neg"' if delta < 0 else ""
        rows.append(
            f"<tr{cls}><td><strong>{_e(cid)}</strong></td><td>{_e(structure)}</td>"
            f'<td class="m">{_e(_money(r.get("baseline_earned_eur")))}</td>'
            f'<td class="m">{_e(_money(r.get("variant_earned_eur")))}</td>'
            f'<td class="m">{_e(_money(delta))}</td>'
            f'<td class="n">{_e(_pct(v.get("qualitative_score")) if v else "—")}</td>'
            f'<td class="n">{_e(_pct(v.get("quantitative_score")) if v else "—")}</td></tr>'
        )
    sums = {
        k: sum((eur(r.get(k)) for r in rows_data), Decimal(0))
        for k in ("baseline_earned_eur", "variant_earned_eur", "delta_eur")
    }
    foot = (
        '<tr><td colspan="2">Total</td>'
        f'<td class="m">{_e(_money(sums["baseline_earned_eur"]))}</td>'
        f'<td class="m">{_e(_money(sums["variant_earned_eur"]))}</td>'
        f'<td class="m">{_e(_money(sums["delta_eur"]))}</td><td></td><td></td></tr>'
    )
    lines = []
    for line in comparison.get("by_budget_line", []):
        available = line.get("available_eur")
        delta = eur(line.get("delta_eur"))
        share = (
            _pct(float(delta / eur(available)), 2)
            if available not in (None, "") and eur(available)
            else "—"
        )
        after = _money(line.get("remaining_eur")) if line.get("remaining_eur") not in (None, "") else "—"
        lines.append(
            f"<tr><td>{_e(line.get('budget_line') or '(sans ligne)')}</td>"
            f'<td class="m">{_e(_money(line.get("baseline_earned_eur")))}</td>'
            f'<td class="m">{_e(_money(line.get("variant_earned_eur")))}</td>'
            f'<td class="m">{_e(_money(delta))}</td>'
            f'<td class="m">{_e(_money(available) if available not in (None, "") else "—")}</td>'
            f'<td class="m">{_e(after)}</td><td class="n">{_e(share)}</td></tr>'
        )
    gain = [(s, d) for s, d in sorted(by_structure.items(), key=lambda it: -it[1]) if d > 0]
    loss = [(s, d) for s, d in sorted(by_structure.items(), key=lambda it: it[1]) if d < 0]

    def listing(items: list[tuple[str, Decimal]]) -> str:
        if not items:
            return '<p class="muted">aucune</p>'
        return "<ul>" + "".join(f"<li>{_e(s)} : {_e(_money(d))}</li>" for s, d in items) + "</ul>"

    return (
        '<section id="variante"><h2>Variante (« et si ? ») : comparaison avec la référence</h2>'
        f"<p>Paramètres modifiés :</p><ul>{overrides or '<li>aucun</li>'}</ul>"
        f'<figure class="chart">{_delta_chart(rows_data, about)}</figure>'
        '<h3>Par convention</h3><div class="wide"><table><thead><tr><th>Convention</th><th>Structure</th>'
        + _th_n(
            "Acquis (référence)",
            "Acquis (variante)",
            "Écart",
            "Score quali. (variante)",
            "Score quanti. (variante)",
        )
        + "</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody><tfoot>{foot}</tfoot></table></div>"
        '<h3>Par ligne budgétaire, au regard du disponible</h3><div class="wide"><table><thead><tr><th>Ligne</th>'
        + _th_n(
            "Acquis (référence)",
            "Acquis (variante)",
            "Écart",
            "Disponible",
            REMAINING_LABEL,
            "Écart / disponible",
        )
        + "</tr></thead>"
        f"<tbody>{''.join(lines)}</tbody></table></div>"
        f'<p class="muted">{_e(REMAINING_DEFINITION)}</p><p>{_e(gainers_losers(comparison))}</p>'
        f'<div class="cards" style="margin-top:10px">'
        f'<div class="card"><div class="label">Structures qui gagnent</div>{listing(gain)}</div>'
        '<div class="card"><div class="label">Structures qui perdent</div>'
        f"{listing(loss)}</div></div>"
        "</section>"
    )


def _run_section(results: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]]) -> str:
    run = results.get("run", {})
    nature = status_sentence(*run_status(results, params))
    inputs = "".join(
        f'<tr><td>{_e(code_label(params, "tables", name))}</td><td class="n">{_e(fr.integer(c.get("rows")))}</td>'
        f'<td class="n">{_e(fr.integer(c.get("kept")))}</td>'
        f'<td class="n">{_e(fr.integer(c.get("rejected")))}</td></tr>'
        for name, c in (results.get("inputs") or {}).items()
    )
    files = "".join(
        f'<tr><td>{_e(name)}</td><td><code title="{_e(digest)}">'
        f"{_e(str(digest)[:16])}…</code></td></tr>"
        for name, digest in (run.get("inputs_sha256") or {}).items()
    )
    overrides = ", ".join(f"{k} = {v}" for k, v in (run.get("overrides") or {}).items()) or "aucun"
    skipped = "".join(
        f"<li>{_e(s.get('convention_id'))} ({_e(s.get('dispositif'))}) : "
        f"{_e(s.get('reason') or 'pas encore de règles')}</li>"
        for s in results.get("skipped") or []
    )
    return (
        '<section id="execution"><h2>Exécution</h2><table><tbody>'
        f"<tr><th>Date d'évaluation</th><td>{_e(fr.date_fr(run.get('as_of')))}</td></tr>"
        f"<tr><th>Statut</th><td>{_e(nature)}</td></tr>"
        f"<tr><th>Version de parcours</th><td>{_e(run.get('version'))}</td></tr>"
        f"<tr><th>Empreinte des règles</th><td><code>{_e(run.get('rules_sha256'))}</code></td></tr>"
        f"<tr><th>Paramètres modifiés</th><td>{_e(overrides)}</td></tr>"
        f"<tr><th>Source des données</th><td>{_e(run.get('source') or '')}</td></tr>"
        "</tbody></table><h3>Entrées</h3><table><thead><tr><th>Table</th>"
        + _th_n("Lignes lues", "Retenues", "Écartées")
        + f"</tr></thead><tbody>{inputs}</tbody></table>"
        f"<h3>Fichiers lus (SHA-256)</h3><table><tbody>{files}</tbody></table>"
        + (f"<h3>Conventions non évaluées</h3><ul>{skipped}</ul>" if skipped else "")
        + "</section>"
    )


PAGE_CONVENTIONS = 40
"""Conventions drawn one by one (a bar each, a table row each) at most. Beyond (a national
run), the page shows totals per budget line, dispositif, territory and structure, the
conventions most at stake in the tables, and charts aggregated (per budget line, and the
spread of each indicator's values) drawn as plain SVG: no plotly bundle, a page of a few
hundred kilobytes whatever the number of conventions. Every convention stays in report.xlsx."""
BREAKDOWN_ROWS = 30  # rows of a breakdown table (the largest amounts), the rest summed in one row


def _at_stake(convs: Sequence[Mapping[str, Any]], limit: int) -> list[Mapping[str, Any]]:
    """The `limit` conventions with the largest soldes in absolute value, in the run's order."""
    ranked = sorted(range(len(convs)), key=lambda i: (-abs(eur(convs[i].get("solde_eur"))),
                                                      -eur(convs[i].get("amount_eur")), i))
    keep = set(ranked[:limit])
    return [c for i, c in enumerate(convs) if i in keep]


def _breakdowns(results: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]]) -> str:
    """Totals per dispositif, territory and structure (exact sums; the largest amounts first)."""
    convs = results.get("conventions", [])
    money_head = "".join(f'<th class="n">{h}</th>' for h in ("Montant", "Acquis", "Déjà versé", "Solde"))
    tables = []
    for title, key in (("Par dispositif", "dispositif"), ("Par territoire", "territory"),
                       ("Par structure", "structure")):
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for c in convs:
            groups.setdefault(str(c.get(key) or "—"), []).append(c)
        sums = sorted(((name, len(group), totals(group)) for name, group in groups.items()),
                      key=lambda t: (-t[2]["amount_eur"], t[0]))
        rows = []
        for name, n, money in sums[:BREAKDOWN_ROWS]:
            label = code_label(params, "dispositifs", name) if key == "dispositif" else name
            rows.append(f'<tr><td>{_e(label)}</td><td class="n">{fr.integer(n)}</td>{_money_cells(money)}</tr>')
        if len(sums) > BREAKDOWN_ROWS:
            others = [c for name, _, _ in sums[BREAKDOWN_ROWS:] for c in groups[name]]
            rows.append(f'<tr><td>{fr.integer(len(sums) - BREAKDOWN_ROWS)} autres</td>'
                        f'<td class="n">{fr.integer(len(others))}</td>{_money_cells(totals(others))}</tr>')
        tables.append(
            f"<h3>{_e(title)} ({fr.integer(len(sums))})</h3>"
            f'<div class="wide"><table><thead><tr><th>{_e(title[4:].capitalize())}</th>'
            f'<th class="n">Conventions</th>{money_head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            f'<tfoot><tr><td>Total</td><td class="n">{fr.integer(len(convs))}</td>'
            f"{_money_cells(totals(convs))}</tr></tfoot></table></div>"
        )
    return ('<section id="repartition"><h2>Répartition des montants</h2>'
            f'<p class="muted">{fr.integer(len(convs))} conventions ; tableaux classés par montant '
            f"conventionné ({BREAKDOWN_ROWS} lignes au plus, les autres additionnées).</p>"
            + "".join(tables) + "</section>")


def _svg_bars(groups: Sequence[str], series: Sequence[tuple[str, str, Sequence[float]]],
              *, money: bool, height: int = 300, marks: Sequence[tuple[float, str]] = ()) -> str:
    """Grouped vertical bars as inline SVG (no script): one group per label, one bar per series."""
    width, left, bottom, top = PAGE_WIDTH - 40, 90, 60, 30
    peak = max([v for _, _, values in series for v in values] + [m for m, _ in marks] + [0.0]) or 1.0
    plot_w, plot_h = width - left - 10, height - bottom - top
    slot = plot_w / max(len(groups), 1)
    bar = slot * 0.8 / max(len(series), 1)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / (peak * 1.1)

    def tick(v: float) -> str:
        if not money:
            return fr.number(v, 0)
        if peak >= 1e6:
            return f"{fr.number(v / 1e6, 1)}{NBSP}M€"
        return f"{fr.number(v / 1e3, 0)}{NBSP}k€" if peak >= 1e4 else fr.eur(Decimal(round(v)))

    parts = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
             'style="font:11px system-ui, Arial, sans-serif">']
    for k in range(5):
        v = peak * 1.1 * k / 4
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e5e5e5"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{_e(tick(v))}</text>')
    for g, label in enumerate(groups):
        x0 = left + g * slot + slot * 0.1
        for s, (name, color, values) in enumerate(series):
            v = values[g]
            parts.append(f'<rect x="{x0 + s * bar:.1f}" y="{y(v):.1f}" width="{max(bar - 1, 1):.1f}" '
                         f'height="{max(y(0) - y(v), 0):.1f}" fill="{color}"><title>{_e(label)} — {_e(name)} : '
                         f"{_e(tick(v))}</title></rect>")
        parts.append(f'<text x="{left + (g + 0.5) * slot:.1f}" y="{height - bottom + 16}" '
                     f'text-anchor="middle">{_e(label)}</text>')
    for value, name in marks:
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
                     f'stroke="{COLORS["target"]}" stroke-dasharray="4 3"/><text x="{width - 12}" '
                     f'y="{y(value) - 4:.1f}" text-anchor="end">{_e(name)}</text>')
    legend_x = left
    for name, color, _ in series:
        parts.append(f'<rect x="{legend_x}" y="8" width="10" height="10" fill="{color}"/>'
                     f'<text x="{legend_x + 14}" y="17">{_e(name)}</text>')
        legend_x += 14 + 7 * len(name) + 20
    parts.append("</svg>")
    return "".join(parts)


def _money_lines_section(results: Mapping[str, Any]) -> str:
    """Amount, earned and already paid per budget line (a national run: one bar per line)."""
    lines = budget_line_totals(results)
    series = [(name, COLORS[color], [float(sums[key]) for _, sums in lines])
              for key, name, color in (("amount_eur", "Montant conventionné", "amount"),
                                       ("earned_eur", "Acquis", "earned"), ("paid_eur", "Déjà versé", "paid"))]
    chart = _svg_bars([line for line, _ in lines], series, money=True, height=340)
    return ('<section id="montants"><h2>Acquis au regard du montant conventionné, par ligne budgétaire</h2>'
            f'<figure class="chart">{chart}</figure></section>')


def _histogram(convs: Sequence[Mapping[str, Any]], ind_id: str) -> str:
    """How many conventions have each range of the indicator's value, with the target's mark."""
    values, targets, rate = [], [], True
    for c in convs:
        ind = c.get("indicators", {}).get(ind_id)
        if ind is None:
            continue
        rate = (ind.get("kind") or ("rate" if "numerator" in ind else "volume")) == "rate"
        if ind.get("value") is not None:
            values.append(float(ind["value"]))
        if ind.get("target") is not None:
            targets.append(float(ind["target"]))
    if not values:
        return '<p class="muted">Aucune convention évaluable.</p>'
    bins = 10
    high = 1.0 if rate else max(values + targets) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int(v / high * bins), bins - 1) if v > 0 else 0] += 1
    if rate:
        labels = [f"{10 * k}–{10 * (k + 1)} %" for k in range(bins)]
    else:
        labels = [f"{fr.number(high * k / bins, 0)}–{fr.number(high * (k + 1) / bins, 0)}" for k in range(bins)]
    target = statistics.median(targets) if targets else None
    note = ""
    if target is not None:
        below = sum(1 for v in values if v < target)
        shown = _pct(target) if rate else fr.number(target, 2)
        note = (f'<figcaption class="muted">{fr.integer(len(values))} conventions évaluables ; '
                f"{fr.integer(below)} sous la cible (médiane des cibles : {_e(shown)}).</figcaption>")
    chart = _svg_bars(labels, [("Conventions", COLORS["earned"], [float(n) for n in counts])], money=False)
    return chart + note


def _report_sections(results: Mapping[str, Any], index: Mapping[str, Mapping[str, Any]], prefix: str) -> list[str]:
    """One run's report: key figures, conventions, amounts, indicators, costs, decisions, run."""
    _CHART_SCOPE[0] = prefix
    convs = results.get("conventions", [])
    if len(convs) > PAGE_CONVENTIONS:  # a national run: aggregates, the conventions most at stake
        shown = _at_stake(convs, PAGE_CONVENTIONS)
        sections = [
            _headline(results, None),
            _breakdowns(results, index),
            _conventions_table(results, index, shown),
            _money_lines_section(results),
        ]
        sections += [_dispositif_section(results, d, index, shown) for d in dispositifs(results)]
    else:
        sections = [
            _headline(results, None),
            _conventions_table(results, index),
            _money_section(results),
        ]
        sections += [_dispositif_section(results, d, index) for d in dispositifs(results)]
    sections.append(_costs_section(results, index))
    sections.append(_decisions_section(results, index))
    sections.append(_run_section(results, index))
    _CHART_SCOPE[0] = ""
    if prefix:
        sections = [re.sub(r'(<section id=")', rf"\1{prefix}", part, count=1) for part in sections]
    return sections


def _nav(results: Mapping[str, Any], index: Mapping[str, Mapping[str, Any]], prefix: str) -> list[tuple[str, str]]:
    items = [("chiffres", "Chiffres clés")]
    if len(results.get("conventions", [])) > PAGE_CONVENTIONS:
        items.append(("repartition", "Répartition"))
    items += [("conventions", "Conventions"), ("montants", "Montants")]
    items += [(f"dispositif-{d}", f"Indicateurs {code_label(index, 'dispositifs', d)}")
              for d in dispositifs(results)]
    if any(c.get("costs") for c in results.get("conventions", [])):
        items.append(("couts", "Coûts déclarés"))
    items.append(("execution", "Exécution"))
    return [(prefix + a, t) for a, t in items]


def render_html(
    results: Mapping[str, Any],
    *,
    params: Sequence[Mapping[str, Any]],
    comparison: Mapping[str, Any] | None = None,
    variant: Mapping[str, Any] | None = None,
) -> str:
    """Render the whole page as text (see `write_html`)."""
    index = index_params(params)
    run = results.get("run", {})
    shown = variant if comparison is not None and variant is not None else results
    label, n_final, n_projected = run_status(shown, index)
    kind = "mixed" if n_final and n_projected else "projection" if n_projected else ""
    badge = f'<span class="badge {kind}">{_e(status_sentence(label, n_final, n_projected))}</span>'
    if comparison is None:
        sections = _report_sections(results, index, "")
        nav_items = _nav(results, index, "")
    else:
        info = comparison.get("variant") or {}
        name = info.get("name") if info and info.get("name") not in (None, "--set") else None
        variant_title = f"Variante « {name} »" if name else "Variante (--set)"
        sections = [_comparison_section(results, comparison, variant, index)]
        sections.append(f'<h2 class="run" id="rapport-variante">{_e(variant_title)} — rapport complet</h2>')
        sections += _report_sections(variant or results, index, "v-")
        sections.append('<h2 class="run" id="rapport-reference">Référence (règles en vigueur) — rapport complet</h2>')
        sections += _report_sections(results, index, "r-")
        nav_items = [("variante", "Comparaison"), ("rapport-variante", "Rapport de la variante"),
                     ("rapport-reference", "Rapport de la référence")]
    nav = "".join(f'<a href="#{_e(anchor)}">{_e(text)}</a>' for anchor, text in nav_items)
    csp = (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src data: blob:; font-src data:"
    )
    title = (f"parcours — évaluation au {fr.date_fr(run.get('as_of'))}" if comparison is None
             else f"parcours — variante comparée à la référence au {fr.date_fr(run.get('as_of'))}")
    body = "".join(sections)
    plotly = f'<script type="text/javascript">{get_plotlyjs()}</script>' if "Plotly.newPlot" in body else ""
    return (
        '<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style>"
        f"{plotly}</head><body><main>"
        f'<header class="page"><h1>{_e(title)}{badge}</h1>'
        f"<p>Accompagnement des bénéficiaires du RSA — {len(results.get('conventions', []))} "
        f"conventions ; règles {_e(str(run.get('rules_sha256') or '')[:12])} ; "
        f"parcours {_e(run.get('version'))}</p></header>"
        f"<nav>{nav}</nav>{body}"
        "<footer>Rapport produit par parcours à partir des résultats du calcul (results.json). "
        "Identifiants pseudonymes ; aucune donnée personnelle.</footer></main></body></html>\n"
    )


def write_html(
    results: dict[str, Any],
    path: Path,
    *,
    params: list[dict[str, Any]],
    comparison: dict[str, Any] | None = None,
    variant: dict[str, Any] | None = None,
) -> Path:
    """Write `report.html` at `path` from a run's data; return the path.

    Sections: key figures, one row per convention with totals per budget line, earned
    against amount per convention (chart), per dispositif each indicator with its source
    citation, scoring parameters and a chart of its value against its target per
    convention, the decision rules that fired, the what-if comparison (deltas per
    convention, per budget line against what is available, structures gaining or losing)
    and the run manifest.
    """
    from engine.present.writer import write_text

    page = render_html(results, params=params, comparison=comparison, variant=variant)
    return write_text(page, Path(path))
