"""The rules tree: YAML parameters, indicator definitions and decision rules, loaded as data.

Layout (OpenFisca-like): `rules/<dispositif>/*.yaml` hold `parameters:` (a nested mapping
whose leaves are parameter nodes with `values` keyed by effective date) and
`indicators:`; `rules/decisions.yaml` holds the decision rules; `rules/index.yaml`
describes the tree. A parameter's dotted path is `<dispositif>.<nested keys>`, e.g.
`equilibre.first_appointment_max_days` or `equilibre.scoring.exit_12m.target`.

`load_rules` reads the whole tree with safe YAML loading, records the line of every key,
and checks everything in one pass; every problem is reported as file, line, key and what
was expected (`RulesError.problems`). Nothing in a rule file is ever evaluated as code.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from engine.load.yaml_loader import LineDict, _line, _Loader
from engine.model.decision_rules import DecisionRule, validate_rule
from engine.model.errors import Problem, RulesError
from engine.model.rulebook import Edit, IndicatorDef, Param, RuleBook

DEFAULT_RULES_DIR = Path(__file__).resolve().parents[2] / "rules"

PARAM_KEYS = {
    "description", "unit", "type", "values", "source", "choices", "min", "max",
}
PARAM_REQUIRED = ("description", "unit", "type", "values", "source")
PARAM_TYPES = ("integer", "decimal", "boolean", "code", "codes", "text")
SOURCE_KEYS = {"document", "ref", "quote", "interpretation"}
INDICATOR_KEYS = {
    "kind", "part", "label", "source", "target_parameter", "target_column", "prorate", "description",
    "value_column", "numerator_column", "denominator_column", "unit",
}
INDICATOR_KINDS = ("rate", "volume", "reported")
PARTS = ("qualitative", "quantitative", "none")
DECISION_KEYS = {"stage", "description", "source", "when", "then", "enabled"}
STAGES = ("scoring", "payment")
FILE_KEYS = {"dispositif", "label", "parameters", "indicators", "decisions", "description", "labels"}
INDEX_KEYS = {"title", "documents", "folders"}


# --------------------------------------------------------------------------- helpers


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (vouliez-vous dire « {close[0]} » ?)" if close else ""


def _to_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        try:
            return Decimal(value.strip().replace(",", "."))
        except InvalidOperation:
            return None
    return None


def coerce_value(kind: str, value: Any, choices: tuple[str, ...] | None,
                 lo: Decimal | None, hi: Decimal | None) -> tuple[Any, str | None]:
    """Check `value` against a parameter's type, choices and range; return (typed, problem)."""
    if kind == "integer":
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                return None, f"entier attendu, trouvé « {value} »"
        if isinstance(value, bool) or not isinstance(value, int):
            return None, f"entier attendu, trouvé « {value} »"
        typed: Any = value
        number = Decimal(value)
    elif kind == "decimal":
        number_or_none = _to_decimal(value)
        if number_or_none is None:
            return None, f"nombre attendu, trouvé « {value} »"
        typed = number = number_or_none
    elif kind == "boolean":
        if isinstance(value, str) and value.strip().lower() in ("true", "vrai", "oui", "1"):
            value = True
        elif isinstance(value, str) and value.strip().lower() in ("false", "faux", "non", "0"):
            value = False
        if not isinstance(value, bool):
            return None, f"booléen attendu (true/false), trouvé « {value} »"
        return value, None
    elif kind == "code":
        if not isinstance(value, str):
            return None, f"code attendu, trouvé « {value} »"
        value = value.strip()
        if choices and value not in choices:
            return None, (f"valeur « {value} » hors de la liste ({', '.join(choices)})"
                          + _suggest(value, choices))
        return value, None
    elif kind == "codes":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None, f"liste de codes attendue, trouvé « {value} »"
        bad = [v for v in value if choices and v not in choices]
        if bad:
            return None, (f"code(s) {', '.join(bad)} hors de la liste ({', '.join(choices or ())})"
                          + _suggest(bad[0], choices or ()))
        return tuple(value), None
    elif kind == "text":
        if not isinstance(value, str):
            return None, f"texte attendu, trouvé « {value} »"
        return value, None
    else:
        return None, f"type « {kind} » inconnu"
    if lo is not None and number < lo:
        return None, f"valeur {value} inférieure au minimum {lo}"
    if hi is not None and number > hi:
        return None, f"valeur {value} supérieure au maximum {hi}"
    return typed, None


# --------------------------------------------------------------------------- loading


@dataclass
class _Collector:
    problems: list[Problem] = field(default_factory=list)

    def add(self, file: str, line: int, key: str, message: str) -> None:
        self.problems.append(Problem(file, line, key, message))


def _check_keys(c: _Collector, rel: str, node: Any, allowed: set[str], path: str) -> None:
    for key in node:
        if str(key) not in allowed:
            c.add(rel, _line(node, str(key)), f"{path}.{key}" if path else str(key),
                  f"clé inconnue (attendu : {', '.join(sorted(allowed))})" + _suggest(str(key), allowed))


def _check_source(c: _Collector, rel: str, node: Any, path: str, documents: Mapping[str, Any],
                  key_line: int = 0) -> None:
    source = node.get("source")
    if not isinstance(source, Mapping):
        c.add(rel, _line(node, "source") if "source" in node else (key_line or _line(node)), path,
              "source manquante : citer le texte (document, ref « Lnnn », quote)")
        return
    _check_keys(c, rel, source, SOURCE_KEYS, f"{path}.source")
    for key in ("document", "ref", "quote"):
        if not str(source.get(key, "") or "").strip():
            c.add(rel, _line(source), f"{path}.source.{key}", f"« {key} » manquant dans la source")
    doc = source.get("document")
    if documents and doc and doc not in documents:
        c.add(rel, _line(source, "document"), f"{path}.source.document",
              f"document « {doc} » inconnu (index.yaml)" + _suggest(str(doc), documents))


def _load_param(c: _Collector, rel: str, path: str, node: LineDict,
                documents: Mapping[str, Any], key_line: int) -> Param | None:
    _check_keys(c, rel, node, PARAM_KEYS, path)
    missing = [k for k in PARAM_REQUIRED if k not in node]
    for key in missing:
        if key != "source":
            c.add(rel, key_line, path, f"« {key} » manquant pour ce paramètre")
    _check_source(c, rel, node, path, documents, key_line)
    kind = node.get("type")
    if kind not in PARAM_TYPES:
        c.add(rel, _line(node, "type"), f"{path}.type",
              f"type « {kind} » inconnu (attendu : {', '.join(PARAM_TYPES)})" + _suggest(str(kind), PARAM_TYPES))
        return None
    choices = node.get("choices")
    if kind in ("code", "codes") and not isinstance(choices, list):
        c.add(rel, _line(node), f"{path}.choices", "liste « choices » attendue pour un code")
        choices = None
    lo = _to_decimal(node["min"]) if "min" in node else None
    hi = _to_decimal(node["max"]) if "max" in node else None
    values = node.get("values")
    if not isinstance(values, Mapping) or not values:
        c.add(rel, _line(node, "values"), f"{path}.values",
              "« values » doit associer au moins une date d'effet (AAAA-MM-JJ) à une valeur")
        return None
    dated: list[tuple[date, Any]] = []
    ok = True
    for start, raw in values.items():
        line = _line(values, str(start))
        if not isinstance(start, date):
            c.add(rel, line, f"{path}.values", f"date d'effet invalide « {start} » (attendu AAAA-MM-JJ)")
            ok = False
            continue
        typed, problem = coerce_value(kind, raw, tuple(choices) if choices else None, lo, hi)
        if problem:
            c.add(rel, line, f"{path}.values.{start}", problem)
            ok = False
            continue
        dated.append((start, typed))
    if not ok or missing:
        return None
    return Param(
        path=path, description=str(node["description"]), unit=str(node["unit"]), type=kind,
        values=tuple(sorted(dated, key=lambda item: item[0])), source=dict(node["source"]),
        choices=tuple(choices) if choices else None, min=lo, max=hi, file=rel, line=_line(node),
    )


def _walk_params(c: _Collector, rel: str, prefix: str, node: Any, out: dict[str, Param],
                 documents: Mapping[str, Any], key_line: int = 0) -> None:
    if not isinstance(node, Mapping):
        c.add(rel, 0, prefix, "paramètre attendu (une table avec « values »)")
        return
    if "values" in node:
        if prefix in out:
            c.add(rel, _line(node), prefix, f"paramètre déjà défini dans {out[prefix].file}, ligne {out[prefix].line}")
            return
        param = _load_param(c, rel, prefix, node, documents, key_line or _line(node))  # type: ignore[arg-type]
        if param:
            out[prefix] = param
        return
    for key, child in node.items():
        path = f"{prefix}.{key}"
        if not isinstance(child, Mapping):
            c.add(rel, _line(node, str(key)), path,
                  "paramètre attendu (une table avec description, unit, type, values, source)"
                  + _suggest(str(key), PARAM_KEYS))
            continue
        _walk_params(c, rel, path, child, out, documents, _line(node, str(key)))


def _read_yaml(c: _Collector, root: Path, file: Path) -> Any:
    rel = str(file.relative_to(root.parent)) if root.parent in file.parents else str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        c.add(rel, 0, "", f"fichier illisible ({error})")
        return None
    loader = _Loader(text)
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        problem = getattr(error, "problem", None) or str(error)
        c.add(rel, line, "", f"YAML invalide : {problem}")
        return None
    finally:
        loader.dispose()
    for line, key in loader.duplicates:
        c.add(rel, line, key, "clé en double (la première occurrence compterait seule)")
    return data


def load_rules(root: Path | str | None = None) -> RuleBook:
    """Read and check the whole rules tree; raise RulesError listing every problem."""
    root = Path(root) if root else DEFAULT_RULES_DIR
    c = _Collector()
    if not root.is_dir():
        raise RulesError([Problem(str(root), 0, "", "dossier de règles introuvable")])
    files = sorted(p for p in root.rglob("*.yaml") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(root)).encode())
        digest.update(file.read_bytes())
    documents: Mapping[str, Any] = {}
    folders: Mapping[str, str] = {}
    index = root / "index.yaml"
    if index.exists():
        data = _read_yaml(c, root, index)
        if isinstance(data, Mapping):
            _check_keys(c, _rel(root, index), data, INDEX_KEYS, "")
            documents = data.get("documents") or {}
            folders = data.get("folders") or {}
    params: dict[str, Param] = {}
    indicators: dict[str, dict[str, IndicatorDef]] = {}
    decisions: list[DecisionRule] = []
    decision_lines: dict[str, tuple[str, int]] = {}
    labels: dict[str, str] = {}
    flag_labels: dict[str, str] = {}
    label_lines: dict[str, tuple[str, int]] = {}
    for file in files:
        if file == index:
            continue
        rel = _rel(root, file)
        data = _read_yaml(c, root, file)
        if data is None:
            continue
        if not isinstance(data, Mapping):
            c.add(rel, 0, "", "le fichier doit contenir une table (clé: valeur)")
            continue
        _check_keys(c, rel, data, FILE_KEYS, "")
        folder = file.parent.relative_to(root).parts
        dispositif = data.get("dispositif") or (folder[0] if folder else None)
        if folder and dispositif != folder[0]:
            c.add(rel, _line(data, "dispositif"), "dispositif",
                  f"« {dispositif} » ne correspond pas au dossier « {folder[0]} »")
        if "label" in data and dispositif:
            labels[dispositif] = str(data["label"])
        if "parameters" in data:
            if not dispositif:
                c.add(rel, _line(data, "parameters"), "parameters",
                      "des paramètres hors d'un dossier de dispositif : préciser « dispositif »")
            else:
                _walk_params(c, rel, dispositif, data["parameters"], params, documents)
        if "indicators" in data and dispositif:
            _load_indicators(c, rel, dispositif, data["indicators"], indicators, documents)
        if "decisions" in data:
            _load_decisions(c, rel, data["decisions"], decisions, decision_lines, documents)
        if "labels" in data:
            if not isinstance(data["labels"], Mapping):
                c.add(rel, _line(data, "labels"), "labels", "table code: libellé attendue")
            else:
                for code, text in data["labels"].items():
                    if not isinstance(text, str) or not text.strip():
                        c.add(rel, _line(data["labels"], str(code)), f"labels.{code}", "libellé en texte attendu")
                    flag_labels[str(code)] = str(text)
                    label_lines[str(code)] = (rel, _line(data["labels"], str(code)))
    book = RuleBook(
        root=root, params=params, indicators=indicators, decisions=tuple(decisions),
        decision_lines=decision_lines, documents=documents, folders=folders, labels=labels,
        sha256=digest.hexdigest(), flag_labels=flag_labels,
    )
    c.problems.extend(check_consistency(book))
    for rule in decisions:
        for action in rule.then:
            code = action.get("flag") or action.get("warn") if isinstance(action, Mapping) else None
            if code and code not in flag_labels:
                where, line = decision_lines.get(rule.id, ("", 0))
                c.add(where, line, f"decisions.{rule.id}",
                      f"« {code} » n'a pas de libellé : l'ajouter sous « labels: »" + _suggest(code, flag_labels))
    if c.problems:
        raise RulesError(c.problems)
    return book


def _rel(root: Path, file: Path) -> str:
    return str(Path(root.name) / file.relative_to(root))


def _load_indicators(c: _Collector, rel: str, dispositif: str, node: Any,
                     out: dict[str, dict[str, IndicatorDef]], documents: Mapping[str, Any]) -> None:
    if not isinstance(node, Mapping):
        c.add(rel, 0, "indicators", "table d'indicateurs attendue")
        return
    for ind_id, spec in node.items():
        path = f"{dispositif}.indicators.{ind_id}"
        if not isinstance(spec, Mapping):
            c.add(rel, _line(node, str(ind_id)), path, "table attendue (kind, part, label, source)")
            continue
        _check_keys(c, rel, spec, INDICATOR_KEYS, path)
        _check_source(c, rel, spec, path, documents, _line(node, str(ind_id)))
        kind = spec.get("kind")
        if kind not in INDICATOR_KINDS:
            c.add(rel, _line(spec, "kind"), f"{path}.kind",
                  f"« {kind} » inconnu (attendu : {', '.join(INDICATOR_KINDS)})" + _suggest(str(kind), INDICATOR_KINDS))
            continue
        part = spec.get("part", "none")
        if part not in PARTS:
            c.add(rel, _line(spec, "part"), f"{path}.part",
                  f"« {part} » inconnu (attendu : {', '.join(PARTS)})" + _suggest(str(part), PARTS))
            continue
        columns = spec.get("value_column")
        value_columns = tuple(columns) if isinstance(columns, list) else (columns,) if columns else ()
        ratio = (spec.get("numerator_column"), spec.get("denominator_column"))
        if kind == "reported" and not value_columns and not all(ratio):
            c.add(rel, _line(node, str(ind_id)), path,
                  "indicateur rapporté sans valeur : préciser « value_column » (un ou plusieurs comptes) "
                  "ou « numerator_column » et « denominator_column »")
            continue
        if ind_id in out.get(dispositif, {}):
            c.add(rel, _line(node, str(ind_id)), path, "indicateur déjà défini")
            continue
        out.setdefault(dispositif, {})[str(ind_id)] = IndicatorDef(
            id=str(ind_id), dispositif=dispositif, kind=kind, part=part,
            label=str(spec.get("label", ind_id)), source=dict(spec.get("source") or {}),
            target_parameter=spec.get("target_parameter"), target_column=spec.get("target_column"),
            prorate=bool(spec.get("prorate", False)), file=rel, line=_line(node, str(ind_id)),
            value_columns=tuple(str(v) for v in value_columns), numerator_column=ratio[0],
            denominator_column=ratio[1], unit=str(spec.get("unit", "nombre")),
        )


def _load_decisions(c: _Collector, rel: str, node: Any, out: list[DecisionRule],
                    lines: dict[str, tuple[str, int]], documents: Mapping[str, Any]) -> None:
    if not isinstance(node, Mapping):
        c.add(rel, 0, "decisions", "table de règles de décision attendue")
        return
    for rule_id, spec in node.items():
        path = f"decisions.{rule_id}"
        line = _line(node, str(rule_id))
        if not isinstance(spec, Mapping):
            c.add(rel, line, path, "table attendue (stage, when, then, source)")
            continue
        _check_keys(c, rel, spec, DECISION_KEYS, path)
        _check_source(c, rel, spec, path, documents, line)
        stage = spec.get("stage")
        if stage not in STAGES:
            c.add(rel, _line(spec, "stage"), f"{path}.stage",
                  f"« {stage} » inconnu (attendu : {', '.join(STAGES)})" + _suggest(str(stage), STAGES))
            continue
        if str(rule_id) in lines:
            c.add(rel, line, path, f"règle déjà définie ({lines[str(rule_id)][0]}, ligne {lines[str(rule_id)][1]})")
            continue
        rule = DecisionRule(
            id=str(rule_id), stage=stage, when=_plain(spec.get("when") or {}),
            then=tuple(_plain(spec.get("then") or [])), description=str(spec.get("description", "")),
            source=_plain(spec.get("source")), enabled=bool(spec.get("enabled", True)),
        )
        for message in validate_rule(rule):
            c.add(rel, line, path, message)
        out.append(rule)
        lines[str(rule_id)] = (rel, line)


def _plain(value: Any) -> Any:
    """Deep copy of YAML data as plain dicts and lists (no line bookkeeping)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return copy.deepcopy(value)


# --------------------------------------------------------------------------- cross checks


def _dates(book: RuleBook, paths: Iterable[str]) -> list[date]:
    found = sorted({d for p in paths if p in book.params for d, _ in book.params[p].values})
    return found


def check_consistency(book: RuleBook) -> list[Problem]:
    """Checks that span several parameters: floors below targets, weights summing to 1."""
    problems: list[Problem] = []
    for dispositif, inds in book.indicators.items():
        weight_paths: list[str] = []
        for ind in inds.values():
            if ind.kind == "rate" and ind.part == "qualitative":
                base = f"{dispositif}.scoring.{ind.id}"
                needed = [f"{base}.target", f"{base}.floor", f"{base}.weight"]
                absent = [p for p in needed if p not in book.params]
                for p in absent:
                    problems.append(Problem(ind.file, ind.line, p,
                        f"paramètre manquant pour l'indicateur noté « {ind.id} »"))
                if absent:
                    continue
                weight_paths.append(f"{base}.weight")
                for when in _dates(book, needed[:2]):
                    target, floor = book.params[needed[0]].at(when), book.params[needed[1]].at(when)
                    if floor >= target:
                        param = book.params[needed[1]]
                        problems.append(Problem(param.file, param.line, param.path,
                            f"le plancher ({floor}) doit être strictement inférieur à la cible ({target})"
                            f" en vigueur le {when.isoformat()}"))
            if ind.kind == "volume" and ind.target_parameter:
                path = f"{dispositif}.{ind.target_parameter}"
                if path not in book.params:
                    problems.append(Problem(ind.file, ind.line, f"{dispositif}.indicators.{ind.id}.target_parameter",
                        "paramètre de cible inconnu" + _suggest(path, book.params)))
        problems.extend(_weights_sum(book, weight_paths, "poids des indicateurs qualitatifs"))
        shares = [f"{dispositif}.quantitative_weight", f"{dispositif}.qualitative_weight"]
        if all(p in book.params for p in shares):
            problems.extend(_weights_sum(book, shares, "parts quantitative + qualitative"))
        elif inds:
            for p in shares:
                if p not in book.params:
                    problems.append(Problem("", 0, p, f"paramètre manquant pour le dispositif « {dispositif} »"))
    return problems


def _weights_sum(book: RuleBook, paths: list[str], what: str) -> list[Problem]:
    problems: list[Problem] = []
    if not paths:
        return problems
    for when in _dates(book, paths):
        total = sum((Decimal(book.params[p].at(when)) for p in paths), Decimal(0))
        if total != 1:
            first = book.params[paths[0]]
            key = first.path.rsplit(".", 2)[0] if "scoring" in first.path else first.path
            problems.append(Problem(first.file, first.line, key,
                f"les {what} doivent faire 1, ils font {total} (valeurs en vigueur le {when.isoformat()})"))
    return problems


# --------------------------------------------------------------------------- edits


def apply_edits(book: RuleBook, edits: Iterable[Edit]) -> RuleBook:
    """A copy of `book` with `edits` applied, checked as a whole; the original is untouched.

    An edit without a date replaces every dated value; with `from_date` it adds (or replaces)
    the value in force from that date on. Raises RulesError on an unknown path (with the
    closest one), a value of the wrong type or out of range, or a tree that no longer holds
    (a floor not below its target, weights not summing to 1).
    """
    problems: list[Problem] = []
    params = dict(book.params)
    decisions = list(book.decisions)
    applied: list[Edit] = []
    for edit in edits:
        if edit.path.startswith("decisions."):
            rule_id = edit.path.split(".", 1)[1].removesuffix(".enabled")
            ids = [r.id for r in decisions]
            if rule_id not in ids:
                problems.append(Problem(edit.origin, 0, edit.path,
                                        "règle de décision inconnue" + _suggest(rule_id, ids)))
                continue
            enabled, problem = coerce_value("boolean", edit.value, None, None, None)
            if problem:
                problems.append(Problem(edit.origin, 0, edit.path, problem))
                continue
            decisions = [replace(r, enabled=enabled) if r.id == rule_id else r for r in decisions]
            applied.append(replace(edit, value=enabled))
            continue
        if edit.path not in params:
            problems.append(Problem(edit.origin, 0, edit.path, "paramètre inconnu" + _suggest(edit.path, params)))
            continue
        param = params[edit.path]
        typed, problem = coerce_value(param.type, edit.value, param.choices, param.min, param.max)
        if problem:
            problems.append(Problem(edit.origin, 0, edit.path, problem))
            continue
        if edit.from_date is None:
            values = tuple((d, typed) for d, _ in param.values)
        else:
            kept = [(d, v) for d, v in param.values if d != edit.from_date]
            values = tuple(sorted([*kept, (edit.from_date, typed)], key=lambda item: item[0]))
        params[edit.path] = replace(param, values=values)
        applied.append(replace(edit, value=typed))
    if problems:
        raise RulesError(problems)
    edited = replace(book, params=params, decisions=tuple(decisions), edits=book.edits + tuple(applied))
    problems = check_consistency(edited)
    if problems:
        raise RulesError(problems)
    return edited


def parse_set(option: str) -> Edit:
    """Parse a `--set PARAM=VALUE` option (VALUE may be `a,b` for a list of codes)."""
    if "=" not in option:
        raise RulesError([Problem("--set", 0, option, "forme attendue PARAMÈTRE=VALEUR")])
    path, value = option.split("=", 1)
    return Edit(path=path.strip(), value=value.strip(), origin="--set")
