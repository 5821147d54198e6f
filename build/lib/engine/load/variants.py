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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from engine.load.rules import _suggest, apply_edits, parse_set
from engine.load.yaml_loader import LineDict, _Loader
from engine.model.errors import Problem, RulesError
from engine.model.rulebook import Edit, RuleBook

VARIANT_KEYS = ("name", "author", "purpose", "changes")
VARIANT_REQUIRED = ("name", "changes")
PARAMETER_CHANGE_KEYS = ("parameter", "value", "from")
DECISION_CHANGE_KEYS = ("decision", "enabled")


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


