"""Seeded synthetic activity extracts for `equilibre` conventions (demo and benchmark data).

`generate` writes the `episodes`, `appointments`, `contracts` and `weekly_activity` tables of
the input contract (`engine.contract`) for the `equilibre` lines of a conventions table. The
data is invented: pseudonymous ids (`E0000123`, `B0000123`), never a name.

How it is made
- Every random draw is a splitmix64 hash of an integer key (the episode number, the week…)
  and of the seed, computed with polars integer expressions. The output therefore depends
  only on the conventions, the seed, the scale and the profile: same inputs, same bytes, on
  any machine and any polars version. No Python loop runs over rows; the only loop is over
  chunks of episodes, so that a national extract (millions of episodes, ~100 M weekly rows)
  is written with bounded memory.
- Each convention gets a "quality" drawn from the seed: most providers are compliant, a few
  (`Profile.poor_share`) are poor (late first appointments, unsigned or incomplete contracts,
  weeks under the hours target, missing weekly rows, few meetings, no final review).
- Orientations arrive at a steady rate so that about `portfolio_per_etp × etp × scale`
  episodes are active at a time; they start `history_days` before the period (episodes carried
  over from 2024, some of them reaching their 12-month mark inside the period) and stop at
  the period end or at the extract date. Facts up to `extract_date` are written, so some
  events fall after a mid-year `as_of`.
- `kept_until` lengthens an extract without changing it: every row an extract at that date
  holds is written as it would be (same ids, same values; only facts it could not know yet,
  such as an exit after it, are filled in), and the later activity is drawn after it — later
  facts of the same episodes with their own draws, and orientations after it as candidates
  numbered after the kept ones (sample_data/: `SAMPLE_PROFILE`, 2025-09-30 kept, to 2025-12-31).
- The numbers of `Profile` are realism knobs of the synthetic data, not rules: the rules
  (thresholds, targets, delays) live in `rules/` and are never read here.

Command line: `python -m engine.synthetic.generate --conventions sample_data/conventions.csv --out DIR
--scale 1 --seed 2025 --format csv`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import IO, Any

import polars as pl

from engine.model.contract import TABLES
from engine.model.errors import ExtractError
from engine.synthetic.draws import (
    _as_date,
    _as_float,
    _cast,
    _days,
    _lerp,
    _monday,
    _part,
    _pick,
    _plus_days,
    _with_hashes,
)

U64 = pl.UInt64
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15

GENERATED_TABLES = ("episodes", "appointments", "contracts", "weekly_activity")
# Tables the other dispositifs' generators (engine/synthetic/) add.
OTHER_TABLES = ("diagnostics", "phases", "staff_costs", "participants")

# The columns of the episode frame that the child tables are drawn from.
EPISODE_WORK_COLUMNS = (
    "convention_id",
    "orientation_date",
    "exit_date",
    "exit_reason",
    "quality",
    "weekly_from",
    "end_known",
    "first_date",
    "absent_date",
    "sign1",
    "end1",
    "sign2",
    "start2",
    "end2",
    "target",
    "meetings_rate",
    "p_missing",
    "p_met",
    "p_exempt",
    "_hci",
    "_hcr",
    "_hk",
    "_hx",
    "_hy",
    "ext",
    "end_known_kept",
    "exit_raw",
)

# One stream per kind of draw, so that draws never share a hash.
(
    S_CONV,
    S_CAND,
    S_EPISODE,
    S_EPISODE2,
    S_CONTRACT,
    S_RENEWAL,
    S_FOLLOWUP,
    S_EXTRA,
    S_WEEK,
) = range(1, 10)

EARLY_EXIT_REASONS = (
    ("abandon", 0.30),
    ("demenagement", 0.14),
    ("emploi", 0.18),
    ("formation", 0.10),
    ("sanction", 0.08),
    ("fin_de_droits", 0.12),
    ("autre", 0.08),
)
LATE_EXIT_REASONS = (
    ("emploi", 0.26),
    ("formation", 0.14),
    ("creation_activite", 0.06),
    ("parcours_emploi_ft", 0.26),
    ("remobilisation_sociale", 0.18),
    ("fin_de_droits", 0.04),
    ("abandon", 0.03),
    ("autre", 0.03),
)
STALLED_EXIT_REASONS = (
    ("remobilisation_sociale", 0.6),
    ("abandon", 0.25),
    ("autre", 0.15),
)
FOLLOWUP_MODES = (
    ("physique", 0.62),
    ("telephone", 0.18),
    ("visio", 0.08),
    ("collectif", 0.07),
    ("ecrit", 0.05),
)
FOLLOWUP_PURPOSES = (("suivi", 0.93), (None, 0.04), ("diagnostic", 0.03))
REDUCED_TARGETS = ((8.0, 0.3), (10.0, 0.4), (12.0, 0.3))


@dataclass(frozen=True)
class Profile:
    """Realism knobs of the synthetic data (not rules).

    `quality_*`, `portfolio_per_etp` and `occupancy` are ranges (low, high) drawn in; every
    other pair is `(poor, good)`, interpolated with the convention's quality (0 = poorest,
    1 = best). The `poor_share` of conventions with the lowest draw are poor and draw their
    quality in `quality_poor`, the others in `quality_good`. Days are calendar
    days; `extract_date` is the last day the extract covers; follow-up appointments and SIA
    weeks start `weekly_history_days` before the period start (the extract's activity window);
    orientations start `history_days` before it.
    """

    extract_date: date = date(2025, 9, 30)
    #: Rows an extract at this date holds are written exactly as that extract writes them;
    #: activity after it (up to `extract_date`) is drawn as an extension: later facts of the
    #: same episodes, and episodes oriented after it, numbered after the others. None: the
    #: extract date itself (no extension).
    kept_until: date | None = None
    history_days: int = 365
    weekly_history_days: int = 14
    portfolio_per_etp: tuple[float, float] = (55.0, 70.0)
    occupancy: tuple[float, float] = (0.70, 1.02)
    mean_duration_days: float = 255.0
    poor_share: float = 0.2
    quality_poor: tuple[float, float] = (0.0, 0.3)
    quality_good: tuple[float, float] = (0.8, 1.0)
    contract_months: int = 6
    nominal_weekly_hours: float = 15.0
    p_early_exit: tuple[float, float] = (0.35, 0.20)
    p_six_month_exit: float = 0.30
    p_overstay: tuple[float, float] = (0.25, 0.05)
    p_stalled_exit: tuple[float, float] = (0.35, 0.0)
    p_no_first_appointment: tuple[float, float] = (0.08, 0.01)
    p_late_first_appointment: tuple[float, float] = (0.45, 0.03)
    first_appointment_days: int = 15
    late_first_appointment_extra_days: int = 35
    p_absent_first: tuple[float, float] = (0.20, 0.08)
    p_signed: tuple[float, float] = (0.65, 0.97)
    sign_delay_max_days: tuple[float, float] = (45.0, 8.0)
    p_checklist_item: tuple[float, float] = (0.55, 0.96)
    p_reduced_target: float = 0.08
    meetings_per_month: tuple[float, float] = (1.0, 2.2)
    p_honoured: tuple[float, float] = (0.70, 0.90)
    p_bilan_final: tuple[float, float] = (0.40, 0.92)
    p_week_missing: tuple[float, float] = (0.20, 0.02)
    p_week_met: tuple[float, float] = (0.45, 0.92)
    p_exempt_episode: float = 0.12
    p_exempt_week: float = 0.005
    p_exempt_week_exempt_episode: float = 0.30
    p_event_after_exit: float = 0.01
    p_event_before_orientation: float = 0.005
    chunk_episodes: int = 200_000


#: The profile of sample_data/: a whole year (to every period end, 2025-12-31), every row an
#: extract at 2025-09-30 held kept as it was (the demo's earlier quarters stay as they were).
SAMPLE_PROFILE = Profile(extract_date=date(2025, 12, 31), kept_until=date(2025, 9, 30))


# --------------------------------------------------------------------------- random draws


def _prepare_conventions(
    conventions: pl.DataFrame, scale: float, seed: int, prof: Profile
) -> pl.DataFrame:
    """Select the equilibre conventions; draw their quality, portfolio and arrivals."""
    schema = conventions.schema
    conv = conventions.filter(pl.col("dispositif").str.strip_chars() == "equilibre").select(
        pl.col("convention_id").cast(pl.String).str.strip_chars(),
        _as_float("etp", schema["etp"]).alias("etp"),
        _as_date("period_start", schema["period_start"]).alias("period_start"),
        _as_date("period_end", schema["period_end"]).alias("period_end"),
    )
    if conv.filter(pl.any_horizontal(pl.all().is_null())).height:
        raise ValueError(
            "conventions : convention_id, etp, period_start et period_end doivent être "
            "renseignés et lisibles pour générer des données"
        )
    conv = conv.with_row_index("k").with_columns(pl.col("k").cast(pl.Int64))
    conv = _with_hashes(conv, seed, _h=(pl.col("k"), S_CONV))
    h = pl.col("_h")
    n_poor = round(conv.height * prof.poor_share)
    extract_date = pl.lit(_kept(prof))
    conv = conv.with_columns(
        poor=_part(h, 0).rank("ordinal") <= n_poor,
        u_quality=_part(h, 1),
        u_portfolio=_part(h, 2),
        u_occupancy=_part(h, 3),
    ).with_columns(
        quality=pl.when("poor")
        .then(_lerp(prof.quality_poor, pl.col("u_quality")))
        .otherwise(_lerp(prof.quality_good, pl.col("u_quality"))),
    )
    conv = conv.with_columns(
        portfolio=pl.col("etp")
        * _lerp(prof.portfolio_per_etp, pl.col("u_portfolio"))
        * _lerp(prof.occupancy, (pl.col("u_occupancy") + pl.col("quality")) / 2)
        * scale,
        orient_lo=_plus_days(pl.col("period_start"), -prof.history_days),
        orient_hi=pl.min_horizontal(pl.col("period_end"), extract_date),
        weekly_from=_monday(_plus_days(pl.col("period_start"), -prof.weekly_history_days)),
    ).with_columns(
        span=((pl.col("orient_hi") - pl.col("orient_lo")).dt.total_days() + 1).clip(0),
        # The extension: orientations after the kept extract, up to the period end or the extract date.
        span_ext=(
            pl.min_horizontal(pl.col("period_end"), pl.lit(prof.extract_date)) - pl.max_horizontal(
                pl.col("orient_hi"), _plus_days(pl.col("orient_lo"), -1))
        ).dt.total_days().clip(0),
    )
    return conv.with_columns(
        n_cand=(pl.col("portfolio") / prof.mean_duration_days * pl.col("span"))
        .round()
        .cast(pl.Int64),
        n_ext=(pl.col("portfolio") / prof.mean_duration_days * pl.col("span_ext"))
        .round()
        .cast(pl.Int64),
    ).drop("_h", "u_quality", "u_portfolio", "u_occupancy")


def _kept(prof: Profile) -> date:
    """The date up to which the extract is kept as an extract at that date writes it."""
    return min(prof.kept_until or prof.extract_date, prof.extract_date)


#: Candidate numbers of the extension start here (the kept candidates are numbered from 0).
EXT_OFFSET = 1 << 40


# --------------------------------------------------------------------------- episodes


def _episodes_frame(conv: pl.DataFrame, seed: int, prof: Profile) -> pl.DataFrame:
    """Draw all episodes, with the hidden columns the child tables are drawn from."""
    q = pl.col("quality")
    kept = cand_kept = (
        conv.with_columns(j=pl.int_ranges(0, pl.col("n_cand")))
        .explode("j")
        .with_row_index("g")
        .with_columns(pl.col("g").cast(pl.Int64), ext=pl.lit(False))
    )
    extension = (
        conv.with_columns(j=pl.int_ranges(0, pl.col("n_ext")))
        .explode("j")
        .filter(pl.col("j").is_not_null())
        .with_row_index("g")
        .with_columns((pl.col("g").cast(pl.Int64) + EXT_OFFSET).alias("g"), ext=pl.lit(True))
    )
    cand = pl.concat([kept, extension.select(cand_kept.columns)]) if extension.height else kept
    cand = _with_hashes(cand, seed, _h1=(pl.col("g"), S_CAND), _h2=(pl.col("g"), S_CAND + 100))
    h1, h2 = pl.col("_h1"), pl.col("_h2")
    kept_day = _kept(prof)
    cand = cand.with_columns(
        orientation_date=pl.when("ext")
        .then(_plus_days(pl.lit(kept_day), 1 + _days(_part(h1, 0), pl.col("span_ext"))))
        .otherwise(_plus_days(pl.col("orient_lo"), _days(_part(h1, 0), pl.col("span")))),
        u_tier=_part(h1, 1),
        u_dur=_part(h1, 2),
        u_over=_part(h1, 3),
        u_reason=_part(h2, 0),
        u_stalled=_part(h2, 1),
    )
    p_early = _lerp(prof.p_early_exit, q)
    tier = (
        pl.when(pl.col("u_tier") < p_early)
        .then(pl.lit("early"))
        .when(pl.col("u_tier") < p_early + prof.p_six_month_exit)
        .then(pl.lit("six"))
        .when(pl.col("u_over") < _lerp(prof.p_overstay, q))
        .then(pl.lit("over"))
        .otherwise(pl.lit("twelve"))
    )
    cand = cand.with_columns(tier=tier)
    t = pl.col("tier")
    u = pl.col("u_dur")
    duration = (
        pl.when(t == "early")
        .then(20 + _days(u, 150))
        .when(t == "six")
        .then(175 + _days(u, 25))
        .when(t == "twelve")
        .then(345 + _days(u, 35))
        .otherwise(380 + _days(u, 90))
    )
    cand = cand.with_columns(exit_raw=_plus_days(pl.col("orientation_date"), duration))
    # Only episodes still open on the first day of the period are in the extract.
    ep = cand.filter(pl.col("exit_raw") >= pl.col("period_start"))
    ep = ep.sort("ext", "k", "orientation_date", "g").with_row_index("n", offset=1)
    ep = ep.with_columns(pl.col("n").cast(pl.Int64))

    reason = (
        pl.when(t == "early")
        .then(_pick(pl.col("u_reason"), EARLY_EXIT_REASONS))
        .when(pl.col("u_stalled") < _lerp(prof.p_stalled_exit, q))
        .then(_pick(pl.col("u_reason"), STALLED_EXIT_REASONS))
        .otherwise(_pick(pl.col("u_reason"), LATE_EXIT_REASONS))
    )
    in_extract = pl.col("exit_raw") <= pl.lit(prof.extract_date)
    ep = ep.with_columns(
        exit_date=pl.when(in_extract).then(pl.col("exit_raw")),
        exit_reason=pl.when(in_extract).then(reason),
    )

    # Beneficiaries: a few are oriented again (an earlier beneficiary id is reused).
    n = pl.col("n")
    ep = _with_hashes(
        ep,
        seed,
        _he=(n, S_EPISODE),
        _he2=(n, S_EPISODE2),
        _hc=(n, S_CONTRACT),
        _hb=(n, S_EPISODE + 100),
        _hci=(n, S_CONTRACT + 100),
        _hcr=(n, S_RENEWAL),
        _hk=(n, S_FOLLOWUP),
        _hx=(n, S_EXTRA),
        _hy=(n, S_EXTRA + 100),
    )
    he, he2, hc, hb = pl.col("_he"), pl.col("_he2"), pl.col("_hc"), pl.col("_hb")
    ep = ep.with_columns(
        ben=pl.when(_part(he, 0) < 0.03)
        .then((pl.col("n") - 1 - _days(_part(he, 1), 40)).clip(1))
        .otherwise(pl.col("n")),
    )

    # First (welcome) appointment and a missed attempt before it.
    first_days = prof.first_appointment_days
    late = _part(he, 3) < _lerp(prof.p_late_first_appointment, q)
    delay = (
        pl.when(late)
        .then(first_days + 1 + _days(_part(he2, 0), prof.late_first_appointment_extra_days))
        .otherwise(1 + _days(_part(he2, 0), first_days))
    )
    end_known = pl.min_horizontal(pl.col("exit_raw"), pl.lit(prof.extract_date))
    ep = ep.with_columns(
        end_known=end_known,
        end_known_kept=pl.min_horizontal(pl.col("exit_raw"), pl.lit(kept_day)),
        delay=delay,
    )
    first = _plus_days(pl.col("orientation_date"), pl.col("delay"))
    ep = ep.with_columns(
        first_date=pl.when(
            (_part(he, 2) >= _lerp(prof.p_no_first_appointment, q)) & (first <= end_known)
        ).then(first),
    )
    absent = _plus_days(pl.col("orientation_date"), _days(_part(he2, 1), pl.col("delay").clip(1)))
    ep = ep.with_columns(
        absent_date=pl.when(
            pl.col("first_date").is_not_null() & (_part(he2, 2) < _lerp(prof.p_absent_first, q))
        ).then(absent),
    )

    # Initial contract (CEU) and its renewal.
    months = f"{prof.contract_months}mo"
    sign1 = _plus_days(
        pl.col("first_date"),
        _days(_part(hc, 1), _lerp(prof.sign_delay_max_days, q).cast(pl.Int64) + 1),
    )
    ep = ep.with_columns(
        sign1=pl.when(
            (_part(hc, 0) < _lerp(prof.p_signed, q)) & (sign1 <= pl.col("end_known"))
        ).then(sign1),
    ).with_columns(
        end1=pl.col("sign1").dt.offset_by(months) - pl.duration(days=1),
        target=pl.when(_part(hc, 2) < prof.p_reduced_target).then(
            _pick(_part(hc, 3), REDUCED_TARGETS).cast(pl.Float64)
        ),
    )
    start2 = _plus_days(pl.col("end1"), 1)
    sign2 = _plus_days(pl.col("end1"), -_days(_part(he2, 3), 14))
    ep = (
        ep.with_columns(
            sign2=pl.when(
                pl.col("sign1").is_not_null()
                & (pl.col("exit_raw") > pl.col("end1"))
                & (sign2 <= pl.lit(prof.extract_date))
            ).then(pl.max_horizontal(sign2, pl.col("sign1"))),
        )
        .with_columns(
            start2=pl.when(pl.col("sign2").is_not_null()).then(start2),
        )
        .with_columns(
            end2=pl.col("start2").dt.offset_by(months) - pl.duration(days=1),
        )
    )

    # Per-episode behaviour for meetings and weekly hours.
    exempt_episode = _part(hb, 3) < prof.p_exempt_episode
    ep = ep.with_columns(
        meetings_rate=_lerp(prof.meetings_per_month, q) * (0.8 + 0.4 * _part(hb, 0)),
        p_missing=_lerp(prof.p_week_missing, q) * (0.5 + _part(hb, 1)),
        p_met=(_lerp(prof.p_week_met, q) + 0.3 * (_part(hb, 2) - 0.5)).clip(0.0, 1.0),
        p_exempt=pl.when(exempt_episode)
        .then(pl.lit(prof.p_exempt_week_exempt_episode))
        .otherwise(pl.lit(prof.p_exempt_week)),
    )
    return ep.select(
        "n",
        pl.format("E{}", pl.col("n").cast(pl.String).str.zfill(7)).alias("episode_id"),
        pl.format("B{}", pl.col("ben").cast(pl.String).str.zfill(7)).alias("beneficiary_id"),
        *EPISODE_WORK_COLUMNS,
    )


def _contracts(ep: pl.DataFrame, seed: int, prof: Profile) -> pl.DataFrame:
    """Build the initial contracts and renewals, with their quality checklist."""
    q = pl.col("quality")
    p_item = _lerp(prof.p_checklist_item, q)
    items = ("objectives_defined", "action_plan", "weekly_hours_planned", "signed_by_both")
    parts = []
    for kind, order, hash_col, sign, start, end in (
        ("initial", 0, "_hci", "sign1", "sign1", "end1"),
        ("renouvellement", 1, "_hcr", "sign2", "start2", "end2"),
    ):
        h = pl.col(hash_col)
        parts.append(
            ep.filter(pl.col(sign).is_not_null()).select(
                "n",
                "episode_id",
                "quality",
                "target",
                order=pl.lit(order),
                kind=pl.lit(kind),
                signed_date=pl.col(sign),
                start_date=pl.col(start),
                end_date=pl.col(end),
                **{name: _part(h, i) < p_item for i, name in enumerate(items)},
            )
        )
    # Contracts signed after the kept extract are numbered after the kept ones.
    kept_day = pl.lit(_kept(prof))
    contracts = (
        pl.concat(parts)
        .with_columns(ext=pl.col("signed_date") > kept_day)
        .sort("ext", "n", "order")
        .with_row_index("c", offset=1)
    )
    return contracts.with_columns(
        contract_id=pl.lit("C") + pl.col("c").cast(pl.String).str.zfill(7),
        weekly_hours_target=pl.col("target"),
    )


def _appointments(ep: pl.DataFrame, seed: int, prof: Profile) -> pl.DataFrame:
    """Draw the appointments of a chunk of episodes (without ids), by episode and date."""
    q = pl.col("quality")
    cols = ("n", "episode_id", "date", "mode", "status", "purpose", "order", "ext")
    kept_day = pl.lit(_kept(prof))
    has_first = ep.filter(pl.col("first_date").is_not_null())

    welcome = has_first.select(
        "n",
        "episode_id",
        date=pl.col("first_date"),
        mode=pl.lit("physique"),
        status=pl.lit("honore"),
        purpose=pl.lit("accueil"),
        order=pl.lit(1),
        ext=pl.col("first_date") > kept_day,
    )
    missed = ep.filter(pl.col("absent_date").is_not_null()).select(
        "n",
        "episode_id",
        date=pl.col("absent_date"),
        mode=pl.lit("physique"),
        status=pl.lit("absent"),
        purpose=pl.lit("accueil"),
        order=pl.lit(0),
        ext=pl.col("first_date") > kept_day,
    )

    # Follow-up meetings and contacts, spread between the first appointment (or the start of
    # the extract's activity window) and the end.
    follow_from = pl.max_horizontal(_plus_days(pl.col("first_date"), 1), pl.col("weekly_from"))
    hk = pl.col("_hk")
    # Those a kept extract holds (up to its date), then those of the extension (after it).
    span = (pl.col("end_known_kept") - follow_from).dt.total_days() + 1
    count = (span / 30.4375 * pl.col("meetings_rate") + _part(hk, 0)).floor().cast(pl.Int64)
    follow_kept = (
        has_first.filter((span > 0) & (pl.col("first_date") <= kept_day))
        .select(
            "n",
            "episode_id",
            "quality",
            follow_from=follow_from,
            span=span,
            j=pl.int_ranges(0, count.clip(0, 250)),
            ext=pl.lit(False),
        )
        .explode("j")
    )
    follow_kept = _with_hashes(follow_kept, seed, _h=(pl.col("n") * 256 + pl.col("j"), S_FOLLOWUP + 100))
    ext_from = pl.max_horizontal(follow_from, _plus_days(kept_day, 1))
    span_ext = (pl.col("end_known") - ext_from).dt.total_days() + 1
    count_ext = (span_ext / 30.4375 * pl.col("meetings_rate") + _part(hk, 1)).floor().cast(pl.Int64)
    follow_ext = (
        has_first.filter(span_ext > 0)
        .select(
            "n",
            "episode_id",
            "quality",
            follow_from=ext_from,
            span=span_ext,
            j=pl.int_ranges(0, count_ext.clip(0, 250)),
            ext=pl.lit(True),
        )
        .explode("j")
        .filter(pl.col("j").is_not_null())
    )
    follow_ext = _with_hashes(follow_ext, seed, _h=(pl.col("n") * 256 + pl.col("j"), S_FOLLOWUP + 200))
    follow = pl.concat([follow_kept, follow_ext]) if follow_ext.height else follow_kept
    hf = pl.col("_h")
    p_honoured = _lerp(prof.p_honoured, q)
    follow = follow.select(
        "n",
        "episode_id",
        date=_plus_days(pl.col("follow_from"), _days(_part(hf, 0), pl.col("span"))),
        mode=_pick(_part(hf, 1), FOLLOWUP_MODES),
        status=pl.when(_part(hf, 2) < p_honoured)
        .then(pl.lit("honore"))
        .when(_part(hf, 2) < p_honoured + (1 - p_honoured) * 0.6)
        .then(pl.lit("absent"))
        .otherwise(pl.lit("annule")),
        purpose=_pick(_part(hf, 3), FOLLOWUP_PURPOSES),
        order=100 + pl.col("j") + pl.when("ext").then(300).otherwise(0),
        ext="ext",
    )

    # Final reviews before a renewal and before an exit.
    hx = pl.col("_hx")
    p_bilan = _lerp(prof.p_bilan_final, q)
    bilan_renewal = ep.filter(pl.col("sign2").is_not_null() & (_part(hx, 0) < p_bilan)).select(
        "n",
        "episode_id",
        date=pl.max_horizontal(
            _plus_days(pl.col("end1"), -_days(_part(hx, 1), 14)), pl.col("first_date")
        ),
        mode=pl.lit("physique"),
        status=pl.lit("honore"),
        purpose=pl.lit("bilan_final"),
        order=pl.lit(1000),
        ext=pl.col("sign2") > kept_day,
    )
    bilan_exit = ep.filter(
        pl.col("exit_date").is_not_null() & pl.col("sign1").is_not_null() & (_part(hx, 2) < p_bilan)
    ).select(
        "n",
        "episode_id",
        date=pl.max_horizontal(
            _plus_days(pl.col("exit_date"), -_days(_part(hx, 3), 10)), pl.col("first_date")
        ),
        mode=pl.lit("physique"),
        status=pl.lit("honore"),
        purpose=pl.lit("bilan_final"),
        order=pl.lit(1001),
        ext=pl.col("exit_raw") > kept_day,
    )

    # A few valid rows dated outside their episode (after exit, before orientation).
    hy = pl.col("_hy")
    after = _plus_days(pl.col("exit_date"), 1 + _days(_part(hy, 1), 20))
    after_exit = ep.filter(
        pl.col("first_date").is_not_null()
        & (_part(hy, 0) < prof.p_event_after_exit)
        & (after <= pl.lit(prof.extract_date))
    ).select(
        "n",
        "episode_id",
        date=after,
        mode=pl.lit("telephone"),
        status=pl.lit("honore"),
        purpose=pl.lit("suivi"),
        order=pl.lit(1002),
        ext=after > kept_day,
    )
    before = ep.filter(_part(hy, 2) < prof.p_event_before_orientation).select(
        "n",
        "episode_id",
        date=_plus_days(pl.col("orientation_date"), -1 - _days(_part(hy, 3), 10)),
        mode=pl.lit("telephone"),
        status=pl.lit("honore"),
        purpose=pl.lit("accueil"),
        order=pl.lit(-1),
        ext="ext",
    )

    parts = [welcome, missed, follow, bilan_renewal, bilan_exit, after_exit, before]
    frames = [p.select(cols).with_columns(pl.col("order").cast(pl.Int32)) for p in parts]
    # (n, date, order) is unique: the row order does not depend on the chunking.
    return pl.concat(frames).sort("n", "date", "order")


def _weekly(ep: pl.DataFrame, seed: int, prof: Profile) -> pl.DataFrame:
    """Draw the SIA weekly rows of a chunk of episodes, from the contract start to the end."""
    contracted = ep.filter(pl.col("sign1").is_not_null())
    first = _monday(pl.max_horizontal(pl.col("sign1"), pl.col("weekly_from")))
    last = _monday(pl.col("end_known"))
    n_weeks = ((last - first).dt.total_days() // 7 + 1).clip(0)
    # Weeks a kept extract holds: a contract signed by its date, up to the week of its date.
    kept_day = pl.lit(_kept(prof))
    n_kept = pl.when(pl.col("sign1") <= kept_day).then(
        ((_monday(pl.col("end_known_kept")) - first).dt.total_days() // 7 + 1).clip(0)
    ).otherwise(0)
    weeks = (
        contracted.select(
            "n",
            "episode_id",
            "target",
            "p_missing",
            "p_met",
            "p_exempt",
            first_week=first,
            n_kept=n_kept,
            w=pl.int_ranges(0, n_weeks),
        )
        .explode("w")
        .with_columns(pl.col("w").cast(pl.Int64))
    )
    weeks = _with_hashes(weeks, seed, _h=(pl.col("n") * 1024 + pl.col("w"), S_WEEK))
    h = pl.col("_h")
    weeks = weeks.with_columns(_exempt=_part(h, 1) < pl.col("p_exempt"))
    target = pl.col("target").fill_null(prof.nominal_weekly_hours)
    exempt = pl.col("_exempt")
    met = _part(h, 2) < pl.col("p_met")
    u = _part(h, 3)
    hours = (
        pl.when(exempt)
        .then((u * 20).floor() / 2)
        .when(met)
        .then(target + (u * 24).floor() / 2)
        .otherwise((u * target * 2).floor() / 2)
    )
    return weeks.filter(_part(h, 0) >= pl.col("p_missing")).select(
        "n",
        "episode_id",
        week_start=_plus_days(pl.col("first_week"), pl.col("w") * 7),
        hours=hours.clip(0.0, 168.0),
        exempt=exempt,
        ext=pl.col("w") >= pl.col("n_kept"),
    )


# --------------------------------------------------------------------------- writing


class _Sink:
    """Writes one table as CSV or parquet, chunk after chunk."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        self.rows = 0
        self._csv: IO[bytes] | None = None
        self._parquet: Any = None

    def write(self, frame: pl.DataFrame) -> None:
        if self.fmt == "csv":
            if self._csv is None:
                self._csv = open(self.path, "wb")  # noqa: SIM115 - closed in close()
                frame.write_csv(self._csv, include_header=True)
            else:
                frame.write_csv(self._csv, include_header=False)
        else:
            import pyarrow.parquet as pq

            arrow = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, arrow.schema, compression="zstd")
            self._parquet.write_table(arrow)
        self.rows += frame.height

    def close(self, empty: pl.DataFrame) -> None:
        if self._csv is None and self._parquet is None:
            self.write(empty)
        if self._csv is not None:
            self._csv.close()
        if self._parquet is not None:
            self._parquet.close()


def generate(
    conventions: pl.DataFrame,
    out_dir: Path,
    *,
    seed: int = 2025,
    scale: float = 1.0,
    fmt: str = "csv",
    profile: Profile | None = None,
) -> dict[str, int]:
    """Write synthetic `episodes`, `appointments`, `contracts`, `weekly_activity` to `out_dir`.

    Only the `equilibre` lines of `conventions` get activity. `scale` multiplies the number
    of beneficiaries (1.0 ≈ 55–70 active per ETP). Returns the number of rows written per
    table. Deterministic: same conventions, seed, scale and profile → same files.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format inconnu : {fmt!r} (attendu : csv ou parquet)")
    if scale < 0:
        raise ValueError(f"l'échelle doit être positive ou nulle (reçu : {scale})")
    prof = profile or Profile()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    conv = _prepare_conventions(conventions, scale, seed, prof)
    ep = _episodes_frame(conv, seed, prof)
    sinks = {t: _Sink(out_dir / f"{t}.{fmt}", fmt) for t in GENERATED_TABLES}
    sinks["episodes"].write(_cast(ep, "episodes"))

    # Rows a kept extract holds first (in their order, with their ids), then the extension's.
    next_appointment = 1
    passes = (False, True) if _kept(prof) < prof.extract_date else (False,)
    for extension in passes:
        for offset in range(0, ep.height, prof.chunk_episodes):
            chunk = ep.slice(offset, prof.chunk_episodes)
            appts = _appointments(chunk, seed, prof)
            if len(passes) > 1:
                appts = appts.filter(pl.col("ext") == extension)
            appts = appts.with_row_index("a", offset=next_appointment)
            next_appointment += appts.height
            appts = appts.with_columns(
                appointment_id=pl.lit("A") + pl.col("a").cast(pl.String).str.zfill(8)
            )
            sinks["appointments"].write(_cast(appts, "appointments"))
            weeks = _weekly(chunk, seed, prof)
            if len(passes) > 1:
                weeks = weeks.filter(pl.col("ext") == extension)
            sinks["weekly_activity"].write(_cast(weeks, "weekly_activity"))
            del appts, weeks

    contracts = _contracts(ep, seed, prof)
    sinks["contracts"].write(_cast(contracts, "contracts"))

    # The other dispositifs (accueil, participants, independants): small volumes, one frame each.
    from engine.synthetic import accueil, independants, participants

    for module in (accueil, participants, independants):
        dates = module.Profile(extract_date=prof.extract_date, kept_until=prof.kept_until)
        for table, frame in module.generate(conventions, seed=seed, scale=scale, profile=dates).items():
            if frame.height == 0:
                continue
            if table not in sinks:
                sinks[table] = _Sink(out_dir / f"{table}.{fmt}", fmt)
            sinks[table].write(_cast(frame, table))

    for table, sink in sinks.items():
        sink.close(_cast(pl.DataFrame(schema=TABLES[table].schema), table))
    return {t: sink.rows for t, sink in sinks.items()}


def count_episodes(
    conventions: pl.DataFrame,
    *,
    seed: int = 2025,
    scale: float = 1.0,
    profile: Profile | None = None,
) -> int:
    """Return how many episodes `generate` would write (cheap: no child table is drawn)."""
    prof = profile or Profile()
    return _episodes_frame(_prepare_conventions(conventions, scale, seed, prof), seed, prof).height


# The columns the generator reads (the other dispositifs' targets are optional).
_NEEDED = ("convention_id", "dispositif", "etp", "period_start", "period_end")


def read_conventions(path: Path) -> pl.DataFrame:
    """Read a conventions file written by this project (CSV `,` or `;`, UTF-8, or parquet).

    Raises `ExtractError` (one French sentence naming the file) when it cannot be read:
    not a file, not UTF-8 (the line that does not decode), empty, bad CSV or parquet, or a
    column the generator needs missing.
    """
    path = Path(path)
    if not path.is_file():
        what = "c'est un dossier, pas un fichier" if path.is_dir() else "introuvable"
        raise ExtractError(f"Fichier {path} : {what}.")
    try:
        data = path.read_bytes()
    except OSError:
        raise ExtractError(f"Fichier {path} : lecture impossible (droits insuffisants ?).") from None
    try:
        if path.suffix.lower() == ".parquet":
            frame = pl.read_parquet(data)
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError as error:
                line = data.count(b"\n", 0, error.start) + 1
                raise ExtractError(
                    f"Fichier {path} : ligne {line} pas en UTF-8 (octet 0x{data[error.start]:02X}) ;"
                    " enregistrer le fichier en UTF-8."
                ) from None
            lines = text.splitlines()
            if not lines or not lines[0].strip():
                raise ExtractError(f"Fichier {path} : fichier vide, sans ligne d'en-tête.")
            separator = ";" if lines[0].count(";") > lines[0].count(",") else ","
            frame = pl.read_csv(text.encode("utf-8"), separator=separator, infer_schema=False)
    except pl.exceptions.PolarsError:
        raise ExtractError(f"Fichier {path} : illisible (CSV ou Parquet mal formé).") from None
    missing = [c for c in _NEEDED if c not in frame.columns]
    if missing:
        names = ", ".join(f"« {c} »" for c in missing)
        raise ExtractError(f"Fichier {path} : colonne(s) {names} absente(s).")
    return frame


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry: `python -m engine.synthetic.generate`."""
    parser = argparse.ArgumentParser(
        prog="python -m engine.synthetic.generate",
        description="Génère des extraits d'activité synthétiques (accompagnement équilibré).",
    )
    parser.add_argument("--conventions", type=Path, required=True, help="fichier conventions")
    parser.add_argument("--out", type=Path, required=True, help="dossier de sortie")
    parser.add_argument("--scale", type=float, default=1.0, help="facteur de volume (1.0)")
    parser.add_argument("--seed", type=int, default=2025, help="graine (2025)")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument(
        "--extract-date",
        type=date.fromisoformat,
        default=Profile.extract_date,
        help="dernier jour couvert par l'extrait (AAAA-MM-JJ, 2025-09-30)",
    )
    parser.add_argument(
        "--weekly-history-days",
        type=int,
        default=Profile.weekly_history_days,
        help="jours d'activité (rendez-vous de suivi, semaines SIA) avant le début de période",
    )
    parser.add_argument(
        "--kept-until",
        type=date.fromisoformat,
        default=None,
        help="les lignes d'un extrait à cette date sont écrites telles quelles ; l'activité"
        " suivante, jusqu'à --extract-date, s'y ajoute (AAAA-MM-JJ)",
    )
    parser.add_argument("--report", type=Path, help="écrire le nombre de lignes (JSON) ici")
    args = parser.parse_args(argv)
    profile = replace(
        Profile(),
        extract_date=args.extract_date,
        kept_until=args.kept_until,
        weekly_history_days=args.weekly_history_days,
    )
    try:
        conventions = read_conventions(args.conventions)
        counts = generate(
            conventions,
            args.out,
            seed=args.seed,
            scale=args.scale,
            fmt=args.format,
            profile=profile,
        )
    except (OSError, ValueError, ExtractError, pl.exceptions.PolarsError) as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return 1
    if args.report is not None:
        args.report.write_text(json.dumps(counts, indent=2) + "\n", encoding="utf-8")
    for table, rows in counts.items():
        print(f"{table} : {rows:,} lignes".replace(",", " "))
    print(f"Extraits écrits dans {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
