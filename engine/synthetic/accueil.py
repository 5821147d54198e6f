"""Seeded synthetic `diagnostics` for the `accueil` conventions (demo and benchmark data).

`generate` returns the `diagnostics` table of the input contract (`engine.contract`) for the
`accueil` lines of a conventions table. The data is invented: pseudonymous ids
(`D000123`, `B5000123`), never a name.

How it is made (same method as `engine.generate`, whose random helpers it reuses)
- Every random draw is a splitmix64 hash of an integer key (the diagnostic number) and of the
  seed, computed with polars integer expressions: the output depends only on the
  conventions, the seed, the scale and the profile. No Python loop runs over rows.
- Each convention gets a "quality" drawn from the seed: most providers are compliant, a few
  (`Profile.poor_share`) are poor (late appointments for opportunity decisions, late
  positionings, more absences, absences reported late or not at all).
- Requests arrive at a steady rate so that about `diagnostics_target × scale` diagnostics
  are realised over the period (`diagnostics_per_etp × etp` when the convention has no
  target); they start `lead_days` before the period (requests carried over) and run to the
  period end. Facts after `extract_date` are not written (a later appointment stays
  `en_attente`), so some events fall after a mid-year `as_of`.
- The numbers of `Profile` are realism knobs of the synthetic data, not rules: the rules
  (delays, targets) live in `rules/` and are never read here.
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
    _pick,
    _plus_days,
    _with_hashes,
)

# One stream per kind of draw (distinct from the streams of `engine.generate`).
S_CONV, S_REQUEST, S_DIAG, S_DIAG2, S_DIAG3, S_DIAG4 = 21, 22, 23, 24, 25, 26

PUBLIC_MIX = (("nouvel_entrant", 0.35), ("corde_de_rappel", 0.35), ("decision_opportunite", 0.30))
PROPOSAL_MIX = (
    ("emploi", 0.25),
    ("equilibre", 0.35),
    ("remobilisation_sociale", 0.28),
    ("independants", 0.03),
    ("autre", 0.09),
)


@dataclass(frozen=True)
class Profile:
    """Realism knobs of the synthetic diagnostics (not rules).

    Pairs are `(poor, good)`, interpolated with the convention's quality (0 = poorest,
    1 = best), except `quality_*` (ranges drawn in). Days are calendar days.
    """

    extract_date: date = date(2025, 9, 30)
    #: Rows an extract at this date holds are kept as it writes them; later activity, up to
    #: `extract_date`, is numbered after them (see `engine.synthetic.generate.Profile`).
    kept_until: date | None = None
    diagnostics_per_etp: float = 400.0
    lead_days: int = 30
    poor_share: float = 0.2
    quality_poor: tuple[float, float] = (0.0, 0.3)
    quality_good: tuple[float, float] = (0.8, 1.0)
    volume: tuple[float, float] = (0.80, 1.05)
    p_absent: tuple[float, float] = (0.18, 0.06)
    p_cancelled: tuple[float, float] = (0.05, 0.02)
    opportunity_days: int = 10
    p_late_opportunity: tuple[float, float] = (0.40, 0.04)
    appointment_days: int = 21
    late_extra_days: int = 25
    positioning_days: int = 42
    p_late_positioning: tuple[float, float] = (0.35, 0.04)
    p_never_positioned: tuple[float, float] = (0.08, 0.01)
    p_no_proposal: tuple[float, float] = (0.10, 0.01)
    p_absence_not_reported: tuple[float, float] = (0.30, 0.03)
    p_absence_reported_late: tuple[float, float] = (0.45, 0.05)
    absence_report_days: int = 2
    p_same_beneficiary: float = 0.04
    beneficiary_offset: int = 5_000_000


def _kept(prof: Profile) -> date:
    return min(prof.kept_until or prof.extract_date, prof.extract_date)


def _prepare_conventions(
    conventions: pl.DataFrame, scale: float, seed: int, prof: Profile
) -> pl.DataFrame:
    """Select the accueil conventions; draw their quality and their number of requests."""
    schema = conventions.schema
    target = (
        _as_float("diagnostics_target", schema["diagnostics_target"])
        if "diagnostics_target" in schema
        else pl.lit(None, pl.Float64)
    )
    conv = conventions.filter(pl.col("dispositif").str.strip_chars() == "accueil").select(
        pl.col("convention_id").cast(pl.String).str.strip_chars(),
        _as_float("etp", schema["etp"]).alias("etp"),
        _as_date("period_start", schema["period_start"]).alias("period_start"),
        _as_date("period_end", schema["period_end"]).alias("period_end"),
        target.alias("target"),
    )
    if conv.drop("target").filter(pl.any_horizontal(pl.all().is_null())).height:
        raise ValueError(
            "conventions : convention_id, etp, period_start et period_end doivent être "
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
    period_days = (pl.col("period_end") - pl.col("period_start")).dt.total_days() + 1
    realised_share = 1 - _lerp(prof.p_absent, q) - _lerp(prof.p_cancelled, q)
    per_period = (
        pl.coalesce("target", pl.col("etp") * prof.diagnostics_per_etp)
        * _lerp(prof.volume, (q + pl.col("u_volume")) / 2)
        * scale
        / realised_share
    )
    conv = conv.with_columns(
        request_lo=_plus_days(pl.col("period_start"), -prof.lead_days),
        span=(period_days + prof.lead_days).clip(0),
        per_period=per_period,
        period_days=period_days,
    )
    return conv.with_columns(
        n_cand=(pl.col("per_period") / pl.col("period_days") * pl.col("span"))
        .round()
        .cast(pl.Int64)
        .clip(0)
    ).drop("_h", "u_quality", "u_volume")


def generate(
    conventions: pl.DataFrame,
    *,
    seed: int,
    scale: float = 1.0,
    profile: Profile | None = None,
) -> dict[str, pl.DataFrame]:
    """Return `{"diagnostics": frame}` for the `accueil` lines of `conventions`.

    `conventions` may hold the contract dtypes or text (as read from a CSV). `scale`
    multiplies the volumes (1.0 ≈ the convention's diagnostics target over its period).
    Deterministic: same conventions, seed, scale and profile → same rows.
    """
    if scale < 0:
        raise ValueError(f"l'échelle doit être positive ou nulle (reçu : {scale})")
    prof = profile or Profile()
    extract = pl.lit(prof.extract_date)
    conv = _prepare_conventions(conventions, scale, seed, prof)
    q = pl.col("quality")

    # Requests, at a steady rate over [period_start - lead_days, period_end].
    cand = (
        conv.with_columns(j=pl.int_ranges(0, pl.col("n_cand")))
        .explode("j")
        .filter(pl.col("j").is_not_null())
        .with_row_index("g")
        .with_columns(pl.col("g").cast(pl.Int64))
    )
    cand = _with_hashes(cand, seed, _hr=(pl.col("g"), S_REQUEST))
    hr = pl.col("_hr")
    diag = (
        cand.with_columns(
            request_date=_plus_days(pl.col("request_lo"), _days(_part(hr, 0), pl.col("span"))),
            public=_pick(_part(hr, 1), PUBLIC_MIX),
        )
        .filter(pl.col("request_date") <= extract)
        .with_columns(_later=pl.col("request_date") > pl.lit(_kept(prof)))
        .sort("_later", "k", "request_date", "g")
        .with_row_index("n", offset=1)
        .with_columns(pl.col("n").cast(pl.Int64))
    )
    n = pl.col("n")
    diag = _with_hashes(
        diag, seed, _ha=(n, S_DIAG), _hb=(n, S_DIAG2), _hc=(n, S_DIAG3), _hd=(n, S_DIAG4)
    )
    ha, hb, hc, hd = pl.col("_ha"), pl.col("_hb"), pl.col("_hc"), pl.col("_hd")

    # Appointment: within 10 days for opportunity decisions (a few late), a few weeks else.
    opportunity = pl.col("public") == "decision_opportunite"
    late_opportunity = _part(ha, 0) < _lerp(prof.p_late_opportunity, q)
    delay = (
        pl.when(opportunity & late_opportunity)
        .then(prof.opportunity_days + 1 + _days(_part(ha, 1), prof.late_extra_days))
        .when(opportunity)
        .then(_days(_part(ha, 1), prof.opportunity_days + 1))
        .otherwise(1 + _days(_part(ha, 1), prof.appointment_days))
    )
    diag = diag.with_columns(appointment_date=_plus_days(pl.col("request_date"), delay))
    u_outcome = _part(ha, 2)
    p_absent = _lerp(prof.p_absent, q)
    status = (
        pl.when(pl.col("appointment_date") > extract)
        .then(pl.lit("en_attente"))
        .when(u_outcome < p_absent)
        .then(pl.lit("absent"))
        .when(u_outcome < p_absent + _lerp(prof.p_cancelled, q))
        .then(pl.lit("annule"))
        .otherwise(pl.lit("realise"))
    )
    diag = diag.with_columns(status=status)
    realised = pl.col("status") == "realise"

    # Positioning on an accompaniment after a realised diagnostic (a few late or never).
    late_positioning = _part(ha, 3) < _lerp(prof.p_late_positioning, q)
    positioning_delay = (
        pl.when(late_positioning)
        .then(prof.positioning_days + 1 + _days(_part(hb, 0), prof.late_extra_days))
        .otherwise(1 + _days(_part(hb, 0), prof.positioning_days))
    )
    positioning = _plus_days(pl.col("appointment_date"), positioning_delay)
    never = _part(hb, 1) < _lerp(prof.p_never_positioned, q)
    proposal = pl.when(_part(hb, 3) >= _lerp(prof.p_no_proposal, q)).then(
        _pick(_part(hb, 2), PROPOSAL_MIX)
    )

    # Absences are reported within a couple of days, late, or not at all.
    not_reported = _part(hc, 0) < _lerp(prof.p_absence_not_reported, q)
    late_report = _part(hc, 1) < _lerp(prof.p_absence_reported_late, q)
    report_delay = (
        pl.when(late_report)
        .then(prof.absence_report_days + 1 + _days(_part(hc, 2), 10))
        .otherwise(_days(_part(hc, 2), prof.absence_report_days + 1))
    )
    reported = _plus_days(pl.col("appointment_date"), report_delay)

    # A few beneficiaries come back (an earlier beneficiary number is reused).
    ben = (
        pl.when(_part(hc, 3) < prof.p_same_beneficiary)
        .then((n - 1 - _days(_part(hd, 0), 20)).clip(1))
        .otherwise(n)
    )
    diag = diag.with_columns(
        positioning_date=pl.when(realised & ~never & (positioning <= extract)).then(positioning),
        orientation_proposal=pl.when(realised).then(proposal),
        absence_reported_date=pl.when(
            (pl.col("status") == "absent") & ~not_reported & (reported <= extract)
        ).then(reported),
        diagnostic_id=pl.format("D{}", n.cast(pl.String).str.zfill(6)),
        beneficiary_id=pl.format(
            "B{}", (ben + prof.beneficiary_offset).cast(pl.String).str.zfill(7)
        ),
    )
    return {"diagnostics": _cast(diag, "diagnostics")}
