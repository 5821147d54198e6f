"""What the web application computes, with no HTTP in it: extracts read once, runs cached.

`Service` holds the rules and the extracts of one server. The extracts are read and checked
once, and read again only when a file's content changes (its sha256, as `Extracts.files`
records it); the baseline run of each evaluation date is kept (a few dates, most recent
first). A simulation evaluates only the edited book: the baseline comes from the cache.

Every object handed out is immutable or built per request (the rule book is frozen, a run
is never changed after `evaluate`), so concurrent requests share nothing they could alter;
the decision layer serialises itself (`engine.decisions.backend`).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from engine.compute.pipeline import evaluate
from engine.compute.whatif import WhatIf, compare, edit_effects
from engine.load.extracts import read_extracts
from engine.load.rules import load_rules
from engine.load.variants import Variant, edited_book
from engine.model.extracts import Extracts
from engine.model.results import RunResult
from engine.model.rulebook import RuleBook

#: How many evaluation dates keep their baseline run in memory.
CACHE_SIZE = 6
#: Above this many edits, each edit's own effect (one more evaluation per edit) is not measured.
MAX_EFFECTS = 8


def _sha256(path: Path) -> str | None:
    try:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class Loaded:
    """The extracts as read, the hash of every file they came from, and those files' size and time."""

    extracts: Extracts
    stamp: tuple[tuple[str, str | None], ...]
    stats: tuple[tuple[str, int, int], ...]


class Service:
    """The rules and extracts of one server, and the runs computed from them."""

    def __init__(self, data: Path | str, rules: Path | str | None = None, as_of: date | None = None,
                 reader: Callable[[Path], Extracts] | None = None):
        self.data = Path(data)
        self.book: RuleBook = load_rules(rules)
        self._reader = reader or (lambda path: read_extracts(path))
        self._lock = threading.Lock()
        self._runs: OrderedDict[tuple[str, date], RunResult] = OrderedDict()
        self._run_locks: dict[tuple[str, date], threading.Lock] = {}
        self._loaded = self._load()
        self.default_as_of = as_of or self._default_date(self._loaded.extracts)

    # ----------------------------------------------------------------- extracts

    def _files(self) -> list[Path]:
        if self.data.is_dir():
            return sorted(p for p in self.data.iterdir() if p.is_file())
        return [self.data]

    def _stamp(self) -> tuple[tuple[str, str | None], ...]:
        return tuple((p.name, _sha256(p)) for p in self._files())

    def _stats(self) -> tuple[tuple[str, int, int], ...]:
        found = []
        for p in self._files():
            try:
                info = p.stat()
            except OSError:
                found.append((p.name, -1, -1))
                continue
            found.append((p.name, info.st_size, info.st_mtime_ns))
        return tuple(found)

    def _load(self) -> Loaded:
        stats = self._stats()
        return Loaded(self._reader(self.data), self._stamp(), stats)

    @property
    def extracts(self) -> Extracts:
        """The extracts, read again first when a file's content changed since they were read.

        A file's size and modification time are looked at on every call; only when they
        moved are the files hashed, and the extracts read again only when a hash differs.
        """
        current = self._loaded
        stats = self._stats()
        if stats == current.stats:
            return current.extracts
        with self._lock:
            current = self._loaded
            if stats != current.stats:
                stamp = self._stamp()
                if stamp != current.stamp:
                    self._loaded = Loaded(self._reader(self.data), stamp, stats)
                    self._runs.clear()
                else:
                    self._loaded = Loaded(current.extracts, stamp, stats)
                current = self._loaded
        return current.extracts

    @staticmethod
    def _default_date(extracts: Extracts) -> date:
        """Today, or the latest period end in the data when that is earlier."""
        today = date.today()
        conventions = extracts.tables.get("conventions")
        if conventions is None or conventions.height == 0:
            return today
        latest = conventions["period_end"].max()
        return min(today, latest) if isinstance(latest, date) else today

    # ----------------------------------------------------------------- runs

    def baseline(self, as_of: date) -> RunResult:
        """The run under the rules in force on `as_of` (computed once per date and extracts)."""
        extracts = self.extracts
        key = (extracts.source + ":" + ",".join(sorted(v for v in extracts.files.values())), as_of)
        with self._lock:
            run = self._runs.get(key)
            if run is not None:
                self._runs.move_to_end(key)
                return run
            lock = self._run_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                run = self._runs.get(key)
            if run is None:
                run = evaluate(extracts, self.book, as_of)
                with self._lock:
                    self._runs[key] = run
                    while len(self._runs) > CACHE_SIZE:
                        self._runs.popitem(last=False)
            return run

    def run(self, as_of: date, variant: Variant | None = None) -> RunResult:
        """The baseline run, or the run under the variant's edits (VariantError when refused)."""
        if variant is None or not variant.edits:
            return self.baseline(as_of)
        edited = edited_book(self.book, variant)
        baseline = self.baseline(as_of)
        return evaluate(baseline.extracts, edited, as_of, reuse=baseline)

    def simulate(self, as_of: date, variant: Variant, per_edit: bool = True) -> WhatIf:
        """Compare the cached baseline with the variant's run (VariantError when an edit is refused)."""
        edited = edited_book(self.book, variant)
        baseline = self.baseline(as_of)
        varied = evaluate(baseline.extracts, edited, as_of, reuse=baseline)
        effects = (
            edit_effects(baseline.extracts, self.book, as_of, baseline, varied, edited.edits[len(self.book.edits):])
            if per_edit and len(variant.edits) <= MAX_EFFECTS
            else []
        )
        comparison = compare(baseline, varied, variant, effects)
        return WhatIf(baseline=baseline, variant=varied, comparison=comparison, effects=effects, info=variant)

    def touched(self) -> dict[str, int]:
        """Per convention id: how many rejected rows belong to it.

        A rejected row belongs to the convention it names, or whose episode it names; it is
        read back from the CSV or Parquet file at the rejected line. Best effort: a file read
        through a source profile (other headers) or a workbook is not read back, and its rows
        are not attributed.
        """
        extracts = self.extracts
        rejected = extracts.rejected
        if rejected.height == 0 or not self.data.is_dir():
            return {}
        episodes = extracts.tables.get("episodes")
        owner = (episodes.select("episode_id", "convention_id") if episodes is not None and
                 {"episode_id", "convention_id"} <= set(episodes.columns) else None)
        found: list[pl.DataFrame] = []
        for (file,), rows in rejected.select("file", "line").unique().group_by(["file"]):
            path = self.data / str(file)
            if path.parent != self.data or not path.is_file():
                continue
            try:
                raw = (pl.read_csv(path, infer_schema=False) if path.suffix == ".csv"
                       else pl.read_parquet(path) if path.suffix == ".parquet" else None)
            except Exception:  # noqa: BLE001 - best effort: an unreadable file is reported elsewhere
                continue
            if raw is None:
                continue
            raw = raw.with_row_index("line", offset=2).with_columns(pl.col("line").cast(pl.Int64))
            picked = raw.join(rows.select(pl.col("line").cast(pl.Int64)).unique(), on="line", how="semi")
            if "convention_id" in picked.columns:
                found.append(picked.select(pl.col("convention_id").cast(pl.String)))
            elif "episode_id" in picked.columns and owner is not None:
                found.append(picked.select(pl.col("episode_id").cast(pl.String)).join(owner, on="episode_id")
                             .select("convention_id"))
        if not found:
            return {}
        counts = pl.concat(found).drop_nulls().group_by("convention_id").agg(pl.len().alias("rows"))
        return {str(r["convention_id"]): int(r["rows"]) for r in counts.iter_rows(named=True)}

    def uses(self, as_of: date) -> dict[str, list[dict[str, Any]]]:
        """Per parameter path: the conventions and indicators (or money steps) that read it."""
        run = self.baseline(as_of)
        found: dict[str, list[dict[str, Any]]] = {}
        for c in run.conventions:
            for res in c.indicators.values():
                for path in res.parameters:
                    found.setdefault(path, []).append({"convention_id": c.convention_id, "what": res.id,
                                                       "kind": "indicator"})
            for step in c.trace.money:
                for path in step.parameters:
                    found.setdefault(path, []).append({"convention_id": c.convention_id, "what": step.id,
                                                       "kind": "money"})
            policy = c.trace.computed.get("policy_parameters") or ()
            for path in policy:
                found.setdefault(path, []).append({"convention_id": c.convention_id, "what": "décisions",
                                                   "kind": "policy"})
        return found
