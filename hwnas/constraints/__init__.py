"""Constraints, in three small modules: the language (:mod:`.language`: ``17ms``, ``300M``,
``15ms..17ms``), the cost model (:mod:`.cost_model`: every metric of an arch, per-layer cost arrays),
and the handlers the searchers use -- :class:`HardFilter` (reject / resample) and the soft penalties, one
class per formula (:class:`HingeCost`: FP-NAS; :class:`ExponentialPenalty`: EPNAS).  :func:`cost_filter`
builds a filter at a deployment resolution from CLI-style inputs.
"""

from hwnas.constraints.cost_model import CostModel
from hwnas.constraints.hard_filter import HardFilter, cost_filter
from hwnas.constraints.language import (EXAMPLES, METRICS, Constraint, fmt_value, parse_constraints, parse_value)
from hwnas.constraints.penalty import ExponentialPenalty, HingeCost, Penalty

__all__ = ["Constraint", "CostModel", "HardFilter", "Penalty", "HingeCost", "ExponentialPenalty", "cost_filter",
           "parse_constraints", "parse_value", "fmt_value", "METRICS", "EXAMPLES"]
