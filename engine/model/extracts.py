"""The extracts of one run, read and checked (the output of `engine.load.extracts`)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass
class Extracts:
    """The extracts of one run, read and checked.

    `tables`: every table of the contract; kept rows only, typed per `Table.schema`, plus
    `source_line` (UInt32: half the memory of a 64-bit line number, for tens of millions of
    weekly rows); an empty frame of that schema when the table is absent.
    `rejected`: one row per problem (`REJECTED_SCHEMA`: table, file, line, column, value,
    reason). `counts`: per table present, `rows` = `kept` + `rejected` (a row with several
    problems is one rejected row). `files`: file name -> sha256 of the bytes read (the
    source profile included). `source`: the folder or workbook read.
    """

    tables: dict[str, pl.DataFrame]
    rejected: pl.DataFrame
    counts: dict[str, dict[str, int]]
    files: dict[str, str]
    source: str
