"""Reading the extracts: one bad row per failure mode, formats, errors (shared/spec/extracts.md)."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engine.load.extracts import REJECTED_SCHEMA, SOURCE_LINE, read_extracts
from engine.model.contract import TABLES
from engine.model.errors import ExtractError
from engine.model.extracts import Extracts
from engine.present.writer import write_rejected

# A small clean extract: every table, every row valid (line 2 = first data row).
BASE: dict[str, str] = {
    "conventions": """\
convention_id,structure,territory,dispositif,funding,etp,places_max,participants_target,amount_eur,paid_eur,period_start,period_end,budget_line,start_up,mining_basin
C1,MEMPA,Arrageois,equilibre,financement,2.5,100,,53700.00,1000.50,2024-01-01,2024-12-31,C02-446A05,true,
C2,Béthune Insertion,Artois,accueil,valorisation,1,,,0,,2024-01-01,2024-12-31,,,
C3,BGE,Lens,independants,financement,0.8,,,12000,,2024-01-01,2024-12-31,,,true
""",
    "budget_lines": """\
budget_line,label,imputation,ae_eur,available_eur
C02-446A05,Indemnisation des organismes référents,6568/93446,1000000,250000.5
""",
    "stated_totals": """\
scope,key,label,amount_eur,places
budget_line,C02-446A05,Ligne,65700,100
""",
    "episodes": """\
episode_id,beneficiary_id,convention_id,orientation_date,exit_date,exit_reason
E1,B1,C1,2024-01-10,,
E2,B2,C1,2024-02-01,2024-06-30,emploi
E3,B3,C3,2024-03-01,,
""",
    "appointments": """\
appointment_id,episode_id,date,mode,status,purpose
A1,E1,2024-01-15,physique,honore,accueil
A2,E1,2024-01-05,telephone,honore,
A3,E2,2024-07-15,visio,absent,suivi
""",
    "contracts": """\
contract_id,episode_id,kind,signed_date,start_date,end_date,objectives_defined,action_plan,weekly_hours_planned,signed_by_both,weekly_hours_target
K1,E1,initial,2024-01-20,2024-01-20,2024-07-19,true,true,false,true,
K2,E2,initial,2024-02-10,2024-02-10,2024-08-09,,,,,10
""",
    "weekly_activity": """\
episode_id,week_start,hours,exempt
E1,2024-01-15,16,
E1,2024-01-22,12.5,true
E2,2024-02-12,0,false
""",
    "diagnostics": """\
diagnostic_id,beneficiary_id,convention_id,public,request_date,appointment_date,status,positioning_date,orientation_proposal,absence_reported_date
D1,B9,C2,nouvel_entrant,2024-01-03,2024-01-10,realise,2024-01-20,equilibre,
""",
    "phases": """\
phase_id,episode_id,phase,start_date,end_date,renewal,profit_before,profit_after,business_closed,resumed_insertion,left_rsa
P1,E3,diagnostic,2024-03-01,2024-03-31,,,,,,
P2,E3,developpement,2024-04-01,2024-09-30,false,-1200.5,3400,,,
""",
    "staff_costs": """\
convention_id,staff_id,gross_cost_eur,allocation_rate
C3,S1,42000,0.5
""",
    "participants": """\
participant_id,convention_id,entry_date
X1,C2,2024-02-01
""",
}


def _write(folder: Path, tables: dict[str, str], encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        (folder / f"{name}.csv").write_bytes(text.encode(encoding))
    return folder


def _with_row(table: str, row: str) -> dict[str, str]:
    """The base extract with one more row at the end of `table` (its line: `_next_line`)."""
    return {**BASE, table: BASE[table] + row + "\n"}


def _next_line(table: str) -> int:
    return BASE[table].count("\n") + 1


def _kept(x: Extracts, table: str) -> pl.DataFrame:
    return x.tables[table].drop(SOURCE_LINE)


def _check_counts(x: Extracts) -> None:
    for name, c in x.counts.items():
        assert c["rows"] == c["kept"] + c["rejected"], name
        assert c["kept"] == x.tables[name].height, name
        bad = x.rejected.filter(pl.col("table") == name)["line"].n_unique()
        assert c["rejected"] == bad, name


# --------------------------------------------------------------------------- clean read


def test_clean_extract_is_kept_whole_and_typed(tmp_path):
    x = read_extracts(_write(tmp_path / "d", BASE))
    assert x.rejected.height == 0
    assert x.rejected.schema == pl.Schema(REJECTED_SCHEMA)
    assert set(x.tables) == set(TABLES)
    for name, table in TABLES.items():
        assert x.tables[name].schema == pl.Schema({**table.schema, SOURCE_LINE: pl.UInt32()}), name
        assert x.counts[name] == {
            "rows": BASE[name].count("\n") - 1,
            "kept": x.tables[name].height,
            "rejected": 0,
        }
    conv = x.tables["conventions"]
    assert conv["amount_eur"].to_list() == [Decimal("53700"), Decimal("0"), Decimal("12000")]
    # paid_eur defaults to 0, start_up / mining_basin to false
    assert conv["paid_eur"].to_list() == [Decimal("1000.5"), Decimal("0"), Decimal("0")]
    assert conv["start_up"].to_list() == [True, False, False]
    assert conv["mining_basin"].to_list() == [False, False, True]
    assert conv["places_max"].to_list() == [100, None, None]
    assert conv["structure"][1] == "Béthune Insertion"
    assert conv[SOURCE_LINE].to_list() == [2, 3, 4]
    ep = x.tables["episodes"]
    assert ep["exit_date"].to_list() == [None, date(2024, 6, 30), None]
    assert x.tables["appointments"]["purpose"].to_list() == ["accueil", "suivi", "suivi"]
    assert x.tables["weekly_activity"]["hours"].to_list() == [16.0, 12.5, 0.0]
    assert x.tables["weekly_activity"]["exempt"].to_list() == [False, True, False]
    assert x.tables["contracts"]["objectives_defined"].to_list() == [True, False]
    assert x.tables["phases"]["profit_before"].to_list() == [None, Decimal("-1200.5")]
    assert x.source == str(tmp_path / "d")
    for name in BASE:
        data = (tmp_path / "d" / f"{name}.csv").read_bytes()
        assert x.files[f"{name}.csv"] == hashlib.sha256(data).hexdigest()


def test_absent_optional_tables_are_empty_frames(tmp_path):
    x = read_extracts(_write(tmp_path / "d", {"conventions": BASE["conventions"]}))
    assert set(x.counts) == {"conventions"}
    ep = x.tables["episodes"]
    assert ep.height == 0
    assert ep.schema == pl.Schema({**TABLES["episodes"].schema, SOURCE_LINE: pl.UInt32()})


def test_event_outside_its_episode_is_valid(tmp_path):
    """A2 (5 Jan) is before E1's orientation (10 Jan); A3 is after E2's exit: both kept."""
    x = read_extracts(_write(tmp_path / "d", BASE))
    assert x.tables["appointments"]["appointment_id"].to_list() == ["A1", "A2", "A3"]


def test_extra_columns_and_header_case_are_tolerated(tmp_path):
    text = BASE["episodes"].replace("episode_id,", " Episode_ID ,", 1)
    text = "\n".join(
        line + (",note" if i == 0 else ",x") for i, line in enumerate(text.splitlines())
    )
    x = read_extracts(_write(tmp_path / "d", {**BASE, "episodes": text + "\n"}))
    assert x.tables["episodes"].columns == [*TABLES["episodes"].schema, SOURCE_LINE]
    assert_frame_equal(
        _kept(x, "episodes"), _kept(read_extracts(_write(tmp_path / "e", BASE)), "episodes")
    )


def test_blank_lines_are_skipped_and_line_numbers_stay_true(tmp_path):
    text = BASE["weekly_activity"].replace("E1,2024-01-22", "\n,,,\nE1,2024-01-22")
    text += "E2,2024-02-13,5,\n"  # line 7: blank line 3 and ",,," line 4 are not rows
    x = read_extracts(_write(tmp_path / "d", {**BASE, "weekly_activity": text}))
    assert x.tables["weekly_activity"][SOURCE_LINE].to_list() == [2, 5, 6]
    assert x.rejected["line"].to_list() == [7]
    assert x.counts["weekly_activity"] == {"rows": 4, "kept": 3, "rejected": 1}


# --------------------------------------------------------------------------- one bad row each

CASES = [
    # (table, extra row, column, value, reason)
    ("episodes", "E9,,C1,2024-01-10,,", "beneficiary_id", None, "valeur obligatoire absente"),
    (
        "episodes",
        "E9,B9,C1,2024-02-30,,",
        "orientation_date",
        "2024-02-30",
        "date « 2024-02-30 » illisible (formats admis : AAAA-MM-JJ ou JJ/MM/AAAA)",
    ),
    (
        "episodes",
        "E9,B9,C1,10-01-2024,,",
        "orientation_date",
        "10-01-2024",
        "date « 10-01-2024 » illisible (formats admis : AAAA-MM-JJ ou JJ/MM/AAAA)",
    ),
    (
        "episodes",
        "E9,B9,C1,10/01/24,,",
        "orientation_date",
        "10/01/24",
        "date « 10/01/24 » illisible (formats admis : AAAA-MM-JJ ou JJ/MM/AAAA)",
    ),
    (
        "episodes",
        "E9,B9,C1,2024-03-10,2024-03-01,emploi",
        "exit_date",
        "2024-03-01",
        "date de sortie « 2024-03-01 » antérieure à la date d'orientation « 2024-03-10 »",
    ),
    (
        "episodes",
        "E9,B9,C1,2024-03-10,2024-04-01,",
        "exit_reason",
        None,
        "motif de sortie obligatoire quand une date de sortie est renseignée",
    ),
    (
        "episodes",
        "E9,B9,C1,2024-03-10,2024-04-01,embauche",
        "exit_reason",
        "embauche",
        "code « embauche » inconnu (codes admis : emploi, formation, creation_activite, "
        "parcours_emploi_ft, remobilisation_sociale, demenagement, fin_de_droits, abandon, "
        "sanction, autre)",
    ),
    ("episodes", "E1,B9,C1,2024-03-10,,", "episode_id", "E1", "clé en double (déjà vue ligne 2)"),
    (
        "episodes",
        "E9,B9,C9,2024-03-10,,",
        "convention_id",
        "C9",
        "convention « C9 » inconnue (absente de conventions.csv)",
    ),
    (
        "appointments",
        "A9,E1,2024-01-16,fax,honore,",
        "mode",
        "fax",
        "code « fax » inconnu (codes admis : physique, telephone, visio, collectif, ecrit)",
    ),
    (
        "appointments",
        "A9,E9,2024-01-16,physique,honore,",
        "episode_id",
        "E9",
        "épisode « E9 » inconnu (absent de episodes.csv)",
    ),
    (
        "weekly_activity",
        "E1,2024-01-16,10,",
        "week_start",
        "2024-01-16",
        "« 2024-01-16 » n'est pas un lundi (c'est un mardi)",
    ),
    (
        "weekly_activity",
        "E1,2024-01-29,200,",
        "hours",
        "200",
        "valeur « 200 » hors de l'intervalle 0 à 168",
    ),
    (
        "weekly_activity",
        "E1,2024-01-29,-1,",
        "hours",
        "-1",
        "valeur « -1 » hors de l'intervalle 0 à 168",
    ),
    (
        "weekly_activity",
        "E1,2024-01-29,dix,",
        "hours",
        "dix",
        "nombre « dix » illisible (nombre d'heures attendu)",
    ),
    (
        "weekly_activity",
        "E1,2024-01-29,10,peut-être",
        "exempt",
        "peut-être",
        "valeur « peut-être » illisible (valeurs admises : oui/non, vrai/faux, true/false, 1/0)",
    ),
    (
        "weekly_activity",
        "E1,15/01/2024,3,",
        "episode_id, week_start",
        "E1, 2024-01-15",
        "clé en double (déjà vue ligne 2)",
    ),
    (
        "contracts",
        "K9,E1,initial,2024-03-01,2024-03-01,2024-02-01,,,,,",
        "end_date",
        "2024-02-01",
        "date de fin « 2024-02-01 » antérieure à la date de début « 2024-03-01 »",
    ),
    (
        "contracts",
        "K9,E1,initial,2024-03-01,2024-03-01,2024-09-01,,,,,169",
        "weekly_hours_target",
        "169",
        "valeur « 169 » hors de l'intervalle 0 à 168",
    ),
    (
        "phases",
        "P9,E3,cessation,2024-10-01,2024-09-01,,,,,,",
        "end_date",
        "2024-09-01",
        "fin de phase « 2024-09-01 » antérieure au début de phase « 2024-10-01 »",
    ),
    (
        "conventions",
        "C9,X,Y,accueil,financement,1,,,10,,2024-06-01,2024-01-01,,,",
        "period_end",
        "2024-01-01",
        "fin de période « 2024-01-01 » antérieure au début de période « 2024-06-01 »",
    ),
    (
        "conventions",
        "C9,X,Y,equilibre,financement,1,,,10,,2024-01-01,2024-12-31,,,",
        "places_max",
        None,
        "nombre de places obligatoire pour le dispositif « equilibre »",
    ),
    (
        "conventions",
        "C9,X,Y,participants,financement,1,,,10,,2024-01-01,2024-12-31,,,",
        "participants_target",
        None,
        "objectif de participants obligatoire pour le dispositif « participants »",
    ),
    (
        "conventions",
        "C9,X,Y,equilibre,financement,1,1.5,,10,,2024-01-01,2024-12-31,,,",
        "places_max",
        "1.5",
        "nombre « 1.5 » illisible (nombre entier attendu)",
    ),
    (
        "conventions",
        "C9,X,Y,accueil,financement,1,,,-10,,2024-01-01,2024-12-31,,,",
        "amount_eur",
        "-10",
        "valeur « -10 » inférieure au minimum 0",
    ),
    (
        "conventions",
        "C9,X,Y,accueil,financement,1 ETP,,,10,,2024-01-01,2024-12-31,,,",
        "etp",
        "1 ETP",
        "nombre « 1 ETP » illisible (nombre attendu)",
    ),
    (
        "staff_costs",
        "C3,S2,1000,1.5",
        "allocation_rate",
        "1.5",
        "valeur « 1.5 » hors de l'intervalle 0 à 1",
    ),
    (
        "staff_costs",
        "C3,S1,1000,0.2",
        "convention_id, staff_id",
        "C3, S1",
        "clé en double (déjà vue ligne 2)",
    ),
    (
        "diagnostics",
        "D9,B9,C2,nouvel_entrant,2024-01-03,,inconnu,,,",
        "status",
        "inconnu",
        "code « inconnu » inconnu (codes admis : realise, absent, annule, en_attente)",
    ),
    (
        "participants",
        "X2,C8,2024-02-01",
        "convention_id",
        "C8",
        "convention « C8 » inconnue (absente de conventions.csv)",
    ),
]


@pytest.mark.parametrize(
    ("table", "row", "column", "value", "reason"),
    CASES,
    ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)],
)
def test_one_bad_row(tmp_path, table, row, column, value, reason):
    clean = read_extracts(_write(tmp_path / "clean", BASE))
    x = read_extracts(_write(tmp_path / "bad", _with_row(table, row)))
    assert x.rejected.rows(named=True) == [
        {
            "table": table,
            "file": f"{table}.csv",
            "line": _next_line(table),
            "column": column,
            "value": value,
            "reason": reason,
        }
    ]
    _check_counts(x)
    assert x.counts[table]["rejected"] == 1
    # the bad row changes nothing else: every table keeps exactly the clean rows
    for name in BASE:
        assert_frame_equal(x.tables[name], clean.tables[name])


def test_all_problems_of_a_row_are_listed_and_the_row_counts_once(tmp_path):
    x = read_extracts(_write(tmp_path / "d", _with_row("weekly_activity", "E9,2024-01-17,999,bof")))
    line = _next_line("weekly_activity")
    assert x.rejected.select("line", "column").rows() == [
        (line, "week_start"),
        (line, "hours"),
        (line, "exempt"),
        (line, "episode_id"),
    ]
    assert x.counts["weekly_activity"] == {"rows": 4, "kept": 3, "rejected": 1}
    _check_counts(x)


def test_child_of_a_set_aside_parent_says_so(tmp_path):
    tables = _with_row("episodes", "E9,B9,C1,2024-02-30,,")
    tables["appointments"] += "A9,E9,2024-03-01,physique,honore,\n"
    tables["weekly_activity"] += "E9,2024-03-04,20,\n"
    tables["episodes"] += "E10,B10,C9,2024-03-01,,\n"  # unknown convention
    tables["contracts"] += "K9,E10,initial,2024-03-01,2024-03-01,2024-09-01,,,,,\n"
    x = read_extracts(_write(tmp_path / "d", tables))
    rows = x.rejected.select("table", "line", "column", "reason").rows()
    assert rows == [
        (
            "episodes",
            5,
            "orientation_date",
            "date « 2024-02-30 » illisible (formats admis : AAAA-MM-JJ ou JJ/MM/AAAA)",
        ),
        ("episodes", 6, "convention_id", "convention « C9 » inconnue (absente de conventions.csv)"),
        ("appointments", 5, "episode_id", "épisode écarté (ligne 5 de episodes.csv)"),
        ("contracts", 4, "episode_id", "épisode écarté (ligne 6 de episodes.csv)"),
        ("weekly_activity", 5, "episode_id", "épisode écarté (ligne 5 de episodes.csv)"),
    ]
    _check_counts(x)


def test_convention_set_aside_cascades_to_its_episodes(tmp_path):
    tables = dict(BASE)
    tables["conventions"] = BASE["conventions"].replace(
        "C1,MEMPA,Arrageois,equilibre", "C1,MEMPA,Arrageois,equilibr"
    )
    x = read_extracts(_write(tmp_path / "d", tables))
    assert (
        x.rejected.filter(pl.col("table") == "episodes")["reason"].to_list()
        == ["convention écartée (ligne 2 de conventions.csv)"] * 2
    )
    assert x.tables["episodes"]["episode_id"].to_list() == ["E3"]
    # and on to the children of those episodes
    assert x.tables["appointments"].height == 0
    assert set(x.rejected.filter(pl.col("table") == "appointments")["reason"]) == {
        "épisode écarté (ligne 2 de episodes.csv)",
        "épisode écarté (ligne 3 de episodes.csv)",
    }
    _check_counts(x)


def test_a_duplicate_keeps_its_first_row_even_when_that_row_is_bad(tmp_path):
    """Key checks ignore the row's other problems: line 5 is the later of two E1 rows."""
    x = read_extracts(_write(tmp_path / "d", _with_row("episodes", "E1,B9,C1,2024-03-10,,")))
    assert x.tables["episodes"].filter(pl.col("episode_id") == "E1")[SOURCE_LINE].to_list() == [2]


def test_parent_table_absent(tmp_path):
    tables = {"conventions": BASE["conventions"], "appointments": BASE["appointments"]}
    x = read_extracts(_write(tmp_path / "d", tables))
    assert x.rejected["reason"].to_list() == [
        "épisode « E1 » inconnu (table episodes absente)"
    ] * 2 + ["épisode « E2 » inconnu (table episodes absente)"]
    _check_counts(x)


# --------------------------------------------------------------------------- formats

FRENCH = {
    "conventions": """\
convention_id;structure;territory;dispositif;funding;etp;places_max;participants_target;amount_eur;paid_eur;period_start;period_end;budget_line;start_up;mining_basin
C1;MEMPA;Arrageois;Equilibre;financement;2,5;100;;53 700,00;1\u00a0000,50;01/01/2024;31/12/2024;C02-446A05;Oui;
C2;Béthune Insertion;Artois;accueil;valorisation;1;;;0;;01/01/2024;31/12/2024;;non;
C3;BGE;Lens;independants;FINANCEMENT;0,8;;;12 000 €;;01/01/2024;31/12/2024;;;VRAI
""",  # noqa: E501
    "episodes": """\
episode_id;beneficiary_id;convention_id;orientation_date;exit_date;exit_reason
E1;B1;C1;10/01/2024;;
E2;B2;C1;01/02/2024;30/06/2024;Emploi
E3;B3;C3;1/3/2024;;
""",
    "weekly_activity": """\
episode_id;week_start;hours;exempt
E1;15/01/2024;16;
 E1 ;22/01/2024; 12,5 ;vrai
E2;12/02/2024;0,0;faux
""",
    "contracts": """\
contract_id;episode_id;kind;signed_date;start_date;end_date;objectives_defined;action_plan;weekly_hours_planned;signed_by_both;weekly_hours_target
K1;E1;initial;20/01/2024;20/01/2024;19/07/2024;1;OUI;0;True;
K2;E2;initial;10/02/2024;10/02/2024;09/08/2024;;;;;10,0
""",
}


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8-sig", "utf-8"])
def test_french_office_export_reads_like_the_plain_csv(tmp_path, encoding):
    plain = read_extracts(_write(tmp_path / "plain", {k: BASE[k] for k in FRENCH}))
    french = read_extracts(_write(tmp_path / "fr", FRENCH, encoding=encoding))
    assert french.rejected.height == 0
    for name in FRENCH:
        assert_frame_equal(french.tables[name], plain.tables[name])
    assert french.tables["conventions"]["structure"][1] == "Béthune Insertion"


def test_crlf_and_quoted_values(tmp_path):
    text = (
        BASE["budget_lines"]
        .replace(
            "Indemnisation des organismes référents", '"Indemnisation, organismes ""référents"""'
        )
        .replace("\n", "\r\n")
    )
    x = read_extracts(_write(tmp_path / "d", {**BASE, "budget_lines": text}))
    assert x.tables["budget_lines"]["label"].to_list() == ['Indemnisation, organismes "référents"']
    assert x.tables["budget_lines"]["available_eur"].to_list() == [Decimal("250000.5")]


def _typed_tables(tmp_path) -> dict[str, pl.DataFrame]:
    x = read_extracts(_write(tmp_path / "plain", BASE))
    return {name: _kept(x, name) for name in BASE}


def test_parquet_round_trip_typed_and_text(tmp_path):
    typed = _typed_tables(tmp_path)
    for name, frame in typed.items():
        (tmp_path / "pq").mkdir(exist_ok=True)
        frame.write_parquet(tmp_path / "pq" / f"{name}.parquet")
        (tmp_path / "pqtext").mkdir(exist_ok=True)
        frame.with_columns(pl.all().cast(pl.String)).write_parquet(
            tmp_path / "pqtext" / f"{name}.parquet"
        )
    for folder in ("pq", "pqtext"):
        x = read_extracts(tmp_path / folder)
        assert x.rejected.height == 0, folder
        for name, frame in typed.items():
            assert_frame_equal(_kept(x, name), frame)
            assert x.tables[name][SOURCE_LINE].to_list() == list(range(2, frame.height + 2))
        assert set(x.files) == {f"{n}.parquet" for n in BASE}


def test_parquet_typed_values_are_checked_too(tmp_path):
    _write(tmp_path / "d", {k: BASE[k] for k in ("conventions", "episodes")})
    pl.DataFrame(
        {
            "episode_id": ["E1", "E1", "E2"],
            "week_start": [date(2024, 1, 15), date(2024, 1, 16), date(2024, 1, 15)],
            "hours": [10.0, 5.0, float("nan")],
            "exempt": [None, True, False],
        }
    ).write_parquet(tmp_path / "d" / "weekly_activity.parquet")
    x = read_extracts(tmp_path / "d")
    assert x.rejected.select("file", "line", "column", "value").rows() == [
        ("weekly_activity.parquet", 3, "week_start", "2024-01-16"),
        ("weekly_activity.parquet", 4, "hours", "NaN"),
    ]
    assert x.tables["weekly_activity"]["exempt"].to_list() == [False]


def test_xlsx_workbook_round_trip_and_sheet_lines(tmp_path):
    typed = _typed_tables(tmp_path)
    book = tmp_path / "extraits.xlsx"
    import xlsxwriter

    with xlsxwriter.Workbook(book) as wb:
        for name, frame in typed.items():
            frame.write_excel(wb, worksheet=name)
    x = read_extracts(book)
    assert x.rejected.height == 0
    for name, frame in typed.items():
        assert_frame_equal(_kept(x, name), frame)
    assert x.source == str(book)
    assert list(x.files) == ["extraits.xlsx"]

    # a table that starts lower in its sheet: lines are the sheet's row numbers
    with xlsxwriter.Workbook(book) as wb:
        typed["conventions"].write_excel(wb, worksheet="conventions")
        ws = wb.add_worksheet("episodes")
        ws.write_row(2, 1, TABLES["episodes"].schema.keys())
        ws.write_row(3, 1, ["E1", "B1", "C1", "2024-01-10"])
        ws.write_row(4, 1, ["E2", "B2", "C1", "30/02/2024"])
    x = read_extracts(book)
    assert x.rejected.select("file", "line", "column").rows() == [
        ("extraits.xlsx (feuille episodes)", 5, "orientation_date")
    ]
    assert x.tables["episodes"][SOURCE_LINE].to_list() == [4]


# --------------------------------------------------------------------------- fatal errors


def _message(excinfo: pytest.ExceptionInfo[ExtractError]) -> str:
    return str(excinfo.value)


@pytest.mark.parametrize(
    ("table", "header", "message"),
    [
        (
            "episodes",
            "episode_id,beneficiary_id,convention_id,exit_date",
            "Fichier episodes.csv : colonne obligatoire « orientation_date » absente.",
        ),
        (
            "episodes",
            "episode_id,beneficiary_id,convention_id,orientaton_date",
            "Fichier episodes.csv : colonne obligatoire « orientation_date » absente "
            "(colonne la plus proche : « orientaton_date »).",
        ),
        (
            "weekly_activity",
            "episode_id;semaine",
            "Fichier weekly_activity.csv : colonnes obligatoires « week_start », « hours » "
            "absentes.",
        ),
        (
            "episodes",
            "episode_id,beneficiary_id,convention_id,orientation_date,Episode_Id",
            "Fichier episodes.csv : la colonne « episode_id » est fournie deux fois "
            "(« episode_id » et « Episode_Id »).",
        ),
    ],
)
def test_bad_header_stops_the_run(tmp_path, table, header, message):
    with pytest.raises(ExtractError) as excinfo:
        read_extracts(_write(tmp_path / "d", {**BASE, table: header + "\n"}))
    assert _message(excinfo) == message


def test_missing_data_and_missing_conventions(tmp_path):
    with pytest.raises(ExtractError) as excinfo:
        read_extracts(tmp_path / "nowhere")
    assert _message(excinfo) == f"Données introuvables : « {tmp_path / 'nowhere'} » n'existe pas."
    with pytest.raises(ExtractError) as excinfo:
        read_extracts(_write(tmp_path / "d", {"episodes": BASE["episodes"]}))
    assert _message(excinfo) == (
        f"Dossier {tmp_path / 'd'} : fichier conventions.csv (ou conventions.parquet) absent ; "
        "la table des conventions est obligatoire."
    )
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(
        ExtractError, match="un dossier d'extraits ou un classeur .xlsx est attendu"
    ):
        read_extracts(tmp_path / "notes.txt")


def test_same_table_twice(tmp_path):
    folder = _write(tmp_path / "d", BASE)
    pl.read_csv(folder / "episodes.csv").write_parquet(folder / "episodes.parquet")
    with pytest.raises(ExtractError) as excinfo:
        read_extracts(folder)
    assert _message(excinfo) == (
        f"Dossier {folder} : la table episodes est fournie deux fois "
        "(episodes.csv et episodes.parquet)."
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "episodes.csv",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "Fichier episodes.csv : illisible (contenu binaire, pas un CSV : octet nul ligne 3).",
        ),
        ("episodes.csv", b"", "Fichier episodes.csv : fichier vide, sans ligne d'en-tête."),
        (
            "episodes.csv",
            "episode_id,beneficiary_id,convention_id,orientation_date\nE1,B\x81,C1,2024-01-10\n".encode(
                "latin-1"
            ),
            "Fichier episodes.csv : encodage non reconnu (ni UTF-8 ni Windows-1252 : octet 0x81 "
            "ligne 2).",
        ),
        (
            "episodes.parquet",
            b"PAR1 not really",
            "Fichier episodes.parquet : illisible (pas un fichier Parquet valide).",
        ),
    ],
)
def test_unreadable_file_stops_the_run(tmp_path, name, content, message):
    folder = _write(tmp_path / "d", {k: v for k, v in BASE.items() if k != "episodes"})
    (folder / name).write_bytes(content)
    with pytest.raises(ExtractError) as excinfo:
        read_extracts(folder)
    assert _message(excinfo) == message


def test_unreadable_workbook(tmp_path):
    book = tmp_path / "extraits.xlsx"
    book.write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(ExtractError) as excinfo:
        read_extracts(book)
    assert (
        _message(excinfo)
        == "Fichier extraits.xlsx : classeur illisible (pas un fichier .xlsx valide)."
    )


# --------------------------------------------------------------------------- source profile

PROFILE = """\
episodes:
  file: suivi_parcours.csv
  columns:
    N° épisode: episode_id
    Bénéficiaire: beneficiary_id
    Convention: convention_id
    Date d'orientation: orientation_date
    Date de sortie: exit_date
    Motif de sortie: exit_reason
  codes:
    exit_reason:
      Emploi durable: emploi
      Entrée en formation: formation
"""


def test_profile_with_french_headers_and_codes(tmp_path):
    folder = _write(tmp_path / "d", {"conventions": BASE["conventions"]})
    (folder / "suivi_parcours.csv").write_text(
        "N° épisode;Bénéficiaire;Convention;Date d'orientation;Date de sortie;Motif de sortie\n"
        "E1;B1;C1;10/01/2024;;\n"
        "E2;B2;C1;01/02/2024;30/06/2024;EMPLOI DURABLE\n"
        "E3;B3;C3;01/03/2024;30/06/2024;Retraite\n",
        encoding="cp1252",
    )
    profile = tmp_path / "profil.yaml"
    profile.write_text(PROFILE, encoding="utf-8")
    x = read_extracts(folder, profile)
    assert x.tables["episodes"].select("episode_id", "exit_reason").rows() == [
        ("E1", None),
        ("E2", "emploi"),
    ]
    assert x.rejected.select("file", "line", "column", "value").rows() == [
        ("suivi_parcours.csv", 4, "exit_reason", "Retraite")
    ]
    assert {"profil.yaml", "suivi_parcours.csv", "conventions.csv"} == set(x.files)

    (folder / "suivi_parcours.csv").write_text(
        "N° épisode;Bénéficiaire;Convention\n", encoding="utf-8"
    )
    with pytest.raises(ExtractError) as excinfo:
        read_extracts(folder, profile)
    assert _message(excinfo) == (
        "Fichier suivi_parcours.csv : colonne obligatoire « orientation_date » absente "
        "(attendue sous le nom « date d'orientation » d'après le profil)."
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("episods:\n  file: x.csv\n", "Profil profil.yaml : table « episods » inconnue"),
        (
            "episodes:\n  columns: {Date: date_orientation}\n",
            "Profil profil.yaml, table episodes : colonne « date_orientation » inconnue du contrat",
        ),
        ("episodes: [\n", "Profil profil.yaml : YAML illisible ligne 2."),
    ],
)
def test_bad_profile(tmp_path, text, message):
    folder = _write(tmp_path / "d", BASE)
    (tmp_path / "profil.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ExtractError) as excinfo:
        read_extracts(folder, tmp_path / "profil.yaml")
    assert _message(excinfo).startswith(message)


# --------------------------------------------------------------------------- quarantine files


def test_write_rejected(tmp_path):
    tables = _with_row("weekly_activity", "E1,2024-01-16,10,")
    tables["episodes"] += "E9,B9,C9,2024-01-10,,\n"
    x = read_extracts(_write(tmp_path / "d", tables))
    out = tmp_path / "out"
    (out / "rejected").mkdir(parents=True)
    (out / "rejected" / "contracts.csv").write_text("stale")
    paths = write_rejected(x, out)
    assert paths == [out / "rejected" / "episodes.csv", out / "rejected" / "weekly_activity.csv"]
    assert not (out / "rejected" / "contracts.csv").exists()
    back = pl.read_csv(paths[1], schema={**REJECTED_SCHEMA, "valeur_brute": pl.String}).drop("valeur_brute")
    assert back.rows() == [
        (
            "weekly_activity",
            "weekly_activity.csv",
            5,
            "week_start",
            "2024-01-16",
            "« 2024-01-16 » n'est pas un lundi (c'est un mardi)",
        )
    ]


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_encoding_is_found_across_read_chunks(tmp_path, monkeypatch, encoding):
    """Small read chunks split the two bytes of `é` in UTF-8: still read as UTF-8."""
    import engine.load.extracts

    monkeypatch.setattr(engine.load.extracts, "_CHUNK", 3)
    x = read_extracts(_write(tmp_path / "d", {"conventions": BASE["conventions"]}, encoding))
    assert x.tables["conventions"]["structure"][1] == "Béthune Insertion"


def test_xlsx_missing_column_names_the_sheet(tmp_path):
    book = tmp_path / "extraits.xlsx"
    import xlsxwriter

    with xlsxwriter.Workbook(book) as wb:
        _typed_tables(tmp_path)["conventions"].drop("etp").write_excel(wb, worksheet="Conventions")
    with pytest.raises(ExtractError) as excinfo:
        read_extracts(book)
    assert _message(excinfo) == (
        "Fichier extraits.xlsx (feuille Conventions) : colonne obligatoire « etp » absente."
    )


# Cells to clean (padded ids, codes in capitals, a blank code), bad codes, keys out of order
# and repeated (adjacent or not), children of unknown or set-aside parents in separate runs.
MESSY: dict[str, str] = {
    "conventions": BASE["conventions"],
    "episodes": """\
episode_id,beneficiary_id,convention_id,orientation_date,exit_date,exit_reason
E1,B1,C1,2024-01-10,,
E2,B2,C1,2024-02-01,2024-06-30,Emploi
E3,B3,C3,2024-03-01,,
E0, B0 ,C1,2024-03-01,,
E9,B9,C9,2024-03-01,,
""",
    "appointments": """\
appointment_id,episode_id,date,mode,status,purpose
A1,E1,2024-01-15,physique,honore,accueil
A3,E2,2024-07-15,visio,absent,suivi
A2,E1,2024-01-05,telephone,honore,
A4,E9,2024-03-05,physique,honore,suivi
A5, E2 ,2024-03-06,PHYSIQUE,honore,
A2,E1,2024-01-06,physique,honore,
A6,E7,2024-03-07,physique,inconnu,suivi
A7,E1,2024-03-08,   ,honore,suivi
A8,E7,2024-03-09,physique,honore,suivi
""",
    "weekly_activity": """\
episode_id,week_start,hours,exempt
E2,2024-02-12,0,false
E1,2024-01-22,12.5,true
E1,2024-01-15,16,
E1,2024-01-15,17,
E2,2024-02-12,3,
E7,2024-01-15,1,
""",
}


def test_parquet_text_is_checked_like_the_same_csv(tmp_path):
    """Rows read into memory take shortcuts (clean columns kept as read): same outcome."""
    csv = read_extracts(_write(tmp_path / "csv", MESSY))
    (tmp_path / "pq").mkdir()
    for name in MESSY:
        pl.read_csv(tmp_path / "csv" / f"{name}.csv", infer_schema=False).write_parquet(
            tmp_path / "pq" / f"{name}.parquet"
        )
    pq = read_extracts(tmp_path / "pq")
    for name in MESSY:
        assert_frame_equal(pq.tables[name], csv.tables[name])
    assert pq.counts == csv.counts
    as_parquet = pl.col("file", "reason").str.replace_all(".csv", ".parquet", literal=True)
    assert_frame_equal(pq.rejected, csv.rejected.with_columns(as_parquet))
    assert csv.tables["episodes"]["beneficiary_id"].to_list() == ["B1", "B2", "B3", "B0"]
    assert csv.tables["episodes"]["exit_reason"].to_list() == [None, "emploi", None, None]
    appointments = csv.tables["appointments"]
    assert appointments["appointment_id"].to_list() == ["A1", "A3", "A2", "A5"]
    assert appointments["episode_id"].to_list() == ["E1", "E2", "E1", "E2"]
    assert appointments["mode"].to_list() == ["physique", "visio", "telephone", "physique"]
    assert csv.rejected.select("table", "line", "column").rows() == [
        ("episodes", 6, "convention_id"),
        ("appointments", 5, "episode_id"),
        ("appointments", 7, "appointment_id"),
        ("appointments", 8, "status"),
        ("appointments", 8, "episode_id"),
        ("appointments", 9, "mode"),
        ("appointments", 10, "episode_id"),
        ("weekly_activity", 5, "episode_id, week_start"),
        ("weekly_activity", 6, "episode_id, week_start"),
        ("weekly_activity", 7, "episode_id"),
    ]
    _check_counts(pq)


def test_a_grouped_reference_is_judged_on_each_run_of_equal_values() -> None:
    """A parent reference is checked on the first row of each run: a value that differs by a
    space, even inside a run of equal ones, makes the column one to clean."""
    from engine.load import extracts as ex

    table = TABLES["weekly_activity"]
    cols = [c for c in table.columns if c.name == "episode_id"]
    dtypes = {"episode_id": pl.String()}

    def clean(values: list[str | None]) -> set[str]:
        frame = pl.DataFrame({"episode_id": values}, schema={"episode_id": pl.String})
        raw = ex._Raw("weekly_activity", "weekly_activity.parquet", frame.lazy(), {}, in_memory=True)
        return ex._clean_columns(raw, cols, dtypes, frozenset({"episode_id"}))

    assert clean(["E1", "E1", None, "E2", "E2"]) == {"episode_id"}
    assert clean(["E1", "E1", "E1 ", "E1", "E2"]) == set()
    assert clean(["E1", "E1", "", "E2"]) == set()
    assert clean([" E1", " E1"]) == set()
