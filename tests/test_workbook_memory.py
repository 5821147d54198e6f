"""The workbook written in constant memory looks exactly as the default-mode writer's (issue 12).

`write_workbook` opens xlsxwriter in `constant_memory` mode: each row goes to a temp file as
soon as the next one starts, so a cell, a `set_row` or a height for a row already left would
be lost silently. The same workbooks are written a second time with the module's private
switch `_CONSTANT_MEMORY` off (xlsxwriter keeps every cell until `close()`, order does not
matter) and compared part by part: every sheet's cells (reference, style, type, value,
formula), rows (height, custom height), columns (widths, formats), frozen panes, autofilter,
print set-up, header and footer, and every other part of the file (styles, workbook,
properties). The only differences allowed are how strings are stored (inline in constant
memory, in `sharedStrings.xml` by default: resolved here) and the optional `spans` of rows.

openpyxl then reads both back, cell by cell (value and number format), column widths and row
heights, as a person's spreadsheet would.
"""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import openpyxl
import pytest

import engine.present.workbook as workbook_module
from engine.present.workbook import write_workbook

ROOT = Path(__file__).resolve().parent.parent
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
AS_OF = date(2025, 6, 30)


# --------------------------------------------------------------------------- reading a file


def _shared_strings(book: zipfile.ZipFile) -> list[str]:
    if "xl/sharedStrings.xml" not in book.namelist():
        return []
    root = ET.fromstring(book.read("xl/sharedStrings.xml"))
    return ["".join(t.text or "" for t in si.iter(f"{MAIN}t")) for si in root.findall(f"{MAIN}si")]


def _canonical(element: ET.Element) -> str:
    return ET.canonicalize(ET.tostring(element, encoding="unicode"))


def _children(root: ET.Element, tag: str) -> list[ET.Element]:
    found = root.find(f"{MAIN}{tag}")
    return list(found) if found is not None else []


def _styles(data: bytes) -> tuple[list[str], str]:
    """Each cell format (`cellXfs` entry) spelled out, and the rest of `styles.xml`.

    xlsxwriter numbers formats in the order it first writes them: by rows in constant
    memory, columns first by default. The number is not what a person sees; the format is.
    """
    root = ET.fromstring(data)
    codes = {n.get("numFmtId"): n.get("formatCode") for n in root.iter(f"{MAIN}numFmt")}
    lists = {tag: [_canonical(e) for e in _children(root, f"{tag}s")] for tag in ("font", "fill", "border")}
    described = []
    for xf in _children(root, "cellXfs"):
        attrs = dict(xf.attrib)
        number = attrs.pop("numFmtId", "0")
        parts_ = [f"numFmt={codes.get(number, number)}"]
        for tag in ("font", "fill", "border"):
            parts_.append(f"{tag}={lists[tag][int(attrs.pop(tag + 'Id', '0'))]}")
        parts_ += [f"{k}={v}" for k, v in sorted(attrs.items())] + [_canonical(e) for e in xf]
        described.append(" ".join(parts_))
    for tag in ("numFmts", "fonts", "fills", "borders", "cellXfs"):
        found = root.find(f"{MAIN}{tag}")
        if found is not None:
            root.remove(found)
    return described, _canonical(root)


def _sheet_xml(data: bytes, shared: list[str], styles: list[str]) -> str:
    """A worksheet's XML with shared strings written inline, formats spelled out, no row spans."""
    root = ET.fromstring(data)
    for row in root.iter(f"{MAIN}row"):
        row.attrib.pop("spans", None)
    for element, key in ((f"{MAIN}c", "s"), (f"{MAIN}row", "s"), (f"{MAIN}col", "style")):
        for item in root.iter(element):
            if key in item.attrib:
                item.set(key, styles[int(item.get(key, "0"))])
    for cell in root.iter(f"{MAIN}c"):
        kind = cell.get("t")
        if kind == "s":
            value = cell.find(f"{MAIN}v")
            assert value is not None and value.text is not None
            text = shared[int(value.text)]
            cell.remove(value)
        elif kind == "inlineStr":
            inline = cell.find(f"{MAIN}is")
            assert inline is not None
            text = "".join(t.text or "" for t in inline.iter(f"{MAIN}t"))
            cell.remove(inline)
        else:
            continue
        cell.set("t", "str-normalised")
        ET.SubElement(cell, f"{MAIN}v").text = text
    return _canonical(root)


def _without_shared_strings(data: bytes) -> str:
    """`[Content_Types].xml` or a `.rels` without its entry for `sharedStrings.xml`."""
    root = ET.fromstring(data)
    for child in list(root):
        if any("sharedStrings" in str(v) for v in child.attrib.values()):
            root.remove(child)
    return ET.canonicalize(ET.tostring(root, encoding="unicode"))


def parts(path: Path) -> dict[str, Any]:
    """Every part of an `.xlsx`, the string storage resolved (see the module docstring)."""
    with zipfile.ZipFile(path) as book:
        shared = _shared_strings(book)
        styles, rest = _styles(book.read("xl/styles.xml"))
        out: dict[str, Any] = {"formats": sorted(styles), "xl/styles.xml": rest}
        for name in book.namelist():
            data = book.read(name)
            if name in ("xl/sharedStrings.xml", "xl/styles.xml"):
                continue
            if name.startswith("xl/worksheets/sheet"):
                out[name] = _sheet_xml(data, shared, styles)
            elif name in ("[Content_Types].xml", "xl/_rels/workbook.xml.rels"):
                out[name] = _without_shared_strings(data)
            else:
                out[name] = data
        return out


def seen(path: Path) -> dict[str, Any]:
    """What a person sees, read by openpyxl: per sheet, cells (value, number format), sizes."""
    wb = openpyxl.load_workbook(path)
    out: dict[str, Any] = {"sheets": wb.sheetnames}
    for ws in wb.worksheets:
        out[ws.title] = {
            "cells": {
                c.coordinate: (c.value, c.number_format, c.font.b, c.alignment.wrap_text)
                for row in ws.iter_rows()
                for c in row
                if c.value is not None or c.has_style
            },
            "widths": {k: d.width for k, d in ws.column_dimensions.items()},
            "heights": {k: d.height for k, d in ws.row_dimensions.items() if d.height is not None},
            "freeze": ws.freeze_panes,
            "filter": ws.auto_filter.ref,
            "print": (ws.page_setup.orientation, ws.page_setup.paperSize, ws.page_setup.fitToWidth,
                      ws.page_setup.fitToHeight, ws.print_title_rows, ws.print_title_cols,
                      ws.oddHeader.center.text, ws.oddFooter.left.text),
        }
    return out


def assert_same(constant: Path, default: Path) -> None:
    a, b = parts(constant), parts(default)
    assert sorted(a) == sorted(b)
    for name in sorted(a):
        assert a[name] == b[name], f"{name} differs"
    assert seen(constant) == seen(default)


# --------------------------------------------------------------------------- the workbooks


def _both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, **kwargs: Any) -> tuple[Path, Path]:
    assert workbook_module._CONSTANT_MEMORY  # what users get
    constant = write_workbook(path=tmp_path / f"{name}.xlsx", **kwargs)
    monkeypatch.setattr(workbook_module, "_CONSTANT_MEMORY", False)
    default = write_workbook(path=tmp_path / f"{name}-default.xlsx", **kwargs)
    monkeypatch.setattr(workbook_module, "_CONSTANT_MEMORY", True)
    with zipfile.ZipFile(constant) as book:  # the strings really are inline
        assert "xl/sharedStrings.xml" not in book.namelist()
    with zipfile.ZipFile(default) as book:
        assert "xl/sharedStrings.xml" in book.namelist()
    return constant, default


@pytest.fixture(scope="module")
def sample() -> Any:
    if not (ROOT / "sample_data").is_dir():
        pytest.skip("sample_data/ absent")
    from engine.compute.pipeline import evaluate
    from engine.load.extracts import read_extracts
    from engine.load.rules import load_rules

    book = load_rules()
    extracts = read_extracts(ROOT / "sample_data")
    return book, extracts, evaluate(extracts, book, AS_OF)


def test_sample_workbook_is_the_same_in_constant_memory(
    sample: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.present.results_json import results_json
    from engine.present.workbook import params_table

    book, extracts, run = sample
    constant, default = _both(
        tmp_path, monkeypatch, "report", results=results_json(run),
        params=params_table(book, AS_OF), rejected=extracts.rejected,
    )
    assert_same(constant, default)
    wb = openpyxl.load_workbook(constant)
    synthese = wb["Synthèse"]
    assert synthese.row_dimensions[1].height  # the header row's height reached the file
    assert synthese.freeze_panes == "B2" and synthese.auto_filter.ref


def test_whatif_workbook_is_the_same_in_constant_memory(
    sample: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.compute.whatif import run_whatif
    from engine.load.variants import Variant
    from engine.model.rulebook import Edit
    from engine.present.results_json import results_json
    from engine.present.workbook import params_table

    book, extracts, _ = sample
    variant = Variant(name="essai", edits=(Edit("equilibre.first_appointment_max_days", 10, origin="test"),
                                           Edit("equilibre.scoring.exit_12m.target", 0.5, origin="test")))
    result = run_whatif(extracts, book, AS_OF, variant)
    constant, default = _both(
        tmp_path, monkeypatch, "whatif", results=results_json(result.baseline),
        params=params_table(result.variant.book, AS_OF), rejected=extracts.rejected,
        comparison=result.comparison, variant=results_json(result.variant),
        baseline_params=params_table(book, AS_OF),
    )
    assert_same(constant, default)
    assert openpyxl.load_workbook(constant).sheetnames[0] == "Comparaison"


def test_hand_made_workbooks_are_the_same_in_constant_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hand-made what-if of test_reports (rejected rows, costs) and an empty run."""
    from test_reports import make_comparison, make_params, make_rejected, make_results, make_variant

    for name, kwargs in (
        ("hand", {"results": make_results(), "params": make_params(), "rejected": make_rejected(),
                  "comparison": make_comparison(), "variant": make_variant()}),
        ("empty", {"results": make_results(), "params": [], "rejected": make_rejected().clear()}),
    ):
        assert_same(*_both(tmp_path, monkeypatch, name, **kwargs))


def _edge_workbook(path: Path) -> Path:
    """One table of awkward cells through `_Sheet`, in whichever mode the module is in."""
    import xlsxwriter

    from engine.present.workbook import _Formats, _Sheet

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": workbook_module._CONSTANT_MEMORY})
    wb.set_properties({"created": datetime(2025, 6, 30)})
    fmt = _Formats(wb)
    sheet = _Sheet(wb, fmt, "Cas limites", ["Texte", "Nombre", "Date", "Libre"])
    texts = [" espace devant", "espace derrière ", "a & b < c > d \" e", "ligne\nsuivante",
             "tab\tet \x01 contrôle", "_x0041_ littéral", "<r>pas riche</r>", "\ufffe", "é" * 9000,
             "𝄞" * 9000, "x" * 40_000, "oui", "", "court"]
    numbers: list[Any] = [0, -0.0, 1e-12, 123456789012345678, 2**70, 0.1 + 0.2, -5, 3.5, None,
                          Decimal("1234.565"), True, 7, 1.0, 2]
    for i, text in enumerate(texts):
        sheet.add([text, numbers[i], date(2025, 6, i + 1) if i % 3 else None, numbers[-1 - i]],
                  ["wrap", "num", "date", "text"])
    sheet.add(["sans style", 1, None, "x"], None)
    sheet.put(sheet.row + 1, 0, "Note", fmt.note)
    sheet.finish(wrap_cols=[0])
    wb.close()
    return path


def test_awkward_cells_are_the_same_in_constant_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whitespace, XML characters, control characters, long and astral strings, odd numbers."""
    assert workbook_module._FAST_ROWS  # rows go to the file whole with this xlsxwriter
    constant = _edge_workbook(tmp_path / "edge.xlsx")
    monkeypatch.setattr(workbook_module, "_CONSTANT_MEMORY", False)
    default = _edge_workbook(tmp_path / "edge-default.xlsx")
    a, b = parts(constant), parts(default)
    assert a == b  # the same XML, strings resolved (module docstring)
    # openpyxl reads back a literal `_x0041_` (written `_x005F_x0041_`, as Excel wants) as is
    # from a shared string but leaves the escape in an inline one; Excel shows both alike.
    seen_constant, seen_default = seen(constant), seen(default)
    assert seen_constant["Cas limites"]["cells"].pop("A7")[0] == "_x005F_x0041_ littéral"
    assert seen_default["Cas limites"]["cells"].pop("A7")[0] == "_x0041_ littéral"
    assert seen_constant == seen_default


def test_a_value_shaped_like_rich_text_xml_stays_plain_text(sample: Any, tmp_path: Path) -> None:
    """xlsxwriter writes `<r>…</r>` raw: from an extract (a structure, a row set aside) it
    would break the file. It is written escaped, as the text it is (plus an invisible joiner)."""
    import polars as pl

    from engine.present.results_json import results_json
    from engine.present.workbook import params_table

    book, extracts, run = sample
    results = results_json(run)
    results["conventions"][0]["structure"] = "<r>A & B</r>"
    from engine.load.extracts import REJECTED_SCHEMA

    rejected = pl.DataFrame([{"table": "episodes", "file": "episodes.csv", "line": 7, "column": "exit_reason",
                              "value": "<r><t>&</r>", "reason": "code inconnu"}], schema=REJECTED_SCHEMA)
    path = write_workbook(results, tmp_path / "report.xlsx", params=params_table(book, AS_OF), rejected=rejected)
    wb = openpyxl.load_workbook(path)  # the file opens: no raw XML in it
    texts = [str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value]
    assert any(t.startswith("<r>A & B</r>") for t in texts)
    assert any(t.startswith("<r><t>&</r>") for t in texts)
