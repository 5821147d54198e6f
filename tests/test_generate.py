"""The synthetic generator: determinism, contract compliance, and the shipped sample data."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from engine.model import contract
from engine.model.contract import TABLES
from engine.synthetic.generate import (
    EARLY_EXIT_REASONS,
    GENERATED_TABLES,
    LATE_EXIT_REASONS,
    SAMPLE_PROFILE,
    STALLED_EXIT_REASONS,
    Profile,
    count_episodes,
    generate,
    read_conventions,
)

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
SMALL_SCALE = 0.25


def _read(folder: Path, table: str, fmt: str = "csv") -> pl.DataFrame:
    """Read a generated file with the contract's dtypes."""
    path = folder / f"{table}.{fmt}"
    if fmt == "parquet":
        return pl.read_parquet(path)
    return pl.read_csv(path, schema=TABLES[table].schema)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def registry() -> pl.DataFrame:
    """The whole shipped registry (every Annexe 4 line)."""
    return read_conventions(SAMPLE / "conventions.csv")


@pytest.fixture(scope="module")
def conventions(registry: pl.DataFrame) -> pl.DataFrame:
    """The equilibre lines, which this generator draws activity for."""
    return registry.filter(pl.col("dispositif") == "equilibre")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, conventions: pl.DataFrame) -> Path:
    out = tmp_path_factory.mktemp("small")
    generate(conventions, out, seed=7, scale=SMALL_SCALE)
    return out


@pytest.fixture(scope="module")
def frames(small: Path) -> dict[str, pl.DataFrame]:
    return {t: _read(small, t) for t in GENERATED_TABLES}


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes(tmp_path: Path, conventions: pl.DataFrame, small: Path) -> None:
    counts = generate(conventions, tmp_path, seed=7, scale=SMALL_SCALE)
    assert _digest(tmp_path) == _digest(small)
    assert counts == {t: _read(small, t).height for t in GENERATED_TABLES}


def test_chunking_does_not_change_the_output(
    tmp_path: Path, conventions: pl.DataFrame, small: Path
) -> None:
    generate(conventions, tmp_path, seed=7, scale=SMALL_SCALE, profile=Profile(chunk_episodes=97))
    assert _digest(tmp_path) == _digest(small)


def test_another_seed_other_data(tmp_path: Path, conventions: pl.DataFrame, small: Path) -> None:
    generate(conventions, tmp_path, seed=8, scale=SMALL_SCALE)
    assert _read(tmp_path, "episodes")["orientation_date"].to_list() != (
        _read(small, "episodes")["orientation_date"].to_list()
    )


def test_parquet_has_the_same_frames_as_csv(
    tmp_path: Path, conventions: pl.DataFrame, frames: dict[str, pl.DataFrame]
) -> None:
    generate(conventions, tmp_path, seed=7, scale=SMALL_SCALE, fmt="parquet")
    for table in GENERATED_TABLES:
        parquet = _read(tmp_path, table, "parquet")
        assert parquet.schema == pl.Schema(TABLES[table].schema), table
        assert parquet.equals(frames[table]), table


def test_count_episodes_matches_generate(
    conventions: pl.DataFrame, frames: dict[str, pl.DataFrame]
) -> None:
    assert count_episodes(conventions, seed=7, scale=SMALL_SCALE) == frames["episodes"].height


def test_scale_zero_writes_empty_tables_with_headers(
    tmp_path: Path, conventions: pl.DataFrame
) -> None:
    counts = generate(conventions, tmp_path, scale=0.0)
    assert counts == dict.fromkeys(GENERATED_TABLES, 0)
    for table in GENERATED_TABLES:
        assert _read(tmp_path, table).columns == list(TABLES[table].schema)


def test_only_equilibre_lines_get_activity(tmp_path: Path, conventions: pl.DataFrame) -> None:
    other = conventions.with_columns(
        dispositif=pl.when(pl.col("convention_id") == "EQ-PBI-PF")
        .then(pl.lit("accueil"))
        .otherwise(pl.col("dispositif"))
    )
    generate(other, tmp_path, scale=SMALL_SCALE)
    assert "EQ-PBI-PF" not in _read(tmp_path, "episodes")["convention_id"].to_list()


def test_bad_format_is_refused(tmp_path: Path, conventions: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="format inconnu"):
        generate(conventions, tmp_path, fmt="xlsx")


# --------------------------------------------------------------------------- the contract


def _contract_problems(table: str, frame: pl.DataFrame, known: dict[str, set[str]]) -> list[str]:
    """Check one frame against engine.contract: columns, dtypes, codes, bounds, keys, checks."""
    spec = TABLES[table]
    problems = []
    if frame.schema != pl.Schema(spec.schema):
        problems.append(f"schema {frame.schema} != {spec.schema}")
        return problems
    for col in spec.columns:
        s = frame[col.name]
        if col.required and s.null_count():
            problems.append(f"{col.name}: {s.null_count()} missing")
        if col.codes:
            bad = set(s.drop_nulls().unique().to_list()) - set(col.codes)
            if bad:
                problems.append(f"{col.name}: codes {bad}")
        if col.min is not None and (s < col.min).any():
            problems.append(f"{col.name}: below {col.min}")
        if col.max is not None and (s > col.max).any():
            problems.append(f"{col.name}: above {col.max}")
        if getattr(col, "weekday", None) is not None and (s.dt.weekday() != col.weekday).any():
            problems.append(f"{col.name}: not weekday {col.weekday}")
        if col.unique and s.n_unique() != frame.height:
            problems.append(f"{col.name}: not unique")
    if spec.key and frame.select(spec.key).is_duplicated().any():
        problems.append(f"key {spec.key} duplicated")
    for column, (parent, _) in spec.parents.items():
        if parent in known:
            unknown = set(frame[column].unique().to_list()) - known[parent]
            if unknown:
                problems.append(f"{column}: {len(unknown)} unknown in {parent}")
    # Row checks (`Before`, `RequiredWhen`) where the contract declares them.
    before = getattr(contract, "Before", type(None))
    required_when = getattr(contract, "RequiredWhen", type(None))
    for check in getattr(spec, "checks", ()):
        if isinstance(check, before):
            bad_rows = frame.filter(pl.col(check.later) < pl.col(check.earlier)).height
            if bad_rows:
                problems.append(f"{check.later} < {check.earlier} on {bad_rows} rows")
        elif isinstance(check, required_when):
            cond = pl.col(check.when).is_not_null()
            if check.equals is not None:
                cond = pl.col(check.when) == check.equals
            if frame.filter(cond & pl.col(check.column).is_null()).height:
                problems.append(f"{check.column} missing when {check.when}")
    return problems


@pytest.mark.parametrize("table", GENERATED_TABLES)
def test_tables_follow_the_contract(
    table: str, frames: dict[str, pl.DataFrame], conventions: pl.DataFrame
) -> None:
    known = {
        "conventions": set(conventions["convention_id"].to_list()),
        "episodes": set(frames["episodes"]["episode_id"].to_list()),
    }
    assert _contract_problems(table, frames[table], known) == []


def test_contract_invariants_spelled_out(frames: dict[str, pl.DataFrame]) -> None:
    ep, weeks, contracts = frames["episodes"], frames["weekly_activity"], frames["contracts"]
    assert (ep["exit_date"].is_null() | (ep["exit_date"] >= ep["orientation_date"])).all()
    assert (ep["exit_date"].is_null() == ep["exit_reason"].is_null()).all()
    assert (weeks["week_start"].dt.weekday() == 1).all()
    assert weeks["hours"].is_between(0, 168).all()
    assert (contracts["end_date"] >= contracts["start_date"]).all()
    assert contracts["weekly_hours_target"].drop_nulls().is_between(0, 168).all()
    assert ep["beneficiary_id"].str.contains(r"^B\d{7,}$").all()
    assert ep["episode_id"].str.contains(r"^E\d{7,}$").all()


# --------------------------------------------------------------------------- realism


def test_every_exit_reason_and_code_appears(frames: dict[str, pl.DataFrame]) -> None:
    reasons = {
        r
        for choices in (EARLY_EXIT_REASONS, LATE_EXIT_REASONS, STALLED_EXIT_REASONS)
        for r, _ in choices
    }
    assert reasons == set(TABLES["episodes"].column("exit_reason").codes)
    assert set(frames["episodes"]["exit_reason"].drop_nulls().unique()) == reasons
    appts = frames["appointments"]
    assert set(appts["mode"].unique()) == set(TABLES["appointments"].column("mode").codes)
    assert set(appts["status"].unique()) == set(TABLES["appointments"].column("status").codes)
    assert {"accueil", "suivi", "bilan_final"} <= set(appts["purpose"].drop_nulls().unique())
    assert set(frames["contracts"]["kind"].unique()) == {"initial", "renouvellement"}


def test_demo_features_are_present(frames: dict[str, pl.DataFrame]) -> None:
    ep, weeks = frames["episodes"], frames["weekly_activity"]
    as_of = date(2025, 6, 30)
    # carried over from 2024, with some reaching their 12-month mark in the first half of 2025
    assert (ep["orientation_date"] < date(2025, 1, 1)).sum() > 0
    assert ep["orientation_date"].is_between(date(2024, 1, 1), date(2024, 6, 30)).any()
    assert ep["exit_date"].is_null().any()
    assert (ep["exit_date"] > as_of).any()
    assert (frames["appointments"]["date"] > as_of).any()
    assert (weeks["week_start"] > as_of).any()
    assert weeks["exempt"].any()
    assert (weeks.filter(~pl.col("exempt"))["hours"] < 15).any()
    assert frames["contracts"]["weekly_hours_target"].is_not_null().any()
    # missing weekly rows: some contracted episode has a gap between its weeks
    gaps = weeks.sort("episode_id", "week_start").select(
        gap=pl.col("week_start").diff().over("episode_id").dt.total_days()
    )
    assert (gaps["gap"] > 7).any()
    # first appointments: mostly within 15 days, some later
    first = (
        frames["appointments"]
        .filter(
            pl.col("purpose") == "accueil",
            pl.col("status") == "honore",
            pl.col("mode") == "physique",
        )
        .join(ep, on="episode_id")
        .filter(pl.col("date") >= pl.col("orientation_date"))
        .group_by("episode_id")
        .agg(delay=(pl.col("date") - pl.col("orientation_date")).dt.total_days().min())
    )
    assert (first["delay"] <= 15).mean() > 0.7
    assert (first["delay"] > 15).any()


def test_a_few_poor_conventions(frames: dict[str, pl.DataFrame]) -> None:
    """Quality differs: the worst convention signs far fewer contracts than the best."""
    ep, contracts = frames["episodes"], frames["contracts"]
    signed = ep.join(
        contracts.select("episode_id").unique().with_columns(signed=pl.lit(True)),
        on="episode_id",
        how="left",
    ).with_columns(pl.col("signed").fill_null(False))
    rates = signed.group_by("convention_id").agg(pl.col("signed").mean())["signed"]
    assert rates.max() - rates.min() > 0.2


def test_portfolio_follows_etp(conventions: pl.DataFrame, tmp_path: Path) -> None:
    """At scale 1 about 55-70 episodes per ETP are active on 1 January 2025 (occupancy aside)."""
    generate(conventions, tmp_path, scale=1.0)
    ep = _read(tmp_path, "episodes")
    day = date(2025, 1, 1)
    active = ep.filter(
        pl.col("orientation_date") <= day,
        pl.col("exit_date").is_null() | (pl.col("exit_date") >= day),
    ).height
    etp = conventions["etp"].cast(pl.Float64).sum()
    assert 40 * etp <= active <= 75 * etp


# --------------------------------------------------------------------------- sample_data


def test_sample_files_are_readable_and_consistent(registry: pl.DataFrame) -> None:
    conventions = registry
    ids = set(conventions["convention_id"].to_list())
    assert len(ids) == conventions.height
    ep = _read(SAMPLE, "episodes")
    with_episodes = set(
        conventions.filter(pl.col("dispositif").is_in(["equilibre", "independants"]))["convention_id"]
    )
    assert set(ep["convention_id"].unique()) == with_episodes
    episodes = set(ep["episode_id"].to_list())
    for table in ("appointments", "contracts", "weekly_activity"):
        assert set(_read(SAMPLE, table)["episode_id"].unique()) <= episodes, table
    budget = pl.read_csv(SAMPLE / "budget_lines.csv")
    assert set(conventions["budget_line"].unique()) <= set(budget["budget_line"])
    totals = pl.read_csv(SAMPLE / "stated_totals.csv", schema_overrides={"key": pl.String})
    assert set(totals["scope"]) <= set(TABLES["stated_totals"].column("scope").codes)
    assert set(conventions["operation"].unique()) <= set(
        totals.filter(pl.col("scope") == "operation")["key"]
    )


def test_sample_conventions_transcribe_annexe_4(conventions: pl.DataFrame) -> None:
    """Operation 2 of Annexe 4: 567 150 € and 2 706 places over 15 lines (L158, L216-232)."""
    assert conventions.height == 15
    typed = conventions.with_columns(
        pl.col("amount_eur", "paid_eur", "etp").cast(pl.Float64),
        pl.col("places_max").cast(pl.Int64),
    )
    assert typed["amount_eur"].sum() == pytest.approx(567_150)
    assert typed["places_max"].sum() == 2_706
    assert (typed.filter(pl.col("funding") == "valorisation")["amount_eur"] == 0).all()
    assert typed["paid_eur"].to_list() == [a / 2 for a in typed["amount_eur"].to_list()]
    assert conventions.filter(pl.col("start_up") == "true")["convention_id"].to_list() == [
        "EQ-TOUSPARRAINS-PF"
    ]
    assert typed.filter(pl.col("convention_id") == "EQ-MEMPA-PLE")["period_end"].to_list() == [
        "2025-06-30"
    ]


def test_sample_data_is_the_seeded_demo(tmp_path: Path, registry: pl.DataFrame) -> None:
    """sample_data/ holds exactly `generate(registry, seed=2025, scale=1.0, profile=SAMPLE_PROFILE)` as CSV."""
    written = generate(registry, tmp_path, seed=2025, scale=1.0, profile=SAMPLE_PROFILE)
    assert set(GENERATED_TABLES) < set(written)
    for table in written:
        name = f"{table}.csv"
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name


#: Columns an extract leaves empty (or pending) while the fact is after its date.
CENSORED = {
    "episodes": {"exit_date", "exit_reason"},
    "diagnostics": {"status", "positioning_date", "orientation_proposal", "absence_reported_date"},
    "phases": {"profit_after", "business_closed", "resumed_insertion", "left_rsa"},
}


def test_a_longer_extract_keeps_every_row_of_the_shorter(tmp_path: Path, registry: pl.DataFrame) -> None:
    """The whole year keeps every row of the extract at 2025-09-30 (same ids, same values).

    Only what that extract could not know yet is filled in: an exit, a positioning, an
    outcome dated after 2025-09-30. Everything later is added after the kept rows.
    """
    short = tmp_path / "short"
    whole = tmp_path / "whole"
    generate(registry, short, seed=2025, scale=1.0)
    generate(registry, whole, seed=2025, scale=1.0, profile=SAMPLE_PROFILE)
    cut = date(2025, 9, 30)
    for path in sorted(short.glob("*.csv")):
        before = pl.read_csv(path, infer_schema=False)
        after = pl.read_csv(whole / path.name, infer_schema=False)
        assert after.height >= before.height, path.name
        censored = CENSORED.get(path.stem, set())
        same = [c for c in before.columns if c not in censored]
        kept = before.join(after, on=same, how="semi", nulls_equal=True)
        assert kept.height == before.height, path.name
        key = before.columns[0]
        for column in censored & set(before.columns):
            moved = before.join(after, on=key, suffix="_after").filter(
                pl.col(column).ne_missing(pl.col(f"{column}_after")))
            if column.endswith("_date"):  # only dates the shorter extract could not know
                assert moved[column].is_null().all(), (path.name, column)
                assert (moved[f"{column}_after"].str.to_date() > cut).all(), (path.name, column)
        if path.stem in ("contracts", "weekly_activity"):  # kept rows first, in order
            assert after.head(before.height).equals(before), path.name


def test_sample_data_stays_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLE.iterdir() if p.is_file())
    assert total < 8 * 1024 * 1024
