"""Soft constraints for gradient and RL searchers, one class per formula: FP-NAS's hinge cost and EPNAS's
exponential reward multiplier.  Both read an arch's metrics and each constraint's relative violation
(:meth:`Constraint.violation`: ``max(0, U/Cu - 1, Cl/U - 1)``) and return ``(value, details)``."""

from __future__ import annotations

import math
from typing import Any, Sequence

from hwnas.constraints.cost_model import CostModel
from hwnas.constraints.language import Constraint
from hwnas.space.arch import Arch


class Penalty:
    """Base: the per-constraint violations of an arch, turned into one number by :meth:`combine`."""

    def __init__(self, constraints: Sequence[Constraint], cost: CostModel) -> None:
        self.constraints, self.cost = list(constraints), cost

    def combine(self, violations: list[float]) -> float:
        raise NotImplementedError

    def from_metrics(self, m: dict[str, float]) -> tuple[float, dict[str, Any]]:
        details = {c.metric: {"value": m[c.metric], "violation": c.violation(m[c.metric])} for c in self.constraints}
        return self.combine([d["violation"] for d in details.values()]), details

    def __call__(self, arch: Arch) -> tuple[float, dict[str, Any]]:
        return self.from_metrics(self.cost.metrics(arch, {c.metric for c in self.constraints}))


class HingeCost(Penalty):
    """FP-NAS's cost C(A) = β Σ_i max(0, U_i/T_i − 1) (plus the lower-bound hinge): 0 when every target is met."""

    def __init__(self, constraints: Sequence[Constraint], cost: CostModel, beta: float = 1.0) -> None:
        super().__init__(constraints, cost)
        self.beta = beta

    def combine(self, violations: list[float]) -> float:
        return self.beta * sum(violations)


class ExponentialPenalty(Penalty):
    """EPNAS's reward multiplier Π_i V(U_i), V(U) = p^{max(max(0, U/Cu − 1), max(0, Cl/U − 1))}: 1 when every
    constraint is met, each violated constraint multiplies its own factor in."""

    def __init__(self, constraints: Sequence[Constraint], cost: CostModel, p: float = 0.9) -> None:
        super().__init__(constraints, cost)
        self.p = p

    def combine(self, violations: list[float]) -> float:
        return math.prod(self.p ** v for v in violations)
