"""The workbook for finance and policy staff (`report.xlsx`), built from data only.

Everything comes from the `results.json` dict (outputs.md), the rows set aside, the
parameter table (`params_table`) and, for a what-if, the `comparison.json` dict and the
variant's results. No engine internals are read, so the workbook can be rebuilt from the
files of any past run.

Money is read from the contract's strings with `Decimal`, totals are summed with
`Decimal` and written as numbers (cells show `1 234,56 €` in a French Excel); each total
row also carries a check formula that recomputes the sum in the spreadsheet. The small
helpers at the top (money, totals, indicator sources, French labels) are shared with
`engine.present.page` (the HTML report).

The workbook is written in xlsxwriter's constant-memory mode: each sheet is one `_Sheet`,
which keeps its rows (references to the run's data) until `finish` and then writes them in
order, every row's height known before its cells; the rows set aside are read twice instead
of kept. tests/test_workbook_memory.py checks the file against the default-mode writer's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell
from xlsxwriter.worksheet import Worksheet

try:  # one helper of xlsxwriter's internals, for `_TableWorksheet`'s fast rows
    from xlsxwriter.utility import _preserve_whitespace
except ImportError:  # pragma: no cover - another xlsxwriter: the library writes every row
    _preserve_whitespace = None  # type: ignore[assignment]

from engine.model import format as fr
from engine.model.format import status_sentence
from engine.model.money import cents
from engine.model.rulebook import source_view

if TYPE_CHECKING:  # pragma: no cover
    from engine.model.rulebook import RuleBook

__all__ = [
    "MONEY_FIELDS",
    "NO_BUDGET_LINE",
    "budget_line_totals",
    "dispositifs",
    "eur",
    "flag_text",
    "indicator_ids",
    "indicator_source",
    "params_table",
    "totals",
    "write_workbook",
]

MONEY_FIELDS = ("amount_eur", "earned_eur", "paid_eur", "solde_eur")
NO_BUDGET_LINE = "(sans ligne)"
CENT = Decimal("0.01")
MAX_CELL = 32_000  # xlsxwriter refuses strings above 32 767 characters
_WORD_JOINER = "\u2060"  # invisible; keeps a text shaped like rich-text XML a plain text


def _plain_text(text: str) -> str:
    """A text as the cell shows it, never read as markup.

    xlsxwriter writes a string `<r>…</r>` as raw rich-text XML (an extract's value could
    then break the file); an invisible joiner after it keeps it a plain, escaped string.
    """
    return text + _WORD_JOINER if text.startswith("<r>") and text.endswith("</r>") else text
MAX_ROWS = 1_048_000  # Excel's sheet limit, with room for the header and a note
# Rows go to a temp file one by one (`_Sheet`); tests/test_workbook_memory.py turns it off to
# compare with the default writer, which keeps every cell until the end.
_CONSTANT_MEMORY = True


KIND_LABELS = {"rate": "taux", "volume": "volume", "reported": "déclaré (non noté)"}
PART_LABELS = {"qualitative": "qualitative", "quantitative": "quantitative", "none": "aucune"}
FUNDING_LABELS = {"financement": "financement", "valorisation": "valorisation"}
# The one remaining-envelope figure of a what-if (comparison.json `remaining_eur`).
REMAINING_LABEL = "Reste de l'enveloppe"
REMAINING_DEFINITION = "Reste de l'enveloppe = disponible de la ligne budgétaire − acquis de la variante."


# --------------------------------------------------------------------------- shared helpers


def eur(text: Any) -> Decimal:
    """Money of the contract (a string with two decimals) as an exact Decimal; None is 0."""
    if text is None or text == "":
        return Decimal(0)
    return cents(str(text))  # half-up like the money, never -0.00


def totals(conventions: Iterable[Mapping[str, Any]]) -> dict[str, Decimal]:
    """Exact sums of the money fields (`amount_eur`… `solde_eur`) over `conventions`."""
    out = {name: Decimal(0) for name in MONEY_FIELDS}
    for c in conventions:
        for name in MONEY_FIELDS:
            out[name] += eur(c.get(name))
    return out


def budget_line_of(c: Mapping[str, Any]) -> str:
    """Return the convention's budget line, or the placeholder when it has none."""
    return str(c.get("budget_line") or NO_BUDGET_LINE)


def budget_line_totals(results: Mapping[str, Any]) -> list[tuple[str, dict[str, Decimal]]]:
    """Exact totals per budget line, in the order the lines first appear."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for c in results.get("conventions", []):
        groups.setdefault(budget_line_of(c), []).append(c)
    return [(line, totals(convs)) for line, convs in groups.items()]


def dispositifs(results: Mapping[str, Any]) -> list[str]:
    """Dispositifs present in the run, in order of first appearance."""
    return list(dict.fromkeys(str(c.get("dispositif")) for c in results.get("conventions", [])))


def indicator_ids(results: Mapping[str, Any], dispositif: str | None = None) -> list[str]:
    """List the indicator ids of the run (of one dispositif), in order of first appearance."""
    ids: dict[str, None] = {}
    for c in results.get("conventions", []):
        if dispositif is None or c.get("dispositif") == dispositif:
            ids.update(dict.fromkeys(c.get("indicators", {})))
    return list(ids)


def flag_text(ids: Iterable[str], labels: Mapping[str, str] | None = None) -> str:
    """Write flags or warnings in French (their wording from the rules), separated by `; `."""
    labels = labels or {}
    return "; ".join(labels.get(i, i) for i in ids)


def index_params(params: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Key the parameter table by path."""
    return {str(p["path"]): p for p in params}


def cite(row: Mapping[str, Any] | None) -> str:
    """Write a source citation on one line: `ref « quote » (interprétation)`."""
    return fr.cite(row, document=False)


def indicator_source(
    params: Mapping[str, Mapping[str, Any]], dispositif: str, indicator: str
) -> dict[str, Any]:
    """Label, source and scoring parameters of one indicator, from the parameter table.

    The indicator's own row (`<dispositif>.indicators.<id>`, see `params_table`) gives its
    label and the text it comes from; the rows under `<dispositif>.scoring.<id>.` (target,
    floor, weight) and its target parameter give the sources of the numbers it is scored
    against. Falls back to the id when the table does not know the indicator.
    """
    own = params.get(f"{dispositif}.indicators.{indicator}")
    prefix = f"{dispositif}.scoring.{indicator}."
    scoring = [row for path, row in sorted(params.items()) if path.startswith(prefix)]
    target = own.get("target_parameter") if own else None
    if target and f"{dispositif}.{target}" in params:
        scoring.append(params[f"{dispositif}.{target}"])
    return {
        "id": indicator,
        "label": str(own.get("description") or indicator) if own else indicator,
        "source": own,
        "citation": cite(own) or cite(scoring[0] if scoring else None),
        "parameters": scoring,
    }


def dispositif_label(params: Mapping[str, Mapping[str, Any]], dispositif: str) -> str:
    """Return the dispositif's French label from the parameter table, else its id."""
    row = params.get(dispositif)
    return str(row["description"]) if row and row.get("description") else dispositif


def code_label(params: Mapping[str, Mapping[str, Any]], kind: str, code: Any) -> str:
    """The French label of a code (rules/labels.yaml, carried by the parameter table)."""
    row = params.get(f"codes.{kind}.{code}")
    return str(row["description"]) if row else str(code)


def codes_text(params: Mapping[str, Mapping[str, Any]], kind: str, codes: Iterable[Any]) -> str:
    """Codes of one kind in French, separated by `; `."""
    return "; ".join(code_label(params, kind, c) for c in codes)


def status_of(c: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]]) -> str:
    """« définitif » (period ended by the as-of date, `final`) or « projection »."""
    return code_label(params, "status", "final" if c.get("final") else "projection")


def run_status(results: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]]) -> tuple[str, int, int]:
    """The run's status from its conventions': (label, number final, number projected).

    The label is « définitif », « projection » or « mixte » (both kinds in one run).
    """
    convs = results.get("conventions", [])
    final = sum(1 for c in convs if c.get("final"))
    projected = len(convs) - final
    kind = "final" if final and not projected else "projection" if not final else "mixed"
    return code_label(params, "status", kind), final, projected




def _show(value: Any) -> str:
    """A parameter's value as `--set` takes it."""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, tuple | list):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _value_fr(value: Any, labels: Mapping[str, str]) -> str:
    """A parameter's value for a person: French numbers, codes with their labels."""
    if isinstance(value, tuple | list):
        return ", ".join(_value_fr(v, labels) for v in value) if value else fr.NONE
    if isinstance(value, str):
        return labels.get(value, value)
    return fr.show(value)


# --------------------------------------------------------------------------- parameters


def params_table(book: RuleBook, when: date) -> list[dict[str, Any]]:
    """Every parameter of `book` with its value in force on `when` and its source.

    One dict per parameter: `path`, `kind` ("paramètre"), `dispositif`, `description`,
    `value` (text, as `--set` takes it), `since` (ISO date of the value in force, "" when
    none is), `history` (every dated value when there are several), `unit`, `document`,
    `document_title`, `ref`, `quote`, `interpretation` (bool), `edited` (changed by
    `--set` / a variant). So that reports can cite each indicator beside its figures, the
    table also holds one row per indicator definition (`kind` "indicateur", path
    `<dispositif>.indicators.<id>`, description = its label, `target_parameter`), per
    decision rule (`kind` "règle", path `decisions.<id>`) and per dispositif label (`kind`
    "dispositif", path = the dispositif).
    """
    documents = getattr(book, "documents", {}) or {}
    edited = {e.path for e in getattr(book, "edits", ())}

    def source_fields(source: Mapping[str, Any] | None) -> dict[str, Any]:
        return source_view(documents, source)

    rows: list[dict[str, Any]] = []
    value_labels = (getattr(book, "code_labels", {}) or {}).get("values", {})
    for path, param in sorted(book.params.items()):
        in_force = [(d, v) for d, v in param.values if d <= when]
        value, since = (
            (_show(in_force[-1][1]), in_force[-1][0].isoformat()) if in_force else ("—", "")
        )
        shown = _value_fr(in_force[-1][1], value_labels) if in_force else fr.NONE
        history = (
            ""
            if len(param.values) < 2
            else " ; ".join(f"{d.isoformat()} → {_show(v)}" for d, v in param.values)
        )
        rows.append(
            {
                "path": path,
                "kind": "paramètre",
                "dispositif": param.path.split(".", 1)[0],
                "description": param.description,
                "value": value,
                "value_fr": shown,
                "since": since,
                "history": history,
                "unit": param.unit,
                **source_fields(param.source),
                "edited": path in edited,
                "target_parameter": None,
                "part": None,
            }
        )
    for dispositif, inds in sorted((getattr(book, "indicators", {}) or {}).items()):
        for ind in inds.values():
            rows.append(
                {
                    "path": f"{dispositif}.indicators.{ind.id}",
                    "kind": "indicateur",
                    "dispositif": dispositif,
                    "description": ind.label,
                    "value": KIND_LABELS.get(ind.kind, ind.kind),
                    "since": "",
                    "history": "",
                    "unit": f"part {PART_LABELS.get(ind.part, ind.part)}",
                    **source_fields(ind.source),
                    "edited": False,
                    "target_parameter": ind.target_parameter,
                    "part": ind.part,
                }
            )
    for rule in getattr(book, "decisions", ()) or ():
        rows.append(
            {
                "path": f"decisions.{rule.id}",
                "kind": "règle",
                "dispositif": "",
                "description": rule.description,
                "value": "active" if rule.enabled else "désactivée",
                "since": "",
                "history": "",
                "unit": "étape "
                + ((getattr(book, "code_labels", {}) or {}).get("stages", {}).get(rule.stage, rule.stage)),
                **source_fields(rule.source if isinstance(rule.source, Mapping) else None),
                "edited": f"decisions.{rule.id}" in edited
                or f"decisions.{rule.id}.enabled" in edited,
                "target_parameter": None,
                "part": None,
            }
        )
    for dispositif, label in sorted((getattr(book, "labels", {}) or {}).items()):
        rows.append(
            {
                "path": dispositif,
                "kind": "dispositif",
                "dispositif": dispositif,
                "description": label,
                "value": "",
                "since": "",
                "history": "",
                "unit": "",
                **source_fields(None),
                "edited": False,
                "target_parameter": None,
                "part": None,
            }
        )
    for kind, table in sorted((getattr(book, "code_labels", {}) or {}).items()):
        for code, label in table.items():
            rows.append(
                {
                    "path": f"codes.{kind}.{code}",
                    "kind": "libellé",
                    "dispositif": "",
                    "description": label,
                    "value": code,
                    "since": "",
                    "history": "",
                    "unit": kind,
                    **source_fields(None),
                    "edited": False,
                    "target_parameter": None,
                    "part": None,
                }
            )
    return rows


# --------------------------------------------------------------------------- workbook


class _Formats:
    """The workbook's cell formats (French display comes from the reader's locale)."""

    def __init__(self, wb: xlsxwriter.Workbook):
        base = {"font_name": "Calibri", "font_size": 10, "valign": "top"}
        self.header = wb.add_format(
            {
                **base,
                "bold": True,
                "bg_color": "#1F3A5F",
                "font_color": "#FFFFFF",
                "text_wrap": True,
                "border": 1,
                "valign": "vcenter",
            }
        )
        self.text = wb.add_format(base)
        self.wrap = wb.add_format({**base, "text_wrap": True})
        money = '#,##0.00\\ "€";[Red]-#,##0.00\\ "€";0.00\\ "€"'
        self.eur = wb.add_format({**base, "num_format": money})
        self.pct = wb.add_format({**base, "num_format": "0.0%"})
        self.num = wb.add_format({**base, "num_format": "#,##0.00"})
        self.int = wb.add_format({**base, "num_format": "#,##0"})
        self.date = wb.add_format({**base, "num_format": "dd/mm/yyyy", "align": "left"})
        total = {**base, "bold": True, "top": 1, "bg_color": "#E8EEF5"}
        self.total = wb.add_format(total)
        self.total_eur = wb.add_format({**total, "num_format": money})
        self.title = wb.add_format({**base, "bold": True, "font_size": 12})
        self.note = wb.add_format({**base, "italic": True, "font_color": "#555555"})
        # What every printed page says (set per run by `write_workbook`).
        self.page_title = "parcours — évaluation des conventions"
        self.page_run = ""
        self.page_as_of = ""
        self.page_status = ""


def _hf(text: str) -> str:
    """Text safe inside an Excel header/footer (`&` doubled, at most 80 characters)."""
    return text.replace("&", "&&")[:80]


def print_setup(ws: Worksheet, fmt: _Formats, sheet: str, repeat_cols: int = 0) -> None:
    """Landscape A4, one page wide, header row repeated, title/date/status and page numbers."""
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.7, bottom=0.6)
    ws.repeat_rows(0)
    if repeat_cols:
        ws.repeat_columns(0, repeat_cols - 1)
    ws.hide_gridlines(0)
    header = (f'&L&"Calibri,Bold"&10{_hf(fmt.page_title)}'
              f'&C&10{_hf(sheet)}'
              f"&R&10au {_hf(fmt.page_as_of)} — {_hf(fmt.page_status)}")
    footer = f"&L&8{_hf(fmt.page_run)}&R&8page &P / &N"
    ws.set_header(header[:254])
    ws.set_footer(footer[:254])


# The xlsxwriter internals the fast row writer uses (checked once: without them every row takes
# the library's cell-by-cell path, which writes the same file, only slower).
_FAST_ROWS = _preserve_whitespace is not None and all(
    hasattr(Worksheet, name)
    for name in ("_check_dimensions", "_write_single_row", "_write_row", "_escape_data",
                 "_escape_control_characters", "_convert_date_time")
)
_INLINE_CACHE = 16_384  # distinct strings whose inline XML is kept (then the cache starts over)


class _TableWorksheet(Worksheet):
    """A worksheet that writes a whole table row at once in constant-memory mode.

    xlsxwriter's own path stores each cell as an object, then turns it into XML when the
    next row starts, escaping every string again (regular expressions per cell). Here a row
    known whole (values already typed by `_Sheet.add`) goes straight to the row file as the
    same XML the library writes: the `<row>` tag from the library itself, each string's
    inline XML escaped once and reused. In default mode (the comparison test), or for a row
    the fast path does not handle (NaN, a very long or rich string, a cell without format),
    the library writes the row cell by cell.
    """

    def __init__(self) -> None:
        super().__init__()
        self._inline: dict[str, str] = {}
        self._letters: list[str] = []
        self._styles_xml: dict[int, str] = {}

    def release(self) -> None:
        """Forget the strings' XML kept for the rows (the sheet's table is written)."""
        self._inline.clear()

    def write_table_row(self, row: int, cells: Sequence[Any], fmts: Sequence[Any],
                        height: float | None = None, whole: bool = True) -> None:
        """Write one row: `cells` typed str / float / int / date / None (blank), `fmts` per cell.

        `whole`: nothing else goes to this row (else the library keeps it open for more cells).
        """
        fast = whole and self.constant_memory and _FAST_ROWS
        if not (fast and self._write_fast(row, cells, fmts, height)):
            if height is not None:
                self.set_row(row, height)
            for col, value in enumerate(cells):
                kind = type(value)
                if kind is str:
                    self.write_string(row, col, value, fmts[col])
                elif value is None:
                    self.write_blank(row, col, None, fmts[col])
                elif kind is float or kind is int:
                    self.write_number(row, col, value, fmts[col])
                else:
                    self.write_datetime(row, col, value, fmts[col])

    def _write_fast(self, row: int, cells: Sequence[Any], fmts: Sequence[Any], height: float | None) -> bool:
        """The row's XML written directly; False (nothing written) when the library must do it."""
        previous: int = self.previous_row  # type: ignore[has-type]
        if row < previous or (row == previous and self.table.get(row)):
            return False  # a row already left, or cells of this row already with the library
        letters, styles, inline = self._letters, self._styles_xml, self._inline
        while len(letters) < len(cells):
            letters.append(xl_col_to_name(len(letters)))
        number = str(row + 1)
        parts: list[str] = []
        append = parts.append
        first = last = -1
        for col, value in enumerate(cells):
            fmt = fmts[col]
            if fmt is None:
                if value is None:
                    continue  # the library writes no blank cell without a format
                return False  # the column's format would apply: the library's path
            style = styles.get(id(fmt))
            if style is None:
                style = styles[id(fmt)] = f' s="{fmt._get_xf_index()}"'
            kind = type(value)
            if kind is str:
                xml = inline.get(value)
                if xml is None:
                    if len(value) > 8191 or (value.startswith("<r>") and value.endswith("</r>")):
                        return False  # length in UTF-16 units, rich strings: the library's path
                    text = self._escape_control_characters(value)
                    space = ' xml:space="preserve"' if _preserve_whitespace(text) else ""
                    xml = f' t="inlineStr"><is><t{space}>{self._escape_data(text)}</t></is></c>'
                    if len(inline) >= _INLINE_CACHE:
                        inline.clear()
                    inline[value] = xml
                append(f'<c r="{letters[col]}{number}"{style}{xml}')
            elif value is None:
                append(f'<c r="{letters[col]}{number}"{style}/>')
            elif kind is float or kind is int:
                if kind is float and not math.isfinite(value):
                    return False  # the library raises or writes the error
                append(f'<c r="{letters[col]}{number}"{style}><v>{value:.16G}</v></c>')
            else:
                append(f'<c r="{letters[col]}{number}"{style}><v>{self._convert_date_time(value):.16G}</v></c>')
            if first < 0:
                first = col
            last = col
        if first < 0 or row >= self.xls_rowmax or last >= self.xls_colmax:
            return False  # nothing to write, or out of the sheet: as the library does
        self._check_dimensions(row, first)
        self._check_dimensions(row, last)
        if row > previous:
            self._write_single_row(row)  # the library's pending row (the header) goes first
        if height is not None:
            self.set_row(row, height)
        self._write_row(row, None, self.row_info.get(row))
        parts.append("</row>")
        self.fh.write("".join(parts))
        self.previous_row = row + 1  # this row is written: nothing more can go to it
        return True


class _Formula(tuple[str, str]):
    """A formula and the value it shows, for `_Sheet.put` (`=IF(…)`, « contrôle OK »)."""

    __slots__ = ()


class _Sheet:
    """A worksheet written as one table: header row, typed cells, widths, freeze, filter.

    The workbook is written in constant memory (xlsxwriter sends each row to a temp file as
    soon as the next one starts, so nothing can be written to a row already left). Row
    heights and the header's height need the columns' final widths, which need every row: so
    `add` keeps each row's values (converted for writing: text cut to the cell limit, money
    as float, yes/no as text) and grows the widths, `put` keeps the cells below the table
    (totals, notes), and `finish` writes everything, in order, each row's height set before
    its cells. Nothing is written to the sheet's cells after `finish`. A table too long to
    keep (the rows set aside, up to a million) is `stream`ed instead: read once for the
    widths, once to write.
    """

    def __init__(
        self,
        wb: xlsxwriter.Workbook,
        fmt: _Formats,
        name: str,
        headers: Sequence[str],
        freeze_cols: int = 0,
    ):
        self.ws: _TableWorksheet = wb.add_worksheet(name, worksheet_class=_TableWorksheet)
        self.fmt = fmt
        self.headers = list(headers)
        self.row = 1
        # Wide enough for the header's longest word (headers wrap, never cut).
        self.widths = [max(8.0, min(40.0, max((len(w) for w in h.split()), default=4) + 3.0))
                       for h in headers]
        print_setup(self.ws, fmt, name, repeat_cols=1 if freeze_cols else 0)
        self._styles: dict[tuple[str, ...], list[Any]] = {}  # style names -> their formats
        self._rows: list[tuple[int, list[Any], list[Any]]] = []  # (row, values, formats)
        self._later: dict[int, list[tuple[int, Any, Any]]] = {}  # row -> (col, value, format)
        # row -> (column, length of its wrapped text)…, one tuple per distinct layout
        self._wrapped: dict[int, tuple[tuple[int, int], ...]] = {}
        self._layouts: dict[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]] = {}
        self._stream: tuple[Callable[[], Iterable[Sequence[Any]]], list[Any], int, int] | None = None
        self._done = False
        self.ws.freeze_panes(1, freeze_cols)

    def add(self, values: Sequence[Any], styles: Sequence[str] | None = None) -> int:
        """Append a data row (its widths counted, its cells written by `finish`); return its index."""
        if self._done or self._stream is not None:
            raise RuntimeError(f"sheet {self.ws.name!r}: no row can be added now")
        cells, fmts, wrapped = self._prepare(values, self._formats(styles, len(values)))
        row = self.row
        if wrapped:
            self._wrapped[row] = self._layouts.setdefault(wrapped, wrapped)  # one tuple per layout
        self._rows.append((row, cells, fmts))
        self.row += 1
        return row

    def stream(self, rows: Callable[[], Iterable[Sequence[Any]]], styles: Sequence[str], count: int) -> None:
        """The table's `count` rows, from `rows()`, read twice at `finish` and kept nowhere.

        The first reading gives the widths, the second writes each row as it comes, with its
        height: for a table too long to keep (the rows set aside). Nothing is `add`ed after.
        """
        if self._done or self._stream is not None:
            raise RuntimeError(f"sheet {self.ws.name!r}: no row can be added now")
        self._stream = (rows, self._formats(styles, len(styles)), self.row, count)
        self.row += count

    def _formats(self, styles: Sequence[str] | None, n: int) -> list[Any]:
        """The formats of a row's styles (names of `_Formats`), text for every cell without."""
        key = tuple(styles) if styles else ("text",) * n
        fmts = self._styles.get(key)
        if fmts is None:
            fmts = self._styles[key] = [getattr(self.fmt, s) for s in key]
        return fmts

    def _prepare(
        self, values: Sequence[Any], fmts: list[Any]
    ) -> tuple[list[Any], list[Any], tuple[tuple[int, int], ...]]:
        """A row's cells as written (see the class docstring), their formats, its wrapped texts.

        The columns' widths grow to fit the row's cells.
        """
        fmt = self.fmt
        wrap, num = fmt.wrap, fmt.num
        widths = self.widths
        n_widths = len(widths)
        cells: list[Any] = list(values)
        own = fmts  # copied before a count's format changes (`num` shown as `int`)
        wrapped: list[tuple[int, int]] = []
        for col, value in enumerate(values):
            kind = type(value)
            capped = col >= n_widths or widths[col] >= 60  # no wider column to find
            if kind is str and value:  # the most common cell, tested first
                if len(value) > MAX_CELL:
                    value = cells[col] = value[:MAX_CELL]
                if value.startswith("<r>"):
                    value = cells[col] = _plain_text(value)
                width: float = len(value) + 1
                if len(value) > 8 and own[col] is wrap:
                    wrapped.append((col, len(value)))
            elif value is None or value == "":
                cells[col] = None
                continue
            elif kind is Decimal:
                cells[col] = float(value)
                width = 0 if capped else len(f"{value:,.2f}") + 3
            elif kind is bool:
                cells[col] = "oui" if value else "non"
                width = 4
            elif kind is int or kind is float:
                if kind is int and own[col] is num:
                    if own is fmts:
                        own = list(fmts)
                    own[col] = fmt.int  # a count is shown without decimals
                width = 0 if capped else len(f"{value:,.2f}") + 1
            elif isinstance(value, Decimal):
                cells[col] = float(value)
                width = 0 if capped else len(f"{value:,.2f}") + 3
            elif isinstance(value, bool):
                cells[col] = "oui" if value else "non"
                width = 4
            elif isinstance(value, int | float):
                cells[col] = value = float(value) if isinstance(value, float) else int(value)
                if isinstance(value, int) and own[col] is num:
                    if own is fmts:
                        own = list(fmts)
                    own[col] = fmt.int
                width = 0 if capped else len(f"{value:,.2f}") + 1
            elif isinstance(value, date):
                width = 11
            else:
                text = cells[col] = str(value)[:MAX_CELL]
                width = len(text) + 1
            if not capped and width > widths[col]:
                widths[col] = min(60.0, float(width))
        return cells, own, tuple(wrapped)

    def put(self, row: int, col: int, value: str | float | _Formula | None, fmt: Any) -> None:
        """Keep one cell below the table (a total, a note): text, number, formula, or blank."""
        if self._done:
            raise RuntimeError(f"sheet {self.ws.name!r} already written")
        self._later.setdefault(row, []).append((col, value, fmt))

    def finish(
        self,
        wrap_cols: Iterable[int] = (),
        last: int | None = None,
        widths: Mapping[int, float] | None = None,
    ) -> None:
        """Write the sheet: autofilter, widths, then every row in order with its height.

        The autofilter runs from the header to row `last` (default the last row added).
        `widths` are the columns' widths set afterwards by the caller (the Synthèse's): the
        header is as tall as its labels need at those widths; a wrapped row as tall as its text
        needs at those widths, or, when that is one line, at the widths the rows gave (as the
        workbook was laid out when heights were set in two passes).
        """
        if self._done:
            raise RuntimeError(f"sheet {self.ws.name!r} already written")
        self._done = True
        ws, fmt = self.ws, self.fmt
        if self._stream is not None:  # first reading of the streamed rows: the widths
            source, fmts, _, _ = self._stream
            for values in source():
                self._prepare(values, fmts)
        last = self.row - 1 if last is None else last
        ws.autofilter(0, 0, max(last, 1), len(self.headers) - 1)
        wraps = set(wrap_cols)
        for col, width in enumerate(self.widths):
            ws.set_column(col, col, width, fmt.wrap if col in wraps else None)
        ws.set_row(0, self._header_height(widths))
        for col, h in enumerate(self.headers):
            ws.write_string(0, col, h, fmt.header)
        later = sorted(self._later.items())
        pending = 0
        for row, cells, fmts, height in self._kept(widths) if self._stream is None else self._streamed(widths):
            while pending < len(later) and later[pending][0] < row:
                self._put_row(*later[pending])
                pending += 1
            more = pending < len(later) and later[pending][0] == row  # cells put on a table row
            ws.write_table_row(row, cells, fmts, height, whole=not more)
            if more:
                self._put_row(*later[pending])
                pending += 1
        for item in later[pending:]:
            self._put_row(*item)
        self._rows.clear()
        self._later.clear()
        self._wrapped.clear()
        ws.release()

    def _kept(self, widths: Mapping[int, float] | None) -> Iterator[tuple[int, list[Any], list[Any], float | None]]:
        """The rows `add`ed, with their heights."""
        heights: dict[tuple[tuple[int, int], ...], float | None] = {}  # per layout
        for row, cells, fmts in self._rows:
            layout = self._wrapped.get(row)
            if layout is None:
                yield row, cells, fmts, None
                continue
            if layout not in heights:
                heights[layout] = self._row_height(layout, widths)
            yield row, cells, fmts, heights[layout]

    def _streamed(self, widths: Mapping[int, float] | None) -> Iterator[tuple[int, list[Any], list[Any], float | None]]:
        """Second reading of the streamed rows: each one as it comes, with its height."""
        assert self._stream is not None
        source, fmts, first, count = self._stream
        row = first
        for values in source():
            cells, own, layout = self._prepare(values, fmts)
            yield row, cells, own, self._row_height(layout, widths) if layout else None
            row += 1
        if row != first + count:
            raise RuntimeError(f"sheet {self.ws.name!r}: {row - first} rows read, {count} announced")

    def _width(self, col: int, given: Mapping[int, float]) -> float:
        return given.get(col, self.widths[col] if col < len(self.widths) else 10)

    def _header_height(self, widths: Mapping[int, float] | None) -> float:
        """The header row tall enough for its wrapped labels at the columns' widths."""
        lines = 1
        for col, h in enumerate(self.headers):
            lines = max(lines, math.ceil((len(h) + 1) / max(self._width(col, widths or {}) - 1, 1)))
        return 14 * lines + 4

    def _row_height(self, layout: tuple[tuple[int, int], ...], widths: Mapping[int, float] | None) -> float | None:
        """A row with wrapped text tall enough for its lines (LibreOffice does not grow them)."""
        for given in (widths, {}) if widths else ({},):
            need = 1
            for col, length in layout:
                need = max(need, math.ceil(length / max(self._width(col, given) * 1.15 - 1, 1)))
            if need > 1:
                return 12.75 * min(need, 30) + 1
        return None

    def _put_row(self, row: int, cells: list[tuple[int, Any, Any]]) -> None:
        ws = self.ws
        for col, value, fmt in cells:
            if isinstance(value, _Formula):
                ws.write_formula(row, col, value[0], fmt, value[1])
            elif isinstance(value, str):
                ws.write_string(row, col, _plain_text(value), fmt)
            elif value is None:
                ws.write_blank(row, col, None, fmt)
            else:
                ws.write_number(row, col, float(value), fmt)


def _date(text: Any) -> date | None:
    try:
        return date.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def _col_range(col: int, first: int, last: int) -> str:
    """Absolute range of one column, e.g. `$J$2:$J$40`."""
    return f"{xl_rowcol_to_cell(first, col, True, True)}:{xl_rowcol_to_cell(last, col, True, True)}"


def _excel_safe_criterion(text: str) -> bool:
    return not any(ch in text for ch in '*?~<>="')


def _synthese(
    wb: xlsxwriter.Workbook,
    fmt: _Formats,
    results: Mapping[str, Any],
    params: Mapping[str, Mapping[str, Any]],
    name: str = "Synthèse",
) -> None:
    convs = list(results.get("conventions", []))
    head = [
        "Convention",
        "Structure",
        "Territoire",
        "Dispositif",
        "Financement / valorisation",
        "Ligne budgétaire",
        "Période évaluée",
        "Statut",
    ]
    money_head = ["Montant conventionné", "Acquis", "Déjà versé", "Solde"]
    headers = [
        *head,
        "Score quantitatif",
        "Score qualitatif",
        *money_head,
        "Signalements",
        "Alertes",
        "Règles appliquées",
    ]
    sheet = _Sheet(wb, fmt, name, headers, freeze_cols=1)
    first_money = len(head) + 2
    styles = (["text", "wrap", "wrap", "wrap", "wrap", "text", "wrap", "text"]
              + ["pct", "pct"] + ["eur"] * 4 + ["wrap"] * 3)
    for c in convs:
        window = c.get("window") or {}
        period = " – ".join(fr.date_fr(d) for d in (window.get("start"), window.get("end")) if d)
        values: list[Any] = [
            c.get("convention_id"),
            c.get("structure"),
            c.get("territory"),
            code_label(params, "dispositifs", c.get("dispositif")),
            code_label(params, "funding", c.get("funding")),
            budget_line_of(c),
            period,
            status_of(c, params),
            c.get("quantitative_score"),
            c.get("qualitative_score"),
            *(eur(c.get(name)) for name in MONEY_FIELDS),
            flag_text(c.get("flags", []), c.get("labels")),
            flag_text(c.get("warnings", []), c.get("labels")),
            codes_text(params, "decisions", c.get("decisions", [])),
        ]
        sheet.add(values, styles)
    last = sheet.row - 1
    # Totals below the table (outside the filter), then the check formulas.
    line_col = head.index("Ligne budgétaire")
    label_col = 0
    check_col = len(headers) - 3
    sheet.row += 1
    money_cols = range(first_money, first_money + 4)

    def total_row(label: str, line: str | None, sums: Mapping[str, Decimal]) -> None:
        r = sheet.row
        for col in range(len(headers)):
            sheet.put(r, col, None, fmt.total)
        sheet.put(r, label_col, label, fmt.total)
        if line is not None:
            sheet.put(r, line_col, line, fmt.total)
        for col, name in zip(money_cols, MONEY_FIELDS, strict=True):
            sheet.put(r, col, float(sums[name]), fmt.total_eur)
        if last >= 1 and (line is None or _excel_safe_criterion(line)):
            checks = []
            for col in money_cols:
                rng = _col_range(col, 1, last)
                cell = xl_rowcol_to_cell(r, col)
                if line is None:
                    checks.append(f"ROUND(SUM({rng})-{cell},2)=0")
                else:
                    keys = _col_range(line_col, 1, last)
                    checks.append(f'ROUND(SUMIFS({rng},{keys},"{line}")-{cell},2)=0')
            sheet.put(
                r,
                check_col,
                _Formula((f'=IF(AND({",".join(checks)}),"contrôle OK","ÉCART")', "contrôle OK")),
                fmt.total,
            )
        sheet.row += 1

    for line, sums in budget_line_totals(results):
        total_row("Total ligne budgétaire", line, sums)
    total_row("Total général", None, totals(convs))
    reversal = sum(
        (eur(c.get("solde_eur")) for c in convs if eur(c.get("solde_eur")) < 0), Decimal(0)
    )
    r = sheet.row
    sheet.put(r, label_col, "dont à reverser (soldes négatifs)", fmt.total)
    sheet.put(r, first_money + 3, float(reversal), fmt.total_eur)
    sheet.row += 2
    sheet.put(
        sheet.row,
        0,
        "Montants exacts, arrondis une fois au centime (au plus proche, "
        "demi-centime vers le haut) ; les totaux sont la somme exacte de ces montants.",
        fmt.note,
    )
    widths = {0: 19, 1: 16, 2: 12, 3: 13, 4: 13, 5: 12, 6: 11, 7: 11, 8: 11, 9: 11,
              10: 13, 11: 13, 12: 13, 13: 13, 14: 30, 15: 30, 16: 34}
    sheet.finish(wrap_cols=range(len(headers) - 3, len(headers)), last=last, widths=widths)
    for col, width in widths.items():  # column widths are written at close: set after the rows
        sheet.ws.set_column(col, col, width, fmt.wrap if col in (1, 4, 6, 14, 15, 16) else None)


def _dispositif_of(results: Mapping[str, Any], indicator: str) -> str:
    for c in results.get("conventions", []):
        if indicator in c.get("indicators", {}):
            return str(c.get("dispositif"))
    return ""


def _safe_sheet_name(name: str, taken: set[str]) -> str:
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in name).strip("'")[:31] or "Feuille"
    candidate, n = clean, 2
    while candidate.lower() in {t.lower() for t in taken}:
        suffix = f" ({n})"
        candidate, n = clean[: 31 - len(suffix)] + suffix, n + 1
    taken.add(candidate)
    return candidate


def _dispositif_sheet(
    wb: xlsxwriter.Workbook,
    fmt: _Formats,
    name: str,
    results: Mapping[str, Any],
    dispositif: str,
    params: Mapping[str, Mapping[str, Any]],
) -> None:
    headers = [
        "Convention",
        "Structure",
        "Territoire",
        "Indicateur",
        "Libellé",
        "Nature",
        "Part",
        "Évaluable",
        "Numérateur",
        "Dénominateur",
        "Valeur",
        "Cible",
        "Plancher",
        "Score",
        "Poids",
        "Source",
        "Statut",
    ]
    sheet = _Sheet(wb, fmt, name, headers, freeze_cols=1)
    sources = {
        i: indicator_source(params, dispositif, i) for i in indicator_ids(results, dispositif)
    }
    for c in results.get("conventions", []):
        if c.get("dispositif") != dispositif:
            continue
        status = status_of(c, params)
        for i, ind in c.get("indicators", {}).items():
            src = sources[i]
            kind = ind.get("kind") or ("rate" if "numerator" in ind else "volume")
            rate = kind == "rate"
            part = PART_LABELS.get(str((src["source"] or {}).get("part")), "")
            numerator = ind.get("numerator") if rate else ind.get("value_numerator")
            denominator = ind.get("denominator") if rate else ind.get("value_denominator")
            sheet.add(
                [
                    c.get("convention_id"),
                    c.get("structure"),
                    c.get("territory"),
                    i,
                    src["label"],
                    KIND_LABELS.get(kind, kind),
                    part,
                    bool(ind.get("evaluable")),
                    numerator,
                    denominator,
                    ind.get("value"),
                    ind.get("target"),
                    ind.get("floor"),
                    ind.get("score"),
                    ind.get("weight"),
                    src["citation"],
                    status,
                ],
                ["text"] * 8
                + ["int", "int"]
                + (["pct"] * 3 if rate else ["num"] * 3)
                + ["pct", "pct", "wrap", "text"],
            )
        for key, value in (c.get("reported") or {}).items():
            sheet.add(
                [
                    c.get("convention_id"),
                    c.get("structure"),
                    c.get("territory"),
                    key,
                    code_label(params, "counts", key),
                    KIND_LABELS["reported"],
                    "aucune",
                    None,
                    None,
                    None,
                    value if not isinstance(value, bool) else fr.yes_no(value),
                    None, None, None, None, None,
                    status,
                ],
                ["text"] * 10 + ["num"] + ["text"] * 6,
            )
    sheet.finish(wrap_cols=[15])
    sheet.ws.set_column(4, 4, 36, fmt.wrap)
    sheet.ws.set_column(15, 15, 60, fmt.wrap)


COST_FIELDS = (
    ("declared_personnel_eur", "Dépenses de personnel déclarées", "eur"),
    ("eligible_personnel_eur", "Dépenses de personnel éligibles", "eur"),
    ("ineligible_personnel_eur", "Dépenses exclues (taux d'affectation trop bas)", "eur"),
    ("flat_rate", "Forfait autres dépenses", "pct"),
    ("eligible_total_eur", "Total éligible", "eur"),
    ("share", "Part du Département", "pct"),
    ("due_eur", "Part due", "eur"),
)


def _costs_sheet(wb: xlsxwriter.Workbook, fmt: _Formats, results: Mapping[str, Any],
                 params: Mapping[str, Mapping[str, Any]], name: str = "Coûts déclarés") -> None:
    """Cost-based conventions: from declared personnel costs to the amount earned (framework §5.5)."""
    convs = [c for c in results.get("conventions", []) if c.get("costs")]
    if not convs:
        return
    headers = ["Convention", "Structure", *(label for _, label, _ in COST_FIELDS),
               "Montant retenu", "Plafonné", "Acquis", "Déjà versé", "Solde", "Personnels exclus", "Statut"]
    sheet = _Sheet(wb, fmt, name, headers, freeze_cols=1)
    styles = ["text", "text", *(kind for _, _, kind in COST_FIELDS), "eur", "text", "eur", "eur", "eur", "wrap",
              "text"]
    for c in convs:
        k = c["costs"]
        values: list[Any] = [c.get("convention_id"), c.get("structure")]
        for key, _, kind in COST_FIELDS:
            values.append(eur(k.get(key)) if kind == "eur" else k.get(key))
        values += [eur(c.get("amount_eur")), bool(k.get("capped_at_amount")), eur(c.get("earned_eur")),
                   eur(c.get("paid_eur")), eur(c.get("solde_eur")), "; ".join(k.get("ineligible_staff") or []),
                   status_of(c, params)]
        sheet.add(values, styles)
    sheet.put(sheet.row + 1, 0, "Acquis = min(montant retenu, part × total éligible), "
                          "total éligible = personnel éligible × (1 + forfait) ; arrondi une fois au centime.",
                          fmt.note)
    sheet.finish(wrap_cols=[len(headers) - 1])


def _rejected_sheet(wb: xlsxwriter.Workbook, fmt: _Formats, rejected: pl.DataFrame,
                    name: str = "Lignes écartées",
                    params: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    columns = [
        ("table", "Table"),
        ("file", "Fichier"),
        ("line", "Ligne"),
        ("column", "Colonne"),
        ("value", "Valeur"),
        ("reason", "Motif"),
    ]
    sheet = _Sheet(wb, fmt, name, [label for _, label in columns])
    present = [name for name, _ in columns if name in rejected.columns]
    frame = rejected.select(present).head(MAX_ROWS) if present else pl.DataFrame()

    def rows() -> Iterator[list[Any]]:
        for row in frame.iter_rows(named=True):
            values = [row.get(key) for key, _ in columns]
            if params and values[0]:
                values[0] = code_label(params, "tables", values[0])
            yield values

    # Up to a million rows: read twice (widths, then writing), never all kept.
    sheet.stream(rows, ["text", "text", "int", "text", "text", "wrap"], frame.height)
    if rejected.height > MAX_ROWS:
        sheet.put(
            sheet.row + 1,
            0,
            f"{rejected.height - MAX_ROWS} lignes de plus : voir rejected/.",
            fmt.note,
        )
    if rejected.height == 0:
        sheet.put(2, 0, "Aucune ligne écartée.", fmt.note)
    sheet.finish(wrap_cols=[5])
    sheet.ws.set_column(5, 5, 70, fmt.wrap)


def _params_sheet(
    wb: xlsxwriter.Workbook, fmt: _Formats, params: Sequence[Mapping[str, Any]],
    name: str = "Paramètres",
) -> None:
    fields = [
        ("path", "Chemin"),
        ("kind", "Nature"),
        ("dispositif", "Dispositif"),
        ("description", "Description"),
        ("value", "Valeur en vigueur"),
        ("since", "Depuis le"),
        ("history", "Historique"),
        ("unit", "Unité"),
        ("document_title", "Document"),
        ("ref", "Référence"),
        ("quote", "Citation"),
        ("interpretation", "Interprétation"),
        ("edited", "Modifié pour ce calcul"),
        ("value", "Valeur (pour --set)"),
    ]
    sheet = _Sheet(wb, fmt, name, [label for _, label in fields], freeze_cols=1)
    for p in params:
        if p.get("kind") == "libellé":
            continue
        values = [p.get(key) for key, _ in fields]
        values[4] = p.get("value_fr") or p.get("value")
        values[5] = _date(values[5]) or values[5]
        sheet.add(
            values,
            [
                "text",
                "text",
                "text",
                "wrap",
                "text",
                "date",
                "wrap",
                "text",
                "wrap",
                "text",
                "wrap",
                "text",
                "text",
                "text",
            ],
        )
    sheet.finish()
    for col, width in ((0, 44), (3, 50), (6, 30), (8, 36), (10, 60)):
        sheet.ws.set_column(col, col, width, fmt.wrap if col else None)


def _run_sheet(
    wb: xlsxwriter.Workbook, fmt: _Formats, results: Mapping[str, Any], rejected: pl.DataFrame,
    params: Mapping[str, Mapping[str, Any]] | None = None, name: str = "Exécution",
) -> None:
    params = params or {}
    sheet = _Sheet(wb, fmt, name, ["Rubrique", "Élément", "Valeur", "Détail"])
    run = results.get("run", {})
    as_of = _date(run.get("as_of"))
    sheet.add(["Calcul", "Date d'évaluation", as_of, ""], ["text", "text", "date", "text"])
    label, n_final, n_projected = run_status(results, params)
    sheet.add(["Calcul", "Statut", label, status_sentence(label, n_final, n_projected)])
    sheet.add(["Calcul", "Conventions définitives (période terminée)", n_final, ""],
              ["text", "text", "int", "text"])
    sheet.add(["Calcul", "Conventions en projection (période en cours)", n_projected, ""],
              ["text", "text", "int", "text"])
    sheet.add(["Calcul", "Calcul montré", fmt.page_run, ""])
    sheet.add(["Calcul", "Version de parcours", str(run.get("version", "")), ""])
    sheet.add(["Calcul", "Source des données", str(run.get("source", "") or ""), ""])
    sheet.add(["Calcul", "Empreinte des règles (SHA-256)", str(run.get("rules_sha256", "")), ""])
    sheet.add(
        ["Calcul", "Conventions évaluées", len(results.get("conventions", [])), ""],
        ["text", "text", "int", "text"],
    )
    for name, digest in (run.get("inputs_sha256") or {}).items():
        sheet.add(["Fichier lu (SHA-256)", name, str(digest), ""])
    overrides = run.get("overrides") or {}
    if not overrides:
        sheet.add(["Paramètres modifiés", "aucun", "", "règles telles que publiées"])
    for path, value in overrides.items():
        sheet.add(["Paramètres modifiés", path, _show(value), ""])
    for edit in run.get("edits") or []:
        detail = f"origine {edit.get('origin', '')}" + (
            f", à partir du {edit['from']}" if edit.get("from") else ""
        )
        sheet.add(["Modification", str(edit.get("path")), _show(edit.get("value")), detail])
    for table, counts in (results.get("inputs") or {}).items():
        for key, what in (
            ("rows", "lignes lues"),
            ("kept", "lignes retenues"),
            ("rejected", "lignes écartées"),
        ):
            sheet.add(
                ["Entrées", f"{code_label(params, 'tables', table)} — {what}", counts.get(key), ""],
                ["text", "text", "int", "text"],
            )
    sheet.add(
        ["Entrées", "Problèmes relevés (feuille « Lignes écartées »)", rejected.height, ""],
        ["text", "text", "int", "text"],
    )
    for skipped in results.get("skipped") or []:
        sheet.add(
            [
                "Non évaluée",
                str(skipped.get("convention_id")),
                str(skipped.get("dispositif")),
                str(skipped.get("reason") or "pas encore de règles pour ce dispositif"),
            ]
        )
    sheet.finish()
    sheet.ws.set_column(2, 2, 66)


def _comparison_sheet(
    wb: xlsxwriter.Workbook,
    fmt: _Formats,
    results: Mapping[str, Any],
    comparison: Mapping[str, Any],
    variant: Mapping[str, Any] | None,
    params: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    base = {c["convention_id"]: c for c in results.get("conventions", [])}
    var = {c["convention_id"]: c for c in (variant or {}).get("conventions", [])}
    headers = [
        "Convention",
        "Structure",
        "Territoire",
        "Ligne budgétaire",
        "Acquis (référence)",
        "Acquis (variante)",
        "Écart",
        "Sens",
        "Score qualitatif (référence)",
        "Score qualitatif (variante)",
        "Score quantitatif (référence)",
        "Score quantitatif (variante)",
        "Statut",
    ]
    sheet = _Sheet(wb, fmt, "Comparaison", headers, freeze_cols=1)
    index = index_params(params or [])
    rows = list(comparison.get("conventions", []))
    sums = {"b": Decimal(0), "v": Decimal(0), "d": Decimal(0)}
    by_structure: dict[str, Decimal] = {}
    for row in rows:
        cid = row.get("convention_id")
        b, v = base.get(cid, {}), var.get(cid, {})
        about = b or v
        delta = eur(row.get("delta_eur"))
        sums["b"] += eur(row.get("baseline_earned_eur"))
        sums["v"] += eur(row.get("variant_earned_eur"))
        sums["d"] += delta
        structure = str(about.get("structure") or cid)
        by_structure[structure] = by_structure.get(structure, Decimal(0)) + delta
        sheet.add(
            [
                cid,
                about.get("structure"),
                about.get("territory"),
                budget_line_of(about) if about else None,
                eur(row.get("baseline_earned_eur")),
                eur(row.get("variant_earned_eur")),
                delta,
                _direction(delta),
                b.get("qualitative_score"),
                v.get("qualitative_score"),
                b.get("quantitative_score"),
                v.get("quantitative_score"),
                status_of(v or b, index),
            ],
            ["text"] * 4 + ["eur"] * 3 + ["text"] + ["pct"] * 4 + ["text"],
        )
    last = sheet.row - 1
    sheet.row += 1
    put = sheet.put
    r = sheet.row
    put(r, 0, "Total", fmt.total)
    for col, key in ((4, "b"), (5, "v"), (6, "d")):
        put(r, col, float(sums[key]), fmt.total_eur)
    if last >= 1:
        checks = ",".join(
            f"ROUND(SUM({_col_range(col, 1, last)})-{xl_rowcol_to_cell(r, col)},2)=0"
            for col in (4, 5, 6)
        )
        put(r, 7, _Formula((f'=IF(AND({checks}),"contrôle OK","ÉCART")', "contrôle OK")), fmt.total)
    r += 2
    put(r, 0, "Paramètres modifiés par la variante", fmt.title)
    r += 1
    for path, value in (comparison.get("overrides") or {}).items():
        put(r, 0, path, fmt.text)
        put(r, 3, _show(value), fmt.text)
        r += 1
    r += 1
    put(r, 0, "Par ligne budgétaire", fmt.title)
    r += 1
    line_head = [
        "Ligne budgétaire",
        "",
        "",
        "",
        "Acquis (référence)",
        "Acquis (variante)",
        "Écart",
        "Disponible",
        REMAINING_LABEL,
        "Écart / disponible",
    ]
    for col, h in enumerate(line_head):
        put(r, col, h, fmt.header)
    r += 1
    for line in comparison.get("by_budget_line", []):
        available = (
            eur(line.get("available_eur")) if line.get("available_eur") is not None else None
        )
        delta = eur(line.get("delta_eur"))
        put(r, 0, str(line.get("budget_line") or NO_BUDGET_LINE), fmt.text)
        for col, key in ((4, "baseline_earned_eur"), (5, "variant_earned_eur"), (6, "delta_eur")):
            put(r, col, float(eur(line.get(key))), fmt.eur)
        if available is not None:
            put(r, 7, float(available), fmt.eur)
            remaining = line.get("remaining_eur")
            if remaining is not None:
                put(r, 8, float(eur(remaining)), fmt.eur)
            if available:
                put(r, 9, float(delta / available), fmt.pct)
        r += 1
    put(r, 0, REMAINING_DEFINITION, fmt.note)
    r += 2
    put(r, 0, gainers_losers(comparison), fmt.note)
    r += 1
    put(r, 0, "Structures qui gagnent ou perdent (somme des écarts de leurs conventions)", fmt.title)
    r += 1
    for col, h in enumerate(["Structure", "", "", "", "", "", "Écart", "Sens"]):
        put(r, col, h, fmt.header)
    r += 1
    for structure, delta in sorted(by_structure.items(), key=lambda item: (item[1], item[0])):
        put(r, 0, structure, fmt.text)
        put(r, 6, float(delta), fmt.eur)
        put(r, 7, _direction(delta), fmt.text)
        r += 1
    sheet.finish(last=last)
    for col in (4, 5, 6, 7, 8):
        sheet.ws.set_column(col, col, 18)


def gainers_losers(comparison: Mapping[str, Any]) -> str:
    """« Conventions : 0 gagnent, 9 perdent, 22 inchangées ; structures (…) : … »."""
    deltas = [eur(r.get("delta_eur")) for r in comparison.get("conventions", [])]
    providers = comparison.get("providers") or {}
    return (f"Conventions : {sum(d > 0 for d in deltas)} gagnent, {sum(d < 0 for d in deltas)} perdent,"
            f" {sum(d == 0 for d in deltas)} inchangées ; structures (somme de leurs conventions) :"
            f" {len(providers.get('gaining', []))} gagnent, {len(providers.get('losing', []))} perdent,"
            f" {len(providers.get('unchanged', []))} inchangées")


def _run_pages(fmt: _Formats, results: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]],
               run: str) -> None:
    """What the printed pages of the sheets that follow say: run, as-of date, status."""
    label, n_final, n_projected = run_status(results, params)
    fmt.page_run = run
    fmt.page_as_of = fr.date_fr((results.get("run") or {}).get("as_of"))
    fmt.page_status = status_sentence(label, n_final, n_projected)


def _report(wb: xlsxwriter.Workbook, fmt: _Formats, results: Mapping[str, Any],
            params: Sequence[Mapping[str, Any]], index: Mapping[str, Mapping[str, Any]],
            rejected: pl.DataFrame, prefix: str) -> None:
    """One run's full report: Synthèse, a sheet per dispositif, costs, rejected, parameters, run."""
    taken = {s.name.lower() for s in wb.worksheets()}

    def name(text: str) -> str:
        return _safe_sheet_name(prefix + text, taken)

    _synthese(wb, fmt, results, index, name("Synthèse"))
    for dispositif in dispositifs(results):
        label = code_label(index, "dispositifs", dispositif)
        _dispositif_sheet(wb, fmt, name(label), results, dispositif, index)
    if any(c.get("costs") for c in results.get("conventions", [])):
        _costs_sheet(wb, fmt, results, index, name("Coûts déclarés"))
    _rejected_sheet(wb, fmt, rejected, name("Lignes écartées"), index)
    _params_sheet(wb, fmt, params, name("Paramètres"))
    _run_sheet(wb, fmt, results, rejected, index, name("Exécution"))


def _direction(delta: Decimal) -> str:
    return "gagne" if delta > 0 else "perd" if delta < 0 else "inchangé"


def write_workbook(
    results: dict[str, Any],
    path: Path,
    *,
    params: list[dict[str, Any]],
    rejected: pl.DataFrame,
    comparison: dict[str, Any] | None = None,
    variant: dict[str, Any] | None = None,
    baseline_params: list[dict[str, Any]] | None = None,
) -> Path:
    """Write `report.xlsx` at `path` from a run's data; return the path.

    Sheets: « Synthèse » (one row per convention, totals per budget line and overall),
    one sheet per dispositif present (each indicator's numerator, denominator, value,
    target, floor, score, weight and source), « Lignes écartées », « Paramètres »,
    « Exécution » (run manifest) and, with `comparison`, « Comparaison » (baseline /
    variant / delta per convention, per budget line against what is available, and the
    structures gaining or losing).

    A what-if workbook (`comparison`) opens on « Comparaison », then the variant's full
    report (sheets « Var. … », `params` being the variant's), then the baseline's
    (« Réf. … », `baseline_params`). Every sheet prints landscape on A4, one page wide,
    its header row repeated, with the title, the as-of date, the status and the run it
    shows in its header and footer.
    """
    from engine.present.writer import atomic_path

    path = Path(path)
    index = index_params(params)
    with atomic_path(path) as tmp:
        wb = xlsxwriter.Workbook(
            str(tmp),
            {
                "constant_memory": _CONSTANT_MEMORY,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "default_date_format": "dd/mm/yyyy",
            },
        )
        wb.set_properties(
            {
                "title": "parcours — évaluation des conventions",
                "subject": "Rapport d'évaluation",
                "author": "parcours",
                "comments": f"Évaluation au {results.get('run', {}).get('as_of', '')}",
                "created": _created(results),
            }
        )
        fmt = _Formats(wb)
        try:
            if comparison is None:
                _run_pages(fmt, results, index, "Évaluation (règles telles que chargées)"
                           if not (results.get("run") or {}).get("overrides") else "Évaluation (paramètres modifiés)")
                _report(wb, fmt, results, params, index, rejected, "")
            else:
                info = comparison.get("variant") or {}
                name = info.get("name") if info and info.get("name") not in (None, "--set") else None
                variant_title = f"Variante « {name} »" if name else "Variante (--set)"
                varied = variant or results
                var_index = index
                base_params = baseline_params if baseline_params is not None else params
                base_index = index_params(base_params)
                _run_pages(fmt, varied, var_index, f"Comparaison : {variant_title} face à la référence")
                _comparison_sheet(wb, fmt, results, comparison, variant, params)
                _run_pages(fmt, varied, var_index, f"{variant_title} — rapport complet")
                _report(wb, fmt, varied, params, var_index, rejected, "Var. ")
                _run_pages(fmt, results, base_index, "Référence (règles en vigueur) — rapport complet")
                _report(wb, fmt, results, base_params, base_index, rejected, "Réf. ")
        finally:
            wb.close()
    return path


def _created(results: dict[str, Any]) -> datetime:
    """The workbook's creation date: the run's as-of date at midnight (reruns give the same bytes).

    xlsxwriter already gives every zip entry a fixed 1980 stamp; only `docProps/core.xml` carried
    the clock time.
    """
    try:
        return datetime.combine(date.fromisoformat(str(results["run"]["as_of"])), datetime.min.time())
    except (KeyError, TypeError, ValueError):
        return datetime(2000, 1, 1)
