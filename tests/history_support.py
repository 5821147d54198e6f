"""Test support for the « Historique » pages: a register with three quarterly runs of sample_data/.

T1 2025 at 2025-03-31 on the sample; T2 2025 at 2025-06-30 with five participants added to
participants.csv; T3 2025 at 2025-09-30 on the same data with a rule edited
(`equilibre.first_appointment_max_days` 15 → 20 from 2025-07-01) — the quarters of
tests/test_register.py, so that each cause (data, rules, date) shows on the compare page.
"""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

from engine.compute.pipeline import evaluate
from engine.load.extracts import read_extracts
from engine.load.rules import load_payments, load_rules
from engine.register import store
from engine.register.db import open_register

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
RULES = ROOT / "rules"
PARAM = "equilibre.first_appointment_max_days"


def record_quarters(base: Path) -> str:
    """Record the three quarters in a new SQLite register under `base`; its URL."""
    q1 = base / "data_q1"
    shutil.copytree(SAMPLE, q1)
    q2 = base / "data_q2"
    shutil.copytree(SAMPLE, q2)
    with (q2 / "participants.csv").open("a", encoding="utf-8") as f:
        for n in range(1, 6):
            f.write(f"P9{n:05d},PA-CCAS-LIEVIN,2025-05-{n + 10:02d}\n")
    rules_q3 = base / "rules_q3"
    shutil.copytree(RULES, rules_q3)
    params = rules_q3 / "equilibre" / "parameters.yaml"
    text = params.read_text(encoding="utf-8")
    edited = re.sub(r"(  first_appointment_max_days:\n(?:    .*\n)*?    values: )\{2024-12-09: 15\}",
                    r"\1{2024-12-09: 15, 2025-07-01: 20}", text, count=1)
    assert edited != text
    params.write_text(edited, encoding="utf-8")
    url = f"sqlite:///{base / 'registre.sqlite'}"
    engine = open_register(url, create=True)
    try:
        for data, when, label, rules in ((q1, date(2025, 3, 31), "T1 2025", None),
                                         (q2, date(2025, 6, 30), "T2 2025", None),
                                         (q2, date(2025, 9, 30), "T3 2025", rules_q3)):
            book = load_rules(rules)
            run = evaluate(read_extracts(data), book, when)
            store.record_run(engine, run, label, user="agent.test", schedules=load_payments(book.root))
    finally:
        engine.dispose()
    return url
