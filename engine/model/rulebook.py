"""The rule book as typed data: parameters with dated values, indicator definitions, edits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.model.decision_rules import DecisionRule, FactDef
from engine.model.errors import Problem, RulesError
from engine.model.text import suggest as _suggest


@dataclass(frozen=True)
class Param:
    """One parameter: its dated values and where it comes from."""

    path: str
    description: str
    unit: str
    type: str
    values: tuple[tuple[date, Any], ...]
    source: Mapping[str, Any]
    choices: tuple[str, ...] | None = None
    min: Decimal | None = None
    max: Decimal | None = None
    file: str = ""
    line: int = 0

    @property
    def dispositif(self) -> str:
        """The first segment of the path."""
        return self.path.split(".", 1)[0]

    @property
    def name(self) -> str:
        """The path without its dispositif."""
        return self.path.split(".", 1)[1]

    def since(self, when: date) -> date | None:
        """The effective date of the value in force on `when` (None before the first one)."""
        found = [start for start, _ in self.values if start <= when]
        return max(found) if found else None

    def at(self, when: date) -> Any:
        """The value in force on `when` (latest effective date on or before it)."""
        current = None
        found = False
        for start, value in self.values:
            if start <= when:
                current, found = value, True
        if not found:
            first = self.values[0][0].isoformat()
            raise RulesError([Problem(self.file, self.line, self.path,
                f"aucune valeur en vigueur le {when.isoformat()} (première valeur au {first})")])
        return current


@dataclass(frozen=True)
class IndicatorDef:
    """An indicator of a dispositif, as the rules declare it."""

    id: str
    dispositif: str
    kind: str
    part: str
    label: str
    source: Mapping[str, Any]
    target_parameter: str | None = None
    target_column: str | None = None
    prorate: bool = False
    file: str = ""
    line: int = 0
    #: Reported-only indicators: the reported count(s) giving the value (summed), or the
    #: two counts of a ratio or a mean (`numerator_column` / `denominator_column`).
    value_columns: tuple[str, ...] = ()
    numerator_column: str | None = None
    denominator_column: str | None = None
    #: How a reported value reads: `nombre`, `taux` (a share, shown as a percentage) or a unit (`jours`).
    unit: str = "nombre"


@dataclass(frozen=True)
class RuleBook:
    """The whole rules tree, checked. Immutable: edits give a new book."""

    root: Path
    params: Mapping[str, Param]
    indicators: Mapping[str, Mapping[str, IndicatorDef]]
    decisions: tuple[DecisionRule, ...]
    decision_lines: Mapping[str, tuple[str, int]]
    documents: Mapping[str, Any]
    folders: Mapping[str, str]
    labels: Mapping[str, str]
    sha256: str
    flag_labels: Mapping[str, str] = field(default_factory=dict)
    edits: tuple[Edit, ...] = ()
    #: The declared decision facts (`facts:` of rules/decisions.yaml), by name.
    facts: Mapping[str, FactDef] = field(default_factory=dict)
    code_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def code_label(self, kind: str, code: object) -> str:
        """The French label of `code` of `kind` (labels.yaml `codes:`), else the code itself."""
        return self.code_labels.get(kind, {}).get(str(code), str(code))

    def source_view(self, source: Mapping[str, Any] | None) -> dict[str, Any]:
        """A rule's source as people are shown it (see `source_view`)."""
        return source_view(self.documents, source)

    def dispositifs(self) -> list[str]:
        """Dispositifs that have indicators in the rules."""
        return sorted(self.indicators)

    def resolve(self, dispositif: str, when: date) -> dict[str, Any]:
        """Every parameter of `dispositif` in force on `when`, keyed by path without prefix."""
        return {p.name: p.at(when) for p in self.params.values() if p.dispositif == dispositif}

    def param(self, path: str) -> Param:
        """The parameter at `path` (dotted), or a RulesError with the likely typo."""
        if path not in self.params:
            raise RulesError([Problem("", 0, path, "paramètre inconnu" + _suggest(path, self.params))])
        return self.params[path]


@dataclass(frozen=True)
class Edit:
    """One change to a parameter: a new value, from a date (or for every date)."""

    path: str
    value: Any
    from_date: date | None = None
    origin: str = "--set"


def source_view(documents: Mapping[str, Any], source: Mapping[str, Any] | None) -> dict[str, Any]:
    """A rule's source as people are shown it: document (with its title), ref, quote, interpretation."""
    source = source or {}
    doc = str(source.get("document") or "")
    entry = documents.get(doc) if isinstance(documents, Mapping) else None
    title = entry.get("title") if isinstance(entry, Mapping) else None
    return {
        "document": doc,
        "document_title": str(title or doc),
        "ref": str(source.get("ref") or ""),
        "quote": str(source.get("quote") or ""),
        "interpretation": bool(source.get("interpretation")),
    }
