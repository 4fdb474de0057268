"""What one search runs with, validated once.

:meth:`SearchPlan.make` validates the strategy's options, settles the budget and turns the bounds into the cost
model and the hard filter (whose construction fails, naming the reachable limit, when a bound cannot be met).
:class:`hwnas.search.job.SearchJob` makes the plan in its cheap checks, :func:`hwnas.search.driver.run_search`
and the strategy take it as given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hwnas.constraints import Constraint, CostModel, HardFilter
from hwnas.errors import HwnasError
from hwnas.lut.predictor import LatencyPredictor
from hwnas.lut.table import LUT
from hwnas.search.base import Strategy, get_strategy
from hwnas.space.base import SearchSpace


@dataclass(frozen=True)
class SearchPlan:
    space: SearchSpace            # at the deployment resolution, where latency and counts are predicted
    constraints: tuple[Constraint, ...]
    strategy: type[Strategy]
    params: dict[str, Any]        # the strategy's declared options, validated (defaults filled in)
    budget: int
    seed: int
    lut: LUT | None               # None: latency is not predicted (no latency bound, no LUT given or cached)
    cost: CostModel
    hard: HardFilter

    @classmethod
    def make(cls, space: SearchSpace, constraints: list[Constraint], strategy: str,
             options: dict[str, Any] | None = None, budget: int | None = None, lut: LUT | None = None,
             seed: int = 0) -> "SearchPlan":
        """Validate the options, settle the budget (None: the strategy's default), build the cost model and the
        hard filter.  Every problem is a one-line :class:`HwnasError`."""
        scls = get_strategy(strategy)
        params = scls.validate(dict(options or {}))
        budget = scls.default_budget(params) if budget is None else budget
        if budget < 1:
            raise HwnasError("--budget must be at least 1 evaluation")
        return cls(space, tuple(constraints), scls, params, budget, seed, lut, *cls._filter(space, constraints, lut))

    @staticmethod
    def _filter(space: SearchSpace, constraints: list[Constraint], lut: LUT | None) -> tuple[CostModel, HardFilter]:
        cost = CostModel(space, LatencyPredictor(lut, space) if lut is not None else None)
        record = [*cost.counters.provides, *(["latency"] if lut is not None else [])]  # each row of history.csv
        return cost, HardFilter(constraints, cost, record=record)

    def with_lut(self, lut: LUT, space: SearchSpace) -> "SearchPlan":
        """The same plan once a LUT exists (profiled after the cheap checks): latency bounds now count."""
        cost, hard = self._filter(space, list(self.constraints), lut)
        return replace(self, space=space, lut=lut, cost=cost, hard=hard)

    @property
    def name(self) -> str:
        return self.strategy.name
