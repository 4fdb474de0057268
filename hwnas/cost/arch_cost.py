"""Costs of architectures.

``count_arch`` counts the built network.  :class:`ArchCoster` gives the same totals without building
it: a network is a chain of units, so its MACs/params/memory are the sums of its units' counts, which are
counted once per distinct unit and cached (what constraint filters need for thousands of archs).
"""

from __future__ import annotations

from dataclasses import dataclass

from hwnas.cost.counters import CostReport, count, full_precision_layers
from hwnas.cost.layer_costs import LayerCosts
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace
from hwnas.space.ops import OpSig, build_op


def count_arch(space: SearchSpace, arch: Arch) -> CostReport:
    """Counts of the built network, its conv/linear layers named by the space's layer names (``s1b1.body.0.0``,
    ``stem0.0``, ``head0.fc``: the names ``predict`` and result.yaml use) instead of module paths (``units.1...``)."""
    rep = count(space.build(arch), space.input_shape)
    names = [f"stem{i}" for i in range(len(space.stem))]
    names += [layer.name for layer, c in zip(space.layers, arch.choices) if space.choice_op(layer, c) is not None]
    names += [f"head{i}" for i in range(len(space.head))]
    for lc in rep.layers:
        parts = lc.name.split(".")
        if parts[0] == "units" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(names):
            lc.name = ".".join([names[int(parts[1])], *parts[2:]])
    return rep


def count_named(
    space: str, arch_text: str, input_size: int = 224, num_classes: int = 1000
) -> tuple[SearchSpace, Arch, CostReport]:
    """``hwnas count``: the space (options a named arch implies filled in), the checked arch, its counts."""
    from hwnas.space.base import resolve_arch

    sp, arch = resolve_arch(space, arch_text, input_size=input_size, num_classes=num_classes)
    return sp, arch, count_arch(sp, arch)


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
            bitops = rep.bitops - sum(r.bitops for r in full_precision_layers(rep.layers, first, last))
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

    #: additive counter metrics and (unit field, multiplier)
    ADDITIVE = {"macs": ("macs", 1), "flops": ("macs", 2), "params": ("params", 1), "bitops": ("bitops", 1)}

    def layer_costs(self, metric: str) -> LayerCosts:
        """Per-layer costs of an additive counter metric (``macs``, ``flops``, ``params``, ``bitops``);
        the stem's first conv and the head's last FC are excluded from BitOps as in :meth:`cost`."""
        key, mult = self.ADDITIVE[metric]
        sp = self.space
        fixed = [*sp.stem, *sp.head]
        base = sum(mult * getattr(self.unit(s, first=(i == 0), last=(i == len(fixed) - 1)), key)
                   for i, s in enumerate(fixed))
        per = []
        for layer in sp.layers:
            sigs = {c: sp.choice_op(layer, c) for c in layer.choices}
            per.append(
                {c: 0.0 if sig is None else float(mult * getattr(self.unit(sig), key)) for c, sig in sigs.items()}
            )
        return LayerCosts(metric, float(base), tuple(per))
