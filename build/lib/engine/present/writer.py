"""The one writer: every file a run produces is written here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from engine.compute.whatif import WhatIf
from engine.load.extracts import READ_ORDER
from engine.model.extracts import Extracts
from engine.model.results import RunResult
from engine.present.results_json import results_json


def write_json(document: dict[str, Any], path: Path) -> Path:
    """Write a JSON document as UTF-8, indented, French text kept readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def write_run(run: RunResult, out_dir: Path, *, reports: bool = True) -> list[Path]:
    """Write `results.json`, `rejected/`, `report.xlsx` and `report.html` into `out_dir`."""
    from engine.present.page import write_html
    from engine.present.workbook import params_table, write_workbook

    out_dir.mkdir(parents=True, exist_ok=True)
    results = results_json(run)
    written = [write_json(results, out_dir / "results.json")]
    written.extend(write_rejected(run.extracts, out_dir))
    if reports:
        params = params_table(run.book, run.as_of)
        written.append(write_workbook(results, out_dir / "report.xlsx", params=params, rejected=run.extracts.rejected))
        written.append(write_html(results, out_dir / "report.html", params=params))
    return written


def write_rejected(extracts: Extracts, out_dir: Path) -> list[Path]:
    """Write `out_dir/rejected/<table>.csv` (UTF-8, `,`) for each table with problems.

    Columns as `Extracts.rejected`. A stale file of a previous run for a table without
    problems is removed. Returns the paths written.
    """
    folder = Path(out_dir) / "rejected"
    written: list[Path] = []
    for name in READ_ORDER:
        path = folder / f"{name}.csv"
        part = extracts.rejected.filter(pl.col("table") == name)
        if part.height == 0:
            if path.is_file():
                path.unlink()
            continue
        folder.mkdir(parents=True, exist_ok=True)
        part.write_csv(path)
        written.append(path)
    return written


def write_whatif(result: WhatIf, out_dir: Path, *, reports: bool = True) -> list[Path]:
    """Write `baseline/`, `variant/` (each a full run folder) and `comparison.json`.

    With `reports`, also `report.xlsx` and `report.html` side by side in `out_dir`: the
    baseline's figures with the « Comparaison » sheet / section (outputs.md).
    """
    from engine.present.results_json import results_json
    from engine.present.writer import write_json, write_run

    out_dir.mkdir(parents=True, exist_ok=True)
    written = write_run(result.baseline, out_dir / "baseline", reports=reports)
    written += write_run(result.variant, out_dir / "variant", reports=reports)
    written.append(write_json(result.comparison, out_dir / "comparison.json"))
    if reports:
        from engine.present.page import write_html
        from engine.present.workbook import params_table, write_workbook

        base, varied = results_json(result.baseline), results_json(result.variant)
        params = params_table(result.variant.book, result.variant.as_of)
        written.append(
            write_workbook(
                base,
                out_dir / "report.xlsx",
                params=params,
                rejected=result.baseline.extracts.rejected,
                comparison=result.comparison,
                variant=varied,
            )
        )
        written.append(
            write_html(
                base,
                out_dir / "report.html",
                params=params,
                comparison=result.comparison,
                variant=varied,
            )
        )
    return written


