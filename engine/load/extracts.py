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
the file (header = line 1, first data row = line 2; a quoted value spanning several lines
counts them all); for a sheet, the row number in the sheet (the header row is the first
non-empty row); for parquet, the row index + 2, as if it were a CSV with a header line.

Typed parquet columns are checked directly when their type fits the kind (a `Date`
column for a date, a number for a decimal…), otherwise read as text; sheets are read as
text (a date cell reads `AAAA-MM-JJ 00:00:00`, whose midnight time is accepted).

CSV files (`_read_text_file`): the encoding is decided per file — valid UTF-8 (BOM or
not) is streamed by polars; UTF-16/32 with a BOM and Windows-1252 are re-encoded in memory;
a non-UTF-8 file holding UTF-8 multi-byte sequences is mixed and refused with its first bad
line. A NUL byte anywhere refuses the file; CR-only line ends are read as such. A quoted
value spanning several lines shifts the next rows' line numbers (counted per row, only in
a file holding a quote). When polars cannot split the rows, `_malformed` names the first
line with a stray quote. A row with more fields than the header makes polars stop: the
file is then read again with one more header column (`_OVERFLOW`), and the rows with a
non-empty field there are set aside. Ids (`Column.identifier`) are checked after the read,
column by column: one pass of aggregates proves a column clean, and only a column not proven
clean is checked row by row (`_identifier_problems`). Rejected rows are made spreadsheet-safe
for writing by `spreadsheet_safe`.

At scale (tens of millions of rows): a parquet file or a sheet is read into memory once,
and its text and code columns that need no cleaning (`_clean_columns`) are kept as read,
without a copy; a key sorted in file order proves there is no duplicate without hashing;
parent ids are looked up once per run of equal ids.
"""

from __future__ import annotations

import codecs
import errno
import functools
import hashlib
import operator
import os
import re
import stat
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from engine.load.yaml_loader import PROFILE_LIMITS, read_yaml
from engine.model.contract import (
    DTYPES,
    ID_FORBIDDEN,
    ID_MAX_LENGTH,
    READ_ORDER,
    TABLES,
    TEXT_MAX_LENGTH,
    Before,
    Column,
    RequiredWhen,
    Table,
    decimal_lit,
)
from engine.model.errors import ExtractError
from engine.model.extracts import Extracts
from engine.model.text import closest

__all__ = [
    "RAW_VALUE",
    "REJECTED_SCHEMA",
    "SOURCE_LINE",
    "ExtractError",
    "Extracts",
    "read_extracts",
    "spreadsheet_safe",
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
_VALUE_MAX = 1_000  # characters of a bad value kept in `rejected.value` (cut beyond)


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
    if not path.exists() and not path.is_symlink():
        raise ExtractError(f"Profil de source introuvable : « {path} ».")
    _check_file(path, "Profil de source")
    doc, problems = read_yaml(path, path.name, PROFILE_LIMITS)
    if problems:
        first = problems[0]
        where = f" ligne {first.line}" if first.line else ""
        raise ExtractError(f"Profil {path.name} : YAML illisible{where}. Détail : {first.message}.")
    files[path.name] = hashlib.sha256(_read_bytes(path)).hexdigest()
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
    # why polars could not read the rows (French), for a CSV: the line of a stray quote
    explain: Callable[[], str] | None = None
    # the same table read again keeping the first field beyond the header (`_OVERFLOW`),
    # for a CSV with a row longer than its header; `width`: the header's number of fields
    reopen: Callable[[], _Raw] | None = None
    width: int = 0


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
        close = closest(col, free)
        hint = (
            f" (attendue sous le nom « {aliases[0]} » d'après le profil)"
            if aliases
            else f" (colonne la plus proche : « {close} »)"
            if close
            else ""
        )
        raise ExtractError(f"Fichier {file} : colonne obligatoire « {col} » absente{hint}.")
    return targets


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with _open_file(path) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -------------------------------------------------------------------- files and encodings

# A valid UTF-8 sequence of two to four bytes (no overlong form, no surrogate).
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
# Byte order marks of the wider Unicode encodings (UTF-32 first: it starts like UTF-16 LE).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)
_OS_REASONS = {
    errno.EACCES: "lecture refusée (droits insuffisants)",
    errno.EPERM: "lecture refusée (droits insuffisants)",
    errno.ENOENT: "introuvable",
    errno.ELOOP: "boucle de liens symboliques",
    errno.EISDIR: "c'est un dossier, pas un fichier",
    errno.ENOTDIR: "chemin invalide (un élément du chemin n'est pas un dossier)",
    errno.ENAMETOOLONG: "nom trop long",
}


def _os_reason(error: OSError) -> str:
    """A French reason for a system error (never the system's English text)."""
    return _OS_REASONS.get(error.errno or 0, f"illisible (erreur système n° {error.errno})")


def _not_a_file(path: Path) -> str | None:
    """Why `path` cannot be read as a file (French), or None when it is a readable file."""
    try:
        st = os.stat(path)
    except OSError as error:
        if path.is_symlink() and error.errno == errno.ENOENT:
            return f"lien symbolique cassé (sa cible « {os.readlink(path)} » n'existe pas)"
        return _os_reason(error)
    if stat.S_ISDIR(st.st_mode):
        return "c'est un dossier, pas un fichier"
    if not stat.S_ISREG(st.st_mode):
        return "ce n'est pas un fichier ordinaire (tube, périphérique…)"
    if not os.access(path, os.R_OK):
        return _os_reason(OSError(errno.EACCES, ""))
    return None


def _check_file(path: Path, what: str = "Fichier") -> None:
    """Raise `ExtractError` naming `path` when it is not a readable file."""
    reason = _not_a_file(path)
    if reason is not None:
        raise ExtractError(f"{what} « {path} » : {reason}.")


class _open_file:
    """`path.open("rb")`, a system error told in French (`ExtractError` naming the path)."""

    def __init__(self, path: Path) -> None:
        try:
            self.handle = path.open("rb")
        except OSError as error:
            raise ExtractError(f"Fichier « {path} » : {_os_reason(error)}.") from None
        self.path = path

    def __enter__(self) -> _open_file:
        return self

    def __exit__(self, *args: object) -> None:
        self.handle.close()

    def read(self, size: int = -1) -> bytes:
        try:
            return self.handle.read(size)
        except OSError as error:
            raise ExtractError(f"Fichier « {self.path} » : {_os_reason(error)}.") from None


def _read_bytes(path: Path) -> bytes:
    with _open_file(path) as handle:
        return handle.read()


def _line_of(data: bytes, offset: int, eol: bytes = b"\n") -> int:
    """The line (1-based) holding byte `offset` of `data`."""
    return data.count(eol, 0, offset) + 1


@dataclass
class _Text:
    """A CSV file as found by `_read_text_file`."""

    digest: str
    data: bytes | None  # the file re-encoded in UTF-8 (None: polars reads the file itself)
    header: str  # the header line
    eol: str  # "\n" (or "\r\n") or "\r" (a file with CR line endings only)
    quoted: bool  # the file holds a double quote (a value may then span several lines)


def _nul(file: str, data: bytes, offset: int, eol: bytes) -> ExtractError:
    """The error for a NUL byte at `offset`: binary content, or UTF-16 without a BOM."""
    head = data[:4096]
    if head.count(b"\x00") * 3 >= len(head):  # every other byte: a UTF-16 text
        return ExtractError(
            f"Fichier {file} : encodé en UTF-16 sans indicateur d'ordre des octets (BOM) ; "
            "l'enregistrer en UTF-8 (ou en UTF-16 avec BOM)."
        )
    line = _line_of(data, offset, eol)
    where = "" if line == 1 else f" : octet nul ligne {line}"
    return ExtractError(f"Fichier {file} : illisible (contenu binaire, pas un CSV{where}).")


def _eol_of(head: bytes) -> bytes:
    return b"\r" if b"\n" not in head and b"\r" in head else b"\n"


def _from_unicode(path: Path, raw: bytes, codec: str, label: str) -> bytes:
    """A UTF-16 or UTF-32 file (with its BOM) re-encoded in UTF-8."""
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as error:
        line = raw[: error.start].decode(codec, errors="replace").count("\n") + 1
        raise ExtractError(
            f"Fichier {path.name} : texte {label} invalide ligne {line} ; l'enregistrer en UTF-8."
        ) from None
    data = text.encode("utf-8")
    if b"\x00" in data:
        raise _nul(path.name, data, data.index(b"\x00"), _eol_of(data[:_HEAD]))
    return data


def _from_cp1252(path: Path, raw: bytes) -> bytes:
    """A file that is not UTF-8: Windows-1252 re-encoded in UTF-8, unless it is mixed."""
    if _UTF8_MULTIBYTE.search(raw):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            line = _line_of(raw, error.start, _eol_of(raw[:_HEAD]))
            byte = raw[error.start]
            raise ExtractError(
                f"Fichier {path.name} : encodage mélangé : le fichier est en UTF-8 mais la "
                f"ligne {line} ne l'est pas (octet 0x{byte:02X}, sans doute du Windows-1252) ; "
                "enregistrer tout le fichier dans un seul encodage."
            ) from None
    try:
        return raw.decode("cp1252").encode("utf-8")
    except UnicodeDecodeError as error:
        line = _line_of(raw, error.start, _eol_of(raw[:_HEAD]))
        raise ExtractError(
            f"Fichier {path.name} : encodage non reconnu (ni UTF-8 ni Windows-1252 : octet "
            f"0x{raw[error.start]:02X} ligne {line})."
        ) from None


def _read_text_file(path: Path) -> _Text:
    """Hash a CSV and find its encoding, line endings and header line in one pass.

    Encodings, decided per file: valid UTF-8 (with or without BOM) is UTF-8 and streamed by
    polars; UTF-16 or UTF-32 with a BOM is re-encoded in memory; a file that is not valid
    UTF-8 but holds UTF-8 multi-byte sequences is mixed (an error naming the first line that
    does not decode); any other file is Windows-1252, re-encoded in memory. A NUL byte,
    wherever it is, makes the file binary. A file with CR line endings only is read with CR
    as the end of line.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, head, offset = True, b"", 0
    lf = quoted = False
    with _open_file(path) as handle:
        while chunk := handle.read(_CHUNK):
            if offset == 0:
                for bom, codec, label in _BOMS:
                    if chunk.startswith(bom):
                        raw = chunk + handle.read()
                        return _text_of(path, hashlib.sha256(raw).hexdigest(),
                                        _from_unicode(path, raw, codec, label))
            if b"\x00" in chunk:
                data = _read_bytes(path)
                raise _nul(path.name, data, offset + chunk.index(b"\x00"), _eol_of(data[:_HEAD]))
            if len(head) < _HEAD and b"\n" not in head and b"\r" not in head:
                head += chunk[: _HEAD - len(head)]
            digest.update(chunk)
            lf = lf or b"\n" in chunk
            quoted = quoted or b'"' in chunk
            if utf8 and not (chunk.isascii() and not decoder.getstate()[0]):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
            offset += len(chunk)
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if not head.strip():
        raise ExtractError(f"Fichier {path.name} : fichier vide, sans ligne d'en-tête.")
    if not utf8:
        return _text_of(path, digest.hexdigest(), _from_cp1252(path, _read_bytes(path)))
    eol = "\n" if lf or b"\r" not in head else "\r"
    return _Text(digest.hexdigest(), None, _header_line(path, head, offset, eol), eol, quoted)


def _text_of(path: Path, digest: str, data: bytes) -> _Text:
    """`_Text` of a file re-encoded in memory."""
    if not data.strip():
        raise ExtractError(f"Fichier {path.name} : fichier vide, sans ligne d'en-tête.")
    head = data[:_HEAD]
    eol = "\n" if b"\n" in data or b"\r" not in head else "\r"
    return _Text(digest, data, _header_line(path, head, len(data), eol), eol, b'"' in data)


def _header_line(path: Path, head: bytes, size: int, eol: str) -> str:
    """The first line of `head` (the file's first `_HEAD` bytes; `size` bytes in all)."""
    end = head.find(eol[-1].encode())
    if end < 0 and size > len(head):
        raise ExtractError(
            f"Fichier {path.name} : ligne d'en-tête de plus de {_HEAD} octets (ou fichier sans "
            "fin de ligne) ; illisible."
        )
    line = head if end < 0 else head[:end]
    return line.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r")


def _separator(header: str) -> str:
    """`;`, tab or `,`: whichever the header line has most of (`,` on a tie)."""
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda s: (counts[s], s == ","))
    return best if counts[best] else ","


def _header_fields(header: str, sep: str, file: str) -> list[str]:
    """Split the header line as polars splits the rows (quotes, any field length)."""
    try:
        row = pl.read_csv(
            header.encode("utf-8") + b"\n", has_header=False, separator=sep,
            infer_schema=False, truncate_ragged_lines=True,
        ).row(0)
    except pl.exceptions.PolarsError:
        raise ExtractError(
            f"Fichier {file}, ligne 1 : en-tête illisible (guillemet mal placé ?)."
        ) from None
    return ["" if cell is None else str(cell) for cell in row]


_OVERFLOW = "__overflow"  # the first field beyond the header, when a row has more


def _open_csv(path: Path, table: Table, profile: _TableProfile, files: dict[str, str]) -> _Raw:
    text = _read_text_file(path)
    files[path.name] = text.digest
    sep = _separator(text.header)
    headers = _header_fields(text.header, sep, path.name)
    targets = _map_headers(headers, table, profile, path.name)
    names = [t or f"__extra_{i}" for i, t in enumerate(targets)]

    def frame(ragged: bool) -> pl.LazyFrame:
        source: Path | bytes = text.data if text.data is not None else path
        columns = names
        if ragged:  # one more column in the header line: the first field beyond it
            data = text.data if text.data is not None else _read_bytes(path)
            end = data.find(text.eol[-1].encode())
            end = len(data) if end < 0 else end
            line = data[:end].rstrip(b"\r")
            source = line + f"{sep}{_OVERFLOW}".encode() + data[end:]
            columns = [*names, _OVERFLOW]
        lf = pl.scan_csv(
            source,
            separator=sep,
            infer_schema=False,
            new_columns=columns,
            truncate_ragged_lines=ragged,
            encoding="utf8",
            eol_char=text.eol[-1],
        ).with_row_index(SOURCE_LINE, offset=2)
        if text.quoted:  # a quoted value may hold line ends: the next rows start lower
            breaks = pl.sum_horizontal(
                pl.col(c).str.count_matches(text.eol[-1], literal=True) for c in columns
            )
            lf = lf.with_columns(pl.col(SOURCE_LINE) + (breaks.cum_sum() - breaks))
        keep = [t for t in targets if t] + ([_OVERFLOW] if ragged else [])
        return lf.select(pl.col(SOURCE_LINE).cast(pl.UInt32), *keep)

    def explain() -> str:
        data = text.data if text.data is not None else _read_bytes(path)
        return _malformed(path.name, data, sep, text.eol[-1])

    raw = _Raw(table.name, path.name, frame(False), profile.codes, explain=explain)
    raw.reopen = lambda: replace(raw, frame=frame(True), reopen=None, width=len(names))
    return raw


def _malformed(file: str, data: bytes, sep: str, eol: str) -> str:
    """Say why polars could not split a CSV into rows: the first line with a stray quote."""
    s = re.escape(sep)
    field = f'(?:[^"{s}]*|"(?:[^"]|"")*")'
    opened = '"(?:[^"]|"")*'
    tail = f"(?:{s}{field})*(?:{s}{opened})?\r?$"
    starts = f"^(?:{opened}|{field}{tail})"  # a line that starts outside quotes
    goes_on = f"^(?:[^\"]|\"\")*(?:\"{tail})?$"  # a line that starts inside a quoted value
    try:
        lines = pl.read_csv(
            data, has_header=False, separator="\x00", quote_char=None, new_columns=["l"],
            infer_schema=False, eol_char=eol, truncate_ragged_lines=True,
        ).with_columns(pl.col("l").fill_null(""))
    except pl.exceptions.PolarsError:
        return f"Fichier {file} : CSV mal formé, illisible."
    quotes = pl.col("l").str.count_matches('"', literal=True)
    inside = ((quotes.cum_sum() - quotes) % 2) == 1
    ok = pl.when(inside).then(pl.col("l").str.contains(goes_on)).otherwise(
        pl.col("l").str.contains(starts)
    )
    found = lines.with_row_index("n", offset=1).with_columns(
        ok.alias("ok"), inside.alias("inside"), quotes.alias("q")
    )
    bad = found.filter(~pl.col("ok"))
    if bad.height:
        return (
            f"Fichier {file}, ligne {bad['n'][0]} : guillemet mal placé (CSV mal formé) ; une "
            'valeur qui contient un guillemet s\'écrit entre guillemets, le guillemet doublé '
            '(« "A""B" » pour A"B).'
        )
    opening = found.filter(~pl.col("inside") & (pl.col("q") % 2 == 1))
    if int(found["q"].sum()) % 2 and opening.height:
        return (
            f"Fichier {file}, ligne {opening['n'][-1]} : guillemet ouvert et jamais refermé "
            "(CSV mal formé)."
        )
    return f"Fichier {file} : CSV mal formé (guillemets mal appariés ?), illisible."


def _with_line(lf: pl.LazyFrame, targets: list[str | None], first: int) -> pl.LazyFrame:
    """Keep the contract columns and number the rows from `first`."""
    keep = [t for t in targets if t]
    return lf.with_row_index(SOURCE_LINE, offset=first).select(
        pl.col(SOURCE_LINE).cast(pl.UInt32), *keep
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
        try:
            frame = _collect(_with_line(lf, [t for t in targets if t], 2), path.name, False)
        except (_Unreadable, _Ragged):
            raise ExtractError(
                f"Fichier {path.name} : illisible (fichier Parquet endommagé)."
            ) from None
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
            # header_row=None: the header row read as a row, so that a header given twice is
            # seen as such (fastexcel would rename it `name_1`)
            cells = self.reader.load_sheet(sheet, header_row=None, dtypes="string").to_polars()
        except Exception as error:  # noqa: BLE001
            raise ExtractError(f"Fichier {file} : feuille illisible.") from error
        if cells.height == 0:
            raise ExtractError(f"Fichier {file} : feuille vide, sans ligne d'en-tête.")
        headers = ["" if h is None else str(h) for h in cells.row(0)]
        targets = _map_headers(headers, table, profile, file)
        frame = cells.slice(1).select(
            pl.col(n).alias(t) for n, t in zip(cells.columns, targets, strict=True) if t
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
        try:
            entries = list(path.iterdir())
        except OSError as error:
            raise ExtractError(f"Dossier « {path} » : {_os_reason(error)}.") from None
        # every entry, files or not: a table's name that is not a readable file stops the run
        self.listing = {p.name.lower(): p for p in entries}

    def find(self, table: str, profile: _TableProfile) -> Path | None:
        if profile.file:
            path = self.path / profile.file
            if not path.exists() and not path.is_symlink():
                raise ExtractError(
                    f"Dossier {self.path} : fichier « {profile.file} » (table {table}, "
                    "d'après le profil) introuvable."
                )
            _check_file(path)
            return path
        found = [self.listing[n] for n in (f"{table}.csv", f"{table}.parquet") if n in self.listing]
        for path in found:
            _check_file(path)  # a folder, a broken link, a loop, an unreadable file: stop
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
    reason: Callable[[], pl.Expr]  # built only when a row is flagged (saves plan building)
    order: int
    value: pl.Expr | None = None  # the value reported (default: the column's, as read)


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
        return decimal_lit(value)
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


def _shown(value: pl.Expr) -> pl.Expr:
    """A value as quoted in a reason: cut after 50 characters when longer than 60."""
    return (
        pl.when(value.str.len_chars() > 60)
        .then(pl.concat_str([value.str.slice(0, 50), pl.lit("…")]))
        .otherwise(value)
    )


def _sub_cent(v: pl.Expr, p: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Whether an amount (`v` as read, `p` parsed) is not a whole number of cents."""
    if _direct("decimal", dtype):
        exact = v if isinstance(dtype, pl.Decimal) else p
        return exact.round(2) != exact
    # more than two decimals, not all zero (a number in plain notation), or once parsed
    return _numeric_text(v).str.contains(r"\.\d{2}\d*[1-9]\d*$") | (p.round(2) != p)


def _column_checks(
    col: Column, index: int, clean: bool = False, dtype: pl.DataType | None = None
) -> list[_Check]:
    """List the checks of one column, in the order they are reported.

    A `clean` code column (`_clean_columns`) holds known codes only: its code check is left out.
    `dtype`: the column's type as read (text when not told).
    """
    v, p = pl.col(_v(col.name)), pl.col(col.name)

    def value() -> pl.Expr:
        return _shown(v.cast(pl.String))

    base = index * 10
    checks: list[_Check] = []
    if col.required:
        checks.append(_Check(col.name, v.is_null(), lambda: pl.lit("valeur obligatoire absente"), base))
    if col.kind in _UNREADABLE:
        checks.append(
            _Check(
                col.name,
                v.is_not_null() & p.is_null(),
                lambda: _text(f"{_NOUN[col.kind]} « ", value(), " »" + _UNREADABLE[col.kind]),
                base + 1,
            )
        )
    if col.codes and not clean:
        checks.append(
            _Check(
                col.name,
                p.is_not_null() & ~_is_in(p, list(col.codes)),
                lambda: _text("code « ", value(), f" » inconnu (codes admis : {', '.join(col.codes)})"),
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
                col.name,
                p.is_not_null() & out,
                lambda: _text("valeur « ", value(), f" » {where}"),
                base + 3,
            )
        )
    if col.kind == "text" and not col.identifier:  # ids: `_identifier_problems`
        checks.append(
            _Check(
                col.name,
                v.cast(pl.String).str.len_chars() > TEXT_MAX_LENGTH,
                lambda: _text(
                    "texte de ",
                    v.cast(pl.String).str.len_chars(),
                    f" caractères, trop long ({TEXT_MAX_LENGTH} au plus)",
                ),
                base + 5,
            )
        )
    if col.money:
        checks.append(
            _Check(
                col.name,
                p.is_not_null() & _sub_cent(v, p, dtype if dtype is not None else pl.String()),
                lambda: _text("montant « ", value(), " » plus précis que le centime (deux décimales au plus)"),
                base + 7,
            )
        )
    if col.weekday is not None:
        day = p.dt.weekday().replace_strict(_WEEKDAYS, default=None, return_dtype=pl.String)
        weekday = _WEEKDAYS[col.weekday]
        checks.append(
            _Check(
                col.name,
                p.is_not_null() & (p.dt.weekday() != col.weekday),
                lambda: _text("« ", value(), f" » n'est pas un {weekday} (c'est un ", day, ")"),
                base + 4,
            )
        )
    return checks


_ASCII_FORBIDDEN = [chr(i) for i in range(32)] + ['"', "\\", "\x7f"]


def _identifier_problems(
    frame: pl.DataFrame, cols: list[Column], references: set[str]
) -> tuple[pl.Series, list[pl.DataFrame]]:
    """Flag the rows with a bad id (`contract.ID_MAX_LENGTH`, `ID_FORBIDDEN`) and list why.

    `frame`: the rows read (in memory), ids stripped. One pass of aggregates per id column
    proves it clean (no forbidden ASCII character, no id over the limit in bytes, every id
    ASCII); only a column it does not prove clean is checked row by row. The `references`
    to a parent table are not checked here: only the ids of kept parent rows (checked ids)
    are accepted there, so a bad id is set aside as an unknown parent.
    """
    flags = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True)
    problems: list[pl.DataFrame] = []
    ids = [(i, c) for i, c in enumerate(cols) if c.identifier and c.name not in references]
    if not ids or frame.height == 0:
        return flags, problems
    maybe = frame.select(
        (
            pl.col(c.name).str.contains_any(_ASCII_FORBIDDEN).any()
            | (pl.col(c.name).str.len_bytes().max() > ID_MAX_LENGTH)
            | (pl.col(c.name).str.len_chars().sum() != pl.col(c.name).str.len_bytes().sum())
        ).alias(c.name)
        for _, c in ids
    ).row(0, named=True)
    for i, c in ids:
        if not maybe[c.name]:
            continue
        v = pl.col(c.name)
        forbidden = v.str.extract(f"({ID_FORBIDDEN})")
        what = (
            pl.when(forbidden == '"')
            .then(pl.lit("un guillemet « \" »"))
            .when(forbidden == "\\")
            .then(pl.lit("une barre oblique inverse « \\ »"))
            .otherwise(pl.lit("un caractère de contrôle ou invisible"))
        )
        checks = [
            _Check(
                c.name,
                v.str.len_chars() > ID_MAX_LENGTH,
                functools.partial(
                    _text, "identifiant de ", v.str.len_chars(), f" caractères, trop long ({ID_MAX_LENGTH} au plus)"
                ),
                i * 10 + 5,
            ),
            _Check(
                c.name,
                v.str.contains(ID_FORBIDDEN),
                functools.partial(
                    _text,
                    "identifiant contenant ",
                    what,
                    " (interdits dans un identifiant : guillemet, barre oblique inverse, "
                    "caractères de contrôle ou invisibles)",
                ),
                i * 10 + 6,
            ),
        ]
        bad = frame.select(pl.any_horizontal(ch.flag.fill_null(False) for ch in checks)).to_series()
        if bad.any():
            flags = flags | bad
            rows = frame.filter(bad).select(SOURCE_LINE, pl.col(c.name), pl.col(c.name).alias(_v(c.name)))
            problems += _problems(rows, checks)
    return flags, problems


def _row_checks(table: Table) -> list[_Check]:
    """List the cross-column checks of the table (`contract.Before`, `RequiredWhen`)."""
    index = {c.name: i for i, c in enumerate(table.columns)}
    checks: list[_Check] = []
    for check in table.checks:
        if isinstance(check, Before):
            values = {
                "later": _shown(pl.col(_v(check.later)).cast(pl.String)),
                "earlier": _shown(pl.col(_v(check.earlier)).cast(pl.String)),
            }
            checks.append(
                _Check(
                    check.later,
                    pl.col(check.later) < pl.col(check.earlier),
                    functools.partial(_template, check.reason, **values),
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
                    functools.partial(pl.lit, check.reason),
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
            (pl.col(_v(check.column)) if check.value is None else check.value)
            .cast(pl.String)
            .alias("value"),
            check.reason().alias("reason"),
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


class _Ragged(Exception):
    """A CSV row has more fields than the header (read again with `_Raw.reopen`)."""


class _Unreadable(Exception):
    """Polars could not read the rows (told in French by `_Raw.explain`)."""


def _collect(lf: pl.LazyFrame, file: str, streaming: bool) -> pl.DataFrame:
    try:
        return lf.collect(engine="streaming" if streaming else "in-memory")
    except pl.exceptions.PolarsError as error:
        if "more fields than defined" in str(error):
            raise _Ragged from None
        raise _Unreadable from error
    except OSError as error:
        raise ExtractError(f"Fichier {file} : {_os_reason(error)}.") from None


def _checked(
    raw: _Raw, table: Table, parents: dict[str, _Parent]
) -> tuple[_Raw, tuple[pl.DataFrame, pl.DataFrame, dict[str, int], pl.DataFrame]]:
    """`_validate`, a CSV row longer than its header read again, a reading failure in French."""
    try:
        try:
            return raw, _validate(raw, table, parents)
        except _Ragged:
            if raw.reopen is None:
                raise _Unreadable from None
            raw = raw.reopen()
            return raw, _validate(raw, table, parents)
    except _Unreadable:
        message = raw.explain() if raw.explain else f"Fichier {raw.file} : contenu illisible."
        raise ExtractError(message) from None


def _clean_columns(
    raw: _Raw, cols: list[Column], dtypes: dict[str, pl.DataType], grouped: frozenset[str] = frozenset()
) -> set[str]:
    """Name the text and code columns, read as text, whose cells need no cleaning.

    A text cell is clean when it is stripped already and not empty, a code cell when it
    is a contract code (stripped, lower case); a missing cell always is. A clean cell is its
    own value as read and parsed value: a clean column skips the per-row stripping (and
    lowercasing, and code check) and is kept as read, without a copy. One pass over those
    columns decides it, for rows already in memory (a CSV is read in one streamed pass); a
    column the source profile maps codes of is never clean.

    The `grouped` columns (references to a parent, whose rows usually come grouped by it)
    are judged on the first row of each run of equal values only: an equal value is as clean.
    """

    def clean(col: Column) -> pl.Expr:
        cell = pl.col(col.name)
        if col.name in grouped:
            cell = cell.filter((cell != cell.shift(1)).fill_null(True))
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
    if _runs_increasing(frame, key) if len(key) > 1 else _strictly_increasing(frame, key):
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


def _runs_increasing(frame: pl.DataFrame, key: list[str]) -> bool:
    """Whether a key of several parts cannot repeat, rows grouped by its first part.

    True when the rows of each value of `key[0]` come together (one run per value, the
    runs' values proven distinct by distinct 64-bit hashes) and, within a run, the other
    parts grow strictly from row to row (as `_strictly_increasing`). An extract sorted by
    episode, then week, is such a frame whatever the order of its episode ids. False
    (the exact check then runs) when it cannot be told, e.g. a missing key part.
    """
    first = pl.col(key[0])
    new_run = (first != first.shift(1)).fill_null(True)
    rest = key[1:]
    grows = pl.col(rest[-1]) > pl.col(rest[-1]).shift(1)
    for k in reversed(rest[:-1]):
        now, before = pl.col(k), pl.col(k).shift(1)
        grows = (now > before) | ((now == before) & grows)
    lf = frame.lazy()
    ordered = lf.select((new_run | grows.fill_null(False)).all()).collect().item()
    if not ordered:
        return False
    starts = lf.filter(new_run).select(
        first.hash(seed=20).n_unique().alias("distinct"), pl.len().alias("runs")
    ).collect()
    distinct, runs = starts.row(0)
    return bool(distinct == runs)


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
    clean = _clean_columns(raw, [c for c in cols if c.name in schema], dtypes, frozenset(table.parents))

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
        blank = [pl.col(_v(c.name)).is_null() for c in cols]
        if _OVERFLOW in schema:
            blank.append(pl.col(_OVERFLOW).str.strip_chars().fill_null("") == "")
        lf = lf.filter(~pl.all_horizontal(blank))
        return lf.with_columns(
            (
                pl.col(_v(c.name))
                if c.name in clean
                else _parse(c, dtypes[c.name], raw.codes.get(c.name))
            ).alias(c.name)
            for c in cols
        )

    checks = [
        ch for i, c in enumerate(cols) for ch in _column_checks(c, i, c.name in clean, dtypes[c.name])
    ] + _row_checks(table)
    if _OVERFLOW in schema:  # a CSV read again: its rows longer than the header
        extra = pl.col(_OVERFLOW).str.strip_chars()
        checks.append(
            _Check(
                "(champ en trop)",
                extra.fill_null("") != "",
                lambda: _text(
                    f"ligne plus longue que l'en-tête ({raw.width} colonnes) : champ en trop « ",
                    _shown(extra),
                    " » (séparateur en trop ou valeur mal découpée ?)",
                ),
                -1,
                extra,
            )
        )
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

    ids, id_problems = _identifier_problems(frame, cols, set(table.parents))
    set_aside = frame["_bad"] | ids
    problems += id_problems
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
                    .otherwise(_text(f"{noun} « ", _shown(pl.col(col)), f" » {unknown} ({where})"))
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
            pl.when(pl.col("value").str.len_chars() > _VALUE_MAX)
            .then(pl.concat_str([pl.col("value").str.slice(0, _VALUE_MAX), pl.lit("…")]))
            .otherwise(pl.col("value"))
            .alias("value"),
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
    return pl.DataFrame(schema={**TABLES[table].schema, SOURCE_LINE: pl.UInt32()})


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
    if not data.exists() and not data.is_symlink():
        raise ExtractError(f"Données introuvables : « {data} » n'existe pas.")
    if not data.exists():
        _check_file(data, "Données")  # a broken link, a loop
    source: _Folder | _Workbook
    if data.is_dir():
        source = _Folder(data, files)
    elif data.suffix.lower() == ".xlsx":
        _check_file(data, "Données")
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
                    pl.DataFrame(schema={table.key[0]: pl.String(), "_pline": pl.UInt32()}),
                )
            continue
        raw, (kept, problems, count, frame) = _checked(raw, table, parents)
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
        source=str(data.resolve()),  # one spelling of the folder, however it was typed
    )


# --------------------------------------------------------------------------- spreadsheets

RAW_VALUE = "valeur_brute"
_FORMULA = r"^[=+\-@\t\r]"  # a cell a spreadsheet would read as a formula


def spreadsheet_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` (rejected rows) as a spreadsheet may open it: formulas shown as text.

    Every text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
    leading apostrophe (`'=1+1`), which spreadsheets read as "this is text". The exact value
    stays available in `valeur_brute`, placed after `value`: the value as a JSON string
    (`"=1+1"`, `null` when missing), which starts with a quote and so is never a formula.
    """
    texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    safe = frame.with_columns(
        pl.when(pl.col(name).str.contains(_FORMULA))
        .then(pl.concat_str([pl.lit("'"), pl.col(name)]))
        .otherwise(pl.col(name))
        .alias(name)
        for name in texts
    )
    if "value" not in frame.columns or frame.schema["value"] != pl.String:
        return safe
    encoded = pl.struct(pl.col("value").alias("v")).struct.json_encode()
    raw = encoded.str.slice(5, encoded.str.len_chars() - 6).alias(RAW_VALUE)
    columns = list(frame.columns)
    columns.insert(columns.index("value") + 1, RAW_VALUE)
    return safe.with_columns(frame.select(raw).to_series()).select(columns)
