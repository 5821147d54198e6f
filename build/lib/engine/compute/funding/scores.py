"""Score-based funding (framework §5.4): `amount × (qw × quantitative + lw × qualitative)`.

The line's amount is its `amount_eur` when its funding kind is one of the dispositif's
`funded_lines` (a valorisation line is evaluated on the same indicators, for 0 €). The
scores and weights are those left by the scoring-stage decision rules (the start-up clause,
the not-evaluable policy); each step records the decision rule that fixed it, if any.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from engine.model import money
from engine.model.results import ConventionResult
from engine.model.trace import MoneyStep, RecordingParams


def line_amount(row: Mapping[str, Any], p: RecordingParams) -> tuple[Decimal, MoneyStep]:
    """The amount a line can earn: `amount_eur` for a funded line, 0 otherwise."""
    with p.recording() as read:
        funded = tuple(p["funded_lines"])
    amount = Decimal(row["amount_eur"]) if row["funding"] in funded else Decimal(0)
    step = MoneyStep("amount", {"funding": row["funding"], "amount_eur": Decimal(row["amount_eur"]),
                                "funded_lines": funded}, amount, tuple(read))
    return amount, step


def earn(c: ConventionResult) -> Fraction:
    """Record the score and weight steps and the earned amount; return the exact amount."""
    set_by = {step.rule: step for step in c.trace.decisions if step.sets}
    setters: dict[str, str] = {}
    for rule, step in set_by.items():
        for figure in step.sets:
            setters[figure] = rule
    computed = c.trace.computed
    used = {"quantitative_score": c.quantitative_score, "qualitative_score": c.qualitative_score,
            "quantitative_weight": c.quantitative_weight, "qualitative_weight": c.qualitative_weight}
    for figure, value in used.items():
        inputs: dict[str, Any] = {"computed": computed[figure]}
        if figure == "quantitative_score":
            inputs["indicator"] = computed.get("quantitative_indicator")
        read = [path for path in computed.get("weight_parameters", ()) if path.endswith("." + figure)]
        c.trace.money.append(MoneyStep(figure, inputs, value, tuple(read), set_by=setters.get(figure)))
    quantitative = c.quantitative_score if c.quantitative_score is not None else Fraction(0)
    qualitative = c.qualitative_score if c.qualitative_score is not None else Fraction(0)
    exact, cents = money.earned(c.amount, c.quantitative_weight, quantitative, c.qualitative_weight, qualitative)
    c.trace.money.append(MoneyStep(
        "earned",
        {"amount": c.amount, "quantitative_weight": c.quantitative_weight, "quantitative_score": quantitative,
         "qualitative_weight": c.qualitative_weight, "qualitative_score": qualitative},
        {"exact": exact, "cents": cents},
    ))
    c.earned_exact, c.earned = exact, cents
    return exact
