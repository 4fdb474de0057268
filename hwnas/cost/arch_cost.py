"""Costs of architectures.

``count_arch`` counts the built network.  :class:`ArchCoster` gives the same totals without building
it: a network is a chain of units, so its MACs/params/memory are the sums of its units' counts, which are
counted once per distinct unit and cached (what constraint filters need for thousands of archs).
"""

from __future__ import annotations

from dataclasses import dataclass

from hwnas.cost.counters import CostReport, count
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace
from hwnas.space.ops import OpSig, build_op


def count_arch(space: SearchSpace, arch: Arch) -> CostReport:
    return count(space.build(arch), space.input_shape)


@dataclass(frozen=True)
class UnitCost:
    macs: int
    params: int
    bitops: int
    memory_bytes: int


class ArchCoster:
    """Cached per-unit counts; ``cost(arch)`` equals ``count_arch(space, arch)`` totals."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self._cache: dict[tuple[OpSig, bool, bool], UnitCost] = {}

    def unit(self, sig: OpSig, first: bool = False, last: bool = False) -> UnitCost:
        key = (sig, first, last)
        if key not in self._cache:
            rep = count(build_op(sig), sig.in_shape, exclude_first_last=False)
            layers = rep.layers
            bitops = rep.bitops
            if first and layers:  # the network's first conv stays full precision
                c = next((r for r in layers if r.type.endswith("Conv2d")), None)
                bitops -= c.bitops if c else 0
            if last and layers:  # ... and its last FC
                f = next((r for r in reversed(layers) if r.type == "Linear"), None)
                bitops -= f.bitops if f else 0
            self._cache[key] = UnitCost(rep.macs, rep.params, bitops, rep.memory_bytes)
        return self._cache[key]

    def cost(self, arch: Arch) -> dict[str, float]:
        sigs = self.space.units(arch)
        units = [self.unit(s, i == 0, i == len(sigs) - 1) for i, s in enumerate(sigs)]
        macs = sum(u.macs for u in units)
        mem = sum(u.memory_bytes for u in units)
        bitops = sum(u.bitops for u in units)
        return {"macs": macs, "flops": 2 * macs, "params": sum(u.params for u in units), "bitops": bitops,
                "bitops_g": bitops / 2 ** 30, "memory_bytes": mem, "intensity": 2 * macs / mem if mem else 0.0}
