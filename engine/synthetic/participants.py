"""Seeded synthetic `participants` for the `participants` conventions (demo and benchmark data).

`generate` returns the `participants` table of the input contract (`engine.contract`) for the
`participants` lines of a conventions table (coaching familial, Accompagner autrement,
actions d'insertion innovantes, FAJ collectif). The data is invented: pseudonymous ids
(`P000123`), never a name.

How it is made (same method as `engine.generate`, whose random helpers it reuses)
- Every random draw is a splitmix64 hash of an integer key and of the seed, computed with
  polars integer expressions: the output depends only on the conventions, the seed, the
  scale and the profile. No Python loop runs over rows.
- Each convention gets a "quality" drawn from the seed; about `participants_target × scale`
  participants enter over the period (fewer for the poor ones), at a steady rate. A few
  registered shortly before the period start (`p_before_period`), a few enter a second
  time (`p_repeat_entry`, same participant id, a later date). Entries after `extract_date`
  are not written.
- The numbers of `Profile` are realism knobs of the synthetic data, not rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from engine.synthetic.draws import (
    _as_date,
    _as_float,
    _cast,
    _days,
    _lerp,
    _part,
    _plus_days,
    _with_hashes,
)

# One stream per kind of draw (distinct from the streams of `engine.generate`).
S_CONV, S_ENTRY, S_REPEAT = 31, 32, 33


@dataclass(frozen=True)
class Profile:
    """Realism knobs of the synthetic participants (not rules).

    Pairs are `(poor, good)`, interpolated with the convention's quality (0 = poorest,
    1 = best), except `quality_*` (ranges drawn in). Days are calendar days.
    """

    extract_date: date = date(2025, 9, 30)
    #: Rows an extract at this date holds are kept as it writes them; participants are numbered
    #: over the whole period, so later entries just add rows (see `engine.synthetic.generate.Profile`).
    kept_until: date | None = None
    poor_share: float = 0.2
    quality_poor: tuple[float, float] = (0.0, 0.3)
    quality_good: tuple[float, float] = (0.8, 1.0)
    volume: tuple[float, float] = (0.70, 1.05)
    p_before_period: float = 0.03
    before_period_days: int = 30
    p_repeat_entry: float = 0.05
    repeat_entry_days: int = 90


def _prepare_conventions(
    conventions: pl.DataFrame, scale: float, seed: int, prof: Profile
) -> pl.DataFrame:
    """Select the participants conventions; draw their quality and number of participants."""
    schema = conventions.schema
    target = (
        _as_float("participants_target", schema["participants_target"])
        if "participants_target" in schema
        else pl.lit(None, pl.Float64)
    )
    conv = conventions.filter(pl.col("dispositif").str.strip_chars() == "participants").select(
        pl.col("convention_id").cast(pl.String).str.strip_chars(),
        _as_date("period_start", schema["period_start"]).alias("period_start"),
        _as_date("period_end", schema["period_end"]).alias("period_end"),
        target.fill_null(0.0).alias("target"),
    )
    if conv.filter(pl.any_horizontal(pl.all().is_null())).height:
        raise ValueError(
            "conventions : convention_id, period_start et period_end doivent être "
            "renseignés et lisibles pour générer des données"
        )
    conv = conv.with_row_index("k").with_columns(pl.col("k").cast(pl.Int64))
    conv = _with_hashes(conv, seed, _h=(pl.col("k"), S_CONV))
    h = pl.col("_h")
    n_poor = round(conv.height * prof.poor_share)
    conv = conv.with_columns(
        poor=_part(h, 0).rank("ordinal") <= n_poor, u_quality=_part(h, 1), u_volume=_part(h, 2)
    ).with_columns(
        quality=pl.when("poor")
        .then(_lerp(prof.quality_poor, pl.col("u_quality")))
        .otherwise(_lerp(prof.quality_good, pl.col("u_quality")))
    )
    q = pl.col("quality")
    return conv.with_columns(
        span=((pl.col("period_end") - pl.col("period_start")).dt.total_days() + 1).clip(0),
        n_cand=(pl.col("target") * _lerp(prof.volume, (q + pl.col("u_volume")) / 2) * scale)
        .round()
        .cast(pl.Int64)
        .clip(0),
    ).drop("_h", "u_quality", "u_volume")


def generate(
    conventions: pl.DataFrame,
    *,
    seed: int,
    scale: float = 1.0,
    profile: Profile | None = None,
) -> dict[str, pl.DataFrame]:
    """Return `{"participants": frame}` for the `participants` lines of `conventions`.

    `conventions` may hold the contract dtypes or text (as read from a CSV). `scale`
    multiplies the volumes (1.0 ≈ the convention's participants target over its period).
    Deterministic: same conventions, seed, scale and profile → same rows.
    """
    if scale < 0:
        raise ValueError(f"l'échelle doit être positive ou nulle (reçu : {scale})")
    prof = profile or Profile()
    extract = pl.lit(prof.extract_date)
    conv = _prepare_conventions(conventions, scale, seed, prof)

    people = (
        conv.with_columns(j=pl.int_ranges(0, pl.col("n_cand")))
        .explode("j")
        .filter(pl.col("j").is_not_null())
        .with_row_index("g")
        .with_columns(pl.col("g").cast(pl.Int64))
    )
    g = pl.col("g")
    people = _with_hashes(people, seed, _he=(g, S_ENTRY), _hr=(g, S_REPEAT))
    he, hr = pl.col("_he"), pl.col("_hr")
    before = _part(he, 1) < prof.p_before_period
    first_entry = (
        pl.when(before)
        .then(_plus_days(pl.col("period_start"), -1 - _days(_part(he, 2), prof.before_period_days)))
        .otherwise(_plus_days(pl.col("period_start"), _days(_part(he, 0), pl.col("span"))))
    )
    people = (
        people.with_columns(first_entry=first_entry)
        .sort("k", "first_entry", "g")
        .with_row_index("n", offset=1)
        .with_columns(
            participant_id=pl.format("P{}", pl.col("n").cast(pl.String).str.zfill(6)),
            repeat_entry=pl.when(_part(hr, 0) < prof.p_repeat_entry).then(
                _plus_days(pl.col("first_entry"), 1 + _days(_part(hr, 1), prof.repeat_entry_days))
            ),
        )
    )
    entries = (
        pl.concat(
            [
                people.select("n", "participant_id", "convention_id", entry_date="first_entry"),
                people.filter(pl.col("repeat_entry").is_not_null()).select(
                    "n", "participant_id", "convention_id", entry_date="repeat_entry"
                ),
            ]
        )
        .filter(pl.col("entry_date") <= extract)
        .sort("n", "entry_date")
    )
    return {"participants": _cast(entries, "participants")}
