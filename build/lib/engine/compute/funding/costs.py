"""Cost-based funding (framework §5.5): `min(amount, share × personnel × (1 + flat_rate))`.

The chain, one recorded step each: eligible personnel (the dispositif's `eligible_costs`
indicator function: gross cost × allocation over staff at or above `min_allocation`),
eligible total (`× (1 + flat_rate)`), the Département's share (the share parameter named by
`share_parameter_mining_basin` or `share_parameter_elsewhere`), the amount due, and the
earned amount (capped at the convention's amount when `cap_at_amount`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from engine.model import money
from engine.model.results import ConventionResult
from engine.model.trace import MoneyStep, RecordingParams


def cost_chain(row: Mapping[str, Any], declared: Mapping[str, Any], p: RecordingParams,
               amount: Decimal, cost_reads: list[str]) -> tuple[dict[str, Any], list[MoneyStep]]:
    """The cost arithmetic of one convention (exact), and its steps."""
    steps: list[MoneyStep] = []
    personnel = money.frac(declared.get("eligible_personnel_eur") or 0)
    steps.append(MoneyStep(
        "eligible_personnel",
        {"declared_personnel": money.frac(declared.get("declared_personnel_eur") or 0),
         "ineligible_personnel": money.frac(declared.get("ineligible_personnel_eur") or 0),
         "staff_eligible": int(declared.get("staff_eligible") or 0),
         "staff_ineligible": int(declared.get("staff_ineligible") or 0)},
        personnel, tuple(cost_reads)))
    with p.recording() as read:
        flat_rate = money.frac(p["flat_rate"])
    eligible_total = personnel * (1 + flat_rate)
    steps.append(MoneyStep("eligible_total", {"eligible_personnel": personnel, "flat_rate": flat_rate},
                           eligible_total, tuple(read)))
    with p.recording() as read:
        which = "share_parameter_mining_basin" if row.get("mining_basin") else "share_parameter_elsewhere"
        share_name = str(p[which])
        share = money.frac(p[share_name])
    due = share * eligible_total
    steps.append(MoneyStep("due", {"mining_basin": bool(row.get("mining_basin")), "share_parameter": share_name,
                                   "share": share, "eligible_total": eligible_total}, due, tuple(read)))
    with p.recording() as read:
        cap = bool(p["cap_at_amount"])
    limit = money.frac(amount)
    earned_exact = min(limit, due) if cap else due
    capped = cap and due > limit
    steps.append(MoneyStep("earned", {"amount": amount, "due": due, "cap_at_amount": cap},
                           {"exact": earned_exact, "cents": money.to_cents(earned_exact), "capped": capped},
                           tuple(read)))
    out = dict(declared)
    out.update(eligible_personnel=personnel, flat_rate=flat_rate, eligible_total=eligible_total,
               share_parameter=share_name, share=share, due=due, capped=capped, earned_exact=earned_exact)
    return out, steps


def earn(c: ConventionResult) -> Fraction:
    """Take the cost chain's result (recorded when it was computed) as the earned amount."""
    c.earned_exact = c.costs["earned_exact"]
    c.earned = money.to_cents(c.earned_exact)
    return c.earned_exact
