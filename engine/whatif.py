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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from engine.evaluate import RunResult, evaluate
from engine.extracts import Extracts
from engine.money import euros
from engine.rules import (
    Edit,
    LineDict,
    Problem,
    RuleBook,
    RulesError,
    _Loader,
    _suggest,
    apply_edits,
    parse_set,
)

VARIANT_KEYS = ("name", "author", "purpose", "changes")
VARIANT_REQUIRED = ("name", "changes")
PARAMETER_CHANGE_KEYS = ("parameter", "value", "from")
DECISION_CHANGE_KEYS = ("decision", "enabled")
NO_EFFECT = "modification sans effet sur les montants"


class VariantError(RulesError):
    """A variant file or an edit is refused; `problems` lists every reason (French)."""

    def __init__(self, problems: list[Problem], what: str = "Variante refusée"):
        super().__init__(problems)
        lines = "\n".join(f"  - {p}" for p in problems)
        self.args = (f"{what} ({len(problems)} problème(s)) :\n{lines}",)

    def __str__(self) -> str:
        return str(self.args[0])


# --------------------------------------------------------------------------- variant file


@dataclass(frozen=True)
class Variant:
    """A named set of edits, as read from a variant file (or built from `--set`)."""

    name: str
    edits: tuple[Edit, ...]
    author: str = ""
    purpose: str = ""
    file: str = ""


def _line(node: Any, key: str | None = None) -> int:
    if isinstance(node, LineDict):
        if key is not None and key in node.lines:
            return node.lines[key]
        return node.line
    return 0


def _unknown_keys(
    problems: list[Problem], file: str, node: LineDict, allowed: Sequence[str], where: str
) -> None:
    for key in node:
        if str(key) not in allowed:
            problems.append(
                Problem(
                    file,
                    _line(node, str(key)),
                    f"{where}{key}",
                    f"clé inconnue (attendu : {', '.join(allowed)})" + _suggest(str(key), allowed),
                )
            )


def _file_error(problems: list[Problem]) -> VariantError:
    return VariantError(problems, "Fichier de variante refusé")


def _read_variant_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _file_error([Problem(str(path), 0, "", "fichier de variante introuvable")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise _file_error([Problem(str(path), 0, "", f"fichier illisible ({error})")]) from None
    loader = _Loader(text)
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        raise _file_error(
            [Problem(str(path), mark.line + 1 if mark else 0, "", f"YAML invalide : {problem}")]
        ) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise _file_error(
            [Problem(str(path), line, key, "clé en double") for line, key in loader.duplicates]
        )
    return data


def _change(problems: list[Problem], file: str, index: int, node: Any) -> Edit | None:
    where = f"changes[{index}]."
    if not isinstance(node, LineDict):
        problems.append(
            Problem(
                file,
                0,
                f"changes[{index}]",
                "chaque modification est une table : « parameter: …, value: … »"
                " ou « decision: …, enabled: false »",
            )
        )
        return None
    line = node.line
    origin = f"{file}, ligne {line}"
    if "parameter" in node and "decision" in node:
        problems.append(
            Problem(
                file,
                line,
                f"changes[{index}]",
                "une modification porte soit sur un paramètre (« parameter »),"
                " soit sur une règle de décision (« decision »), pas les deux",
            )
        )
        return None
    if "decision" in node:
        _unknown_keys(problems, file, node, DECISION_CHANGE_KEYS, where)
        if "enabled" not in node:
            problems.append(
                Problem(file, line, f"{where}enabled", "« enabled » manquant (true ou false)")
            )
            return None
        if not isinstance(node["enabled"], bool):
            problems.append(
                Problem(
                    file,
                    _line(node, "enabled"),
                    f"{where}enabled",
                    f"true ou false attendu, trouvé « {node['enabled']} »",
                )
            )
            return None
        rule = str(node["decision"] or "").strip()
        if not rule:
            problems.append(Problem(file, line, f"{where}decision", "identifiant de règle vide"))
            return None
        return Edit(path=f"decisions.{rule}", value=node["enabled"], origin=origin)
    if "parameter" not in node:
        allowed = (*PARAMETER_CHANGE_KEYS, *DECISION_CHANGE_KEYS[:1])
        _unknown_keys(problems, file, node, allowed, where)
        problems.append(
            Problem(file, line, f"changes[{index}]", "« parameter » (ou « decision ») manquant")
        )
        return None
    _unknown_keys(problems, file, node, PARAMETER_CHANGE_KEYS, where)
    path = str(node["parameter"] or "").strip()
    ok = True
    if not path:
        problems.append(Problem(file, line, f"{where}parameter", "chemin de paramètre vide"))
        ok = False
    if "value" not in node or node["value"] is None:
        problems.append(Problem(file, line, f"{where}value", f"« value » manquant pour « {path} »"))
        ok = False
    start = node.get("from")
    if start is not None and not isinstance(start, date):
        problems.append(
            Problem(
                file,
                _line(node, "from"),
                f"{where}from",
                f"date d'effet invalide « {start} » (attendu AAAA-MM-JJ)",
            )
        )
        ok = False
    if not ok:
        return None
    value = node["value"]
    if isinstance(value, date):
        value = value.isoformat()
    return Edit(path=path, value=value, from_date=start, origin=origin)


def load_variant(path: Path | str) -> Variant:
    """Read and check a variant file; raise VariantError listing every problem (file, line)."""
    path = Path(path)
    data = _read_variant_yaml(path)
    problems: list[Problem] = []
    variant = parse_variant(problems, str(path), data)
    if problems or variant is None:
        raise _file_error(problems)
    return variant


def parse_variant(
    problems: list[Problem], file: str, data: Any, extra_keys: Sequence[str] = ()
) -> Variant | None:
    """Check a variant read with engine.rules' line-recording loader; add to `problems`.

    `extra_keys` are keys the caller handles itself (e.g. `expect` in a scenario file).
    Returns None when the data is not a table at all.
    """
    if not isinstance(data, LineDict):
        problems.append(
            Problem(file, 0, "", "une table est attendue : name, author, purpose, changes")
        )
        return None
    _unknown_keys(problems, file, data, (*VARIANT_KEYS, *extra_keys), "")
    for key in VARIANT_REQUIRED:
        if key not in data:
            problems.append(Problem(file, data.line, key, f"« {key} » manquant"))
    changes = data.get("changes")
    edits: list[Edit] = []
    if "changes" in data:
        if not isinstance(changes, list) or not changes:
            problems.append(
                Problem(
                    file,
                    _line(data, "changes"),
                    "changes",
                    "liste de modifications attendue (au moins une)",
                )
            )
        else:
            for index, node in enumerate(changes):
                edit = _change(problems, file, index, node)
                if edit is not None:
                    edits.append(edit)
    for key in ("name", "author", "purpose"):
        if key in data and not isinstance(data[key], str | int | float):
            problems.append(Problem(file, _line(data, key), key, "texte attendu"))
    return Variant(
        name=str(data.get("name", "")),
        author=str(data.get("author") or ""),
        purpose=str(data.get("purpose") or ""),
        edits=tuple(edits),
        file=file,
    )


def variant_from_options(
    sets: Iterable[str] | None, variant_file: Path | str | None
) -> Variant | None:
    """Collect the edits of `--variant FILE`, then of each `--set PARAM=VALUE` (later wins)."""
    sets = list(sets or [])
    if variant_file is None and not sets:
        return None
    base = load_variant(variant_file) if variant_file is not None else None
    parsed: list[Edit] = []
    problems: list[Problem] = []
    for option in sets:
        try:
            parsed.append(parse_set(option))
        except RulesError as error:
            problems.extend(error.problems)
    if problems:
        raise VariantError(problems, "Modification refusée")
    if base is None:
        return Variant(name="--set", edits=tuple(parsed))
    return Variant(
        name=base.name,
        author=base.author,
        purpose=base.purpose,
        file=base.file,
        edits=base.edits + tuple(parsed),
    )


def edited_book(book: RuleBook, variant: Variant | None) -> RuleBook:
    """Return a checked copy of `book` with the variant's edits (VariantError if refused)."""
    if variant is None or not variant.edits:
        return book
    try:
        return apply_edits(book, variant.edits)
    except VariantError:
        raise
    except RulesError as error:
        what = (
            "Modification refusée"
            if variant.name == "--set"
            else f"Variante « {variant.name} » refusée"
        )
        raise VariantError(error.problems, what) from None


# --------------------------------------------------------------------------- comparison


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
    """
    if len(edits) == 1:
        delta, changed = _changed(baseline, variant)
        return [EditEffect(edits[0], delta, changed)]
    effects = []
    for edit in edits:
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
        delta, changed = _changed(baseline, evaluate(extracts, alone, as_of))
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
    varied = evaluate(extracts, edited, as_of)
    effects = (
        edit_effects(extracts, book, as_of, baseline, varied, edited.edits[len(book.edits) :])
        if per_edit
        else []
    )
    comparison = compare(baseline, varied, variant, effects)
    return WhatIf(
        baseline=baseline, variant=varied, comparison=comparison, effects=effects, info=variant
    )


def write_whatif(result: WhatIf, out_dir: Path, *, reports: bool = True) -> list[Path]:
    """Write `baseline/`, `variant/` (each a full run folder) and `comparison.json`.

    With `reports`, also `report.xlsx` and `report.html` side by side in `out_dir`: the
    baseline's figures with the « Comparaison » sheet / section (outputs.md).
    """
    from engine.output import results_json, write_json, write_run

    out_dir.mkdir(parents=True, exist_ok=True)
    written = write_run(result.baseline, out_dir / "baseline", reports=reports)
    written += write_run(result.variant, out_dir / "variant", reports=reports)
    written.append(write_json(result.comparison, out_dir / "comparison.json"))
    if reports:
        from engine.report_html import write_html
        from engine.report_xlsx import params_table, write_workbook

        base, varied = results_json(result.baseline), results_json(result.variant)
        params = params_table(result.variant.book, result.variant.as_of)
        written.append(
            write_workbook(
                base,
                out_dir / "report.xlsx",
                params=params,
                rejected=result.baseline.extracts.rejected,
                comparison=result.comparison,
                variant=varied,
            )
        )
        written.append(
            write_html(
                base,
                out_dir / "report.html",
                params=params,
                comparison=result.comparison,
                variant=varied,
            )
        )
    return written


def totals_check(comparison: Mapping[str, Any]) -> bool:
    """Check that convention, budget line and overall deltas agree to the cent."""
    conv = sum((Decimal(r["delta_eur"]) for r in comparison["conventions"]), Decimal(0))
    lines = sum((Decimal(r["delta_eur"]) for r in comparison["by_budget_line"]), Decimal(0))
    return conv == lines == Decimal(comparison["totals"]["delta_eur"])
