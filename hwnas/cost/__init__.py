"""Cost counters (MACs, params, BitOps, memory traffic, intensity), per-space cost caches and the
per-layer cost arrays (:class:`LayerCosts`) that constraint handlers read."""

from hwnas.cost.counters import CostReport, LayerCost, count, full_precision_layers
from hwnas.cost.arch_cost import ArchCoster, count_arch
from hwnas.cost.layer_costs import LayerCosts

__all__ = ["CostReport", "LayerCost", "count", "full_precision_layers", "ArchCoster", "count_arch", "LayerCosts"]
