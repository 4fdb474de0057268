"""Every metric of an arch by name, and the per-layer cost arrays of the additive ones.

Latency comes from the LUT predictor (calibrated), the rest from the exact counters; both sources hand
out :class:`hwnas.cost.LayerCosts`, so handlers never look inside either.
"""

from __future__ import annotations

from typing import Iterable

from hwnas.constraints.language import METRICS
from hwnas.cost.arch_cost import ArchCoster
from hwnas.cost.layer_costs import LayerCosts
from hwnas.errors import ConstraintError
from hwnas.lut.predictor import LatencyPredictor
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace


class CostModel:
    """All metrics of an arch by name: latency from the LUT predictor, the rest from the counters."""

    def __init__(self, space: SearchSpace, predictor: LatencyPredictor | None = None,
                 tables: dict[str, LayerCosts] | None = None) -> None:
        """``tables``: additive metrics given directly as per-layer costs (their values are the table's sums, in
        the table's units); they take precedence over the LUT and the counters (the planted task uses this)."""
        self.space = space
        self.predictor = predictor
        self.coster = ArchCoster(space)
        self.tables = dict(tables or {})

    def metrics(self, arch: Arch, needed: Iterable[str] = METRICS) -> dict[str, float]:
        needed = set(needed)
        out: dict[str, float] = {m: self.tables[m].total(arch.choices) for m in needed & set(self.tables)}
        needed -= set(self.tables)
        if needed - {"latency"}:
            out.update({k: v for k, v in self.coster.cost(arch).items() if k not in self.tables})
        if "latency" in needed:
            out["latency"] = self._latency().predict(arch)
        return out

    def _latency(self) -> LatencyPredictor:
        if self.predictor is None:
            raise ConstraintError("a latency constraint needs a LUT (pass --lut, or let `hwnas search` build one)")
        return self.predictor

    def layer_costs(self, metric: str) -> LayerCosts | None:
        """Per-layer costs of an additive metric in raw units (latency: the LUT's uncalibrated sum, which the
        increasing calibration maps to ms; see :meth:`to_raw`), or None (intensity, or latency without a LUT)."""
        if metric in self.tables:
            return self.tables[metric]
        if metric == "latency":
            return None if self.predictor is None else self.predictor.layer_costs()
        if metric in ArchCoster.ADDITIVE:
            return self.coster.layer_costs(metric)
        return None

    def to_raw(self, metric: str, value: float) -> float:
        """A bound in the metric's units -> the raw additive units of :meth:`layer_costs`."""
        return self._latency().raw_for(value) if metric == "latency" and metric not in self.tables else value

    def from_raw(self, metric: str, raw: float) -> float:
        """Raw additive units -> the metric's units (calibrated latency in ms)."""
        return float(self._latency().calibrate(raw)) if metric == "latency" and metric not in self.tables else raw

    def minimum(self, metric: str) -> float | None:
        """Smallest value any arch of the space reaches (additive metrics; None for intensity)."""
        lc = self.layer_costs(metric)
        return None if lc is None else self.from_raw(metric, lc.minimum())

    def per_layer(self, arch: Arch) -> list[dict[str, object]]:
        """MACs, params and BitOps of each searchable layer's choice (the stem and head, fixed, are left out)."""
        tables = {m: self.coster.layer_costs(m) for m in ("macs", "params", "bitops")}
        return [{"layer": layer.name, "choice": c, **{m: int(t.layers[i][c]) for m, t in tables.items()}}
                for i, (layer, c) in enumerate(zip(self.space.layers, arch.choices))]
