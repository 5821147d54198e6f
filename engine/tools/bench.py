"""Benchmark: `parcours evaluate` against the hand-written DuckDB reference, same files.

`python -m engine.tools.bench [--sizes 200000,2000000] [--runs 3] [--data DIR]`

The yardstick (`shared/bench/`, found beside the repository or with `--yardstick`):
`gen_scale.py` generates `equilibre` extracts at any scale, `perf_ref.py` computes the five
`equilibre` indicators and occupancy in one DuckDB query. For each size:

1. the extract `DIR/d<size>` is generated with `gen_scale.py` (reused when present);
2. the reference and `parcours evaluate DIR --as-of AS_OF --out …` run alternately
   (`--runs` times each), each as a whole process: wall time and peak memory (RSS, from
   `wait4`) are measured, medians and the ratio printed;
3. every numerator and denominator of the five indicators and the occupied days
   (`occupancy`) of `results.json` are checked against the reference's output: a time is
   quoted only for identical figures;
4. the simulation latency, through the function the web application calls
   (`engine.web.service.Service.simulate`): one edit of `first_appointment_max_days`
   cycled over several values, median after the first.

Needs the `bench` extra (numpy for the generator, duckdb for the reference). The older
synthetic-département generation (`prepare`) stays for `engine.tools.web_bench`.
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

from engine.synthetic.generate import Profile, count_episodes

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


REFERENCE_NAMES = {
    "first_appointment_15d": "fa", "contractualisation": "co", "weekly_15h": "wh",
    "exit_12m": "ex", "ceu_quality": "cq",
}


def yardstick_dir(given: Path | None) -> Path | None:
    """The folder of `gen_scale.py` and `perf_ref.py`: `given`, else `shared/bench` beside the repository."""
    candidates = [given] if given else [p / "shared" / "bench" for p in ROOT.parents]
    for folder in candidates:
        if folder is not None and (folder / "perf_ref.py").is_file() and (folder / "gen_scale.py").is_file():
            return folder
    return None


def size_name(episodes: int) -> str:
    """`d200k`, `d2m`: the folder name of an extract of `episodes` episodes."""
    if episodes % 1_000_000 == 0:
        return f"d{episodes // 1_000_000}m"
    if episodes % 1_000 == 0:
        return f"d{episodes // 1_000}k"
    return f"d{episodes}"


def generate_scale(yardstick: Path, folder: Path, episodes: int, log: Path) -> bool:
    """Generate `folder` with gen_scale.py unless its five tables are there; False on failure."""
    tables = ("conventions", "episodes", "appointments", "contracts", "weekly_activity")
    if all((folder / f"{t}.parquet").is_file() for t in tables):
        print(f"[{folder.name}] extrait réutilisé ({folder})")
        return True
    print(f"[{folder.name}] génération de {_int(episodes)} parcours…", flush=True)
    run = run_measured([sys.executable, str(yardstick / "gen_scale.py"), str(folder), str(episodes)], log)
    if run.returncode != 0:
        print(f"[{folder.name}] la génération a échoué :\n{run.stderr[-2000:]}")
        return False
    print(f"[{folder.name}] générée en {run.seconds:.1f} s")
    return True


def reference_figures(text: str) -> dict[str, dict[str, int]]:
    """Per convention, the reference's numerators and denominators (`fa_num`, …, `occ_days`)."""
    figures: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            figures[row["convention_id"]] = {k: int(v) for k, v in row.items()
                                             if k.endswith(("_num", "_den")) or k == "occ_days"}
    return figures


def parcours_figures(results: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The same figures read from a `results.json`."""
    figures: dict[str, dict[str, int]] = {}
    for c in results["conventions"]:
        if c.get("dispositif") != "equilibre":
            continue
        row: dict[str, int] = {}
        for ind, short in REFERENCE_NAMES.items():
            res = c["indicators"].get(ind, {})
            row[f"{short}_num"] = int(res.get("numerator") or 0)
            row[f"{short}_den"] = int(res.get("denominator") or 0)
        occupancy = c["indicators"].get("occupancy", {})
        row["occ_days"] = int(occupancy.get("value_numerator") or 0)
        figures[c["convention_id"]] = row
    return figures


def compare_figures(reference: dict[str, dict[str, int]], ours: dict[str, dict[str, int]]) -> list[str]:
    """The differences (French lines), empty when every figure agrees."""
    problems = []
    for cid in sorted(set(reference) | set(ours)):
        ref, got = reference.get(cid), ours.get(cid)
        if ref is None or got is None:
            problems.append(f"convention {cid} : présente d'un seul côté")
            continue
        for key, value in ref.items():
            if got.get(key) != value:
                problems.append(f"convention {cid} : {key} = {got.get(key)} (référence {value})")
    return problems


def parcours_command(*args: str) -> list[str]:
    """`parcours ARGS…` as a whole process, this repository's code."""
    code = "import sys; from engine.cli import main; sys.argv[0] = 'parcours'; main()"
    return [sys.executable, "-c", code, *args]


def simulation_latency(folder: Path, as_of: date, requests: int) -> dict[str, float]:
    """Seconds per simulation through `Service.simulate` (what the web app's Simulation calls)."""
    from engine.load.variants import variant_from_options
    from engine.web.service import Service

    service = Service(folder, as_of=as_of)
    started = time.perf_counter()
    service.baseline(as_of)
    baseline = time.perf_counter() - started
    values = (5, 8, 10, 12, 20, 25, 30)
    times: list[float] = []
    for i in range(requests + 1):
        variant = variant_from_options([f"equilibre.first_appointment_max_days={values[i % len(values)]}"], None)
        started = time.perf_counter()
        assert variant is not None
        service.simulate(as_of, variant)
        times.append(time.perf_counter() - started)
    return {"baseline": baseline, "first": times[0], "median": statistics.median(times[1:])}


def startup_latency(runs: int) -> dict[str, float]:
    """Median seconds of `parcours --help`, `parcours rules` and `parcours rules --format json`.

    Whole processes, output discarded, the three interleaved.
    """
    base = parcours_command()
    commands = {"--help": ["--help"], "rules": ["rules"], "rules --format json": ["rules", "--format", "json"]}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, args in commands.items():
            started = time.perf_counter()
            subprocess.run(base + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, check=True)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_size(yardstick: Path, folder: Path, runs: int, as_of: str, data_dir: Path) -> dict[str, Any] | None:
    """Interleaved runs of the reference and `parcours evaluate` on `folder`; the figures checked."""
    ref_runs: list[Run] = []
    our_runs: list[Run] = []
    ref_out = ""
    out = data_dir / "out" / folder.name
    for i in range(1, runs + 1):
        ref_cmd = [sys.executable, str(yardstick / "perf_ref.py"), str(folder), as_of]
        log = data_dir / f"{folder.name}.ref-{i}.jsonl"
        with open(log, "wb") as handle:
            start = time.perf_counter()
            proc = subprocess.Popen(ref_cmd, stdout=handle, stderr=subprocess.DEVNULL, cwd=ROOT)
            _, status, usage = os.wait4(proc.pid, 0)
            ref = Run(os.waitstatus_to_exitcode(status), time.perf_counter() - start, usage.ru_maxrss / 1024, "")
        if ref.returncode != 0:
            print(f"[{folder.name}] la référence a échoué (code {ref.returncode}) : duckdb installé ?")
            return None
        ref_out = log.read_text(encoding="utf-8")
        ref_runs.append(ref)
        if out.exists():
            shutil.rmtree(out)
        command = parcours_command("evaluate", str(folder), "--as-of", as_of, "--out", str(out))
        ours = run_measured(command, data_dir / f"{folder.name}.evaluate-{i}.log")
        if ours.returncode != 0:
            print(f"[{folder.name}] `parcours evaluate` a échoué :\n{ours.stderr[-2000:]}")
            return None
        our_runs.append(ours)
        print(f"[{folder.name}] {i}/{runs} : référence {ref.seconds:.2f} s / {ref.peak_rss_mb:.0f} Mo ; "
              f"parcours {ours.seconds:.2f} s / {ours.peak_rss_mb:.0f} Mo", flush=True)
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    problems = compare_figures(reference_figures(ref_out), parcours_figures(results))
    sizes = {f.name: f.stat().st_size for f in sorted(out.iterdir()) if f.is_file()}
    return {
        "pair_ratio": statistics.median(o.seconds / r.seconds for r, o in zip(ref_runs, our_runs, strict=True)),
        "ref_s": statistics.median(r.seconds for r in ref_runs),
        "ref_mb": statistics.median(r.peak_rss_mb for r in ref_runs),
        "our_s": statistics.median(r.seconds for r in our_runs),
        "our_mb": statistics.median(r.peak_rss_mb for r in our_runs),
        "problems": problems, "conventions": len(results["conventions"]), "sizes": sizes,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry: `python -m engine.tools.bench`."""
    parser = argparse.ArgumentParser(
        prog="python -m engine.tools.bench",
        description="Compare `parcours evaluate` à la requête DuckDB de référence, sur les mêmes fichiers.",
    )
    parser.add_argument("--sizes", default="200000,2000000", help="nombres de parcours, séparés par des virgules")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--as-of", default="2025-06-30")
    parser.add_argument("--data", type=Path, default=ROOT / "bench_data")
    parser.add_argument("--yardstick", type=Path, default=None, help="dossier de gen_scale.py et perf_ref.py")
    parser.add_argument("--simulations", type=int, default=5, help="simulations mesurées par taille (0 : aucune)")
    parser.add_argument("--startup", type=int, default=7, help="mesures du démarrage de parcours (0 : aucune)")
    args = parser.parse_args(argv)

    yardstick = yardstick_dir(args.yardstick)
    if yardstick is None:
        print("gen_scale.py et perf_ref.py introuvables (shared/bench) : indiquer --yardstick DOSSIER.")
        return 1
    data_dir: Path = args.data
    data_dir.mkdir(parents=True, exist_ok=True)
    as_of = date.fromisoformat(args.as_of)
    lines: list[str] = []
    subprocess.run([sys.executable, "-m", "compileall", "-q", "engine", "indicators"], cwd=ROOT, check=False)
    if args.startup:
        started = startup_latency(args.startup)
        lines.append("  démarrage (médianes) : " + " ; ".join(f"parcours {k} {v:.2f} s" for k, v in started.items()))
    if args.simulations:
        sim = simulation_latency(SAMPLE, as_of, max(args.simulations, 20))
        lines.append(f"  sample_data : simulation médiane {sim['median'] * 1000:.0f} ms "
                     f"(première {sim['first'] * 1000:.0f} ms)")
    failed = False
    for episodes in (int(s) for s in args.sizes.split(",") if s.strip()):
        folder = data_dir / size_name(episodes)
        if not generate_scale(yardstick, folder, episodes, data_dir / f"{folder.name}.generate.log"):
            failed = True
            continue
        measured = bench_size(yardstick, folder, args.runs, args.as_of, data_dir)
        if measured is None:
            failed = True
            continue
        same = "chiffres identiques" if not measured["problems"] else (
            f"{len(measured['problems'])} ÉCART(S) : " + " ; ".join(measured["problems"][:5]))
        failed = failed or bool(measured["problems"])
        lines.append(
            f"  {folder.name} ({measured['conventions']} conventions) : référence {measured['ref_s']:.2f} s / "
            f"{measured['ref_mb']:.0f} Mo ; parcours {measured['our_s']:.2f} s / {measured['our_mb']:.0f} Mo ; "
            f"rapport {measured['our_s'] / measured['ref_s']:.2f}× en temps, "
            f"{measured['our_mb'] / measured['ref_mb']:.2f}× en mémoire ; {same}"
        )
        lines.append(f"      rapport médian par paire (référence, parcours) : {measured['pair_ratio']:.2f}×")
        lines.append("      fichiers : " + ", ".join(f"{k} {_human(v)}" for k, v in measured["sizes"].items()))
        if args.simulations:
            sim = simulation_latency(folder, as_of, args.simulations)
            lines.append(f"      simulation : médiane {sim['median']:.2f} s (première {sim['first']:.2f} s, "
                         f"évaluation de référence {sim['baseline']:.2f} s)")
    print(f"\nRésumé (médianes de {args.runs} exécutions alternées)")
    for line in lines:
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
