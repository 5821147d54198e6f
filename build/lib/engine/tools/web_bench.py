"""Latency of a simulation request in the web application (median and p95).

`python -m engine.tools.web_bench [DATA] [--as-of AAAA-MM-JJ] [--requests N] [--episodes N]`

The application is built as `parcours serve` builds it (extracts read once, the baseline
of the date computed once) and driven in-process through Starlette's TestClient: each
request is a simulation (`/simulation/comparaison`, as the form sends it on a change)
with one edit, `equilibre.first_appointment_max_days`, cycled over several values so that
no two consecutive requests ask the same thing. Reported: median and 95th percentile of
the wall time per request, after one warm-up request. With `--episodes N` the extract is
first generated at about N episodes (by `engine.tools.bench.prepare`, into `bench_data/`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VALUES = (5, 8, 10, 12, 20, 25, 30)


def measure(data: Path, as_of: date, requests: int = 30) -> dict[str, float]:
    """Time `requests` simulation requests; return seconds (read, baseline, median, p95)."""
    from starlette.testclient import TestClient

    from engine.web.app import create_app
    from engine.web.service import Service

    started = time.perf_counter()
    service = Service(data, as_of=as_of)
    read = time.perf_counter() - started
    started = time.perf_counter()
    service.baseline(as_of)
    baseline = time.perf_counter() - started
    client = TestClient(create_app(service))
    headers = {"HX-Request": "true"}
    path = "/simulation/comparaison?p.equilibre.first_appointment_max_days="
    client.get(path + "9", headers=headers)
    times: list[float] = []
    for i in range(requests):
        started = time.perf_counter()
        response = client.get(path + str(VALUES[i % len(VALUES)]), headers=headers)
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"réponse {response.status_code} inattendue")
    times.sort()
    p95 = times[min(len(times) - 1, max(0, round(0.95 * len(times)) - 1))]
    return {"read": read, "baseline": baseline, "median": statistics.median(times), "p95": p95,
            "requests": float(requests)}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="Latence d'une simulation dans l'application web.")
    parser.add_argument("data", nargs="?", type=Path, default=ROOT / "sample_data")
    parser.add_argument("--as-of", default="2025-06-30")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--episodes", type=int, default=0,
                        help="générer d'abord un extrait d'environ N parcours (bench_data/)")
    args = parser.parse_args(argv)
    data = args.data
    if args.episodes:
        from datetime import date as _date

        from engine.synthetic.generate import Profile, read_conventions
        from engine.tools.bench import SAMPLE, prepare

        name = f"web-{args.episodes}"
        (ROOT / "bench_data").mkdir(exist_ok=True)
        meta = prepare(name, read_conventions(SAMPLE / "conventions.csv"), args.episodes,
                       data_dir=ROOT / "bench_data", fmt="parquet", seed=2025,
                       profile=Profile(extract_date=_date.fromisoformat(args.as_of)), extra=True,
                       regenerate=False)
        if meta is None:
            return 1
        data = ROOT / "bench_data" / name
    figures = measure(data, date.fromisoformat(args.as_of), args.requests)
    print(f"Extraits : {data}")
    print(f"Lecture des extraits : {figures['read']:.2f} s ; référence au {args.as_of} : {figures['baseline']:.2f} s")
    print(f"Simulation ({int(figures['requests'])} requêtes) : médiane {figures['median'] * 1000:.0f} ms,"
          f" p95 {figures['p95'] * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
