"""The typed interface between cost sources and the searchers: an additive cost as arrays per layer.

Every metric hwnas constrains except intensity is additive over a network's units (MACs, FLOPs, params,
BitOps; LUT latency before calibration), so a space's cost is a fixed part (stem + head) plus one value per
(layer, choice).  Filters, guided samplers, HourNAS's expected-cost term G(θ)⊙F and FP-NAS's cost all read
this one type, whoever produced it (:class:`hwnas.cost.ArchCoster` or :class:`hwnas.lut.LatencyPredictor`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class LayerCosts:
    """``fixed`` + sum over layers of ``layers[i][choice]``.  ``skip`` costs 0; an op missing from a LUT
    costs ``inf`` (it can never be chosen under a bound)."""

    metric: str
    fixed: float
    layers: tuple[dict[str, float], ...]

    def total(self, choices: Sequence[str]) -> float:
        return self.fixed + sum(d[c] for d, c in zip(self.layers, choices))

    def cheapest(self) -> list[str]:
        """Per layer, the cheapest choice (first of ties, in the space's choice order)."""
        return [min(d, key=d.__getitem__) for d in self.layers]

    def minimum(self) -> float:
        return self.fixed + sum(min(d.values()) for d in self.layers)

    def maximum(self) -> float:
        return self.fixed + sum(max(v for v in d.values() if math.isfinite(v)) for d in self.layers)

    def matrix(self, choices: Sequence[Sequence[str]]) -> np.ndarray:
        """(layers, max choices) array in the given per-layer choice order, padded with ``inf``."""
        width = max(len(c) for c in choices)
        m = np.full((len(self.layers), width), np.inf)
        for i, (d, ch) in enumerate(zip(self.layers, choices)):
            m[i, :len(ch)] = [d[c] for c in ch]
        return m
