"""Comparing two recorded runs (what changed and why) and re-running a recorded run (verify).

The causes of a change: the data (input files whose hash differs, table counts: rows added or
removed), the rules (parameters whose value in force at each run's as-of differs, read from
the rules files stored with each run and the edits of the run), the date (as-of), and the
payments recorded in between.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.compute.pipeline import evaluate
from engine.load.extracts import read_extracts
from engine.load.rules import apply_edits, load_rules
from engine.model.errors import RulesError
from engine.model.format import date_fr
from engine.model.rulebook import Edit, RuleBook
from engine.present.results_json import results_json
from engine.register.db import RegisterError, run_files
from engine.register.payments import apply_paid
from engine.register.store import get_run


def _rules_text(engine: Engine, run_id: int) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            (r.name, r.content)
            for r in conn.execute(
                sa.select(run_files.c.name, run_files.c.content).where(
                    run_files.c.run_id == run_id, run_files.c.kind == "rules"
                )
            )
        ]


def stored_book(engine: Engine, run: Mapping[str, Any], folder: Path) -> RuleBook:
    """The rule book of a recorded run: its stored files written under `folder/rules`, its edits applied."""
    root = folder / "rules"
    for name, text in _rules_text(engine, int(run["id"])):
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise RegisterError(
                f"Fichier de règles « {name} » de l'évaluation n° {run['id']} hors du dossier de règles :"
                " registre altéré."
            )
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))
    try:
        book = load_rules(root)
    except RulesError as error:
        raise RegisterError(
            f"Les règles enregistrées avec l'évaluation n° {run['id']} « {run['label']} » (parcours"
            f" {run['version']}) ne se chargent pas avec cette version de parcours : {error}"
        ) from None
    edits = [
        Edit(
            path=e["path"],
            value=e["value"],
            from_date=date.fromisoformat(e["from"]) if e.get("from") else None,
            origin=e.get("origin") or "--set",
        )
        for e in run["manifest"].get("edits", [])
    ]
    return apply_edits(book, edits) if edits else book


def _shown(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [_shown(v) for v in value]
    return value


def rules_diff(book_a: RuleBook, as_of_a: date, book_b: RuleBook, as_of_b: date) -> dict[str, Any]:
    """Parameters whose value in force differs (A at its as-of, B at its), decision rules that differ."""
    params = []
    for path in sorted(set(book_a.params) | set(book_b.params)):
        a = _in_force(book_a, path, as_of_a)
        b = _in_force(book_b, path, as_of_b)
        if a != b:
            param = book_b.params.get(path) or book_a.params[path]
            params.append(
                {
                    "path": path,
                    "dispositif": param.dispositif,
                    "a": _shown(a),
                    "b": _shown(b),
                    "description": param.description,
                    "unit": param.unit,
                    "file": param.file,
                    "status": "ajouté"
                    if path not in book_a.params
                    else "supprimé"
                    if path not in book_b.params
                    else "modifié",
                }
            )
    rules_a = {r.id: r for r in book_a.decisions}
    rules_b = {r.id: r for r in book_b.decisions}
    decisions = []
    for rule_id in sorted(set(rules_a) | set(rules_b)):
        a, b = rules_a.get(rule_id), rules_b.get(rule_id)
        if a is None or b is None or (a.enabled, a.when, a.then, a.stage) != (b.enabled, b.when, b.then, b.stage):
            decisions.append(
                {
                    "id": rule_id,
                    "status": "ajoutée"
                    if a is None
                    else "supprimée"
                    if b is None
                    else ("activée" if b.enabled else "désactivée")
                    if a.enabled != b.enabled
                    else "modifiée",
                }
            )
    return {
        "sha256_a": book_a.sha256,
        "sha256_b": book_b.sha256,
        "files_changed": book_a.sha256 != book_b.sha256,
        "parameters": params,
        "decisions": decisions,
    }


def _in_force(book: RuleBook, path: str, when: date) -> Any:
    param = book.params.get(path)
    if param is None:
        return None
    in_force = [v for d, v in param.values if d <= when]
    return in_force[-1] if in_force else None


def data_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Input files whose hash differs, and table counts that moved (rows added or removed)."""
    hashes_a, hashes_b = a["manifest"]["inputs_sha256"], b["manifest"]["inputs_sha256"]
    files = []
    for name in sorted(set(hashes_a) | set(hashes_b)):
        ha, hb = hashes_a.get(name), hashes_b.get(name)
        if ha != hb:
            files.append(
                {
                    "file": name,
                    "sha256_a": ha,
                    "sha256_b": hb,
                    "status": "ajouté" if ha is None else "retiré" if hb is None else "modifié",
                }
            )
    tables = []
    for name in sorted(set(a["tables"]) | set(b["tables"])):
        ta = a["tables"].get(name, {"rows": 0, "kept": 0, "rejected": 0})
        tb = b["tables"].get(name, {"rows": 0, "kept": 0, "rejected": 0})
        if ta != tb:
            tables.append(
                {
                    "table": name,
                    "rows_a": ta["rows"],
                    "rows_b": tb["rows"],
                    "rows_delta": tb["rows"] - ta["rows"],
                    "kept_a": ta["kept"],
                    "kept_b": tb["kept"],
                    "rejected_a": ta["rejected"],
                    "rejected_b": tb["rejected"],
                }
            )
    return {"changed": bool(files), "files": files, "tables": tables}


def _delta(a: Any, b: Any) -> float | None:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return b - a
    return None


def _indicator_changes(fa: Mapping[str, Any], fb: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for ind in sorted(set(fa.get("indicators", {})) | set(fb.get("indicators", {}))):
        ia, ib = fa.get("indicators", {}).get(ind, {}), fb.get("indicators", {}).get(ind, {})
        keys = ("value", "numerator", "denominator", "value_numerator", "value_denominator", "target", "score")
        if any(ia.get(k) != ib.get(k) for k in keys):
            row: dict[str, Any] = {
                "indicator": ind,
                "value_a": ia.get("value"),
                "value_b": ib.get("value"),
                "value_delta": _delta(ia.get("value"), ib.get("value")),
                "score_a": ia.get("score"),
                "score_b": ib.get("score"),
                "score_delta": _delta(ia.get("score"), ib.get("score")),
            }
            for k in ("numerator", "denominator"):
                va = ia.get(k, ia.get(f"value_{k}"))
                vb = ib.get(k, ib.get(f"value_{k}"))
                row.update({f"{k}_a": va, f"{k}_b": vb})
            out.append(row)
    return out


def _money(value: Any) -> Decimal:
    return Decimal(value) if value is not None else Decimal(0)


def compare_runs(engine: Engine, ref_a: str | int, ref_b: str | int) -> dict[str, Any]:
    """Per convention, the change in each indicator and in money, and its causes."""
    a, b = get_run(engine, ref_a), get_run(engine, ref_b)
    with tempfile.TemporaryDirectory(prefix="parcours-compare-") as tmp:
        book_a = stored_book(engine, a, Path(tmp) / "a")
        book_b = stored_book(engine, b, Path(tmp) / "b")
        rules = rules_diff(book_a, date.fromisoformat(a["as_of"]), book_b, date.fromisoformat(b["as_of"]))
    data = data_diff(a, b)
    date_changed = a["as_of"] != b["as_of"]
    conv_a = {c["convention_id"]: c for c in a["conventions"]}
    conv_b = {c["convention_id"]: c for c in b["conventions"]}
    conventions = []
    for cid in [*conv_a, *(c for c in conv_b if c not in conv_a)]:
        ca, cb = conv_a.get(cid), conv_b.get(cid)
        fa = (ca or {}).get("figures", {})
        fb = (cb or {}).get("figures", {})
        indicators = _indicator_changes(fa, fb)
        money = {}
        for key in ("amount", "earned", "paid", "solde"):
            va, vb = _money((ca or {}).get(f"{key}_eur")), _money((cb or {}).get(f"{key}_eur"))
            money[key] = {"a": str(va), "b": str(vb), "delta": str(vb - va)}
        causes: list[dict[str, Any]] = []
        dispositif = (cb or ca or {}).get("dispositif")
        if ca is None or cb is None:
            causes.append({"cause": "convention", "detail": "absente de A" if ca is None else "absente de B"})
        else:
            if date_changed and fa.get("window") != fb.get("window"):
                causes.append(
                    {
                        "cause": "date",
                        "detail": f"fenêtre jusqu'au {date_fr(fa['window']['end'])} puis"
                        f" {date_fr(fb['window']['end'])}",
                    }
                )
            params = [p["path"] for p in rules["parameters"] if p["dispositif"] == dispositif]
            if params or rules["decisions"]:
                causes.append(
                    {"cause": "règles", "parameters": params, "decisions": [d["id"] for d in rules["decisions"]]}
                )
            figures_moved = (
                bool(indicators)
                or fa.get("reported") != fb.get("reported")
                or Decimal(money["amount"]["delta"]) != 0
                or fa.get("costs") != fb.get("costs")
            )
            if data["changed"] and figures_moved:
                causes.append({"cause": "données", "files": [f["file"] for f in data["files"]]})
            if Decimal(money["paid"]["delta"]) != 0:
                causes.append(
                    {"cause": "versements", "detail": f"versé {money['paid']['a']} puis {money['paid']['b']}"}
                )
        changed = bool(indicators) or any(Decimal(m["delta"]) != 0 for m in money.values()) or ca is None or cb is None
        conventions.append(
            {
                "convention_id": cid,
                "structure": (cb or ca or {}).get("structure"),
                "dispositif": dispositif,
                "changed": changed,
                "indicators": indicators,
                "money": money,
                "causes": causes if changed else [],
            }
        )
    totals = {
        key: str(sum((_money(c["money"][key]["b"]) - _money(c["money"][key]["a"]) for c in conventions), Decimal(0)))
        for key in ("earned", "paid", "solde")
    }
    return {
        "a": {k: a[k] for k in ("id", "label", "as_of", "final", "rules_sha256")},
        "b": {k: b[k] for k in ("id", "label", "as_of", "final", "rules_sha256")},
        "causes": {"date": {"a": a["as_of"], "b": b["as_of"]} if date_changed else None, "data": data, "rules": rules},
        "conventions": conventions,
        "totals_delta": totals,
    }


def _diff(stored: Any, again: Any, where: str, out: list[dict[str, Any]]) -> None:
    if isinstance(stored, Mapping) and isinstance(again, Mapping):
        for key in sorted(set(stored) | set(again)):
            _diff(stored.get(key), again.get(key), f"{where}.{key}" if where else str(key), out)
    elif stored != again:
        out.append({"where": where, "stored": stored, "recomputed": again})


def verify_run(engine: Engine, ref: str | int, data: Path, profile: Path | None = None) -> dict[str, Any]:
    """Re-run a recorded run with its stored rules and edits on `data`; every figure compared.

    `paid` is taken as recorded (the payments then in the register), so that only the rules,
    the extracts and the date decide. Reports the input files whose hash differs.
    """
    run = get_run(engine, ref)
    with tempfile.TemporaryDirectory(prefix="parcours-verify-") as tmp:
        book = stored_book(engine, run, Path(tmp))
        if book.sha256 != run["rules_sha256"]:  # pragma: no cover - the stored files are the hashed ones
            raise RegisterError(
                f"Les règles enregistrées avec l'évaluation n° {run['id']} ne redonnent pas"
                " leur empreinte : registre altéré."
            )
        extracts = read_extracts(data, profile)
        paid = {cid: Decimal(v) for cid, v in run["manifest"].get("paid_from_register", {}).items()}
        result = evaluate(apply_paid(extracts, paid), book, date.fromisoformat(run["as_of"]))
        again = json.loads(json.dumps(results_json(result), ensure_ascii=False))
    stored_hashes, given = run["manifest"]["inputs_sha256"], dict(extracts.files)
    inputs = [
        {
            "file": name,
            "stored": stored_hashes.get(name),
            "given": given.get(name),
            "status": "identique"
            if stored_hashes.get(name) == given.get(name)
            else "absent"
            if name not in given
            else "nouveau"
            if name not in stored_hashes
            else "différent",
        }
        for name in sorted(set(stored_hashes) | set(given))
    ]
    differences: list[dict[str, Any]] = []
    stored_conv = {c["convention_id"]: c for c in run["results"]["conventions"]}
    again_conv = {c["convention_id"]: c for c in again["conventions"]}
    for cid in [*stored_conv, *(c for c in again_conv if c not in stored_conv)]:
        _diff(stored_conv.get(cid), again_conv.get(cid), cid, differences)
    _diff(run["results"]["inputs"], again["inputs"], "tables", differences)
    return {
        "run": {k: run[k] for k in ("id", "label", "as_of")},
        "identical": not differences,
        "inputs_identical": all(i["status"] == "identique" for i in inputs),
        "inputs": inputs,
        "differences": differences,
    }
