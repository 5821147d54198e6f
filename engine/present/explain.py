"""Why a convention gets its amount: indicator by indicator, rule by rule, down to the cent.

`explain(run, convention_id)` returns plain data (JSON-ready: strings, numbers, lists) that
a report can reuse; `render_text` lays it out in French for policy staff. Everything comes
from the convention's trace (engine.model.trace), recorded while the run computed: for each
indicator, the parameters its computation read (value in force and since when, as read;
unit, description and source from the rules), the fraction, the score step (raw score and
clamp) or the target's rule, the weight, and the pseudonymous units that fell short
(capped); then the decision rules that fired with the facts they matched, and each money
step from scores (or declared costs) to euros. Nothing is recomputed here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import polars as pl

from engine.model.errors import ParcoursError
from engine.model.format import cite, date_fr, eur, integer, number, percent, show
from engine.model.money import euros, fraction_text, to_cents
from engine.model.results import ConventionResult, IndicatorResult, RunResult
from engine.model.rulebook import RuleBook
from engine.model.text import closest
from engine.model.trace import DecisionStep, MoneyStep, ParamRead

__all__ = ["MAX_UNITS", "UnknownConvention", "cite", "explain", "find_convention", "number", "render_text"]

MAX_UNITS = 20
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

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
    "kind": "type de contrat",
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
    "phases": "phases",
    "development_start": "début du développement",
    "development_end": "fin du développement",
    "development_months": "mois de développement",
    "cessation_start": "début de la cessation",
    "cessation_end": "fin de la cessation",
    "cessation_months": "mois de cessation",
    "operation_start": "début de l'opération",
    "operation_end": "fin de l'opération",
    "operation_months": "mois d'opération",
    "active_start": "début d'activité",
    "active_end": "fin d'activité",
    "first_entry_date": "première entrée",
    "entries_in_window": "entrées dans la fenêtre",
    "numerator": "conformes",
    "denominator": "sur",
}
_HIDDEN = ("convention_id", "compliant")

#: The boolean columns of the units frames are criteria (true = met). A unit that missed is
#: shown with the criteria it did not meet, in these words; the criteria it met are not listed.
CRITERION_LABELS: dict[str, str] = {
    "exited_by_mark": "sortie au plus tard au repère des 12 mois",
    "dynamic_exit": "motif de sortie dynamique",
    "within_duration": "phase dans la durée prévue",
    "enough_interviews": "nombre d'entretiens",
    "development_ok": "durée maximale du développement",
    "cessation_ok": "durée maximale de la cessation",
    "operation_ok": "durée maximale de l'opération",
}

#: Figures a decision rule can set, in French, with the agreement of « fixé ».
ACTION_TEXT = {
    "quantitative_score": "score quantitatif",
    "qualitative_score": "score qualitatif",
    "quantitative_weight": "part quantitative",
    "qualitative_weight": "part qualitative",
}
_FEMININE = ("quantitative_weight", "qualitative_weight")

#: Facts the decision rules match on, in French (`car : …` of a decision).
FACT_LABELS: dict[str, str] = {
    "funding_model": "mode de financement",
    "funding": "type de ligne",
    "final": "évaluation finale",
    "start_up": "démarrage d'action",
    "startup_policy": "option de démarrage",
    "not_evaluable_policy": "option si non évaluable",
    "qualitative_weight": "part qualitative",
    "quantitative_weight": "part quantitative",
    "qualitative_evaluable": "part qualitative évaluable",
    "quantitative_evaluable": "part quantitative évaluable",
    "solde_cents": "solde",
    "earned_cents": "montant acquis",
    "paid_cents": "montant versé",
    "staff_ineligible": "personnels écartés",
    "cost_capped": "part due supérieure au montant retenu",
    "above_places_max": "portefeuille au-delà des places",
    "above_portfolio_max": "portefeuille au-delà du maximum par ETP",
    "episodes_past_max_months_without_exit": "accompagnements au-delà de la durée maximale sans sortie",
    "exits_without_bilan_final": "sorties sans bilan final",
}

#: Convention columns a volume target can come from, in French.
TARGET_COLUMNS: dict[str, str] = {
    "diagnostics_target": "nombre de diagnostics fixé par la convention",
    "participants_target": "nombre de participants fixé par la convention",
}


class UnknownConvention(ParcoursError):
    """The convention asked for is not in the run (the message names the closest id)."""


# --------------------------------------------------------------------------- values


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


def _exact(value: Fraction | Decimal | None) -> dict[str, Any]:
    if isinstance(value, Decimal):
        value = Fraction(value)
    return {"value": None if value is None else float(value), "exact": fraction_text(value)}


def _label(book: RuleBook, value: Any) -> str:
    """A value for a person: a code by its French label (labels.yaml `values:`), else `show`."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        return book.code_label("values", value)
    if isinstance(value, tuple | list) and value and all(isinstance(v, str) for v in value):
        return ", ".join(_label(book, v) for v in value)
    if isinstance(value, str):
        return date_fr(value)
    return show(value)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fx(data: Mapping[str, Any]) -> Fraction | None:
    """Return the exact value of a `{"value", "exact"}` pair."""
    return None if data.get("exact") is None else Fraction(data["exact"])


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




def _param(book: RuleBook, read: ParamRead) -> dict[str, Any]:
    """A parameter as the computation read it (value, since), described by the rules."""
    param = book.params.get(read.path)
    return {
        "path": read.path,
        "description": param.description if param else "",
        "value": _json(read.value),
        "value_text": _label(book, read.value),
        "unit": param.unit if param else "",
        "since": read.since.isoformat() if read.since else None,
        "source": _source(book, param.source if param else None),
        "edited": any(e.path == read.path for e in book.edits),
    }


def _params(book: RuleBook, c: ConventionResult, paths: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    reads = c.trace.parameters
    return [_param(book, reads[p]) for p in dict.fromkeys(paths) if p in reads]


# --------------------------------------------------------------------------- indicators


def _score_text(res: IndicatorResult) -> str:
    """The recorded score step in words."""
    if res.kind == "reported":
        return ""
    if not res.evaluable:
        if res.kind == "rate":
            return "non évaluable (aucune unité dans le champ) : laissé hors de la moyenne"
        return "non évaluable (cible nulle)"
    if res.raw_score is None:
        return ""
    if res.kind == "rate":
        text = (
            f"(valeur {number(res.value)} − plancher {number(res.floor)}) / "
            f"(cible {number(res.target)} − plancher {number(res.floor)}) = {number(res.raw_score)}"
        )
    else:
        text = f"valeur {number(res.value)} / cible {number(res.target)} = {number(res.raw_score)}"
    if res.clamp == "floor":
        text += " → ramené à 0"
    elif res.clamp == "cap":
        text += " → plafonné à 1"
    return text


def _target_text(res: IndicatorResult, c: ConventionResult) -> str:
    """The recorded target rule of a volume indicator in words (the parameter path in brackets)."""
    rule = res.target_rule
    if res.kind != "volume" or not rule:
        return ""
    if rule["base"] == "column":
        name = TARGET_COLUMNS.get(rule["column"], f"colonne {rule['column']} de la convention")
        text = f"{name} : {show(rule['column_value'])}"
    else:
        read = c.trace.parameters.get(rule["parameter"])
        text = (f"{show(read.value if read else rule['per_etp'])} par ETP [{rule['parameter']}]"
                f" × {show(rule['etp'])} ETP")
    if "window_days" in rule:
        text += f" × {rule['window_days']} / {rule['period_days']} jours (fenêtre / période)"
    return f"{text} = {number(res.target)}"


def _unit_line(book: RuleBook, row: Mapping[str, Any], show_ratio: bool) -> str:
    """One unit that missed, in French: its detail columns, codes by their labels.

    Then the criteria (boolean columns) it did not meet; a criterion it met is not listed,
    as it is not why the unit missed.
    """
    parts, unmet = [], []
    for key, value in row.items():
        if key in ("unit", "numerator", "denominator"):
            continue
        if isinstance(value, bool) or key in CRITERION_LABELS:
            if value is False:
                unmet.append(CRITERION_LABELS.get(key, COLUMN_LABELS.get(key, key)))
            continue
        parts.append(f"{COLUMN_LABELS.get(key, key)} : {_label(book, value)}")
    if show_ratio:
        parts.append(f"conformes : {row.get('numerator')}/{row.get('denominator')}")
    if unmet:
        parts.append("non rempli : " + ", ".join(unmet))
    return f"{row.get('unit')} — " + " ; ".join(parts)


def _missed(run: RunResult, c: ConventionResult, ind_id: str, limit: int) -> dict[str, Any]:
    frame = run.units.get((str(c.attrs["dispositif"]), ind_id))
    if frame is None or frame.height == 0:
        return {"total": 0, "shown": [], "more": 0, "lines": []}
    short = frame.filter(
        (pl.col("convention_id") == c.convention_id) & (pl.col("numerator") < pl.col("denominator"))
    ).sort("unit")
    rows = []
    for row in short.head(limit).iter_rows(named=True):
        rows.append({k: _json(v) for k, v in row.items() if k not in _HIDDEN})
    ratio = any((r.get("denominator") or 0) > 1 for r in rows)
    return {"total": short.height, "shown": rows, "more": max(0, short.height - limit),
            "lines": [_unit_line(run.book, r, ratio) for r in rows]}


def _reported_text(res: IndicatorResult, unit: str) -> str:
    if res.value is None:
        return "non évaluable (aucune unité)"
    fraction = f"{res.numerator}/{res.denominator} = " if res.denominator is not None else ""
    if unit == "taux":
        return fraction + percent(res.value)
    if unit == "nombre":
        return fraction + (integer(res.value) if res.value.denominator == 1 else number(res.value, 2))
    return f"{fraction}{number(res.value, 2)} {unit}"


def _indicator(run: RunResult, c: ConventionResult, res: IndicatorResult, limit: int) -> dict[str, Any]:
    book = run.book
    ind = book.indicators[str(c.attrs["dispositif"])][res.id]
    out: dict[str, Any] = {
        "id": res.id,
        "label": ind.label,
        "kind": res.kind,
        "part": res.part,
        "source": _source(book, ind.source),
        "parameters": _params(book, c, res.parameters),
        "evaluable": res.evaluable,
        "numerator": res.numerator,
        "denominator": res.denominator,
        "value": _exact(res.value),
        "target": _exact(res.target),
        "floor": _exact(res.floor),
        "score": _exact(res.score),
        "raw_score": _exact(res.raw_score),
        "clamp": res.clamp,
        "weight": _exact(res.weight),
        "score_text": _score_text(res),
        "target_text": _target_text(res, c),
    }
    if res.kind == "rate":
        out["fraction"] = f"{res.numerator}/{res.denominator}"
        out["missed"] = _missed(run, c, res.id, limit)
    if res.kind == "reported":
        out["unit"] = ind.unit
        out["value_text"] = _reported_text(res, ind.unit)
    return out


# --------------------------------------------------------------------------- money


def _step(c: ConventionResult, step_id: str) -> MoneyStep:
    step = c.trace.money_step(step_id)
    if step is None:  # pragma: no cover - every run records its steps
        raise KeyError(step_id)
    return step


def _cents(value: Fraction | Decimal) -> Decimal:
    return to_cents(Fraction(value))


def _indicator_label(book: RuleBook, c: ConventionResult, ind_id: str) -> str:
    ind = book.indicators.get(str(c.attrs["dispositif"]), {}).get(ind_id)
    return f"« {ind.label} »" if ind else ind_id


def _rule_text(book: RuleBook, rule_id: str) -> str:
    """A decision rule for a person: its French label, its id in brackets (traceability)."""
    return f"« {book.code_label('decisions', rule_id)} » [{rule_id}]"


def _score_lines(book: RuleBook, c: ConventionResult) -> tuple[list[str], dict[str, str]]:
    lines: list[str] = []
    qualitative = c.trace.qualitative
    if qualitative is not None:
        used = [t for t in qualitative.terms if t.evaluable]
        if used:
            terms = " + ".join(f"{number(t.weight)} × {number(t.score)}" for t in used)
            lines.append(f"Score qualitatif = {terms} = {number(qualitative.score)}"
                         + (" (poids renormalisés sur les indicateurs évaluables)" if qualitative.renormalised else ""))
        left_out = [t.indicator for t in qualitative.terms if not t.evaluable]
        if left_out:
            lines.append("Indicateurs non évaluables laissés hors de la moyenne : "
                         + ", ".join(_indicator_label(book, c, i) for i in left_out))
    set_by: dict[str, str] = {}
    for figure in ("qualitative_score", "quantitative_score", "quantitative_weight", "qualitative_weight"):
        step = _step(c, figure)
        if figure == "quantitative_score" and step.inputs.get("indicator"):
            lines.append(f"Score quantitatif ({_indicator_label(book, c, step.inputs['indicator'])})"
                         f" = {number(step.inputs['computed'])}")
        if step.set_by:
            set_by[figure] = step.set_by
            name = ACTION_TEXT[figure]
            verb = "fixée" if figure in _FEMININE else "fixé"
            lines.append(f"{name[0].upper()}{name[1:]} {verb} à {number(step.result)}"
                         f" par la règle {_rule_text(book, step.set_by)}")
    earned = _step(c, "earned")
    i = earned.inputs
    lines.append(
        f"Montant acquis = montant {eur(i['amount'])} × ({number(i['quantitative_weight'])}"
        f" × {number(i['quantitative_score'])} + {number(i['qualitative_weight'])} × {number(i['qualitative_score'])})"
        f" = {number(earned.result['exact'], 6)} € → arrondi au centime : {eur(earned.result['cents'])}"
    )
    amount = _step(c, "amount")
    if amount.inputs["funding"] not in amount.inputs["funded_lines"]:
        lines.append(f"Ligne de {book.code_label('funding', amount.inputs['funding'])} :"
                     " évaluée sur les mêmes indicateurs, montant nul.")
    return lines, set_by


def _cost_lines(book: RuleBook, c: ConventionResult) -> list[str]:
    personnel = _step(c, "eligible_personnel")
    total = _step(c, "eligible_total")
    due = _step(c, "due")
    earned = _step(c, "earned")
    lines = [
        f"Coûts de personnel éligibles : {eur(_cents(personnel.result))}"
        f" ({personnel.inputs['staff_eligible']} salarié(s) retenu(s),"
        f" {personnel.inputs['staff_ineligible']} écarté(s))",
        f"Total éligible = personnel × (1 + forfait {percent(total.inputs['flat_rate'])})"
        f" = {eur(_cents(total.result))}",
        f"{_capital(book.code_label('values', due.inputs['share_parameter']))} :"
        f" {percent(due.inputs['share'])} → {eur(_cents(due.result))}",
    ]
    if earned.result["capped"]:
        lines.append(f"Plafonné au montant conventionné : {eur(earned.inputs['amount'])}")
    if earned.inputs["cap_at_amount"]:
        lines.append(f"Montant acquis = min(montant conventionné {eur(earned.inputs['amount'])}, "
                     f"{eur(_cents(due.result))}) = {eur(earned.result['cents'])}")
    else:
        lines.append(f"Montant acquis = {eur(_cents(due.result))} (sans plafond) = {eur(earned.result['cents'])}")
    return lines


def _money(run: RunResult, c: ConventionResult) -> dict[str, Any]:
    book = run.book
    solde = _step(c, "solde")
    common = {
        "funding": c.attrs.get("funding"),
        "amount_eur": euros(c.amount),
        "earned_exact": fraction_text(c.earned_exact),
        "earned_eur": euros(c.earned),
        "paid_eur": euros(c.paid),
        "solde_eur": euros(c.solde),
        "solde_text": f"{eur(solde.inputs['earned'])} − {eur(solde.inputs['paid'])} = {eur(solde.result)}"
        + (" (somme à reverser)" if solde.result < 0 else ""),
        "steps": [{"id": s.id, "inputs": _json(s.inputs), "result": _json(s.result),
                   "parameters": list(s.parameters), "set_by": s.set_by} for s in c.trace.money],
        "parameters": _params(book, c, [p for s in c.trace.money for p in s.parameters]),
    }
    if c.params.get("funding_model") == "costs":
        return {
            "model": "costs",
            **common,
            "costs": {key: _json(value) for key, value in c.costs.items()},
            "ineligible_staff": list(c.costs.get("ineligible_staff") or []),
            "lines": _cost_lines(book, c),
        }
    lines, set_by = _score_lines(book, c)
    return {
        "model": "scores",
        **common,
        "quantitative_score": _exact(c.quantitative_score),
        "qualitative_score": _exact(c.qualitative_score),
        "quantitative_weight": _exact(c.quantitative_weight),
        "qualitative_weight": _exact(c.qualitative_weight),
        "qualitative_parts": [
            {"id": t.indicator, "weight": _exact(t.weight), "score": _exact(t.score), "evaluable": t.evaluable}
            for t in (c.trace.qualitative.terms if c.trace.qualitative else ())
        ],
        "set_by_decision": set_by,
        "lines": lines,
    }


# --------------------------------------------------------------------------- explain


def _signal(book: RuleBook, code: str, warning: bool) -> str:
    """A flag or warning by its French label (decisions.yaml `labels:`)."""
    label = book.flag_labels.get(code, code)
    if warning:
        return label if label.startswith("alerte") else f"alerte « {label} »"
    return f"signalement « {label} »"


def _action_texts(book: RuleBook, step: DecisionStep) -> list[str]:
    texts = [_signal(book, code, False) for code in step.flags]
    texts += [_signal(book, code, True) for code in step.warnings]
    for figure, value in step.sets.items():
        verb = "fixée" if figure in _FEMININE else "fixé"
        texts.append(f"{ACTION_TEXT.get(figure, figure)} {verb} à {_label(book, value)}")
    return texts


def _fact_text(book: RuleBook, name: str, value: Any) -> str:
    """A fact a decision matched, in French: `évaluation finale = non`, `solde = −1 000,00 €`."""
    if name.endswith("_cents") and isinstance(value, int) and not isinstance(value, bool):
        shown = eur(Fraction(value, 100))
    elif name == "funding":
        shown = book.code_label("funding", value)
    else:
        shown = _label(book, value)
    return f"{FACT_LABELS.get(name, name)} = {shown}"


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
        close = closest(convention_id, ids, cutoff=0.5)
        hint = f" Vouliez-vous dire « {close} » ?" if close else ""
        raise UnknownConvention(
            f"Convention « {convention_id} » inconnue dans ces extraits ({len(ids)} convention(s)"
            f" évaluée(s)).{hint}"
        ) from None


def explain(run: RunResult, convention_id: str, max_units: int = MAX_UNITS) -> dict[str, Any]:
    """Explain one convention's amount from its trace, as JSON-ready data (see the module docstring)."""
    c = find_convention(run, convention_id)
    book = run.book
    dispositif = str(c.attrs["dispositif"])
    rules = {r.id: r for r in book.decisions}
    decisions = []
    for step in c.trace.decisions:
        rule = rules.get(step.rule)
        decisions.append({
            "id": step.rule,
            "label": book.code_label("decisions", step.rule),
            "stage": step.stage,
            "description": rule.description if rule else "",
            "source": _source(book, rule.source if rule else None),
            "matched": _json(step.matched),
            "matched_text": [_fact_text(book, k, v) for k, v in step.matched.items()],
            "actions": _action_texts(book, step),
        })
    a = c.attrs
    return {
        "as_of": run.as_of.isoformat(),
        "rules_sha256": book.sha256,
        "overrides": {e.path: _json(e.value) for e in book.edits},
        "overrides_text": [f"{e.path} = {_label(book, e.value)}" for e in book.edits],
        "convention": {
            "convention_id": c.convention_id,
            "structure": a.get("structure"),
            "territory": a.get("territory"),
            "dispositif": dispositif,
            "dispositif_label": book.labels.get(dispositif, dispositif),
            "funding": a.get("funding"),
            "funding_label": book.code_label("funding", a.get("funding")),
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
        "signals_text": [book.flag_labels.get(code, code) for code in (*c.flags, *c.warnings)],
        "money": _money(run, c),
    }


# --------------------------------------------------------------------------- text

def _with_unit(param: Mapping[str, Any]) -> str:
    """A parameter's value and unit; codes and options are shown by their labels, without a unit."""
    value = param["value"]
    if isinstance(value, str | list | bool) or not param["unit"]:
        return str(param["value_text"])
    return f"{param['value_text']} {param['unit']}"


def render_text(data: Mapping[str, Any]) -> str:
    """Lay the explanation out in French, as plain text (indicators, decisions, money)."""
    c = data["convention"]
    out: list[str] = []
    kind = "finale (solde)" if c["final"] else "intermédiaire (projection)"
    out.append(f"Convention {c['convention_id']} — {c['structure']}, {c['territory']}")
    out.append(
        f"Dispositif : {c['dispositif_label']} ; type de ligne : {_capital(c['funding_label'])}"
        + (" ; démarrage d'action" if c["start_up"] else "")
    )
    out.append(
        f"Évaluation {kind} au {date_fr(data['as_of'])} : fenêtre du {date_fr(c['window_start'])}"
        f" au {date_fr(c['eval_end'])}"
        f" (période {date_fr(c['period_start'])} – {date_fr(c['period_end'])})"
    )
    if data["overrides"]:
        out.append("Règles modifiées pour ce calcul : " + ", ".join(data["overrides_text"]))
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
                out.append(f"     - {p['description']} : {_with_unit(p)}{edited} [{p['path']}]")
                out.append(f"       {cite(p['source'])}")
        if ind["kind"] == "rate":
            value = _fx(ind["value"])
            shown = percent(value) if value is not None else "non évaluable"
            out.append(f"   Résultat : {ind['fraction']} = {shown}")
        elif ind["kind"] == "reported":
            out.append(f"   Valeur : {ind['value_text']}")
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
            for line in missed["lines"]:
                out.append(f"     - {line}")
            if missed["more"]:
                out.append(f"     … et {missed['more']} autre(s)")
        out.append("")
    out.append("DÉCISIONS APPLIQUÉES")
    if not data["decisions"]:
        out.append("  aucune")
    for d in data["decisions"]:
        out.append(f"  - {_capital(d['label'])} [{d['id']}] : {d['description']}")
        if d["matched_text"]:
            out.append("    car : " + " ; ".join(d["matched_text"]))
        if d["actions"]:
            out.append(f"    effet : {', '.join(d['actions'])}")
        out.append(f"    source : {cite(d['source'])}")
    out.append("")
    m = data["money"]
    out.append("DU SCORE AU MONTANT" if m["model"] == "scores" else "DES COÛTS DÉCLARÉS AU MONTANT")
    for line in m["lines"]:
        out.append(f"  {line}")
    for p in m["parameters"]:
        out.append(f"  ({p['description']} : {_with_unit(p)} [{p['path']}] — {cite(p['source'])})")
    if m["model"] == "costs" and m.get("ineligible_staff"):
        out.append("  Salariés écartés : " + ", ".join(m["ineligible_staff"]))
    out.append(f"  Solde = acquis − versé = {m['solde_text']}")
    if data["signals_text"]:
        out.append(f"  Signalements : {' ; '.join(data['signals_text'])}")
    return "\n".join(out) + "\n"
