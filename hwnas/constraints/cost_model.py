"""Every metric of an arch by name, and the per-layer cost arrays of the additive ones.

Each metric comes from one *source* behind the same small interface (:class:`MetricSource`): the exact counters
(MACs, FLOPs, params, BitOps, memory, intensity), the LUT predictor (latency, calibrated), or per-layer tables given
directly (the planted task).  :class:`CostModel` looks a metric's source up by name, so no handler special-cases
one metric; a new source (energy, a second LUT) is one class.
"""

from __future__ import annotations

from typing import Iterable, Protocol

from hwnas.constraints.language import METRICS
from hwnas.cost.arch_cost import ArchCoster
from hwnas.cost.layer_costs import LayerCosts
from hwnas.errors import ConstraintError
from hwnas.lut.predictor import LatencyPredictor
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace


class MetricSource(Protocol):
    """Where some metrics come from.  ``values`` returns those of ``metrics`` an arch has; ``layer_costs`` is the
    additive per-layer form in raw units (None where the metric is not additive), and ``to_raw`` / ``from_raw``
    map a value in the metric's units to those raw units and back (identity but for a calibrated LUT)."""

    provides: tuple[str, ...]

    def values(self, arch: Arch, metrics: set[str]) -> dict[str, float]: ...

    def layer_costs(self, metric: str) -> LayerCosts | None: ...

    def to_raw(self, metric: str, value: float) -> float: ...

    def from_raw(self, metric: str, raw: float) -> float: ...


class Unscaled:
    """A source whose values are already in the additive units (no calibration between them)."""

    def to_raw(self, metric: str, value: float) -> float:
        return value

    def from_raw(self, metric: str, raw: float) -> float:
        return raw


class Counters(Unscaled):
    """The exact counters of :class:`ArchCoster` (one pass over the network gives them all)."""

    provides = ("macs", "flops", "params", "bitops", "intensity", "memory_bytes")

    def __init__(self, space: SearchSpace) -> None:
        self.coster = ArchCoster(space)

    def values(self, arch: Arch, metrics: set[str]) -> dict[str, float]:
        return {k: v for k, v in self.coster.cost(arch).items() if k in metrics}

    def layer_costs(self, metric: str) -> LayerCosts | None:
        return self.coster.layer_costs(metric) if metric in ArchCoster.ADDITIVE else None


class PredictedLatency:
    """Latency from a LUT: calibrated predictions; its per-layer costs are the LUT's uncalibrated sums, which the
    increasing calibration maps to ms."""

    provides = ("latency",)

    def __init__(self, predictor: LatencyPredictor) -> None:
        self.predictor = predictor

    def values(self, arch: Arch, metrics: set[str]) -> dict[str, float]:
        return {"latency": self.predictor.predict(arch)}

    def layer_costs(self, metric: str) -> LayerCosts | None:
        return self.predictor.layer_costs()

    def to_raw(self, metric: str, value: float) -> float:
        return self.predictor.raw_for(value)

    def from_raw(self, metric: str, raw: float) -> float:
        return float(self.predictor.calibrate(raw))


class Tables(Unscaled):
    """Additive metrics given directly as per-layer costs (values: the table's sums, in the table's units)."""

    def __init__(self, tables: dict[str, LayerCosts]) -> None:
        self.tables = dict(tables)
        self.provides = tuple(self.tables)

    def values(self, arch: Arch, metrics: set[str]) -> dict[str, float]:
        return {m: self.tables[m].total(arch.choices) for m in metrics}

    def layer_costs(self, metric: str) -> LayerCosts | None:
        return self.tables[metric]


class CostModel:
    """All metrics of an arch by name, each from its source: the counters, then the LUT predictor (latency), then
    ``tables`` (additive metrics given directly; they take precedence, as the planted task needs)."""

    def __init__(self, space: SearchSpace, predictor: LatencyPredictor | None = None,
                 tables: dict[str, LayerCosts] | None = None) -> None:
        self.space = space
        self.predictor = predictor
        self.counters = Counters(space)
        sources: list[MetricSource] = [self.counters]
        if predictor is not None:
            sources.append(PredictedLatency(predictor))
        if tables:
            sources.append(Tables(tables))
        self.sources: dict[str, MetricSource] = {m: s for s in sources for m in s.provides}

    def source(self, metric: str) -> MetricSource:
        src = self.sources.get(metric)
        if src is None:
            if metric == "latency":
                raise ConstraintError("a latency constraint needs a LUT (pass --lut, or let `hwnas search` build one)")
            raise ConstraintError(f"no source of metric '{metric}' in this cost model")
        return src

    def metrics(self, arch: Arch, needed: Iterable[str] = METRICS) -> dict[str, float]:
        by_source: dict[int, tuple[MetricSource, set[str]]] = {}
        for m in needed:
            src = self.source(m)
            by_source.setdefault(id(src), (src, set()))[1].add(m)
        out: dict[str, float] = {}
        for src, wanted in by_source.values():
            out.update(src.values(arch, wanted))
        return out

    def layer_costs(self, metric: str) -> LayerCosts | None:
        """Per-layer costs of an additive metric in raw units (see :meth:`to_raw`), or None (intensity, or a
        metric without a source, such as latency without a LUT)."""
        src = self.sources.get(metric)
        return None if src is None else src.layer_costs(metric)

    def to_raw(self, metric: str, value: float) -> float:
        """A bound in the metric's units -> the raw additive units of :meth:`layer_costs`."""
        return self.source(metric).to_raw(metric, value)

    def from_raw(self, metric: str, raw: float) -> float:
        """Raw additive units -> the metric's units (calibrated latency in ms)."""
        return self.source(metric).from_raw(metric, raw)

    def minimum(self, metric: str) -> float | None:
        """Smallest value any arch of the space reaches (additive metrics; None for intensity)."""
        lc = self.layer_costs(metric)
        return None if lc is None else self.from_raw(metric, lc.minimum())

    def per_layer(self, arch: Arch) -> list[dict[str, object]]:
        """MACs, params and BitOps of each searchable layer's choice (the stem and head, fixed, are left out)."""
        tables = {m: self.counters.coster.layer_costs(m) for m in ("macs", "params", "bitops")}
        return [{"layer": layer.name, "choice": c, **{m: int(t.layers[i][c]) for m, t in tables.items()}}
                for i, (layer, c) in enumerate(zip(self.space.layers, arch.choices))]
