"""The simulation form: every editable parameter and decision rule, and the edits it carries.

Edits travel in the query string, so that a link can be shared and two people never see
each other's edits (nothing is kept on the server): `p.<path>=<value>` sets a parameter,
`f.<path>=AAAA-MM-JJ` its « à partir du » date, `d.<rule>=0|1` switches a decision rule.
A field equal to the rule in force (and without a date) is not an edit. The values are
checked by the rules loader itself (`engine.load.rules.apply_edits`); its French problems
are shown beside the field they name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import yaml

from engine.load.variants import Variant, VariantError, edited_book
from engine.model.errors import Problem
from engine.model.format import show
from engine.model.rulebook import Edit, Param, RuleBook

#: Parameters a simulation does not offer: they choose a computation, not a figure.
NOT_EDITABLE = ("funding_model", "share_parameter_mining_basin", "share_parameter_elsewhere")


def field_id(path: str) -> str:
    """An HTML id for a parameter or rule path (dots are not welcome in selectors)."""
    return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", path)


def editable(param: Param) -> bool:
    """Whether the simulation form offers this parameter."""
    return param.name not in NOT_EDITABLE and param.type != "text"


def _text(value: Any) -> str:
    """A parameter value as a form field holds it (dot decimal, comma-separated codes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f").rstrip("0")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _same(param: Param, typed: str, current: Any) -> bool:
    """Whether a submitted text means the value in force."""
    if param.type in ("integer", "decimal"):
        try:
            return Decimal(typed.strip().replace(",", ".")) == Decimal(str(current))
        except (InvalidOperation, ValueError):
            return False
    if param.type == "codes":
        return sorted(v.strip() for v in typed.split(",") if v.strip()) == sorted(str(v) for v in current)
    if param.type == "boolean":
        return typed.strip().lower() == _text(current)
    return typed.strip() == _text(current)


@dataclass
class Field:
    """One parameter of the form."""

    param: Param
    current: Any
    value: str
    from_date: str = ""
    error: str = ""
    edited: bool = False

    @property
    def id(self) -> str:
        """HTML id."""
        return field_id(self.param.path)

    @property
    def current_text(self) -> str:
        """The value in force, in French."""
        return show(self.current)

    @property
    def selected(self) -> set[str]:
        """The codes ticked (codes type)."""
        return {v.strip() for v in self.value.split(",") if v.strip()}

    @property
    def step(self) -> str:
        """The step of a number input."""
        return "1" if self.param.type == "integer" else "any"


@dataclass
class Switch:
    """One decision rule of the form."""

    id: str
    stage: str
    description: str
    enabled: bool
    current: bool
    error: str = ""

    @property
    def field(self) -> str:
        """HTML id."""
        return field_id("decisions." + self.id)


@dataclass
class Edits:
    """What a request asks: the form's fields, the edits among them and their problems."""

    fields: list[Field]
    switches: list[Switch]
    edits: list[Edit]
    problems: list[str] = field(default_factory=list)
    name: str = ""
    author: str = ""
    purpose: str = ""

    @property
    def ok(self) -> bool:
        """True when no field and no edit was refused."""
        return not self.problems and not any(f.error for f in self.fields) and not any(s.error for s in self.switches)

    @property
    def variant(self) -> Variant:
        """The edits as a variant (named after its file when it came from one)."""
        return Variant(name=self.name or "Simulation", author=self.author, purpose=self.purpose,
                       edits=tuple(self.edits))

    def query(self) -> str:
        """The query string that carries these edits (the shareable link)."""
        pairs: list[tuple[str, str]] = []
        for edit in self.edits:
            if edit.path.startswith("decisions."):
                pairs.append((f"d.{edit.path.split('.', 1)[1]}", "1" if edit.value in (True, "true") else "0"))
                continue
            pairs.append((f"p.{edit.path}", _text(edit.value)))
            if edit.from_date:
                pairs.append((f"f.{edit.path}", edit.from_date.isoformat()))
        for key, value in (("nom", self.name), ("auteur", self.author), ("objet", self.purpose)):
            if value:
                pairs.append((key, value))
        return urlencode(pairs)

    def by_dispositif(self) -> list[tuple[str, list[Field]]]:
        """The fields grouped by dispositif, in the rules' order."""
        groups: dict[str, list[Field]] = {}
        for f in self.fields:
            groups.setdefault(f.param.dispositif, []).append(f)
        return list(groups.items())


def _values(query: Any, key: str) -> list[str]:
    if hasattr(query, "getlist"):
        return [str(v) for v in query.getlist(key)]
    value = query.get(key)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def read_edits(book: RuleBook, query: Mapping[str, Any], as_of: date) -> Edits:
    """The fields of the form filled from `query`, the edits they make, and the loader's verdict."""
    fields: list[Field] = []
    edits: list[Edit] = []
    problems: list[str] = []
    for param in book.params.values():
        if not editable(param):
            continue
        try:
            current = param.at(as_of)
        except Exception:  # noqa: BLE001 - a parameter with no value yet on that date
            current = param.values[0][1]
        given = _values(query, f"p.{param.path}")
        start = (_values(query, f"f.{param.path}") or [""])[-1].strip()
        if param.type == "codes" and given:
            value = ",".join(v for v in given if v.strip())
        else:
            value = given[-1] if given else _text(current)
        f = Field(param, current, value, start)
        fields.append(f)
        if not given and not start:
            continue
        if _same(param, value, current) and not start:
            continue
        when = None
        if start:
            try:
                when = date.fromisoformat(start)
            except ValueError:
                f.error = f"date d'effet invalide « {start} » (attendu AAAA-MM-JJ)"
                continue
        f.edited = True
        typed: Any = [v.strip() for v in value.split(",") if v.strip()] if param.type == "codes" else value
        edits.append(Edit(path=param.path, value=typed, from_date=when, origin="formulaire"))
    switches: list[Switch] = []
    for rule in book.decisions:
        given = _values(query, f"d.{rule.id}")
        enabled = ("1" in given) if given else rule.enabled
        switches.append(Switch(rule.id, rule.stage, rule.description, enabled, rule.enabled))
        if enabled != rule.enabled:
            edits.append(Edit(path=f"decisions.{rule.id}", value=enabled, origin="formulaire"))
    result = Edits(fields, switches, edits, problems,
                   name=(_values(query, "nom") or [""])[-1][:200],
                   author=(_values(query, "auteur") or [""])[-1][:200],
                   purpose=(_values(query, "objet") or [""])[-1][:1000])
    check(book, result)
    return result


def check(book: RuleBook, edits: Edits) -> None:
    """Apply the edits with the loader and put each of its problems beside its field."""
    if not edits.edits or any(f.error for f in edits.fields):
        return
    try:
        edited_book(book, edits.variant)
    except VariantError as error:
        place(edits, error.problems)


def place(edits: Edits, problems: Iterable[Problem]) -> None:
    """Each problem beside the field it names; the others in the general list."""
    by_path = {f.param.path: f for f in edits.fields}
    by_rule = {f"decisions.{s.id}": s for s in edits.switches}
    for problem in problems:
        target = by_path.get(problem.key) or by_rule.get(problem.key)
        if isinstance(target, Field):
            target.error = problem.message if not target.error else target.error + " ; " + problem.message
        elif isinstance(target, Switch):
            target.error = problem.message
        else:
            where = f"« {problem.key} » : " if problem.key else ""
            edits.problems.append(where + problem.message)


def variant_yaml(edits: Edits, as_of: date) -> str:
    """The edits as a variant file (the `--variant` format of `parcours whatif`)."""
    changes: list[dict[str, Any]] = []
    for edit in edits.edits:
        if edit.path.startswith("decisions."):
            changes.append({"decision": edit.path.split(".", 1)[1], "enabled": bool(edit.value)})
            continue
        param_value: Any = edit.value
        for f in edits.fields:
            if f.param.path == edit.path:
                param_value = _yaml_value(f.param, edit.value)
        change: dict[str, Any] = {"parameter": edit.path, "value": param_value}
        if edit.from_date:
            change["from"] = edit.from_date
        changes.append(change)
    document: dict[str, Any] = {"name": edits.name or f"Simulation au {as_of.strftime('%d/%m/%Y')}"}
    if edits.author:
        document["author"] = edits.author
    if edits.purpose:
        document["purpose"] = edits.purpose
    document["changes"] = changes
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, default_flow_style=False)


def _yaml_value(param: Param, value: Any) -> Any:
    if param.type == "integer":
        try:
            return int(str(value).strip())
        except ValueError:
            return value
    if param.type == "decimal":
        try:
            number = Decimal(str(value).strip().replace(",", "."))
        except InvalidOperation:
            return value
        return int(number) if number == number.to_integral() else float(number)
    if param.type == "boolean":
        return str(value).strip().lower() in ("true", "vrai", "oui", "1")
    if param.type == "codes":
        return list(value) if isinstance(value, list | tuple) else [v.strip() for v in str(value).split(",")]
    return value


def variant_query(book: RuleBook, variant: Variant) -> str:
    """The query string of a variant read from a file (to land on the same comparison)."""
    pairs: list[tuple[str, str]] = []
    for edit in variant.edits:
        if edit.path.startswith("decisions."):
            pairs.append((f"d.{edit.path.split('.', 1)[1]}", "1" if edit.value is True else "0"))
            continue
        pairs.append((f"p.{edit.path}", _text(edit.value)))
        if edit.from_date:
            pairs.append((f"f.{edit.path}", edit.from_date.isoformat()))
    for key, value in (("nom", variant.name), ("auteur", variant.author), ("objet", variant.purpose)):
        if value:
            pairs.append((key, value))
    return urlencode(pairs)
