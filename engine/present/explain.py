"""Why a convention gets its amount: indicator by indicator, rule by rule, down to the cent.

`explain(run, convention_id)` returns plain data (JSON-ready: strings, numbers, lists) that
a report can reuse; `render_text` lays it out in French for policy staff. For each
indicator: its label and source citation, the parameters it uses (value in force at the
convention's `eval_end`, unit, source), the fraction, the score and how it follows from
target and floor, the weight, and the pseudonymous units that fell short (capped). Then
the decision rules that fired, and the arithmetic from scores (or declared costs) to euros.

The parameters an indicator uses are read from its code, not listed by hand: the string
constants of the indicator function (and of the helpers it calls in `indicators/`) that
name a parameter of its dispositif, plus the scoring parameters the engine applies
(`scoring.<id>.target|floor|weight`, a volume's `target_parameter`).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
import types
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import polars as pl

from engine.model.errors import ParcoursError, RulesError
from engine.model.money import euros, fraction_text
from engine.model.results import ConventionResult, IndicatorResult, RunResult
from engine.model.rulebook import IndicatorDef, RuleBook

MAX_UNITS = 20

#: French names of the detail columns of the units frames, for the text rendering.
COLUMN_LABELS: dict[str, str] = {
    "unit": "unité",
    "episode_id": "épisode",
    "orientation_date": "orientation",
    "deadline": "échéance",
    "first_appointment_date": "1er rendez-vous",
    "delay_days": "délai (jours)",
    "welcome_phase_end": "fin de la phase d'accueil",
    "first_signed_date": "1er contrat signé",
    "sign_delay_days": "délai de signature (jours)",
    "contracts_signed": "contrats signés",
    "first_start_date": "début du 1er contrat",
    "span_start": "début de la période suivie",
    "span_end": "fin de la période suivie",
    "weeks_in_span": "semaines",
    "weeks_exempt": "semaines dispensées",
    "weeks_missing_rows": "semaines sans relevé",
    "weeks_individual_target": "semaines à objectif individuel",
    "weeks_compliant": "semaines conformes",
    "mark": "repère des 12 mois",
    "exit_date": "sortie",
    "exit_reason": "motif de sortie",
    "exited_by_mark": "sorti au repère",
    "dynamic_exit": "sortie dynamique",
    "kind": "type",
    "signed_date": "signé le",
    "items_missing": "critères manquants",
    "public": "public",
    "request_date": "demande",
    "appointment_date": "rendez-vous",
    "positioning_date": "positionnement",
    "status": "statut",
    "realised_date": "réalisé le",
    "start_date": "début",
    "end_date": "fin",
    "limit_date": "date limite",
    "months_elapsed": "mois écoulés",
    "interviews": "entretiens",
    "within_duration": "dans la durée",
    "enough_interviews": "entretiens suffisants",
    "phase_id": "phase",
    "phase": "type de phase",
    "month": "mois",
    "numerator": "conformes",
    "denominator": "sur",
}
_HIDDEN = ("convention_id", "compliant")

ACTION_TEXT = {
    "quantitative_score": "score quantitatif",
    "qualitative_score": "score qualitatif",
    "quantitative_weight": "part quantitative",
    "qualitative_weight": "part qualitative",
}


class UnknownConvention(ParcoursError):
    """The convention asked for is not in the run (the message names the closest id)."""


# --------------------------------------------------------------------------- formatting


def number(value: Fraction | Decimal | int | float | None, places: int = 4) -> str:
    """Format a number in French (decimal comma), at most `places` decimals, no trailing zeros."""
    if value is None:
        return "—"
    if isinstance(value, Fraction):
        dec = Decimal(value.numerator) / Decimal(value.denominator)
    else:
        dec = Decimal(str(value))
    text = f"{dec.quantize(Decimal(1).scaleb(-places)):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    sign, text = ("−", text[1:]) if text.startswith("-") else ("", text)
    whole, _, frac = text.partition(".")
    if len(whole) > 3:
        whole = f"{int(whole):,}".replace(",", " ")
    return sign + whole + ("," + frac if frac else "")


def percent(value: Fraction | Decimal | str | None, places: int = 2) -> str:
    """Format a ratio as a French percentage (`42,11 %`); a string is an exact fraction `n/d`."""
    if value is None:
        return "—"
    return f"{number(Fraction(value) * 100, places)} %"


def _fx(data: Mapping[str, Any]) -> Fraction | None:
    """Return the exact value of a `{"value", "exact"}` pair."""
    return None if data.get("exact") is None else Fraction(data["exact"])


def eur(value: Decimal | str | None) -> str:
    """Format euros in French: `6 562,50 €`."""
    if value is None:
        return "—"
    amount = Decimal(value).quantize(Decimal("0.01"))
    text = f"{abs(amount):,.2f}".replace(",", " ").replace(".", ",")
    return f"{'−' if amount < 0 else ''}{text} €"


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, tuple | list):
        return ", ".join(_show(v) for v in value) if value else "—"
    if isinstance(value, Decimal | Fraction | float):
        return number(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _json(value: Any) -> Any:
    if isinstance(value, Fraction | Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    return value


def _exact(value: Fraction | None) -> dict[str, Any]:
    return {"value": None if value is None else float(value), "exact": fraction_text(value)}


# --------------------------------------------------------------------------- sources


def _source(book: RuleBook, source: Mapping[str, Any] | None) -> dict[str, Any]:
    source = source or {}
    doc = str(source.get("document") or "")
    entry = book.documents.get(doc) if isinstance(book.documents, Mapping) else None
    title = entry.get("title") if isinstance(entry, Mapping) else None
    return {
        "document": doc,
        "document_title": str(title or doc),
        "ref": str(source.get("ref") or ""),
        "quote": str(source.get("quote") or ""),
        "interpretation": bool(source.get("interpretation")),
    }


def cite(source: Mapping[str, Any]) -> str:
    """Cite a source in one line: `Délibération …, L462 : « … »` (interpretations marked)."""
    text = source.get("document_title") or source.get("document") or ""
    if source.get("ref"):
        text += f", {source['ref']}"
    if source.get("quote"):
        text += f" : « {source['quote']} »"
    if source.get("interpretation"):
        text += " (interprétation)"
    return text


# --------------------------------------------------------------------------- parameters used


def _code_strings(fn: Any, seen: set[int], out: list[str], depth: int = 0) -> None:
    """Collect the string constants of `fn` and of the `indicators` helpers it calls."""
    code = getattr(fn, "__code__", None)
    if code is None or depth > 5:
        return
    glob = getattr(fn, "__globals__", {})
    queue: list[types.CodeType] = [code]
    i = 0
    while i < len(queue):
        co = queue[i]
        i += 1
        if id(co) in seen:
            continue
        seen.add(id(co))
        for const in co.co_consts:
            if isinstance(const, str):
                out.append(const)
            elif isinstance(const, types.CodeType):
                queue.append(const)
        for name in co.co_names:
            target = glob.get(name)
            if inspect.isfunction(target) and str(target.__module__).startswith("indicators"):
                _code_strings(target, seen, out, depth + 1)


def parameters_used(book: RuleBook, ind: IndicatorDef) -> list[str]:
    """Return the dotted paths of the parameters `ind` uses, in the order the code uses them."""
    prefix = f"{ind.dispositif}."
    strings: list[str] = []
    try:
        module = importlib.import_module(f"indicators.{ind.dispositif}")
        fn = getattr(module, ind.id, None)
        if fn is not None:
            _code_strings(fn, set(), strings)
    except ImportError:  # pragma: no cover - evaluate would have failed first
        pass
    paths: list[str] = []
    for name in strings:
        path = prefix + name
        if path in book.params and path not in paths:
            paths.append(path)
    if ind.kind == "volume" and ind.target_parameter:
        path = prefix + ind.target_parameter
        if path in book.params and path not in paths:
            paths.append(path)
    if ind.kind == "rate" and ind.part == "qualitative":
        for leaf in ("target", "floor", "weight"):
            path = f"{prefix}scoring.{ind.id}.{leaf}"
            if path in book.params and path not in paths:
                paths.append(path)
    return paths


def _param(book: RuleBook, path: str, when: date) -> dict[str, Any]:
    param = book.params[path]
    try:
        value = param.at(when)
        since = max(d for d, _ in param.values if d <= when).isoformat()
    except RulesError:
        value, since = None, None
    return {
        "path": path,
        "description": param.description,
        "value": _json(value),
        "value_text": _show(value),
        "unit": param.unit,
        "since": since,
        "source": _source(book, param.source),
        "edited": any(e.path == path for e in book.edits),
    }


# --------------------------------------------------------------------------- indicators


def _score_text(res: IndicatorResult, c: ConventionResult, ind: IndicatorDef) -> str:
    if not res.evaluable:
        if res.kind == "rate":
            return "non évaluable (aucune unité dans le champ) : laissé hors de la moyenne"
        return "non évaluable (cible nulle)"
    if (
        res.kind == "rate"
        and res.target is not None
        and res.floor is not None
        and res.value is not None
    ):
        raw = (res.value - res.floor) / (res.target - res.floor)
        text = (
            f"(valeur {number(res.value)} − plancher {number(res.floor)}) / "
            f"(cible {number(res.target)} − plancher {number(res.floor)}) = {number(raw)}"
        )
        if raw < 0:
            text += " → ramené à 0"
        elif raw > 1:
            text += " → plafonné à 1"
        return text
    if res.kind == "volume" and res.target is not None and res.value is not None:
        raw = res.value / res.target
        text = f"valeur {number(res.value)} / cible {number(res.target)} = {number(raw)}"
        if raw > 1:
            text += " → plafonné à 1"
        return text
    return ""


def _target_text(
    res: IndicatorResult, c: ConventionResult, ind: IndicatorDef, book: RuleBook
) -> str:
    if res.kind != "volume":
        return ""
    a = c.attrs
    own = a.get(ind.target_column) if ind.target_column else None
    if own is not None:
        text = f"{ind.target_column} de la convention = {own}"
    else:
        path = f"{ind.dispositif}.{ind.target_parameter}"
        per = c.params.get(ind.target_parameter) if ind.target_parameter else None
        if per is None and path in book.params:
            try:
                per = book.params[path].at(c.eval_end)
            except RulesError:
                per = None
        text = f"{ind.target_parameter} ({_show(per)}) × ETP ({_show(a.get('etp'))})"
    if ind.prorate:
        window_days = max(0, (c.eval_end - c.window_start).days + 1)
        period_days = (a["period_end"] - a["period_start"]).days + 1
        text += f" × {window_days} / {period_days} jours (fenêtre / période)"
    return f"{text} = {number(res.target)}"


def _missed(run: RunResult, c: ConventionResult, ind_id: str, limit: int) -> dict[str, Any]:
    frame = run.units.get((str(c.attrs["dispositif"]), ind_id))
    if frame is None or frame.height == 0:
        return {"total": 0, "shown": [], "more": 0}
    short = frame.filter(
        (pl.col("convention_id") == c.convention_id) & (pl.col("numerator") < pl.col("denominator"))
    ).sort("unit")
    rows = []
    for row in short.head(limit).iter_rows(named=True):
        rows.append({k: _json(v) for k, v in row.items() if k not in _HIDDEN})
    return {"total": short.height, "shown": rows, "more": max(0, short.height - limit)}


def _indicator(
    run: RunResult, c: ConventionResult, res: IndicatorResult, limit: int
) -> dict[str, Any]:
    book = run.book
    ind = book.indicators[str(c.attrs["dispositif"])][res.id]
    out: dict[str, Any] = {
        "id": res.id,
        "label": ind.label,
        "kind": res.kind,
        "part": res.part,
        "source": _source(book, ind.source),
        "parameters": [_param(book, p, c.eval_end) for p in parameters_used(book, ind)],
        "evaluable": res.evaluable,
        "numerator": res.numerator,
        "denominator": res.denominator,
        "value": _exact(res.value),
        "target": _exact(res.target),
        "floor": _exact(res.floor),
        "score": _exact(res.score),
        "weight": _exact(res.weight),
        "score_text": _score_text(res, c, ind),
        "target_text": _target_text(res, c, ind, book),
    }
    if res.kind == "rate":
        out["fraction"] = f"{res.numerator}/{res.denominator}"
        out["missed"] = _missed(run, c, res.id, limit)
    return out


# --------------------------------------------------------------------------- money


def _sets(book: RuleBook, fired: list[str]) -> dict[str, str]:
    """Map each adjustable figure to the fired rule that last set it."""
    rules = {r.id: r for r in book.decisions}
    out: dict[str, str] = {}
    for rule_id in fired:
        for action in rules[rule_id].then if rule_id in rules else ():
            if "set" in action:
                out[str(action["set"])] = rule_id
    return out


def _money(run: RunResult, c: ConventionResult) -> dict[str, Any]:
    book = run.book
    dispositif = str(c.attrs["dispositif"])
    common = {
        "funding": c.attrs.get("funding"),
        "amount_eur": euros(c.amount),
        "earned_exact": fraction_text(c.earned_exact),
        "earned_eur": euros(c.earned),
        "paid_eur": euros(c.paid),
        "solde_eur": euros(c.solde),
        "solde_text": f"{eur(c.earned)} − {eur(c.paid)} = {eur(c.solde)}"
        + (" (somme à reverser)" if c.solde < 0 else ""),
    }
    if c.params.get("funding_model") == "costs":
        k = c.costs
        share_path = f"{dispositif}.{k.get('share_parameter')}"
        lines = [
            f"Coûts de personnel éligibles : {eur(_cents(k.get('eligible_personnel')))}"
            f" ({k.get('staff_eligible', 0)} salarié(s) retenu(s),"
            f" {k.get('staff_ineligible', 0)} écarté(s))",
            f"Total éligible = personnel × (1 + forfait {percent(k.get('flat_rate'))})"
            f" = {eur(_cents(k.get('eligible_total')))}",
            f"Part départementale {percent(k.get('share'))} ({k.get('share_parameter')})"
            f" → {eur(_cents(k.get('due')))}",
        ]
        if k.get("capped"):
            lines.append(f"Plafonné au montant conventionné : {eur(c.amount)}")
        lines.append(
            f"Montant acquis = min(montant conventionné {eur(c.amount)}, "
            f"{eur(_cents(k.get('due')))}) = {eur(c.earned)}"
        )
        params = [
            p
            for p in (f"{dispositif}.min_allocation", f"{dispositif}.flat_rate", share_path)
            if p in book.params
        ]
        return {
            "model": "costs",
            **common,
            "costs": {key: _json(value) for key, value in k.items()},
            "ineligible_staff": list(k.get("ineligible_staff") or []),
            "parameters": [_param(book, p, c.eval_end) for p in params],
            "lines": lines,
        }
    set_by = _sets(book, c.decisions)
    quanti = c.quantitative_score if c.quantitative_score is not None else Fraction(0)
    quali = c.qualitative_score if c.qualitative_score is not None else Fraction(0)
    parts: list[dict[str, Any]] = []
    for res in c.indicators.values():
        if res.kind == "rate" and res.part == "qualitative":
            parts.append(
                {
                    "id": res.id,
                    "weight": _exact(res.weight),
                    "score": _exact(res.score),
                    "evaluable": res.evaluable,
                }
            )
    used = [p for p in parts if p["evaluable"]]
    lines = []
    if used:
        terms = " + ".join(f"{number(_fx(p['weight']))} × {number(_fx(p['score']))}" for p in used)
        lines.append(
            f"Score qualitatif = {terms} = {number(_mean(c))}"
            + (
                " (poids renormalisés sur les indicateurs évaluables)"
                if len(used) < len(parts)
                else ""
            )
        )
    left_out = [p["id"] for p in parts if not p["evaluable"]]
    if left_out:
        lines.append(
            "Indicateurs non évaluables laissés hors de la moyenne : " + ", ".join(left_out)
        )
    if "qualitative_score" in set_by:
        lines.append(
            f"Score qualitatif fixé à {number(quali)}"
            f" par la règle « {set_by['qualitative_score']} »"
        )
    volume = next((r for r in c.indicators.values() if r.part == "quantitative"), None)
    if volume is not None:
        lines.append(f"Score quantitatif ({volume.id}) = {number(volume.score)}")
    if "quantitative_score" in set_by:
        lines.append(
            f"Score quantitatif fixé à {number(quanti)}"
            f" par la règle « {set_by['quantitative_score']} »"
        )
    for key in ("quantitative_weight", "qualitative_weight"):
        if key in set_by:
            lines.append(
                f"{ACTION_TEXT[key].capitalize()} fixée à {number(getattr(c, key))}"
                f" par la règle « {set_by[key]} »"
            )
    exact_text = number(c.earned_exact, 6)
    lines.append(
        f"Montant acquis = montant {eur(c.amount)} × ({number(c.quantitative_weight)}"
        f" × {number(quanti)} + {number(c.qualitative_weight)} × {number(quali)})"
        f" = {exact_text} € → arrondi au centime :"
        f" {eur(c.earned)}"
    )
    if c.attrs.get("funding") == "valorisation":
        lines.append("Ligne de valorisation : évaluée sur les mêmes indicateurs, montant nul.")
    params = [
        p
        for p in (f"{dispositif}.quantitative_weight", f"{dispositif}.qualitative_weight")
        if p in book.params
    ]
    return {
        "model": "scores",
        **common,
        "quantitative_score": _exact(c.quantitative_score),
        "qualitative_score": _exact(c.qualitative_score),
        "quantitative_weight": _exact(c.quantitative_weight),
        "qualitative_weight": _exact(c.qualitative_weight),
        "qualitative_parts": parts,
        "set_by_decision": set_by,
        "parameters": [_param(book, p, c.eval_end) for p in params],
        "lines": lines,
    }


def _mean(c: ConventionResult) -> Fraction | None:
    scores = [
        (r.weight, r.score)
        for r in c.indicators.values()
        if r.kind == "rate" and r.part == "qualitative" and r.evaluable
    ]
    if not scores:
        return None
    return sum((w * s for w, s in scores if w is not None and s is not None), Fraction(0))


def _cents(value: Any) -> Decimal | None:
    if value is None:
        return None
    from engine.model.money import to_cents

    return to_cents(Fraction(value))


# --------------------------------------------------------------------------- explain


def _action_text(action: Mapping[str, Any]) -> str:
    if "flag" in action:
        return f"signalement « {action['flag']} »"
    if "warn" in action:
        return f"alerte « {action['warn']} »"
    if "set" in action:
        name = ACTION_TEXT.get(str(action["set"]), str(action["set"]))
        return f"{name} fixé(e) à {action.get('value')}"
    return str(action)


def find_convention(run: RunResult, convention_id: str) -> ConventionResult:
    """Return convention `convention_id` of `run`; UnknownConvention names the closest id."""
    try:
        return run.convention(convention_id)
    except KeyError:
        ids = [c.convention_id for c in run.conventions]
        skipped = {cid: (d, reason) for cid, d, reason in run.skipped}
        if convention_id in skipped:
            dispositif, reason = skipped[convention_id]
            raise UnknownConvention(
                f"Convention « {convention_id} » ({dispositif}) non évaluée : {reason}."
            ) from None
        close = difflib.get_close_matches(convention_id, ids, n=1, cutoff=0.5)
        hint = f" Vouliez-vous dire « {close[0]} » ?" if close else ""
        raise UnknownConvention(
            f"Convention « {convention_id} » inconnue dans ces extraits ({len(ids)} convention(s)"
            f" évaluée(s)).{hint}"
        ) from None


def explain(run: RunResult, convention_id: str, max_units: int = MAX_UNITS) -> dict[str, Any]:
    """Explain one convention's amount, as JSON-ready data (see the module docstring)."""
    c = find_convention(run, convention_id)
    book = run.book
    dispositif = str(c.attrs["dispositif"])
    rules = {r.id: r for r in book.decisions}
    decisions = []
    for rule_id in c.decisions:
        rule = rules.get(rule_id)
        decisions.append(
            {
                "id": rule_id,
                "stage": rule.stage if rule else None,
                "description": rule.description if rule else "",
                "source": _source(book, rule.source if rule else None),
                "actions": [_action_text(a) for a in (rule.then if rule else ())],
            }
        )
    a = c.attrs
    return {
        "as_of": run.as_of.isoformat(),
        "rules_sha256": book.sha256,
        "overrides": {e.path: _json(e.value) for e in book.edits},
        "convention": {
            "convention_id": c.convention_id,
            "structure": a.get("structure"),
            "territory": a.get("territory"),
            "dispositif": dispositif,
            "dispositif_label": book.labels.get(dispositif, dispositif),
            "funding": a.get("funding"),
            "budget_line": a.get("budget_line"),
            "etp": _json(a.get("etp")),
            "start_up": bool(a.get("start_up")),
            "period_start": _json(a.get("period_start")),
            "period_end": _json(a.get("period_end")),
            "window_start": c.window_start.isoformat(),
            "eval_end": c.eval_end.isoformat(),
            "final": c.final,
        },
        "indicators": [_indicator(run, c, res, max_units) for res in c.indicators.values()],
        "reported": {k: _json(v) for k, v in c.reported.items()},
        "decisions": decisions,
        "flags": list(c.flags),
        "warnings": list(c.warnings),
        "money": _money(run, c),
    }


# --------------------------------------------------------------------------- text


def _date_fr(iso: str | None) -> str:
    if not iso:
        return "—"
    y, m, d = iso.split("-")
    return f"{d}/{m}/{y}"


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _unit_line(row: Mapping[str, Any], show_ratio: bool) -> str:
    parts = []
    for key, value in row.items():
        if key in ("unit", "numerator", "denominator"):
            continue
        shown = _date_fr(value) if isinstance(value, str) and _ISO_DATE.fullmatch(value) else _show(value)
        parts.append(f"{COLUMN_LABELS.get(key, key)} {shown}")
    if show_ratio:
        parts.append(f"conformes {row.get('numerator')}/{row.get('denominator')}")
    return f"{row.get('unit')} : " + ", ".join(parts)


def render_text(data: Mapping[str, Any]) -> str:
    """Lay the explanation out in French, as plain text (indicators, decisions, money)."""
    c = data["convention"]
    out: list[str] = []
    kind = "finale (solde)" if c["final"] else "intermédiaire (projection)"
    out.append(f"Convention {c['convention_id']} — {c['structure']}, {c['territory']}")
    out.append(
        f"Dispositif : {c['dispositif_label']} ({c['dispositif']}) ; financement : {c['funding']}"
        + (" ; démarrage d'action" if c["start_up"] else "")
    )
    out.append(
        f"Évaluation {kind} au {_date_fr(data['as_of'])} : fenêtre du {_date_fr(c['window_start'])}"
        f" au {_date_fr(c['eval_end'])}"
        f" (période {_date_fr(c['period_start'])} – {_date_fr(c['period_end'])})"
    )
    if data["overrides"]:
        out.append(
            "Règles modifiées pour ce calcul : "
            + ", ".join(f"{k} = {_show(v)}" for k, v in data["overrides"].items())
        )
    out.append("")
    out.append("INDICATEURS")
    for n, ind in enumerate(data["indicators"], 1):
        part = {"qualitative": "part qualitative", "quantitative": "part quantitative"}.get(
            ind["part"], "rapporté, non noté"
        )
        out.append(f"{n}. {ind['label']} [{ind['id']}] — {part}")
        out.append(f"   Source : {cite(ind['source'])}")
        if ind["parameters"]:
            out.append("   Paramètres appliqués :")
            for p in ind["parameters"]:
                edited = " (modifié)" if p["edited"] else ""
                out.append(
                    f"     - {p['description']} : {p['value_text']} {p['unit']}{edited}"
                    f" [{p['path']}]"
                )
                out.append(f"       {cite(p['source'])}")
        if ind["kind"] == "rate":
            value = _fx(ind["value"])
            shown = percent(value) if value is not None else "non évaluable"
            out.append(f"   Résultat : {ind['fraction']} = {shown}")
        else:
            out.append(f"   Résultat : {number(_fx(ind['value']))} ; cible : {ind['target_text']}")
        if ind["part"] in ("qualitative", "quantitative"):
            out.append(
                f"   Score : {ind['score_text']}"
                + (f" ; score retenu {number(_fx(ind['score']))}" if ind["evaluable"] else "")
            )
            if ind["part"] == "qualitative":
                out.append(f"   Poids dans la part qualitative : {number(_fx(ind['weight']))}")
        missed = ind.get("missed")
        if missed and missed["total"]:
            out.append(f"   Unités en défaut ({missed['total']}) :")
            ratio = any((r.get("denominator") or 0) > 1 for r in missed["shown"])
            for row in missed["shown"]:
                out.append(f"     - {_unit_line(row, ratio)}")
            if missed["more"]:
                out.append(f"     … et {missed['more']} autre(s)")
        out.append("")
    out.append("DÉCISIONS APPLIQUÉES")
    if not data["decisions"]:
        out.append("  aucune")
    for d in data["decisions"]:
        out.append(f"  - {d['id']} : {d['description']}")
        if d["actions"]:
            out.append(f"    effet : {', '.join(d['actions'])}")
        out.append(f"    source : {cite(d['source'])}")
    out.append("")
    m = data["money"]
    out.append("DU SCORE AU MONTANT" if m["model"] == "scores" else "DES COÛTS DÉCLARÉS AU MONTANT")
    for line in m["lines"]:
        out.append(f"  {line}")
    for p in m["parameters"]:
        out.append(f"  ({p['path']} = {p['value_text']} — {cite(p['source'])})")
    if m["model"] == "costs" and m.get("ineligible_staff"):
        out.append("  Salariés écartés : " + ", ".join(m["ineligible_staff"]))
    out.append(f"  Solde = acquis − versé = {m['solde_text']}")
    if data["flags"] or data["warnings"]:
        out.append(f"  Signalements : {', '.join(data['flags'] + data['warnings'])}")
    return "\n".join(out) + "\n"
