"""Hard constraints: only satisfying archs are ever evaluated or returned (SPOS, FPNAS)."""

from __future__ import annotations

import random
from typing import Callable, Sequence

from hwnas.constraints.cost_model import CostModel
from hwnas.constraints.language import Constraint, fmt_value
from hwnas.cost.layer_costs import LayerCosts
from hwnas.errors import ConstraintError
from hwnas.space.arch import Arch
from hwnas.space.base import get_space


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

    def check_feasible(self) -> None:
        """A bound outside what the space can reach is an error naming the reachable limit (additive metrics)."""
        for c in self.constraints:
            lc = self.cost.layer_costs(c.metric)
            if lc is None:
                continue
            src = " (predicted by the LUT)" if c.metric == "latency" else ""
            lo = self.cost.from_raw(c.metric, lc.minimum())
            if c.hi is not None and c.hi < lo * (1 - 1e-9):
                raise ConstraintError(f"{c} cannot be met in space '{self.cost.space.name}': the smallest achievable "
                                      f"{c.metric} is {fmt_value(c.metric, lo)}{src}")
            hi = self.cost.from_raw(c.metric, lc.maximum())
            if c.lo is not None and c.lo > hi * (1 + 1e-9):
                raise ConstraintError(f"{c} cannot be met in space '{self.cost.space.name}': the largest achievable "
                                      f"{c.metric} is {fmt_value(c.metric, hi)}{src}")

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

    def _guided(self, rng: random.Random, bounds: list[tuple[float, LayerCosts]]) -> Arch | None:
        sp = self.cost.space
        n = len(sp.layers)
        order = list(range(n))
        rng.shuffle(order)
        spent = [lc.fixed for _, lc in bounds]
        rest = [lc.minimum() - lc.fixed for _, lc in bounds]
        choices: list[str] = [""] * n
        for i in order:
            for b, (_, lc) in enumerate(bounds):
                rest[b] -= min(lc.layers[i].values())
            ok = [c for c in sp.layers[i].choices
                  if all(spent[b] + lc.layers[i][c] + rest[b] <= hi * (1 + 1e-12) for b, (hi, lc) in enumerate(bounds))]
            if not ok:
                return None
            choices[i] = rng.choice(ok)
            for b, (_, lc) in enumerate(bounds):
                spent[b] += lc.layers[i][choices[i]]
        return Arch(sp.name, tuple(choices))


def cost_filter(space: str, constraints: Sequence[Constraint], input_size: int = 224, num_classes: int = 1000,
                lut: str | None = None, **options: object) -> HardFilter | None:
    """A :class:`HardFilter` at the deployment resolution (constraints are about the deployed model), or
    None without constraints.  With ``lut`` the space takes the LUT's resolution and classes."""
    from hwnas.lut import LUT, LatencyPredictor, space_for

    if not constraints:
        return None
    if lut is None:
        return HardFilter(constraints, CostModel(get_space(space, input_size=input_size, num_classes=num_classes,
                                                           **options)))
    table = LUT.load(lut)
    sp = space_for(table, expect=space, source=f"--lut {lut}", **options)
    return HardFilter(constraints, CostModel(sp, LatencyPredictor(table, sp)))
