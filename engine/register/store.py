"""Recording runs and payments in the register, reading them back.

Every write is one transaction: a run is recorded whole or not at all (a process killed
half-way leaves the register as it was). A label names one current run; recording it again
needs `replace=True`, which marks the old run superseded (nothing is ever deleted).
"""

from __future__ import annotations

import getpass
import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from engine.load.rules import PaymentSchedule
from engine.model.money import euros
from engine.model.results import RunResult
from engine.present.results_json import results_json
from engine.register.db import (
    RegisterError,
    payments,
    run_conventions,
    run_files,
    run_indicators,
    run_rejected,
    run_tables,
    runs,
    writing,
)
from engine.register.payments import next_instalment, schedule_for

CURRENT, SUPERSEDED = "current", "superseded"


def who() -> str:
    """The OS user recording (the application passes its login instead)."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in a bare container
        return "inconnu"


def _cents(value: Decimal | str) -> int:
    return int((Decimal(value) * 100).to_integral_value())


def _euros(cents: int | None) -> str | None:
    return None if cents is None else str((Decimal(cents) / 100).quantize(Decimal("0.01")))


def _plain(value: Any) -> Any:
    """An edit's value as JSON that `apply_edits` reads back exactly."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _checkpoint(stage: str) -> None:
    """A no-op between the steps of a recording (tests pause here to kill the process)."""


def rules_files(root: Path) -> list[tuple[str, str, str]]:
    """(relative name, sha256, text) of every rules file, as `load_rules` hashes them."""
    out = []
    for file in sorted(p for p in root.rglob("*.yaml") if p.is_file()):
        data = file.read_bytes()
        out.append((str(file.relative_to(root)), hashlib.sha256(data).hexdigest(), data.decode("utf-8")))
    return out


def _translate(error: sa.exc.DBAPIError, label: str | None = None) -> RegisterError:
    text = str(error.orig).lower()
    if isinstance(error, sa.exc.IntegrityError) and label is not None:
        return RegisterError(
            f"Une évaluation « {label} » vient d'être enregistrée par un autre processus :"
            " rien n'a été enregistré ; relancer avec --replace pour la remplacer."
        )
    if "locked" in text or "busy" in text or "could not serialize" in text or "deadlock" in text:
        return RegisterError(
            "Le registre est occupé par un autre enregistrement depuis plus de 30 secondes :"
            " rien n'a été enregistré ; réessayer dans un instant."
        )
    return RegisterError(f"Le registre a refusé l'écriture, rien n'a été enregistré : {error.orig}")


def label_taken(engine: Engine, label: str) -> int | None:
    """The id of the current run with this label, if any."""
    with engine.connect() as conn:
        return conn.execute(sa.select(runs.c.id).where(runs.c.label == label, runs.c.status == CURRENT)).scalar()


def paid_from_register(engine: Engine, as_of: date) -> dict[str, tuple[Decimal, int]]:
    """Per convention that has payments in the register: (sum paid up to `as_of`, count)."""
    upto = sa.case((payments.c.paid_on <= as_of, payments.c.amount_cents), else_=0)
    count = sa.case((payments.c.paid_on <= as_of, 1), else_=0)
    query = sa.select(payments.c.convention_id, sa.func.sum(upto), sa.func.sum(count)).group_by(
        payments.c.convention_id
    )
    with engine.connect() as conn:
        return {cid: (Decimal(int(total or 0)) / 100, int(n or 0)) for cid, total, n in conn.execute(query)}


def record_run(
    engine: Engine,
    run: RunResult,
    label: str,
    *,
    replace: bool = False,
    user: str | None = None,
    paid_origin: Mapping[str, str] | None = None,
    payments_count: Mapping[str, int] | None = None,
    schedules: Mapping[str, list[PaymentSchedule]] | None = None,
) -> int:
    """Record `run` under `label` in one transaction; its id. RegisterError (French) when refused.

    `paid_origin`: per convention, « registre » when its `paid` came from recorded payments
    (the others: « extrait »). The manifest keeps the rules files themselves, the input
    hashes, the version and the edits, so that `verify` can re-run it.
    """
    paid_origin = paid_origin or {}
    payments_count = payments_count or {}
    doc = results_json(run)
    files = rules_files(Path(run.book.root))
    from_register = {
        c.convention_id: euros(c.paid) for c in run.conventions if paid_origin.get(c.convention_id) == "registre"
    }
    manifest = {
        "rules_sha256": run.book.sha256,
        "rules_root": str(run.book.root),
        "inputs_sha256": dict(run.extracts.files),
        "version": doc["run"]["version"],
        "source": run.extracts.source,
        "edits": [
            {
                "path": e.path,
                "value": _plain(e.value),
                "from": e.from_date.isoformat() if e.from_date else None,
                "origin": e.origin,
            }
            for e in run.book.edits
        ],
        "paid_from_register": from_register,
    }
    by_id = {c.convention_id: c for c in run.conventions}
    rows = []
    indicator_rows = []
    for cj in doc["conventions"]:
        c = by_id[cj["convention_id"]]
        schedule = schedule_for(schedules or {}, c.attrs["dispositif"], c.attrs)
        count = payments_count.get(c.convention_id, 1 if c.paid > 0 else 0)
        nxt = next_instalment(
            schedule, amount=c.amount, earned=c.earned, paid=c.paid, final=c.final, payments_count=count
        )
        origin = paid_origin.get(c.convention_id, "extrait")
        rows.append(
            {
                "convention_id": c.convention_id,
                "dispositif": c.attrs["dispositif"],
                "structure": str(c.attrs["structure"]),
                "final": c.final,
                "quantitative_score": cj["quantitative_score"],
                "qualitative_score": cj["qualitative_score"],
                "amount_cents": _cents(c.amount),
                "earned_cents": _cents(c.earned),
                "paid_cents": _cents(c.paid),
                "solde_cents": _cents(c.solde),
                "paid_origin": origin,
                "flags": list(c.flags),
                "decisions": list(c.decisions),
                "figures": {**cj, "paid_origin": origin, "next_instalment": nxt},
                "next_instalment": nxt,
            }
        )
        for ind_id, ij in cj["indicators"].items():
            indicator_rows.append(
                {
                    "convention_id": c.convention_id,
                    "indicator_id": ind_id,
                    "kind": ij["kind"],
                    "numerator": ij.get("numerator", ij.get("value_numerator")),
                    "denominator": ij.get("denominator", ij.get("value_denominator")),
                    "value": ij.get("value"),
                    "score": ij.get("score"),
                    "evaluable": bool(ij.get("evaluable")),
                }
            )
    rejected = run.extracts.rejected
    rejected_rows = [
        {
            "table_name": r["table"],
            "file": r["file"],
            "line": r["line"],
            "column_name": r["column"],
            "value": r["value"],
            "reason": r["reason"],
        }
        for r in rejected.to_dicts()
    ]
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    _checkpoint("start")
    try:
        with writing(engine).begin() as conn:
            old = conn.execute(sa.select(runs.c.id).where(runs.c.label == label, runs.c.status == CURRENT)).scalar()
            if old is not None and not replace:
                raise RegisterError(
                    f"Une évaluation « {label} » est déjà enregistrée (n° {old}) : choisir un autre"
                    " libellé, ou --replace pour la remplacer (l'ancienne est gardée comme remplacée)."
                )
            if old is not None:
                conn.execute(sa.update(runs).where(runs.c.id == old).values(status=SUPERSEDED))
            inserted = conn.execute(
                sa.insert(runs).values(
                    label=label,
                    status=CURRENT,
                    recorded_at=now,
                    recorded_by=user or who(),
                    as_of=run.as_of,
                    final=run.final,
                    rules_sha256=run.book.sha256,
                    version=manifest["version"],
                    source=run.extracts.source,
                    n_conventions=len(rows),
                    earned_cents=sum(r["earned_cents"] for r in rows),
                    paid_cents=sum(r["paid_cents"] for r in rows),
                    solde_cents=sum(r["solde_cents"] for r in rows),
                    manifest=manifest,
                    results=doc,
                )
            )
            run_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
            if old is not None:
                conn.execute(sa.update(runs).where(runs.c.id == old).values(superseded_by=run_id))
            _checkpoint("run")
            conn.execute(
                sa.insert(run_files),
                [
                    {"run_id": run_id, "kind": "rules", "name": name, "sha256": sha, "content": text}
                    for name, sha, text in files
                ]
                + [
                    {"run_id": run_id, "kind": "input", "name": name, "sha256": sha, "content": None}
                    for name, sha in run.extracts.files.items()
                ],
            )
            _checkpoint("files")
            if rows:
                conn.execute(sa.insert(run_conventions), [{"run_id": run_id, **r} for r in rows])
            if indicator_rows:
                conn.execute(sa.insert(run_indicators), [{"run_id": run_id, **r} for r in indicator_rows])
            _checkpoint("conventions")
            conn.execute(
                sa.insert(run_tables),
                [
                    {"run_id": run_id, "table_name": t, "rows": c["rows"], "kept": c["kept"], "rejected": c["rejected"]}
                    for t, c in run.extracts.counts.items()
                ],
            )
            if rejected_rows:
                conn.execute(sa.insert(run_rejected), [{"run_id": run_id, **r} for r in rejected_rows])
            _checkpoint("commit")
    except sa.exc.DBAPIError as error:
        raise _translate(error, label) from None
    return run_id


# --------------------------------------------------------------------------- reading


def _run_summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "label": row.label,
        "status": row.status,
        "superseded_by": row.superseded_by,
        "recorded_at": row.recorded_at.isoformat(timespec="seconds"),
        "recorded_by": row.recorded_by,
        "as_of": row.as_of.isoformat(),
        "final": bool(row.final),
        "rules_sha256": row.rules_sha256,
        "version": row.version,
        "source": row.source,
        "n_conventions": row.n_conventions,
        "earned_eur": _euros(row.earned_cents),
        "paid_eur": _euros(row.paid_cents),
        "solde_eur": _euros(row.solde_cents),
    }


def list_runs(engine: Engine) -> list[dict[str, Any]]:
    """Every recorded run, oldest first (superseded ones included)."""
    with engine.connect() as conn:
        return [_run_summary(r) for r in conn.execute(sa.select(runs).order_by(runs.c.id))]


def convention_history(engine: Engine) -> list[dict[str, Any]]:
    """Every convention's key figures in every current run, by as-of then run id (for an evolution)."""
    c, r = run_conventions.c, runs.c
    query = (
        sa.select(
            r.id, r.label, r.as_of, c.convention_id, c.dispositif, c.structure, c.final,
            c.quantitative_score, c.qualitative_score, c.amount_cents, c.earned_cents, c.paid_cents, c.solde_cents,
        )
        .select_from(run_conventions.join(runs, runs.c.id == run_conventions.c.run_id))
        .where(r.status == CURRENT)
        .order_by(r.as_of, r.id, c.convention_id)
    )
    with engine.connect() as conn:
        return [
            {
                "run_id": row.id,
                "label": row.label,
                "as_of": row.as_of.isoformat(),
                "convention_id": row.convention_id,
                "dispositif": row.dispositif,
                "structure": row.structure,
                "final": bool(row.final),
                "quantitative_score": row.quantitative_score,
                "qualitative_score": row.qualitative_score,
                "amount_eur": _euros(row.amount_cents),
                "earned_eur": _euros(row.earned_cents),
                "paid_eur": _euros(row.paid_cents),
                "solde_eur": _euros(row.solde_cents),
            }
            for row in conn.execute(query)
        ]


def find_run(conn: Connection, ref: str | int) -> Any:
    """A run by id or by (current) label; RegisterError naming the closest labels."""
    text = str(ref).strip()
    row = None
    if text.isdigit():
        row = conn.execute(sa.select(runs).where(runs.c.id == int(text))).first()
    if row is None:
        row = conn.execute(sa.select(runs).where(runs.c.label == text, runs.c.status == CURRENT)).first()
    if row is None:
        from engine.model.text import suggest

        labels = [r for (r,) in conn.execute(sa.select(runs.c.label).where(runs.c.status == CURRENT))]
        raise RegisterError(
            f"Aucune évaluation n° ou libellé « {text} » dans le registre"
            + suggest(text, labels)
            + " (la liste : parcours runs)."
        )
    return row


def get_run(engine: Engine, ref: str | int, *, with_rules_text: bool = False) -> dict[str, Any]:
    """A run whole: summary, manifest, conventions (figures, next instalment), tables, rejected rows, files."""
    with engine.connect() as conn:
        row = find_run(conn, ref)
        out = _run_summary(row)
        out["manifest"] = row.manifest
        out["results"] = row.results
        out["conventions"] = [
            dict(r._mapping) for r in conn.execute(sa.select(run_conventions).where(run_conventions.c.run_id == row.id))
        ]
        order = {c["convention_id"]: i for i, c in enumerate(row.results["conventions"])}
        out["conventions"].sort(key=lambda c: order.get(c["convention_id"], 0))
        for c in out["conventions"]:
            for key in ("amount", "earned", "paid", "solde"):
                c[f"{key}_eur"] = _euros(c.pop(f"{key}_cents"))
            c.pop("run_id", None)
        out["tables"] = {
            r.table_name: {"rows": r.rows, "kept": r.kept, "rejected": r.rejected}
            for r in conn.execute(sa.select(run_tables).where(run_tables.c.run_id == row.id))
        }
        out["rejected_rows"] = [
            {k: v for k, v in dict(r._mapping).items() if k not in ("id", "run_id")}
            for r in conn.execute(
                sa.select(run_rejected).where(run_rejected.c.run_id == row.id).order_by(run_rejected.c.id)
            )
        ]
        columns = [run_files.c.kind, run_files.c.name, run_files.c.sha256]
        if with_rules_text:
            columns.append(run_files.c.content)
        out["files"] = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(*columns).where(run_files.c.run_id == row.id).order_by(run_files.c.kind, run_files.c.name)
            )
        ]
    return out


# --------------------------------------------------------------------------- payments


def record_payments(engine: Engine, items: Iterable[Mapping[str, Any]], origin: str, user: str | None = None) -> int:
    """Record payments (convention_id, paid_on, amount, reference) in one transaction; how many."""
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    rows = [
        {
            "convention_id": str(i["convention_id"]),
            "paid_on": i["paid_on"],
            "amount_cents": _cents(i["amount"]),
            "reference": str(i["reference"]),
            "origin": origin,
            "recorded_at": now,
            "recorded_by": user or who(),
        }
        for i in items
    ]
    if not rows:
        return 0
    try:
        with writing(engine).begin() as conn:
            keys = [(r["convention_id"], r["reference"]) for r in rows]
            taken = conn.execute(
                sa.select(payments.c.convention_id, payments.c.reference).where(
                    sa.tuple_(payments.c.convention_id, payments.c.reference).in_(keys)
                )
            ).all()
            if taken:
                shown = ", ".join(f"{cid} / {ref}" for cid, ref in taken[:10])
                raise RegisterError(
                    f"Versement(s) déjà enregistré(s) (convention / référence) : {shown} ; rien n'a été enregistré."
                )
            conn.execute(sa.insert(payments), rows)
    except sa.exc.IntegrityError:
        raise RegisterError(
            "Un versement de même convention et même référence vient d'être enregistré par un"
            " autre processus : rien n'a été enregistré."
        ) from None
    except sa.exc.DBAPIError as error:
        raise _translate(error) from None
    return len(rows)


def list_payments(engine: Engine, convention_id: str | None = None) -> list[dict[str, Any]]:
    """Recorded payments, by convention then date."""
    query = sa.select(payments).order_by(payments.c.convention_id, payments.c.paid_on, payments.c.id)
    if convention_id:
        query = query.where(payments.c.convention_id == convention_id)
    with engine.connect() as conn:
        return [
            {
                "id": r.id,
                "convention_id": r.convention_id,
                "paid_on": r.paid_on.isoformat(),
                "amount_eur": _euros(r.amount_cents),
                "reference": r.reference,
                "origin": r.origin,
                "recorded_by": r.recorded_by,
                "recorded_at": r.recorded_at.isoformat(timespec="seconds"),
            }
            for r in conn.execute(query)
        ]
