"""Benchmark: generate a department-scale and a national-scale extract, then time `evaluate`.

`python -m engine.tools.bench [--national-episodes N]`

1. Department scale: the sample conventions (`sample_data/conventions.csv`, the 15 lines of
   operation 1.2), scaled to about `--dept-episodes` episodes, written as CSV to
   `bench_data/dept/` with the sample budget lines and stated totals.
2. National scale: the 15 lines replicated over `--departements` départements (ids prefixed
   `D001-`…), scaled to about `--national-episodes` episodes, written as parquet to
   `bench_data/national/`. The national extract covers up to `--national-extract-date` with
   the whole weekly history, so that the weekly table is the large one.
3. `parcours evaluate DIR --as-of AS_OF --out …` runs `--dept-runs` / `--national-runs` times
   on each; wall time and peak memory (RSS) of each run are measured and their medians
   printed. If the command fails (it may not exist yet), the evaluation is skipped with a
   message and the generation figures are still reported.

Generation runs in a subprocess too (`python -m engine.synthetic.generate`), so its time and peak
memory are measured the same way. `bench_data/` is git-ignored; an extract already generated
with the same parameters is reused unless `--regenerate` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from engine.synthetic.generate import Profile, count_episodes, read_conventions

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
EXTRA_TABLES = ("budget_lines.csv", "stated_totals.csv")


@dataclass
class Run:
    """One measured subprocess."""

    returncode: int
    seconds: float
    peak_rss_mb: float
    stderr: str


def run_measured(cmd: list[str], log: Path) -> Run:
    """Run `cmd`, return its wall time and peak RSS (from `wait4`, this child only)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        returncode=proc.returncode,
        seconds=seconds,
        peak_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        stderr=log.read_text(encoding="utf-8", errors="replace"),
    )


def national_conventions(base: pl.DataFrame, departements: int) -> pl.DataFrame:
    """Replicate the conventions over `departements` synthetic départements."""
    frames = []
    for d in range(1, departements + 1):
        prefix = f"D{d:03d}"
        frames.append(
            base.with_columns(
                convention_id=pl.lit(f"{prefix}-") + pl.col("convention_id"),
                territory=pl.lit(f"{prefix} ") + pl.col("territory"),
            )
        )
    return pl.concat(frames)


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


def _human(n: float) -> str:
    for unit in ("o", "Ko", "Mo", "Go"):
        if n < 1024:
            return f"{n:,.1f} {unit}".replace(",", " ")
        n /= 1024
    return f"{n:,.1f} To".replace(",", " ")


def _int(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def prepare(
    name: str,
    conventions: pl.DataFrame,
    target_episodes: int,
    *,
    data_dir: Path,
    fmt: str,
    seed: int,
    profile: Profile,
    extra: bool,
    regenerate: bool,
) -> dict[str, Any] | None:
    """Generate one extract folder (or reuse it); return what was measured."""
    folder = data_dir / name
    per_unit = count_episodes(conventions, seed=seed, scale=1.0, profile=profile)
    scale = target_episodes / per_unit if per_unit else 0.0
    params = {
        "target_episodes": target_episodes,
        "conventions": conventions.height,
        "scale": round(scale, 6),
        "seed": seed,
        "format": fmt,
        "extract_date": profile.extract_date.isoformat(),
        "weekly_history_days": profile.weekly_history_days,
    }
    meta_path = data_dir / f"{name}.json"
    if not regenerate and meta_path.exists() and folder.is_dir():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("params") == params:
            print(f"[{name}] extrait déjà généré avec ces paramètres : réutilisé ({folder})")
            meta["reused"] = True
            return meta
    free = shutil.disk_usage(data_dir).free
    needed = target_episodes * 2_500  # generous: ~1 Ko per episode in parquet, more in CSV
    if free < needed:
        print(
            f"[{name}] espace disque insuffisant ({_human(free)} libres, "
            f"~{_human(needed)} nécessaires) : génération ignorée"
        )
        return None
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    conventions.write_csv(folder / "conventions.csv")
    if extra:
        for file in EXTRA_TABLES:
            shutil.copy(SAMPLE / file, folder / file)
    report = data_dir / f"{name}.counts.json"
    print(
        f"[{name}] génération : {conventions.height} conventions, échelle {scale:.3f}, "
        f"~{_int(target_episodes)} parcours visés, format {fmt}…",
        flush=True,
    )
    run = run_measured(
        [
            sys.executable,
            "-m",
            "engine.synthetic.generate",
            "--conventions",
            str(folder / "conventions.csv"),
            "--out",
            str(folder),
            "--scale",
            repr(scale),
            "--seed",
            str(seed),
            "--format",
            fmt,
            "--extract-date",
            profile.extract_date.isoformat(),
            "--weekly-history-days",
            str(profile.weekly_history_days),
            "--report",
            str(report),
        ],
        data_dir / f"{name}.generate.log",
    )
    if run.returncode != 0:
        print(f"[{name}] la génération a échoué (code {run.returncode}) :\n{run.stderr[-2000:]}")
        return None
    counts = json.loads(report.read_text(encoding="utf-8"))
    files = {f.name: f.stat().st_size for f in sorted(folder.iterdir()) if f.is_file()}
    meta = {
        "params": params,
        "generation_seconds": round(run.seconds, 2),
        "generation_peak_rss_mb": round(run.peak_rss_mb, 1),
        "rows": counts,
        "files": files,
        "total_bytes": _size(folder),
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    meta["reused"] = False
    return meta


def print_generation(name: str, meta: dict[str, Any]) -> None:
    """Print the generation figures of one extract."""
    rows = meta["rows"]
    files = meta["files"]
    assert isinstance(rows, dict) and isinstance(files, dict)
    print(
        f"[{name}] génération : {meta['generation_seconds']} s, "
        f"mémoire max {meta['generation_peak_rss_mb']} Mo"
        + (" (mesure d'une génération précédente)" if meta.get("reused") else "")
    )
    for table, count in rows.items():
        size = next((v for k, v in files.items() if k.startswith(f"{table}.")), 0)
        print(f"    {table:<16} {_int(count):>14} lignes  {_human(size):>10}")
    print(f"    {'total':<16} {'':>14}         {_human(float(meta['total_bytes'])):>10}")


def evaluate(name: str, folder: Path, runs: int, *, data_dir: Path, as_of: str) -> list[Run] | None:
    """Run `parcours evaluate` `runs` times on `folder`; None when the command fails."""
    parcours = ROOT / ".venv" / "bin" / "parcours"
    exe = str(parcours) if parcours.exists() else (shutil.which("parcours") or "parcours")
    results: list[Run] = []
    for i in range(1, runs + 1):
        out = data_dir / "out" / f"{name}-{i}"
        if out.exists():
            shutil.rmtree(out)
        cmd = [exe, "evaluate", str(folder), "--as-of", as_of, "--out", str(out)]
        try:
            run = run_measured(cmd, data_dir / f"{name}.evaluate-{i}.log")
        except OSError as exc:
            print(f"[{name}] évaluation ignorée : impossible de lancer `parcours` ({exc})")
            return None
        if run.returncode != 0:
            last = [line for line in run.stderr.strip().splitlines() if line.strip()]
            reason = last[-1] if last else "aucun message"
            print(
                f"[{name}] évaluation ignorée : `parcours evaluate` a échoué "
                f"(code {run.returncode}, après {run.seconds:.2f} s, "
                f"{run.peak_rss_mb:.0f} Mo) : {reason}"
            )
            return None
        print(f"[{name}] évaluation {i}/{runs} : {run.seconds:.2f} s, {run.peak_rss_mb:.0f} Mo")
        results.append(run)
    return results


def print_evaluation(name: str, runs: list[Run]) -> None:
    """Print the medians of the evaluation runs."""
    seconds = statistics.median(r.seconds for r in runs)
    rss = statistics.median(r.peak_rss_mb for r in runs)
    print(
        f"  {name}: évaluation : médiane {seconds:.2f} s, mémoire max médiane {rss:.0f} Mo "
        f"({len(runs)} exécution(s))"
    )


def main(argv: list[str] | None = None) -> int:
    """Command line entry: `python -m engine.tools.bench`."""
    parser = argparse.ArgumentParser(
        prog="python -m engine.tools.bench",
        description="Mesure la génération et l'évaluation à l'échelle départementale et nationale.",
    )
    parser.add_argument("--dept-episodes", type=int, default=3_000)
    parser.add_argument("--national-episodes", type=int, default=2_000_000)
    parser.add_argument("--departements", type=int, default=101)
    parser.add_argument("--dept-runs", type=int, default=3)
    parser.add_argument("--national-runs", type=int, default=1)
    parser.add_argument("--as-of", default="2025-06-30")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--data", type=Path, default=ROOT / "bench_data")
    parser.add_argument("--national-extract-date", default="2025-12-31")
    parser.add_argument("--skip-national", action="store_true")
    parser.add_argument("--skip-evaluate", action="store_true")
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args(argv)

    data_dir: Path = args.data
    data_dir.mkdir(parents=True, exist_ok=True)
    base = read_conventions(SAMPLE / "conventions.csv")

    plans = [("dept", base, args.dept_episodes, "csv", Profile(), True, args.dept_runs)]
    if not args.skip_national and args.national_episodes > 0:
        national_profile = Profile(
            extract_date=date.fromisoformat(args.national_extract_date),
            weekly_history_days=Profile().history_days + 31,
        )
        plans.append(
            (
                "national",
                national_conventions(base, args.departements),
                args.national_episodes,
                "parquet",
                national_profile,
                False,
                args.national_runs,
            )
        )

    summary: list[tuple[str, dict[str, Any], list[Run] | None]] = []
    for name, conventions, target, fmt, profile, extra, runs in plans:
        meta = prepare(
            name,
            conventions,
            target,
            data_dir=data_dir,
            fmt=fmt,
            seed=args.seed,
            profile=profile,
            extra=extra,
            regenerate=args.regenerate,
        )
        if meta is None:
            continue
        print_generation(name, meta)
        results = None
        if not args.skip_evaluate and runs > 0:
            results = evaluate(name, data_dir / name, runs, data_dir=data_dir, as_of=args.as_of)
        summary.append((name, meta, results))

    print("\nRésumé")
    for name, meta, results in summary:
        rows = meta["rows"]
        assert isinstance(rows, dict)
        print(
            f"  {name}: {_int(rows['episodes'])} parcours, "
            f"{_int(rows['weekly_activity'])} semaines ; génération "
            f"{meta['generation_seconds']} s / {meta['generation_peak_rss_mb']} Mo"
        )
        if results:
            print_evaluation(name, results)
        else:
            print(f"  {name}: évaluation non mesurée")
    print(f"Espace libre : {_human(shutil.disk_usage(data_dir).free)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
