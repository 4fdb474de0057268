"""Constraints: the language (``17ms``, ``300M``, ``15ms..17ms``), cost sources, and the handlers the
searchers use — :class:`HardFilter` (reject / resample), :class:`HingePenalty` (FP-NAS hinge and EPNAS's
exponential reward multiplier) and :class:`SpaceProposal` (the hook HourNAS's proposals plug into).

Units: latency in ms (``us``/``ms``/``s`` accepted); ``flops`` = 2 x MACs; ``macs``, ``params`` with
decimal suffixes K/M/G/T; ``bitops`` with binary suffixes (G = 2**30, as SPOS and ``hwnas count``'s
``bitops_g`` report it); ``intensity`` in FLOPs per byte.  A bare value is an upper bound; ``a..b``,
``a..`` and ``..b`` are ranges (lower bounds as EPNAS uses).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from hwnas.cost.arch_cost import ArchCoster
from hwnas.errors import ConstraintError
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace

METRICS = ("latency", "flops", "macs", "params", "bitops", "intensity")
EXAMPLES = {"latency": "17ms, 500us, 0.02s or 15ms..17ms", "flops": "300M or 200M..300M", "macs": "150M",
            "params": "4.8M", "bitops": "6.3G (G = 2^30)", "intensity": "12 or 8.. (FLOPs per byte)"}
_TIME = {"us": 1e-3, "ms": 1.0, "s": 1e3}
_DEC = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_BIN = {"": 1.0, "K": 2.0 ** 10, "M": 2.0 ** 20, "G": 2.0 ** 30, "T": 2.0 ** 40}
_NUM = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_value(metric: str, text: str) -> float:
    """One value in canonical units (ms for latency, plain counts otherwise)."""
    m = _NUM.match(text)
    bad = ConstraintError(f"malformed {metric} value '{text}'; write e.g. --{metric} {EXAMPLES[metric]}")
    if not m:
        raise bad
    num, unit = float(m[1]), m[2]
    if metric == "latency":
        if unit not in _TIME:
            raise bad
        return num * _TIME[unit]
    if metric == "intensity":
        if unit:
            raise bad
        return num
    table = _BIN if metric == "bitops" else _DEC
    unit = "K" if unit == "k" else unit
    if unit not in table:
        raise bad
    return num * table[unit]


def fmt_value(metric: str, v: float) -> str:
    if metric == "latency":
        return f"{v:.3g}ms" if v >= 0.1 else f"{v * 1e3:.3g}us"
    if metric == "intensity":
        return f"{v:.3g}"
    table = _BIN if metric == "bitops" else _DEC
    for unit in ("T", "G", "M", "K"):
        if abs(v) >= table[unit]:
            return f"{v / table[unit]:.4g}{unit}"
    return f"{v:.4g}"


@dataclass(frozen=True)
class Constraint:
    metric: str
    lo: float | None = None
    hi: float | None = None

    @staticmethod
    def parse(metric: str, text: str) -> "Constraint":
        if metric not in METRICS:
            raise ConstraintError(f"unknown constraint metric '{metric}'; choose one of: {', '.join(METRICS)}")
        if ".." in text:
            a, _, b = text.partition("..")
            lo = parse_value(metric, a) if a.strip() else None
            hi = parse_value(metric, b) if b.strip() else None
            if lo is None and hi is None:
                raise ConstraintError(f"empty {metric} range '{text}'; write e.g. --{metric} {EXAMPLES[metric]}")
            if lo is not None and hi is not None and lo > hi:
                raise ConstraintError(f"{metric} range '{text}' has its lower bound above its upper bound")
            return Constraint(metric, lo, hi)
        return Constraint(metric, None, parse_value(metric, text))

    def satisfied(self, v: float) -> bool:
        return (self.lo is None or v >= self.lo) and (self.hi is None or v <= self.hi)

    def violation(self, v: float) -> float:
        """Relative violation: max(0, v/hi - 1, lo/v - 1); 0 when satisfied."""
        over = v / self.hi - 1 if self.hi else 0.0
        under = self.lo / v - 1 if self.lo and v > 0 else 0.0
        return max(0.0, over, under)

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"{fmt_value(self.metric, self.lo)} <= {self.metric} <= {fmt_value(self.metric, self.hi)}"
        if self.hi is not None:
            return f"{self.metric} <= {fmt_value(self.metric, self.hi)}"
        return f"{self.metric} >= {fmt_value(self.metric, self.lo)}"  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "lo": self.lo, "hi": self.hi, "text": str(self)}


def parse_constraints(**given: str | None) -> list[Constraint]:
    """From CLI-style keyword strings, e.g. ``parse_constraints(latency="17ms", params="5M")``."""
    return [Constraint.parse(k, v) for k, v in given.items() if v is not None]


class CostModel:
    """All metrics of an arch by name: latency from the LUT predictor, the rest from the counters."""

    def __init__(self, space: SearchSpace, predictor: Any | None = None) -> None:
        self.space = space
        self.predictor = predictor
        self.coster = ArchCoster(space)

    def metrics(self, arch: Arch, needed: Iterable[str] = METRICS) -> dict[str, float]:
        needed = set(needed)
        out: dict[str, float] = {}
        if needed - {"latency"}:
            out.update(self.coster.cost(arch))
        if "latency" in needed:
            if self.predictor is None:
                raise ConstraintError("a latency constraint needs a LUT (pass --lut, or let `hwnas search` build one)")
            out["latency"] = self.predictor.predict(arch)
        return out

    def layer_costs(self, metric: str) -> tuple[float, list[dict[str, float]]] | None:
        """(fixed part, per-layer {choice: cost}) of an additive metric in raw units, or None.

        Latency is the LUT's uncalibrated sum (the calibration is increasing, see ``to_raw``)."""
        sp = self.space
        if metric == "latency":
            if self.predictor is None:
                return None
            import numpy as np

            p = self.predictor
            t = np.where(np.isnan(p.table), np.inf, p.table)
            return p.fixed_ms, [{c: float(t[i, j]) for j, c in enumerate(layer.choices)} for i, layer in enumerate(sp.layers)]
        if metric not in ("flops", "macs", "params", "bitops"):
            return None
        key = "macs" if metric == "flops" else metric
        mult = 2 if metric == "flops" else 1
        fixed = [*sp.stem, *sp.head]
        base = sum(mult * getattr(self.coster.unit(s, first=(i == 0), last=(i == len(fixed) - 1)), key)
                   for i, s in enumerate(fixed))
        per = []
        for layer in sp.layers:
            d = {}
            for c in layer.choices:
                sig = sp.choice_op(layer, c)
                d[c] = 0.0 if sig is None else float(mult * getattr(self.coster.unit(sig), key))
            per.append(d)
        return base, per

    def to_raw(self, metric: str, value: float) -> float:
        """A bound in the metric's units -> the raw additive units of ``layer_costs``."""
        if metric == "latency" and self.predictor is not None:
            return self.predictor.raw_for(value)
        return value

    def minimum(self, metric: str) -> float | None:
        """Smallest value any arch of the space reaches (additive metrics; None for intensity)."""
        lc = self.layer_costs(metric)
        if lc is None:
            return None
        raw = lc[0] + sum(min(d.values()) for d in lc[1])
        if metric == "latency":
            return float(self.predictor.calibrate(raw))
        return raw


class HardFilter:
    """Only satisfying archs are ever evaluated or returned (SPOS constraint-satisfying generation;
    FPNAS's reward -1 for violations).  Sampling is rejection sampling with a bounded number of tries."""

    def __init__(self, constraints: Sequence[Constraint], cost: CostModel, max_tries: int = 10000,
                 record: Sequence[str] = ()) -> None:
        """``record``: metrics to compute for every arch besides the constrained ones (for reports)."""
        self.constraints = list(constraints)
        self.cost = cost
        self.max_tries = max_tries
        self.record = list(record)
        self._cache: dict[Arch, dict[str, float]] = {}
        self.check_feasible()

    @property
    def metrics_needed(self) -> list[str]:
        return sorted({c.metric for c in self.constraints} | set(self.record))

    def metrics(self, arch: Arch) -> dict[str, float]:
        if arch not in self._cache:
            self._cache[arch] = self.cost.metrics(arch, self.metrics_needed or ["macs"])
        return self._cache[arch]

    def ok(self, arch: Arch) -> bool:
        m = self.metrics(arch)
        return all(c.satisfied(m[c.metric]) for c in self.constraints)

    def reward(self, accuracy: float, arch: Arch) -> float:
        """FPNAS eq. 2: the accuracy if the arch satisfies the constraints, else -1."""
        return accuracy if self.ok(arch) else -1.0

    def check_feasible(self) -> None:
        for c in self.constraints:
            lo = self.cost.minimum(c.metric)
            if lo is not None and c.hi is not None and c.hi < lo * (1 - 1e-9):
                src = " (predicted by the LUT)" if c.metric == "latency" else ""
                raise ConstraintError(f"{c} cannot be met in space '{self.cost.space.name}': the smallest achievable "
                                      f"{c.metric} is {fmt_value(c.metric, lo)}{src}")

    def sample(self, rng: random.Random, propose: Callable[[random.Random], Arch] | None = None,
               uniform_tries: int = 200) -> Arch:
        """A satisfying arch.  First plain rejection sampling (uniform over the satisfying set) for
        ``uniform_tries`` draws; under tight bounds, where almost nothing satisfies, a guided draw:
        layers in random order, each choice uniform among those that keep every additive upper bound
        reachable (sum so far + this choice + cheapest rest <= bound).  At most ``max_tries`` draws."""
        draw = propose or self.cost.space.random_arch
        for _ in range(min(uniform_tries, self.max_tries)):
            a = draw(rng)
            if self.ok(a):
                return a
        bounds = []
        for c in self.constraints:
            lc = self.cost.layer_costs(c.metric) if c.hi is not None else None
            if lc is not None:
                bounds.append((self.cost.to_raw(c.metric, c.hi), lc))
        for _ in range(self.max_tries):
            a = self._guided(rng, bounds)
            if a is not None and self.ok(a):
                return a
        raise ConstraintError(f"no arch satisfying {', '.join(map(str, self.constraints))} found in {self.max_tries} "
                              "draws; loosen the constraint")

    def _guided(self, rng: random.Random, bounds: list[tuple[float, tuple[float, list[dict[str, float]]]]]) -> Arch | None:
        sp = self.cost.space
        n = len(sp.layers)
        order = list(range(n))
        rng.shuffle(order)
        spent = [lc[0] for _, lc in bounds]
        rest = [sum(min(d.values()) for d in lc[1]) for _, lc in bounds]
        choices: list[str] = [""] * n
        for i in order:
            for b, (_, lc) in enumerate(bounds):
                rest[b] -= min(lc[1][i].values())
            ok = [c for c in sp.layers[i].choices
                  if all(spent[b] + lc[1][i][c] + rest[b] <= hi * (1 + 1e-12) for b, (hi, lc) in enumerate(bounds))]
            if not ok:
                return None
            choices[i] = rng.choice(ok)
            for b, (_, lc) in enumerate(bounds):
                spent[b] += lc[1][i][choices[i]]
        return Arch(sp.name, tuple(choices))


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


class SpaceProposal:
    """Hook for searchers that reshape the space toward the target (HourNAS): given the constraints
    and cost model, return per-layer allowed choices.  The base proposal keeps the whole space."""

    def propose(self, space: SearchSpace, constraints: Sequence[Constraint], cost: CostModel) -> list[tuple[str, ...]]:
        return [layer.choices for layer in space.layers]

    @staticmethod
    def sampler(allowed: list[tuple[str, ...]], space_name: str) -> Callable[[random.Random], Arch]:
        return lambda rng: Arch(space_name, tuple(rng.choice(ch) for ch in allowed))


__all__ = ["Constraint", "CostModel", "HardFilter", "HingePenalty", "SpaceProposal", "parse_constraints",
           "parse_value", "fmt_value", "METRICS"]
