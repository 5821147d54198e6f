"""What-if runs: the same extracts under the rules in force and under edited rules.

A *variant* is a named set of edits to the rules (OpenFisca's reforms): a YAML file

    name: Premier rendez-vous sous 10 jours
    author: Direction de l'insertion
    purpose: Mesurer l'effet d'un délai ramené de 15 à 10 jours
    changes:
      - {parameter: equilibre.first_appointment_max_days, value: 10, from: 2025-01-01}
      - {decision: startup_neutralise_quantitative, enabled: false}

or `--set PARAM=VALUE` options. The edits make a checked *copy* of the rule book
(`engine.rules.apply_edits`); the book read from `rules/` is never touched. `run_whatif`
evaluates both books on extracts read once and `comparison` lines them up, convention by
convention and budget line by budget line (outputs.md, `comparison.json`). Every euro
figure is a cent-exact Decimal: the deltas add up to the cent by construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from engine.compute.pipeline import evaluate
from engine.load.rules import apply_edits
from engine.load.variants import Variant, edited_book
from engine.model.errors import RulesError
from engine.model.extracts import Extracts
from engine.model.money import euros
from engine.model.results import RunResult
from engine.model.rulebook import Edit, RuleBook

# --------------------------------------------------------------------------- comparison

NO_EFFECT = "modification sans effet sur les montants"
MAX_ISOLATED_EFFECTS = 20
"""Edits whose individual effect is measured (one extra evaluation each); beyond, only the
variant's overall effect is computed and each further edit says so in `comparison.json`."""
NOT_MEASURED = (
    f"effet non mesuré isolément (au-delà de {MAX_ISOLATED_EFFECTS} modifications,"
    " seul l'effet d'ensemble de la variante est calculé)"
)



@dataclass
class EditEffect:
    """What one edit alone does to the money (None when it cannot be applied alone)."""

    edit: Edit
    delta: Decimal | None
    conventions_changed: int | None
    note: str = ""

    @property
    def no_effect(self) -> bool:
        """True when the edit alone changes no convention's earned amount."""
        return self.conventions_changed == 0


@dataclass
class WhatIf:
    """A what-if run: both runs, their comparison and the effect of each edit."""

    baseline: RunResult
    variant: RunResult
    comparison: dict[str, Any]
    effects: list[EditEffect] = field(default_factory=list)
    info: Variant | None = None

    @property
    def no_effect(self) -> bool:
        """True when no convention's earned amount changes."""
        return all(Decimal(r["delta_eur"]) == 0 for r in self.comparison["conventions"])


def _value(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_value(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _available(extracts: Extracts) -> dict[str, Decimal | None]:
    lines = extracts.tables.get("budget_lines")
    if lines is None or lines.height == 0 or "available_eur" not in lines.columns:
        return {}
    return {
        r["budget_line"]: (Decimal(r["available_eur"]) if r["available_eur"] is not None else None)
        for r in lines.select("budget_line", "available_eur").iter_rows(named=True)
    }


def _changed(baseline: RunResult, variant: RunResult) -> tuple[Decimal, int]:
    before = {c.convention_id: c.earned for c in baseline.conventions}
    deltas = [c.earned - before.get(c.convention_id, Decimal(0)) for c in variant.conventions]
    return sum(deltas, Decimal(0)), sum(1 for d in deltas if d != 0)


def compare(
    baseline: RunResult,
    variant: RunResult,
    info: Variant | None = None,
    effects: Sequence[EditEffect] = (),
) -> dict[str, Any]:
    """Build the `comparison.json` document (outputs.md) of two runs on the same extracts.

    `conventions`: baseline / variant earned and delta per convention (plus structure,
    budget line and soldes); `by_budget_line`: the same summed per budget line, with
    `available_eur` from the `budget_lines` table when present and `remaining_eur` =
    available − variant total; `totals` and `providers` (structures whose summed delta is
    positive / negative / zero). Money as strings with two decimals.
    """
    base = {c.convention_id: c for c in baseline.conventions}
    var = {c.convention_id: c for c in variant.conventions}
    ids = list(base) + [cid for cid in var if cid not in base]
    rows: list[dict[str, Any]] = []
    lines: dict[Any, dict[str, Decimal]] = {}
    providers: dict[str, Decimal] = {}
    zero = Decimal("0.00")
    for cid in ids:
        b, v = base.get(cid), var.get(cid)
        about = b or v
        assert about is not None
        b_earned = b.earned if b else zero
        v_earned = v.earned if v else zero
        delta = v_earned - b_earned
        line = about.attrs.get("budget_line")
        rows.append(
            {
                "convention_id": cid,
                "structure": about.attrs.get("structure"),
                "dispositif": about.attrs.get("dispositif"),
                "budget_line": line,
                "baseline_earned_eur": euros(b_earned),
                "variant_earned_eur": euros(v_earned),
                "delta_eur": euros(delta),
                "baseline_solde_eur": euros(b.solde) if b else None,
                "variant_solde_eur": euros(v.solde) if v else None,
            }
        )
        sums = lines.setdefault(line, {"b": zero, "v": zero})
        sums["b"] += b_earned
        sums["v"] += v_earned
        structure = str(about.attrs.get("structure") or cid)
        providers[structure] = providers.get(structure, zero) + delta
    available = _available(baseline.extracts)
    by_line = []
    for line, sums in lines.items():
        avail = available.get(line) if line is not None else None
        by_line.append(
            {
                "budget_line": line,
                "baseline_earned_eur": euros(sums["b"]),
                "variant_earned_eur": euros(sums["v"]),
                "delta_eur": euros(sums["v"] - sums["b"]),
                "available_eur": euros(avail) if avail is not None else None,
                "remaining_eur": euros(avail - sums["v"]) if avail is not None else None,
            }
        )
    total_b = sum((s["b"] for s in lines.values()), zero)
    total_v = sum((s["v"] for s in lines.values()), zero)
    edits = variant.book.edits
    return {
        "as_of": baseline.as_of.isoformat(),
        "variant": {
            "name": info.name,
            "author": info.author,
            "purpose": info.purpose,
            "file": info.file,
        }
        if info
        else None,
        "overrides": {e.path: _value(e.value) for e in edits},
        "edits": [
            {
                "path": e.path,
                "value": _value(e.value),
                "from": e.from_date.isoformat() if e.from_date else None,
                "origin": e.origin,
                **_effect_json(effects, i),
            }
            for i, e in enumerate(edits)
        ],
        "conventions": rows,
        "by_budget_line": by_line,
        "totals": {
            "baseline_earned_eur": euros(total_b),
            "variant_earned_eur": euros(total_v),
            "delta_eur": euros(total_v - total_b),
        },
        "providers": {
            "gaining": sorted(s for s, d in providers.items() if d > 0),
            "losing": sorted(s for s, d in providers.items() if d < 0),
            "unchanged": sorted(s for s, d in providers.items() if d == 0),
        },
        "rules_sha256": baseline.book.sha256,
    }


def _effect_json(effects: Sequence[EditEffect], index: int) -> dict[str, Any]:
    if index >= len(effects):
        return {}
    e = effects[index]
    return {
        "delta_eur": euros(e.delta) if e.delta is not None else None,
        "conventions_changed": e.conventions_changed,
        "effect": NO_EFFECT if e.no_effect else e.note or None,
    }


def edit_effects(
    extracts: Extracts,
    book: RuleBook,
    as_of: date,
    baseline: RunResult,
    variant: RunResult,
    edits: Sequence[Edit],
) -> list[EditEffect]:
    """Measure each edit on its own: one extra run per edit when there are several.

    With one edit its effect is the whole variant's. An edit that cannot stand alone
    (e.g. one of two weights that must still sum to 1) gets `delta = None` and a note.
    Only the first `MAX_ISOLATED_EFFECTS` edits are measured (each costs a whole
    evaluation); the others get `delta = None` and the note `NOT_MEASURED`.
    """
    if len(edits) == 1:
        delta, changed = _changed(baseline, variant)
        return [EditEffect(edits[0], delta, changed)]
    effects = []
    for position, edit in enumerate(edits):
        if position >= MAX_ISOLATED_EFFECTS:
            effects.append(EditEffect(edit, None, None, NOT_MEASURED))
            continue
        try:
            alone = apply_edits(book, [edit])
        except RulesError:
            effects.append(
                EditEffect(
                    edit,
                    None,
                    None,
                    "effet non isolable (la modification n'est valide qu'avec les autres)",
                )
            )
            continue
        delta, changed = _changed(baseline, evaluate(extracts, alone, as_of, reuse=baseline))
        effects.append(EditEffect(edit, delta, changed))
    return effects


def run_whatif(
    extracts: Extracts, book: RuleBook, as_of: date, variant: Variant, per_edit: bool = True
) -> WhatIf:
    """Evaluate `book` and its edited copy on the same extracts and compare them.

    Raises VariantError (French, every problem) when an edit is refused; `book` is untouched.
    """
    edited = edited_book(book, variant)
    baseline = evaluate(extracts, book, as_of)
    varied = evaluate(extracts, edited, as_of, reuse=baseline)
    effects = (
        edit_effects(extracts, book, as_of, baseline, varied, edited.edits[len(book.edits) :])
        if per_edit
        else []
    )
    comparison = compare(baseline, varied, variant, effects)
    return WhatIf(
        baseline=baseline, variant=varied, comparison=comparison, effects=effects, info=variant
    )


def totals_check(comparison: Mapping[str, Any]) -> bool:
    """Check that convention, budget line and overall deltas agree to the cent."""
    conv = sum((Decimal(r["delta_eur"]) for r in comparison["conventions"]), Decimal(0))
    lines = sum((Decimal(r["delta_eur"]) for r in comparison["by_budget_line"]), Decimal(0))
    return conv == lines == Decimal(comparison["totals"]["delta_eur"])
