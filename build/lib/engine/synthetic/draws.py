"""Seeded, vectorised random draws shared by the sample generators (hashes of row keys)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from engine.model.contract import TABLES

U64 = pl.UInt64
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def _splitmix(x: int) -> int:
    """splitmix64 of a Python integer (for the per-stream offsets)."""
    z = (x + GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def _lit(value: int) -> pl.Expr:
    return pl.lit(value, dtype=U64)


def _with_hashes(frame: pl.DataFrame, seed: int, **specs: tuple[pl.Expr, int]) -> pl.DataFrame:
    """Add one 64-bit pseudo-random column per `name=(key, stream)`.

    The value is splitmix64 of the integer `key` in the (seed, stream) sequence. The mixing
    steps are materialised one after the other: a nested expression would evaluate its
    shared sub-expressions again and again.
    """
    start = {}
    for name, (key, stream) in specs.items():
        offset = _splitmix((seed & MASK64) ^ _splitmix(stream))
        start[name] = key.cast(U64) * _lit(GOLDEN) + _lit(offset)
    frame = frame.with_columns(**start)
    for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB), (31, None)):
        step = {}
        for name in specs:
            x = pl.col(name)
            mixed = x ^ (x // _lit(1 << shift))
            step[name] = mixed * _lit(mult) if mult is not None else mixed
        frame = frame.with_columns(**step)
    return frame


def _part(h: pl.Expr, index: int) -> pl.Expr:
    """Read the `index`-th 16-bit slice (0..3) of a hash as a uniform draw in (0, 1)."""
    bits = (h // _lit(1 << (16 * index))) & _lit(0xFFFF)
    return (bits.cast(pl.Float64) + 0.5) / 65536.0


def _pick(u: pl.Expr, choices: Sequence[tuple[Any, float]]) -> pl.Expr:
    """Draw a category: the choice whose cumulative weight first exceeds `u`."""
    total = sum(w for _, w in choices)
    expr: Any = pl
    acc = 0.0
    for value, weight in choices[:-1]:
        acc += weight / total
        expr = expr.when(u < acc).then(pl.lit(value))
    return expr.otherwise(pl.lit(choices[-1][0]))


def _lerp(pair: tuple[float, float], quality: pl.Expr) -> pl.Expr:
    """Interpolate a `(poor, good)` pair with a quality in 0..1."""
    poor, good = pair
    return pl.lit(poor) + (good - poor) * quality


def _days(u: pl.Expr, n: pl.Expr | int) -> pl.Expr:
    """Draw an integer number of days, uniform in 0..n-1."""
    return (u * n).floor().cast(pl.Int64)


def _monday(d: pl.Expr) -> pl.Expr:
    """Return the Monday on or before a date."""
    return d - pl.duration(days=d.dt.weekday().cast(pl.Int64) - 1)


def _plus_days(d: pl.Expr, n: pl.Expr | int) -> pl.Expr:
    return d + pl.duration(days=n)


# --------------------------------------------------------------------------- conventions


def _as_float(name: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(name)
    if dtype == pl.String:
        return col.str.strip_chars().str.replace(",", ".").cast(pl.Float64)
    return col.cast(pl.Float64)


def _as_date(name: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(name)
    if dtype == pl.String:
        text = col.str.strip_chars()
        return pl.coalesce(
            text.str.to_date("%Y-%m-%d", strict=False),
            text.str.to_date("%d/%m/%Y", strict=False),
        )
    return col.cast(pl.Date)


def _cast(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """Select the contract columns of `table`, in order, with their dtypes."""
    schema = TABLES[table].schema
    return frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


