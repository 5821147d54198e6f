"""The one YAML loader: safe, line-tracking, duplicate keys collected, limits before work.

Every YAML file the engine reads (rules, variants, scenarios, source profiles) goes
through `read_yaml` (or `parse_yaml` for text already in memory). It returns the data
and a list of French `Problem`s (file, line); it never raises for a bad document.

Limits (`YamlLimits`) are checked before or while parsing, never after the damage:

- the file's size, from `stat` and then while reading (nothing beyond the limit is read);
- the nesting depth and the number of nodes, counted while the document is composed (a
  5 000-level document is refused at level `max_depth`, with no `RecursionError`; a huge
  document stops being parsed at its `max_nodes`-th node, pure-Python parsing being slow);
- aliases: their number, and the node count of the document *once aliases are expanded*,
  computed on the composed graph with one memoised walk (a « billion laughs » bomb is
  refused in milliseconds, whatever key it hides under); an alias cycle is refused;
- the length of a scalar, and the digits of an integer (refused before `int()`, so
  Python's 4 300-digit limit never surfaces);
- tags: only the plain YAML types (text, numbers, booleans, dates, lists, tables); an
  object tag such as `!!python/object` is refused by name.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from engine.model.errors import Problem
from engine.model.oserror import os_error_fr


class LineDict(dict):
    """A mapping read from YAML that remembers the line of each of its keys."""

    line: int = 0
    lines: dict[str, int]


@dataclass(frozen=True)
class YamlLimits:
    """Bounds a YAML document must stay within (all checked before the data is built)."""

    max_bytes: int = 2_000_000
    max_depth: int = 50
    max_aliases: int = 1_000
    max_nodes: int = 200_000
    max_scalar_chars: int = 20_000
    max_int_digits: int = 30


DEFAULT_LIMITS = YamlLimits()
RULES_LIMITS = YamlLimits(max_bytes=2_000_000)
VARIANT_LIMITS = YamlLimits(max_bytes=1_000_000, max_nodes=10_000)  # 500 changes ≈ 4 000 nodes
PROFILE_LIMITS = YamlLimits(max_bytes=1_000_000)
SCENARIO_LIMITS = YamlLimits(max_bytes=5_000_000, max_nodes=2_000_000)

SAFE_TAGS = frozenset(
    "tag:yaml.org,2002:" + name
    for name in ("null", "bool", "int", "float", "str", "timestamp", "seq", "map")
)


NUMBER = re.compile(r"[-+]?([0-9][0-9_]*)(?:[.,][0-9_]*)?(?:[eE]([-+]?[0-9]+))?")
MAX_EXPONENT = 100


class _Refused(Exception):
    """A limit or a forbidden construct, found while composing: one French sentence and a line."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f}".replace(".", ",").replace(",0", "") + " Mo"


if TYPE_CHECKING:  # the methods `_Checks` relies on, for the type checker
    _Base = yaml.SafeLoader
else:
    _Base = object


class _Checks(_Base):
    """What both loaders add to PyYAML: lines recorded, duplicate keys collected, limits enforced.

    Mixed in before a parser (PyYAML's pure-Python one, or libyaml's events) and PyYAML's
    Python composer and safe constructor, so that every node passes through `compose_node`.
    """

    duplicates: list[tuple[int, str]]
    limits: YamlLimits = DEFAULT_LIMITS
    _depth: int = 0
    _aliases: int = 0
    _nodes: int = 0

    # -- composition: depth, aliases, scalars, tags, integers (before any object is built)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > self.limits.max_aliases:
                raise _Refused(line, f"trop d'alias (plus de {self.limits.max_aliases})")
            return super().compose_node(parent, index)
        self._nodes += 1
        if self._nodes > self.limits.max_nodes:
            raise _Refused(line, f"document trop volumineux (plus de {self.limits.max_nodes} éléments)")
        self._depth += 1
        if self._depth > self.limits.max_depth:
            raise _Refused(line, f"imbrication trop profonde (plus de {self.limits.max_depth} niveaux)")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._check_node(node, line)
        return node

    def _check_node(self, node: yaml.Node, line: int) -> None:
        if node.tag not in SAFE_TAGS:
            tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
            raise _Refused(line, f"étiquette YAML « {tag} » refusée (seuls textes, nombres, "
                                 "dates, listes et tables sont admis)")
        if isinstance(node, yaml.ScalarNode):
            value = str(node.value)
            if len(value) > self.limits.max_scalar_chars:
                raise _Refused(line, f"valeur trop longue ({len(value)} caractères, "
                                     f"au plus {self.limits.max_scalar_chars})")
            if node.tag == "tag:yaml.org,2002:int":
                digits = sum(ch.isdigit() for ch in value)
                if digits > self.limits.max_int_digits:
                    raise _Refused(line, f"nombre entier trop long ({digits} chiffres, "
                                         f"au plus {self.limits.max_int_digits})")
            number = NUMBER.fullmatch(value.strip())
            if number is not None:
                whole, exponent = number.group(1).replace("_", ""), number.group(2)
                if len(whole) > self.limits.max_int_digits:
                    raise _Refused(line, f"nombre trop long ({len(whole)} chiffres avant la virgule, "
                                         f"au plus {self.limits.max_int_digits})")
                if exponent is not None and (len(exponent) > 4 or abs(int(exponent)) > MAX_EXPONENT):
                    raise _Refused(line, f"exposant hors limites (au plus {MAX_EXPONENT})")

    # -- construction: line-tracking tables, duplicate keys, lenient timestamps

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:  # type: ignore[override]
        mapping = LineDict()
        mapping.line = node.start_mark.line + 1
        mapping.lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, date):
                key_text: Any = key
            else:
                key_text = key if isinstance(key, str) else str(key)
            if key_text in mapping:
                self.duplicates.append((key_node.start_mark.line + 1, str(key_text)))
                continue
            mapping[key_text] = self.construct_object(value_node, deep=True)
            mapping.lines[str(key_text)] = key_node.start_mark.line + 1
        return mapping

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:  # type: ignore[override]
        """A date-looking scalar that is not a real date stays text, to be reported in context."""
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return str(node.value)


class _Loader(_Checks, yaml.SafeLoader):
    """The pure-Python loader: PyYAML's scanner and parser (its messages are the ones translated)."""


_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _Loader.construct_mapping,  # type: ignore[arg-type]
)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)

try:
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _FastLoader: type | None = None
else:

    class _CLoader(  # type: ignore[misc]
        _Checks, _CParser, yaml.composer.Composer, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
    ):
        """libyaml's scanner and parser (C, about five times faster), the same Python composer.

        Only the events come from C: nodes are still composed one by one in `compose_node`,
        so depth, node count, aliases, tags and scalars are checked exactly as in `_Loader`.
        """

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

        def get_single_node(self) -> Any:
            return yaml.composer.Composer.get_single_node(self)

    _CLoader.yaml_constructors = _Loader.yaml_constructors
    _FastLoader = _CLoader


def _expanded_size(root: yaml.Node, limit: int) -> None:
    """Refuse a graph whose node count, aliases expanded, exceeds `limit` (or that has a cycle).

    One memoised walk over the distinct nodes: the expanded count of a shared node is
    computed once, so a bomb of 10⁹ expanded nodes costs a few hundred steps.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    # iterative post-order walk (depth is already bounded, but stay off the C stack anyway)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            children = _children(node)
            size = 1 + sum(sizes[id(child)] for child in children)
            sizes[key] = size
            active.discard(key)
            if size > limit:
                raise _Refused(node.start_mark.line + 1,
                               f"document trop volumineux une fois les alias développés "
                               f"(plus de {limit} éléments)")
            continue
        if key in sizes:
            continue
        if key in active:
            raise _Refused(node.start_mark.line + 1, "alias circulaire (un élément se contient lui-même)")
        active.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in active:
                raise _Refused(child.start_mark.line + 1,
                               "alias circulaire (un élément se contient lui-même)")
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


# PyYAML's syntax messages, in French (the common ones; others get a generic sentence).
_SYNTAX = (
    ("mapping values are not allowed", "« : » inattendu (une valeur contenant « : » doit être entre guillemets)"),
    ("found character '\\t'", "tabulation interdite (indenter avec des espaces)"),
    ("expected <block end>", "indentation incohérente"),
    ("did not find expected key", "indentation incohérente (clé attendue)"),
    ("did not find expected", "élément attendu manquant (crochet, accolade ou indentation)"),
    ("but found '<stream end>'", "fin de fichier inattendue (crochet, accolade ou guillemet non fermé)"),
    ("expected the node content", "valeur attendue manquante"),
    ("found unexpected end of stream", "fin de fichier inattendue (guillemet, crochet ou accolade non fermé)"),
    ("found undefined alias", "alias inconnu (aucune ancre « & » de ce nom)"),
    ("found duplicate anchor", "ancre « & » en double"),
    ("expected a single document", "un seul document YAML est attendu (pas de « --- » en cours de fichier)"),
    ("found unknown escape character", "séquence d'échappement inconnue dans un texte entre guillemets"),
    ("found unexpected ':'", "« : » inattendu"),
    ("found character", "caractère interdit à cet endroit"),
    ("could not find expected ':'", "« : » attendu après la clé"),
    ("while scanning", "syntaxe YAML invalide"),
)


def _syntax_fr(error: yaml.YAMLError) -> tuple[int, str]:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line = mark.line + 1 if mark is not None else 0
    column = f", colonne {mark.column + 1}" if mark is not None else ""
    problem = f"{getattr(error, 'problem', '') or ''} {getattr(error, 'context', '') or ''} {error}"
    for english, french in _SYNTAX:
        if english in problem:
            return line, f"YAML invalide{column} : {french}"
    if isinstance(error, yaml.constructor.ConstructorError):
        return line, f"YAML invalide{column} : valeur impossible à lire"
    return line, f"YAML invalide{column} : syntaxe incorrecte"


def parse_yaml(text: str, file: str, limits: YamlLimits = DEFAULT_LIMITS) -> tuple[Any, list[Problem]]:
    """Parse `text` (named `file` in problems) under `limits`; return (data, problems).

    `data` is None when the document is refused (syntax, limit, forbidden tag); duplicate
    keys are problems too, but the data is returned (the first occurrence kept) so that a
    caller collecting every problem can go on checking.
    """
    if len(text) > limits.max_bytes:
        return None, [Problem(file, 0, "", f"fichier trop volumineux (au plus {_mb(limits.max_bytes)})")]
    if _FastLoader is not None:
        try:
            return _parse_with(_FastLoader, text, file, limits)
        except yaml.YAMLError:
            pass  # told in PyYAML's own words below (the ones translated in `_SYNTAX`)
    try:
        return _parse_with(_Loader, text, file, limits)
    except yaml.YAMLError as error:
        line, message = _syntax_fr(error)
        return None, [Problem(file, line, "", message)]


def _parse_with(kind: type, text: str, file: str, limits: YamlLimits) -> tuple[Any, list[Problem]]:
    """`parse_yaml` with the loader class `kind`; a syntax error is raised (`yaml.YAMLError`)."""
    loader = kind(text)
    loader.duplicates = []
    loader.limits = limits
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        if loader._aliases:  # without aliases the expanded size is the node count, bounded above
            _expanded_size(node, limits.max_nodes)
        data = loader.construct_document(node)
    except _Refused as refused:
        return None, [Problem(file, refused.line, "", refused.message)]
    except RecursionError:  # pragma: no cover - depth is bounded far below the stack limit
        return None, [Problem(file, 0, "", "imbrication trop profonde")]
    finally:
        loader.dispose()
    problems = [
        Problem(file, line, key, "clé en double (la première occurrence compterait seule)")
        for line, key in loader.duplicates
    ]
    return data, problems


def read_text_limited(path: Path, max_bytes: int) -> str:
    """Read a UTF-8 text file of at most `max_bytes` bytes (BOM allowed).

    Raises `_Refused` (line 0, or the line of the first byte that does not decode).
    """
    try:
        if not path.exists() and not path.is_symlink():
            raise _Refused(0, "fichier introuvable")
        if path.is_dir():
            raise _Refused(0, "c'est un dossier, pas un fichier")
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            raise _Refused(0, "pas un fichier ordinaire (tube, périphérique ou socket)")
        size = status.st_size
        if size > max_bytes:
            raise _Refused(0, f"fichier trop volumineux ({_mb(size)}, au plus {_mb(max_bytes)})")
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as error:
        raise _Refused(0, f"fichier illisible ({os_error_fr(error)})") from None
    if len(raw) > max_bytes:
        raise _Refused(0, f"fichier trop volumineux (au plus {_mb(max_bytes)})")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise _Refused(line, "fichier illisible (pas un texte UTF-8 valide)") from None


def read_yaml(
    path: Path | str, file: str | None = None, limits: YamlLimits = DEFAULT_LIMITS
) -> tuple[Any, list[Problem]]:
    """Read and parse the YAML file `path` under `limits`; return (data, problems).

    `file` is how problems name the file (default: the path as given). Never raises for
    a bad file: an unreadable, oversized or refused document gives `data = None` and one
    problem with its line.
    """
    path = Path(path)
    name = file if file is not None else str(path)
    try:
        text = read_text_limited(path, limits.max_bytes)
    except _Refused as refused:
        return None, [Problem(name, refused.line, "", refused.message)]
    return parse_yaml(text, name, limits)


def _line(mapping: Any, key: str | None = None) -> int:
    if isinstance(mapping, LineDict):
        if key is not None and key in mapping.lines:
            return mapping.lines[key]
        return mapping.line
    return 0


__all__ = [
    "DEFAULT_LIMITS",
    "PROFILE_LIMITS",
    "RULES_LIMITS",
    "SCENARIO_LIMITS",
    "VARIANT_LIMITS",
    "LineDict",
    "YamlLimits",
    "parse_yaml",
    "read_yaml",
]
