"""Seeded synthetic extracts for `independants` conventions (Pas-de-Calais Actif, demo and tests).

`generate` returns the `episodes`, `appointments`, `phases` and `staff_costs` tables of the
input contract (`engine.contract`) for the `independants` lines of a conventions table. The
data is invented: pseudonymous ids prefixed `IND-` (`IND-E000001`, `IND-B000001`,
`IND-A0000001`, `IND-P000001`, `IND-S0001`), so they never collide with another generator's.

How it is made
- Every random draw is a splitmix64 hash of an integer key and of the seed, computed with
  polars integer expressions (the helpers of `engine.generate`): the output depends only on
  the conventions, the seed, the scale and the profile. No Python loop runs over rows.
- A path: orientation, a diagnostic phase (CERP n°1), then a development CERP (possibly
  renewed), a cessation CERP, or nothing (the beneficiary left after the diagnostic).
  Interviews are spread one (sometimes two) per calendar month of each phase 2 CERP and
  three over the diagnostic; a few months are missed, a few diagnostics run late or hold
  two interviews, a few renewals or cessations run one month too long.
- Facts after `Profile.extract_date` are not written (a phase that started before it keeps
  its declared end date, but its results are only known once it ended).
- Each convention declares a few staff members; one of them is allocated exactly
  30 % of their time and one below 30 % (ineligible), to exercise the eligibility rule.
- The numbers of `Profile` are realism knobs of the synthetic data, not rules: the rules
  live in `rules/independants/` and are never read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from engine.model.contract import TABLES
from engine.synthetic.draws import _as_date, _as_float, _days, _part, _pick, _with_hashes

# Streams of draws (distinct from those of `engine.generate`).
S_CONV, S_EPISODE, S_EPISODE2, S_OUTCOME, S_APPOINTMENT, S_STAFF = range(201, 207)

TABLE_NAMES = ("episodes", "appointments", "phases", "staff_costs")

INTERVIEW_MODES = (("physique", 0.55), ("telephone", 0.25), ("visio", 0.15), ("ecrit", 0.05))
PATHS = (("developpement", 0.65), ("cessation", 0.25), ("abandon", 0.10))
DEVELOPMENT_MONTHS = ((3, 0.15), (6, 0.30), (9, 0.20), (12, 0.35))
CESSATION_MONTHS = ((3, 0.5), (6, 0.5))
CESSATION_EXIT_REASONS = (
    ("emploi", 0.35),
    ("parcours_emploi_ft", 0.30),
    ("remobilisation_sociale", 0.25),
    ("formation", 0.10),
)
FULL_ALLOCATIONS = (("1", 0.5), ("0.8", 0.2), ("0.6", 0.15), ("0.5", 0.15))
LOW_ALLOCATIONS = (("0.25", 0.5), ("0.2", 0.3), ("0.29", 0.2))

# Phase slots of an episode (one row each at most), in path order.
SLOT_DIAGNOSTIC, SLOT_MAIN, SLOT_RENEWAL = 0, 1, 2


@dataclass(frozen=True)
class Profile:
    """Realism knobs of the synthetic data (not rules)."""

    extract_date: date = date(2025, 9, 30)
    #: Rows an extract at this date holds are kept as it writes them; later activity, up to
    #: `extract_date`, is numbered after them (see `engine.synthetic.generate.Profile`).
    kept_until: date | None = None
    orientations_per_etp_year: float = 45.0
    diagnostic_start_max_days: int = 21
    p_diagnostic_late: float = 0.08
    diagnostic_late_max_days: int = 20
    p_diagnostic_two_interviews: float = 0.10
    phase2_gap_max_days: int = 10
    p_renewal: float = 0.5
    p_long_extension: float = 0.08
    p_month_missed: float = 0.10
    p_second_interview: float = 0.25
    p_absence: float = 0.3
    p_profit_up: float = 0.55
    p_left_rsa_development: float = 0.30
    p_resumed_development: float = 0.15
    p_business_closed: float = 0.80
    p_resumed_cessation: float = 0.70
    p_left_rsa_cessation: float = 0.10
    exit_max_days: int = 15
    staff_extra: int = 2
    annual_cost_eur: tuple[int, int] = (38_000, 56_000)


def _plus_days(d: pl.Expr, n: pl.Expr | int) -> pl.Expr:
    n_expr = n if isinstance(n, pl.Expr) else pl.lit(n, pl.Int64)
    return (d.cast(pl.Int32) + n_expr.cast(pl.Int32)).cast(pl.Date)


def _plus_months(d: pl.Expr, n: pl.Expr | int) -> pl.Expr:
    """Calendar months, clamped to the month's end (as the rules count them)."""
    if isinstance(n, int):
        return d.dt.offset_by(f"{n}mo")
    return d.dt.offset_by(pl.format("{}mo", n))


def _month_index(d: pl.Expr) -> pl.Expr:
    return d.dt.year().cast(pl.Int64) * 12 + d.dt.month().cast(pl.Int64)


def _cast(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """Select the contract columns of table `name`, in order, with their dtypes."""
    return frame.select([pl.col(c).cast(t) for c, t in TABLES[name].schema.items()])


def _empty(name: str) -> pl.DataFrame:
    return pl.DataFrame(schema=TABLES[name].schema)


def _conventions(conventions: pl.DataFrame) -> pl.DataFrame:
    """Select the independants conventions, typed, with their row number `k`."""
    schema = conventions.schema
    conv = conventions.filter(
        pl.col("dispositif").cast(pl.String).str.strip_chars() == "independants"
    ).select(
        pl.col("convention_id").cast(pl.String).str.strip_chars(),
        _as_float("etp", schema["etp"]).alias("etp"),
        _as_date("period_start", schema["period_start"]).alias("period_start"),
        _as_date("period_end", schema["period_end"]).alias("period_end"),
    )
    if conv.filter(pl.any_horizontal(pl.all().is_null())).height:
        raise ValueError(
            "conventions : convention_id, etp, period_start et period_end doivent être "
            "renseignés et lisibles pour générer des données (independants)"
        )
    return conv.with_row_index("k").with_columns(pl.col("k").cast(pl.Int64))


def _kept(prof: Profile) -> date:
    return min(prof.kept_until or prof.extract_date, prof.extract_date)


#: Episode draws of the extension (oriented after the kept extract) are numbered from here.
EXT_OFFSET = 1 << 40


def _episodes(conv: pl.DataFrame, seed: int, scale: float, prof: Profile) -> pl.DataFrame:
    """Draw every episode and its path dates (hidden work columns included)."""
    extract = pl.lit(prof.extract_date)
    kept_day = _kept(prof)
    conv = conv.with_columns(
        orient_hi=pl.min_horizontal(pl.col("period_end"), pl.lit(kept_day)),
    ).with_columns(
        span=((pl.col("orient_hi") - pl.col("period_start")).dt.total_days() + 1).clip(0),
        span_ext=(
            pl.min_horizontal(pl.col("period_end"), extract)
            - pl.max_horizontal(pl.col("orient_hi"), _plus_days(pl.col("period_start"), -1))
        ).dt.total_days().clip(0),
    )
    per_day = pl.max_horizontal(pl.col("etp"), pl.lit(1.0)) * prof.orientations_per_etp_year / 365.25 * scale
    conv = conv.with_columns(
        n_episodes=(per_day * pl.col("span")).round().cast(pl.Int64),
        n_ext=(per_day * pl.col("span_ext")).round().cast(pl.Int64),
    )
    ep = (
        conv.with_columns(j=pl.int_ranges(0, pl.col("n_episodes")))
        .explode("j")
        .drop_nulls("j")
        .with_row_index("g")
        .with_columns(pl.col("g").cast(pl.Int64), ext=pl.lit(False))
    )
    extension = (
        conv.with_columns(j=pl.int_ranges(0, pl.col("n_ext")))
        .explode("j")
        .drop_nulls("j")
        .with_row_index("g")
        .with_columns((pl.col("g").cast(pl.Int64) + EXT_OFFSET).alias("g"), ext=pl.lit(True))
    )
    if extension.height:
        ep = pl.concat([ep, extension.select(ep.columns)])
    ep = _with_hashes(
        ep,
        seed,
        _h1=(pl.col("g"), S_EPISODE),
        _h2=(pl.col("g"), S_EPISODE2),
        _h3=(pl.col("g"), S_OUTCOME),
    )
    h1, h2, h3 = pl.col("_h1"), pl.col("_h2"), pl.col("_h3")
    ep = ep.with_columns(
        orientation_date=pl.when("ext")
        .then(_plus_days(pl.lit(kept_day), 1 + _days(_part(h1, 0), pl.col("span_ext"))))
        .otherwise(_plus_days(pl.col("period_start"), _days(_part(h1, 0), pl.col("span")))),
    ).with_columns(
        diag_start=_plus_days(
            pl.col("orientation_date"), _days(_part(h1, 1), prof.diagnostic_start_max_days)
        ),
    )
    diag_late = _part(h1, 2) < prof.p_diagnostic_late
    three_months = _plus_months(pl.col("diag_start"), 3)
    ep = ep.with_columns(
        diag_end=pl.when(diag_late)
        .then(_plus_days(three_months, _days(_part(h1, 3), prof.diagnostic_late_max_days)))
        .otherwise(_plus_days(three_months, -1 - _days(_part(h1, 3), 15))),
        diag_interviews=pl.when(_part(h2, 0) < prof.p_diagnostic_two_interviews)
        .then(pl.lit(2, pl.Int64))
        .otherwise(pl.lit(3, pl.Int64)),
        path=_pick(_part(h2, 1), PATHS),
        dev_months=_pick(_part(h2, 2), DEVELOPMENT_MONTHS).cast(pl.Int64),
        cess_months=_pick(_part(h2, 3), CESSATION_MONTHS).cast(pl.Int64),
        renewed=_part(h3, 0) < prof.p_renewal,
        too_long=_part(h3, 1) < prof.p_long_extension,
    )
    ep = ep.with_columns(
        main_start=_plus_days(
            pl.col("diag_end"), 1 + _days(_part(h3, 2), prof.phase2_gap_max_days)
        ),
        main_months=pl.when(pl.col("path") == "cessation")
        .then(pl.col("cess_months") + pl.col("too_long").cast(pl.Int64))
        .otherwise(pl.col("dev_months")),
    ).with_columns(
        main_end=_plus_days(_plus_months(pl.col("main_start"), pl.col("main_months")), -1),
        has_main=pl.col("path") != "abandon",
        has_renewal=(pl.col("path") == "developpement")
        & (pl.col("dev_months") == 12)
        & pl.col("renewed"),
    )
    renewal_months = 6 + pl.col("too_long").cast(pl.Int64)
    ep = ep.with_columns(
        renewal_start=pl.when("has_renewal").then(_plus_days(pl.col("main_end"), 1)),
    ).with_columns(
        renewal_end=_plus_days(_plus_months(pl.col("renewal_start"), renewal_months), -1),
    )
    last_end = pl.coalesce("renewal_end", pl.when("has_main").then("main_end"), "diag_end")
    exit_raw = _plus_days(last_end, _days(_part(h3, 3), prof.exit_max_days))
    ep = ep.sort("ext", "k", "orientation_date", "g").with_row_index("n", offset=1)
    ep = ep.with_columns(pl.col("n").cast(pl.Int64), exit_raw=exit_raw)
    known = pl.col("exit_raw") <= extract
    cess_reason = _pick(_part(h1, 3), CESSATION_EXIT_REASONS)
    return ep.with_columns(
        episode_id=pl.format("IND-E{}", pl.col("n").cast(pl.String).str.zfill(6)),
        beneficiary_id=pl.format("IND-B{}", pl.col("n").cast(pl.String).str.zfill(6)),
        exit_date=pl.when(known).then(pl.col("exit_raw")),
        exit_reason=pl.when(known).then(
            pl.when(pl.col("path") == "abandon")
            .then(pl.lit("abandon"))
            .when(pl.col("path") == "cessation")
            .then(cess_reason)
            .otherwise(pl.lit("autre"))
        ),
    )


def _phases(ep: pl.DataFrame, seed: int, prof: Profile) -> pl.DataFrame:
    """One row per phase (diagnostic, main CERP, renewal), with outcomes once ended."""
    cols = ("n", "episode_id", "slot", "phase", "start_date", "end_date", "renewal", "has_renewal")
    diagnostic = ep.select(
        "n",
        "episode_id",
        slot=pl.lit(SLOT_DIAGNOSTIC),
        phase=pl.lit("diagnostic"),
        start_date=pl.col("diag_start"),
        end_date=pl.col("diag_end"),
        renewal=pl.lit(False),
        has_renewal="has_renewal",
    )
    main = ep.filter("has_main").select(
        "n",
        "episode_id",
        slot=pl.lit(SLOT_MAIN),
        phase=pl.col("path"),
        start_date=pl.col("main_start"),
        end_date=pl.col("main_end"),
        renewal=pl.lit(False),
        has_renewal="has_renewal",
    )
    renewal = ep.filter("has_renewal").select(
        "n",
        "episode_id",
        slot=pl.lit(SLOT_RENEWAL),
        phase=pl.lit("developpement"),
        start_date=pl.col("renewal_start"),
        end_date=pl.col("renewal_end"),
        renewal=pl.lit(True),
        has_renewal="has_renewal",
    )
    phases = (
        pl.concat([f.select(cols) for f in (diagnostic, main, renewal)])
        .filter(pl.col("start_date") <= pl.lit(prof.extract_date))
        .with_columns(_later=pl.col("start_date") > pl.lit(_kept(prof)))
        .sort("_later", "n", "slot")
    )
    phases = _with_hashes(phases, seed, _h=(pl.col("n") * 4 + pl.col("slot"), S_OUTCOME + 100))
    h = pl.col("_h")
    # Results are known once the phase ended; development results on its last CERP only.
    last_dev = (pl.col("phase") == "developpement") & (pl.col("renewal") | ~pl.col("has_renewal"))
    ended = pl.col("end_date") <= pl.lit(prof.extract_date)
    cess = pl.col("phase") == "cessation"
    before_cents = -400_000 + _days(_part(h, 0), 1_200_000)
    profit_up = _part(h, 1) < prof.p_profit_up
    delta_cents = (
        pl.when(profit_up)
        .then(1 + _days(_part(h, 2), 900_000))
        .otherwise(-_days(_part(h, 2), 300_000))
    )

    def euros(cents: pl.Expr) -> pl.Expr:
        sign = pl.when(cents < 0).then(pl.lit("-")).otherwise(pl.lit(""))
        a = cents.abs()
        return pl.format(
            "{}{}.{}",
            sign,
            (a // 100).cast(pl.String),
            (a % 100).cast(pl.String).str.zfill(2),
        ).cast(pl.Decimal(38, 6))

    u3 = _part(h, 3)
    phases = phases.with_columns(
        before_cents=before_cents, after_cents=before_cents + delta_cents
    ).with_columns(
        profit_before=pl.when(last_dev).then(euros(pl.col("before_cents"))),
        profit_after=pl.when(last_dev & ended).then(euros(pl.col("after_cents"))),
        business_closed=cess & ended & (u3 < prof.p_business_closed),
        resumed_insertion=ended
        & pl.when(cess)
        .then(u3 < prof.p_resumed_cessation)
        .when(last_dev)
        .then(u3 > 1 - prof.p_resumed_development)
        .otherwise(pl.lit(False)),
        left_rsa=ended
        & pl.when(cess)
        .then(_part(h, 2) < prof.p_left_rsa_cessation)
        .when(last_dev)
        .then(profit_up & (u3 < prof.p_left_rsa_development))
        .otherwise(pl.lit(False)),
    )
    return phases.with_row_index("p", offset=1).with_columns(
        phase_id=pl.format("IND-P{}", pl.col("p").cast(pl.String).str.zfill(6))
    )


def _appointments(phases: pl.DataFrame, seed: int, prof: Profile) -> pl.DataFrame:
    """Interviews of every phase, and a few absences, by episode and date."""
    diag = phases.filter(pl.col("phase") == "diagnostic")
    # Diagnostic: 3 (sometimes 2) interviews spread over the phase.
    count = pl.col("diag_interviews")
    diag = (
        diag.with_columns(length=(pl.col("end_date") - pl.col("start_date")).dt.total_days() + 1)
        .with_columns(j=pl.int_ranges(0, count))
        .explode("j")
        .with_columns(key=pl.col("n") * 4096 + pl.col("j"))
    )
    diag = _with_hashes(diag, seed, _h=(pl.col("key"), S_APPOINTMENT))
    h = pl.col("_h")
    diag = diag.select(
        "n",
        "episode_id",
        date=_plus_days(
            pl.col("start_date"),
            ((pl.col("j").cast(pl.Float64) + _part(h, 0)) * pl.col("length") / count).floor(),
        ),
        mode=_pick(_part(h, 1), INTERVIEW_MODES),
        status=pl.lit("honore"),
        purpose=pl.lit("diagnostic"),
        order=pl.col("j"),
    )

    # Phase 2: one interview per calendar month overlapping the CERP, sometimes two or none.
    months = (
        phases.filter(pl.col("phase") != "diagnostic")
        .with_columns(
            n_months=_month_index(pl.col("end_date")) - _month_index(pl.col("start_date")) + 1
        )
        .with_columns(m=pl.int_ranges(0, pl.col("n_months")))
        .explode("m")
        .with_columns(month=_plus_months(pl.col("start_date").dt.month_start(), pl.col("m")))
        .with_columns(
            lo=pl.max_horizontal("month", "start_date"),
            hi=pl.min_horizontal(pl.col("month").dt.month_end(), pl.col("end_date")),
            key=pl.col("n") * 4096 + pl.col("slot") * 512 + pl.col("m") * 4 + 16,
        )
    )
    months = _with_hashes(
        months, seed, _h=(pl.col("key"), S_APPOINTMENT), _g=(pl.col("key") + 1, S_APPOINTMENT)
    )
    h, g = pl.col("_h"), pl.col("_g")
    days = (pl.col("hi") - pl.col("lo")).dt.total_days() + 1
    base = months.filter(_part(h, 0) >= prof.p_month_missed)
    first = base.select(
        "n",
        "episode_id",
        date=_plus_days(pl.col("lo"), _days(_part(h, 1), days)),
        mode=_pick(_part(h, 2), INTERVIEW_MODES),
        status=pl.lit("honore"),
        purpose=pl.lit("suivi"),
        order=100 + pl.col("slot") * 100 + pl.col("m"),
    )
    second = base.filter(_part(h, 3) < prof.p_second_interview).select(
        "n",
        "episode_id",
        date=_plus_days(pl.col("lo"), _days(_part(g, 0), days)),
        mode=_pick(_part(g, 1), INTERVIEW_MODES),
        status=pl.lit("honore"),
        purpose=pl.lit("suivi"),
        order=1000 + pl.col("slot") * 100 + pl.col("m"),
    )
    absent = months.filter(_part(g, 2) < prof.p_absence / 6).select(
        "n",
        "episode_id",
        date=_plus_days(pl.col("lo"), _days(_part(g, 3), days)),
        mode=pl.lit("physique"),
        status=pl.lit("absent"),
        purpose=pl.lit("suivi"),
        order=2000 + pl.col("slot") * 100 + pl.col("m"),
    )
    cols = ("n", "episode_id", "date", "mode", "status", "purpose", "order")
    out = pl.concat(
        [
            f.select(cols).with_columns(pl.col("order").cast(pl.Int64))
            for f in (diag, first, second, absent)
        ]
    )
    return (
        out.filter(pl.col("date") <= pl.lit(prof.extract_date))
        .with_columns(_later=pl.col("date") > pl.lit(_kept(prof)))
        .sort("_later", "n", "date", "order")
        .with_row_index("a", offset=1)
        .with_columns(appointment_id=pl.format("IND-A{}", pl.col("a").cast(pl.String).str.zfill(7)))
    )


def _staff_costs(conv: pl.DataFrame, seed: int, prof: Profile) -> pl.DataFrame:
    """Draw a few staff per convention: full or partial allocations, one at 30 %, one below."""
    staff = (
        conv.with_columns(
            n_staff=(pl.col("etp").ceil().cast(pl.Int64) + prof.staff_extra).clip(3),
            years=((pl.col("period_end") - pl.col("period_start")).dt.total_days() + 1) / 365.25,
        )
        .with_columns(s=pl.int_ranges(0, pl.col("n_staff")))
        .explode("s")
        .with_row_index("i", offset=1)
        .with_columns(pl.col("i").cast(pl.Int64))
    )
    staff = _with_hashes(staff, seed, _h=(pl.col("i"), S_STAFF))
    h = pl.col("_h")
    lo, hi = prof.annual_cost_eur
    annual_cents = (lo * 100 + _days(_part(h, 0), (hi - lo) * 100)).cast(pl.Float64)
    cents = (annual_cents * pl.col("years")).round().cast(pl.Int64)
    last = pl.col("s") == pl.col("n_staff") - 1
    allocation = (
        pl.when(last)
        .then(_pick(_part(h, 1), LOW_ALLOCATIONS))
        .when(pl.col("s") == pl.col("n_staff") - 2)
        .then(pl.lit("0.3"))
        .otherwise(_pick(_part(h, 2), FULL_ALLOCATIONS))
    )
    return staff.with_columns(
        staff_id=pl.format("IND-S{}", pl.col("i").cast(pl.String).str.zfill(4)),
        gross_cost_eur=pl.format(
            "{}.{}", (cents // 100).cast(pl.String), (cents % 100).cast(pl.String).str.zfill(2)
        ).cast(pl.Decimal(38, 6)),
        allocation_rate=allocation.cast(pl.Decimal(38, 6)),
    )


def generate(
    conventions: pl.DataFrame,
    *,
    seed: int,
    scale: float = 1.0,
    profile: Profile | None = None,
) -> dict[str, pl.DataFrame]:
    """Synthetic `episodes`, `appointments`, `phases`, `staff_costs` for the independants lines.

    `conventions` may be typed (contract dtypes) or read as text. `scale` multiplies the
    number of beneficiaries (1.0 ≈ `orientations_per_etp_year` per ETP and year). Same
    conventions, seed, scale and profile → same frames. Tables are empty (with the contract
    schema) when there is no independants line.
    """
    if scale < 0:
        raise ValueError(f"l'échelle doit être positive ou nulle (reçu : {scale})")
    prof = profile or Profile()
    conv = _conventions(conventions)
    if conv.height == 0:
        return {name: _empty(name) for name in TABLE_NAMES}
    ep = _episodes(conv, seed, scale, prof)
    phases = _phases(ep, seed, prof)
    appointments = _appointments(
        phases.join(ep.select("n", "diag_interviews"), on="n", how="left"), seed, prof
    )
    return {
        "episodes": _cast(ep, "episodes"),
        "appointments": _cast(appointments, "appointments"),
        "phases": _cast(phases, "phases"),
        "staff_costs": _cast(_staff_costs(conv, seed, prof), "staff_costs"),
    }
