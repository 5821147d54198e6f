"""Builders for hand-computed indicator cases: kept rows typed as the reader returns them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl

from engine.model.contract import TABLES, empty_frame


def frame(name: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Kept rows of table `name`: contract schema, defaults filled, plus `source_line`."""
    table = TABLES[name]
    full = []
    for i, row in enumerate(rows):
        unknown = set(row) - {c.name for c in table.columns}
        assert not unknown, unknown
        values = {c.name: row.get(c.name, c.default) for c in table.columns}
        for c in table.columns:
            if c.kind == "date" and isinstance(values[c.name], str):
                values[c.name] = date.fromisoformat(values[c.name])
            if c.kind == "decimal" and values[c.name] is not None:
                values[c.name] = Decimal(str(values[c.name]))
        values["source_line"] = i + 2
        full.append(values)
    return pl.DataFrame(full, schema={**table.schema, "source_line": pl.UInt32()})


def tables(**rows: list[dict[str, Any]]) -> dict[str, pl.DataFrame]:
    """All tables, empty unless given."""
    out = {name: empty_frame(name) for name in TABLES}
    out.update({name: frame(name, r) for name, r in rows.items()})
    return out
