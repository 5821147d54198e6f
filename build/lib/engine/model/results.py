"""Results of a run: per indicator, per convention, per run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import polars as pl

from engine.model.extracts import Extracts
from engine.model.rulebook import RuleBook
from engine.model.trace import ConventionTrace


@dataclass
class IndicatorResult:
    """One indicator of one convention, as computed: the indicator's step of the trace.

    `numerator`/`denominator`: the units counted (rates; volumes with a fraction; reported
    means). `parameters`: the paths read while computing it (the indicator function and its
    scoring), in the order first read. Rates: `raw_score` = (value − floor)/(target − floor)
    before `clamp` ("floor" when raised to 0, "cap" when capped at 1). Volumes: `raw_score`
    = value/target, `target_rule` says how the target was set (the convention's own column,
    or a per-ETP parameter × ETP, prorated to the window). `base_weight` is the rule's
    weight, `weight` the effective one (renormalised over evaluable indicators).
    """

    id: str
    kind: str
    part: str
    numerator: int | None = None
    denominator: int | None = None
    value: Fraction | None = None
    target: Fraction | None = None
    floor: Fraction | None = None
    score: Fraction | None = None
    weight: Fraction | None = None
    evaluable: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    parameters: tuple[str, ...] = ()
    raw_score: Fraction | None = None
    clamp: str | None = None
    base_weight: Fraction | None = None
    target_rule: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConventionResult:
    """Everything a run says about one convention."""

    attrs: dict[str, Any]
    window_start: date
    eval_end: date
    final: bool
    indicators: dict[str, IndicatorResult]
    reported: dict[str, Any]
    quantitative_score: Fraction | None
    qualitative_score: Fraction | None
    quantitative_weight: Fraction
    qualitative_weight: Fraction
    amount: Decimal
    earned_exact: Fraction
    earned: Decimal
    paid: Decimal
    solde: Decimal
    flags: list[str]
    warnings: list[str]
    decisions: list[str]
    params: dict[str, Any]
    costs: dict[str, Any] = field(default_factory=dict)
    trace: ConventionTrace = field(default_factory=ConventionTrace)

    @property
    def convention_id(self) -> str:
        """The convention's id."""
        return str(self.attrs["convention_id"])


@dataclass
class RunResult:
    """A whole run: what was read, with which rules, and the result per convention."""

    as_of: date
    book: RuleBook
    extracts: Extracts
    conventions: list[ConventionResult]
    units: dict[tuple[str, str], pl.DataFrame]
    skipped: list[tuple[str, str, str]]  # convention id, dispositif, reason (French)

    @property
    def final(self) -> bool:
        """True when every evaluated convention's period has ended by as_of."""
        return bool(self.conventions) and all(c.final for c in self.conventions)

    def convention(self, convention_id: str) -> ConventionResult:
        """The result of one convention (KeyError when absent)."""
        for c in self.conventions:
            if c.convention_id == convention_id:
                return c
        raise KeyError(convention_id)


