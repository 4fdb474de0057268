"""Cost counters (MACs, params, BitOps, memory traffic, intensity) and per-space cost caches."""

from hwnas.cost.counters import CostReport, LayerCost, count
from hwnas.cost.arch_cost import ArchCoster, count_arch

__all__ = ["CostReport", "LayerCost", "count", "ArchCoster", "count_arch"]
