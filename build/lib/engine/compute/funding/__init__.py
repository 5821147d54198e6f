"""Funding models: how a convention's scores, or its declared costs, become euros.

One module per model, chosen by the dispositif's `funding_model` parameter:
`scores` (amount × weighted scores, framework §5.4) and `costs` (declared personnel costs,
framework §5.5). Each records its steps as `MoneyStep`s in the convention's trace.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from engine.compute.funding import costs, scores
from engine.model.results import ConventionResult

#: funding_model parameter value → the function that fills `earned_exact`/`earned` and records its steps.
MODELS: dict[str, Callable[[ConventionResult], Fraction]] = {
    "scores": scores.earn,
    "costs": costs.earn,
}
