"""Bad input on the reading side: one fixture per failure mode, through the CLI as a user runs it.

Each case is a small clean extract (`test_extracts.BASE`) with one thing broken. Either the
run stops with one French message naming the file (and line) and exit status 1, or the bad
rows are set aside with their line and reason and the run goes on; never a stack trace, and
for every table read `rows = kept + rejected`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from test_extracts import BASE, _check_counts, _write
from typer.testing import CliRunner

from engine.cli import app
from engine.load.extracts import RAW_VALUE, read_extracts, spreadsheet_safe
from engine.model.errors import ExtractError

runner = CliRunner()
AS_OF = "2024-12-31"


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _evaluate(data: Path, out: Path) -> tuple[int, str]:
    return _cli("evaluate", str(data), "--as-of", AS_OF, "--out", str(out))


def _accounts_hold(out: Path) -> dict:
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    for name, c in results["inputs"].items():
        assert c["rows"] == c["kept"] + c["rejected"], name
    return results


def _replace_line(table: str, n: int, line: str) -> dict[str, str]:
    """The base extract with line `n` (1 = header) of `table` replaced."""
    lines = BASE[table].splitlines()
    lines[n - 1] = line
    return {**BASE, table: "\n".join(lines) + "\n"}


def _add_line(table: str, line: str) -> dict[str, str]:
    return {**BASE, table: BASE[table] + line + "\n"}


# --------------------------------------------------------------------------- the run stops


def _stray_quote(folder: Path) -> None:
    _write(folder, _add_line("episodes", 'E"9,B9,C1,2024-01-10,,'))


def _unclosed_quote(folder: Path) -> None:
    _write(folder, _add_line("episodes", 'E9,"B9,C1,2024-01-10,,'))


def _directory(folder: Path) -> None:
    (folder / "episodes.csv").unlink()
    (folder / "episodes.csv").mkdir()


def _broken_link(folder: Path) -> None:
    (folder / "episodes.csv").unlink()
    os.symlink(folder / "missing.csv", folder / "episodes.csv")


def _link_loop(folder: Path) -> None:
    (folder / "episodes.csv").unlink()
    os.symlink(folder / "episodes.csv", folder / "episodes.csv")


def _fifo(folder: Path) -> None:
    (folder / "episodes.csv").unlink()
    os.mkfifo(folder / "episodes.csv")


def _mixed_encoding(folder: Path) -> None:
    # UTF-8 « Béthune » on line 3, one Windows-1252 « é » on line 5
    text = BASE["conventions"] + "C4,Hénin,Carvin,accueil,valorisation,1,,,0,,2024-01-01,2024-12-31,,,\n"
    head, _, tail = text.rpartition("Hénin")
    (folder / "conventions.csv").write_bytes(head.encode() + "Hénin".encode("cp1252") + tail.encode())


def _nul_after_a_megabyte(folder: Path) -> None:
    rows = "".join(f"A{i:07d},E1,2024-01-15,physique,honore,suivi\n" for i in range(30_000))
    text = BASE["appointments"] + rows + "A9999999,E1,2024-01-15,physique,hon\x00ore,suivi\n"
    assert len(text) > 1 << 20
    (folder / "appointments.csv").write_text(text, encoding="utf-8")


def _utf16_without_bom(folder: Path) -> None:
    (folder / "episodes.csv").write_bytes(BASE["episodes"].encode("utf-16-le"))


def _header_without_end(folder: Path) -> None:
    (folder / "budget_lines.csv").write_text("budget_line," + "x" * (1 << 21), encoding="utf-8")


def _bad_utf16(folder: Path) -> None:
    data = BASE["episodes"].encode("utf-16")  # BOM + little endian
    (folder / "episodes.csv").write_bytes(data + b"\x00\xd8")  # a lone surrogate at the end


STOPS: list[tuple[str, Callable[[Path], None], list[str]]] = [
    ("stray quote", _stray_quote, ["episodes.csv, ligne 5 : guillemet mal placé"]),
    ("unclosed quote", _unclosed_quote, ["episodes.csv, ligne 5 : guillemet ouvert et jamais refermé"]),
    ("directory", _directory, ["episodes.csv", "c'est un dossier, pas un fichier"]),
    ("broken link", _broken_link, ["episodes.csv", "lien symbolique cassé", "missing.csv"]),
    ("link loop", _link_loop, ["episodes.csv", "boucle de liens symboliques"]),
    ("fifo", _fifo, ["episodes.csv", "pas un fichier ordinaire"]),
    ("mixed encoding", _mixed_encoding, ["conventions.csv", "encodage mélangé", "ligne 5", "0xE9"]),
    ("NUL after 1 MB", _nul_after_a_megabyte, ["appointments.csv", "octet nul ligne 30005"]),
    ("UTF-16 without BOM", _utf16_without_bom, ["episodes.csv", "UTF-16 sans indicateur"]),
    ("header without end", _header_without_end, ["budget_lines.csv", "ligne d'en-tête de plus de"]),
    ("bad UTF-16", _bad_utf16, ["episodes.csv", "texte UTF-16 invalide"]),
]


@pytest.mark.parametrize(("case", "breaks", "says"), STOPS, ids=[s[0] for s in STOPS])
def test_unreadable_input_stops_evaluate_and_check_in_french(tmp_path, case, breaks, says):
    data = _write(tmp_path / "data", BASE)
    breaks(data)
    with pytest.raises(ExtractError) as excinfo:
        read_extracts(data)
    for part in says:
        assert part in str(excinfo.value), (case, str(excinfo.value))
    for command in (["evaluate", str(data), "--as-of", AS_OF, "--out", str(tmp_path / "out")],
                    ["check", str(data)]):
        code, output = _cli(*command)
        assert code == 1, (command[0], output)
        assert "Erreur" in output and says[0] in output.replace("\n", ""), output
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.parametrize(("case", "breaks", "says"), [STOPS[0], STOPS[2]], ids=["stray quote", "directory"])
def test_unreadable_input_stops_whatif_too(tmp_path, case, breaks, says):
    data = _write(tmp_path / "data", BASE)
    breaks(data)
    code, output = _cli("whatif", str(data), "--as-of", AS_OF, "--set", "equilibre.weekly_hours_min=12",
                        "--out", str(tmp_path / "w"))
    assert code == 1 and says[0] in output.replace("\n", ""), output


def test_unreadable_file_names_the_path(tmp_path, monkeypatch):
    """Permission denied (simulated when the tests run as root, who reads everything)."""
    data = _write(tmp_path / "data", BASE)
    target = data / "episodes.csv"
    if os.geteuid() == 0:
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == target else real(p, mode))
    else:
        target.chmod(0)
    code, output = _cli("check", str(data))
    assert code == 1
    assert str(target) in output.replace("\n", "") and "lecture refusée (droits insuffisants)" in output


def test_data_path_that_is_a_broken_link(tmp_path):
    os.symlink(tmp_path / "nowhere", tmp_path / "data")
    code, output = _cli("check", str(tmp_path / "data"))
    assert code == 1 and "lien symbolique cassé" in output


# --------------------------------------------------------------------------- read as it should


def _cr_only(text: str) -> bytes:
    return text.replace("\n", "\r").encode()


READ_ALIKE: list[tuple[str, Callable[[str], bytes]]] = [
    ("CR line endings", _cr_only),
    ("CR line endings, Windows-1252", lambda t: t.replace("\n", "\r").encode("cp1252")),
    ("UTF-16 LE with BOM", lambda t: t.encode("utf-16")),
    ("UTF-16 BE with BOM", lambda t: b"\xfe\xff" + t.encode("utf-16-be")),
    ("UTF-32 with BOM", lambda t: t.encode("utf-32")),
    ("UTF-8 with BOM", lambda t: t.encode("utf-8-sig")),
    ("Windows-1252", lambda t: t.encode("cp1252")),
    ("CRLF, Excel UTF-16 tab export", lambda t: t.replace(",", "\t").replace("\n", "\r\n").encode("utf-16")),
]


@pytest.mark.parametrize(("case", "encode"), READ_ALIKE, ids=[r[0] for r in READ_ALIKE])
def test_line_endings_and_encodings_read_like_the_plain_file(tmp_path, case, encode):
    plain = read_extracts(_write(tmp_path / "plain", BASE))
    folder = _write(tmp_path / "other", BASE)
    for name in ("conventions", "episodes"):
        (folder / f"{name}.csv").write_bytes(encode(BASE[name]))
    other = read_extracts(folder)
    assert other.rejected.height == 0, other.rejected.rows()
    for name in BASE:
        assert_frame_equal(other.tables[name], plain.tables[name])
    assert other.tables["conventions"]["structure"][1] == "Béthune Insertion"


def test_cr_only_file_through_evaluate_check_and_whatif(tmp_path):
    data = _write(tmp_path / "data", BASE)
    for name in BASE:
        (data / f"{name}.csv").write_bytes(_cr_only(BASE[name]))
    code, output = _evaluate(data, tmp_path / "out")
    assert code == 0, output
    _accounts_hold(tmp_path / "out")
    code, output = _cli("check", str(data), "--format", "json")
    assert code in (0, 1) and '"rejected_rows": 0' in output
    code, output = _cli("whatif", str(data), "--as-of", AS_OF, "--set", "equilibre.weekly_hours_min=12",
                        "--out", str(tmp_path / "w"))
    assert code == 0, output


def test_a_header_cell_longer_than_the_csv_field_limit_is_read(tmp_path):
    tables = {**BASE, "episodes": BASE["episodes"].replace("exit_reason", "exit_reason," + "y" * 140_000, 1)}
    x = read_extracts(_write(tmp_path / "d", tables))
    assert x.rejected.height == 0 and x.tables["episodes"].height == 3


def test_line_numbers_stay_true_after_a_value_over_several_lines(tmp_path):
    label = '"Indemnisation\nsur deux\nlignes"'
    tables = {
        **BASE,
        "budget_lines": BASE["budget_lines"].replace("Indemnisation des organismes référents", label.replace("\n", "\r\n"))
        + "C02-2,Libellé,x,abc,\n",
        "episodes": BASE["episodes"].replace("B2,", '"B2\n",').replace("E3,B3", 'E3,"B\n3"')
        + "E4,B4,C1,pas une date,,\n",
    }
    x = read_extracts(_write(tmp_path / "d", tables))
    _check_counts(x)
    assert x.tables["budget_lines"]["label"][0] == "Indemnisation\r\nsur deux\r\nlignes"
    rejected = x.rejected.select("table", "line", "column").rows()
    # budget_lines: the label spans lines 2-4, the bad amount is on line 5; episodes: B2
    # spans lines 3-4 (its line end is stripped: a good id), B3 lines 5-6 (a line end inside:
    # a bad id, and its phases go with it), then line 7
    assert rejected == [
        ("budget_lines", 5, "ae_eur"),
        ("episodes", 5, "beneficiary_id"),
        ("episodes", 7, "orientation_date"),
        ("phases", 2, "episode_id"),
        ("phases", 3, "episode_id"),
    ]
    assert x.tables["episodes"]["beneficiary_id"].to_list() == ["B1", "B2"]


# --------------------------------------------------------------------------- bad rows set aside

LONG = "x" * 140_000
BAD_ROWS: list[tuple[str, str, str, str, str]] = [
    # (case, table, row added at the end, column, reason starts with)
    ("id with a quote", "conventions",
     '"C""4",S,T,accueil,valorisation,1,,,0,,2024-01-01,2024-12-31,,,', "convention_id",
     "identifiant contenant un guillemet « \" »"),
    ("id with a backslash", "episodes", "E\\9,B9,C1,2024-01-10,,", "episode_id",
     "identifiant contenant une barre oblique inverse « \\ »"),
    ("id with a control character", "episodes", "E9,B\x019,C1,2024-01-10,,", "beneficiary_id",
     "identifiant contenant un caractère de contrôle ou invisible"),
    ("id with a zero-width space", "appointments", "A\u200b9,E1,2024-01-15,physique,honore,", "appointment_id",
     "identifiant contenant un caractère de contrôle ou invisible"),
    ("id with a line end", "participants", '"X\n2",C2,2024-02-01', "participant_id",
     "identifiant contenant un caractère de contrôle ou invisible"),
    ("id of 201 characters", "staff_costs", f"C3,{'S' * 201},100,0.5", "staff_id",
     "identifiant de 201 caractères, trop long (200 au plus)"),
    ("id over the csv field limit", "episodes", f"{LONG},B9,C1,2024-01-10,,", "episode_id",
     "identifiant de 140000 caractères"),
    ("text over the csv field limit", "budget_lines", f"C02-2,{LONG},x,1,1", "label",
     "texte de 140000 caractères, trop long (4000 au plus)"),
    ("amount below the cent", "conventions",
     "C4,S,T,accueil,financement,1,,,53700.545,,2024-01-01,2024-12-31,,,", "amount_eur",
     "montant « 53700.545 » plus précis que le centime"),
    ("paid below the cent", "conventions",
     "C4,S,T,accueil,financement,1,,,53700,53700.004,2024-01-01,2024-12-31,,,", "paid_eur",
     "montant « 53700.004 » plus précis que le centime"),
    ("staff cost below the cent", "staff_costs", "C3,S9,42000.1234,0.5", "gross_cost_eur",
     "montant « 42000.1234 » plus précis"),
    ("decimal comma below the cent", "budget_lines", 'C02-2,L,x,"1 000,005",', "ae_eur",
     "montant « 1 000,005 » plus précis"),
    ("reference with a quote", "appointments", 'A9,"E""1",2024-01-15,physique,honore,', "episode_id",
     "épisode « E\"1 » inconnu (absent de episodes.csv)"),
    ("row longer than the header", "episodes", "E9,B9,C1,2024-01-10,,,fin,en trop", "(champ en trop)",
     "ligne plus longue que l'en-tête (6 colonnes) : champ en trop « fin »"),
]


@pytest.mark.parametrize(("case", "table", "row", "column", "reason"), BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_bad_value_sets_the_row_aside_with_its_line(tmp_path, case, table, row, column, reason):
    data = _write(tmp_path / "data", _add_line(table, row))
    x = read_extracts(data)
    _check_counts(x)
    line = BASE[table].count("\n") + 1
    mine = x.rejected.filter(pl.col("table") == table)
    assert mine["line"].to_list()[:1] == [line], mine.rows()
    assert mine["column"][0] == column
    assert mine["reason"][0].startswith(reason), mine["reason"][0]
    assert len(mine["reason"][0]) < 400 and len(mine["value"][0]) <= 1001
    assert x.counts[table]["rejected"] == 1
    code, output = _evaluate(data, tmp_path / "out")  # the decision layer never sees it
    assert code == 0, output
    _accounts_hold(tmp_path / "out")


def test_whole_cents_and_trailing_fields_are_kept(tmp_path):
    tables = _add_line("conventions", "C4,S,T,accueil,financement,1,,,53700.500,1000.10,2024-01-01,2024-12-31,,,")
    tables["episodes"] = tables["episodes"].replace(",emploi\n", ",emploi,\n").replace("E1,B1,C1,2024-01-10,,\n", "E1,B1,C1,2024-01-10,,,  ,\n")
    x = read_extracts(_write(tmp_path / "d", tables))
    assert x.rejected.height == 0, x.rejected.rows()
    assert str(x.tables["conventions"]["amount_eur"][3]) == "53700.500000"


def test_parquet_amounts_and_ids_are_checked_too(tmp_path):
    folder = _write(tmp_path / "d", {k: v for k, v in BASE.items() if k not in ("conventions", "episodes")})
    conv = pl.read_csv(BASE["conventions"].encode(), infer_schema=False).with_columns(
        pl.Series("amount_eur", [53700.55, 0.0, 12000.001]), pl.col("etp").cast(pl.Float64)
    )
    conv.write_parquet(folder / "conventions.parquet")
    eps = pl.read_csv(BASE["episodes"].encode(), infer_schema=False).with_columns(
        pl.Series("beneficiary_id", ["B1", 'B"2', "B3"])
    )
    eps.write_parquet(folder / "episodes.parquet")
    x = read_extracts(folder)
    _check_counts(x)
    assert x.rejected.select("table", "line", "column").rows() == [
        ("conventions", 4, "amount_eur"),
        ("episodes", 3, "beneficiary_id"),
        ("episodes", 4, "convention_id"),  # its convention C3 was set aside
        ("appointments", 4, "episode_id"),  # E2 was set aside
        ("contracts", 3, "episode_id"),
        ("weekly_activity", 4, "episode_id"),
        ("phases", 2, "episode_id"),  # E3 was set aside
        ("phases", 3, "episode_id"),
        ("staff_costs", 2, "convention_id"),
    ]


def test_xlsx_header_given_twice_is_refused_as_in_csv(tmp_path):
    import xlsxwriter

    book = tmp_path / "extraits.xlsx"
    with xlsxwriter.Workbook(book) as wb:
        for name in ("conventions", "participants"):
            frame = pl.read_csv(BASE[name].encode(), infer_schema=False)
            sheet = wb.add_worksheet(name)
            headers = frame.columns + (["participant_id"] if name == "participants" else [])
            sheet.write_row(0, 0, headers)
            for r, row in enumerate(frame.rows(), start=1):
                sheet.write_row(r, 0, [v or "" for v in row])
    code, output = _cli("check", str(book))
    assert code == 1
    assert "la colonne « participant_id » est fournie deux fois" in output


# --------------------------------------------------------------------------- rejected files


def test_rejected_values_are_written_spreadsheet_safe(tmp_path):
    tables = _add_line("episodes", "E9,B9,C1,=1+1,,")
    tables = {**tables, "weekly_activity": BASE["weekly_activity"] + "E1,2024-01-29,-5,\n"
              + "E1,2024-02-05,@SUM(1),\n"}
    code, output = _evaluate(_write(tmp_path / "data", tables), tmp_path / "out")
    assert code == 0, output
    episodes = pl.read_csv(tmp_path / "out" / "rejected" / "episodes.csv", infer_schema=False)
    assert episodes["value"].to_list() == ["'=1+1"]
    weekly = pl.read_csv(tmp_path / "out" / "rejected" / "weekly_activity.csv", infer_schema=False)
    assert weekly.columns[:6] == ["table", "file", "line", "column", "value", RAW_VALUE]
    assert weekly["value"].to_list() == ["'-5", "'@SUM(1)"]
    assert [json.loads(v) for v in weekly[RAW_VALUE]] == ["-5", "@SUM(1)"]
    for path in (tmp_path / "out" / "rejected").iterdir():
        for cell in pl.read_csv(path, infer_schema=False).drop(RAW_VALUE).iter_rows():
            assert not any(str(v).startswith(("=", "+", "-", "@", "\t", "\r")) for v in cell if v)


def test_spreadsheet_safe_keeps_every_value_and_its_raw_form():
    frame = pl.DataFrame({"value": ["=1+1", "+33", "-2", "@x", "\tx", "\rx", "ok", None], "line": range(8)})
    safe = spreadsheet_safe(frame)
    assert safe.columns == ["value", RAW_VALUE, "line"]
    assert safe["value"].to_list() == ["'=1+1", "'+33", "'-2", "'@x", "'\tx", "'\rx", "ok", None]
    assert [json.loads(v) for v in safe[RAW_VALUE]] == frame["value"].to_list()


# --------------------------------------------------------------------------- generate


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--scale", "-1"], 2, "échelle « -1 » invalide"),
        (["--scale", "inf"], 2, "échelle « inf » invalide"),
        (["--format", "xlsx"], 2, "format « xlsx » inconnu"),
        (["--conventions", "{latin1}"], 1, "ligne 3 pas en UTF-8 (octet 0xE9)"),
        (["--conventions", "{empty}"], 1, "fichier vide"),
        (["--conventions", "{folder}"], 1, "c'est un dossier"),
        (["--conventions", "{no_etp}"], 1, "colonne(s) « etp » absente(s)"),
    ],
    ids=["negative scale", "infinite scale", "unknown format", "not UTF-8", "empty", "folder", "no etp"],
)
def test_generate_says_what_is_wrong_in_french(tmp_path, args, code, says):
    header = "convention_id,dispositif,etp,period_start,period_end\n"
    files = {
        "latin1": (header + "C1,equilibre,1,2025-01-01,2025-12-31\nCé,equilibre,1,2025-01-01,2025-12-31\n").encode("cp1252"),
        "empty": b"",
        "no_etp": b"convention_id,dispositif,period_start,period_end\nC1,equilibre,2025-01-01,2025-12-31\n",
    }
    for name, content in files.items():
        (tmp_path / f"{name}.csv").write_bytes(content)
    (tmp_path / "folder").mkdir()
    args = [a.format(**{n: str(tmp_path / f"{n}.csv") for n in files}, folder=str(tmp_path / "folder")) for a in args]
    result, output = _cli("generate", "--out", str(tmp_path / "gen"), *args)
    assert result == code, output
    assert says in output.replace("\n", " "), output
    assert "ValueError" not in output and "UnicodeDecodeError" not in output


def test_sample_data_still_reads_whole(tmp_path):
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    shutil.copytree(sample, tmp_path / "s")
    x = read_extracts(tmp_path / "s")
    _check_counts(x)
    assert not x.rejected.filter(pl.col("reason").str.contains("identifiant|centime|champ en trop")).height
