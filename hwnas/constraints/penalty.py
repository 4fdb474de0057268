"""Soft constraints for gradient and RL searchers: FP-NAS's hinge loss, EPNAS's reward multiplier."""

from __future__ import annotations

from typing import Any, Sequence

from hwnas.constraints.cost_model import CostModel
from hwnas.constraints.language import Constraint
from hwnas.errors import ConstraintError
from hwnas.space.arch import Arch


class HingePenalty:
    """Soft constraint costs for gradient / RL searchers.

    * ``kind='fpnas'`` (FP-NAS): ``loss = beta * sum(max(0, cost/target - 1))`` (plus lower-bound hinge).
    * ``kind='epnas'`` (EPNAS): reward multiplier ``V(U) = p ** max(max(0, U/Cu - 1), max(0, Cl/U - 1))``.

    ``__call__`` returns ``(value, details)``: the loss (fpnas) or the multiplier (epnas) and per-metric
    cost / violation.
    """

    def __init__(self, constraints: Sequence[Constraint], cost: CostModel, kind: str = "fpnas", beta: float = 1.0,
                 p: float = 0.9) -> None:
        if kind not in ("fpnas", "epnas"):
            raise ConstraintError(f"unknown penalty kind '{kind}'; choose fpnas or epnas")
        self.constraints, self.cost, self.kind, self.beta, self.p = list(constraints), cost, kind, beta, p

    def from_metrics(self, m: dict[str, float]) -> tuple[float, dict[str, Any]]:
        details = {c.metric: {"value": m[c.metric], "violation": c.violation(m[c.metric])} for c in self.constraints}
        v = [d["violation"] for d in details.values()]
        if self.kind == "fpnas":
            return self.beta * sum(v), details
        return self.p ** (max(v) if v else 0.0), details

    def __call__(self, arch: Arch) -> tuple[float, dict[str, Any]]:
        return self.from_metrics(self.cost.metrics(arch, {c.metric for c in self.constraints}))
