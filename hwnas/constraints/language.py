"""The constraint language: ``17ms``, ``500us``, ``300M``, ``6.3G``, ``15ms..17ms``, ``8..``.

Units: latency in ms (``us``/``ms``/``s`` accepted); ``flops`` = 2 x MACs; ``macs``, ``params`` with
decimal suffixes K/M/G/T; ``bitops`` with binary suffixes (G = 2**30, as SPOS and ``hwnas count``'s
``bitops_g`` report it); ``intensity`` in FLOPs per byte.  A bare value is an upper bound; ``a..b``,
``a..`` and ``..b`` are ranges (lower bounds as EPNAS uses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hwnas.errors import ConstraintError

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
        """Within the bounds, up to float rounding (a bound set at the space's minimum is met by its smallest arch,
        whose value two code paths may sum in different orders)."""
        tol = 1e-9
        return (self.lo is None or v >= self.lo * (1 - tol)) and (self.hi is None or v <= self.hi * (1 + tol))

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
