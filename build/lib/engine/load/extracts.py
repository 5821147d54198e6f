"""Read the activity extracts and check them against the input contract.

`read_extracts(DATA)` reads a folder (one `<table>.csv` or `<table>.parquet` per table) or
one `.xlsx` workbook (one sheet per table, named after it) and returns, for every table of
`engine.contract.TABLES`, the rows that keep to the contract, typed as it says, plus one
row per problem found in the other rows (`Extracts.rejected`). The specification is
`shared/spec/extracts.md`; the tables, columns, codes and row checks are the data of
`engine.contract`.

Validation is *lazy*: every problem of every row is collected, never the first one only.
A file that cannot be read at all, or lacks a required column, raises `ExtractError` with
one French sentence naming the file (and the column).

How a row is checked, in one pass of polars expressions per table:

1. each cell is stripped; an empty cell is missing; a row empty in every contract column
   (blank line, trailing `;;;;` of an office export) is not a row: it is skipped and not
   counted;
2. each column is parsed by kind (date, boolean, integer, decimal, hours, code) and
   checked: required, readable, in the code list, in range, on the right weekday;
3. the row checks of the table (`contract.Before`, `contract.RequiredWhen`);
4. duplicate keys: the first row in file order is kept, the later ones are set aside
   (the key check does not look at the row's other problems);
5. parents: the parent id must be a *kept* row of the parent table (read before);
   if the parent row was set aside, the reason says so and gives its line.

Line numbers (`rejected.line`, `source_line` of the kept rows): for a CSV, the line in
the file (header = line 1, first data row = line 2; exact unless a quoted value spans
several lines); for a sheet, the row number in the sheet (the header row is the first
non-empty row); for parquet, the row index + 2, as if it were a CSV with a header line.

Typed parquet columns are checked directly when their type fits the kind (a `Date`
column for a date, a number for a decimal…), otherwise read as text; sheets are read as
text (a date cell reads `AAAA-MM-JJ 00:00:00`, whose midnight time is accepted).
A Windows-1252 CSV is re-encoded in memory; a UTF-8 one is streamed by polars.

At scale (tens of millions of rows): a parquet file or a sheet is read into memory once,
and its text and code columns that need no cleaning (`_clean_columns`) are kept as read,
without a copy; a key sorted in file order proves there is no duplicate without hashing;
parent ids are looked up once per run of equal ids.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import functools
import hashlib
import operator
import re
import xml.etree.ElementTree as ET
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import polars as pl
import yaml

from engine.model.contract import (
    DTYPES,
    READ_ORDER,
    TABLES,
    Before,
    Column,
    RequiredWhen,
    Table,
)
from engine.model.errors import ExtractError
from engine.model.extracts import Extracts

__all__ = [
    "REJECTED_SCHEMA",
    "SOURCE_LINE",
    "ExtractError",
    "Extracts",
    "read_extracts",
]

SOURCE_LINE = "source_line"

REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "table": pl.String(),
    "file": pl.String(),
    "line": pl.Int64(),
    "column": pl.String(),
    "value": pl.String(),
    "reason": pl.String(),
}

_BOOLEANS = {
    "true": True,
    "1": True,
    "oui": True,
    "vrai": True,
    "false": False,
    "0": False,
    "non": False,
    "faux": False,
}
_INTEGER = r"^[+-]?\d+(\.0*)?$"
_MIDNIGHT = " 00:00:00"  # a spreadsheet date read as text
_SPACES = [" ", "\u00a0", "\u202f", "€"]  # thousands separators (and a euro sign): dropped
_WEEKDAYS = {
    1: "lundi",
    2: "mardi",
    3: "mercredi",
    4: "jeudi",
    5: "vendredi",
    6: "samedi",
    7: "dimanche",
}
# parent table -> (noun, "unknown", "not in", "set aside"), agreeing in gender
_PARENT_WORDS = {
    "conventions": ("convention", "inconnue", "absente", "écartée"),
    "episodes": ("épisode", "inconnu", "absent", "écarté"),
}
_PARENT_TABLES = {parent for t in TABLES.values() for parent, _ in t.parents.values()}
_CHUNK = 1 << 23  # bytes read at a time to hash a file and check its encoding
_LARGE = 1 << 20  # rows from which a one-pass check over a frame is worth the streaming engine
_HEAD = 1 << 20  # bytes enough to hold the header line


# --------------------------------------------------------------------------- profile


@dataclass(frozen=True)
class _TableProfile:
    """How one table of a source profile differs from the contract."""

    file: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # normalised header -> column
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> {code: code}


def _norm_header(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").split()).lower()


def _load_profile(path: Path, files: dict[str, str]) -> dict[str, _TableProfile]:
    """Read a source profile (YAML): per table `file`, `columns` and `codes`."""
    if not path.is_file():
        raise ExtractError(f"Profil de source introuvable : « {path} ».")
    data = path.read_bytes()
    files[path.name] = hashlib.sha256(data).hexdigest()
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" ligne {mark.line + 1}" if mark is not None else ""
        raise ExtractError(f"Profil {path.name} : YAML illisible{where}.") from error
    if doc is None:
        return {}
    if isinstance(doc, dict) and "tables" in doc:
        doc = doc["tables"]
    if not isinstance(doc, dict):
        raise ExtractError(f"Profil {path.name} : une table par clé est attendue (episodes:, …).")
    profiles: dict[str, _TableProfile] = {}
    for name, entry in doc.items():
        if name not in TABLES:
            raise ExtractError(
                f"Profil {path.name} : table « {name} » inconnue "
                f"(tables du contrat : {', '.join(TABLES)})."
            )
        entry = entry or {}
        where = f"Profil {path.name}, table {name}"
        if not isinstance(entry, dict) or set(entry) - {"file", "sheet", "columns", "codes"}:
            raise ExtractError(f"{where} : seules les clés file, columns et codes sont attendues.")
        ours = {c.name for c in TABLES[name].columns}
        columns: dict[str, str] = {}
        if not isinstance(entry.get("columns") or {}, dict):
            raise ExtractError(f"{where} : columns doit associer leur en-tête à notre colonne.")
        for theirs, col in (entry.get("columns") or {}).items():
            if col not in ours:
                raise ExtractError(
                    f"{where} : colonne « {col} » inconnue du contrat "
                    f"(pour l'en-tête « {theirs} »)."
                )
            columns[_norm_header(str(theirs))] = col
        codes: dict[str, dict[str, str]] = {}
        if not isinstance(entry.get("codes") or {}, dict):
            raise ExtractError(f"{where} : codes doit associer une colonne à ses codes.")
        for col, mapping in (entry.get("codes") or {}).items():
            if col not in ours or not isinstance(mapping, dict):
                raise ExtractError(
                    f"{where} : codes de la colonne « {col} » mal décrits "
                    "(colonne du contrat, puis leur code: notre code)."
                )
            codes[col] = {str(k).strip().lower(): str(v).strip() for k, v in mapping.items()}
        file = entry.get("file") or entry.get("sheet")
        profiles[name] = _TableProfile(str(file) if file else None, columns, codes)
    return profiles


# --------------------------------------------------------------------------- sources


@dataclass
class _Raw:
    """One table as read: contract columns present (raw dtype) and `source_line`."""

    table: str
    file: str
    frame: pl.LazyFrame
    codes: dict[str, dict[str, str]]
    first_line: int = 2  # line number of the first row
    in_memory: bool = False  # `frame` holds rows already read (else it scans a file)


def _map_headers(
    headers: list[str], table: Table, profile: _TableProfile, file: str
) -> list[str | None]:
    """Map each header to its contract column (None: a column the contract does not know)."""
    ours = {c.name for c in table.columns}
    seen: dict[str, str] = {}
    targets: list[str | None] = []
    for header in headers:
        norm = _norm_header(header)
        target = profile.columns.get(norm) or (norm if norm in ours else None)
        if target is not None:
            if target in seen:
                raise ExtractError(
                    f"Fichier {file} : la colonne « {target} » est fournie deux fois "
                    f"(« {seen[target]} » et « {header} »)."
                )
            seen[target] = header
        targets.append(target)
    missing = [c.name for c in table.columns if c.required and c.name not in seen]
    if len(missing) > 1:
        names = ", ".join(f"« {m} »" for m in missing)
        raise ExtractError(f"Fichier {file} : colonnes obligatoires {names} absentes.")
    if missing:
        col = missing[0]
        aliases = [h for h, c in profile.columns.items() if c == col]
        free = [_norm_header(h) for h, t in zip(headers, targets, strict=True) if t is None]
        close = difflib.get_close_matches(col, free, n=1, cutoff=0.6)
        hint = (
            f" (attendue sous le nom « {aliases[0]} » d'après le profil)"
            if aliases
            else f" (colonne la plus proche : « {close[0]} »)"
            if close
            else ""
        )
        raise ExtractError(f"Fichier {file} : colonne obligatoire « {col} » absente{hint}.")
    return targets


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_text_file(path: Path) -> tuple[str, bytes | None, str]:
    """Hash a CSV and find its encoding in one pass.

    Returns the sha256, the file re-encoded in UTF-8 when it was Windows-1252 (None when
    it already is UTF-8, so polars can read the file itself) and the header line.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, head = True, b""
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if len(head) < _HEAD and b"\n" not in head:
                head += chunk[: _HEAD - len(head)]
                if b"\x00" in head:
                    raise ExtractError(
                        f"Fichier {path.name} : illisible (contenu binaire, pas un CSV)."
                    )
            digest.update(chunk)
            if utf8 and not (chunk.isascii() and not decoder.getstate()[0]):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if not head.strip():
        raise ExtractError(f"Fichier {path.name} : fichier vide, sans ligne d'en-tête.")
    converted = None
    if not utf8:
        try:
            converted = path.read_bytes().decode("cp1252").encode("utf-8")
        except UnicodeDecodeError as error:
            raise ExtractError(
                f"Fichier {path.name} : encodage non reconnu (ni UTF-8 ni Windows-1252)."
            ) from error
        head = converted[:_HEAD]
    header = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    return digest.hexdigest(), converted, header.lstrip("\ufeff").rstrip("\r")


def _separator(header: str) -> str:
    """`;`, tab or `,`: whichever the header line has most of (`,` on a tie)."""
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda s: (counts[s], s == ","))
    return best if counts[best] else ","


def _open_csv(path: Path, table: Table, profile: _TableProfile, files: dict[str, str]) -> _Raw:
    digest, converted, header = _read_text_file(path)
    files[path.name] = digest
    sep = _separator(header)
    headers = next(csv.reader([header], delimiter=sep))
    targets = _map_headers(headers, table, profile, path.name)
    names = [t or f"__extra_{i}" for i, t in enumerate(targets)]
    lf = pl.scan_csv(
        converted if converted is not None else path,
        separator=sep,
        infer_schema=False,
        new_columns=names,
        truncate_ragged_lines=True,
        encoding="utf8",
    )
    return _Raw(table.name, path.name, _with_line(lf, targets, 2), profile.codes)


def _with_line(lf: pl.LazyFrame, targets: list[str | None], first: int) -> pl.LazyFrame:
    """Keep the contract columns and number the rows from `first`."""
    keep = [t for t in targets if t]
    return lf.with_row_index(SOURCE_LINE, offset=first).select(
        pl.col(SOURCE_LINE).cast(pl.Int64), *keep
    )


def _open_parquet(path: Path, table: Table, profile: _TableProfile, files: dict[str, str]) -> _Raw:
    with ThreadPoolExecutor(max_workers=1) as hasher:
        digest = hasher.submit(_sha256, path)  # hashed while polars reads the file
        try:
            lf = pl.scan_parquet(path)
            schema = lf.collect_schema()
        except Exception as error:  # noqa: BLE001 - any reader failure is the user's file
            raise ExtractError(
                f"Fichier {path.name} : illisible (pas un fichier Parquet valide)."
            ) from error
        names = list(schema.names())
        targets = _map_headers(names, table, profile, path.name)
        lf = lf.select(pl.col(n).alias(t) for n, t in zip(names, targets, strict=True) if t)
        # Read once: the checks make several passes, and typed columns are kept as read.
        frame = _collect(_with_line(lf, [t for t in targets if t], 2), path.name, False)
        files[path.name] = digest.result()
    return _Raw(table.name, path.name, frame.lazy(), profile.codes, in_memory=True)


def _xlsx_first_row(path: Path, sheet: str) -> int:
    """Find the row (1-based) of the first non-empty cell of `sheet`.

    That is where calamine starts reading; 1 when it cannot be told.
    """
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    try:
        with zipfile.ZipFile(path) as book:
            workbook = ET.fromstring(book.read("xl/workbook.xml"))
            rid = next(s.get(rel) for s in workbook.iter(f"{main}sheet") if s.get("name") == sheet)
            rels = ET.fromstring(book.read("xl/_rels/workbook.xml.rels"))
            target = next(r.get("Target") for r in rels if r.get("Id") == rid) or ""
            part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            with book.open(part) as handle:
                for _, element in ET.iterparse(handle):
                    if element.tag == f"{main}c" and any(
                        (child.text or "").strip() or len(child)
                        for child in element
                        if child.tag in (f"{main}v", f"{main}is")
                    ):
                        match = re.search(r"\d+", element.get("r") or "")
                        return int(match.group()) if match else 1
    except Exception:  # noqa: BLE001 - only line numbers depend on it
        return 1
    return 1


class _Workbook:
    """An `.xlsx` workbook, one sheet per table."""

    def __init__(self, path: Path, files: dict[str, str]) -> None:
        import fastexcel

        self.path = path
        files[path.name] = _sha256(path)
        try:
            self.reader = fastexcel.read_excel(str(path))
            sheets = list(self.reader.sheet_names)
        except Exception as error:  # noqa: BLE001
            raise ExtractError(
                f"Fichier {path.name} : classeur illisible (pas un fichier .xlsx valide)."
            ) from error
        self.sheets = {_norm_header(s): s for s in sheets}

    def sheet(self, table: str, profile: _TableProfile) -> str | None:
        if profile.file:
            if _norm_header(profile.file) not in self.sheets:
                raise ExtractError(
                    f"Fichier {self.path.name} : feuille « {profile.file} » (table {table}, "
                    "d'après le profil) absente."
                )
            return self.sheets[_norm_header(profile.file)]
        return self.sheets.get(table)

    def open(self, sheet: str, table: Table, profile: _TableProfile) -> _Raw:
        file = f"{self.path.name} (feuille {sheet})"
        try:
            frame = self.reader.load_sheet(sheet, dtypes="string").to_polars()
        except Exception as error:  # noqa: BLE001
            raise ExtractError(f"Fichier {file} : feuille illisible.") from error
        targets = _map_headers(frame.columns, table, profile, file)
        frame = frame.select(
            pl.col(n).alias(t) for n, t in zip(frame.columns, targets, strict=True) if t
        )
        first = _xlsx_first_row(self.path, sheet) + 1
        return _Raw(
            table.name,
            file,
            _with_line(frame.lazy(), [t for t in targets if t], first),
            profile.codes,
            first,
            in_memory=True,
        )


class _Folder:
    """A folder with one `<table>.csv` or `<table>.parquet` per table."""

    def __init__(self, path: Path, files: dict[str, str]) -> None:
        self.path = path
        self.files = files
        self.listing = {p.name.lower(): p for p in path.iterdir() if p.is_file()}

    def find(self, table: str, profile: _TableProfile) -> Path | None:
        if profile.file:
            path = self.path / profile.file
            if not path.is_file():
                raise ExtractError(
                    f"Dossier {self.path} : fichier « {profile.file} » (table {table}, "
                    "d'après le profil) introuvable."
                )
            return path
        found = [self.listing[n] for n in (f"{table}.csv", f"{table}.parquet") if n in self.listing]
        if len(found) > 1:
            raise ExtractError(
                f"Dossier {self.path} : la table {table} est fournie deux fois "
                f"({found[0].name} et {found[1].name})."
            )
        return found[0] if found else None

    def open(self, path: Path, table: Table, profile: _TableProfile) -> _Raw:
        if path.suffix.lower() == ".parquet":
            return _open_parquet(path, table, profile, self.files)
        return _open_csv(path, table, profile, self.files)


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class _Check:
    """One kind of problem: the rows it flags, the column it names, its reason."""

    column: str
    flag: pl.Expr
    reason: pl.Expr
    order: int


def _v(name: str) -> str:
    """Name of the helper column holding the value as read (stripped; null when empty)."""
    return f"__v_{name}"


def _text(*parts: str | pl.Expr) -> pl.Expr:
    """Build a French sentence from literal parts and expressions (null shown empty)."""
    return pl.concat_str(
        [pl.lit(p) if isinstance(p, str) else p.cast(pl.String).fill_null("") for p in parts]
    )


def _template(template: str, **values: pl.Expr) -> pl.Expr:
    """`_text` from a template with `{name}` placeholders."""
    pieces = re.split(r"\{(\w+)\}", template)
    return _text(*(values[p] if i % 2 else p for i, p in enumerate(pieces)))


def _is_in(expr: pl.Expr, values: list[str]) -> pl.Expr:
    return expr.is_in(pl.Series(values, dtype=pl.String).implode())


def _direct(kind: str, dtype: pl.DataType) -> bool:
    """Whether a typed column can be checked as it is, without going through text."""
    if kind == "date":
        return dtype == pl.Date or isinstance(dtype, pl.Datetime)
    if kind == "bool":
        return dtype == pl.Boolean
    if kind == "int":
        return dtype.is_integer() or dtype.is_float()
    if kind in ("decimal", "hours"):
        return dtype.is_numeric()
    return False


def _read_value(col: Column, dtype: pl.DataType) -> pl.Expr:
    """Return the value as read: typed when `_direct`, else stripped text.

    An empty text is then made null, in a second step so that the stripping is computed once.
    """
    expr = pl.col(col.name)
    if _direct(col.kind, dtype):
        return expr
    if dtype != pl.String:
        expr = expr.cast(pl.String)
    return expr.str.strip_chars()


def _numeric_text(v: pl.Expr) -> pl.Expr:
    """`53 700,00 €` -> `53700.00`: spaces dropped, decimal comma turned into a point."""
    return v.str.replace_many(_SPACES, [""] * len(_SPACES)).str.replace(",", ".", literal=True)


def _parse(col: Column, dtype: pl.DataType, codes: dict[str, str] | None) -> pl.Expr:
    """Parse the value to the contract dtype; null when missing or unreadable."""
    v = pl.col(_v(col.name))
    if _direct(col.kind, dtype):
        if col.kind == "date":
            return v.dt.date() if isinstance(dtype, pl.Datetime) else v
        if col.kind == "bool":
            return v
        f = v.cast(pl.Float64)
        finite = f.is_finite()
        if col.kind == "int":
            return pl.when(finite & (f == f.floor())).then(v.cast(pl.Int64, strict=False))
        if col.kind == "hours":
            return pl.when(finite).then(f)
        return pl.when(finite).then(v.cast(DTYPES["decimal"], strict=False))
    if codes:
        lower = v.str.to_lowercase()
        v = (
            pl.when(_is_in(lower, list(codes)))
            .then(lower.replace_strict(codes, default=None, return_dtype=pl.String))
            .otherwise(v)
        )
    match col.kind:
        case "text":
            return v
        case "code":
            return v.str.to_lowercase()
        case "date":
            s = v.str.strip_suffix(_MIDNIGHT)
            parsed = pl.coalesce(
                s.str.to_date("%Y-%m-%d", strict=False), s.str.to_date("%d/%m/%Y", strict=False)
            )
            # %Y also reads `24` as the year 24: keep four-digit years only
            return pl.when(parsed.dt.year().is_between(1000, 9999)).then(parsed)
        case "bool":
            return v.str.to_lowercase().replace_strict(
                _BOOLEANS, default=None, return_dtype=pl.Boolean
            )
        case "int":
            n = _numeric_text(v)
            return pl.when(n.str.contains(_INTEGER)).then(
                n.str.replace(r"\.0*$", "").cast(pl.Int64, strict=False)
            )
        case "hours":
            f = _numeric_text(v).cast(pl.Float64, strict=False)
            return pl.when(f.is_finite()).then(f)
        case "decimal":
            return _numeric_text(v).cast(DTYPES["decimal"], strict=False)
    raise ValueError(col.kind)  # pragma: no cover - the contract only has these kinds


def _bound(col: Column, value: float) -> pl.Expr:
    if col.kind == "decimal":
        return pl.lit(Decimal(str(value)), dtype=DTYPES["decimal"])
    return pl.lit(value)


def _fmt(value: float) -> str:
    return f"{value:g}".replace(".", ",")


_UNREADABLE = {
    "date": " illisible (formats admis : AAAA-MM-JJ ou JJ/MM/AAAA)",
    "bool": " illisible (valeurs admises : oui/non, vrai/faux, true/false, 1/0)",
    "int": " illisible (nombre entier attendu)",
    "decimal": " illisible (nombre attendu)",
    "hours": " illisible (nombre d'heures attendu)",
}
_NOUN = {"date": "date", "bool": "valeur", "int": "nombre", "decimal": "nombre", "hours": "nombre"}


def _column_checks(col: Column, index: int, clean: bool = False) -> list[_Check]:
    """List the checks of one column, in the order they are reported.

    A `clean` code column (`_clean_columns`) holds known codes only: its code check is left out.
    """
    v, p = pl.col(_v(col.name)), pl.col(col.name)
    value = v.cast(pl.String)
    base = index * 10
    checks: list[_Check] = []
    if col.required:
        checks.append(_Check(col.name, v.is_null(), pl.lit("valeur obligatoire absente"), base))
    if col.kind in _UNREADABLE:
        checks.append(
            _Check(
                col.name,
                v.is_not_null() & p.is_null(),
                _text(f"{_NOUN[col.kind]} « ", value, " »" + _UNREADABLE[col.kind]),
                base + 1,
            )
        )
    if col.codes and not clean:
        checks.append(
            _Check(
                col.name,
                p.is_not_null() & ~_is_in(p, list(col.codes)),
                _text("code « ", value, f" » inconnu (codes admis : {', '.join(col.codes)})"),
                base + 2,
            )
        )
    if col.min is not None or col.max is not None:
        out = pl.lit(False)
        if col.min is not None:
            out = out | (p < _bound(col, col.min))
        if col.max is not None:
            out = out | (p > _bound(col, col.max))
        if col.min is not None and col.max is not None:
            where = f"hors de l'intervalle {_fmt(col.min)} à {_fmt(col.max)}"
        elif col.min is not None:
            where = f"inférieure au minimum {_fmt(col.min)}"
        else:
            where = f"supérieure au maximum {_fmt(col.max or 0)}"
        checks.append(
            _Check(
                col.name, p.is_not_null() & out, _text("valeur « ", value, f" » {where}"), base + 3
            )
        )
    if col.weekday is not None:
        day = p.dt.weekday().replace_strict(_WEEKDAYS, default=None, return_dtype=pl.String)
        checks.append(
            _Check(
                col.name,
                p.is_not_null() & (p.dt.weekday() != col.weekday),
                _text(
                    "« ", value, f" » n'est pas un {_WEEKDAYS[col.weekday]} (c'est un ", day, ")"
                ),
                base + 4,
            )
        )
    return checks


def _row_checks(table: Table) -> list[_Check]:
    """List the cross-column checks of the table (`contract.Before`, `RequiredWhen`)."""
    index = {c.name: i for i, c in enumerate(table.columns)}
    checks: list[_Check] = []
    for check in table.checks:
        if isinstance(check, Before):
            values = {
                "later": pl.col(_v(check.later)).cast(pl.String),
                "earlier": pl.col(_v(check.earlier)).cast(pl.String),
            }
            checks.append(
                _Check(
                    check.later,
                    pl.col(check.later) < pl.col(check.earlier),
                    _template(check.reason, **values),
                    index[check.later] * 10 + 8,
                )
            )
        elif isinstance(check, RequiredWhen):
            when = pl.col(check.when)
            condition = when.is_not_null() if check.equals is None else when == check.equals
            checks.append(
                _Check(
                    check.column,
                    pl.col(_v(check.column)).is_null() & condition,
                    pl.lit(check.reason),
                    index[check.column] * 10 + 9,
                )
            )
    return checks


def _problems(frame: pl.DataFrame, checks: list[_Check]) -> list[pl.DataFrame]:
    """One row per (row, check) that fails, on a frame holding the flagged rows."""
    return [
        frame.filter(check.flag.fill_null(False)).select(
            pl.col(SOURCE_LINE).alias("line"),
            pl.lit(check.column, pl.String).alias("column"),
            pl.col(_v(check.column)).cast(pl.String).alias("value"),
            check.reason.alias("reason"),
            pl.lit(check.order, pl.Int64).alias("_order"),
        )
        for check in checks
    ]


@dataclass
class _Parent:
    """What a child table needs to know of its parent table."""

    file: str | None
    kept: pl.Series
    set_aside: pl.DataFrame  # key -> `_pline`, the first line of a key with no kept row


def _collect(lf: pl.LazyFrame, file: str, streaming: bool) -> pl.DataFrame:
    try:
        return lf.collect(engine="streaming" if streaming else "in-memory")
    except (pl.exceptions.PolarsError, OSError) as error:
        detail = (
            str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        )
        raise ExtractError(f"Fichier {file} : contenu illisible ({detail}).") from error


def _clean_columns(raw: _Raw, cols: list[Column], dtypes: dict[str, pl.DataType]) -> set[str]:
    """Name the text and code columns, read as text, whose cells need no cleaning.

    A text cell is clean when it is stripped already and not empty, a code cell when it
    is a contract code (stripped, lower case); a missing cell always is. A clean cell is its
    own value as read and parsed value: a clean column skips the per-row stripping (and
    lowercasing, and code check) and is kept as read, without a copy. One pass over those
    columns decides it, for rows already in memory (a CSV is read in one streamed pass); a
    column the source profile maps codes of is never clean.
    """

    def clean(col: Column) -> pl.Expr:
        cell = pl.col(col.name)
        if col.kind == "code":
            ok = _is_in(cell, list(col.codes))
        else:
            size = cell.str.len_bytes()
            ok = (size > 0) & (cell.str.strip_chars().str.len_bytes() == size)
        return (cell.is_null() | ok).all().alias(col.name)

    candidates = [
        c
        for c in cols
        if c.kind in ("text", "code") and dtypes[c.name] == pl.String and c.name not in raw.codes
    ]
    if not raw.in_memory or not candidates:
        return set()
    flags = _collect(raw.frame.select(clean(c) for c in candidates), raw.file, True)
    return {name for name, ok in flags.row(0, named=True).items() if ok}


def _duplicates(frame: pl.DataFrame, key: list[str]) -> pl.Series:
    """Flag the rows whose key (all parts present) was already seen on an earlier row.

    `frame` is in file order. Exact, but fast when there is no duplicate: a key growing
    strictly from row to row (an extract sorted by its key) cannot repeat; otherwise,
    distinct 64-bit hashes prove distinct keys and only rows sharing a hash are compared
    on the key itself.
    """
    if _strictly_increasing(frame, key):
        return pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True).alias("_dup")
    hashed = frame.select(
        functools.reduce(operator.xor, [pl.col(k).hash(seed=20 + i) for i, k in enumerate(key)])
        .alias("h")
    ).to_series()
    if hashed.n_unique() == frame.height:
        return pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True).alias("_dup")
    ordered = hashed.sort()
    shared = ordered.filter(ordered == ordered.shift(1)).unique()
    present = pl.all_horizontal(pl.col(k).is_not_null() for k in key)
    candidates = hashed.is_in(shared.implode()) & frame.select(present).to_series()
    sub = frame.select(SOURCE_LINE, *key).filter(candidates)
    later = sub.filter(~(pl.col(key[0]) if len(key) == 1 else pl.struct(key)).is_first_distinct())[
        SOURCE_LINE
    ]
    return frame[SOURCE_LINE].is_in(later.implode()).alias("_dup")


def _strictly_increasing(frame: pl.DataFrame, key: list[str]) -> bool:
    """Whether every row's key (all parts present) is greater than the previous row's.

    Keys compare part by part (the first part, then the next one on a tie).
    """
    grows = pl.col(key[-1]) > pl.col(key[-1]).shift(1)
    for k in reversed(key[:-1]):
        now, before = pl.col(k), pl.col(k).shift(1)
        grows = (now > before) | ((now == before) & grows)
    check = frame.lazy().select(grows.slice(1).fill_null(False).all())
    return bool(check.collect(engine="streaming" if frame.height > _LARGE else "in-memory").item())


def _validate(
    raw: _Raw, table: Table, parents: dict[str, _Parent]
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int], pl.DataFrame]:
    """Check one table: kept rows, problems, counts and every row's flags (for parents)."""
    cols = list(table.columns)
    schema = raw.frame.collect_schema()
    for c in cols:
        dtype = schema.get(c.name)
        if dtype is not None and dtype.is_nested():
            raise ExtractError(
                f"Fichier {raw.file} : colonne « {c.name} » de type {dtype} non pris en charge."
            )
    dtypes = {c.name: schema.get(c.name, pl.String()) for c in cols}
    clean = _clean_columns(raw, [c for c in cols if c.name in schema], dtypes)

    def parsed(lf: pl.LazyFrame) -> pl.LazyFrame:
        """Add the values as read (`_v`) and parsed; drop the empty rows."""
        lf = lf.with_columns(
            pl.lit(None, pl.String).alias(c.name) for c in cols if c.name not in schema
        )
        lf = lf.with_columns(
            (pl.col(c.name) if c.name in clean else _read_value(c, dtypes[c.name])).alias(
                _v(c.name)
            )
            for c in cols
        )
        texts = [
            _v(c.name) for c in cols if c.name not in clean and not _direct(c.kind, dtypes[c.name])
        ]
        lf = lf.with_columns(pl.when(pl.col(v) != "").then(pl.col(v)).alias(v) for v in texts)
        lf = lf.filter(~pl.all_horizontal(pl.col(_v(c.name)).is_null() for c in cols))
        return lf.with_columns(
            (
                pl.col(_v(c.name))
                if c.name in clean
                else _parse(c, dtypes[c.name], raw.codes.get(c.name))
            ).alias(c.name)
            for c in cols
        )

    checks = [
        ch for i, c in enumerate(cols) for ch in _column_checks(c, i, c.name in clean)
    ] + _row_checks(table)
    bad = pl.any_horizontal(ch.flag.fill_null(False) for ch in checks) if checks else pl.lit(False)
    # Rows in memory: the in-memory engine keeps their chunks, so that the columns kept as
    # read are not copied (the streaming engine would cut them unlike the computed ones).
    frame = _collect(
        parsed(raw.frame).select(SOURCE_LINE, *(c.name for c in cols), bad.alias("_bad")),
        raw.file,
        not raw.in_memory,
    )
    if not frame[SOURCE_LINE].is_sorted():  # file order, which duplicate keys rely on
        frame = frame.sort(SOURCE_LINE)

    problems: list[pl.DataFrame] = []
    if frame["_bad"].any():
        lines = frame.filter("_bad")[SOURCE_LINE]
        # read again, up to the last bad row only, to report the values as they were read
        last: int = frame.filter("_bad").select(pl.col(SOURCE_LINE).max()).item()
        upto = raw.frame.head(last - raw.first_line + 1)
        flagged = _collect(
            parsed(upto).filter(pl.col(SOURCE_LINE).is_in(lines.implode())), raw.file, False
        )
        problems += _problems(flagged, checks)

    set_aside = frame["_bad"]
    if table.key:
        key = list(table.key)
        dup = _duplicates(frame, key)
        if dup.any():
            set_aside = set_aside | dup
            frame = frame.with_columns(dup)
            dups = frame.filter("_dup")
            present = pl.all_horizontal(pl.col(k).is_not_null() for k in key)
            firsts = (
                frame.filter(present & ~pl.col("_dup"))
                .join(dups.select(key).unique(), on=key, how="semi")
                .select(*key, pl.col(SOURCE_LINE).alias("_first"))
            )
            problems.append(
                dups.join(firsts, on=key, how="left").select(
                    pl.col(SOURCE_LINE).alias("line"),
                    pl.lit(", ".join(key), pl.String).alias("column"),
                    pl.concat_str([pl.col(k).cast(pl.String) for k in key], separator=", ").alias(
                        "value"
                    ),
                    _text("clé en double (déjà vue ligne ", pl.col("_first"), ")").alias("reason"),
                    pl.lit(900, pl.Int64).alias("_order"),
                )
            )

    for i, (col, (ptable, pkey)) in enumerate(table.parents.items()):
        parent = parents[ptable]
        # The parent ids not kept in the parent table, looked up once per run of equal ids
        # (children usually come grouped by parent).
        value, before = pl.col(col), pl.col(col).shift(1)
        missing = _collect(
            frame.lazy()
            .select(col)
            .filter(value.is_not_null() & (value != before).fill_null(True))
            .join(parent.kept.to_frame(col).lazy(), on=col, how="anti"),
            raw.file,
            frame.height > _LARGE,
        )[col]
        if missing.len():
            orphan = frame[col].is_in(missing.implode()).fill_null(False)
            set_aside = set_aside | orphan
            noun, unknown, absent, dropped = _PARENT_WORDS[ptable]
            where = f"{absent} de {parent.file}" if parent.file else f"table {ptable} absente"
            orphans = (
                frame.filter(orphan)
                .select(SOURCE_LINE, col)
                .join(parent.set_aside.rename({pkey: col}), on=col, how="left")
            )
            problems.append(
                orphans.select(
                    pl.col(SOURCE_LINE).alias("line"),
                    pl.lit(col, pl.String).alias("column"),
                    pl.col(col).alias("value"),
                    pl.when(pl.col("_pline").is_not_null())
                    .then(
                        _text(f"{noun} {dropped} (ligne ", pl.col("_pline"), f" de {parent.file})")
                    )
                    .otherwise(_text(f"{noun} « ", pl.col(col), f" » {unknown} ({where})"))
                    .alias("reason"),
                    pl.lit(910 + i, pl.Int64).alias("_order"),
                )
            )

    frame = frame.select(SOURCE_LINE, *(c.name for c in cols), set_aside.alias("_set_aside"))
    kept = frame.filter(~set_aside) if set_aside.any() else frame
    kept = kept.select(*(_typed(c, kept[c.name].has_nulls()) for c in cols), pl.col(SOURCE_LINE))
    rejected = (
        pl.concat(problems, how="vertical_relaxed")
        .sort("line", "_order", maintain_order=True)
        .select(
            pl.lit(table.name, pl.String).alias("table"),
            pl.lit(raw.file, pl.String).alias("file"),
            pl.col("line").cast(pl.Int64),
            "column",
            "value",
            "reason",
        )
        if problems
        else pl.DataFrame(schema=REJECTED_SCHEMA)
    )
    counts = {"rows": frame.height, "kept": kept.height, "rejected": frame.height - kept.height}
    return kept, rejected, counts, frame


def _typed(col: Column, missing: bool = True) -> pl.Expr:
    """Fill the default (when a value is `missing`) and cast to the contract dtype."""
    expr = pl.col(col.name)
    if col.default is not None and missing:
        expr = expr.fill_null(pl.lit(col.default).cast(DTYPES[col.kind]))
    return expr.cast(DTYPES[col.kind])


def _empty(table: str) -> pl.DataFrame:
    return pl.DataFrame(schema={**TABLES[table].schema, SOURCE_LINE: pl.Int64()})


def _parent_state(table: Table, file: str, kept: pl.DataFrame, frame: pl.DataFrame) -> _Parent:
    key = table.key[0]
    kept_keys = kept[key]
    set_aside = (
        frame.filter(pl.col("_set_aside") & pl.col(key).is_not_null())
        .group_by(key)
        .agg(pl.col(SOURCE_LINE).min().alias("_pline"))
    )
    if set_aside.height:
        set_aside = set_aside.filter(~pl.col(key).is_in(kept_keys.implode()))
    return _Parent(file, kept_keys, set_aside)


# --------------------------------------------------------------------------- API


def read_extracts(data: Path | str, profile: Path | str | None = None) -> Extracts:
    """Read and check the extracts of `data` (a folder or an `.xlsx` workbook).

    `profile`: an optional source profile (YAML) for an export with other headers, codes
    or file names, e.g.::

        episodes:
          file: suivi.csv                       # or the sheet name in a workbook
          columns: {N° épisode: episode_id, Date d'orientation: orientation_date}
          codes: {exit_reason: {Emploi durable: emploi}}

    Raises `ExtractError` (one French sentence) when the data cannot be read at all.
    """
    data = Path(data)
    files: dict[str, str] = {}
    profiles = _load_profile(Path(profile), files) if profile is not None else {}
    if not data.exists():
        raise ExtractError(f"Données introuvables : « {data} » n'existe pas.")
    source: _Folder | _Workbook
    if data.is_dir():
        source = _Folder(data, files)
    elif data.suffix.lower() == ".xlsx":
        source = _Workbook(data, files)
    else:
        raise ExtractError(
            f"Données « {data.name} » : un dossier d'extraits ou un classeur .xlsx est attendu."
        )

    tables: dict[str, pl.DataFrame] = {}
    rejected: list[pl.DataFrame] = []
    counts: dict[str, dict[str, int]] = {}
    parents: dict[str, _Parent] = {}
    for name in READ_ORDER:
        table, prof = TABLES[name], profiles.get(name, _TableProfile())
        raw: _Raw | None = None
        if isinstance(source, _Folder):
            path = source.find(name, prof)
            raw = source.open(path, table, prof) if path is not None else None
        else:
            sheet = source.sheet(name, prof)
            raw = source.open(sheet, table, prof) if sheet is not None else None
        if raw is None:
            if name == "conventions":
                where = (
                    f"Dossier {data} : fichier conventions.csv (ou conventions.parquet) absent"
                    if isinstance(source, _Folder)
                    else f"Fichier {data.name} : feuille « conventions » absente"
                )
                raise ExtractError(f"{where} ; la table des conventions est obligatoire.")
            tables[name] = _empty(name)
            if name in _PARENT_TABLES:
                parents[name] = _Parent(
                    None,
                    pl.Series(name, [], pl.String),
                    pl.DataFrame(schema={table.key[0]: pl.String(), "_pline": pl.Int64()}),
                )
            continue
        kept, problems, count, frame = _validate(raw, table, parents)
        tables[name], counts[name] = kept, count
        rejected.append(problems)
        if name in _PARENT_TABLES:
            parents[name] = _parent_state(table, raw.file, kept, frame)
        del frame, raw  # the rows as read: free them before the next table

    return Extracts(
        tables=tables,
        rejected=pl.concat(rejected) if rejected else pl.DataFrame(schema=REJECTED_SCHEMA),
        counts=counts,
        files=files,
        source=str(data),
    )


