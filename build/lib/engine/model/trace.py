"""The trace: what a run did, recorded while it computed (as OpenFisca's tracer does).

Every figure a person sees is explained from here, never re-derived: `explain`, the
workbook, the page and `results.json` read the trace of each convention.

- `RecordingParams` is the mapping of parameters in force handed to the indicator
  functions and to the scoring and funding steps: it logs every key read, so the
  parameters an indicator uses are the ones it asked for.
- `IndicatorResult` (engine.model.results) is the indicator's own step: units counted,
  fraction, target and floor, the raw score and how it was clamped, the weights.
- `QualitativeStep`, `DecisionStep` and `MoneyStep` record the weighted mean, each
  decision rule that fired (with the fact values the engine matched) and each step from
  scores, or declared costs, to euros.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class ParamRead:
    """One parameter read by a convention's computation: its value and since when it is in force."""

    path: str
    value: Any
    since: date | None


class RecordingParams(Mapping[str, Any]):
    """The parameters of one dispositif in force on one date, logging every key read.

    Keys are paths without the dispositif (`first_appointment_max_days`,
    `scoring.exit_12m.target`). `recording()` opens a scope that collects the dotted paths
    read inside it, in the order of first reading; `read` keeps every path read at all.
    Membership tests and iteration do not count as reads.
    """

    def __init__(self, dispositif: str, values: Mapping[str, Any], since: Mapping[str, date | None]):
        self.dispositif = dispositif
        self._values = dict(values)
        self._since = dict(since)
        self._scopes: list[list[str]] = []
        self.read: dict[str, ParamRead] = {}

    def __getitem__(self, key: str) -> Any:
        value = self._values[key]
        path = f"{self.dispositif}.{key}"
        for scope in self._scopes:
            if path not in scope:
                scope.append(path)
        if path not in self.read:
            self.read[path] = ParamRead(path, value, self._since.get(key))
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @contextmanager
    def recording(self) -> Iterator[list[str]]:
        """Collect the paths read inside the `with` block (nested scopes see inner reads too)."""
        scope: list[str] = []
        self._scopes.append(scope)
        try:
            yield scope
        finally:
            self._scopes.remove(scope)

    def reads(self, paths: list[str]) -> dict[str, ParamRead]:
        """The recorded reads of `paths` (in that order)."""
        return {p: self.read[p] for p in paths if p in self.read}


@dataclass(frozen=True)
class QualitativeTerm:
    """One rate indicator in the qualitative mean: its rule weight, effective weight and score."""

    indicator: str
    base_weight: Fraction
    weight: Fraction
    score: Fraction | None

    @property
    def evaluable(self) -> bool:
        """Whether it took part in the mean."""
        return self.score is not None


@dataclass(frozen=True)
class QualitativeStep:
    """The weighted mean of the evaluable qualitative scores, weights renormalised over them."""

    terms: tuple[QualitativeTerm, ...]
    weight_total: Fraction
    score: Fraction | None

    @property
    def renormalised(self) -> bool:
        """True when some indicator was left out, so the weights were rescaled."""
        return any(not t.evaluable for t in self.terms) and self.score is not None


@dataclass(frozen=True)
class DecisionStep:
    """One decision rule that fired for a convention, with what the engine saw and did."""

    rule: str
    stage: str
    matched: Mapping[str, Any]
    flags: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    sets: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MoneyStep:
    """One step of the money chain: `id` names the operation, `inputs` the exact values it used.

    Ids of the score-based model: `amount`, `quantitative_score`, `qualitative_score`,
    `earned`; of the cost-based model: `eligible_personnel`, `eligible_total`, `due`,
    `earned`; both end with `solde`. `set_by` names the decision rule that fixed the
    result, when one did; `parameters` the parameter paths read for the step.
    """

    id: str
    inputs: Mapping[str, Any]
    result: Any
    parameters: tuple[str, ...] = ()
    set_by: str | None = None


@dataclass
class ConventionTrace:
    """The whole record of one convention's computation."""

    parameters: dict[str, ParamRead] = field(default_factory=dict)
    qualitative: QualitativeStep | None = None
    #: The figures as computed before the decision rules: quantitative_score (and
    #: quantitative_indicator), qualitative_score, quantitative_weight, qualitative_weight.
    computed: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    decisions: list[DecisionStep] = field(default_factory=list)
    money: list[MoneyStep] = field(default_factory=list)

    def money_step(self, step_id: str) -> MoneyStep | None:
        """The money step `step_id` (the last one of that id), or None."""
        found = None
        for step in self.money:
            if step.id == step_id:
                found = step
        return found
